//! The TTLock fake at the wire level, from the request/response examples of vendors/ttlock.md.

#![allow(clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use lockbridge_sim::Running;
use lockbridge_sim::ttlock::{DemoAccount, TtlockSim, md5_hex};
use serde_json::{Value, json};

struct Fixture {
    sim: TtlockSim,
    server: Running,
    http: reqwest::Client,
    demo: DemoAccount,
    token: String,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl Fixture {
    async fn new() -> Self {
        let sim = TtlockSim::new(42);
        let demo = sim.seed_demo();
        let server = sim.start_local().await.unwrap();
        let mut f = Fixture {
            sim,
            server,
            http: reqwest::Client::new(),
            demo,
            token: String::new(),
        };
        let body = f.token_grant(&[("grant_type", "password")]).await;
        f.token = body["access_token"].as_str().unwrap().to_owned();
        f
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn token_grant(&self, extra: &[(&str, &str)]) -> Value {
        let md5 = md5_hex(&self.demo.password);
        let mut form = vec![
            ("client_id", self.demo.client_id.as_str()),
            ("client_secret", self.demo.client_secret.as_str()),
            ("username", self.demo.username.as_str()),
            ("password", md5.as_str()),
        ];
        form.extend_from_slice(extra);
        self.post("/oauth2/token", &form).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let resp = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "TTLock answers 200 even for errors");
        resp.json().await.unwrap()
    }

    /// A `/v3` call with the common parameters in the form body.
    async fn call(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let date = now_ms().to_string();
        let mut form = vec![
            ("clientId", self.demo.client_id.as_str()),
            ("accessToken", self.token.as_str()),
            ("date", date.as_str()),
        ];
        form.extend_from_slice(params);
        self.post(path, &form).await
    }

    fn lock(&self, i: usize) -> String {
        self.demo.lock_ids[i].to_string()
    }
}

fn errcode(v: &Value) -> i64 {
    v["errcode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no errcode in {v}"))
}

#[tokio::test]
async fn password_grant_answers_the_documented_token() {
    let f = Fixture::new().await;
    let body = f.token_grant(&[]).await;
    for key in ["access_token", "refresh_token"] {
        let t = body[key].as_str().unwrap();
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(body["expires_in"], 7_776_000);
    assert!(body["uid"].is_i64());
    assert!(body.get("errcode").is_none());

    // camelCase spelling, and no grant_type at all.
    let md5 = md5_hex(&f.demo.password);
    let camel = f
        .post(
            "/oauth2/token",
            &[
                ("clientId", &f.demo.client_id),
                ("clientSecret", &f.demo.client_secret),
                ("username", &f.demo.username),
                ("password", &md5),
            ],
        )
        .await;
    assert!(camel["access_token"].is_string(), "{camel}");
}

#[tokio::test]
async fn refresh_grant_rotates_and_has_no_uid() {
    let f = Fixture::new().await;
    let first = f.token_grant(&[]).await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let body = f
        .post(
            "/oauth2/token",
            &[
                ("client_id", &f.demo.client_id),
                ("client_secret", &f.demo.client_secret),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
            ],
        )
        .await;
    assert!(body.get("uid").is_none(), "{body}");
    assert_ne!(body["refresh_token"], first["refresh_token"]);
    assert_eq!(f.sim.world().calls["/oauth2/token#refresh_token"], 1);

    let bad = f
        .post(
            "/oauth2/token",
            &[
                ("client_id", &f.demo.client_id),
                ("client_secret", &f.demo.client_secret),
                ("grant_type", "refresh_token"),
                ("refresh_token", "0123"),
            ],
        )
        .await;
    assert_eq!(errcode(&bad), 10011);
}

#[tokio::test]
async fn oauth_refusals_use_the_three_key_envelope() {
    let f = Fixture::new().await;
    let wrong_secret = f
        .post(
            "/oauth2/token",
            &[
                ("client_id", &f.demo.client_id),
                ("client_secret", "nope"),
                ("username", "x"),
                ("password", "y"),
            ],
        )
        .await;
    assert_eq!(
        wrong_secret,
        json!({"errcode": 10001, "errmsg": "invalid client",
        "description": "无效的client，client_id或client_secret错误"})
    );

    let plain = f.token_grant(&[("password", "lockbridge-demo")]).await;
    assert_eq!(errcode(&plain), 30005, "a plain password is refused");
    let wrong = f.token_grant(&[("password", &md5_hex("wrong"))]).await;
    assert_eq!(errcode(&wrong), 10007);
    let unknown = f
        .post(
            "/oauth2/token",
            &[("client_id", "abc"), ("client_secret", "x")],
        )
        .await;
    assert_eq!(errcode(&unknown), 10000);
    let grant = f.token_grant(&[("grant_type", "authorization_code")]).await;
    assert_eq!(errcode(&grant), 10010);
}

#[tokio::test]
async fn get_and_merged_query_and_form_parameters_work() {
    let f = Fixture::new().await;
    let date = now_ms().to_string();
    // GET with everything in the query string.
    let url = f.url("/v3/lock/list");
    let q = [
        ("clientId", f.demo.client_id.as_str()),
        ("accessToken", &f.token),
        ("date", &date),
        ("pageNo", "1"),
        ("pageSize", "20"),
    ];
    let got: Value = f
        .http
        .get(&url)
        .query(&q)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["total"], 5);
    assert_eq!(got["list"].as_array().unwrap().len(), 5);
    assert!(
        got.get("errcode").is_none(),
        "data answers carry no errcode"
    );
    let item = &got["list"][0];
    for key in [
        "lockId",
        "lockName",
        "lockAlias",
        "lockMac",
        "electricQuantity",
        "featureValue",
        "hasGateway",
    ] {
        assert!(item.get(key).is_some(), "lock item lacks {key}: {item}");
    }

    // POST with the common parameters in the query and the business ones in the body.
    let lock = f.lock(0);
    let merged: Value = f
        .http
        .post(url.replace("lock/list", "lock/detail"))
        .query(&[
            ("clientId", f.demo.client_id.as_str()),
            ("accessToken", &f.token),
            ("date", &date),
        ])
        .form(&[("lockId", lock.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(merged["lockAlias"], "Front door");
    assert_eq!(merged["hasGateway"], 1);
}

#[tokio::test]
async fn common_checks_token_date_and_ownership() {
    let f = Fixture::new().await;
    let stale = (now_ms() - 301_000).to_string();
    let v = f
        .post(
            "/v3/lock/list",
            &[
                ("clientId", &f.demo.client_id),
                ("accessToken", &f.token),
                ("date", &stale),
            ],
        )
        .await;
    assert_eq!(errcode(&v), 80000);
    let v = f
        .post(
            "/v3/lock/list",
            &[
                ("clientId", &f.demo.client_id),
                ("accessToken", "f00"),
                ("date", &now_ms().to_string()),
            ],
        )
        .await;
    assert_eq!(errcode(&v), 10003);
    assert_eq!(
        errcode(&f.call("/v3/lock/detail", &[("lockId", "1")]).await),
        -1003
    );

    f.sim.world().clock_offset_ms += 7_776_000 * 1000;
    let v = f
        .call("/v3/lock/list", &[("pageNo", "1"), ("pageSize", "20")])
        .await;
    assert_eq!(
        v,
        json!({"errcode": 10004, "errmsg": "invalid grant",
        "description": "token无授权，token已失效或被撤销授权"})
    );
}

#[tokio::test]
async fn add_passcode_rules() {
    let f = Fixture::new().await;
    let (front, shed, storage) = (f.lock(0), f.lock(4), f.lock(2));
    let add = |lock: String, code: &'static str| {
        let f = &f;
        async move {
            f.call(
                "/v3/keyboardPwd/add",
                &[
                    ("lockId", &lock),
                    ("keyboardPwd", code),
                    ("keyboardPwdType", "2"),
                    ("addType", "2"),
                ],
            )
            .await
        }
    };
    let ok = add(front.clone(), "0246").await;
    assert!(ok["keyboardPwdId"].is_i64(), "{ok}");
    assert!(ok.get("errcode").is_none());
    let dup = add(front.clone(), "0246").await;
    assert_eq!(errcode(&dup), -3007);
    assert_eq!(
        dup["errmsg"],
        "The same passcode\u{a0}already exists. Please use another one."
    );
    assert_eq!(errcode(&add(front.clone(), "123").await), -3006);
    assert_eq!(errcode(&add(front.clone(), "1234567890").await), -3006);
    assert_eq!(errcode(&add(front.clone(), "12a456").await), -3006);
    assert_eq!(errcode(&add(shed, "555111").await), -2012);
    assert_eq!(errcode(&add(storage, "555111").await), -3002);

    // Period codes need both dates.
    let v = f
        .call(
            "/v3/keyboardPwd/add",
            &[("lockId", &front), ("keyboardPwd", "88990011")],
        )
        .await;
    assert_eq!(errcode(&v), -3);

    // The code went to the lock through the gateway: it opens the door.
    assert_eq!(f.sim.world().keypad(f.demo.lock_ids[0], "0246"), Some(true));
    // A Bluetooth add type only records the code in the cloud.
    let start = now_ms().to_string();
    let end = (now_ms() + 3_600_000).to_string();
    let bt = f
        .call(
            "/v3/keyboardPwd/add",
            &[
                ("lockId", &front),
                ("keyboardPwd", "97531"),
                ("startDate", &start),
                ("endDate", &end),
            ],
        )
        .await;
    assert!(bt["keyboardPwdId"].is_i64(), "{bt}");
    assert_eq!(
        f.sim.world().keypad(f.demo.lock_ids[0], "97531"),
        Some(false)
    );
}

#[tokio::test]
async fn capacity_is_enforced() {
    let f = Fixture::new().await;
    f.sim.world().config.capacity = 3;
    let front = f.lock(0); // holds two demo codes already
    let first = f
        .call(
            "/v3/keyboardPwd/add",
            &[
                ("lockId", &front),
                ("keyboardPwd", "11112222"),
                ("keyboardPwdType", "2"),
                ("addType", "2"),
            ],
        )
        .await;
    assert!(first["keyboardPwdId"].is_i64());
    let full = f
        .call(
            "/v3/keyboardPwd/add",
            &[
                ("lockId", &front),
                ("keyboardPwd", "33334444"),
                ("keyboardPwdType", "2"),
                ("addType", "2"),
            ],
        )
        .await;
    assert_eq!(errcode(&full), -3009);
}

#[tokio::test]
async fn list_change_and_delete_passcodes() {
    let f = Fixture::new().await;
    let front = f.lock(0);
    let list = f
        .call(
            "/v3/lock/listKeyboardPwd",
            &[
                ("lockId", &front),
                ("pageNo", "1"),
                ("pageSize", "20"),
                ("orderBy", "0"),
            ],
        )
        .await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["list"][0]["keyboardPwdName"], "Cleaner");
    let id = list["list"][0]["keyboardPwdId"]
        .as_i64()
        .unwrap()
        .to_string();

    let by_code = f
        .call(
            "/v3/lock/listKeyboardPwd",
            &[("lockId", &front), ("searchStr", "482913")],
        )
        .await;
    assert_eq!(by_code["total"], 1);
    let by_name = f
        .call(
            "/v3/lock/listKeyboardPwd",
            &[("lockId", &front), ("searchStr", "guest")],
        )
        .await;
    assert_eq!(by_name["list"][0]["keyboardPwd"], "70315");

    let ack = f
        .call(
            "/v3/keyboardPwd/change",
            &[
                ("lockId", &front),
                ("keyboardPwdId", &id),
                ("newKeyboardPwd", "4820"),
                ("keyboardPwdName", "Cleaning crew"),
                ("changeType", "2"),
            ],
        )
        .await;
    assert_eq!(
        ack,
        json!({"errcode": 0, "errmsg": "none error message or means yes", "description": "表示成功或是"})
    );
    let one_date = f
        .call(
            "/v3/keyboardPwd/change",
            &[
                ("lockId", &front),
                ("keyboardPwdId", &id),
                ("startDate", "1"),
            ],
        )
        .await;
    assert_eq!(errcode(&one_date), -3);
    {
        let w = f.sim.world();
        let code = &w.locks[&f.demo.lock_ids[0]].passcodes[&id.parse::<i64>().unwrap()];
        assert_eq!(
            (code.code.as_str(), code.name.as_deref()),
            ("4820", Some("Cleaning crew"))
        );
    }
    let del = f
        .call(
            "/v3/keyboardPwd/delete",
            &[
                ("lockId", &front),
                ("keyboardPwdId", &id),
                ("deleteType", "2"),
            ],
        )
        .await;
    assert_eq!(errcode(&del), 0);
    assert_eq!(f.sim.world().locks[&f.demo.lock_ids[0]].passcodes.len(), 1);
}

#[tokio::test]
async fn unlock_lock_state_battery_and_records() {
    let f = Fixture::new().await;
    let front = f.lock(0);
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &front)]).await),
        0
    );
    assert_eq!(
        f.call("/v3/lock/queryOpenState", &[("lockId", &front)])
            .await,
        json!({"state": 1})
    );
    assert_eq!(
        errcode(&f.call("/v3/lock/lock", &[("lockId", &front)]).await),
        0
    );
    assert_eq!(
        f.call("/v3/lock/queryOpenState", &[("lockId", &front)])
            .await,
        json!({"state": 0})
    );
    assert_eq!(
        f.call("/v3/lock/queryElectricQuantity", &[("lockId", &front)])
            .await,
        json!({"electricQuantity": 87})
    );
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &f.lock(4))]).await),
        -2012
    );

    let recs = f
        .call(
            "/v3/lockRecord/list",
            &[("lockId", &front), ("pageNo", "1"), ("pageSize", "20")],
        )
        .await;
    let list = recs["list"].as_array().unwrap();
    assert_eq!(
        recs["total"], 4,
        "two keypad entries from the demo, unlock, lock"
    );
    assert_eq!(list[0]["recordType"], 11, "newest first");
    assert_eq!(list[1]["recordType"], 12);
    assert_eq!(list[3]["keyboardPwd"], "482913");
    assert_eq!(list[3]["username"], "Cleaner");
    let failed = f
        .call(
            "/v3/lockRecord/list",
            &[("lockId", &front), ("searchStr", "111111")],
        )
        .await;
    assert_eq!(failed["list"][0]["success"], 0);
}

#[tokio::test]
async fn a_gateway_carries_out_one_command_at_a_time() {
    let f = Fixture::new().await;
    f.sim.world().config.gateway_latency_ms = 300;
    let (front, back) = (f.lock(0), f.lock(1));
    let (pa, pb) = ([("lockId", front.as_str())], [("lockId", back.as_str())]);
    let (a, b) = tokio::join!(
        f.call("/v3/lock/unlock", &pa),
        f.call("/v3/lock/unlock", &pb)
    );
    let mut codes = [errcode(&a), errcode(&b)];
    codes.sort();
    assert_eq!(codes, [-3003, 0], "{a} {b}");
    // Once the first command ends the gateway is free again.
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &back)]).await),
        0
    );
}

#[tokio::test]
async fn algorithmic_codes_are_hour_precise_strings() {
    let f = Fixture::new().await;
    let front = f.lock(0);
    let start = 1_900_000_000_000i64 + 20 * 60 * 1000; // 20 minutes past an hour
    let end = start + 48 * 3_600_000;
    let (s, e) = (start.to_string(), end.to_string());
    let v = f
        .call(
            "/v3/keyboardPwd/get",
            &[
                ("lockId", &front),
                ("keyboardPwdType", "3"),
                ("startDate", &s),
                ("endDate", &e),
            ],
        )
        .await;
    let code = v["keyboardPwd"].as_str().unwrap();
    assert!((6..=9).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()));
    let id = v["keyboardPwdId"].as_i64().unwrap();
    assert_eq!(
        f.sim.world().locks[&f.demo.lock_ids[0]].passcodes[&id].start_ms % 3_600_000,
        0
    );
    let again = f
        .call(
            "/v3/keyboardPwd/get",
            &[
                ("lockId", &front),
                ("keyboardPwdType", "3"),
                ("startDate", &s),
                ("endDate", &e),
            ],
        )
        .await;
    assert_eq!(errcode(&again), -3007);
    let bad = f
        .call(
            "/v3/keyboardPwd/get",
            &[
                ("lockId", &front),
                ("keyboardPwdType", "15"),
                ("startDate", &s),
            ],
        )
        .await;
    assert_eq!(errcode(&bad), -3);
}

#[tokio::test]
async fn gateways_and_their_locks() {
    let f = Fixture::new().await;
    let gws = f
        .call(
            "/v3/gateway/list",
            &[("pageNo", "1"), ("pageSize", "20"), ("orderBy", "0")],
        )
        .await;
    assert_eq!(gws["total"], 2);
    assert_eq!(gws["list"][0]["gatewayName"], "Annex gateway");
    assert_eq!(gws["list"][0]["isOnline"], 0);
    assert_eq!(gws["list"][1]["lockNum"], 2);
    let lobby = f.demo.gateway_ids[0].to_string();
    let locks = f
        .call("/v3/gateway/listLock", &[("gatewayId", &lobby)])
        .await;
    assert_eq!(locks["list"].as_array().unwrap().len(), 2);
    assert!(locks.get("pageNo").is_none());
    let by_lock = f
        .call("/v3/gateway/listByLock", &[("lockId", &f.lock(0))])
        .await;
    assert_eq!(by_lock["list"][0]["gatewayId"].to_string(), lobby);
    assert_eq!(
        errcode(&f.call("/v3/gateway/listLock", &[("gatewayId", "1")]).await),
        -4037
    );
}

#[tokio::test]
async fn control_api_faults_clock_and_unknown_paths() {
    let f = Fixture::new().await;
    let ctl = |path: &str| format!("{}/_sim{path}", f.server.base_url());
    let rule = json!({"route": "/v3/lock/unlock", "errcode": -3003, "count": 1});
    f.http
        .post(ctl("/faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    let front = f.lock(0);
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &front)]).await),
        -3003
    );
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &front)]).await),
        0
    );

    let outage = json!({"http_status": 503, "count": 1});
    f.http
        .post(ctl("/faults"))
        .json(&outage)
        .send()
        .await
        .unwrap();
    let resp = f.http.post(f.url("/v3/lock/list")).send().await.unwrap();
    assert_eq!(resp.status(), 503);

    let gw = f.demo.gateway_ids[0];
    f.http
        .post(ctl(&format!("/gateways/{gw}/online")))
        .json(&json!({"online": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &front)]).await),
        -3002
    );

    let clock: Value = f
        .http
        .post(ctl("/clock"))
        .json(&json!({"advance_seconds": 7_776_001}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["offset_ms"], 7_776_001_000i64);
    assert_eq!(errcode(&f.call("/v3/lock/list", &[]).await), 10004);

    let calls: Value = f
        .http
        .get(ctl("/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["/v3/lock/unlock"], 3);
    assert_eq!(
        f.http
            .get(f.url("/v3/nope/nothing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let state: Value = f
        .http
        .get(ctl("/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["locks"].as_object().unwrap().len(), 5);
    f.http.post(ctl("/reset")).send().await.unwrap();
    assert!(f.sim.world().locks.is_empty());
}

#[tokio::test]
async fn the_same_seed_gives_the_same_world() {
    let (a, b) = (TtlockSim::new(9), TtlockSim::new(9));
    let (da, db) = (a.seed_demo(), b.seed_demo());
    assert_eq!(da.client_id, db.client_id);
    assert_eq!(da.lock_ids, db.lock_ids);
    assert_ne!(TtlockSim::new(10).seed_demo().client_id, da.client_id);
}

#[tokio::test]
async fn an_offline_lock_behind_an_online_gateway_is_unreachable() {
    let f = Fixture::new().await;
    let ctl = format!("{}/_sim/locks/{}/online", f.server.base_url(), f.lock(1));
    f.http
        .post(ctl)
        .json(&json!({"online": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        errcode(&f.call("/v3/lock/unlock", &[("lockId", &f.lock(1))]).await),
        -3036
    );
    // Cloud-only reads still work.
    assert_eq!(
        f.call("/v3/lock/detail", &[("lockId", &f.lock(1))]).await["lockAlias"],
        "Back door"
    );
}

#[tokio::test]
async fn an_error_rate_is_drawn_from_the_seed() {
    async fn outcomes(seed: u64) -> Vec<i64> {
        let f = Fixture::new().await;
        f.sim.world().rng = lockbridge_sim::rng::Rng::new(seed);
        f.sim.world().faults.add(lockbridge_sim::faults::FaultRule {
            route: Some("/v3/lock/detail".into()),
            errcode: Some(90000),
            rate: Some(0.5),
            ..Default::default()
        });
        let mut seen = Vec::new();
        for _ in 0..40 {
            let v = f.call("/v3/lock/detail", &[("lockId", &f.lock(0))]).await;
            seen.push(v.get("errcode").and_then(Value::as_i64).unwrap_or(0));
        }
        seen
    }
    let a = outcomes(5).await;
    assert_eq!(a, outcomes(5).await, "same seed, same failures");
    let failed = a.iter().filter(|&&c| c == 90000).count();
    assert!((8..=32).contains(&failed), "about half fail: {failed}/40");
}
