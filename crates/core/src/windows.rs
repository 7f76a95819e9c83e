//! When a code works: how it is scheduled (held by the lock, or written just in time), and
//! the occurrences of a weekly window in absolute time, computed in the window's own time
//! zone with jiff's copy of the IANA database.
//!
//! On the days clocks change a window keeps its local wall-clock times. Where a time of day
//! does not exist (spring forward: 02:30 in Europe/Warsaw on the last Sunday of March), a
//! window *opens* at the instant the clocks jump (03:00 new time: the first moment the wall
//! clock reads 02:30 or later) and *closes* as many minutes after the jump as the time lay
//! after its start (02:30 → 03:30), so a window inside the missing hour keeps its length
//! instead of vanishing. Where a time of day happens twice (fall back), a window opens at the
//! first and closes at the second: one opening, never two, never cut short.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schedule::{Schedule, TimeOfDay, Weekday};
use crate::time::Millis;

/// How a code's time limits reach the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scheduling {
    /// The lock holds the period or weekly window itself.
    Native,
    /// lockbridge writes the code shortly before each period or window opens
    /// (`LOCKBRIDGE_JIT_LEAD`) and removes it when it closes.
    JustInTime,
    /// Native where the lock can hold the window, just in time where it cannot.
    #[default]
    Auto,
}

impl Scheduling {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduling::Native => "native",
            Scheduling::JustInTime => "just_in_time",
            Scheduling::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "native" => Some(Scheduling::Native),
            "just_in_time" => Some(Scheduling::JustInTime),
            "auto" => Some(Scheduling::Auto),
            _ => None,
        }
    }
}

/// Whether `name` is a time zone of the IANA database (`Europe/Warsaw`, `UTC`), not an offset.
pub fn is_iana(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

/// The zone a window's times are read in: an IANA name (`Europe/Warsaw`, `UTC`) or a fixed
/// offset as some locks report theirs (`+01:00`).
pub fn zone(name: &str) -> Option<TimeZone> {
    if let Ok(tz) = TimeZone::get(name) {
        return Some(tz);
    }
    let (sign, rest) = match name.as_bytes().first()? {
        b'+' => (1, &name[1..]),
        b'-' => (-1, &name[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 18 || m > 59 {
        return None;
    }
    let offset = jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()?;
    Some(TimeZone::fixed(offset))
}

fn ms(ts: Timestamp) -> Millis {
    ts.as_millisecond()
}

/// The instants a local date-time stands for: one, none (a gap) or two (a fold).
fn candidates(tz: &TimeZone, dt: DateTime) -> (Option<Timestamp>, Timestamp, Timestamp) {
    let amb = tz.to_ambiguous_timestamp(dt);
    let at = |o: jiff::tz::Offset| o.to_timestamp(dt).unwrap_or(Timestamp::MIN);
    match amb.offset() {
        AmbiguousOffset::Unambiguous { offset } => {
            let t = at(offset);
            (Some(t), t, t)
        }
        AmbiguousOffset::Gap { before, after } => {
            let (a, b) = (at(before), at(after));
            (None, a.min(b), a.max(b))
        }
        AmbiguousOffset::Fold { before, after } => {
            let (a, b) = (at(before), at(after));
            (Some(a.min(b)), a.min(b), a.max(b))
        }
    }
}

/// When a window that opens at local `dt` opens: at the first instant of that time, or, when
/// the clocks skip it, at the jump.
fn opening(tz: &TimeZone, dt: DateTime) -> Timestamp {
    match candidates(tz, dt) {
        (Some(_), first, _) => first,
        // The jump lies after the earlier reading and at or before the later one.
        (None, earlier, later) => tz
            .following(earlier)
            .next()
            .map_or(later, |transition| transition.timestamp()),
    }
}

/// When a window that closes at local `dt` closes: at the last instant of that time, or, when
/// the clocks skip it, as long after the jump as the time lay in the gap.
fn closing(tz: &TimeZone, dt: DateTime) -> Timestamp {
    candidates(tz, dt).2
}

fn at(date: Date, time: TimeOfDay) -> DateTime {
    let m = time.minutes();
    date.at((m / 60) as i8, (m % 60) as i8, 0, 0)
}

fn weekday(date: Date) -> Weekday {
    Weekday::ALL[date.weekday().to_monday_zero_offset() as usize]
}

impl Schedule {
    /// Whether the window closes on the next day (`22:00`–`06:00`).
    pub fn crosses_midnight(&self) -> bool {
        self.end_time < self.start_time
    }

    /// The occurrence on local `date` (opening that day), in absolute time.
    pub fn occurrence_on(&self, tz: &TimeZone, date: Date) -> (Millis, Millis) {
        let end_date = if self.crosses_midnight() {
            date.tomorrow().unwrap_or(date)
        } else {
            date
        };
        (
            ms(opening(tz, at(date, self.start_time))),
            ms(closing(tz, at(end_date, self.end_time))),
        )
    }

    /// The first occurrence still open or to come at `after`, cut to `bounds` (the code's
    /// `starts_at` and `ends_at`, when it has them); `None` when none is left, or when the
    /// zone is unknown.
    pub fn next_occurrence(
        &self,
        after: Millis,
        bounds: (Option<Millis>, Option<Millis>),
    ) -> Option<(Millis, Millis)> {
        let tz = zone(&self.time_zone)?;
        let from = bounds.0.map_or(after, |s| s.max(after));
        let day = Timestamp::from_millisecond(from)
            .ok()?
            .to_zoned(tz.clone())
            .date();
        // From the day before: a window crossing midnight may still be open.
        let mut date = day.checked_sub(1.day()).ok()?;
        for _ in 0..9 {
            if self.weekdays.contains(&weekday(date)) {
                let (mut start, mut end) = self.occurrence_on(&tz, date);
                if let Some(s) = bounds.0 {
                    start = start.max(s);
                }
                if let Some(e) = bounds.1 {
                    if start >= e {
                        return None;
                    }
                    end = end.min(e);
                }
                if end > after && end > start {
                    return Some((start, end));
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[&str], start: &str, end: &str, tz: &str) -> Schedule {
        serde_json::from_value(serde_json::json!({
            "weekdays": days, "start_time": start, "end_time": end, "time_zone": tz,
        }))
        .unwrap()
    }

    fn t(text: &str) -> Millis {
        crate::time::parse_rfc3339(text).unwrap()
    }

    fn utc(ms: Millis) -> String {
        crate::time::to_rfc3339(ms)
    }

    /// The occurrence opening on `date` (local), in UTC.
    fn on(s: &Schedule, date: &str) -> (String, String) {
        let tz = zone(&s.time_zone).unwrap();
        let (a, b) = s.occurrence_on(&tz, date.parse().unwrap());
        (utc(a), utc(b))
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn zones_are_iana_names_or_fixed_offsets() {
        assert!(zone("Europe/Warsaw").is_some());
        assert!(zone("UTC").is_some());
        assert!(zone("+01:00").is_some());
        assert!(zone("-05:30").is_some());
        for bad in ["Europe/Nowhere", "", "+1:00", "+25:00", "01:00", "+01:60"] {
            assert!(zone(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn european_changes_keep_wall_clock_times() {
        let w = window(&["sun"], "01:00", "04:00", "Europe/Warsaw");
        // An ordinary Sunday: 01:00–04:00 CET is 00:00–03:00 UTC.
        assert_eq!(
            on(&w, "2027-03-21"),
            pair("2027-03-21T00:00:00Z", "2027-03-21T03:00:00Z")
        );
        // Spring forward (28 March 2027, 02:00 → 03:00): still 01:00 CET to 04:00 CEST,
        // two hours long.
        assert_eq!(
            on(&w, "2027-03-28"),
            pair("2027-03-28T00:00:00Z", "2027-03-28T02:00:00Z")
        );
        // Fall back (31 October 2027, 03:00 → 02:00): 01:00 CEST to 04:00 CET, four hours.
        assert_eq!(
            on(&w, "2027-10-31"),
            pair("2027-10-30T23:00:00Z", "2027-10-31T03:00:00Z")
        );
        let london = window(&["sun"], "09:00", "17:00", "Europe/London");
        assert_eq!(
            on(&london, "2027-03-28"),
            pair("2027-03-28T08:00:00Z", "2027-03-28T16:00:00Z")
        );
        assert_eq!(
            on(&london, "2027-10-31"),
            pair("2027-10-31T09:00:00Z", "2027-10-31T17:00:00Z")
        );
    }

    #[test]
    fn a_us_change_keeps_wall_clock_times() {
        // New York springs forward on 14 March 2027 and falls back on 7 November 2027.
        let w = window(&["sun"], "08:00", "18:00", "America/New_York");
        assert_eq!(
            on(&w, "2027-03-07"),
            pair("2027-03-07T13:00:00Z", "2027-03-07T23:00:00Z")
        );
        assert_eq!(
            on(&w, "2027-03-14"),
            pair("2027-03-14T12:00:00Z", "2027-03-14T22:00:00Z")
        );
        assert_eq!(
            on(&w, "2027-11-07"),
            pair("2027-11-07T13:00:00Z", "2027-11-07T23:00:00Z")
        );
        // Across midnight, over the change: 22:00 EST Saturday to 06:00 EDT Sunday.
        let night = window(&["sat"], "22:00", "06:00", "America/New_York");
        assert_eq!(
            on(&night, "2027-03-13"),
            pair("2027-03-14T03:00:00Z", "2027-03-14T10:00:00Z")
        );
    }

    #[test]
    fn a_time_the_clocks_skip_opens_at_the_jump() {
        // 02:30 does not exist in Warsaw on 28 March 2027: the window opens when the clocks
        // jump (01:00 UTC, 03:00 CEST), the first moment the wall clock reads 02:30 or later.
        let w = window(&["sun"], "02:30", "05:00", "Europe/Warsaw");
        assert_eq!(
            on(&w, "2027-03-28"),
            pair("2027-03-28T01:00:00Z", "2027-03-28T03:00:00Z")
        );
        // A window wholly inside the missing hour keeps its length after the jump.
        let lost = window(&["sun"], "02:00", "02:30", "Europe/Warsaw");
        assert_eq!(
            on(&lost, "2027-03-28"),
            pair("2027-03-28T01:00:00Z", "2027-03-28T01:30:00Z")
        );
        // A time that happens twice: open from the first 02:30 to the second 02:45.
        let twice = window(&["sun"], "02:30", "02:45", "Europe/Warsaw");
        assert_eq!(
            on(&twice, "2027-10-31"),
            pair("2027-10-31T00:30:00Z", "2027-10-31T01:45:00Z")
        );
    }

    #[test]
    fn a_zone_without_dst_never_moves() {
        let w = window(&["sun"], "09:00", "17:00", "Asia/Tokyo");
        for date in ["2027-03-14", "2027-03-28", "2027-10-31", "2027-11-07"] {
            let (a, b) = on(&w, date);
            assert_eq!((&a[11..], &b[11..]), ("00:00:00Z", "08:00:00Z"), "{date}");
        }
        let fixed = window(&["sun"], "09:00", "17:00", "+01:00");
        assert_eq!(
            on(&fixed, "2027-03-28"),
            pair("2027-03-28T08:00:00Z", "2027-03-28T16:00:00Z")
        );
    }

    #[test]
    fn the_next_occurrence_is_found_and_cut_to_the_period() {
        // Tuesdays 09:00–13:00 in Warsaw; 2027-01-05 is a Tuesday.
        let w = window(&["tue"], "09:00", "13:00", "Europe/Warsaw");
        let next = |after: &str| {
            w.next_occurrence(t(after), (None, None))
                .map(|(a, b)| (utc(a), utc(b)))
        };
        assert_eq!(
            next("2027-01-04T12:00:00Z"),
            Some(pair("2027-01-05T08:00:00Z", "2027-01-05T12:00:00Z"))
        );
        // Still open: the same occurrence.
        assert_eq!(
            next("2027-01-05T10:00:00Z"),
            Some(pair("2027-01-05T08:00:00Z", "2027-01-05T12:00:00Z"))
        );
        // Closed: next week's.
        assert_eq!(
            next("2027-01-05T12:00:00Z"),
            Some(pair("2027-01-12T08:00:00Z", "2027-01-12T12:00:00Z"))
        );
        // A night window opened yesterday is still open after midnight.
        let night = window(&["mon"], "22:00", "06:00", "Europe/Warsaw");
        assert_eq!(
            night
                .next_occurrence(t("2027-01-05T02:00:00Z"), (None, None))
                .map(|(a, b)| (utc(a), utc(b))),
            Some(pair("2027-01-04T21:00:00Z", "2027-01-05T05:00:00Z"))
        );
        // Bounds cut the occurrence, and none is left after the end.
        let cut = w.next_occurrence(
            t("2027-01-01T00:00:00Z"),
            (
                Some(t("2027-01-05T10:00:00Z")),
                Some(t("2027-01-05T11:00:00Z")),
            ),
        );
        assert_eq!(
            cut,
            Some((t("2027-01-05T10:00:00Z"), t("2027-01-05T11:00:00Z")))
        );
        assert_eq!(
            w.next_occurrence(
                t("2027-01-05T12:00:00Z"),
                (None, Some(t("2027-01-10T00:00:00Z")))
            ),
            None
        );
        let unknown = window(&["tue"], "09:00", "13:00", "Mars/Olympus");
        assert_eq!(
            unknown.next_occurrence(t("2027-01-04T12:00:00Z"), (None, None)),
            None
        );
    }
}
