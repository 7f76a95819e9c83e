//! `lockbridge`: the service, its simulators and its tools in one binary.

mod client;
mod codes;
mod config;
mod demo;
mod listen;
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
    /// Receive webhooks locally: check each delivery's signature and print it.
    Listen(listen::ListenArgs),
    /// Apply the database migrations and exit.
    Migrate(config::DbArgs),
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Access codes through a running service's API (import a CSV, list a lock's codes).
    #[command(subcommand)]
    Codes(codes::CodesCommand),
    /// Grants through a running service's API.
    #[command(subcommand)]
    Grants(codes::GrantsCommand),
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organisation and print its admin key.
    Create {
        name: String,
        #[command(flatten)]
        db: config::DbArgs,
    },
    /// Issue a new API key for an organisation (for instance when its admin keys are lost)
    /// and print it, once.
    Key {
        /// The organisation's id (`org_…`).
        org_id: String,
        /// `admin` or `member`.
        #[arg(long, default_value = "admin")]
        role: String,
        /// The key's name, to recognise it in `GET /v1/api-keys`.
        #[arg(long, default_value = "issued from the command line")]
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
        // Colour only on a terminal: logs sent to a file or a collector stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Listen(args) => listen::run(args).await,
        Command::Migrate(db) => serve::migrate(db).await,
        Command::Org(OrgCommand::Create { name, db }) => serve::create_org(db, &name).await,
        Command::Org(OrgCommand::Key {
            org_id,
            role,
            name,
            db,
        }) => serve::org_key(db, &org_id, &role, &name).await,
        Command::Codes(command) => exit_with(codes::run(command).await?),
        Command::Grants(command) => exit_with(codes::grants(command).await?),
    }
}

/// `text` safe to print to a terminal: control characters (an escape sequence a name or a
/// vendor's message might carry) are shown escaped, never sent as they are.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// Ends the process with `code` when it is not 0.
fn exit_with(code: i32) -> anyhow::Result<()> {
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_never_printed_raw() {
        assert_eq!(super::printable("Anna\u{1b}[2J"), "Anna\\u{1b}[2J");
        assert_eq!(super::printable("Zoë 🔑"), "Zoë 🔑");
        assert_eq!(super::printable("a\nb\tc"), "a\\nb\\tc");
    }
}
