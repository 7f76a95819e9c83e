//! The control API under `/_sim/`: the shared routes, and a lock's ground truth, its reach,
//! a jam, and someone typing a code on its keypad.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::NukiSim;

pub fn router() -> Router<NukiSim> {
    crate::control::shared::<NukiSim>()
        .route("/locks/{id}", get(lock))
        .route("/locks/{id}/online", post(set_online))
        .route("/locks/{id}/jam", post(jam))
        .route("/locks/{id}/keypad", post(keypad))
        .route("/calls", get(calls))
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "lock not found"})),
    )
        .into_response()
}

/// A lock with its keypad codes (PINs shown: this is the ground truth tests read).
async fn lock(State(sim): State<NukiSim>, Path(id): Path<i64>) -> Response {
    let mut w = sim.world();
    w.settle();
    let Some(l) = w.locks.get(&id) else {
        return not_found();
    };
    let codes: Vec<_> = w.auths.values().filter(|a| a.smartlock_id == id).collect();
    Json(json!({"lock": l, "auths": codes})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Online {
    online: bool,
}

/// Takes a lock out of Nuki's reach (`serverState` 4) or brings it back.
async fn set_online(
    State(sim): State<NukiSim>,
    Path(id): Path<i64>,
    Json(b): Json<Online>,
) -> Response {
    let mut w = sim.world();
    let Some(l) = w.locks.get_mut(&id) else {
        return not_found();
    };
    l.server_state = if b.online { 0 } else { 4 };
    Json(json!({"server_state": l.server_state})).into_response()
}

/// The lock's next action blocks its motor.
async fn jam(State(sim): State<NukiSim>, Path(id): Path<i64>) -> Response {
    let mut w = sim.world();
    let Some(l) = w.locks.get_mut(&id) else {
        return not_found();
    };
    l.jam_next = true;
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Typed {
    code: i64,
}

/// Someone types a code on the keypad: `opened` says whether the lock took it.
async fn keypad(State(sim): State<NukiSim>, Path(id): Path<i64>, Json(b): Json<Typed>) -> Response {
    let mut w = sim.world();
    w.settle();
    if !w.locks.contains_key(&id) {
        return not_found();
    }
    let opened = w.keypad_entry(id, b.code);
    Json(json!({"opened": opened})).into_response()
}

async fn calls(State(sim): State<NukiSim>) -> Json<Value> {
    Json(serde_json::to_value(&sim.world().calls).unwrap_or_default())
}
