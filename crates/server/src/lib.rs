//! lockbridge's HTTP service: the API, the console, authentication in extractors, the edge,
//! and errors mapped to HTTP in one place. What the service does is `lockbridge-app`'s; this
//! crate serves it (and runs its workers).
//!
//! The app is built from a store and settings and served on a listener it is given, stopped by
//! a cancellation token it is given: no global state, so a test can run several in one process.

pub mod api;
pub mod console;
pub mod edge;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod routes;
pub mod schema;
pub mod seam;
pub mod state;
pub mod views;

use std::sync::Arc;

use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Html;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use lockbridge_app::workers;
use lockbridge_core::metrics::VendorCalls;
use lockbridge_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use lockbridge_app::{Providers, Service, Settings};
pub use state::AppState;

/// The service, ready to serve.
#[derive(Debug, Clone)]
pub struct App {
    pub state: AppState,
}

impl App {
    /// Builds the service with the built-in vendor adapters. Must be called inside a Tokio
    /// runtime: renewed vendor tokens are persisted by a background task.
    pub fn new(store: Store, settings: Settings) -> App {
        App::over(Service::new(store, settings))
    }

    /// Builds the service with the given adapters.
    pub fn with_providers(
        store: Store,
        settings: Settings,
        providers: Providers,
        calls: Arc<VendorCalls>,
    ) -> App {
        App::over(Service::with_providers(store, settings, providers, calls))
    }

    /// HTTP over the application `app`, with the edge's default limits.
    pub fn over(app: Service) -> App {
        let state = AppState {
            keys: Arc::new(state::KeyCache::new(app.settings.key_cache_ttl)),
            app,
            http: Arc::default(),
            edge: Arc::default(),
        };
        App { state }
    }

    /// The same service with the edge held to `limits`.
    pub fn with_edge(mut self, limits: edge::EdgeLimits) -> App {
        self.state.edge = Arc::new(limits);
        self
    }

    /// Every operation, registered once: the router and `/openapi.json` both come from it.
    pub fn api() -> api::Api {
        let docs = api::Api::new("documentation")
            .get(
                "/openapi.json",
                get(|| async { Json(openapi_document().clone()) }),
                api::Op::new(api::Access::Public, "This document")
                    .returns::<crate::schema::OpenApiDocument>(200),
            )
            .get(
                "/docs",
                get(|| async { Html(openapi::DOCS_HTML) }),
                api::Op::new(api::Access::Public, "The API, rendered")
                    .returns::<crate::schema::Html>(200),
            );
        api::Api::new("")
            .merge(routes::system::router())
            .merge(routes::api_keys::router())
            .merge(routes::bff::router())
            .merge(routes::connections::router())
            .merge(routes::things::router())
            .merge(routes::locks::router())
            .merge(routes::access_codes::router())
            .merge(routes::events::router())
            .merge(routes::grants::router())
            .merge(routes::jobs::router())
            .merge(routes::webhooks::router())
            .merge(routes::vendor_hooks::router())
            .merge(routes::stays::router())
            .merge(docs)
    }

    pub fn router(&self) -> Router {
        self.wrap(
            App::api()
                .router
                .merge(console::router())
                .merge(seam::router()),
        )
    }

    /// `routes` behind the edge's layers, with request ids and metrics: what `serve` serves
    /// (tests wrap routes of their own the same way).
    pub fn wrap(&self, routes: Router<AppState>) -> Router {
        let routes = routes
            .layer(middleware::from_fn_with_state(
                self.state.clone(),
                idempotency::replay,
            ))
            .fallback(|| async { error::ApiError::not_found("route") })
            .with_state(self.state.clone());
        edge::layers(routes, &self.state.edge)
            .layer(middleware::from_fn_with_state(self.state.clone(), observe))
    }

    /// Serves the API on `listener` and runs the workers until `stop` is cancelled.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> std::io::Result<()> {
        self.serve_as(InstanceRole::All, listener, stop).await
    }

    /// Runs what `role` says until `stop` is cancelled: the API on `listener` (a worker-only
    /// instance answers there only its health and metrics), and the workers.
    pub async fn serve_as(
        self,
        role: InstanceRole,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> std::io::Result<()> {
        let app = &self.state.app;
        let mut running = Vec::new();
        if role.runs_workers() {
            running.push(tokio::spawn(workers::run(
                app.clone(),
                app.settings.worker_interval,
                stop.clone(),
            )));
            running.push(tokio::spawn(workers::run_webhooks(
                app.clone(),
                stop.clone(),
            )));
            running.push(tokio::spawn(workers::run_jobs(app.clone(), stop.clone())));
        }
        let router = if role.runs_api() {
            self.router()
        } else {
            self.wrap(routes::system::router().router)
        };
        let limits = (*self.state.edge).clone();
        edge::serve(router, listener, &limits, stop.clone()).await?;
        stop.cancel();
        // A worker in the middle of a vendor call is not waited for past the grace period:
        // its leases hand the work to whichever instance runs next.
        let _ = tokio::time::timeout(limits.shutdown_grace, async {
            for worker in running {
                let _ = worker.await;
            }
        })
        .await;
        Ok(())
    }
}

/// What one instance runs. Instances on one PostgreSQL database share the work whatever their
/// roles: an `api` instance works a request's own change at once and leaves retries,
/// schedules, syncs and deliveries to the instances that run the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceRole {
    /// The HTTP API and the console, no workers.
    Api,
    /// The workers; HTTP answers only `/healthz`, `/readyz` and `/metrics`.
    Workers,
    #[default]
    All,
}

impl InstanceRole {
    pub fn runs_api(self) -> bool {
        self != InstanceRole::Workers
    }

    pub fn runs_workers(self) -> bool {
        self != InstanceRole::Api
    }
}

impl std::str::FromStr for InstanceRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "api" => Ok(InstanceRole::Api),
            "workers" => Ok(InstanceRole::Workers),
            "all" => Ok(InstanceRole::All),
            other => Err(format!("{other:?} is not a role: api, workers or all")),
        }
    }
}

/// Gives every request an id (the caller's `x-request-id`, or a new one), echoes it, and
/// counts the request by route and status.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 100)
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = error::REQUEST_ID.scope(id.clone(), next.run(req)).await;
    state.http.record(&route, response.status().as_u16());
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// The OpenAPI document, built once from [`App::api`].
pub fn openapi_document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        // The document names the vendors this build speaks.
        lockbridge_vendors::register();
        openapi::document(&App::api().ops)
    })
}
