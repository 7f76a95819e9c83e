#![allow(dead_code, clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use lockbridge_sim::Running;
use lockbridge_sim::ttlock::{DemoAccount, TtlockSim, md5_hex};
use serde_json::Value;

pub struct Fixture {
    pub sim: TtlockSim,
    pub server: Running,
    pub http: reqwest::Client,
    pub demo: DemoAccount,
    pub token: String,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl Fixture {
    pub async fn new() -> Self {
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub async fn token_grant(&self, extra: &[(&str, &str)]) -> Value {
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

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
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
    pub async fn call(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let date = now_ms().to_string();
        let mut form = vec![
            ("clientId", self.demo.client_id.as_str()),
            ("accessToken", self.token.as_str()),
            ("date", date.as_str()),
        ];
        form.extend_from_slice(params);
        self.post(path, &form).await
    }

    pub fn lock(&self, i: usize) -> String {
        self.demo.lock_ids[i].to_string()
    }
}

pub fn errcode(v: &Value) -> i64 {
    v["errcode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no errcode in {v}"))
}
