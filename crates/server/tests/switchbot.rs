//! SwitchBot through the unified API, against the SwitchBot simulator (keypad commands carried
//! out a moment after SwitchBot's answer, as its cloud does): connection, locks behind their
//! hub, keypad passcodes (permanent and time-bound) set only once the key list holds them and
//! removed only once it does not, reconciliation that does not mistake the list's missing times
//! for a change, and actions confirmed by the lock's state.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_sim::Simulator;
use lockbridge_sim::switchbot::{SwitchBotDemo, SwitchBotSim};
use serde_json::{Value, json};

fn switchbot(t: &TestApp) -> SwitchBotSim {
    t.sims
        .iter()
        .find_map(|s| s.as_any().downcast_ref::<SwitchBotSim>())
        .cloned()
        .expect("the SwitchBot simulator is registered")
}

/// Connects the demo account; answers it and lockbridge's lock for its first lock.
async fn connect(t: &TestApp, sim: &SwitchBotSim) -> (SwitchBotDemo, Value) {
    let demo = sim.seed_demo();
    sim.world().config.key_delay_ms = 30;
    t.connect_with(json!({"provider": "switchbot",
                          "credentials": {"token": demo.token, "secret": demo.secret}}))
        .await;
    let locks = t.get("/v1/locks?provider=switchbot&limit=50").await;
    let lock = locks.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["provider_id"] == demo.lock_ids[0].as_str())
        .unwrap()
        .clone();
    (demo, lock)
}

/// The keys the simulated keypad holds (PINs in clear: its ground truth).
fn keys(sim: &SwitchBotSim, pad: &str) -> Vec<lockbridge_sim::switchbot::Key> {
    let mut w = sim.world();
    w.settle();
    w.keypads[pad].keys.clone()
}

both_backends!(keypad_passcodes_as_access_codes, |db: Db| async move {
    let t = TestApp::start(db).await;
    let sim = switchbot(&t);
    let (demo, lock) = connect(&t, &sim).await;
    assert_eq!(
        (lock["online"].as_bool(), lock["state"].as_str()),
        (Some(true), Some("locked"))
    );
    assert_eq!(lock["battery"], 95);
    assert!(lock["gateway_id"].is_string(), "reached through its hub");
    assert_eq!(lock["capabilities"]["access_codes"], true);
    assert_eq!(lock["code_rules"]["min_length"], 6);
    assert_eq!(lock["code_rules"]["max_length"], 12);
    let id = lock["id"].as_str().unwrap();
    let pad = demo.keypad_ids[0].as_str();
    let codes = format!("/v1/locks/{id}/access-codes");

    let r = t
        .post(&codes, json!({"name": "Guest", "code": "12345"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (400, "validation_failed"),
        "{}",
        r.body
    );

    let r = t
        .post(&codes, json!({"name": "Guest", "code": "246810"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (201, Some("set")),
        "{}",
        r.body
    );
    let guest = r.body["id"].as_str().unwrap().to_owned();
    let r = t.post(&codes, json!({
        "name": "Guest", "code": "97531246", "starts_at": "2030-01-01T14:00:00Z", "ends_at": "2030-01-08T10:00:00Z"
    })).await;
    assert_eq!(r.body["status"], "set", "{}", r.body);
    let held = keys(&sim, pad);
    let by = |pin: &str| held.iter().find(|k| k.password == pin).unwrap().clone();
    let permanent = by("246810");
    assert_eq!(permanent.kind, "permanent");
    assert!(
        permanent.name.starts_with("Guest #"),
        "unique on the keypad: {}",
        permanent.name
    );
    let timed = by("97531246");
    assert_eq!(
        (timed.kind.as_str(), timed.start_time, timed.end_time),
        ("timeLimit", Some(1_893_506_400), Some(1_894_096_800))
    );
    assert_ne!(timed.name, permanent.name);

    // Read back as written (the keypad's mark left out); the list keeps no times, which is no
    // change of the code.
    let r = t
        .post(&format!("/v1/locks/{id}/reconcile"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = t.get(&codes).await;
    let rows = listed.body["data"].as_array().unwrap();
    assert!(
        rows.iter().filter(|c| c["name"] == "Guest").count() == 2,
        "{}",
        listed.body
    );
    assert!(rows.iter().all(|c| c["status"] == "set"), "{}", listed.body);
    let changed = t
        .get("/v1/events?type=access_code.modified_externally")
        .await;
    assert_eq!(
        changed.body["data"].as_array().unwrap().len(),
        0,
        "{}",
        changed.body
    );

    // A key deleted in the app behind lockbridge's back is put back.
    sim.world()
        .keypads
        .get_mut(pad)
        .unwrap()
        .keys
        .retain(|k| k.password != "246810");
    let r = t
        .post(&format!("/v1/locks/{id}/reconcile"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.drain().await;
    assert!(
        keys(&sim, pad).iter().any(|k| k.password == "246810"),
        "restored"
    );

    // Revoked: removed once the list no longer holds it.
    let r = t.delete(&format!("/v1/access-codes/{guest}")).await;
    assert!(r.status.is_success(), "{}", r.body);
    t.drain().await;
    assert!(keys(&sim, pad).iter().all(|k| k.password != "246810"));
    let r = t.get(&format!("/v1/access-codes/{guest}")).await;
    assert_eq!(r.body["status"], "removed", "{}", r.body);
});

both_backends!(
    actions_are_confirmed_by_the_locks_state,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let sim = switchbot(&t);
        let (demo, lock) = connect(&t, &sim).await;
        let id = lock["id"].as_str().unwrap();
        let sim_id = demo.lock_ids[0].as_str();
        let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(sim.world().locks[sim_id].lock_state, "unlocked");
        let r = t.post(&format!("/v1/locks/{id}/lock"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(sim.world().locks[sim_id].lock_state, "locked");
        sim.world().locks.get_mut(sim_id).unwrap().jam_next = true;
        let r = t.post(&format!("/v1/locks/{id}/unlock"), json!({})).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (409, "device_jammed"),
            "{}",
            r.body
        );
        // Its hub offline: SwitchBot's 171, the gateway's fault.
        let hub = sim.world().hubs.keys().next().cloned().unwrap();
        sim.world().hubs.get_mut(&hub).unwrap().online = false;
        let r = t.post(&format!("/v1/locks/{id}/lock"), json!({})).await;
        assert_eq!(r.status, 503, "{}", r.body);

        let r = t
        .post(
            "/v1/connections",
            json!({"provider": "switchbot", "credentials": {"token": demo.token, "secret": "00112233445566778899aabbccddeeff"}}),
        )
        .await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (422, "provider_rejected_credentials")
        );
    }
);

both_backends!(
    events_from_switchbot_bring_a_check_forward,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let sim = switchbot(&t);
        let (demo, lock) = connect(&t, &sim).await;
        let conn = lock["connection_id"].as_str().unwrap();
        let register = format!("/v1/connections/{conn}/vendor-webhook");

        // Registered with the account: SwitchBot (the simulator) now posts its events here.
        let r = t
            .post(&register, json!({"public_url": "ftp://example.com"}))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["field"].as_str()),
            (400, Some("public_url")),
            "{}",
            r.body
        );
        let r = t
            .call(
                reqwest::Method::POST,
                &register,
                Some(&t.member),
                Some(json!({"public_url": t.url})),
            )
            .await;
        assert_eq!(r.status, 403, "an admin's: the answer holds the secret");
        sim.world().webhook = Some(("https://ha.example.com/hook".into(), true, 0, 0));
        let r = t.post(&register, json!({"public_url": t.url})).await;
        assert_eq!(r.status, 409, "SwitchBot keeps one URL: {}", r.body);
        let r = t
            .post(&register, json!({"public_url": t.url, "replace": true}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["replaced"], "https://ha.example.com/hook");
        let url = r.body["url"].as_str().unwrap().to_owned();
        let prefix = format!("{}/vendor-hooks/switchbot/{conn}/", t.url);
        assert!(url.starts_with(&prefix), "{url}");
        assert_eq!(
            sim.world().webhook.as_ref().map(|w| w.0.clone()),
            Some(url.clone())
        );

        // An event with the wrong secret, or for another vendor, is not found and changes nothing.
        let lock_event = json!({"eventType": "changeReport", "eventVersion": "1",
            "context": {"deviceType": "WoLockPro", "deviceMac": demo.lock_ids[0], "lockState": "UNLOCKED"}});
        let post = |to: String, body: Value| {
            let http = t.http.clone();
            async move {
                let r = http.post(to).json(&body).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let secret = url.rsplit('/').next().unwrap();
        for wrong in [
            format!("{prefix}{}", "0".repeat(32)),
            url.replace("/switchbot/", "/nuki/"),
        ] {
            assert_eq!(post(wrong, lock_event.clone()).await.0, 404);
        }
        assert_eq!(post(url.clone(), json!({"hello": 1})).await.0, 400);
        let (status, body) = post(url.clone(), lock_event).await;
        assert_eq!((status, body["locks"].as_u64()), (200, Some(1)), "{body}");
        let other = json!({"eventType": "changeReport",
            "context": {"deviceType": "WoHand", "deviceMac": "0123456789AB"}});
        assert_eq!(post(url.clone(), other).await.1["locks"], 0);
        assert!(!format!("{:?}", t.get("/v1/connections").await.body).contains(secret));

        // Nothing is due; then a key is added by another program on the account, and the
        // keypad's event brings the lock's reconciliation forward: it finds the key.
        lockbridge_app::reconcile::run_due(&t.app.state)
            .await
            .unwrap();
        assert_eq!(
            lockbridge_app::reconcile::run_due(&t.app.state)
                .await
                .unwrap(),
            0
        );
        let other_app = lockbridge_switchbot::SwitchBotClient::new(
            lockbridge_switchbot::Config::new(demo.token.clone(), demo.secret.clone())
                .base_url(&t.sim_url("switchbot")),
        );
        let key = lockbridge_switchbot::NewKey {
            name: "Cleaner".into(),
            password: "97531246".into(),
            period: None,
        };
        other_app
            .create_key(&demo.keypad_ids[0], &key)
            .await
            .unwrap();
        sim.advance(1_000);
        other_app.devices().await.unwrap();
        let delivered = sim.deliveries();
        wait_until("the keypad's event delivered", delivered.clone(), || {
            !delivered.borrow().is_empty()
        })
        .await;
        assert_eq!(*sim.deliveries().borrow(), vec![200]);
        assert_eq!(
            lockbridge_app::reconcile::run_due(&t.app.state)
                .await
                .unwrap(),
            1
        );
        let id = lock["id"].as_str().unwrap();
        let listed = t.get(&format!("/v1/locks/{id}/access-codes")).await;
        assert!(
            listed.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "Cleaner"),
            "{}",
            listed.body
        );
    }
);

both_backends!(
    a_bulk_job_goes_at_the_accounts_daily_pace,
    |db: Db| async move {
        // A test-sized day: 14 requests for the account, SwitchBot's limit and lockbridge's.
        const DAY: u64 = 14;
        let t = TestApp::start_with(db, |s| {
            s.vendor_rates.insert(
                lockbridge_vendors::switchbot::PROVIDER,
                format!("{DAY}/day").parse().unwrap(),
            );
        })
        .await;
        let sim = switchbot(&t);
        sim.world().config.daily_limit = DAY;
        let (demo, lock) = connect(&t, &sim).await;
        let other = t.get("/v1/locks?provider=switchbot&limit=50").await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["provider_id"] == demo.lock_ids[1].as_str())
            .unwrap()["id"]
            .clone();
        let items: Vec<Value> = (0..6)
            .map(|i| {
                let lock = if i % 2 == 0 { &lock["id"] } else { &other };
                json!({"lock_id": lock, "name": format!("Guest {i}"), "code": format!("{}", 246_810 + i)})
            })
            .collect();
        let r = t
            .post(
                "/v1/jobs",
                json!({"kind": "access_codes.create", "items": items}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let job = r.body["id"].as_str().unwrap().to_owned();
        let on_keypads = |sim: &SwitchBotSim| {
            demo.keypad_ids
                .iter()
                .map(|p| keys(sim, p).len())
                .sum::<usize>()
        };
        // Day after day: the job and the engine go as far as the day allows, and no further.
        let mut days = 0;
        loop {
            lockbridge_app::jobs::run_due(&t.app.state).await.unwrap();
            t.drain().await;
            let spent: Vec<u64> = sim.world().requests_by_day.values().copied().collect();
            assert!(
                spent.iter().all(|n| *n <= DAY),
                "a day overspent: {spent:?}"
            );
            if t.get(&format!("/v1/jobs/{job}")).await.body["status"] == "done" {
                break;
            }
            assert!(days < 6, "six codes take a few days of {DAY} requests");
            // The next day, an hour on: a day's budget is counted in 24-minute slots, so the
            // whole of it spent at once is whole again a slot past the day.
            t.advance_all(25 * 3_600_000);
            days += 1;
        }
        assert!(
            days >= 2,
            "one day of {DAY} requests cannot carry six codes"
        );
        let spent: Vec<u64> = sim.world().requests_by_day.values().copied().collect();
        assert_eq!(spent[0], DAY, "the first day spent whole: {spent:?}");
        assert_eq!(on_keypads(&sim), 6);
        let r = t.get(&format!("/v1/jobs/{job}")).await;
        assert_eq!(r.body["succeeded"], 6, "{}", r.body);
    }
);
