//! lockbridge's objects as Seam's objects: a lock as a device, codes as managed and unmanaged
//! access codes, a connection as a connected account, an action attempt. Decisions on what has
//! no exact counterpart are written in the README's "Seam compatibility".

use std::collections::HashMap;

use lockbridge_core::grants::Grant;
use lockbridge_core::ids::GrantId;
use lockbridge_core::model::{
    AccessCode, CodeStatus, Connection, ConnectionStatus, ExternalPolicy, Lock, LockState, Notice,
};
use lockbridge_core::seam::{ActionAttempt, AttemptStatus, time};
use lockbridge_core::time::Millis;
use serde_json::{Map, Value, json};

/// The grant key prefix of a grant made for a caller's `common_code_key`.
pub const COMMON_KEY: &str = "seam:";

/// When a lockbridge id was made (its UUIDv7 carries the time).
pub fn made_at(id: &uuid::Uuid, otherwise: Millis) -> Millis {
    id.get_timestamp()
        .map(|t| {
            let (s, n) = t.to_unix();
            (s as i64) * 1000 + i64::from(n / 1_000_000)
        })
        .unwrap_or(otherwise)
}

/// Seam's device errors for a lock's: `gateway_offline` is a hub, a connection that needs new
/// credentials the account.
fn device_errors(lock: &Lock) -> Vec<Value> {
    lock.errors
        .iter()
        .map(|n| {
            let (code, account) = match n.code.as_str() {
                "gateway_offline" => ("hub_disconnected", false),
                "connection_needs_reauth" => ("account_disconnected", true),
                other => (other, false),
            };
            let mut e = json!({"error_code": code, "message": n.message,
                               "created_at": time(n.since)});
            let flag = if account {
                "is_connected_account_error"
            } else {
                "is_device_error"
            };
            e[flag] = json!(true);
            e
        })
        .collect()
}

/// Seam's device warnings: `low_battery` is `properties.battery.status` in Seam, not a warning.
fn device_warnings(lock: &Lock) -> Vec<Value> {
    lock.warnings
        .iter()
        .filter(|n| n.code != "low_battery")
        .map(|n| {
            let code = match n.code.as_str() {
                "code_capacity_near" => "max_access_codes_reached",
                "time_zone_is_offset" => "time_zone_unknown",
                other => other,
            };
            json!({"warning_code": code, "message": n.message, "created_at": time(n.since)})
        })
        .collect()
}

fn battery_status(level: u8) -> &'static str {
    match level {
        0..=10 => "critical",
        11..=25 => "low",
        26..=95 => "good",
        _ => "full",
    }
}

fn code_constraints(lock: &Lock) -> Vec<Value> {
    let r = &lock.code_rules;
    let mut out = Vec::new();
    if r.no_sequences {
        out.push(json!({"constraint_type": "no_ascending_or_descending_sequence"}));
    }
    if r.min_distinct_digits.is_some_and(|n| n >= 3) {
        out.push(json!({"constraint_type": "at_least_three_unique_digits"}));
    }
    if r.excluded_digits.contains('0') {
        out.push(json!({"constraint_type": "no_zeros"}));
    }
    if r.forbidden_prefixes.iter().any(|p| p == "12") {
        out.push(json!({"constraint_type": "cannot_start_with_12"}));
    }
    out
}

/// A lock as Seam's device (`devices.*` and `locks.*`).
pub fn device(lock: &Lock) -> Value {
    let caps = &lock.capabilities;
    let provider = lock.provider.as_str();
    let label = lock.provider.label();
    let mut supported = vec!["lock"];
    if caps.access_codes {
        supported.push("access_code");
    }
    if lock.battery.is_some() {
        supported.push("battery");
    }
    let r = &lock.code_rules;
    let mut properties = json!({
        "online": lock.online,
        "name": lock.name,
        "appearance": {"name": lock.name},
        "model": {
            "display_name": format!("{label} lock"),
            "manufacturer_display_name": label,
            "online_access_codes_supported": caps.access_codes,
            "offline_access_codes_supported": caps.offline_codes,
        },
        "manufacturer": provider,
        "supported_code_lengths": (r.min_length..=r.max_length).collect::<Vec<u8>>(),
        "code_constraints": code_constraints(lock),
        "serial_number": lock.provider_id,
    });
    if let Some(max) = r.max_codes {
        properties["max_active_codes_supported"] = json!(max);
    }
    match lock.state {
        LockState::Locked => properties["locked"] = json!(true),
        LockState::Unlocked => properties["locked"] = json!(false),
        _ => {}
    }
    if let Some(b) = lock.battery {
        let level = f64::from(b) / 100.0;
        properties["battery_level"] = json!(level);
        properties["battery"] = json!({"level": level, "status": battery_status(b)});
    }
    let mut d = json!({
        "device_id": lock.id.to_string(),
        "workspace_id": lock.org_id.to_string(),
        "connected_account_id": lock.connection_id.to_string(),
        "created_at": time(made_at(&lock.id.0, lock.updated_at)),
        "device_type": format!("{provider}_lock"),
        "display_name": lock.name,
        "nickname": lock.name,
        "capabilities_supported": supported,
        "properties": properties,
        "errors": device_errors(lock),
        "warnings": device_warnings(lock),
        "is_managed": true,
        "custom_metadata": {},
        "space_ids": [],
        "device_provider": {"device_provider_name": provider, "display_name": label,
                            "provider_category": "stable"},
        "device_manufacturer": {"manufacturer": provider, "display_name": label},
        "can_remotely_lock": caps.remote_unlock,
        "can_remotely_unlock": caps.remote_unlock,
        "can_program_online_access_codes": caps.access_codes,
        "can_program_offline_access_codes": caps.offline_codes,
        "can_unlock_with_code": caps.access_codes,
    });
    if let Some(zone) = &lock.time_zone {
        d["location"] = json!({"location_name": null, "time_zone": zone});
    }
    d
}

/// The `common_code_key` of a code's grant: the caller's own key, or the grant's id.
pub fn common_key(grant: &Grant) -> String {
    match grant.idempotency_key.as_deref() {
        Some(k) if k.starts_with(COMMON_KEY) => k[COMMON_KEY.len()..].to_owned(),
        _ => grant.id.to_string(),
    }
}

fn notices(list: &[Notice], field: &str) -> Vec<Value> {
    list.iter()
        .map(|n| {
            let mut v = json!({"message": n.message, "created_at": time(n.since)});
            v[field] = json!(n.code);
            v
        })
        .collect()
}

/// Seam's status of a managed code, and the extra fields that say more (see the README).
fn status(c: &AccessCode, now: Millis) -> (&'static str, &'static str) {
    let future = c.starts_at.is_some_and(|s| s > now);
    match c.status {
        CodeStatus::Scheduled => ("unset", "Scheduled"),
        CodeStatus::Setting if future => ("unset", "Issuing"),
        CodeStatus::Setting => ("setting", "Issuing"),
        CodeStatus::Set if future => ("unset", "Scheduled"),
        CodeStatus::Set => ("set", "Active"),
        CodeStatus::Removing => ("removing", "Removing"),
        CodeStatus::Failed => ("unset", "Failed"),
        CodeStatus::Removed => ("unknown", "Removed"),
    }
}

/// A managed code as Seam's `access_code`; `keys` names the common key of each grant.
pub fn access_code(c: &AccessCode, keys: &HashMap<GrantId, String>, now: Millis) -> Value {
    let (status, display) = status(c, now);
    let mut errors = notices(&c.errors, "error_code");
    for e in errors.iter_mut() {
        e["is_access_code_error"] = json!(true);
    }
    if c.status == CodeStatus::Failed {
        errors.push(json!({
            "error_code": "failed_to_set_on_device",
            "message": c.last_error.clone().unwrap_or_else(|| "the lock refused the code".into()),
            "created_at": time(c.updated_at),
            "is_access_code_error": true,
        }));
    }
    if c.frozen {
        errors.push(json!({"error_code": "access_code_inactive",
                           "message": "the code is on the lock but frozen",
                           "created_at": time(c.updated_at), "is_access_code_error": true}));
    }
    let mut pending = Vec::new();
    match c.status {
        CodeStatus::Scheduled => pending.push(json!({
            "mutation_code": "deferring_creation",
            "message": "written to the lock just before it starts",
            "created_at": time(c.updated_at),
            "scheduled_at": c.window.map(|w| w.0).or(c.starts_at).map(time),
        })),
        CodeStatus::Setting => pending.push(json!({
            "mutation_code": "creating", "message": "being written to the lock",
            "created_at": time(c.updated_at)})),
        CodeStatus::Removing => pending.push(json!({
            "mutation_code": "deleting", "message": "being removed from the lock",
            "created_at": time(c.updated_at)})),
        _ => {}
    }
    let timed = c.starts_at.is_some() || c.ends_at.is_some();
    json!({
        "access_code_id": c.id.to_string(),
        "device_id": c.lock_id.to_string(),
        "workspace_id": c.org_id.to_string(),
        "name": c.name,
        "code": c.code,
        "common_code_key": c.grant_id.and_then(|g| keys.get(&g).cloned()),
        "type": if timed { "time_bound" } else { "ongoing" },
        "starts_at": c.starts_at.map(time),
        "ends_at": c.ends_at.map(time),
        "status": status,
        "display_status": display,
        "created_at": time(c.created_at),
        "errors": errors,
        "warnings": notices(&c.warnings, "warning_code"),
        "is_managed": true,
        "is_backup_access_code_available": false,
        "is_external_modification_allowed": c.on_external_change == Some(ExternalPolicy::Accept),
        "is_one_time_use": matches!(c.kind, Some(lockbridge_core::provider::OfflineKind::OneTime)),
        "is_offline_access_code": c.kind.is_some(),
        "is_scheduled_on_device": c.status == CodeStatus::Set && c.starts_at.is_some_and(|s| s > now),
        "is_waiting_for_code_assignment": false,
        "pending_mutations": pending,
    })
}

/// A code found on the lock as Seam's `unmanaged_access_code` (status only `set` or `unset`;
/// `code` is null where the vendor does not report PINs).
pub fn unmanaged(c: &AccessCode) -> Value {
    let timed = c.starts_at.is_some() || c.ends_at.is_some();
    json!({
        "access_code_id": c.id.to_string(),
        "device_id": c.lock_id.to_string(),
        "workspace_id": c.org_id.to_string(),
        "name": c.name,
        "code": Some(&c.code).filter(|p| !p.is_empty()),
        "type": if timed { "time_bound" } else { "ongoing" },
        "starts_at": c.starts_at.map(time),
        "ends_at": c.ends_at.map(time),
        "status": if c.status == CodeStatus::Set { "set" } else { "unset" },
        "created_at": time(c.created_at),
        "errors": [],
        "warnings": [],
        "is_managed": false,
        "cannot_be_managed": !c.status.is_live(),
    })
}

/// A connection as Seam's `connected_account`.
pub fn connected_account(c: &Connection) -> Value {
    let mut errors = Vec::new();
    if c.status == ConnectionStatus::NeedsReauth {
        errors.push(json!({"error_code": "account_disconnected",
                           "message": "the vendor refused the stored credentials",
                           "created_at": time(c.updated_at),
                           "is_connected_account_error": true}));
    }
    json!({
        "connected_account_id": c.id.to_string(),
        "account_type": c.provider.as_str(),
        "account_type_display_name": c.provider.label(),
        "display_name": c.name,
        "created_at": time(c.created_at),
        "errors": errors,
        "warnings": [],
        "custom_metadata": {},
        "automatically_manage_new_devices": true,
        "accepted_capabilities": ["lock"],
    })
}

/// An action attempt; `result` is what a finished one carries.
pub fn attempt(a: &ActionAttempt, result: Option<Value>) -> Value {
    let mut o = Map::new();
    o.insert("action_attempt_id".into(), json!(a.id.to_string()));
    o.insert("action_type".into(), json!(a.action_type.as_str()));
    o.insert("status".into(), json!(a.status.as_str()));
    match &a.status {
        AttemptStatus::Pending => {
            o.insert("result".into(), Value::Null);
            o.insert("error".into(), Value::Null);
        }
        AttemptStatus::Success => {
            o.insert("result".into(), result.unwrap_or_else(|| json!({})));
            o.insert("error".into(), Value::Null);
        }
        AttemptStatus::Error { kind, message } => {
            o.insert("result".into(), Value::Null);
            o.insert("error".into(), json!({"type": kind, "message": message}));
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbridge_core::ids::{ConnectionId, LockId, OrgId};
    use lockbridge_core::model::Capabilities;
    use lockbridge_core::rules::CodeRules;

    const VENDOR: lockbridge_core::model::Provider =
        lockbridge_core::model::Provider::named(&lockbridge_core::model::VendorNames {
            id: "tedee",
            label: "Tedee",
        });

    fn lock() -> Lock {
        Lock {
            id: LockId::new(),
            connection_id: ConnectionId::new(),
            org_id: OrgId::new(),
            provider: VENDOR,
            provider_id: "41".into(),
            name: "Office".into(),
            online: true,
            state: LockState::Unknown,
            battery: Some(9),
            gateway_id: None,
            time_zone: None,
            utc_offset_minutes: None,
            capabilities: Capabilities {
                access_codes: true,
                ..Default::default()
            },
            code_rules: CodeRules::tedee(),
            errors: vec![Notice::new("gateway_offline", "the bridge is offline", 0)],
            warnings: vec![Notice::new("low_battery", "battery below 20 %", 0)],
            updated_at: 0,
        }
    }

    #[test]
    fn a_lock_is_seams_device() {
        let d = device(&lock());
        assert_eq!(d["device_type"], "tedee_lock");
        assert_eq!(d["properties"]["battery_level"], 0.09);
        assert_eq!(d["properties"]["battery"]["status"], "critical");
        assert!(
            d["properties"].get("locked").is_none(),
            "unknown state: left out"
        );
        assert_eq!(
            d["properties"]["supported_code_lengths"],
            json!([5, 6, 7, 8])
        );
        let kinds: Vec<&Value> = d["properties"]["code_constraints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["constraint_type"])
            .collect();
        assert_eq!(
            kinds,
            [
                "no_ascending_or_descending_sequence",
                "at_least_three_unique_digits"
            ]
        );
        assert_eq!(d["errors"][0]["error_code"], "hub_disconnected");
        assert_eq!(
            d["warnings"],
            json!([]),
            "low battery is battery.status in Seam"
        );
    }

    #[test]
    fn statuses_map_to_seams() {
        let l = lock();
        let now = 1_000_000;
        let status_of = |status: CodeStatus, starts: Option<Millis>| {
            let c = AccessCode {
                status,
                starts_at: starts,
                ends_at: starts.map(|s| s + 1_000),
                last_error: Some("refused".into()),
                ..AccessCode::new(&l, "52917".into(), now)
            };
            let v = access_code(&c, &HashMap::new(), now);
            let errors: Vec<String> = v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["error_code"].as_str().unwrap().to_owned())
                .collect();
            let mutations: Vec<String> = v["pending_mutations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["mutation_code"].as_str().unwrap().to_owned())
                .collect();
            (v["status"].as_str().unwrap().to_owned(), errors, mutations)
        };
        let s = |x: &str| x.to_owned();
        assert_eq!(status_of(CodeStatus::Set, None), (s("set"), vec![], vec![]));
        assert_eq!(
            status_of(CodeStatus::Set, Some(now + 5_000)),
            (s("unset"), vec![], vec![])
        );
        assert_eq!(
            status_of(CodeStatus::Scheduled, Some(now + 5_000)),
            (s("unset"), vec![], vec![s("deferring_creation")])
        );
        assert_eq!(
            status_of(CodeStatus::Setting, None),
            (s("setting"), vec![], vec![s("creating")])
        );
        assert_eq!(
            status_of(CodeStatus::Removing, None),
            (s("removing"), vec![], vec![s("deleting")])
        );
        assert_eq!(
            status_of(CodeStatus::Failed, None),
            (s("unset"), vec![s("failed_to_set_on_device")], vec![])
        );
    }
}
