//! The background workers: token renewal, the code engine, device sync and reconciliation.
//! Each exposes one step (`refresh_due_tokens`, `engine::run_due_codes`, `sync_due_devices`,
//! `reconcile::run_due`) so that tests drain them without timers; `run` calls them on an
//! interval. Work is claimed in the database with leases, so several instances share it and
//! an instance that stops hands its work over when its leases run out.

use std::time::Duration;

use lockbridge_core::model::{Connection, ConnectionStatus};
use lockbridge_core::provider::ErrorKind;
use lockbridge_core::time::Millis;
use tokio_util::sync::CancellationToken;

use crate::Service;
use crate::error::{AppError, AppResult};
use crate::{connections, engine, reconcile};
use lockbridge_store::StoreError;

/// How long a claimed device sync or reconciliation is held before another instance may take
/// it over.
pub const PASS_LEASE_MS: Millis = 5 * 60_000;

/// How long an idempotent request's answer is kept before the worker forgets it.
pub const IDEMPOTENCY_KEPT_MS: Millis = 24 * 3_600_000;

/// One pass of the token worker: renews every active connection whose token expires within
/// its vendor's margin (the service's `refresh_margin` unless the vendor has a shorter one);
/// answers how many it renewed.
pub async fn refresh_due_tokens(state: &Service) -> AppResult<usize> {
    let mut renewed = 0;
    for (provider, api) in state.providers.iter() {
        let margin = api
            .refresh_margin()
            .unwrap_or(state.settings.refresh_margin);
        let before = state.now() + margin.as_millis() as i64;
        let due = state
            .store
            .connections_expiring(provider, before, 50)
            .await?;
        for conn in due {
            renewed += usize::from(refresh_one(state, &conn).await?);
        }
    }
    Ok(renewed)
}

/// Renews one connection's token, if this instance claims the renewal (one instance renews; a
/// token renewed since it was read is left alone); a vendor refusal is recorded on the
/// connection, not raised.
async fn refresh_one(state: &Service, conn: &Connection) -> AppResult<bool> {
    let Some(expires_at) = conn.token_expires_at else {
        return Ok(false);
    };
    let owner = engine::lease_owner();
    let now = state.now();
    let until = now + (state.settings.vendor_timeout * 2).as_millis() as i64;
    if !state
        .store
        .claim_refresh(conn.id, expires_at, &owner, until, now)
        .await?
    {
        return Ok(false);
    }
    let renewed = renew(state, conn).await;
    state.store.release_refresh(conn.id, &owner).await?;
    renewed
}

async fn renew(state: &Service, conn: &Connection) -> AppResult<bool> {
    match connections::call(state, conn, |api| async move { api.refresh(conn).await }).await {
        Ok(update) => {
            state
                .store
                .store_tokens(conn.id, &update.tokens, update.expires_at)
                .await?;
            Ok(true)
        }
        Err(AppError::Provider(e)) if e.kind == ErrorKind::AuthFailed => Ok(false), // marked needs_reauth
        Err(e) => {
            tracing::warn!(connection = %conn.id, error = %lockbridge_core::provider::error_chain(&e), "token renewal failed; will retry");
            state
                .store
                .set_connection_status(conn.id, ConnectionStatus::Active, Some(&e.public_message()))
                .await?;
            Ok(false)
        }
    }
}

/// One pass of device sync: every connection whose sync is due has its locks and gateways read
/// again (online, state, battery; errors, warnings and their events). A failing connection is
/// logged and tried again at its next interval; the others go on. Answers how many synced.
pub async fn sync_due_devices(state: &Service) -> AppResult<usize> {
    let now = state.now();
    let due = state
        .store
        .claim_device_syncs(now, 20, now + PASS_LEASE_MS)
        .await?;
    let mut synced = 0;
    for id in due {
        let next = state.now() + state.settings.device_sync_interval.as_millis() as i64;
        match state.store.connection_by_id(id).await? {
            Some(conn) => match connections::sync(state, &conn).await {
                Ok(_) => synced += 1,
                Err(e) => {
                    tracing::warn!(connection = %id, error = %lockbridge_core::provider::error_chain(&e), "device sync failed")
                }
            },
            None => continue,
        }
        state.store.schedule_device_sync(id, next).await?;
    }
    Ok(synced)
}

/// Ends the unlock and lock attempts (of `/seam`) still pending long after any vendor answer
/// could come: the instance sending them stopped. Their outcome is not guessed: they end in an
/// error that says so, and the door's state is the lock's. Answers how many.
pub async fn expire_door_attempts(state: &Service) -> Result<usize, StoreError> {
    let deadline = 2 * state.settings.vendor_timeout.as_millis() as i64;
    let stale = state
        .store
        .stale_door_attempts(state.now() - deadline, 500)
        .await?;
    let ended = lockbridge_core::seam::AttemptStatus::Error {
        kind: "provider_timeout".into(),
        message: "the instance sending it stopped before the vendor answered; whether the door \
                  moved is unknown: read the device's locked property"
            .into(),
    };
    let mut n = 0;
    for a in stale {
        if state
            .store
            .finish_action_attempt(a.id, &ended, state.now())
            .await?
        {
            n += 1;
        }
    }
    Ok(n)
}

/// Runs every worker each `interval`, the first pass one interval after start, until `stop` is
/// cancelled.
pub async fn run(state: Service, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = refresh_due_tokens(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "token worker pass failed");
                }
                if let Err(e) = engine::run_due_codes(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "code engine pass failed");
                }
                if let Err(e) = crate::grants::run_due(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "grant pass failed");
                }
                if let Err(e) = sync_due_devices(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "device sync pass failed");
                }
                if let Err(e) = reconcile::run_due(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "reconciliation pass failed");
                }
                if let Err(e) = crate::ingest::ingest_due(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "log ingestion pass failed");
                }
                if let Err(e) = crate::stays::calendars::run_due(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "calendar pass failed");
                }
                if let Err(e) = crate::stays::run_unapplied(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "stays pass failed");
                }
                if let Err(e) = crate::stays::readiness::run_due(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "readiness pass failed");
                }
                if let Err(e) = expire_door_attempts(&state).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "action attempt pass failed");
                }
                let kept_since = state.now() - IDEMPOTENCY_KEPT_MS;
                if let Err(e) = state.store.forget_idempotency_keys(kept_since).await {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "could not forget old idempotent answers");
                }
            }
        }
    }
}

/// Starts lanes for due webhook attempts every `webhook_poll` (and at once again after a pass
/// that started any) until `stop` is cancelled; it never waits for a lane to end.
pub async fn run_webhooks(state: Service, stop: CancellationToken) {
    let every = state.settings.webhook_poll;
    while !stop.is_cancelled() {
        let busy = match crate::webhooks::start_due(&state).await {
            Ok(lanes) => !lanes.is_empty(),
            Err(e) => {
                tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "webhook pass failed");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Works bulk jobs every `worker_interval` (one job per pass; a pass lasts as long as its
/// job's items take) until `stop` is cancelled.
pub async fn run_jobs(state: Service, stop: CancellationToken) {
    let every = state.settings.worker_interval;
    while !stop.is_cancelled() {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            done = crate::jobs::run_due(&state) => {
                if let Err(e) = done {
                    tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "job pass failed");
                }
            }
        }
    }
}
