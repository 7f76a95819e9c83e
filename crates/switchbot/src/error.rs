//! What can go wrong talking to SwitchBot, typed. Business errors arrive inside HTTP 200 as the
//! envelope's `statusCode`; a refused token or signature is HTTP 401 without an envelope.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value was refused before any request left.
    #[error("{field} {rule}")]
    InvalidInput { field: &'static str, rule: String },
    /// The envelope's `statusCode` was not 100.
    #[error("{0}")]
    Api(ApiError),
    /// HTTP 401 or 403: the token or the signature was refused (SwitchBot's `{"message": …}`
    /// kept).
    #[error("SwitchBot refused the request (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// Another HTTP status.
    #[error("SwitchBot answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// A key's password could not be decrypted with the secret.
    #[error("a key's password could not be decrypted: {0}")]
    Decrypt(&'static str),
    /// The account's request budget ([`crate::RequestGate`]) had no room soon enough; nothing
    /// was sent.
    #[error("the account's SwitchBot requests are spent; try again in {} s", retry_after.as_secs().max(1))]
    Budget { retry_after: std::time::Duration },
    #[error("request to SwitchBot failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// An answer that is not what the API documents; `path` is where in the JSON it broke.
    #[error("unexpected answer from SwitchBot at {path}: {message}")]
    Decode { path: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an envelope's `statusCode` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 151: the command is for another type of device.
    DeviceType,
    /// 152: no such device.
    NotFound,
    /// 160: the device does not have this command.
    Unsupported,
    /// 161: the device is offline.
    DeviceOffline,
    /// 171: the hub the device is reached through is offline.
    HubOffline,
    /// 190 "Requests reached the daily limit": the account's 10,000 calls a day are spent.
    DailyLimit,
    /// 190 "Too many Request": a burst limit.
    TooMany,
    /// 190 otherwise: the command's format or a parameter was refused, or the device failed.
    Invalid,
    Other,
}

/// An envelope whose `statusCode` is not 100: the code and SwitchBot's `message`, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status_code: i64,
    pub message: String,
}

impl ApiError {
    pub fn kind(&self) -> ErrorKind {
        let message = self.message.to_ascii_lowercase();
        match self.status_code {
            151 => ErrorKind::DeviceType,
            152 => ErrorKind::NotFound,
            160 => ErrorKind::Unsupported,
            161 => ErrorKind::DeviceOffline,
            171 => ErrorKind::HubOffline,
            190 if message.contains("daily limit") => ErrorKind::DailyLimit,
            190 if message.contains("too many") => ErrorKind::TooMany,
            190 | 400 => ErrorKind::Invalid,
            _ => ErrorKind::Other,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SwitchBot answered statusCode {}", self.status_code)?;
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

/// A transport error without its URL (a URL names the device).
impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        Error::Transport(err.without_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_has_its_kind() {
        let kind = |code, message: &str| {
            ApiError {
                status_code: code,
                message: message.into(),
            }
            .kind()
        };
        assert_eq!(kind(151, ""), ErrorKind::DeviceType);
        assert_eq!(kind(152, ""), ErrorKind::NotFound);
        assert_eq!(kind(160, "No this command"), ErrorKind::Unsupported);
        assert_eq!(kind(161, ""), ErrorKind::DeviceOffline);
        assert_eq!(kind(171, "The device is offline"), ErrorKind::HubOffline);
        assert_eq!(
            kind(190, "Requests reached the daily limit"),
            ErrorKind::DailyLimit
        );
        assert_eq!(kind(190, "Too many Request"), ErrorKind::TooMany);
        assert_eq!(kind(190, "param is invalid"), ErrorKind::Invalid);
        assert_eq!(kind(999, ""), ErrorKind::Other);
    }
}
