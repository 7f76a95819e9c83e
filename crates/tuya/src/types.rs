//! The shapes Tuya's door-lock API answers with and takes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// A device as `GET /v1.0/devices/{id}` (and the discovery lists) describe it.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RawDevice")]
pub struct Device {
    pub id: String,
    pub name: String,
    /// `ms`, `jtmspro`, `jtmsbh`, `videolock`… for locks.
    pub category: String,
    /// `online` (v1.0) or `is_online` / `isOnline` (newer lists), whichever is sent.
    pub online: bool,
    /// Reached through a gateway (Zigbee or Bluetooth), rather than on its own Wi-Fi.
    pub sub: bool,
    pub time_zone: Option<String>,
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub status: Vec<DataPoint>,
}

/// The wire form: the online flag comes under different names by API version, sometimes
/// several at once.
#[derive(Deserialize)]
struct RawDevice {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    online: Option<bool>,
    #[serde(default)]
    is_online: Option<bool>,
    #[serde(default, rename = "isOnline")]
    is_online_camel: Option<bool>,
    #[serde(default)]
    sub: bool,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    product_id: Option<String>,
    #[serde(default)]
    product_name: Option<String>,
    #[serde(default)]
    status: Vec<DataPoint>,
}

impl From<RawDevice> for Device {
    fn from(r: RawDevice) -> Self {
        Device {
            online: r
                .online
                .or(r.is_online)
                .or(r.is_online_camel)
                .unwrap_or(false),
            id: r.id,
            name: r.name,
            category: r.category,
            sub: r.sub,
            time_zone: r.time_zone,
            product_id: r.product_id,
            product_name: r.product_name,
            status: r.status,
        }
    }
}

/// One status data point (`{code, value}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DataPoint {
    pub code: String,
    #[serde(default)]
    pub value: Value,
}

/// The lock categories Tuya's door-lock APIs apply to.
pub const LOCK_CATEGORIES: &[&str] = &["ms", "jtmspro", "jtmsbh", "videolock", "mk", "bxx", "gyms"];

impl Device {
    pub fn is_lock(&self) -> bool {
        LOCK_CATEGORIES.contains(&self.category.as_str())
    }

    /// `residual_electricity` (0–100) when the device reports it.
    pub fn battery(&self) -> Option<u8> {
        self.status
            .iter()
            .find(|d| d.code == "residual_electricity" || d.code == "battery_percentage")
            .and_then(|d| d.value.as_i64())
            .map(|v| v.clamp(0, 100) as u8)
    }

    /// PIN length for online temporary passwords: 7 digits on a Wi-Fi lock, 6 on a Zigbee or
    /// Bluetooth lock (one that sits behind a gateway, `sub: true`).
    pub fn pin_length(&self) -> usize {
        if self.sub { 6 } else { 7 }
    }
}

/// Checks a PIN for an online temporary password: digits only, exactly `length` of them.
pub fn check_pin(pin: &str, length: usize) -> Result<()> {
    if !pin.bytes().all(|b| b.is_ascii_digit()) || pin.is_empty() {
        return Err(Error::InvalidInput {
            field: "password",
            rule: "must contain digits only".into(),
        });
    }
    if pin.len() != length {
        return Err(Error::InvalidInput {
            field: "password",
            rule: format!("must be exactly {length} digits on this lock"),
        });
    }
    Ok(())
}

/// A password ticket: a key (encrypted under the access secret) and its id.
#[derive(Debug, Clone, Deserialize)]
pub struct Ticket {
    pub ticket_id: String,
    pub ticket_key: String,
    /// Seconds left.
    #[serde(default)]
    pub expire_time: i64,
}

/// A daily window of a periodic password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleItem {
    /// Minutes after midnight when it opens.
    pub effective_time: i64,
    /// Minutes after midnight when it closes.
    pub invalid_time: i64,
    /// Weekdays: bit 0 Sunday, bit 1 Monday … bit 6 Saturday.
    pub working_day: i64,
}

/// An online temporary password to create or replace.
#[derive(Clone, Default)]
pub struct TempPassword {
    pub name: String,
    /// The plain PIN; it is sent encrypted with a fresh ticket.
    pub pin: String,
    /// Unix seconds.
    pub effective_time: i64,
    pub invalid_time: i64,
    /// `Some(1)` for a one-use password.
    pub one_use: bool,
    pub phone: Option<String>,
    /// Needed with `schedule` (`Europe/Berlin`, `+01:00`).
    pub time_zone: Option<String>,
    pub schedule: Vec<ScheduleItem>,
}

impl std::fmt::Debug for TempPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempPassword")
            .field("name", &self.name)
            .field("effective_time", &self.effective_time)
            .field("invalid_time", &self.invalid_time)
            .finish_non_exhaustive()
    }
}

/// A temporary password as listed (the PIN itself is never returned).
#[derive(Debug, Clone, Deserialize)]
pub struct TempPasswordInfo {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    /// Status; its meaning depends on the protocol (Wi-Fi: 1 to be sent, 2 sent, 3 to be
    /// deleted, 0 deleted; Zigbee: 1 to be created, 2 normal, 3 frozen, 4 deleted, 5 failed).
    #[serde(default)]
    pub phase: i64,
    #[serde(default)]
    pub effective_time: i64,
    #[serde(default)]
    pub invalid_time: i64,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// Zigbee: 1 configuring, 2 success, 3 failed, 4 duplicate, 5 store full, 6 overlap.
    #[serde(default)]
    pub delivery_status: Option<i64>,
    #[serde(default)]
    pub schedule_list: Vec<ScheduleItem>,
}

/// Kinds of offline (algorithmic) passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineKind {
    /// Reusable within its window (which must start being used within 24 h).
    Multiple,
    /// One use within 6 hours.
    Once,
    /// Revokes one offline password.
    ClearOne,
    /// Revokes every offline password.
    ClearAll,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OfflinePassword {
    #[serde(default, deserialize_with = "any_id")]
    pub offline_temp_password_id: String,
    pub offline_temp_password: String,
    #[serde(default)]
    pub offline_temp_password_name: Option<String>,
    #[serde(default)]
    pub effective_time: i64,
    #[serde(default)]
    pub invalid_time: i64,
}

pub(crate) fn any_id<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct RemoteUnlock {
    pub remote_unlock_type: String,
    #[serde(default)]
    pub open: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogStatus {
    pub code: String,
    #[serde(default)]
    pub value: Value,
}

/// An unlocking record; `update_time` in milliseconds.
#[derive(Debug, Clone, Deserialize)]
pub struct OpenLog {
    pub update_time: i64,
    pub status: LogStatus,
    #[serde(default)]
    pub nick_name: Option<String>,
    #[serde(default)]
    pub unlock_name: Option<String>,
    #[serde(default)]
    pub user_id: Option<Value>,
}

/// An alert record; `update_time` in seconds.
#[derive(Debug, Clone, Deserialize)]
pub struct AlarmLog {
    pub update_time: i64,
    pub status: LogStatus,
    #[serde(default)]
    pub nick_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    #[serde(default)]
    pub total: i64,
    #[serde(default = "Vec::new", alias = "records")]
    pub logs: Vec<T>,
}
