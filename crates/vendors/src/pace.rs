//! How adapters spend vendor budgets: a request on an account takes from its rate budget, a
//! command through a TTLock gateway takes the gateway's turn. The budgets themselves are the
//! service's ([`Budgets`]): in the database when several instances share it, so that together
//! they stay inside what the vendor allows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lockbridge_core::budgets::{Budgets, LocalBudgets, Rate};
use lockbridge_core::ids::ConnectionId;
use lockbridge_core::model::Provider;
use lockbridge_core::provider::{ErrorKind, ProviderError, ProviderResult};

/// How often a caller waiting for a device's turn looks again, at first and at most.
const TURN_POLL: (Duration, Duration) = (Duration::from_millis(20), Duration::from_millis(250));

pub struct Pace {
    budgets: Arc<dyn Budgets>,
    rates: std::sync::RwLock<HashMap<Provider, Rate>>,
    max_wait: Duration,
    holder: String,
    /// This instance's callers queue here for a device first, so a turn passes between them
    /// at once; only other instances' turns are waited for by looking again.
    queues: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pace")
            .field("rates", &self.rates)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl Default for Pace {
    /// In-process budgets, no configured rates, waits of up to 10 s.
    fn default() -> Self {
        Pace::new(
            Arc::new(LocalBudgets::default()),
            HashMap::new(),
            Duration::from_secs(10),
        )
    }
}

impl Pace {
    /// `rates`: the rate of each account of a vendor (Tedee's is its limit; TTLock and Tuya
    /// have none unless configured). `max_wait`: the longest a call waits for its budget before
    /// it answers `rate_limited` (workers try again later; an API caller is told when).
    pub fn new(
        budgets: Arc<dyn Budgets>,
        rates: HashMap<Provider, Rate>,
        max_wait: Duration,
    ) -> Pace {
        let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Pace {
            budgets,
            rates: std::sync::RwLock::new(rates),
            max_wait,
            holder,
            queues: std::sync::Mutex::default(),
        }
    }

    pub fn rate(&self, provider: Provider) -> Option<Rate> {
        let rates = self.rates.read().unwrap_or_else(|e| e.into_inner());
        rates.get(&provider).copied()
    }

    /// `provider`'s rate when none was configured (the vendor's own limit).
    pub fn default_rate(&self, provider: Provider, rate: Rate) {
        let mut rates = self.rates.write().unwrap_or_else(|e| e.into_inner());
        rates.entry(provider).or_insert(rate);
    }

    fn key(provider: Provider, conn: ConnectionId) -> String {
        format!("{provider}:{conn}")
    }

    /// One request on `conn`'s account: taken from its budget when the vendor has a rate,
    /// waited for up to the longest wait.
    pub async fn request(&self, provider: Provider, conn: ConnectionId) -> ProviderResult<()> {
        let Some(rate) = self.rate(provider) else {
            return Ok(());
        };
        self.take(provider, &Self::key(provider, conn), rate)
            .await
            .map_err(|wait| {
                let mut e = ProviderError::new(
                    provider,
                    ErrorKind::RateLimited,
                    format!("the account's budget of {rate} is spent"),
                );
                e.retry_after = Some(wait.as_secs().max(1));
                e
            })
    }

    /// Takes one request from `key`, or answers how long the caller would still have to wait.
    async fn take(&self, provider: Provider, key: &str, rate: Rate) -> Result<(), Duration> {
        let mut waited = Duration::ZERO;
        loop {
            let wait = match self.budgets.take(key, rate).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => wait,
                Err(e) => {
                    tracing::warn!(%provider, error = %e, "the shared budget could not be read; trying again");
                    Duration::from_millis(500)
                }
            };
            if waited + wait > self.max_wait {
                return Err(wait);
            }
            tracing::debug!(%provider, ?wait, "pacing to the vendor's budget");
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// The vendor answered "too many requests, retry after `wait`": every instance holds back.
    pub async fn retry_after(&self, provider: Provider, conn: ConnectionId, wait: Duration) {
        if let Err(e) = self.budgets.pause(&Self::key(provider, conn), wait).await {
            tracing::warn!(%provider, error = %e, "could not share the vendor's Retry-After");
        }
    }

    /// A gate for a client that paces itself per request (Tedee's), on the budget of the
    /// vendor account `account` names (every connection to that account, and a credential
    /// check before there is a connection, spend the same budget).
    pub fn gate(self: &Arc<Self>, provider: Provider, account: &str) -> Option<Gate> {
        let rate = self.rate(provider)?;
        Some(Gate {
            pace: self.clone(),
            provider,
            key: format!("{provider}:{account}"),
            rate,
        })
    }

    /// The turn on a device that takes one command at a time, held for at most `lease` (longer
    /// than the command can take: a holder that dies frees it when the lease runs out). Waited
    /// for up to `lease`; then the device counts as busy. Given back when dropped.
    pub async fn turn(
        &self,
        provider: Provider,
        key: &str,
        lease: Duration,
    ) -> ProviderResult<Turn> {
        let key = format!("{provider}-turn:{key}");
        let queue = {
            let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            q.entry(key.clone()).or_default().clone()
        };
        let busy = || {
            ProviderError::new(
                provider,
                ErrorKind::DeviceBusy,
                "the gateway stayed busy with other commands",
            )
        };
        let local = tokio::time::timeout(lease, queue.lock_owned())
            .await
            .map_err(|_| busy())?;
        let (mut poll, mut waited) = (TURN_POLL.0, Duration::ZERO);
        loop {
            match self.budgets.try_turn(&key, &self.holder, lease).await {
                Ok(true) => {
                    return Ok(Turn {
                        budgets: self.budgets.clone(),
                        key,
                        holder: self.holder.clone(),
                        local: Some(local),
                    });
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(%provider, error = %e, "a device's turn could not be read; trying again")
                }
            }
            if waited >= lease {
                return Err(busy());
            }
            tokio::time::sleep(poll).await;
            waited += poll;
            poll = (poll * 2).min(TURN_POLL.1);
        }
    }
}

/// One holder's turn on a device.
pub struct Turn {
    budgets: Arc<dyn Budgets>,
    key: String,
    holder: String,
    /// This instance's place in the device's queue, kept until the turn is given back.
    local: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Drop for Turn {
    /// The turn is given back in the background, after the answer: the caller does not wait
    /// for that round trip. This instance's next caller for the device does, since the place in
    /// the queue is kept until the turn is back; another instance finds it free then, or (should
    /// the release fail) once the lease runs out.
    fn drop(&mut self) {
        let (budgets, key, holder, local) = (
            self.budgets.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.holder),
            self.local.take(),
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = budgets.end_turn(&key, &holder).await {
                    tracing::warn!(error = %e, "a device's turn could not be given back; its lease will free it");
                }
                drop(local);
            });
        }
    }
}

/// [`lockbridge_tedee::RateGate`] over a connection's shared budget.
#[derive(Debug)]
pub struct Gate {
    pace: Arc<Pace>,
    provider: Provider,
    key: String,
    rate: Rate,
}

impl Gate {
    async fn acquire(&self) -> Result<(), Duration> {
        self.pace.take(self.provider, &self.key, self.rate).await
    }

    /// The vendor said to hold back: every instance does, for `wait`.
    fn hold(&self, wait: Duration) {
        let (budgets, key, provider) = (self.pace.budgets.clone(), self.key.clone(), self.provider);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = budgets.pause(&key, wait).await {
                    tracing::warn!(%provider, error = %e, "could not share the vendor's Retry-After");
                }
            });
        }
    }
}

/// A name for the vendor account a secret (a key, a token) opens, to key its budget by: a
/// digest, so that the budget's row says nothing of the secret.
pub fn account_of(secret: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(secret.as_bytes());
    hex::encode(&digest[..12])
}

type Acquire<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Duration>> + Send + 'a>>;

impl lockbridge_tedee::RateGate for Gate {
    fn acquire(&self) -> Acquire<'_> {
        Box::pin(Gate::acquire(self))
    }

    fn retry_after(&self, wait: Duration) {
        self.hold(wait);
    }
}

impl lockbridge_switchbot::RequestGate for Gate {
    fn acquire(&self) -> Acquire<'_> {
        Box::pin(Gate::acquire(self))
    }

    fn hold(&self, wait: Duration) {
        Gate::hold(self, wait);
    }
}
