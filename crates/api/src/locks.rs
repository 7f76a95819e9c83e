//! Locks and gateways, and what operating or syncing them answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lockbridge_core::ids::{ConnectionId, GatewayId, LockId};
use lockbridge_core::model::{self, Capabilities, LockState, Notice, Provider};
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::{Millis, Timestamp};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Lock {
    pub id: LockId,
    pub connection_id: ConnectionId,
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
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub updated_at: Millis,
}

impl From<&model::Lock> for Lock {
    fn from(l: &model::Lock) -> Lock {
        Lock {
            id: l.id,
            connection_id: l.connection_id,
            provider: l.provider,
            provider_id: l.provider_id.clone(),
            name: l.name.clone(),
            online: l.online,
            state: l.state,
            battery: l.battery,
            gateway_id: l.gateway_id,
            time_zone: l.time_zone.clone(),
            utc_offset_minutes: l.utc_offset_minutes,
            capabilities: l.capabilities,
            code_rules: l.code_rules.clone(),
            errors: l.errors.clone(),
            warnings: l.warnings.clone(),
            updated_at: l.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Gateway {
    pub id: GatewayId,
    pub connection_id: ConnectionId,
    pub provider: Provider,
    pub provider_id: String,
    pub name: String,
    pub online: bool,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub updated_at: Millis,
}

impl From<&model::Gateway> for Gateway {
    fn from(g: &model::Gateway) -> Gateway {
        Gateway {
            id: g.id,
            connection_id: g.connection_id,
            provider: g.provider,
            provider_id: g.provider_id.clone(),
            name: g.name.clone(),
            online: g.online,
            updated_at: g.updated_at,
        }
    }
}

/// The state a lock reported after an unlock or lock.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OperationResult {
    pub lock_id: LockId,
    pub state: LockState,
}

/// What a sync found.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SyncResult {
    pub locks: u64,
    pub gateways: u64,
    /// Locks and gateways the vendor no longer lists, removed.
    pub removed: u64,
}
