//! The Web API's objects, as far as lockbridge reads and writes them. Unknown fields are
//! ignored; fields Nuki marks optional are `Option`s. Dates travel as ISO-8601 UTC strings
//! ([`to_time`], [`from_time`]).

use serde::{Deserialize, Serialize};

/// A device (`GET /smartlock`): smart locks, and the Opener, Smart Door and Box, told apart by
/// `type`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Smartlock {
    /// Larger than 32 bits.
    pub smartlock_id: i64,
    #[serde(default)]
    pub account_id: Option<i64>,
    /// 0 Smart Lock 1.0/2.0, 1 Box, 2 Opener, 3 Smart Door, 4 Smart Lock 3.0/4.0, 5 Smart Lock 5.
    #[serde(rename = "type", default)]
    pub kind: i32,
    /// The caller's own authorization slot on the device.
    #[serde(default)]
    pub auth_id: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub config: Option<SmartlockConfig>,
    #[serde(default)]
    pub state: Option<SmartlockState>,
    /// 0 online; 1 unregistered, 2 auth UUID invalid, 3 auth invalid, 4 offline.
    #[serde(default)]
    pub server_state: i32,
    #[serde(default)]
    pub firmware_version: Option<i64>,
}

impl Smartlock {
    /// Whether Nuki can reach the device (`serverState` 0).
    pub fn online(&self) -> bool {
        self.server_state == 0
    }

    /// Whether the device is a door lock (not an Opener or a Box).
    pub fn is_lock(&self) -> bool {
        matches!(self.kind, 0 | 3 | 4 | 5)
    }

    /// Whether a keypad is paired (keypad codes can be written only then).
    pub fn keypad_paired(&self) -> bool {
        self.config
            .as_ref()
            .is_some_and(|c| c.keypad_paired == Some(true) || c.keypad2_paired == Some(true))
    }
}

/// A device's settings (`config`), the ones lockbridge reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmartlockConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// Nuki's time zone number (see [`crate::zone_name`]); 65535 none.
    #[serde(default)]
    pub timezone_id: Option<i32>,
    /// Minutes from UTC (deprecated by Nuki, still sent).
    #[serde(default)]
    pub timezone_offset: Option<i32>,
    #[serde(default)]
    pub keypad_paired: Option<bool>,
    #[serde(default, rename = "keypad2Paired")]
    pub keypad2_paired: Option<bool>,
}

/// A device's state, as the server last heard it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmartlockState {
    #[serde(default)]
    pub mode: i32,
    /// 1 locked, 2 unlocking, 3 unlocked, 4 locking, 5 unlatched, 6 unlocked (lock 'n' go),
    /// 7 unlatching, 254 motor blocked, 255 undefined (smart locks).
    #[serde(default)]
    pub state: i32,
    #[serde(default)]
    pub trigger: i32,
    #[serde(default)]
    pub last_action: Option<i32>,
    #[serde(default)]
    pub battery_critical: bool,
    #[serde(default)]
    pub battery_charge: Option<i32>,
    #[serde(default)]
    pub keypad_battery_critical: Option<bool>,
    /// 0 unavailable, 1 deactivated, 2 closed, 3 opened, 4 unknown, 5 calibrating…
    #[serde(default)]
    pub door_state: Option<i32>,
}

/// What a device's `state` says of its bolt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bolt {
    Locked,
    Unlocked,
    /// Locking, unlocking or unlatching.
    Moving,
    /// The motor is blocked.
    Jammed,
    Unknown,
}

impl SmartlockState {
    pub fn bolt(&self) -> Bolt {
        match self.state {
            1 => Bolt::Locked,
            3 | 5 | 6 => Bolt::Unlocked,
            2 | 4 | 7 => Bolt::Moving,
            254 => Bolt::Jammed,
            _ => Bolt::Unknown,
        }
    }
}

/// A remote action (`POST /smartlock/{id}/action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    Unlock,
    Lock,
    Unlatch,
}

impl Action {
    pub fn code(self) -> i32 {
        match self {
            Action::Unlock => 1,
            Action::Lock => 2,
            Action::Unlatch => 3,
        }
    }
}

/// An authorization on a device (`GET /smartlock/{id}/auth`); keypad codes are type 13.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmartlockAuth {
    /// A 24-hex-digit string: the `{id}` of its paths.
    pub id: String,
    pub smartlock_id: i64,
    /// The slot on the device.
    #[serde(default)]
    pub auth_id: Option<i64>,
    /// Keypad codes only.
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(rename = "type", default)]
    pub kind: i32,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub allowed_from_date: Option<String>,
    #[serde(default)]
    pub allowed_until_date: Option<String>,
    #[serde(default)]
    pub allowed_week_days: Option<u8>,
    #[serde(default)]
    pub allowed_from_time: Option<u32>,
    #[serde(default)]
    pub allowed_until_time: Option<u32>,
    /// Set while another operation on the authorization is pending (changes then get 423).
    #[serde(default)]
    pub operation_id: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<String>,
}

fn yes() -> bool {
    true
}

/// The type of a keypad code.
pub const KEYPAD_CODE: i32 = 13;

/// When a code works: a span of dates (UTC instants), and within it weekdays and a daily
/// window in the lock's own time (minutes after midnight).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restrictions {
    pub allowed_from_date: Option<String>,
    pub allowed_until_date: Option<String>,
    /// Monday 64 … Sunday 1 ([`crate::weekday_bit`]); `None` every day.
    pub allowed_week_days: Option<u8>,
    pub allowed_from_time: Option<u32>,
    pub allowed_until_time: Option<u32>,
}

/// A new keypad code (`PUT /smartlock/{id}/auth`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewKeypadCode {
    pub name: String,
    /// Checked by [`crate::check_code`] before it is sent.
    pub code: String,
    pub restrictions: Restrictions,
}

/// The body of a create or an update: the whole authorization, restrictions cleared with
/// `null` (the defensive reading: Nuki's examples also send partial bodies).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthBody<'a> {
    pub name: &'a str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<i32>,
    pub code: u32,
    pub remote_allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(flatten)]
    pub restrictions: &'a Restrictions,
}

/// A record of a device's log (`GET /smartlock/{id}/log`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmartlockLog {
    /// The cursor of the next (older) page.
    pub id: String,
    pub smartlock_id: i64,
    /// The `id` of the authorization that acted (a keypad code's, for a keypad entry).
    #[serde(default)]
    pub auth_id: Option<String>,
    #[serde(default)]
    pub name: String,
    /// 1 unlock, 2 lock, 3 unlatch, 4/5 lock 'n' go, 240 door opened, 241 door closed…
    pub action: i32,
    /// 0 system, 1 manual, 2 button, 3 automatic, 4 web, 5 app, 6 auto lock, 255 keypad…
    #[serde(default)]
    pub trigger: i32,
    /// 0 success, 1 motor blocked, 224 invalid code…
    #[serde(default)]
    pub state: i32,
    pub date: String,
    /// 1 keypad code, 2 fingerprint.
    #[serde(default)]
    pub source: Option<i32>,
}

/// A page of a log: at most `limit` records (Nuki: 50) older than the record `before`.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub limit: Option<u32>,
    pub before: Option<String>,
    /// Records at or after this instant (RFC 3339).
    pub from_date: Option<String>,
}

/// Epoch milliseconds as Nuki writes an instant: `2025-01-16T12:20:23.541Z`.
pub fn to_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// An instant as Nuki writes it (with or without seconds and milliseconds, `Z` or an offset),
/// in epoch milliseconds.
pub fn from_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t.as_millisecond());
    }
    // `2025-01-27T00:00Z`: no seconds.
    let (head, tail) = text.split_at(text.len().checked_sub(1)?);
    if tail == "Z" && head.len() == 16 {
        return format!("{head}:00Z")
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_millisecond());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_as_nuki_writes_them() {
        assert_eq!(to_time(1_737_030_023_541), "2025-01-16T12:20:23.541Z");
        assert_eq!(
            from_time("2025-01-16T12:20:23.541Z"),
            Some(1_737_030_023_541)
        );
        assert_eq!(from_time("2025-01-16T12:20:23Z"), Some(1_737_030_023_000));
        assert_eq!(from_time("2025-01-16T12:20Z"), Some(1_737_030_000_000));
        assert_eq!(
            from_time("2025-01-16T13:20:23+01:00"),
            Some(1_737_030_023_000)
        );
        assert_eq!(from_time("yesterday"), None);
    }

    #[test]
    fn a_device_read_defensively() {
        let lock: Smartlock = serde_json::from_str(
            r#"{"smartlockId":17968122341,"type":4,"name":"Front door","serverState":0,
                "config":{"timezoneId":37,"keypadPaired":true,"unknown":1},
                "state":{"mode":2,"state":254,"batteryCritical":false,"batteryCharge":90,"doorState":2}}"#,
        )
        .expect("decodes");
        assert!(lock.online() && lock.is_lock() && lock.keypad_paired());
        assert_eq!(
            lock.state.as_ref().map(SmartlockState::bolt),
            Some(Bolt::Jammed)
        );
    }
}
