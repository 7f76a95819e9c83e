//! `lockbridge`: the service, its simulators and its tools in one binary.

mod sim;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "lockbridge",
    version,
    about = "One API for TTLock, Tuya, Tedee and Kii smart locks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local fakes of the vendor clouds.
    Sim(sim::SimArgs),
    /// Everything a newcomer needs: the simulators with demo data and a quick start.
    Demo(sim::DemoArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOCKBRIDGE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Sim(args) => sim::run(args).await,
        Command::Demo(args) => sim::demo(args).await,
    }
}
