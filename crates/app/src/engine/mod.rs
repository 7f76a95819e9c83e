//! The code engine: brings each access code to its wanted state on the lock.
//!
//! A code is worked only by the holder of its lease (a request working its own change, or a
//! worker that claimed it), and every write of its row is conditional on the version read and
//! on still holding the lease. What a vendor call established — the vendor's id for the code,
//! that it is on the lock or gone — is a fact; what is wanted of the code (set, changed,
//! removed) belongs to requests. When a request changed what is wanted while an attempt ran,
//! the attempt's facts are kept and the code is due again at once, so a create that succeeds
//! after a DELETE is followed by a removal. A lease is extended while the work goes on and the
//! vendor call is bounded by a timeout, so only an instance that stopped loses one; then the
//! next holder checks the lock before it writes anything.

use std::collections::HashSet;
use std::future::Future;

use futures_util::StreamExt;
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::model::{
    AccessCode, CodeStatus, Connection, Lock, Notice, RemovedReason, Scheduling,
};
use lockbridge_core::provider::{CodeChange, CodeState, ErrorKind, ProviderCode, ProviderError};
use lockbridge_core::time::Millis;
use lockbridge_store::Guard;
use serde_json::json;

use crate::connections;

mod error;
mod jit;
pub use error::EngineError;
pub use jit::{lead, place_in_time};

type Result<T> = std::result::Result<T, EngineError>;
use crate::Service;

/// How one attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// The lock has it as wanted.
    Done,
    /// The vendor took it; the lock has not confirmed yet (the worker looks again).
    Pending,
    /// A transient failure: the worker tries again later.
    Retry(EngineError),
    /// A definitive refusal.
    Failed(EngineError),
    /// What is wanted changed while the attempt ran, or another holder took the code over:
    /// the facts were kept and the code is due again.
    Yielded,
}

/// What a vendor call established.
#[derive(Debug)]
enum Reached {
    /// On the lock as wanted, under this vendor id.
    Set(String),
    /// On the lock under this id, but as something else (an earlier attempt's, or adopted):
    /// to be changed next.
    Adopted(String),
    /// Taken by the vendor under this id; the lock confirms later.
    Pending(String),
    /// Not on the lock.
    Removed,
    /// The vendor id the code had is not on the lock any more: set it again.
    Lost,
    /// The vendor took the code but the lock refused it (it never held it).
    Refused(ProviderError),
}

/// A fresh lease owner name.
pub fn lease_owner() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn backoff(state: &Service, attempts: i64) -> Millis {
    let base = state.settings.retry_base.as_millis() as i64;
    let max = state.settings.retry_max.as_millis() as i64;
    base.saturating_mul(1 << attempts.clamp(0, 20)).min(max)
}

/// What requests decide about a code (as opposed to what the engine learns).
fn wanted(c: &AccessCode) -> impl PartialEq + use<> {
    (
        c.status,
        c.code.clone(),
        c.name.clone(),
        c.starts_at,
        c.ends_at,
        c.schedule.clone(),
        c.removed_reason,
        c.scheduling,
        c.window,
    )
}

/// Runs `work` while extending `code`'s lease for `owner`, bounded by the vendor timeout.
async fn leased<T>(
    state: &Service,
    code: &AccessCode,
    owner: &str,
    provider: lockbridge_core::Provider,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let lease = state.settings.code_lease;
    let every = (lease / 3).max(std::time::Duration::from_millis(10));
    let work = tokio::time::timeout(state.settings.vendor_timeout, work);
    tokio::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            done = &mut work => {
                return done.unwrap_or_else(|_| {
                    Err(EngineError::Vendor(ProviderError::new(
                        provider,
                        ErrorKind::Timeout,
                        "the vendor did not answer in time",
                    )))
                });
            }
            _ = tick.tick() => {
                let until = state.now() + lease.as_millis() as i64;
                if let Err(e) = state.store.extend_lease(code.id, owner, until).await {
                    tracing::warn!(code = %code.id, error = %lockbridge_core::provider::error_chain(&e), "could not extend a code's lease");
                }
            }
        }
    }
}

/// [`connections::call`], its error the engine's.
async fn call<T, F, Fut>(state: &Service, conn: &Connection, f: F) -> Result<T>
where
    F: FnOnce(std::sync::Arc<dyn lockbridge_core::Vendor>) -> Fut,
    Fut: Future<Output = lockbridge_core::ProviderResult<T>>,
{
    connections::call(state, conn, f)
        .await
        .map_err(EngineError::from)
}

/// The lock's code that is `code`, among those lockbridge knows under no other row.
async fn look_up(
    state: &Service,
    conn: &Connection,
    lock: &Lock,
    code: &AccessCode,
) -> Result<Option<ProviderCode>> {
    let found = connections::list_codes(state, conn, lock).await?;
    let others: HashSet<String> = state
        .store
        .live_codes(lock.id)
        .await?
        .into_iter()
        .filter(|c| c.id != code.id)
        .filter_map(|c| c.provider_id)
        .collect();
    Ok(found
        .into_iter()
        .find(|f| !others.contains(&f.provider_id) && f.is(code)))
}

/// One vendor step towards what `code` wants.
async fn act(
    state: &Service,
    conn: &Connection,
    lock: &Lock,
    code: &AccessCode,
) -> Result<Reached> {
    let api = state.providers.get(conn.provider)?;
    let asynchronous = api.code_api().is_ok_and(|c| c.confirms_asynchronously());
    let periods = api.code_api().is_ok_and(|c| c.lists_periods());
    let (c, l, wanted) = (conn, lock, code.vendor_spec(lock));
    let removing = code.status == CodeStatus::Removing;
    match code.provider_id.clone() {
        Some(pid) if code.confirming => {
            let p = pid.as_str();
            let seen = call(state, conn, |api| async move {
                api.code_api()?.code_state(c, l, p).await
            })
            .await?;
            Ok(match seen {
                CodeState::Pending => Reached::Pending(pid),
                CodeState::Active if removing => Reached::Pending(pid),
                CodeState::Active => Reached::Set(pid),
                CodeState::Gone if removing => Reached::Removed,
                CodeState::Gone => Reached::Lost,
                CodeState::Failed(e) => Reached::Refused(e),
            })
        }
        None if removing => {
            // Nothing known of it on the lock: ask the lock before calling it removed.
            let Some(found) = look_up(state, conn, lock, code).await? else {
                return Ok(Reached::Removed);
            };
            let p = found.provider_id.as_str();
            match call(state, conn, |api| async move {
                api.code_api()?.delete_code(c, l, p).await
            })
            .await
            {
                Ok(())
                | Err(EngineError::Vendor(ProviderError {
                    kind: ErrorKind::NotFound,
                    ..
                })) => Ok(Reached::Removed),
                Err(e) => Err(e),
            }
        }
        Some(pid) if removing => {
            let p = pid.as_str();
            match call(state, conn, |api| async move {
                api.code_api()?.delete_code(c, l, p).await
            })
            .await
            {
                Ok(()) if asynchronous => Ok(Reached::Pending(pid)),
                Ok(())
                | Err(EngineError::Vendor(ProviderError {
                    kind: ErrorKind::NotFound,
                    ..
                })) => Ok(Reached::Removed),
                Err(e) => Err(e),
            }
        }
        None => {
            // An earlier attempt may have written it (its answer lost to a timeout, a crash or
            // a lost lease): look before writing it again.
            if code.attempts > 1
                && let Some(found) = look_up(state, conn, lock, code).await?
            {
                return Ok(adopt(code, lock, found, periods));
            }
            let w = &wanted;
            match call(state, conn, |api| async move {
                api.code_api()?.create_code(c, l, w).await
            })
            .await
            {
                Ok(pid) if asynchronous => Ok(Reached::Pending(pid)),
                Ok(pid) => Ok(Reached::Set(pid)),
                Err(EngineError::Vendor(e))
                    if e.kind == ErrorKind::AlreadyExists && code.attempts > 1 =>
                {
                    match look_up(state, conn, lock, code).await? {
                        Some(found) => Ok(adopt(code, lock, found, periods)),
                        None => Err(e.into()),
                    }
                }
                Err(e) => Err(e),
            }
        }
        Some(pid) => {
            let change = CodeChange {
                name: wanted.name.clone(),
                code: Some(wanted.code.clone()),
                period: wanted.starts_at.zip(wanted.ends_at),
                schedule: wanted.schedule.clone(),
            };
            let (p, ch) = (pid.as_str(), &change);
            match call(state, conn, |api| async move {
                api.code_api()?.update_code(c, l, p, ch).await
            })
            .await
            {
                Ok(()) if asynchronous => Ok(Reached::Pending(pid)),
                Ok(()) => Ok(Reached::Set(pid)),
                Err(EngineError::Vendor(ProviderError {
                    kind: ErrorKind::NotFound,
                    ..
                })) => Ok(Reached::Lost),
                Err(e) => Err(e),
            }
        }
    }
}

/// A code found on the lock taken as this one: set when it is as wanted (its period only where
/// the lock's list tells periods), changed next otherwise.
fn adopt(code: &AccessCode, lock: &Lock, found: ProviderCode, periods: bool) -> Reached {
    let (f, w) = (&found.spec, code.vendor_spec(lock));
    let same = (f.code.is_empty() || f.code == w.code)
        && (f.name.is_none() || f.name == w.name)
        && (!periods
            || (f.starts_at.map(|t| t / 60_000) == w.starts_at.map(|t| t / 60_000)
                && f.ends_at.map(|t| t / 60_000) == w.ends_at.map(|t| t / 60_000)));
    if same {
        Reached::Set(found.provider_id)
    } else {
        Reached::Adopted(found.provider_id)
    }
}

fn error_notice(e: &EngineError, now: Millis) -> Notice {
    let (code, message) = e.public();
    Notice::new(code, message, now)
}

/// Applies an attempt's result to `next` (a copy of the code as claimed); answers the outcome
/// and the events to record with the write.
fn apply(
    state: &Service,
    lock: &Lock,
    next: &mut AccessCode,
    result: Result<Reached>,
    now: Millis,
) -> (Outcome, Vec<Event>) {
    let (org, id, lock_id, conn_id) = (next.org_id, next.id, next.lock_id, lock.connection_id);
    let actor = next.actor.clone();
    let event = move |kind: EventType| {
        Event::new(org, kind, now)
            .code(id, lock_id)
            .connection(conn_id)
            .by(actor.clone())
    };
    let fail = |next: &mut AccessCode, e: EngineError| {
        tracing::info!(code = %next.id, provider_id = ?next.provider_id, status = ?next.status, error = %lockbridge_core::provider::error_chain(&e), "a code failed");
        let (code, message) = e.public();
        next.last_error = Some(message.clone());
        next.errors = vec![error_notice(&e, now)];
        next.next_attempt_at = None;
        next.confirming = false;
        next.status = CodeStatus::Failed;
        let data = json!({"error": {"code": code, "message": message}});
        (
            Outcome::Failed(e),
            vec![event(EventType::CodeFailed).data(data)],
        )
    };
    let settled = |next: &mut AccessCode| {
        next.attempts = 0;
        next.next_attempt_at = None;
        next.confirming = false;
        next.last_error = None;
        next.errors.clear();
    };
    match result {
        Ok(Reached::Set(pid)) => {
            settled(next);
            next.provider_id = Some(pid);
            next.status = CodeStatus::Set;
            let restored = next
                .warnings
                .iter()
                .any(|w| w.code == "deleted_externally" || w.code == "modified_externally");
            next.warnings
                .retain(|w| w.code != "deleted_externally" && w.code != "modified_externally");
            let kind = if restored {
                EventType::CodeRestored
            } else {
                EventType::CodeSet
            };
            (Outcome::Done, vec![event(kind)])
        }
        Ok(Reached::Removed) if next.removed_reason.is_none() && next.last_error.is_some() => {
            // The old version of a change the lock refused is off the lock now.
            let data = json!({"error": next.errors.first()});
            next.attempts = 0;
            next.next_attempt_at = None;
            next.confirming = false;
            next.provider_id = None;
            next.status = CodeStatus::Failed;
            (Outcome::Done, vec![event(EventType::CodeFailed).data(data)])
        }
        Ok(Reached::Removed)
            if next.scheduling == Scheduling::JustInTime && next.removed_reason.is_none() =>
        {
            // A just-in-time opening closed: the code waits for the next one, or, with none
            // left, has expired.
            settled(next);
            next.provider_id = None;
            if place_in_time(next, now, lead(state)) {
                return (Outcome::Done, Vec::new());
            }
            next.status = CodeStatus::Removed;
            next.removed_reason = Some(RemovedReason::Expired);
            let data = json!({"reason": "expired"});
            (
                Outcome::Done,
                vec![event(EventType::CodeExpired).data(data)],
            )
        }
        Ok(Reached::Removed) => {
            settled(next);
            next.status = CodeStatus::Removed;
            let reason = *next.removed_reason.get_or_insert(RemovedReason::Deleted);
            let kind = if reason == RemovedReason::Expired {
                EventType::CodeExpired
            } else {
                EventType::CodeRemoved
            };
            (
                Outcome::Done,
                vec![event(kind).data(json!({"reason": reason.as_str()}))],
            )
        }
        Ok(Reached::Pending(pid)) => {
            next.provider_id = Some(pid);
            next.confirming = true;
            next.last_error = None;
            next.attempts = 0;
            next.next_attempt_at = Some(now + state.settings.confirm_poll.as_millis() as i64);
            (Outcome::Pending, Vec::new())
        }
        Ok(Reached::Adopted(pid)) => {
            next.provider_id = Some(pid);
            next.confirming = false;
            next.attempts = 0;
            next.next_attempt_at = Some(now);
            (Outcome::Pending, Vec::new())
        }
        Ok(Reached::Lost) => {
            next.provider_id = None;
            next.confirming = false;
            next.attempts = 0;
            next.next_attempt_at = Some(now);
            (Outcome::Pending, Vec::new())
        }
        Err(e) if e.is_transient() => {
            if e.was_not_sent() {
                // Nothing reached the vendor: the next attempt need not look on the lock first.
                next.attempts = (next.attempts - 1).max(0);
            }
            next.last_error = Some(e.public().1);
            next.errors = vec![error_notice(&e, now)];
            // Not before the vendor (or the shared budget) said it would take more.
            let wait = backoff(state, next.attempts).max(e.retry_after_ms().unwrap_or(0));
            next.next_attempt_at = Some(now + wait);
            (Outcome::Retry(e), Vec::new())
        }
        Ok(Reached::Refused(e)) => fail(next, e.into()),
        Err(e) if next.provider_id.is_some() && next.status == CodeStatus::Setting => {
            // The lock refused a change: it still holds the old version, which is not what is
            // wanted any more (a shorter stay, another PIN). It is taken off the lock, and the
            // code then reads `failed`.
            next.last_error = Some(e.public().1);
            next.errors = vec![error_notice(&e, now)];
            next.status = CodeStatus::Removing;
            next.removed_reason = None;
            next.confirming = false;
            next.attempts = 0;
            next.next_attempt_at = Some(now);
            (Outcome::Failed(e), Vec::new())
        }
        Err(e) => fail(next, e),
    }
}

/// Works one code that `code.lease_owner` holds: one vendor step, then the result written
/// under the lease. Answers the outcome and the code as it now stands.
pub async fn work(state: &Service, code: AccessCode) -> Result<(Outcome, AccessCode)> {
    let Some(lock) = state.store.lock_by_id(code.lock_id).await? else {
        return Ok((Outcome::Yielded, code));
    };
    let conn = state
        .store
        .connection_by_id(lock.connection_id)
        .await?
        .ok_or_else(|| EngineError::Unreachable("the code's connection is gone".into()))?;
    work_on(state, code, &lock, &conn).await
}

/// [`work`] with the code's lock and connection as the caller already read them (a request
/// that just created the code).
pub async fn work_on(
    state: &Service,
    code: AccessCode,
    lock: &Lock,
    conn: &Connection,
) -> Result<(Outcome, AccessCode)> {
    let Some(owner) = code.lease_owner.clone() else {
        return Ok((Outcome::Yielded, code));
    };
    let result = leased(
        state,
        &code,
        &owner,
        conn.provider,
        act(state, conn, lock, &code),
    )
    .await;
    // A write the lock took (or refused as unreachable) says whether it can be reached.
    match &result {
        Ok(Reached::Set(_)) => connections::note_reach(state, lock, None).await,
        Err(EngineError::Vendor(e)) => connections::note_reach(state, lock, Some(e.kind)).await,
        _ => {}
    }
    let learned: Option<Option<String>> = match &result {
        Ok(Reached::Set(p) | Reached::Adopted(p) | Reached::Pending(p)) => Some(Some(p.clone())),
        Ok(Reached::Removed | Reached::Lost) => Some(None),
        Ok(Reached::Refused(_)) => None,
        Err(_) => None,
    };
    let now = state.now();
    let mut next = code.clone();
    let (mut outcome, mut events) = apply(state, lock, &mut next, result, now);
    let mut read = code;
    loop {
        if state
            .store
            .update_code_if(&mut next, read.version, Guard::Lease(&owner), now, &events)
            .await?
        {
            if let Some(grant) = next.grant_id {
                // The grant's status follows its codes'.
                if let Err(e) = crate::grants::settle(state, grant).await {
                    tracing::info!(%grant, error = %lockbridge_core::provider::error_chain(&e), "could not settle a grant; the grant worker will");
                }
            }
            return Ok((outcome, next));
        }
        let Some(current) = state.store.access_code_by_id(read.id).await? else {
            return Ok((Outcome::Yielded, next));
        };
        if current.lease_owner.as_deref() != Some(owner.as_str()) {
            // The lease was lost: the new holder checks the lock itself. A vendor id learned
            // here is a fact worth keeping for it.
            if let Some(Some(pid)) = &learned {
                state.store.record_provider_id(current.id, pid).await?;
            }
            tracing::info!(code = %current.id, "lost a code's lease during an attempt");
            return Ok((Outcome::Yielded, current));
        }
        if wanted(&current) == wanted(&read) {
            // Only facts moved (a former holder recorded the vendor id): the result stands.
            read = current;
            continue;
        }
        // What is wanted changed under the attempt: keep what the vendor said, work again.
        next = current.clone();
        if let Some(pid) = learned.clone() {
            next.provider_id = pid;
        }
        next.confirming = false;
        next.attempts = 0;
        next.next_attempt_at = Some(now);
        (outcome, events) = (Outcome::Yielded, Vec::new());
        read = current;
    }
}

/// Claims `id` for this request if nobody holds it and works it once; `None` when another
/// holder has it (it will see the change when its attempt ends).
pub async fn work_now(
    state: &Service,
    id: lockbridge_core::AccessCodeId,
) -> Result<Option<(Outcome, AccessCode)>> {
    let now = state.now();
    let lease = now + state.settings.code_lease.as_millis() as i64;
    match state
        .store
        .claim_access_code(id, now, lease, &lease_owner())
        .await?
    {
        Some(code) => work(state, code).await.map(Some),
        None => Ok(None),
    }
}

/// One pass of the code engine: codes past their end are marked for removal, just-in-time
/// openings that closed come off their locks and those about to open go on, then up to 50
/// due codes are claimed and worked (several at once; the TTLock adapter keeps one command at
/// a time per gateway). Answers how many were worked.
pub async fn run_due_codes(state: &Service) -> Result<usize> {
    let now = state.now();
    state.store.expire_codes(now).await?;
    state.store.close_windows(now).await?;
    state.store.open_windows(now).await?;
    let lease = now + state.settings.code_lease.as_millis() as i64;
    let due = state
        .store
        .claim_due_access_codes(now, 50, lease, &lease_owner())
        .await?;
    let n = due.len();
    futures_util::stream::iter(due)
        .for_each_concurrent(8, |code| async move {
            let id = code.id;
            if let Err(err) = work(state, code).await {
                tracing::warn!(code = %id, error = %lockbridge_core::provider::error_chain(&err), "code engine attempt failed");
            }
        })
        .await;
    Ok(n)
}
