//! Several instances on one PostgreSQL database:
//! - the shared-budget check every vendor request pays (a take from the account's window; a
//!   gateway's turn taken and given back), alone and with three instances contending;
//! - code creation throughput with 1, 2 and 3 instances against the Tedee simulator answering
//!   every request after `BENCH_LATENCY_MS` (default 50), the same number of clients in all
//!   three runs: the vendor is the floor, and instances should cost nothing on top;
//! - how long a code held by an instance that died waits before another instance sets it: the
//!   lease, plus at most one worker interval.
//!
//! `cargo bench -p lockbridge-server --bench instances` (PostgreSQL at 127.0.0.1:5432;
//! `BENCH_CODES` codes per throughput run, default 400; `BENCH_CLIENTS`, default 24).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{knob, summary};
use lockbridge_app::workers;
use lockbridge_core::budgets::{Budgets, Rate};
use lockbridge_core::model::Role;
use lockbridge_server::{App, Settings};
use lockbridge_sim::faults::FaultRule;
use lockbridge_sim::tedee::{LockSpec, TedeeSim};
use lockbridge_store::SharedBudgets;
use lockbridge_store::testing::{Backend, TestDb};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

async fn budget_check(db: &TestDb) {
    let budgets = Arc::new(SharedBudgets::new(db.store.clone(), Arc::default()));
    let rate: Rate = "100000000/h".parse().unwrap();
    let take = |budgets: Arc<SharedBudgets>, n: usize| async move {
        let mut lat = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            assert!(budgets.take("bench:account", rate).await.unwrap().is_none());
            lat.push(t.elapsed());
        }
        lat
    };
    let alone = take(budgets.clone(), 2_000).await;
    println!("budget take, one instance: {}", summary(alone));
    let contended: Vec<Duration> = futures_join(
        (0..3)
            .map(|_| tokio::spawn(take(budgets.clone(), 1_000)))
            .collect(),
    )
    .await;
    println!(
        "budget take, three instances at once on one account: {}",
        summary(contended)
    );
    let mut turns = Vec::with_capacity(1_000);
    for i in 0..1_000 {
        let t = Instant::now();
        let key = format!("gw:{}", i % 10);
        assert!(
            budgets
                .try_turn(&key, "bench", Duration::from_secs(30))
                .await
                .unwrap()
        );
        budgets.end_turn(&key, "bench").await.unwrap();
        turns.push(t.elapsed());
    }
    println!("gateway turn taken and given back: {}", summary(turns));
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<Vec<Duration>>>) -> Vec<Duration> {
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all
}

/// A Tedee account with `locks` locks on one bridge, every request answered after `latency`.
fn tedee(locks: usize, latency: u64) -> (TedeeSim, String) {
    let sim = TedeeSim::new(11);
    let key = {
        let mut w = sim.world();
        w.config.pin_capacity = 1_000;
        let user = w.add_user("Bench", "bench@example.com");
        let bridge = w.add_bridge(user, "Bridge", true);
        for i in 0..locks {
            let mut spec = LockSpec::new(user, &format!("Room {i:03}"));
            spec.bridge_id = Some(bridge);
            spec.connected = true;
            w.add_lock(spec);
        }
        w.faults.add(FaultRule {
            latency_ms: latency,
            ..Default::default()
        });
        w.add_key(user, &[], None)
    };
    (sim, key)
}

fn settings(base_url: String) -> Settings {
    let mut s = Settings {
        worker_interval: Duration::from_millis(100),
        ..Settings::default()
    };
    s.base_urls.insert(lockbridge_vendors::TEDEE, base_url);
    s.vendor_rates
        .insert(lockbridge_vendors::TEDEE, "100000000/h".parse().unwrap());
    s
}

async fn serve(app: &App, stop: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(app.clone().serve(listener, stop.clone()));
    url
}

/// Tedee's PIN rules: at least three different digits, not one steady run up or down.
fn tedee_takes(pin: &str) -> bool {
    let d: Vec<i32> = pin.bytes().map(|b| i32::from(b - b'0')).collect();
    let distinct = d.iter().collect::<std::collections::BTreeSet<_>>().len();
    let steps: std::collections::BTreeSet<i32> = d.windows(2).map(|w| w[1] - w[0]).collect();
    distinct >= 3 && !(steps.len() == 1 && steps.iter().all(|s| s.abs() == 1))
}

/// Codes per second with `instances` instances, `clients` clients spread over them.
async fn throughput(instances: usize, codes: usize, clients: usize, latency: u64) -> f64 {
    let db = TestDb::new(Backend::Postgres).await.unwrap();
    let (sim, pak) = tedee(20, latency);
    let server = sim.start_local().await.unwrap();
    let stop = CancellationToken::new();
    let mut urls = Vec::new();
    for _ in 0..instances {
        let app = App::new(db.store.clone(), settings(server.base_url()));
        urls.push(serve(&app, &stop).await);
    }
    let org = db.store.create_org("Bench").await.unwrap().id;
    let (_, key) = db
        .store
        .create_api_key(org, "bench", Role::Admin)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let call = |url: &str, method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{url}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let conn: Value = call(
        &urls[0],
        reqwest::Method::POST,
        "/v1/connections",
        json!({"provider": "tedee", "credentials": {"personal_access_key": pak}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let conn = conn["id"].as_str().unwrap().to_owned();
    call(
        &urls[0],
        reqwest::Method::POST,
        &format!("/v1/connections/{conn}/sync"),
        json!({}),
    )
    .await
    .unwrap();
    let locks: Value = call(
        &urls[0],
        reqwest::Method::GET,
        "/v1/locks?limit=200",
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let locks: Vec<String> = locks["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let pins: Arc<Vec<String>> = Arc::new(
        (0..)
            .map(|n| format!("{}", 240_000 + n * 37))
            .filter(|p| tedee_takes(p))
            .take(codes)
            .collect(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, key, locks, pins) = (http.clone(), key.clone(), locks.clone(), pins.clone());
        let url = urls[c % instances].clone();
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while i < codes {
                let lock = &locks[i % locks.len()];
                let pin = &pins[i];
                let r = http
                    .post(format!("{url}/v1/locks/{lock}/access-codes"))
                    .bearer_auth(&key)
                    .json(&json!({"name": format!("Guest {i}"), "code": pin}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                i += clients;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Until the vendor holds every code.
    while sim
        .world()
        .locks
        .values()
        .map(|l| l.pins.len())
        .sum::<usize>()
        < codes
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    stop.cancel();
    codes as f64 / secs
}

/// A code claimed by an instance that then died: how long until another instance sets it.
async fn resumed_after_death() -> Duration {
    let db = TestDb::new(Backend::Postgres).await.unwrap();
    let (sim, pak) = tedee(1, 0);
    let server = sim.start_local().await.unwrap();
    let mut s = settings(server.base_url());
    s.vendor_timeout = Duration::from_secs(2);
    s.code_lease = Duration::from_secs(3);
    s.retry_base = Duration::from_millis(10);
    let app = App::new(db.store.clone(), s);
    let stop = CancellationToken::new();
    let url = serve(&app, &stop).await;
    let org = db.store.create_org("Bench").await.unwrap().id;
    let (_, key) = db
        .store
        .create_api_key(org, "bench", Role::Admin)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let conn: Value = http
        .post(format!("{url}/v1/connections"))
        .bearer_auth(&key)
        .json(&json!({"provider": "tedee", "credentials": {"personal_access_key": pak}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conn = conn["id"].as_str().unwrap();
    http.post(format!("{url}/v1/connections/{conn}/sync"))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let locks: Value = http
        .get(format!("{url}/v1/locks"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lock = locks["data"][0]["id"].as_str().unwrap();
    // The vendor fails the first try: the code waits for the engine.
    sim.world().faults.add(FaultRule {
        http_status: Some(503),
        count: Some(1),
        ..Default::default()
    });
    let code: Value = http
        .post(format!("{url}/v1/locks/{lock}/access-codes"))
        .bearer_auth(&key)
        .json(&json!({"name": "Guest", "code": "258046"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code["status"], "setting", "{code}");
    // Another instance claims it and dies before it finishes.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let now = app.state.now();
    let lease = now + 3_000;
    let claimed = db
        .store
        .claim_due_access_codes(now + 60_000, 10, lease, "dead-instance")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let died = Instant::now();
    tokio::spawn(workers::run(
        app.state.app.clone(),
        Duration::from_millis(100),
        stop.clone(),
    ));
    while sim.world().locks.values().all(|l| l.pins.is_empty()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waited = died.elapsed();
    stop.cancel();
    waited
}

fn main() {
    // The vendors\' names parse from here on (rows read back name them).
    lockbridge_vendors::register();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Some(db) = TestDb::new(Backend::Postgres).await else {
            println!("PostgreSQL not reachable: skipped");
            return;
        };
        budget_check(&db).await;
        let codes = knob("BENCH_CODES", 400usize);
        let clients = knob("BENCH_CLIENTS", 24usize);
        let latency = knob("BENCH_LATENCY_MS", 50u64);
        for n in 1..=3 {
            let rate = throughput(n, codes, clients, latency).await;
            println!("code creation, {n} instance(s), {clients} clients, vendor latency {latency} ms: {rate:.0} codes/s");
        }
        let waited = resumed_after_death().await;
        println!("a dead instance's code set by another after {:.2} s (lease 3 s, worker interval 0.1 s)", waited.as_secs_f64());
    });
}
