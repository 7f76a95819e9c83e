//! The control API under `/_sim/`: seed, inspect, reset, add apps and things, faults, clock.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::KiiSim;
use super::world::{valid_id, valid_password};

pub fn router() -> Router<KiiSim> {
    crate::control::shared::<KiiSim>()
        .route("/apps", post(add_app))
        .route("/things", post(add_thing))
        .route("/things/{vendor_thing_id}", get(thing))
        .route("/things/{vendor_thing_id}/disabled", post(set_disabled))
        .route("/calls", get(calls))
}

fn refused(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AppBody {
    app_id: Option<String>,
}

/// A new application; the answer is the only place its secrets are shown.
async fn add_app(State(sim): State<KiiSim>, body: Option<Json<AppBody>>) -> Json<Value> {
    let app = sim.world().add_app(body.and_then(|b| b.0.app_id));
    Json(json!({
        "app_id": app.app_id,
        "app_key": app.app_key,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThingBody {
    app_id: String,
    vendor_thing_id: String,
    password: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

async fn add_thing(State(sim): State<KiiSim>, Json(b): Json<ThingBody>) -> Response {
    let mut w = sim.world();
    if !w.apps.contains_key(&b.app_id) {
        return refused(StatusCode::NOT_FOUND, "app not found");
    }
    if !valid_id(&b.vendor_thing_id, 200) || !valid_password(&b.password) {
        return refused(
            StatusCode::BAD_REQUEST,
            "vendor_thing_id or password breaks Kii's rules",
        );
    }
    match w.add_thing(&b.app_id, &b.vendor_thing_id, &b.password, b.fields) {
        Some(t) => Json(json!({ "thing_id": t.thing_id })).into_response(),
        None => refused(StatusCode::CONFLICT, "vendor_thing_id exists in this app"),
    }
}

#[derive(Deserialize)]
struct AppQuery {
    app_id: Option<String>,
}

/// A thing's ground truth (its password is never shown; `password_changes` counts changes).
async fn thing(
    State(sim): State<KiiSim>,
    Path(vid): Path<String>,
    Query(q): Query<AppQuery>,
) -> Response {
    let w = sim.world();
    let found = w
        .things
        .values()
        .find(|t| t.vendor_thing_id == vid && q.app_id.as_ref().is_none_or(|a| *a == t.app_id));
    match found {
        Some(t) => Json(serde_json::to_value(t).unwrap_or_default()).into_response(),
        None => refused(StatusCode::NOT_FOUND, "thing not found"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisabledBody {
    disabled: bool,
}

/// Disables a thing (its logins fail) or enables it again.
async fn set_disabled(
    State(sim): State<KiiSim>,
    Path(vid): Path<String>,
    Json(b): Json<DisabledBody>,
) -> Response {
    let mut w = sim.world();
    match w.things.values_mut().find(|t| t.vendor_thing_id == vid) {
        Some(t) => {
            t.disabled = b.disabled;
            Json(json!({ "vendor_thing_id": vid, "disabled": b.disabled })).into_response()
        }
        None => refused(StatusCode::NOT_FOUND, "thing not found"),
    }
}

async fn calls(State(sim): State<KiiSim>) -> Json<Value> {
    Json(serde_json::to_value(&sim.world().calls).unwrap_or_default())
}
