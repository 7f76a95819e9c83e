//! Kii's error bodies, typed.

use serde_json::{Map, Value};

/// What a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value was refused before any request left (`field` breaks `rule`).
    #[error("{field} {rule}")]
    InvalidInput { field: &'static str, rule: String },
    /// The call needs app-admin credentials and the client has none.
    #[error(
        "this call needs app-admin credentials: KiiClient::with_admin(client_id, client_secret)"
    )]
    NoAdminCredentials,
    /// Kii answered with an error body.
    #[error("{0}")]
    Api(Box<KiiError>),
    /// The request did not complete (connection, timeout, TLS).
    #[error("request to Kii failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// A success answer could not be read.
    #[error("unexpected answer from Kii (HTTP {status}): {source}")]
    Decode {
        status: u16,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The Kii error body, when Kii answered with one.
    pub fn api(&self) -> Option<&KiiError> {
        match self {
            Error::Api(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    /// Worth retrying later: a transport failure, or a 5xx / 429 from Kii.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) => true,
            Error::Api(e) => e.status >= 500 || e.status == 429,
            _ => false,
        }
    }
}

/// The error codes lockbridge acts on; anything else is kept as text in [`KiiError::error_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 404 `THING_NOT_FOUND` (`field`/`value`/`app_id` say which).
    ThingNotFound,
    /// 401 `UNAUTHORIZED`: the token is valid but its principal may not do this.
    Unauthorized,
    /// 400 `INVALID_INPUT_DATA`.
    InvalidInputData,
    /// 409 `THING_ALREADY_EXISTS`.
    ThingAlreadyExists,
    /// 400 `invalid_grant` from `oauth2/token`: unknown principal, wrong password or locked.
    InvalidGrant,
    /// 403: the token itself is not valid (expired, revoked, unknown).
    InvalidToken,
    Other,
}

/// An error body as Kii sends it: always `errorCode` and `message` (or, from `oauth2/token`,
/// `error` / `error_description`), plus context fields that depend on the exception.
#[derive(Debug, Clone, Default)]
pub struct KiiError {
    /// The HTTP status (not part of the body).
    pub status: u16,
    pub error_code: String,
    pub message: String,
    /// `thingID` or `vendorThingID`: the field a thing was looked up by.
    pub field: Option<String>,
    pub value: Option<String>,
    pub app_id: Option<String>,
    pub authenticated_app_id: Option<String>,
    /// The user or thing id of the caller that was refused.
    pub authenticated_principal_id: Option<String>,
}

impl KiiError {
    pub fn kind(&self) -> ErrorKind {
        match (self.status, self.error_code.as_str()) {
            (_, "THING_NOT_FOUND") => ErrorKind::ThingNotFound,
            (_, "UNAUTHORIZED") => ErrorKind::Unauthorized,
            (_, "INVALID_INPUT_DATA") => ErrorKind::InvalidInputData,
            (_, "THING_ALREADY_EXISTS") => ErrorKind::ThingAlreadyExists,
            (_, "invalid_grant") => ErrorKind::InvalidGrant,
            (403, _) => ErrorKind::InvalidToken,
            _ => ErrorKind::Other,
        }
    }

    /// Reads an error answer. A body that is not Kii's JSON (a proxy's page, an empty 404 of
    /// an unknown route) still gives an error with the status and no code.
    ///
    /// Read field by field rather than as one struct: token errors may carry both `errorCode`
    /// and `error`, and one odd field must not lose the others.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> KiiError {
        let map: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str))
                .map(str::to_owned)
        };
        let mut err = KiiError {
            status,
            error_code: text(&["errorCode", "error"]).unwrap_or_default(),
            message: text(&["message", "error_description"]).unwrap_or_default(),
            field: text(&["field"]),
            value: text(&["value"]),
            app_id: text(&["appID"]),
            authenticated_app_id: text(&["authenticatedAppID"]),
            authenticated_principal_id: text(&["authenticatedPrincipalID"]),
        };
        if err.message.is_empty() && err.error_code.is_empty() {
            err.message = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        }
        err
    }
}

impl std::fmt::Display for KiiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = if self.error_code.is_empty() {
            "no error code"
        } else {
            &self.error_code
        };
        write!(f, "Kii answered HTTP {} {code}", self.status)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let (Some(field), Some(value)) = (&self.field, &self.value) {
            write!(f, " ({field} = {value})")?;
        }
        Ok(())
    }
}

/// A transport error without its URL: URLs can carry tokens (Tuya's refresh token is in the
/// path), and an error is shown and logged.
impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        Error::Transport(err.without_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_documented_body() {
        let nf = KiiError::from_response(
            404,
            br#"{"errorCode":"THING_NOT_FOUND","message":"m","field":"vendorThingID","value":"v1","appID":"a1"}"#,
        );
        assert_eq!(nf.kind(), ErrorKind::ThingNotFound);
        assert_eq!(
            (
                nf.field.as_deref(),
                nf.value.as_deref(),
                nf.app_id.as_deref()
            ),
            (Some("vendorThingID"), Some("v1"), Some("a1"))
        );
        let un = KiiError::from_response(
            401,
            br#"{"errorCode":"UNAUTHORIZED","message":"m","authenticatedAppID":"a1","authenticatedPrincipalID":"th.1"}"#,
        );
        assert_eq!(un.kind(), ErrorKind::Unauthorized);
        assert_eq!(un.authenticated_principal_id.as_deref(), Some("th.1"));
        let grant = KiiError::from_response(
            400,
            br#"{"error":"invalid_grant","error_description":"The login name is locked"}"#,
        );
        assert_eq!(grant.kind(), ErrorKind::InvalidGrant);
        assert_eq!(grant.message, "The login name is locked");
        let html = KiiError::from_response(404, b"Not Found");
        assert_eq!(
            (html.kind(), html.message.as_str()),
            (ErrorKind::Other, "Not Found")
        );
        assert_eq!(
            KiiError::from_response(403, b"{}").kind(),
            ErrorKind::InvalidToken
        );
    }
}
