//! The code engine's own error: why an attempt did not reach the lock, and whether to try again.

use lockbridge_core::provider::ProviderError;
use lockbridge_store::StoreError;

use crate::error::AppError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The vendor refused or failed; its kind says whether it may pass.
    #[error(transparent)]
    Vendor(#[from] ProviderError),
    /// The connection's credentials no longer work: nothing is sent until they are updated.
    #[error("the stored credentials of this connection no longer work")]
    NeedsReauth,
    /// The store failed; the code is tried again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something the attempt needs is gone or cannot be reached (the lock, its connection,
    /// its vendor in this build).
    #[error("{0}")]
    Unreachable(String),
}

impl EngineError {
    /// Worth trying again later.
    /// How long the vendor asked to be left alone (its `Retry-After`), if it did.
    pub fn retry_after_ms(&self) -> Option<i64> {
        match self {
            EngineError::Vendor(e) => e.retry_after.map(|s| s as i64 * 1000),
            _ => None,
        }
    }

    /// Refused before it was carried out (the account's budget, or the vendor's 429): what
    /// the lock holds did not change, so the attempt does not count as one whose outcome is
    /// unknown.
    pub fn was_not_sent(&self) -> bool {
        matches!(self, EngineError::Vendor(e) if e.kind == lockbridge_core::ErrorKind::RateLimited)
    }

    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Vendor(e) => e.kind.is_transient(),
            EngineError::Store(_) | EngineError::NeedsReauth => true,
            EngineError::Unreachable(_) => false,
        }
    }

    /// The stable code and the fixed message a client sees for it (stored as the code's
    /// `last_error` and notice).
    pub fn public(&self) -> (&'static str, String) {
        let app = match self {
            EngineError::Vendor(e) => AppError::Provider(e.clone()),
            EngineError::NeedsReauth => AppError::NeedsReauth,
            EngineError::Store(_) => return ("internal", "internal error".to_owned()),
            EngineError::Unreachable(_) => AppError::NotFound("lock or connection"),
        };
        (app.code(), app.public_message())
    }
}

impl From<AppError> for EngineError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Provider(p) => EngineError::Vendor(p),
            AppError::NeedsReauth => EngineError::NeedsReauth,
            AppError::Store(s) => EngineError::Store(s),
            other => EngineError::Unreachable(other.public_message()),
        }
    }
}

impl From<EngineError> for AppError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Vendor(p) => AppError::Provider(p),
            EngineError::NeedsReauth => AppError::NeedsReauth,
            EngineError::Store(s) => AppError::Store(s),
            EngineError::Unreachable(_) => AppError::NotFound("lock or connection"),
        }
    }
}
