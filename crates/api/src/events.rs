//! Events: what happened, when, by whom.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use lockbridge_core::events::{self, Actor, EventType};
use lockbridge_core::ids::{AccessCodeId, ConnectionId, EventId, LockId};
use lockbridge_core::time::{Millis, Timestamp};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened (on the lock, for what its vendor's log reports).
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub occurred_at: Millis,
    /// When lockbridge recorded it.
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
    pub connection_id: Option<ConnectionId>,
    pub lock_id: Option<LockId>,
    pub access_code_id: Option<AccessCodeId>,
    /// The grant the code belongs to, when it does.
    pub grant_id: Option<String>,
    /// Who caused it.
    pub actor: Actor,
    /// What the event's type carries (a code's status and error, a lock's state, a log
    /// record's method…).
    pub data: Map<String, Value>,
}

impl From<&events::Event> for Event {
    fn from(e: &events::Event) -> Event {
        Event {
            id: e.id,
            kind: e.kind,
            occurred_at: e.occurred_at,
            created_at: e.created_at,
            connection_id: e.connection_id,
            lock_id: e.lock_id,
            access_code_id: e.access_code_id,
            grant_id: e.grant_id.clone(),
            actor: e.actor.clone(),
            data: match &e.data {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            },
        }
    }
}
