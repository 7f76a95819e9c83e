//! The delivery worker: claims due attempts (leases; `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! instances never send one attempt twice while its lease holds), signs each event as Standard
//! Webhooks says, sends it with a per-attempt timeout, and records the result on the attempt it
//! holds — a failure and the next attempt in one transaction.
//!
//! Concurrency is bounded overall and per endpoint, so a slow or hanging endpoint holds at most
//! its own share of the slots for at most one timeout per attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lockbridge_core::events::Event;
use lockbridge_core::ids::{EventId, WebhookId};
use lockbridge_core::time::to_rfc3339;
use lockbridge_core::webhooks::{Delivery, sign};
use lockbridge_store::{Endpoint, StoreError};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::state::AppState;

/// How the worker sends: its HTTP client and its concurrency.
#[derive(Debug)]
pub struct Sender {
    client: reqwest::Client,
    slots: Arc<Semaphore>,
    per_endpoint: usize,
    allow_private: bool,
}

impl Sender {
    pub fn new(settings: &crate::Settings) -> Sender {
        Sender {
            client: super::address::client(
                settings.webhook_timeout,
                settings.webhook_allow_private,
            ),
            slots: Arc::new(Semaphore::new(settings.webhook_concurrency.max(1))),
            per_endpoint: settings.webhook_per_endpoint.max(1),
            allow_private: settings.webhook_allow_private,
        }
    }
}

/// The body sent for `event`: `{id, type, occurred_at, data}`, the ids it concerns added to
/// `data`.
pub fn body(event: &Event) -> Vec<u8> {
    let mut data = match &event.data {
        Value::Object(m) => m.clone(),
        _ => Default::default(),
    };
    let ids = [
        ("connection_id", event.connection_id.map(|v| v.to_string())),
        ("lock_id", event.lock_id.map(|v| v.to_string())),
        (
            "access_code_id",
            event.access_code_id.map(|v| v.to_string()),
        ),
        ("grant_id", event.grant_id.clone()),
    ];
    for (name, value) in ids {
        if let Some(v) = value {
            data.entry(name).or_insert(Value::String(v));
        }
    }
    let body = json!({
        "id": event.id,
        "type": event.kind,
        "occurred_at": to_rfc3339(event.occurred_at),
        "data": data,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// One pass: claims up to 200 due attempts and sends them; answers how many were sent.
pub async fn deliver_due(state: &AppState) -> Result<usize, StoreError> {
    let now = state.now();
    let owner = crate::engine::lease_owner();
    // Long enough for every attempt of the batch, whatever the concurrency.
    let lease = now + (state.settings.webhook_timeout * 4).as_millis() as i64 + 30_000;
    let due = state
        .store
        .claim_due_deliveries(now, 200, lease, &owner)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut event_ids: Vec<EventId> = due.iter().map(|d| d.event_id).collect();
    event_ids.sort();
    event_ids.dedup();
    let mut hook_ids: Vec<WebhookId> = due.iter().map(|d| d.webhook_id).collect();
    hook_ids.sort();
    hook_ids.dedup();
    let events: HashMap<EventId, Event> = state
        .store
        .events_by_ids(&event_ids)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let endpoints: HashMap<WebhookId, Endpoint> = state
        .store
        .endpoints(&hook_ids, now)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let mut by_endpoint: HashMap<WebhookId, Vec<Delivery>> = HashMap::new();
    for d in due {
        by_endpoint.entry(d.webhook_id).or_default().push(d);
    }
    let sent = by_endpoint.len();
    let total: usize = by_endpoint.values().map(Vec::len).sum();
    let per_endpoint = state.webhooks.per_endpoint;
    let work = by_endpoint.into_iter().map(|(hook, deliveries)| {
        let (events, endpoints, owner) = (&events, &endpoints, owner.as_str());
        async move {
            futures_util::stream::iter(deliveries)
                .map(|d| async move {
                    let result = attempt(
                        state,
                        &d,
                        events.get(&d.event_id),
                        endpoints.get(&hook),
                        owner,
                    )
                    .await;
                    if let Err(e) = result {
                        tracing::warn!(delivery = %d.id, error = %lockbridge_core::provider::error_chain(&e), "could not record a delivery");
                    }
                })
                .buffer_unordered(per_endpoint)
                .collect::<Vec<()>>()
                .await
        }
    });
    futures_util::future::join_all(work).await;
    tracing::debug!(endpoints = sent, attempts = total, "webhook pass");
    Ok(total)
}

/// Sends one attempt and records what came of it.
async fn attempt(
    state: &AppState,
    d: &Delivery,
    event: Option<&Event>,
    endpoint: Option<&Endpoint>,
    owner: &str,
) -> Result<(), StoreError> {
    let sender = &state.webhooks;
    let (Some(event), Some(endpoint)) = (event, endpoint) else {
        let now = state.now();
        let why = "the event or the endpoint no longer exists";
        state
            .store
            .delivery_failed(d, owner, None, why, 0, now)
            .await?;
        return Ok(());
    };
    if let Err(rule) = super::address::check_url(&endpoint.url, sender.allow_private) {
        let why = format!("the endpoint's URL {rule}");
        state
            .store
            .delivery_failed(d, owner, None, &why, 0, state.now())
            .await?;
        return Ok(());
    }
    let body = body(event);
    let id = event.id.to_string();
    let timestamp = state.now().div_euclid(1000);
    let signatures: Vec<String> = endpoint
        .secrets
        .iter()
        .filter_map(|s| sign(s, &id, timestamp, &body))
        .collect();
    let _slot = sender.slots.acquire().await;
    let started = Instant::now();
    let sent = sender
        .client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures.join(" "))
        .body(body)
        .send()
        .await;
    let elapsed = millis(started.elapsed());
    let now = state.now();
    match sent {
        Ok(r) if r.status().is_success() => {
            let status = r.status().as_u16();
            state
                .store
                .delivery_succeeded(d, owner, status, elapsed, now)
                .await?;
        }
        Ok(r) => {
            let status = r.status().as_u16();
            let why = format!("the endpoint answered {status}");
            state
                .store
                .delivery_failed(d, owner, Some(status), &why, elapsed, now)
                .await?;
        }
        Err(e) => {
            // The client's words would name the URL (it may carry a token): say what happened.
            let why = if e.is_timeout() {
                let limit = state.settings.webhook_timeout;
                match limit.as_secs() {
                    0 => format!("no answer within {} ms", limit.as_millis()),
                    s => format!("no answer within {s} s"),
                }
            } else if e.is_connect() {
                "could not connect to the endpoint".to_owned()
            } else {
                "the request to the endpoint failed".to_owned()
            };
            state
                .store
                .delivery_failed(d, owner, None, &why, elapsed, now)
                .await?;
        }
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
