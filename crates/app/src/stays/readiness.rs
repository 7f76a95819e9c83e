//! Readiness: a lead time before check-in (`LOCKBRIDGE_READINESS_LEAD`), again an hour before,
//! and at once for a stay booked inside the lead, each of the stay's locks is reconciled with its
//! vendor and looked at: the stay's code read back on it (or due just in time), the lock and its
//! gateway online, its connection healthy, its battery above the warning line. A lock that
//! cannot be reached and can compute offline codes gets one for the stay: the fallback.

use lockbridge_core::events::{Actor, Event, EventType};
use lockbridge_core::model::{AccessCode, CodeStatus, ConnectionStatus, Lock};
use lockbridge_core::offline::OfflineKind;
use lockbridge_core::stays::{FallbackCode, Readiness, Reason, Reservation};
use lockbridge_core::time::Millis;
use serde_json::json;

use crate::{AppResult, Service, offline, reconcile};

/// How soon a stay whose codes are still on their way is looked at again.
const PENDING_AGAIN: Millis = 5 * 60_000;
/// The second look, before check-in.
const LAST_LOOK: Millis = 3_600_000;

fn reason(code: &str, lock: &Lock, message: String) -> Reason {
    Reason {
        code: code.into(),
        lock_id: Some(lock.id),
        message: format!("lock \"{}\": {message}", lock.name),
    }
}

/// What stands between the guest and `lock`: reasons (the stay at risk), and whether the code
/// is still on its way.
fn look(lock: &Lock, code: Option<&AccessCode>, conn_ok: bool) -> (Vec<Reason>, bool) {
    let mut out = Vec::new();
    if !conn_ok {
        out.push(reason(
            "connection_needs_reauth",
            lock,
            "its connection's credentials stopped working".into(),
        ));
    }
    if lock.errors.iter().any(|e| e.code == "gateway_offline") {
        out.push(reason(
            "gateway_offline",
            lock,
            "its gateway is offline".into(),
        ));
    } else if !lock.online {
        out.push(reason("device_offline", lock, "it is offline".into()));
    }
    if lock.warnings.iter().any(|w| w.code == "low_battery") {
        out.push(reason(
            "low_battery",
            lock,
            format!("battery at {} %", lock.battery.unwrap_or(0)),
        ));
    }
    let mut pending = false;
    match code {
        None => out.push(reason(
            "code_failed",
            lock,
            "the stay has no code on it".into(),
        )),
        Some(c) => match c.status {
            CodeStatus::Set | CodeStatus::Scheduled => {}
            CodeStatus::Setting => {
                if let Some(e) = c.errors.first() {
                    let code = if e.code == "capacity_reached" {
                        "capacity_reached"
                    } else {
                        "code_failed"
                    };
                    out.push(reason(
                        code,
                        lock,
                        format!("the code is not on it yet: {}", e.message),
                    ));
                } else {
                    pending = true;
                }
            }
            _ => {
                let capacity = c.errors.iter().any(|e| e.code == "capacity_reached");
                let code = if capacity {
                    "capacity_reached"
                } else {
                    "code_failed"
                };
                out.push(reason(code, lock, "the code could not be set".into()));
            }
        },
    }
    (out, pending)
}

/// Checks one stay now; answers it as written.
pub async fn check(s: &Service, mut r: Reservation) -> AppResult<Reservation> {
    let now = s.now();
    if r.cancelled || now >= r.check_out_at {
        r.next_check_at = None;
        let before = r.version;
        s.store
            .update_reservation_if(&mut r, before, None, now, &[])
            .await?;
        return Ok(r);
    }
    let codes = super::codes_of(s, &r).await?;
    let property = s.store.get_property(None, r.property_id).await?;
    let lock_ids = property.map(|p| p.lock_ids).unwrap_or_default();
    let (mut reasons, mut pending, mut fallbacks) = (Vec::new(), false, Vec::new());
    for id in lock_ids {
        let Some(lock) = s.store.lock_by_id(id).await? else {
            continue;
        };
        let conn = s.store.connection_by_id(lock.connection_id).await?;
        // A fresh look with the vendor: the lock's codes reconciled (its state read with them).
        if let Err(e) = reconcile::reconcile_now(s, &lock).await {
            tracing::info!(lock = %lock.id, error = %e, "a stay's lock could not be reconciled");
        }
        let lock = s.store.lock_by_id(id).await?.unwrap_or(lock);
        let code = codes
            .iter()
            .filter(|c| c.lock_id == lock.id && c.kind.is_none())
            .max_by_key(|c| c.created_at);
        let conn_ok = conn
            .as_ref()
            .is_some_and(|c| c.status != ConnectionStatus::NeedsReauth);
        let (found, waiting) = look(&lock, code, conn_ok);
        pending |= waiting;
        let unreachable = found
            .iter()
            .any(|f| f.code == "device_offline" || f.code == "gateway_offline");
        let has_fallback = r.fallback_codes.iter().any(|f| f.lock_id == lock.id);
        if unreachable
            && lock.capabilities.offline_codes
            && !has_fallback
            && let Some(conn) = &conn
        {
            let period = (r.check_in_at, Some(r.check_out_at));
            let name = Some(format!(
                "Fallback {}",
                r.guest_name.as_deref().unwrap_or(&r.external_id)
            ));
            match offline::issue(
                s,
                &lock,
                conn,
                OfflineKind::TimeBound,
                name,
                period,
                Actor::system(),
            )
            .await
            {
                Ok(made) => fallbacks.push(FallbackCode {
                    lock_id: lock.id,
                    code: made.code.clone(),
                    kind: OfflineKind::TimeBound,
                    starts_at: made.starts_at.unwrap_or(period.0),
                    ends_at: made.ends_at,
                    access_code_id: made.id,
                }),
                Err(e) => {
                    tracing::warn!(lock = %lock.id, error = %e, "no fallback code could be issued")
                }
            }
        }
        reasons.extend(found);
    }
    let readiness = if !reasons.is_empty() {
        Readiness::AtRisk
    } else if pending {
        Readiness::Pending
    } else {
        Readiness::Ready
    };
    let mut events = Vec::new();
    let data = |r: &Reservation| json!({"reservation_id": r.id, "property_id": r.property_id, "external_id": r.external_id});
    if readiness != r.readiness || (readiness == Readiness::AtRisk && reasons != r.reasons) {
        let kind = match readiness {
            Readiness::Ready => Some(EventType::ReservationReady),
            Readiness::AtRisk => Some(EventType::ReservationAtRisk),
            Readiness::Pending => None,
        };
        if let Some(kind) = kind {
            let mut d = data(&r);
            d["reasons"] = json!(reasons);
            events.push(Event::new(r.org_id, kind, now).data(d));
        }
    }
    for f in &fallbacks {
        let mut d = data(&r);
        d["lock_id"] = json!(f.lock_id);
        d["access_code_id"] = json!(f.access_code_id);
        events.push(
            Event::new(r.org_id, EventType::ReservationFallbackIssued, now)
                .lock(f.lock_id)
                .data(d),
        );
    }
    let next = if readiness == Readiness::Pending {
        Some((now + PENDING_AGAIN).min(r.check_in_at.max(now + 60_000)))
    } else if now < r.check_in_at - LAST_LOOK {
        Some(r.check_in_at - LAST_LOOK)
    } else {
        None
    };
    for _ in 0..5 {
        let before = r.version;
        r.readiness = readiness;
        r.reasons = reasons.clone();
        r.fallback_codes.extend(fallbacks.iter().cloned());
        r.checked_at = Some(now);
        r.next_check_at = next;
        if s.store
            .update_reservation_if(&mut r, before, None, now, &events)
            .await?
        {
            return Ok(r);
        }
        let Some(fresh) = s.store.get_reservation(None, r.id, now).await? else {
            return Ok(r);
        };
        r = Reservation {
            fallback_codes: fresh.fallback_codes.clone(),
            ..fresh
        };
    }
    Ok(r)
}

/// One pass of the readiness worker: claims the stays whose check is due and checks them.
pub async fn run_due(s: &Service) -> AppResult<usize> {
    let now = s.now();
    let due = s
        .store
        .claim_readiness_checks(now, 20, now + PENDING_AGAIN)
        .await?;
    let n = due.len();
    for r in due {
        if let Err(e) = check(s, r).await {
            tracing::warn!(error = %e, "a stay could not be checked");
        }
    }
    Ok(n)
}
