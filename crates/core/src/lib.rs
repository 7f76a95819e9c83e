//! lockbridge's unified model — locks, gateways, access codes, code rules, time, credentials,
//! events — and the vendor traits every adapter implements. No vendor client is compiled
//! here: the adapters live in `lockbridge-vendors`, so the store builds without them.

pub mod budgets;
pub mod credentials;
pub mod events;
pub mod grants;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod offline;
pub mod provider;
pub mod rules;
pub mod schedule;
pub mod seam;
pub mod shared_pin;
pub mod stays;
pub mod time;
pub mod vendor;
pub mod vendor_error;
pub mod webhooks;
pub mod windows;

pub use credentials::Credentials;
pub use ids::{
    AccessCodeId, ApiKeyId, ConnectionId, DeliveryId, EventId, GatewayId, GrantId, JobId, LockId,
    OrgId, WebhookId,
};
pub use model::*;
pub use provider::{ErrorKind, ProviderError, ProviderResult, Vendor};
pub use rules::CodeRules;
pub use secrecy;
