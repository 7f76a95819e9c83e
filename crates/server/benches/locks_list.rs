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
