//! No credential of a connection — password hash, client or app secret, personal access key,
//! API token, access or refresh token — is shown when its vendor stops answering during a token renewal or
//! a call: not in the error (its `Display`, `Debug` or any source), not in a response, not in
//! `last_error`, not in the log.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use lockbridge_app::workers;
use lockbridge_core::ids::ConnectionId;
use lockbridge_core::provider::{ErrorKind, error_chain};
use lockbridge_sim::faults::{FaultRule, Faults};
use serde_json::json;

/// Every stored credential value long enough to be recognised.
const NAMES: [&str; 11] = [
    "client_secret",
    "password_md5",
    "access_token",
    "refresh_token",
    "access_secret",
    "personal_access_key",
    "app_key",
    "uid",
    "api_token",
    "token",
    "secret",
];

/// The log of the current thread, kept for the test to read.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every request to the fake answers after `ms`: far past the service's request timeout.
fn silence(faults: &mut Faults, ms: u64) {
    faults.add(FaultRule {
        latency_ms: ms,
        ..Default::default()
    });
}

async fn connection(t: &TestApp, id: &str) -> lockbridge_core::Connection {
    let id: ConnectionId = id.parse().unwrap();
    t.db.store.connection_by_id(id).await.unwrap().unwrap()
}

async fn check_vendor(t: &TestApp, conn_id: &str, slow: impl FnOnce(&TestApp), call: &str) {
    let conn = connection(t, conn_id).await;
    let secrets: Vec<String> = NAMES
        .iter()
        .filter_map(|n| conn.credentials.get(n))
        .filter(|v| v.len() >= 6)
        .map(str::to_owned)
        .collect();
    assert!(!secrets.is_empty(), "{} stores secrets", conn.provider);
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    slow(t);

    // The adapter's own error, with every source under it.
    let vendor = t.app.state.providers.get(conn.provider).unwrap();
    let mut shown = String::new();
    if let Err(err) = vendor.refresh(&conn).await {
        assert_eq!(err.kind, ErrorKind::Timeout, "{}", error_chain(&err));
        shown.push_str(&format!("{} {err:?}", error_chain(&err)));
    }
    // The token worker (every connection is due: see the margin below) and a call through HTTP.
    workers::refresh_due_tokens(&t.app.state).await.unwrap();
    let r = t.call_raw(call).await;
    assert!(
        r.status.is_server_error() || r.status.is_success(),
        "{}: {}",
        r.status,
        r.body
    );
    shown.push_str(&r.body.to_string());
    let stored = connection(t, conn_id).await;
    shown.push_str(&format!("{:?}", stored.last_error));
    // Errors name no URL at all (Tuya's refresh URL holds the refresh token).
    assert!(!shown.contains("http://"), "no URL: {shown}");
    let after = t.get(&format!("/v1/connections/{conn_id}")).await;
    shown.push_str(&after.body.to_string());
    shown.push_str(&log.text());
    for secret in &secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "a {} secret was shown: {shown}",
            conn.provider
        );
    }
}

fn tuned(s: &mut lockbridge_server::Settings) {
    // Every stored token is due for renewal, and the fakes' silence outlasts each request.
    s.refresh_margin = Duration::from_secs(10 * 365 * 86_400);
    s.vendor_request_timeout = Duration::from_millis(300);
}

impl TestApp {
    async fn call_raw(&self, spec: &str) -> Resp {
        let (method, path) = spec.split_once(' ').unwrap();
        match method {
            "POST" => self.post(path, json!({})).await,
            _ => self.get(path).await,
        }
    }
}

both_backends!(ttlock_secrets_stay_hidden, |db: Db| async move {
    let t = TestApp::start_with(db, tuned).await;
    let id = t.connect().await;
    let call = format!("POST /v1/connections/{id}/sync");
    check_vendor(&t, &id, |t| silence(&mut t.sim.world().faults, 3000), &call).await;
});

both_backends!(tuya_secrets_stay_hidden, |db: Db| async move {
    let t = TestApp::start_with(db, tuned).await;
    let id = t.connect_tuya().await;
    let call = format!("POST /v1/connections/{id}/sync");
    check_vendor(
        &t,
        &id,
        |t| silence(&mut t.tuya.world().faults, 3000),
        &call,
    )
    .await;
});

both_backends!(tedee_secrets_stay_hidden, |db: Db| async move {
    let t = TestApp::start_with(db, tuned).await;
    let id = t.connect_tedee().await;
    let call = format!("POST /v1/connections/{id}/sync");
    check_vendor(
        &t,
        &id,
        |t| silence(&mut t.tedee.world().faults, 3000),
        &call,
    )
    .await;
});

both_backends!(kii_secrets_stay_hidden, |db: Db| async move {
    let t = TestApp::start_with(db, tuned).await;
    let r = t
        .post(
            "/v1/connections",
            json!({"provider": "kii", "credentials": {"app_id": t.kii_demo.app_id, "app_key": t.kii_demo.app_key, "client_id": t.kii_demo.client_id, "client_secret": t.kii_demo.client_secret}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let call = format!("GET /v1/connections/{id}/things");
    check_vendor(&t, &id, |t| silence(&mut t.kii.world().faults, 3000), &call).await;
});

fn typed<T: Clone + 'static>(t: &TestApp) -> T {
    t.sims
        .iter()
        .find_map(|s| s.as_any().downcast_ref::<T>())
        .cloned()
        .expect("the simulator is registered")
}

both_backends!(nuki_secrets_stay_hidden, |db: Db| async move {
    let t = TestApp::start_with(db, tuned).await;
    let nuki: lockbridge_sim::nuki::NukiSim = typed(&t);
    let demo = nuki.seed_demo();
    let id = t
        .connect_with(json!({"provider": "nuki", "credentials": {"api_token": demo.api_token}}))
        .await;
    let call = format!("POST /v1/connections/{id}/sync");
    check_vendor(&t, &id, |_| silence(&mut nuki.world().faults, 3000), &call).await;
});

both_backends!(switchbot_secrets_stay_hidden, |db: Db| async move {
    let t = TestApp::start_with(db, tuned).await;
    let bot: lockbridge_sim::switchbot::SwitchBotSim = typed(&t);
    let demo = bot.seed_demo();
    let id = t
        .connect_with(json!({"provider": "switchbot",
                             "credentials": {"token": demo.token, "secret": demo.secret}}))
        .await;
    let call = format!("POST /v1/connections/{id}/sync");
    check_vendor(&t, &id, |_| silence(&mut bot.world().faults, 3000), &call).await;
});
