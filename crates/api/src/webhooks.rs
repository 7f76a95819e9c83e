//! Webhook endpoints and their deliveries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lockbridge_core::ids::{DeliveryId, EventId, WebhookId};
use lockbridge_core::time::{Millis, Timestamp};
use lockbridge_core::webhooks::{self, DeliveryStatus, WebhookFormat};

/// A webhook endpoint as answered (its secret never is, but at creation and rotation).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    /// The event types delivered (`access_code.set`, `lock.*`…); empty: every type.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// The body sent: `lockbridge` (`{id, type, occurred_at, actor, data}`) or `seam` (Seam's
    /// event object, for endpoints made through `/seam`, whose `event_types` are Seam's names).
    pub format: WebhookFormat,
    /// Since when every attempt failed; after 5 days of that the endpoint is disabled.
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub failing_since: Option<Millis>,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub updated_at: Millis,
}

impl From<&webhooks::Webhook> for Webhook {
    fn from(w: &webhooks::Webhook) -> Webhook {
        Webhook {
            id: w.id,
            url: w.url.clone(),
            event_types: w.event_types.clone(),
            description: w.description.clone(),
            enabled: w.enabled,
            format: w.format,
            failing_since: w.failing_since,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A new (or re-keyed) endpoint, with its signing secret: shown in this answer only.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` and the base64 of 32 random bytes: verify each delivery with it. Shown once.
    pub secret: String,
}

/// One attempt to deliver an event to an endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub status: DeliveryStatus,
    /// The endpoint's HTTP status, when it answered.
    pub response_status: Option<u16>,
    pub duration_ms: Option<u64>,
    /// Why it failed, in lockbridge's words (never the endpoint's body).
    pub error: Option<String>,
    /// When this (pending) attempt is due, or (failed) when the next one is.
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub next_attempt_at: Option<Millis>,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub finished_at: Option<Millis>,
}

impl From<&webhooks::Delivery> for Delivery {
    fn from(d: &webhooks::Delivery) -> Delivery {
        Delivery {
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            attempt: d.attempt,
            status: d.status,
            response_status: d.response_status,
            duration_ms: d.duration_ms,
            error: d.error.clone(),
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            finished_at: d.finished_at,
        }
    }
}
