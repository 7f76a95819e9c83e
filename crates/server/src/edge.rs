//! The HTTP edge: what every connection and request is held to before a handler sees it.
//!
//! Connections are served by hyper's HTTP/1 server with a header-read timeout (which also
//! closes a keep-alive connection left idle that long), at most `max_connections` at once, and
//! a graceful shutdown that lets requests in flight finish within `shutdown_grace`. Requests
//! pass tower-http's layers: a panic answers 500 with the error body, a body must arrive whole
//! within `body_timeout` and be at most `max_body` bytes, and a request has `request_timeout` to be
//! answered. Answers those layers (and the router's 405) give without a body get lockbridge's
//! error body.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;

/// Limits of the HTTP edge.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// A request's headers must arrive within this; an idle keep-alive connection is closed
    /// after it too.
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this.
    pub body_timeout: Duration,
    /// A request must be answered within this (503 `request_timeout` otherwise).
    pub request_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// The largest request body, in bytes (413 above it).
    pub max_body: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
            max_body: 1 << 20,
        }
    }
}

/// The connections to serve at once under an open-file limit of `open_files`: at most
/// `wanted`, and always a reserve of descriptors below the limit (an eighth of it, at least
/// 64) for the database, vendor calls, webhooks and logs, so that clients holding connections
/// cannot starve those.
pub fn connection_cap(open_files: u64, wanted: usize) -> usize {
    let reserve = (open_files / 8).max(64);
    let room = usize::try_from(open_files.saturating_sub(reserve)).unwrap_or(usize::MAX);
    wanted.min(room.max(8))
}

/// Wraps `router` in the request layers of the edge.
pub fn layers(router: Router, limits: &EdgeLimits) -> Router {
    router
        .layer(middleware::from_fn(error_bodies))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            limits.body_timeout,
            body_deadline,
        ))
        .layer(DefaultBodyLimit::max(limits.max_body))
        .layer(CatchPanicLayer::custom(panicked))
}

/// A request's body must arrive whole within `limit` of its headers (a body trickled a byte at
/// a time cannot hold the connection longer): past it, reading the body fails and the request
/// answers 408 `body_timeout`.
async fn body_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    let empty = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0")
        || (!req.headers().contains_key(header::CONTENT_LENGTH)
            && !req.headers().contains_key(header::TRANSFER_ENCODING));
    if empty {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let deadline = Box::pin(tokio::time::sleep(limit));
    let frames = futures_util::stream::unfold(
        (body.into_data_stream(), deadline, false),
        |(mut frames, mut deadline, over)| async move {
            if over {
                return None;
            }
            tokio::select! {
                frame = futures_util::StreamExt::next(&mut frames) => {
                    frame.map(|f| (f.map_err(axum::BoxError::from), (frames, deadline, false)))
                }
                () = &mut deadline => {
                    let late: axum::BoxError = "the request body did not arrive in time".into();
                    Some((Err(late), (frames, deadline, true)))
                }
            }
        },
    );
    next.run(Request::from_parts(
        parts,
        axum::body::Body::from_stream(frames),
    ))
    .await
}

/// A panic is a bug: it is logged with its message and answered 500 with the error body.
fn panicked(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a handler panicked");
    ApiError::Internal.into_response()
}

/// Gives the error body to answers that the layers or the router produce without one.
async fn error_bodies(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let error = match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::RequestTimeout,
        _ => return response,
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut answer = error.into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets requests in flight finish
/// within the grace period.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: &EdgeLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or the peer left before the accept: wait a
                    // little and go on (idle connections are closed by their own timeouts).
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // An answer is written whole as soon as it is ready: without this, the part of a large
        // one that did not fit the socket's first send buffer waits for the peer's ACK (Nagle).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(router.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %lockbridge_core::provider::error_chain(&e), "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("the shutdown grace period is over; connections still open are dropped");
        }
    }
    Ok(())
}

#[cfg(test)]
mod cap_tests {
    use super::connection_cap;

    #[test]
    fn the_connection_cap_keeps_a_reserve_below_the_open_file_limit() {
        assert_eq!(connection_cap(1024, 4096), 896);
        assert_eq!(connection_cap(256, 4096), 192);
        assert_eq!(connection_cap(1 << 20, 4096), 4096);
        assert_eq!(connection_cap(1024, 100), 100);
        assert_eq!(connection_cap(16, 4096), 8, "a few, however low the limit");
    }
}
