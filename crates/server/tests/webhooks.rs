//! Webhooks end to end: events written with the changes they describe, fanned out to
//! endpoints, signed as Standard Webhooks says (checked here with `hmac` and `sha2` directly,
//! not with lockbridge's own verifier), retried on the schedule with the clock moved (never
//! slept), logged, retried by hand, tested, rotated, disabled after 5 days of failures.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use hmac::{Hmac, Mac};
use lockbridge_app::webhooks;
use serde_json::{Value, json};
use sha2::Sha256;

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local endpoint answering the statuses queued (200 when none), or never (`hang`).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Moves with every request received.
    arrivals: Arc<tokio::sync::watch::Sender<u64>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
    hang: Arc<Mutex<bool>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    r.got.lock().unwrap().push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body: body.to_vec(),
    });
    r.arrivals.send_modify(|n| *n += 1);
    if *r.hang.lock().unwrap() {
        std::future::pending::<()>().await;
    }
    let status = r.answers.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn answer(&self, statuses: &[u16]) {
        self.answers.lock().unwrap().extend(statuses);
    }
}

/// The Standard Webhooks check, written from the specification with `hmac` and `sha2`.
fn signed_by(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
    mac.update(&r.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    r.signature.split(' ').any(|s| s == expected)
}

fn allow_private(s: &mut lockbridge_server::Settings) {
    s.webhook_allow_private = true;
    s.webhook_timeout = Duration::from_millis(500);
}

async fn endpoint(t: &TestApp, url: &str, types: Value) -> (String, String) {
    let r = t
        .post(
            "/v1/webhooks",
            json!({"url": url, "event_types": types, "description": "front desk"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (
        r.body["id"].as_str().unwrap().to_owned(),
        r.body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn deliver(t: &TestApp) -> usize {
    webhooks::deliver_due(&t.app.state).await.unwrap()
}

async fn attempts(t: &TestApp, hook: &str) -> Vec<Value> {
    let r = t.get(&format!("/v1/webhooks/{hook}/deliveries")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

async fn new_code(t: &TestApp, lock: &str, pin: &str) -> String {
    let r = t
        .post(
            &format!("/v1/locks/{lock}/access-codes"),
            json!({"name": "Guest", "code": pin, "starts_at": "2030-01-01T15:00:00Z", "ends_at": "2030-01-03T11:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

both_backends!(
    a_code_set_reaches_the_endpoint_signed,
    |db: Db| async move {
        let t = TestApp::start_with(db, allow_private).await;
        t.connect().await;
        let (rx, url) = Receiver::start().await;
        let (hook, secret) = endpoint(&t, &url, json!(["access_code.*"])).await;
        let lock = t.lock_id("Front door").await;
        let code = new_code(&t, &lock, "582047").await;
        assert_eq!(deliver(&t).await, 1);
        let got = rx.got();
        assert_eq!(got.len(), 1, "one event of the matching types");
        let event = got[0].json();
        assert_eq!(event["type"], "access_code.set");
        assert_eq!(event["data"]["access_code_id"], code.as_str());
        assert_eq!(event["data"]["lock_id"], lock.as_str());
        assert_eq!(got[0].id, event["id"].as_str().unwrap());
        assert!(signed_by(&secret, &got[0]), "{got:?}");
        let log = attempts(&t, &hook).await;
        assert_eq!(
            (
                log.len(),
                log[0]["status"].as_str(),
                log[0]["response_status"].as_u64()
            ),
            (1, Some("succeeded"), Some(200))
        );
        // The event is in the log with the code it concerns.
        let r = t
            .get(&format!(
                "/v1/events?type=access_code.*&access_code_id={code}"
            ))
            .await;
        assert_eq!(r.body["data"][0]["id"], event["id"], "{}", r.body);
        assert_eq!(deliver(&t).await, 0, "delivered once");

        // A test event goes to this endpoint only; a rotation signs with both secrets for a day.
        let r = t
            .post(&format!("/v1/webhooks/{hook}/rotate-secret"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let rotated = r.body["secret"].as_str().unwrap().to_owned();
        assert_ne!(rotated, secret);
        let r = t
            .post(&format!("/v1/webhooks/{hook}/test"), json!({}))
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(deliver(&t).await, 1);
        let test = rx.got().pop().unwrap();
        assert_eq!(test.json()["type"], "webhook.test");
        assert!(signed_by(&rotated, &test) && signed_by(&secret, &test));
        t.advance(25 * 3_600_000);
        t.post(&format!("/v1/webhooks/{hook}/test"), json!({}))
            .await;
        deliver(&t).await;
        let later = rx.got().pop().unwrap();
        assert!(signed_by(&rotated, &later) && !signed_by(&secret, &later));
    }
);

both_backends!(failures_follow_the_retry_schedule, |db: Db| async move {
    let t = TestApp::start_with(db, allow_private).await;
    let (rx, url) = Receiver::start().await;
    let (hook, _) = endpoint(&t, &url, json!([])).await;
    rx.answer(&[500, 503]);
    let r = t
        .post(&format!("/v1/webhooks/{hook}/test"), json!({}))
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(deliver(&t).await, 1);
    assert_eq!(deliver(&t).await, 0, "the second attempt waits 5 s");
    t.advance(5_000);
    assert_eq!(deliver(&t).await, 1);
    assert_eq!(deliver(&t).await, 0, "the third attempt waits 5 min");
    t.advance(299_000);
    assert_eq!(deliver(&t).await, 0);
    t.advance(1_000);
    assert_eq!(deliver(&t).await, 1);
    let got = rx.got();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|g| g.id == got[0].id),
        "one webhook-id for every attempt"
    );
    let log = attempts(&t, &hook).await;
    let seen: Vec<(u64, &str, u64)> = log
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["status"].as_str().unwrap(),
                a["response_status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (3, "succeeded", 200),
            (2, "failed", 503),
            (1, "failed", 500)
        ]
    );

    // Down for good: eight attempts over about 28 hours, then `failed`; a retry by hand works.
    rx.answer(&[500; 8]);
    t.post(&format!("/v1/webhooks/{hook}/test"), json!({}))
        .await;
    for wait in [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000] {
        t.advance(wait * 1000);
        assert_eq!(deliver(&t).await, 1, "attempt after {wait} s");
    }
    t.advance(100 * 3_600_000);
    assert_eq!(deliver(&t).await, 0, "no ninth attempt");
    let last = attempts(&t, &hook).await[0].clone();
    assert_eq!(
        (last["attempt"].as_u64(), last["status"].as_str()),
        (Some(8), Some("failed"))
    );
    assert!(last["next_attempt_at"].is_null());
    let r = t
        .post(
            &format!(
                "/v1/webhooks/{hook}/deliveries/{}/retry",
                last["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["attempt"].as_u64()),
        (202, Some(9)),
        "{}",
        r.body
    );
    assert_eq!(deliver(&t).await, 1);
    assert_eq!(attempts(&t, &hook).await[0]["status"], "succeeded");
});

both_backends!(
    an_endpoint_failing_for_five_days_is_disabled,
    |db: Db| async move {
        let t = TestApp::start_with(db, allow_private).await;
        let (rx, url) = Receiver::start().await;
        let (watcher_rx, watcher_url) = Receiver::start().await;
        let (hook, _) = endpoint(&t, &url, json!([])).await;
        let (_, _) = endpoint(&t, &watcher_url, json!(["webhook.*"])).await;
        rx.answer(&[500; 10]);
        t.post(&format!("/v1/webhooks/{hook}/test"), json!({}))
            .await;
        deliver(&t).await;
        t.advance(5 * 86_400_000);
        t.post(&format!("/v1/webhooks/{hook}/test"), json!({}))
            .await;
        deliver(&t).await;
        let r = t.get(&format!("/v1/webhooks/{hook}")).await;
        assert_eq!(r.body["enabled"], false, "{}", r.body);
        let events = t.get("/v1/events?type=webhook.disabled").await;
        assert_eq!(events.body["data"][0]["data"]["webhook_id"], hook.as_str());
        deliver(&t).await;
        assert_eq!(
            watcher_rx.got().last().unwrap().json()["type"],
            "webhook.disabled",
            "other endpoints hear of it"
        );
        // Enabled again, it starts afresh.
        let r = t
            .patch(
                &format!("/v1/webhooks/{hook}"),
                json!({"enabled": true, "description": null}),
            )
            .await;
        assert_eq!(
            (
                r.body["enabled"].as_bool(),
                r.body["failing_since"].is_null(),
                r.body["description"].is_null()
            ),
            (Some(true), true, true),
            "{}",
            r.body
        );
    }
);

both_backends!(a_hanging_endpoint_delays_no_other, |db: Db| async move {
    let t = TestApp::start_with(db, allow_private).await;
    let (slow, slow_url) = Receiver::start().await;
    let (fast, fast_url) = Receiver::start().await;
    *slow.hang.lock().unwrap() = true;
    let (slow_hook, _) = endpoint(&t, &slow_url, json!([])).await;
    let (fast_hook, _) = endpoint(&t, &fast_url, json!([])).await;
    // Two dozen attempts queue up for an endpoint that takes requests and never answers.
    for _ in 0..24 {
        t.post(&format!("/v1/webhooks/{slow_hook}/test"), json!({}))
            .await;
    }
    let hanging = webhooks::start_due(&t.app.state).await.unwrap();
    wait_until(
        "the slow endpoint holds its lane's attempts",
        slow.arrivals.subscribe(),
        || slow.got().len() == 8,
    )
    .await;
    // Meanwhile every other endpoint is served, pass after pass.
    for round in 1..=3 {
        t.post(&format!("/v1/webhooks/{fast_hook}/test"), json!({}))
            .await;
        assert_eq!(deliver(&t).await, 1, "round {round}");
        assert_eq!(fast.got().len(), round);
    }
    assert_eq!(slow.got().len(), 8, "one lane's attempts, no more");
    drop(hanging);
});

both_backends!(a_disabled_endpoint_gets_nothing, |db: Db| async move {
    let t = TestApp::start_with(db, allow_private).await;
    let (rx, url) = Receiver::start().await;
    let (hook, _) = endpoint(&t, &url, json!([])).await;
    rx.answer(&[500]);
    t.post(&format!("/v1/webhooks/{hook}/test"), json!({}))
        .await;
    assert_eq!(deliver(&t).await, 1);
    let r = t
        .patch(&format!("/v1/webhooks/{hook}"), json!({"enabled": false}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Its scheduled retry is due, and not sent.
    t.advance(3_600_000);
    assert_eq!(deliver(&t).await, 0);
    assert_eq!(rx.got().len(), 1);
    assert_eq!(attempts(&t, &hook).await[0]["status"], "pending");
    // Enabled again, the waiting attempt goes out.
    t.patch(&format!("/v1/webhooks/{hook}"), json!({"enabled": true}))
        .await;
    assert_eq!(deliver(&t).await, 1);
    assert_eq!(rx.got().len(), 2);
});

both_backends!(
    a_retry_by_hand_that_succeeds_closes_the_scheduled_one,
    |db: Db| async move {
        let t = TestApp::start_with(db, allow_private).await;
        let (rx, url) = Receiver::start().await;
        let (hook, _) = endpoint(&t, &url, json!([])).await;
        rx.answer(&[500]);
        t.post(&format!("/v1/webhooks/{hook}/test"), json!({}))
            .await;
        assert_eq!(deliver(&t).await, 1);
        let first = attempts(&t, &hook).await.pop().unwrap();
        let retry = format!(
            "/v1/webhooks/{hook}/deliveries/{}/retry",
            first["id"].as_str().unwrap()
        );
        // Two retries by hand at once take two numbers.
        let (a, b) = tokio::join!(t.post(&retry, json!({})), t.post(&retry, json!({})));
        assert_eq!((a.status.as_u16(), b.status.as_u16()), (202, 202));
        let mut numbers = [a.body["attempt"].as_u64(), b.body["attempt"].as_u64()];
        numbers.sort();
        assert_eq!(numbers, [Some(3), Some(4)], "{} {}", a.body, b.body);
        // The first to succeed closes the others, the scheduled second attempt included.
        t.advance(10_000);
        let sent = deliver(&t).await;
        assert!(sent >= 1, "{sent}");
        assert_eq!(
            rx.got().len(),
            2,
            "one more request: the event arrived once"
        );
        let log = attempts(&t, &hook).await;
        let mut statuses: Vec<&str> = log.iter().map(|a| a["status"].as_str().unwrap()).collect();
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            ["failed", "succeeded", "superseded", "superseded"],
            "{log:?}"
        );
        assert_eq!(deliver(&t).await, 0);
    }
);

both_backends!(endpoints_are_checked, |db: Db| async move {
    let t = TestApp::start(db).await;
    let refused = |r: &Resp, field: &str| {
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["field"].as_str()),
            (400, Some(field)),
            "{}",
            r.body
        );
    };
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://169.254.169.254/",
        "ftp://example.com/",
        "http://localhost/",
        "http://[64:ff9b::7f00:1]/",
        "http://198.18.0.7/",
    ] {
        refused(&t.post("/v1/webhooks", json!({"url": url})).await, "url");
    }
    // A name that resolves to loopback (this machine's own name, in its hosts file) is refused
    // when saved, not found out at delivery.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let local = tokio::net::lookup_host((host, 80))
        .await
        .map(|a| a.map(|a| a.ip()).collect::<Vec<_>>())
        .unwrap_or_default();
    if !local.is_empty() && local.iter().all(|ip| ip.is_loopback()) {
        let r = t
            .post(
                "/v1/webhooks",
                json!({"url": format!("http://{host}:9000/hook")}),
            )
            .await;
        refused(&r, "url");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("resolve"), "{message}");
    } else {
        eprintln!("skipped: {host:?} does not resolve to loopback here ({local:?})");
    }
    // `webhook.test` is an event type like the others.
    let r = t
        .post(
            "/v1/webhooks",
            json!({"url": "https://hooks.example.com/t", "event_types": ["webhook.test"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    refused(
        &t.post(
            "/v1/webhooks",
            json!({"url": "https://hooks.example.com/x", "event_types": ["lock.nothing"]}),
        )
        .await,
        "event_types",
    );
    let member = t
        .call(
            reqwest::Method::GET,
            "/v1/webhooks",
            Some(&t.member.clone()),
            None,
        )
        .await;
    assert_eq!(member.status, 403);
    let r = t
        .post("/v1/webhooks", json!({"url": "https://hooks.example.com/x", "event_types": ["lock.*", "access_code.set"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let listed = t.get("/v1/webhooks").await;
    assert!(
        listed.body["data"][0].get("secret").is_none(),
        "the secret is shown once"
    );
    assert_eq!(t.delete(&format!("/v1/webhooks/{id}")).await.status, 204);
    assert_eq!(t.get(&format!("/v1/webhooks/{id}")).await.status, 404);
    refused(&t.get("/v1/events?type=nothing").await, "type");
    refused(&t.get("/v1/events?since=yesterday").await, "since");
});

both_backends!(
    two_instances_deliver_each_attempt_once,
    |db: Db| async move {
        let t = TestApp::start_with(db, allow_private).await;
        let (rx, url) = Receiver::start().await;
        let (hook, _) = endpoint(&t, &url, json!([])).await;
        let hook: lockbridge_core::WebhookId = hook.parse().unwrap();
        let now = t.app.state.now();
        for _ in 0..1000 {
            let e = lockbridge_core::events::Event::new(
                t.org,
                lockbridge_core::events::EventType::WebhookTest,
                now,
            );
            t.db.store.insert_test_event(&e, hook).await.unwrap();
        }
        // A second instance: its own state (its own lease owner names) on the same database.
        let other = t.other_instance({
            let mut s = lockbridge_server::Settings::default();
            allow_private(&mut s);
            s
        });
        let run = |state: lockbridge_server::AppState| async move {
            let mut sent = 0;
            loop {
                match webhooks::deliver_due(&state).await.unwrap() {
                    0 => break sent,
                    n => sent += n,
                }
            }
        };
        let (a, b) = tokio::join!(run(t.app.state.clone()), run(other.state.clone()));
        assert_eq!(a + b, 1000, "{a} + {b}");
        let mut ids: Vec<String> = rx.got().into_iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 1000);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1000, "each event once");
    }
);
