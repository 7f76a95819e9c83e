//! lockbridge's HTTP service: the API, authentication in extractors, errors mapped in one
//! place, and the workers (token renewal, code engine).
//!
//! The app is built from a store and settings and served on a listener it is given, stopped by
//! a cancellation token it is given: no global state, so a test can run several in one process.

pub mod api;
pub mod console;
pub mod edge;
pub mod engine;
pub mod error;
pub mod extract;
pub mod grants;
pub mod idempotency;
pub mod ingest;
pub mod jobs;
pub mod lock_cache;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod reconcile;
pub mod routes;
pub mod schema;
pub mod service;
pub mod state;
pub mod webhooks;
pub mod workers;

use std::sync::Arc;

use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Html;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use lockbridge_core::budgets::{Budgets, LocalBudgets};
use lockbridge_core::metrics::VendorCalls;
use lockbridge_core::provider::{TokenSink, TokenUpdate};
use lockbridge_core::time::Clock;
use lockbridge_store::{Dialect, SharedBudgets, Store};
use lockbridge_vendors::pace::Pace;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use state::{AppState, Providers, Settings};

/// The service, ready to serve.
#[derive(Debug, Clone)]
pub struct App {
    pub state: AppState,
}

impl App {
    /// Builds the service with the built-in vendor adapters. Must be called inside a Tokio
    /// runtime: renewed vendor tokens are persisted by a background task.
    pub fn new(store: Store, settings: Settings) -> App {
        let calls = Arc::new(VendorCalls::default());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<TokenUpdate>();
        let sink: TokenSink = Arc::new(move |update| {
            let _ = tx.send(update);
        });
        let mut providers = Providers::default();
        let clock = Arc::new(Clock::default());
        // Several instances share a PostgreSQL database, and their vendor budgets with it; a
        // SQLite database has one instance, whose budgets stay in memory.
        let budgets: Arc<dyn Budgets> = match store.dialect() {
            Dialect::Postgres => Arc::new(SharedBudgets::new(store.clone(), clock.clone())),
            Dialect::Sqlite => Arc::new(LocalBudgets::new(clock.clone())),
        };
        let cx = lockbridge_vendors::Context {
            tokens: sink,
            calls: calls.clone(),
            operation_poll: settings.operation_poll,
            request_timeout: settings.vendor_request_timeout,
            pace: Arc::new(Pace::new(
                budgets,
                settings.vendor_rates.clone(),
                settings.budget_wait,
            )),
            stored: {
                let store = store.clone();
                Arc::new(move |id| {
                    let store = store.clone();
                    Box::pin(async move { store.connection_by_id(id).await.ok().flatten() })
                })
            },
        };
        for vendor in lockbridge_vendors::builtin(&cx) {
            providers.insert(vendor);
        }
        let persist = store.clone();
        tokio::spawn(async move {
            while let Some(u) = rx.recv().await {
                if let Err(e) = persist
                    .store_tokens(u.connection_id, &u.tokens, u.expires_at)
                    .await
                {
                    tracing::error!(connection = %u.connection_id, error = %lockbridge_core::provider::error_chain(&e), "could not persist renewed tokens");
                }
            }
        });
        App::build(store, settings, providers, calls, clock)
    }

    /// Builds the service with the given adapters.
    pub fn with_providers(
        store: Store,
        settings: Settings,
        providers: Providers,
        calls: Arc<VendorCalls>,
    ) -> App {
        App::build(store, settings, providers, calls, Arc::default())
    }

    fn build(
        store: Store,
        settings: Settings,
        providers: Providers,
        calls: Arc<VendorCalls>,
        clock: Arc<Clock>,
    ) -> App {
        let lock_cache_ttl = settings.lock_cache_ttl;
        let sender = Arc::new(webhooks::Sender::new(&settings));
        let state = AppState {
            store,
            providers,
            keys: Arc::new(state::KeyCache::new(settings.key_cache_ttl)),
            code_reads: Arc::new(state::CodeReads::new(settings.found_codes_interval)),
            calls,
            settings: Arc::new(settings),
            http: Arc::default(),
            locks: Arc::new(lock_cache::LockCache::new(lock_cache_ttl)),
            clock,
            webhooks: sender,
        };
        App { state }
    }

    /// Every operation, registered once: the router and `/openapi.json` both come from it.
    pub fn api() -> api::Api {
        let docs = api::Api::new("documentation")
            .get(
                "/openapi.json",
                get(|| async { Json(openapi_document().clone()) }),
                api::Op::new(api::Access::Public, "This document").returns(200, "OpenApiDocument"),
            )
            .get(
                "/docs",
                get(|| async { Html(openapi::DOCS_HTML) }),
                api::Op::new(api::Access::Public, "The API, rendered").returns(200, "Html"),
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
            .merge(docs)
    }

    pub fn router(&self) -> Router {
        self.wrap(App::api().router.merge(console::router()))
    }

    /// `routes` behind the edge's layers, with request ids and metrics: what `serve` serves
    /// (tests wrap routes of their own the same way).
    pub fn wrap(&self, routes: Router<AppState>) -> Router {
        let routes = routes
            .layer(middleware::from_fn_with_state(
                self.state.clone(),
                idempotency::replay,
            ))
            .fallback(|| async { error::ApiError::NotFound("route") })
            .with_state(self.state.clone());
        edge::layers(routes, &self.state.settings.edge)
            .layer(middleware::from_fn_with_state(self.state.clone(), observe))
    }

    /// Serves on `listener` and runs the workers until `stop` is cancelled.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> std::io::Result<()> {
        let workers = tokio::spawn(workers::run(
            self.state.clone(),
            self.state.settings.worker_interval,
            stop.clone(),
        ));
        let deliveries = tokio::spawn(workers::run_webhooks(self.state.clone(), stop.clone()));
        let jobs = tokio::spawn(workers::run_jobs(self.state.clone(), stop.clone()));
        let limits = self.state.settings.edge.clone();
        edge::serve(self.router(), listener, &limits, stop.clone()).await?;
        stop.cancel();
        // A worker in the middle of a vendor call is not waited for past the grace period:
        // its leases hand the work to whichever instance runs next.
        let _ = tokio::time::timeout(limits.shutdown_grace, async {
            let _ = tokio::join!(workers, deliveries, jobs);
        })
        .await;
        Ok(())
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
    DOC.get_or_init(|| openapi::document(&App::api().ops))
}
