//! What every write route does with the text it is sent, and what lockbridge keeps of the text
//! vendors send: NUL characters refused (400 naming the field) or cleaned, names at most 200
//! characters, and random Unicode in every field never answered with a 5xx.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

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

/// A write route: method, path, and a body whose every string is a text field to try.
type Route = (reqwest::Method, String, Value);

/// Every write route that takes a body, ready to be called: a TTLock connection with a code on
/// the front door, and a Kii connection. Answers the front door's id and the routes.
async fn write_routes(t: &TestApp) -> (String, Vec<Route>) {
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
    let m = |m: &str| reqwest::Method::from_bytes(m.as_bytes()).unwrap();
    let routes = vec![
        (
            m("POST"),
            "/v1/api-keys".into(),
            json!({"name": "ops", "role": "member"}),
        ),
        (
            m("POST"),
            "/v1/connections".into(),
            json!({"provider": "ttlock", "name": "n", "base_url": t.sim_url("ttlock"), "credentials": {"client_id": "a", "client_secret": "b", "username": "c", "password": "d"}}),
        ),
        (
            m("PATCH"),
            format!("/v1/connections/{conn}"),
            json!({"credentials": {"password": "x", "client_secret": "y"}}),
        ),
        (
            m("POST"),
            format!("/v1/locks/{front}/access-codes"),
            json!({"name": "n", "code": "771204", "starts_at": "s", "ends_at": "e"}),
        ),
        (
            m("POST"),
            format!("/v1/locks/{front}/access-codes"),
            json!({"code": "771204", "schedule": {"weekdays": ["mon"], "start_time": "a", "end_time": "b", "time_zone": "z"}}),
        ),
        (
            m("PATCH"),
            format!("/v1/access-codes/{code}"),
            json!({"name": "n", "code": "771205", "starts_at": "s", "ends_at": "e"}),
        ),
        (
            m("POST"),
            format!("/v1/locks/{front}/offline-codes"),
            json!({"kind": "permanent", "name": "n", "starts_at": "s", "ends_at": "e"}),
        ),
        (
            m("PUT"),
            format!("/v1/connections/{kii}/things/lobby-door-01/password"),
            json!({"new_password": "secret-1"}),
        ),
        (
            m("POST"),
            "/bff/iot-lock/credentials-update".into(),
            json!({"password": "p", "username": "u", "clientId": "i", "clientSecret": "s"}),
        ),
    ];
    (front, routes)
}

both_backends!(
    nul_characters_and_long_names_are_refused_on_every_write_route,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let (front, routes) = write_routes(&t).await;
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
        let (front, routes) = write_routes(&t).await;
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
