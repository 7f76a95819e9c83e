//! lockbridge's `/v1` contract, in one place: every answer the API serialises and the request
//! bodies its clients send, as types that serialise, deserialise and describe themselves
//! (`schemars`). The routes answer with them, `/openapi.json` is derived from them, and the
//! console and the command-line client read them — so none of them re-declares a shape.
//!
//! Views are not the model: a store row carries versions, leases and idempotency keys that
//! never leave the service, and a view is built from it with `From`. Values that are the
//! same on the wire and in the model (ids, statuses, schedules, rules, notices) are the
//! model's own types.

pub mod access;
pub mod codes;
pub mod common;
pub mod events;
pub mod grants;
pub mod jobs;
pub mod locks;
pub mod stays;
pub mod webhooks;

pub use access::{ApiKey, ApiKeyCreated, Connection};
pub use codes::{AccessCode, CodeKind};
pub use common::{ErrorBody, ErrorDetail, Page, Status, Success};
pub use events::Event;
pub use grants::Grant;
pub use jobs::{ItemError, ItemErrorDetail, Job, WaitingItem};
pub use locks::{Gateway, Lock, OperationResult, SyncResult};
pub use stays::{Calendar, Property, Reservation};
pub use webhooks::{Delivery, Webhook, WebhookCreated};
