//! `lockbridge sim`: the vendor fakes alone.

use std::net::SocketAddr;

use anyhow::Context;
use lockbridge_sim::Running;
use lockbridge_sim::kii::KiiSim;
use lockbridge_sim::tedee::TedeeSim;
use lockbridge_sim::ttlock::TtlockSim;
use lockbridge_sim::tuya::TuyaSim;
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
    /// Address of the Tuya simulator.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub tuya: SocketAddr,
    /// Address of the Tedee simulator.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub tedee: SocketAddr,
    /// Address of the Kii simulator.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub kii: SocketAddr,
}

impl SimArgs {
    /// Every simulator on a free loopback port, demo data seeded.
    pub fn demo(seed: u64) -> SimArgs {
        let free: SocketAddr = ([127, 0, 0, 1], 0).into();
        SimArgs {
            demo: true,
            json: false,
            seed,
            ttlock: free,
            tuya: free,
            tedee: free,
            kii: free,
        }
    }
}

/// The started simulators and what `--json` says of them.
pub struct Simulators {
    pub servers: Vec<Running>,
    pub description: Value,
}

async fn listen(addr: SocketAddr, vendor: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the {vendor} simulator"))
}

pub async fn start(args: &SimArgs) -> anyhow::Result<Simulators> {
    let ttlock = TtlockSim::new(args.seed);
    let server = ttlock.serve(listen(args.ttlock, "TTLock").await?)?;
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
    let kii = KiiSim::new(args.seed);
    let kii_server = kii.serve(listen(args.kii, "Kii").await?)?;
    let mut kii_entry = json!({ "base_url": kii_server.base_url() });
    if args.demo {
        let demo = kii.seed_demo();
        kii_entry = json!({
            "base_url": kii_server.base_url(),
            "app_id": demo.app_id,
            "app_key": demo.app_key,
            "client_id": demo.client_id,
            "client_secret": demo.client_secret,
            "thing_ids": demo.thing_ids,
        });
    }
    let tedee = TedeeSim::new(args.seed);
    let tedee_server = tedee.serve(listen(args.tedee, "Tedee").await?)?;
    let mut tedee_entry = json!({ "base_url": tedee_server.base_url() });
    if args.demo {
        let demo = tedee.seed_demo();
        tedee_entry = json!({
            "base_url": tedee_server.base_url(),
            "personal_access_key": demo.personal_access_key,
            "lock_ids": demo.lock_ids,
            "bridge_ids": demo.bridge_ids,
        });
    }
    let tuya = TuyaSim::new(args.seed);
    let tuya_server = tuya.serve(listen(args.tuya, "Tuya").await?)?;
    let mut tuya_entry = json!({ "base_url": tuya_server.base_url() });
    if args.demo {
        let demo = tuya.seed_demo();
        tuya_entry = json!({
            "base_url": tuya_server.base_url(),
            "access_id": demo.access_id,
            "access_secret": demo.access_secret,
            "lock_ids": demo.lock_ids,
        });
    }
    Ok(Simulators {
        servers: vec![server, tuya_server, tedee_server, kii_server],
        description: json!({ "ttlock": entry, "tuya": tuya_entry, "tedee": tedee_entry, "kii": kii_entry }),
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
