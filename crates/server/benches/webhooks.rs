//! Webhook delivery and the event log.
//!
//! 1. Throughput: `BENCH_DELIVERIES` (5,000) events already recorded, sent to a local receiver by
//!    the delivery worker of one instance, to one endpoint and spread over ten.
//! 2. Latency: events recorded at `BENCH_RATE` (200) per second for 10 s while the instance's
//!    delivery loop runs as in `serve`; from the commit of each event to its arrival.
//! 3. The event log: `BENCH_EVENTS` (1,000,000) events over 999 locks stored; p50/p99 of a
//!    filtered page (`type=access_code.*&lock_id=…`, 50 rows) and of the organisation's newest
//!    page, 1,000 queries each.
//!
//! `cargo bench -p lockbridge-server --bench webhooks` (BENCH_BACKEND `sqlite`, `postgres` or
//! both when unset).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use common::knob;
use lockbridge_app::webhooks;
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{AccessCodeId, LockId, OrgId, WebhookId};
use lockbridge_core::model::Role;
use lockbridge_core::time::now_ms;
use lockbridge_core::webhooks::Webhook;
use lockbridge_server::{App, Settings};
use lockbridge_store::EventFilter;
use lockbridge_store::testing::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

/// Arrival time of each event id.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move |h: HeaderMap| {
        let seen = seen.clone();
        async move {
            let id = h["webhook-id"].to_str().unwrap().to_owned();
            seen.lock().unwrap().insert(id, Instant::now());
            axum::http::StatusCode::NO_CONTENT
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, arrivals)
}

async fn endpoint(db: &TestDb, org: OrgId, url: &str) -> WebhookId {
    let now = now_ms();
    let w = Webhook {
        id: WebhookId::new(),
        org_id: org,
        url: url.to_owned(),
        event_types: vec![],
        description: None,
        enabled: true,
        format: Default::default(),
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    db.store
        .insert_webhook(&w, &lockbridge_core::webhooks::new_secret())
        .await
        .unwrap();
    w.id
}

fn settings() -> Settings {
    Settings {
        worker_interval: Duration::from_secs(3600),
        webhook_allow_private: true,
        ..Settings::default()
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn throughput(backend: Backend, endpoints: usize, n: usize) {
    let db = TestDb::new(backend).await.unwrap();
    let org = db.store.create_org("Bench").await.unwrap().id;
    let (url, arrivals) = receiver().await;
    for _ in 0..endpoints {
        endpoint(&db, org, &url).await;
    }
    let per = n / endpoints;
    let events: Vec<Event> = (0..per)
        .map(|_| Event::new(org, EventType::LockUnlocked, now_ms()))
        .collect();
    for chunk in events.chunks(1000) {
        db.store.record_events(chunk).await.unwrap();
    }
    let app = App::new(db.store.clone(), settings());
    let t = Instant::now();
    let mut sent = 0;
    loop {
        match webhooks::deliver_due(&app.state).await.unwrap() {
            0 => break,
            k => sent += k,
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(sent, per * endpoints);
    assert_eq!(arrivals.lock().unwrap().len(), per, "one id per event");
    println!(
        "{backend:?}: {sent} deliveries to {endpoints} endpoint(s) in {secs:.2} s: {:.0}/s",
        sent as f64 / secs
    );
}

async fn latency(backend: Backend, rate: f64) {
    let db = TestDb::new(backend).await.unwrap();
    let org = db.store.create_org("Bench").await.unwrap().id;
    let (url, arrivals) = receiver().await;
    endpoint(&db, org, &url).await;
    let app = App::new(db.store.clone(), settings());
    let stop = CancellationToken::new();
    tokio::spawn(lockbridge_app::workers::run_webhooks(
        app.state.app.clone(),
        stop.clone(),
    ));
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut recorded = HashMap::new();
    let mut tick = tokio::time::interval(every);
    for _ in 0..(rate * 10.0) as usize {
        tick.tick().await;
        let e = Event::new(org, EventType::LockUnlocked, now_ms());
        db.store
            .record_events(std::slice::from_ref(&e))
            .await
            .unwrap();
        recorded.insert(e.id.to_string(), Instant::now());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().unwrap().len() < recorded.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    let arrived = arrivals.lock().unwrap().clone();
    let mut lat: Vec<Duration> = recorded
        .iter()
        .filter_map(|(id, at)| {
            arrived
                .get(id)
                .map(|got| got.saturating_duration_since(*at))
        })
        .collect();
    lat.sort();
    println!(
        "{backend:?}: {} events at {rate}/s: commit → arrival p50 {:?}, p99 {:?}, max {:?} ({} lost)",
        recorded.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().unwrap(),
        recorded.len() - lat.len()
    );
}

async fn event_log(backend: Backend, n: usize) {
    let db = TestDb::new(backend).await.unwrap();
    let org = db.store.create_org("Bench").await.unwrap().id;
    let (_, _) = db
        .store
        .create_api_key(org, "bench", Role::Admin)
        .await
        .unwrap();
    let locks: Vec<LockId> = (0..999).map(|_| LockId::new()).collect();
    let kinds = [
        EventType::CodeSet,
        EventType::LockUnlocked,
        EventType::LockLocked,
        EventType::CodeRemoved,
    ];
    let t = Instant::now();
    let base = now_ms() - n as i64;
    for start in (0..n).step_by(10_000) {
        let batch: Vec<Event> = (start..(start + 10_000).min(n))
            .map(|i| {
                let e = Event::new(org, kinds[i % 4], base + i as i64).lock(locks[i % locks.len()]);
                if i % 4 == 0 || i % 4 == 3 {
                    e.code(AccessCodeId::new(), locks[i % locks.len()])
                } else {
                    e
                }
            })
            .collect();
        db.store.record_events(&batch).await.unwrap();
    }
    let load = t.elapsed();
    // Statistics as autovacuum keeps them on a live database.
    db.store.analyze().await.unwrap();
    let mut filtered = Vec::new();
    let mut newest = Vec::new();
    for i in 0..1000 {
        let f = EventFilter {
            types: vec!["access_code.*".into()],
            lock_id: Some(locks[i % locks.len()]),
            ..Default::default()
        };
        let t = Instant::now();
        let page = db.store.list_events(org, &f, 51).await.unwrap();
        filtered.push(t.elapsed());
        assert!(!page.is_empty());
        let t = Instant::now();
        db.store
            .list_events(org, &EventFilter::default(), 51)
            .await
            .unwrap();
        newest.push(t.elapsed());
    }
    filtered.sort();
    newest.sort();
    println!(
        "{backend:?}: {n} events stored in {load:.1?}; filtered page p50 {:?} p99 {:?}; newest page p50 {:?} p99 {:?}",
        pct(&filtered, 0.5),
        pct(&filtered, 0.99),
        pct(&newest, 0.5),
        pct(&newest, 0.99),
    );
}

fn main() {
    // The vendors\' names parse from here on (rows read back name them).
    lockbridge_vendors::register();
    let deliveries = knob("BENCH_DELIVERIES", 5_000usize);
    let rate = knob("BENCH_RATE", 200.0f64);
    let events = knob("BENCH_EVENTS", 1_000_000usize);
    let backend = std::env::var("BENCH_BACKEND").unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for b in [Backend::Sqlite, Backend::Postgres] {
            let name = format!("{b:?}").to_lowercase();
            if !backend.is_empty() && backend != name {
                continue;
            }
            if TestDb::new(b).await.is_none() {
                println!("{b:?}: not reachable, skipped");
                continue;
            }
            throughput(b, 1, deliveries).await;
            throughput(b, 10, deliveries).await;
            latency(b, rate).await;
            event_log(b, events).await;
        }
    });
}
