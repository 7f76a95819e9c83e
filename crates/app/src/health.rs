//! A lock's health: the errors and warnings it carries, when it counts as online, and the
//! events of what changed. Judged from each device sync and from each command's answer; the
//! store writes what these rules decide in the same transaction as what they judged.

use lockbridge_core::events::EventType;
use lockbridge_core::model::{Lock, Notice, toggle_notice};
use lockbridge_core::time::Millis;
use lockbridge_store::{HealthRules, LockHealth, SeenLock};

/// Below this battery level (in %) a lock carries the `low_battery` warning.
pub const LOW_BATTERY: u8 = 20;

/// A code's capacity counts as nearly used at this share (in %).
pub const CAPACITY_NEAR_PERCENT: i64 = 90;

/// The message of a `device_offline` error learned from a command's answer.
const UNREACHED: &str = "the lock did not answer the last command";

/// lockbridge's health rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Health;

/// `+08:00`, `-03:30`.
fn offset_text(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

impl HealthRules for Health {
    fn lock(&self, seen: &SeenLock<'_>) -> LockHealth {
        let (l, old, now) = (seen.device, seen.before, seen.now);
        let (mut errors, mut warnings) =
            old.map_or_else(Default::default, |o| (o.errors.clone(), o.warnings.clone()));
        // A command that found the lock out of reach is believed until a command reaches it,
        // where the vendor's list cannot tell (it knows only the gateway).
        let unreached = old.is_some_and(|o| {
            o.errors
                .iter()
                .any(|n| n.code == "device_offline" && n.message == UNREACHED)
        }) && !l.reach_reported;
        let online = l.online && !unreached;
        if online {
            toggle_notice(&mut errors, false, "device_offline", "", now);
        } else if !l.online {
            toggle_notice(
                &mut errors,
                true,
                "device_offline",
                "the lock does not answer",
                now,
            );
        }
        toggle_notice(
            &mut errors,
            seen.gateway_down,
            "gateway_offline",
            "the lock's gateway is offline",
            now,
        );
        let low = l.battery.is_some_and(|b| b < LOW_BATTERY);
        toggle_notice(
            &mut warnings,
            low,
            "low_battery",
            format!("battery below {LOW_BATTERY} %"),
            now,
        );
        let near = l
            .code_rules
            .max_codes
            .is_some_and(|max| seen.live_codes * 100 >= i64::from(max) * CAPACITY_NEAR_PERCENT);
        toggle_notice(
            &mut warnings,
            near,
            "code_capacity_near",
            format!("the lock is at {CAPACITY_NEAR_PERCENT} % of its code capacity"),
            now,
        );
        let timed = l.capabilities.time_bound_codes || l.capabilities.recurring_codes;
        let offset_only = seen.time_zone.is_none() && l.utc_offset_minutes.is_some();
        toggle_notice(
            &mut warnings,
            timed && seen.time_zone.is_none() && !offset_only,
            "time_zone_unknown",
            "the vendor does not say the lock's time zone; set it with PATCH /v1/locks/{id}",
            now,
        );
        toggle_notice(
            &mut warnings,
            timed && offset_only,
            "time_zone_is_offset",
            format!(
                "the vendor gives only the lock's UTC offset ({}), not its time zone: set the zone with PATCH /v1/locks/{{id}}",
                offset_text(l.utc_offset_minutes.unwrap_or(0))
            ),
            now,
        );
        let mut events = Vec::new();
        if let Some(old) = old {
            if old.online != online {
                let kind = if online {
                    EventType::LockOnline
                } else {
                    EventType::LockOffline
                };
                events.push((kind, None));
            }
            let was_low = old.battery.is_some_and(|b| b < LOW_BATTERY);
            if low && !was_low {
                events.push((
                    EventType::LockBatteryLow,
                    Some(serde_json::json!({"battery": l.battery})),
                ));
            }
        }
        LockHealth {
            online,
            errors,
            warnings,
            events,
        }
    }

    fn reach(
        &self,
        before: &Lock,
        unreachable: Option<&'static str>,
        now: Millis,
    ) -> (bool, Vec<Notice>) {
        let mut errors = before.errors.clone();
        match unreachable {
            Some(code) => {
                let message = if code == "gateway_offline" {
                    "the lock's gateway did not answer the last command"
                } else {
                    UNREACHED
                };
                toggle_notice(&mut errors, true, code, message, now);
                (false, errors)
            }
            None => {
                toggle_notice(&mut errors, false, "device_offline", "", now);
                toggle_notice(&mut errors, false, "gateway_offline", "", now);
                (true, errors)
            }
        }
    }

    fn zone_set(&self, before: &Lock, zone: Option<&str>, now: Millis) -> Vec<Notice> {
        let mut warnings = before.warnings.clone();
        if zone.is_some() {
            toggle_notice(&mut warnings, false, "time_zone_unknown", "", now);
            toggle_notice(&mut warnings, false, "time_zone_is_offset", "", now);
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbridge_core::ids::{ConnectionId, LockId, OrgId};
    use lockbridge_core::model::{Capabilities, LockState, Provider, VendorNames};
    use lockbridge_core::provider::DeviceLock;
    use lockbridge_core::rules::CodeRules;

    const VENDOR: Provider = Provider::named(&VendorNames {
        id: "test",
        label: "Test",
    });

    fn device(online: bool, battery: Option<u8>) -> DeviceLock {
        DeviceLock {
            provider_id: "1".into(),
            name: "Front door".into(),
            online,
            reach_reported: false,
            state: LockState::Locked,
            battery,
            gateway: None,
            time_zone: Some("Europe/Warsaw".into()),
            utc_offset_minutes: None,
            capabilities: Capabilities {
                access_codes: true,
                time_bound_codes: true,
                ..Default::default()
            },
            code_rules: CodeRules::ttlock(),
        }
    }

    fn stored(d: &DeviceLock, health: &LockHealth) -> Lock {
        Lock {
            id: LockId::new(),
            connection_id: ConnectionId::new(),
            org_id: OrgId::new(),
            provider: VENDOR,
            provider_id: d.provider_id.clone(),
            name: d.name.clone(),
            online: health.online,
            state: d.state,
            battery: d.battery,
            gateway_id: None,
            time_zone: d.time_zone.clone(),
            utc_offset_minutes: d.utc_offset_minutes,
            capabilities: d.capabilities,
            code_rules: d.code_rules.clone(),
            errors: health.errors.clone(),
            warnings: health.warnings.clone(),
            updated_at: 0,
        }
    }

    fn seen<'a>(before: Option<&'a Lock>, d: &'a DeviceLock, live_codes: i64) -> SeenLock<'a> {
        SeenLock {
            before,
            device: d,
            gateway_down: false,
            live_codes,
            time_zone: d.time_zone.as_deref(),
            now: 1_000,
        }
    }

    fn codes(list: &[Notice]) -> Vec<&str> {
        list.iter().map(|n| n.code.as_str()).collect()
    }

    #[test]
    fn a_battery_going_low_warns_once_with_one_event() {
        let fine = device(true, Some(80));
        let first = Health.lock(&seen(None, &fine, 0));
        assert!(first.warnings.is_empty() && first.events.is_empty());
        let before = stored(&fine, &first);
        let low = device(true, Some(LOW_BATTERY - 1));
        let judged = Health.lock(&seen(Some(&before), &low, 0));
        assert_eq!(codes(&judged.warnings), ["low_battery"]);
        let kinds: Vec<_> = judged.events.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [EventType::LockBatteryLow]);
        // Still low at the next sync: the warning stays, no second event.
        let again = Health.lock(&seen(Some(&stored(&low, &judged)), &low, 0));
        assert_eq!(codes(&again.warnings), ["low_battery"]);
        assert!(again.events.is_empty());
    }

    #[test]
    fn a_lock_a_command_could_not_reach_stays_offline_until_one_reaches_it() {
        let d = device(true, None);
        let synced = stored(&d, &Health.lock(&seen(None, &d, 0)));
        let (online, errors) = Health.reach(&synced, Some("device_offline"), 2_000);
        assert!(!online);
        let unreached = Lock {
            online,
            errors,
            ..synced.clone()
        };
        // The vendor's list knows only the gateway: the lock stays offline.
        let judged = Health.lock(&seen(Some(&unreached), &d, 0));
        assert!(!judged.online);
        assert_eq!(codes(&judged.errors), ["device_offline"]);
        // A command that reaches it brings it back.
        let (online, errors) = Health.reach(&unreached, None, 3_000);
        assert!(online && errors.is_empty());
    }

    #[test]
    fn nine_tenths_of_the_capacity_warns() {
        let d = device(true, None);
        let max = i64::from(d.code_rules.max_codes.unwrap());
        let below = Health.lock(&seen(None, &d, max * 9 / 10 - 1));
        assert!(below.warnings.is_empty());
        let near = Health.lock(&seen(None, &d, max * 9 / 10));
        assert_eq!(codes(&near.warnings), ["code_capacity_near"]);
    }
}
