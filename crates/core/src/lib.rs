//! lockbridge's unified model — locks, gateways, access codes, code rules — the provider trait
//! every vendor is reached through, and one adapter per vendor.

pub mod credentials;
pub mod events;
pub mod ids;
pub mod kii;
pub mod metrics;
pub mod model;
pub mod provider;
pub mod rules;
pub mod schedule;
pub mod sessions;
pub mod tedee;
pub mod time;
pub mod ttlock;
pub mod tuya;

pub use credentials::Credentials;
pub use ids::{AccessCodeId, ApiKeyId, ConnectionId, EventId, GatewayId, LockId, OrgId};
pub use model::*;
pub use provider::{ErrorKind, ProviderApi, ProviderError, ProviderResult};
pub use rules::CodeRules;
pub use secrecy;
