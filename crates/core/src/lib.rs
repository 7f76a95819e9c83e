//! lockbridge's unified model — locks, gateways, access codes, code rules — the provider trait
//! every vendor is reached through, and one adapter per vendor.

pub mod credentials;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod provider;
pub mod rules;
pub mod time;
pub mod ttlock;

pub use credentials::Credentials;
pub use ids::{AccessCodeId, ApiKeyId, ConnectionId, GatewayId, LockId, OrgId};
pub use model::*;
pub use provider::{ErrorKind, ProviderApi, ProviderError, ProviderResult};
pub use rules::CodeRules;
