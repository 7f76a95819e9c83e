//! What the SwitchBot client adds to a call: `GET /v1.1/devices/{id}/status` through
//! `SwitchBotClient` (signed, its envelope decoded) against the same request signed by hand and
//! made with a bare `reqwest::Client` that reads the JSON, sequentially on loopback against the
//! simulator; the median of five rounds after a warm-up round (target: at most 1.1×).
//!
//! Run: `cargo bench -p lockbridge-switchbot --bench switchbot_client`

#![allow(clippy::unwrap_used)]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lockbridge_sim::switchbot::SwitchBotSim;
use lockbridge_switchbot::{Config, SwitchBotClient, sign};

const ROUNDS: usize = 5;
const CALLS: usize = 2000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let sim = SwitchBotSim::new(1);
    let demo = sim.seed_demo();
    sim.world().config.daily_limit = u64::MAX;
    let server = sim.start_local().await.unwrap();
    let base = server.base_url();
    let client =
        SwitchBotClient::new(Config::new(demo.token.clone(), demo.secret.clone()).base_url(&base));
    let id = demo.lock_ids[0].clone();
    let url = format!("{base}/v1.1/devices/{id}/status");
    let bare = reqwest::Client::new();
    let (mut ratios, mut client_us, mut bare_us) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let started = Instant::now();
        for _ in 0..CALLS {
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis()
                .to_string();
            let nonce = uuid::Uuid::new_v4().to_string();
            let bytes = bare
                .get(&url)
                .header("Authorization", &demo.token)
                .header("sign", sign(&demo.token, &demo.secret, &t, &nonce))
                .header("t", t)
                .header("nonce", nonce)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["statusCode"], 100);
        }
        let b = started.elapsed().as_secs_f64() / CALLS as f64;
        let started = Instant::now();
        for _ in 0..CALLS {
            client.lock_status(&id).await.unwrap();
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
        "lock status: client {:.1} µs, bare {:.1} µs per call; client/bare median {:.2}× (rounds: {})",
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
