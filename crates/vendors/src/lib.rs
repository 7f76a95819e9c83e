//! The vendor adapters: each vendor cloud behind [`lockbridge_core::Vendor`], built from its
//! client crate. The service registers [`builtin`]; a new vendor is a module here and one line
//! in that list (see the README's "Adding a vendor").

pub mod call;
pub mod kii;
pub mod nuki;
pub mod pace;
mod sessions;
pub mod switchbot;
pub mod tedee;
pub mod ttlock;
pub mod tuya;

use std::sync::Arc;
use std::time::Duration;

use lockbridge_core::Vendor;
use lockbridge_core::metrics::VendorCalls;
use lockbridge_core::model::Provider;
use lockbridge_core::provider::TokenStore;

/// What the service gives every adapter.
#[derive(Clone)]
pub struct Context {
    /// Where tokens an adapter renewed on its own are saved, and looked for when one is
    /// refused mid-flight.
    pub tokens: Arc<dyn TokenStore>,
    /// Counts and times every vendor call.
    pub calls: Arc<VendorCalls>,
    /// How often a lock operation that completes asynchronously is polled.
    pub operation_poll: Duration,
    /// The longest one HTTP request to a vendor may take.
    pub request_timeout: Duration,
    /// The vendor budgets every request and gateway command spends.
    pub pace: Arc<pace::Pace>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// Builds a vendor's adapter.
type Make = fn(&Context) -> Arc<dyn Vendor>;

/// Every vendor this build speaks: its name, and its adapter. A new vendor is one line here.
const BUILTIN: &[(Provider, Make)] = &[
    (ttlock::PROVIDER, ttlock::adapter),
    (tuya::PROVIDER, tuya::adapter),
    (tedee::PROVIDER, tedee::adapter),
    (kii::PROVIDER, kii::adapter),
    (nuki::PROVIDER, nuki::adapter),
    (switchbot::PROVIDER, switchbot::adapter),
];

/// The built-in vendors' names, as the rest of lockbridge and its tests may name them.
pub use kii::PROVIDER as KII;
pub use tedee::PROVIDER as TEDEE;
pub use ttlock::PROVIDER as TTLOCK;
pub use tuya::PROVIDER as TUYA;

/// Makes the built-in vendors' names parse (before any is read from input or the store).
pub fn register() {
    for (provider, _) in BUILTIN {
        provider.register();
    }
}

/// Every vendor this build speaks, registered.
pub fn builtin(cx: &Context) -> Vec<Arc<dyn Vendor>> {
    BUILTIN
        .iter()
        .map(|(provider, make)| {
            provider.register();
            make(cx)
        })
        .collect()
}
