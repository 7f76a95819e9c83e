//! A randomised model test: sequences of creates, changes, deletes, vendor faults, slow
//! gateways, dying instances and edits on the lock behind lockbridge's back, against one
//! TTLock lock. After each sequence has settled, every code's status must match the
//! simulator's ground truth — and every code on the lock must be one lockbridge knows.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::*;
use lockbridge_app::{engine, reconcile};
use lockbridge_core::model::CodeStatus;
use lockbridge_sim::faults::FaultRule;
use lockbridge_sim::rng::Rng;
use lockbridge_sim::ttlock::PasscodeSpec;
use serde_json::json;
use tokio::task::JoinHandle;

/// PINs drawn from a small pool, so that duplicates and reuse happen often.
fn pin(rng: &mut Rng) -> String {
    format!("{}", 480_100 + rng.below(12))
}

struct Run<'a> {
    t: &'a TestApp,
    lock: String,
    rng: Rng,
    ids: Vec<String>,
    background: Vec<JoinHandle<()>>,
}

impl Run<'_> {
    async fn step(&mut self) {
        let t = self.t;
        let pick =
            |rng: &mut Rng, ids: &[String]| ids[rng.below(ids.len() as u64) as usize].clone();
        match self.rng.below(11) {
            0..=2 => {
                let body = json!({"code": pin(&mut self.rng), "name": format!("g{}", self.rng.below(100))});
                let r = t
                    .post(&format!("/v1/locks/{}/access-codes", self.lock), body)
                    .await;
                assert!(
                    [201, 409, 502, 503].contains(&r.status.as_u16()),
                    "create: {} {}",
                    r.status,
                    r.body
                );
                if let Some(id) = r.body["id"].as_str() {
                    self.ids.push(id.to_owned());
                }
            }
            3 if !self.ids.is_empty() => {
                let id = pick(&mut self.rng, &self.ids);
                let body = if self.rng.chance(0.5) {
                    json!({"name": format!("renamed {}", self.rng.below(100))})
                } else {
                    json!({"code": pin(&mut self.rng)})
                };
                let r = t.patch(&format!("/v1/access-codes/{id}"), body).await;
                assert!(
                    r.status.as_u16() < 500 || r.status == 502 || r.status == 503,
                    "patch: {} {}",
                    r.status,
                    r.body
                );
            }
            4 if !self.ids.is_empty() => {
                let id = pick(&mut self.rng, &self.ids);
                let r = t.delete(&format!("/v1/access-codes/{id}")).await;
                assert!(
                    r.status.as_u16() < 500 || r.status == 502 || r.status == 503,
                    "delete: {} {}",
                    r.status,
                    r.body
                );
            }
            5 => {
                let routes = [
                    "/v3/keyboardPwd/add",
                    "/v3/keyboardPwd/change",
                    "/v3/keyboardPwd/delete",
                    "/v3/lock/listKeyboardPwd",
                ];
                let route = routes[self.rng.below(4) as usize];
                let (http_status, errcode) = if self.rng.chance(0.5) {
                    (Some(503), None)
                } else {
                    (None, Some(-3002))
                };
                t.sim.world().faults.add(FaultRule {
                    route: Some(route.into()),
                    http_status,
                    errcode,
                    count: Some(1 + self.rng.below(3) as u32),
                    ..Default::default()
                });
            }
            6 => {
                // A slow gateway, and an engine pass running beside the requests that follow.
                t.sim.world().config.gateway_latency_ms = 20 + self.rng.below(60);
                let state = t.app.state.clone();
                self.background.push(tokio::spawn(async move {
                    let _ = engine::run_due_codes(&state).await;
                }));
            }
            7 => {
                // An instance dies mid-attempt; its leases run out.
                for task in self.background.drain(..) {
                    task.abort();
                    let _ = task.await;
                }
                t.app
                    .state
                    .clock
                    .advance(t.app.state.settings.code_lease.as_millis() as i64 + 1);
            }
            8 => {
                let mut w = t.sim.world();
                let lock = w.locks.get_mut(&t.sim_lock(0)).unwrap();
                if let Some(&id) = lock
                    .passcodes
                    .keys()
                    .nth(self.rng.below(lock.passcodes.len().max(1) as u64) as usize)
                {
                    lock.passcodes.remove(&id);
                }
            }
            9 => {
                let code = pin(&mut self.rng);
                let mut w = t.sim.world();
                if w.locks[&t.sim_lock(0)]
                    .passcodes
                    .values()
                    .all(|p| p.code != code)
                {
                    w.put_passcode(
                        t.sim_lock(0),
                        PasscodeSpec {
                            code,
                            name: Some("outside".into()),
                            start_ms: None,
                            end_ms: None,
                        },
                    );
                }
            }
            _ => {
                let _ = engine::run_due_codes(&t.app.state).await;
            }
        }
    }

    /// Faults off, background work finished, leases run out, then the engine and
    /// reconciliation until the lock is at rest.
    async fn settle(&mut self) {
        let t = self.t;
        {
            let mut w = t.sim.world();
            w.faults.clear();
            w.config.gateway_latency_ms = 0;
        }
        for task in self.background.drain(..) {
            let _ = task.await;
        }
        t.app
            .state
            .clock
            .advance(t.app.state.settings.code_lease.as_millis() as i64 + 1);
        let lock =
            t.db.store
                .lock_by_id(self.lock.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
        for _ in 0..3 {
            t.drain().await;
            reconcile::reconcile_now(&t.app.state, &lock).await.unwrap();
        }
        t.drain().await;
    }

    /// lockbridge's view equals the lock's.
    async fn check(&self, seed: u64) {
        let t = self.t;
        let rows =
            t.db.store
                .list_access_codes(t.org, self.lock.parse().unwrap(), 10_000, None)
                .await
                .unwrap();
        let on_lock: HashMap<String, String> = t
            .pins_on(0)
            .into_iter()
            .map(|(pin, id)| (id, pin))
            .collect();
        let mut claimed = HashMap::new();
        for c in &rows {
            match c.status {
                CodeStatus::Set => {
                    let pid = c.provider_id.clone().unwrap_or_default();
                    assert_eq!(
                        on_lock.get(&pid),
                        Some(&c.code),
                        "seed {seed}: {} reads set but the lock has {on_lock:?}",
                        c.id
                    );
                    assert!(
                        claimed.insert(pid, c.id).is_none(),
                        "seed {seed}: one vendor code, two rows"
                    );
                }
                CodeStatus::Failed => {
                    assert!(
                        c.provider_id
                            .as_ref()
                            .is_none_or(|p| !on_lock.contains_key(p)),
                        "seed {seed}: failed but on the lock"
                    );
                }
                other => panic!("seed {seed}: {} still {other:?} after settling", c.id),
            }
        }
        for pid in on_lock.keys() {
            assert!(
                claimed.contains_key(pid),
                "seed {seed}: the lock holds {pid}, which no code row has"
            );
        }
    }

    /// Revokes every code, so the next sequence starts on an empty lock.
    async fn clear(&mut self) {
        let t = self.t;
        let rows =
            t.db.store
                .list_access_codes(t.org, self.lock.parse().unwrap(), 10_000, None)
                .await
                .unwrap();
        for c in rows {
            let r = t.delete(&format!("/v1/access-codes/{}", c.id)).await;
            assert!(
                r.status == 200 || r.status == 202,
                "{} {}",
                r.status,
                r.body
            );
        }
        t.drain().await;
        assert!(t.pins_on(0).is_empty(), "{:?}", t.pins_on(0));
        self.ids.clear();
    }
}

async fn sequences(db: Db, count: u64) {
    let t = TestApp::start(db).await;
    t.connect().await;
    let lock = t.lock_id("Front door").await;
    let mut run = Run {
        t: &t,
        lock,
        rng: Rng::new(0),
        ids: Vec::new(),
        background: Vec::new(),
    };
    run.settle().await;
    run.clear().await;
    for seed in 0..count {
        run.rng = Rng::new(seed);
        let steps = 6 + run.rng.below(14);
        for _ in 0..steps {
            run.step().await;
        }
        run.settle().await;
        run.check(seed).await;
        run.clear().await;
    }
}

#[tokio::test]
async fn random_sequences_settle_to_the_truth_sqlite() {
    sequences(Db::sqlite().await, 200).await;
}

#[tokio::test]
async fn random_sequences_settle_to_the_truth_postgres() {
    if let Some(db) = Db::postgres().await {
        sequences(db, 100).await;
    }
}
