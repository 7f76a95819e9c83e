//! Weekly windows of access codes.

use serde::{Deserialize, Serialize};

/// A weekly window in which a code works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub weekdays: Vec<Weekday>,
    pub start_time: TimeOfDay,
    pub end_time: TimeOfDay,
    /// IANA zone name.
    pub time_zone: String,
}

/// A day of the week, `mon` … `sun` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// 0 for Monday … 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        WEEKDAYS[self.index()]
    }
}

/// A time of day to the minute, `HH:MM` (00:00 to 23:59) on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);
    /// 23:59, the last minute of a day.
    pub const LAST_MINUTE: TimeOfDay = TimeOfDay(1439);

    /// The time `minutes` after midnight, clamped to the day.
    pub fn from_minutes(minutes: i64) -> TimeOfDay {
        TimeOfDay(minutes.clamp(0, 1439) as u16)
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl std::str::FromStr for TimeOfDay {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const RULE: &str = "must be HH:MM (00:00 to 23:59)";
        let t = jiff::civil::Time::strptime("%H:%M", text).map_err(|_| RULE)?;
        if text.len() != 5 {
            return Err(RULE);
        }
        Ok(TimeOfDay(
            u16::from(t.hour() as u8) * 60 + u16::from(t.minute() as u8),
        ))
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for TimeOfDay {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TimeOfDay".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"})
    }
}

/// The weekday names of a [`Schedule`], Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Schedule {
    /// Checks the window; the error names the field (`schedule.…`) and the rule. A lock that
    /// holds windows in its own time zone (`lock_time_zone`) takes them in that zone only
    /// (lockbridge does not convert between zones); windows lockbridge applies itself, just in
    /// time, may be in any zone.
    pub fn check(&self, lock_time_zone: Option<&str>) -> Result<(), (&'static str, String)> {
        if self.weekdays.is_empty() {
            return Err(("schedule.weekdays", "must name at least one day".into()));
        }
        let mut seen = [false; 7];
        for d in &self.weekdays {
            if std::mem::replace(&mut seen[d.index()], true) {
                return Err((
                    "schedule.weekdays",
                    format!("{} is given twice", d.as_str()),
                ));
            }
        }
        if self.end_time == self.start_time {
            return Err((
                "schedule.end_time",
                "must differ from start_time (an end before the start closes the window the next day)".into(),
            ));
        }
        if crate::windows::zone(&self.time_zone).is_none() {
            return Err((
                "schedule.time_zone",
                "must be an IANA time zone name (Europe/Warsaw, UTC) or an offset like +01:00"
                    .into(),
            ));
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

    /// The weekdays as a bit set, Monday = 1 … Sunday = 64.
    pub fn weekday_bits(&self) -> u8 {
        self.weekdays
            .iter()
            .fold(0, |bits, d| bits | 1 << d.index())
    }

    /// The weekdays of a bit set, Monday first.
    pub fn weekdays_of(bits: u8) -> Vec<Weekday> {
        Weekday::ALL
            .into_iter()
            .filter(|d| bits & (1 << d.index()) != 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(days: &[&str], start: &str, end: &str) -> Schedule {
        serde_json::from_value(serde_json::json!({
            "weekdays": days, "start_time": start, "end_time": end, "time_zone": "Europe/Warsaw",
        }))
        .unwrap()
    }

    #[test]
    fn times_and_days_are_parsed() {
        let t = |s: &str| s.parse::<TimeOfDay>();
        assert_eq!(t("07:05").map(TimeOfDay::minutes), Ok(425));
        assert_eq!(t("23:59"), Ok(TimeOfDay::LAST_MINUTE));
        for bad in [
            "24:00",
            "7:05",
            "07:5",
            "07:60",
            "0705",
            "07:05:00",
            "",
            "0é:00",
            "٠٧:٠٥",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
        assert_eq!(TimeOfDay::from_minutes(425).to_string(), "07:05");
        let bad_day = serde_json::from_value::<Schedule>(serde_json::json!({
            "weekdays": ["friday"], "start_time": "10:00", "end_time": "18:00", "time_zone": "UTC",
        }));
        assert!(bad_day.is_err());
    }

    #[test]
    fn schedules_are_checked_and_round_trip_as_bits() {
        let ok = window(&["fri", "sat"], "10:00", "18:00");
        assert!(ok.check(Some("Europe/Warsaw")).is_ok());
        assert_eq!(ok.weekday_bits(), 48);
        assert_eq!(Schedule::weekdays_of(48), vec![Weekday::Fri, Weekday::Sat]);
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
            field(window(&["mon", "mon"], "10:00", "18:00")),
            "schedule.weekdays"
        );
        assert!(window(&["mon"], "22:00", "06:00").check(None).is_ok());
        let mut nowhere = window(&["mon"], "10:00", "12:00");
        nowhere.time_zone = "Europe/Atlantis".into();
        assert_eq!(nowhere.check(None).unwrap_err().0, "schedule.time_zone");
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
