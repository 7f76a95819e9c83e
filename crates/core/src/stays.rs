//! Stays: a property's bookings, each one grant on the property's locks from check-in to
//! check-out, checked with the vendors before the guest arrives.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::ids::{CalendarId, GrantId, LockId, OrgId, PropertyId, ReservationId};
use crate::offline::OfflineKind;
use crate::time::Millis;

/// Where a stay's PIN comes from when the booking gives none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeSource {
    /// The guest's phone's last four digits, where every lock accepts them.
    PhoneLast4,
    Generated,
}

/// A place rented out.
#[derive(Debug, Clone)]
pub struct Property {
    pub id: PropertyId,
    pub org_id: OrgId,
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
    pub version: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Property {
    /// The instant of `day` at `time` (`HH:MM`) in the property's zone; a time a clock change
    /// skips is taken as the wall clock after it.
    pub fn at(&self, day: Date, time: &str) -> Result<Millis, String> {
        let zone = TimeZone::get(&self.time_zone).map_err(|e| e.to_string())?;
        let time = parse_time(time)?;
        let zoned = day
            .to_datetime(time)
            .to_zoned(zone)
            .map_err(|e| e.to_string())?;
        Ok(zoned.timestamp().as_millisecond())
    }

    pub fn check_in(&self, day: Date) -> Result<Millis, String> {
        self.at(day, &self.check_in_time)
    }

    pub fn check_out(&self, day: Date) -> Result<Millis, String> {
        self.at(day, &self.check_out_time)
    }
}

/// `HH:MM`, 00:00 to 23:59.
pub fn parse_time(text: &str) -> Result<Time, String> {
    let rule = || format!("{text:?} is not a time of day: write HH:MM, 00:00 to 23:59");
    let (h, m) = text.trim().split_once(':').ok_or_else(rule)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(rule());
    }
    let (h, m): (i8, i8) = (
        h.parse().map_err(|_| rule())?,
        m.parse().map_err(|_| rule())?,
    );
    Time::new(h, m, 0, 0).map_err(|_| rule())
}

/// Whether `zone` is an IANA zone this build knows.
pub fn check_zone(zone: &str) -> Result<(), String> {
    if crate::windows::is_iana(zone) {
        Ok(())
    } else {
        Err(format!(
            "{zone:?} is not an IANA time zone (`Europe/Lisbon`)"
        ))
    }
}

/// A property's calendar feed.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub id: CalendarId,
    pub org_id: OrgId,
    pub property_id: PropertyId,
    /// Never answered: it carries the feed owner's token.
    pub url: String,
    pub name: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Why the last read failed (the last good state was kept).
    pub last_error: Option<String>,
    pub last_read_at: Option<Millis>,
    pub next_read_at: Millis,
    pub created_at: Millis,
}

/// Where a stay is in its life, as of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Upcoming,
    Active,
    Ended,
    Cancelled,
}

impl ReservationStatus {
    pub fn parse(s: &str) -> Option<ReservationStatus> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// Whether the stay's way in was proven with the vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Not checked yet (the check runs a lead time before check-in).
    Pending,
    Ready,
    AtRisk,
}

/// An offline code issued on a lock that could not be reached, for the guest to get in anyway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FallbackCode {
    pub lock_id: LockId,
    pub code: String,
    pub kind: OfflineKind,
    #[serde(with = "crate::time::rfc3339")]
    #[schemars(with = "crate::time::Timestamp")]
    pub starts_at: Millis,
    #[serde(with = "crate::time::rfc3339_opt")]
    #[schemars(with = "Option<crate::time::Timestamp>")]
    pub ends_at: Option<Millis>,
    /// The access code it is tracked as.
    pub access_code_id: crate::ids::AccessCodeId,
}

/// A stay.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: ReservationId,
    pub org_id: OrgId,
    pub property_id: PropertyId,
    /// The booking's id where it came from (a feed's UID, an integration's id).
    pub external_id: String,
    /// `api`, or the calendar it was read from.
    pub source: String,
    pub guest_name: Option<String>,
    /// The guest's phone's last four digits, when known.
    pub phone_last4: Option<String>,
    /// The PIN the integration asked for.
    pub code: Option<String>,
    pub check_in_at: Millis,
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
    pub checked_at: Option<Millis>,
    /// When the next readiness check is due.
    pub next_check_at: Option<Millis>,
    pub version: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Reservation {
    /// Where the stay is at `now`.
    pub fn status_at(&self, now: Millis) -> ReservationStatus {
        if self.cancelled {
            ReservationStatus::Cancelled
        } else if now < self.check_in_at {
            ReservationStatus::Upcoming
        } else if now < self.check_out_at {
            ReservationStatus::Active
        } else {
            ReservationStatus::Ended
        }
    }
}

/// One reason (or warning) of a stay, with the lock it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reason {
    pub code: String,
    pub lock_id: Option<LockId>,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn property(zone: &str) -> Property {
        Property {
            id: PropertyId::new(),
            org_id: OrgId::new(),
            name: "Flat".into(),
            lock_ids: vec![],
            time_zone: zone.into(),
            check_in_time: "15:00".into(),
            check_out_time: "11:00".into(),
            code_source: CodeSource::Generated,
            early_minutes: 0,
            late_minutes: 0,
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn check_in_keeps_the_wall_clock_across_a_clock_change() {
        let p = property("Europe/Lisbon");
        // 29 March 2026: Lisbon moves from UTC+0 to UTC+1 at 01:00.
        let before = p.check_in(Date::new(2026, 3, 28).unwrap()).unwrap();
        let after = p.check_in(Date::new(2026, 3, 29).unwrap()).unwrap();
        assert_eq!(after - before, 23 * 3_600_000);
        assert_eq!(crate::time::to_rfc3339(after), "2026-03-29T14:00:00Z");
        assert!(parse_time("24:00").is_err() && parse_time("9:00").is_err());
        assert!(check_zone("Mars/Olympus").is_err());
    }
}
