//! The client against the SwitchBot simulator: its state is the oracle.

#![allow(clippy::unwrap_used)]

use lockbridge_sim::registry::Simulator;
use lockbridge_sim::switchbot::{SwitchBotDemo, SwitchBotSim};
use lockbridge_switchbot::{Bolt, Config, Error, ErrorKind, NewKey, SwitchBotClient};

struct Fixture {
    sim: SwitchBotSim,
    demo: SwitchBotDemo,
    client: SwitchBotClient,
    server: lockbridge_sim::Running,
}

async fn fixture() -> Fixture {
    let sim = SwitchBotSim::new(4);
    let demo = sim.seed_demo();
    let server = sim.start_local().await.unwrap();
    let client = SwitchBotClient::new(
        Config::new(demo.token.clone(), demo.secret.clone())
            .base_url(&format!("{}/v1.1/", server.base_url())),
    );
    Fixture {
        sim,
        demo,
        client,
        server,
    }
}

fn key(name: &str, password: &str) -> NewKey {
    NewKey {
        name: name.into(),
        password: password.into(),
        period: None,
    }
}

#[tokio::test]
async fn devices_locks_and_keypads() {
    let f = fixture().await;
    let devices = f.client.devices().await.unwrap();
    let locks: Vec<_> = devices.iter().filter(|d| d.is_lock()).collect();
    let pads: Vec<_> = devices.iter().filter(|d| d.holds_keys()).collect();
    assert_eq!((locks.len(), pads.len()), (2, 2));
    assert!(locks.iter().all(|l| l.hub().is_some()));
    assert_eq!(pads[0].key_list.as_ref().map(Vec::len), Some(0));
    let status = f.client.lock_status(&f.demo.lock_ids[0]).await.unwrap();
    assert_eq!(
        (status.bolt(), status.door_open(), status.battery),
        (Bolt::Locked, Some(false), Some(95))
    );
}

#[tokio::test]
async fn a_bad_signature_or_token_is_refused() {
    let f = fixture().await;
    let base = f.server.base_url();
    let wrong_secret = SwitchBotClient::new(
        Config::new(f.demo.token.clone(), "00112233445566778899aabbccddeeff").base_url(&base),
    );
    let err = wrong_secret.devices().await.unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, ref message } if message == "Unauthorized"),
        "{err}"
    );
    // The upper-cased form SwitchBot's prose describes is accepted too.
    let upper = SwitchBotClient::new(
        Config::new(f.demo.token.clone(), f.demo.secret.clone())
            .base_url(&base)
            .upper_case_sign(true),
    );
    assert!(upper.devices().await.is_ok());
}

#[tokio::test]
async fn a_key_shows_in_the_list_only_when_the_keypad_has_it() {
    let f = fixture().await;
    let pad = f.demo.keypad_ids[0].clone();
    // Checked before anything is sent.
    let before = f.sim.world().calls.clone();
    assert!(matches!(
        f.client.create_key(&pad, &key("Guest", "12345")).await,
        Err(Error::InvalidInput {
            field: "password",
            ..
        })
    ));
    assert_eq!(f.sim.world().calls, before);

    f.sim.world().config.key_delay_ms = 60_000;
    let accepted = f
        .client
        .create_key(&pad, &key("Guest", "246810"))
        .await
        .unwrap();
    assert!(accepted.command_id.is_some());
    let listed = |devices: Vec<lockbridge_switchbot::Device>| {
        devices
            .into_iter()
            .find(|d| d.device_id == pad)
            .and_then(|d| d.key_list)
            .unwrap_or_default()
    };
    assert!(
        listed(f.client.devices().await.unwrap()).is_empty(),
        "accepted, not carried out"
    );
    // A name is unique on the keypad, from the moment it is accepted.
    let err = f
        .client
        .create_key(&pad, &key("Guest", "135790"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Invalid));
    f.sim.advance(60_000);
    let keys = listed(f.client.devices().await.unwrap());
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "Guest");
    assert_eq!(f.client.password(&keys[0]).unwrap(), "246810");

    // A deletion SwitchBot answers with success but the keypad keeps: the list is the truth.
    f.sim.world().config.ghost_delete = true;
    f.client.delete_key(&pad, keys[0].id).await.unwrap();
    f.sim.advance(60_000);
    assert_eq!(listed(f.client.devices().await.unwrap()).len(), 1);
    f.sim.world().config.ghost_delete = false;
    f.client.delete_key(&pad, keys[0].id).await.unwrap();
    f.sim.advance(60_000);
    assert!(listed(f.client.devices().await.unwrap()).is_empty());
}

#[tokio::test]
async fn business_errors_inside_http_200() {
    let f = fixture().await;
    let lock = f.demo.lock_ids[1].clone();
    let err = f.client.lock_status("000000000001").await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::NotFound));
    let err = f
        .client
        .command(&lock, "turnOn", serde_json::json!("default"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Unsupported));
    f.sim.world().locks.get_mut(&lock).unwrap().online = false;
    assert_eq!(
        f.client.unlock(&lock).await.unwrap_err().kind(),
        Some(ErrorKind::DeviceOffline)
    );
    f.sim.world().locks.get_mut(&lock).unwrap().online = true;
    let hub = f.sim.world().hubs.keys().next().cloned().unwrap();
    f.sim.world().hubs.get_mut(&hub).unwrap().online = false;
    assert_eq!(
        f.client.unlock(&lock).await.unwrap_err().kind(),
        Some(ErrorKind::HubOffline)
    );
    f.sim.world().hubs.get_mut(&hub).unwrap().online = true;
    f.client.unlock(&lock).await.unwrap();
    assert_eq!(
        f.client.lock_status(&lock).await.unwrap().bolt(),
        Bolt::Unlocked
    );

    // The day's budget spent: SwitchBot's 190 "daily limit".
    f.sim.world().config.daily_limit = 0;
    let err = f.client.devices().await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::DailyLimit), "{err}");
}

#[tokio::test]
async fn one_webhook_per_account() {
    let f = fixture().await;
    assert!(f.client.webhook_urls().await.unwrap().is_empty());
    f.client
        .setup_webhook("http://127.0.0.1:9/hooks")
        .await
        .unwrap();
    let err = f
        .client
        .setup_webhook("http://127.0.0.1:9/other")
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().message, "webhook is exist");
    let urls = f.client.webhook_urls().await.unwrap();
    assert_eq!(urls, ["http://127.0.0.1:9/hooks"]);
    f.client.update_webhook(&urls[0], false).await.unwrap();
    let details = f.client.webhook_details(&urls).await.unwrap();
    assert!(!details[0].enable);
    f.client.delete_webhook(&urls[0]).await.unwrap();
    assert!(f.client.webhook_urls().await.unwrap().is_empty());
}

/// A keypad's result arrives by webhook (when it arrives at all).
#[tokio::test]
async fn a_keys_result_is_posted_to_the_webhook() {
    let f = fixture().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    f.client.setup_webhook(&url).await.unwrap();
    f.sim.world().config.key_delay_ms = 0;
    let pad = f.demo.keypad_ids[1].clone();
    f.client
        .create_key(&pad, &key("Cleaner", "97531246"))
        .await
        .unwrap();
    // The next request carries the keypad's command out, and the event is posted.
    f.client.devices().await.unwrap();
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut request = Vec::new();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request);
        if n == 0 || text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
            break;
        }
    }
    socket
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&request);
    let body: serde_json::Value =
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["eventType"], "changeReport");
    assert_eq!(body["context"]["eventName"], "createKey");
    assert_eq!(body["context"]["deviceMac"], pad.as_str());
    assert_eq!(body["context"]["result"], "success");
}

/// A gate that lets `room` requests through, then refuses, and records what it was told.
#[derive(Default)]
struct Budget {
    room: std::sync::Mutex<u32>,
    held: std::sync::Mutex<Vec<std::time::Duration>>,
}

impl lockbridge_switchbot::RequestGate for Budget {
    fn acquire(
        &self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), std::time::Duration>> + Send + '_>,
    > {
        let mut room = self.room.lock().unwrap();
        let answer = if *room > 0 {
            *room -= 1;
            Ok(())
        } else {
            Err(std::time::Duration::from_secs(90))
        };
        Box::pin(std::future::ready(answer))
    }

    fn hold(&self, wait: std::time::Duration) {
        self.held.lock().unwrap().push(wait);
    }
}

#[tokio::test]
async fn every_request_passes_the_gate_and_a_spent_day_holds_it() {
    let f = fixture().await;
    let gate = std::sync::Arc::new(Budget::default());
    *gate.room.lock().unwrap() = 2;
    let client = SwitchBotClient::new(
        Config::new(f.demo.token.clone(), f.demo.secret.clone())
            .base_url(&f.server.base_url())
            .request_gate(gate.clone()),
    );
    let sent = |sim: &SwitchBotSim| sim.world().requests_by_day.values().sum::<u64>();
    let before = sent(&f.sim);
    client.devices().await.unwrap();
    client.lock_status(&f.demo.lock_ids[0]).await.unwrap();
    // The third finds the gate shut: refused here, never sent.
    let err = client.devices().await.unwrap_err();
    assert!(
        matches!(err, Error::Budget { retry_after } if retry_after.as_secs() == 90),
        "{err}"
    );
    assert_eq!(sent(&f.sim) - before, 2);

    // SwitchBot's own "daily limit" shuts the gate until its day is assumed to start again.
    *gate.room.lock().unwrap() = 1;
    f.sim.world().config.daily_limit = 0;
    let err = client.devices().await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::DailyLimit));
    let held = gate.held.lock().unwrap().clone();
    assert_eq!(held.len(), 1);
    assert!(
        held[0] > std::time::Duration::ZERO && held[0] <= std::time::Duration::from_secs(86_400)
    );
    let midnight = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 * 20_000);
    assert_eq!(
        lockbridge_switchbot::until_utc_midnight(midnight - std::time::Duration::from_secs(5)),
        std::time::Duration::from_secs(5)
    );
}
