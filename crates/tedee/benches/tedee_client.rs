//! Two measurements of the Tedee client against the Tedee simulator on loopback:
//!
//! 1. Overhead: `GET /my/lock/{id}/sync` through `TedeeClient` against the same request made
//!    with a bare `reqwest::Client` (which still reads the envelope), sequentially; the median
//!    of several rounds (target: at most 1.3×).
//! 2. Bulk provisioning under the rate limit: PINs created as fast as the client allows when
//!    the cloud grants `LIMIT` requests per `WINDOW` (Tedee: 700 per hour; scaled down here to
//!    keep the run short). Reports the rate reached as a share of the limit (target: at least
//!    95 %) and the 429s the cloud had to answer (target: none).
//!
//! Run: `cargo bench -p lockbridge-tedee --bench tedee_client`

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use lockbridge_sim::tedee::TedeeSim;
use lockbridge_tedee::{Config, NewPin, TedeeClient, check_pin};

const ROUNDS: usize = 5;
const CALLS: usize = 2000;
const LIMIT: u32 = 100;
const WINDOW: Duration = Duration::from_secs(2);
const WINDOWS: u32 = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let sim = TedeeSim::new(1);
    let demo = sim.seed_demo();
    {
        let mut w = sim.world();
        w.config.rate_limit = u32::MAX;
        w.config.pin_capacity = 1_000_000;
    }
    let server = sim.start_local().await.unwrap();
    let base = server.base_url();
    let lock = demo.lock_ids[0];
    let key = demo.personal_access_key.clone();

    // 1. Overhead.
    let client = TedeeClient::new(
        Config::personal_key(&key)
            .base_url(&base)
            .rate_limit(u32::MAX, Duration::from_secs(1)),
    );
    let bare = reqwest::Client::new();
    let url = format!("{base}/api/v37/my/lock/{lock}/sync");
    let auth = format!("PersonalKey {key}");
    let (mut ratios, mut client_us, mut bare_us) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..CALLS {
            let bytes = bare
                .get(&url)
                .header("authorization", &auth)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["success"], true);
        }
        let b = started.elapsed().as_secs_f64() / CALLS as f64;
        let started = Instant::now();
        for _ in 0..CALLS {
            client.sync_lock(lock).await.unwrap();
        }
        let c = started.elapsed().as_secs_f64() / CALLS as f64;
        ratios.push(c / b);
        client_us.push(c * 1e6);
        bare_us.push(b * 1e6);
    }
    println!(
        "sync_lock: client {:.1} µs, bare {:.1} µs per call; client/bare median {:.2}× (rounds: {})",
        median(client_us),
        median(bare_us),
        median(ratios.clone()),
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 2. Bulk provisioning at the cloud's limit.
    {
        let mut w = sim.world();
        w.config.rate_limit = LIMIT;
        w.config.rate_window_s = WINDOW.as_secs() as i64;
        w.throttled.clear();
    }
    let paced = TedeeClient::new(
        Config::personal_key(&key)
            .base_url(&base)
            .rate_limit(LIMIT, WINDOW),
    );
    let mut pins = HashSet::new();
    let mut n = 100_000u32;
    let total = (LIMIT * WINDOWS) as usize;
    let mut codes = Vec::with_capacity(total);
    while codes.len() < total {
        n += 7919;
        let pin = format!("{:06}", n % 1_000_000);
        if check_pin(&pin).is_ok() && pins.insert(pin.clone()) {
            codes.push(pin);
        }
    }
    let started = Instant::now();
    let mut sent = Vec::with_capacity(total);
    for (i, code) in codes.iter().enumerate() {
        paced
            .create_pin(lock, &NewPin::permanent(format!("bulk {i}"), code.as_str()))
            .await
            .unwrap();
        sent.push(started.elapsed());
    }
    let throttled: u32 = sim.world().throttled.values().sum();
    // The busiest stretch of one window's length, and the share of the limit used over the
    // windows the run spanned (the client sends a window's worth, then waits for the next).
    let busiest = (0..sent.len())
        .map(|i| {
            sent[i..]
                .iter()
                .take_while(|t| **t < sent[i] + WINDOW)
                .count()
        })
        .max()
        .unwrap_or(0);
    let spanned = (sent.last().unwrap().as_secs_f64() / WINDOW.as_secs_f64()).floor() + 1.0;
    let used = total as f64 / (spanned * f64::from(LIMIT));
    println!(
        "bulk provisioning: {total} PINs, limit {LIMIT} per {:?}: {spanned} windows used at {:.1} % of the limit; \
         busiest {:?} stretch {busiest} requests; 429s from the cloud: {throttled}",
        WINDOW,
        100.0 * used,
        WINDOW,
    );
    server.stop().await;
}
