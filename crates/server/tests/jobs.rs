//! Bulk jobs through the API, against the simulators' ground truth: 500 codes over 50 TTLock
//! locks behind 5 gateways and 10 Tedee locks of 2 accounts, bad items failing alone, and a
//! job whose instance stopped half-way finished by another, every code set exactly once.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashSet};

use common::*;
use lockbridge_app::{engine, jobs};
use lockbridge_sim::tedee::LockSpec as TedeeLock;
use lockbridge_sim::ttlock::LockSpec as TtlockLock;
use serde_json::{Value, json};

const PER_TTLOCK: usize = 9;
const PER_TEDEE: usize = 5;

impl TestApp {
    /// 5 gateways with 10 locks each on the TTLock account, 2 Tedee accounts with 5 bridged
    /// locks each; all connected. Answers the TTLock and the Tedee lock ids (lockbridge's).
    async fn fleet(&self) -> (Vec<String>, Vec<String>) {
        {
            let mut w = self.sim.world();
            // Long enough that two commands at once on one gateway would meet a busy one.
            w.config.gateway_latency_ms = 5;
            let uid = w.uid_of(&self.demo.username).unwrap();
            for g in 0..5 {
                let gateway = w.add_gateway(uid, &format!("Floor {g}"), true);
                for l in 0..10 {
                    w.add_lock(TtlockLock {
                        gateway_id: Some(gateway),
                        ..TtlockLock::new(uid, &format!("Room {g}{l:02}"))
                    });
                }
            }
        }
        let mut keys = Vec::new();
        {
            let mut w = self.tedee.world();
            for a in 0..2 {
                let user = w.add_user(&format!("Owner {a}"), &format!("owner{a}@lockbridge.test"));
                keys.push(w.add_key(user, &[], None));
                let bridge = w.add_bridge(user, &format!("Bridge {a}"), true);
                for l in 0..5 {
                    w.add_lock(TedeeLock {
                        bridge_id: Some(bridge),
                        connected: true,
                        ..TedeeLock::new(user, &format!("Flat {a}{l}"))
                    });
                }
            }
        }
        self.connect().await;
        for key in keys {
            self.connect_with(
                json!({"provider": "tedee", "credentials": {"personal_access_key": key}}),
            )
            .await;
        }
        let locks = self.get("/v1/locks?limit=200").await.body["data"]
            .as_array()
            .unwrap()
            .clone();
        let ids = |prefix: &str| -> Vec<String> {
            locks
                .iter()
                .filter(|l| l["name"].as_str().unwrap().starts_with(prefix))
                .map(|l| l["id"].as_str().unwrap().to_owned())
                .collect()
        };
        (ids("Room "), ids("Flat "))
    }

    /// The PINs each simulated lock of the fleet holds, by lock name.
    fn fleet_pins(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for l in self
            .sim
            .world()
            .locks
            .values()
            .filter(|l| l.alias.starts_with("Room "))
        {
            let pins = l
                .passcodes
                .values()
                .filter(|p| p.on_lock)
                .map(|p| p.code.clone());
            out.insert(l.alias.clone(), pins.collect());
        }
        for l in self
            .tedee
            .world()
            .locks
            .values()
            .filter(|l| l.name.starts_with("Flat "))
        {
            out.insert(
                l.name.clone(),
                l.pins.values().map(|p| p.pin.clone()).collect(),
            );
        }
        out
    }

    async fn job(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }
}

/// (index, field) of each item a job refused.
fn failed_fields(job: &Value) -> Vec<(i64, &str)> {
    job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_i64().unwrap(),
                e["error"]["field"].as_str().unwrap(),
            )
        })
        .collect()
}

both_backends!(
    a_bulk_job_sets_every_code_once_and_survives_a_restart,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let (ttlock, tedee) = t.fleet().await;
        assert_eq!((ttlock.len(), tedee.len()), (50, 10));
        let mut items = Vec::new();
        for i in 0..PER_TTLOCK {
            for lock in &ttlock {
                items.push(json!({"lock_id": lock, "name": format!("Guest {i}")}));
            }
        }
        for i in 0..PER_TEDEE {
            for lock in &tedee {
                items.push(json!({"lock_id": lock, "name": format!("Guest {i}")}));
            }
        }
        // Three bad items fail alone, with their index.
        items.insert(7, json!({"lock_id": "lck_nope", "name": "x"}));
        items.insert(100, json!({"lock_id": ttlock[0], "code": "12"}));
        items.insert(300, json!({"lock_id": tedee[0], "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-01-02T00:00:00Z"}));
        let r = t
            .post(
                "/v1/jobs",
                json!({"kind": "access_codes.create", "items": items}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(
            (r.body["status"].as_str(), r.body["total"].as_i64()),
            (Some("queued"), Some(503))
        );
        assert_eq!(
            failed_fields(&r.body),
            [(7, "lock_id"), (100, "code"), (300, "ends_at")]
        );
        let id = r.body["id"].as_str().unwrap().to_owned();

        // The first instance stops (its pass dropped mid-work, leases still held) once 100
        // codes are on the locks.
        let on_locks = |t: &TestApp| t.fleet_pins().values().map(Vec::len).sum::<usize>();
        tokio::select! {
            _ = jobs::run_due(&t.app.state) => panic!("the job finished before the instance stopped"),
            _ = async {
                while on_locks(&t) < 100 {
                    tokio::task::yield_now().await;
                }
            } => {}
        }
        assert_eq!(t.job(&id).await["status"], "running");
        // Another instance, once the leases have run out, finishes it.
        t.advance_all(5 * 60_000);
        let other = t.other_instance((*t.app.state.settings).clone());
        for _ in 0..20 {
            jobs::run_due(&other.state).await.unwrap();
            engine::run_due_codes(&other.state).await.unwrap();
            if t.job(&id).await["status"] == "done" {
                break;
            }
        }
        let job = t.job(&id).await;
        assert_eq!(
            (
                job["status"].as_str(),
                job["succeeded"].as_i64(),
                job["failed"].as_i64()
            ),
            (Some("done"), Some(500), Some(3)),
            "{job}"
        );
        assert!(job["finished_at"].is_string());

        // Ground truth: every lock holds its codes, each once, and lockbridge says the same.
        let pins = t.fleet_pins();
        for (lock, held) in &pins {
            let want = if lock.starts_with("Room ") {
                PER_TTLOCK
            } else {
                PER_TEDEE
            };
            assert_eq!(held.len(), want, "{lock}: {held:?}");
            assert_eq!(
                held.iter().collect::<HashSet<_>>().len(),
                want,
                "{lock}: a PIN twice"
            );
        }
        for lock in ttlock.iter().chain(&tedee) {
            let codes = t
                .get(&format!("/v1/locks/{lock}/access-codes?limit=50"))
                .await
                .body["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["managed"] == true)
                .map(|c| {
                    (
                        c["status"].as_str().unwrap().to_owned(),
                        c["code"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>();
            assert!(codes.iter().all(|(s, _)| s == "set"), "{codes:?}");
            let name = t.get(&format!("/v1/locks/{lock}")).await.body["name"]
                .as_str()
                .unwrap()
                .to_owned();
            let mut ours: Vec<String> = codes.into_iter().map(|(_, c)| c).collect();
            let mut held = pins[&name].clone();
            ours.sort();
            held.sort();
            assert_eq!(ours, held, "{name}");
        }
        // Written once each, never refused for a busy gateway or a spent budget.
        assert_eq!(t.sim_calls("/v3/keyboardPwd/add"), (PER_TTLOCK * 50) as u64);
        assert_eq!(t.sim_calls("gateway busy refusals"), 0);
        let w = t.tedee.world();
        assert_eq!(
            w.calls.get("POST /my/lock/{id}/pin").copied().unwrap_or(0),
            (PER_TEDEE * 10) as u64
        );
        assert!(w.throttled.values().all(|n| *n == 0), "{:?}", w.throttled);
    }
);

both_backends!(jobs_refuse_what_is_not_a_job, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect().await;
    let front = t.lock_id("Front door").await;
    let r = t
        .post(
            "/v1/jobs",
            json!({"kind": "locks.delete", "items": [{"lock_id": front}]}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["field"].as_str()),
        (400, Some("kind"))
    );
    let r = t
        .post(
            "/v1/jobs",
            json!({"kind": "access_codes.create", "items": []}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["field"].as_str()),
        (400, Some("items"))
    );
    let many: Vec<Value> = (0..10_001).map(|_| json!({"lock_id": front})).collect();
    let r = t
        .post(
            "/v1/jobs",
            json!({"kind": "access_codes.create", "items": many}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["error"]["field"].as_str()),
        (400, Some("items"))
    );
    // Every item bad: the job is failed at once, nothing to work.
    let r = t
        .post("/v1/jobs", json!({"kind": "access_codes.create", "items": [{"lock_id": front, "code": "1"}, {"nope": 1}]}))
        .await;
    assert_eq!(
        (
            r.status.as_u16(),
            r.body["status"].as_str(),
            r.body["failed"].as_i64()
        ),
        (202, Some("failed"), Some(2))
    );
    assert_eq!(r.body["errors"][1]["error"]["field"], "item");
    let r = t.get("/v1/jobs/job_00000000000000000000000000000000").await;
    assert_eq!(r.status, 404);
});

both_backends!(
    a_job_ends_with_items_waiting_for_an_offline_gateway,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let back = t.lock_id("Back door").await;
        // The front door is out of its gateway's range; the back door answers.
        let front_sim = t.sim_lock(0);
        t.sim.world().locks.get_mut(&front_sim).unwrap().online = false;
        let items = json!([
            {"lock_id": front, "name": "Waits", "code": "731946"},
            {"lock_id": back, "name": "Sets", "code": "731947"},
        ]);
        let r = t
            .post(
                "/v1/jobs",
                json!({"kind": "access_codes.create", "items": items}),
            )
            .await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        lockbridge_app::jobs::run_due(&t.app.state).await.unwrap();
        let job = t.job(&id).await;
        assert_eq!(
            (
                job["status"].as_str(),
                job["succeeded"].as_i64(),
                job["failed"].as_i64()
            ),
            (Some("done"), Some(1), Some(0)),
            "{job}"
        );
        assert_eq!(job["waiting"][0]["index"], 0, "{job}");
        let code = job["waiting"][0]["access_code_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(t.code(&code).await["status"], "setting");
        assert!(
            !lockbridge_app::jobs::run_due(&t.app.state).await.unwrap(),
            "nothing holds the job open"
        );
        // The lock is back in range: the engine sets the waiting code.
        t.sim.world().locks.get_mut(&front_sim).unwrap().online = true;
        t.drain().await;
        assert_eq!(t.code(&code).await["status"], "set");
        assert!(t.pins_on(0).iter().any(|(pin, _)| pin == "731946"));

        // A bad item fails alone, whatever breaks it.
        let long = "x".repeat(201);
        let items = json!([
            {"lock_id": back, "name": "Nul\u{0}here"},
            {"lock_id": back, "name": long},
            {"lock_id": back, "name": "Fine", "code": "731948"},
        ]);
        let r = t
            .post(
                "/v1/jobs",
                json!({"kind": "access_codes.create", "items": items}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(
            failed_fields(&r.body),
            [(0, "name"), (1, "name")],
            "{}",
            r.body
        );
    }
);
