//! The unified model every vendor is mapped onto.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::credentials::Credentials;
use crate::ids::{AccessCodeId, ConnectionId, GatewayId, LockId, OrgId};
use crate::rules::CodeRules;
use crate::time::Millis;

/// A vendor cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Ttlock,
    Tuya,
    Tedee,
    Kii,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Ttlock,
        Provider::Tuya,
        Provider::Tedee,
        Provider::Kii,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ttlock => "ttlock",
            Provider::Tuya => "tuya",
            Provider::Tedee => "tedee",
            Provider::Kii => "kii",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown provider {s:?}: use ttlock, tuya, tedee or kii"))
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: Millis,
}

/// An API key as listed: never the key itself, which is shown once and stored as a hash.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: crate::ids::ApiKeyId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub name: String,
    pub role: Role,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub remote_unlock: bool,
    pub access_codes: bool,
    pub time_bound_codes: bool,
    pub recurring_codes: bool,
    pub offline_codes: bool,
    pub freeze: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lock {
    pub id: LockId,
    pub connection_id: ConnectionId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub provider: Provider,
    pub provider_id: String,
    pub name: String,
    pub online: bool,
    pub state: LockState,
    pub battery: Option<u8>,
    pub gateway_id: Option<GatewayId>,
    pub time_zone: Option<String>,
    pub capabilities: Capabilities,
    pub code_rules: CodeRules,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gateway {
    pub id: GatewayId,
    pub connection_id: ConnectionId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub provider: Provider,
    pub provider_id: String,
    pub name: String,
    pub online: bool,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: Millis,
}

/// Where an access code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeStatus {
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
            CodeStatus::Setting => "setting",
            CodeStatus::Set => "set",
            CodeStatus::Removing => "removing",
            CodeStatus::Removed => "removed",
            CodeStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "setting" => CodeStatus::Setting,
            "set" => CodeStatus::Set,
            "removing" => CodeStatus::Removing,
            "removed" => CodeStatus::Removed,
            "failed" => CodeStatus::Failed,
            _ => return None,
        })
    }
}

/// A weekly window in which a code works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// `mon` … `sun`.
    pub weekdays: Vec<String>,
    /// `HH:MM`.
    pub start_time: String,
    pub end_time: String,
    /// IANA zone name.
    pub time_zone: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessCode {
    pub id: AccessCodeId,
    pub lock_id: LockId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub name: Option<String>,
    pub code: String,
    #[serde(with = "crate::time::rfc3339_opt")]
    pub starts_at: Option<Millis>,
    #[serde(with = "crate::time::rfc3339_opt")]
    pub ends_at: Option<Millis>,
    pub schedule: Option<Schedule>,
    pub status: CodeStatus,
    pub frozen: bool,
    /// Created through lockbridge (true) or found on the lock (false).
    pub managed: bool,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    #[serde(skip)]
    pub attempts: i64,
    #[serde(skip)]
    pub next_attempt_at: Option<Millis>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: Millis,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: Millis,
}
