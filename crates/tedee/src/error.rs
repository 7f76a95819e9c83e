//! Tedee's answers that are not successes, typed.

use crate::pin::PinRule;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PIN broke one of Tedee's rules; nothing was sent.
    #[error("pin {0}")]
    InvalidPin(PinRule),
    /// Another value was refused before any request left.
    #[error("{field} {rule}")]
    InvalidInput { field: &'static str, rule: String },
    /// Tedee answered an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The rate limit is spent and Tedee asks to wait longer than the client is configured to.
    #[error("Tedee's rate limit is spent; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// An operation finished with an error result (`result` > 0, e.g. a jammed lock).
    #[error("the device operation {operation_id} failed with result {result}")]
    OperationFailed { operation_id: String, result: i64 },
    /// An operation was still pending when the client stopped waiting.
    #[error("the device operation {0} did not complete in time")]
    OperationTimeout(String),
    #[error("request to Tedee failed: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("unexpected answer from Tedee (HTTP {status}): {message}")]
    Decode { status: u16, message: String },
    /// OAuth tokens could not be renewed.
    #[error("the OAuth refresh failed: {0}")]
    Refresh(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What an error status means, per Tedee's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: a value (the PIN) failed validation.
    BadRequest,
    /// 401: the key or token is not valid.
    Unauthorized,
    /// 403: no permission to the lock, or a scope is missing.
    Forbidden,
    /// 404: no such lock, PIN or operation.
    NotFound,
    /// 406: the PIN already exists on the lock.
    PinExists,
    /// 408: the device did not answer in time.
    DeviceTimeout,
    /// 409: another request is being processed for the device.
    DeviceBusy,
    /// 412 (documented) or 422 (documented between 2021 and 2026): no more PINs fit.
    PinSlotsFull,
    /// 428: the lock is disconnected or set up incorrectly.
    Disconnected,
    /// 429: over the rate limit.
    RateLimited,
    /// 5xx.
    Server,
    Other,
}

/// An error answer: its status, Tedee's `errorMessages`, and `Retry-After` when sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub messages: Vec<String>,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn kind(&self) -> ErrorKind {
        match self.status {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            406 => ErrorKind::PinExists,
            408 => ErrorKind::DeviceTimeout,
            409 => ErrorKind::DeviceBusy,
            412 | 422 => ErrorKind::PinSlotsFull,
            428 => ErrorKind::Disconnected,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tedee answered HTTP {}", self.status)?;
        if !self.messages.is_empty() {
            write!(f, ": {}", self.messages.join("; "))?;
        }
        Ok(())
    }
}

impl Error {
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    pub fn kind(&self) -> Option<ErrorKind> {
        self.api().map(ApiError::kind)
    }
}

/// A transport error without its URL: URLs can carry tokens (Tuya's refresh token is in the
/// path), and an error is shown and logged.
impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        Error::Transport(err.without_url())
    }
}
