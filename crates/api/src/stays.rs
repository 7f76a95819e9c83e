//! Stays: properties, their calendar feeds, and reservations with their codes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lockbridge_core::ids::{CalendarId, GrantId, LockId, PropertyId, ReservationId};
use lockbridge_core::stays::{
    self, CodeSource, FallbackCode, Readiness, Reason, ReservationStatus,
};
use lockbridge_core::time::{Millis, Timestamp};

use crate::AccessCode;

/// A place rented out.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Property {
    pub id: PropertyId,
    pub name: String,
    pub lock_ids: Vec<LockId>,
    /// IANA zone the check-in and check-out times are in.
    pub time_zone: String,
    /// `HH:MM`, local.
    pub check_in_time: String,
    pub check_out_time: String,
    pub code_source: CodeSource,
    /// The code works this long before check-in and after check-out.
    pub early_minutes: u32,
    pub late_minutes: u32,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub updated_at: Millis,
}

impl From<&stays::Property> for Property {
    fn from(p: &stays::Property) -> Property {
        Property {
            id: p.id,
            name: p.name.clone(),
            lock_ids: p.lock_ids.clone(),
            time_zone: p.time_zone.clone(),
            check_in_time: p.check_in_time.clone(),
            check_out_time: p.check_out_time.clone(),
            code_source: p.code_source,
            early_minutes: p.early_minutes,
            late_minutes: p.late_minutes,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A property's calendar feed (its address is never answered: it carries the feed owner's
/// token).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Calendar {
    pub id: CalendarId,
    pub property_id: PropertyId,
    pub name: Option<String>,
    /// Why the last read failed (the last good state was kept).
    pub last_error: Option<String>,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub last_read_at: Option<Millis>,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub next_read_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
}

impl From<&stays::Calendar> for Calendar {
    fn from(c: &stays::Calendar) -> Calendar {
        Calendar {
            id: c.id,
            property_id: c.property_id,
            name: c.name.clone(),
            last_error: c.last_error.clone(),
            last_read_at: c.last_read_at,
            next_read_at: c.next_read_at,
            created_at: c.created_at,
        }
    }
}

/// A stay, with its codes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Reservation {
    pub id: ReservationId,
    pub property_id: PropertyId,
    /// The booking's id where it came from (a feed's UID, an integration's id).
    pub external_id: String,
    /// `api`, or the calendar it was read from.
    pub source: String,
    pub guest_name: Option<String>,
    /// The guest's phone's last four digits, when known.
    pub phone_last4: Option<String>,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub check_in_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub check_out_at: Millis,
    pub cancelled: bool,
    /// As of now: upcoming, active, ended, or cancelled.
    pub status: ReservationStatus,
    pub grant_id: Option<GrantId>,
    pub readiness: Readiness,
    /// Why the stay is at risk: `device_offline`, `gateway_offline`, `code_failed`,
    /// `connection_needs_reauth`, `low_battery`, `capacity_reached`, each with its lock.
    pub reasons: Vec<Reason>,
    pub warnings: Vec<Reason>,
    pub fallback_codes: Vec<FallbackCode>,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub checked_at: Option<Millis>,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub updated_at: Millis,
    /// The codes of the stay's grant, one per door.
    pub access_codes: Vec<AccessCode>,
}

impl Reservation {
    /// The view of `r` with the codes of its grant.
    pub fn new(r: &stays::Reservation, codes: &[lockbridge_core::model::AccessCode]) -> Self {
        Reservation {
            id: r.id,
            property_id: r.property_id,
            external_id: r.external_id.clone(),
            source: r.source.clone(),
            guest_name: r.guest_name.clone(),
            phone_last4: r.phone_last4.clone(),
            check_in_at: r.check_in_at,
            check_out_at: r.check_out_at,
            cancelled: r.cancelled,
            status: r.status,
            grant_id: r.grant_id,
            readiness: r.readiness,
            reasons: r.reasons.clone(),
            warnings: r.warnings.clone(),
            fallback_codes: r.fallback_codes.clone(),
            checked_at: r.checked_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            access_codes: codes.iter().map(AccessCode::from).collect(),
        }
    }
}
