//! A fake of TTLock's Open Platform cloud (`/oauth2/token`, `/v3/...`), from TTLock's Open Platform documentation.
//!
//! Wire behaviour: every API answer is HTTP 200 with JSON; refusals carry the three-key
//! `{errcode, errmsg, description}` envelope, action endpoints the three-key ack, data endpoints
//! the bare data object. GET and POST are both accepted on every path, query and body
//! parameters are merged, `clientId` and `client_id` both work, `date` must be within five
//! minutes of the wall clock. Commands that reach a lock go through its gateway (or its Wi-Fi
//! module), which carries out one command at a time.

mod control;
mod demo;
mod errors;
mod locks;
mod oauth;
mod paging;
mod params;
mod passcodes;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::Value;
use tokio::net::TcpListener;

pub use demo::DemoAccount;
pub use errors::ApiErr;
pub use world::{
    Gateway, Lock, LockSpec, Passcode, PasscodeSpec, Record, SimConfig, World, md5_hex,
};

use crate::Running;
use crate::faults::Failure;
use params::Params;

/// The TTLock fake. Cheap to clone: clones share one world.
#[derive(Debug, Clone)]
pub struct TtlockSim {
    world: Arc<Mutex<World>>,
    /// Routes whose gateway commands take effect at once but whose answers wait until the
    /// route is released: a test sets an interleaving by holding an answer, not by a latency.
    held: Arc<tokio::sync::watch::Sender<std::collections::HashSet<String>>>,
    /// Moves after every vendor request the fake carried out.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

/// A handler's answer, and the gateway it kept busy (if any).
pub(crate) struct Reply {
    body: Value,
    gateway: Option<i64>,
}

impl Reply {
    fn via(body: Value, gateway: Option<i64>) -> Self {
        Reply { body, gateway }
    }
    fn direct(body: Value) -> Self {
        Reply {
            body,
            gateway: None,
        }
    }
}

const ROUTES: &[&str] = &[
    "/oauth2/token",
    "/v3/lock/list",
    "/v3/lock/detail",
    "/v3/lock/queryOpenState",
    "/v3/lock/queryElectricQuantity",
    "/v3/lock/unlock",
    "/v3/lock/lock",
    "/v3/lock/listKeyboardPwd",
    "/v3/keyboardPwd/add",
    "/v3/keyboardPwd/change",
    "/v3/keyboardPwd/delete",
    "/v3/keyboardPwd/get",
    "/v3/lockRecord/list",
    "/v3/gateway/list",
    "/v3/gateway/listLock",
    "/v3/gateway/listByLock",
];

impl TtlockSim {
    /// An empty cloud whose ids, tokens and fault draws follow `seed`.
    pub fn new(seed: u64) -> Self {
        TtlockSim {
            world: Arc::new(Mutex::new(World::new(seed))),
            held: Arc::new(tokio::sync::watch::Sender::new(Default::default())),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// The ground truth, to seed or inspect directly (the control API does the same over HTTP).
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on, a gateway command on `route` (`/v3/keyboardPwd/add`) takes effect on the
    /// lock at once, but its answer waits (the gateway busy) until [`TtlockSim::release`].
    pub fn hold(&self, route: &str) {
        self.held.send_modify(|held| {
            held.insert(route.to_owned());
        });
    }

    /// Lets the held answers of `route` go, and the next ones pass at once.
    pub fn release(&self, route: &str) {
        self.held.send_modify(|held| {
            held.remove(route);
        });
    }

    /// Moves after every vendor request the fake carried out: a test waits on it for what a
    /// request changed, instead of looking again and again.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Seeds the demo account: five locks (two behind one gateway, one behind an offline
    /// gateway, a Wi-Fi lock, a Bluetooth-only lock) with a few codes already on them.
    pub fn seed_demo(&self) -> DemoAccount {
        demo::seed(&mut self.world())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/oauth2/token", any(vendor))
            .route("/v3/{group}/{action}", any(vendor))
            .nest("/_sim", control::router())
            .with_state(self.clone())
    }

    /// Serves the fake on `listener`.
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<Running> {
        Running::start(listener, self.router())
    }

    /// Serves the fake on a free loopback port.
    pub async fn start_local(&self) -> std::io::Result<Running> {
        self.serve(TcpListener::bind("127.0.0.1:0").await?)
    }
}

fn json_response(body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let ct = HeaderValue::from_static("application/json;charset=UTF-8");
    (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
}

/// Clears a gateway's busy flag when the command ends, even if the caller went away.
struct BusyGuard {
    sim: TtlockSim,
    gateway: i64,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if let Some(g) = self.sim.world().gateways.get_mut(&self.gateway) {
            g.busy = false;
        }
    }
}

async fn vendor(
    State(sim): State<TtlockSim>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if !ROUTES.contains(&path) {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let params = Params::parse(uri.query(), &headers, &body);
    match crate::control::prelude(&sim, path).await {
        Some(Failure::HttpStatus(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return (status, "simulated outage").into_response();
        }
        Some(Failure::Errcode(code)) => return json_response(&ApiErr::code(code).body()),
        None => {}
    }
    let held = sim.held.borrow().contains(path);
    let (result, busy) = {
        let mut w = sim.world();
        match dispatch(&mut w, path, &params) {
            Ok(reply) => {
                let latency = w.config.gateway_latency_ms;
                let busy = reply.gateway.filter(|_| latency > 0 || held);
                if let Some(g) = busy.and_then(|id| w.gateways.get_mut(&id)) {
                    g.busy = true;
                }
                (Ok(reply.body), busy.map(|gw| (gw, latency)))
            }
            Err(e) => {
                if e.errcode == -3003 {
                    // Counted apart from injected faults: a client that serialises its
                    // commands per gateway never meets one.
                    w.count_call("gateway busy refusals");
                }
                (Err(e), None)
            }
        }
    };
    sim.changes.send_modify(|n| *n += 1);
    if let Some((gateway, ms)) = busy {
        let _guard = BusyGuard {
            sim: sim.clone(),
            gateway,
        };
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if held {
            let mut released = sim.held.subscribe();
            let _ = released.wait_for(|held| !held.contains(path)).await;
        }
    }
    match result {
        Ok(body) => json_response(&body),
        Err(err) => json_response(&err.body()),
    }
}

fn dispatch(w: &mut World, path: &str, p: &Params) -> Result<Reply, ApiErr> {
    if path == "/oauth2/token" {
        return oauth::token(w, p).map(Reply::direct);
    }
    let uid = oauth::authenticate(w, p)?;
    let data = |r: Result<Value, ApiErr>| r.map(Reply::direct);
    match path {
        "/v3/lock/list" => data(locks::list(w, uid, p)),
        "/v3/lock/detail" => data(locks::detail(w, uid, p)),
        "/v3/lock/queryOpenState" => locks::open_state(w, uid, p),
        "/v3/lock/queryElectricQuantity" => locks::battery(w, uid, p),
        "/v3/lock/unlock" => locks::operate(w, uid, p, true),
        "/v3/lock/lock" => locks::operate(w, uid, p, false),
        "/v3/lock/listKeyboardPwd" => data(passcodes::list(w, uid, p)),
        "/v3/keyboardPwd/add" => passcodes::add(w, uid, p),
        "/v3/keyboardPwd/change" => passcodes::change(w, uid, p),
        "/v3/keyboardPwd/delete" => passcodes::delete(w, uid, p),
        "/v3/keyboardPwd/get" => data(passcodes::get(w, uid, p)),
        "/v3/lockRecord/list" => data(locks::records(w, uid, p)),
        "/v3/gateway/list" => data(locks::gateways(w, uid, p)),
        "/v3/gateway/listLock" => data(locks::gateway_locks(w, uid, p)),
        "/v3/gateway/listByLock" => data(locks::gateways_of_lock(w, uid, p)),
        _ => Err(ApiErr::code(1)),
    }
}

crate::control::shared_control!(TtlockSim, World, world::SimConfig);

crate::registry::registered!(TtlockSim, "ttlock", "TTLock");
