//! The application's error: why an operation did not happen, in terms a caller can act on.
//! It knows nothing of HTTP; the server gives each kind its status in one place. The stable
//! code and the public message are decided here, because they are also stored (a code's
//! `last_error`, a job item's error).

use lockbridge_core::provider::{ErrorKind, ProviderError};
use lockbridge_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A value broke a rule; `field` names it.
    #[error("{field} {message}")]
    Validation { field: String, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    AlreadyExists { message: String },
    /// What the lock (or this build) cannot do.
    #[error("this lock cannot {0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("the stored credentials of this connection no longer work; update them")]
    NeedsReauth,
    /// The store failed (a bug or an outage; the cause is logged, never answered), or a
    /// unique key was taken (`StoreError::Conflict`).
    #[error("internal error")]
    Store(#[from] StoreError),
    /// A grant's locks cannot share one PIN, and the grant asked for one.
    #[error("{message}")]
    SharedCodeImpossible { message: String },
    /// A request that names no connection, where the organisation has several that fit.
    #[error("{message}")]
    AmbiguousConnection { message: String },
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable code callers match on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation { .. } => "validation_failed",
            AppError::NotFound(_) => "not_found",
            AppError::AlreadyExists { .. } | AppError::Store(StoreError::Conflict(_)) => {
                "already_exists"
            }
            AppError::Unsupported(_) => "not_supported",
            AppError::NeedsReauth => "provider_auth_failed",
            AppError::Store(_) => "internal",
            AppError::SharedCodeImpossible { .. } => "shared_code_impossible",
            AppError::AmbiguousConnection { .. } => "ambiguous_connection",
            AppError::Provider(e) => vendor_code(e.kind),
        }
    }

    /// What a caller (or a stored `last_error`) is told: for vendor failures a fixed sentence
    /// per kind (the vendor's words go to the log only), for everything else the error itself.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Provider(e) => client_message(e),
            other => other.to_string(),
        }
    }

    /// `{code, message, field?}`, as a job item's error is stored and answered.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"code": self.code(), "message": self.public_message()});
        if let AppError::Validation { field, message } = self {
            v["field"] = serde_json::json!(field);
            v["message"] = serde_json::json!(format!("{field}: {message}"));
        }
        v
    }
}

/// The stable code of a vendor failure of `kind`.
pub fn vendor_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidInput => "validation_failed",
        ErrorKind::AlreadyExists => "already_exists",
        ErrorKind::DeviceBusy => "device_busy",
        ErrorKind::CapacityReached => "capacity_reached",
        ErrorKind::RejectedCredentials => "provider_rejected_credentials",
        ErrorKind::AuthFailed => "provider_auth_failed",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::DeviceOffline => "device_offline",
        ErrorKind::GatewayOffline => "gateway_offline",
        ErrorKind::Forbidden => "provider_forbidden",
        ErrorKind::Jammed => "device_jammed",
        ErrorKind::Timeout => "provider_timeout",
        ErrorKind::NotFound => "not_found",
        ErrorKind::Unsupported => "not_supported",
        ErrorKind::Unavailable | ErrorKind::Failed => "provider_error",
    }
}

/// What a caller is told about a vendor failure: a fixed sentence for its kind. Failures
/// lockbridge itself words (no vendor code: a lock's capacity, what it cannot do) keep their
/// message.
pub fn client_message(e: &ProviderError) -> String {
    let fixed = match e.kind {
        ErrorKind::Unsupported | ErrorKind::CapacityReached if e.code.is_none() => {
            return e.to_string();
        }
        ErrorKind::InvalidInput => "the vendor refused a value",
        ErrorKind::AlreadyExists => "the code (or object) already exists on the lock",
        ErrorKind::DeviceBusy => "the lock is busy with another request; try again shortly",
        ErrorKind::CapacityReached => "the lock has no room for another code",
        ErrorKind::RejectedCredentials => "the vendor refused these credentials",
        ErrorKind::AuthFailed => "the stored credentials no longer work; update them",
        ErrorKind::RateLimited => "the vendor's rate limit was reached; retry after Retry-After",
        ErrorKind::DeviceOffline => {
            "the lock does not answer: it is out of its gateway's range or its radio is down"
        }
        ErrorKind::GatewayOffline => "the lock's gateway or bridge is offline",
        ErrorKind::Forbidden => "the vendor account has no permission for this lock or action",
        ErrorKind::Jammed => "the lock is jammed: its bolt could not move",
        ErrorKind::Timeout => "the vendor or the lock did not answer in time",
        ErrorKind::NotFound => "the vendor does not know this object",
        ErrorKind::Unsupported => "this lock cannot do that",
        ErrorKind::Unavailable => "the vendor failed; try again later",
        ErrorKind::Failed => "the vendor refused the request",
    };
    match &e.code {
        Some(code) => format!("{}: {fixed} (vendor code {code})", e.provider),
        None => format!("{}: {fixed}", e.provider),
    }
}
