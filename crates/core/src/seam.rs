//! Seam's vocabulary for what lockbridge records: action attempts, event names and the event
//! object that Seam's SDKs read (what `/seam/events/*` answer and the body of a delivery to an
//! endpoint made through `/seam`). Shared by the store (which endpoint takes which event),
//! the deliveries and the `/seam` routes.

use serde_json::{Map, Value, json};

use crate::events::{Event, EventType};
use crate::ids::{AccessCodeId, ActionAttemptId, LockId, OrgId};
use crate::time::Millis;

/// A time as Seam writes it: UTC, milliseconds, `Z` (`2030-01-01T15:00:00.000Z`).
pub fn time(ms: Millis) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{ts:.3}")
}

/// What an action attempt does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    UnlockDoor,
    LockDoor,
    CreateAccessCode,
    UpdateAccessCode,
    DeleteAccessCode,
    ConvertAccessCodeToManaged,
}

impl ActionType {
    pub const ALL: [ActionType; 6] = [
        ActionType::UnlockDoor,
        ActionType::LockDoor,
        ActionType::CreateAccessCode,
        ActionType::UpdateAccessCode,
        ActionType::DeleteAccessCode,
        ActionType::ConvertAccessCodeToManaged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::UnlockDoor => "UNLOCK_DOOR",
            ActionType::LockDoor => "LOCK_DOOR",
            ActionType::CreateAccessCode => "CREATE_ACCESS_CODE",
            ActionType::UpdateAccessCode => "UPDATE_ACCESS_CODE",
            ActionType::DeleteAccessCode => "DELETE_ACCESS_CODE",
            ActionType::ConvertAccessCodeToManaged => "CONVERT_ACCESS_CODE_TO_MANAGED",
        }
    }

    pub fn parse(s: &str) -> Option<ActionType> {
        ActionType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Unlock and lock are finished by the instance that sent them; a code write's attempt
    /// follows its code.
    pub fn is_door(self) -> bool {
        matches!(self, ActionType::UnlockDoor | ActionType::LockDoor)
    }
}

/// Where an attempt stands: `pending` until its outcome is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptStatus {
    Pending,
    Success,
    /// Seam's `error.type` and `error.message`.
    Error {
        kind: String,
        message: String,
    },
}

impl AttemptStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            AttemptStatus::Pending => "pending",
            AttemptStatus::Success => "success",
            AttemptStatus::Error { .. } => "error",
        }
    }
}

/// An action attempt as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionAttempt {
    pub id: ActionAttemptId,
    pub org_id: OrgId,
    pub action_type: ActionType,
    pub lock_id: LockId,
    pub access_code_id: Option<AccessCodeId>,
    pub status: AttemptStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl ActionAttempt {
    pub fn new(org_id: OrgId, action_type: ActionType, lock_id: LockId, now: Millis) -> Self {
        ActionAttempt {
            id: ActionAttemptId::new(),
            org_id,
            action_type,
            lock_id,
            access_code_id: None,
            status: AttemptStatus::Pending,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The event types lockbridge sends under Seam's names (what a `/seam` webhook may filter on).
pub const EVENT_TYPES: [&str; 14] = [
    "access_code.set_on_device",
    "access_code.failed_to_set_on_device",
    "access_code.removed_from_device",
    "access_code.deleted_external_to_seam",
    "access_code.modified_external_to_seam",
    "access_code.unmanaged.created",
    "lock.unlocked",
    "lock.locked",
    "lock.access_denied",
    "device.connected",
    "device.disconnected",
    "device.low_battery",
    "connected_account.disconnected",
    "connected_account.connected",
];

/// Seam's name for `event`, or `None` for the events Seam has no type for (gateways, grants,
/// stays, webhooks, alarms, a code put back after an outside change).
pub fn event_type(event: &Event) -> Option<&'static str> {
    name(event.kind)
}

/// Seam's name for events of `kind`.
fn name(kind: EventType) -> Option<&'static str> {
    Some(match kind {
        EventType::CodeSet => "access_code.set_on_device",
        EventType::CodeFailed => "access_code.failed_to_set_on_device",
        EventType::CodeRemoved | EventType::CodeExpired => "access_code.removed_from_device",
        EventType::CodeDeletedExternally => "access_code.deleted_external_to_seam",
        EventType::CodeModifiedExternally => "access_code.modified_external_to_seam",
        EventType::CodeUnmanagedFound => "access_code.unmanaged.created",
        EventType::LockUnlocked => "lock.unlocked",
        EventType::LockLocked => "lock.locked",
        EventType::LockAccessDenied => "lock.access_denied",
        EventType::LockOnline => "device.connected",
        EventType::LockOffline => "device.disconnected",
        EventType::LockBatteryLow => "device.low_battery",
        EventType::ConnectionNeedsReauth => "connected_account.disconnected",
        EventType::ConnectionReauthorized => "connected_account.connected",
        EventType::CodeRestored
        | EventType::LockAlarm
        | EventType::GatewayOnline
        | EventType::GatewayOffline
        | EventType::WebhookTest
        | EventType::WebhookDisabled
        | EventType::GrantSet
        | EventType::GrantFailed
        | EventType::ReservationReady
        | EventType::ReservationAtRisk
        | EventType::ReservationFallbackIssued
        | EventType::CalendarFailed => return None,
    })
}

/// The lockbridge event types that Seam's `name` stands for (several for
/// `access_code.removed_from_device`).
pub fn lockbridge_types(name: &str) -> Vec<EventType> {
    EventType::ALL
        .into_iter()
        .filter(|k| self::name(*k) == Some(name))
        .collect()
}

/// Seam's `method` of an entry: how the door was opened or closed.
fn method(lockbridge: &str) -> &'static str {
    match lockbridge {
        "code" => "keycode",
        "remote" | "app" => "remote",
        "key" | "button" => "manual",
        "auto" => "automatic",
        "card" => "card",
        _ => "unknown",
    }
}

/// The Seam event object for `event`, or `None` when Seam has no type for it. PINs are never
/// in lockbridge's event log, so the `code` of a code event is `null`: read the code for it.
pub fn event_object(event: &Event) -> Option<Value> {
    let name = event_type(event)?;
    let mut o = Map::new();
    o.insert("event_id".into(), json!(event.id.to_string()));
    o.insert("event_type".into(), json!(name));
    o.insert("workspace_id".into(), json!(event.org_id.to_string()));
    o.insert("created_at".into(), json!(time(event.created_at)));
    o.insert("occurred_at".into(), json!(time(event.occurred_at)));
    if let Some(c) = event.connection_id {
        o.insert("connected_account_id".into(), json!(c.to_string()));
    }
    if let Some(l) = event.lock_id {
        o.insert("device_id".into(), json!(l.to_string()));
    }
    if let Some(a) = event.access_code_id {
        o.insert("access_code_id".into(), json!(a.to_string()));
    }
    let data = &event.data;
    match event.kind {
        EventType::CodeSet => {
            o.insert("code".into(), Value::Null);
        }
        EventType::CodeFailed => {
            let message = data["error"]["message"]
                .as_str()
                .unwrap_or("the lock's vendor refused the code");
            o.insert(
                "access_code_errors".into(),
                json!([{"error_code": "failed_to_set_on_device", "message": message,
                        "created_at": time(event.occurred_at)}]),
            );
            for key in [
                "access_code_warnings",
                "device_errors",
                "device_warnings",
                "connected_account_errors",
                "connected_account_warnings",
            ] {
                o.insert(key.into(), json!([]));
            }
        }
        EventType::LockUnlocked | EventType::LockLocked => {
            o.insert(
                "method".into(),
                json!(method(data["method"].as_str().unwrap_or_default())),
            );
            o.insert(
                "access_code_is_managed".into(),
                json!(event.access_code_id.is_some()),
            );
        }
        EventType::LockAccessDenied => {
            o.insert(
                "reason".into(),
                json!({"reason_code": "credential_error",
                       "message": "the lock refused an entry (from its vendor's log)"}),
            );
        }
        EventType::LockOffline => {
            o.insert("error_code".into(), json!("device_disconnected"));
            for key in [
                "device_errors",
                "device_warnings",
                "connected_account_errors",
                "connected_account_warnings",
                "access_code_errors",
                "access_code_warnings",
            ] {
                o.insert(key.into(), json!([]));
            }
        }
        EventType::LockBatteryLow => {
            let level = data["battery"].as_f64().unwrap_or(0.0) / 100.0;
            o.insert("battery_level".into(), json!(level));
        }
        _ => {}
    }
    Some(Value::Object(o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LockId;

    #[test]
    fn events_take_seams_names_and_flat_bodies() {
        let org = OrgId::new();
        let lock = LockId::new();
        let e = Event::new(org, EventType::LockUnlocked, 1_900_000_000_123)
            .lock(lock)
            .data(json!({"method": "code"}));
        let o = event_object(&e).unwrap();
        assert_eq!(o["event_type"], "lock.unlocked");
        assert_eq!(o["method"], "keycode");
        assert_eq!(o["device_id"], lock.to_string());
        assert_eq!(o["occurred_at"], "2030-03-17T17:46:40.123Z");
        assert_eq!(o["event_id"], e.id.to_string());
        let low = Event::new(org, EventType::LockBatteryLow, 0).data(json!({"battery": 15}));
        assert_eq!(event_object(&low).unwrap()["battery_level"], 0.15);
        assert!(event_object(&Event::new(org, EventType::GrantSet, 0)).is_none());
        assert_eq!(
            lockbridge_types("access_code.removed_from_device"),
            [EventType::CodeRemoved, EventType::CodeExpired]
        );
        for name in EVENT_TYPES {
            assert!(!lockbridge_types(name).is_empty(), "{name}");
        }
        assert_eq!(time(0), "1970-01-01T00:00:00.000Z");
    }
}
