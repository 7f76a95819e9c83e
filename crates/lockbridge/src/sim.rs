//! `lockbridge sim`: the vendor fakes alone.

use std::net::SocketAddr;

use anyhow::Context;
use lockbridge_sim::Running;
use lockbridge_sim::ttlock::TtlockSim;
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Seed the demo data (accounts, locks, gateways, codes).
    #[arg(long)]
    pub demo: bool,
    /// Print one JSON object describing the simulators as the first line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Seed of the simulators' generators: the same seed gives the same ids and secrets.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Address of the TTLock simulator (a free loopback port by default).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub ttlock: SocketAddr,
}

/// The started simulators and what `--json` says of them.
pub struct Simulators {
    pub servers: Vec<Running>,
    pub description: Value,
}

pub async fn start(args: &SimArgs) -> anyhow::Result<Simulators> {
    let ttlock = TtlockSim::new(args.seed);
    let listener = TcpListener::bind(args.ttlock)
        .await
        .with_context(|| format!("cannot listen on {} for the TTLock simulator", args.ttlock))?;
    let server = ttlock.serve(listener)?;
    let mut entry = json!({ "base_url": server.base_url() });
    if args.demo {
        let demo = ttlock.seed_demo();
        entry = json!({
            "base_url": server.base_url(),
            "client_id": demo.client_id,
            "client_secret": demo.client_secret,
            "username": demo.username,
            "password": demo.password,
            "lock_ids": demo.lock_ids,
            "gateway_ids": demo.gateway_ids,
        });
    }
    Ok(Simulators {
        servers: vec![server],
        description: json!({ "ttlock": entry }),
    })
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let sims = start(&args).await?;
    if args.json {
        println!("{}", sims.description);
    } else {
        for (vendor, entry) in sims.description.as_object().into_iter().flatten() {
            println!(
                "{vendor:<8} {}",
                entry["base_url"].as_str().unwrap_or_default()
            );
        }
        println!("control API under /_sim/ on each; Ctrl-C stops");
    }
    wait_for_shutdown().await;
    for server in sims.servers {
        server.stop().await;
    }
    Ok(())
}

pub async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
