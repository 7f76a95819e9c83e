//! The TTLock fake at the wire level: locks, gateways, records, and the control API.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

use serde_json::{Value, json};

#[tokio::test]
async fn unlock_lock_state_battery_and_records() {
    let f = Fixture::new().await;
    let front = f.lock(0);
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &front)]).await),
        0
    );
    assert_eq!(
        f.call("/v3/lock/queryOpenState", &[("lockId", &front)])
            .await,
        json!({"state": 1})
    );
    assert_eq!(
        errcode(&f.call("/v3/lock/lock", &[("lockId", &front)]).await),
        0
    );
    assert_eq!(
        f.call("/v3/lock/queryOpenState", &[("lockId", &front)])
            .await,
        json!({"state": 0})
    );
    assert_eq!(
        f.call("/v3/lock/queryElectricQuantity", &[("lockId", &front)])
            .await,
        json!({"electricQuantity": 87})
    );
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &f.lock(4))]).await),
        -2012
    );

    let recs = f
        .call(
            "/v3/lockRecord/list",
            &[("lockId", &front), ("pageNo", "1"), ("pageSize", "20")],
        )
        .await;
    let list = recs["list"].as_array().unwrap();
    assert_eq!(
        recs["total"], 4,
        "two keypad entries from the demo, unlock, lock"
    );
    assert_eq!(list[0]["recordType"], 11, "newest first");
    assert_eq!(list[1]["recordType"], 12);
    assert_eq!(list[3]["keyboardPwd"], "482913");
    assert_eq!(list[3]["username"], "Cleaner");
    let failed = f
        .call(
            "/v3/lockRecord/list",
            &[("lockId", &front), ("searchStr", "111111")],
        )
        .await;
    assert_eq!(failed["list"][0]["success"], 0);
}

#[tokio::test]
async fn a_gateway_carries_out_one_command_at_a_time() {
    let f = Fixture::new().await;
    f.sim.world().config.gateway_latency_ms = 2000;
    let (front, back) = (f.lock(0), f.lock(1));
    let (pa, pb) = ([("lockId", front.as_str())], [("lockId", back.as_str())]);
    let lobby = f.demo.gateway_ids[0];
    let (a, b) = tokio::join!(f.call("/v3/lock/unlock", &pa), async {
        // The second command goes out while the gateway carries out the first.
        while !f.sim.world().gateways[&lobby].busy {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        f.call("/v3/lock/unlock", &pb).await
    });
    assert_eq!((errcode(&a), errcode(&b)), (0, -3003), "{a} {b}");
    f.sim.world().config.gateway_latency_ms = 0;
    // Once the first command ends the gateway is free again.
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &back)]).await),
        0
    );
}

#[tokio::test]
async fn gateways_and_their_locks() {
    let f = Fixture::new().await;
    let gws = f
        .call(
            "/v3/gateway/list",
            &[("pageNo", "1"), ("pageSize", "20"), ("orderBy", "0")],
        )
        .await;
    assert_eq!(gws["total"], 2);
    assert_eq!(gws["list"][0]["gatewayName"], "Annex gateway");
    assert_eq!(gws["list"][0]["isOnline"], 0);
    assert_eq!(gws["list"][1]["lockNum"], 2);
    let lobby = f.demo.gateway_ids[0].to_string();
    let locks = f
        .call("/v3/gateway/listLock", &[("gatewayId", &lobby)])
        .await;
    assert_eq!(locks["list"].as_array().unwrap().len(), 2);
    assert!(locks.get("pageNo").is_none());
    let by_lock = f
        .call("/v3/gateway/listByLock", &[("lockId", &f.lock(0))])
        .await;
    assert_eq!(by_lock["list"][0]["gatewayId"].to_string(), lobby);
    assert_eq!(
        errcode(&f.call("/v3/gateway/listLock", &[("gatewayId", "1")]).await),
        -4037
    );
}

#[tokio::test]
async fn control_api_faults_clock_and_unknown_paths() {
    let f = Fixture::new().await;
    let ctl = |path: &str| format!("{}/_sim{path}", f.server.base_url());
    let rule = json!({"route": "/v3/lock/unlock", "errcode": -3003, "count": 1});
    f.http
        .post(ctl("/faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    let front = f.lock(0);
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &front)]).await),
        -3003
    );
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &front)]).await),
        0
    );

    let outage = json!({"http_status": 503, "count": 1});
    f.http
        .post(ctl("/faults"))
        .json(&outage)
        .send()
        .await
        .unwrap();
    let resp = f.http.post(f.url("/v3/lock/list")).send().await.unwrap();
    assert_eq!(resp.status(), 503);

    let gw = f.demo.gateway_ids[0];
    f.http
        .post(ctl(&format!("/gateways/{gw}/online")))
        .json(&json!({"online": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &front)]).await),
        -3002
    );

    let clock: Value = f
        .http
        .post(ctl("/clock"))
        .json(&json!({"advance_seconds": 7_776_001}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["offset_ms"], 7_776_001_000i64);
    assert_eq!(errcode(&f.call("/v3/lock/list", &[]).await), 10004);

    let calls: Value = f
        .http
        .get(ctl("/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["/v3/lock/unlock"], 3);
    assert_eq!(
        f.http
            .get(f.url("/v3/nope/nothing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let state: Value = f
        .http
        .get(ctl("/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["locks"].as_object().unwrap().len(), 5);
    f.http.post(ctl("/reset")).send().await.unwrap();
    assert!(f.sim.world().locks.is_empty());
}

#[tokio::test]
async fn an_offline_lock_behind_an_online_gateway_is_unreachable() {
    let f = Fixture::new().await;
    let ctl = format!("{}/_sim/locks/{}/online", f.server.base_url(), f.lock(1));
    f.http
        .post(ctl)
        .json(&json!({"online": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &f.lock(1))]).await),
        -3036
    );
    // Cloud-only reads still work.
    assert_eq!(
        f.call("/v3/lock/detail", &[("lockId", &f.lock(1))]).await["lockAlias"],
        "Back door"
    );
}

#[tokio::test]
async fn an_error_rate_is_drawn_from_the_seed() {
    async fn outcomes(seed: u64) -> Vec<i64> {
        let f = Fixture::new().await;
        f.sim.world().rng = lockbridge_sim::rng::Rng::new(seed);
        f.sim.world().faults.add(lockbridge_sim::faults::FaultRule {
            route: Some("/v3/lock/detail".into()),
            errcode: Some(90000),
            rate: Some(0.5),
            ..Default::default()
        });
        let mut seen = Vec::new();
        for _ in 0..40 {
            let v = f.call("/v3/lock/detail", &[("lockId", &f.lock(0))]).await;
            seen.push(v.get("errcode").and_then(Value::as_i64).unwrap_or(0));
        }
        seen
    }
    let a = outcomes(5).await;
    assert_eq!(a, outcomes(5).await, "same seed, same failures");
    let failed = a.iter().filter(|&&c| c == 90000).count();
    assert!((8..=32).contains(&failed), "about half fail: {failed}/40");
}
