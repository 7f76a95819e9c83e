//! Events: every change lockbridge makes or observes, written in the same transaction as the
//! change itself.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{AccessCodeId, ConnectionId, EventId, LockId, OrgId};
use crate::time::Millis;

/// The stable event type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum EventType {
    #[serde(rename = "access_code.set")]
    CodeSet,
    #[serde(rename = "access_code.failed")]
    CodeFailed,
    #[serde(rename = "access_code.removed")]
    CodeRemoved,
    #[serde(rename = "access_code.expired")]
    CodeExpired,
    #[serde(rename = "access_code.deleted_externally")]
    CodeDeletedExternally,
    #[serde(rename = "access_code.modified_externally")]
    CodeModifiedExternally,
    #[serde(rename = "access_code.restored")]
    CodeRestored,
    #[serde(rename = "access_code.unmanaged_found")]
    CodeUnmanagedFound,
    #[serde(rename = "lock.unlocked")]
    LockUnlocked,
    #[serde(rename = "lock.locked")]
    LockLocked,
    #[serde(rename = "lock.access_denied")]
    LockAccessDenied,
    #[serde(rename = "lock.alarm")]
    LockAlarm,
    #[serde(rename = "lock.online")]
    LockOnline,
    #[serde(rename = "lock.offline")]
    LockOffline,
    #[serde(rename = "lock.battery_low")]
    LockBatteryLow,
    #[serde(rename = "gateway.online")]
    GatewayOnline,
    #[serde(rename = "gateway.offline")]
    GatewayOffline,
    #[serde(rename = "connection.needs_reauth")]
    ConnectionNeedsReauth,
    #[serde(rename = "connection.reauthorized")]
    ConnectionReauthorized,
    #[serde(rename = "webhook.test")]
    WebhookTest,
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled,
    #[serde(rename = "grant.set")]
    GrantSet,
    #[serde(rename = "grant.failed")]
    GrantFailed,
    #[serde(rename = "reservation.ready")]
    ReservationReady,
    #[serde(rename = "reservation.at_risk")]
    ReservationAtRisk,
    #[serde(rename = "reservation.fallback_issued")]
    ReservationFallbackIssued,
    #[serde(rename = "calendar.failed")]
    CalendarFailed,
}

impl EventType {
    pub const ALL: [EventType; 27] = [
        EventType::CodeSet,
        EventType::CodeFailed,
        EventType::CodeRemoved,
        EventType::CodeExpired,
        EventType::CodeDeletedExternally,
        EventType::CodeModifiedExternally,
        EventType::CodeRestored,
        EventType::CodeUnmanagedFound,
        EventType::LockUnlocked,
        EventType::LockLocked,
        EventType::LockAccessDenied,
        EventType::LockAlarm,
        EventType::LockOnline,
        EventType::LockOffline,
        EventType::LockBatteryLow,
        EventType::GatewayOnline,
        EventType::GatewayOffline,
        EventType::ConnectionNeedsReauth,
        EventType::ConnectionReauthorized,
        EventType::WebhookTest,
        EventType::WebhookDisabled,
        EventType::GrantSet,
        EventType::GrantFailed,
        EventType::ReservationReady,
        EventType::ReservationAtRisk,
        EventType::ReservationFallbackIssued,
        EventType::CalendarFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CodeSet => "access_code.set",
            EventType::CodeFailed => "access_code.failed",
            EventType::CodeRemoved => "access_code.removed",
            EventType::CodeExpired => "access_code.expired",
            EventType::CodeDeletedExternally => "access_code.deleted_externally",
            EventType::CodeModifiedExternally => "access_code.modified_externally",
            EventType::CodeRestored => "access_code.restored",
            EventType::CodeUnmanagedFound => "access_code.unmanaged_found",
            EventType::LockUnlocked => "lock.unlocked",
            EventType::LockLocked => "lock.locked",
            EventType::LockAccessDenied => "lock.access_denied",
            EventType::LockAlarm => "lock.alarm",
            EventType::LockOnline => "lock.online",
            EventType::LockOffline => "lock.offline",
            EventType::LockBatteryLow => "lock.battery_low",
            EventType::GatewayOnline => "gateway.online",
            EventType::GatewayOffline => "gateway.offline",
            EventType::ConnectionNeedsReauth => "connection.needs_reauth",
            EventType::ConnectionReauthorized => "connection.reauthorized",
            EventType::WebhookTest => "webhook.test",
            EventType::WebhookDisabled => "webhook.disabled",
            EventType::GrantSet => "grant.set",
            EventType::GrantFailed => "grant.failed",
            EventType::ReservationReady => "reservation.ready",
            EventType::ReservationAtRisk => "reservation.at_risk",
            EventType::ReservationFallbackIssued => "reservation.fallback_issued",
            EventType::CalendarFailed => "calendar.failed",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A request with an API key (`id` and `name` are the key's).
    ApiKey,
    /// Someone signed in to the console with an API key (the key's `id` and `name`).
    Console,
    /// lockbridge on its own (a worker: sync, reconciliation, a just-in-time window).
    System,
    /// The lock or its vendor (a record of the lock's log: `name` is who the vendor names).
    Vendor,
}

impl ActorType {
    pub const ALL: [ActorType; 4] = [
        ActorType::ApiKey,
        ActorType::Console,
        ActorType::System,
        ActorType::Vendor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::ApiKey => "api_key",
            ActorType::Console => "console",
            ActorType::System => "system",
            ActorType::Vendor => "vendor",
        }
    }

    pub fn parse(s: &str) -> Option<ActorType> {
        ActorType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Who caused an event: `{type, id, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorType,
    pub id: Option<String>,
    pub name: Option<String>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            kind: ActorType::System,
            id: None,
            name: None,
        }
    }

    /// The vendor, naming whom its record names (a person, a code's name).
    pub fn vendor(name: Option<String>) -> Actor {
        Actor {
            kind: ActorType::Vendor,
            id: None,
            name,
        }
    }
}

impl Default for Actor {
    fn default() -> Actor {
        Actor::system()
    }
}

/// An event, as stored and listed.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: EventId,
    pub org_id: OrgId,
    pub kind: EventType,
    pub occurred_at: Millis,
    pub created_at: Millis,
    pub connection_id: Option<ConnectionId>,
    pub lock_id: Option<LockId>,
    pub access_code_id: Option<AccessCodeId>,
    /// The grant the code belongs to, when it does.
    pub grant_id: Option<String>,
    /// The vendor record this event was read from (unique per lock), for ingested events.
    pub source_key: Option<String>,
    /// Who caused it.
    pub actor: Actor,
    pub data: Value,
}

impl Event {
    /// A new event of `kind` at `at`; the ids it concerns are set with the builders below.
    pub fn new(org_id: OrgId, kind: EventType, at: Millis) -> Event {
        Event {
            id: EventId::new(),
            org_id,
            kind,
            occurred_at: at,
            created_at: at,
            connection_id: None,
            lock_id: None,
            access_code_id: None,
            grant_id: None,
            source_key: None,
            actor: Actor::system(),
            data: Value::Object(Default::default()),
        }
    }

    /// Who caused it.
    pub fn by(mut self, actor: Actor) -> Event {
        self.actor = actor;
        self
    }

    pub fn lock(mut self, lock: LockId) -> Event {
        self.lock_id = Some(lock);
        self
    }

    pub fn connection(mut self, conn: ConnectionId) -> Event {
        self.connection_id = Some(conn);
        self
    }

    pub fn code(mut self, code: AccessCodeId, lock: LockId) -> Event {
        self.access_code_id = Some(code);
        self.lock_id = Some(lock);
        self
    }

    /// The grant the event concerns.
    pub fn grant(mut self, grant: crate::ids::GrantId) -> Event {
        self.grant_id = Some(grant.to_string());
        self
    }

    pub fn data(mut self, data: Value) -> Event {
        self.data = data;
        self
    }
}
