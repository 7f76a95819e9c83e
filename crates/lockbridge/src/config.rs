//! Where the service keeps its data and its master key.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lockbridge_store::{MasterKey, Store};

pub const DEFAULT_DATABASE: &str = "sqlite://lockbridge.db";

#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// `sqlite://PATH` (created on first start) or `postgres://…`.
    #[arg(long, env = "LOCKBRIDGE_DATABASE_URL", default_value = DEFAULT_DATABASE)]
    pub database_url: String,
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// `LOCKBRIDGE_MASTER_KEY`, or the file `LOCKBRIDGE_MASTER_KEY_FILE` names (a container's or
/// systemd's secret), or the key file beside the SQLite database (created with mode 0600 on first
/// start). PostgreSQL deployments must give one of the first two.
pub fn master_key(database_url: &str) -> anyhow::Result<MasterKey> {
    if let Ok(hex) = std::env::var("LOCKBRIDGE_MASTER_KEY") {
        return MasterKey::from_hex(&hex).context("LOCKBRIDGE_MASTER_KEY");
    }
    if let Ok(path) = std::env::var("LOCKBRIDGE_MASTER_KEY_FILE") {
        let hex = std::fs::read_to_string(&path)
            .with_context(|| format!("LOCKBRIDGE_MASTER_KEY_FILE: reading {path}"))?;
        return MasterKey::from_hex(&hex)
            .with_context(|| format!("LOCKBRIDGE_MASTER_KEY_FILE: the key in {path}"));
    }
    let Some(db) = sqlite_path(database_url) else {
        bail!(
            "LOCKBRIDGE_MASTER_KEY or LOCKBRIDGE_MASTER_KEY_FILE is required with this database (64 hex characters; e.g. `openssl rand -hex 32`)"
        );
    };
    let dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file = dir.join("lockbridge.key");
    if file.exists() {
        let hex = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        return MasterKey::from_hex(&hex).with_context(|| format!("the key in {}", file.display()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(&file)
        .with_context(|| format!("creating {}", file.display()))?;
    writeln!(f, "{}", key.to_hex())?;
    tracing::info!(file = %file.display(), "created a new master key; keep it with the database");
    Ok(key)
}

pub async fn open_store(args: &DbArgs) -> anyhow::Result<Store> {
    let key = master_key(&args.database_url)?;
    if let Some(path) = sqlite_path(&args.database_url)
        && let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)?;
    }
    Store::open(&args.database_url, &key)
        .await
        .with_context(|| format!("opening the database at {}", redact(&args.database_url)))
}

/// A database URL without its password, for messages.
pub fn redact(text: &str) -> String {
    // Parsed by the URL standard's rules: the user information runs to the last `@` before the
    // host, so a password holding `@` is hidden whole.
    if let Ok(mut url) = url::Url::parse(text) {
        if url.password().is_none() {
            return text.to_owned();
        }
        if url.set_password(Some("****")).is_ok() {
            return url.to_string();
        }
    }
    // Not a URL the parser takes: hide everything between the scheme and the host.
    match (text.find("://"), text.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}****{}", &text[..s + 3], &text[at..]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_and_redaction() {
        assert_eq!(
            super::sqlite_path("sqlite://data/x.db?mode=rwc")
                .unwrap()
                .to_str(),
            Some("data/x.db")
        );
        assert_eq!(super::sqlite_path("postgres://h/db"), None);
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:****@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        // A password with `@` in it (as people type them) is hidden whole.
        let r = super::redact("postgres://u:p@ss@h/db");
        assert!(!r.contains("ss@") && !r.contains("p@"), "{r}");
        assert!(r.ends_with("@h/db"), "{r}");
    }
}
