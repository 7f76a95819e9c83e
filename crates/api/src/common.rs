//! What every part of the API shares: pages, errors, plain acknowledgements.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lockbridge_core::model::Provider;

/// One page of a list; `next_cursor` asks for the next (`?cursor=`), `null` on the last.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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

/// `{"status": "ok"}` and the like.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    pub status: String,
}

/// `{"success": true}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Success {
    #[schemars(extend("const" = true))]
    pub success: bool,
}

/// Every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error", extend("additionalProperties" = false))]
pub struct ErrorBody {
    #[schemars(extend("const" = false))]
    pub success: bool,
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// The vendor's own error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
    /// Quote it when asking for help: the log line of the request carries it.
    pub request_id: String,
}
