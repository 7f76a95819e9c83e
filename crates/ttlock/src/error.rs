use std::fmt;

/// Everything a TTLock call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `configure` (or `start`) has not been called.
    #[error("the TTLock client is not configured: call configure() first")]
    NotConfigured,
    /// No token yet: `authenticate` (or `start`, or `restore`) has not succeeded.
    #[error("the TTLock client is not authenticated: call authenticate() first")]
    NotAuthenticated,
    /// A parameter broke a rule; nothing was sent.
    #[error("invalid {param}: {rule}")]
    InvalidInput { param: &'static str, rule: String },
    /// `start_with_env` found these variables unset or empty.
    #[error("missing environment variables: {}", .0.join(", "))]
    MissingEnv(Vec<&'static str>),
    /// TTLock refused the call (HTTP 200 with a non-zero `errcode`).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// TTLock answered with a non-2xx HTTP status (an outage or an unknown path).
    #[error("TTLock answered HTTP {status}")]
    Status { status: u16 },
    /// The request did not complete (connection, timeout, TLS).
    #[error("request to TTLock failed")]
    Transport(#[source] reqwest::Error),
    /// The answer was not the JSON expected; `path` locates the field that did not fit.
    #[error("unexpected TTLock response at {path}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn invalid(param: &'static str, rule: impl Into<String>) -> Self {
        Error::InvalidInput {
            param,
            rule: rule.into(),
        }
    }

    /// The TTLock error, when TTLock answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Worth retrying later: a busy or offline device, a timeout, an outage, a rate limit.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api(e) => e.kind().is_transient(),
            Error::Status { status } => *status >= 500 || *status == 429,
            Error::Transport(_) => true,
            _ => false,
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        // The URL never carries a secret (parameters travel in the body), but drop it anyway.
        Error::Transport(err.without_url())
    }
}

/// A refusal from TTLock, with its own code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub errcode: i64,
    pub errmsg: String,
    /// TTLock's second message, often in Chinese.
    pub description: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TTLock error {}: {}", self.errcode, self.errmsg)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn kind(&self) -> ApiErrorKind {
        ApiErrorKind::from_code(self.errcode)
    }
}

/// TTLock's error codes, grouped by what a caller does about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 1: the generic "failed or means no".
    Failed,
    /// -3: a parameter is missing or malformed.
    InvalidParameter,
    /// 10000, 10001: unknown client id, or wrong client id/secret.
    InvalidClient,
    /// 10003: the access token does not exist.
    InvalidToken,
    /// 10004: the access token expired or was revoked.
    TokenExpired,
    /// 10007: wrong username or password.
    InvalidAccount,
    /// 10011: the refresh token is not valid.
    InvalidRefreshToken,
    /// 30005: the password was not sent as MD5.
    PasswordNotMd5,
    /// 30006: the application's call quota is spent.
    RateLimited,
    /// 80000: the `date` parameter is more than five minutes off.
    DateOutOfWindow,
    /// 20002, -2018: the account does not administer this lock.
    NotLockAdmin,
    /// -1003: no such lock.
    LockNotFound,
    /// -4037: no such gateway.
    GatewayNotFound,
    /// -2012: the lock has no gateway.
    NoGateway,
    /// -3002: the gateway is offline.
    GatewayOffline,
    /// -3003: the gateway is carrying out another command.
    GatewayBusy,
    /// -3006: the passcode's length or characters are wrong.
    InvalidPasscode,
    /// -3007: the lock already holds this passcode.
    DuplicatePasscode,
    /// -3009, -4056: no room on the lock.
    NoSpace,
    /// -3036: the lock is offline.
    LockOffline,
    /// -3037: the lock is busy.
    LockBusy,
    /// -2025: the lock is frozen.
    LockFrozen,
    /// -4043: the lock does not support this, or remote unlock is switched off in the app.
    NotSupported,
    /// 90000: TTLock's own failure.
    Internal,
    Other,
}

impl ApiErrorKind {
    pub fn from_code(code: i64) -> Self {
        use ApiErrorKind::*;
        match code {
            1 => Failed,
            -3 => InvalidParameter,
            10000 | 10001 => InvalidClient,
            10003 => InvalidToken,
            10004 => TokenExpired,
            10007 => InvalidAccount,
            10011 => InvalidRefreshToken,
            30005 => PasswordNotMd5,
            30006 => RateLimited,
            80000 => DateOutOfWindow,
            20002 | -2018 => NotLockAdmin,
            -1003 => LockNotFound,
            -4037 => GatewayNotFound,
            -2012 => NoGateway,
            -3002 => GatewayOffline,
            -3003 => GatewayBusy,
            -3006 => InvalidPasscode,
            -3007 => DuplicatePasscode,
            -3009 | -4056 => NoSpace,
            -3036 => LockOffline,
            -3037 => LockBusy,
            -2025 => LockFrozen,
            -4043 => NotSupported,
            90000 => Internal,
            _ => Other,
        }
    }

    /// The condition may clear by itself: retry later.
    pub fn is_transient(self) -> bool {
        use ApiErrorKind::*;
        matches!(
            self,
            GatewayBusy | LockBusy | GatewayOffline | LockOffline | RateLimited | Internal
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
