//! Access codes through the API, checked against the simulator's ground truth.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_app::engine;
use lockbridge_sim::faults::FaultRule;
use serde_json::{Value, json};

async fn ready(db: Db) -> (TestApp, String) {
    let t = TestApp::start(db).await;
    t.connect().await;
    let front = t.lock_id("Front door").await;
    (t, front)
}

fn count(t: &TestApp, i: usize, code: &str) -> usize {
    t.codes_on(i).iter().filter(|(c, _)| c == code).count()
}

both_backends!(
    a_created_code_is_on_the_lock_exactly_once,
    |db: Db| async move {
        let (t, front) = ready(db).await;
        let r = t
        .post(&format!("/v1/locks/{front}/access-codes"), json!({"name": "Guest 7", "code": "0481516", "starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-08T10:00:00Z"}))
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["status"], "set");
        assert_eq!(r.body["managed"], true);
        assert_eq!(r.body["starts_at"], "2030-01-01T10:00:00Z");
        assert_eq!(count(&t, 0, "0481516"), 1);
        let on_lock = t.sim.world().locks[&t.sim_lock(0)]
            .passcodes
            .values()
            .find(|p| p.code == "0481516")
            .unwrap()
            .clone();
        assert_eq!(
            (on_lock.kind, on_lock.on_lock),
            (3, true),
            "a period code, written through the gateway"
        );
        assert_eq!(r.body["provider_id"], on_lock.id.to_string());
        let id = r.body["id"].as_str().unwrap();
        assert_eq!(
            t.get(&format!("/v1/access-codes/{id}")).await.body["code"],
            "0481516"
        );

        // No code given: one is generated to fit the lock's rules.
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"name": "Cleaner 2"}),
            )
            .await;
        let generated = r.body["code"].as_str().unwrap();
        assert_eq!(generated.len(), 6);
        assert_eq!(count(&t, 0, generated), 1);
    }
);

both_backends!(
    codes_breaking_the_rules_never_reach_the_vendor,
    |db: Db| async move {
        let (t, front) = ready(db).await;
        let before = t.sim_calls("/v3/keyboardPwd/add");
        let path = format!("/v1/locks/{front}/access-codes");
        let cases: [(Value, &str); 6] = [
            (json!({"code": "123"}), "code"),
            (json!({"code": "1234567890"}), "code"),
            (json!({"code": "12a4"}), "code"),
            (
                json!({"code": "4821", "starts_at": "2030-01-01T00:00:00Z"}),
                "ends_at",
            ),
            (
                json!({"code": "4821", "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}),
                "ends_at",
            ),
            (
                json!({"code": "4821", "starts_at": "yesterday", "ends_at": "2030-01-01T00:00:00Z"}),
                "starts_at",
            ),
        ];
        for (body, field) in cases {
            let r = t.post(&path, body.clone()).await;
            assert_eq!(
                (r.status.as_u16(), error_code(&r)),
                (400, "validation_failed"),
                "{body}"
            );
            assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
        }
        let r = t.post(&path, json!({"code": "48213", "scheduling": "native", "schedule": {"weekdays": ["mon"], "start_time": "09:00", "end_time": "17:00", "time_zone": "Europe/Prague"}})).await;
        assert_eq!(
            r.body["error"]["field"], "scheduling",
            "TTLock custom codes do not recur by themselves"
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("just_in_time")
        );
        assert_eq!(
            t.sim_calls("/v3/keyboardPwd/add"),
            before,
            "not one vendor call"
        );
    }
);

both_backends!(
    duplicates_and_a_full_lock_are_definitive,
    |db: Db| async move {
        let (t, front) = ready(db).await;
        let path = format!("/v1/locks/{front}/access-codes");
        // 482913 is on the lock already (set outside lockbridge): the vendor refuses it.
        let r = t.post(&path, json!({"code": "482913"})).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (409, "already_exists"),
            "{}",
            r.body
        );
        assert_eq!(r.body["error"]["provider_code"], "-3007");
        // One lockbridge knows is refused before any call.
        t.post(&path, json!({"code": "5555"})).await;
        let before = t.sim_calls("/v3/keyboardPwd/add");
        let r = t.post(&path, json!({"code": "5555"})).await;
        assert_eq!(error_code(&r), "already_exists");
        assert_eq!(t.sim_calls("/v3/keyboardPwd/add"), before);

        t.sim.world().config.capacity = 3;
        let r = t.post(&path, json!({"code": "6666"})).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (422, "capacity_reached")
        );
        let codes = t.get(&path).await;
        assert!(
            codes.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["code"] != "6666"),
            "a refused code is not listed"
        );
    }
);

both_backends!(
    an_idempotency_key_returns_the_first_result,
    |db: Db| async move {
        let (t, front) = ready(db).await;
        let send = || {
            t.http
                .post(format!("{}/v1/locks/{front}/access-codes", t.url))
                .bearer_auth(&t.admin)
                .header("Idempotency-Key", "booking-4711")
                .json(&json!({"name": "Booking 4711"}))
                .send()
        };
        let first: Value = send().await.unwrap().json().await.unwrap();
        let second: Value = send().await.unwrap().json().await.unwrap();
        assert_eq!(first["id"], second["id"]);
        assert_eq!(first["code"], second["code"]);
        assert_eq!(
            count(&t, 0, first["code"].as_str().unwrap()),
            1,
            "never a second code"
        );
    }
);

both_backends!(
    a_vendor_fault_leaves_the_code_setting_until_the_worker_sets_it,
    |db: Db| async move {
        let (t, front) = ready(db).await;
        t.sim.world().faults.add(FaultRule {
            route: Some("/v3/keyboardPwd/add".into()),
            http_status: Some(503),
            ..Default::default()
        });
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "97531"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["status"], "setting");
        assert!(r.body["last_error"].as_str().unwrap().contains("ttlock"));
        assert_eq!(count(&t, 0, "97531"), 0);
        let id = r.body["id"].as_str().unwrap().to_owned();

        // Still failing: the worker tries, the code stays setting.
        assert_eq!(engine::run_due_codes(&t.app.state).await.unwrap(), 1);
        assert_eq!(
            t.get(&format!("/v1/access-codes/{id}")).await.body["status"],
            "setting"
        );
        t.sim.world().faults.clear();
        assert_eq!(engine::run_due_codes(&t.app.state).await.unwrap(), 1);
        let done = t.get(&format!("/v1/access-codes/{id}")).await;
        assert_eq!(
            (
                done.body["status"].as_str(),
                done.body["last_error"].as_str()
            ),
            (Some("set"), None)
        );
        assert_eq!(count(&t, 0, "97531"), 1);
        assert_eq!(
            engine::run_due_codes(&t.app.state).await.unwrap(),
            0,
            "nothing left to do"
        );
    }
);

both_backends!(change_and_delete_reach_the_lock, |db: Db| async move {
    let (t, front) = ready(db).await;
    let r = t
        .post(
            &format!("/v1/locks/{front}/access-codes"),
            json!({"name": "Old", "code": "24680"}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = t
        .patch(
            &format!("/v1/access-codes/{id}"),
            json!({"name": "New", "code": "13579"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (200, Some("set")),
        "{}",
        r.body
    );
    assert_eq!(count(&t, 0, "24680"), 0);
    assert!(
        t.codes_on(0)
            .contains(&("13579".into(), Some("New".into())))
    );
    let r = t
        .patch(
            &format!("/v1/access-codes/{id}"),
            json!({"starts_at": "2031-05-01T00:00:00Z", "ends_at": "2031-05-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.body["ends_at"], "2031-05-02T00:00:00Z");
    let r = t
        .patch(&format!("/v1/access-codes/{id}"), json!({"code": "482913"}))
        .await;
    assert_eq!(error_code(&r), "already_exists");
    assert_eq!(
        t.get(&format!("/v1/access-codes/{id}")).await.body["code"],
        "13579",
        "a refused change leaves the code as it was"
    );
    assert_eq!(
        t.patch(&format!("/v1/access-codes/{id}"), json!({}))
            .await
            .body["error"]["field"],
        "body"
    );

    let r = t.delete(&format!("/v1/access-codes/{id}")).await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (200, Some("removed"))
    );
    assert_eq!(count(&t, 0, "13579"), 0);
    let listed = t.get(&format!("/v1/locks/{front}/access-codes")).await;
    assert!(
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != id.as_str())
    );

    // With the gateway offline the code stays removing until the lock confirms.
    let r = t
        .post(
            &format!("/v1/locks/{front}/access-codes"),
            json!({"code": "86420"}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    t.sim
        .world()
        .gateways
        .values_mut()
        .for_each(|g| g.online = false);
    let r = t.delete(&format!("/v1/access-codes/{id}")).await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (202, Some("removing"))
    );
    assert_eq!(count(&t, 0, "86420"), 1);
    t.sim
        .world()
        .gateways
        .values_mut()
        .for_each(|g| g.online = true);
    engine::run_due_codes(&t.app.state).await.unwrap();
    assert_eq!(
        t.get(&format!("/v1/access-codes/{id}")).await.body["status"],
        "removed"
    );
    assert_eq!(count(&t, 0, "86420"), 0);
});

both_backends!(
    codes_found_on_the_lock_are_listed_unmanaged,
    |db: Db| async move {
        let (t, front) = ready(db).await;
        t.post(
            &format!("/v1/locks/{front}/access-codes"),
            json!({"code": "111222"}),
        )
        .await;
        let r = t.get(&format!("/v1/locks/{front}/access-codes")).await;
        let data = r.body["data"].as_array().unwrap();
        assert_eq!(data.len(), 3);
        let found: Vec<&Value> = data.iter().filter(|c| c["managed"] == false).collect();
        assert_eq!(found.len(), 2);
        assert!(
            found.iter().any(|c| c["code"] == "482913"
                && c["name"] == "Cleaner"
                && c["starts_at"].is_null())
        );
        assert!(
            found
                .iter()
                .any(|c| c["code"] == "70315" && c["ends_at"].is_string())
        );
        // Listing again reads the store only (the lock was read less than a minute ago)...
        let reads = t.sim_calls("/v3/lock/listKeyboardPwd");
        assert_eq!(reads, 1);
        t.get(&format!("/v1/locks/{front}/access-codes")).await;
        assert_eq!(t.sim_calls("/v3/lock/listKeyboardPwd"), reads);
        let r = t
            .get(&format!("/v1/locks/{front}/access-codes?refresh=yes"))
            .await;
        assert_eq!(
            (
                r.status.as_u16(),
                error_code(&r),
                r.body["error"]["field"].as_str()
            ),
            (400, "validation_failed", Some("refresh"))
        );
        // ...unless asked to read the lock; and what is found again is not added again.
        assert_eq!(
            t.get(&format!("/v1/locks/{front}/access-codes?refresh=true"))
                .await
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(t.sim_calls("/v3/lock/listKeyboardPwd"), reads + 1);
        let first = t
            .get(&format!("/v1/locks/{front}/access-codes?limit=2"))
            .await;
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let rest = t
            .get(&format!(
                "/v1/locks/{front}/access-codes?limit=2&cursor={cursor}"
            ))
            .await;
        assert_eq!(rest.body["data"].as_array().unwrap().len(), 1);

        let id = data[0]["id"].as_str().unwrap();
        let r = t
            .post(&format!("/v1/access-codes/{id}/freeze"), json!({}))
            .await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (422, "not_supported"));
    }
);
