//! What the Tuya client adds to a call: `GET /v1.0/devices/{id}` through `TuyaClient` against
//! the same signed request made with a bare `reqwest::Client` (which still signs, sends the
//! headers and reads the envelope), sequentially on loopback; the median of several rounds
//! (target: at most 1.3×).
//!
//! Run: `cargo bench -p lockbridge-tuya --bench tuya_client`

#![allow(clippy::unwrap_used)]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lockbridge_sim::tuya::TuyaSim;
use lockbridge_tuya::{Config, ExposeSecret, Region, TuyaClient, sign};

const ROUNDS: usize = 5;
const CALLS: usize = 2000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let sim = TuyaSim::new(1);
    let demo = sim.seed_demo();
    let server = sim.start_local().await.unwrap();
    let base = server.base_url();
    let lock = demo.lock_ids[0].clone();
    let client = TuyaClient::new(
        Config::new(Region::CentralEurope, &demo.access_id, &demo.access_secret).base_url(&base),
    );
    let token = client
        .connect()
        .await
        .unwrap()
        .access_token
        .expose_secret()
        .to_owned();
    let bare = reqwest::Client::new();
    let path = format!("/v1.0/devices/{lock}");
    let (mut ratios, mut client_us, mut bare_us) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0u64;
    // One round first to warm both sides up (connections, allocator); it is not counted.
    for round in 0..=ROUNDS {
        let started = Instant::now();
        for _ in 0..CALLS {
            n += 1;
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis()
                .to_string();
            let nonce = format!("bare-{n}");
            let sts = sign::string_to_sign("GET", b"", &[], &path);
            let signature = sign::sign(
                &demo.access_secret,
                &demo.access_id,
                &token,
                &t,
                &nonce,
                &sts,
            );
            let bytes = bare
                .get(format!("{base}{path}"))
                .header("client_id", &demo.access_id)
                .header("sign", signature)
                .header("sign_method", "HMAC-SHA256")
                .header("t", t)
                .header("nonce", nonce)
                .header("access_token", &token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["success"], true, "{v}");
        }
        let b = started.elapsed().as_secs_f64() / CALLS as f64;
        let started = Instant::now();
        for _ in 0..CALLS {
            client.device(&lock).await.unwrap();
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
        "device info: client {:.1} µs, bare {:.1} µs per call; client/bare median {:.2}× (rounds: {})",
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
