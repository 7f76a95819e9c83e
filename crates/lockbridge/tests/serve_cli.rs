//! `lockbridge org create`, `org key` and `serve`, run as an operator would: a key issued from
//! the command line works, and SIGTERM with a slow client connected ends the process within
//! its grace period rather than waiting for the client.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lockbridge(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(args)
        .env("LOCKBRIDGE_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn org_key_issues_a_working_key_and_sigterm_does_not_wait_for_slow_clients() {
    let dir = std::env::temp_dir().join(format!("lockbridge-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/cli.db", dir.display());
    let (_, said) = lockbridge(&["org", "create", "Acme", "--database-url", &db]);
    let org = said
        .split(['(', ')'])
        .find(|w| w.starts_with("org_"))
        .unwrap()
        .to_owned();
    let (key, _) = lockbridge(&["org", "key", &org, "--role", "admin", "--database-url", &db]);
    assert!(key.starts_with("lb_"), "{key}");
    let wrong = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(["org", "key", "org_nope", "--database-url", &db])
        .output()
        .unwrap();
    assert!(!wrong.status.success());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args([
            "serve",
            "--database-url",
            &db,
            "--listen",
            &addr,
            "--shutdown-grace",
            "1s",
        ])
        .env("LOCKBRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let url = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "lockbridge serve never answered");
        tokio::task::yield_now().await;
    }
    let r = client
        .get(format!("{url}/v1/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let keys: serde_json::Value = r.json().await.unwrap();
    assert_eq!(keys["data"].as_array().unwrap().len(), 2, "{keys}");

    // A request whose body never comes (the body timeout is 30 s), then SIGTERM.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exited = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() > Duration::from_secs(20) {
                return None;
            }
            std::thread::yield_now();
        }
    })
    .await
    .unwrap();
    let status = exited.expect("still running 20 s after SIGTERM, with a 1 s grace period");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
