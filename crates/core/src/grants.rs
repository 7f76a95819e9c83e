//! Grants: one person's access to several locks, possibly of several vendors, as one thing.
//! The grant says what is wanted (locks, PIN, period, window); each lock holds it as an access
//! code of its own, and the grant's status sums theirs up.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{GrantId, LockId, OrgId};
use crate::model::{AccessCode, CodeStatus, Schedule, Scheduling};
use crate::time::Millis;

/// What a grant without a given `code` does when no single PIN suits every lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SharedCodePolicy {
    /// Refuse the grant (422 `shared_code_impossible`, naming the locks).
    Fail,
    /// Give the fewest distinct PINs, each to the locks that can share it.
    #[default]
    PerLock,
}

impl SharedCodePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SharedCodePolicy::Fail => "fail",
            SharedCodePolicy::PerLock => "per_lock",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fail" => Some(SharedCodePolicy::Fail),
            "per_lock" => Some(SharedCodePolicy::PerLock),
            _ => None,
        }
    }
}

/// Where a grant stands, from its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Some code is on its way to its lock.
    Setting,
    /// Every code is on its lock (or, just in time, waiting for its opening).
    Set,
    /// Some code failed; each carries its own error.
    Partial,
    /// Revoked; its codes are coming off the locks.
    Removing,
    Removed,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Setting => "setting",
            GrantStatus::Set => "set",
            GrantStatus::Partial => "partial",
            GrantStatus::Removing => "removing",
            GrantStatus::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "setting" => GrantStatus::Setting,
            "set" => GrantStatus::Set,
            "partial" => GrantStatus::Partial,
            "removing" => GrantStatus::Removing,
            "removed" => GrantStatus::Removed,
            _ => return None,
        })
    }

    /// Revoked (or being revoked).
    pub fn is_revoked(self) -> bool {
        matches!(self, GrantStatus::Removing | GrantStatus::Removed)
    }
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub id: GrantId,
    pub org_id: OrgId,
    pub name: String,
    /// The PIN every lock holds; `null` when the locks hold different ones (`per_lock`).
    pub code: Option<String>,
    pub lock_ids: Vec<LockId>,
    pub starts_at: Option<Millis>,
    pub ends_at: Option<Millis>,
    pub schedule: Option<Schedule>,
    /// As asked; each code says how its own lock is scheduled.
    pub scheduling: Scheduling,
    pub on_shared_code_impossible: SharedCodePolicy,
    pub status: GrantStatus,
    /// The codes on the grant's locks (and, while it is revoked, those still coming off).
    pub access_codes: Vec<AccessCode>,
    /// Moves with every write of the row; writes are conditional on the version read.
    pub version: i64,
    /// The version every code has been brought to (behind `version` after a change that an
    /// instance did not finish applying).
    pub applied_version: i64,
    pub idempotency_key: Option<String>,
    pub idempotency_fingerprint: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Who asked for what the grant now wants.
    pub actor: crate::events::Actor,
}

impl Grant {
    /// Whether `code` is one of the grant's codes now (not one replaced or revoked).
    pub fn holds(&self, code: &AccessCode) -> bool {
        if self.status.is_revoked() {
            return code.status != CodeStatus::Removed;
        }
        self.lock_ids.contains(&code.lock_id)
            && !matches!(code.status, CodeStatus::Removed)
            && !(code.status == CodeStatus::Removing && code.removed_reason.is_some())
    }

    /// The status `codes` (the grant's own, see [`Grant::holds`]) add up to: `set` only once
    /// they were brought to this version and each holds the grant's PIN.
    pub fn status_of(&self, codes: &[&AccessCode]) -> GrantStatus {
        if self.status.is_revoked() {
            return if codes.is_empty() {
                GrantStatus::Removed
            } else {
                GrantStatus::Removing
            };
        }
        if codes.iter().any(|c| c.status == CodeStatus::Failed) {
            GrantStatus::Partial
        } else if self.applied_version == self.version
            && codes.len() == self.lock_ids.len()
            && self
                .code
                .as_ref()
                .is_none_or(|pin| codes.iter().all(|c| c.code == *pin))
            && codes
                .iter()
                .all(|c| matches!(c.status, CodeStatus::Set | CodeStatus::Scheduled))
        {
            GrantStatus::Set
        } else {
            GrantStatus::Setting
        }
    }
}
