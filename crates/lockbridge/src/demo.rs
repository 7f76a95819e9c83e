//! `lockbridge demo`: simulators, a SQLite database, an organisation with an admin key, every
//! simulated vendor connected and synced, the API served, and a quick start that works when
//! pasted.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use lockbridge_app::connections as service;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::model::{Provider, Role};
use lockbridge_server::edge::EdgeLimits;
use lockbridge_server::{App, Settings};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::{DbArgs, open_store};
use crate::serve::bind;
use crate::sim::{self, SimArgs};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Print one JSON object (api_url, api_key, simulators) as the first line on stdout.
    #[arg(long)]
    json: bool,
    /// Address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The demo's database (created when missing).
    #[arg(
        long,
        env = "LOCKBRIDGE_DEMO_DATABASE_URL",
        default_value = "sqlite://lockbridge-demo.db"
    )]
    database_url: String,
    /// The workers' intervals; short here, so that changes made in the simulators show soon.
    #[command(flatten)]
    workers: DemoWorkerArgs,
}

#[derive(Debug, clap::Args)]
struct DemoWorkerArgs {
    /// How often each lock's codes are compared with the simulators'.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    reconcile_interval: std::time::Duration,
    /// How often each connection's locks and gateways are read again.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    device_sync_interval: std::time::Duration,
    /// How often each lock's log is read for new records.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    log_interval: std::time::Duration,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // The port first: a demo that cannot serve writes nothing into its database.
    let listener = bind(args.listen).await?;
    let sims = sim::start(&SimArgs::demo(1)).await?;
    let store = open_store(&DbArgs {
        database_url: args.database_url.clone(),
    })
    .await?;
    let mut settings = Settings {
        reconcile_interval: args.workers.reconcile_interval,
        device_sync_interval: args.workers.device_sync_interval,
        log_interval: args.workers.log_interval,
        // The demo's receivers and calendar feeds run on this machine (`lockbridge listen`).
        webhook_allow_private: true,
        calendar_interval: Duration::from_secs(20),
        ..Settings::default()
    };
    // Every vendor with a simulator is reached there; one without keeps its own host.
    for provider in Provider::known() {
        if let Some(base) = sims.description[provider.as_str()]["base_url"].as_str() {
            settings.base_urls.insert(provider, base.to_owned());
        }
    }
    let mut limits = EdgeLimits::default();
    crate::serve::fit_open_files(&mut limits);
    let app = App::new(store.clone(), settings).with_edge(limits);

    let org = store.create_org("Demo").await?;
    let (_, api_key) = store
        .create_api_key(org.id, "demo admin", Role::Admin)
        .await?;
    let mut kii_connection = String::new();
    for (provider, vendor) in app.state.providers.iter() {
        let entry = &sims.description[provider.as_str()];
        if entry.is_null() {
            continue; // no simulator for this vendor
        }
        let mut creds = Credentials::new();
        for field in vendor.credential_fields() {
            if let Some(value) = entry[field.name].as_str() {
                creds.set(field.name, value);
            }
        }
        let name = format!("{} demo", provider.label());
        let conn = service::create(&app.state, org.id, provider, Some(name), None, &creds)
            .await
            .with_context(|| format!("connecting the {provider} simulator"))?;
        service::sync(&app.state, &conn)
            .await
            .with_context(|| format!("syncing the {provider} simulator"))?;
        // The quick start shows the things of the vendor that has them.
        if vendor.things().is_some() {
            kii_connection = conn.id.to_string();
        }
    }

    // A vendor that tells no zone (TTLock gives only an offset) leaves its locks without one:
    // the demo places them, as an operator would (`PATCH /v1/locks/{id}`), so that codes and
    // the console read in local time from the start.
    for lock in store.list_locks(org.id, 200, None).await? {
        if lock.time_zone.is_none() {
            store
                .set_lock_time_zone(
                    org.id,
                    lock.id,
                    Some(DEMO_ZONE),
                    &lockbridge_app::health::Health,
                    app.state.now(),
                )
                .await?;
        }
    }
    app.state.locks.invalidate(org.id);

    let api_url = format!("http://{}", listener.local_addr()?);
    if args.json {
        println!(
            "{}",
            json!({ "api_url": api_url, "console_url": format!("{api_url}/console"), "api_key": api_key, "simulators": sims.description })
        );
    } else {
        let locks = store.list_locks(org.id, 200, None).await?;
        let named = |name: &str| {
            locks
                .iter()
                .find(|l| l.name == name)
                .map(|l| l.id.to_string())
                .unwrap_or_default()
        };
        let ids = QuickStart {
            front: named("Front door"),
            apartment: named("Apartment 1"),
            entrance: named("Entrance"),
            each_vendor: one_lock_per_vendor(&app.state.providers, &locks),
            kii_connection,
        };
        print_quick_start(&api_url, &api_key, &ids, &sims.description);
    }
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            sim::wait_for_shutdown().await;
            stop.cancel();
        }
    });
    app.serve(listener, stop).await?;
    for server in sims.servers {
        server.stop().await;
    }
    Ok(())
}

/// The zone the demo places locks in whose vendor tells none.
const DEMO_ZONE: &str = "Europe/Lisbon";

/// The ids the quick start's curl lines use.
struct QuickStart {
    front: String,
    apartment: String,
    entrance: String,
    /// For each vendor that holds codes: its label, a lock of it, a PIN within that lock's rules.
    each_vendor: Vec<(&'static str, String, String)>,
    kii_connection: String,
}

/// A lock of each vendor that holds codes (in the providers' order), with a PIN its rules take.
fn one_lock_per_vendor(
    providers: &lockbridge_app::Providers,
    locks: &[lockbridge_core::model::Lock],
) -> Vec<(&'static str, String, String)> {
    providers
        .iter()
        .filter_map(|(p, _)| {
            let lock = locks
                .iter()
                .find(|l| l.provider == p && l.online && l.capabilities.access_codes)?;
            Some((p.label(), lock.id.to_string(), lock.code_rules.generate()))
        })
        .collect()
}

fn print_quick_start(api: &str, key: &str, ids: &QuickStart, sims: &Value) {
    let front = &ids.front;
    let kii = &ids.kii_connection;
    let apartment = &ids.apartment;
    let entrance = &ids.entrance;
    let thing = sims["kii"]["thing_ids"][0].as_str().unwrap_or_default();
    let auth = format!("-H \"Authorization: Bearer {key}\"");
    println!("lockbridge demo is serving at {api}\n");
    println!("Console: open {api}/console in a browser and sign in with this admin key:\n");
    println!("  {key}\n");
    println!("Seam's SDKs: endpoint {api}/seam, api_key seam_{key}\n");
    println!("Simulators (control API under /_sim/ on each):");
    for (vendor, entry) in sims.as_object().into_iter().flatten() {
        println!(
            "  {vendor:<8} {}",
            entry["base_url"].as_str().unwrap_or_default()
        );
    }
    println!("\nPaste these:\n");
    println!("  # the locks of every connected vendor");
    println!("  curl -s {api}/v1/locks {auth}\n");
    println!("  # a guest code for the front door, valid for a week from now");
    let now = lockbridge_core::time::now_ms();
    let (start, end) = (
        lockbridge_core::time::to_rfc3339(now / 60_000 * 60_000),
        lockbridge_core::time::to_rfc3339(now / 60_000 * 60_000 + 7 * 86_400_000),
    );
    println!(
        "  curl -s -X POST {api}/v1/locks/{front}/access-codes {auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"name\": \"Guest\", \"starts_at\": \"{start}\", \"ends_at\": \"{end}\"}}'\n"
    );
    println!("  # the front door's codes (including the ones already on the lock)");
    println!("  curl -s {api}/v1/locks/{front}/access-codes {auth}\n");
    println!(
        "  # a code deleted on the lock behind lockbridge's back is put back at the next\n  \
         # reconciliation (every 20 s here), or at once with"
    );
    println!("  curl -s -X POST {api}/v1/locks/{front}/reconcile {auth}\n");
    println!("  # open it, then read its log");
    println!("  curl -s -X POST {api}/v1/locks/{front}/unlock {auth}");
    println!("  curl -s {api}/v1/locks/{front}/events {auth}\n");
    println!("  # a Tedee keypad PIN for weekday office hours (a recurring weekly window)");
    println!(
        "  curl -s -X POST {api}/v1/locks/{apartment}/access-codes {auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"name\": \"Office hours\", \"schedule\": {{\"weekdays\": [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"], \"start_time\": \"08:00\", \"end_time\": \"17:30\", \"time_zone\": \"Europe/Warsaw\"}}}}'\n"
    );
    println!(
        "  # a 7-digit Tuya code: `setting` until the lock has it, then `set`; then freeze it"
    );
    println!(
        "  ID=$(curl -s -X POST {api}/v1/locks/{entrance}/access-codes {auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"name\": \"Guest\", \"code\": \"5820394\"}}' | sed -E 's/.*\"id\":\"([^\"]+)\".*/\\1/')"
    );
    println!("  sleep 8; curl -s {api}/v1/access-codes/$ID {auth}");
    println!("  curl -s -X POST {api}/v1/access-codes/$ID/freeze {auth}\n");
    println!(
        "  # a code on a lock of each vendor, its PIN within that lock's rules (its `code_rules`):\n  \
         # `set` once the vendor's own list holds it"
    );
    for (vendor, lock, pin) in &ids.each_vendor {
        println!(
            "  curl -s -X POST {api}/v1/locks/{lock}/access-codes {auth} -H 'Content-Type: application/json' \\\n    \
             -d '{{\"name\": \"{vendor} guest\", \"code\": \"{pin}\"}}'"
        );
    }
    println!();
    println!("  # the TTLock app password changed: one field is enough");
    println!(
        "  curl -s -X POST {api}/bff/iot-lock/credentials-update {auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"password\": \"lockbridge-demo\"}}'\n"
    );
    println!("  # Kii things, and a new password for one (sent to Kii, never stored)");
    println!("  curl -s {api}/v1/connections/{kii}/things {auth}");
    println!(
        "  curl -s -X PUT {api}/v1/connections/{kii}/things/{thing}/password {auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"new_password\": \"Lobby new pass 1\"}}' -w '%{{http_code}}\\n'\n"
    );
    println!(
        "  # events as they happen: an endpoint (its secret is printed once), and a local receiver\n  \
         # that checks each delivery's signature (in another terminal)"
    );
    println!(
        "  SECRET=$(curl -s -X POST {api}/v1/webhooks {auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"url\": \"http://127.0.0.1:9000/hooks\"}}' | sed -E 's/.*\"secret\":\"([^\"]+)\".*/\\1/')"
    );
    println!("  cargo run --release -- listen --secret $SECRET");
    println!("  curl -s '{api}/v1/events?type=access_code.*' {auth}\n");
    println!("  # connections, with secrets masked; metrics");
    println!("  curl -s {api}/v1/connections {auth}");
    println!("  curl -s {api}/metrics\n");
    println!("Ctrl-C stops.");
}
