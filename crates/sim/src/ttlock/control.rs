//! The control API under `/_sim/`: seed, inspect, reset, take devices offline, inject faults,
//! move the clock.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::TtlockSim;
use super::world::{LockSpec, PasscodeSpec};

pub fn router() -> Router<TtlockSim> {
    crate::control::shared::<TtlockSim>()
        .route("/apps", post(add_app))
        .route("/users", post(add_user))
        .route("/gateways", post(add_gateway))
        .route("/gateways/{id}/online", post(gateway_online))
        .route("/locks", post(add_lock))
        .route("/locks/{id}", get(lock))
        .route("/locks/{id}/online", post(lock_online))
        .route("/locks/{id}/passcodes", post(put_passcode))
        .route("/locks/{id}/keypad", post(keypad))
        .route("/calls", get(calls))
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("{what} not found") })),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppBody {
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn add_app(State(sim): State<TtlockSim>, Json(b): Json<AppBody>) -> Json<Value> {
    let (id, secret) = sim.world().add_app(b.client_id, b.client_secret);
    Json(json!({ "client_id": id, "client_secret": secret }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    username: String,
    password: String,
}

async fn add_user(State(sim): State<TtlockSim>, Json(b): Json<UserBody>) -> Json<Value> {
    let uid = sim.world().add_user(&b.username, &b.password);
    Json(json!({ "uid": uid }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayBody {
    owner: String,
    name: String,
    #[serde(default = "yes")]
    online: bool,
}

fn yes() -> bool {
    true
}

async fn add_gateway(State(sim): State<TtlockSim>, Json(b): Json<GatewayBody>) -> Response {
    let mut w = sim.world();
    let Some(uid) = w.uid_of(&b.owner) else {
        return not_found("owner");
    };
    let id = w.add_gateway(uid, &b.name, b.online);
    Json(json!({ "gateway_id": id })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockBody {
    owner: String,
    alias: String,
    #[serde(default)]
    gateway_id: Option<i64>,
    #[serde(default)]
    wifi: bool,
    #[serde(default = "yes")]
    online: bool,
    #[serde(default)]
    battery: Option<i64>,
}

async fn add_lock(State(sim): State<TtlockSim>, Json(b): Json<LockBody>) -> Response {
    let mut w = sim.world();
    let Some(uid) = w.uid_of(&b.owner) else {
        return not_found("owner");
    };
    if let Some(gw) = b.gateway_id.filter(|g| !w.gateways.contains_key(g)) {
        return not_found(&format!("gateway {gw}"));
    }
    let id = w.add_lock(LockSpec {
        gateway_id: b.gateway_id,
        wifi: b.wifi,
        online: b.online,
        battery: b.battery.unwrap_or(100),
        ..LockSpec::new(uid, &b.alias)
    });
    Json(json!({ "lock_id": id })).into_response()
}

async fn lock(State(sim): State<TtlockSim>, Path(id): Path<i64>) -> Response {
    match sim.world().locks.get(&id) {
        Some(lock) => Json(serde_json::to_value(lock).unwrap_or_default()).into_response(),
        None => not_found("lock"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnlineBody {
    online: bool,
}

async fn lock_online(
    State(sim): State<TtlockSim>,
    Path(id): Path<i64>,
    Json(b): Json<OnlineBody>,
) -> Response {
    match sim.world().locks.get_mut(&id) {
        Some(lock) => {
            lock.online = b.online;
            Json(json!({ "lock_id": id, "online": b.online })).into_response()
        }
        None => not_found("lock"),
    }
}

async fn gateway_online(
    State(sim): State<TtlockSim>,
    Path(id): Path<i64>,
    Json(b): Json<OnlineBody>,
) -> Response {
    match sim.world().gateways.get_mut(&id) {
        Some(g) => {
            g.online = b.online;
            Json(json!({ "gateway_id": id, "online": b.online })).into_response()
        }
        None => not_found("gateway"),
    }
}

async fn put_passcode(
    State(sim): State<TtlockSim>,
    Path(id): Path<i64>,
    Json(b): Json<PasscodeSpec>,
) -> Response {
    match sim.world().put_passcode(id, b) {
        Some(pid) => Json(json!({ "keyboard_pwd_id": pid })).into_response(),
        None => not_found("lock"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeypadBody {
    code: String,
}

async fn keypad(
    State(sim): State<TtlockSim>,
    Path(id): Path<i64>,
    Json(b): Json<KeypadBody>,
) -> Response {
    match sim.world().keypad(id, &b.code) {
        Some(opened) => Json(json!({ "opened": opened })).into_response(),
        None => not_found("lock"),
    }
}

async fn calls(State(sim): State<TtlockSim>) -> Json<Value> {
    Json(serde_json::to_value(&sim.world().calls).unwrap_or_default())
}
