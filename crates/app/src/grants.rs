//! Grants at work: the codes a grant wants built and checked, brought in line after a change
//! (`converge`), and the grant's status summed up from them (`settle`, which writes
//! `grant.set` / `grant.failed` with the status change, once per change).
//!
//! A change is written to the grant's row first; its codes follow, each by a write conditional
//! on the code's version *and* on the grant still being at the version the values were taken
//! from, so codes always converge from the grant as stored: a request whose change was
//! overtaken by another stops writing and converges the newer grant instead. An instance that
//! stops between the two leaves `applied_version` behind `version`, and the next worker pass
//! (on any instance) converges the grant again: converging is idempotent, so doing it twice
//! changes nothing more.

use futures_util::StreamExt;
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::grants::{Grant, GrantStatus};
use lockbridge_core::ids::{AccessCodeId, GrantId};
use lockbridge_core::model::{AccessCode, CodeStatus, Lock, RemovedReason};
use lockbridge_core::time::Millis;
use lockbridge_store::{GrantCodeWrite, InsertError, StoreError};
use serde_json::json;

use crate::Service;
use crate::admission::prepare;
use crate::engine;
use crate::error::{AppError, AppResult};

/// An error about one lock of a grant: the lock is named in the message.
pub fn on_lock(lock: &Lock) -> impl Fn(AppError) -> AppError + '_ {
    move |e| match e {
        AppError::Validation { field, message } => AppError::Validation {
            field,
            message: format!("{message} (lock {} \"{}\")", lock.id, lock.name),
        },
        other => other,
    }
}

/// The code lock `lock` is to hold for `g` with `pin`: checked against the lock's rules and
/// what it can do, scheduled, not yet stored.
pub fn code_for(
    s: &Service,
    g: &Grant,
    lock: &Lock,
    pin: String,
    now: Millis,
) -> AppResult<AccessCode> {
    let mut row = AccessCode {
        grant_id: Some(g.id),
        next_attempt_at: Some(now),
        actor: g.actor.clone(),
        ..AccessCode::new(lock, pin, now)
    };
    want(s, g, lock, &mut row, now).map_err(on_lock(lock))?;
    Ok(row)
}

/// Writes what `g` wants into `row` (name, period, window, scheduling) and where that puts
/// it: `setting`, or `scheduled` until its just-in-time moment.
fn want(s: &Service, g: &Grant, lock: &Lock, row: &mut AccessCode, now: Millis) -> AppResult<()> {
    if lock.code_rules.check(&row.code).is_err() {
        // The grant's PIN does not suit this lock: it keeps a PIN of its own.
        row.code = lock.code_rules.generate();
    }
    row.name = Some(g.name.clone());
    row.actor = g.actor.clone();
    (row.starts_at, row.ends_at) = (g.starts_at, g.ends_at);
    row.schedule = g.schedule.clone();
    prepare(s, lock, row, g.scheduling, now)
}

/// Whether `row` already is what `g` wants of it.
fn as_wanted(g: &Grant, row: &AccessCode) -> bool {
    row.name.as_deref() == Some(g.name.as_str())
        && g.code.as_ref().is_none_or(|c| *c == row.code)
        && (row.starts_at, row.ends_at) == (g.starts_at, g.ends_at)
        && row.schedule == g.schedule
        && row.status != CodeStatus::Failed
}

/// Takes `row` off its lock (reason `deleted`): at once when it never reached the lock.
fn revoke(row: &mut AccessCode, now: Millis) {
    let off_lock = row.provider_id.is_none()
        && matches!(row.status, CodeStatus::Failed | CodeStatus::Scheduled);
    row.status = if off_lock {
        CodeStatus::Removed
    } else {
        CodeStatus::Removing
    };
    row.removed_reason = Some(RemovedReason::Deleted);
    row.confirming = false;
    row.attempts = 0;
    row.next_attempt_at = (!off_lock).then_some(now);
}

/// Rewrites one code of `g` with `change`, conditionally on the code's version and on the
/// grant still being at `g.version`, reading the code again when another writer came first.
/// Answers whether the engine has work on it, or `None` when the grant moved on (what `g`
/// wants is no longer wanted: the caller converges the newer grant instead).
async fn rewrite(
    s: &Service,
    g: &Grant,
    mut row: AccessCode,
    change: impl Fn(&mut AccessCode) -> AppResult<bool>,
) -> AppResult<Option<bool>> {
    for _ in 0..5 {
        let version = row.version;
        if !change(&mut row)? {
            return Ok(Some(false));
        }
        match s
            .store
            .update_grant_code_if(&mut row, version, g.id, g.version, s.now())
            .await
        {
            Ok(GrantCodeWrite::Written) => {
                return Ok(Some(matches!(
                    row.status,
                    CodeStatus::Setting | CodeStatus::Removing
                )));
            }
            Ok(GrantCodeWrite::GrantMoved) => return Ok(None),
            Ok(GrantCodeWrite::CodeMoved) => {}
            Err(StoreError::Conflict(_)) => {
                tracing::info!(code = %row.id, "a grant's new PIN is already on the lock; the code keeps its own");
                return Ok(Some(false));
            }
            Err(e) => return Err(e.into()),
        }
        match s.store.access_code_by_id(row.id).await? {
            Some(current) => row = current,
            None => return Ok(Some(false)),
        }
    }
    Ok(Some(false))
}

/// Brings every code of `g` (read from the store) to what it wants: codes of locks no longer
/// in it (or of a revoked grant) come off, codes of new locks are created, the others
/// rewritten where they differ. Every write holds only while the grant is still at
/// `g.version`. Answers the codes the engine has work on, or `None` when the grant was changed
/// again meanwhile.
async fn converge(s: &Service, g: &Grant) -> AppResult<Option<Vec<AccessCodeId>>> {
    let codes = s.store.grant_codes(g.id).await?;
    let now = s.now();
    let mut due = Vec::new();
    for row in &codes {
        let stays = !g.status.is_revoked() && g.holds(row);
        if stays || !(row.status.is_live() || row.status == CodeStatus::Failed) {
            continue;
        }
        if row.status == CodeStatus::Removing && row.removed_reason.is_some() {
            continue;
        }
        let id = row.id;
        let work = rewrite(s, g, row.clone(), |r| {
            if !(r.status.is_live() || r.status == CodeStatus::Failed) || r.removed_reason.is_some()
            {
                return Ok(false);
            }
            revoke(r, now);
            r.actor = g.actor.clone();
            Ok(true)
        })
        .await?;
        match work {
            None => return Ok(None),
            Some(true) => due.push(id),
            Some(false) => {}
        }
    }
    if g.status.is_revoked() {
        return Ok(Some(due));
    }
    for lock_id in &g.lock_ids {
        let Some(lock) = s.store.lock_by_id(*lock_id).await? else {
            continue;
        };
        match codes
            .iter()
            .rev()
            .find(|c| c.lock_id == *lock_id && g.holds(c))
        {
            Some(row) if as_wanted(g, row) => {}
            Some(row) => {
                let id = row.id;
                let work = rewrite(s, g, row.clone(), |r| {
                    if !g.holds(r) {
                        return Ok(false);
                    }
                    if let Some(pin) = &g.code {
                        r.code = pin.clone();
                    }
                    want(s, g, &lock, r, now).map_err(on_lock(&lock))?;
                    Ok(true)
                })
                .await?;
                match work {
                    None => return Ok(None),
                    Some(true) => due.push(id),
                    Some(false) => {}
                }
            }
            None => {
                let pin = g.code.clone().unwrap_or_default();
                let mut row = code_for(s, g, &lock, pin, now)?;
                // One code per lock and grant version, whichever instance creates it.
                row.idempotency_key = Some(format!("grant:{}:{}:{}", g.id, lock.id, g.version));
                match s
                    .store
                    .insert_grant_code(&row, lock.code_rules.max_codes, g.id, g.version)
                    .await
                {
                    Ok(false) => return Ok(None),
                    Ok(true) if row.status == CodeStatus::Setting => due.push(row.id),
                    // Created already, for this version, by another pass.
                    Ok(true) | Err(InsertError::Store(StoreError::Conflict("idempotency_key"))) => {
                    }
                    Err(InsertError::Store(StoreError::Conflict(_))) => {
                        tracing::warn!(grant = %g.id, lock = %lock.id, "the lock already holds the grant's PIN in another code; the grant stays short of this lock");
                    }
                    Err(InsertError::Capacity(max)) => {
                        tracing::warn!(grant = %g.id, lock = %lock.id, max, "a grant's lock is full");
                    }
                    Err(InsertError::Store(e)) => return Err(e.into()),
                }
            }
        }
    }
    Ok(Some(due))
}

/// Converges grant `id` as stored, again while other changes move it on, and records the
/// version its codes were brought to. Answers the codes the engine has work on. A grant still
/// moving after a few rounds is left to the grant worker (its `applied_version` stays behind).
pub async fn bring(s: &Service, id: GrantId) -> AppResult<Vec<AccessCodeId>> {
    for _ in 0..5 {
        let Some(g) = s.store.grant_by_id(id).await? else {
            break;
        };
        if let Some(due) = converge(s, &g).await? {
            s.store.mark_grant_applied(g.id, g.version).await?;
            return Ok(due);
        }
    }
    Ok(Vec::new())
}

/// Works `ids` now where nobody else holds them (several at once; the vendors' own pacing
/// applies), then settles the grant.
pub async fn work_and_settle(s: &Service, id: GrantId, ids: Vec<AccessCodeId>) -> AppResult<Grant> {
    futures_util::stream::iter(ids)
        .for_each_concurrent(16, |code| async move {
            if let Err(e) = engine::work_now(s, code).await {
                tracing::warn!(code = %code, error = %lockbridge_core::provider::error_chain(&e), "a grant's code could not be worked now");
            }
        })
        .await;
    settle(s, id).await?.ok_or(AppError::NotFound("grant"))
}

/// Sums the grant's codes up into its status, writing the change (and `grant.set` or
/// `grant.failed`) if it moved; answers the grant with its codes.
pub async fn settle(s: &Service, id: GrantId) -> AppResult<Option<Grant>> {
    for _ in 0..5 {
        let Some(mut g) = s.store.grant_by_id(id).await? else {
            return Ok(None);
        };
        let codes = s.store.grant_codes(id).await?;
        let mine: Vec<&AccessCode> = codes.iter().filter(|c| g.holds(c)).collect();
        let status = g.status_of(&mine);
        let owned = || mine.iter().map(|c| (*c).clone()).collect::<Vec<_>>();
        if status == g.status {
            g.access_codes = owned();
            return Ok(Some(g));
        }
        let now = s.now();
        let event = |kind| {
            Event::new(g.org_id, kind, now)
                .grant(id)
                .by(g.actor.clone())
        };
        let events = match status {
            GrantStatus::Set => vec![event(EventType::GrantSet)],
            GrantStatus::Partial => {
                let failed: Vec<_> = mine
                    .iter()
                    .filter(|c| c.status == CodeStatus::Failed)
                    .map(|c| json!({"access_code_id": c.id, "lock_id": c.lock_id, "errors": c.errors}))
                    .collect();
                vec![event(EventType::GrantFailed).data(json!({"failed": failed}))]
            }
            _ => Vec::new(),
        };
        if s.store
            .set_grant_status(id, g.status, status, now, &events)
            .await?
        {
            g.status = status;
            g.access_codes = owned();
            return Ok(Some(g));
        }
    }
    Err(AppError::AlreadyExists {
        message: "the grant changed while this request ran; read it and try again".into(),
    })
}

/// One pass of the grant worker: grants whose last change was not applied to every code are
/// converged, and grants whose codes are on their way are settled. Answers how many it looked at.
pub async fn run_due(s: &Service) -> AppResult<usize> {
    let due = s.store.unsettled_grants(100).await?;
    for id in &due {
        let Some(g) = s.store.grant_by_id(*id).await? else {
            continue;
        };
        if g.applied_version < g.version {
            let work = bring(s, g.id).await?;
            work_and_settle(s, g.id, work).await?;
        } else {
            settle(s, g.id).await?;
        }
    }
    Ok(due.len())
}
