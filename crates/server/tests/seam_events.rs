//! Seam's unmanaged codes, events and webhooks over HTTP, with the simulator and a local
//! receiver as the oracle.

#![allow(clippy::unwrap_used)]

mod common;

use common::seam::*;
use common::*;
use lockbridge_sim::ttlock::PasscodeSpec;
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(unmanaged_codes_events_and_webhooks, |db: Db| async move {
    let t = TestApp::start_with(db, |s| s.webhook_allow_private = true).await;
    t.connect().await;
    let front = t.lock_id("Front door").await;
    let lock = t.sim_lock(0);
    t.sim.world().put_passcode(
        lock,
        PasscodeSpec {
            code: "246810".into(),
            name: Some("Cleaner".into()),
            start_ms: None,
            end_ms: None,
        },
    );
    let found = t
        .seam(
            Method::GET,
            "/access_codes/unmanaged/list",
            json!({"device_id": front}),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let codes = found.body["access_codes"].as_array().unwrap();
    let cleaner = codes.iter().find(|c| c["code"] == "246810").unwrap();
    assert_eq!(cleaner["is_managed"], false);
    let id = cleaner["access_code_id"].as_str().unwrap();
    let conv = t
        .seam(
            Method::PATCH,
            "/access_codes/unmanaged/convert_to_managed",
            json!({"access_code_id": id}),
        )
        .await;
    assert_eq!(conv.status, 200, "{}", conv.body);
    let managed = t
        .seam(
            Method::GET,
            "/access_codes/list",
            json!({"device_id": front}),
        )
        .await;
    let managed = managed.body["access_codes"].as_array().unwrap();
    assert!(managed.iter().any(|c| c["access_code_id"] == id));

    // A webhook made through /seam receives Seam's event objects, signed.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(axum::http::HeaderMap, Vec<u8>)>();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap, b: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                tx.send((h, b.to_vec())).unwrap();
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let hook = t
        .seam(
            Method::POST,
            "/webhooks/create",
            json!({"url": url, "event_types": ["access_code.set_on_device"]}),
        )
        .await;
    assert_eq!(hook.status, 200, "{}", hook.body);
    let secret = hook.body["webhook"]["secret"].as_str().unwrap().to_owned();
    let hook_id = hook.body["webhook"]["webhook_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = t.seam(Method::GET, "/webhooks/list", json!({})).await;
    assert_eq!(listed.body["webhooks"][0]["secret"], secret.as_str());
    let since = lockbridge_core::seam::time(t.app.state.now() - 1);
    let made = t
        .seam(
            Method::POST,
            "/access_codes/create",
            json!({"device_id": front, "code": "135799"}),
        )
        .await;
    let code_id = made.body["access_code"]["access_code_id"]
        .as_str()
        .unwrap()
        .to_owned();
    lockbridge_app::webhooks::deliver_due(&t.app.state)
        .await
        .unwrap();
    let (headers, body) = rx.recv().await.unwrap();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["event_type"], "access_code.set_on_device");
    assert_eq!(event["access_code_id"], code_id.as_str());
    assert_eq!(event["device_id"], front.as_str());
    let h = |n: &str| headers[n].to_str().unwrap().to_owned();
    assert_eq!(h("svix-id"), event["event_id"].as_str().unwrap());
    assert_eq!(h("svix-signature"), h("webhook-signature"));
    // Checked here with `hmac` directly, as a receiver would (Seam's SDK checks it in interop).
    {
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.", h("svix-id"), h("svix-timestamp")).as_bytes());
        mac.update(&body);
        let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
        assert_eq!(h("svix-signature"), expected);
    }

    // The same event through events.list (since) and events.get.
    let events = t
        .seam(
            Method::GET,
            "/events/list",
            json!({"since": since, "event_type": "access_code.set_on_device"}),
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.body);
    let list = events.body["events"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", events.body);
    assert_eq!(list[0], event);
    let one = t
        .seam(
            Method::GET,
            "/events/get",
            json!({"event_id": event["event_id"]}),
        )
        .await;
    assert_eq!(one.body["event"], event);
    let neither = t.seam(Method::GET, "/events/list", json!({})).await;
    assert_eq!(seam_error(&neither), (400, "invalid_input"));

    let upd = t
        .seam(
            Method::PUT,
            "/webhooks/update",
            json!({"webhook_id": hook_id, "event_types": ["lock.*"]}),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    let del = t
        .seam(
            Method::DELETE,
            "/webhooks/delete",
            json!({"webhook_id": hook_id}),
        )
        .await;
    assert_eq!(del.status, 200);
    let gone = t
        .seam(Method::GET, "/webhooks/get", json!({"webhook_id": hook_id}))
        .await;
    assert_eq!(seam_error(&gone), (404, "webhook_not_found"));
    let accounts = t
        .seam(Method::GET, "/connected_accounts/list", json!({}))
        .await;
    assert_eq!(
        accounts.body["connected_accounts"][0]["account_type"],
        "ttlock"
    );
});
