//! The chaos suite's parts: the fleet of `lockbridge serve` processes, a client that goes to
//! them in turn, and the PINs it makes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const INSTANCES: usize = 3;

/// The service's instances: real processes, killed with SIGKILL and started again.
pub struct Fleet {
    pub env: Vec<(String, String)>,
    pub ports: Vec<u16>,
    pub children: Vec<Option<Child>>,
    /// Told when an instance started says it serves.
    pub serving: Vec<Option<tokio::sync::oneshot::Receiver<()>>>,
    pub kills: u32,
}

impl Fleet {
    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i % INSTANCES])
    }

    /// Starts instance `i`. Its log is copied, line by line, to a file kept across its restarts
    /// (for a failed run to be read), and the line that says it serves marks it ready.
    pub fn start(&mut self, i: usize) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.ports[i])])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (ready, serving) = tokio::sync::oneshot::channel();
        let dir = std::env::temp_dir().join("lockbridge-chaos");
        std::fs::create_dir_all(&dir).unwrap();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("instance-{i}.log")))
            .unwrap();
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                if line.contains("lockbridge is serving") {
                    ready.take().map(|r| r.send(()));
                }
            }
        });
        self.children[i] = Some(child);
        self.serving[i] = Some(serving);
    }

    /// SIGKILL: no shutdown, no lease given back.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
            self.kills += 1;
        }
    }

    /// Until every instance started since the last call says it serves.
    pub async fn wait_ready(&mut self) {
        for (i, serving) in self.serving.iter_mut().enumerate() {
            if let Some(serving) = serving.take() {
                let said = tokio::time::timeout(Duration::from_secs(60), serving).await;
                assert!(matches!(said, Ok(Ok(()))), "instance {i} never served");
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The client: every call goes to the instances in turn, and one that finds its instance dead
/// (or cut off mid-answer) is sent again to the next — with the same `Idempotency-Key` for a
/// create, so an unknown outcome never makes a second code.
pub struct Client {
    pub http: reqwest::Client,
    pub key: String,
    pub turn: usize,
    pub busy_answers: u32,
    /// 5xx answers, by status and error code: with the vendors failing underneath, the service
    /// still answers every call itself (a code waits `setting`), so any is a bug.
    pub server_errors: Vec<(u16, String)>,
}

impl Client {
    pub async fn call(
        &mut self,
        fleet: &Fleet,
        method: &str,
        path: &str,
        body: Option<Value>,
        idem: Option<&str>,
    ) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(Instant::now() < deadline, "{method} {path} never answered");
            self.turn += 1;
            let url = format!("{}{path}", fleet.url(self.turn));
            let mut req = self
                .http
                .request(method.parse().unwrap(), url)
                .bearer_auth(&self.key)
                .timeout(Duration::from_secs(30));
            if let Some(b) = &body {
                req = req.json(b);
            }
            if let Some(k) = idem {
                req = req.header("Idempotency-Key", k);
            }
            // An instance that is down (at most one is, for a moment) sends the call on to the
            // next one at once.
            let Ok(resp) = req.send().await else {
                continue;
            };
            let status = resp.status().as_u16();
            let Ok(text) = resp.text().await else {
                continue;
            };
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if body["error"]["code"] == "device_busy" {
                self.busy_answers += 1;
            }
            if status >= 500 {
                let code = body["error"]["code"].as_str().unwrap_or("-").to_owned();
                self.server_errors.push((status, code));
            }
            // Transient answers (the vendor, the database during a restart) are tried again on
            // the next instance; a budget's 429 comes after the service waited for it already.
            if matches!(status, 429 | 500 | 502 | 503 | 504) {
                continue;
            }
            return (status, body);
        }
    }
}

pub struct Pins(pub u64);

impl Pins {
    /// A PIN of `len` digits, all different and in no run (every vendor's rules), never used
    /// before in this run.
    pub fn next(&mut self, len: usize) -> String {
        loop {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut digits: Vec<u8> = Vec::new();
            let mut x = self.0 >> 11;
            while digits.len() < len {
                let d = (x % 10) as u8;
                x /= 10;
                if x == 0 {
                    x = self.0 >> 7 | 1;
                }
                if !digits.contains(&d) {
                    digits.push(d);
                }
            }
            let pin: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let steps: Vec<i16> = digits
                .windows(2)
                .map(|w| i16::from(w[1]) - i16::from(w[0]))
                .collect();
            if steps.iter().any(|s| s.abs() == 1) {
                continue;
            }
            return pin;
        }
    }
}
