//! `lockbridge sim`: the vendor fakes alone.

use std::net::SocketAddr;

use anyhow::Context;
use lockbridge_sim::Running;
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
    /// Where a vendor's simulator listens, as VENDOR=ADDR (repeatable; e.g.
    /// `--addr ttlock=127.0.0.1:9000`); a free loopback port for the others.
    #[arg(long = "addr", value_name = "VENDOR=ADDR", value_parser = vendor_addr)]
    pub addrs: Vec<(String, SocketAddr)>,
}

impl SimArgs {
    /// Every simulator on a free loopback port, demo data seeded.
    pub fn demo(seed: u64) -> SimArgs {
        SimArgs {
            demo: true,
            json: false,
            seed,
            addrs: Vec::new(),
        }
    }
}

fn vendor_addr(text: &str) -> Result<(String, SocketAddr), String> {
    let (vendor, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not VENDOR=ADDR"))?;
    let known = lockbridge_sim::registry::vendors();
    let vendor = vendor.trim().to_ascii_lowercase();
    if !known.contains(&vendor.as_str()) {
        return Err(format!(
            "{vendor:?} is not a simulated vendor: {}",
            known.join(", ")
        ));
    }
    let addr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{addr:?} is not an address such as 127.0.0.1:9000"))?;
    Ok((vendor, addr))
}

/// The started simulators and what `--json` says of them.
pub struct Simulators {
    pub servers: Vec<Running>,
    pub description: Value,
}

pub async fn start(args: &SimArgs) -> anyhow::Result<Simulators> {
    let mut servers = Vec::new();
    let mut description = serde_json::Map::new();
    for sim in lockbridge_sim::registry::all(args.seed) {
        let addr = args
            .addrs
            .iter()
            .rev()
            .find(|(v, _)| v == sim.vendor())
            .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |(_, a)| *a);
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} for the {} simulator", sim.title())
        })?;
        let server = sim.serve(listener)?;
        let mut entry = if args.demo {
            sim.seed_demo()
        } else {
            json!({})
        };
        entry["base_url"] = json!(server.base_url());
        description.insert(sim.vendor().to_owned(), entry);
        servers.push(server);
    }
    Ok(Simulators {
        servers,
        description: Value::Object(description),
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
