//! The lock list served from memory: each organisation's locks, in id order, already
//! serialised. Loaded one at a time, dropped by this instance's own writes (sync, reach,
//! connection delete) or, for a lock's new state after a command, patched in place; and checked
//! in the background once older than `ttl`, so that changes made by another instance show within
//! about `ttl`. The check reads the organisation's
//! `locks_version` (moved in the same transaction as any change to its locks); the list is read
//! again only when that moved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockbridge_core::ids::{LockId, OrgId};
use lockbridge_core::model::{Lock, LockState};
use lockbridge_store::{Store, StoreError};

/// A lock and its JSON; `other` holds a second rendering made on first use (the `/seam`
/// surface's device), dropped with the entry when the list is read again.
#[derive(Debug)]
pub struct CachedLock {
    pub lock: Lock,
    pub json: Box<str>,
    pub other: std::sync::OnceLock<Box<str>>,
}

impl CachedLock {
    fn new(lock: Lock) -> Arc<CachedLock> {
        let json = serde_json::to_string(&lockbridge_api::Lock::from(&lock))
            .unwrap_or_default()
            .into_boxed_str();
        Arc::new(CachedLock {
            lock,
            json,
            other: std::sync::OnceLock::new(),
        })
    }
}

/// An organisation's locks in id order (shared, so that one lock can be replaced in a copy of
/// the list without copying the others).
pub type OrgLocks = Arc<Vec<Arc<CachedLock>>>;

#[derive(Debug)]
pub struct LockCache {
    ttl: Duration,
    /// When each list was last known current, the `locks_version` it reflects, and the list.
    orgs: Mutex<HashMap<OrgId, (Instant, i64, OrgLocks)>>,
    loading: Arc<tokio::sync::Mutex<()>>,
    loads: AtomicU64,
}

impl LockCache {
    pub fn new(ttl: Duration) -> Self {
        LockCache {
            ttl,
            orgs: Mutex::default(),
            loading: Arc::new(tokio::sync::Mutex::new(())),
            loads: AtomicU64::new(0),
        }
    }

    /// How many times a list was read from the store.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// The cached list and whether it is still fresh.
    fn cached(&self, org: OrgId) -> Option<(bool, i64, OrgLocks)> {
        let orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        orgs.get(&org)
            .map(|(at, version, locks)| (at.elapsed() < self.ttl, *version, locks.clone()))
    }

    /// The organisation's locks, in id order. An expired list is answered as it is while one
    /// background task checks it (and reloads it if it changed); only a missing one (first use,
    /// or after a write here) waits.
    pub async fn get(self: &Arc<Self>, store: &Store, org: OrgId) -> Result<OrgLocks, StoreError> {
        match self.cached(org) {
            Some((true, _, locks)) => return Ok(locks),
            Some((false, version, stale)) => {
                if let Ok(guard) = self.loading.clone().try_lock_owned() {
                    let (cache, store) = (self.clone(), store.clone());
                    tokio::spawn(async move {
                        if let Err(e) = cache.refresh(&store, org, version).await {
                            tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "reloading the lock list failed");
                        }
                        drop(guard);
                    });
                }
                return Ok(stale);
            }
            None => {}
        }
        let _one_load = self.loading.lock().await;
        if let Some((_, _, locks)) = self.cached(org) {
            return Ok(locks);
        }
        self.load(store, org).await
    }

    /// Waits until no list is being checked or read (one a [`LockCache::get`] has just started
    /// in the background included): what it found is then in the cache.
    pub async fn settled(&self) {
        drop(self.loading.lock().await);
    }

    /// Keeps the list if the organisation's locks have not changed since it was read.
    async fn refresh(&self, store: &Store, org: OrgId, known: i64) -> Result<(), StoreError> {
        let checked = Instant::now();
        if store.locks_version(org).await? != known {
            self.load(store, org).await?;
            return Ok(());
        }
        let mut orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = orgs.get_mut(&org).filter(|e| e.1 == known) {
            entry.0 = checked;
        }
        Ok(())
    }

    async fn load(&self, store: &Store, org: OrgId) -> Result<OrgLocks, StoreError> {
        let started = Instant::now();
        // Read before the list: a change committed while the list is read moves the version
        // past this one, and the next check reads the list again.
        let version = store.locks_version(org).await?;
        self.loads.fetch_add(1, Ordering::Relaxed);
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_locks(org, 1000, after).await?;
            let done = page.len() < 1000;
            after = page.last().map(|l| l.id);
            all.extend(page.into_iter().map(CachedLock::new));
            if done {
                break;
            }
        }
        let locks = Arc::new(all);
        let mut orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        orgs.insert(org, (started, version, locks.clone()));
        Ok(locks)
    }

    /// Shows a lock's new state, which this instance has just stored (an unlock, a lock),
    /// without reading the list again. The list keeps the `locks_version` it was read at, so
    /// the next check after `ttl` still reads it again (in the background), as after any change.
    pub fn set_state(&self, org: OrgId, id: LockId, state: LockState) {
        let mut orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        let Some((_, _, locks)) = orgs.get_mut(&org) else {
            return;
        };
        let Ok(i) = locks.binary_search_by(|c| c.lock.id.cmp(&id)) else {
            return;
        };
        if locks[i].lock.state == state {
            return;
        }
        let mut lock = locks[i].lock.clone();
        lock.state = state;
        let mut patched = Vec::clone(locks);
        patched[i] = CachedLock::new(lock);
        *locks = Arc::new(patched);
    }

    /// Forgets an organisation's locks after a write.
    pub fn invalidate(&self, org: OrgId) {
        self.orgs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&org);
    }
}
