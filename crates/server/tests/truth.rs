//! A code's status is the truth during the write: a DELETE that lands while a create is on its
//! way, an attempt that outlives its lease, and a service that dies between the vendor's write
//! and its own. The interleavings are set by holding the simulator's answer to a gateway command
//! (it takes effect on the lock at once, its answer waits for the test) and by the engine's
//! single step; the simulator's ground truth is the oracle.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_app::engine;
use lockbridge_sim::faults::FaultRule;
use serde_json::json;

/// TTLock's route that adds a code through the gateway.
const ADD: &str = "/v3/keyboardPwd/add";

/// The next `n` adds on TTLock fail with an outage: creates answer 201 `setting`.
fn fail_adds(t: &TestApp, n: u32) {
    t.sim.world().faults.add(FaultRule {
        route: Some("/v3/keyboardPwd/add".into()),
        http_status: Some(503),
        count: Some(n),
        ..Default::default()
    });
}

async fn create(t: &TestApp, lock: &str, pin: &str, key: Option<&str>) -> serde_json::Value {
    let mut req = t
        .http
        .post(format!("{}/v1/locks/{lock}/access-codes", t.url))
        .bearer_auth(&t.admin)
        .json(&json!({"code": pin, "name": format!("Guest {pin}")}));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

fn has_pin(t: &TestApp, pin: &str) -> bool {
    t.pins_on(0).iter().any(|(p, _)| p == pin)
}

both_backends!(
    a_delete_during_a_retried_create_is_never_undone,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        fail_adds(&t, 3);
        let pins = ["204861", "204862", "204863"];
        let mut ids = Vec::new();
        for pin in pins {
            let c = create(&t, &front, pin, None).await;
            assert_eq!(c["status"], "setting", "{c}");
            ids.push(c["id"].as_str().unwrap().to_owned());
        }
        // Each add takes effect at once; its answer waits until the revokes are in, the gateway
        // busy meanwhile.
        t.sim.hold(ADD);
        let state = t.app.state.clone();
        let pass = tokio::spawn(async move { engine::run_due_codes(&state).await.unwrap() });
        // The pass works the codes one after another: one add takes effect and is held.
        wait_until("a PIN reaches the lock", t.sim.changes(), || {
            pins.iter().any(|p| has_pin(&t, p))
        })
        .await;
        // Every code is revoked while the retry pass is running.
        for id in &ids {
            let r = t.delete(&format!("/v1/access-codes/{id}")).await;
            assert!(
                r.status == 202 || r.status == 200,
                "{} {}",
                r.status,
                r.body
            );
        }
        t.sim.release(ADD);
        assert_eq!(pass.await.unwrap(), 3);
        t.drain().await;
        for (id, pin) in ids.iter().zip(pins) {
            let c = t.code(id).await;
            assert_eq!(c["status"], "removed", "{c}");
            assert!(!has_pin(&t, pin), "{pin} came back on the lock");
            let events = t.code_events(id).await;
            assert_eq!(
                events.last().map(String::as_str),
                Some("access_code.removed"),
                "{events:?}"
            );
        }
        assert!(
            t.pins_on(0)
                .iter()
                .all(|(p, _)| !pins.contains(&p.as_str()))
        );
    }
);

both_backends!(
    an_attempt_that_outlives_its_lease_is_rechecked_not_written,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        fail_adds(&t, 1);
        let c = create(&t, &front, "513902", None).await;
        let id = c["id"].as_str().unwrap().to_owned();
        assert_eq!(c["status"], "setting");
        t.sim.hold(ADD);
        let state = t.app.state.clone();
        let slow = tokio::spawn(async move { engine::run_due_codes(&state).await.unwrap() });
        wait_until("the add reaches the lock", t.sim.changes(), || {
            has_pin(&t, "513902")
        })
        .await;
        // The first worker's answer is still on its way when its lease runs out (its instance
        // stalled): another worker takes the code over.
        t.app
            .state
            .clock
            .advance(t.app.state.settings.code_lease.as_millis() as i64 + 1);
        assert_eq!(engine::run_due_codes(&t.app.state).await.unwrap(), 1);
        let taken = t.code(&id).await;
        assert_eq!(
            taken["status"], "set",
            "adopted from the lock, never failed: {taken}"
        );
        t.sim.release(ADD);
        assert_eq!(slow.await.unwrap(), 1);
        t.drain().await;
        let c = t.code(&id).await;
        let on_lock = t.pins_on(0);
        let mine: Vec<_> = on_lock.iter().filter(|(p, _)| p == "513902").collect();
        assert_eq!(mine.len(), 1, "on the lock once");
        assert_eq!(
            (c["status"].as_str(), c["provider_id"].as_str()),
            (Some("set"), Some(mine[0].1.as_str()))
        );
        // Listing with a fresh vendor read finds no stranger with that PIN.
        let list = t
            .get(&format!("/v1/locks/{front}/access-codes?refresh=true"))
            .await;
        let same: Vec<_> = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["code"] == "513902")
            .collect();
        assert_eq!(same.len(), 1, "{}", list.body);
        assert_eq!(same[0]["managed"], true);
    }
);

both_backends!(
    a_crash_between_the_vendor_write_and_the_store_loses_nothing,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        fail_adds(&t, 1);
        let c = create(&t, &front, "620417", Some("booking-620417")).await;
        let id = c["id"].as_str().unwrap().to_owned();
        t.sim.hold(ADD);
        let state = t.app.state.clone();
        let doomed = tokio::spawn(async move { engine::run_due_codes(&state).await });
        wait_until("the add reaches the lock", t.sim.changes(), || {
            has_pin(&t, "620417")
        })
        .await;
        // The instance dies with the vendor's answer on its way: nothing of it reaches the store.
        doomed.abort();
        assert!(doomed.await.unwrap_err().is_cancelled());
        t.sim.release(ADD);
        assert_eq!(t.code(&id).await["status"], "setting");
        // Restarted, the request is replayed: the first code, not a second.
        let again = create(&t, &front, "620417", Some("booking-620417")).await;
        assert_eq!(again["id"], id.as_str());
        // Once the dead instance's lease has run out the engine finds the code on the lock.
        assert_eq!(
            engine::run_due_codes(&t.app.state).await.unwrap(),
            0,
            "still leased"
        );
        t.app
            .state
            .clock
            .advance(t.app.state.settings.code_lease.as_millis() as i64 + 1);
        t.drain().await;
        let c = t.code(&id).await;
        let pid = t
            .pins_on(0)
            .into_iter()
            .find(|(p, _)| p == "620417")
            .unwrap()
            .1;
        assert_eq!(
            (c["status"].as_str(), c["provider_id"].as_str()),
            (Some("set"), Some(pid.as_str())),
            "{c}"
        );
        // The same PIN again is refused by lockbridge, and revoking it takes it off the lock.
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "620417"}),
            )
            .await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (409, "already_exists"));
        let r = t.delete(&format!("/v1/access-codes/{id}")).await;
        assert_eq!(
            (r.status.as_u16(), r.body["status"].as_str()),
            (200, Some("removed")),
            "{}",
            r.body
        );
        assert!(!has_pin(&t, "620417"));
        assert_eq!(
            t.code_events(&id).await,
            ["access_code.set", "access_code.removed"]
        );
    }
);

both_backends!(
    removing_a_code_without_a_vendor_id_asks_the_lock_first,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        fail_adds(&t, 1);
        let c = create(&t, &front, "731950", None).await;
        let id = c["id"].as_str().unwrap().to_owned();
        t.sim.hold(ADD);
        let state = t.app.state.clone();
        let doomed = tokio::spawn(async move { engine::run_due_codes(&state).await });
        wait_until("the add reaches the lock", t.sim.changes(), || {
            has_pin(&t, "731950")
        })
        .await;
        doomed.abort();
        let _ = doomed.await;
        t.sim.release(ADD);
        // Revoked while lockbridge never learnt the vendor's id: the lock is asked, by PIN.
        let r = t.delete(&format!("/v1/access-codes/{id}")).await;
        assert_eq!(r.status, 202, "the dead attempt still holds it: {}", r.body);
        t.app
            .state
            .clock
            .advance(t.app.state.settings.code_lease.as_millis() as i64 + 1);
        t.drain().await;
        assert_eq!(t.code(&id).await["status"], "removed");
        assert!(
            !has_pin(&t, "731950"),
            "removed means the lock no longer has it"
        );
    }
);

both_backends!(
    sixteen_concurrent_creates_of_one_pin_make_one_code,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let requests: Vec<_> = (0..16)
            .map(|i| {
                t.http
                    .post(format!("{}/v1/locks/{front}/access-codes", t.url))
                    .bearer_auth(&t.admin)
                    .json(&json!({"code": "390417", "name": format!("Guest {i}")}))
                    .send()
            })
            .collect();
        let mut statuses: Vec<u16> = futures_util::future::join_all(requests)
            .await
            .into_iter()
            .map(|r| r.unwrap().status().as_u16())
            .collect();
        statuses.sort();
        assert_eq!(statuses, [[201].as_slice(), &[409; 15]].concat());
        let on_lock: Vec<_> = t
            .pins_on(0)
            .into_iter()
            .filter(|(p, _)| p == "390417")
            .collect();
        assert_eq!(on_lock.len(), 1, "once on the lock");
        let list = t.get(&format!("/v1/locks/{front}/access-codes")).await;
        let rows = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["code"] == "390417")
            .count();
        assert_eq!(rows, 1);
    }
);
