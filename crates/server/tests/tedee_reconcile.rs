//! Reconciliation on Tedee: PINs deleted or changed in Tedee's app, PINs Tedee drops at their
//! end, a lock leaving its bridge, and a thousand locks within Tedee's rate limit.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

both_backends!(
    reconciliation_restores_and_drops_pins,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect_tedee().await;
        let lock = t.tedee_lock(1).await;
        let id = lock["id"].as_str().unwrap();
        let r = t
            .post(
                &format!("/v1/locks/{id}/access-codes"),
                json!({"name": "Anna", "code": "480219"}),
            )
            .await;
        assert_eq!(r.body["status"], "set", "{}", r.body);
        let code = r.body["id"].as_str().unwrap().to_owned();
        // Someone deletes the PIN in Tedee's app.
        t.tedee
            .world()
            .locks
            .get_mut(&t.tedee_demo.lock_ids[1])
            .unwrap()
            .pins
            .retain(|_, p| p.pin != "480219");
        let r = t
            .post(&format!("/v1/locks/{id}/reconcile"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        t.drain().await;
        assert!(
            t.tedee_pins(1).iter().any(|p| p.pin == "480219"),
            "restored"
        );
        assert_eq!(t.code(&code).await["status"], "set");
        assert_eq!(
            t.code_events(&code).await,
            [
                "access_code.set",
                "access_code.deleted_externally",
                "access_code.restored"
            ]
        );
        // Changed in Tedee's app: put back as lockbridge has it.
        t.tedee
            .world()
            .locks
            .get_mut(&t.tedee_demo.lock_ids[1])
            .unwrap()
            .pins
            .values_mut()
            .find(|p| p.pin == "480219")
            .unwrap()
            .alias = "Stranger".into();
        t.post(&format!("/v1/locks/{id}/reconcile"), json!({}))
            .await;
        t.drain().await;
        let pin = t
            .tedee_pins(1)
            .into_iter()
            .find(|p| p.pin == "480219")
            .unwrap();
        assert_eq!(pin.alias, "Anna");
        assert_eq!(
            t.code_events(&code).await[3..],
            ["access_code.modified_externally", "access_code.restored"]
        );
        // The lock drops off its bridge: device sync sees it, and sees it come back.
        t.tedee
            .world()
            .locks
            .get_mut(&t.tedee_demo.lock_ids[1])
            .unwrap()
            .connected = false;
        lockbridge_app::workers::sync_due_devices(&t.app.state)
            .await
            .unwrap();
        let l = t.tedee_lock(1).await;
        assert_eq!(
            (l["online"].as_bool(), l["errors"][0]["code"].as_str()),
            (Some(false), Some("device_offline")),
            "{l}"
        );
        t.tedee
            .world()
            .locks
            .get_mut(&t.tedee_demo.lock_ids[1])
            .unwrap()
            .connected = true;
        t.advance(t.app.state.settings.device_sync_interval.as_millis() as i64 + 1);
        lockbridge_app::workers::sync_due_devices(&t.app.state)
            .await
            .unwrap();
        assert_eq!(t.tedee_lock(1).await["online"], true);
        // A PIN that Tedee drops at its end is removed as expired, not put back.
        let r = t
        .post(
            &format!("/v1/locks/{id}/access-codes"),
            json!({"code": "592617", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
        let ending = r.body["id"].as_str().unwrap().to_owned();
        let far = lockbridge_core::time::parse_rfc3339("2099-01-01T00:00:01Z").unwrap()
            - lockbridge_core::time::now_ms();
        t.app.state.clock.advance(far);
        t.tedee.world().clock_offset_ms += far;
        t.post(&format!("/v1/locks/{id}/reconcile"), json!({}))
            .await;
        t.drain().await;
        let c = t.code(&ending).await;
        assert_eq!(
            (c["status"].as_str(), c["removed_reason"].as_str()),
            (Some("removed"), Some("expired")),
            "{c}"
        );
        assert!(t.tedee_pins(1).iter().all(|p| p.pin != "592617"));
    }
);

both_backends!(
    a_thousand_locks_are_reconciled_within_tedees_budget,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let keys: Vec<String> = {
            let mut w = t.tedee.world();
            (0..2)
                .map(|a| {
                    let user = w.add_user(&format!("Owner {a}"), &format!("owner{a}@example.com"));
                    let bridge = w.add_bridge(user, "Bridge", true);
                    for i in 0..500 {
                        let mut spec =
                            lockbridge_sim::tedee::LockSpec::new(user, &format!("Room {a}-{i:03}"));
                        spec.bridge_id = Some(bridge);
                        spec.connected = true;
                        w.add_lock(spec);
                    }
                    w.add_key(user, &[], None)
                })
                .collect()
        };
        for key in keys {
            let r = t
                .post(
                    "/v1/connections",
                    json!({"provider": "tedee", "credentials": {"personal_access_key": key}}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            let id = r.body["id"].as_str().unwrap();
            assert_eq!(
                t.post(&format!("/v1/connections/{id}/sync"), json!({}))
                    .await
                    .status,
                200
            );
        }
        let mut reconciled = 0;
        for _ in 0..10 {
            let n = lockbridge_app::reconcile::run_due(&t.app.state)
                .await
                .unwrap();
            if n == 0 {
                break;
            }
            reconciled += n;
        }
        assert_eq!(reconciled, 1_000);
        let w = t.tedee.world();
        assert!(w.throttled.is_empty(), "429s: {:?}", w.throttled);
        let lists: u64 = w
            .calls
            .iter()
            .filter(|(route, _)| route.to_lowercase().contains("/pin") && route.starts_with("GET"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(lists, 1_000, "one code list per lock: {:?}", w.calls);
    }
);

both_backends!(
    a_pin_deleted_while_the_list_is_read_is_no_error,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect_tedee().await;
        let lock = t.tedee_lock(1).await;
        let id = lock["id"].as_str().unwrap();
        let r = t
            .post(
                &format!("/v1/locks/{id}/access-codes"),
                json!({"name": "Anna", "code": "480219"}),
            )
            .await;
        assert_eq!(r.body["status"], "set", "{}", r.body);
        let code = r.body["id"].as_str().unwrap().to_owned();
        // A PIN listed, then gone by the time it is read (another instance deleted it): the
        // list is read again rather than the read failing.
        t.tedee_fault("GET /my/lock/{id}/pin/{pinId}", 404);
        let r = t
            .post(&format!("/v1/locks/{id}/reconcile"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(t.code(&code).await["status"], "set");
        assert_eq!(
            t.code_events(&code).await,
            ["access_code.set"],
            "nothing seen as deleted"
        );
    }
);
