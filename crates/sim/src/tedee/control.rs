//! The control API under `/_sim/`: seed, inspect, reset, users and keys, bridges and locks,
//! connectivity, keypad entries, jams, faults, clock, config.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::TedeeSim;
use super::world::{ALL_SCOPES, LockSpec, Pin};

pub fn router() -> Router<TedeeSim> {
    crate::control::shared::<TedeeSim>()
        .route("/users", post(add_user))
        .route("/keys", post(add_key))
        .route("/oauth", post(add_oauth))
        .route("/bridges", post(add_bridge))
        .route("/bridges/{id}/online", post(bridge_online))
        .route("/locks", post(add_lock))
        .route("/locks/{id}", get(lock).patch(patch_lock))
        .route("/locks/{id}/pins", post(put_pin))
        .route("/locks/{id}/keypad", post(keypad))
        .route("/calls", get(calls))
}

fn missing(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("{what} not found") })),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    name: String,
    email: String,
}

async fn add_user(State(sim): State<TedeeSim>, Json(b): Json<UserBody>) -> Json<Value> {
    Json(json!({ "user_id": sim.world().add_user(&b.name, &b.email) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    user_id: i64,
    /// Every scope when empty or absent.
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    expires_at_ms: Option<i64>,
}

async fn add_key(State(sim): State<TedeeSim>, Json(b): Json<KeyBody>) -> Response {
    let mut w = sim.world();
    if !w.users.contains_key(&b.user_id) {
        return missing("user");
    }
    let key = w.add_key(b.user_id, &b.scopes, b.expires_at_ms);
    Json(json!({ "personal_access_key": key })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthBody {
    user_id: i64,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default = "hour")]
    ttl_s: i64,
}

fn hour() -> i64 {
    3600
}

/// OAuth tokens for a user, as a finished authorization-code flow would give them.
async fn add_oauth(State(sim): State<TedeeSim>, Json(b): Json<OAuthBody>) -> Response {
    let mut w = sim.world();
    if !w.users.contains_key(&b.user_id) {
        return missing("user");
    }
    let scopes = if b.scopes.is_empty() {
        ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        b.scopes
    };
    let (access, refresh) = w.issue_oauth(b.user_id, scopes, b.ttl_s);
    Json(json!({ "access_token": access, "refresh_token": refresh, "expires_in": b.ttl_s }))
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BridgeBody {
    user_id: i64,
    name: String,
    #[serde(default = "yes")]
    online: bool,
}

fn yes() -> bool {
    true
}

async fn add_bridge(State(sim): State<TedeeSim>, Json(b): Json<BridgeBody>) -> Json<Value> {
    Json(json!({ "bridge_id": sim.world().add_bridge(b.user_id, &b.name, b.online) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnlineBody {
    online: bool,
}

async fn bridge_online(
    State(sim): State<TedeeSim>,
    Path(id): Path<i64>,
    Json(b): Json<OnlineBody>,
) -> Response {
    match sim.world().bridges.get_mut(&id) {
        Some(br) => {
            br.online = b.online;
            Json(json!({ "bridge_id": id, "online": b.online })).into_response()
        }
        None => missing("bridge"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockBody {
    user_id: i64,
    name: String,
    #[serde(default)]
    bridge_id: Option<i64>,
    #[serde(default = "yes")]
    keypad: bool,
    #[serde(default)]
    battery: Option<i64>,
    #[serde(default)]
    time_zone: Option<String>,
}

async fn add_lock(State(sim): State<TedeeSim>, Json(b): Json<LockBody>) -> Response {
    let mut w = sim.world();
    if b.bridge_id.is_some_and(|id| !w.bridges.contains_key(&id)) {
        return missing("bridge");
    }
    let mut spec = LockSpec::new(b.user_id, &b.name);
    spec.bridge_id = b.bridge_id;
    spec.connected = b.bridge_id.is_some();
    spec.keypad = b.keypad;
    spec.battery = b.battery.unwrap_or(100);
    if let Some(tz) = b.time_zone {
        spec.time_zone = tz;
    }
    Json(json!({ "lock_id": w.add_lock(spec) })).into_response()
}

async fn lock(State(sim): State<TedeeSim>, Path(id): Path<i64>) -> Response {
    let mut w = sim.world();
    w.settle();
    match w.locks.get(&id) {
        Some(l) => Json(serde_json::to_value(l).unwrap_or_default()).into_response(),
        None => missing("lock"),
    }
}

/// Changes a lock's ground truth: connectivity, battery, state, keypad, a device that does
/// not answer, the next operation jamming, the offset used for PIN day windows, guests.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockPatch {
    connected: Option<bool>,
    battery: Option<i64>,
    is_charging: Option<bool>,
    state: Option<i64>,
    keypad: Option<bool>,
    not_responding: Option<bool>,
    jam_next: Option<bool>,
    utc_offset_min: Option<i64>,
    /// `[user_id, access_level, remote_access_disabled]`: another user with access
    /// (access level 0 guest, 1 admin).
    guest: Option<(i64, i64, bool)>,
}

async fn patch_lock(
    State(sim): State<TedeeSim>,
    Path(id): Path<i64>,
    Json(p): Json<LockPatch>,
) -> Response {
    let mut w = sim.world();
    let Some(l) = w.locks.get_mut(&id) else {
        return missing("lock");
    };
    l.connected = p.connected.unwrap_or(l.connected);
    l.battery = p.battery.unwrap_or(l.battery);
    l.is_charging = p.is_charging.unwrap_or(l.is_charging);
    l.state = p.state.unwrap_or(l.state);
    l.keypad = p.keypad.unwrap_or(l.keypad);
    l.not_responding = p.not_responding.unwrap_or(l.not_responding);
    l.jam_next = p.jam_next.unwrap_or(l.jam_next);
    l.utc_offset_min = p.utc_offset_min.unwrap_or(l.utc_offset_min);
    if let Some((user, level, remote_disabled)) = p.guest {
        l.guests.insert(user, (level, remote_disabled));
    }
    Json(serde_json::to_value(&*l).unwrap_or_default()).into_response()
}

/// A PIN put on the lock outside the API (the Tedee app, say); rules are not applied.
async fn put_pin(State(sim): State<TedeeSim>, Path(id): Path<i64>, Json(p): Json<Pin>) -> Response {
    match sim.world().put_pin(id, p) {
        Some(pin_id) => Json(json!({ "pin_id": pin_id })).into_response(),
        None => missing("lock"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeypadBody {
    code: String,
}

async fn keypad(
    State(sim): State<TedeeSim>,
    Path(id): Path<i64>,
    Json(b): Json<KeypadBody>,
) -> Response {
    match sim.world().keypad(id, &b.code) {
        Some(opened) => Json(json!({ "opened": opened })).into_response(),
        None => missing("lock"),
    }
}

async fn calls(State(sim): State<TedeeSim>) -> Json<Value> {
    let w = sim.world();
    Json(json!({ "calls": w.calls, "throttled": w.throttled }))
}
