//! The admission rules: whether a code may be issued to a lock as asked, and where that puts
//! it (`setting` now, or `scheduled` until its just-in-time moment). The routes, grants, jobs
//! and stays all admit codes here, before any vendor is asked.

use lockbridge_core::model::{AccessCode, CodeStatus, Lock, Schedule, Scheduling};
use lockbridge_core::time::Millis;

use crate::Service;
use crate::engine;
use crate::error::{AppError, AppResult};

/// How a code's period or window reaches `lock`, from what was asked: a permanent code needs
/// no scheduling; `auto` is native where the lock can hold the limits (no lock holds a window
/// that crosses midnight, nor one in another zone than the one it keeps), just in time where it
/// cannot.
fn resolve_scheduling(
    s: &Service,
    asked: Scheduling,
    lock: &Lock,
    period: bool,
    schedule: Option<&Schedule>,
) -> AppResult<Scheduling> {
    if !period && schedule.is_none() {
        return Ok(Scheduling::Native);
    }
    let native = match schedule {
        Some(s) => lock.capabilities.recurring_codes && !s.crosses_midnight(),
        None => lock.capabilities.time_bound_codes,
    };
    // A lock that reads windows in its own zone holds one only in that zone (asked natively,
    // the check names the zone it must be in).
    let in_zone = schedule.is_none_or(|w| window_zone(s, lock).is_none_or(|tz| tz == w.time_zone));
    match asked {
        Scheduling::Auto if native && in_zone => Ok(Scheduling::Native),
        Scheduling::Auto | Scheduling::JustInTime => Ok(Scheduling::JustInTime),
        Scheduling::Native if native => Ok(Scheduling::Native),
        Scheduling::Native => Err(AppError::validation(
            "scheduling",
            match schedule {
                Some(s) if s.crosses_midnight() && lock.capabilities.recurring_codes => {
                    "this lock cannot hold a window that crosses midnight itself; use just_in_time or auto"
                }
                Some(_) => "this lock cannot hold weekly windows itself; use just_in_time or auto",
                None => "this lock takes permanent codes only; use just_in_time or auto",
            },
        )),
    }
}

/// The zone a lock reads a native window in when the code cannot carry its own (its vendor
/// declares whether codes carry one: Tuya's passwords do, Tedee's PINs do not).
fn window_zone<'l>(s: &Service, lock: &'l Lock) -> Option<&'l str> {
    let carried = s
        .providers
        .get(lock.provider)
        .is_ok_and(|v| v.code_carries_zone());
    if carried {
        None
    } else {
        lock.time_zone.as_deref()
    }
}

/// Resolves how `row`'s period or window reaches `lock` (from `asked`), checks the code against
/// the lock before the vendor is asked, and sets where that puts it: `setting` now, or
/// `scheduled` until its just-in-time moment (a code on the lock now but not wanted until then
/// comes off it first; the engine then waits for the opening).
pub fn prepare(
    s: &Service,
    lock: &Lock,
    row: &mut AccessCode,
    asked: Scheduling,
    now: Millis,
) -> AppResult<()> {
    row.scheduling =
        resolve_scheduling(s, asked, lock, row.ends_at.is_some(), row.schedule.as_ref())?;
    check(
        s,
        now,
        lock,
        &row.code,
        (row.starts_at, row.ends_at),
        row.schedule.as_ref(),
        row.scheduling,
    )?;
    row.status = CodeStatus::Setting;
    row.confirming = false;
    row.attempts = 0;
    row.next_attempt_at = Some(now);
    row.window = None;
    if row.scheduling == Scheduling::JustInTime {
        if !engine::place_in_time(row, now, engine::lead(s)) {
            return Err(no_opening_left(row.schedule.is_some()));
        }
        if row.status == CodeStatus::Scheduled && row.provider_id.is_some() {
            row.status = CodeStatus::Removing;
            row.removed_reason = None;
            row.next_attempt_at = Some(now);
        }
    }
    Ok(())
}

/// Everything checked before the vendor is asked; `scheduling` as resolved.
fn check(
    s: &Service,
    now: Millis,
    lock: &Lock,
    code: &str,
    period: (Option<Millis>, Option<Millis>),
    schedule: Option<&Schedule>,
    scheduling: Scheduling,
) -> AppResult<()> {
    let native = scheduling == Scheduling::Native;
    if let Err(v) = lock.code_rules.check(code) {
        return Err(AppError::validation(
            "code",
            format!("{} (rule {})", v.message, v.rule),
        ));
    }
    match period {
        (Some(_), None) => {
            return Err(AppError::validation(
                "ends_at",
                "is required with starts_at",
            ));
        }
        (None, Some(_)) => {
            return Err(AppError::validation(
                "starts_at",
                "is required with ends_at",
            ));
        }
        (Some(s), Some(e)) if e <= s => {
            return Err(AppError::validation("ends_at", "must be after starts_at"));
        }
        (Some(_), Some(e)) if e <= now => {
            return Err(AppError::validation("ends_at", "is in the past"));
        }
        (Some(_), Some(_)) if native && !lock.capabilities.time_bound_codes => {
            return Err(AppError::validation(
                "starts_at",
                "this lock takes permanent codes only",
            ));
        }
        _ => {}
    }
    if let Some(schedule) = schedule {
        schedule
            .check(if native { window_zone(s, lock) } else { None })
            .map_err(|(field, rule)| AppError::validation(field, rule))?;
    }
    Ok(())
}

/// A just-in-time code whose period or window has no opening left.
fn no_opening_left(weekly: bool) -> AppError {
    if weekly {
        AppError::validation(
            "schedule",
            "has no opening left between starts_at and ends_at",
        )
    } else {
        AppError::validation("ends_at", "is in the past")
    }
}
