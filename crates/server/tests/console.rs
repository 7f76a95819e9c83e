//! The console's sessions over HTTP, on both stores: sign-in needs the form's token, the
//! session works until sign-out, its expiry or its key's deletion, and a form without the
//! session's token changes nothing. (The pages themselves are driven in a real browser by the
//! `lockbridge` crate's console suite.)

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

impl TestApp {
    fn browserless(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Signs `key` in; answers the session cookie (`name=value`).
    async fn console_session(&self, key: &str) -> String {
        let http = self.browserless();
        let page = http
            .get(format!("{}/console/sign-in", self.url))
            .send()
            .await
            .unwrap();
        let pre = set_cookie(&page, "lb_console_csrf");
        let token = pre.split_once('=').unwrap().1.to_owned();
        let r = http
            .post(format!("{}/console/sign-in", self.url))
            .header("cookie", format!("lb_console_csrf={token}"))
            .form(&[("api_key", key), ("csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/console/overview");
        set_cookie(&r, "lb_console")
    }

    /// The page at `path` with `session`: its status and body.
    async fn page(&self, session: &str, path: &str) -> (u16, String) {
        let r = self
            .browserless()
            .get(format!("{}{path}", self.url))
            .header("cookie", session)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// `name=value` of the `Set-Cookie` named `name`.
fn set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..at + 64].to_owned()
}

both_backends!(
    sessions_end_on_sign_out_expiry_and_key_deletion,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let session = t.console_session(&t.admin).await;
        let (status, overview) = t.page(&session, "/console/overview").await;
        assert_eq!(status, 200);
        assert!(
            overview.contains("TTLock") || overview.contains("ttlock"),
            "{overview}"
        );
        let (_, locks) = t.page(&session, "/console/locks").await;
        assert!(locks.contains("Front door"));

        // A form without the session's token, or with another, is refused and changes nothing.
        let front = t.lock_id("Front door").await;
        let unlocks = t.sim_calls("/v3/lock/unlock");
        for form in [
            vec![("action", "unlock")],
            vec![("action", "unlock"), ("csrf", "0")],
        ] {
            let r = t
                .browserless()
                .post(format!("{}/console/locks/{front}/operate", t.url))
                .header("cookie", &session)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403);
        }
        assert_eq!(t.sim_calls("/v3/lock/unlock"), unlocks);
        // With it, the lock opens.
        let r = t
            .browserless()
            .post(format!("{}/console/locks/{front}/operate", t.url))
            .header("cookie", &session)
            .form(&[("action", "unlock"), ("csrf", csrf_of(&locks).as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(
            r.headers()["location"],
            "/console/locks",
            "no text in the URL"
        );
        let flash = set_cookie(&r, "lb_console_flash");
        assert_eq!(t.sim_calls("/v3/lock/unlock"), unlocks + 1);
        // The page it leads to says what happened, once.
        let (_, page) = t
            .page(&format!("{session}; {flash}"), "/console/locks")
            .await;
        assert!(page.contains("Unlocked: "), "{page}");
        // The event says it was done from the console, with the signed-in key.
        let events = t.get("/v1/events?type=lock.unlocked").await;
        let actor = &events.body["data"][0]["actor"];
        assert_eq!(
            (actor["type"].as_str(), actor["name"].as_str()),
            (Some("console"), Some("admin")),
            "{actor}"
        );

        // Sign-out ends it.
        let r = t
            .browserless()
            .post(format!("{}/console/sign-out", t.url))
            .header("cookie", &session)
            .form(&[("csrf", csrf_of(&overview).as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(t.page(&session, "/console/overview").await.0, 303);

        // Twelve hours end another (signed in with the key as Seam's SDKs write it).
        let second = t.console_session(&format!("seam_{}", t.admin)).await;
        assert_eq!(t.page(&second, "/console/overview").await.0, 200);
        t.advance(12 * 3_600_000 + 1);
        assert_eq!(t.page(&second, "/console/overview").await.0, 303);

        // A member's session ends with its key.
        let member = t.console_session(&t.member).await;
        let (status, hooks) = t.page(&member, "/console/webhooks").await;
        assert_eq!(status, 200);
        assert!(
            !hooks.contains("New endpoint"),
            "members are offered no admin forms"
        );
        let keys = t.get("/v1/api-keys").await;
        let id = keys.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == "member")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(t.delete(&format!("/v1/api-keys/{id}")).await.status, 204);
        assert_eq!(t.page(&member, "/console/overview").await.0, 303);

        // The sign-in form needs its own token.
        let http = t.browserless();
        let r = http
            .post(format!("{}/console/sign-in", t.url))
            .form(&[("api_key", t.admin.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
);

both_backends!(
    console_pages_cannot_be_framed_cached_or_spoofed,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let session = t.console_session(&t.admin).await;
        for path in ["/console/sign-in", "/console/overview", "/console/locks"] {
            let r = t
                .browserless()
                .get(format!("{}{path}", t.url))
                .header("cookie", &session)
                .send()
                .await
                .unwrap();
            let h = r.headers();
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(h["cache-control"], "no-store", "{path}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert!(h.contains_key("referrer-policy"), "{path}");
        }
        // Text handed in a link is never printed.
        let spoof = "/console/locks?error=Your+account+is+locked.+Call+555-0100&notice=Call+us";
        let (status, page) = t.page(&session, spoof).await;
        assert_eq!(status, 200);
        assert!(
            !page.contains("555-0100") && !page.contains("Call us"),
            "{page}"
        );
        let (_, page) = t
            .page(
                "",
                "/console/sign-in?error=Your+key+expired.+Send+it+to+evil.example",
            )
            .await;
        assert!(!page.contains("evil.example"), "{page}");

        // Behind HTTPS every cookie is `__Host-` (Secure, the whole host, no domain), and a
        // cookie without the prefix is not taken there.
        let http = t.browserless();
        let page = http
            .get(format!("{}/console/sign-in", t.url))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        let raw: Vec<String> = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            raw.iter().all(|c| c.starts_with("__Host-")
                && c.contains("; Secure")
                && c.contains("Path=/;")
                && !c.contains("Domain")),
            "{raw:?}"
        );
        let pre = set_cookie(&page, "__Host-lb_console_csrf");
        let token = pre.split_once('=').unwrap().1.to_owned();
        let signed = http
            .post(format!("{}/console/sign-in", t.url))
            .header("x-forwarded-proto", "https")
            .header("cookie", &pre)
            .form(&[("api_key", t.admin.as_str()), ("csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status(), 303);
        let host_session = set_cookie(&signed, "__Host-lb_console");
        let over_https = |cookie: String| {
            http.get(format!("{}/console/overview", t.url))
                .header("x-forwarded-proto", "https")
                .header("cookie", cookie)
                .send()
        };
        assert_eq!(
            over_https(host_session.clone()).await.unwrap().status(),
            200
        );
        let plain = host_session.replacen("__Host-", "", 1);
        assert_eq!(
            over_https(plain).await.unwrap().status(),
            303,
            "a tossed cookie without the prefix is not a session"
        );
    }
);

both_backends!(the_newer_vendors_in_the_console, |db: Db| async move {
    let t = TestApp::start(db).await;
    let typed = |vendor: &str| {
        t.sims
            .iter()
            .find(|s| s.vendor() == vendor)
            .expect("registered")
            .clone()
    };
    let nuki = typed("nuki");
    let nuki = nuki
        .as_any()
        .downcast_ref::<lockbridge_sim::nuki::NukiSim>()
        .unwrap();
    let bot = typed("switchbot");
    let bot = bot
        .as_any()
        .downcast_ref::<lockbridge_sim::switchbot::SwitchBotSim>()
        .unwrap();
    let (nd, bd) = (nuki.seed_demo(), bot.seed_demo());
    nuki.world().config.action_delay_ms = 0;
    t.connect_with(
        serde_json::json!({"provider": "nuki", "credentials": {"api_token": nd.api_token}}),
    )
    .await;
    t.connect_with(serde_json::json!({"provider": "switchbot",
                                      "credentials": {"token": bd.token, "secret": bd.secret}}))
        .await;
    let session = t.console_session(&t.admin).await;
    // The vendor filter offers both; filtered, each shows its own locks only.
    let (_, all) = t.page(&session, "/console/locks").await;
    for (value, label) in [("nuki", "Nuki"), ("switchbot", "SwitchBot")] {
        assert!(
            all.contains(&format!("<option value=\"{value}\">{label}</option>")),
            "{all}"
        );
    }
    let (_, only_nuki) = t.page(&session, "/console/locks?provider=nuki").await;
    assert!(
        only_nuki.contains("Garden gate") && !only_nuki.contains("Back door"),
        "{only_nuki}"
    );
    let (_, only_bot) = t.page(&session, "/console/locks?provider=switchbot").await;
    assert!(
        only_bot.contains("Back door") && !only_bot.contains("Garden gate"),
        "{only_bot}"
    );

    // A Nuki lock opened from the console: the simulated lock is unlocked.
    let garden = t.lock_id("Garden gate").await;
    let r = t
        .browserless()
        .post(format!("{}/console/locks/{garden}/operate", t.url))
        .header("cookie", &session)
        .form(&[("action", "unlock"), ("csrf", csrf_of(&all).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(nuki.world().locks[&nd.lock_ids[1]].state, 3);
});

both_backends!(stays_in_the_console, |db: Db| async move {
    let t = TestApp::start_with(db, |s| s.webhook_allow_private = true).await;
    t.connect().await;
    let front = t.lock_id("Front door").await;
    let r = t
        .post(
            "/v1/properties",
            serde_json::json!({"name": "Casa Azul", "lock_ids": [front], "time_zone": "Europe/Lisbon",
                               "code_source": "phone_last4"}),
        )
        .await;
    let property = r.body["id"].as_str().unwrap().to_owned();
    let now = lockbridge_core::time::to_rfc3339(t.app.state.now());
    let (arrive, leave) = (&now[..10], "2099-01-01");
    let r = t
        .call(
            reqwest::Method::PUT,
            &format!("/v1/properties/{property}/reservations/HM1"),
            Some(&t.admin),
            Some(serde_json::json!({"guest_name": "Ana", "check_in_at": now, "departure_date": leave, "phone": "912 345 678"})),
        )
        .await;
    assert_eq!(r.status, 201, "{} {arrive}", r.body);
    let stay = r.body["id"].as_str().unwrap().to_owned();
    t.drain().await;
    let session = t.console_session(&t.admin).await;

    // The arrivals of the next days, with readiness; the stay's codes, PIN read on the lock.
    let (status, arrivals) = t.page(&session, "/console/arrivals").await;
    assert_eq!(status, 200, "{arrivals}");
    // Times in the property's zone, named, with how far they are.
    assert!(
        arrivals.contains("Europe/Lisbon · now") && arrivals.contains("Europe/Lisbon · in "),
        "{arrivals}"
    );
    assert!(
        arrivals.contains("Ana") && arrivals.contains("pending"),
        "{arrivals}"
    );
    let (_, page) = t
        .page(&session, &format!("/console/reservations/{stay}"))
        .await;
    assert!(
        page.contains("5678") && page.contains("Fallback codes"),
        "{page}"
    );
    assert!(page.contains(">Front door</a>"), "locks named: {page}");

    // A code's times are typed in the lock's zone: 10:00 in Lisbon in July is 09:00 UTC.
    t.patch(
        &format!("/v1/locks/{front}"),
        serde_json::json!({"time_zone": "Europe/Lisbon"}),
    )
    .await;
    let (_, lock_page) = t.page(&session, &format!("/console/locks/{front}")).await;
    assert!(
        lock_page.contains("Starts (Europe/Lisbon time"),
        "{lock_page}"
    );
    let r = t
        .browserless()
        .post(format!("{}/console/locks/{front}/codes", t.url))
        .header("cookie", &session)
        .form(&[
            ("name", "Cleaner"),
            ("code", "246813"),
            ("input_zone", "Europe/Lisbon"),
            ("starts_at", "2031-07-03T10:00"),
            ("ends_at", "2031-07-03T12:00"),
            ("csrf", csrf_of(&lock_page).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let codes = t.get(&format!("/v1/locks/{front}/access-codes")).await;
    let cleaner = codes.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "246813")
        .cloned()
        .unwrap();
    assert_eq!(cleaner["starts_at"], "2031-07-03T09:00:00Z", "{cleaner}");
    assert!(t.codes_on(0).iter().any(|(pin, _)| pin == "5678"));

    // A calendar feed added from the console is read at once; a bad URL is refused, naming why.
    let (_, props) = t.page(&session, "/console/properties").await;
    assert!(
        props.contains("Casa Azul") && props.contains("No calendar feed."),
        "{props}"
    );
    let feed = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20990301\r\n\
                DTEND;VALUE=DATE:20990304\r\nUID:vrbo-1\r\nSUMMARY:Reserved - Rui\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let app =
        axum::Router::new().route("/feed.ics", axum::routing::get(move || async move { feed }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/feed.ics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let add = |url: String| {
        let (t, session, token, property) =
            (&t, session.clone(), csrf_of(&props), property.clone());
        async move {
            t.browserless()
                .post(format!("{}/console/properties/{property}/calendars", t.url))
                .header("cookie", &session)
                .form(&[
                    ("url", url.as_str()),
                    ("name", "Vrbo"),
                    ("csrf", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(add("ftp://example.com/x.ics".into()).await, 303);
    assert_eq!(add(url).await, 303);
    let (_, props) = t.page(&session, "/console/properties").await;
    assert!(props.contains("Vrbo — last read"), "{props}");
    let listed = t
        .get(&format!("/v1/reservations?property_id={property}"))
        .await;
    assert!(
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["guest_name"] == "Rui"),
        "{}",
        listed.body
    );
});

/// The link of a page's "next page" (none: the test fails).
fn next_of(page: &str) -> String {
    let at = page.find("rel=\"next\"").expect("a next page");
    page[..at]
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}

both_backends!(long_lists_page_on, |db: Db| async move {
    let t = TestApp::start_with(db, |s| s.webhook_allow_private = true).await;
    let now = t.app.state.now();
    let events: Vec<_> = (0..130)
        .map(|i| {
            lockbridge_core::events::Event::new(
                t.org,
                lockbridge_core::events::EventType::WebhookTest,
                now - i * 1000,
            )
        })
        .collect();
    t.db.store.record_events(&events).await.unwrap();
    let session = t.console_session(&t.admin).await;
    let (_, first) = t.page(&session, "/console/events").await;
    let rows = |page: &str| page.matches("<td>webhook.test</td>").count();
    assert_eq!(rows(&first), 100);
    let href = next_of(&first);
    let (status, second) = t.page(&session, &href).await;
    assert_eq!(status, 200, "{href}");
    assert_eq!(rows(&second), 30, "{href}");
    assert!(!second.contains("rel=\"next\""));

    // Endpoints too.
    for i in 0..101 {
        let r = t
            .call(
                reqwest::Method::POST,
                "/v1/webhooks",
                Some(&t.admin),
                Some(serde_json::json!({"url": format!("http://127.0.0.1:9/hook-{i:03}")})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let (_, first) = t.page(&session, "/console/webhooks").await;
    let rows = |page: &str| page.matches("<td><a href=\"/console/webhooks/").count();
    assert_eq!(rows(&first), 100, "{first}");
    let (_, second) = t.page(&session, &next_of(&first)).await;
    assert_eq!(
        rows(&second),
        1,
        "the one left, on the second page: {second}"
    );
    assert!(!second.contains("rel=\"next\""));
});
