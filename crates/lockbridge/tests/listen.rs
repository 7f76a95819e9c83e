//! `lockbridge listen`, run as a developer would: signed deliveries are printed and answered
//! 204; unsigned, wrongly signed or stale ones are refused with 401.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use lockbridge_core::webhooks::{new_secret, sign};

#[tokio::test]
async fn signed_deliveries_are_printed_and_others_refused() {
    let secret = new_secret();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(["listen", "--secret", &secret, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let send = |id: &str, ts: i64, signature: String, body: &'static str| {
        http.post(format!("{url}hooks"))
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
    };
    let now = jiff::Timestamp::now().as_second();
    let body = r#"{"id":"evt_1","type":"access_code.set","occurred_at":"2026-11-30T10:00:00Z","data":{"lock_id":"lck_1","access_code_id":"ac_1"}}"#;
    let good = sign(&secret, "evt_1", now, body.as_bytes()).unwrap();
    let r = send("evt_1", now, good.clone(), body).await.unwrap();
    assert_eq!(r.status(), 204);
    let other = sign(&new_secret(), "evt_1", now, body.as_bytes()).unwrap();
    assert_eq!(send("evt_1", now, other, body).await.unwrap().status(), 401);
    let stale = sign(&secret, "evt_1", now - 3600, body.as_bytes()).unwrap();
    assert_eq!(
        send("evt_1", now - 3600, stale, body)
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        send("evt_1", now, good, "{}").await.unwrap().status(),
        401,
        "a changed body"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("access_code.set evt_1")
            && lines[0].contains("lock_id=lck_1")
            && lines[0].contains("access_code_id=ac_1"),
        "{out}"
    );
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert_eq!(err.matches("refused a delivery").count(), 3, "{err}");
}
