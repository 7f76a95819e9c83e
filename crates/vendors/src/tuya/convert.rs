//! Between lockbridge's model and Tuya's: weekly windows and `schedule_list`, codes and
//! temporary passwords, log records and events.

use lockbridge_tuya::{ScheduleItem, TempPassword};

use super::PERMANENT_END_S;
use lockbridge_core::model::{Lock, Schedule, Weekday};
use lockbridge_core::provider::LockEvent;
use lockbridge_core::time::{Millis, now_ms};

/// Unified weekdays (Monday = bit 0) to Tuya's `working_day` (bit 0 Sunday … bit 6 Saturday).
pub(super) fn working_day(s: &Schedule) -> i64 {
    let bits = s.weekday_bits();
    let monday_first = i64::from(bits & 0b011_1111) << 1;
    monday_first | i64::from(bits >> 6 & 1)
}

pub(super) fn weekdays_of(working_day: i64) -> Vec<Weekday> {
    if working_day == 0 {
        // Seen with `working_day: 0` in Tuya's v2.0 example; read as every day (unconfirmed).
        return Schedule::weekdays_of(127);
    }
    let sunday = (working_day & 1) as u8;
    let rest = ((working_day >> 1) & 0b011_1111) as u8;
    Schedule::weekdays_of(rest | sunday << 6)
}

pub(super) fn temp_password(
    lock: &Lock,
    name: Option<&str>,
    code: &str,
    period: Option<(Millis, Millis)>,
    schedule: Option<&Schedule>,
) -> TempPassword {
    let (start, end) = period.map_or((now_ms() / 1000 - 60, PERMANENT_END_S), |(s, e)| {
        (s / 1000, e / 1000)
    });
    TempPassword {
        name: name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("lockbridge")
            .to_owned(),
        pin: code.to_owned(),
        effective_time: start,
        invalid_time: end,
        time_zone: schedule
            .map(|s| s.time_zone.clone())
            .or_else(|| lock.time_zone.clone()),
        schedule: schedule
            .map(|s| {
                vec![ScheduleItem {
                    effective_time: i64::from(s.start_time.minutes()),
                    invalid_time: i64::from(s.end_time.minutes()),
                    working_day: working_day(s),
                }]
            })
            .unwrap_or_default(),
        ..TempPassword::default()
    }
}

pub(super) fn pin_length(lock: &Lock) -> usize {
    usize::from(lock.code_rules.min_length)
}

pub(super) fn event_of(
    code: &str,
    value: &str,
    time: Millis,
    name: Option<String>,
    alarm: bool,
) -> LockEvent {
    let (kind, method, success) = if alarm {
        match value {
            "wrong_password" => ("unlock", "passcode", false),
            "wrong_finger" => ("unlock", "fingerprint", false),
            "wrong_card" => ("unlock", "card", false),
            _ => ("alarm", "other", false),
        }
    } else {
        let method = match code {
            "unlock_password" | "unlock_temporary" | "unlock_dynamic" | "unlock_offline_pd" => {
                "passcode"
            }
            "unlock_fingerprint" => "fingerprint",
            "unlock_card" => "card",
            "unlock_key" => "key",
            "unlock_app" | "unlock_ble" | "unlock_remote" => "remote",
            _ => "other",
        };
        ("unlock", method, true)
    };
    LockEvent {
        time,
        kind,
        method,
        success,
        actor: name.filter(|n| !n.is_empty()),
        provider_type: if alarm {
            format!("{code}:{value}")
        } else {
            code.to_owned()
        },
        alarm: match (code, value) {
            _ if !alarm => None,
            ("hijack", _) => Some("duress"),
            (_, "pry" | "shock") => Some("tamper"),
            (_, "tongue_bad" | "tongue_not_out") => Some("jammed"),
            (_, "unclosed_time") => Some("door_ajar"),
            (_, "low_battery") => Some("low_battery"),
            (_, "too_hot") => Some("high_temperature"),
            (_, "power_off") => Some("power_off"),
            _ => None,
        },
        code: None,
        // A temporary password's records carry its id as the value; an offline password's are
        // read the same way (unconfirmed: a value that names no code of the lock attributes
        // nothing).
        code_provider_id: (matches!(code, "unlock_temporary" | "unlock_offline_pd")
            && !value.is_empty())
        .then(|| value.to_owned()),
        // Tuya's logs carry no record id: the record's content is its key.
        record_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_map_to_working_day_and_back() {
        let s = |days: &[&str]| -> Schedule {
            serde_json::from_value(serde_json::json!({
                "weekdays": days, "start_time": "07:30", "end_time": "08:30", "time_zone": "+01:00",
            }))
            .unwrap()
        };
        // Tuya's own example: Monday, Tuesday and Friday = 38.
        assert_eq!(working_day(&s(&["mon", "tue", "fri"])), 38);
        assert_eq!(working_day(&s(&["sun"])), 1);
        assert_eq!(working_day(&s(&["sat"])), 64);
        for bits in 0..=127u8 {
            let days = Schedule::weekdays_of(bits);
            let refs: Vec<&str> = days.iter().map(|d| d.as_str()).collect();
            let wd = working_day(&s(&refs));
            if bits != 0 {
                assert_eq!(weekdays_of(wd), days);
            }
        }
    }
}
