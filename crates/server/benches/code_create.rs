//! `POST /v1/locks/{id}/access-codes` against the in-process TTLock simulator: latency of the
//! request (p50, p99) and SQL statements per code, counting everything the create causes until
//! the code engine is idle again.
//!
//! `cargo bench -p lockbridge-server --bench code_create` (BENCH_CREATES, default 200 — a TTLock lock holds 250;
//! BENCH_BACKEND `sqlite`, `postgres` or both when unset). Each create is followed by a drain of
//! the engine, so the statement count of one create includes the engine's work for it (an idle
//! pass of the engine is measured once and subtracted).
//! `BENCH_SHOW=1 BENCH_CREATES=1` prints the statements themselves.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};

use lockbridge_app::engine;
use lockbridge_store::testing::{Backend, TestDb};
use serde_json::{Value, json};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn bench(backend: Backend, creates: usize, statements: &AtomicU64) {
    let Some(db) = TestDb::new(backend).await else {
        println!("{backend:?}: not reachable, skipped");
        return;
    };
    let svc = common::ttlock_service(&db, creates + 100).await;
    let (app, url, key, lock) = (&svc.app, &svc.url, &svc.key, &svc.lock);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Value| {
        http.request(method, format!("{url}{path}"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };

    // What a pass of the engine costs with nothing to do: subtracted from each create's count.
    let idle = statements.load(Ordering::Relaxed);
    engine::run_due_codes(&app.state).await.unwrap();
    let idle = statements.load(Ordering::Relaxed) - idle;
    let mut latencies = Vec::with_capacity(creates);
    let mut set_at_answer = 0;
    let before = statements.load(Ordering::Relaxed);
    for i in 0..creates {
        // Distinct PINs, none a run of one digit.
        let pin = format!("{}", 3_000_000 + i * 7_919);
        let body = json!({"name": format!("Guest {i}"), "code": pin,
            "starts_at": "2030-01-01T15:00:00Z", "ends_at": "2030-01-03T11:00:00Z"});
        let t = Instant::now();
        let r = call(
            reqwest::Method::POST,
            format!("/v1/locks/{lock}/access-codes"),
            body,
        )
        .await
        .unwrap();
        latencies.push(t.elapsed());
        assert_eq!(r.status(), 201, "create {i}");
        let v: Value = r.json().await.unwrap();
        set_at_answer += usize::from(v["status"] == "set");
        while engine::run_due_codes(&app.state).await.unwrap() > 0 {}
    }
    let total = statements.load(Ordering::Relaxed) - before - idle * creates as u64;
    let per_create = total as f64 / creates as f64;
    latencies.sort();
    println!(
        "{backend:?}: {creates} creates on one lock: POST p50 {:?}, p99 {:?}; {per_create:.1} SQL statements per create (request + engine, COMMIT included); {set_at_answer} answered `set`",
        pct(&latencies, 0.50),
        pct(&latencies, 0.99),
    );
    svc.stop.cancel();
}

fn main() {
    // The vendors\' names parse from here on (rows read back name them).
    lockbridge_vendors::register();
    let statements = common::count_statements();
    let creates = std::env::var("BENCH_CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let backend = std::env::var("BENCH_BACKEND").unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        if backend != "postgres" {
            bench(Backend::Sqlite, creates, &statements).await;
        }
        if backend != "sqlite" {
            bench(Backend::Postgres, creates, &statements).await;
        }
    });
}
