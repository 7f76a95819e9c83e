//! Reconciliation: what lockbridge wants on each lock compared with what the vendor reports
//! (one code list per lock), and the differences acted on with the connection's (or the
//! code's) `on_external_change` policy. Only codes at rest (`set`) are judged; codes the engine
//! is working are its own. Every write is conditional on the version read, so a request that
//! lands during a pass wins and the pass leaves that code for the next one.

use std::collections::{HashMap, HashSet};

use futures_util::StreamExt;
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::model::{
    AccessCode, CodeStatus, Connection, ExternalPolicy, Lock, RemovedReason, Schedule, Scheduling,
    toggle_notice,
};
use lockbridge_core::provider::ProviderCode;
use lockbridge_core::time::{Millis, to_rfc3339};
use lockbridge_store::Guard;
use serde_json::{Map, Value, json};

use crate::Service;
use crate::connections;
use crate::error::{AppError, AppResult};

/// What one pass over a lock found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub deleted_externally: usize,
    pub modified_externally: usize,
    pub unmanaged_found: usize,
    pub unmanaged_gone: usize,
    pub expired: usize,
}

/// Whole minutes: vendors keep windows at minute or second precision.
fn minute(t: Option<Millis>) -> Option<Millis> {
    t.map(|t| t.div_euclid(60_000))
}

fn time_text(t: Option<Millis>) -> Value {
    t.map_or(Value::Null, |t| json!(to_rfc3339(t)))
}

/// The fields of `code` that the lock holds otherwise, `{field: {from, to}}`, judged only on
/// what the vendor reports (no PIN from Tuya; no name when the lock keeps none; no period when
/// its list keeps none, `periods` false). PINs are never written out in full.
pub fn differences(
    code: &AccessCode,
    lock: &Lock,
    found: &ProviderCode,
    periods: bool,
) -> Map<String, Value> {
    let f = &found.spec;
    // What the lock was given: a just-in-time code holds its current opening.
    let code = &code.vendor_spec(lock);
    let mut changes = Map::new();
    if !f.code.is_empty() && f.code != code.code {
        changes.insert("code".into(), json!({"from": "••••", "to": "••••"}));
    }
    if f.name.is_some() && f.name != code.name {
        changes.insert("name".into(), json!({"from": code.name, "to": f.name}));
    }
    if periods && minute(f.starts_at) != minute(code.starts_at) {
        changes.insert(
            "starts_at".into(),
            json!({"from": time_text(code.starts_at), "to": time_text(f.starts_at)}),
        );
    }
    if periods && minute(f.ends_at) != minute(code.ends_at) {
        changes.insert(
            "ends_at".into(),
            json!({"from": time_text(code.ends_at), "to": time_text(f.ends_at)}),
        );
    }
    let window = |s: &Option<Schedule>| {
        s.as_ref()
            .map(|s| (s.weekday_bits(), s.start_time, s.end_time))
    };
    if window(&f.schedule) != window(&code.schedule) {
        changes.insert(
            "schedule".into(),
            json!({"from": code.schedule, "to": f.schedule}),
        );
    }
    changes
}

/// Compares one lock's codes with the vendor's list and acts on the differences. A vendor
/// failure changes nothing (the error is answered; the next pass tries again).
pub async fn reconcile_lock(state: &Service, conn: &Connection, lock: &Lock) -> AppResult<Report> {
    let rows = state.store.live_codes(lock.id).await?;
    reconcile_rows(state, conn, lock, rows).await
}

/// [`reconcile_lock`] with the lock's live codes as read before the vendor is asked. That order
/// matters: a code is judged gone only if it was at rest before the vendor's list was taken (a
/// code set meanwhile is not in `rows` as `set`), and every write is conditional on the version
/// read, so a code changed since is left for the next pass.
async fn reconcile_rows(
    state: &Service,
    conn: &Connection,
    lock: &Lock,
    rows: Vec<AccessCode>,
) -> AppResult<Report> {
    let mut report = Report::default();
    if !lock.capabilities.access_codes {
        return Ok(report);
    }
    let found = connections::list_codes(state, conn, lock).await?;
    let now = state.now();
    let on_lock: HashMap<&str, &ProviderCode> =
        found.iter().map(|f| (f.provider_id.as_str(), f)).collect();
    for row in &rows {
        let held = row.lease_until.is_some_and(|until| until > now);
        // An offline code is the lock's algorithm's: not every vendor lists it, and its times
        // are the vendor's own rounding of what was asked; nothing to judge.
        if row.status != CodeStatus::Set || held || row.kind.is_some() {
            continue;
        }
        let seen = row.provider_id.as_deref().and_then(|p| on_lock.get(p));
        let acted = match seen {
            None => gone(state, conn, row, now, &mut report).await?,
            Some(f) if row.managed => modified(state, conn, lock, row, f, now, &mut report).await?,
            Some(_) => false,
        };
        if acted {
            tracing::info!(code = %row.id, lock = %lock.id, "reconciled a code changed outside lockbridge");
        }
    }
    // Codes on the lock that no row knows: found outside lockbridge, unless one of ours is on
    // its way there (its vendor id not known yet).
    let known: HashSet<&str> = rows
        .iter()
        .filter_map(|r| r.provider_id.as_deref())
        .collect();
    let in_flight: Vec<&AccessCode> = rows
        .iter()
        .filter(|r| r.managed && r.provider_id.is_none())
        .collect();
    let strangers: Vec<ProviderCode> = found
        .iter()
        .filter(|f| !known.contains(f.provider_id.as_str()))
        .filter(|f| !in_flight.iter().any(|r| f.is(r)))
        .cloned()
        .collect();
    if !strangers.is_empty() {
        report.unmanaged_found = state
            .store
            .record_found_codes(lock, &strangers, now)
            .await?
            .len();
    }
    Ok(report)
}

/// A `set` code the lock no longer has.
async fn gone(
    state: &Service,
    conn: &Connection,
    row: &AccessCode,
    now: Millis,
    report: &mut Report,
) -> AppResult<bool> {
    let event = |kind: EventType| {
        Event::new(row.org_id, kind, now)
            .code(row.id, row.lock_id)
            .connection(conn.id)
    };
    if row.window.is_some_and(|(_, end)| end <= now) {
        // A just-in-time opening that closed: the engine takes the code off and waits for the
        // next opening, whether or not the lock dropped it by itself.
        return Ok(false);
    }
    let mut next = row.clone();
    let expired = row.ends_at.is_some_and(|end| end <= now);
    let mut events = Vec::new();
    if expired || !row.managed {
        // The lock dropped it at its end, or an unmanaged code went: nothing to put back.
        let reason = if expired {
            RemovedReason::Expired
        } else {
            RemovedReason::External
        };
        next.status = CodeStatus::Removed;
        next.removed_reason = Some(reason);
        let kind = if expired {
            report.expired += 1;
            EventType::CodeExpired
        } else {
            report.unmanaged_gone += 1;
            EventType::CodeRemoved
        };
        events.push(event(kind).data(json!({"reason": reason.as_str()})));
    } else {
        report.deleted_externally += 1;
        events.push(event(EventType::CodeDeletedExternally));
        match row.on_external_change.unwrap_or(conn.on_external_change) {
            ExternalPolicy::Restore => {
                next.status = CodeStatus::Setting;
                next.provider_id = None;
                // Counted as a second write, so the engine looks on the lock before writing
                // (someone may have put the PIN back by hand).
                next.attempts = 1;
                next.next_attempt_at = Some(now);
                toggle_notice(
                    &mut next.warnings,
                    true,
                    "deleted_externally",
                    "removed from the lock outside lockbridge; being set again",
                    now,
                );
            }
            ExternalPolicy::Accept => {
                next.status = CodeStatus::Removed;
                next.removed_reason = Some(RemovedReason::External);
                events.push(event(EventType::CodeRemoved).data(json!({"reason": "external"})));
            }
        }
    }
    write(state, next, row.version, now, &events).await
}

/// A managed `set` code that the lock holds differently.
async fn modified(
    state: &Service,
    conn: &Connection,
    lock: &Lock,
    row: &AccessCode,
    found: &ProviderCode,
    now: Millis,
    report: &mut Report,
) -> AppResult<bool> {
    let periods = state
        .providers
        .get(conn.provider)
        .map_or(true, |v| v.codes().is_none_or(|c| c.lists_periods()));
    let changes = differences(row, lock, found, periods);
    if changes.is_empty() {
        return Ok(false);
    }
    report.modified_externally += 1;
    let policy = row.on_external_change.unwrap_or(conn.on_external_change);
    let event = Event::new(row.org_id, EventType::CodeModifiedExternally, now)
        .code(row.id, row.lock_id)
        .connection(conn.id)
        .data(json!({"changes": changes, "policy": policy.as_str()}));
    let mut next = row.clone();
    match policy {
        ExternalPolicy::Restore => {
            next.status = CodeStatus::Setting;
            next.attempts = 0;
            next.next_attempt_at = Some(now);
            toggle_notice(
                &mut next.warnings,
                true,
                "modified_externally",
                "changed on the lock outside lockbridge; being put back",
                now,
            );
        }
        ExternalPolicy::Accept => {
            let f = &found.spec;
            if !f.code.is_empty() {
                next.code = f.code.clone();
            }
            if f.name.is_some() {
                next.name = f.name.clone();
            }
            // A just-in-time code's times are lockbridge's to move, opening by opening.
            if row.scheduling == Scheduling::Native {
                next.starts_at = f.starts_at;
                next.ends_at = f.ends_at;
                if f.schedule.is_some() || row.schedule.is_some() {
                    next.schedule = f.schedule.clone();
                }
            }
        }
    }
    write(state, next, row.version, now, &[event]).await
}

/// A conditional write; a PIN the lock now holds twice is left for a person to sort out.
async fn write(
    state: &Service,
    mut next: AccessCode,
    version: i64,
    now: Millis,
    events: &[Event],
) -> AppResult<bool> {
    match state
        .store
        .update_code_if(&mut next, version, Guard::Version, now, events)
        .await
    {
        Ok(written) => Ok(written),
        Err(lockbridge_store::StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Reconciles one lock now (`POST /v1/locks/{id}/reconcile`) and sets its next pass one
/// interval later.
pub async fn reconcile_now(state: &Service, lock: &Lock) -> AppResult<Report> {
    let conn = state
        .store
        .connection_by_id(lock.connection_id)
        .await?
        .ok_or(AppError::NotFound("connection"))?;
    let report = reconcile_lock(state, &conn, lock).await?;
    let next = state.now() + state.settings.reconcile_interval.as_millis() as i64;
    state.store.schedule_reconcile(lock.id, next).await?;
    Ok(report)
}

/// One pass of the reconciliation worker: claims up to 200 locks that are due and works them,
/// one lock at a time per connection (so a vendor account's budget is spent evenly) and up to
/// four connections at once. The claim itself moves each lock's next pass one interval on, so
/// a pass writes nothing for a lock whose codes agree with the vendor's, and a lock whose
/// instance died is taken up again at its next interval. A lock whose vendor fails is logged
/// and tried then too; the others go on. Answers how many locks were reconciled.
pub async fn run_due(state: &Service) -> AppResult<usize> {
    let now = state.now();
    let next = now + state.settings.reconcile_interval.as_millis() as i64;
    let due = state.store.claim_reconciles(now, 200, next).await?;
    let ids: Vec<_> = due.iter().map(|l| l.id).collect();
    let mut codes = state.store.live_codes_of(&ids).await?;
    let mut by_connection: HashMap<_, Vec<(Lock, Vec<AccessCode>)>> = HashMap::new();
    for lock in due {
        let rows = codes.remove(&lock.id).unwrap_or_default();
        by_connection
            .entry(lock.connection_id)
            .or_default()
            .push((lock, rows));
    }
    let done = futures_util::stream::iter(by_connection)
        .map(|(conn_id, locks)| async move {
            let Ok(Some(conn)) = state.store.connection_by_id(conn_id).await else {
                return 0;
            };
            let mut done = 0;
            for (lock, rows) in locks {
                match reconcile_rows(state, &conn, &lock, rows).await {
                    Ok(_) => done += 1,
                    Err(e) => tracing::warn!(lock = %lock.id, error = %lockbridge_core::provider::error_chain(&e), "reconciliation failed"),
                }
            }
            done
        })
        .buffer_unordered(4)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    Ok(done)
}
