//! Tedee's routes, one function each: the world, the caller's credential and the parsed
//! request in, the answer out.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::access::{id_of, lock_for, scope};
use super::model::{lock_json, pin_body, pin_json, relay, sync_json, visible_locks};
use super::time;
use super::wire::{Answer, Request, param, refuse};
use super::world::{Credential, Operation, World};

const READ: [&str; 1] = ["Device.Read"];
const WRITE: [&str; 1] = ["Device.ReadWrite"];

/// `GET /my/lock`.
pub(super) fn list_locks(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let user = c.user_id;
    let ver = r.ver;
    scope(c, &READ)?;
    let locks: Vec<Value> = visible_locks(w, user)
        .map(|l| lock_json(w, l, user, ver))
        .collect();
    Ok((StatusCode::OK, Some(json!(locks))))
}

/// `GET /my/lock/{id}`.
pub(super) fn get_lock(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let user = c.user_id;
    let params = r.params;
    let ver = r.ver;
    scope(c, &READ)?;
    let lock = lock_for(w, c, &params[0])?;
    Ok((StatusCode::OK, Some(lock_json(w, lock, user, ver))))
}

/// `GET /my/lock/sync`.
pub(super) fn sync_locks(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let user = c.user_id;
    let q = r.q;
    let ver = r.ver;
    scope(c, &READ)?;
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

/// `GET /my/lock/{id}/sync`.
pub(super) fn sync_lock(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let params = r.params;
    let ver = r.ver;
    scope(c, &READ)?;
    let lock = lock_for(w, c, &params[0])?;
    Ok((StatusCode::OK, Some(sync_json(w, lock, ver))))
}

/// `GET /my/bridge`.
pub(super) fn bridges(w: &mut World, c: &Credential, _r: &Request<'_>) -> Answer {
    let user = c.user_id;
    scope(c, &READ)?;
    let bridges: Vec<Value> = w.bridges.values().filter(|b| b.user_id == user)
        .map(|b| json!({ "id": b.id, "name": b.name, "serialNumber": b.serial_number, "isConnected": b.online }))
        .collect();
    Ok((StatusCode::OK, Some(json!(bridges))))
}

/// `GET /my/device`.
pub(super) fn devices(w: &mut World, c: &Credential, _r: &Request<'_>) -> Answer {
    let user = c.user_id;
    scope(c, &READ)?;
    let mut devices: Vec<Value> = w
        .bridges
        .values()
        .filter(|b| b.user_id == user)
        .map(|b| json!({ "id": b.id, "name": b.name, "serialNumber": b.serial_number, "type": 1 }))
        .collect();
    devices.extend(visible_locks(w, user).map(|l| json!({ "id": l.id, "name": l.name, "serialNumber": l.serial_number, "type": l.device_type })));
    Ok((StatusCode::OK, Some(json!(devices))))
}

/// `GET /my/device/details`.
pub(super) fn device_details(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let user = c.user_id;
    let ver = r.ver;
    scope(c, &READ)?;
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

/// `POST /my/lock/{id}/operation/*`.
pub(super) fn operate(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let user = c.user_id;
    let params = r.params;
    let q = r.q;
    let t = r.template;
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

/// `GET /my/device/operation/{operationId}`.
pub(super) fn operation(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let user = c.user_id;
    let params = r.params;
    scope(c, &READ)?;
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

/// `GET /my/lock/{id}/pin`.
pub(super) fn pins(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let params = r.params;
    let q = r.q;
    scope(c, &READ)?;
    let lock = lock_for(w, c, &params[0])?;
    relay(w, lock)?;
    if param(q, "listversion").and_then(|v| v.parse::<i64>().ok()) == Some(lock.list_version) {
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

/// `GET /my/lock/{id}/pin/{pinId}`.
pub(super) fn pin(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let params = r.params;
    scope(c, &READ)?;
    let lock = lock_for(w, c, &params[0])?;
    relay(w, lock)?;
    let pin = lock
        .pins
        .get(&id_of(&params[1], "Pin")?)
        .ok_or_else(|| refuse(404, "Pin not found"))?;
    Ok((StatusCode::OK, Some(pin_json(pin))))
}

/// `POST /my/lock/{id}/pin | PUT /my/lock/{id}/pin/{pinId}`.
pub(super) fn put_pin(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let params = r.params;
    let body = r.body;
    scope(c, &WRITE)?;
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

/// `DELETE /my/lock/{id}/pin/{pinId}`.
pub(super) fn delete_pin(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let params = r.params;
    scope(c, &WRITE)?;
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

/// `GET /my/deviceactivity`.
pub(super) fn activity(w: &mut World, c: &Credential, r: &Request<'_>) -> Answer {
    let user = c.user_id;
    let q = r.q;
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
        Some(d) => time::parse(d).ok_or_else(|| refuse(400, "lastElemDate is not a valid date"))?,
    };
    let guest = lock.owner != user;
    let items: Vec<Value> = lock
        .activities
        .iter()
        .rev()
        .filter(|a| a.date_ms < before)
        .filter(|a| !guest || a.user_id.is_none_or(|u| u == user))
        .take(elements)
        .map(|a| {
            json!({
                "id": a.id, "deviceId": a.device_id, "userId": a.user_id, "username": a.username,
                "event": a.event, "source": a.source, "date": time::format_plain(a.date_ms),
            })
        })
        .collect();
    Ok((StatusCode::OK, Some(json!(items))))
}
