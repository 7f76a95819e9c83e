//! Locks, gateways, remote operations and records.

use serde_json::{Value, json};

use super::Reply;
use super::errors::ApiErr;
use super::paging::paged;
use super::params::Params;
use super::world::{Gateway, Lock, Record, World};

/// Records older than this are gone from the cloud (six months, §5.12).
const RECORD_RETENTION_MS: i64 = 183 * 24 * 3600 * 1000;

fn lock_item(l: &Lock) -> Value {
    json!({
        "lockId": l.id, "lockName": l.name, "lockAlias": l.alias, "lockMac": l.mac,
        "electricQuantity": l.battery, "featureValue": l.feature_value(),
        "hasGateway": i64::from(l.gateway_id.is_some()), "lockData": format!("sim-{}", l.id),
        "groupId": l.group_id, "groupName": "", "date": l.init_ms,
        "keyboardPwdVersion": 4, "specialValue": 557_905_396,
    })
}

pub fn list(w: &World, uid: i64, p: &Params) -> Result<Value, ApiErr> {
    let alias = p.str("lockAlias").map(str::to_lowercase);
    let group = p.int("groupId")?;
    let locks: Vec<&Lock> = w
        .locks
        .values()
        .filter(|l| l.owner_uid == uid)
        .filter(|l| {
            alias
                .as_ref()
                .is_none_or(|a| l.alias.to_lowercase().contains(a))
        })
        .filter(|l| group.is_none_or(|g| l.group_id == g))
        .collect();
    paged(&locks, p, 1000, |l| lock_item(l))
}

pub fn detail(w: &World, uid: i64, p: &Params) -> Result<Value, ApiErr> {
    let l = w.own_lock(uid, p.required_int("lockId")?)?;
    let mut v = lock_item(l);
    let extra = json!({
        "modelNum": "SN275-5S-250MS-6V_PV53", "hardwareRevision": "1.8",
        "firmwareRevision": "6.4.11.220206", "timezoneRawOffset": l.timezone_raw_offset,
        "autoLockTime": 30, "lockSound": 1, "soundVolume": 5, "privacyLock": 2,
        "tamperAlert": 2, "resetButton": 1, "openDirection": 0, "passageMode": 2,
        "passageModeAutoUnlock": 2, "isFrozen": 2, "lockUpdateDate": l.init_ms,
    });
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    Ok(v)
}

/// A command that goes through the gateway (or the Wi-Fi module): checked before it is sent.
fn reach(w: &World, uid: i64, p: &Params) -> Result<(i64, Option<i64>), ApiErr> {
    let lock_id = p.required_int("lockId")?;
    w.own_lock(uid, lock_id)?;
    Ok((lock_id, w.route_to_lock(lock_id)?))
}

pub fn open_state(w: &World, uid: i64, p: &Params) -> Result<Reply, ApiErr> {
    let (lock_id, gw) = reach(w, uid, p)?;
    let state = w.locks[&lock_id].state;
    Ok(Reply::via(json!({ "state": state }), gw))
}

pub fn battery(w: &World, uid: i64, p: &Params) -> Result<Reply, ApiErr> {
    let (lock_id, gw) = reach(w, uid, p)?;
    let battery = w.locks[&lock_id].battery;
    Ok(Reply::via(json!({ "electricQuantity": battery }), gw))
}

pub fn operate(w: &mut World, uid: i64, p: &Params, unlock: bool) -> Result<Reply, ApiErr> {
    let (lock_id, gw) = reach(w, uid, p)?;
    if unlock && !w.locks[&lock_id].remote_unlock {
        return Err(ApiErr::code(-4043));
    }
    let who = w.username_of(uid).map(str::to_owned);
    if let Some(lock) = w.locks.get_mut(&lock_id) {
        lock.state = i64::from(unlock);
    }
    // 12 is the documented "gateway unlock"; no record type is documented for a remote lock,
    // so the fake logs 11 ("lock") for it.
    w.log(lock_id, if unlock { 12 } else { 11 }, true, who, None);
    Ok(Reply::via(super::errors::ack(), gw))
}

fn record_item(lock_id: i64, r: &Record) -> Value {
    json!({
        "recordId": r.id, "lockId": lock_id, "recordTypeFromLock": r.record_type,
        "recordType": r.record_type, "success": i64::from(r.success), "username": r.username,
        "keyboardPwd": r.keyboard_pwd.clone().unwrap_or_default(),
        "lockDate": r.lock_ms, "serverDate": r.server_ms,
    })
}

pub fn records(w: &World, uid: i64, p: &Params) -> Result<Value, ApiErr> {
    let lock = w.own_lock(uid, p.required_int("lockId")?)?;
    // 0 means "no constraint" in the older docs.
    let start = p.int("startDate")?.filter(|&s| s > 0);
    let end = p.int("endDate")?.filter(|&e| e > 0);
    let kind = p.int("recordType")?;
    let search = p.str("searchStr");
    let horizon = w.now_ms() - RECORD_RETENTION_MS;
    let list: Vec<&Record> = lock
        .records
        .iter()
        .rev()
        .filter(|r| r.lock_ms >= horizon)
        .filter(|r| start.is_none_or(|s| r.lock_ms >= s) && end.is_none_or(|e| r.lock_ms <= e))
        .filter(|r| kind.is_none_or(|k| r.record_type == k))
        .filter(|r| search.is_none_or(|s| r.keyboard_pwd.as_deref() == Some(s)))
        .collect();
    paged(&list, p, 200, |r| record_item(lock.id, r))
}

fn gateway_item(g: &Gateway, lock_num: usize) -> Value {
    json!({
        "gatewayId": g.id, "gatewayMac": g.mac, "gatewayName": g.name,
        "gatewayVersion": g.version, "networkName": g.network_name, "networkMac": g.mac,
        "lockNum": lock_num, "isOnline": i64::from(g.online),
    })
}

pub fn gateways(w: &World, uid: i64, p: &Params) -> Result<Value, ApiErr> {
    let mut list: Vec<&Gateway> = w.gateways.values().filter(|g| g.owner_uid == uid).collect();
    match p.int("orderBy")?.unwrap_or(1) {
        0 => list.sort_by(|a, b| a.name.cmp(&b.name)),
        2 => list.sort_by(|a, b| b.name.cmp(&a.name)),
        _ => list.sort_by_key(|g| std::cmp::Reverse(g.id)),
    }
    paged(&list, p, 200, |g| {
        let n = w
            .locks
            .values()
            .filter(|l| l.gateway_id == Some(g.id))
            .count();
        gateway_item(g, n)
    })
}

pub fn gateway_locks(w: &World, uid: i64, p: &Params) -> Result<Value, ApiErr> {
    let gw_id = p.required_int("gatewayId")?;
    match w.gateways.get(&gw_id) {
        Some(g) if g.owner_uid == uid => {}
        _ => return Err(ApiErr::code(-4037)),
    }
    let now = w.now_ms();
    let list: Vec<Value> = w
        .locks
        .values()
        .filter(|l| l.gateway_id == Some(gw_id))
        .map(|l| {
            json!({"lockId": l.id, "lockMac": l.mac, "lockName": l.name, "lockAlias": l.alias,
                   "rssi": -65, "updateDate": now})
        })
        .collect();
    Ok(json!({ "list": list }))
}

pub fn gateways_of_lock(w: &World, uid: i64, p: &Params) -> Result<Value, ApiErr> {
    let lock = w.own_lock(uid, p.required_int("lockId")?)?;
    let now = w.now_ms();
    let list: Vec<Value> = lock
        .gateway_id
        .and_then(|id| w.gateways.get(&id))
        .map(|g| {
            json!({"gatewayId": g.id, "gatewayMac": g.mac, "gatewayName": g.name,
                   "rssi": -65, "rssiUpdateDate": now})
        })
        .into_iter()
        .collect();
    Ok(json!({ "list": list }))
}
