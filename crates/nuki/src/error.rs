//! What can go wrong talking to Nuki, typed: a value refused before any request, Nuki's own
//! error answers (status and `detailMessage` kept), transport and decoding failures, and a
//! write Nuki accepted whose result did not show in time.

use crate::code::CodeRule;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A keypad code broke one of Nuki's rules; nothing was sent.
    #[error("code {0}")]
    InvalidCode(CodeRule),
    /// Another value was refused before any request left.
    #[error("{field} {rule}")]
    InvalidInput { field: &'static str, rule: String },
    /// Nuki answered an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// Nuki accepted a write (204) but its result was not visible when the client stopped
    /// looking: the device may apply it later, or never (an offline lock drops it).
    #[error("Nuki accepted the {what} but it did not show within {waited_ms} ms")]
    NotApplied { what: &'static str, waited_ms: u64 },
    #[error("request to Nuki failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// An answer that is not what the API documents; `path` is where in the JSON it broke.
    #[error("unexpected answer from Nuki (HTTP {status}) at {path}: {message}")]
    Decode {
        status: u16,
        path: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an error status means. Nuki documents the statuses each operation may answer, not
/// always why; the readings marked so are inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: a parameter was refused (an invalid code; a keypad code on a lock without a
    /// paired keypad).
    BadRequest,
    /// 401: the API token is not valid (revoked, or the account's password changed).
    Unauthorized,
    /// 402: the account is not paid (a legacy billing answer).
    PaymentRequired,
    /// 403: no permission on this lock.
    Forbidden,
    /// 404: no such lock or authorization.
    NotFound,
    /// 405: the action is not allowed for this device type (inferred).
    NotAllowed,
    /// 409: a conflicting value, such as a code the lock has already (inferred).
    Conflict,
    /// 423: the authorization is busy with another operation.
    Locked,
    /// 426: the device's firmware is too old (inferred).
    UpgradeRequired,
    /// 429: too many requests.
    RateLimited,
    /// 5xx.
    Server,
    Other,
}

/// An error answer: its status, Nuki's `detailMessage` when the body has one (else the body
/// as sent, cut short), and `Retry-After` when sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn kind(&self) -> ErrorKind {
        match self.status {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::PaymentRequired,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::NotAllowed,
            409 => ErrorKind::Conflict,
            423 => ErrorKind::Locked,
            426 => ErrorKind::UpgradeRequired,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }

    /// Reads an error body: `{"detailMessage": …}` (Nuki's usual shape), `{"description": …}`
    /// (its other one), else the text itself.
    pub(crate) fn from_body(status: u16, body: &[u8], retry_after_s: Option<u64>) -> ApiError {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        };
        let message = field("detailMessage")
            .or_else(|| field("description"))
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
        ApiError {
            status,
            message,
            retry_after_s,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nuki answered HTTP {}", self.status)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
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

/// A transport error without its URL (a URL names the lock and may carry query values).
impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        Error::Transport(err.without_url())
    }
}
