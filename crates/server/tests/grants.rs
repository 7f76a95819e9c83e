//! Grants through the API, against the simulators' ground truth: one PIN generated for locks
//! of three vendors, moved and revoked together; locks that cannot share a PIN.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::time::{parse_rfc3339, to_rfc3339};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;

impl TestApp {
    /// Connects TTLock, Tedee and Tuya; answers (TTLock front door, Tedee Apartment 2, Tuya
    /// Unit 3B (Zigbee), Tuya Entrance (Wi-Fi)) lock ids.
    async fn three_vendors(&self) -> [String; 4] {
        self.connect().await;
        self.connect_tedee().await;
        self.connect_tuya().await;
        [
            self.lock_id("Front door").await,
            self.tedee_lock(1).await["id"].as_str().unwrap().to_owned(),
            self.tuya_lock(1).await["id"].as_str().unwrap().to_owned(),
            self.tuya_lock(0).await["id"].as_str().unwrap().to_owned(),
        ]
    }

    /// Works the engine (and the Tuya confirmations) until nothing is due.
    async fn settle_all(&self) {
        for _ in 0..5 {
            self.drain().await;
            lockbridge_app::grants::run_due(&self.app.state)
                .await
                .unwrap();
        }
    }

    async fn grant(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/grants/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// Where each PIN is on the simulated locks: TTLock front door end, Tedee Apartment 2
    /// end, Tuya Unit 3B end (None when the lock does not hold it).
    fn ends_on_locks(&self, pin: &str) -> [Option<i64>; 3] {
        let ttlock = self.sim.world().locks[&self.sim_lock(0)]
            .passcodes
            .values()
            .find(|p| p.code == pin)
            .map(|p| p.end_ms);
        let tedee = self
            .tedee_pins(1)
            .into_iter()
            .find(|p| p.pin == pin)
            .map(|p| parse_rfc3339(p.end_date.as_deref().unwrap_or_default()).unwrap_or(0));
        let tuya = self
            .tuya_password(1, pin)
            .filter(|p| p.phase == 2)
            .map(|p| p.invalid_time * 1000);
        [ttlock, tedee, tuya]
    }
}

fn codes(grant: &Value) -> Vec<Value> {
    grant["access_codes"].as_array().unwrap().clone()
}

both_backends!(
    one_pin_for_three_vendors_moved_and_revoked_together,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let [ttlock, tedee, zigbee, _] = t.three_vendors().await;
        let now = t.app.state.now();
        let (start, end) = (now - HOUR, now + 48 * HOUR);
        let r = t
            .post(
                "/v1/grants",
                json!({
                    "name": "Anna",
                    "lock_ids": [ttlock, tedee, zigbee],
                    "starts_at": to_rfc3339(start),
                    "ends_at": to_rfc3339(end),
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let pin = r.body["code"].as_str().unwrap().to_owned();
        assert_eq!(codes(&r.body).len(), 3);
        for c in codes(&r.body) {
            assert_eq!(c["code"], pin.as_str(), "one PIN for every lock");
            assert_eq!(c["grant_id"], id.as_str());
        }
        t.settle_all().await;
        let g = t.grant(&id).await;
        assert_eq!(g["status"], "set", "{g}");
        // The simulators hold it, each until the grant's end (to the second; Tedee's minute).
        let ends = t.ends_on_locks(&pin);
        for (vendor, e) in ["ttlock", "tedee", "tuya"].iter().zip(ends) {
            let e = e.unwrap_or_else(|| panic!("{vendor} does not hold the grant's PIN"));
            assert!((e - end).abs() < 60_000, "{vendor}: {e} vs {end}");
        }
        let events = t.get(&format!("/v1/events?grant_id={id}")).await;
        let kinds: Vec<&str> = events.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["grant.set"], "grant.set once");

        // A later end reaches all three locks.
        let later = end + 24 * HOUR;
        let r = t
            .patch(
                &format!("/v1/grants/{id}"),
                json!({"starts_at": to_rfc3339(start), "ends_at": to_rfc3339(later)}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        t.settle_all().await;
        assert_eq!(t.grant(&id).await["status"], "set");
        for (vendor, e) in ["ttlock", "tedee", "tuya"]
            .iter()
            .zip(t.ends_on_locks(&pin))
        {
            let e = e.unwrap_or_else(|| panic!("{vendor} lost the grant's PIN"));
            assert!((e - later).abs() < 60_000, "{vendor} still ends at {e}");
        }

        // A given PIN that one lock cannot take is refused before any vendor call, naming it.
        let calls = t.sim_calls("/v3/keyboardPwd/add");
        let r = t
            .patch(&format!("/v1/grants/{id}"), json!({"code": "12"}))
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["error"]["field"], "code");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&ttlock) || message.contains(&tedee),
            "{message}"
        );
        assert_eq!(t.sim_calls("/v3/keyboardPwd/add"), calls);

        // Revoked: gone from every lock.
        let r = t.delete(&format!("/v1/grants/{id}")).await;
        assert!(r.status == 200 || r.status == 202, "{}", r.body);
        t.settle_all().await;
        assert_eq!(t.grant(&id).await["status"], "removed");
        assert_eq!(t.ends_on_locks(&pin), [None, None, None]);
    }
);

both_backends!(locks_that_cannot_share_a_pin, |db: Db| async move {
    let t = TestApp::start(db).await;
    let [_, _, zigbee, wifi] = t.three_vendors().await;
    // A 7-digit Wi-Fi lock and a 6-digit Zigbee lock: no PIN suits both.
    let r = t
        .post(
            "/v1/grants",
            json!({"name": "Ben", "lock_ids": [wifi, zigbee], "on_shared_code_impossible": "fail"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(error_code(&r), "shared_code_impossible");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&wifi) && message.contains(&zigbee),
        "{message}"
    );
    assert_eq!(
        t.get("/v1/grants").await.body["data"],
        json!([]),
        "nothing stored"
    );

    // per_lock (the default): the fewest PINs, two here, both set.
    let r = t
        .post(
            "/v1/grants",
            json!({"name": "Ben", "lock_ids": [wifi, zigbee]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["code"].is_null());
    let id = r.body["id"].as_str().unwrap().to_owned();
    t.settle_all().await;
    let g = t.grant(&id).await;
    assert_eq!(g["status"], "set", "{g}");
    let pins: Vec<(String, String)> = codes(&g)
        .iter()
        .map(|c| {
            (
                c["lock_id"].as_str().unwrap().to_owned(),
                c["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pin_of = |lock: &str| pins.iter().find(|(l, _)| l == lock).unwrap().1.clone();
    assert_eq!(pin_of(&wifi).len(), 7);
    assert_eq!(pin_of(&zigbee).len(), 6);
    assert!(
        t.tuya_password(0, &pin_of(&wifi))
            .is_some_and(|p| p.phase == 2)
    );
    assert!(
        t.tuya_password(1, &pin_of(&zigbee))
            .is_some_and(|p| p.phase == 2)
    );
    // Listed with its codes.
    let listed = t.get("/v1/grants").await;
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    assert_eq!(codes(&listed.body["data"][0]).len(), 2);

    // The same Idempotency-Key answers the first grant; with another body, 422.
    let send = |body: Value| {
        let t = &t;
        async move {
            let resp = t
                .http
                .post(format!("{}/v1/grants", t.url))
                .bearer_auth(&t.admin)
                .header("Idempotency-Key", "stay-1042")
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let body = json!({"name": "Cleo", "lock_ids": [wifi]});
    let (s1, first) = send(body.clone()).await;
    let (s2, again) = send(body).await;
    assert_eq!((s1, s2), (201, 201), "{first} {again}");
    assert_eq!(first["id"], again["id"]);
    let (s3, other) = send(json!({"name": "Dan", "lock_ids": [wifi]})).await;
    assert_eq!(s3, 422, "{other}");
    assert_eq!(other["error"]["code"], "idempotency_key_reused");
});

both_backends!(a_grant_moves_between_locks, |db: Db| async move {
    let t = TestApp::start(db).await;
    let [ttlock, tedee, zigbee, _] = t.three_vendors().await;
    let r = t
        .post(
            "/v1/grants",
            json!({"name": "Eve", "lock_ids": [ttlock, tedee], "code": "583017"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    t.settle_all().await;
    assert_eq!(
        t.ends_on_locks("583017").map(|e| e.is_some()),
        [true, true, false]
    );
    // Tedee out, Tuya in: the PIN leaves one lock and reaches the other.
    let r = t
        .patch(
            &format!("/v1/grants/{id}"),
            json!({"lock_ids": [ttlock, zigbee]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.settle_all().await;
    let g = t.grant(&id).await;
    assert_eq!(g["status"], "set", "{g}");
    assert_eq!(g["lock_ids"], json!([ttlock, zigbee]));
    assert_eq!(
        t.ends_on_locks("583017").map(|e| e.is_some()),
        [true, false, true]
    );
});

both_backends!(
    concurrent_changes_leave_every_lock_with_the_grants_pin,
    |db: Db| async move {
        use lockbridge_core::rules::CodeRules;
        use reqwest::Method;

        let t = TestApp::start(db).await;
        let [ttlock, tedee, zigbee, _] = t.three_vendors().await;
        let (_other, other_url) = t.serve_other().await;
        let rules = lockbridge_core::shared_pin::common_rules(&[
            CodeRules::ttlock(),
            CodeRules::tedee(),
            CodeRules::tuya(6),
        ])
        .unwrap();
        let r = t
            .post(
                "/v1/grants",
                json!({"name": "Guest", "lock_ids": [ttlock, tedee, zigbee]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        t.settle_all().await;
        let mut handed_out = vec![r.body["code"].as_str().unwrap().to_owned()];
        for round in 0..6 {
            // Eight clients change the grant at once, half through each instance.
            let mut pins: Vec<String> = Vec::new();
            while pins.len() < 8 {
                let pin = rules.generate();
                if !handed_out.contains(&pin) && !pins.contains(&pin) {
                    pins.push(pin);
                }
            }
            let path = format!("/v1/grants/{id}");
            let calls = pins.iter().enumerate().map(|(i, pin)| {
                let base = if i % 2 == 0 { &t.url } else { &other_url };
                let body = json!({"name": format!("Guest {round}.{i}"), "code": pin});
                t.call_at(base, Method::PATCH, &path, Some(&t.admin), Some(body))
            });
            for r in futures_util::future::join_all(calls).await {
                assert!(
                    r.status == 200 || r.status == 409,
                    "{} {}",
                    r.status,
                    r.body
                );
            }
            handed_out.extend(pins);
            t.settle_all().await;

            let g = t.grant(&id).await;
            assert_eq!(g["status"], "set", "round {round}: {g}");
            let stored =
                t.db.store
                    .grant_by_id(id.parse().unwrap())
                    .await
                    .unwrap()
                    .unwrap();
            assert_eq!(stored.version, stored.applied_version, "round {round}");
            let pin = g["code"].as_str().unwrap().to_owned();
            for c in codes(&g) {
                assert_eq!(c["code"], pin.as_str(), "round {round}: {g}");
                assert_eq!(c["name"], g["name"], "round {round}: {g}");
            }
            // The simulators' truth: every lock holds the grant's PIN, and no other PIN ever
            // handed out for it.
            for held in t.ends_on_locks(&pin) {
                assert!(held.is_some(), "round {round}: a lock lacks {pin}");
            }
            for old in handed_out.iter().filter(|p| **p != pin) {
                assert_eq!(
                    t.ends_on_locks(old),
                    [None, None, None],
                    "round {round}: {old} still opens a door (the grant's PIN is {pin})"
                );
            }
        }
    }
);
