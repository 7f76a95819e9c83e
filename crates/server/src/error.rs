//! The one error type of the API: every failure becomes HTTP here and nowhere else.

use crate::schema::{ErrorBody, ErrorDetail};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lockbridge_core::provider::{ErrorKind, ProviderError, error_chain};
use lockbridge_store::StoreError;

tokio::task_local! {
    /// The id of the request being served (set by the request-id middleware).
    pub static REQUEST_ID: String;
}

pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field} {message}")]
    Validation { field: String, message: String },
    #[error("a valid API key is required: Authorization: Bearer <key>")]
    Unauthorized,
    #[error("this route needs an admin key")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    AlreadyExists { message: String },
    #[error("this lock cannot {0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("the stored credentials of this connection no longer work; update them")]
    NeedsReauth,
    #[error("internal error")]
    Store(#[from] StoreError),
    /// A bug (a handler panicked); the cause is in the log.
    #[error("internal error")]
    Internal,
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("the request body is larger than this route takes (1 MiB; 16 MiB for /v1/jobs)")]
    TooLarge,
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error(
        "the request could not be answered in time; it may have taken effect, read before retrying"
    )]
    RequestTimeout,
    #[error(
        "this Idempotency-Key was used for another request (route, lock or body); use a new key"
    )]
    IdempotencyKeyReused,
    #[error("an organisation keeps at least one admin key; create another admin key first")]
    LastAdminKey,
    /// A grant's locks cannot share one PIN, and the grant asked for one.
    #[error("{message}")]
    SharedCodeImpossible { message: String },
    /// The same request with this `Idempotency-Key` is still being answered.
    #[error(
        "the first request with this Idempotency-Key is still being answered; read its outcome or try again shortly"
    )]
    InProgress,
    /// A request that names no connection, where the organisation has several that fit.
    #[error("{message}")]
    AmbiguousConnection { message: String },
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// HTTP status and stable code.
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Validation { .. } => (StatusCode::BAD_REQUEST, "validation_failed"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::AlreadyExists { .. } => (StatusCode::CONFLICT, "already_exists"),
            ApiError::Unsupported(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_supported"),
            ApiError::NeedsReauth => (StatusCode::BAD_GATEWAY, "provider_auth_failed"),
            ApiError::Store(StoreError::Conflict(_)) => (StatusCode::CONFLICT, "already_exists"),
            ApiError::Store(_) | ApiError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::RequestTimeout => (StatusCode::SERVICE_UNAVAILABLE, "request_timeout"),
            ApiError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::LastAdminKey => (StatusCode::CONFLICT, "last_admin_key"),
            ApiError::InProgress => (StatusCode::CONFLICT, "request_in_progress"),
            ApiError::AmbiguousConnection { .. } => (StatusCode::CONFLICT, "ambiguous_connection"),
            ApiError::SharedCodeImpossible { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "shared_code_impossible")
            }
            ApiError::Provider(e) => match e.kind {
                ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "validation_failed"),
                ErrorKind::AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
                ErrorKind::DeviceBusy => (StatusCode::CONFLICT, "device_busy"),
                ErrorKind::CapacityReached => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "capacity_reached")
                }
                ErrorKind::RejectedCredentials => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "provider_rejected_credentials",
                ),
                ErrorKind::AuthFailed => (StatusCode::BAD_GATEWAY, "provider_auth_failed"),
                ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
                ErrorKind::DeviceOffline => (StatusCode::SERVICE_UNAVAILABLE, "device_offline"),
                ErrorKind::GatewayOffline => (StatusCode::SERVICE_UNAVAILABLE, "gateway_offline"),
                ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "provider_forbidden"),
                ErrorKind::Jammed => (StatusCode::CONFLICT, "device_jammed"),
                ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "provider_timeout"),
                ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                ErrorKind::Unsupported => (StatusCode::UNPROCESSABLE_ENTITY, "not_supported"),
                ErrorKind::Unavailable | ErrorKind::Failed => {
                    (StatusCode::BAD_GATEWAY, "provider_error")
                }
            },
        }
    }
}

/// What a client is told about a vendor failure: a fixed sentence for its kind. Failures
/// lockbridge itself words (no vendor code: a lock's capacity, what it cannot do) keep their
/// message.
fn client_message(e: &ProviderError) -> String {
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

impl ApiError {
    /// What a client (or a stored `last_error`) is told: for vendor failures a fixed sentence per
    /// kind (the vendor's words go to the log only), for everything else the error itself.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Provider(e) => client_message(e),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        let id = request_id();
        let mut error = ErrorDetail {
            code: code.to_owned(),
            message: self.public_message(),
            field: None,
            provider: None,
            provider_code: None,
            request_id: id.clone(),
        };
        match &self {
            ApiError::Validation { field, message } => {
                error.field = Some(field.clone());
                error.message = format!("{field}: {message}");
            }
            ApiError::Provider(e) => {
                // The vendor's own words go to the log; the client gets a fixed message for
                // the kind of failure and the vendor's code.
                tracing::warn!(
                    request_id = %id,
                    provider = %e.provider,
                    provider_code = e.code.as_deref().unwrap_or("-"),
                    error = %error_chain(e),
                    "vendor call failed"
                );
                error.provider = Some(e.provider);
                error.provider_code = e.code.clone();
                error.field = e.field.map(str::to_owned);
            }
            ApiError::Store(err) if status.is_server_error() => {
                // The cause is logged, never sent.
                tracing::error!(request_id = %id, error = %error_chain(err), "internal error");
            }
            _ => {}
        }
        let mut response = (
            status,
            axum::Json(ErrorBody {
                success: false,
                error,
            }),
        )
            .into_response();
        if let ApiError::Provider(ProviderError {
            retry_after: Some(s),
            ..
        }) = &self
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
