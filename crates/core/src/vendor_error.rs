//! What went wrong at a vendor: its kind (what the caller may do about it), the vendor's own
//! code and words, and the cause kept for the log.

use std::sync::Arc;

use crate::model::Provider;

/// What went wrong at a vendor, classified for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The vendor refused a value (`field` names it).
    InvalidInput,
    /// The code (or object) exists on the lock already.
    AlreadyExists,
    /// The device is handling another request.
    DeviceBusy,
    /// The lock has no room for another code.
    CapacityReached,
    /// A credential set failed verification.
    RejectedCredentials,
    /// Stored credentials no longer work.
    AuthFailed,
    RateLimited,
    /// The lock does not answer (out of its gateway's range, its own radio down).
    DeviceOffline,
    /// The gateway or bridge the lock is reached through is offline.
    GatewayOffline,
    /// The vendor refused the account permission for this (not a credential failure).
    Forbidden,
    /// The lock could not move its bolt.
    Jammed,
    Timeout,
    NotFound,
    /// The lock cannot do this.
    Unsupported,
    /// The vendor failed in a way that may pass (5xx, transport).
    Unavailable,
    /// The vendor refused for another reason.
    Failed,
}

impl ErrorKind {
    /// Worth retrying later with backoff.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::DeviceBusy
                | ErrorKind::RateLimited
                | ErrorKind::DeviceOffline
                | ErrorKind::GatewayOffline
                | ErrorKind::Timeout
                | ErrorKind::Unavailable
        )
    }
}

impl ErrorKind {
    /// A fixed description of the kind, for messages that must not carry the vendor's words.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "the vendor refused a value",
            ErrorKind::AlreadyExists => "it exists on the lock already",
            ErrorKind::DeviceBusy => "the device is busy",
            ErrorKind::CapacityReached => "the lock has no room for another code",
            ErrorKind::RejectedCredentials => "the vendor refused these credentials",
            ErrorKind::AuthFailed => "the stored credentials no longer work",
            ErrorKind::RateLimited => "the vendor's rate limit was reached",
            ErrorKind::DeviceOffline => "the lock does not answer",
            ErrorKind::GatewayOffline => "the lock's gateway is offline",
            ErrorKind::Forbidden => "the vendor refused the account permission",
            ErrorKind::Jammed => "the lock is jammed",
            ErrorKind::Timeout => "the vendor did not answer in time",
            ErrorKind::NotFound => "the vendor does not know it",
            ErrorKind::Unsupported => "the lock cannot do this",
            ErrorKind::Unavailable => "the vendor is unavailable",
            ErrorKind::Failed => "the vendor refused",
        }
    }
}

/// What went wrong at a vendor: its kind, the vendor's code, the field it names, when to try
/// again, and the vendor client's error as its [`source`](std::error::Error::source).
#[derive(Debug, Clone)]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub provider: Provider,
    /// The vendor's own code (TTLock's errcode, Tedee's status…), as text.
    pub code: Option<String>,
    /// The adapter's own words (never a URL or a credential); the vendor's are in `source`.
    pub message: String,
    pub field: Option<&'static str>,
    /// Seconds, for rate limits.
    pub retry_after: Option<u64>,
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.provider, self.message)
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl ProviderError {
    pub fn new(provider: Provider, kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            provider,
            code: None,
            message: message.into(),
            field: None,
            retry_after: None,
            source: None,
        }
    }

    /// An error of the vendor's client: the kind's fixed description, the client's error as
    /// the source. The client's error must not print a URL or a credential.
    pub fn caused(
        provider: Provider,
        kind: ErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ProviderError {
            source: Some(Arc::new(source)),
            ..ProviderError::new(provider, kind, kind.describe())
        }
    }

    /// This error, met while following a write that had gone out (reading back what it made).
    /// A `RateLimited` there refused the reading, not the write: it would tell the engine the
    /// write was never sent, so it becomes a `Timeout` (the outcome unknown, checked against the
    /// vendor). Any other kind says what it says of the write (a jam, an offline lock).
    pub fn after_write(self) -> Self {
        if self.kind != ErrorKind::RateLimited {
            return self;
        }
        let provider = self.provider;
        ProviderError::caused(provider, ErrorKind::Timeout, self)
    }

    pub fn with_code(mut self, code: impl ToString) -> Self {
        self.code = Some(code.to_string());
        self
    }

    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
}

/// An error and every source under it, `: `-separated: what the log shows, once.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        // `#[error(transparent)]` wrappers repeat their source's words.
        if !chain.ends_with(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = s.source();
    }
    chain
}

pub type ProviderResult<T> = Result<T, ProviderError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Provider, VendorNames};

    const P: Provider = Provider::named(&VendorNames {
        id: "acme",
        label: "Acme",
    });

    #[test]
    fn a_reading_refused_after_a_write_leaves_the_write_unknown() {
        let refused = ProviderError::new(P, ErrorKind::RateLimited, "budget spent");
        let after = refused.after_write();
        assert_eq!(after.kind, ErrorKind::Timeout);
        assert!(error_chain(&after).contains("budget spent"));
        let jammed = ProviderError::new(P, ErrorKind::Jammed, "jammed").after_write();
        assert_eq!(
            jammed.kind,
            ErrorKind::Jammed,
            "an outcome of the write stays one"
        );
    }
}
