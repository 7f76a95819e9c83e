//! The workers: the code engine brings access codes to their wanted state on the lock, the
//! token worker renews tokens before they expire. Each exposes one step (`run_due_codes`,
//! `refresh_due_tokens`) so that tests drain them without timers.

use std::time::Duration;

use lockbridge_core::model::{AccessCode, CodeStatus, Connection, ConnectionStatus};
use lockbridge_core::provider::{CodeChange, CodeSpec, CodeState, ErrorKind, ProviderError};
use lockbridge_core::time::{Millis, now_ms};
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};
use crate::service;
use crate::state::AppState;

/// While a request works on a code inline, the worker leaves it alone this long.
pub const LEASE_MS: Millis = 30_000;

/// How one attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// The lock has it as wanted.
    Done,
    /// The vendor took it; the lock has not confirmed yet (the worker looks again).
    Pending,
    /// A transient failure: the worker tries again later.
    Retry(ApiError),
    /// A definitive refusal.
    Failed(ApiError),
}

fn backoff(state: &AppState, attempts: i64) -> Millis {
    let base = state.settings.retry_base.as_millis() as i64;
    let max = state.settings.retry_max.as_millis() as i64;
    base.saturating_mul(1 << attempts.clamp(0, 20)).min(max)
}

fn is_transient(e: &ApiError) -> bool {
    match e {
        ApiError::Provider(p) => p.kind.is_transient(),
        ApiError::Store(_) => true,
        _ => false,
    }
}

fn spec(code: &AccessCode) -> CodeSpec {
    CodeSpec {
        code: code.code.clone(),
        name: code.name.clone(),
        starts_at: code.starts_at,
        ends_at: code.ends_at,
        schedule: code.schedule.clone(),
    }
}

/// One attempt at bringing `code` where its status says, written back to the store.
pub async fn attempt(state: &AppState, code: &mut AccessCode) -> ApiResult<Outcome> {
    let lock = state
        .store
        .lock_by_id(code.lock_id)
        .await?
        .ok_or(ApiError::NotFound("lock"))?;
    let conn = state
        .store
        .connection_by_id(lock.connection_id)
        .await?
        .ok_or(ApiError::NotFound("connection"))?;
    let (l, c, wanted) = (&lock, &conn, spec(code));
    if code.confirming
        && let Some(pid) = code.provider_id.clone()
    {
        return confirm(state, code, &conn, &lock, &pid).await;
    }
    let asynchronous = state
        .providers
        .get(conn.provider)?
        .confirms_asynchronously();
    let result: ApiResult<Option<String>> = match (code.status, code.provider_id.clone()) {
        (CodeStatus::Setting, None) => {
            service::call(state, &conn, |api| async move {
                api.create_code(c, l, &wanted).await.map(Some)
            })
            .await
        }
        (CodeStatus::Setting, Some(pid)) => {
            let change = CodeChange {
                name: wanted.name.clone(),
                code: Some(wanted.code.clone()),
                period: wanted.starts_at.zip(wanted.ends_at),
                schedule: wanted.schedule.clone(),
            };
            let p = pid.clone();
            service::call(state, &conn, |api| async move {
                api.update_code(c, l, &p, &change).await.map(|()| Some(pid))
            })
            .await
        }
        (CodeStatus::Removing, None) => Ok(None),
        (CodeStatus::Removing, Some(pid)) => {
            let p = pid.clone();
            match service::call(state, &conn, |api| async move {
                api.delete_code(c, l, &p).await
            })
            .await
            {
                // Already gone from the lock: that is what was wanted.
                Err(ApiError::Provider(ProviderError {
                    kind: ErrorKind::NotFound,
                    ..
                }))
                | Ok(()) => Ok(Some(pid)),
                Err(e) => Err(e),
            }
        }
        _ => return Ok(Outcome::Done),
    };
    let outcome = match result {
        Ok(Some(pid)) if asynchronous => {
            code.provider_id = Some(pid);
            code.confirming = true;
            code.last_error = None;
            code.attempts = 0;
            code.next_attempt_at = Some(now_ms() + state.settings.confirm_poll.as_millis() as i64);
            Outcome::Pending
        }
        Ok(pid) => {
            code.provider_id = pid;
            code.status = match code.status {
                CodeStatus::Removing => CodeStatus::Removed,
                _ => CodeStatus::Set,
            };
            code.last_error = None;
            code.attempts = 0;
            code.next_attempt_at = None;
            Outcome::Done
        }
        Err(e) if is_transient(&e) => {
            code.attempts += 1;
            code.last_error = Some(e.to_string());
            code.next_attempt_at = Some(now_ms() + backoff(state, code.attempts));
            Outcome::Retry(e)
        }
        Err(e) => {
            code.last_error = Some(e.to_string());
            code.next_attempt_at = None;
            code.status = CodeStatus::Failed;
            Outcome::Failed(e)
        }
    };
    state.store.update_access_code(code).await?;
    Ok(outcome)
}

/// Looks at a code the vendor took but the lock had not confirmed: done, still pending, or
/// refused by the lock.
async fn confirm(
    state: &AppState,
    code: &mut AccessCode,
    conn: &lockbridge_core::model::Connection,
    lock: &lockbridge_core::model::Lock,
    pid: &str,
) -> ApiResult<Outcome> {
    let seen = service::call(state, conn, |api| async move {
        api.code_state(conn, lock, pid).await
    })
    .await;
    let removing = code.status == CodeStatus::Removing;
    let poll_later = |code: &mut AccessCode| {
        code.next_attempt_at = Some(now_ms() + state.settings.confirm_poll.as_millis() as i64);
        Outcome::Pending
    };
    let outcome = match seen {
        Ok(CodeState::Pending) => poll_later(code),
        Ok(CodeState::Active) if removing => poll_later(code),
        Ok(CodeState::Active) | Ok(CodeState::Gone) => {
            code.status = if removing {
                CodeStatus::Removed
            } else {
                CodeStatus::Set
            };
            if !removing && matches!(seen, Ok(CodeState::Gone)) {
                code.status = CodeStatus::Failed;
                code.last_error = Some("the lock no longer has this code".into());
            }
            code.confirming = false;
            code.next_attempt_at = None;
            Outcome::Done
        }
        Ok(CodeState::Failed(e)) => {
            let e = ApiError::from(e);
            code.status = CodeStatus::Failed;
            code.confirming = false;
            code.last_error = Some(e.to_string());
            code.next_attempt_at = None;
            Outcome::Failed(e)
        }
        Err(e) if is_transient(&e) => {
            code.last_error = Some(e.to_string());
            code.attempts += 1;
            code.next_attempt_at = Some(now_ms() + backoff(state, code.attempts));
            Outcome::Retry(e)
        }
        Err(e) => {
            code.status = CodeStatus::Failed;
            code.confirming = false;
            code.last_error = Some(e.to_string());
            code.next_attempt_at = None;
            Outcome::Failed(e)
        }
    };
    state.store.update_access_code(code).await?;
    Ok(outcome)
}

/// One pass of the code engine over the codes that are due; answers how many it tried.
pub async fn run_due_codes(state: &AppState) -> ApiResult<usize> {
    let now = now_ms();
    let due = state
        .store
        .claim_due_access_codes(now, 50, now + LEASE_MS)
        .await?;
    let n = due.len();
    for mut code in due {
        if let Err(err) = attempt(state, &mut code).await {
            tracing::warn!(code = %code.id, error = %err, "code engine attempt failed");
        }
    }
    Ok(n)
}

/// One pass of the token worker: renews every active connection whose token expires within
/// its vendor's margin (the service's `refresh_margin` unless the vendor has a shorter one);
/// answers how many it renewed.
pub async fn refresh_due_tokens(state: &AppState) -> ApiResult<usize> {
    let mut renewed = 0;
    for (provider, api) in state.providers.iter() {
        let margin = api
            .refresh_margin()
            .unwrap_or(state.settings.refresh_margin);
        let before = now_ms() + margin.as_millis() as i64;
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

/// Renews one connection's token; a vendor refusal is recorded on the connection, not raised.
async fn refresh_one(state: &AppState, conn: &Connection) -> ApiResult<bool> {
    match service::call(state, conn, |api| async move { api.refresh(conn).await }).await {
        Ok(update) => {
            state
                .store
                .store_tokens(conn.id, &update.tokens, update.expires_at)
                .await?;
            Ok(true)
        }
        Err(ApiError::Provider(e)) if e.kind == ErrorKind::AuthFailed => Ok(false), // marked needs_reauth
        Err(e) => {
            tracing::warn!(connection = %conn.id, error = %e, "token renewal failed; will retry");
            state
                .store
                .set_connection_status(conn.id, ConnectionStatus::Active, Some(&e.to_string()))
                .await?;
            Ok(false)
        }
    }
}

/// Runs both workers every `interval`, the first pass one interval after start, until `stop`
/// is cancelled.
pub async fn run(state: AppState, interval: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = refresh_due_tokens(&state).await {
                    tracing::warn!(error = %e, "token worker pass failed");
                }
                if let Err(e) = run_due_codes(&state).await {
                    tracing::warn!(error = %e, "code engine pass failed");
                }
            }
        }
    }
}
