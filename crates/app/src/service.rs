//! What every operation and worker shares: the store, the vendors, the settings, the clock and
//! the caches of this instance. Built from settings; no global state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockbridge_core::Vendor;
use lockbridge_core::budgets::{Budgets, LocalBudgets};
use lockbridge_core::credentials::Field;
use lockbridge_core::ids::LockId;
use lockbridge_core::metrics::VendorCalls;
use lockbridge_core::model::Provider;
use lockbridge_core::provider::{TokenStore, TokenUpdate};
use lockbridge_core::time::{Clock, Millis};
use lockbridge_store::{Dialect, SharedBudgets, Store};
use lockbridge_vendors::pace::Pace;

use crate::error::AppError;
use crate::lock_cache::LockCache;
use crate::webhooks::Sender;

/// Tunables of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Tokens are renewed this long before they expire.
    pub refresh_margin: Duration,
    /// How often the workers look for work.
    pub worker_interval: Duration,
    /// First retry delay of a code the vendor could not take yet; doubles per attempt.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long an API key lookup is cached, on the service's clock (a deleted key stops
    /// working at once here, and within this time on other instances).
    pub key_cache_ttl: Duration,
    /// How old the in-memory lock list may get when another instance changed the locks.
    pub lock_cache_ttl: Duration,
    /// How often listing a lock's codes also reads them from the vendor, to show codes set on
    /// the lock outside lockbridge (`?refresh=true` reads at once). Other listings read only
    /// lockbridge's store: fast, and no vendor rate limit spent on them.
    pub found_codes_interval: Duration,
    /// How soon a code the vendor confirms asynchronously (Tuya) is looked at again.
    pub confirm_poll: Duration,
    /// How often a lock operation that completes asynchronously (Tedee) is polled.
    pub operation_poll: Duration,
    /// The longest one vendor call of the code engine may take; past it the attempt's outcome
    /// is unknown and the code is checked against the lock on the next attempt.
    pub vendor_timeout: Duration,
    /// The longest one HTTP request to a vendor may take (`LOCKBRIDGE_VENDOR_REQUEST_TIMEOUT`).
    pub vendor_request_timeout: Duration,
    /// How long a worker holds a code it works; extended while the work goes on, so only an
    /// instance that stopped loses it. Longer than `vendor_timeout`.
    pub code_lease: Duration,
    /// How often each lock's codes are compared with the vendor's (`LOCKBRIDGE_RECONCILE_INTERVAL`).
    pub reconcile_interval: Duration,
    /// How often each lock's log is read for new records (`LOCKBRIDGE_LOG_INTERVAL`).
    pub log_interval: Duration,
    /// Whether the answer to every unlock and lock waits until its result is on disk
    /// (`LOCKBRIDGE_FLUSH_COMMAND_RESULTS`). When not, one on a lock whose vendor keeps a log
    /// is answered before the flush ([`lockbridge_store::Commit::Unflushed`]): should a crash
    /// of the database server lose its result, the log ingest records the same command from
    /// the vendor's log.
    pub flush_command_results: bool,
    /// How often each connection's devices are read again (`LOCKBRIDGE_DEVICE_SYNC_INTERVAL`).
    pub device_sync_interval: Duration,
    /// Base URL per provider for connections created without one (the vendor's own host
    /// when absent here).
    pub base_urls: HashMap<Provider, String>,
    /// Whether webhooks may go to private, loopback and link-local addresses
    /// (`LOCKBRIDGE_WEBHOOK_ALLOW_PRIVATE`; `demo` allows them).
    pub webhook_allow_private: bool,
    /// The longest one webhook attempt may take; past it the attempt failed.
    pub webhook_timeout: Duration,
    /// Endpoints sent to at once (each in a lane of its own), and attempts in flight at once
    /// per endpoint.
    pub webhook_concurrency: usize,
    pub webhook_per_endpoint: usize,
    /// How often the delivery worker looks for due attempts.
    pub webhook_poll: Duration,
    /// The request rate of each account, per vendor, as configured (`LOCKBRIDGE_<VENDOR>_RATE`);
    /// a vendor not named here keeps its adapter's default (Tedee's 700 an hour; TTLock and
    /// Tuya publish none). Shared by every instance on a PostgreSQL database.
    pub vendor_rates: HashMap<Provider, lockbridge_core::budgets::Rate>,
    /// The longest a vendor call waits for its account's budget before it answers
    /// `rate_limited` (`LOCKBRIDGE_BUDGET_WAIT`).
    pub budget_wait: Duration,
    /// How long before its period or window opens a just-in-time code is written to the lock
    /// (`LOCKBRIDGE_JIT_LEAD`).
    pub jit_lead: Duration,
    /// How often each calendar feed is read (`LOCKBRIDGE_CALENDAR_INTERVAL`).
    pub calendar_interval: Duration,
    /// How long before check-in a stay is first checked with the vendors
    /// (`LOCKBRIDGE_READINESS_LEAD`); it is checked again an hour before.
    pub readiness_lead: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            refresh_margin: Duration::from_secs(24 * 3600),
            worker_interval: Duration::from_secs(5),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(15 * 60),
            key_cache_ttl: Duration::from_secs(2),
            lock_cache_ttl: Duration::from_secs(2),
            found_codes_interval: Duration::from_secs(60),
            operation_poll: Duration::from_millis(500),
            confirm_poll: Duration::from_secs(2),
            vendor_timeout: Duration::from_secs(60),
            vendor_request_timeout: Duration::from_secs(30),
            code_lease: Duration::from_secs(90),
            reconcile_interval: Duration::from_secs(15 * 60),
            device_sync_interval: Duration::from_secs(5 * 60),
            log_interval: Duration::from_secs(5 * 60),
            flush_command_results: false,
            base_urls: HashMap::new(),
            webhook_allow_private: false,
            webhook_timeout: Duration::from_secs(15),
            webhook_concurrency: 256,
            webhook_per_endpoint: 8,
            webhook_poll: Duration::from_millis(250),
            vendor_rates: HashMap::new(),
            budget_wait: Duration::from_secs(10),
            jit_lead: Duration::from_secs(60 * 60),
            calendar_interval: Duration::from_secs(10 * 60),
            readiness_lead: Duration::from_secs(24 * 3600),
        }
    }
}

/// The vendor adapters, in the order they were added (a handful: looked up by a scan).
#[derive(Clone, Default)]
pub struct Providers(Vec<(Provider, Arc<dyn Vendor>)>);

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(p, _)| p))
            .finish()
    }
}

impl Providers {
    /// Adds (or replaces) the adapter of its vendor, whose name then parses.
    pub fn insert(&mut self, api: Arc<dyn Vendor>) {
        let provider = api.provider().register();
        match self.0.iter_mut().find(|(p, _)| *p == provider) {
            Some(entry) => entry.1 = api,
            None => self.0.push((provider, api)),
        }
    }

    /// The registered vendors, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (Provider, &Arc<dyn Vendor>)> {
        self.0.iter().map(|(p, api)| (*p, api))
    }

    fn find(&self, provider: Provider) -> Option<&Arc<dyn Vendor>> {
        self.0
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, api)| api)
    }

    /// The vendor's credential fields (none for a vendor this build lacks).
    pub fn fields(&self, provider: Provider) -> &'static [Field] {
        self.find(provider).map_or(&[], |v| v.credential_fields())
    }

    pub fn get(&self, provider: Provider) -> Result<Arc<dyn Vendor>, AppError> {
        self.find(provider).cloned().ok_or(AppError::Unsupported(
            "be reached: this provider is not available in this build yet",
        ))
    }
}

/// When this instance last read each lock's codes from its vendor, so that listing a lock's
/// codes asks the vendor at most once per interval per lock.
#[derive(Debug)]
pub struct CodeReads {
    interval: Duration,
    /// Last read per lock, and when entries older than the interval were last dropped.
    reads: Mutex<(HashMap<LockId, Instant>, Instant)>,
}

impl CodeReads {
    pub fn new(interval: Duration) -> Self {
        CodeReads {
            interval,
            reads: Mutex::new((HashMap::new(), Instant::now())),
        }
    }

    /// Whether the lock's codes are due to be read from the vendor (without claiming the read).
    pub fn due(&self, lock: LockId) -> bool {
        let reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        reads
            .0
            .get(&lock)
            .is_none_or(|at| at.elapsed() >= self.interval)
    }

    /// Whether to read the lock's codes from the vendor now (always when `forced`); a `true`
    /// answer counts as the read, so concurrent listings do not all ask the vendor.
    pub fn claim(&self, lock: LockId, forced: bool) -> bool {
        let now = Instant::now();
        let mut guard = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let (reads, pruned) = &mut *guard;
        if now.duration_since(*pruned) >= self.interval {
            reads.retain(|_, at| now.duration_since(*at) < self.interval);
            *pruned = now;
        }
        let due = forced
            || reads
                .get(&lock)
                .is_none_or(|at| now.duration_since(*at) >= self.interval);
        if due {
            reads.insert(lock, now);
        }
        due
    }
}

/// The vendor tokens as the store keeps them: renewals a vendor session made on its own are
/// written by one background task, in the order they came.
struct StoredTokens {
    store: Store,
    renewed: tokio::sync::mpsc::UnboundedSender<TokenUpdate>,
}

impl StoredTokens {
    /// Must be called inside a Tokio runtime (the writer is a task).
    fn new(store: Store) -> StoredTokens {
        let (renewed, mut rx) = tokio::sync::mpsc::unbounded_channel::<TokenUpdate>();
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
        StoredTokens { store, renewed }
    }
}

#[async_trait::async_trait]
impl TokenStore for StoredTokens {
    fn save(&self, update: TokenUpdate) {
        let _ = self.renewed.send(update);
    }

    async fn stored(
        &self,
        id: lockbridge_core::ConnectionId,
    ) -> Option<lockbridge_core::Connection> {
        self.store.connection_by_id(id).await.ok().flatten()
    }
}

/// The application's shared state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Service {
    pub store: Store,
    pub providers: Providers,
    pub calls: Arc<VendorCalls>,
    pub settings: Arc<Settings>,
    pub locks: Arc<LockCache>,
    pub code_reads: Arc<CodeReads>,
    /// The service's clock (tests move it).
    pub clock: Arc<Clock>,
    /// How webhooks are sent.
    pub webhooks: Arc<Sender>,
}

impl Service {
    /// The service with the built-in vendor adapters. Must be called inside a Tokio runtime:
    /// renewed vendor tokens are persisted by a background task.
    pub fn new(store: Store, settings: Settings) -> Service {
        let calls = Arc::new(VendorCalls::default());
        let mut providers = Providers::default();
        let clock = Arc::new(Clock::default());
        // Several instances share a PostgreSQL database, and their vendor budgets with it; a
        // SQLite database has one instance, whose budgets stay in memory.
        let budgets: Arc<dyn Budgets> = match store.dialect() {
            Dialect::Postgres => Arc::new(SharedBudgets::new(store.clone(), clock.clone())),
            Dialect::Sqlite => Arc::new(LocalBudgets::new(clock.clone())),
        };
        let pace = Arc::new(Pace::new(
            budgets,
            settings.vendor_rates.clone(),
            settings.budget_wait,
        ));
        let cx = lockbridge_vendors::Context {
            tokens: Arc::new(StoredTokens::new(store.clone())),
            calls: calls.clone(),
            operation_poll: settings.operation_poll,
            request_timeout: settings.vendor_request_timeout,
            pace: pace.clone(),
        };
        for vendor in lockbridge_vendors::builtin(&cx) {
            if let Some(rate) = vendor.default_rate() {
                pace.default_rate(vendor.provider(), rate);
            }
            providers.insert(vendor);
        }
        Service::build(store, settings, providers, calls, clock)
    }

    /// The service with the given adapters.
    pub fn with_providers(
        store: Store,
        settings: Settings,
        providers: Providers,
        calls: Arc<VendorCalls>,
    ) -> Service {
        Service::build(store, settings, providers, calls, Arc::default())
    }

    fn build(
        store: Store,
        settings: Settings,
        providers: Providers,
        calls: Arc<VendorCalls>,
        clock: Arc<Clock>,
    ) -> Service {
        Service {
            store: store.with_clock(clock.clone()),
            providers,
            code_reads: Arc::new(CodeReads::new(settings.found_codes_interval)),
            calls,
            locks: Arc::new(LockCache::new(settings.lock_cache_ttl)),
            webhooks: Arc::new(Sender::new(&settings)),
            settings: Arc::new(settings),
            clock,
        }
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }
}
