//! Grants: one PIN on several locks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lockbridge_core::grants::{self, GrantStatus, SharedCodePolicy};
use lockbridge_core::ids::{GrantId, LockId};
use lockbridge_core::model::{Schedule, Scheduling};
use lockbridge_core::time::{Millis, Timestamp};

use crate::AccessCode;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Grant {
    pub id: GrantId,
    pub name: String,
    /// The PIN every lock holds; `null` when the locks hold different ones (`per_lock`).
    pub code: Option<String>,
    pub lock_ids: Vec<LockId>,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub starts_at: Option<Millis>,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub ends_at: Option<Millis>,
    pub schedule: Option<Schedule>,
    /// As asked; each code says how its own lock is scheduled.
    pub scheduling: Scheduling,
    pub on_shared_code_impossible: SharedCodePolicy,
    pub status: GrantStatus,
    /// The codes on the grant's locks (and, while it is revoked, those still coming off).
    pub access_codes: Vec<AccessCode>,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub updated_at: Millis,
}

impl From<&grants::Grant> for Grant {
    fn from(g: &grants::Grant) -> Grant {
        Grant {
            id: g.id,
            name: g.name.clone(),
            code: g.code.clone(),
            lock_ids: g.lock_ids.clone(),
            starts_at: g.starts_at,
            ends_at: g.ends_at,
            schedule: g.schedule.clone(),
            scheduling: g.scheduling,
            on_shared_code_impossible: g.on_shared_code_impossible,
            status: g.status,
            access_codes: g.access_codes.iter().map(AccessCode::from).collect(),
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}
