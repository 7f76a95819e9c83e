//! Vendor call counters, per connection and route, so that the monthly budgets vendors impose
//! can be watched being spent.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::ids::ConnectionId;
use crate::model::Provider;

#[derive(Debug, Default)]
pub struct VendorCalls {
    counts: Mutex<BTreeMap<(ConnectionId, Provider, &'static str), u64>>,
}

impl VendorCalls {
    /// One vendor call, counted under `route`.
    pub fn count(&self, conn: ConnectionId, provider: Provider, route: &'static str) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry((conn, provider, route)).or_default() += 1;
    }

    pub fn snapshot(&self) -> Vec<(ConnectionId, Provider, &'static str, u64)> {
        let c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.iter()
            .map(|((conn, p, r), n)| (*conn, *p, *r, *n))
            .collect()
    }

    pub fn get(&self, conn: ConnectionId, route: &str) -> u64 {
        let c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.iter()
            .filter(|((id, _, r), _)| *id == conn && *r == route)
            .map(|(_, n)| n)
            .sum()
    }
}
