//! Reconciliation costs.
//!
//! 1. Store-side cost of one pass over `BENCH_LOCKS` locks (10,000) × 10 codes: the vendor is an
//!    in-memory fake that answers each lock's code list at once, so the CPU time measured is
//!    lockbridge's own (queries, decisions), not the vendor's. Target: < 2 s of CPU.
//! 2. Time from an external deletion to the code back on the lock, against the in-process
//!    TTLock simulator over HTTP: one reconciliation of the lock plus one engine pass (the
//!    reconcile interval comes on top).
//!
//! `cargo bench -p lockbridge-server --bench reconcile` (SQLite and PostgreSQL; `BENCH_LOCKS`
//! for another size, `BENCH_BACKEND=sqlite` or `postgres` for one of them).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{knob, pct, rss_mb, seed_locks};
use lockbridge_app::reconcile;
use lockbridge_core::Vendor;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::credentials::Field;
use lockbridge_core::metrics::VendorCalls;
use lockbridge_core::model::{AccessCode, CodeStatus, Connection, Lock, Provider};
use lockbridge_core::provider::{
    CodeChange, CodeSpec, Codes, Devices, ProviderCode, ProviderResult, TokenUpdate, Verified,
    unsupported,
};
use lockbridge_core::time::{Millis, now_ms};
use lockbridge_server::{App, Providers, Settings};
use lockbridge_store::testing::{Backend, TestDb};
use serde_json::json;

/// A vendor that holds each lock's codes in memory and answers at once.
struct MemoryVendor {
    codes: HashMap<String, Vec<ProviderCode>>,
}

#[async_trait]
impl Vendor for MemoryVendor {
    fn provider(&self) -> Provider {
        lockbridge_vendors::TTLOCK
    }
    fn credential_fields(&self) -> &'static [Field] {
        &[]
    }
    async fn verify(&self, _: Option<&str>, _: &Credentials) -> ProviderResult<Verified> {
        Err(unsupported(
            lockbridge_vendors::TTLOCK,
            "verify in this benchmark",
        ))
    }
    async fn refresh(&self, _: &Connection) -> ProviderResult<TokenUpdate> {
        Err(unsupported(
            lockbridge_vendors::TTLOCK,
            "refresh in this benchmark",
        ))
    }
    async fn devices(&self, _: &Connection) -> ProviderResult<Devices> {
        Ok(Devices::default())
    }
    fn codes(&self) -> Option<&dyn Codes> {
        Some(self)
    }
}

#[async_trait]
impl Codes for MemoryVendor {
    async fn list_codes(&self, _: &Connection, lock: &Lock) -> ProviderResult<Vec<ProviderCode>> {
        Ok(self
            .codes
            .get(&lock.provider_id)
            .cloned()
            .unwrap_or_default())
    }
    async fn create_code(&self, _: &Connection, _: &Lock, _: &CodeSpec) -> ProviderResult<String> {
        Err(unsupported(
            lockbridge_vendors::TTLOCK,
            "write in this benchmark",
        ))
    }
    async fn update_code(
        &self,
        _: &Connection,
        _: &Lock,
        _: &str,
        _: &CodeChange,
    ) -> ProviderResult<()> {
        Err(unsupported(
            lockbridge_vendors::TTLOCK,
            "write in this benchmark",
        ))
    }
    async fn delete_code(&self, _: &Connection, _: &Lock, _: &str) -> ProviderResult<()> {
        Err(unsupported(
            lockbridge_vendors::TTLOCK,
            "write in this benchmark",
        ))
    }
}

/// CPU time (user + system) of this process so far (Linux `/proc/self/stat`, clock ticks of
/// 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn code(lock: &Lock, n: u64, now: Millis) -> AccessCode {
    AccessCode {
        name: Some(format!("Guest {n}")),
        starts_at: Some(now),
        ends_at: Some(now + 30 * 86_400_000),
        status: CodeStatus::Set,
        provider_id: Some((80_000_000 + n).to_string()),
        ..AccessCode::new(lock, format!("{:06}", 100_000 + n % 10 * 7_919), now)
    }
}

async fn pass_cost(backend: Backend, locks: u32) {
    let Some(db) = TestDb::new(backend).await else {
        println!("{backend:?}: skipped (database not reachable)");
        return;
    };
    let (org, _) = seed_locks(&db, locks).await;
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = db.store.list_locks(org, 1000, after).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        all.extend(page);
    }
    let now = now_ms();
    let mut vendor = HashMap::new();
    let mut batch = Vec::new();
    for (i, lock) in all.iter().enumerate() {
        let codes: Vec<AccessCode> = (0..10)
            .map(|k| code(lock, i as u64 * 10 + k, now))
            .collect();
        vendor.insert(
            lock.provider_id.clone(),
            codes
                .iter()
                .map(|c| ProviderCode {
                    provider_id: c.provider_id.clone().unwrap_or_default(),
                    spec: CodeSpec {
                        code: c.code.clone(),
                        name: c.name.clone(),
                        starts_at: c.starts_at,
                        ends_at: c.ends_at,
                        schedule: None,
                    },
                })
                .collect::<Vec<_>>(),
        );
        batch.extend(codes);
        if batch.len() >= 5_000 {
            db.store.insert_access_codes(&batch).await.unwrap();
            batch.clear();
        }
    }
    db.store.insert_access_codes(&batch).await.unwrap();
    let mut providers = Providers::default();
    providers.insert(Arc::new(MemoryVendor { codes: vendor }));
    let app = App::with_providers(
        db.store.clone(),
        Settings::default(),
        providers,
        Arc::new(VendorCalls::default()),
    );
    let (cpu0, wall) = (cpu_seconds(), Instant::now());
    let mut done = 0;
    loop {
        let n = reconcile::run_due(&app.state).await.unwrap();
        if n == 0 {
            break;
        }
        done += n;
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    assert_eq!(done, locks as usize);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let report = json!({"backend": format!("{backend:?}"), "locks": locks, "codes": locks * 10,
        "wall_s": round(wall), "cpu_s": cpu.map(round), "rss_mb": rss_mb().map(round)});
    println!("one pass: {report}");
}

async fn restore_time(backend: Backend, rounds: usize) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let sim = lockbridge_sim::ttlock::TtlockSim::new(3);
    let demo = sim.seed_demo();
    let server = sim.start_local().await.unwrap();
    let mut settings = Settings {
        worker_interval: Duration::from_secs(3600),
        retry_base: Duration::ZERO,
        ..Settings::default()
    };
    settings
        .base_urls
        .insert(lockbridge_vendors::TTLOCK, server.base_url());
    let app = App::new(db.store.clone(), settings);
    let org = db.store.create_org("Bench").await.unwrap().id;
    let mut creds = Credentials::new();
    creds.set("client_id", &demo.client_id);
    creds.set("client_secret", &demo.client_secret);
    creds.set("username", &demo.username);
    creds.set("password", &demo.password);
    let conn = lockbridge_app::connections::create(
        &app.state,
        org,
        lockbridge_vendors::TTLOCK,
        None,
        None,
        &creds,
    )
    .await
    .unwrap();
    lockbridge_app::connections::sync(&app.state, &conn)
        .await
        .unwrap();
    let lock = db
        .store
        .list_locks(org, 10, None)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "Front door")
        .unwrap();
    let mut c = code(&lock, 1, now_ms());
    c.provider_id = None;
    c.status = CodeStatus::Setting;
    c.next_attempt_at = Some(0);
    db.store.insert_access_code(&c, None).await.unwrap();
    lockbridge_app::engine::run_due_codes(&app.state)
        .await
        .unwrap();
    let sim_lock = demo.lock_ids[0];
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        sim.world()
            .locks
            .get_mut(&sim_lock)
            .unwrap()
            .passcodes
            .retain(|_, p| p.code != c.code);
        let t = Instant::now();
        reconcile::reconcile_now(&app.state, &lock).await.unwrap();
        lockbridge_app::engine::run_due_codes(&app.state)
            .await
            .unwrap();
        times.push(t.elapsed());
        assert!(
            sim.world().locks[&sim_lock]
                .passcodes
                .values()
                .any(|p| p.code == c.code)
        );
    }
    times.sort();
    println!(
        "{backend:?}: external deletion → back on the lock (reconcile + engine, no gateway latency): \
         p50 {:.2} ms, p99 {:.2} ms over {rounds} rounds",
        pct(&times, 0.50),
        pct(&times, 0.99)
    );
}

#[tokio::main]
async fn main() {
    // The vendors\' names parse from here on (rows read back name them).
    lockbridge_vendors::register();
    let locks: u32 = knob("BENCH_LOCKS", 10_000);
    let only: String = knob("BENCH_BACKEND", String::new());
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if !only.is_empty() && !format!("{backend:?}").eq_ignore_ascii_case(&only) {
            continue;
        }
        pass_cost(backend, locks).await;
        restore_time(backend, knob("BENCH_ROUNDS", 200)).await;
    }
}
