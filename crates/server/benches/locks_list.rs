//! `GET /v1/locks` with 1,000 locks in the store, on SQLite and on PostgreSQL: requests per
//! second at a fixed concurrency, then p50/p99 latency at 5,000 requests per second (half the
//! 10,000 req/s target; paced, open loop).
//! The load comes from this process over loopback, so it shares the machine's cores with the
//! service: the figures are a floor.
//!
//! Run: `cargo bench -p lockbridge-server --bench locks_list`
//! (`BENCH_SECONDS=10` lengthens each phase, `BENCH_PACED_RATE` changes the paced rate,
//! `BENCH_PATH=/healthz` measures one other path, `BENCH_LOCKS=100000` stores that many locks
//! and reports the process's resident memory once the lock list is loaded; PostgreSQL is
//! skipped when it cannot be reached.)

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use lockbridge_core::ConnectionId;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::model::{
    Capabilities, Connection, ConnectionStatus, LockState, Provider, Role,
};
use lockbridge_core::provider::{DeviceLock, Devices};
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::now_ms;
use lockbridge_server::{App, Settings};
use lockbridge_store::testing::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

const CONCURRENCY: usize = 32;

async fn seed(db: &TestDb) -> String {
    let s = &db.store;
    let org = s.create_org("Bench").await.unwrap().id;
    let (_, key) = s.create_api_key(org, "bench", Role::Member).await.unwrap();
    let now = now_ms();
    let conn = Connection {
        id: ConnectionId::new(),
        org_id: org,
        provider: Provider::Ttlock,
        name: "bench".into(),
        base_url: None,
        status: ConnectionStatus::Active,
        credentials: Credentials::new(),
        token_expires_at: None,
        credentials_version: 1,
        last_sync_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    s.insert_connection(&conn).await.unwrap();
    let locks = (0..lock_count())
        .map(|i| DeviceLock {
            provider_id: (3_000_000 + i).to_string(),
            name: format!("Room {i:04}"),
            online: i % 7 != 0,
            state: LockState::Locked,
            battery: Some((i % 100) as u8),
            gateway: None,
            time_zone: None,
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
    )
    .await
    .unwrap();
    key
}

/// Closed loop: `CONCURRENCY` callers as fast as they can for `secs`.
async fn saturate(url: &str, key: &str, secs: u64) -> (f64, Vec<Duration>) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, key) = (client.clone(), url.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = client.get(&url).bearer_auth(&key).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    r.bytes().await.unwrap();
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
async fn paced(url: &str, key: &str, rate: f64, secs: u64) -> Vec<Duration> {
    const PACERS: usize = 4;
    let client = reqwest::Client::new();
    let per = rate / PACERS as f64;
    let total = (per * secs as f64) as usize;
    let interval = Duration::from_secs_f64(1.0 / per);
    let start = Instant::now() + Duration::from_millis(10);
    let pacers: Vec<_> = (0..PACERS)
        .map(|p| {
            let (client, url, key) = (client.clone(), url.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let offset = interval.mul_f64(p as f64 / PACERS as f64);
                let mut inflight = Vec::with_capacity(total);
                for i in 0..total {
                    let planned = start + offset + interval * i as u32;
                    tokio::time::sleep_until(planned.into()).await;
                    let (client, url, key) = (client.clone(), url.clone(), key.clone());
                    inflight.push(tokio::spawn(async move {
                        let r = client.get(&url).bearer_auth(&key).send().await.unwrap();
                        r.bytes().await.unwrap();
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

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn lock_count() -> u32 {
    std::env::var("BENCH_LOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Resident memory of this process in MB (Linux), `None` elsewhere.
fn rss_mb() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / 1_048_576.0)
}

async fn bench(backend: Backend, secs: u64, paced_rate: f64) {
    let Some(db) = TestDb::new(backend).await else {
        println!("{backend:?}: skipped (database not reachable)");
        return;
    };
    let seeding = Instant::now();
    let before = rss_mb();
    let key = seed(&db).await;
    let seeded = seeding.elapsed();
    let app = App::new(db.store.clone(), Settings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(app.serve(listener, stop.clone()));
    let extra = std::env::var("BENCH_PATH").ok();
    let mut paths = vec![
        ("default page (50)".to_owned(), "/v1/locks".to_owned()),
        ("limit=200".to_owned(), "/v1/locks?limit=200".to_owned()),
    ];
    if let Some(p) = extra {
        paths = vec![(p.clone(), p)];
    }
    for (label, path) in paths {
        let url = format!("{base}{path}");
        let check: serde_json::Value = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let (Some(before), Some(after)) = (before, rss_mb()) {
            println!(
                "{backend:?}: {} locks stored in {:.1} s; process resident memory {before:.0} MB before, {after:.0} MB with the list loaded (service, database client and load generator together)",
                lock_count(),
                seeded.as_secs_f64()
            );
        }
        let want = if path.contains("limit=200") { 200 } else { 50 };
        assert_eq!(
            check["data"].as_array().map(Vec::len),
            Some(want),
            "a full page"
        );
        saturate(&url, &key, 1).await; // warm-up
        let (rps, mut lat) = saturate(&url, &key, secs).await;
        lat.sort();
        let mut half = paced(&url, &key, paced_rate, secs).await;
        half.sort();
        println!(
            "{backend:?} {label:<18} {rps:>9.0} req/s at {CONCURRENCY} callers (p50 {:.2} ms, p99 {:.2} ms); paced at {paced_rate:.0} req/s: p50 {:.2} ms, p99 {:.2} ms",
            pct(&lat, 0.50),
            pct(&lat, 0.99),
            pct(&half, 0.50),
            pct(&half, 0.99),
        );
    }
    stop.cancel();
}

fn main() {
    let secs = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    // Half the 10,000 req/s target.
    let rate: f64 = std::env::var("BENCH_PACED_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if std::env::var("BENCH_PROBE").is_ok() {
            probe_store(Backend::Sqlite).await;
            probe_store(Backend::Postgres).await;
            return;
        }
        bench(Backend::Sqlite, secs, rate).await;
        bench(Backend::Postgres, secs, rate).await;
    });
}

#[allow(dead_code)]
pub async fn probe_store(backend: Backend) {
    let db = TestDb::new(backend).await.unwrap();
    let key = seed(&db).await;
    let k = db.store.api_key_by_secret(&key).await.unwrap().unwrap();
    let f = lockbridge_store::LockFilter::default();
    let t = Instant::now();
    for _ in 0..500 {
        db.store.list_locks(k.org_id, &f, 51, None).await.unwrap();
    }
    let per = t.elapsed() / 500;
    let locks = db.store.list_locks(k.org_id, &f, 51, None).await.unwrap();
    let t = Instant::now();
    for _ in 0..500 {
        serde_json::to_vec(&locks).unwrap();
    }
    println!(
        "{backend:?}: list_locks(51) {per:?} per call; serialise {:?}",
        t.elapsed() / 500
    );
}
