//! Bulk jobs against the vendors' floors:
//! - TTLock: `BENCH_CODES` codes (default 500) over 5 gateways of 10 locks, each gateway
//!   command taking `BENCH_LATENCY_MS` (default 50). A gateway takes one command at a time, so
//!   no run can beat (N / G) · L; the figure is the job's time over that floor (target ≤ 1.10).
//! - Tedee: `BENCH_TEDEE_CODES` codes (default 640) on one account whose budget is
//!   `BENCH_TEDEE_RATE` requests a minute (default 300; the simulator answers 429 past it, in
//!   its own minutes): the share of the budget the job used once its first burst was spent
//!   (target ≥ 95 %) and the 429s (0). About two minutes per backend.
//! - SwitchBot: two instances on one PostgreSQL database work one job of more codes than a
//!   test-sized day of `BENCH_SWITCHBOT_DAY` requests (default 300; SwitchBot's is 10,000) can
//!   carry, against the simulator counting the account's requests per day: the share of the
//!   day the instances spent together before both held back (target ≥ 95 %) and the
//!   requests SwitchBot would have refused (0). Seconds.
//!
//! TTLock and Tedee on SQLite and on PostgreSQL (when it is reachable at 127.0.0.1:5432).
//! `cargo bench -p lockbridge-server --bench bulk`

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::knob;
use lockbridge_app::jobs;
use lockbridge_server::{App, Settings};
use lockbridge_sim::switchbot::SwitchBotSim;
use lockbridge_sim::tedee::{LockSpec as TedeeLock, TedeeSim};
use lockbridge_sim::ttlock::{LockSpec as TtlockLock, TtlockSim};
use lockbridge_store::testing::{Backend, TestDb};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The service on a free port with an organisation: its URL and an admin key.
struct Service {
    app: App,
    url: String,
    key: String,
    http: reqwest::Client,
    stop: CancellationToken,
}

impl Service {
    async fn start(db: &TestDb, settings: Settings) -> Service {
        let (app, url, key, stop) = common::serve_with_admin(db, settings).await;
        Service {
            app,
            url,
            key,
            http: reqwest::Client::new(),
            stop,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{path}: {body}");
        body
    }

    /// Connects the account and answers its lock ids.
    async fn connect(&self, body: Value) -> Vec<String> {
        let conn = self
            .call(reqwest::Method::POST, "/v1/connections", body)
            .await;
        let id = conn["id"].as_str().unwrap();
        self.call(
            reqwest::Method::POST,
            &format!("/v1/connections/{id}/sync"),
            json!({}),
        )
        .await;
        let locks = self
            .call(reqwest::Method::GET, "/v1/locks?limit=200", json!({}))
            .await;
        locks["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["name"].as_str().unwrap().starts_with("Room "))
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Submits `n` codes spread over `locks`, works the job in one pass; answers its time.
    async fn job(&self, locks: &[String], n: usize) -> Duration {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"lock_id": locks[i % locks.len()], "name": format!("Guest {i}")}))
            .collect();
        let job = self
            .call(
                reqwest::Method::POST,
                "/v1/jobs",
                json!({"kind": "access_codes.create", "items": items}),
            )
            .await;
        let id = job["id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        while jobs::run_due(&self.app.state).await.unwrap() {
            let job = self
                .call(reqwest::Method::GET, &format!("/v1/jobs/{id}"), json!({}))
                .await;
            if job["status"] == "done" {
                assert_eq!(job["succeeded"].as_u64(), Some(n as u64), "{job}");
                break;
            }
            lockbridge_app::engine::run_due_codes(&self.app.state)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    }
}

fn settings() -> Settings {
    Settings {
        worker_interval: Duration::from_secs(3600),
        ..Settings::default()
    }
}

async fn ttlock(backend: Backend, n: usize, latency: u64) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let sim = TtlockSim::new(3);
    let demo = sim.seed_demo();
    let gateways = 5;
    {
        let mut w = sim.world();
        w.config.gateway_latency_ms = latency;
        let uid = w.uid_of(&demo.username).unwrap();
        for g in 0..gateways {
            let gateway = w.add_gateway(uid, &format!("Floor {g}"), true);
            for l in 0..10 {
                w.add_lock(TtlockLock {
                    gateway_id: Some(gateway),
                    ..TtlockLock::new(uid, &format!("Room {g}{l:02}"))
                });
            }
        }
    }
    let server = sim.start_local().await.unwrap();
    let mut s = settings();
    s.base_urls
        .insert(lockbridge_vendors::TTLOCK, server.base_url());
    let service = Service::start(&db, s).await;
    let locks = service
        .connect(json!({"provider": "ttlock", "credentials": {
            "client_id": demo.client_id, "client_secret": demo.client_secret,
            "username": demo.username, "password": demo.password}}))
        .await;
    let took = service.job(&locks, n).await;
    let floor = Duration::from_millis((n as u64).div_ceil(gateways) * latency);
    let busy = sim
        .world()
        .calls
        .get("gateway busy refusals")
        .copied()
        .unwrap_or(0);
    println!(
        "TTLock ({backend:?}): {n} codes over {gateways} gateways at {latency} ms a command: {:.2} s; floor (N/G)·L {:.2} s; {:.3}× the floor; busy refusals {busy}",
        took.as_secs_f64(),
        floor.as_secs_f64(),
        took.as_secs_f64() / floor.as_secs_f64()
    );
    service.stop.cancel();
}

async fn tedee(backend: Backend, n: usize, per_min: u32) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let sim = TedeeSim::new(5);
    let pak = {
        let mut w = sim.world();
        w.config.pin_capacity = 1_000;
        w.config.operation_ms = 0;
        w.config.rate_limit = per_min;
        w.config.rate_window_s = 60;
        let user = w.add_user("Bench", "bench@example.com");
        let bridge = w.add_bridge(user, "Bridge", true);
        for i in 0..20 {
            w.add_lock(TedeeLock {
                bridge_id: Some(bridge),
                connected: true,
                ..TedeeLock::new(user, &format!("Room {i:02}"))
            });
        }
        w.add_key(user, &[], None)
    };
    let server = sim.start_local().await.unwrap();
    let mut s = settings();
    s.base_urls
        .insert(lockbridge_vendors::TEDEE, server.base_url());
    s.vendor_rates.insert(
        lockbridge_vendors::TEDEE,
        format!("{per_min}/min").parse().unwrap(),
    );
    let service = Service::start(&db, s).await;
    let locks = service
        .connect(json!({"provider": "tedee", "credentials": {"personal_access_key": pak}}))
        .await;
    // The account's requests, sampled every 20 ms while the job runs.
    let requests = |sim: &TedeeSim| sim.world().calls.values().sum::<u64>();
    let before = requests(&sim);
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let (sim, samples) = (sim.clone(), samples.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                let sent = sim.world().calls.values().sum::<u64>() - before;
                samples.lock().unwrap().push((started.elapsed(), sent));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let took = service.job(&locks, n).await;
    sampler.abort();
    let sent = requests(&sim) - before;
    let throttled: u32 = sim.world().throttled.values().sum();
    // A budget of L a minute allows a burst of L, then L more each minute: the time between
    // the starts of the second and third bursts, against the minute, is the share used.
    let samples = samples.lock().unwrap().clone();
    let crossing = |k: u64| samples.iter().find(|(_, n)| *n > k).map(|(t, _)| *t);
    let used = match (
        crossing(u64::from(per_min)),
        crossing(2 * u64::from(per_min)),
    ) {
        (Some(a), Some(b)) => format!("{:.1} %", 6_000.0 / (b - a).as_secs_f64()),
        _ => "n/a (raise BENCH_TEDEE_CODES past twice the budget)".into(),
    };
    println!(
        "Tedee ({backend:?}): {n} codes, {sent} requests in {:.1} s against {per_min}/min: {used} of the budget used once spent; 429s {throttled}",
        took.as_secs_f64(),
    );
    service.stop.cancel();
}

async fn switchbot(day: u32) {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        println!("SwitchBot: skipped (needs PostgreSQL at 127.0.0.1:5432 for two instances)");
        return;
    };
    let sim = SwitchBotSim::new(6);
    let demo = sim.seed_demo();
    {
        let mut w = sim.world();
        w.config.key_delay_ms = 0;
        w.config.daily_limit = u64::from(day);
        for (i, lock) in w.locks.values_mut().enumerate() {
            lock.name = format!("Room {i}");
        }
    }
    let server = sim.start_local().await.unwrap();
    let mut s = settings();
    s.base_urls
        .insert(lockbridge_vendors::switchbot::PROVIDER, server.base_url());
    s.vendor_rates.insert(
        lockbridge_vendors::switchbot::PROVIDER,
        format!("{day}/day").parse().unwrap(),
    );
    let first = Service::start(&db, s.clone()).await;
    let second = App::new(db.store.clone(), s);
    let locks = first
        .connect(json!({"provider": "switchbot", "credentials": {
            "token": demo.token, "secret": demo.secret}}))
        .await;
    assert!(!locks.is_empty());
    // More codes than the day can carry (each is at least a key list read, a createKey and a
    // read of the list that shows it).
    let n = day as usize;
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"lock_id": locks[i % locks.len()], "name": format!("Guest {i}")}))
        .collect();
    first
        .call(
            reqwest::Method::POST,
            "/v1/jobs",
            json!({"kind": "access_codes.create", "items": items}),
        )
        .await;
    let sent = |sim: &SwitchBotSim| sim.world().requests_by_day.values().sum::<u64>();
    let started = Instant::now();
    // Both instances work the job until a round of both sends nothing more, twice running:
    // the day is spent and each holds back.
    let mut quiet = 0;
    while quiet < 2 {
        let before = sent(&sim);
        let work = |state| async move {
            jobs::run_due(state).await.unwrap();
            lockbridge_app::engine::run_due_codes(state).await.unwrap();
        };
        tokio::join!(work(&first.app.state), work(&second.state));
        quiet = if sent(&sim) == before { quiet + 1 } else { 0 };
    }
    let used = sent(&sim);
    let refused = used.saturating_sub(u64::from(day));
    let held: usize = {
        let mut w = sim.world();
        w.settle();
        w.keypads.values().map(|k| k.keys.len()).sum()
    };
    println!(
        "SwitchBot (Postgres, two instances): {n} codes asked, {held} on the keypads; {used} requests of a day's {day} ({:.1} %) in {:.1} s; refused by SwitchBot {refused}",
        100.0 * used.min(u64::from(day)) as f64 / f64::from(day),
        started.elapsed().as_secs_f64(),
    );
    first.stop.cancel();
}

fn main() {
    // The vendors\' names parse from here on (rows read back name them).
    lockbridge_vendors::register();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = knob("BENCH_CODES", 500);
    let latency = knob("BENCH_LATENCY_MS", 50);
    let tedee_n = knob("BENCH_TEDEE_CODES", 640);
    let rate = knob("BENCH_TEDEE_RATE", 300);
    let day = knob("BENCH_SWITCHBOT_DAY", 300);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    rt.block_on(async {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if only.is_empty() || only == "ttlock" {
                ttlock(backend, n, latency).await;
            }
            if only.is_empty() || only == "tedee" {
                tedee(backend, tedee_n, rate).await;
            }
        }
        if only.is_empty() || only == "switchbot" {
            switchbot(day).await;
        }
    });
}
