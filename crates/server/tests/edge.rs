//! The HTTP edge, from the outside: panics, wrong methods, large and slow bodies, idle and
//! slow connections over raw TCP, Idempotency-Key reuse, the last admin key and the
//! Authorization header, vendor words kept out of answers.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::routing::get;
use common::*;
use lockbridge_server::edge::{self, EdgeLimits};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn boom() -> &'static str {
    panic!("a bug, on purpose")
}

/// Serves `app`'s own router, plus a route that panics, behind the edge with short limits;
/// answers the base URL.
async fn serve_short(t: &TestApp, limits: EdgeLimits) -> (String, CancellationToken) {
    let routes = lockbridge_server::App::api()
        .router
        .route("/test/panic", get(boom));
    let app = t.app.clone().with_edge(limits.clone());
    let router = app.wrap(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move { edge::serve(router, listener, &limits, s).await });
    (url, stop)
}

fn short() -> EdgeLimits {
    EdgeLimits {
        header_read_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        max_connections: 20,
        shutdown_grace: Duration::from_millis(500),
        ..EdgeLimits::default()
    }
}

/// Reads until the server closes the connection; answers what it sent.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("the server closed the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

both_backends!(
    panics_wrong_methods_and_large_bodies_get_the_error_body,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let (url, _stop) = serve_short(&t, short()).await;
        let r = t
            .http
            .get(format!("{url}/test/panic"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["error"]["request_id"], id.as_str(), "{body}");
        assert!(
            !body.to_string().contains("on purpose"),
            "the panic stays in the log"
        );
        // The service goes on.
        assert_eq!(
            t.http
                .get(format!("{url}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        let r = t
            .call(reqwest::Method::PUT, "/v1/locks", Some(&t.admin), None)
            .await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (405, "method_not_allowed")
        );
        let big = "x".repeat((1 << 20) + 1);
        let r = t
            .http
            .post(format!("{}/v1/api-keys", t.url))
            .bearer_auth(&t.admin)
            .header("content-type", "application/json")
            .body(format!("{{\"name\": \"{big}\", \"role\": \"member\"}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large");
    }
);

both_backends!(
    idle_slow_and_flooding_connections_are_closed_in_time,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let (url, stop) = serve_short(&t, short()).await;
        let addr = url.trim_start_matches("http://").to_owned();
        // An idle connection, one whose headers never end, one whose body never ends.
        let mut idle = TcpStream::connect(&addr).await.unwrap();
        let mut slow_head = TcpStream::connect(&addr).await.unwrap();
        slow_head
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut slow_body = TcpStream::connect(&addr).await.unwrap();
        slow_body
            .write_all(
                format!(
                    "POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
                    t.admin
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(until_closed(&mut idle).await, "");
        until_closed(&mut slow_head).await;
        let answer = until_closed(&mut slow_body).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");

        // A body trickled a byte every 100 ms (each well within the 300 ms limit) is cut once
        // 300 ms have passed in all, not read to its end.
        let mut trickle = TcpStream::connect(&addr).await.unwrap();
        trickle
            .write_all(
                format!(
                    "POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 40\r\n\r\n",
                    t.admin
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut sent = 0;
        while sent < 40 && trickle.write_all(b" ").await.is_ok() {
            sent += 1;
            tick.tick().await;
        }
        let answer = until_closed(&mut trickle).await;
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "after {sent} bytes: {answer}"
        );
        assert!(sent < 40, "the whole body was read");

        // Twice as many idle connections as the service takes at once: they hold it no longer
        // than the header timeout, and a real request is answered after them.
        let mut flood = Vec::new();
        for _ in 0..40 {
            flood.push(TcpStream::connect(&addr).await.unwrap());
        }
        let r = t.http.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        for mut c in flood {
            until_closed(&mut c).await;
        }

        // Shutdown with a request in flight whose body never comes: over within the grace period.
        let mut stuck = TcpStream::connect(&addr).await.unwrap();
        stuck
            .write_all(b"POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            .await
            .unwrap();
        stop.cancel();
        until_closed(&mut stuck).await;
        assert!(
            TcpStream::connect(&addr).await.is_err(),
            "no longer listening"
        );
    }
);

both_backends!(
    idempotency_keys_answer_the_same_request_only,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let back = t.lock_id("Back door").await;
        let send = |lock: String, body: Value, key: &'static str| {
            let req = t
                .http
                .post(format!("{}/v1/locks/{lock}/access-codes", t.url))
                .bearer_auth(&t.admin)
                .header("Idempotency-Key", key)
                .json(&body);
            async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            }
        };
        let (status, first) = send(
            front.clone(),
            json!({"code": "802417", "name": "Anna"}),
            "booking-1",
        )
        .await;
        assert_eq!(status, 201);
        // The same request, keys in another order: the first answer.
        let (status, again) = send(
            front.clone(),
            json!({"name": "Anna", "code": "802417"}),
            "booking-1",
        )
        .await;
        assert_eq!((status, &again["id"]), (201, &first["id"]));
        for (lock, body) in [
            (front.clone(), json!({"code": "802418", "name": "Anna"})),
            (back.clone(), json!({"code": "802417", "name": "Anna"})),
        ] {
            let (status, r) = send(lock, body, "booking-1").await;
            assert_eq!(
                (status, r["error"]["code"].as_str()),
                (422, Some("idempotency_key_reused")),
                "{r}"
            );
        }
        // A body that is not even a request is refused as such; one the lock would refuse is
        // another request: neither is answered with the first code.
        let (status, _) = send(front.clone(), json!({"code": 12}), "booking-1").await;
        assert_eq!(status, 400);
        let (status, _) = send(front.clone(), json!({"code": "12"}), "booking-1").await;
        assert_eq!(status, 422);
        // Two keys on one request are ambiguous.
        let r = t
            .http
            .post(format!("{}/v1/locks/{front}/access-codes", t.url))
            .bearer_auth(&t.admin)
            .header("Idempotency-Key", "a")
            .header("Idempotency-Key", "b")
            .json(&json!({"code": "802419"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
);

both_backends!(
    keys_the_last_admin_and_the_authorization_header,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let keys = t.get("/v1/api-keys").await.body;
        let admin = keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == "admin")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = t.delete(&format!("/v1/api-keys/{admin}")).await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (409, "last_admin_key"));
        // With a second admin it can go.
        let second = t
            .post("/v1/api-keys", json!({"name": "second", "role": "admin"}))
            .await
            .body;
        let r = t.delete(&format!("/v1/api-keys/{admin}")).await;
        assert_eq!(r.status, 204);
        let key = second["key"].as_str().unwrap();
        // The scheme in any case; two Authorization headers are refused.
        let r = t
            .http
            .get(format!("{}/v1/locks", t.url))
            .header("authorization", format!("bearer {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = t
            .http
            .get(format!("{}/v1/locks", t.url))
            .header("authorization", format!("Bearer {key}"))
            .header("authorization", format!("Bearer {}", t.member))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
);

both_backends!(vendor_text_stays_in_the_log, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect().await;
    let front = t.lock_id("Front door").await;
    let fault = |route: &str| lockbridge_sim::faults::FaultRule {
        route: Some(route.into()),
        errcode: Some(-3002),
        count: Some(1),
        ..Default::default()
    };
    let fixed = "ttlock: the lock's gateway or bridge is offline (vendor code -3002)";
    t.sim.world().faults.add(fault("/v3/lock/unlock"));
    let r = t
        .post(&format!("/v1/locks/{front}/unlock"), json!({}))
        .await;
    assert_eq!(
        (
            r.status.as_u16(),
            error_code(&r),
            r.body["error"]["provider_code"].as_str(),
            r.body["error"]["message"].as_str()
        ),
        (503, "gateway_offline", Some("-3002"), Some(fixed)),
        "{}",
        r.body
    );
    // Stored errors carry the kind and the vendor's code, not its words.
    t.sim.world().faults.add(fault("/v3/keyboardPwd/add"));
    let r = t
        .post(
            &format!("/v1/locks/{front}/access-codes"),
            json!({"code": "640193"}),
        )
        .await;
    assert_eq!(
        (r.body["status"].as_str(), r.body["last_error"].as_str()),
        (Some("setting"), Some(fixed)),
        "{}",
        r.body
    );
    assert_eq!(r.body["errors"][0]["code"], "gateway_offline");
});

both_backends!(
    every_changing_post_takes_an_idempotency_key,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let post = |path: String, body: Value, key: &'static str| {
            let req = t
                .http
                .post(format!("{}{path}", t.url))
                .bearer_auth(&t.admin)
                .header("Idempotency-Key", key)
                .json(&body);
            async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let replayed = r.headers().contains_key("idempotent-replayed");
                (status, replayed, r.json::<Value>().await.unwrap())
            }
        };
        // An unlock sent twice (a client that lost the answer) opens the door once.
        let unlock = format!("/v1/locks/{front}/unlock");
        let (status, replayed, first) = post(unlock.clone(), json!({}), "open-1").await;
        assert_eq!((status, replayed), (200, false), "{first}");
        let (status, replayed, again) = post(unlock.clone(), json!({}), "open-1").await;
        assert_eq!((status, replayed, &again), (200, true, &first));
        assert_eq!(t.sim_calls("/v3/lock/unlock"), 1);
        // The key with another request is refused, and nothing is sent.
        let (status, _, r) = post(format!("/v1/locks/{front}/lock"), json!({}), "open-1").await;
        assert_eq!(
            (status, r["error"]["code"].as_str()),
            (422, Some("idempotency_key_reused"))
        );
        assert_eq!(t.sim_calls("/v3/lock/lock"), 0);
        // A failure worth retrying is not kept: the same key tries again.
        let gateway = t.sim.world().locks[&t.sim_lock(0)].gateway_id.unwrap();
        t.sim.world().gateways.get_mut(&gateway).unwrap().online = false;
        let (status, _, _) = post(format!("/v1/locks/{front}/lock"), json!({}), "close-1").await;
        assert_eq!(status, 503);
        t.sim.world().gateways.get_mut(&gateway).unwrap().online = true;
        let (status, replayed, _) =
            post(format!("/v1/locks/{front}/lock"), json!({}), "close-1").await;
        assert_eq!((status, replayed), (200, false));

        // A job submitted twice is one job.
        let items = json!([{"lock_id": front, "name": "Guest", "code": "613952"}]);
        let job = json!({"kind": "access_codes.create", "items": items});
        let (status, _, a) = post("/v1/jobs".into(), job.clone(), "import-1").await;
        assert_eq!(status, 202, "{a}");
        let (status, _, b) = post("/v1/jobs".into(), job, "import-1").await;
        assert_eq!((status, &b["id"]), (202, &a["id"]));
        let other =
            json!({"kind": "access_codes.create", "items": [{"lock_id": front, "code": "613953"}]});
        let (status, _, r) = post("/v1/jobs".into(), other, "import-1").await;
        assert_eq!(
            (status, r["error"]["code"].as_str()),
            (422, Some("idempotency_key_reused"))
        );
        lockbridge_app::jobs::run_due(&t.app.state).await.unwrap();
        let on_lock: Vec<String> = t.pins_on(0).into_iter().map(|(pin, _)| pin).collect();
        assert_eq!(
            on_lock.iter().filter(|p| *p == "613952").count(),
            1,
            "{on_lock:?}"
        );
    }
);
