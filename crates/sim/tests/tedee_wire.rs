//! The Tedee fake on the wire: create-PIN's statuses, the envelope, auth and scopes,
//! versions, path quirks, operations and the rate limit.
#![allow(clippy::unwrap_used)]

use lockbridge_sim::Running;
use lockbridge_sim::tedee::{TedeeDemo, TedeeSim};
use reqwest::Method;
use serde_json::{Value, json};

struct Tedee {
    sim: TedeeSim,
    server: Running,
    http: reqwest::Client,
    demo: TedeeDemo,
}

struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

impl Tedee {
    async fn new() -> Self {
        let sim = TedeeSim::new(3);
        let demo = sim.seed_demo();
        let server = sim.start_local().await.unwrap();
        Tedee {
            sim,
            server,
            http: reqwest::Client::new(),
            demo,
        }
    }

    async fn call_as(&self, auth: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.server.base_url()))
            .header("authorization", auth);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json-patch+json")
                .body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            retry_after,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("PersonalKey {}", self.demo.personal_access_key);
        self.call_as(&auth, method, path, body).await
    }

    fn lock(&self, i: usize) -> i64 {
        self.demo.lock_ids[i]
    }

    async fn create(&self, lock: i64, pin: &str) -> Answer {
        self.call(
            Method::POST,
            &format!("/api/v37/my/lock/{lock}/pin"),
            Some(json!({"alias": "guest", "pin": pin})),
        )
        .await
    }
}

#[tokio::test]
async fn create_pin_answers_every_status_of_the_seed() {
    let t = Tedee::new().await;
    let flat1 = t.lock(0);

    let created = t.create(flat1, "918274").await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["statusCode"], 201);
    assert_eq!(created.body["success"], true);
    assert_eq!(created.body["errorMessages"], json!([]));
    let id = created.body["result"]["id"].as_i64().unwrap();
    assert_eq!(t.sim.world().locks[&flat1].pins[&id].pin, "918274");

    // 400: the five rules (rule 5 read leniently here: only unit-step runs).
    for bad in [
        "",
        "   ",
        "1234",
        "123456789",
        "12a45",
        "11122",
        "12345",
        "54321",
        "3456789",
    ] {
        let a = t.create(flat1, bad).await;
        assert_eq!(
            (a.status, a.body["success"].as_bool()),
            (400, Some(false)),
            "{bad:?}"
        );
        assert_eq!(a.body["statusCode"], 400);
        assert!(!a.body["errorMessages"][0].as_str().unwrap().is_empty());
    }
    for lenient in ["13579", "67890", "11223"] {
        assert_eq!(t.create(flat1, lenient).await.status, 201, "{lenient}");
    }
    // 406: the same PIN again.
    let dup = t.create(flat1, "918274").await;
    assert_eq!(dup.status, 406);
    // 428: a disconnected lock, and a lock without keypad or bridge.
    assert_eq!(t.create(t.lock(2), "480213").await.status, 428);
    assert_eq!(t.create(t.lock(3), "480213").await.status, 428);
    // 408: the device does not answer.
    t.sim.world().locks.get_mut(&flat1).unwrap().not_responding = true;
    assert_eq!(t.create(flat1, "480213").await.status, 408);
    t.sim.world().locks.get_mut(&flat1).unwrap().not_responding = false;
    // 412: no more PINs (or 422 when configured as in 2021–2026).
    let pins_now = t.sim.world().locks[&flat1].pins.len();
    t.sim.world().config.pin_capacity = pins_now;
    assert_eq!(t.create(flat1, "480213").await.status, 412);
    t.sim.world().config.slots_full_status = 422;
    assert_eq!(t.create(flat1, "480213").await.status, 422);
    t.sim.world().config.pin_capacity = 100;
    // 403: a user without access to the lock, and a key without Device.ReadWrite.
    let stranger = {
        let mut w = t.sim.world();
        let u = w.add_user("Stranger", "s@x.test");
        w.add_key(u, &[], None)
    };
    let a = t
        .call_as(
            &format!("PersonalKey {stranger}"),
            Method::POST,
            &format!("/api/v37/my/lock/{flat1}/pin"),
            Some(json!({"alias": "x", "pin": "480213"})),
        )
        .await;
    assert_eq!(a.status, 403);
    let read_only = {
        let mut w = t.sim.world();
        let owner = w.locks[&flat1].owner;
        w.add_key(owner, &["Device.Read".to_owned()], None)
    };
    let a = t
        .call_as(
            &format!("PersonalKey {read_only}"),
            Method::POST,
            &format!("/api/v37/my/lock/{flat1}/pin"),
            Some(json!({"alias": "x", "pin": "480213"})),
        )
        .await;
    assert_eq!(a.status, 403);
    let a = t
        .call_as(
            &format!("PersonalKey {read_only}"),
            Method::GET,
            &format!("/api/v37/my/lock/{flat1}/pin"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "reading needs Device.Read only");
    // 401: no key, a wrong key.
    assert_eq!(
        t.call_as("PersonalKey nope", Method::GET, "/api/v37/my/lock", None)
            .await
            .status,
        401
    );
    assert_eq!(
        t.call_as("", Method::GET, "/api/v37/my/lock", None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_second_command_while_the_device_works_gets_409() {
    let t = Tedee::new().await;
    t.sim.world().config.device_latency_ms = 2000;
    let flat1 = t.lock(0);
    let (a, b) = tokio::join!(t.create(flat1, "480213"), async {
        // Wait until the first command is being carried out, then send the second.
        while !t.sim.world().locks[&flat1].busy {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        t.create(flat1, "592614").await
    });
    assert_eq!((a.status, b.status), (201, 409));
    t.sim.world().config.device_latency_ms = 0;
    assert_eq!(
        t.create(flat1, "592614").await.status,
        201,
        "free again afterwards"
    );
}

#[tokio::test]
async fn pins_list_versions_get_update_delete() {
    let t = Tedee::new().await;
    let flat1 = t.lock(0);
    let list = t
        .call(Method::GET, &format!("/api/v37/my/lock/{flat1}/pin"), None)
        .await;
    assert_eq!(list.status, 200);
    let version = list.body["result"]["listVersion"].as_i64().unwrap();
    assert_eq!(list.body["result"]["pins"].as_array().unwrap().len(), 2);
    let same = t
        .call(
            Method::GET,
            &format!("/api/v37/my/lock/{flat1}/pin?listVersion={version}"),
            None,
        )
        .await;
    assert_eq!(same.status, 304);
    let id = list.body["result"]["pins"][1]["id"].as_i64().unwrap();
    let one = t
        .call(
            Method::GET,
            &format!("/api/v37/my/lock/{flat1}/pin/{id}"),
            None,
        )
        .await;
    assert_eq!(one.body["result"]["weekDays"], 48);
    assert_eq!(one.body["result"]["pin"], "48213");

    let put = t
        .call(
            Method::PUT,
            &format!("/api/v37/my/lock/{flat1}/pin/{id}"),
            Some(json!({"alias": "renamed", "pin": "48214", "weekDays": 31})),
        )
        .await;
    assert_eq!(put.status, 204);
    let one = t
        .call(
            Method::GET,
            &format!("/api/v37/my/lock/{flat1}/pin/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (
            one.body["result"]["alias"].as_str(),
            one.body["result"]["startDate"].is_null()
        ),
        (Some("renamed"), true),
        "PUT replaces every field"
    );
    let changed = t
        .call(
            Method::GET,
            &format!("/api/v37/my/lock/{flat1}/pin?listVersion={version}"),
            None,
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(
        t.call(
            Method::PUT,
            &format!("/api/v37/my/lock/{flat1}/pin/{id}"),
            Some(json!({"alias": "x", "pin": "918273"}))
        )
        .await
        .status,
        406
    );
    assert_eq!(
        t.call(
            Method::DELETE,
            &format!("/api/v37/my/lock/{flat1}/pin/{id}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        t.call(
            Method::DELETE,
            &format!("/api/v37/my/lock/{flat1}/pin/{id}"),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        t.call(
            Method::GET,
            &format!("/api/v37/my/lock/{flat1}/pin/{id}"),
            None
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn versions_paths_and_naming() {
    let t = Tedee::new().await;
    let v37 = t.call(Method::GET, "/api/v37/my/lock", None).await;
    let first = &v37.body["result"][0];
    assert_eq!(first["deviceState"]["batteryLevel"], 76);
    assert!(first.get("lockProperties").is_none());
    let old = t.call(Method::GET, "/API/V1.32/My/Lock/", None).await;
    assert_eq!(old.status, 200, "case-insensitive path, trailing slash");
    assert_eq!(old.body["result"][0]["lockProperties"]["batteryLevel"], 76);
    let v134 = t.call(Method::GET, "/api/v1.34/my/lock/sync", None).await;
    assert!(
        v134.body["result"][0].get("lockProperties").is_some(),
        "sync renamed only in v1.35"
    );
    let sync = t
        .call(
            Method::GET,
            &format!("/api/v37/my/lock/sync?ID={}&id={}", t.lock(1), t.lock(2)),
            None,
        )
        .await;
    let items = sync.body["result"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let office = items.iter().find(|l| l["id"] == t.lock(2)).unwrap();
    assert_eq!(
        (
            office["isConnected"].as_bool(),
            office["deviceState"].is_null()
        ),
        (Some(false), true)
    );
    assert_eq!(
        t.call(Method::GET, "/api/v1.5/my/lock", None).await.status,
        404
    );
    let cellar = t
        .call(
            Method::GET,
            &format!("/api/v37/my/lock/{}", t.lock(3)),
            None,
        )
        .await;
    assert!(
        cellar.body["result"]["isConnected"].is_null(),
        "no bridge: isConnected null"
    );
    let bridges = t.call(Method::GET, "/api/v37/my/bridge", None).await;
    assert_eq!(bridges.body["result"][0]["id"], t.demo.bridge_ids[0]);
}

#[tokio::test]
async fn operations_complete_asynchronously_and_are_logged() {
    let t = Tedee::new().await;
    t.sim.world().config.operation_ms = 60_000;
    let flat1 = t.lock(0);
    let op = t
        .call(
            Method::POST,
            &format!("/api/v37/my/lock/{flat1}/operation/unlock?mode=3"),
            None,
        )
        .await;
    assert_eq!(op.status, 202);
    let id = op.body["result"]["operationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.parse::<i64>().is_ok(), "epoch-ms digits");
    let pending = t
        .call(
            Method::GET,
            &format!("/api/v37/my/device/operation/{id}"),
            None,
        )
        .await;
    assert_eq!(pending.body["result"]["status"], "PENDING");
    assert_eq!(pending.body["result"]["type"], 1);
    assert_eq!(
        t.call(
            Method::POST,
            &format!("/api/v37/my/lock/{flat1}/operation/lock"),
            None
        )
        .await
        .status,
        409
    );
    t.sim.world().clock_offset_ms += 61_000;
    // Any request sees the completed operation (a client may sync without polling it).
    let synced = t
        .call(Method::GET, &format!("/api/v37/my/lock/{flat1}/sync"), None)
        .await;
    assert_eq!(synced.body["result"]["deviceState"]["state"], 2);
    let done = t
        .call(
            Method::GET,
            &format!("/api/v37/my/device/operation/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (
            done.body["result"]["status"].as_str(),
            done.body["result"]["result"].as_i64()
        ),
        (Some("COMPLETED"), Some(0))
    );
    assert_eq!(t.sim.world().locks[&flat1].state, 2);
    let log = t
        .call(
            Method::GET,
            &format!("/api/v37/my/deviceactivity?deviceId={flat1}&elements=2"),
            None,
        )
        .await;
    assert_eq!(
        log.body["result"][0]["event"], 33,
        "UnlockedRemote, newest first"
    );
    assert!(
        !log.body["result"][0]["date"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(
        t.call(
            Method::POST,
            &format!("/api/v37/my/lock/{}/operation/unlock", t.lock(2)),
            None
        )
        .await
        .status,
        428
    );
    assert_eq!(
        t.call(Method::GET, "/api/v37/my/device/operation/42", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let t = Tedee::new().await;
    {
        let mut w = t.sim.world();
        w.config.rate_limit = 3;
        w.config.rate_window_s = 3600;
    }
    for _ in 0..3 {
        assert_eq!(
            t.call(Method::GET, "/api/v37/my/lock", None).await.status,
            200
        );
    }
    let limited = t.call(Method::GET, "/api/v37/my/lock", None).await;
    assert_eq!(limited.status, 429);
    let secs: i64 = limited.retry_after.unwrap().parse().unwrap();
    assert!((1..=3600).contains(&secs));
    assert_eq!(limited.body["statusCode"], 429);
    // The next window opens on the hour.
    t.sim.world().clock_offset_ms += secs * 1000;
    assert_eq!(
        t.call(Method::GET, "/api/v37/my/lock", None).await.status,
        200
    );
}

#[tokio::test]
async fn keypad_entries_respect_windows_and_expired_pins_disappear() {
    let t = Tedee::new().await;
    let flat2 = t.lock(1);
    let now = t.sim.world().now_ms();
    let end = lockbridge_sim::tedee::time::format_z(now + 3_600_000);
    let created = t
        .call(
            Method::POST,
            &format!("/api/v37/my/lock/{flat2}/pin"),
            Some(json!({"alias": "hour", "pin": "362514", "endDate": end})),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(t.sim.world().keypad(flat2, "362514"), Some(true));
    assert_eq!(t.sim.world().keypad(flat2, "999999"), Some(false));
    t.sim.world().clock_offset_ms += 3_700_000;
    let list = t
        .call(Method::GET, &format!("/api/v37/my/lock/{flat2}/pin"), None)
        .await;
    assert!(
        list.body["result"]["pins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["alias"] != "hour")
    );
    let log = t
        .call(
            Method::GET,
            &format!("/api/v37/my/deviceactivity?deviceid={flat2}"),
            None,
        )
        .await;
    let events: Vec<i64> = log.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"].as_i64().unwrap())
        .collect();
    assert_eq!(&events[..2], &[62, 61]);
}

#[tokio::test]
async fn oauth_refresh_and_bearer_tokens() {
    let t = Tedee::new().await;
    let (access, refresh) = {
        let mut w = t.sim.world();
        let owner = w.locks[&t.lock(0)].owner;
        w.issue_oauth(owner, vec!["Device.Read".into()], 60)
    };
    assert_eq!(
        t.call_as(
            &format!("Bearer {access}"),
            Method::GET,
            "/api/v37/my/lock",
            None
        )
        .await
        .status,
        200
    );
    t.sim.world().clock_offset_ms += 61_000;
    assert_eq!(
        t.call_as(
            &format!("Bearer {access}"),
            Method::GET,
            "/api/v37/my/lock",
            None
        )
        .await
        .status,
        401
    );
    let r = t
        .http
        .post(format!(
            "{}{}",
            t.server.base_url(),
            lockbridge_sim::tedee::TOKEN_PATH
        ))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "x"),
        ])
        .send()
        .await
        .unwrap();
    let granted: Value = r.json().await.unwrap();
    assert_eq!(granted["expires_in"], "3600");
    let fresh = granted["access_token"].as_str().unwrap();
    assert_eq!(
        t.call_as(
            &format!("Bearer {fresh}"),
            Method::GET,
            "/api/v37/my/lock",
            None
        )
        .await
        .status,
        200
    );
    let op = t
        .call_as(
            &format!("Bearer {fresh}"),
            Method::POST,
            &format!("/api/v37/my/lock/{}/operation/lock", t.lock(1)),
            None,
        )
        .await;
    assert_eq!(op.status, 403, "no Lock.Operate scope");
}
