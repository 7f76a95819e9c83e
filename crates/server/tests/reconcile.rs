//! The truth after the write, on TTLock: codes deleted, changed or added on the lock outside
//! lockbridge, codes that reach their end, a vendor failing during a pass, and lock health.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_app::{reconcile, workers};
use lockbridge_sim::faults::FaultRule;
use lockbridge_sim::ttlock::PasscodeSpec;
use serde_json::{Value, json};

async fn set_code(t: &TestApp, lock: &str, body: Value) -> String {
    let r = t
        .post(&format!("/v1/locks/{lock}/access-codes"), body)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (201, Some("set")),
        "{}",
        r.body
    );
    r.body["id"].as_str().unwrap().to_owned()
}

async fn reconcile(t: &TestApp, lock: &str) -> Value {
    let r = t
        .post(&format!("/v1/locks/{lock}/reconcile"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Deletes a PIN from the simulated front door as TTLock's own app would.
fn delete_on_lock(t: &TestApp, pin: &str) {
    let mut w = t.sim.world();
    let lock = w.locks.get_mut(&t.sim_lock(0)).unwrap();
    lock.passcodes.retain(|_, p| p.code != pin);
}

both_backends!(
    an_external_deletion_is_restored_or_accepted,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn = t.connect().await;
        let front = t.lock_id("Front door").await;
        let id = set_code(&t, &front, json!({"code": "381904", "name": "Anna"})).await;
        delete_on_lock(&t, "381904");
        // A listing that reads the vendor tells the truth at once.
        let listed = t
            .get(&format!("/v1/locks/{front}/access-codes?refresh=true"))
            .await;
        let row = listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.as_str())
            .unwrap()
            .clone();
        assert_eq!(row["status"], "setting", "{row}");
        assert_eq!(row["warnings"][0]["code"], "deleted_externally");
        t.drain().await;
        assert!(
            t.pins_on(0).iter().any(|(p, _)| p == "381904"),
            "put back on the lock"
        );
        let c = t.code(&id).await;
        assert_eq!(
            (c["status"].as_str(), c["warnings"].as_array().map(Vec::len)),
            (Some("set"), Some(0))
        );
        assert_eq!(
            t.code_events(&id).await,
            [
                "access_code.set",
                "access_code.deleted_externally",
                "access_code.restored"
            ]
        );
        // The new vendor id is the one lockbridge knows.
        let pid = t
            .pins_on(0)
            .into_iter()
            .find(|(p, _)| p == "381904")
            .unwrap()
            .1;
        assert_eq!(c["provider_id"], pid.as_str());

        // Under `accept`, the lock's word is final.
        let r = t
            .patch(
                &format!("/v1/connections/{conn}"),
                json!({"on_external_change": "accept"}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["on_external_change"].as_str()),
            (200, Some("accept"))
        );
        delete_on_lock(&t, "381904");
        reconcile(&t, &front).await;
        let c = t.code(&id).await;
        assert_eq!(
            (c["status"].as_str(), c["removed_reason"].as_str()),
            (Some("removed"), Some("external"))
        );
        t.drain().await;
        assert!(
            t.pins_on(0).iter().all(|(p, _)| p != "381904"),
            "not put back"
        );
        // The PIN is free again.
        set_code(&t, &front, json!({"code": "381904"})).await;
    }
);

both_backends!(
    an_external_change_is_put_back_and_a_code_may_choose_accept,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let id = set_code(&t, &front, json!({"code": "550193", "name": "Cleaner"})).await;
        {
            let mut w = t.sim.world();
            let lock = w.locks.get_mut(&t.sim_lock(0)).unwrap();
            let p = lock
                .passcodes
                .values_mut()
                .find(|p| p.code == "550193")
                .unwrap();
            p.code = "550194".into();
            p.name = Some("Someone else".into());
        }
        reconcile(&t, &front).await;
        let events =
            t.db.store
                .list_events(
                    t.org,
                    &lockbridge_store::EventFilter {
                        access_code_id: Some(id.parse().unwrap()),
                        ..Default::default()
                    },
                    10,
                )
                .await
                .unwrap();
        let modified = events
            .iter()
            .find(|e| e.kind.as_str() == "access_code.modified_externally")
            .unwrap();
        assert_eq!(
            modified.data["changes"]["name"],
            json!({"from": "Cleaner", "to": "Someone else"})
        );
        assert_eq!(
            modified.data["changes"]["code"]["to"], "••••",
            "PINs are never written out"
        );
        t.drain().await;
        let on_lock: Vec<String> = t.pins_on(0).into_iter().map(|(p, _)| p).collect();
        assert!(
            on_lock.contains(&"550193".to_owned()) && !on_lock.contains(&"550194".to_owned()),
            "{on_lock:?}"
        );
        assert_eq!(t.code(&id).await["status"], "set");
        assert_eq!(
            t.code_events(&id).await.last().unwrap(),
            "access_code.restored"
        );

        // This code takes the lock's changes as they come.
        let r = t
            .patch(
                &format!("/v1/access-codes/{id}"),
                json!({"on_external_change": "accept"}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["status"].as_str()),
            (200, Some("set")),
            "{}",
            r.body
        );
        {
            let mut w = t.sim.world();
            let lock = w.locks.get_mut(&t.sim_lock(0)).unwrap();
            lock.passcodes
                .values_mut()
                .find(|p| p.code == "550193")
                .unwrap()
                .name = Some("Cleaning crew".into());
        }
        reconcile(&t, &front).await;
        let c = t.code(&id).await;
        assert_eq!(
            (c["status"].as_str(), c["name"].as_str()),
            (Some("set"), Some("Cleaning crew"))
        );
    }
);

both_backends!(
    expired_codes_are_removed_and_free_their_pin_and_place,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let now = lockbridge_core::time::now_ms();
        let start = lockbridge_core::time::to_rfc3339(now - 60_000);
        let end = lockbridge_core::time::to_rfc3339(now + 3_600_000);
        let id = set_code(
            &t,
            &front,
            json!({"code": "770341", "starts_at": start, "ends_at": end}),
        )
        .await;
        t.advance(3_600_000 + 1);
        t.drain().await;
        let c = t.code(&id).await;
        assert_eq!(
            (c["status"].as_str(), c["removed_reason"].as_str()),
            (Some("removed"), Some("expired")),
            "{c}"
        );
        assert!(t.pins_on(0).iter().all(|(p, _)| p != "770341"));
        assert_eq!(
            t.code_events(&id).await,
            ["access_code.set", "access_code.expired"]
        );
        // The same PIN can be issued again.
        set_code(&t, &front, json!({"code": "770341"})).await;
    }
);

both_backends!(
    codes_found_on_the_lock_are_recorded_managed_and_dropped,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        reconcile(&t, &front).await;
        t.sim
            .world()
            .put_passcode(
                t.sim_lock(0),
                PasscodeSpec {
                    code: "918273".into(),
                    name: Some("Handyman".into()),
                    start_ms: None,
                    end_ms: None,
                },
            )
            .unwrap();
        let codes = reconcile(&t, &front).await;
        let found = codes["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "918273")
            .unwrap()
            .clone();
        assert_eq!(
            (found["managed"].as_bool(), found["status"].as_str()),
            (Some(false), Some("set"))
        );
        let id = found["id"].as_str().unwrap().to_owned();
        assert_eq!(t.code_events(&id).await, ["access_code.unmanaged_found"]);
        // Its PIN is taken on this lock.
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "918273"}),
            )
            .await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (409, "already_exists"));
        // Gone from the lock, it is gone from lockbridge.
        delete_on_lock(&t, "918273");
        reconcile(&t, &front).await;
        let c = t.code(&id).await;
        assert_eq!(
            (c["status"].as_str(), c["removed_reason"].as_str()),
            (Some("removed"), Some("external"))
        );

        // Another one is taken under management: from then on it is kept as it is.
        t.sim
            .world()
            .put_passcode(
                t.sim_lock(0),
                PasscodeSpec {
                    code: "918274".into(),
                    name: None,
                    start_ms: None,
                    end_ms: None,
                },
            )
            .unwrap();
        let codes = reconcile(&t, &front).await;
        let id = codes["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "918274")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = t
            .post(&format!("/v1/access-codes/{id}/manage"), json!({}))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["managed"].as_bool()),
            (200, Some(true))
        );
        delete_on_lock(&t, "918274");
        reconcile(&t, &front).await;
        t.drain().await;
        assert!(
            t.pins_on(0).iter().any(|(p, _)| p == "918274"),
            "restored once managed"
        );
    }
);

both_backends!(
    a_vendor_failure_during_a_pass_changes_nothing,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let id = set_code(&t, &front, json!({"code": "402918"})).await;
        delete_on_lock(&t, "402918");
        t.sim.world().faults.add(FaultRule {
            route: Some("/v3/lock/listKeyboardPwd".into()),
            http_status: Some(502),
            count: Some(1),
            ..Default::default()
        });
        let r = t
            .post(&format!("/v1/locks/{front}/reconcile"), json!({}))
            .await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (502, "provider_error"));
        assert_eq!(
            t.code(&id).await["status"],
            "set",
            "nothing judged on a failed read"
        );
        assert!(
            t.code_events(&id)
                .await
                .iter()
                .all(|e| e != "access_code.deleted_externally")
        );
        // The worker's next pass fixes it.
        t.advance(t.app.state.settings.reconcile_interval.as_millis() as i64 + 1);
        assert!(reconcile::run_due(&t.app.state).await.unwrap() >= 1);
        t.drain().await;
        assert!(t.pins_on(0).iter().any(|(p, _)| p == "402918"));
        assert_eq!(t.code(&id).await["status"], "set");
    }
);

both_backends!(device_sync_keeps_lock_health_current, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect().await;
    let front = t.lock_id("Front door").await;
    let lock = t.get(&format!("/v1/locks/{front}")).await.body;
    assert_eq!(
        (
            lock["online"].as_bool(),
            lock["errors"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0)),
        "{lock}"
    );
    let gateway = t.sim.world().locks[&t.sim_lock(0)].gateway_id.unwrap();
    {
        let mut w = t.sim.world();
        w.gateways.get_mut(&gateway).unwrap().online = false;
        w.locks.get_mut(&t.sim_lock(0)).unwrap().battery = 12;
    }
    assert!(workers::sync_due_devices(&t.app.state).await.unwrap() >= 1);
    let lock = t.get(&format!("/v1/locks/{front}")).await.body;
    let codes = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|n| n["code"].as_str().unwrap().to_owned())
            .collect()
    };
    // TTLock reaches the lock only through its gateway: both are unreachable.
    assert_eq!(
        codes(&lock["errors"]),
        ["device_offline", "gateway_offline"],
        "{lock}"
    );
    assert!(
        codes(&lock["warnings"]).contains(&"low_battery".to_owned()),
        "{lock}"
    );
    let types: Vec<String> =
        t.db.store
            .list_events(t.org, &Default::default(), 50)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect();
    assert!(types.contains(&"gateway.offline".to_owned()), "{types:?}");
    assert!(types.contains(&"lock.offline".to_owned()), "{types:?}");
    assert!(types.contains(&"lock.battery_low".to_owned()), "{types:?}");
    // Not due again before its interval; back online at the next one.
    assert_eq!(workers::sync_due_devices(&t.app.state).await.unwrap(), 0);
    t.sim.world().gateways.get_mut(&gateway).unwrap().online = true;
    t.advance(t.app.state.settings.device_sync_interval.as_millis() as i64 + 1);
    assert!(workers::sync_due_devices(&t.app.state).await.unwrap() >= 1);
    let lock = t.get(&format!("/v1/locks/{front}")).await.body;
    assert_eq!(lock["errors"].as_array().map(Vec::len), Some(0), "{lock}");
    let types: Vec<String> =
        t.db.store
            .list_events(t.org, &Default::default(), 50)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect();
    assert!(types.contains(&"gateway.online".to_owned()), "{types:?}");
    assert!(types.contains(&"lock.online".to_owned()), "{types:?}");
});
