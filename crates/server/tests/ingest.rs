//! Vendor logs as events: a PIN typed on a simulated keypad becomes `lock.unlocked` with
//! `method: code` and the access code used (TTLock by the PIN typed, Tedee by the PIN's alias;
//! Tuya by its password id in `tuya.rs`), a wrong one `lock.access_denied`; each record once,
//! however often and however concurrently the log is read, and after a restart; a remote
//! unlock whose own record the database lost comes back from the vendor's log.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_app::ingest;
use serde_json::{Value, json};

async fn code_on(t: &TestApp, lock: &str, name: &str, pin: &str) -> String {
    let r = t
        .post(
            &format!("/v1/locks/{lock}/access-codes"),
            json!({"name": name, "code": pin}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn log_events(t: &TestApp, lock: &str) -> Vec<Value> {
    let r = t
        .get(&format!("/v1/events?lock_id={lock}&type=lock.*&limit=200"))
        .await;
    r.body["data"].as_array().unwrap().clone()
}

fn by_code<'e>(events: &'e [Value], code: &str) -> Vec<&'e Value> {
    events
        .iter()
        .filter(|e| e["access_code_id"] == code)
        .collect()
}

both_backends!(
    a_ttlock_keypad_entry_is_attributed_once,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let lock = t.lock_id("Front door").await;
        let code = code_on(&t, &lock, "Guest 12", "408215").await;
        // Every lock's log is due at first: the worker reads them all.
        ingest::ingest_due(&t.app.state).await.unwrap();
        let before = log_events(&t, &lock).await.len();
        assert_eq!(t.sim.world().keypad(t.sim_lock(0), "408215"), Some(true));
        assert_eq!(t.sim.world().keypad(t.sim_lock(0), "000000"), Some(false));
        // Not due yet: nothing read.
        assert_eq!(ingest::ingest_due(&t.app.state).await.unwrap(), 0);
        t.advance(5 * 60_000);
        // Two instances at once read the same records: each is recorded once.
        let other = t.other_instance(Default::default());
        let (a, b) = tokio::join!(
            ingest::ingest_due(&t.app.state),
            ingest::ingest_due(&other.state)
        );
        assert_eq!(a.unwrap() + b.unwrap(), 2, "the two records, once");
        let events = log_events(&t, &lock).await;
        assert_eq!(events.len(), before + 2);
        let mine = by_code(&events, &code);
        assert_eq!(mine.len(), 1, "{events:?}");
        assert_eq!(
            (mine[0]["type"].as_str(), mine[0]["data"]["method"].as_str()),
            (Some("lock.unlocked"), Some("code"))
        );
        assert!(events.iter().any(|e| e["type"] == "lock.access_denied"));
        // Read again — as after a restart, by a fresh instance — nothing new.
        t.advance(5 * 60_000);
        let fresh = t.other_instance(Default::default());
        assert_eq!(ingest::ingest_due(&fresh.state).await.unwrap(), 0);
        assert_eq!(log_events(&t, &lock).await.len(), before + 2);
    }
);

both_backends!(
    a_tedee_keypad_entry_is_attributed_by_alias,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect_tedee().await;
        let lock = t.tedee_lock(0).await;
        let id = lock["id"].as_str().unwrap().to_owned();
        let code = code_on(&t, &id, "Cleaner Anna", "815274").await;
        let sim_lock = lock["provider_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(t.tedee.world().keypad(sim_lock, "815274"), Some(true));
        assert_eq!(t.tedee.world().keypad(sim_lock, "111111"), Some(false));
        let r = t.get(&format!("/v1/locks/{id}/events")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let events = log_events(&t, &id).await;
        let mine = by_code(&events, &code);
        assert_eq!(mine.len(), 1, "{events:?}");
        assert_eq!(
            (mine[0]["type"].as_str(), mine[0]["data"]["method"].as_str()),
            (Some("lock.unlocked"), Some("code"))
        );
        assert!(events.iter().any(|e| e["type"] == "lock.access_denied"));

        // Last week's guest and this week's share a name: the code whose period held the entry
        // is the one used.
        let now = t.app.state.now();
        let (hour, day) = (3_600_000, 86_400_000);
        let at = lockbridge_core::time::to_rfc3339;
        let period =
            |from: i64, to: i64| json!({"name": "Guest", "starts_at": at(from), "ends_at": at(to)});
        let mut earlier = period(now - 7 * day, now + hour);
        earlier["code"] = json!("602719");
        let mut later = period(now + 2 * hour, now + 7 * day);
        later["code"] = json!("602718");
        let mut ids = Vec::new();
        for body in [earlier, later] {
            let r = t.post(&format!("/v1/locks/{id}/access-codes"), body).await;
            assert_eq!(r.status, 201, "{}", r.body);
            ids.push(r.body["id"].as_str().unwrap().to_owned());
        }
        t.drain().await;
        t.advance_all(3 * hour);
        t.drain().await;
        assert_eq!(t.tedee.world().keypad(sim_lock, "602718"), Some(true));
        t.get(&format!("/v1/locks/{id}/events")).await;
        let events = log_events(&t, &id).await;
        assert_eq!(by_code(&events, &ids[1]).len(), 1, "{events:?}");
        assert!(by_code(&events, &ids[0]).is_empty(), "{events:?}");
    }
);

both_backends!(log_reads_keep_within_tedees_budget, |db: Db| async move {
    let t = TestApp::start_with(db, |s| s.log_interval = std::time::Duration::from_secs(60)).await;
    t.connect_tedee().await;
    let reads = || {
        t.tedee
            .world()
            .calls
            .get("GET /my/deviceactivity")
            .copied()
            .unwrap_or(0)
    };
    ingest::ingest_due(&t.app.state).await.unwrap();
    let first = reads();
    assert_eq!(first, 4, "each of the account's four locks once");
    // A quarter of 700 requests an hour for four locks: one read per lock every 82 s, not 60.
    t.advance(61_000);
    ingest::ingest_due(&t.app.state).await.unwrap();
    assert_eq!(reads(), first, "not yet");
    t.advance(22_000);
    ingest::ingest_due(&t.app.state).await.unwrap();
    assert_eq!(reads(), first + 4);
});

both_backends!(a_busy_log_is_read_back_to_its_mark, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect().await;
    let lock = t.lock_id("Front door").await;
    ingest::ingest_due(&t.app.state).await.unwrap();
    let before_denied = t
        .get(&format!(
            "/v1/events?lock_id={lock}&type=lock.access_denied&limit=200"
        ))
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .len();
    // More records than one page of the vendor's list (200) since the last read.
    for _ in 0..250 {
        assert_eq!(t.sim.world().keypad(t.sim_lock(0), "000000"), Some(false));
    }
    t.advance(5 * 60_000);
    assert_eq!(ingest::ingest_due(&t.app.state).await.unwrap(), 250);
    let r = t
        .get(&format!(
            "/v1/events?lock_id={lock}&type=lock.access_denied&limit=200"
        ))
        .await;
    let first_page = r.body["data"].as_array().unwrap().len();
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = t
        .get(&format!(
            "/v1/events?lock_id={lock}&type=lock.access_denied&limit=200&cursor={cursor}"
        ))
        .await;
    let denied = first_page + rest.body["data"].as_array().unwrap().len();
    assert_eq!(
        denied,
        250 + before_denied,
        "every record, over two pages of the vendor's list"
    );
});

both_backends!(every_event_says_who_caused_it, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect().await;
    let lock = t.lock_id("Front door").await;
    let desk = t
        .post(
            "/v1/api-keys",
            json!({"name": "front desk", "role": "member"}),
        )
        .await;
    let (desk_key, desk_id) = (
        desk.body["key"].as_str().unwrap().to_owned(),
        desk.body["id"].as_str().unwrap().to_owned(),
    );
    // The front desk issues the cleaner's code; its events are the front desk's.
    let r = t
        .call(
            reqwest::Method::POST,
            &format!("/v1/locks/{lock}/access-codes"),
            Some(&desk_key),
            Some(json!({"name": "Cleaner", "code": "520814"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let code = r.body["id"].as_str().unwrap().to_owned();
    t.drain().await;
    let set = t
        .get(&format!(
            "/v1/events?access_code_id={code}&type=access_code.set"
        ))
        .await;
    assert_eq!(
        set.body["data"][0]["actor"],
        json!({"type": "api_key", "id": desk_id, "name": "front desk"}),
        "{}",
        set.body
    );
    // The front desk opens the door remotely; the vendor's log of it completes that event.
    let r = t
        .call(
            reqwest::Method::POST,
            &format!("/v1/locks/{lock}/unlock"),
            Some(&desk_key),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // At 02:14 the cleaner types the code.
    assert_eq!(t.sim.world().keypad(t.sim_lock(0), "520814"), Some(true));
    ingest::ingest_due(&t.app.state).await.unwrap();
    let unlocks = t
        .get(&format!("/v1/events?lock_id={lock}&type=lock.unlocked"))
        .await;
    let unlocks = unlocks.body["data"].as_array().unwrap().clone();
    let remote: Vec<&Value> = unlocks
        .iter()
        .filter(|e| e["data"]["method"] == "remote")
        .collect();
    assert_eq!(remote.len(), 1, "one event per remote unlock: {unlocks:?}");
    assert_eq!(remote[0]["actor"]["id"], desk_id.as_str());
    assert_eq!(
        remote[0]["data"]["confirmed_by_log"], true,
        "{:?}",
        remote[0]
    );
    let typed = by_code(&unlocks, &code);
    assert_eq!(typed.len(), 1, "{unlocks:?}");
    assert_eq!(typed[0]["actor"]["type"], "vendor", "{:?}", typed[0]);

    // Filtered by actor: the front desk's doings, and nothing else.
    let mine = t
        .get(&format!("/v1/events?actor_type=api_key&actor_id={desk_id}"))
        .await;
    let mine = mine.body["data"].as_array().unwrap().clone();
    let kinds: Vec<&str> = mine.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"access_code.set") && kinds.contains(&"lock.unlocked"),
        "{kinds:?}"
    );
    assert!(mine.iter().all(|e| e["actor"]["id"] == desk_id.as_str()));
    let vendor = t.get("/v1/events?actor_type=vendor").await;
    assert!(
        vendor.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"]["type"] == "vendor")
    );
    let bad = t.get("/v1/events?actor_type=robot").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["field"], "actor_type");
});

both_backends!(
    a_remote_unlock_the_database_lost_comes_back_from_the_vendors_log,
    |db: Db| async move {
        // An unlock on a lock whose vendor keeps a log is answered before the database flushes
        // its result, so a crash of the database server can lose that result. The vendor's log
        // has the unlock, and the ingest records it from there.
        let t = TestApp::start(db).await;
        t.connect().await;
        let lock = t.lock_id("Front door").await;
        ingest::ingest_due(&t.app.state).await.unwrap();
        // The lock's history, as read from its log before.
        let before = log_events(&t, &lock).await;
        let r = t.post(&format!("/v1/locks/{lock}/unlock"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // The vendor opened it (a gateway unlock, record type 12).
        let opened = t.sim.world().locks[&t.sim_lock(0)]
            .records
            .iter()
            .filter(|r| r.record_type == 12 && r.success)
            .count();
        assert_eq!(opened, 1);
        // What the crash takes: the committed but unflushed transaction, whole.
        let lost =
            t.db.execute(&format!(
                "DELETE FROM events WHERE lock_id = '{lock}' AND type = 'lock.unlocked' \
                 AND actor_type = 'api_key'"
            ))
            .await;
        assert_eq!(lost, 1, "the unlock's own event was recorded");
        assert_eq!(log_events(&t, &lock).await, before);
        t.advance(5 * 60_000);
        ingest::ingest_due(&t.app.state).await.unwrap();
        let events = log_events(&t, &lock).await;
        let new: Vec<&Value> = events.iter().filter(|e| !before.contains(e)).collect();
        assert_eq!(new.len(), 1, "{events:?}");
        let e = new[0];
        assert_eq!(e["type"], "lock.unlocked", "{e}");
        assert_eq!(e["data"]["method"], "remote", "{e}");
        assert_eq!(e["data"]["source"], "vendor_log", "{e}");
        assert_eq!(e["actor"]["type"], "vendor", "{e}");
        // Read again, it stays one event.
        t.advance(5 * 60_000);
        ingest::ingest_due(&t.app.state).await.unwrap();
        assert_eq!(log_events(&t, &lock).await.len(), before.len() + 1);
    }
);
