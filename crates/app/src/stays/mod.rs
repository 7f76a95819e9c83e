//! Stays: a property's bookings, each one grant on the property's locks from check-in (less
//! the early minutes) to check-out (plus the late ones), scheduled `auto`. A reservation is
//! written first and its grant brought in line after ([`apply`]); a reservation whose grant is
//! behind (an instance stopped between the two) is brought in line by the next worker pass, and
//! bringing it twice changes nothing more: the grant is created under the reservation's key.

pub mod calendars;
pub mod readiness;

use jiff::civil::Date;
use lockbridge_core::events::Actor;
use lockbridge_core::grants::{Grant, SharedCodePolicy};
use lockbridge_core::ids::{OrgId, PropertyId, ReservationId};
use lockbridge_core::model::{Lock, Scheduling};
use lockbridge_core::stays::{CodeSource, Property, Readiness, Reason, Reservation};
use lockbridge_core::time::Millis;
use lockbridge_store::StoreError;

use crate::grant_writes::{self as writes, GrantEdit, NewGrant};
use crate::{AppError, AppResult, Service};

/// A booking as a source gives it: its times as instants, or as days at the property's times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Booking {
    pub guest_name: Option<String>,
    pub check_in_at: Option<Millis>,
    pub arrival_date: Option<Date>,
    pub check_out_at: Option<Millis>,
    pub departure_date: Option<Date>,
    /// A phone number (its last four digits are kept) or the four digits themselves.
    pub phone: Option<String>,
    pub code: Option<String>,
}

/// The phone's last four digits; an error names `field` when there are fewer than four.
pub fn last4(phone: &str, field: &str) -> AppResult<String> {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return Err(AppError::validation(
            field,
            "must hold at least four digits (its last four are kept)",
        ));
    }
    Ok(digits[digits.len() - 4..].iter().collect())
}

/// The stay's check-in and check-out instants.
pub fn times(p: &Property, b: &Booking) -> AppResult<(Millis, Millis)> {
    let at = |instant: Option<Millis>, day: Option<Date>, field: &str, time: &str| match (
        instant, day,
    ) {
        (Some(t), _) => Ok(t),
        (None, Some(d)) => p.at(d, time).map_err(|e| {
            AppError::validation(
                field,
                format!("cannot be placed in the property's zone: {e}"),
            )
        }),
        (None, None) => Err(AppError::validation(
            field,
            "is required (or its date: arrival_date, departure_date)",
        )),
    };
    let check_in = at(
        b.check_in_at,
        b.arrival_date,
        "check_in_at",
        &p.check_in_time,
    )?;
    let check_out = at(
        b.check_out_at,
        b.departure_date,
        "check_out_at",
        &p.check_out_time,
    )?;
    if check_out <= check_in {
        return Err(AppError::validation(
            "check_out_at",
            "must be after check-in",
        ));
    }
    Ok((check_in, check_out))
}

/// When a stay is first checked: the lead before check-in, or at once inside it.
pub fn first_check(s: &Service, check_in: Millis, now: Millis) -> Option<Millis> {
    let lead = s.settings.readiness_lead.as_millis() as Millis;
    (check_in > now).then(|| (check_in - lead).max(now))
}

/// The codes of a stay's grant (and those still coming off a cancelled one).
pub async fn codes_of(
    s: &Service,
    r: &Reservation,
) -> AppResult<Vec<lockbridge_core::model::AccessCode>> {
    Ok(match r.grant_id {
        Some(g) => s
            .store
            .codes_of_grants(&[g])
            .await?
            .remove(&g)
            .unwrap_or_default(),
        None => Vec::new(),
    })
}

pub async fn property(s: &Service, org: OrgId, id: PropertyId) -> AppResult<Property> {
    s.store
        .get_property(Some(org), id)
        .await?
        .ok_or(AppError::NotFound("property"))
}

/// Stores a booking for a property under `external_id` from `source`: a new stay, a changed
/// one (its grant moved, its PIN kept), or the same again (nothing changes). Answers the stay
/// and whether it changed.
pub async fn upsert(
    s: &Service,
    p: &Property,
    external_id: &str,
    booking: &Booking,
    source: &str,
) -> AppResult<(Reservation, bool)> {
    if external_id.trim().is_empty() || external_id.len() > 255 {
        return Err(AppError::validation(
            "external_id",
            "must be 1 to 255 characters",
        ));
    }
    let (check_in, check_out) = times(p, booking)?;
    let phone = booking
        .phone
        .as_deref()
        .map(|ph| last4(ph, "phone"))
        .transpose()?;
    let guest = booking
        .guest_name
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned);
    for _ in 0..5 {
        let now = s.now();
        let existing = s
            .store
            .reservation_by_external(p.id, external_id, now)
            .await?;
        let Some(mut r) = existing else {
            let r = Reservation {
                id: ReservationId::new(),
                org_id: p.org_id,
                property_id: p.id,
                external_id: external_id.to_owned(),
                source: source.to_owned(),
                guest_name: guest.clone(),
                phone_last4: phone.clone(),
                code: booking.code.clone(),
                check_in_at: check_in,
                check_out_at: check_out,
                cancelled: false,
                status: lockbridge_core::stays::ReservationStatus::Upcoming,
                grant_id: None,
                readiness: Readiness::Pending,
                reasons: Vec::new(),
                warnings: Vec::new(),
                fallback_codes: Vec::new(),
                checked_at: None,
                next_check_at: first_check(s, check_in, now),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            match s.store.insert_reservation(&r).await {
                Ok(()) => return Ok((apply(s, r).await?, true)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let same = !r.cancelled
            && r.check_in_at == check_in
            && r.check_out_at == check_out
            && r.guest_name == guest
            && r.phone_last4 == phone
            && r.code == booking.code;
        if same {
            return Ok((r, false));
        }
        let moved = r.check_in_at != check_in || r.cancelled;
        let before = r.version;
        (r.check_in_at, r.check_out_at) = (check_in, check_out);
        (r.guest_name, r.phone_last4, r.code) =
            (guest.clone(), phone.clone(), booking.code.clone());
        r.cancelled = false;
        if moved {
            r.readiness = Readiness::Pending;
            r.reasons.clear();
            r.next_check_at = first_check(s, check_in, now);
        }
        if s.store
            .update_reservation_if(&mut r, before, Some(false), now, &[])
            .await?
        {
            return Ok((apply(s, r).await?, true));
        }
    }
    Err(AppError::AlreadyExists {
        message: "the reservation changed while this request ran; try again".into(),
    })
}

/// Cancels a stay: its grant is revoked, its codes leave the locks.
pub async fn cancel(s: &Service, mut r: Reservation) -> AppResult<Reservation> {
    for _ in 0..5 {
        if r.cancelled {
            return apply(s, r).await;
        }
        let before = r.version;
        r.cancelled = true;
        r.next_check_at = None;
        if s.store
            .update_reservation_if(&mut r, before, Some(false), s.now(), &[])
            .await?
        {
            return apply(s, r).await;
        }
        r = s
            .store
            .get_reservation(None, r.id, s.now())
            .await?
            .ok_or(AppError::NotFound("reservation"))?;
    }
    Err(AppError::AlreadyExists {
        message: "the reservation changed while this request ran; try again".into(),
    })
}

/// The PIN a new stay's grant asks for, and a warning when the phone's digits could not be it.
fn pin_for(p: &Property, r: &Reservation, locks: &[Lock]) -> (Option<String>, Vec<Reason>) {
    if let Some(code) = &r.code {
        return (Some(code.clone()), Vec::new());
    }
    let (CodeSource::PhoneLast4, Some(digits)) = (p.code_source, &r.phone_last4) else {
        return (None, Vec::new());
    };
    let refused: Vec<Reason> = locks
        .iter()
        .filter_map(|l| {
            l.code_rules.check(digits).err().map(|v| Reason {
                code: "phone_code_unusable".into(),
                lock_id: Some(l.id),
                message: format!(
                    "lock \"{}\" cannot take the phone's last four digits: {} (rule {}); a PIN was generated",
                    l.name, v.message, v.rule
                ),
            })
        })
        .collect();
    if refused.is_empty() {
        (Some(digits.clone()), Vec::new())
    } else {
        (None, refused)
    }
}

/// The stay's grant under `key`: the one made before under it, or a new one (a PIN warning,
/// if any, added to `warnings`).
async fn grant_for(
    s: &Service,
    p: &Property,
    r: &Reservation,
    key: &str,
    period: (Option<Millis>, Option<Millis>),
    lock_ids: Vec<String>,
    warnings: &mut Vec<Reason>,
) -> AppResult<Option<Grant>> {
    if let Some(g) = s.store.grant_by_key(r.org_id, key).await? {
        return Ok(Some(g));
    }
    let locks = writes::load_locks(s, r.org_id, &lock_ids).await?;
    let (code, refused) = pin_for(p, r, &locks);
    warnings.retain(|w| w.code != "phone_code_unusable");
    warnings.extend(refused);
    let name = format!(
        "Stay {} at {}",
        r.guest_name.as_deref().unwrap_or(&r.external_id),
        p.name
    );
    let asked = NewGrant {
        name,
        lock_ids,
        code,
        starts_at: period.0,
        ends_at: period.1,
        schedule: None,
        scheduling: Scheduling::Auto,
        on_shared_code_impossible: SharedCodePolicy::PerLock,
        idempotency: Some((key.to_owned(), "stay".into())),
    };
    match writes::create(s, r.org_id, Actor::system(), asked).await? {
        Some(g) => Ok(Some(g)),
        None => Ok(s.store.grant_by_key(r.org_id, key).await?),
    }
}

/// Brings the stay's grant in line with the stay: made, moved (the PIN kept) or revoked; a
/// stay booked again after its cancellation gets a new one.
pub async fn apply(s: &Service, mut r: Reservation) -> AppResult<Reservation> {
    let p = s
        .store
        .get_property(None, r.property_id)
        .await?
        .ok_or(AppError::NotFound("property"))?;
    let minutes = |m: u32| Millis::from(m) * 60_000;
    let period = (
        Some(r.check_in_at - minutes(p.early_minutes)),
        Some(r.check_out_at + minutes(p.late_minutes)),
    );
    let lock_ids: Vec<String> = p.lock_ids.iter().map(|l| l.to_string()).collect();
    let mut warnings = r.warnings.clone();
    let grant: Option<Grant> = match r.grant_id {
        Some(id) if r.cancelled => match writes::revoke(s, r.org_id, id, Actor::system()).await {
            Ok(g) => Some(g),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        None if r.cancelled => None,
        Some(id) => {
            let g = s.store.get_grant(r.org_id, id).await?;
            match g {
                // Booked again after a cancellation: a new grant, under a key that names the
                // revoked one (so that doing this twice makes one).
                Some(g) if g.status.is_revoked() => {
                    let key = format!("stay:{}:after:{}", r.id, g.id);
                    let made = grant_for(s, &p, &r, &key, period, lock_ids, &mut warnings).await?;
                    made.or(Some(g))
                }
                Some(g) if (g.starts_at, g.ends_at) != period || g.lock_ids != p.lock_ids => {
                    let edit = GrantEdit {
                        period: Some(period),
                        lock_ids: Some(lock_ids),
                        ..GrantEdit::default()
                    };
                    Some(writes::change(s, r.org_id, id, Actor::system(), edit).await?)
                }
                other => other,
            }
        }
        None => {
            let key = format!("stay:{}", r.id);
            grant_for(s, &p, &r, &key, period, lock_ids, &mut warnings).await?
        }
    };
    for _ in 0..5 {
        let before = r.version;
        r.grant_id = grant.as_ref().map(|g| g.id).or(r.grant_id);
        r.warnings = warnings.clone();
        if s.store
            .update_reservation_if(&mut r, before, Some(true), s.now(), &[])
            .await?
        {
            return Ok(r);
        }
        // Changed meanwhile: that change is applied by whoever made it, or the next pass.
        let Some(now) = s.store.get_reservation(None, r.id, s.now()).await? else {
            return Err(AppError::NotFound("reservation"));
        };
        if now.version != before {
            return Ok(now);
        }
        r = now;
    }
    Ok(r)
}

/// One pass over stays whose grant is behind them (an instance stopped between writing the
/// stay and its grant): each is brought in line. Answers how many.
pub async fn run_unapplied(s: &Service) -> AppResult<usize> {
    let due = s.store.unapplied_reservations(50, s.now()).await?;
    let mut done = 0;
    for r in due {
        match apply(s, r).await {
            Ok(_) => done += 1,
            Err(e) => tracing::warn!(error = %e, "a stay's grant could not be brought in line"),
        }
    }
    Ok(done)
}

/// Deletes a property: refused while it has stays that are not over, unless `revoke` (their
/// grants are revoked first).
pub async fn delete_property(s: &Service, p: &Property, revoke: bool) -> AppResult<()> {
    let now = s.now();
    let filter = lockbridge_store::ReservationFilter {
        property: Some(p.id),
        from: Some(now),
        ..Default::default()
    };
    let live: Vec<Reservation> = s
        .store
        .list_reservations(p.org_id, &filter, 1000, None, now)
        .await?
        .into_iter()
        .filter(|r| !r.cancelled)
        .collect();
    if !live.is_empty() && !revoke {
        return Err(AppError::AlreadyExists {
            message: format!(
                "the property has {} stays that are not over; cancel them, or delete with revoke=true",
                live.len()
            ),
        });
    }
    for r in live {
        cancel(s, r).await?;
    }
    s.store.delete_property(p.org_id, p.id).await?;
    Ok(())
}
