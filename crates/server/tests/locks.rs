//! Locks, gateways, remote operations and events through the API.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};

both_backends!(sync_lists_filters_and_pages, |db: Db| async move {
    let t = TestApp::start(db).await;
    let conn = t.connect().await;
    let all = t.get("/v1/locks").await;
    let locks = all.body["data"].as_array().unwrap();
    assert_eq!(locks.len(), 5);
    let front = locks.iter().find(|l| l["name"] == "Front door").unwrap();
    assert_eq!(front["provider"], "ttlock");
    assert_eq!(front["provider_id"], t.sim_lock(0).to_string());
    assert_eq!(front["battery"], 87);
    assert_eq!(front["online"], true);
    assert!(front["gateway_id"].as_str().unwrap().starts_with("gw_"));
    assert_eq!(front["capabilities"]["remote_unlock"], true);
    assert_eq!(front["code_rules"]["min_length"], 4);
    let storage = locks.iter().find(|l| l["name"] == "Storage room").unwrap();
    assert_eq!(storage["online"], false, "its gateway is offline");

    let p1 = t.get("/v1/locks?limit=2").await;
    let cursor = p1.body["next_cursor"].as_str().unwrap();
    let p2 = t.get(&format!("/v1/locks?limit=2&cursor={cursor}")).await;
    let p3 = t
        .get(&format!(
            "/v1/locks?limit=2&cursor={}",
            p2.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(p3.body["data"].as_array().unwrap().len(), 1);
    assert!(p3.body["next_cursor"].is_null());

    let count = |path: String| {
        let t = &t;
        async move { t.get(&path).await.body["data"].as_array().unwrap().len() }
    };
    assert_eq!(count("/v1/locks?q=door".into()).await, 2);
    assert_eq!(count("/v1/locks?online=false".into()).await, 2);
    assert_eq!(
        count(format!("/v1/locks?provider=ttlock&connection_id={conn}")).await,
        5
    );
    assert_eq!(count("/v1/locks?provider=tedee".into()).await, 0);
    assert_eq!(count("/v1/gateways".into()).await, 2);

    let id = front["id"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("/v1/locks/{id}")).await.body["name"],
        "Front door"
    );
    assert_eq!(
        t.get("/v1/locks/lck_00000000000000000000000000000000")
            .await
            .status,
        404
    );
    assert_eq!(t.get("/v1/locks/not-an-id").await.status, 404);

    // A resync keeps ids.
    t.post(&format!("/v1/connections/{conn}/sync"), json!({}))
        .await;
    assert_eq!(t.lock_id("Front door").await, id);
});

both_backends!(unlock_and_lock_reach_the_lock, |db: Db| async move {
    // The list is never old enough here to be checked against the database.
    let t = TestApp::start_with(db, |s| {
        s.lock_cache_ttl = std::time::Duration::from_secs(3600);
    })
    .await;
    t.connect().await;
    let front = t.lock_id("Front door").await;
    let loads = t.app.state.locks.loads();
    let r = t
        .post(&format!("/v1/locks/{front}/unlock"), json!({}))
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["state"]),
        (200, &json!("unlocked"))
    );
    assert_eq!(t.sim.world().locks[&t.sim_lock(0)].state, 1);
    assert_eq!(
        t.get(&format!("/v1/locks/{front}")).await.body["state"],
        "unlocked"
    );
    // The list (served from memory) shows this instance's write at once, without being read
    // again: the lock's entry is replaced in it.
    let listed = t.get("/v1/locks?q=front").await;
    assert_eq!(listed.body["data"][0]["state"], "unlocked");
    t.post(&format!("/v1/locks/{front}/lock"), json!({})).await;
    assert_eq!(t.sim.world().locks[&t.sim_lock(0)].state, 0);
    let listed = t.get("/v1/locks?q=front").await;
    assert_eq!(listed.body["data"][0]["state"], "locked");
    assert_eq!(t.app.state.locks.loads(), loads, "the list was read again");

    let shed = t.lock_id("Garden shed").await;
    let r = t.post(&format!("/v1/locks/{shed}/unlock"), json!({})).await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (422, "not_supported"));
    // Bluetooth only: no online codes either, and its capabilities say so; offline codes work.
    let caps = t.get(&format!("/v1/locks/{shed}")).await.body["capabilities"].clone();
    assert_eq!(
        (
            caps["access_codes"].as_bool(),
            caps["offline_codes"].as_bool()
        ),
        (Some(false), Some(true)),
        "{caps}"
    );
    let adds = t.sim_calls("/v3/keyboardPwd/add");
    let r = t
        .post(
            &format!("/v1/locks/{shed}/access-codes"),
            json!({"code": "591734"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (422, "not_supported"),
        "{}",
        r.body
    );
    assert_eq!(t.sim_calls("/v3/keyboardPwd/add"), adds);

    let storage = t.lock_id("Storage room").await;
    let r = t
        .post(&format!("/v1/locks/{storage}/unlock"), json!({}))
        .await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (503, "gateway_offline")
    );
    assert_eq!(r.body["error"]["provider_code"], "-3002");
});

both_backends!(
    one_command_at_a_time_per_gateway_and_busy_is_retried,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        t.sim.world().config.gateway_latency_ms = 100;
        let (front, back) = (t.lock_id("Front door").await, t.lock_id("Back door").await);
        let (pa, pb) = (
            format!("/v1/locks/{front}/unlock"),
            format!("/v1/locks/{back}/unlock"),
        );
        let (a, b) = tokio::join!(t.post(&pa, json!({})), t.post(&pb, json!({})));
        assert_eq!(
            (a.status.as_u16(), b.status.as_u16()),
            (200, 200),
            "{} {}",
            a.body,
            b.body
        );
        // A busy answer from the cloud is waited out, not surfaced.
        t.sim.world().faults.add(lockbridge_sim::faults::FaultRule {
            route: Some("/v3/lock/unlock".into()),
            errcode: Some(-3003),
            count: Some(2),
            ..Default::default()
        });
        let before = t.sim_calls("/v3/lock/unlock");
        assert_eq!(
            t.post(&format!("/v1/locks/{front}/unlock"), json!({}))
                .await
                .status,
            200
        );
        assert_eq!(t.sim_calls("/v3/lock/unlock") - before, 3);
    }
);

both_backends!(
    events_are_normalised_and_matched_to_codes,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        // Listing the codes records the ones already on the lock.
        t.get(&format!("/v1/locks/{front}/access-codes")).await;
        t.post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await;
        let r = t.get(&format!("/v1/locks/{front}/events")).await;
        let events = r.body["data"].as_array().unwrap().clone();
        let remote: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "lock.unlocked" && e["data"]["method"] == "remote")
            .collect();
        assert!(!remote.is_empty(), "{events:?}");
        let by_code = events
            .iter()
            .find(|e| e["data"]["actor"] == "Cleaner")
            .unwrap();
        assert_eq!(
            (by_code["type"].as_str(), by_code["data"]["method"].as_str()),
            (Some("lock.unlocked"), Some("code"))
        );
        assert!(
            by_code["access_code_id"]
                .as_str()
                .unwrap()
                .starts_with("ac_")
        );
        assert!(
            events.iter().any(|e| e["type"] == "lock.access_denied"),
            "the wrong code typed"
        );
        assert!(
            !r.body.to_string().contains("\"code\":\""),
            "typed codes are not echoed"
        );
        // Read again, or by the worker: each vendor record is recorded once.
        let again = t.get(&format!("/v1/locks/{front}/events")).await;
        assert_eq!(again.body["data"].as_array().unwrap().len(), events.len());
        lockbridge_app::ingest::ingest_lock(
            &t.app.state,
            &t.db
                .store
                .connection_by_id(
                    t.db.store
                        .get_lock(t.org, front.parse().unwrap())
                        .await
                        .unwrap()
                        .unwrap()
                        .connection_id,
                )
                .await
                .unwrap()
                .unwrap(),
            &t.db
                .store
                .get_lock(t.org, front.parse().unwrap())
                .await
                .unwrap()
                .unwrap(),
        )
        .await
        .unwrap();
        let org_wide = t
            .get(&format!("/v1/events?lock_id={front}&limit=200"))
            .await;
        assert_eq!(
            org_wide.body["data"].as_array().unwrap().len(),
            events.len()
        );
    }
);

both_backends!(offline_codes_need_no_gateway, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect().await;
    let shed = t.lock_id("Garden shed").await;
    let r = t
        .post(
            &format!("/v1/locks/{shed}/offline-codes"),
            json!({"kind": "one_time", "name": "Courier"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let code = r.body["code"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!((6..=9).contains(&code.len()));
    assert_eq!(
        (r.body["kind"].as_str(), r.body["status"].as_str()),
        (Some("offline_one_time"), Some("set"))
    );
    // A code like the others: listed with the lock's codes, and attributed when typed.
    let listed = t.get(&format!("/v1/locks/{shed}/access-codes")).await;
    assert!(
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str() && c["kind"] == "offline_one_time"),
        "{}",
        listed.body
    );
    assert_eq!(t.sim.world().keypad(t.sim_lock(4), &code), Some(true));
    lockbridge_app::ingest::ingest_due(&t.app.state)
        .await
        .unwrap();
    let used = t
        .get(&format!("/v1/events?lock_id={shed}&type=lock.unlocked"))
        .await;
    assert_eq!(
        used.body["data"][0]["access_code_id"],
        id.as_str(),
        "{}",
        used.body
    );
    // Reconciliation leaves it be.
    t.post(&format!("/v1/locks/{shed}/reconcile"), json!({}))
        .await;
    assert_eq!(t.code(&id).await["status"], "set");

    // TTLock's cyclic kinds: the daily window of 08:00–17:00 from a day on.
    let front = t.lock_id("Front door").await;
    let r = t
        .post(
            &format!("/v1/locks/{front}/offline-codes"),
            json!({"kind": "daily", "starts_at": "2031-03-03T08:00:00Z", "ends_at": "2031-03-03T17:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["kind"].as_str(), &r.body["ends_at"]),
        (Some("offline_daily"), &json!(null))
    );
    let pid: i64 = r.body["provider_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(t.sim.world().locks[&t.sim_lock(0)].passcodes[&pid].kind, 6);
    // Cleared where the vendor allows it: a TTLock random passcode comes off through the gateway.
    let daily = r.body["id"].as_str().unwrap().to_owned();
    let r = t.delete(&format!("/v1/access-codes/{daily}")).await;
    assert_eq!(r.body["status"], "removed", "{}", r.body);
    assert!(
        !t.sim.world().locks[&t.sim_lock(0)]
            .passcodes
            .contains_key(&pid)
    );

    let r = t
        .post(
            &format!("/v1/locks/{shed}/offline-codes"),
            json!({"kind": "time_bound"}),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "ends_at");
    let r = t
        .post(
            &format!("/v1/locks/{shed}/offline-codes"),
            json!({"kind": "forever"}),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "kind");
    // Dynamic codes are Tuya's.
    let r = t
        .post(&format!("/v1/locks/{shed}/dynamic-code"), json!({}))
        .await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (422, "not_supported"));
});

both_backends!(
    another_instances_changes_show_and_unchanged_lists_are_not_read_again,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        // A second instance on the same database, checking its list whenever it is asked.
        let other = lockbridge_server::App::new(
            t.db.store.clone(),
            lockbridge_server::Settings {
                lock_cache_ttl: std::time::Duration::ZERO,
                ..Default::default()
            },
        );
        let cache = &other.state.locks;
        let state_of = |locks: &[std::sync::Arc<lockbridge_app::lock_cache::CachedLock>]| {
            locks
                .iter()
                .find(|l| l.lock.id.to_string() == front)
                .map(|l| l.lock.state)
        };
        let first = cache.get(&t.db.store, t.org).await.unwrap();
        assert_eq!(
            state_of(&first),
            Some(lockbridge_core::model::LockState::Unknown),
            "a sync does not tell a TTLock lock's state"
        );
        assert_eq!(cache.loads(), 1);
        // Asked again and again with nothing changed: each time the list is answered as it is
        // and checked in the background, never read again.
        for _ in 0..10 {
            cache.get(&t.db.store, t.org).await.unwrap();
            cache.settled().await;
        }
        assert_eq!(cache.loads(), 1);
        // The first instance unlocks the door: the second one answers its list as it was, then,
        // once its check has run, shows the change.
        let r = t
            .post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let stale = cache.get(&t.db.store, t.org).await.unwrap();
        assert_eq!(
            state_of(&stale),
            Some(lockbridge_core::model::LockState::Unknown)
        );
        cache.settled().await;
        let fresh = cache.get(&t.db.store, t.org).await.unwrap();
        assert_eq!(
            state_of(&fresh),
            Some(lockbridge_core::model::LockState::Unlocked)
        );
        assert_eq!(cache.loads(), 2);
    }
);

both_backends!(
    query_strings_are_checked_parameter_by_parameter,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let refused = |r: &Resp, field: &str| {
            assert_eq!(
                (r.status.as_u16(), r.body["error"]["field"].as_str()),
                (400, Some(field)),
                "{}",
                r.body
            );
        };
        refused(&t.get("/v1/locks?nmae=front").await, "nmae");
        refused(&t.get("/v1/locks?online=yes").await, "online");
        refused(&t.get("/v1/locks?limit=0").await, "limit");
        refused(&t.get("/v1/locks?limit=5&limit=6").await, "limit");
        refused(&t.get("/v1/gateways?cursor=lck_x").await, "cursor");
        let id = t.lock_id("Front door").await;
        refused(
            &t.get(&format!("/v1/locks/{id}/events?actor=Cleaner")).await,
            "actor",
        );
        refused(
            &t.get(&format!("/v1/locks/{id}/access-codes?refresh=1"))
                .await,
            "refresh",
        );
        // The name filter folds case the same way for every script.
        let r = t.get("/v1/locks?q=FRONT%20DOOR&online=true").await;
        let names: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Front door"], "{}", r.body);
    }
);

both_backends!(
    a_lock_out_of_its_gateways_range_is_offline_until_a_command_reaches_it,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        // The gateway is online; the lock has left its range (TTLock's list cannot tell).
        t.sim.world().locks.get_mut(&t.sim_lock(0)).unwrap().online = false;
        let r = t
            .post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (503, "device_offline"));
        let codes_of = |lock: &Value| -> Vec<String> {
            lock["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["code"].as_str().unwrap().to_owned())
                .collect()
        };
        let lock = t.get(&format!("/v1/locks/{front}")).await.body;
        assert_eq!(lock["online"], false, "{lock}");
        assert_eq!(codes_of(&lock), ["device_offline"], "{lock}");
        let listed = t.get("/v1/locks?online=false").await.body;
        assert!(
            listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["id"] == front.as_str()),
            "the lock list sees it at once: {listed}"
        );
        let offline = t
            .get(&format!("/v1/events?type=lock.offline&lock_id={front}"))
            .await;
        assert_eq!(offline.body["data"].as_array().unwrap().len(), 1);
        // A device sync reads TTLock's list, which still says online: the lock stays offline.
        t.post(
            &format!(
                "/v1/connections/{}/sync",
                lock["connection_id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
        let lock = t.get(&format!("/v1/locks/{front}")).await.body;
        assert_eq!(lock["online"], false, "{lock}");

        // Back in range: the next command reaches it, and that says so.
        t.sim.world().locks.get_mut(&t.sim_lock(0)).unwrap().online = true;
        let r = t
            .post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let lock = t.get(&format!("/v1/locks/{front}")).await.body;
        assert_eq!(lock["online"], true, "{lock}");
        assert!(codes_of(&lock).is_empty(), "{lock}");
        let online = t
            .get(&format!("/v1/events?type=lock.online&lock_id={front}"))
            .await;
        assert_eq!(online.body["data"].as_array().unwrap().len(), 1);

        // A code write that finds the gateway offline marks it too.
        let gateway = t.sim.world().locks[&t.sim_lock(0)].gateway_id.unwrap();
        t.sim.world().gateways.get_mut(&gateway).unwrap().online = false;
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"name": "Cleaner", "code": "730512"}),
            )
            .await;
        // The request's own attempt met the offline gateway.
        assert_eq!(r.body["status"], "setting", "{}", r.body);
        let lock = t.get(&format!("/v1/locks/{front}")).await.body;
        assert_eq!(
            (lock["online"].as_bool(), codes_of(&lock)),
            (Some(false), vec!["gateway_offline".to_owned()]),
            "{lock}"
        );
    }
);
