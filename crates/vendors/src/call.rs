//! The one way an adapter calls its vendor. Every call on a connection is paced on the
//! account's budget, counted under its route, bounded in time and its error mapped by the
//! adapter's rule, the same way for every vendor; an adapter only names the route and hands
//! over its client's future.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lockbridge_core::ids::ConnectionId;
use lockbridge_core::metrics::VendorCalls;
use lockbridge_core::model::Provider;
use lockbridge_core::provider::{ErrorKind, ProviderError, ProviderResult};

use crate::Context;
use crate::pace::Pace;

/// How one vendor's calls are made: `E` is its client's error, mapped to lockbridge's by the
/// adapter's `map_err` (with `false`: a failure of stored credentials is `AuthFailed`).
pub struct Calls<E> {
    provider: Provider,
    pace: Arc<Pace>,
    meter: Arc<VendorCalls>,
    /// The longest a whole call may take, its client's retries and token renewal included
    /// (each request of it is bounded by the client's own timeout too).
    deadline: Duration,
    /// Whether each call is taken from the account's budget here; `false` for a client that
    /// takes every one of its requests from the budget itself (through [`Pace::gate`]).
    paced: bool,
    map_err: fn(E, bool) -> ProviderError,
}

impl<E> std::fmt::Debug for Calls<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls")
            .field("provider", &self.provider)
            .field("deadline", &self.deadline)
            .field("paced", &self.paced)
            .finish_non_exhaustive()
    }
}

impl<E> Calls<E> {
    /// `provider`'s calls on the service's budgets and meter. A call may take three requests'
    /// time (a refused token, its renewal, the request again).
    pub fn new(cx: &Context, provider: Provider, map_err: fn(E, bool) -> ProviderError) -> Self {
        Calls {
            provider,
            pace: cx.pace.clone(),
            meter: cx.calls.clone(),
            deadline: cx.request_timeout * 3,
            paced: true,
            map_err,
        }
    }

    /// Calls whose client paces each of its own requests.
    pub fn paced_by_client(mut self) -> Self {
        self.paced = false;
        self
    }

    /// Calls that may take `extra` longer than three requests (an operation followed until the
    /// lock reports it).
    pub fn longer_by(mut self, extra: Duration) -> Self {
        self.deadline += extra;
        self
    }

    /// One call on `conn`, counted under `route`.
    pub async fn run<T>(
        &self,
        conn: ConnectionId,
        route: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> ProviderResult<T> {
        if self.paced {
            self.pace.request(self.provider, conn).await?;
        }
        self.meter.count(conn, self.provider, route);
        self.bounded(route, call, false).await.inspect_err(|e| {
            tracing::debug!(connection = %conn, provider = %self.provider, route, kind = ?e.kind,
                "a vendor call failed");
        })
    }

    /// A credential check before there is a connection: not on any account's budget, and a
    /// refusal is of the credentials given (`RejectedCredentials`).
    pub async fn verify<T>(
        &self,
        route: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> ProviderResult<T> {
        self.bounded(route, call, true).await
    }

    async fn bounded<T>(
        &self,
        route: &'static str,
        call: impl Future<Output = Result<T, E>>,
        verifying: bool,
    ) -> ProviderResult<T> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(result) => result.map_err(|e| (self.map_err)(e, verifying)),
            // The call was abandoned: whether it took effect is unknown, as for any timeout.
            Err(_) => Err(ProviderError::new(
                self.provider,
                ErrorKind::Timeout,
                format!(
                    "{route} took longer than {} s",
                    self.deadline.as_secs_f32().ceil()
                ),
            )),
        }
    }
}
