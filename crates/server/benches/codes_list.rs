//! `GET /v1/locks/{id}/access-codes` with 100,000 locks and 1,000,000 codes in the store (ten
//! per lock), on SQLite and on PostgreSQL: latency of one lock's codes for a single caller, at a
//! paced rate, and at 32 callers; and the process's resident memory once everything is stored
//! and served.
//!
//! Listing reads lockbridge's store; the vendor is asked for codes set outside lockbridge at
//! most once a minute per lock. The bench measures that steady state: every lock counts as read
//! from its vendor a moment ago. The load comes from this process over loopback, on the same
//! cores as the service.
//!
//! Run: `cargo bench -p lockbridge-server --bench codes_list`
//! (`BENCH_LOCKS` and `BENCH_CODES` change the sizes, `BENCH_SECONDS` each phase's length,
//! `BENCH_PACED_RATE` the paced rate, `BENCH_BACKEND=sqlite` or `postgres` runs one; PostgreSQL
//! is skipped when it cannot be reached.)

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{CONCURRENCY, knob, paced, rss_mb, saturate, seed_locks, summary};
use lockbridge_core::model::{AccessCode, CodeStatus, Lock};
use lockbridge_core::time::now_ms;
use lockbridge_server::{App, Settings};
use lockbridge_store::testing::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

fn code(lock: &Lock, n: u64, now: i64) -> AccessCode {
    AccessCode {
        name: Some(format!("Guest {n}")),
        starts_at: Some(now),
        ends_at: Some(now + 86_400_000),
        status: CodeStatus::Set,
        provider_id: Some((80_000_000 + n).to_string()),
        ..AccessCode::new(lock, format!("{:06}", (n * 7_919) % 1_000_000), now)
    }
}

async fn bench(backend: Backend, locks: u32, codes: u64, secs: f64, rate: f64) {
    let Some(db) = TestDb::new(backend).await else {
        println!("{backend:?}: skipped (database not reachable)");
        return;
    };
    let started = Instant::now();
    let (org, key) = seed_locks(&db, locks).await;
    let mut all = Vec::with_capacity(locks as usize);
    let mut after = None;
    loop {
        let page = db.store.list_locks(org, 1000, after).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        all.extend(page);
    }
    assert_eq!(all.len(), locks as usize);
    let locks_stored = started.elapsed();
    let now = now_ms();
    let per_lock = codes / u64::from(locks);
    let mut batch = Vec::with_capacity(5_000);
    for n in 0..codes {
        batch.push(code(
            &all[(n / per_lock.max(1)) as usize % all.len()],
            n,
            now,
        ));
        if batch.len() == batch.capacity() {
            db.store.insert_access_codes(&batch).await.unwrap();
            batch.clear();
        }
    }
    db.store.insert_access_codes(&batch).await.unwrap();
    println!(
        "{backend:?}: {locks} locks stored in {:.1} s, {codes} codes in {:.1} s more",
        locks_stored.as_secs_f64(),
        (started.elapsed() - locks_stored).as_secs_f64()
    );
    // Measured once the database has settled after the load (statistics, and on PostgreSQL
    // the vacuum autovacuum would otherwise run in the middle of the measurement).
    let settling = std::time::Instant::now();
    db.store.analyze().await.unwrap();
    println!(
        "{backend:?}: settled after the load in {:.1} s",
        settling.elapsed().as_secs_f64()
    );

    let app = App::new(db.store.clone(), Settings::default());
    for l in &all {
        app.state.code_reads.claim(l.id, true);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(app.serve(listener, stop.clone()));
    let urls: Arc<Vec<String>> = Arc::new(
        all.iter()
            .map(|l| format!("{base}/v1/locks/{}/access-codes", l.id))
            .collect(),
    );
    let check: serde_json::Value = reqwest::Client::new()
        .get(&urls[0])
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        check["data"].as_array().map(Vec::len),
        Some(per_lock.min(50) as usize),
        "{check}"
    );

    saturate(urls.clone(), &key, 4, 1.0).await; // warm-up
    let (_, one) = saturate(urls.clone(), &key, 1, secs).await;
    println!("{backend:?} 1 caller:              {}", summary(one));
    let at_rate = paced(urls.clone(), &key, rate, secs).await;
    println!(
        "{backend:?} paced at {rate:.0} req/s:    {}",
        summary(at_rate)
    );
    let (rps, many) = saturate(urls, &key, CONCURRENCY, secs).await;
    println!(
        "{backend:?} {CONCURRENCY} callers: {rps:>9.0} req/s, {}",
        summary(many)
    );
    if let Some(mb) = rss_mb() {
        println!(
            "{backend:?}: process resident memory {mb:.0} MB (service, database client and load generator together)"
        );
    }
    stop.cancel();
}

fn main() {
    // The vendors\' names parse from here on (rows read back name them).
    lockbridge_vendors::register();
    let locks: u32 = knob("BENCH_LOCKS", 100_000);
    let codes: u64 = knob("BENCH_CODES", 1_000_000);
    let secs: f64 = knob("BENCH_SECONDS", 5.0);
    let rate: f64 = knob("BENCH_PACED_RATE", 1000.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let only: String = knob("BENCH_BACKEND", String::new());
    rt.block_on(async {
        if only != "postgres" {
            bench(Backend::Sqlite, locks, codes, secs, rate).await;
        }
        if only != "sqlite" {
            bench(Backend::Postgres, locks, codes, secs, rate).await;
        }
    });
}
