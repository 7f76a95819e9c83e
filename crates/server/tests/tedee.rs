//! Tedee through the unified API, against the Tedee simulator: connection, locks, operations,
//! events, and access codes (permanent, time-bound, weekly windows) with every status of the
//! create-PIN statuses mapped.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_app::engine;
use serde_json::json;

const CREATE: &str = "POST /my/lock/{id}/pin";

both_backends!(locks_bridges_and_rules, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect_tedee().await;
    let flat2 = t.tedee_lock(1).await;
    assert_eq!(flat2["provider"], "tedee");
    assert_eq!(
        (
            flat2["online"].as_bool(),
            flat2["state"].as_str(),
            flat2["battery"].as_i64()
        ),
        (Some(true), Some("unlocked"), Some(31))
    );
    assert_eq!(flat2["time_zone"], "Europe/Warsaw");
    assert_eq!(
        flat2["code_rules"],
        json!({"min_length": 5, "max_length": 8, "digits_only": true, "min_distinct_digits": 3, "no_sequences": true})
    );
    assert_eq!(flat2["capabilities"]["recurring_codes"], true);
    assert_eq!(flat2["capabilities"]["offline_codes"], false);
    assert!(flat2["gateway_id"].is_string());
    let office = t.tedee_lock(2).await;
    assert_eq!(
        (office["online"].as_bool(), office["state"].as_str()),
        (Some(false), Some("unknown"))
    );
    let cellar = t.tedee_lock(3).await;
    assert_eq!(
        (
            cellar["gateway_id"].is_null(),
            cellar["capabilities"]["remote_unlock"].as_bool()
        ),
        (true, Some(false))
    );
    let gateways = t.get("/v1/gateways").await;
    assert!(
        gateways.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "Hallway bridge")
    );

    let r = t
        .post(
            "/v1/connections",
            json!({"provider": "tedee", "credentials": {"personal_access_key": "wrong"}}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (422, "provider_rejected_credentials")
    );
    let read = t.get("/v1/connections").await;
    let masked = read.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "tedee")
        .unwrap();
    assert!(
        masked["credentials"]["personal_access_key"]
            .as_str()
            .unwrap()
            .starts_with("••••")
    );
});

both_backends!(unlock_and_lock_follow_the_operation, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect_tedee().await;
    let flat1 = t.tedee_lock(0).await;
    let id = flat1["id"].as_str().unwrap();
    let sim_id = t.tedee_demo.lock_ids[0];
    let r = t.post(&format!("/v1/locks/{id}/lock"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        t.tedee.world().locks[&sim_id].state,
        6,
        "locked when the call returned"
    );
    let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(t.tedee.world().locks[&sim_id].state, 2);

    // A jam: the operation completes with an error result; it is said as a jam, with its
    // alarm.
    t.tedee.world().locks.get_mut(&sim_id).unwrap().jam_next = true;
    let r = t.post(&format!("/v1/locks/{id}/lock"), json!({})).await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (409, "device_jammed"));
    let alarms = t
        .get(&format!("/v1/events?type=lock.alarm&lock_id={id}"))
        .await;
    assert_eq!(
        alarms.body["data"][0]["data"]["alarm"], "jammed",
        "{}",
        alarms.body
    );
    // A permission refusal is the vendor's 403, not a failure of lockbridge's.
    t.tedee_fault("POST /my/lock/{id}/operation/unlock", 403);
    let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (403, "provider_forbidden")
    );
    // 428 disconnected → 503; 409 another request → 409 device_busy; 408 → 504.
    let office = t.tedee_lock(2).await;
    let r = t
        .post(
            &format!("/v1/locks/{}/unlock", office["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (503, "device_offline"));
    let mut retry_after = 0;
    for (status, http, code) in [
        (409, 409, "device_busy"),
        (408, 504, "provider_timeout"),
        (429, 429, "rate_limited"),
    ] {
        t.tedee_fault("POST /my/lock/{id}/operation/unlock", status);
        if status == 429 {
            // A Retry-After longer than the client waits: the caller is told.
            t.tedee.world().faults.clear();
            let mut w = t.tedee.world();
            w.config.rate_limit = 0;
        }
        let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (http, code),
            "{status}"
        );
        assert_eq!(r.body["error"]["provider_code"], status.to_string());
        if status == 429 {
            retry_after = r.retry_after.unwrap();
            assert!(retry_after > 100, "Retry-After passed on");
        }
    }
    // The Retry-After holds every request on the account back (shared by every instance):
    // once it has passed on the service's clock, the log can be read again.
    t.tedee.world().config.rate_limit = 700;
    t.app.state.clock.advance(retry_after as i64 * 1000);

    let events = t.get(&format!("/v1/locks/{id}/events")).await;
    let kinds: Vec<(String, String)> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["method"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds[0],
        ("lock.alarm".to_owned(), "unknown".to_owned()),
        "the jam"
    );
    assert!(kinds.contains(&("lock.unlocked".to_owned(), "remote".to_owned())));
    assert!(
        kinds.contains(&("lock.unlocked".to_owned(), "code".to_owned())),
        "the demo's keypad entry"
    );
});

both_backends!(codes_permanent_time_bound_and_weekly, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect_tedee().await;
    let lock = t.tedee_lock(1).await;
    let id = lock["id"].as_str().unwrap();

    let r = t
        .post(
            &format!("/v1/locks/{id}/access-codes"),
            json!({"name": "Cleaner", "code": "480213"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (201, Some("set")),
        "{}",
        r.body
    );
    let r = t.post(&format!("/v1/locks/{id}/access-codes"), json!({
        "name": "Guest", "code": "592614", "starts_at": "2030-01-01T14:00:00Z", "ends_at": "2030-01-08T10:00:00Z"
    })).await;
    assert_eq!(r.body["status"], "set", "{}", r.body);
    let weekly = json!({"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start_time": "08:00", "end_time": "17:30", "time_zone": "Europe/Warsaw"});
    let r = t
        .post(
            &format!("/v1/locks/{id}/access-codes"),
            json!({"name": "Office hours", "code": "703518", "schedule": weekly}),
        )
        .await;
    assert_eq!(r.body["status"], "set", "{}", r.body);
    let weekly_id = r.body["id"].as_str().unwrap().to_owned();
    let generated = t
        .post(
            &format!("/v1/locks/{id}/access-codes"),
            json!({"name": "Any"}),
        )
        .await;
    let generated_code = generated.body["code"].as_str().unwrap().to_owned();
    assert!(lockbridge_tedee::check_pin(&generated_code).is_ok());

    let pins = t.tedee_pins(1);
    let by = |code: &str| pins.iter().find(|p| p.pin == code).unwrap().clone();
    assert_eq!(by("480213").week_days, None);
    assert_eq!(
        by("592614").start_date.as_deref(),
        Some("2030-01-01T14:00:00Z")
    );
    let office = by("703518");
    assert_eq!(office.week_days, Some(31));
    assert_eq!(office.day_start_time.unwrap()[11..16].to_owned(), "08:00");
    assert_eq!(office.day_end_time.unwrap()[11..16].to_owned(), "17:30");
    assert!(pins.iter().any(|p| p.pin == generated_code));

    // Codes found on the lock (the demo's "Owner") come back with the managed ones; the weekly
    // window reads back as it was given.
    let list = t.get(&format!("/v1/locks/{id}/access-codes")).await;
    let rows = list.body["data"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|c| c["name"] == "Owner" && c["managed"] == false && c["code"] == "736194")
    );
    let w = rows.iter().find(|c| c["id"] == weekly_id.as_str()).unwrap();
    assert_eq!(w["schedule"], weekly);
    // A found code with a window on another lock keeps it (48 = Friday and Saturday).
    let flat1 = t.tedee_lock(0).await;
    let found = t
        .get(&format!(
            "/v1/locks/{}/access-codes",
            flat1["id"].as_str().unwrap()
        ))
        .await;
    let weekend = found.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Weekend guest")
        .unwrap()
        .clone();
    assert_eq!(weekend["schedule"]["weekdays"], json!(["fri", "sat"]));
    assert_eq!(weekend["schedule"]["start_time"], "10:00");

    // PATCH the weekly code's PIN: Tedee replaces the PIN whole; the window stays.
    let r = t
        .patch(
            &format!("/v1/access-codes/{weekly_id}"),
            json!({"code": "703519"}),
        )
        .await;
    assert_eq!(r.body["status"], "set", "{}", r.body);
    let changed = t
        .tedee_pins(1)
        .into_iter()
        .find(|p| p.pin == "703519")
        .unwrap();
    assert_eq!(
        (changed.week_days, changed.alias.as_str()),
        (Some(31), "Office hours")
    );
    // PATCH the window: the PIN keeps its id and takes the new days and times; `null` drops
    // the window; one in another zone is refused and changes nothing.
    let weekend = json!({"weekdays": ["sat", "sun"], "start_time": "10:00", "end_time": "12:00", "time_zone": "Europe/Warsaw"});
    let r = t
        .patch(
            &format!("/v1/access-codes/{weekly_id}"),
            json!({"schedule": weekend}),
        )
        .await;
    assert_eq!(
        (r.body["status"].as_str(), &r.body["schedule"]),
        (Some("set"), &weekend),
        "{}",
        r.body
    );
    let pin = |t: &TestApp| {
        t.tedee_pins(1)
            .into_iter()
            .find(|p| p.pin == "703519")
            .unwrap()
    };
    let moved = pin(&t);
    assert_eq!((moved.id, moved.week_days), (changed.id, Some(96)));
    assert_eq!(moved.day_start_time.unwrap()[11..16].to_owned(), "10:00");
    let mut elsewhere = weekend.clone();
    elsewhere["time_zone"] = json!("America/New_York");
    let r = t
        .patch(
            &format!("/v1/access-codes/{weekly_id}"),
            json!({"schedule": elsewhere}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["field"].as_str()),
        (400, Some("schedule.time_zone"))
    );
    assert_eq!(t.code(&weekly_id).await["schedule"], weekend);
    let r = t
        .patch(
            &format!("/v1/access-codes/{weekly_id}"),
            json!({"schedule": null}),
        )
        .await;
    assert_eq!(
        (r.body["status"].as_str(), &r.body["schedule"]),
        (Some("set"), &json!(null)),
        "{}",
        r.body
    );
    assert_eq!(pin(&t).week_days, None);
    let r = t.delete(&format!("/v1/access-codes/{weekly_id}")).await;
    assert_eq!(r.body["status"], "removed", "{}", r.body);
    assert!(t.tedee_pins(1).iter().all(|p| p.pin != "703519"));

    // Held by the lock itself, the window must be in the lock's zone (under `auto` another
    // zone's window is applied just in time), and well formed.
    let mut bad = weekly.clone();
    bad["time_zone"] = json!("America/New_York");
    let r = t
        .post(
            &format!("/v1/locks/{id}/access-codes"),
            json!({"code": "815274", "schedule": bad, "scheduling": "native"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["field"].as_str()),
        (400, Some("schedule.time_zone"))
    );
    let mut bad = weekly.clone();
    bad["weekdays"] = json!(["someday"]);
    let r = t
        .post(
            &format!("/v1/locks/{id}/access-codes"),
            json!({"code": "815274", "schedule": bad}),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "schedule.weekdays[0]");
});

both_backends!(
    the_pin_rules_hold_before_any_vendor_call,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect_tedee().await;
        let id = t.tedee_lock(1).await["id"].as_str().unwrap().to_owned();
        let before = t.tedee.world().calls.get(CREATE).copied();
        for (code, rule) in [
            ("", "not_empty"),
            ("1234", "length"),
            ("123456789", "length"),
            ("12a45", "digits_only"),
            ("11122", "min_distinct_digits"),
            ("12345", "no_sequences"),
            ("54321", "no_sequences"),
            ("13579", "no_sequences"),
            ("67890", "no_sequences"),
        ] {
            let r = t
                .post(
                    &format!("/v1/locks/{id}/access-codes"),
                    json!({"code": code}),
                )
                .await;
            assert_eq!(
                (r.status.as_u16(), r.body["error"]["field"].as_str()),
                (400, Some("code")),
                "{code:?}"
            );
            assert!(
                r.body["error"]["message"].as_str().unwrap().contains(rule),
                "{code:?}: {}",
                r.body
            );
        }
        assert_eq!(
            t.tedee.world().calls.get(CREATE).copied(),
            before,
            "no vendor call"
        );
        let r = t
            .post(
                &format!("/v1/locks/{id}/access-codes"),
                json!({"code": "11223"}),
            )
            .await;
        assert_eq!(r.status, 201, "repeats break a sequence: {}", r.body);
    }
);

both_backends!(every_create_pin_status_is_mapped, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect_tedee().await;
    let lock = t.tedee_lock(1).await;
    let id = lock["id"].as_str().unwrap();
    let create = |code: &'static str| {
        let path = format!("/v1/locks/{id}/access-codes");
        let t = &t;
        async move { t.post(&path, json!({"code": code})).await }
    };

    // 406 (the PIN is on the lock, put there outside lockbridge) → 409 already_exists.
    t.tedee.world().put_pin(
        t.tedee_demo.lock_ids[1],
        lockbridge_sim::tedee::Pin {
            id: 0,
            alias: "app".into(),
            pin: "905172".into(),
            start_date: None,
            end_date: None,
            day_start_time: None,
            day_end_time: None,
            week_days: None,
        },
    );
    let r = create("905172").await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (409, "already_exists"));
    assert_eq!(r.body["error"]["provider_code"], "406");
    // 412 (and 422, its 2021–2026 spelling) → 422 capacity_reached.
    for status in [412, 422] {
        let n = t.tedee_pins(1).len();
        {
            let mut w = t.tedee.world();
            w.config.pin_capacity = n;
            w.config.slots_full_status = status;
        }
        let r = create("615283").await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (422, "capacity_reached"),
            "{status}"
        );
    }
    t.tedee.world().config.pin_capacity = 100;
    // 400 from the cloud (a rule lockbridge did not know) → 400 naming the code.
    t.tedee_fault(CREATE, 400);
    let r = create("615283").await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["field"].as_str()),
        (400, Some("code"))
    );
    // 403 → 403 provider_forbidden: the account may not, which no retry changes.
    t.tedee_fault(CREATE, 403);
    let r = create("615283").await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (403, "provider_forbidden")
    );
    assert_eq!(
        t.tedee_pins(1).iter().filter(|p| p.pin == "615283").count(),
        0
    );

    // 408, 409 and 428 pass: the code is accepted as `setting`, and the worker sets it once
    // the lock answers.
    for (status, word) in [(408, "408"), (409, "409"), (428, "428")] {
        t.tedee_fault(CREATE, status);
        let r = create("615283").await;
        assert_eq!(
            (r.status.as_u16(), r.body["status"].as_str()),
            (201, Some("setting")),
            "{status}: {}",
            r.body
        );
        assert!(
            r.body["last_error"].as_str().unwrap().contains(word),
            "{}",
            r.body
        );
        assert_eq!(engine::run_due_codes(&t.app.state).await.unwrap(), 1);
        let done = t
            .get(&format!(
                "/v1/access-codes/{}",
                r.body["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(done.body["status"], "set", "{status}");
        let del = t
            .delete(&format!(
                "/v1/access-codes/{}",
                r.body["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(del.body["status"], "removed");
    }

    // A real disconnection: the code waits until the lock is back.
    let office = t.tedee_lock(2).await;
    let r = t
        .post(
            &format!("/v1/locks/{}/access-codes", office["id"].as_str().unwrap()),
            json!({"code": "615283"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (201, Some("setting"))
    );
    assert_eq!(engine::run_due_codes(&t.app.state).await.unwrap(), 1);
    t.tedee
        .world()
        .locks
        .get_mut(&t.tedee_demo.lock_ids[2])
        .unwrap()
        .connected = true;
    engine::run_due_codes(&t.app.state).await.unwrap();
    let done = t
        .get(&format!(
            "/v1/access-codes/{}",
            r.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(done.body["status"], "set");
    assert!(t.tedee_pins(2).iter().any(|p| p.pin == "615283"));
});
