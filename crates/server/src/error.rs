//! The one error type of the API: every failure becomes HTTP here and nowhere else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lockbridge_api::{ErrorBody, ErrorDetail};
use lockbridge_app::AppError;
use lockbridge_core::provider::{ErrorKind, ProviderError, error_chain};
use lockbridge_store::StoreError;

tokio::task_local! {
    /// The id of the request being served (set by the request-id middleware).
    pub static REQUEST_ID: String;
}

pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// A failure as HTTP knows it: the application's errors, and the ones only a request can meet.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("a valid API key is required: Authorization: Bearer <key>")]
    Unauthorized,
    #[error("this route needs an admin key")]
    Forbidden,
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
    /// The same request with this `Idempotency-Key` is still being answered.
    #[error(
        "the first request with this Idempotency-Key is still being answered; read its outcome or try again shortly"
    )]
    InProgress,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::App(AppError::Store(e))
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        ApiError::App(AppError::Provider(e))
    }
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::App(AppError::validation(field, message))
    }

    pub fn not_found(what: &'static str) -> Self {
        ApiError::App(AppError::NotFound(what))
    }

    pub fn already_exists(message: impl Into<String>) -> Self {
        ApiError::App(AppError::AlreadyExists {
            message: message.into(),
        })
    }

    pub fn unsupported(what: &'static str) -> Self {
        ApiError::App(AppError::Unsupported(what))
    }

    /// The vendor failure this is, if it is one.
    pub fn provider(&self) -> Option<&ProviderError> {
        match self {
            ApiError::App(AppError::Provider(e)) => Some(e),
            _ => None,
        }
    }

    /// HTTP status and stable code.
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::App(e) => (app_status(e), e.code()),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            ApiError::RequestTimeout => (StatusCode::SERVICE_UNAVAILABLE, "request_timeout"),
            ApiError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::LastAdminKey => (StatusCode::CONFLICT, "last_admin_key"),
            ApiError::InProgress => (StatusCode::CONFLICT, "request_in_progress"),
        }
    }

    /// What a client is told: the application's public message, or the error itself.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::App(e) => e.public_message(),
            other => other.to_string(),
        }
    }
}

impl ApiError {
    /// Logs what the client is not told: a vendor's own words, a server-side cause.
    pub fn log(&self, request_id: &str) {
        match self {
            ApiError::App(AppError::Provider(e)) => tracing::warn!(
                request_id = %request_id,
                provider = %e.provider,
                provider_code = e.code.as_deref().unwrap_or("-"),
                error = %error_chain(e),
                "vendor call failed"
            ),
            ApiError::App(AppError::Store(err)) if self.status_code().0.is_server_error() => {
                tracing::error!(request_id = %request_id, error = %error_chain(err), "internal error")
            }
            _ => {}
        }
    }
}

/// The HTTP status of each application error.
fn app_status(e: &AppError) -> StatusCode {
    match e {
        AppError::Validation { .. } => StatusCode::BAD_REQUEST,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::AlreadyExists { .. } | AppError::Store(StoreError::Conflict(_)) => {
            StatusCode::CONFLICT
        }
        AppError::Unsupported(_) | AppError::SharedCodeImpossible { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        AppError::NeedsReauth => StatusCode::BAD_GATEWAY,
        AppError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        AppError::AmbiguousConnection { .. } => StatusCode::CONFLICT,
        AppError::Provider(e) => match e.kind {
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::AlreadyExists | ErrorKind::DeviceBusy | ErrorKind::Jammed => {
                StatusCode::CONFLICT
            }
            ErrorKind::CapacityReached
            | ErrorKind::RejectedCredentials
            | ErrorKind::Unsupported => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::AuthFailed | ErrorKind::Unavailable | ErrorKind::Failed => {
                StatusCode::BAD_GATEWAY
            }
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::DeviceOffline | ErrorKind::GatewayOffline => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
        },
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
        self.log(&id);
        match &self {
            ApiError::App(AppError::Validation { field, message }) => {
                error.field = Some(field.clone());
                error.message = format!("{field}: {message}");
            }
            ApiError::App(AppError::Provider(e)) => {
                // The client gets a fixed message for the kind of failure and the vendor's code.
                error.provider = Some(e.provider);
                error.provider_code = e.code.clone();
                error.field = e.field.map(str::to_owned);
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
        if let Some(ProviderError {
            retry_after: Some(s),
            ..
        }) = self.provider()
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<lockbridge_app::engine::EngineError> for ApiError {
    fn from(e: lockbridge_app::engine::EngineError) -> Self {
        ApiError::App(e.into())
    }
}
