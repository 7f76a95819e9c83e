//! What the Kii client adds to a call: `GET /api/apps/{app}/things/VENDOR_THING_ID:{id}`
//! through `KiiClient` (admin token held) against the same request made with a bare
//! `reqwest::Client` that reads the JSON, sequentially on loopback; the median of five rounds
//! after a warm-up round (target: at most 1.3×).
//!
//! Run: `cargo bench -p lockbridge-kii --bench kii_client`

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use lockbridge_kii::{Config, KiiClient, ThingRef};
use lockbridge_sim::kii::KiiSim;
use secrecy::ExposeSecret;

const ROUNDS: usize = 5;
const CALLS: usize = 2000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let sim = KiiSim::new(1);
    let demo = sim.seed_demo();
    let server = sim.start_local().await.unwrap();
    let base = server.base_url();
    let client = KiiClient::new(Config::new(&base, &demo.app_id, &demo.app_key))
        .with_admin(&demo.client_id, &demo.client_secret);
    let token = client
        .admin_token(None)
        .await
        .unwrap()
        .access_token
        .expose_secret()
        .to_owned();
    let vid = demo.thing_ids[0].clone();
    let thing = ThingRef::vendor(&vid);
    let url = format!(
        "{base}/api/apps/{}/things/VENDOR_THING_ID:{vid}",
        demo.app_id
    );
    let bare = reqwest::Client::new();
    let (mut ratios, mut client_us, mut bare_us) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let started = Instant::now();
        for _ in 0..CALLS {
            let bytes = bare
                .get(&url)
                .bearer_auth(&token)
                .header("X-Kii-AppID", &demo.app_id)
                .header("X-Kii-AppKey", &demo.app_key)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert!(v["_thingID"].is_string());
        }
        let b = started.elapsed().as_secs_f64() / CALLS as f64;
        let started = Instant::now();
        for _ in 0..CALLS {
            client.thing(&thing).await.unwrap();
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
        "thing by vendor id: client {:.1} µs, bare {:.1} µs per call; client/bare median {:.2}× (rounds: {})",
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
