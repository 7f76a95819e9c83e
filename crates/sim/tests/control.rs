//! The control routes every fake shares: reset, clock and faults, over HTTP.
#![allow(clippy::unwrap_used)]

use lockbridge_sim::Running;
use serde_json::{Value, json};

async fn check(server: Running, collection: &str) {
    let base = server.base_url();
    let http = reqwest::Client::new();
    let state = |path: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .get(format!("{base}/_sim/{path}"))
                .send()
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap()
        }
    };
    assert!(
        !state("state").await[collection]
            .as_object()
            .unwrap()
            .is_empty(),
        "{collection} seeded"
    );
    let r = http
        .post(format!("{base}/_sim/reset"))
        .json(&json!({"seed": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after = state("state").await;
    assert_eq!(after["seed"], 9);
    assert!(
        after[collection].as_object().unwrap().is_empty(),
        "{collection} emptied by reset"
    );

    let before = state("clock").await["now_ms"].as_i64().unwrap();
    let r = http
        .post(format!("{base}/_sim/clock"))
        .json(&json!({"advance_seconds": 3600}))
        .send()
        .await
        .unwrap();
    let moved: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(moved["offset_ms"], 3_600_000);
    assert!(moved["now_ms"].as_i64().unwrap() >= before + 3_600_000);

    let rule = json!({"route": "/nowhere", "http_status": 503, "count": 2});
    http.post(format!("{base}/_sim/faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(state("faults").await["rules"].as_array().unwrap().len(), 1);
    let r = http
        .delete(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        state("faults").await["rules"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // `/config` takes the fields given and keeps the others; a field it lacks is refused.
    let config = state("config").await;
    let (name, value) = config
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, v)| v.is_u64())
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .unwrap();
    let r = http
        .post(format!("{base}/_sim/config"))
        .json(&json!({ name.as_str(): value + 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut expected = config.clone();
    expected[name.as_str()] = json!(value + 1);
    assert_eq!(state("config").await, expected, "only {name} changed");
    let r = http
        .post(format!("{base}/_sim/config"))
        .json(&json!({"no_such_setting": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        state("config").await,
        expected,
        "a refused change changes nothing"
    );

    // `/seed` adds the demo account again and answers what to connect with.
    let r = http.post(format!("{base}/_sim/seed")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let seeded: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(seeded.as_object().is_some_and(|o| !o.is_empty()));
    assert!(
        !state("state").await[collection]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn every_fake_resets_moves_its_clock_and_takes_faults() {
    let ttlock = lockbridge_sim::ttlock::TtlockSim::new(1);
    ttlock.seed_demo();
    check(ttlock.start_local().await.unwrap(), "locks").await;
    let tuya = lockbridge_sim::tuya::TuyaSim::new(1);
    tuya.seed_demo();
    check(tuya.start_local().await.unwrap(), "devices").await;
    let tedee = lockbridge_sim::tedee::TedeeSim::new(1);
    tedee.seed_demo();
    check(tedee.start_local().await.unwrap(), "locks").await;
    let kii = lockbridge_sim::kii::KiiSim::new(1);
    kii.seed_demo();
    check(kii.start_local().await.unwrap(), "things").await;
}
