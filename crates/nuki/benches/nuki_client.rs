//! What the Nuki client adds to a call: `GET /smartlock/{id}` through `NukiClient` against the
//! same request made with a bare `reqwest::Client` that reads the JSON, sequentially on
//! loopback against the simulator; the median of five rounds after a warm-up round (target: at
//! most 1.1×).
//!
//! Run: `cargo bench -p lockbridge-nuki --bench nuki_client`

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use lockbridge_nuki::{Config, NukiClient};
use lockbridge_sim::nuki::NukiSim;

const ROUNDS: usize = 5;
const CALLS: usize = 2000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let sim = NukiSim::new(1);
    let demo = sim.seed_demo();
    let server = sim.start_local().await.unwrap();
    let base = server.base_url();
    let client = NukiClient::new(Config::new(demo.api_token.clone()).base_url(&base));
    let id = demo.lock_ids[0];
    let url = format!("{base}/smartlock/{id}");
    let bare = reqwest::Client::new();
    let (mut ratios, mut client_us, mut bare_us) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let started = Instant::now();
        for _ in 0..CALLS {
            let bytes = bare
                .get(&url)
                .bearer_auth(&demo.api_token)
                .header("Accept", "application/json")
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert!(v["smartlockId"].is_i64());
        }
        let b = started.elapsed().as_secs_f64() / CALLS as f64;
        let started = Instant::now();
        for _ in 0..CALLS {
            client.smartlock(id).await.unwrap();
        }
        let c = started.elapsed().as_secs_f64() / CALLS as f64;
        if round == 0 {
            continue;
        }
        ratios.push(c / b);
        client_us.push(c * 1e6);
        bare_us.push(b * 1e6);
    }
    println!(
        "smartlock by id: client {:.1} µs, bare {:.1} µs per call; client/bare median {:.2}× (rounds: {})",
        median(client_us),
        median(bare_us),
        median(ratios.clone()),
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    server.stop().await;
}
