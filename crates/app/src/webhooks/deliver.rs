//! The delivery worker: each endpoint with due attempts gets a lane of its own, which claims
//! its attempts a few at a time (leases; `FOR UPDATE SKIP LOCKED` on PostgreSQL, so instances
//! never send one attempt twice while its lease holds), signs each event as Standard Webhooks
//! says, sends it with a per-attempt timeout, and records the result on the attempt it holds —
//! a failure and the next attempt in one transaction, a success closing the event's other
//! attempts to that endpoint.
//!
//! The worker never waits for a lane: a slow or hanging endpoint holds only its own lane (at
//! most `webhook_per_endpoint` attempts, each for at most one timeout), while the next passes
//! start lanes for every other endpoint. A disabled endpoint is claimed for nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lockbridge_core::events::Event;
use lockbridge_core::ids::{EventId, WebhookId};
use lockbridge_core::time::Millis;
use lockbridge_core::time::to_rfc3339;
use lockbridge_core::webhooks::{Delivery, WebhookFormat, sign};
use lockbridge_store::{Endpoint, FailedAttempt, StoreError};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::Service;

/// How the worker sends: its HTTP client, its concurrency, and the endpoints this instance
/// has a lane running for.
#[derive(Debug)]
pub struct Sender {
    client: reqwest::Client,
    lanes: usize,
    per_endpoint: usize,
    allow_private: bool,
    busy: Arc<Mutex<HashSet<WebhookId>>>,
}

impl Sender {
    pub fn new(settings: &crate::Settings) -> Sender {
        Sender {
            client: super::address::client(
                settings.webhook_timeout,
                settings.webhook_allow_private,
            ),
            lanes: settings.webhook_concurrency.max(1),
            per_endpoint: settings.webhook_per_endpoint.max(1),
            allow_private: settings.webhook_allow_private,
            busy: Arc::default(),
        }
    }

    fn busy(&self) -> Vec<WebhookId> {
        self.busy
            .lock()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Marks an endpoint's lane running on this instance until dropped.
struct LaneGuard(Arc<Mutex<HashSet<WebhookId>>>, WebhookId);

impl Drop for LaneGuard {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.0.lock() {
            busy.remove(&self.1);
        }
    }
}

/// The lanes one pass started.
#[derive(Debug, Default)]
pub struct Lanes {
    tasks: Vec<JoinHandle<usize>>,
}

impl Lanes {
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for every lane; answers how many attempts they sent.
    pub async fn finish(self) -> usize {
        let mut sent = 0;
        for task in self.tasks {
            sent += task.await.unwrap_or(0);
        }
        sent
    }
}

/// One pass: starts a lane for each endpoint with due attempts that has none running on this
/// instance, and returns without waiting for them.
pub async fn start_due(state: &Service) -> Result<Lanes, StoreError> {
    let sender = &state.webhooks;
    let busy = sender.busy();
    let room = sender.lanes.saturating_sub(busy.len());
    if room == 0 {
        return Ok(Lanes::default());
    }
    let due = state
        .store
        .due_endpoints(state.now(), &busy, u32::try_from(room).unwrap_or(u32::MAX))
        .await?;
    let mut lanes = Lanes::default();
    for hook in due {
        let guard = {
            let Ok(mut set) = sender.busy.lock() else {
                break;
            };
            if !set.insert(hook) {
                continue;
            }
            LaneGuard(sender.busy.clone(), hook)
        };
        let state = state.clone();
        lanes.tasks.push(tokio::spawn(async move {
            let _guard = guard;
            match lane(&state, hook).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(webhook = %hook, error = %lockbridge_core::provider::error_chain(&e), "webhook lane failed");
                    0
                }
            }
        }));
    }
    Ok(lanes)
}

/// A pass that waits for its lanes (tests and benchmarks drive delivery with it); answers how
/// many attempts were sent.
pub async fn deliver_due(state: &Service) -> Result<usize, StoreError> {
    Ok(start_due(state).await?.finish().await)
}

/// How many rounds of `per_endpoint` attempts a lane claims at once (200 at the default 8):
/// on SQLite each claim is a write that the attempts' own records wait behind, so claims are
/// few and large. The lease covers a timeout per round, so no attempt is claimed again while
/// its lane may still send it; an instance that stops leaves them for that long.
const LANE_ROUNDS: usize = 25;

/// One endpoint's lane: claims up to [`LANE_ROUNDS`] × `per_endpoint` of its due attempts, sends
/// them `per_endpoint` at a time, and again until none is due. Answers how many it sent.
async fn lane(state: &Service, hook: WebhookId) -> Result<usize, StoreError> {
    let per_endpoint = state.webhooks.per_endpoint;
    let owner = crate::engine::lease_owner();
    let mut sent = 0;
    loop {
        let now = state.now();
        // A few rounds of `per_endpoint` at a time: the lease covers a timeout per round.
        let batch = per_endpoint * LANE_ROUNDS;
        let timeout = state.settings.webhook_timeout.as_millis() as i64;
        let lease = now + timeout * LANE_ROUNDS as i64 + 30_000;
        let due = state
            .store
            .claim_due_deliveries(hook, now, batch as u32, lease, &owner)
            .await?;
        if due.is_empty() {
            return Ok(sent);
        }
        // One attempt of an event at a time: the others (retries by hand) go back, to be
        // closed by its success or sent after its failure.
        let mut event_ids: Vec<EventId> = Vec::new();
        let mut now_due = Vec::with_capacity(due.len());
        for d in due {
            if event_ids.contains(&d.event_id) {
                state.store.release_delivery(&d, &owner).await?;
            } else {
                event_ids.push(d.event_id);
                now_due.push(d);
            }
        }
        let due = now_due;
        let events: HashMap<EventId, Event> = state
            .store
            .events_by_ids(&event_ids)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let endpoint = state.store.endpoints(&[hook], now).await?.pop();
        sent += due.len();
        let (events, endpoint, owner) = (&events, endpoint.as_ref(), owner.as_str());
        futures_util::stream::iter(due)
            .for_each_concurrent(per_endpoint, |d| async move {
                let result = attempt(state, &d, events.get(&d.event_id), endpoint, owner).await;
                if let Err(e) = result {
                    tracing::warn!(delivery = %d.id, error = %lockbridge_core::provider::error_chain(&e), "could not record a delivery");
                }
            })
            .await;
    }
}

/// The body sent for `event`: `{id, type, occurred_at, actor, data}`, the ids it concerns
/// added to `data`.
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
        "actor": event.actor,
        "data": data,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Sends one attempt and records what came of it.
async fn attempt(
    state: &Service,
    d: &Delivery,
    event: Option<&Event>,
    endpoint: Option<&Endpoint>,
    owner: &str,
) -> Result<(), StoreError> {
    let sender = &state.webhooks;
    let (Some(event), Some(endpoint)) = (event, endpoint) else {
        let why = "the event or the endpoint no longer exists";
        failed(state, d, owner, None, why, 0).await?;
        return Ok(());
    };
    if !endpoint.enabled {
        return state.store.release_delivery(d, owner).await;
    }
    if let Err(rule) = super::address::check_url(&endpoint.url, sender.allow_private) {
        let why = format!("the endpoint's URL {rule}");
        failed(state, d, owner, None, &why, 0).await?;
        return Ok(());
    }
    let body = match endpoint.format {
        WebhookFormat::Lockbridge => body(event),
        // Seam's SDKs read the event object itself (`SeamWebhook.verify`).
        WebhookFormat::Seam => lockbridge_core::seam::event_object(event)
            .and_then(|o| serde_json::to_vec(&o).ok())
            .unwrap_or_else(|| body(event)),
    };
    let id = event.id.to_string();
    let timestamp = state.now().div_euclid(1000);
    let signatures: Vec<String> = endpoint
        .secrets
        .iter()
        .filter_map(|s| sign(s, &id, timestamp, &body))
        .collect();
    let started = Instant::now();
    let sent = sender
        .client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures.join(" "));
    // Svix's own header names carry the same signature, for receivers built on Svix (Seam's).
    let sent = match endpoint.format {
        WebhookFormat::Seam => sent
            .header("svix-id", &id)
            .header("svix-timestamp", timestamp.to_string())
            .header("svix-signature", signatures.join(" ")),
        WebhookFormat::Lockbridge => sent,
    };
    let sent = sent.body(body).send().await;
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
            failed(state, d, owner, Some(status), &why, elapsed).await?;
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
            failed(state, d, owner, None, &why, elapsed).await?;
        }
    }
    Ok(())
}

/// The waits before attempts 2 to 8; after the 8th attempt fails, the delivery is `failed`.
pub const RETRY_SCHEDULE_S: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// An endpoint failing every attempt this long is disabled.
pub const DISABLE_AFTER_MS: Millis = 5 * 86_400_000;

/// When attempt `attempt + 1` of a delivery whose attempt `attempt` failed at `now` is due: by
/// the retry schedule, `None` once it is spent (the delivery has failed).
pub fn next_attempt_at(attempt: u32, now: Millis) -> Option<Millis> {
    RETRY_SCHEDULE_S
        .get(attempt.saturating_sub(1) as usize)
        .map(|s| now + s * 1000)
}

/// Records a failed attempt with the retry policy: the next attempt by the schedule, and the
/// endpoint disabled once it has failed every attempt for `DISABLE_AFTER_MS`.
async fn failed(
    state: &Service,
    d: &Delivery,
    owner: &str,
    response_status: Option<u16>,
    error: &str,
    duration_ms: u64,
) -> Result<(), StoreError> {
    let now = state.now();
    let attempt = FailedAttempt {
        response_status,
        error,
        duration_ms,
        now,
        next_at: next_attempt_at(d.attempt, now),
        disable_after_ms: DISABLE_AFTER_MS,
    };
    state.store.delivery_failed(d, owner, &attempt).await?;
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_ends_after_the_eighth_attempt() {
        let now = 1_000_000;
        assert_eq!(next_attempt_at(1, now), Some(now + 5_000));
        assert_eq!(next_attempt_at(2, now), Some(now + 300_000));
        assert_eq!(next_attempt_at(7, now), Some(now + 36_000_000));
        assert_eq!(next_attempt_at(8, now), None, "the delivery has failed");
    }
}
