//! Tuya's refusals (`success: false` with `code` and `msg`, on HTTP 200), typed.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value was refused before any request left.
    #[error("{field} {rule}")]
    InvalidInput { field: &'static str, rule: String },
    #[error("{0}")]
    Api(Box<ApiError>),
    /// A non-2xx HTTP answer (Tuya answers its refusals with 200; this is an outage or a proxy).
    #[error("Tuya answered HTTP {status}")]
    Status { status: u16 },
    #[error("request to Tuya failed: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("unexpected answer from Tuya: {0}")]
    Decode(String),
    /// The ticket key could not be decrypted with the access secret.
    #[error("the password ticket could not be decrypted with this access secret")]
    Ticket,
}

pub type Result<T> = std::result::Result<T, Error>;

/// A refusal: Tuya's `code`, `msg` and trace id.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: i64,
    pub msg: String,
    pub tid: Option<String>,
}

/// What a code means, per Tuya's global error table (and, for the lock business codes Tuya
/// does not publish, lockbridge's simulator — see [`ApiError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 1004: the signature does not match (also a wrong client id / secret pair).
    SignInvalid,
    /// 1001, 1005: unknown client id or secret.
    ClientInvalid,
    /// 1002: no access token.
    TokenMissing,
    /// 1010: the access token expired.
    TokenExpired,
    /// 1011, 1012, 1400: the token is unknown or superseded.
    TokenInvalid,
    /// 1013: `t` is outside the allowed window.
    TimeInvalid,
    /// 1100–1109 (but 1106): a parameter is missing or wrong.
    InvalidParam,
    /// 1106: the device is not linked to the project.
    PermissionDenied,
    /// 1000, 2010: no such data or device.
    NotFound,
    /// 1110, 1111, 1113, 1199: throttled or busy.
    TooFrequent,
    /// 2001: the device is offline.
    DeviceOffline,
    /// 2003, 2004, 2008, 2009: the device cannot do this.
    NotSupported,
    /// 28841xxx: the API is not subscribed, or the plan's quota is used up.
    NotSubscribed,
    /// 500.
    Server,
    /// A password ticket that is unknown, used up or expired.
    TicketInvalid,
    /// The PIN is already on the lock.
    PasswordExists,
    /// The lock's password store is full.
    PasswordStoreFull,
    Other,
}

/// Codes for lock business failures Tuya does not publish. lockbridge's simulator answers
/// these; against the real cloud they are recognised by their message instead (see
/// [`ApiError::kind`]).
pub mod codes {
    pub const TICKET_INVALID: i64 = 40_101;
    pub const PASSWORD_EXISTS: i64 = 40_102;
    pub const PASSWORD_STORE_FULL: i64 = 40_103;
}

impl ApiError {
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind::*;
        match self.code {
            1004 => SignInvalid,
            1001 | 1005 => ClientInvalid,
            1002 => TokenMissing,
            1010 => TokenExpired,
            1011 | 1012 | 1400 => TokenInvalid,
            1013 => TimeInvalid,
            1106 => PermissionDenied,
            1100..=1109 => InvalidParam,
            1000 | 2010 => NotFound,
            1110 | 1111 | 1113 | 1199 => TooFrequent,
            2001 => DeviceOffline,
            2003 | 2004 | 2008 | 2009 => NotSupported,
            28_841_000..=28_841_999 => NotSubscribed,
            500 => Server,
            codes::TICKET_INVALID => TicketInvalid,
            codes::PASSWORD_EXISTS => PasswordExists,
            codes::PASSWORD_STORE_FULL => PasswordStoreFull,
            _ => {
                // Tuya publishes no numbers for these; its SDK names them. Read the message.
                let msg = self.msg.to_ascii_lowercase();
                if msg.contains("ticket") {
                    TicketInvalid
                } else if msg.contains("already exist") {
                    PasswordExists
                } else if msg.contains("full") || msg.contains("exhaust") {
                    PasswordStoreFull
                } else {
                    Other
                }
            }
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tuya refused the call: {} {}", self.code, self.msg)
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
