//! The HTTP edge, from the outside: panics, wrong methods, large and slow bodies, idle and
//! slow connections over raw TCP, NULs and long names in every text field of every write
//! route, NULs coming from a vendor, Idempotency-Key reuse, the last admin key.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::routing::get;
use common::*;
use lockbridge_server::edge::{self, EdgeLimits};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn boom() -> &'static str {
    panic!("a bug, on purpose")
}

/// Serves `app`'s own router, plus a route that panics, behind the edge with short limits;
/// answers the base URL.
async fn serve_short(t: &TestApp, limits: EdgeLimits) -> (String, CancellationToken) {
    let routes = lockbridge_server::App::api()
        .router
        .route("/test/panic", get(boom));
    let mut app = t.app.clone();
    let mut settings = (*app.state.settings).clone();
    settings.edge = limits.clone();
    app.state.settings = std::sync::Arc::new(settings);
    let router = app.wrap(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move { edge::serve(router, listener, &limits, s).await });
    (url, stop)
}

fn short() -> EdgeLimits {
    EdgeLimits {
        header_read_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        max_connections: 20,
        shutdown_grace: Duration::from_millis(500),
        ..EdgeLimits::default()
    }
}

/// Reads until the server closes the connection; answers what it sent.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("the server closed the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

both_backends!(
    panics_wrong_methods_and_large_bodies_get_the_error_body,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let (url, _stop) = serve_short(&t, short()).await;
        let r = t
            .http
            .get(format!("{url}/test/panic"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["error"]["request_id"], id.as_str(), "{body}");
        assert!(
            !body.to_string().contains("on purpose"),
            "the panic stays in the log"
        );
        // The service goes on.
        assert_eq!(
            t.http
                .get(format!("{url}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        let r = t
            .call(reqwest::Method::PUT, "/v1/locks", Some(&t.admin), None)
            .await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (405, "method_not_allowed")
        );
        let big = "x".repeat((1 << 20) + 1);
        let r = t
            .http
            .post(format!("{}/v1/api-keys", t.url))
            .bearer_auth(&t.admin)
            .header("content-type", "application/json")
            .body(format!("{{\"name\": \"{big}\", \"role\": \"member\"}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large");
    }
);

both_backends!(
    idle_slow_and_flooding_connections_are_closed_in_time,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let (url, stop) = serve_short(&t, short()).await;
        let addr = url.trim_start_matches("http://").to_owned();
        // An idle connection, one whose headers never end, one whose body never ends.
        let mut idle = TcpStream::connect(&addr).await.unwrap();
        let mut slow_head = TcpStream::connect(&addr).await.unwrap();
        slow_head
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut slow_body = TcpStream::connect(&addr).await.unwrap();
        slow_body
            .write_all(
                format!(
                    "POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
                    t.admin
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(until_closed(&mut idle).await, "");
        until_closed(&mut slow_head).await;
        let answer = until_closed(&mut slow_body).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");

        // Twice as many idle connections as the service takes at once: they hold it no longer
        // than the header timeout, and a real request is answered after them.
        let mut flood = Vec::new();
        for _ in 0..40 {
            flood.push(TcpStream::connect(&addr).await.unwrap());
        }
        let r = t.http.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        for mut c in flood {
            until_closed(&mut c).await;
        }

        // Shutdown with a request in flight whose body never comes: over within the grace period.
        let mut stuck = TcpStream::connect(&addr).await.unwrap();
        stuck
            .write_all(b"POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            .await
            .unwrap();
        stop.cancel();
        until_closed(&mut stuck).await;
        assert!(
            TcpStream::connect(&addr).await.is_err(),
            "no longer listening"
        );
    }
);

/// Every string in `template`, by its path, with `f` applied to one at a time.
fn each_text(
    template: &Value,
    path: &str,
    out: &mut Vec<(String, Value)>,
    f: &dyn Fn(&str) -> Value,
) {
    match template {
        Value::String(s) => out.push((path.to_owned(), f(s))),
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let mut found = Vec::new();
                each_text(v, &p, &mut found, f);
                for (fp, fv) in found {
                    let mut copy = template.clone();
                    copy[k] = fv;
                    out.push((fp, copy));
                }
            }
        }
        _ => {}
    }
}

both_backends!(
    nul_characters_and_long_names_are_refused_on_every_write_route,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn = t.connect().await;
        let front = t.lock_id("Front door").await;
        let code = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "624815", "name": "Guest"}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let kii = t
        .post(
            "/v1/connections",
            json!({"provider": "kii", "credentials": {"app_id": t.kii_demo.app_id, "app_key": t.kii_demo.app_key, "client_id": t.kii_demo.client_id, "client_secret": t.kii_demo.client_secret}}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
        let routes: Vec<(reqwest::Method, String, Value)> = vec![
            (
                reqwest::Method::POST,
                "/v1/api-keys".into(),
                json!({"name": "ops", "role": "member"}),
            ),
            (
                reqwest::Method::POST,
                "/v1/connections".into(),
                json!({"provider": "ttlock", "name": "n", "base_url": "http://127.0.0.1:1", "credentials": {"client_id": "a", "client_secret": "b", "username": "c", "password": "d"}}),
            ),
            (
                reqwest::Method::PATCH,
                format!("/v1/connections/{conn}"),
                json!({"credentials": {"password": "x"}}),
            ),
            (
                reqwest::Method::POST,
                format!("/v1/locks/{front}/access-codes"),
                json!({"name": "n", "code": "771204"}),
            ),
            (
                reqwest::Method::PATCH,
                format!("/v1/access-codes/{code}"),
                json!({"name": "n", "code": "771205"}),
            ),
            (
                reqwest::Method::POST,
                format!("/v1/locks/{front}/offline-codes"),
                json!({"kind": "permanent", "name": "n"}),
            ),
            (
                reqwest::Method::PUT,
                format!("/v1/connections/{kii}/things/lobby-door-01/password"),
                json!({"new_password": "secret-1"}),
            ),
            (
                reqwest::Method::POST,
                "/bff/iot-lock/credentials-update".into(),
                json!({"password": "p", "username": "u", "clientId": "i", "clientSecret": "s"}),
            ),
        ];
        let before = t.sim_calls("/v3/keyboardPwd/add");
        for (method, path, template) in &routes {
            let mut cases = Vec::new();
            each_text(template, "", &mut cases, &|s: &str| {
                json!(format!("{s}\u{0}x"))
            });
            assert!(!cases.is_empty());
            for (field, body) in cases {
                let r = t
                    .call(method.clone(), path, Some(&t.admin), Some(body))
                    .await;
                assert_eq!(
                    (
                        r.status.as_u16(),
                        error_code(&r),
                        r.body["error"]["field"].as_str()
                    ),
                    (400, "validation_failed", Some(field.as_str())),
                    "{method} {path} {field}: {}",
                    r.body
                );
            }
        }
        assert_eq!(
            t.sim_calls("/v3/keyboardPwd/add"),
            before,
            "nothing reached the vendor"
        );
        // Names: 200 characters (not bytes) pass, 201 do not.
        let name = "ż".repeat(200);
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "771206", "name": name}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "771207", "name": format!("{name}ż")}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["field"].as_str()),
            (400, Some("name"))
        );
        let r = t
            .post(
                "/v1/api-keys",
                json!({"name": "ż".repeat(100), "role": "member"}),
            )
            .await;
        assert_eq!(
            r.status, 201,
            "key names are counted in characters: {}",
            r.body
        );
    }
);

/// Random text: any Unicode scalar, weighted towards the troublesome (combining marks, RTL
/// marks, full-width digits, astral planes, quotes and escapes), 0 to 300 characters.
fn random_text(rng: &mut lockbridge_sim::rng::Rng) -> String {
    const ODD: &[char] = &[
        'é', '\u{301}', '\u{202e}', '０', '𝟘', '"', '\\', '\u{feff}', '+', ':', '-', 'T', 'Z', '9',
    ];
    if rng.chance(0.3) {
        // A valid instant with one odd character put in: the shape of text that reaches the
        // deepest into a parser.
        let mut text: Vec<char> = "2030-05-01T14:00:00.250+02:00".chars().collect();
        let at = rng.below(text.len() as u64) as usize;
        text[at] = ODD[rng.below(ODD.len() as u64) as usize];
        return text.into_iter().collect();
    }
    let len = rng.below(300) as usize;
    (0..len)
        .map(|_| match rng.below(3) {
            0 => ODD[rng.below(ODD.len() as u64) as usize],
            1 => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x'),
            _ => char::from(b'0' + rng.below(10) as u8),
        })
        .collect()
}

both_backends!(
    random_unicode_in_every_text_field_never_answers_5xx,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn = t.connect().await;
        let front = t.lock_id("Front door").await;
        let code = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "624815", "name": "Guest"}),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let routes: Vec<(reqwest::Method, String, Value)> = vec![
            (
                reqwest::Method::POST,
                "/v1/api-keys".into(),
                json!({"name": "ops", "role": "member"}),
            ),
            (
                reqwest::Method::POST,
                "/v1/connections".into(),
                json!({"provider": "ttlock", "name": "n", "base_url": "b", "credentials": {"client_id": "a", "client_secret": "b", "username": "c", "password": "d"}}),
            ),
            (
                reqwest::Method::PATCH,
                format!("/v1/connections/{conn}"),
                json!({"credentials": {"client_secret": "x"}}),
            ),
            (
                reqwest::Method::POST,
                format!("/v1/locks/{front}/access-codes"),
                json!({"name": "n", "code": "771204", "starts_at": "s", "ends_at": "e"}),
            ),
            (
                reqwest::Method::POST,
                format!("/v1/locks/{front}/access-codes"),
                json!({"code": "771204", "schedule": {"weekdays": ["mon"], "start_time": "a", "end_time": "b", "time_zone": "z"}}),
            ),
            (
                reqwest::Method::PATCH,
                format!("/v1/access-codes/{code}"),
                json!({"name": "n", "code": "771205", "starts_at": "s", "ends_at": "e"}),
            ),
            (
                reqwest::Method::POST,
                format!("/v1/locks/{front}/offline-codes"),
                json!({"kind": "k", "name": "n", "starts_at": "s", "ends_at": "e"}),
            ),
            (
                reqwest::Method::POST,
                "/bff/iot-lock/credentials-update".into(),
                json!({"password": "p", "username": "u", "clientId": "i", "clientSecret": "s"}),
            ),
        ];
        let mut rng = lockbridge_sim::rng::Rng::new(11);
        let mut sent = 0;
        for (method, path, template) in &routes {
            for _ in 0..12 {
                let mut cases = Vec::new();
                let text = random_text(&mut rng);
                each_text(template, "", &mut cases, &|_| json!(text.clone()));
                for (field, body) in cases {
                    let r = t
                        .call(method.clone(), path, Some(&t.admin), Some(body))
                        .await;
                    assert!(
                        r.status.as_u16() < 500,
                        "{method} {path} {field}={text:?}: {} {}",
                        r.status,
                        r.body
                    );
                    sent += 1;
                }
            }
        }
        assert!(sent > 300, "{sent}");
        // Every two neighbouring characters of an instant swapped for one wide character keeps its
        // length in bytes: the shape that broke a hand-written parser.
        let valid: Vec<char> = "2030-05-01T14:00:00+02:00".chars().collect();
        for at in 0..valid.len() - 1 {
            for c in ['é', '０', '𝟘'] {
                let mut text = valid.clone();
                text.splice(at..at + 2, [c]);
                let text: String = text.into_iter().collect();
                let body =
                    json!({"code": "771299", "starts_at": text, "ends_at": "2030-05-02T14:00:00Z"});
                let r = t
                    .post(&format!("/v1/locks/{front}/access-codes"), body)
                    .await;
                assert!(
                    r.status.as_u16() < 500,
                    "starts_at={text:?}: {} {}",
                    r.status,
                    r.body
                );
            }
        }
    }
);

both_backends!(
    nul_characters_from_a_vendor_are_cleaned,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        {
            let mut w = t.sim.world();
            let lock = w.locks.get_mut(&t.sim_lock(0)).unwrap();
            lock.alias = "Front\u{0} door".into();
            lock.passcodes.values_mut().next().unwrap().name = Some("Clea\u{0}ner".into());
        }
        let conn = t.get("/v1/connections").await.body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = t
            .post(&format!("/v1/connections/{conn}/sync"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let front = t.lock_id("Front door").await;
        let r = t
            .get(&format!("/v1/locks/{front}/access-codes?refresh=true"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.to_string().contains("\"Cleaner\""), "{}", r.body);
        assert!(!r.body.to_string().contains("\\u0000"));
    }
);

both_backends!(
    nul_characters_from_tuya_and_tedee_are_cleaned,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        {
            let mut w = t.tuya.world();
            let d = w.devices.get_mut(&t.tuya_demo.lock_ids[0]).unwrap();
            d.name = "Entr\u{0}ance".into();
            if let Some(p) = d.passwords.values_mut().next() {
                p.name = "Own\u{0}er".into();
            }
        }
        {
            let mut w = t.tedee.world();
            let l = w.locks.get_mut(&t.tedee_demo.lock_ids[1]).unwrap();
            l.name = "Off\u{0}ice".into();
            if let Some(p) = l.pins.values_mut().next() {
                p.alias = "Clea\u{0}ner".into();
            }
        }
        for credentials in [
            json!({"provider": "tuya", "credentials": {"access_id": t.tuya_demo.access_id, "access_secret": t.tuya_demo.access_secret}}),
            json!({"provider": "tedee", "credentials": {"personal_access_key": t.tedee_demo.personal_access_key}}),
        ] {
            let r = t.post("/v1/connections", credentials).await;
            assert_eq!(r.status, 201, "{}", r.body);
            let id = r.body["id"].as_str().unwrap();
            let r = t
                .post(&format!("/v1/connections/{id}/sync"), json!({}))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let locks = t.get("/v1/locks?limit=200").await.body;
        assert!(!locks.to_string().contains("\\u0000"), "{locks}");
        assert!(
            locks.to_string().contains("Entrance") && locks.to_string().contains("Office"),
            "{locks}"
        );
        for lock in locks["data"].as_array().unwrap() {
            let id = lock["id"].as_str().unwrap();
            let r = t
                .get(&format!("/v1/locks/{id}/access-codes?refresh=true"))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert!(!r.body.to_string().contains("\\u0000"), "{}", r.body);
        }
    }
);

both_backends!(
    idempotency_keys_answer_the_same_request_only,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let back = t.lock_id("Back door").await;
        let send = |lock: String, body: Value, key: &'static str| {
            let req = t
                .http
                .post(format!("{}/v1/locks/{lock}/access-codes", t.url))
                .bearer_auth(&t.admin)
                .header("Idempotency-Key", key)
                .json(&body);
            async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            }
        };
        let (status, first) = send(
            front.clone(),
            json!({"code": "802417", "name": "Anna"}),
            "booking-1",
        )
        .await;
        assert_eq!(status, 201);
        // The same request, keys in another order: the first answer.
        let (status, again) = send(
            front.clone(),
            json!({"name": "Anna", "code": "802417"}),
            "booking-1",
        )
        .await;
        assert_eq!((status, &again["id"]), (201, &first["id"]));
        for (lock, body) in [
            (front.clone(), json!({"code": "802418", "name": "Anna"})),
            (back.clone(), json!({"code": "802417", "name": "Anna"})),
        ] {
            let (status, r) = send(lock, body, "booking-1").await;
            assert_eq!(
                (status, r["error"]["code"].as_str()),
                (422, Some("idempotency_key_reused")),
                "{r}"
            );
        }
        // A body that is not even a request is refused as such; one the lock would refuse is
        // another request: neither is answered with the first code.
        let (status, _) = send(front.clone(), json!({"code": 12}), "booking-1").await;
        assert_eq!(status, 400);
        let (status, _) = send(front.clone(), json!({"code": "12"}), "booking-1").await;
        assert_eq!(status, 422);
        // Two keys on one request are ambiguous.
        let r = t
            .http
            .post(format!("{}/v1/locks/{front}/access-codes", t.url))
            .bearer_auth(&t.admin)
            .header("Idempotency-Key", "a")
            .header("Idempotency-Key", "b")
            .json(&json!({"code": "802419"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
);

both_backends!(
    keys_the_last_admin_and_the_authorization_header,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let keys = t.get("/v1/api-keys").await.body;
        let admin = keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == "admin")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = t.delete(&format!("/v1/api-keys/{admin}")).await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (409, "last_admin_key"));
        // With a second admin it can go.
        let second = t
            .post("/v1/api-keys", json!({"name": "second", "role": "admin"}))
            .await
            .body;
        let r = t.delete(&format!("/v1/api-keys/{admin}")).await;
        assert_eq!(r.status, 204);
        let key = second["key"].as_str().unwrap();
        // The scheme in any case; two Authorization headers are refused.
        let r = t
            .http
            .get(format!("{}/v1/locks", t.url))
            .header("authorization", format!("bearer {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = t
            .http
            .get(format!("{}/v1/locks", t.url))
            .header("authorization", format!("Bearer {key}"))
            .header("authorization", format!("Bearer {}", t.member))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
);
