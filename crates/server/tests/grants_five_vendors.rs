//! One PIN for locks of five vendors: the rules every lock agrees on (TTLock 4–9 digits, Tedee
//! 5–8 with three different and no run, Tuya Zigbee exactly 6, Nuki exactly 6 without a 0 and
//! not starting with 12, SwitchBot 6–12) intersected, a PIN generated within them, and every
//! simulator holding it.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::rules::CodeRules;
use lockbridge_sim::nuki::NukiSim;
use lockbridge_sim::switchbot::SwitchBotSim;
use serde_json::json;

fn typed<T: Clone + 'static>(t: &TestApp) -> T {
    t.sims
        .iter()
        .find_map(|s| s.as_any().downcast_ref::<T>())
        .cloned()
        .expect("the simulator is registered")
}

async fn lock_of(t: &TestApp, provider: &str, provider_id: &str) -> String {
    let r = t
        .get(&format!("/v1/locks?provider={provider}&limit=50"))
        .await;
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["provider_id"] == provider_id)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

both_backends!(one_pin_across_five_vendors, |db: Db| async move {
    let t = TestApp::start(db).await;
    let (nuki, switchbot) = (typed::<NukiSim>(&t), typed::<SwitchBotSim>(&t));
    let (nuki_demo, bot_demo) = (nuki.seed_demo(), switchbot.seed_demo());
    nuki.world().config.write_delay_ms = 0;
    switchbot.world().config.key_delay_ms = 0;
    t.connect().await;
    t.connect_tedee().await;
    t.connect_tuya().await;
    t.connect_with(json!({"provider": "nuki", "credentials": {"api_token": nuki_demo.api_token}}))
        .await;
    t.connect_with(json!({"provider": "switchbot",
                          "credentials": {"token": bot_demo.token, "secret": bot_demo.secret}}))
        .await;
    let nuki_lock = nuki_demo.lock_ids[0];
    let locks = [
        t.lock_id("Front door").await,
        t.tedee_lock(1).await["id"].as_str().unwrap().to_owned(),
        t.tuya_lock(1).await["id"].as_str().unwrap().to_owned(),
        lock_of(&t, "nuki", &nuki_lock.to_string()).await,
        lock_of(&t, "switchbot", &bot_demo.lock_ids[0]).await,
    ];
    let r = t
        .post("/v1/grants", json!({"name": "Anna", "lock_ids": locks}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pin = r.body["code"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body["access_codes"].as_array().unwrap().len(),
        5,
        "{}",
        r.body
    );

    // Within every lock's rules at once.
    let rules: Vec<CodeRules> = {
        let mut out = Vec::new();
        for id in &locks {
            let l = t.get(&format!("/v1/locks/{id}")).await;
            out.push(serde_json::from_value(l.body["code_rules"].clone()).unwrap());
        }
        out
    };
    for r in &rules {
        assert!(r.check(&pin).is_ok(), "{pin} breaks {r:?}");
    }
    assert!(
        !pin.contains('0') && !pin.starts_with("12") && pin.len() == 6,
        "{pin}"
    );

    for _ in 0..5 {
        t.drain().await;
        lockbridge_app::grants::run_due(&t.app.state).await.unwrap();
    }
    let g = t
        .get(&format!("/v1/grants/{}", r.body["id"].as_str().unwrap()))
        .await;
    assert_eq!(g.body["status"], "set", "{}", g.body);

    // Every simulator holds it.
    let on_ttlock = t.sim.world().locks[&t.sim_lock(0)]
        .passcodes
        .values()
        .any(|p| p.code == pin);
    let on_tedee = t.tedee_pins(1).iter().any(|p| p.pin == pin);
    let on_tuya = t.tuya_password(1, &pin).is_some();
    let on_nuki = {
        let mut w = nuki.world();
        w.settle();
        w.auths
            .values()
            .any(|a| a.smartlock_id == nuki_lock && a.code == pin.parse().ok())
    };
    let on_switchbot = {
        let mut w = switchbot.world();
        w.settle();
        w.keypads[&bot_demo.keypad_ids[0]]
            .keys
            .iter()
            .any(|k| k.password == pin)
    };
    assert_eq!(
        [on_ttlock, on_tedee, on_tuya, on_nuki, on_switchbot],
        [true; 5],
        "TTLock, Tedee, Tuya, Nuki, SwitchBot"
    );
});
