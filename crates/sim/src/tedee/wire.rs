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
use super::access::{credential, id_of, lock_for, rate_limit, scope};
use super::model::{lock_json, pin_body, pin_json, relay, sync_json, visible_locks};
use super::time;
use super::world::{Credential, Operation, World};
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

type Answer = Result<(StatusCode, Option<Value>), Refusal>;

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

fn param<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
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
struct Request<'a> {
    method: &'a Method,
    template: &'static str,
    params: &'a [String],
    q: &'a [(String, String)],
    body: &'a Bytes,
    /// The API version's number (32 for v1.32, 37 for v37).
    ver: u32,
}

fn dispatch(w: &mut World, c: &Credential, r: &Request<'_>) -> Done {
    let Request {
        method,
        template,
        params,
        q,
        body,
        ver,
    } = *r;
    // Time passed since the last request: finish due operations, drop expired PINs.
    w.settle();
    let user = c.user_id;
    let read = ["Device.Read"];
    let write = ["Device.ReadWrite"];
    let answer: Answer = (|| match template {
        "GET /my/lock" => {
            scope(c, &read)?;
            let locks: Vec<Value> = visible_locks(w, user)
                .map(|l| lock_json(w, l, user, ver))
                .collect();
            Ok((StatusCode::OK, Some(json!(locks))))
        }
        "GET /my/lock/{id}" => {
            scope(c, &read)?;
            let lock = lock_for(w, c, &params[0])?;
            Ok((StatusCode::OK, Some(lock_json(w, lock, user, ver))))
        }
        "GET /my/lock/sync" => {
            scope(c, &read)?;
            let ids: Vec<i64> = q
                .iter()
                .filter(|(k, _)| k == "id")
                .filter_map(|(_, v)| v.parse().ok())
                .collect();
            let locks: Vec<Value> = visible_locks(w, user)
                .filter(|l| ids.is_empty() || ids.contains(&l.id))
                .map(|l| sync_json(w, l, ver))
                .collect();
            Ok((StatusCode::OK, Some(json!(locks))))
        }
        "GET /my/lock/{id}/sync" => {
            scope(c, &read)?;
            let lock = lock_for(w, c, &params[0])?;
            Ok((StatusCode::OK, Some(sync_json(w, lock, ver))))
        }
        "GET /my/bridge" => {
            scope(c, &read)?;
            let bridges: Vec<Value> = w.bridges.values().filter(|b| b.user_id == user)
                .map(|b| json!({ "id": b.id, "name": b.name, "serialNumber": b.serial_number, "isConnected": b.online }))
                .collect();
            Ok((StatusCode::OK, Some(json!(bridges))))
        }
        "GET /my/device" => {
            scope(c, &read)?;
            let mut devices: Vec<Value> = w.bridges.values().filter(|b| b.user_id == user)
                .map(|b| json!({ "id": b.id, "name": b.name, "serialNumber": b.serial_number, "type": 1 }))
                .collect();
            devices.extend(visible_locks(w, user).map(|l| json!({ "id": l.id, "name": l.name, "serialNumber": l.serial_number, "type": l.device_type })));
            Ok((StatusCode::OK, Some(json!(devices))))
        }
        "GET /my/device/details" => {
            scope(c, &read)?;
            let locks: Vec<Value> = visible_locks(w, user)
                .map(|l| lock_json(w, l, user, ver))
                .collect();
            let bridges: Vec<Value> = w.bridges.values().filter(|b| b.user_id == user)
                .map(|b| json!({ "id": b.id, "name": b.name, "serialNumber": b.serial_number, "isConnected": b.online }))
                .collect();
            Ok((
                StatusCode::OK,
                Some(json!({ "locks": locks, "bridges": bridges })),
            ))
        }
        t if t.starts_with("POST /my/lock/{id}/operation/") => {
            scope(c, &["Lock.Operate"])?;
            let lock = lock_for(w, c, &params[0])?;
            if lock.owner != user && lock.guests.get(&user).is_some_and(|g| g.1) {
                return Err(refuse(403, "Remote access is disabled for this user"));
            }
            if !w.reachable(lock) {
                return Err(refuse(428, "Lock is disconnected"));
            }
            let lock_id = lock.id;
            if w.operations
                .values()
                .any(|o| o.device_id == lock_id && !o.completed)
            {
                return Err(refuse(
                    409,
                    "Another operation is in progress for this device",
                ));
            }
            let kind = match t.rsplit('/').next() {
                Some("lock") => 0,
                Some("unlock") => 1,
                _ => 2,
            };
            if kind == 1
                && let Some(mode) = param(q, "mode")
                && !matches!(mode, "0" | "2" | "3" | "4")
            {
                return Err(refuse(400, "mode must be 0, 2, 3 or 4"));
            }
            let now = w.now_ms();
            let mut op_id = now;
            while w.operations.contains_key(&op_id.to_string()) {
                op_id += 1;
            }
            let completes = now + w.config.operation_ms.max(0);
            let last = lock.last_state_changed_ms;
            w.operations.insert(
                op_id.to_string(),
                Operation {
                    id: op_id.to_string(),
                    device_id: lock_id,
                    user_id: user,
                    kind,
                    completes_at_ms: completes,
                    completed: false,
                    result: 0,
                },
            );
            if let Some(l) = w.locks.get_mut(&lock_id) {
                l.state = [5, 4, 8][kind as usize];
            }
            w.settle();
            Ok((
                StatusCode::ACCEPTED,
                Some(
                    json!({ "operationId": op_id.to_string(), "lastStateChangedDate": time::format_z(last) }),
                ),
            ))
        }
        "GET /my/device/operation/{operationId}" => {
            scope(c, &read)?;
            let op = w.operations.get(&params[0]).filter(|o| {
                w.locks
                    .get(&o.device_id)
                    .is_some_and(|l| l.owner == user || l.guests.contains_key(&user))
            });
            let op = op.ok_or_else(|| refuse(404, "Operation not found"))?;
            let mut v = json!({
                "deviceId": op.device_id, "operationId": op.id, "type": op.kind,
                "status": if op.completed { "COMPLETED" } else { "PENDING" },
            });
            if op.completed {
                v["result"] = json!(op.result);
            }
            Ok((StatusCode::OK, Some(v)))
        }
        "GET /my/lock/{id}/pin" => {
            scope(c, &read)?;
            let lock = lock_for(w, c, &params[0])?;
            relay(w, lock)?;
            if param(q, "listversion").and_then(|v| v.parse::<i64>().ok())
                == Some(lock.list_version)
            {
                return Ok((StatusCode::NOT_MODIFIED, None));
            }
            let pins: Vec<Value> = lock
                .pins
                .values()
                .map(|p| json!({ "id": p.id, "alias": p.alias }))
                .collect();
            Ok((
                StatusCode::OK,
                Some(json!({ "listVersion": lock.list_version, "pins": pins })),
            ))
        }
        "GET /my/lock/{id}/pin/{pinId}" => {
            scope(c, &read)?;
            let lock = lock_for(w, c, &params[0])?;
            relay(w, lock)?;
            let pin = lock
                .pins
                .get(&id_of(&params[1], "Pin")?)
                .ok_or_else(|| refuse(404, "Pin not found"))?;
            Ok((StatusCode::OK, Some(pin_json(pin))))
        }
        "POST /my/lock/{id}/pin" | "PUT /my/lock/{id}/pin/{pinId}" => {
            scope(c, &write)?;
            let lock = lock_for(w, c, &params[0])?;
            let lock_id = lock.id;
            let replacing = match params.get(1) {
                Some(p) => Some(id_of(p, "Pin")?)
                    .filter(|id| lock.pins.contains_key(id))
                    .map(Some)
                    .ok_or_else(|| refuse(404, "Pin not found"))?,
                None => None,
            };
            let mut pin = pin_body(body)?;
            relay(w, lock)?;
            if lock
                .pins
                .values()
                .any(|p| p.pin == pin.pin && Some(p.id) != replacing)
            {
                return Err(refuse(406, "Pin already exists"));
            }
            if replacing.is_none() && lock.pins.len() >= w.config.pin_capacity {
                return Err(refuse(
                    w.config.slots_full_status,
                    "Adding more pins is not available",
                ));
            }
            match replacing {
                Some(id) => {
                    pin.id = id;
                    if let Some(l) = w.locks.get_mut(&lock_id) {
                        l.pins.insert(id, pin);
                        l.list_version += 1;
                    }
                    Ok((StatusCode::NO_CONTENT, None))
                }
                None => {
                    let id = w.put_pin(lock_id, pin).unwrap_or_default();
                    Ok((StatusCode::CREATED, Some(json!({ "id": id }))))
                }
            }
        }
        "DELETE /my/lock/{id}/pin/{pinId}" => {
            scope(c, &write)?;
            let lock = lock_for(w, c, &params[0])?;
            let lock_id = lock.id;
            let pin_id = id_of(&params[1], "Pin")?;
            if !lock.pins.contains_key(&pin_id) {
                return Err(refuse(404, "Pin not found"));
            }
            relay(w, lock)?;
            if let Some(l) = w.locks.get_mut(&lock_id) {
                l.pins.remove(&pin_id);
                l.list_version += 1;
            }
            Ok((StatusCode::NO_CONTENT, None))
        }
        "GET /my/deviceactivity" => {
            scope(c, &["DeviceActivity.Read"])?;
            let device = param(q, "deviceid").ok_or_else(|| refuse(400, "deviceId is required"))?;
            let lock = lock_for(w, c, device)?;
            let elements = match param(q, "elements") {
                None => 200,
                Some(e) => e
                    .parse::<usize>()
                    .ok()
                    .filter(|e| (1..=200).contains(e))
                    .ok_or_else(|| refuse(400, "elements must be between 1 and 200"))?,
            };
            let before = match param(q, "lastelemdate") {
                None => i64::MAX,
                Some(d) => {
                    time::parse(d).ok_or_else(|| refuse(400, "lastElemDate is not a valid date"))?
                }
            };
            let guest = lock.owner != user;
            let items: Vec<Value> = lock.activities.iter().rev()
                .filter(|a| a.date_ms < before)
                .filter(|a| !guest || a.user_id.is_none_or(|u| u == user))
                .take(elements)
                .map(|a| json!({
                    "id": a.id, "deviceId": a.device_id, "userId": a.user_id, "username": a.username,
                    "event": a.event, "source": a.source, "date": time::format_plain(a.date_ms),
                }))
                .collect();
            Ok((StatusCode::OK, Some(json!(items))))
        }
        _ => Err(refuse(404, "Not found")),
    })();
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
    let hit = {
        let mut w = sim.world();
        w.count_call(template);
        let World { faults, rng, .. } = &mut *w;
        faults.draw(template, rng)
    };
    if hit.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(hit.latency_ms)).await;
    }
    if let Some(f) = hit.failure {
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
