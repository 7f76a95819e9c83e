//! The Web API's paths as Nuki answers them: no envelope, 204 for writes, errors as
//! `{"detailMessage": …}`, the bearer token checked on every request.

use axum::Json;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::NukiSim;
use super::world::{Auth, Lock, LogEntry, Op, valid_code};
use crate::faults::Failure;

/// Nuki's error body (the Java backend's exception shape).
fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"detailMessage": message, "stackTrace": [], "suppressedExceptions": []});
    (status, Json(body)).into_response()
}

/// The 400 Nuki answers for a refused parameter.
fn invalid(param: &str, value: &Value) -> Response {
    let shown = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    error(
        StatusCode::BAD_REQUEST,
        &format!("The supplied value '{shown}' for parameter '{param}' is not valid"),
    )
}

/// Every request: counted, faults drawn, the token checked, due writes applied.
pub(crate) async fn gate(
    State(sim): State<NukiSim>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| format!("{} {}", req.method(), p.as_str()))
        .unwrap_or_default();
    // Nuki has no error codes of its own: an `errcode` rule answers that HTTP status.
    if let Some(failure) = crate::control::prelude(&sim, &route).await {
        let status = match failure {
            Failure::HttpStatus(s) => s,
            Failure::Errcode(c) => u16::try_from(c).unwrap_or(500),
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, "injected by /_sim/faults");
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    {
        let mut w = sim.world();
        if !token.is_some_and(|t| w.valid_token(t)) {
            return error(
                StatusCode::UNAUTHORIZED,
                "Your access token is not authorized",
            );
        }
        w.settle();
    }
    next.run(req).await
}

fn lock_json(l: &Lock) -> Value {
    json!({
        "smartlockId": l.smartlock_id,
        "accountId": l.account_id,
        "type": l.kind,
        "authId": l.auth_id,
        "name": l.name,
        "favorite": false,
        "serverState": l.server_state,
        "adminPinState": 0,
        "firmwareVersion": 199_175,
        "hardwareVersion": 1291,
        "config": {
            "name": l.name,
            "timezoneId": l.timezone_id,
            "keypadPaired": l.keypad_paired,
            "keypad2Paired": false,
            "buttonEnabled": true,
            "ledEnabled": true,
            "autoUnlatch": false,
        },
        "state": {
            "mode": 2,
            "state": l.state,
            "trigger": l.trigger,
            "lastAction": l.last_action,
            "batteryCritical": l.battery_critical,
            "batteryCharging": false,
            "batteryCharge": l.battery_charge,
            "keypadBatteryCritical": false,
            "doorState": l.door_state,
            "ringToOpenTimer": 0,
            "nightMode": false,
        },
    })
}

fn auth_json(a: &Auth) -> Value {
    json!({
        "id": a.id,
        "smartlockId": a.smartlock_id,
        "authId": a.auth_id,
        "code": a.code,
        "type": a.kind,
        "name": a.name,
        "enabled": a.enabled,
        "remoteAllowed": false,
        "lockCount": 0,
        "allowedFromDate": a.allowed_from_date,
        "allowedUntilDate": a.allowed_until_date,
        "allowedWeekDays": a.allowed_week_days,
        "allowedFromTime": a.allowed_from_time,
        "allowedUntilTime": a.allowed_until_time,
        "creationDate": time(a.created_ms),
        "updateDate": time(a.updated_ms),
    })
}

fn log_json(e: &LogEntry) -> Value {
    json!({
        "id": e.id,
        "smartlockId": e.smartlock_id,
        "deviceType": 4,
        "authId": e.auth_id,
        "name": e.name,
        "action": e.action,
        "trigger": e.trigger,
        "state": e.state,
        "autoUnlock": false,
        "date": time(e.date_ms),
        "source": e.source,
    })
}

/// An instant as Nuki writes one: UTC with milliseconds.
fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

pub(crate) async fn smartlocks(State(sim): State<NukiSim>) -> Json<Value> {
    let w = sim.world();
    Json(Value::Array(w.locks.values().map(lock_json).collect()))
}

pub(crate) async fn smartlock(State(sim): State<NukiSim>, Path(id): Path<String>) -> Response {
    let w = sim.world();
    match id.parse().ok().and_then(|id: i64| w.locks.get(&id)) {
        Some(l) => Json(lock_json(l)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Smartlock not found"),
    }
}

#[derive(Deserialize)]
pub(crate) struct ActionBody {
    action: i64,
}

pub(crate) async fn action(
    State(sim): State<NukiSim>,
    Path(id): Path<String>,
    body: Option<Json<ActionBody>>,
) -> Response {
    let Some(Json(b)) = body else {
        return invalid("action", &Value::Null);
    };
    act(&sim, &id, b.action)
}

pub(crate) async fn lock(State(sim): State<NukiSim>, Path(id): Path<String>) -> Response {
    act(&sim, &id, 2)
}

pub(crate) async fn unlock(State(sim): State<NukiSim>, Path(id): Path<String>) -> Response {
    act(&sim, &id, 1)
}

/// An accepted action (204): the lock does it after the configured delay, if it is online then.
fn act(sim: &NukiSim, id: &str, action: i64) -> Response {
    let mut w = sim.world();
    let Some(lock) = id.parse().ok().filter(|id: &i64| w.locks.contains_key(id)) else {
        return error(StatusCode::NOT_FOUND, "Smartlock not found");
    };
    if !(1..=5).contains(&action) {
        return invalid("action", &json!(action));
    }
    let delay = w.config.action_delay_ms;
    w.accept(
        lock,
        Op::Action {
            action: action as i32,
        },
        delay,
    );
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
pub(crate) struct AuthQuery {
    types: Option<String>,
}

pub(crate) async fn auths(
    State(sim): State<NukiSim>,
    Path(id): Path<String>,
    Query(q): Query<AuthQuery>,
) -> Response {
    let w = sim.world();
    let Some(lock) = id.parse().ok().filter(|id: &i64| w.locks.contains_key(id)) else {
        return error(StatusCode::NOT_FOUND, "Smartlock not found");
    };
    let types: Option<Vec<i32>> = q
        .types
        .map(|t| t.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let listed = w
        .auths
        .values()
        .filter(|a| a.smartlock_id == lock)
        .filter(|a| types.as_ref().is_none_or(|t| t.contains(&a.kind)))
        .map(auth_json)
        .collect();
    Json(Value::Array(listed)).into_response()
}

/// A code as Nuki takes it: an integer, or (as forum posts send it) a numeric string.
fn code_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if s.len() == 6 => s.parse().ok(),
        _ => None,
    }
}

/// An instant in one of the forms Nuki takes (with or without seconds, `Z` or an offset).
fn valid_date(v: &Value) -> bool {
    let Some(s) = v.as_str() else {
        return false;
    };
    s.parse::<jiff::Timestamp>().is_ok()
        || (s.len() == 17
            && s.ends_with('Z')
            && format!("{}:00Z", &s[..16])
                .parse::<jiff::Timestamp>()
                .is_ok())
}

/// Applies the restriction fields of `body` to `a` (`null` clears one); the refused field and
/// its value.
fn restrict(a: &mut Auth, body: &Map<String, Value>) -> Result<(), (String, Value)> {
    for (field, v) in body {
        let slot = match field.as_str() {
            "allowedFromDate" => &mut a.allowed_from_date,
            "allowedUntilDate" => &mut a.allowed_until_date,
            _ => continue,
        };
        if v.is_null() {
            *slot = None;
        } else if valid_date(v) {
            *slot = v.as_str().map(str::to_owned);
        } else {
            return Err((field.clone(), v.clone()));
        }
    }
    let ranges = [
        ("allowedWeekDays", 0, 127),
        ("allowedFromTime", 0, 1440),
        ("allowedUntilTime", 0, 1440),
    ];
    for (field, low, high) in ranges {
        let Some(v) = body.get(field) else { continue };
        let value = match v {
            Value::Null => None,
            other => match other.as_i64().filter(|n| (low..=high).contains(n)) {
                Some(n) => Some(n),
                None => return Err((field.to_owned(), v.clone())),
            },
        };
        match field {
            "allowedWeekDays" => a.allowed_week_days = value,
            "allowedFromTime" => a.allowed_from_time = value,
            _ => a.allowed_until_time = value,
        }
    }
    Ok(())
}

/// `PUT /smartlock/{id}/auth`: checked now, applied by the device later; 204 without an id.
pub(crate) async fn create_auth(
    State(sim): State<NukiSim>,
    Path(id): Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> Response {
    let mut w = sim.world();
    let Some(lock) = id
        .parse()
        .ok()
        .and_then(|id: i64| w.locks.get(&id).cloned())
    else {
        return error(StatusCode::NOT_FOUND, "Smartlock not found");
    };
    let name = body.get("name").cloned().unwrap_or(Value::Null);
    let Some(name) = name
        .as_str()
        .filter(|n| (1..=32).contains(&n.chars().count()))
    else {
        return invalid("name", &name);
    };
    let kind = body.get("type").and_then(Value::as_i64).unwrap_or(0) as i32;
    if !matches!(kind, 0 | 2 | 13) {
        return invalid("type", &json!(kind));
    }
    let mut code = None;
    if kind == 13 {
        if !lock.keypad_paired {
            return invalid("type", &json!(13));
        }
        let given = body.get("code").cloned().unwrap_or(Value::Null);
        match code_of(&given).filter(|c| valid_code(*c)) {
            Some(c) => code = Some(c),
            None => return invalid("code", &given),
        }
        let taken = w.codes_taken(lock.smartlock_id, None);
        if code.is_some_and(|c| taken.contains(&c)) {
            let status =
                StatusCode::from_u16(w.config.duplicate_status).unwrap_or(StatusCode::CONFLICT);
            return error(status, "The code exists on this smartlock already");
        }
        if taken.len() >= w.config.keypad_capacity {
            return error(StatusCode::CONFLICT, "The keypad holds no more codes");
        }
    }
    let now = w.now_ms();
    let mut auth = Auth {
        id: w.new_auth_id(),
        smartlock_id: lock.smartlock_id,
        auth_id: w.next_slot(lock.smartlock_id),
        kind,
        name: name.to_owned(),
        code,
        enabled: true,
        allowed_from_date: None,
        allowed_until_date: None,
        allowed_week_days: None,
        allowed_from_time: None,
        allowed_until_time: None,
        created_ms: now,
        updated_ms: now,
    };
    if let Err((field, value)) = restrict(&mut auth, &body) {
        return invalid(&field, &value);
    }
    let delay = w.config.write_delay_ms;
    w.accept(lock.smartlock_id, Op::Create(auth), delay);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /smartlock/{id}/auth/{authId}`: a partial update (`null` clears; `enable` is taken as
/// `enabled`, as Nuki's own guide writes it).
pub(crate) async fn update_auth(
    State(sim): State<NukiSim>,
    Path((id, auth)): Path<(String, String)>,
    Json(body): Json<Map<String, Value>>,
) -> Response {
    let mut w = sim.world();
    let lock: Option<i64> = id.parse().ok();
    let Some(mut a) = w
        .auths
        .get(&auth)
        .filter(|a| Some(a.smartlock_id) == lock)
        .cloned()
    else {
        return error(StatusCode::NOT_FOUND, "Smartlock auth not found");
    };
    if w.pending.iter().any(|p| match &p.op {
        Op::Update(u) => u.id == auth,
        Op::Delete { id } => *id == auth,
        _ => false,
    }) {
        return error(
            StatusCode::LOCKED,
            "The auth is locked for another operation",
        );
    }
    if let Some(name) = body.get("name") {
        match name
            .as_str()
            .filter(|n| (1..=32).contains(&n.chars().count()))
        {
            Some(n) => a.name = n.to_owned(),
            None => return invalid("name", name),
        }
    }
    if let Some(given) = body.get("code") {
        match code_of(given).filter(|c| valid_code(*c)) {
            Some(c) if w.codes_taken(a.smartlock_id, Some(&auth)).contains(&c) => {
                let status =
                    StatusCode::from_u16(w.config.duplicate_status).unwrap_or(StatusCode::CONFLICT);
                return error(status, "The code exists on this smartlock already");
            }
            Some(c) => a.code = Some(c),
            None => return invalid("code", given),
        }
    }
    if let Some(on) = body.get("enabled").or_else(|| body.get("enable")) {
        match on.as_bool() {
            Some(on) => a.enabled = on,
            None => return invalid("enabled", on),
        }
    }
    if let Err((field, value)) = restrict(&mut a, &body) {
        return invalid(&field, &value);
    }
    a.updated_ms = w.now_ms();
    let (smartlock, delay) = (a.smartlock_id, w.config.write_delay_ms);
    w.accept(smartlock, Op::Update(a), delay);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn auth(
    State(sim): State<NukiSim>,
    Path((id, auth)): Path<(String, String)>,
) -> Response {
    let w = sim.world();
    let lock: Option<i64> = id.parse().ok();
    match w.auths.get(&auth).filter(|a| Some(a.smartlock_id) == lock) {
        Some(a) => Json(auth_json(a)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Smartlock auth not found"),
    }
}

pub(crate) async fn delete_auth(
    State(sim): State<NukiSim>,
    Path((id, auth)): Path<(String, String)>,
) -> Response {
    let mut w = sim.world();
    let lock: Option<i64> = id.parse().ok();
    let Some(smartlock) = w
        .auths
        .get(&auth)
        .filter(|a| Some(a.smartlock_id) == lock)
        .map(|a| a.smartlock_id)
    else {
        return error(StatusCode::NOT_FOUND, "Smartlock auth not found");
    };
    let delay = w.config.write_delay_ms;
    w.accept(smartlock, Op::Delete { id: auth }, delay);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
pub(crate) struct LogParams {
    limit: Option<usize>,
    id: Option<String>,
    #[serde(rename = "fromDate")]
    from_date: Option<String>,
    #[serde(rename = "authId")]
    auth_id: Option<String>,
}

/// A page of a lock's log, newest first: at most `limit` (default 20, at most 50) records
/// older than the record `id`.
pub(crate) async fn logs(
    State(sim): State<NukiSim>,
    Path(id): Path<String>,
    Query(q): Query<LogParams>,
) -> Response {
    let w = sim.world();
    let Some(lock) = id.parse().ok().filter(|id: &i64| w.locks.contains_key(id)) else {
        return error(StatusCode::NOT_FOUND, "Smartlock not found");
    };
    let limit = q.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return invalid("limit", &json!(limit));
    }
    let from = match q.from_date.as_deref() {
        None => None,
        Some(text) => match text.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t.as_millisecond()),
            Err(_) => return invalid("fromDate", &json!(text)),
        },
    };
    let page: Vec<Value> = w
        .logs
        .iter()
        .rev()
        .filter(|e| e.smartlock_id == lock)
        .filter(|e| q.id.as_ref().is_none_or(|before| e.id < *before))
        .filter(|e| from.is_none_or(|f| e.date_ms >= f))
        .filter(|e| q.auth_id.is_none() || e.auth_id == q.auth_id)
        .take(limit)
        .map(log_json)
        .collect();
    Json(Value::Array(page)).into_response()
}
