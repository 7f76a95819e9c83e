#![allow(dead_code, unused_imports, clippy::unwrap_used)]

pub mod contract;
pub mod seam;

use std::time::Duration;

use lockbridge_core::model::Role;
use lockbridge_server::{App, Settings};
use lockbridge_sim::Running;
use lockbridge_sim::kii::{KiiDemo, KiiSim};
use lockbridge_sim::tedee::{TedeeDemo, TedeeSim};
use lockbridge_sim::ttlock::{DemoAccount, TtlockSim};
use lockbridge_sim::tuya::{TuyaDemo, TuyaSim};
use lockbridge_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use lockbridge_store::both_backends;
pub use lockbridge_store::testing::TestDb as Db;

/// The service on a free port, the TTLock simulator beside it, an organisation with an admin
/// and a member key.
pub struct TestApp {
    pub db: TestDb,
    pub app: App,
    pub url: String,
    pub sim: TtlockSim,
    pub demo: DemoAccount,
    /// Every registered simulator, and its server by vendor name.
    pub sims: Vec<std::sync::Arc<dyn lockbridge_sim::Simulator>>,
    pub servers: std::collections::BTreeMap<&'static str, Running>,
    pub kii: KiiSim,
    pub kii_demo: KiiDemo,
    pub tedee: TedeeSim,
    pub tedee_demo: TedeeDemo,
    pub tuya: TuyaSim,
    pub tuya_demo: TuyaDemo,
    pub admin: String,
    pub member: String,
    pub org: lockbridge_core::OrgId,
    pub http: reqwest::Client,
    stop: CancellationToken,
}

/// The registered simulator of type `T`.
fn typed<T: Clone + 'static>(sims: &[std::sync::Arc<dyn lockbridge_sim::Simulator>]) -> T {
    sims.iter()
        .find_map(|s| s.as_any().downcast_ref::<T>())
        .cloned()
        .expect("the simulator is registered")
}

impl TestApp {
    /// The base URL of the simulator of `vendor`.
    pub fn sim_url(&self, vendor: &str) -> String {
        self.servers[vendor].base_url()
    }

    /// What stops everything this test started (cancelled when the test ends).
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub request_id: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

impl TestApp {
    pub async fn start(db: TestDb) -> TestApp {
        TestApp::start_with(db, |_| {}).await
    }

    /// [`TestApp::start`] with the test's own changes to the settings.
    pub async fn start_with(db: TestDb, tune: impl FnOnce(&mut Settings)) -> TestApp {
        // Every registered simulator, served, its clock moved with the service's; the four
        // the suites drive by type are seeded with their demo data.
        let sims = lockbridge_sim::registry::all(5);
        let mut servers = std::collections::BTreeMap::new();
        for s in &sims {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            servers.insert(s.vendor(), s.serve(listener).unwrap());
        }
        let sim: TtlockSim = typed(&sims);
        let demo = sim.seed_demo();
        let kii: KiiSim = typed(&sims);
        let kii_demo = kii.seed_demo();
        let tedee: TedeeSim = typed(&sims);
        let tedee_demo = tedee.seed_demo();
        tedee.world().config.operation_ms = 50;
        let tuya: TuyaSim = typed(&sims);
        let tuya_demo = tuya.seed_demo();
        tuya.world().config.delivery_ms = 0;
        let mut settings = Settings {
            // Workers are driven step by step by the tests.
            worker_interval: Duration::from_secs(3600),
            webhook_poll: Duration::from_secs(3600),
            retry_base: Duration::ZERO,
            operation_poll: Duration::from_millis(20),
            confirm_poll: Duration::ZERO,
            ..Settings::default()
        };
        lockbridge_vendors::register();
        for (vendor, server) in &servers {
            let provider = vendor.parse().expect("a simulator named as its vendor");
            settings.base_urls.insert(provider, server.base_url());
        }
        tune(&mut settings);
        let app = App::new(db.store.clone(), settings);
        // `LOCKBRIDGE_TEST_CLOCK_AT=59:30` runs every test with the service's and the
        // simulators' clocks at that minute and second of the hour: nothing may depend on it.
        if let Ok(at) = std::env::var("LOCKBRIDGE_TEST_CLOCK_AT") {
            let (m, sec) = at
                .split_once(':')
                .expect("LOCKBRIDGE_TEST_CLOCK_AT is MM:SS");
            let target = (m.parse::<i64>().unwrap() * 60 + sec.parse::<i64>().unwrap()) * 1000;
            let hour = 3_600_000;
            let offset =
                (target - lockbridge_core::time::now_ms().rem_euclid(hour)).rem_euclid(hour);
            app.state.clock.advance(offset);
            for s in &sims {
                s.advance(offset);
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(app.clone().serve(listener, stop.clone()));
        let org = db.store.create_org("Test org").await.unwrap().id;
        let (_, admin) = db
            .store
            .create_api_key(org, "admin", Role::Admin)
            .await
            .unwrap();
        let (_, member) = db
            .store
            .create_api_key(org, "member", Role::Member)
            .await
            .unwrap();
        TestApp {
            db,
            app,
            url,
            sim,
            demo,
            sims,
            servers,
            kii,
            kii_demo,
            tedee,
            tedee_demo,
            tuya,
            tuya_demo,
            admin,
            member,
            org,
            http: reqwest::Client::new(),
            stop,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_at(&self.url, method, path, key, body).await
    }

    /// [`TestApp::call`] to the instance serving at `base`.
    pub async fn call_at(
        &self,
        base: &str,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.http.request(method.clone(), format!("{base}{path}"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        contract::check(&method, path, status.as_u16(), &body);
        Resp {
            status,
            body,
            request_id,
            retry_after,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, Some(&self.admin), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(&self.admin), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(&self.admin), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(&self.admin), None)
            .await
    }

    pub fn ttlock_credentials(&self) -> Value {
        json!({
            "client_id": self.demo.client_id,
            "client_secret": self.demo.client_secret,
            "username": self.demo.username,
            "password": self.demo.password,
        })
    }

    /// Connects the demo TTLock account through the API and syncs it; answers the connection id.
    pub async fn connect(&self) -> String {
        self.connect_with(json!({"provider": "ttlock", "credentials": self.ttlock_credentials()}))
            .await
    }

    /// Creates the connection `body` describes and syncs it; answers its id.
    pub async fn connect_with(&self, body: Value) -> String {
        let r = self.post("/v1/connections", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let s = self
            .post(&format!("/v1/connections/{id}/sync"), json!({}))
            .await;
        assert_eq!(s.status, 200, "{}", s.body);
        id
    }

    /// The lockbridge id of the demo lock with this name.
    pub async fn lock_id(&self, name: &str) -> String {
        let r = self.get("/v1/locks?limit=200").await;
        let lock = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("no lock {name}"));
        lock["id"].as_str().unwrap().to_owned()
    }

    /// The simulator's id of the demo lock `i` (0 front, 1 back, 2 storage, 3 studio, 4 shed).
    pub fn sim_lock(&self, i: usize) -> i64 {
        self.demo.lock_ids[i]
    }

    /// The codes on the simulated lock: (code, name).
    pub fn codes_on(&self, i: usize) -> Vec<(String, Option<String>)> {
        self.on_lock(i, |p| (p.code.clone(), p.name.clone()))
    }

    /// Something of each passcode on the simulated TTLock lock `i`, sorted.
    fn on_lock<T: Ord>(
        &self,
        i: usize,
        f: impl Fn(&lockbridge_sim::ttlock::Passcode) -> T,
    ) -> Vec<T> {
        let w = self.sim.world();
        let mut v: Vec<T> = w.locks[&self.demo.lock_ids[i]]
            .passcodes
            .values()
            .map(f)
            .collect();
        v.sort();
        v
    }

    pub fn sim_calls(&self, route: &str) -> u64 {
        self.sim.world().calls.get(route).copied().unwrap_or(0)
    }
}

pub fn error_code(r: &Resp) -> &str {
    r.body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {} {}", r.status, r.body))
}

impl TestApp {
    /// Runs the code engine until nothing is due (bounded), as a worker would pass after pass.
    pub async fn drain(&self) {
        for _ in 0..50 {
            if lockbridge_app::engine::run_due_codes(&self.app.state)
                .await
                .unwrap()
                == 0
            {
                return;
            }
        }
        panic!("the code engine never settled");
    }

    /// Moves the service's clock and the TTLock simulator's forward together.
    pub fn advance(&self, ms: i64) {
        self.app.state.clock.advance(ms);
        self.sim.world().clock_offset_ms += ms;
    }

    /// Moves the service's clock and every simulator's clock forward together.
    pub fn advance_all(&self, ms: i64) {
        self.app.state.clock.advance(ms);
        for s in &self.sims {
            s.advance(ms);
        }
    }

    /// The PINs on the simulated TTLock lock `i`, with their vendor ids.
    pub fn pins_on(&self, i: usize) -> Vec<(String, String)> {
        self.on_lock(i, |p| (p.code.clone(), p.id.to_string()))
    }

    /// A code as lockbridge answers it.
    pub async fn code(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/access-codes/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// The event types recorded for a code, oldest first.
    pub async fn code_events(&self, id: &str) -> Vec<String> {
        let id = id.parse().unwrap();
        let mut events = self
            .db
            .store
            .list_events(
                self.org,
                &lockbridge_store::EventFilter {
                    access_code_id: Some(id),
                    ..Default::default()
                },
                100,
            )
            .await
            .unwrap();
        events.reverse();
        events
            .into_iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect()
    }
}

/// Waits until `cond` holds, looking again each time `changes` moves (a simulator's or a
/// receiver's: what `cond` reads changed), never spinning or sleeping; panics after 20 s.
pub async fn wait_until<T>(
    what: &str,
    mut changes: tokio::sync::watch::Receiver<T>,
    mut cond: impl FnMut() -> bool,
) {
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while !cond() {
            if changes.changed().await.is_err() {
                return false;
            }
        }
        true
    })
    .await;
    assert_eq!(waited, Ok(true), "never happened: {what}");
}

/// Tedee through the API.
impl TestApp {
    /// Another instance of the service on this test's database, its clock where this one's is
    /// (instances share the wall clock; leases compare times across them).
    pub fn other_instance(&self, settings: Settings) -> App {
        let other = App::new(self.db.store.clone(), settings);
        other
            .state
            .clock
            .advance(self.app.state.now() - lockbridge_core::time::now_ms());
        other
    }

    /// [`TestApp::other_instance`] with this one's settings, serving HTTP on a port of its own
    /// until the test ends; answers it and its base URL.
    pub async fn serve_other(&self) -> (App, String) {
        let other = self.other_instance((*self.app.state.settings).clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(other.clone().serve(listener, self.stop.clone()));
        (other, url)
    }

    /// Connects the Tuya simulator's demo project and syncs it; answers the connection id.
    pub async fn connect_tuya(&self) -> String {
        let d = &self.tuya_demo;
        self.connect_with(json!({"provider": "tuya", "credentials": {"access_id": d.access_id, "access_secret": d.access_secret}}))
            .await
    }

    pub async fn connect_tedee(&self) -> String {
        let key = &self.tedee_demo.personal_access_key;
        self.connect_with(json!({"provider": "tedee", "credentials": {"personal_access_key": key}}))
            .await
    }

    /// The lockbridge lock for simulator lock `i` (0 Apartment 1, 1 Apartment 2, 2 Office
    /// (disconnected), 3 Cellar (no bridge)).
    pub async fn tedee_lock(&self, i: usize) -> Value {
        let sim_id = self.tedee_demo.lock_ids[i].to_string();
        let r = self.get("/v1/locks?provider=tedee&limit=50").await;
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["provider_id"] == sim_id.as_str())
            .unwrap()
            .clone()
    }

    /// Simulator lock `i` (0 Entrance Wi-Fi, 1 Unit 3B Zigbee, 2 Storage Zigbee offline).
    pub async fn tuya_lock(&self, i: usize) -> Value {
        let r = self.get("/v1/locks?provider=tuya&limit=50").await;
        let id = &self.tuya_demo.lock_ids[i];
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["provider_id"] == id.as_str())
            .unwrap()
            .clone()
    }

    pub fn tuya_password(&self, i: usize, pin: &str) -> Option<lockbridge_sim::tuya::TempPassword> {
        let w = self.tuya.world();
        w.devices[&self.tuya_demo.lock_ids[i]]
            .passwords
            .values()
            .find(|p| p.pin == pin && !p.deleted)
            .cloned()
    }

    pub fn tedee_pins(&self, i: usize) -> Vec<lockbridge_sim::tedee::Pin> {
        self.tedee.world().locks[&self.tedee_demo.lock_ids[i]]
            .pins
            .values()
            .cloned()
            .collect()
    }

    pub fn tedee_fault(&self, route: &str, status: u16) {
        self.tedee
            .world()
            .faults
            .add(lockbridge_sim::faults::FaultRule {
                route: Some(route.into()),
                http_status: Some(status),
                count: Some(1),
                ..Default::default()
            });
    }
}
