//! Every simulator, registered once: `lockbridge sim`, `demo`, the test fixture, the console's
//! vendor filter and the chaos suite all start the fakes from here. Adding a simulator is its
//! module (with its `impl Simulator`) and one line in [`all`].

use std::sync::Arc;

use serde_json::Value;
use tokio::net::TcpListener;

use crate::Running;

/// A vendor's fake, as the tools that start them see it.
pub trait Simulator: Send + Sync {
    /// The vendor's name as lockbridge spells it (`ttlock`): the key of its entry in
    /// `lockbridge sim --json` and of its `--addr`.
    fn vendor(&self) -> &'static str;

    /// The vendor's name as people write it (`TTLock`).
    fn title(&self) -> &'static str;

    /// Serves the fake on `listener`.
    fn serve(&self, listener: TcpListener) -> std::io::Result<Running>;

    /// Seeds the demo data; answers what a client needs to reach it (credentials named as the
    /// vendor's credential fields) and the ids seeded.
    fn seed_demo(&self) -> Value;

    /// Moves the fake's clock forward by `ms`.
    fn advance(&self, ms: i64);

    /// The fake itself, for a test that needs its own type (`downcast_ref::<TtlockSim>()`).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// A fresh fake of every vendor, its generators seeded with `seed`, in a stable order.
pub fn all(seed: u64) -> Vec<Arc<dyn Simulator>> {
    vec![
        Arc::new(crate::ttlock::TtlockSim::new(seed)),
        Arc::new(crate::tuya::TuyaSim::new(seed)),
        Arc::new(crate::tedee::TedeeSim::new(seed)),
        Arc::new(crate::kii::KiiSim::new(seed)),
        Arc::new(crate::nuki::NukiSim::new(seed)),
        Arc::new(crate::switchbot::SwitchBotSim::new(seed)),
    ]
}

/// The vendors simulated, in the order of [`all`].
pub fn vendors() -> Vec<&'static str> {
    all(0).iter().map(|s| s.vendor()).collect()
}

/// Implements [`Simulator`] for a fake with the shared control routes: its vendor's name, its
/// title, and its clock moved the way `POST /_sim/clock` moves it (what came due applied).
macro_rules! registered {
    ($sim:ty, $vendor:literal, $title:literal) => {
        impl $crate::registry::Simulator for $sim {
            fn vendor(&self) -> &'static str {
                $vendor
            }

            fn title(&self) -> &'static str {
                $title
            }

            fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<$crate::Running> {
                <$sim>::serve(self, listener)
            }

            fn seed_demo(&self) -> serde_json::Value {
                serde_json::to_value(<$sim>::seed_demo(self)).unwrap_or_default()
            }

            fn advance(&self, ms: i64) {
                let mut w = self.world();
                w.clock_offset_ms += ms;
                $crate::control::SharedWorld::clock_moved(&mut *w);
            }

            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
        }
    };
}
pub(crate) use registered;
