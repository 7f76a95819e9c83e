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
//!
//! From outside: `BENCH_WRK=1 cargo bench -p lockbridge-server --bench locks_list` loads the
//! service from another process instead, `wrk` (Debian's package) at 64 connections for
//! `BENCH_SECONDS` on `/healthz`, on the lock list (50 and 200 a page) and on a one-lock page
//! (the same work but for the answer's size), and prints each one's share of the `/healthz`
//! ceiling. Without `wrk` that mode says so and measures nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{CONCURRENCY, knob, paced, pct, rss_mb, saturate, seed_locks};
use lockbridge_server::{App, Settings};
use lockbridge_store::testing::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

fn lock_count() -> u32 {
    knob("BENCH_LOCKS", 1000)
}

async fn seed(db: &TestDb) -> String {
    seed_locks(db, lock_count()).await.1
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
    if std::env::var("BENCH_WRK").is_ok() {
        from_outside(backend, &base, &key, secs).await;
        stop.cancel();
        return;
    }
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
        let urls = Arc::new(vec![url]);
        saturate(urls.clone(), &key, CONCURRENCY, 1.0).await; // warm-up
        let (rps, mut lat) = saturate(urls.clone(), &key, CONCURRENCY, secs as f64).await;
        lat.sort();
        let mut half = paced(urls, &key, paced_rate, secs as f64).await;
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

/// One `wrk` run at 64 connections: requests per second and the p99 it printed.
async fn wrk(url: &str, key: &str, secs: u64) -> Option<(f64, String)> {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args(["-t2", "-c64", &format!("-d{secs}s"), "--latency", "-H"])
        .arg(format!("Authorization: Bearer {key}"))
        .arg(url);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
    };
    let rps = field("Requests/sec:")?.parse().ok()?;
    Some((rps, field("99%")?))
}

/// `/healthz` and the lock list loaded by `wrk` from another process.
async fn from_outside(backend: Backend, base: &str, key: &str, secs: u64) {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("{backend:?}: SKIPPED — wrk is not installed (Debian: apt-get install wrk)");
        return;
    }
    let paths = [
        "/healthz",
        "/v1/locks",
        "/v1/locks?limit=200",
        "/v1/locks?limit=1",
    ];
    // Warm-up: the list loaded, connections made.
    wrk(&format!("{base}{}", paths[1]), key, 1).await;
    let mut ceiling = None;
    for path in paths {
        let Some((rps, p99)) = wrk(&format!("{base}{path}"), key, secs).await else {
            println!("{backend:?}: wrk gave no figures for {path}");
            continue;
        };
        let share = ceiling.map_or(String::new(), |c: f64| {
            format!(", {:.0} % of /healthz", rps / c * 100.0)
        });
        println!("{backend:?} {path:<20} {rps:>9.0} req/s, p99 {p99}{share}");
        ceiling.get_or_insert(rps);
    }
}

fn main() {
    // The vendors\' names parse from here on (rows read back name them).
    lockbridge_vendors::register();
    let secs: u64 = knob("BENCH_SECONDS", 5);
    // Half the 10,000 req/s target.
    let rate: f64 = knob("BENCH_PACED_RATE", 5000.0);
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
    let t = Instant::now();
    for _ in 0..500 {
        db.store.list_locks(k.org_id, 51, None).await.unwrap();
    }
    let per = t.elapsed() / 500;
    let locks = db.store.list_locks(k.org_id, 51, None).await.unwrap();
    let t = Instant::now();
    for _ in 0..500 {
        let views: Vec<lockbridge_api::Lock> = locks.iter().map(Into::into).collect();
        serde_json::to_vec(&views).unwrap();
    }
    println!(
        "{backend:?}: list_locks(51) {per:?} per call; serialise {:?}",
        t.elapsed() / 500
    );
}
