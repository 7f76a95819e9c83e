//! One vendor client per connection, kept between calls and rebuilt when the connection's
//! credentials change (its `credentials_version` moves) or its stored token does (its expiry
//! moves: renewed here or by another instance).

use std::collections::HashMap;
use std::sync::Mutex;

use lockbridge_core::ids::ConnectionId;
use lockbridge_core::model::Connection;
use lockbridge_core::provider::ProviderResult;

/// What a client was built from: the credentials' version and the stored token's expiry.
type Key = (i64, Option<lockbridge_core::time::Millis>);

pub struct Sessions<C>(Mutex<HashMap<ConnectionId, (Key, C)>>);

impl<C> Default for Sessions<C> {
    fn default() -> Self {
        Sessions(Mutex::default())
    }
}

impl<C> std::fmt::Debug for Sessions<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "Sessions({n})")
    }
}

impl<C: Clone> Sessions<C> {
    /// The connection's client, built by `build` when there is none for its current
    /// credentials. Built under the lock, so that concurrent first calls build one client.
    pub fn get(
        &self,
        conn: &Connection,
        build: impl FnOnce() -> ProviderResult<C>,
    ) -> ProviderResult<C> {
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // The stored token is the truth: one renewed by another instance (or stored by this
        // one) has another expiry, and the client is built again with it.
        let key = (conn.credentials_version, conn.token_expires_at);
        if let Some((_, client)) = sessions.get(&conn.id).filter(|(k, _)| *k == key) {
            return Ok(client.clone());
        }
        let client = build()?;
        sessions.insert(conn.id, (key, client.clone()));
        Ok(client)
    }
}
