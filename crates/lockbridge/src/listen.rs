//! `lockbridge listen`: a local webhook receiver for development. It checks each delivery's
//! Standard Webhooks signature and timestamp, answers 204 (or 401 with the reason), and prints
//! one line per event (`--json`: the body as received).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use lockbridge_core::webhooks::verify;
use serde_json::Value;

/// How far a delivery's timestamp may be from this machine's clock.
const TOLERANCE_S: i64 = 300;

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// The endpoint's secret (`whsec_…`), as `POST /v1/webhooks` answered it.
    #[arg(long, env = "LOCKBRIDGE_WEBHOOK_SECRET")]
    secret: String,
    /// Where to listen; point the endpoint's URL at it (any path).
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Print each body as received instead of a summary line.
    #[arg(long)]
    json: bool,
}

#[derive(Clone)]
struct Receiver {
    secret: String,
    json: bool,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// One line for an event: when, what, which lock and code.
fn summary(event: &Value) -> String {
    let field = |k: &str| event["data"][k].as_str().map(|v| format!(" {k}={v}"));
    let mut line = format!(
        "{} {} {}",
        event["occurred_at"].as_str().unwrap_or("-"),
        event["type"].as_str().unwrap_or("-"),
        event["id"].as_str().unwrap_or("-"),
    );
    for k in [
        "lock_id",
        "access_code_id",
        "connection_id",
        "grant_id",
        "webhook_id",
    ] {
        line.extend(field(k));
    }
    line
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let now = jiff::Timestamp::now().as_second();
    let checked = verify(
        &r.secret,
        header(&headers, "webhook-id"),
        header(&headers, "webhook-timestamp"),
        header(&headers, "webhook-signature"),
        &body,
        now,
        TOLERANCE_S,
    );
    if let Err(why) = checked {
        eprintln!("refused a delivery: {why}");
        return (StatusCode::UNAUTHORIZED, format!("{why}\n"));
    }
    if r.json {
        // Parsed and written again, so that no control character reaches the terminal raw.
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) => println!("{v}"),
            Err(_) => println!("{}", crate::printable(&String::from_utf8_lossy(&body))),
        }
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(event) => println!("{}", crate::printable(&summary(&event))),
            Err(_) => println!("(a body that is not JSON, {} bytes)", body.len()),
        }
    }
    (StatusCode::NO_CONTENT, String::new())
}

pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    if !args.secret.starts_with("whsec_") {
        anyhow::bail!("--secret must be the endpoint's whsec_… secret");
    }
    let listener = crate::serve::bind(args.listen).await?;
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(Receiver {
            secret: args.secret,
            json: args.json,
        });
    eprintln!(
        "listening on http://{}/ for signed deliveries (Ctrl-C to stop)",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
