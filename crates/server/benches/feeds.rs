//! Calendar feeds at scale: `BENCH_FEEDS` properties (default 1,000), one feed each, served by a
//! local server that answers most of them 304 (the feed unchanged since the ETag the service
//! holds) and the rest 200 with a small export of blocked dates. The figure is how long the
//! calendar worker takes to read every feed once, pass after pass as the workers run, against
//! the default interval of ten minutes it must fit in; and the feed server's requests (one per
//! feed). Both stores. `cargo bench -p lockbridge-server --bench feeds`

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use common::knob;
use lockbridge_core::ids::{CalendarId, PropertyId};
use lockbridge_core::stays::{Calendar, CodeSource, Property};
use lockbridge_server::{App, Settings};
use lockbridge_store::testing::{Backend, TestDb};

const ETAG: &str = "\"unchanged\"";

/// Serves `/f/{n}.ics`: 304 to a request naming [`ETAG`], else one blocked range.
async fn feed_server(requests: Arc<AtomicU64>) -> String {
    let app = axum::Router::new().route(
        "/f/{n}",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let requests = requests.clone();
            async move {
                requests.fetch_add(1, Ordering::Relaxed);
                if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(ETAG) {
                    return (axum::http::StatusCode::NOT_MODIFIED, [("etag", ETAG)], String::new());
                }
                let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20990301\r\n\
                            DTEND;VALUE=DATE:20990304\r\nUID:blocked-1\r\nSUMMARY:Not available\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
                (axum::http::StatusCode::OK, [("etag", ETAG)], body.to_owned())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn run(backend: Backend, feeds: usize) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (org, _) = common::seed_locks(&db, 1).await;
    let lock = db.store.list_locks(org, 1, None).await.unwrap()[0].id;
    let requests = Arc::new(AtomicU64::new(0));
    let base = feed_server(requests.clone()).await;
    let settings = Settings {
        webhook_allow_private: true,
        ..Settings::default()
    };
    let app = App::new(db.store.clone(), settings);
    let now = app.state.now();
    for i in 0..feeds {
        let p = Property {
            id: PropertyId::new(),
            org_id: org,
            name: format!("Flat {i}"),
            lock_ids: vec![lock],
            time_zone: "Europe/Lisbon".into(),
            check_in_time: "15:00".into(),
            check_out_time: "11:00".into(),
            code_source: CodeSource::Generated,
            early_minutes: 0,
            late_minutes: 0,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        db.store.insert_property(&p).await.unwrap();
        // Nine in ten were read before and are unchanged since.
        let etag = (i % 10 != 0).then(|| ETAG.to_owned());
        let cal = Calendar {
            id: CalendarId::new(),
            org_id: org,
            property_id: p.id,
            url: format!("{base}/f/{i}.ics"),
            name: None,
            etag,
            last_modified: None,
            last_error: None,
            last_read_at: None,
            next_read_at: now,
            created_at: now,
        };
        db.store.insert_calendar(&cal).await.unwrap();
    }
    let started = Instant::now();
    let mut passes = 0;
    let mut read = 0;
    while read < feeds {
        read += lockbridge_app::stays::calendars::run_due(&app.state)
            .await
            .unwrap();
        passes += 1;
    }
    let took = started.elapsed();
    println!(
        "{backend:?}: {feeds} feeds (9 in 10 unchanged) read in {:.2} s over {passes} passes ({:.2} % of a 10-minute interval); {} requests to the feed server",
        took.as_secs_f64(),
        took.as_secs_f64() / 6.0,
        requests.load(Ordering::Relaxed)
    );
}

fn main() {
    lockbridge_vendors::register();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let feeds = knob("BENCH_FEEDS", 1_000);
    rt.block_on(async {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            run(backend, feeds).await;
        }
    });
}
