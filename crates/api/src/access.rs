//! Who calls and what with: API keys and vendor connections.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lockbridge_core::ids::{ApiKeyId, ConnectionId};
use lockbridge_core::model::{self, ConnectionStatus, ExternalPolicy, Provider, Role};
use lockbridge_core::time::{Millis, Timestamp};

/// An API key as listed: never the key itself, which is shown once and stored as a hash.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub role: Role,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
}

impl From<&model::ApiKey> for ApiKey {
    fn from(k: &model::ApiKey) -> ApiKey {
        ApiKey {
            id: k.id,
            name: k.name.clone(),
            role: k.role,
            prefix: k.prefix.clone(),
            created_at: k.created_at,
        }
    }
}

/// A new API key: the key itself is in this answer only.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key (`lb_…`), shown once.
    pub key: String,
    /// The same key as Seam's SDKs take it on `/seam` (`seam_lb_…`).
    pub seam_key: String,
}

/// A connection as answered: secrets masked, tokens never shown.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Connection {
    pub id: ConnectionId,
    pub provider: Provider,
    pub name: String,
    pub base_url: Option<String>,
    pub status: ConnectionStatus,
    /// Plain fields as they are; secrets as `••••` and at most their last 4 characters.
    pub credentials: BTreeMap<String, String>,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub token_expires_at: Option<Millis>,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub last_sync_at: Option<Millis>,
    pub last_error: Option<String>,
    pub on_external_change: ExternalPolicy,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
}

impl Connection {
    /// The view of `c`, with its credentials as `masked` shows them.
    pub fn new(c: &model::Connection, masked: BTreeMap<String, String>) -> Connection {
        Connection {
            id: c.id,
            provider: c.provider,
            name: c.name.clone(),
            base_url: c.base_url.clone(),
            status: c.status,
            credentials: masked,
            token_expires_at: c.token_expires_at,
            last_sync_at: c.last_sync_at,
            last_error: c.last_error.clone(),
            on_external_change: c.on_external_change,
            created_at: c.created_at,
        }
    }
}
