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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use lockbridge_core::budgets::{LocalBudgets, Rate};
    use lockbridge_core::model::VendorNames;
    use lockbridge_core::provider::NoTokenStore;

    use super::*;

    const P: Provider = Provider::named(&VendorNames {
        id: "acme",
        label: "Acme",
    });

    #[derive(Debug)]
    struct Refused;

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("refused")
        }
    }

    fn map_err(_: Refused, verifying: bool) -> ProviderError {
        let kind = if verifying {
            ErrorKind::RejectedCredentials
        } else {
            ErrorKind::AuthFailed
        };
        ProviderError::new(P, kind, "refused")
    }

    fn context(rates: HashMap<Provider, Rate>) -> Context {
        Context {
            tokens: Arc::new(NoTokenStore),
            calls: Arc::default(),
            operation_poll: Duration::from_millis(10),
            request_timeout: Duration::from_secs(2),
            pace: Arc::new(Pace::new(
                Arc::new(LocalBudgets::default()),
                rates,
                Duration::ZERO,
            )),
        }
    }

    #[tokio::test]
    async fn a_call_is_counted_under_its_route_and_its_error_mapped() {
        let cx = context(HashMap::new());
        let calls = Calls::new(&cx, P, map_err);
        let conn = ConnectionId::new();
        assert_eq!(
            calls
                .run(conn, "things", async { Ok::<_, Refused>(7) })
                .await
                .ok(),
            Some(7)
        );
        let err = calls
            .run(conn, "things", async { Err::<(), _>(Refused) })
            .await
            .expect_err("refused");
        assert_eq!(err.kind, ErrorKind::AuthFailed);
        assert_eq!(cx.calls.get(conn, "things"), 2);
        // A credential check: the refusal is of the credentials given, and no account pays.
        let err = calls
            .verify("token", async { Err::<(), _>(Refused) })
            .await
            .expect_err("refused");
        assert_eq!(err.kind, ErrorKind::RejectedCredentials);
        assert_eq!(cx.calls.snapshot().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_outlives_its_deadline_is_a_timeout() {
        let cx = context(HashMap::new());
        let calls = Calls::new(&cx, P, map_err);
        let hung = std::future::pending::<Result<(), Refused>>();
        let err = calls
            .run(ConnectionId::new(), "devices", hung)
            .await
            .expect_err("abandoned");
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert!(
            err.to_string().contains("devices took longer than 6 s"),
            "{err}"
        );
        // An operation followed until the lock reports it may take longer.
        let slow = async {
            tokio::time::sleep(Duration::from_secs(20)).await;
            Ok::<_, Refused>(())
        };
        let longer = Calls::new(&cx, P, map_err).longer_by(Duration::from_secs(30));
        assert!(
            longer
                .run(ConnectionId::new(), "operation", slow)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn each_call_spends_the_account_budget_unless_the_client_paces_itself() {
        let cx = context(HashMap::from([(P, Rate::per_hour(1))]));
        let conn = ConnectionId::new();
        let calls = Calls::new(&cx, P, map_err);
        assert!(
            calls
                .run(conn, "a", async { Ok::<_, Refused>(()) })
                .await
                .is_ok()
        );
        let err = calls
            .run(conn, "a", async { Ok::<_, Refused>(()) })
            .await
            .expect_err("the hour's one request is spent");
        assert_eq!(err.kind, ErrorKind::RateLimited);
        assert!(err.retry_after.is_some());
        // Not sent, not counted.
        assert_eq!(cx.calls.get(conn, "a"), 1);
        let by_client = Calls::new(&cx, P, map_err).paced_by_client();
        assert!(
            by_client
                .run(conn, "a", async { Ok::<_, Refused>(()) })
                .await
                .is_ok()
        );
    }
}
