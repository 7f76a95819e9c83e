//! `lockbridge demo`: simulators, a SQLite database, an organisation with an admin key, every
//! simulated vendor connected and synced, the API served, and a quick start that works when
//! pasted.

use std::net::SocketAddr;

use anyhow::Context;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::model::{Provider, Role};
use lockbridge_server::{App, Settings, service};
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
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let sims = sim::start(&SimArgs {
        demo: true,
        json: false,
        seed: 1,
        ttlock: "127.0.0.1:0".parse()?,
    })
    .await?;
    let store = open_store(&DbArgs {
        database_url: args.database_url.clone(),
    })
    .await?;
    let t = &sims.description["ttlock"];
    let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
    let mut settings = Settings::default();
    settings.base_urls.insert(Provider::Ttlock, s("base_url"));
    let app = App::new(store.clone(), settings);

    let org = store.create_org("Demo").await?;
    let (_, api_key) = store
        .create_api_key(org.id, "demo admin", Role::Admin)
        .await?;
    let mut creds = Credentials::new();
    for k in ["client_id", "client_secret", "username", "password"] {
        creds.set(k, s(k));
    }
    let conn = service::create(
        &app.state,
        org.id,
        Provider::Ttlock,
        Some("TTLock demo".into()),
        None,
        &creds,
    )
    .await
    .context("connecting the TTLock simulator")?;
    service::sync(&app.state, &conn)
        .await
        .context("syncing the TTLock simulator")?;

    let listener = bind(args.listen).await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    if args.json {
        println!(
            "{}",
            json!({ "api_url": api_url, "api_key": api_key, "simulators": sims.description })
        );
    } else {
        let locks = store
            .list_locks(org.id, &Default::default(), 10, None)
            .await?;
        let front = locks
            .iter()
            .find(|l| l.name == "Front door")
            .map(|l| l.id.to_string())
            .unwrap_or_default();
        print_quick_start(&api_url, &api_key, &front, &sims.description);
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

fn print_quick_start(api: &str, key: &str, front: &str, sims: &Value) {
    let auth = format!("-H \"Authorization: Bearer {key}\"");
    println!("lockbridge demo is serving at {api}\n");
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
    println!("  # a guest code for the front door, valid for a week");
    println!(
        "  curl -s -X POST {api}/v1/locks/{front}/access-codes {auth} -H 'Content-Type: application/json' \\\n    \
         -d \"{{\\\"name\\\": \\\"Guest\\\", \\\"starts_at\\\": \\\"$(date -u +%FT%TZ)\\\", \\\"ends_at\\\": \\\"$(date -u -d '+7 days' +%FT%TZ)\\\"}}\"\n"
    );
    println!("  # the front door's codes (including the ones already on the lock)");
    println!("  curl -s {api}/v1/locks/{front}/access-codes {auth}\n");
    println!("  # open it, then read its log");
    println!("  curl -s -X POST {api}/v1/locks/{front}/unlock {auth}");
    println!("  curl -s {api}/v1/locks/{front}/events {auth}\n");
    println!("  # the TTLock app password changed: one field is enough");
    println!(
        "  curl -s -X POST {api}/bff/iot-lock/credentials-update {auth} -H 'Content-Type: application/json' \\\n    \
         -d '{{\"password\": \"lockbridge-demo\"}}'\n"
    );
    println!("  # connections, with secrets masked; metrics");
    println!("  curl -s {api}/v1/connections {auth}");
    println!("  curl -s {api}/metrics\n");
    println!("Ctrl-C stops.");
}
