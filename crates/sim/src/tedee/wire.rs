//! Tedee's wire: `/api/{version}/…` with case-insensitive paths and query names and optional
//! trailing slashes, PersonalKey and Bearer auth with scopes, the per-user rate limit, and
//! the `{result, success, errorMessages, statusCode}` envelope on every answer.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::TedeeSim;
use super::access::{credential, rate_limit};
use super::routes::*;
use super::world::{Credential, World};
use crate::faults::Failure;

/// A refusal: the status and Tedee's error message.
pub(crate) struct Refusal {
    status: StatusCode,
    message: String,
    /// Seconds, sent as `Retry-After`.
    pub(super) retry_after: Option<i64>,
}

pub(super) fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        message: message.into(),
        retry_after: None,
    }
}

pub(super) type Answer = Result<(StatusCode, Option<Value>), Refusal>;

pub(super) fn envelope(status: StatusCode, body: &Value) -> Response {
    let ct = HeaderValue::from_static("application/json; charset=utf-8");
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, ct)], bytes).into_response()
}

fn render(answer: Answer) -> Response {
    match answer {
        // HTTP forbids a body on 204 and 304 (Tedee's docs show one on 204; it is dropped).
        Ok((status, _))
            if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED =>
        {
            status.into_response()
        }
        Ok((status, result)) => envelope(
            status,
            &json!({ "result": result, "success": true, "errorMessages": [], "statusCode": status.as_u16() }),
        ),
        Err(r) => {
            let mut resp = envelope(
                r.status,
                &json!({ "result": null, "success": false, "errorMessages": [r.message], "statusCode": r.status.as_u16() }),
            );
            if let Some(secs) = r.retry_after
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

/// `v37` → 37, `v1.32` → 32. Versions before v1.13 do not exist.
fn version(segment: &str) -> Option<u32> {
    let s = segment.to_ascii_lowercase();
    let n: u32 = match s.strip_prefix("v1.") {
        Some(minor) => minor.parse().ok()?,
        None => s.strip_prefix('v')?.parse().ok()?,
    };
    (13..=37).contains(&n).then_some(n)
}

/// The route template and its parameters (lock id, pin id, operation id).
fn route(method: &Method, segs: &[&str]) -> Option<(&'static str, Vec<String>)> {
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let p = |i: usize| segs[i].to_owned();
    Some(match (method.as_str(), l.as_slice()) {
        ("GET", ["my", "lock"]) => ("GET /my/lock", vec![]),
        ("GET", ["my", "lock", "sync"]) => ("GET /my/lock/sync", vec![]),
        ("GET", ["my", "lock", _]) => ("GET /my/lock/{id}", vec![p(2)]),
        ("GET", ["my", "lock", _, "sync"]) => ("GET /my/lock/{id}/sync", vec![p(2)]),
        ("POST", ["my", "lock", _, "operation", "unlock"]) => {
            ("POST /my/lock/{id}/operation/unlock", vec![p(2)])
        }
        ("POST", ["my", "lock", _, "operation", "lock"]) => {
            ("POST /my/lock/{id}/operation/lock", vec![p(2)])
        }
        ("POST", ["my", "lock", _, "operation", "pull"]) => {
            ("POST /my/lock/{id}/operation/pull", vec![p(2)])
        }
        ("GET", ["my", "device", "operation", _]) => {
            ("GET /my/device/operation/{operationId}", vec![p(3)])
        }
        ("GET", ["my", "device"]) => ("GET /my/device", vec![]),
        ("GET", ["my", "device", "details"]) => ("GET /my/device/details", vec![]),
        ("GET", ["my", "bridge"]) => ("GET /my/bridge", vec![]),
        ("GET", ["my", "deviceactivity"]) => ("GET /my/deviceactivity", vec![]),
        ("GET", ["my", "lock", _, "pin"]) => ("GET /my/lock/{id}/pin", vec![p(2)]),
        ("POST", ["my", "lock", _, "pin"]) => ("POST /my/lock/{id}/pin", vec![p(2)]),
        (_, ["my", "lock", _, "pin", _]) => match method.as_str() {
            "GET" => ("GET /my/lock/{id}/pin/{pinId}", vec![p(2), p(4)]),
            "PUT" => ("PUT /my/lock/{id}/pin/{pinId}", vec![p(2), p(4)]),
            "DELETE" => ("DELETE /my/lock/{id}/pin/{pinId}", vec![p(2), p(4)]),
            _ => return None,
        },
        _ => return None,
    })
}

/// Query parameters with lower-cased names (Tedee's names are case-insensitive).
fn query(uri: &Uri) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(uri.query().unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

pub(super) fn param<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// What a handler did, and the lock it keeps busy for the device's latency (PIN commands).
struct Done {
    answer: Answer,
    busy: Option<i64>,
}

impl From<Answer> for Done {
    fn from(answer: Answer) -> Self {
        Done { answer, busy: None }
    }
}

/// One API request, parsed.
pub(super) struct Request<'a> {
    pub method: &'a Method,
    pub template: &'static str,
    pub params: &'a [String],
    pub q: &'a [(String, String)],
    pub body: &'a Bytes,
    /// The API version's number (32 for v1.32, 37 for v37).
    pub ver: u32,
}

fn dispatch(w: &mut World, c: &Credential, r: &Request<'_>) -> Done {
    let Request {
        method,
        template,
        params,
        ..
    } = *r;
    // Time passed since the last request: finish due operations, drop expired PINs.
    w.settle();
    let answer: Answer = match template {
        "GET /my/lock" => list_locks(w, c, r),
        "GET /my/lock/{id}" => get_lock(w, c, r),
        "GET /my/lock/sync" => sync_locks(w, c, r),
        "GET /my/lock/{id}/sync" => sync_lock(w, c, r),
        "GET /my/bridge" => bridges(w, c, r),
        "GET /my/device" => devices(w, c, r),
        "GET /my/device/details" => device_details(w, c, r),
        t if t.starts_with("POST /my/lock/{id}/operation/") => operate(w, c, r),
        "GET /my/device/operation/{operationId}" => operation(w, c, r),
        "GET /my/lock/{id}/pin" => pins(w, c, r),
        "GET /my/lock/{id}/pin/{pinId}" => pin(w, c, r),
        "POST /my/lock/{id}/pin" | "PUT /my/lock/{id}/pin/{pinId}" => put_pin(w, c, r),
        "DELETE /my/lock/{id}/pin/{pinId}" => delete_pin(w, c, r),
        "GET /my/deviceactivity" => activity(w, c, r),
        _ => Err(refuse(404, "Not found")),
    };
    let busy = match (&answer, method.as_str()) {
        (Ok(_), "POST" | "PUT" | "DELETE") if template.contains("/pin") => {
            params.first().and_then(|p| p.parse().ok())
        }
        _ => None,
    };
    Done { answer, busy }
}

/// Clears a lock's busy flag when its command ends, even if the caller went away.
struct BusyGuard {
    sim: TedeeSim,
    lock: i64,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if let Some(l) = self.sim.world().locks.get_mut(&self.lock) {
            l.busy = false;
        }
    }
}

/// Every `/api/…` request.
pub(crate) async fn api(
    State(sim): State<TedeeSim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() < 2 || !segs[0].eq_ignore_ascii_case("api") {
        return render(Err(refuse(404, "Not found")));
    }
    let Some(ver) = version(segs[1]) else {
        return render(Err(refuse(
            404,
            format!("API version {} is not supported", segs[1]),
        )));
    };
    let Some((template, params)) = route(&method, &segs[2..]) else {
        return render(Err(refuse(404, "Not found")));
    };
    if let Some(f) = crate::control::prelude(&sim, template).await {
        let status = match f {
            Failure::HttpStatus(s) => s,
            Failure::Errcode(c) => u16::try_from(c).unwrap_or(500),
        };
        return render(Err(refuse(status, "Simulated fault")));
    }
    let q = query(&uri);
    let (done, latency) = {
        let mut w = sim.world();
        let Some(cred) = credential(&w, &headers) else {
            return render(Err(refuse(401, "Unauthorized")));
        };
        if let Err(r) = rate_limit(&mut w, cred.user_id) {
            return render(Err(r));
        }
        let req = Request {
            method: &method,
            template,
            params: &params,
            q: &q,
            body: &body,
            ver,
        };
        let done = dispatch(&mut w, &cred, &req);
        let latency = w.config.device_latency_ms;
        if let Some(l) = done
            .busy
            .filter(|_| latency > 0)
            .and_then(|id| w.locks.get_mut(&id))
        {
            l.busy = true;
        }
        (done, latency)
    };
    if let Some(lock) = done.busy.filter(|_| latency > 0) {
        let _guard = BusyGuard {
            sim: sim.clone(),
            lock,
        };
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    render(done.answer)
}
