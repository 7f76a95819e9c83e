//! What the service benchmarks share: an organisation with one connection and its locks, a
//! closed-loop and an open-loop load generator, percentiles and resident memory.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use lockbridge_core::ConnectionId;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::ids::OrgId;
use lockbridge_core::model::{Capabilities, Connection, ConnectionStatus, LockState, Role};
use lockbridge_core::provider::{DeviceLock, Devices};
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::now_ms;
use lockbridge_store::testing::TestDb;

pub const CONCURRENCY: usize = 32;

/// A whole-number setting from the environment.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An organisation, a member key (returned) and one TTLock connection with `locks` locks.
pub async fn seed_locks(db: &TestDb, locks: u32) -> (OrgId, String) {
    let s = &db.store;
    let org = s.create_org("Bench").await.unwrap().id;
    let (_, key) = s.create_api_key(org, "bench", Role::Member).await.unwrap();
    let now = now_ms();
    let conn = Connection {
        id: ConnectionId::new(),
        org_id: org,
        provider: lockbridge_vendors::TTLOCK,
        name: "bench".into(),
        base_url: None,
        status: ConnectionStatus::Active,
        credentials: Credentials::new(),
        token_expires_at: None,
        credentials_version: 1,
        last_sync_at: None,
        last_error: None,
        on_external_change: Default::default(),
        created_at: now,
        updated_at: now,
    };
    s.insert_connection(&conn).await.unwrap();
    let locks = (0..locks)
        .map(|i| DeviceLock {
            provider_id: (3_000_000 + i).to_string(),
            name: format!("Room {i:04}"),
            online: i % 7 != 0,
            reach_reported: true,
            state: LockState::Locked,
            battery: Some((i % 100) as u8),
            gateway: None,
            time_zone: None,
            utc_offset_minutes: None,
            capabilities: Capabilities {
                remote_unlock: true,
                access_codes: true,
                time_bound_codes: true,
                ..Default::default()
            },
            code_rules: CodeRules::ttlock(),
        })
        .collect();
    s.apply_sync(
        &conn,
        &Devices {
            locks,
            gateways: vec![],
        },
        &lockbridge_app::health::Health,
        lockbridge_core::time::now_ms(),
    )
    .await
    .unwrap();
    (org, key)
}

async fn get(client: &reqwest::Client, url: &str, key: &str) {
    let r = client.get(url).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
}

/// Closed loop: `callers` callers as fast as they can for `secs`, each going through `urls`
/// from its own starting point; answers requests per second and every latency.
pub async fn saturate(
    urls: Arc<Vec<String>>,
    key: &str,
    callers: usize,
    secs: f64,
) -> (f64, Vec<Duration>) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let (client, urls, key) = (client.clone(), urls.clone(), key.to_owned());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = c * 7919;
                while Instant::now() < deadline {
                    i = i.wrapping_add(104_729);
                    let t = Instant::now();
                    get(&client, &urls[i % urls.len()], &key).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (all.len() as f64 / started.elapsed().as_secs_f64(), all)
}

/// Open loop: requests started at `rate` per second for `secs` by a few pacing tasks; latency
/// counts from the planned start, so a slow answer cannot hide the ones queued behind it.
pub async fn paced(urls: Arc<Vec<String>>, key: &str, rate: f64, secs: f64) -> Vec<Duration> {
    const PACERS: usize = 4;
    let client = reqwest::Client::new();
    let per = rate / PACERS as f64;
    let total = (per * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / per);
    let start = Instant::now() + Duration::from_millis(10);
    let pacers: Vec<_> = (0..PACERS)
        .map(|p| {
            let (client, urls, key) = (client.clone(), urls.clone(), key.to_owned());
            tokio::spawn(async move {
                let offset = interval.mul_f64(p as f64 / PACERS as f64);
                let mut inflight = Vec::with_capacity(total);
                for i in 0..total {
                    let planned = start + offset + interval * i as u32;
                    tokio::time::sleep_until(planned.into()).await;
                    let url = urls[(i * PACERS + p).wrapping_mul(104_729) % urls.len()].clone();
                    let (client, key) = (client.clone(), key.clone());
                    inflight.push(tokio::spawn(async move {
                        get(&client, &url, &key).await;
                        planned.elapsed()
                    }));
                }
                let mut lat = Vec::with_capacity(total);
                for t in inflight {
                    lat.push(t.await.unwrap());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for p in pacers {
        all.extend(p.await.unwrap());
    }
    all
}

/// The `p` quantile of sorted latencies, in milliseconds.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// "p50 x ms, p99 y ms" of unsorted latencies.
pub fn summary(mut lat: Vec<Duration>) -> String {
    lat.sort();
    format!(
        "p50 {:.2} ms, p99 {:.2} ms",
        pct(&lat, 0.50),
        pct(&lat, 0.99)
    )
}

/// Resident memory of this process in MB (Linux), `None` elsewhere.
pub fn rss_mb() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / 1_048_576.0)
}

/// The service on a free port with a new organisation: the app, its URL, an admin key and the
/// token that stops it.
pub async fn serve_with_admin(
    db: &TestDb,
    settings: lockbridge_server::Settings,
) -> (
    lockbridge_server::App,
    String,
    String,
    tokio_util::sync::CancellationToken,
) {
    let app = lockbridge_server::App::new(db.store.clone(), settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(app.clone().serve(listener, stop.clone()));
    let org = db.store.create_org("Bench").await.unwrap().id;
    let (_, key) = db
        .store
        .create_api_key(org, "bench", Role::Admin)
        .await
        .unwrap();
    (app, url, key, stop)
}

/// Counts the statements sqlx runs (one `sqlx::query` event each); with `show`, prints each
/// one's summary. Installed as a tracing layer at DEBUG by [`count_statements`].
pub struct Statements(pub Arc<std::sync::atomic::AtomicU64>, pub bool);

/// Installs [`Statements`] for the whole process (`BENCH_SHOW=1` prints each statement);
/// answers the counter.
pub fn count_statements() -> Arc<std::sync::atomic::AtomicU64> {
    use tracing_subscriber::layer::SubscriberExt;
    let statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(Statements(
            statements.clone(),
            std::env::var("BENCH_SHOW").is_ok(),
        ))
        // Only sqlx's statements: other crates' debug events would cost the service time
        // that a service logging at its usual level does not spend.
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::DEBUG),
        );
    tracing::subscriber::set_global_default(subscriber).unwrap();
    statements
}

/// A statement's text and how long it took, as sqlx logs them.
struct Summary(String, String);

impl tracing::field::Visit for Summary {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "db.statement" => self.0 = format!("{value:?}"),
            "elapsed" => self.1 = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statements {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if e.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if self.1 {
                let mut s = Summary(String::new(), String::new());
                e.record(&mut s);
                println!("  sql ({}): {}", s.1, s.0);
            }
        }
    }
}

/// The service and its TTLock simulator (the demo account, connected and synced): what the
/// request benchmarks run against, and the `Front door` lock's id in lockbridge and in the
/// simulator.
pub struct TtlockService {
    pub app: lockbridge_server::App,
    pub url: String,
    pub key: String,
    pub stop: tokio_util::sync::CancellationToken,
    pub sim: lockbridge_sim::ttlock::TtlockSim,
    pub demo: lockbridge_sim::ttlock::DemoAccount,
    pub sim_base: String,
    pub lock: String,
    pub sim_lock: String,
    _server: lockbridge_sim::Running,
}

/// [`TtlockService`] on `db`, the simulator's locks holding `capacity` codes each.
pub async fn ttlock_service(db: &TestDb, capacity: usize) -> TtlockService {
    let sim = lockbridge_sim::ttlock::TtlockSim::new(7);
    let demo = sim.seed_demo();
    sim.world().config.capacity = capacity;
    let server = sim.start_local().await.unwrap();
    let sim_base = server.base_url();
    let mut settings = lockbridge_server::Settings {
        worker_interval: Duration::from_secs(3600),
        ..lockbridge_server::Settings::default()
    };
    settings
        .base_urls
        .insert(lockbridge_vendors::TTLOCK, sim_base.clone());
    let (app, url, key, stop) = serve_with_admin(db, settings).await;
    let http = reqwest::Client::new();
    let conn: serde_json::Value = http
        .post(format!("{url}/v1/connections"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"provider": "ttlock", "credentials": {
            "client_id": demo.client_id, "client_secret": demo.client_secret,
            "username": demo.username, "password": demo.password}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conn = conn["id"].as_str().unwrap();
    http.post(format!("{url}/v1/connections/{conn}/sync"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let locks: serde_json::Value = http
        .get(format!("{url}/v1/locks"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let front = locks["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "Front door")
        .unwrap();
    TtlockService {
        app,
        url,
        key,
        stop,
        sim,
        demo,
        sim_base,
        lock: front["id"].as_str().unwrap().to_owned(),
        sim_lock: front["provider_id"].as_str().unwrap().to_owned(),
        _server: server,
    }
}
