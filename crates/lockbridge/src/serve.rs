//! `serve`, `migrate` and `org create`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use lockbridge_core::budgets::Rate;
use lockbridge_core::model::{Provider, Role};
use lockbridge_server::edge::EdgeLimits;
use lockbridge_server::{App, InstanceRole, Settings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{DbArgs, open_store};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to serve the API on.
    #[arg(long, env = "LOCKBRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A vendor's API host for connections created without a base_url, as VENDOR=URL
    /// (repeatable; e.g. `--base-url tedee=http://127.0.0.1:9003`). Also read from
    /// LOCKBRIDGE_<VENDOR>_BASE_URL (e.g. LOCKBRIDGE_TTLOCK_BASE_URL); the flag wins.
    #[arg(long = "base-url", value_name = "VENDOR=URL", value_parser = vendor_url)]
    pub base_urls: Vec<(Provider, String)>,
    /// What this instance runs: `api` (the HTTP API and console, no workers), `workers` (the
    /// background workers; HTTP answers only /healthz, /readyz and /metrics) or `all`. Several
    /// instances on one PostgreSQL database share the work whatever their roles.
    #[arg(long, env = "LOCKBRIDGE_ROLE", default_value = "all")]
    pub role: InstanceRole,
    #[command(flatten)]
    pub workers: WorkerArgs,
    #[command(flatten)]
    pub edge: EdgeArgs,
}

/// Timeouts and limits of the HTTP edge.
#[derive(Debug, Clone, clap::Args)]
pub struct EdgeArgs {
    /// A request's headers must arrive within this; idle keep-alive connections close after it.
    #[arg(long, env = "LOCKBRIDGE_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// A request's body must arrive within this.
    #[arg(long, env = "LOCKBRIDGE_BODY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,
    /// A request must be answered within this.
    #[arg(long, env = "LOCKBRIDGE_REQUEST_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Connections served at once (more wait in the listen backlog).
    #[arg(long, env = "LOCKBRIDGE_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish.
    #[arg(long, env = "LOCKBRIDGE_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

impl EdgeArgs {
    pub fn limits(&self) -> EdgeLimits {
        EdgeLimits {
            header_read_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            request_timeout: self.request_timeout,
            max_connections: self.max_connections.max(1),
            shutdown_grace: self.shutdown_grace,
            ..EdgeLimits::default()
        }
    }
}

/// How often the background workers go over each lock and connection.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// How often each lock's codes are compared with the vendor's (`90s`, `15m`, `1h`).
    #[arg(long, env = "LOCKBRIDGE_RECONCILE_INTERVAL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub reconcile_interval: Duration,
    /// How often each connection's locks and gateways are read again (online, battery…).
    #[arg(long, env = "LOCKBRIDGE_DEVICE_SYNC_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub device_sync_interval: Duration,
    /// How often each lock's log (unlock records, alarms) is read for new records.
    #[arg(long, env = "LOCKBRIDGE_LOG_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub log_interval: Duration,
    /// Let webhook endpoints be private, loopback or link-local addresses (refused otherwise,
    /// so that an API key cannot make lockbridge call into its own network).
    #[arg(long, env = "LOCKBRIDGE_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Wait for the disk before answering every unlock and lock (PostgreSQL). By default the
    /// answer to one on a lock whose vendor keeps a log does not wait for the database's flush:
    /// the log restores what a crash of the database server could lose.
    #[arg(long, env = "LOCKBRIDGE_FLUSH_COMMAND_RESULTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub flush_command_results: bool,
    /// The longest one HTTP request to a vendor may take.
    #[arg(long, env = "LOCKBRIDGE_VENDOR_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub vendor_request_timeout: Duration,
    /// The request rate of each account of a vendor, as VENDOR=RATE (repeatable; e.g.
    /// `--rate tuya=20/s`, `--rate tedee=700/h`; units s, min, h). Also read from
    /// LOCKBRIDGE_<VENDOR>_RATE; the flag wins. Tedee's is 700/h unless set; TTLock and Tuya
    /// publish none, so they have none unless set. Instances on one PostgreSQL database share
    /// each account's budget.
    #[arg(long = "rate", value_name = "VENDOR=RATE", value_parser = vendor_rate)]
    pub rates: Vec<(Provider, Rate)>,
    /// How often the workers look for due work (codes to set or remove, syncs, log reads…).
    #[arg(long, env = "LOCKBRIDGE_WORKER_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub worker_interval: Duration,
    /// The first wait before a code the vendor could not take is tried again; it doubles with
    /// each attempt up to --retry-max.
    #[arg(long, env = "LOCKBRIDGE_RETRY_BASE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub retry_base: Duration,
    #[arg(long, env = "LOCKBRIDGE_RETRY_MAX", default_value = "15m", value_parser = humantime::parse_duration)]
    pub retry_max: Duration,
    /// The longest one attempt of the code engine may take (its vendor calls together); past
    /// it the outcome is unknown and checked against the lock. An instance holds a code it
    /// works for 1.5 times this (extending it while it works), so a code whose instance died
    /// is taken over once that lease has run out.
    #[arg(long, env = "LOCKBRIDGE_VENDOR_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub vendor_timeout: Duration,
    /// The longest a vendor call waits for its account's budget; past it the call answers
    /// `rate_limited` (the code engine tries again later).
    #[arg(long, env = "LOCKBRIDGE_BUDGET_WAIT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub budget_wait: Duration,
    /// How long before its period or weekly window opens a just-in-time code is written to
    /// the lock (it is `scheduled` until then, and removed when the window closes).
    #[arg(long, env = "LOCKBRIDGE_JIT_LEAD", default_value = "60m", value_parser = humantime::parse_duration)]
    pub jit_lead: Duration,
    /// How often each property's calendar feed is read.
    #[arg(long, env = "LOCKBRIDGE_CALENDAR_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub calendar_interval: Duration,
    /// How long before check-in a stay is first checked with the vendors (again an hour before).
    #[arg(long, env = "LOCKBRIDGE_READINESS_LEAD", default_value = "24h", value_parser = humantime::parse_duration)]
    pub readiness_lead: Duration,
}

impl WorkerArgs {
    /// Fails naming the variable when a `LOCKBRIDGE_<VENDOR>_RATE` is not a rate.
    pub fn apply(&self, settings: &mut Settings) -> anyhow::Result<()> {
        settings.reconcile_interval = self.reconcile_interval;
        settings.device_sync_interval = self.device_sync_interval;
        settings.log_interval = self.log_interval;
        settings.flush_command_results = self.flush_command_results;
        settings.vendor_request_timeout = self.vendor_request_timeout;
        settings.webhook_allow_private = self.webhook_allow_private;
        settings.budget_wait = self.budget_wait;
        settings.jit_lead = self.jit_lead;
        settings.calendar_interval = self.calendar_interval.max(Duration::from_secs(1));
        settings.readiness_lead = self.readiness_lead;
        settings.worker_interval = self.worker_interval.max(Duration::from_millis(10));
        settings.retry_base = self.retry_base;
        settings.retry_max = self.retry_max.max(self.retry_base);
        settings.vendor_timeout = self.vendor_timeout;
        settings.code_lease = self.vendor_timeout * 3 / 2;
        for (provider, var, rate) in per_vendor_env("RATE") {
            let rate = rate.parse().map_err(|e| anyhow::anyhow!("{var}: {e}"))?;
            settings.vendor_rates.insert(provider, rate);
        }
        settings.vendor_rates.extend(self.rates.iter().copied());
        Ok(())
    }
}

/// `LOCKBRIDGE_<VENDOR>_<SUFFIX>` for each vendor that has it set (not blank): the vendor, the
/// variable's name and its value.
fn per_vendor_env(suffix: &str) -> Vec<(Provider, String, String)> {
    Provider::known()
        .into_iter()
        .filter_map(|p| {
            let var = format!("LOCKBRIDGE_{}_{suffix}", p.as_str().to_uppercase());
            let value = std::env::var(&var).ok().filter(|v| !v.trim().is_empty())?;
            Some((p, var, value))
        })
        .collect()
}

/// `VENDOR=RATE` of `--rate`.
fn vendor_rate(text: &str) -> Result<(Provider, Rate), String> {
    let (vendor, rate) = text
        .split_once('=')
        .ok_or("expected VENDOR=RATE, e.g. tuya=20/s")?;
    Ok((vendor.trim().parse::<Provider>()?, rate.parse()?))
}

pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (in use? pick another with --listen)"))
}

/// `VENDOR=URL` of `--base-url`.
fn vendor_url(text: &str) -> Result<(Provider, String), String> {
    let (vendor, url) = text
        .split_once('=')
        .ok_or("expected VENDOR=URL, e.g. tedee=http://127.0.0.1:9003")?;
    let provider = vendor.trim().parse::<Provider>()?;
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("{url:?} must start with http:// or https://"));
    }
    Ok((provider, url.to_owned()))
}

/// Raises the process's open-file soft limit to its hard limit, and keeps the connection cap
/// below it with a reserve (see [`lockbridge_server::edge::connection_cap`]).
pub fn fit_open_files(limits: &mut EdgeLimits) {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not read or raise the open-file limit; assuming 1024");
            1024
        }
    };
    let wanted = limits.max_connections;
    let cap = lockbridge_server::edge::connection_cap(limit, wanted);
    if cap < wanted {
        tracing::warn!(
            open_files = limit,
            max_connections = cap,
            "the open-file limit is low: connections served at once lowered below it"
        );
    }
    limits.max_connections = cap;
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Settings first: a bad one is reported before the database is touched.
    let mut settings = Settings::default();
    args.workers.apply(&mut settings)?;
    let mut limits = args.edge.limits();
    fit_open_files(&mut limits);
    for (provider, _, url) in per_vendor_env("BASE_URL") {
        settings.base_urls.insert(provider, url);
    }
    settings.base_urls.extend(args.base_urls);
    let store = open_store(&args.db).await?;
    let app = App::new(store, settings).with_edge(limits);
    let listener = bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, role = ?args.role, "lockbridge is serving");
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            crate::sim::wait_for_shutdown().await;
            stop.cancel();
        }
    });
    app.serve_as(args.role, listener, stop).await?;
    Ok(())
}

pub async fn migrate(db: DbArgs) -> anyhow::Result<()> {
    open_store(&db).await?;
    println!("migrations applied");
    Ok(())
}

pub async fn create_org(db: DbArgs, name: &str) -> anyhow::Result<()> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "the organisation needs a name");
    let store = open_store(&db).await?;
    let org = store.create_org(name).await?;
    let (_, key) = store.create_api_key(org.id, "admin", Role::Admin).await?;
    println!("{key}");
    eprintln!(
        "organisation {} ({}) created; the line above is its admin key, shown once",
        org.name, org.id
    );
    Ok(())
}

pub async fn org_key(db: DbArgs, org_id: &str, role: &str, name: &str) -> anyhow::Result<()> {
    let org: lockbridge_core::OrgId = org_id
        .parse()
        .map_err(|_| anyhow::anyhow!("{org_id:?} is not an organisation id (org_…)"))?;
    let role = Role::parse(role)
        .ok_or_else(|| anyhow::anyhow!("--role must be admin or member, not {role:?}"))?;
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 100,
        "--name must be 1 to 100 characters"
    );
    let store = open_store(&db).await?;
    let org = store
        .get_org(org)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no organisation {org_id} in this database"))?;
    let (_, key) = store.create_api_key(org.id, name, role).await?;
    println!("{key}");
    eprintln!(
        "a new {} key for {} ({}); the line above is shown once\n\
         for Seam's SDKs (endpoint <lockbridge>/seam) it is: seam_{key}",
        role.as_str(),
        org.name,
        org.id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_flags_name_a_vendor_and_a_url() {
        lockbridge_vendors::register();
        assert_eq!(
            vendor_url("tedee=http://127.0.0.1:9003").ok(),
            Some((
                lockbridge_vendors::TEDEE,
                "http://127.0.0.1:9003".to_owned()
            ))
        );
        // Not a vendor's name: the error lists the vendors there are.
        let unknown = vendor_url("no-such-vendor=https://x").unwrap_err();
        assert!(unknown.contains("ttlock, tuya, tedee, kii"), "{unknown}");
        assert!(vendor_url("tedee").unwrap_err().contains("VENDOR=URL"));
        assert!(vendor_url("kii=ftp://x").unwrap_err().contains("http://"));
    }

    #[test]
    fn rate_flags_name_a_vendor_and_a_rate() {
        lockbridge_vendors::register();
        let (p, r) = vendor_rate("tuya=20/s").unwrap();
        assert_eq!(
            (p, r.to_string()),
            (lockbridge_vendors::TUYA, "20/s".to_owned())
        );
        assert!(vendor_rate("tuya").unwrap_err().contains("VENDOR=RATE"));
        assert!(
            vendor_rate("tuya=fast")
                .unwrap_err()
                .contains("`fast` is not a rate")
        );
    }
}
