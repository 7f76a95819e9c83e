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
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .contains("notice=Unlocked")
        );
        assert_eq!(t.sim_calls("/v3/lock/unlock"), unlocks + 1);

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

        // Twelve hours end another.
        let second = t.console_session(&t.admin).await;
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
