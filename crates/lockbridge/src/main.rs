//! `lockbridge`: the service, its simulators and its tools in one binary.

mod config;
mod demo;
mod serve;
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
    /// Serve the API (migrations run at start).
    Serve(serve::ServeArgs),
    /// Everything a newcomer needs: simulators, a SQLite database, an admin key, the API.
    Demo(demo::DemoArgs),
    /// Run the local fakes of the vendor clouds.
    Sim(sim::SimArgs),
    /// Apply the database migrations and exit.
    Migrate(config::DbArgs),
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organisation and print its admin key.
    Create {
        name: String,
        #[command(flatten)]
        db: config::DbArgs,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOCKBRIDGE_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Migrate(db) => serve::migrate(db).await,
        Command::Org(OrgCommand::Create { name, db }) => serve::create_org(db, &name).await,
    }
}
