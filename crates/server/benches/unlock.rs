//! The unlock path: `POST /v1/locks/{id}/unlock` through the service against the same unlock
//! sent straight to the TTLock simulator with a bare `reqwest` client, interleaved, in rounds;
//! medians per round, and the SQL statements one unlock costs. (The comparison with the Python
//! TTLock client, `ttlockio`, is `interop/unlock_timing.py`.)
//!
//! `cargo bench -p lockbridge-server --bench unlock` (BENCH_CALLS per round, default 50;
//! BENCH_BACKEND `sqlite`, `postgres` or both when unset). `BENCH_SHOW=1` prints the statements.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lockbridge_store::testing::{Backend, TestDb};
use lockbridge_ttlock::{Config, ExposeSecret, TtlockClient};
use serde_json::{Value, json};

const ROUNDS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn bench(backend: Backend, calls: usize, statements: &AtomicU64) {
    let Some(db) = TestDb::new(backend).await else {
        println!("{backend:?}: not reachable, skipped");
        return;
    };
    let svc = common::ttlock_service(&db, 250).await;
    let (url, key, lock, sim_lock, demo, base) = (
        &svc.url,
        &svc.key,
        &svc.lock,
        &svc.sim_lock,
        &svc.demo,
        &svc.sim_base,
    );
    let http = reqwest::Client::new();
    let call = |path: String, body: Value| {
        http.post(format!("{url}{path}"))
            .bearer_auth(key)
            .json(&body)
            .send()
    };

    // The bare side: a token of its own, then the unlock as TTLock's cloud takes it.
    let client = TtlockClient::new();
    let config = Config::new(&demo.client_id, &demo.client_secret).base_url(base);
    client
        .start(config, &demo.username, &demo.password)
        .await
        .unwrap();
    let token = client
        .valid_token()
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    let bare = reqwest::Client::new();
    let bare_unlock = || {
        let date = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            .to_string();
        let form = [
            ("clientId", demo.client_id.clone()),
            ("accessToken", token.clone()),
            ("lockId", sim_lock.clone()),
            ("date", date),
        ];
        let req = bare.post(format!("{base}/v3/lock/unlock")).form(&form);
        async move {
            let bytes = req.send().await.unwrap().bytes().await.unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert!(v.get("errcode").is_none_or(|c| c == 0), "{v}");
        }
    };
    let service_unlock = || async {
        let r = call(format!("/v1/locks/{lock}/unlock"), json!({}))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    };
    // Warm both sides (connections, caches).
    for _ in 0..20 {
        bare_unlock().await;
        service_unlock().await;
    }
    let before = statements.load(Ordering::Relaxed);
    service_unlock().await;
    let per_unlock = statements.load(Ordering::Relaxed) - before;
    println!("{backend:?}: {per_unlock} SQL statements per unlock (COMMIT included)");
    for round in 1..=ROUNDS {
        let (mut s, mut b) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
        for _ in 0..calls {
            let t = Instant::now();
            service_unlock().await;
            s.push(t.elapsed());
            let t = Instant::now();
            bare_unlock().await;
            b.push(t.elapsed());
        }
        let (s, b) = (median(s), median(b));
        println!(
            "  round {round}: through lockbridge {:.0} µs, bare reqwest to the simulator {:.0} µs: {:.2}× (+{:.0} µs)",
            s.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6,
            s.as_secs_f64() / b.as_secs_f64(),
            (s.as_secs_f64() - b.as_secs_f64()) * 1e6,
        );
    }
    svc.stop.cancel();
}

fn main() {
    lockbridge_vendors::register();
    let statements = common::count_statements();
    let calls = common::knob("BENCH_CALLS", 50usize);
    let backend = std::env::var("BENCH_BACKEND").unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        if backend != "postgres" {
            bench(Backend::Sqlite, calls, &statements).await;
        }
        if backend != "sqlite" {
            bench(Backend::Postgres, calls, &statements).await;
        }
    });
}
