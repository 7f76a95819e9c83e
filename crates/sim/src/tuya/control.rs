//! The control API under `/_sim/`: seed, inspect, reset, projects and devices, online state,
//! keypad entries, faults, clock, config.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::TuyaSim;
use super::world::Protocol;

pub fn router() -> Router<TuyaSim> {
    crate::control::shared::<TuyaSim>()
        .route("/projects", post(add_project))
        .route("/devices", post(add_device))
        .route("/devices/{id}", get(device).patch(patch_device))
        .route("/devices/{id}/passwords", post(put_password))
        .route("/devices/{id}/keypad", post(keypad))
        .route("/calls", get(calls))
}

fn missing(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("{what} not found") })),
    )
        .into_response()
}

/// A new cloud project; the answer is the only place its secret is shown.
async fn add_project(State(sim): State<TuyaSim>) -> Json<Value> {
    let p = sim.world().add_project();
    Json(json!({ "access_id": p.client_id, "access_secret": p.secret, "uid": p.uid }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceBody {
    access_id: String,
    name: String,
    protocol: Protocol,
    #[serde(default = "yes")]
    online: bool,
}

fn yes() -> bool {
    true
}

async fn add_device(State(sim): State<TuyaSim>, Json(b): Json<DeviceBody>) -> Response {
    let mut w = sim.world();
    if !w.projects.contains_key(&b.access_id) {
        return missing("project");
    }
    Json(json!({ "device_id": w.add_device(&b.access_id, &b.name, b.protocol, b.online) }))
        .into_response()
}

async fn device(State(sim): State<TuyaSim>, Path(id): Path<String>) -> Response {
    let mut w = sim.world();
    w.settle();
    match w.devices.get(&id) {
        Some(d) => Json(serde_json::to_value(d).unwrap_or_default()).into_response(),
        None => missing("device"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicePatch {
    online: Option<bool>,
    battery: Option<i64>,
    remote_unlock_open: Option<bool>,
    time_zone: Option<String>,
}

async fn patch_device(
    State(sim): State<TuyaSim>,
    Path(id): Path<String>,
    Json(p): Json<DevicePatch>,
) -> Response {
    let mut w = sim.world();
    let Some(d) = w.devices.get_mut(&id) else {
        return missing("device");
    };
    d.online = p.online.unwrap_or(d.online);
    d.battery = p.battery.unwrap_or(d.battery);
    d.remote_unlock_open = p.remote_unlock_open.unwrap_or(d.remote_unlock_open);
    if let Some(tz) = p.time_zone {
        d.time_zone = tz;
    }
    let out = serde_json::to_value(&*d).unwrap_or_default();
    w.settle();
    Json(out).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    name: String,
    pin: String,
    effective_time: i64,
    invalid_time: i64,
}

/// A password set on the lock outside the API (active at once; rules not applied).
async fn put_password(
    State(sim): State<TuyaSim>,
    Path(id): Path<String>,
    Json(b): Json<PasswordBody>,
) -> Response {
    match sim
        .world()
        .put_password(&id, &b.name, &b.pin, (b.effective_time, b.invalid_time))
    {
        Some(pid) => Json(json!({ "id": pid })).into_response(),
        None => missing("device"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeypadBody {
    code: String,
}

async fn keypad(
    State(sim): State<TuyaSim>,
    Path(id): Path<String>,
    Json(b): Json<KeypadBody>,
) -> Response {
    match sim.world().keypad(&id, &b.code) {
        Some(opened) => Json(json!({ "opened": opened })).into_response(),
        None => missing("device"),
    }
}

async fn calls(State(sim): State<TuyaSim>) -> Json<Value> {
    Json(serde_json::to_value(&sim.world().calls).unwrap_or_default())
}
