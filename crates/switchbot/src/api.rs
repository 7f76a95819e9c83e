//! The API's objects, as far as lockbridge reads and writes them. Unknown fields are ignored;
//! what SwitchBot spells several ways is read in every spelling seen.

use serde::{Deserialize, Serialize};

/// `GET /v1.1/devices`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    #[serde(default)]
    pub device_list: Vec<Device>,
}

/// A physical device: a lock, a keypad (with its `keyList`), a hub…
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// The device's MAC, 12 upper-case hex digits.
    pub device_id: String,
    #[serde(default)]
    pub device_name: String,
    #[serde(default)]
    pub device_type: String,
    /// `000000000000` for a hub itself or a Wi-Fi device.
    #[serde(default)]
    pub hub_device_id: String,
    #[serde(default)]
    pub enable_cloud_service: Option<bool>,
    /// A keypad's lock.
    #[serde(default)]
    pub lock_device_id: Option<String>,
    /// A keypad's (or a Lock Vision's) passcodes.
    #[serde(default)]
    pub key_list: Option<Vec<Key>>,
}

/// The device types of locks, in every spelling SwitchBot uses (list, status and webhooks
/// disagree), compared without case.
const LOCKS: &[&str] = &[
    "smart lock",
    "smart lock pro",
    "smart lock pro wifi",
    "smart lock ultra",
    "lock ultra",
    "smart lock lite",
    "lock lite",
    "lock vision",
    "smart lock vision",
    "lock vision pro",
    "smart lock vision pro",
];

/// Devices that hold passcodes (`createKey`, `deleteKey`).
const KEYPADS: &[&str] = &[
    "keypad",
    "keypad touch",
    "keypad vision",
    "keypad vision pro",
    "lock vision",
    "smart lock vision",
    "lock vision pro",
    "smart lock vision pro",
];

impl Device {
    pub fn is_lock(&self) -> bool {
        LOCKS.contains(&self.device_type.to_ascii_lowercase().as_str())
    }

    pub fn holds_keys(&self) -> bool {
        KEYPADS.contains(&self.device_type.to_ascii_lowercase().as_str())
    }

    /// The hub it is reached through, if any.
    pub fn hub(&self) -> Option<&str> {
        Some(self.hub_device_id.as_str()).filter(|h| !h.is_empty() && *h != "000000000000")
    }
}

/// A passcode of a keypad, its password encrypted with the account's secret.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    pub id: i64,
    pub name: String,
    /// `permanent`, `timeLimit`, `disposable`, `urgent`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Base64 of the AES-128-CBC ciphertext.
    #[serde(default)]
    pub password: String,
    /// 32 hex digits.
    #[serde(default)]
    pub iv: String,
    /// `normal` or `expired`.
    #[serde(default)]
    pub status: String,
    /// Epoch milliseconds.
    #[serde(default)]
    pub create_time: Option<i64>,
}

/// A lock's status (`GET /v1.1/devices/{id}/status`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockStatus {
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub device_type: String,
    #[serde(default)]
    pub battery: Option<i64>,
    #[serde(default)]
    pub lock_state: Option<String>,
    #[serde(default)]
    pub door_state: Option<String>,
    #[serde(default)]
    pub online_status: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// What a lock's `lockState` says, read defensively: the spec's and the observed spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bolt {
    Locked,
    Unlocked,
    /// Deadbolt retracted, the door held by its latch: not secured.
    Latched,
    Moving,
    Jammed,
    Unknown,
}

impl LockStatus {
    pub fn bolt(&self) -> Bolt {
        match self
            .lock_state
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("lock" | "locked" | "halflocked") => Bolt::Locked,
            Some("unlock" | "unlocked") => Bolt::Unlocked,
            Some("latchboltlocked") => Bolt::Latched,
            Some("locking" | "unlocking") => Bolt::Moving,
            Some("jammed") => Bolt::Jammed,
            _ => Bolt::Unknown,
        }
    }

    /// `opened` (or `open`), `closed` (or `close`); `None` when the lock has no door sensor.
    pub fn door_open(&self) -> Option<bool> {
        match self.door_state.as_deref()?.to_ascii_lowercase().as_str() {
            "open" | "opened" => Some(true),
            "close" | "closed" => Some(false),
            _ => None,
        }
    }
}

/// A new passcode (`createKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Unique on the keypad.
    pub name: String,
    /// 6 to 12 digits.
    pub password: String,
    /// From and until (epoch seconds); `None` for a permanent key.
    pub period: Option<(i64, i64)>,
}

/// SwitchBot's answer to a command: accepted (the device acts, or not, later).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// Not sent since late 2024 for most commands: never rely on it.
    #[serde(default)]
    pub command_id: Option<String>,
}

/// A webhook's configuration (`queryDetails`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default)]
    pub enable: bool,
    #[serde(default)]
    pub create_time: Option<i64>,
    #[serde(default)]
    pub last_update_time: Option<i64>,
}

/// An event SwitchBot posts to the account's webhook URL (`eventType` `changeReport`). Only
/// what every device's event carries is required; the rest varies by device and event.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub event_type: String,
    #[serde(default)]
    pub event_version: Option<String>,
    pub context: EventContext,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventContext {
    /// `WoKeypadTouch`, `WoLockPro`, …
    #[serde(default)]
    pub device_type: Option<String>,
    /// The device's id (its MAC).
    pub device_mac: String,
    /// A keypad's `createKey`, `deleteKey`, …
    #[serde(default)]
    pub event_name: Option<String>,
    /// `success`, `failed`, `timeout` for a keypad's command.
    #[serde(default)]
    pub result: Option<String>,
    /// A lock's state after the change.
    #[serde(default)]
    pub lock_state: Option<String>,
    /// Milliseconds.
    #[serde(default)]
    pub time_of_sample: Option<i64>,
}

impl Event {
    /// An event as posted; the error says where in the JSON it broke.
    pub fn parse(body: &[u8]) -> crate::Result<Event> {
        crate::client::decode(body)
    }
}
