//! The unified model every vendor is mapped onto.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::credentials::Credentials;
use crate::ids::{AccessCodeId, ConnectionId, GatewayId, GrantId, LockId, OrgId};
use crate::rules::CodeRules;
pub use crate::schedule::{Schedule, TimeOfDay, WEEKDAYS, Weekday};
use crate::time::Millis;
pub use crate::windows::Scheduling;

pub use crate::vendor::{Provider, VendorNames};

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    pub created_at: Millis,
}

/// An API key as listed: never the key itself, which is shown once and stored as a hash.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: crate::ids::ApiKeyId,
    pub org_id: OrgId,
    pub name: String,
    pub role: Role,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    /// The stored credentials stopped working; a credential update is needed.
    NeedsReauth,
    Error,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ConnectionStatus::Active),
            "needs_reauth" => Some(ConnectionStatus::NeedsReauth),
            "error" => Some(ConnectionStatus::Error),
            _ => None,
        }
    }
}

/// A vendor account connected to an organisation, with its (decrypted) credentials and tokens.
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: ConnectionId,
    pub org_id: OrgId,
    pub provider: Provider,
    pub name: String,
    pub base_url: Option<String>,
    pub status: ConnectionStatus,
    /// Credentials and tokens, all encrypted at rest.
    pub credentials: Credentials,
    pub token_expires_at: Option<Millis>,
    /// Bumped whenever the credentials change, so that cached vendor sessions are rebuilt.
    pub credentials_version: i64,
    pub last_sync_at: Option<Millis>,
    pub last_error: Option<String>,
    /// What reconciliation does with codes changed on a lock outside lockbridge.
    pub on_external_change: ExternalPolicy,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LockState {
    Locked,
    Unlocked,
    Unknown,
}

impl LockState {
    pub fn as_str(self) -> &'static str {
        match self {
            LockState::Locked => "locked",
            LockState::Unlocked => "unlocked",
            LockState::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "locked" => LockState::Locked,
            "unlocked" => LockState::Unlocked,
            _ => LockState::Unknown,
        }
    }
}

/// What a lock can do through lockbridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Capabilities {
    pub remote_unlock: bool,
    pub access_codes: bool,
    pub time_bound_codes: bool,
    pub recurring_codes: bool,
    pub offline_codes: bool,
    pub freeze: bool,
}

#[derive(Debug, Clone)]
pub struct Lock {
    pub id: LockId,
    pub connection_id: ConnectionId,
    pub org_id: OrgId,
    pub provider: Provider,
    pub provider_id: String,
    pub name: String,
    pub online: bool,
    pub state: LockState,
    pub battery: Option<u8>,
    pub gateway_id: Option<GatewayId>,
    /// The IANA zone the lock keeps its time in: set with `PATCH /v1/locks/{id}`, else the
    /// vendor's.
    pub time_zone: Option<String>,
    /// The lock clock's offset from UTC in minutes, where its vendor gives only that (TTLock):
    /// not a zone (it says nothing of clock changes), shown with the `time_zone_is_offset`
    /// warning until a zone is set.
    pub utc_offset_minutes: Option<i32>,
    pub capabilities: Capabilities,
    pub code_rules: CodeRules,
    /// `device_offline`, `gateway_offline`, `connection_needs_reauth`.
    pub errors: Vec<Notice>,
    /// `low_battery`, `code_capacity_near`, `time_zone_unknown`.
    pub warnings: Vec<Notice>,
    pub updated_at: Millis,
}

#[derive(Debug, Clone)]
pub struct Gateway {
    pub id: GatewayId,
    pub connection_id: ConnectionId,
    pub org_id: OrgId,
    pub provider: Provider,
    pub provider_id: String,
    pub name: String,
    pub online: bool,
    pub updated_at: Millis,
}

/// Where an access code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CodeStatus {
    /// Waiting for its just-in-time moment to be written to the lock.
    Scheduled,
    /// Being written to the lock (or waiting for a retry).
    Setting,
    /// On the lock.
    Set,
    /// Being removed from the lock.
    Removing,
    Removed,
    /// The vendor refused it definitively; `last_error` says why.
    Failed,
}

impl CodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeStatus::Scheduled => "scheduled",
            CodeStatus::Setting => "setting",
            CodeStatus::Set => "set",
            CodeStatus::Removing => "removing",
            CodeStatus::Removed => "removed",
            CodeStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "scheduled" => CodeStatus::Scheduled,
            "setting" => CodeStatus::Setting,
            "set" => CodeStatus::Set,
            "removing" => CodeStatus::Removing,
            "removed" => CodeStatus::Removed,
            "failed" => CodeStatus::Failed,
            _ => return None,
        })
    }
}

impl CodeStatus {
    /// On the lock or on its way there (or about to leave it): such a code holds its PIN and
    /// a place on the lock.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            CodeStatus::Scheduled | CodeStatus::Setting | CodeStatus::Set | CodeStatus::Removing
        )
    }
}

/// Why a code was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RemovedReason {
    /// Revoked through lockbridge.
    Deleted,
    /// Its `ends_at` passed.
    Expired,
    /// Removed from the lock outside lockbridge (and accepted).
    External,
}

impl RemovedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovedReason::Deleted => "deleted",
            RemovedReason::Expired => "expired",
            RemovedReason::External => "external",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "deleted" => RemovedReason::Deleted,
            "expired" => RemovedReason::Expired,
            "external" => RemovedReason::External,
            _ => return None,
        })
    }
}

/// What reconciliation does when a managed code was changed on the lock outside lockbridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExternalPolicy {
    /// Put lockbridge's code back as it was.
    #[default]
    Restore,
    /// Take the lock's version as the truth.
    Accept,
}

impl ExternalPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalPolicy::Restore => "restore",
            ExternalPolicy::Accept => "accept",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "restore" => Some(ExternalPolicy::Restore),
            "accept" => Some(ExternalPolicy::Accept),
            _ => None,
        }
    }
}

/// An error or warning on a code or lock: `code` is stable, `message` says it in words,
/// `since` is when it was first seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notice {
    pub code: String,
    pub message: String,
    #[serde(with = "crate::time::rfc3339")]
    #[schemars(with = "crate::time::Timestamp")]
    pub since: Millis,
}

impl Notice {
    pub fn new(code: &str, message: impl Into<String>, since: Millis) -> Notice {
        Notice {
            code: code.to_owned(),
            message: message.into(),
            since,
        }
    }
}

/// Sets the notice `code` in `list` (keeping its first `since`) when `on`, drops it otherwise;
/// answers whether the list changed.
pub fn toggle_notice(
    list: &mut Vec<Notice>,
    on: bool,
    code: &str,
    message: impl Into<String>,
    now: Millis,
) -> bool {
    let at = list.iter().position(|n| n.code == code);
    match (on, at) {
        (true, None) => {
            list.push(Notice::new(code, message, now));
            true
        }
        (false, Some(i)) => {
            list.remove(i);
            true
        }
        _ => false,
    }
}

/// A code's kind as text: `online`, or `offline_` and the offline kind.
pub fn code_kind_text(kind: Option<crate::provider::OfflineKind>) -> String {
    match kind {
        None => "online".to_owned(),
        Some(k) => format!("offline_{}", k.as_str()),
    }
}

/// The kind of [`code_kind_text`] `text` names.
pub fn parse_code_kind(text: &str) -> Option<Option<crate::provider::OfflineKind>> {
    if text == "online" {
        return Some(None);
    }
    let rest = text.strip_prefix("offline_")?;
    crate::provider::OfflineKind::ALL
        .into_iter()
        .find(|k| k.as_str() == rest)
        .map(Some)
}

#[derive(Debug, Clone)]
pub struct AccessCode {
    pub id: AccessCodeId,
    pub lock_id: LockId,
    pub org_id: OrgId,
    pub name: Option<String>,
    pub code: String,
    pub starts_at: Option<Millis>,
    pub ends_at: Option<Millis>,
    pub schedule: Option<Schedule>,
    /// How the code's period or window reaches the lock: `native` (the lock holds it) or
    /// `just_in_time` (lockbridge writes the code before each opening and removes it after).
    pub scheduling: Scheduling,
    /// The grant the code belongs to, when it does.
    pub grant_id: Option<GrantId>,
    /// Who asked for what the code now wants: the events the engine records for it are theirs.
    pub actor: crate::events::Actor,
    /// `online` (written to the lock through its vendor) or `offline_…`: computed by the lock's
    /// own algorithm from its vendor's cloud, valid without a connection (`offline_one_time`,
    /// `offline_time_bound`, `offline_permanent`, TTLock's cyclic `offline_daily`,
    /// `offline_weekend`, `offline_workday`, `offline_monday` … `offline_sunday`).
    pub kind: Option<crate::provider::OfflineKind>,
    pub status: CodeStatus,
    pub frozen: bool,
    /// Created through lockbridge (true) or found on the lock (false).
    pub managed: bool,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    pub removed_reason: Option<RemovedReason>,
    pub errors: Vec<Notice>,
    pub warnings: Vec<Notice>,
    /// This code's own answer to external changes; the connection's when absent.
    pub on_external_change: Option<ExternalPolicy>,
    /// Moves with every write of the row; writes are conditional on the version read.
    pub version: i64,
    /// The worker (or request) working the code on the lock now, and until when.
    pub lease_owner: Option<String>,
    pub lease_until: Option<Millis>,
    /// Vendor writes started for the current wanted state (a create or change whose earlier
    /// outcome may be unknown when above one).
    pub attempts: i64,
    /// Written to the vendor, which has not confirmed yet that the lock has it (Tuya).
    pub confirming: bool,
    pub next_attempt_at: Option<Millis>,
    /// A just-in-time code's current or next opening: what the lock is given (or will be).
    pub window: Option<(Millis, Millis)>,
    pub idempotency_key: Option<String>,
    /// A hash of the request that used the idempotency key (route, lock, body).
    pub idempotency_fingerprint: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl AccessCode {
    /// A new managed code for `lock`, `setting`, with nothing learnt from the vendor yet.
    pub fn new(lock: &Lock, code: String, now: Millis) -> AccessCode {
        AccessCode {
            id: AccessCodeId::new(),
            lock_id: lock.id,
            org_id: lock.org_id,
            name: None,
            code,
            starts_at: None,
            ends_at: None,
            schedule: None,
            scheduling: Scheduling::Native,
            grant_id: None,
            actor: crate::events::Actor::system(),
            kind: None,
            status: CodeStatus::Setting,
            frozen: false,
            managed: true,
            provider_id: None,
            last_error: None,
            removed_reason: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            on_external_change: None,
            version: 0,
            lease_owner: None,
            lease_until: None,
            attempts: 0,
            confirming: false,
            next_attempt_at: None,
            window: None,
            idempotency_key: None,
            idempotency_fingerprint: None,
            created_at: now,
            updated_at: now,
        }
    }
}

impl AccessCode {
    /// What the lock is to hold: the code as it is, or, just in time, the current opening as
    /// its period (on locks that take periods; a permanent code otherwise, removed at the end).
    pub fn vendor_spec(&self, lock: &Lock) -> crate::provider::CodeSpec {
        let (starts_at, ends_at, schedule) = match self.scheduling {
            Scheduling::JustInTime if lock.capabilities.time_bound_codes => {
                (self.window.map(|w| w.0), self.window.map(|w| w.1), None)
            }
            Scheduling::JustInTime => (None, None, None),
            _ => (self.starts_at, self.ends_at, self.schedule.clone()),
        };
        crate::provider::CodeSpec {
            code: self.code.clone(),
            name: self.name.clone(),
            starts_at,
            ends_at,
            schedule,
        }
    }
}
