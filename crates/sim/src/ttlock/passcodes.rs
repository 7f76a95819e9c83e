//! Passcodes: list, add (custom), change, delete and get (algorithmic).

use serde_json::{Value, json};

use super::Reply;
use super::errors::{ApiErr, ack};
use super::paging::paged;
use super::params::Params;
use super::world::{Passcode, World};

const HOUR_MS: i64 = 3_600_000;

fn item(lock_id: i64, c: &Passcode) -> Value {
    json!({
        "keyboardPwdId": c.id, "lockId": lock_id, "keyboardPwd": c.code,
        "keyboardPwdName": c.name, "keyboardPwdType": c.kind, "keyboardPwdVersion": 4,
        "startDate": c.start_ms, "endDate": c.end_ms, "sendDate": c.send_ms,
        "isCustom": i64::from(c.is_custom), "status": 1, "senderUsername": c.sender,
    })
}

pub fn list(w: &World, uid: i64, p: &Params) -> Result<Value, ApiErr> {
    let lock = w.own_lock(uid, p.required_int("lockId")?)?;
    // Fuzzy on the name, exact on the code (§5.7).
    let search = p.str("searchStr");
    let needle = search.map(str::to_lowercase);
    let mut codes: Vec<&Passcode> = lock
        .passcodes
        .values()
        .filter(|c| match (search, &needle) {
            (Some(s), Some(n)) => {
                c.code == s
                    || c.name
                        .as_ref()
                        .is_some_and(|m| m.to_lowercase().contains(n))
            }
            _ => true,
        })
        .collect();
    let name = |c: &Passcode| c.name.clone().unwrap_or_default();
    match p.int("orderBy")?.unwrap_or(1) {
        0 => codes.sort_by_key(|c| (name(c), c.id)),
        2 => codes.sort_by_key(|c| std::cmp::Reverse((name(c), c.id))),
        _ => codes.sort_by_key(|c| std::cmp::Reverse((c.send_ms, c.id))),
    }
    paged(&codes, p, 200, |c| item(lock.id, c))
}

/// 4–9 digits. -3006's text speaks of 6–9, but the add page documents 4–9 custom digits;
/// the fake takes the wider rule.
fn check_code(code: &str) -> Result<(), ApiErr> {
    if (4..=9).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiErr::code(-3006))
    }
}

/// Which way a write reaches the lock: 1 Bluetooth (the app writes it; the cloud records),
/// 2 gateway or Wi-Fi, 4 asynchronous Wi-Fi (treated as 2). NB-IoT (3) is not simulated.
fn through_gateway(kind: Option<i64>, name: &str) -> Result<bool, ApiErr> {
    match kind.unwrap_or(1) {
        1 => Ok(false),
        2 | 4 => Ok(true),
        3 => Err(ApiErr::code(-4043)),
        _ => Err(ApiErr::param(name)),
    }
}

fn period(p: &Params) -> Result<Option<(i64, i64)>, ApiErr> {
    match (p.int("startDate")?, p.int("endDate")?) {
        (None, None) => Ok(None),
        (Some(s), Some(e)) if s < e => Ok(Some((s, e))),
        (Some(_), Some(_)) => Err(ApiErr::param("endDate")),
        (None, Some(_)) => Err(ApiErr::param("startDate")),
        (Some(_), None) => Err(ApiErr::param("endDate")),
    }
}

pub fn add(w: &mut World, uid: i64, p: &Params) -> Result<Reply, ApiErr> {
    let lock_id = p.required_int("lockId")?;
    let lock = w.own_lock(uid, lock_id)?;
    let code = p.required("keyboardPwd")?.to_owned();
    check_code(&code)?;
    let kind = p.int("keyboardPwdType")?.unwrap_or(3);
    let (start, end) = match (kind, period(p)?) {
        (2, _) => (0, 0),
        (3, Some(range)) => range,
        (3, None) => return Err(ApiErr::param("startDate")),
        _ => return Err(ApiErr::param("keyboardPwdType")),
    };
    let via_gateway = through_gateway(p.int("addType")?, "addType")?;
    if lock.passcodes.values().any(|c| c.code == code) {
        return Err(ApiErr::code(-3007));
    }
    if lock.passcodes.len() >= w.config.capacity {
        return Err(ApiErr::code(-3009));
    }
    let gw = if via_gateway {
        w.route_to_lock(lock_id)?
    } else {
        None
    };
    let sender = w.username_of(uid).unwrap_or_default().to_owned();
    let id = w.next_id(80_700_000);
    let now = w.now_ms();
    let name = p.str("keyboardPwdName").map(str::to_owned);
    let code = Passcode {
        id,
        code,
        name,
        kind,
        start_ms: start,
        end_ms: end,
        send_ms: now,
        is_custom: true,
        sender,
        on_lock: via_gateway,
    };
    if let Some(lock) = w.locks.get_mut(&lock_id) {
        lock.passcodes.insert(id, code);
    }
    Ok(Reply::via(json!({ "keyboardPwdId": id }), gw))
}

pub fn change(w: &mut World, uid: i64, p: &Params) -> Result<Reply, ApiErr> {
    let lock_id = p.required_int("lockId")?;
    let code_id = p.required_int("keyboardPwdId")?;
    let lock = w.own_lock(uid, lock_id)?;
    let new_period = period(p)?;
    let new_code = p.str("newKeyboardPwd").map(str::to_owned);
    if let Some(code) = &new_code {
        check_code(code)?;
        if lock
            .passcodes
            .values()
            .any(|c| &c.code == code && c.id != code_id)
        {
            return Err(ApiErr::code(-3007));
        }
    }
    let via_gateway = through_gateway(p.int("changeType")?, "changeType")?;
    // One integrator reports errcode 0 for an unknown id; the fake follows that report.
    if !lock.passcodes.contains_key(&code_id) {
        return Ok(Reply::direct(ack()));
    }
    // A name-only change stays in the cloud; a code or period change reaches the lock.
    let touches_lock = new_code.is_some() || new_period.is_some();
    let gw = if touches_lock && via_gateway {
        w.route_to_lock(lock_id)?
    } else {
        None
    };
    let name = p.str("keyboardPwdName").map(str::to_owned);
    if let Some(c) = w
        .locks
        .get_mut(&lock_id)
        .and_then(|l| l.passcodes.get_mut(&code_id))
    {
        if let Some(name) = name {
            c.name = Some(name);
        }
        if let Some(code) = new_code {
            c.code = code;
        }
        if let Some((s, e)) = new_period {
            (c.start_ms, c.end_ms, c.kind) = (s, e, 3);
        }
        if touches_lock {
            c.on_lock = via_gateway;
        }
    }
    Ok(Reply::via(ack(), gw))
}

pub fn delete(w: &mut World, uid: i64, p: &Params) -> Result<Reply, ApiErr> {
    let lock_id = p.required_int("lockId")?;
    let code_id = p.required_int("keyboardPwdId")?;
    let lock = w.own_lock(uid, lock_id)?;
    let via_gateway = through_gateway(p.int("deleteType")?, "deleteType")?;
    if !lock.passcodes.contains_key(&code_id) {
        return Ok(Reply::direct(ack()));
    }
    let gw = if via_gateway {
        w.route_to_lock(lock_id)?
    } else {
        None
    };
    if let Some(lock) = w.locks.get_mut(&lock_id) {
        lock.passcodes.remove(&code_id);
    }
    Ok(Reply::via(ack(), gw))
}

/// An algorithmic code: computed by the cloud, known to the lock without a gateway.
pub fn get(w: &mut World, uid: i64, p: &Params) -> Result<Value, ApiErr> {
    let lock_id = p.required_int("lockId")?;
    w.own_lock(uid, lock_id)?;
    let kind = p.required_int("keyboardPwdType")?;
    if !(1..=14).contains(&kind) {
        return Err(ApiErr::param("keyboardPwdType"));
    }
    // Validity is hour-precise: the start is truncated to the hour (§5.11).
    let start = p.required_int("startDate")? / HOUR_MS * HOUR_MS;
    let end = match p.int("endDate")? {
        Some(e) => e / HOUR_MS * HOUR_MS,
        None if kind == 3 || kind >= 5 => return Err(ApiErr::param("endDate")),
        None => 0,
    };
    if end != 0 && end <= start && kind == 3 {
        return Err(ApiErr::param("endDate"));
    }
    let lock = &w.locks[&lock_id];
    // One period code per (start, end), even after it was deleted (VikBooking's report). The
    // code the cloud answers with is unconfirmed; the fake uses -3007.
    if kind == 3 && lock.issued_periods.contains(&(start, end)) {
        return Err(ApiErr::code(-3007));
    }
    let len = match kind {
        1 => 9,
        2 => 7,
        _ => 8,
    };
    let code = loop {
        let candidate = w.rng.digits(len);
        if !w.locks[&lock_id]
            .passcodes
            .values()
            .any(|c| c.code == candidate)
        {
            break candidate;
        }
    };
    let id = w.next_id(80_700_000);
    let now = w.now_ms();
    let sender = w.username_of(uid).unwrap_or_default().to_owned();
    let name = p.str("keyboardPwdName").map(str::to_owned);
    if let Some(lock) = w.locks.get_mut(&lock_id) {
        if kind == 3 {
            lock.issued_periods.insert((start, end));
        }
        lock.passcodes.insert(
            id,
            Passcode {
                id,
                code: code.clone(),
                name,
                kind,
                start_ms: start,
                end_ms: end,
                send_ms: now,
                is_custom: false,
                sender,
                on_lock: true,
            },
        );
    }
    Ok(json!({ "keyboardPwd": code, "keyboardPwdId": id }))
}
