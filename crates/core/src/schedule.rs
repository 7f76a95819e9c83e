//! Weekly windows of access codes.

use serde::{Deserialize, Serialize};

/// A weekly window in which a code works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// `mon` … `sun`.
    pub weekdays: Vec<String>,
    /// `HH:MM`.
    pub start_time: String,
    pub end_time: String,
    /// IANA zone name.
    pub time_zone: String,
}

/// The weekday names of a [`Schedule`], Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Schedule {
    /// Checks the window; the error names the field (`schedule.…`) and the rule. A lock that
    /// keeps its own time zone takes windows in that zone only (lockbridge does not convert
    /// between zones).
    pub fn check(&self, lock_time_zone: Option<&str>) -> Result<(), (&'static str, String)> {
        if self.weekdays.is_empty() {
            return Err(("schedule.weekdays", "must name at least one day".into()));
        }
        let mut seen = [false; 7];
        for d in &self.weekdays {
            let Some(i) = WEEKDAYS.iter().position(|w| w == d) else {
                return Err((
                    "schedule.weekdays",
                    format!("{d:?} is not one of {}", WEEKDAYS.join(", ")),
                ));
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(("schedule.weekdays", format!("{d} is given twice")));
            }
        }
        let start = minutes(&self.start_time).ok_or((
            "schedule.start_time",
            "must be HH:MM (00:00 to 23:59)".to_owned(),
        ))?;
        let end = minutes(&self.end_time).ok_or((
            "schedule.end_time",
            "must be HH:MM (00:00 to 23:59)".to_owned(),
        ))?;
        if end <= start {
            return Err(("schedule.end_time", "must be after start_time".into()));
        }
        if let Some(tz) = lock_time_zone.filter(|tz| !tz.is_empty())
            && tz != self.time_zone
        {
            return Err((
                "schedule.time_zone",
                format!("must be the lock's time zone, {tz}"),
            ));
        }
        Ok(())
    }

    /// The weekdays as a bit set, Monday = 1 … Sunday = 64 (unknown names are skipped).
    pub fn weekday_bits(&self) -> u8 {
        self.weekdays
            .iter()
            .filter_map(|d| WEEKDAYS.iter().position(|w| w == d))
            .fold(0, |bits, i| bits | 1 << i)
    }

    /// The weekday names of a bit set, Monday first.
    pub fn weekdays_of(bits: u8) -> Vec<String> {
        (0..7)
            .filter(|i| bits & (1 << i) != 0)
            .map(|i| WEEKDAYS[i].to_owned())
            .collect()
    }
}

/// Minutes since midnight of `HH:MM`.
fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[&str], start: &str, end: &str) -> Schedule {
        Schedule {
            weekdays: days.iter().map(|d| (*d).to_owned()).collect(),
            start_time: start.into(),
            end_time: end.into(),
            time_zone: "Europe/Warsaw".into(),
        }
    }

    #[test]
    fn schedules_are_checked_and_round_trip_as_bits() {
        let ok = window(&["fri", "sat"], "10:00", "18:00");
        assert!(ok.check(Some("Europe/Warsaw")).is_ok());
        assert_eq!(ok.weekday_bits(), 48);
        assert_eq!(Schedule::weekdays_of(48), vec!["fri", "sat"]);
        for bits in 0..=127u8 {
            let days = Schedule::weekdays_of(bits);
            let s = Schedule {
                weekdays: days,
                ..ok.clone()
            };
            assert_eq!(s.weekday_bits(), bits);
        }
        let field = |s: Schedule| s.check(Some("Europe/Warsaw")).unwrap_err().0;
        assert_eq!(field(window(&[], "10:00", "18:00")), "schedule.weekdays");
        assert_eq!(
            field(window(&["friday"], "10:00", "18:00")),
            "schedule.weekdays"
        );
        assert_eq!(
            field(window(&["mon", "mon"], "10:00", "18:00")),
            "schedule.weekdays"
        );
        assert_eq!(
            field(window(&["mon"], "24:00", "18:00")),
            "schedule.start_time"
        );
        assert_eq!(
            field(window(&["mon"], "10:00", "9:00")),
            "schedule.end_time"
        );
        assert_eq!(
            field(window(&["mon"], "10:00", "10:00")),
            "schedule.end_time"
        );
        assert_eq!(
            ok.check(Some("Europe/Berlin")).unwrap_err().0,
            "schedule.time_zone"
        );
        assert!(ok.check(None).is_ok());
    }
}
