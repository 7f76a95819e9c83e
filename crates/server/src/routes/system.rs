//! Health, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use lockbridge_api::Status;

use crate::api::{Access, Api, Op};
use crate::state::AppState;

pub fn router() -> Api {
    let healthz = get(|| async { axum::Json(status("ok")) });
    Api::new("system")
        .get(
            "/healthz",
            healthz,
            Op::new(Access::Public, "Liveness").returns::<lockbridge_api::Status>(200),
        )
        .get(
            "/readyz",
            get(readyz),
            Op::new(Access::Public, "Readiness: the database answers")
                .returns::<lockbridge_api::Status>(200)
                .also::<lockbridge_api::Status>(503),
        )
        .get(
            "/metrics",
            get(metrics),
            Op::new(Access::Public, "Prometheus metrics").returns::<crate::schema::Metrics>(200),
        )
}

fn status(text: &str) -> Status {
    Status {
        status: text.to_owned(),
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(status("ready"))),
        Err(err) => {
            tracing::warn!(error = %lockbridge_core::provider::error_chain(&err), "database not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(status("database unavailable")),
            )
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&state),
    )
}
