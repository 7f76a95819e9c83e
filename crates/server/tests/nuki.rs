//! Nuki through the unified API, against the Nuki simulator (writes applied by the device a
//! moment after Nuki's 204, as the real cloud does): connection, locks, keypad codes with the
//! keypad's rules, time-bound and weekly codes, actions followed to the lock's state, a jam,
//! and a keypad entry read from the log and attributed to its code.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_sim::nuki::{NukiDemo, NukiSim};
use serde_json::{Value, json};

fn nuki(t: &TestApp) -> NukiSim {
    t.sims
        .iter()
        .find_map(|s| s.as_any().downcast_ref::<NukiSim>())
        .cloned()
        .expect("the Nuki simulator is registered")
}

/// Connects the simulator's demo account; answers it and lockbridge's lock for its first lock.
async fn connect(t: &TestApp, sim: &NukiSim) -> (NukiDemo, Value) {
    let demo = sim.seed_demo();
    // Nuki applies a write a moment after accepting it.
    sim.world().config.write_delay_ms = 40;
    sim.world().config.action_delay_ms = 40;
    t.connect_with(json!({"provider": "nuki", "credentials": {"api_token": demo.api_token}}))
        .await;
    let sim_id = demo.lock_ids[0].to_string();
    let locks = t.get("/v1/locks?provider=nuki&limit=50").await;
    let lock = locks.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["provider_id"] == sim_id.as_str())
        .unwrap()
        .clone();
    (demo, lock)
}

/// The keypad codes the simulated lock holds (its ground truth).
fn held(sim: &NukiSim, lock: i64) -> Vec<lockbridge_sim::nuki::Auth> {
    let mut w = sim.world();
    w.settle();
    w.auths
        .values()
        .filter(|a| a.smartlock_id == lock && a.kind == 13)
        .cloned()
        .collect()
}

both_backends!(keypad_codes_with_the_keypads_rules, |db: Db| async move {
    let t = TestApp::start(db).await;
    let sim = nuki(&t);
    let (demo, lock) = connect(&t, &sim).await;
    assert_eq!(lock["time_zone"], "Europe/Berlin");
    assert_eq!(lock["online"], true);
    assert_eq!(lock["state"], "locked");
    assert_eq!(
        lock["code_rules"],
        json!({"min_length": 6, "max_length": 6, "digits_only": true, "no_sequences": false,
               "excluded_digits": "0", "forbidden_prefixes": ["12"]})
    );
    let id = lock["id"].as_str().unwrap();
    let sim_id = demo.lock_ids[0];
    let codes = format!("/v1/locks/{id}/access-codes");

    // The keypad's rules are checked before Nuki is called.
    let before = sim.world().calls.clone();
    for (pin, rule) in [
        ("123456", "forbidden_prefix"),
        ("384305", "excluded_digits"),
    ] {
        let r = t.post(&codes, json!({"name": "Guest", "code": pin})).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (400, "validation_failed"),
            "{}",
            r.body
        );
        assert_eq!(r.body["error"]["field"], "code", "{}", r.body);
        assert!(r.body.to_string().contains(rule), "{pin}: {}", r.body);
    }
    assert_eq!(sim.world().calls, before, "nothing sent");

    // A permanent code: set once the lock lists it, and the keypad opens with it.
    let r = t
        .post(&codes, json!({"name": "Cleaner", "code": "384365"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (201, Some("set")),
        "{}",
        r.body
    );
    let cleaner = r.body["id"].as_str().unwrap().to_owned();
    let on_lock = held(&sim, sim_id);
    let auth = on_lock.iter().find(|a| a.code == Some(384_365)).unwrap();
    assert_eq!(auth.name, "Cleaner");
    assert_eq!(auth.allowed_from_date, None);
    let opened = sim.world().keypad_entry(sim_id, 384_365);
    assert!(opened);

    // Time-bound and weekly codes, native: dates as UTC instants, the window in the lock's
    // own time, Nuki's weekday mask (Monday 64 … Sunday 1).
    let r = t.post(&codes, json!({
        "name": "Guest", "code": "592614", "starts_at": "2030-01-01T14:00:00Z", "ends_at": "2030-01-08T10:00:00Z"
    })).await;
    assert_eq!(r.body["status"], "set", "{}", r.body);
    let weekly = json!({"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start_time": "08:00",
                        "end_time": "17:30", "time_zone": "Europe/Berlin"});
    let r = t
        .post(
            &codes,
            json!({"name": "Office hours", "code": "735918", "schedule": weekly}),
        )
        .await;
    assert_eq!(r.body["status"], "set", "{}", r.body);
    let weekly_id = r.body["id"].as_str().unwrap().to_owned();
    let on_lock = held(&sim, sim_id);
    let by = |code: i64| {
        on_lock
            .iter()
            .find(|a| a.code == Some(code))
            .unwrap()
            .clone()
    };
    let guest = by(592_614);
    assert_eq!(
        (
            guest.allowed_from_date.as_deref(),
            guest.allowed_until_date.as_deref()
        ),
        (
            Some("2030-01-01T14:00:00.000Z"),
            Some("2030-01-08T10:00:00.000Z")
        )
    );
    let office = by(735_918);
    assert_eq!(
        (
            office.allowed_week_days,
            office.allowed_from_time,
            office.allowed_until_time
        ),
        (Some(124), Some(480), Some(1050))
    );
    // Read back from the lock as given.
    let list = t.get(&codes).await;
    let rows = list.body["data"].as_array().unwrap();
    let w = rows.iter().find(|c| c["id"] == weekly_id.as_str()).unwrap();
    assert_eq!(w["schedule"], weekly);

    // A PIN the lock holds already is refused by lockbridge's own uniqueness rule; revoked,
    // the code leaves the lock.
    let r = t
        .post(&codes, json!({"name": "Again", "code": "384365"}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = t.delete(&format!("/v1/access-codes/{cleaner}")).await;
    assert!(r.status.is_success(), "{}", r.body);
    t.drain().await;
    assert!(held(&sim, sim_id).iter().all(|a| a.code != Some(384_365)));
    let r = t.get(&format!("/v1/access-codes/{cleaner}")).await;
    assert_eq!(r.body["status"], "removed", "{}", r.body);
});

both_backends!(actions_follow_the_locks_state, |db: Db| async move {
    let t = TestApp::start(db).await;
    let sim = nuki(&t);
    let (demo, lock) = connect(&t, &sim).await;
    let id = lock["id"].as_str().unwrap();
    let sim_id = demo.lock_ids[0];
    let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        sim.world().locks[&sim_id].state,
        3,
        "unlocked when the call returned"
    );
    let r = t.post(&format!("/v1/locks/{id}/lock"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sim.world().locks[&sim_id].state, 1);

    // A blocked motor is a jam.
    sim.world().locks.get_mut(&sim_id).unwrap().jam_next = true;
    let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (409, "device_jammed"),
        "{}",
        r.body
    );

    // Out of Nuki's reach: the action is accepted and dropped; the lock is said offline.
    sim.world().locks.get_mut(&sim_id).unwrap().server_state = 4;
    let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let after = t.get(&format!("/v1/locks/{id}")).await;
    assert_eq!(after.body["online"], false, "{}", after.body);

    // A refused token turns the connection to needs_reauth.
    let r = t
        .post(
            "/v1/connections",
            json!({"provider": "nuki", "credentials": {"api_token": "not-a-token"}}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (422, "provider_rejected_credentials")
    );
});

both_backends!(
    a_keypad_entry_is_attributed_to_its_code,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let sim = nuki(&t);
        let (demo, lock) = connect(&t, &sim).await;
        let id = lock["id"].as_str().unwrap();
        let sim_id = demo.lock_ids[0];
        let r = t
            .post(
                &format!("/v1/locks/{id}/access-codes"),
                json!({"name": "Dog walker", "code": "846239"}),
            )
            .await;
        assert_eq!(r.body["status"], "set", "{}", r.body);
        let code_id = r.body["id"].as_str().unwrap().to_owned();
        assert!(sim.world().keypad_entry(sim_id, 846_239));
        assert!(!sim.world().keypad_entry(sim_id, 999_999));
        let events = t.get(&format!("/v1/locks/{id}/events")).await;
        assert_eq!(events.status, 200, "{}", events.body);
        let rows = events.body["data"].as_array().unwrap();
        let entry = rows
            .iter()
            .find(|e| e["type"] == "lock.unlocked" && e["data"]["method"] == "code")
            .unwrap_or_else(|| panic!("{}", events.body));
        assert_eq!(entry["access_code_id"], code_id.as_str(), "{entry}");
        assert!(
            rows.iter().any(|e| e["type"] == "lock.access_denied"),
            "the wrong code: {}",
            events.body
        );
    }
);
