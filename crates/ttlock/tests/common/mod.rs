#![allow(dead_code)]

use lockbridge_sim::Running;
use lockbridge_sim::ttlock::{DemoAccount, TtlockSim};
use lockbridge_ttlock::{Config, TtlockClient};

pub struct Env {
    pub sim: TtlockSim,
    pub server: Running,
    pub demo: DemoAccount,
    pub client: TtlockClient,
}

impl Env {
    /// The demo cloud on a free port and a client that has not started yet.
    pub async fn unstarted() -> Env {
        let sim = TtlockSim::new(7);
        let demo = sim.seed_demo();
        let server = sim.start_local().await.expect("simulator starts");
        Env {
            sim,
            server,
            demo,
            client: TtlockClient::new(),
        }
    }

    /// The same, with the client configured and authenticated.
    pub async fn started() -> Env {
        let env = Env::unstarted().await;
        env.client
            .start(env.config(), &env.demo.username, &env.demo.password)
            .await
            .expect("demo account signs in");
        env
    }

    pub fn config(&self) -> Config {
        Config::new(&self.demo.client_id, &self.demo.client_secret).base_url(self.server.base_url())
    }

    /// Lock `i` of the demo: 0 front and 1 back (lobby gateway), 2 storage (offline gateway),
    /// 3 studio (Wi-Fi), 4 shed (Bluetooth only).
    pub fn lock(&self, i: usize) -> i64 {
        self.demo.lock_ids[i]
    }

    pub fn calls(&self, route: &str) -> u64 {
        self.sim.world().calls.get(route).copied().unwrap_or(0)
    }

    /// Every request the simulator has seen.
    pub fn total_calls(&self) -> u64 {
        self.sim
            .world()
            .calls
            .iter()
            .filter(|(k, _)| !k.contains('#'))
            .map(|(_, v)| v)
            .sum()
    }
}
