//! The lock list served from memory: each organisation's locks, in id order, already
//! serialised. Loaded one at a time, dropped by this instance's own writes (sync, lock state,
//! connection delete), and reloaded in the background once older than `ttl`, so that changes
//! made by another instance show within about `ttl`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockbridge_core::ids::OrgId;
use lockbridge_core::model::Lock;
use lockbridge_store::{LockFilter, Store, StoreError};

/// A lock and its JSON.
#[derive(Debug)]
pub struct CachedLock {
    pub lock: Lock,
    pub json: Box<str>,
}

/// An organisation's locks in id order.
pub type OrgLocks = Arc<Vec<CachedLock>>;

#[derive(Debug)]
pub struct LockCache {
    ttl: Duration,
    orgs: Mutex<HashMap<OrgId, (Instant, OrgLocks)>>,
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl LockCache {
    pub fn new(ttl: Duration) -> Self {
        LockCache {
            ttl,
            orgs: Mutex::default(),
            loading: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The cached list and whether it is still fresh.
    fn cached(&self, org: OrgId) -> Option<(bool, OrgLocks)> {
        let orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        orgs.get(&org)
            .map(|(at, locks)| (at.elapsed() < self.ttl, locks.clone()))
    }

    /// The organisation's locks, in id order. An expired list is answered as it is while one
    /// background task reloads it; only a missing one (first use, or after a write here) waits.
    pub async fn get(self: &Arc<Self>, store: &Store, org: OrgId) -> Result<OrgLocks, StoreError> {
        match self.cached(org) {
            Some((true, locks)) => return Ok(locks),
            Some((false, stale)) => {
                if let Ok(guard) = self.loading.clone().try_lock_owned() {
                    let (cache, store) = (self.clone(), store.clone());
                    tokio::spawn(async move {
                        if let Err(e) = cache.load(&store, org).await {
                            tracing::warn!(error = %e, "reloading the lock list failed");
                        }
                        drop(guard);
                    });
                }
                return Ok(stale);
            }
            None => {}
        }
        let _one_load = self.loading.lock().await;
        if let Some((_, locks)) = self.cached(org) {
            return Ok(locks);
        }
        self.load(store, org).await
    }

    async fn load(&self, store: &Store, org: OrgId) -> Result<OrgLocks, StoreError> {
        let started = Instant::now();
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_locks(org, &LockFilter::default(), 1000, after)
                .await?;
            let done = page.len() < 1000;
            after = page.last().map(|l| l.id);
            all.extend(page.into_iter().map(|lock| {
                let json = serde_json::to_string(&lock)
                    .unwrap_or_default()
                    .into_boxed_str();
                CachedLock { lock, json }
            }));
            if done {
                break;
            }
        }
        let locks = Arc::new(all);
        let mut orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        orgs.insert(org, (started, locks.clone()));
        Ok(locks)
    }

    /// Forgets an organisation's locks after a write.
    pub fn invalidate(&self, org: OrgId) {
        self.orgs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&org);
    }
}
