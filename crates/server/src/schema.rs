//! The shapes of answers that are not model types, as types: handlers build them and
//! `/openapi.json` derives their schemas from them (with the model's own types and the request
//! bodies of the routes).

use std::collections::BTreeMap;

use lockbridge_core::ids::{ConnectionId, LockId};
use lockbridge_core::model::{
    ApiKey, Connection, ConnectionStatus, ExternalPolicy, LockState, Provider,
};
use lockbridge_core::time::{Millis, Timestamp};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// One page of a list; `next_cursor` asks for the next (`?cursor=`), `null` on the last.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `rows` fetched with one row more than `limit`.
    pub fn of(mut rows: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(cursor) } else { None };
        Page {
            data: rows,
            next_cursor,
        }
    }
}

/// A new API key: the key itself is in this answer only.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key (`lb_…`), shown once.
    pub key: String,
    /// The same key as Seam's SDKs take it on `/seam` (`seam_lb_…`).
    pub seam_key: String,
}

/// A connection as answered: secrets masked, tokens never shown.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Connection")]
pub struct ConnectionView {
    pub id: ConnectionId,
    pub provider: Provider,
    pub name: String,
    pub base_url: Option<String>,
    pub status: ConnectionStatus,
    /// Plain fields as they are; secrets as `••••` and at most their last 4 characters.
    #[schemars(with = "BTreeMap<String, String>")]
    pub credentials: Value,
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

impl ConnectionView {
    pub fn new(c: &Connection, credentials: Value) -> ConnectionView {
        ConnectionView {
            id: c.id,
            provider: c.provider,
            name: c.name.clone(),
            base_url: c.base_url.clone(),
            status: c.status,
            credentials,
            token_expires_at: c.token_expires_at,
            last_sync_at: c.last_sync_at,
            last_error: c.last_error.clone(),
            on_external_change: c.on_external_change,
            created_at: c.created_at,
        }
    }
}

/// What a sync found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SyncResult {
    pub locks: u64,
    pub gateways: u64,
    /// Locks and gateways the vendor no longer lists, removed.
    pub removed: u64,
}

/// The state a lock reported after an unlock or lock.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OperationResult {
    pub lock_id: LockId,
    pub state: LockState,
}

/// `{"status": "ok"}` and the like.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    pub status: String,
}

/// `{"success": true}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Success {
    #[schemars(extend("const" = true))]
    pub success: bool,
}

/// Every error answer.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Error", extend("additionalProperties" = false))]
pub struct ErrorBody {
    #[schemars(extend("const" = false))]
    pub success: bool,
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, JsonSchema)]
#[schemars(extend("additionalProperties" = false))]
pub struct ErrorDetail {
    /// Stable: `validation_failed`, `unauthorized`, `forbidden`, `not_found`, `already_exists`,
    /// `last_admin_key`, `request_in_progress`, `idempotency_key_reused`, `device_busy`,
    /// `device_jammed`, `capacity_reached`, `not_supported`, `shared_code_impossible`,
    /// `ambiguous_connection`, `rate_limited`, `provider_rejected_credentials`,
    /// `provider_auth_failed`, `provider_forbidden`, `provider_error`, `device_offline`,
    /// `gateway_offline`, `provider_timeout`, `method_not_allowed`, `payload_too_large`,
    /// `body_timeout`, `request_timeout`, `internal`.
    pub code: String,
    pub message: String,
    /// The request field at fault (`schedule.start_time`, `credentials.client_id`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// The vendor's own error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
    /// Quote it when asking for help: the log line of the request carries it.
    pub request_id: String,
}

/// A connection's credentials: string fields named by its vendor. The description lists each
/// vendor's fields, from the adapters' own declarations.
#[derive(Debug)]
pub struct CredentialFields;

impl JsonSchema for CredentialFields {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Credentials".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let cx = lockbridge_vendors::Context {
            tokens: std::sync::Arc::new(lockbridge_core::provider::NoTokenStore),
            calls: Default::default(),
            operation_poll: std::time::Duration::ZERO,
            request_timeout: std::time::Duration::ZERO,
            pace: Default::default(),
        };
        let vendors: Vec<String> = lockbridge_vendors::builtin(&cx)
            .iter()
            .map(|v| {
                let fields: Vec<String> = v
                    .credential_fields()
                    .iter()
                    .map(|f| {
                        let mut name = f.name.to_owned();
                        if f.optional {
                            name.push_str(" (optional)");
                        }
                        name
                    })
                    .collect();
                format!("{}: {}", v.provider(), fields.join(", "))
            })
            .collect();
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": vendors.join(". "),
        })
    }
}

/// This document: OpenAPI 3.1.
#[derive(Debug, JsonSchema)]
#[schemars(rename = "OpenApiDocument")]
pub struct OpenApiDocument(pub serde_json::Map<String, Value>);

/// A page for people.
#[derive(Debug, JsonSchema)]
pub struct Html(pub String);

/// Prometheus text format.
#[derive(Debug, JsonSchema)]
pub struct Metrics(pub String);
