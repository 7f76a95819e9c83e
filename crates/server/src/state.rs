//! What every handler shares. Built from settings; no global state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lockbridge_app::Service;
use lockbridge_core::model::ApiKey;
use lockbridge_store::Store;

use crate::error::ApiError;

/// API keys recently seen, so that most requests skip the key lookup.
#[derive(Debug, Default)]
pub struct KeyCache {
    ttl: Duration,
    /// Each key found, and when (on the service's clock) it was read.
    entries: Mutex<HashMap<String, (ApiKey, lockbridge_core::time::Millis)>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        KeyCache {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The key whose secret is `secret`, read again from the store once the cached one is
    /// `ttl` old at `now`.
    pub async fn lookup(
        &self,
        store: &Store,
        secret: &str,
        now: lockbridge_core::time::Millis,
    ) -> Result<Option<ApiKey>, ApiError> {
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((key, at)) = entries.get(secret)
                && (*at..at.saturating_add(ttl)).contains(&now)
            {
                return Ok(Some(key.clone()));
            }
        }
        let found = store.api_key_by_secret(secret).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match &found {
            Some(key) => {
                if entries.len() > 10_000 {
                    entries.clear();
                }
                entries.insert(secret.to_owned(), (key.clone(), now));
            }
            None => {
                entries.remove(secret);
            }
        }
        Ok(found)
    }

    pub fn forget(&self, key: lockbridge_core::ids::ApiKeyId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (k, _)| k.id != key);
    }
}

/// What the HTTP layer shares: the application's state (what handlers reach through
/// `Deref`), and what only HTTP needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub app: Service,
    pub keys: Arc<KeyCache>,
    pub http: Arc<crate::metrics::HttpMetrics>,
    /// Timeouts and limits of the HTTP edge.
    pub edge: Arc<crate::edge::EdgeLimits>,
}

impl std::ops::Deref for AppState {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.app
    }
}
