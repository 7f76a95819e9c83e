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
    Serve(Box<serve::ServeArgs>),
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
    // The vendors' names parse from here on (flags, settings, the store).
    lockbridge_vendors::register();
    let cli = Cli::parse();
    warn_unknown_settings();
    match cli.command {
        Command::Serve(args) => serve::serve(*args).await,
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

/// The `LOCKBRIDGE_*` variables some setting reads: every command's (from the arguments
/// themselves), each vendor's base URL and rate, the log filter and the master key.
fn known_settings() -> std::collections::HashSet<String> {
    use clap::CommandFactory;
    fn collect(cmd: &clap::Command, out: &mut std::collections::HashSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            collect(sub, out);
        }
    }
    let mut known = std::collections::HashSet::new();
    collect(&Cli::command(), &mut known);
    for p in lockbridge_core::Provider::known() {
        for suffix in ["BASE_URL", "RATE"] {
            known.insert(format!("LOCKBRIDGE_{}_{suffix}", p.as_str().to_uppercase()));
        }
    }
    known.extend([
        "LOCKBRIDGE_LOG".to_owned(),
        "LOCKBRIDGE_MASTER_KEY".to_owned(),
        "LOCKBRIDGE_MASTER_KEY_FILE".to_owned(),
    ]);
    known
}

/// Warns about each `LOCKBRIDGE_*` variable no setting reads: a misspelt one would otherwise be
/// ignored without a word. (`LOCKBRIDGE_TEST_*` belong to the test suites.)
fn warn_unknown_settings() {
    let known = known_settings();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("LOCKBRIDGE_")
            && !name.starts_with("LOCKBRIDGE_TEST_")
            && !known.contains(name.as_ref())
        {
            tracing::warn!(variable = %name, "no setting is read from this variable: check its name (the settings are listed in the README)");
        }
    }
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
