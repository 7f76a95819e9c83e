//! The JSON the Tedee fake answers with (locks by API version, sync, PINs) and the PIN bodies it
//! takes, checked as Tedee checks them.

use axum::body::Bytes;
use serde_json::{Value, json};

use super::time;
use super::wire::{Refusal, refuse};
use super::world::{Lock, Pin, World, pin_rule};

pub(super) fn access_level(lock: &Lock, user: i64) -> i64 {
    if lock.owner == user {
        2
    } else {
        lock.guests.get(&user).map_or(3, |g| g.0)
    }
}

pub(super) fn state_json(w: &World, lock: &Lock) -> Value {
    if !w.reachable(lock) {
        return Value::Null;
    }
    json!({
        "state": lock.state,
        "doorState": lock.door_state,
        "isCharging": lock.is_charging,
        "batteryLevel": lock.battery,
        "stateChangeResult": lock.state_change_result,
        "lastStateChangedDate": time::format_z(lock.last_state_changed_ms),
    })
}

/// The Lock model; `deviceState` from v1.34, `lockProperties` before.
pub(super) fn lock_json(w: &World, lock: &Lock, user: i64, ver: u32) -> Value {
    let state_key = if ver >= 34 {
        "deviceState"
    } else {
        "lockProperties"
    };
    let mut v = json!({
        "id": lock.id,
        "name": lock.name,
        "serialNumber": lock.serial_number,
        "type": lock.device_type,
        "isConnected": lock.bridge_id.map(|_| w.reachable(lock)),
        "connectedToId": lock.bridge_id,
        "deviceSettings": {
            "autoLockEnabled": false, "autoLockDelay": 0, "pullSpringEnabled": true,
            "pullSpringDuration": 2, "autoPullSpringEnabled": lock.auto_pull, "isAsync": false,
        },
        "accessLevel": access_level(lock, user),
        "timeZone": lock.time_zone,
        "userIdentity": w.users.get(&lock.owner).map(|u| u.identity.clone()),
        "created": time::format_plain(lock.created_ms).split('.').next().unwrap_or_default(),
        "revision": lock.revision,
        "deviceRevision": lock.revision,
        "targetDeviceRevision": lock.revision,
        "beaconMajor": null,
        "beaconMinor": null,
        "softwareVersions": [{ "softwareType": 0, "version": "2.4.15000", "updateAvailable": false }],
    });
    v[state_key] = state_json(w, lock);
    if ver >= 33 {
        let accessories: Vec<Value> = if lock.keypad {
            vec![json!({ "type": 3 })]
        } else {
            vec![]
        };
        v["accessories"] = json!(accessories);
    }
    v
}

pub(super) fn sync_json(w: &World, lock: &Lock, ver: u32) -> Value {
    let state_key = if ver >= 35 {
        "deviceState"
    } else {
        "lockProperties"
    };
    let mut v =
        json!({ "id": lock.id, "isConnected": w.reachable(lock), "revision": lock.revision });
    v[state_key] = state_json(w, lock);
    v
}

pub(super) fn visible_locks(w: &World, user: i64) -> impl Iterator<Item = &Lock> {
    w.locks
        .values()
        .filter(move |l| l.owner == user || l.guests.contains_key(&user))
}

/// The PIN endpoints' device relay: the lock needs a keypad and a working bridge (428),
/// answers one command at a time (409) and may not answer at all (408).
pub(super) fn relay(w: &World, lock: &Lock) -> Result<(), Refusal> {
    if !lock.keypad {
        return Err(refuse(
            428,
            "Device setup is incorrect: no keypad is paired with the lock",
        ));
    }
    if !w.reachable(lock) {
        return Err(refuse(428, "Lock is disconnected"));
    }
    if lock.busy {
        return Err(refuse(
            409,
            "Another request is currently being processed for this device",
        ));
    }
    if lock.not_responding {
        return Err(refuse(408, "Timeout while sending data to the device"));
    }
    Ok(())
}

/// The body of a PIN create or replace, checked as Tedee checks it.
pub(super) fn pin_body(body: &Bytes) -> Result<Pin, Refusal> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| refuse(400, "The request body is not valid JSON"))?;
    let text = |k: &str| -> Result<Option<String>, Refusal> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(refuse(400, format!("{k} must be a string"))),
        }
    };
    let pin = text("pin")?.unwrap_or_default();
    if let Some(rule) = pin_rule(&pin) {
        return Err(refuse(400, rule));
    }
    let dates = ["startDate", "endDate", "dayStartTime", "dayEndTime"];
    let mut parsed = Vec::new();
    for k in dates {
        let value = text(k)?;
        if value.as_deref().is_some_and(|d| time::parse(d).is_none()) {
            return Err(refuse(400, format!("{k} is not a valid date")));
        }
        parsed.push(value);
    }
    if let (Some(s), Some(e)) = (
        parsed[0].as_deref().and_then(time::parse),
        parsed[1].as_deref().and_then(time::parse),
    ) && e <= s
    {
        return Err(refuse(400, "endDate must be after startDate"));
    }
    let week_days = match v.get("weekDays") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_i64().filter(|d| (0..=127).contains(d)) {
            Some(d) => Some(d),
            None => return Err(refuse(400, "weekDays must be a number from 0 to 127")),
        },
    };
    let mut parsed = parsed.into_iter();
    let mut next = || parsed.next().flatten();
    Ok(Pin {
        id: 0,
        alias: text("alias")?.unwrap_or_default(),
        pin,
        start_date: next(),
        end_date: next(),
        day_start_time: next(),
        day_end_time: next(),
        week_days,
    })
}

pub(super) fn pin_json(p: &Pin) -> Value {
    serde_json::to_value(p).unwrap_or_default()
}
