//! What the client adds to a call: `/v3/lock/listKeyboardPwd` and `/v3/keyboardPwd/add` made
//! through `TtlockClient` against the same requests made with a bare `reqwest::Client`, on the
//! same simulator route over loopback, sequentially and with 32 concurrent callers.
//!
//! Run: `cargo bench -p lockbridge-ttlock --bench client_overhead`
//! (`BENCH_CALLS=4000` changes the calls per measurement.)

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lockbridge_sim::ttlock::{LockSpec, PasscodeSpec, TtlockSim};
use lockbridge_ttlock::{Config, ExposeSecret, PasscodeQuery, TtlockClient};

const ROUNDS: usize = 5;

struct Setup {
    sim: TtlockSim,
    client: TtlockClient,
    bare: reqwest::Client,
    base: String,
    client_id: String,
    token: String,
    list_lock: i64,
    /// Separate locks for the two sides' adds, so neither sees the other's codes.
    add_locks: (i64, i64),
    next_code: Arc<AtomicU64>,
}

fn now_ms() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

impl Setup {
    async fn bare_call(&self, path: &str, params: &[(&str, String)]) {
        let mut form = vec![
            ("clientId", self.client_id.clone()),
            ("accessToken", self.token.clone()),
            ("date", now_ms()),
        ];
        form.extend(params.iter().cloned());
        let bytes = self
            .bare
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        // A bare caller still has to look at the answer.
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v.get("errcode").is_none_or(|c| c == 0), "{v}");
    }

    fn code(&self) -> String {
        format!("{:08}", self.next_code.fetch_add(1, Ordering::Relaxed))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    List,
    Add,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Client,
    Bare,
}

async fn one(s: &Setup, op: Op, side: Side) {
    match (op, side) {
        (Op::List, Side::Client) => {
            s.client
                .passcodes(&PasscodeQuery::new(s.list_lock))
                .await
                .unwrap();
        }
        (Op::List, Side::Bare) => {
            let p = [
                ("lockId", s.list_lock.to_string()),
                ("pageNo", "1".into()),
                ("pageSize", "20".into()),
                ("orderBy", "1".into()),
            ];
            s.bare_call("/v3/lock/listKeyboardPwd", &p).await;
        }
        (Op::Add, Side::Client) => {
            s.client
                .add_permanent_passcode(s.add_locks.0, &s.code(), None)
                .await
                .unwrap();
        }
        (Op::Add, Side::Bare) => {
            let p = [
                ("lockId", s.add_locks.1.to_string()),
                ("keyboardPwd", s.code()),
                ("keyboardPwdType", "2".into()),
                ("addType", "2".into()),
            ];
            s.bare_call("/v3/keyboardPwd/add", &p).await;
        }
    }
}

/// Mean cost per call over `calls`, with `concurrency` callers sharing the work.
async fn measure(s: &Arc<Setup>, op: Op, side: Side, calls: usize, concurrency: usize) -> Duration {
    // Each round adds to empty locks: the fake's duplicate check scans a lock's codes, and a
    // real lock holds at most 250 of them.
    for lock in [s.add_locks.0, s.add_locks.1] {
        if let Some(l) = s.sim.world().locks.get_mut(&lock) {
            l.passcodes.clear();
        }
    }
    let started = Instant::now();
    let per_task = calls / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    one(&s, op, side).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed() / (per_task * concurrency) as u32
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3200);
    let sim = TtlockSim::new(1);
    let demo = sim.seed_demo();
    let (list_lock, add_locks) = {
        let mut w = sim.world();
        w.config.capacity = usize::MAX;
        let uid = w.uid_of(&demo.username).unwrap();
        let gw = demo.gateway_ids[0];
        let a = w.add_lock(LockSpec {
            gateway_id: Some(gw),
            ..LockSpec::new(uid, "bench a")
        });
        let b = w.add_lock(LockSpec {
            gateway_id: Some(gw),
            ..LockSpec::new(uid, "bench b")
        });
        let list = demo.lock_ids[1];
        for i in 0..20 {
            w.put_passcode(
                list,
                PasscodeSpec {
                    code: format!("{}", 500_000 + i),
                    name: Some(format!("Guest {i}")),
                    start_ms: None,
                    end_ms: None,
                },
            );
        }
        (list, (a, b))
    };
    let server = sim.start_local().await.unwrap();
    let client = TtlockClient::new();
    let config = Config::new(&demo.client_id, &demo.client_secret).base_url(server.base_url());
    client
        .start(config, &demo.username, &demo.password)
        .await
        .unwrap();
    let token = client
        .valid_token()
        .await
        .unwrap()
        .expose_secret()
        .to_owned();
    let setup = Arc::new(Setup {
        sim: sim.clone(),
        client,
        bare: reqwest::Client::new(),
        base: server.base_url(),
        client_id: demo.client_id.clone(),
        token,
        list_lock,
        add_locks,
        next_code: Arc::new(AtomicU64::new(10_000_000)),
    });

    println!("calls per measurement: {calls}, rounds: {ROUNDS} (median reported)\n");
    println!(
        "{:<28} {:>11} {:>11} {:>11} {:>7}",
        "route", "callers", "client", "bare", "ratio"
    );
    for (op, route) in [
        (Op::List, "/v3/lock/listKeyboardPwd"),
        (Op::Add, "/v3/keyboardPwd/add"),
    ] {
        for concurrency in [1, 32] {
            // Warm the pools on both sides.
            measure(&setup, op, Side::Client, 64, concurrency.min(8)).await;
            measure(&setup, op, Side::Bare, 64, concurrency.min(8)).await;
            let (mut c, mut b) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                // Alternate the order so that neither side always runs on a warmer process.
                c.push(measure(&setup, op, Side::Client, calls, concurrency).await);
                b.push(measure(&setup, op, Side::Bare, calls, concurrency).await);
            }
            let (c, b) = (median(c), median(b));
            println!(
                "{route:<28} {concurrency:>11} {:>9.1}µs {:>9.1}µs {:>6.2}x",
                c.as_secs_f64() * 1e6,
                b.as_secs_f64() * 1e6,
                c.as_secs_f64() / b.as_secs_f64()
            );
        }
    }
    server.stop().await;
}
