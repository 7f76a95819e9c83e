//! The control API under `/_sim/`: the shared routes, a device's reach, a jam, and the events
//! the account's webhook was sent.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::SwitchBotSim;

pub fn router() -> Router<SwitchBotSim> {
    crate::control::shared::<SwitchBotSim>()
        .route("/devices/{id}/online", post(set_online))
        .route("/locks/{id}/jam", post(jam))
        .route("/webhook/sent", get(sent))
        .route("/calls", get(calls))
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "device not found"})),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Online {
    online: bool,
}

/// Takes a hub, lock or keypad offline, or brings it back.
async fn set_online(
    State(sim): State<SwitchBotSim>,
    Path(id): Path<String>,
    Json(b): Json<Online>,
) -> Response {
    let mut w = sim.world();
    if let Some(h) = w.hubs.get_mut(&id) {
        h.online = b.online;
    } else if let Some(l) = w.locks.get_mut(&id) {
        l.online = b.online;
    } else if let Some(p) = w.keypads.get_mut(&id) {
        p.online = b.online;
    } else {
        return not_found();
    }
    Json(json!({"device_id": id, "online": b.online})).into_response()
}

async fn jam(State(sim): State<SwitchBotSim>, Path(id): Path<String>) -> Response {
    let mut w = sim.world();
    let Some(l) = w.locks.get_mut(&id) else {
        return not_found();
    };
    l.jam_next = true;
    StatusCode::NO_CONTENT.into_response()
}

async fn sent(State(sim): State<SwitchBotSim>) -> Json<Value> {
    Json(serde_json::to_value(&sim.world().sent).unwrap_or_default())
}

async fn calls(State(sim): State<SwitchBotSim>) -> Json<Value> {
    Json(serde_json::to_value(&sim.world().calls).unwrap_or_default())
}
