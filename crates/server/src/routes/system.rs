//! Health, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::api::{Access, Api, Op};
use crate::state::AppState;

pub fn router() -> Api {
    let healthz = get(|| async { axum::Json(json!({ "status": "ok" })) });
    Api::new("system")
        .get(
            "/healthz",
            healthz,
            Op::new(Access::Public, "Liveness").returns(200, "Status"),
        )
        .get(
            "/readyz",
            get(readyz),
            Op::new(Access::Public, "Readiness: the database answers").returns(200, "Status"),
        )
        .get(
            "/metrics",
            get(metrics),
            Op::new(Access::Public, "Prometheus metrics").returns(200, "Metrics"),
        )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ready" }))),
        Err(err) => {
            tracing::warn!(error = %lockbridge_core::provider::error_chain(&err), "database not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "database unavailable" })),
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
