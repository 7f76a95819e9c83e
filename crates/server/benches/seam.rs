//! Each `/seam` route against its `/v1` twin on the same service and TTLock simulator, calls
//! interleaved (a `/v1` call, then its Seam twin), medians and their ratio; and Seam's
//! unlock-and-wait (the POST, then `action_attempts.get` while pending, as the SDKs do)
//! against `/v1`'s unlock, which is one vendor round trip plus the service.
//!
//! `cargo bench -p lockbridge-server --bench seam` (BENCH_CALLS, default 200; BENCH_BACKEND
//! `sqlite`, `postgres` or both when unset).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use lockbridge_store::testing::{Backend, TestDb};
use reqwest::Method;
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    /// One call, timed until its body has arrived; `seam` sends Seam's key form.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        seam: bool,
    ) -> (Duration, Value) {
        let (took, v, _) = self.sized(method, path, body, seam).await;
        (took, v)
    }

    /// [`Client::call`] with the size of the answer's body.
    async fn sized(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        seam: bool,
    ) -> (Duration, Value, usize) {
        let key = if seam {
            format!("seam_{}", self.key)
        } else {
            self.key.clone()
        };
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let t = Instant::now();
        let r = req.send().await.unwrap();
        let status = r.status();
        let bytes = r.bytes().await.unwrap();
        // The answer is in; reading its JSON is the client's own cost, not the service's.
        let took = t.elapsed();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        (took, v, bytes.len())
    }
}

/// Which surface goes first in pair `i` (`true`: `/seam`): each in every other pair. The second
/// call of a pair, sent as soon as the first is answered, is measurably slower on loopback
/// (`/healthz` timed second came out 1.39× `/v1/locks` timed first), so a fixed order would
/// count that against one side.
fn first_then_second(i: usize) -> [bool; 2] {
    let seam_first = i % 2 == 1;
    [seam_first, !seam_first]
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

async fn bench(backend: Backend, calls: usize) {
    let Some(db) = TestDb::new(backend).await else {
        println!("{backend:?}: not reachable, skipped");
        return;
    };
    let svc = common::ttlock_service(&db, 2 * calls + 100).await;
    let c = Client {
        http: reqwest::Client::new(),
        url: svc.url.clone(),
        key: svc.key.clone(),
    };
    let lock = svc.lock.clone();
    let (_, code) = c
        .call(
            Method::POST,
            &format!("/v1/locks/{lock}/access-codes"),
            Some(json!({"code": "2950173"})),
            false,
        )
        .await;
    let code = code["id"].as_str().unwrap().to_owned();

    type Pair = (&'static str, Method, String, Method, String);
    let reads: Vec<Pair> = vec![
        (
            "locks list",
            Method::GET,
            "/v1/locks".into(),
            Method::GET,
            "/seam/locks/list".into(),
        ),
        (
            "lock get",
            Method::GET,
            format!("/v1/locks/{lock}"),
            Method::GET,
            format!("/seam/locks/get?device_id={lock}&_strict=true"),
        ),
        (
            "codes list",
            Method::GET,
            format!("/v1/locks/{lock}/access-codes"),
            Method::GET,
            format!("/seam/access_codes/list?device_id={lock}&_strict=true"),
        ),
        (
            "code get",
            Method::GET,
            format!("/v1/access-codes/{code}"),
            Method::GET,
            format!("/seam/access_codes/get?access_code_id={code}&_strict=true"),
        ),
    ];
    println!("{backend:?}: {calls} calls each, interleaved; medians, /seam ÷ /v1");
    for (name, m1, p1, m2, p2) in reads {
        let (mut a, mut b, mut sizes) = (Vec::new(), Vec::new(), (0, 0));
        for i in 0..calls {
            for seam in first_then_second(i) {
                let (m, p, times, size) = if seam {
                    (&m2, &p2, &mut b, &mut sizes.1)
                } else {
                    (&m1, &p1, &mut a, &mut sizes.0)
                };
                let (t, _, n) = c.sized(m.clone(), p, None, seam).await;
                times.push(t);
                *size = n;
            }
        }
        let (a, b) = (median(a), median(b));
        println!(
            "  {name:<12} /v1 {a:.3} ms, /seam {b:.3} ms: {:.2}× ({} and {} bytes)",
            b / a,
            sizes.0,
            sizes.1
        );
    }

    // Writes: a create then its delete on each surface (distinct PINs).
    let (mut create, mut seam_create, mut del, mut seam_del) = (vec![], vec![], vec![], vec![]);
    for i in 0..calls {
        let pin = |k: usize| format!("{}", 3_000_000 + k * 7_919);
        let (mut id, mut seam_id) = (String::new(), String::new());
        for seam in first_then_second(i) {
            if seam {
                let (t, v) = c
                    .call(
                        Method::POST,
                        "/seam/access_codes/create",
                        Some(json!({"device_id": lock, "code": pin(2 * i + 1)})),
                        true,
                    )
                    .await;
                seam_create.push(t);
                seam_id = v["access_code"]["access_code_id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            } else {
                let (t, v) = c
                    .call(
                        Method::POST,
                        &format!("/v1/locks/{lock}/access-codes"),
                        Some(json!({"code": pin(2 * i)})),
                        false,
                    )
                    .await;
                create.push(t);
                id = v["id"].as_str().unwrap().to_owned();
            }
        }
        for seam in first_then_second(i) {
            if seam {
                let path =
                    format!("/seam/access_codes/delete?access_code_id={seam_id}&_strict=true");
                seam_del.push(c.call(Method::DELETE, &path, None, true).await.0);
            } else {
                let path = format!("/v1/access-codes/{id}");
                del.push(c.call(Method::DELETE, &path, None, false).await.0);
            }
        }
    }
    for (name, a, b) in [
        ("code create", create, seam_create),
        ("code delete", del, seam_del),
    ] {
        let (a, b) = (median(a), median(b));
        println!("  {name:<12} /v1 {a:.3} ms, /seam {b:.3} ms: {:.2}×", b / a);
    }

    // Unlock: /v1's answer is one vendor round trip plus the service; Seam's unlock-and-wait
    // is the POST, then action_attempts.get while pending (the SDKs poll every 0.5 s).
    let (mut v1, mut wait) = (Vec::new(), Vec::new());
    for _ in 0..calls.min(100) {
        v1.push(
            c.call(
                Method::POST,
                &format!("/v1/locks/{lock}/unlock"),
                Some(json!({})),
                false,
            )
            .await
            .0,
        );
        let t = Instant::now();
        let (_, mut a) = c
            .call(
                Method::POST,
                "/seam/locks/unlock_door",
                Some(json!({"device_id": lock})),
                true,
            )
            .await;
        while a["action_attempt"]["status"] == "pending" {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let id = a["action_attempt"]["action_attempt_id"]
                .as_str()
                .unwrap()
                .to_owned();
            a = c
                .call(
                    Method::GET,
                    &format!("/seam/action_attempts/get?action_attempt_id={id}&_strict=true"),
                    None,
                    true,
                )
                .await
                .1;
        }
        assert_eq!(a["action_attempt"]["status"], "success");
        wait.push(t.elapsed());
    }
    let (a, b) = (median(v1), median(wait));
    println!(
        "  unlock       /v1 {a:.3} ms (vendor round trip + service), Seam unlock-and-wait {b:.3} ms: +{:.3} ms",
        b - a
    );
    svc.stop.cancel();
}

fn main() {
    lockbridge_vendors::register();
    let calls = common::knob("BENCH_CALLS", 200usize);
    let backend = std::env::var("BENCH_BACKEND").unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        if backend != "postgres" {
            bench(Backend::Sqlite, calls).await;
        }
        if backend != "sqlite" {
            bench(Backend::Postgres, calls).await;
        }
    });
}
