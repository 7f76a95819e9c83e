//! What lockbridge does, apart from HTTP: the code engine and its admission rules,
//! reconciliation with the vendors, log ingestion, device sync and lock health, grants, bulk
//! jobs, webhook delivery and its retry policy, and the workers that run them. The HTTP server
//! (and any other front) calls in here; nothing here knows of HTTP.

pub mod admission;
pub mod connections;
pub mod engine;
pub mod error;
pub mod grant_writes;
pub mod grants;
pub mod health;
pub mod ingest;
pub mod jobs;
pub mod lock_cache;
pub mod offline;
pub mod reconcile;
pub mod service;
pub mod stays;
pub mod vendor_hooks;
pub mod webhooks;
pub mod workers;

pub use error::{AppError, AppResult};
pub use service::{CodeReads, Providers, Service, Settings};
