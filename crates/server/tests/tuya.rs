//! Tuya door locks through the unified API, against the Tuya simulator's ground truth.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_app::{engine, workers};
use lockbridge_core::ConnectionId;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::time::{now_ms, parse_rfc3339};
use serde_json::{Value, json};

impl TestApp {
    fn tuya_later(&self, seconds: i64) {
        let mut w = self.tuya.world();
        w.clock_offset_ms += seconds * 1000;
    }
}

both_backends!(
    tokens_are_renewed_within_tuyas_own_margin,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn: ConnectionId = t.connect_tuya().await.parse().unwrap();
        let refreshes = || {
            t.tuya
                .world()
                .calls
                .get("token refreshes")
                .copied()
                .unwrap_or(0)
        };
        // A Tuya token lives two hours: inside the service's 24-hour margin, but not due yet.
        assert_eq!(workers::refresh_due_tokens(&t.app.state).await.unwrap(), 0);
        assert_eq!(refreshes(), 0);
        let before = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        t.db.store
            .store_tokens(conn, &Credentials::new(), Some(now_ms() + 5 * 60_000))
            .await
            .unwrap();
        assert_eq!(workers::refresh_due_tokens(&t.app.state).await.unwrap(), 1);
        assert_eq!(refreshes(), 1);
        let after = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        assert_ne!(
            after.credentials.get("access_token"),
            before.credentials.get("access_token")
        );
        assert!(after.token_expires_at.unwrap() > now_ms() + 3_600_000);
        assert_eq!(workers::refresh_due_tokens(&t.app.state).await.unwrap(), 0);
        // The renewed pair works (the old one is refused by the cloud now).
        let s = t
            .post(&format!("/v1/connections/{conn}/sync"), json!({}))
            .await;
        assert_eq!(s.status, 200, "{}", s.body);
        assert_eq!(refreshes(), 1);
    }
);

both_backends!(locks_rules_and_credentials, |db: Db| async move {
    let t = TestApp::start(db).await;
    let r = t.post("/v1/connections", json!({"provider": "tuya", "credentials": {"access_id": t.tuya_demo.access_id, "access_secret": "0123456789abcdef0123456789abcdef"}})).await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (422, "provider_rejected_credentials")
    );
    assert_eq!(r.body["error"]["provider_code"], "1004");
    let r = t.post("/v1/connections", json!({"provider": "tuya", "credentials": {"access_id": "x", "access_secret": "y", "region": "mars"}})).await;
    assert_eq!(r.body["error"]["field"], "credentials.region");
    t.connect_tuya().await;
    let wifi = t.tuya_lock(0).await;
    assert_eq!(
        (wifi["online"].as_bool(), wifi["state"].as_str()),
        (Some(true), Some("unlocked")),
        "the demo's keypad entry opened it"
    );
    assert_eq!(wifi["code_rules"]["min_length"], 7);
    assert_eq!(wifi["capabilities"]["freeze"], true);
    let zigbee = t.tuya_lock(1).await;
    assert_eq!(
        (
            zigbee["code_rules"]["max_length"].as_i64(),
            zigbee["battery"].as_i64()
        ),
        (Some(6), Some(64))
    );
    assert_eq!(t.tuya_lock(2).await["online"], false);
    // The PIN length holds before any vendor call.
    let id = wifi["id"].as_str().unwrap();
    let before = t.tuya.world().calls.clone();
    let r = t
        .post(
            &format!("/v1/locks/{id}/access-codes"),
            json!({"code": "123456"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["field"].as_str()),
        (400, Some("code"))
    );
    assert_eq!(t.tuya.world().calls, before);
});

both_backends!(create_set_freeze_unfreeze_delete, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect_tuya().await;
    t.tuya.world().config.delivery_ms = 60_000;
    let lock = t.tuya_lock(0).await;
    let id = lock["id"].as_str().unwrap();

    let r = t.post(&format!("/v1/locks/{id}/access-codes"), json!({"name": "Guest", "code": "5820394", "starts_at": "2030-05-01T14:00:00Z", "ends_at": "2030-05-08T10:00:00Z"})).await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (201, Some("setting")),
        "{}",
        r.body
    );
    let code = r.body["id"].as_str().unwrap().to_owned();
    let on_lock = t.tuya_password(0, "5820394").unwrap();
    assert_eq!(
        (on_lock.phase, on_lock.effective_time, on_lock.name.as_str()),
        (1, 1_903_874_400, "Guest")
    );
    // The lock has not taken it: still setting after the worker looked.
    engine::run_due_codes(&t.app.state).await.unwrap();
    assert_eq!(
        t.get(&format!("/v1/access-codes/{code}")).await.body["status"],
        "setting"
    );
    t.tuya_later(61);
    engine::run_due_codes(&t.app.state).await.unwrap();
    assert_eq!(
        t.get(&format!("/v1/access-codes/{code}")).await.body["status"],
        "set"
    );

    let r = t
        .post(&format!("/v1/access-codes/{code}/freeze"), json!({}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["frozen"].as_bool()),
        (200, Some(true)),
        "{}",
        r.body
    );
    assert!(t.tuya_password(0, "5820394").unwrap().frozen);
    assert_eq!(
        r.body["updated_at"],
        t.get(&format!("/v1/access-codes/{code}")).await.body["updated_at"],
        "the answer carries the stored update time"
    );
    let r = t
        .post(&format!("/v1/access-codes/{code}/unfreeze"), json!({}))
        .await;
    assert_eq!(r.body["frozen"], false);
    assert!(!t.tuya_password(0, "5820394").unwrap().frozen);

    let r = t.delete(&format!("/v1/access-codes/{code}")).await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (202, Some("removing")),
        "{}",
        r.body
    );
    assert_eq!(
        t.tuya_password(0, "5820394").unwrap().phase,
        3,
        "to be deleted"
    );
    t.tuya_later(61);
    engine::run_due_codes(&t.app.state).await.unwrap();
    assert_eq!(
        t.get(&format!("/v1/access-codes/{code}")).await.body["status"],
        "removed"
    );
    assert!(t.tuya_password(0, "5820394").is_none());

    // A TTLock code cannot be frozen: 422 not_supported.
    let r = t
        .post(&format!("/v1/access-codes/{code}/freeze"), json!({}))
        .await;
    assert_eq!(r.status, 400, "a removed code cannot be frozen: {}", r.body);
});

both_backends!(
    weekly_windows_permanent_codes_and_zigbee_refusals,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect_tuya().await;
        let zigbee = t.tuya_lock(1).await;
        let id = zigbee["id"].as_str().unwrap();
        let tz = zigbee["time_zone"].as_str().unwrap().to_owned();
        let weekly = json!({"weekdays": ["mon", "tue", "fri"], "start_time": "07:30", "end_time": "08:30", "time_zone": tz});
        let r = t
            .post(
                &format!("/v1/locks/{id}/access-codes"),
                json!({"name": "Cleaner", "code": "482913", "schedule": weekly}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        engine::run_due_codes(&t.app.state).await.unwrap();
        let on_lock = t.tuya_password(1, "482913").unwrap();
        assert_eq!(on_lock.schedule_list.len(), 1);
        assert_eq!(
            (
                on_lock.schedule_list[0].effective_time,
                on_lock.schedule_list[0].invalid_time,
                on_lock.schedule_list[0].working_day
            ),
            (450, 510, 38)
        );
        assert!(
            on_lock.invalid_time >= 2_145_916_800,
            "a permanent code ends in 2038"
        );
        assert_eq!(
            t.get(&format!(
                "/v1/access-codes/{}",
                r.body["id"].as_str().unwrap()
            ))
            .await
            .body["status"],
            "set"
        );

        // The demo's "Owner" shows up as found, permanent, without its PIN (Tuya never returns it).
        let list = t.get(&format!("/v1/locks/{id}/access-codes")).await;
        let owner = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "Owner")
            .unwrap()
            .clone();
        assert_eq!(
            (
                owner["managed"].as_bool(),
                owner["starts_at"].is_null(),
                owner["code"].as_str()
            ),
            (Some(false), true, Some(""))
        );

        // The same PIN again: the Zigbee lock refuses it when it arrives (delivery_status 4).
        let r = t
            .post(
                &format!("/v1/locks/{id}/access-codes"),
                json!({"code": "736194"}),
            )
            .await;
        assert_eq!(r.body["status"], "setting");
        engine::run_due_codes(&t.app.state).await.unwrap();
        let failed = t
            .get(&format!(
                "/v1/access-codes/{}",
                r.body["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(failed.body["status"], "failed");
        assert!(
            failed.body["last_error"]
                .as_str()
                .unwrap()
                .contains("already"),
            "{}",
            failed.body
        );
        // A Wi-Fi lock refuses a duplicate at once: 409 already_exists.
        let wifi = t.tuya_lock(0).await;
        let r = t
            .post(
                &format!("/v1/locks/{}/access-codes", wifi["id"].as_str().unwrap()),
                json!({"code": "4820913"}),
            )
            .await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (409, "already_exists"));
        // An offline lock: the code waits (setting) and is set once the lock is back.
        let storage = t.tuya_lock(2).await;
        let r = t
            .post(
                &format!("/v1/locks/{}/access-codes", storage["id"].as_str().unwrap()),
                json!({"code": "615283"}),
            )
            .await;
        assert_eq!(r.body["status"], "setting");
        assert!(r.body["last_error"].as_str().unwrap().contains("2001"));
        t.tuya
            .world()
            .devices
            .get_mut(&t.tuya_demo.lock_ids[2])
            .unwrap()
            .online = true;
        engine::run_due_codes(&t.app.state).await.unwrap();
        engine::run_due_codes(&t.app.state).await.unwrap();
        assert_eq!(
            t.get(&format!(
                "/v1/access-codes/{}",
                r.body["id"].as_str().unwrap()
            ))
            .await
            .body["status"],
            "set"
        );
    }
);

both_backends!(
    remote_unlock_events_and_offline_codes,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect_tuya().await;
        let wifi = t.tuya_lock(0).await;
        let id = wifi["id"].as_str().unwrap();
        let r = t.post(&format!("/v1/locks/{id}/lock"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!t.tuya.world().devices[&t.tuya_demo.lock_ids[0]].open);
        let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(t.tuya.world().devices[&t.tuya_demo.lock_ids[0]].open);
        let storage = t.tuya_lock(2).await;
        let r = t
            .post(
                &format!("/v1/locks/{}/unlock", storage["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (503, "device_offline"));

        // The found codes first (reconciliation does it on its own): the keypad entry that
        // used the found "Housekeeping" password is then matched by its Tuya id.
        let codes = t.get(&format!("/v1/locks/{id}/access-codes")).await;
        let housekeeping = codes.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "Housekeeping")
            .unwrap()["id"]
            .clone();
        let events = t.get(&format!("/v1/locks/{id}/events")).await;
        let list = events.body["data"].as_array().unwrap().clone();
        // The remote unlock is one event, lockbridge's own, completed by the log's record.
        let remote: Vec<&Value> = list
            .iter()
            .filter(|e| e["type"] == "lock.unlocked" && e["data"]["method"] == "remote")
            .collect();
        assert_eq!(remote.len(), 1, "{list:?}");
        assert_eq!(
            (
                remote[0]["actor"]["type"].as_str(),
                &remote[0]["data"]["confirmed_by_log"]
            ),
            (Some("api_key"), &json!(true)),
            "{list:?}"
        );
        assert!(
            list.iter().any(|e| e["type"] == "lock.access_denied"),
            "the demo's wrong PIN"
        );
        let entry = list
            .iter()
            .find(|e| e["data"]["actor"] == "Housekeeping")
            .unwrap()
            .clone();
        assert_eq!(
            entry["access_code_id"], housekeeping,
            "{entry} {}",
            codes.body
        );

        let r = t
            .post(
                &format!("/v1/locks/{id}/offline-codes"),
                json!({"kind": "one_time"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["code"].as_str().unwrap().len(), 10);
        assert_eq!(r.body["kind"], "offline_one_time");
        // Tuya offers no revocation lockbridge can confirm: it works until its end, and says so.
        let offline = r.body["id"].as_str().unwrap().to_owned();
        let r = t.delete(&format!("/v1/access-codes/{offline}")).await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (422, "not_supported"));
        assert_eq!(t.code(&offline).await["status"], "set");
        // Typed on the lock, it is attributed by its Tuya id.
        let pin = t.code(&offline).await["code"].as_str().unwrap().to_owned();
        assert_eq!(
            t.tuya.world().keypad(&t.tuya_demo.lock_ids[0], &pin),
            Some(true)
        );
        let events = t.get(&format!("/v1/locks/{id}/events")).await;
        assert!(
            events.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["access_code_id"] == offline.as_str() && e["type"] == "lock.unlocked"),
            "{}",
            events.body
        );
        // Tuya's dynamic password, with when it stops working.
        let r = t
            .post(&format!("/v1/locks/{id}/dynamic-code"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let dynamic = r.body["code"].as_str().unwrap();
        let sim = t.tuya.world().devices[&t.tuya_demo.lock_ids[0]]
            .dynamic
            .clone();
        assert_eq!(
            sim.map(|d| d.0).as_deref(),
            Some(dynamic),
            "the simulator's own"
        );
        let expires = parse_rfc3339(r.body["expires_at"].as_str().unwrap()).unwrap();
        let left = expires - t.app.state.now();
        assert!(
            (240_000..=300_000).contains(&left),
            "{left} ms left: {}",
            r.body
        );
        let r = t
            .post(
                &format!("/v1/locks/{id}/offline-codes"),
                json!({"kind": "permanent"}),
            )
            .await;
        assert_eq!(error_code(&r), "not_supported");
    }
);

both_backends!(
    reconciliation_restores_a_deleted_password,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect_tuya().await;
        let lock = t.tuya_lock(0).await;
        let id = lock["id"].as_str().unwrap();
        let r = t
        .post(
            &format!("/v1/locks/{id}/access-codes"),
            json!({"name": "Guest 12", "code": "5820397", "starts_at": "2030-05-01T14:00:00Z", "ends_at": "2030-05-08T10:00:00Z"}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let code = r.body["id"].as_str().unwrap().to_owned();
        t.drain().await;
        assert_eq!(t.code(&code).await["status"], "set");
        // Deleted in the Tuya app.
        t.tuya
            .world()
            .devices
            .get_mut(&t.tuya_demo.lock_ids[0])
            .unwrap()
            .passwords
            .retain(|_, p| p.pin != "5820397");
        let r = t
            .post(&format!("/v1/locks/{id}/reconcile"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Tuya reports no PINs: found codes of others are recorded, ours is not mistaken for one.
        t.drain().await;
        let back = t.tuya_password(0, "5820397").expect("restored on the lock");
        let c = t.code(&code).await;
        assert_eq!(
            (c["status"].as_str(), c["provider_id"].as_str()),
            (Some("set"), Some(back.id.to_string().as_str())),
            "{c}"
        );
        assert_eq!(
            t.code_events(&code).await,
            [
                "access_code.set",
                "access_code.deleted_externally",
                "access_code.restored"
            ]
        );
        // A second pass finds everything as it should be.
        t.post(&format!("/v1/locks/{id}/reconcile"), json!({}))
            .await;
        assert_eq!(t.code_events(&code).await.len(), 3);
        // Its end moved in the Tuya app: put back.
        t.tuya
            .world()
            .devices
            .get_mut(&t.tuya_demo.lock_ids[0])
            .unwrap()
            .passwords
            .values_mut()
            .find(|p| p.pin == "5820397" && !p.deleted)
            .unwrap()
            .invalid_time += 86_400;
        t.post(&format!("/v1/locks/{id}/reconcile"), json!({}))
            .await;
        t.drain().await;
        assert_eq!(
            t.tuya_password(0, "5820397").unwrap().invalid_time,
            1_904_464_800
        );
        assert_eq!(
            t.code_events(&code).await[3..],
            ["access_code.modified_externally", "access_code.restored"]
        );
        // The lock goes offline and comes back: device sync sees both.
        t.tuya
            .world()
            .devices
            .get_mut(&t.tuya_demo.lock_ids[0])
            .unwrap()
            .online = false;
        workers::sync_due_devices(&t.app.state).await.unwrap();
        let l = t.tuya_lock(0).await;
        assert_eq!(
            (l["online"].as_bool(), l["errors"][0]["code"].as_str()),
            (Some(false), Some("device_offline")),
            "{l}"
        );
        t.tuya
            .world()
            .devices
            .get_mut(&t.tuya_demo.lock_ids[0])
            .unwrap()
            .online = true;
        t.app
            .state
            .clock
            .advance(t.app.state.settings.device_sync_interval.as_millis() as i64 + 1);
        workers::sync_due_devices(&t.app.state).await.unwrap();
        assert_eq!(t.tuya_lock(0).await["online"], true);
    }
);
