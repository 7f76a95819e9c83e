//! Locks, bridges, operations, PINs and activity.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::client::TedeeClient;
use crate::error::{Error, Result};
use crate::pin::{WeekDays, check_pin};

/// Tedee's `LockState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    Uncalibrated,
    Calibrating,
    Unlocked,
    SemiLocked,
    Unlocking,
    Locking,
    Locked,
    Pulled,
    Pulling,
    Unknown,
    Updating,
    /// A value this client does not know.
    Other(i64),
}

impl From<i64> for LockState {
    fn from(v: i64) -> Self {
        match v {
            0 => LockState::Uncalibrated,
            1 => LockState::Calibrating,
            2 => LockState::Unlocked,
            3 => LockState::SemiLocked,
            4 => LockState::Unlocking,
            5 => LockState::Locking,
            6 => LockState::Locked,
            7 => LockState::Pulled,
            8 => LockState::Pulling,
            9 => LockState::Unknown,
            18 => LockState::Updating,
            other => LockState::Other(other),
        }
    }
}

/// `deviceState` (named `lockProperties` before API v1.34/v1.35; both are read).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceState {
    pub state: i64,
    #[serde(default)]
    pub door_state: Option<i64>,
    #[serde(default)]
    pub is_charging: Option<bool>,
    #[serde(default)]
    pub battery_level: Option<i64>,
    /// 0 when the last state change went well; 1 means jammed.
    #[serde(default)]
    pub state_change_result: Option<i64>,
    #[serde(default)]
    pub last_state_changed_date: Option<String>,
}

impl DeviceState {
    pub fn lock_state(&self) -> LockState {
        self.state.into()
    }
    pub fn is_jammed(&self) -> bool {
        self.state_change_result == Some(1)
    }
}

/// Reads `deviceState` or `lockProperties`, whichever the API version sends.
fn state_of(extra: &mut Map<String, Value>) -> Option<DeviceState> {
    ["deviceState", "lockProperties"]
        .iter()
        .find_map(|k| extra.remove(*k))
        .and_then(|v| serde_json::from_value(v).ok())
}

/// A lock (`GET /my/lock`).
#[derive(Debug, Clone)]
pub struct Lock {
    pub id: i64,
    pub name: String,
    pub serial_number: Option<String>,
    /// DeviceType: 2 Lock PRO, 4 Lock GO, 5 Gate…
    pub device_type: Option<i64>,
    /// Connected to its bridge; `None` when it has none.
    pub is_connected: Option<bool>,
    /// The bridge it is connected through.
    pub connected_to_id: Option<i64>,
    pub device_state: Option<DeviceState>,
    pub time_zone: Option<String>,
    /// 0 Guest, 1 Admin, 2 Owner.
    pub access_level: Option<i64>,
    /// Every other field, as sent.
    pub other: Map<String, Value>,
}

impl Lock {
    pub fn state(&self) -> Option<&DeviceState> {
        self.device_state.as_ref()
    }
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut m = Map::<String, Value>::deserialize(d)?;
        let id = m
            .remove("id")
            .and_then(|v| v.as_i64())
            .ok_or_else(|| serde::de::Error::missing_field("id"))?;
        let text = |m: &mut Map<String, Value>, k: &str| {
            m.remove(k).and_then(|v| v.as_str().map(str::to_owned))
        };
        let int = |m: &mut Map<String, Value>, k: &str| m.remove(k).and_then(|v| v.as_i64());
        Ok(Lock {
            id,
            name: text(&mut m, "name").unwrap_or_default(),
            serial_number: text(&mut m, "serialNumber"),
            device_type: int(&mut m, "type"),
            is_connected: m.remove("isConnected").and_then(|v| v.as_bool()),
            connected_to_id: int(&mut m, "connectedToId"),
            device_state: state_of(&mut m),
            time_zone: text(&mut m, "timeZone"),
            access_level: int(&mut m, "accessLevel"),
            other: m,
        })
    }
}

/// A lock's state from the sync endpoints; `device_state` is `None` while disconnected.
#[derive(Debug, Clone)]
pub struct LockSync {
    pub id: i64,
    pub is_connected: Option<bool>,
    pub device_state: Option<DeviceState>,
    pub revision: Option<i64>,
}

impl<'de> Deserialize<'de> for LockSync {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut m = Map::<String, Value>::deserialize(d)?;
        Ok(LockSync {
            id: m
                .get("id")
                .and_then(Value::as_i64)
                .ok_or_else(|| serde::de::Error::missing_field("id"))?,
            is_connected: m.get("isConnected").and_then(Value::as_bool),
            revision: m.get("revision").and_then(Value::as_i64),
            device_state: state_of(&mut m),
        })
    }
}

/// A bridge (`GET /my/bridge`). Fields beyond `id` are read leniently: the endpoint is used
/// by clients but not on Tedee's documentation index.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bridge {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub is_connected: Option<bool>,
}

/// Unlock modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnlockMode {
    /// 0: unlock, and pull the spring if auto pull is on.
    #[default]
    Normal,
    /// 2: force unlock (for a lock in the Unknown state).
    Force,
    /// 3: unlock without the auto pull.
    WithoutPull,
    /// 4: unlock a locked lock, pull an unlocked one.
    UnlockOrPull,
}

impl UnlockMode {
    fn value(self) -> u8 {
        match self {
            UnlockMode::Normal => 0,
            UnlockMode::Force => 2,
            UnlockMode::WithoutPull => 3,
            UnlockMode::UnlockOrPull => 4,
        }
    }
}

/// The operation id (epoch-ms digits, sent as a string; a number is read too).
fn operation_id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("operationId is {other}"))),
    }
}

/// The answer to an operation request (202).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStarted {
    #[serde(deserialize_with = "operation_id")]
    pub operation_id: String,
    #[serde(default)]
    pub last_state_changed_date: Option<String>,
}

/// `GET /my/device/operation/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceOperation {
    pub device_id: i64,
    #[serde(deserialize_with = "operation_id")]
    pub operation_id: String,
    /// 0 success, > 0 an error; absent while pending.
    #[serde(default)]
    pub result: Option<i64>,
    /// `PENDING` or `COMPLETED`.
    pub status: String,
    /// 0 lock, 1 unlock, 2 pull.
    #[serde(rename = "type", default)]
    pub operation_type: Option<i64>,
}

impl DeviceOperation {
    pub fn is_completed(&self) -> bool {
        self.status.eq_ignore_ascii_case("COMPLETED")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PinSummary {
    pub id: i64,
    #[serde(default)]
    pub alias: String,
}

/// `GET /my/lock/{id}/pin`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinList {
    pub list_version: i64,
    #[serde(default)]
    pub pins: Vec<PinSummary>,
}

/// A PIN with its value and access window.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    pub id: i64,
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub pin: String,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub day_start_time: Option<String>,
    #[serde(default)]
    pub day_end_time: Option<String>,
    #[serde(default)]
    pub week_days: Option<WeekDays>,
}

impl Pin {
    /// The same PIN as a body for [`TedeeClient::update_pin`] (PUT replaces every field).
    pub fn to_new(&self) -> NewPin {
        NewPin {
            alias: self.alias.clone(),
            pin: self.pin.clone(),
            start_date: self.start_date.clone(),
            end_date: self.end_date.clone(),
            day_start_time: self.day_start_time.clone(),
            day_end_time: self.day_end_time.clone(),
            week_days: self.week_days,
        }
    }
}

/// A PIN to create, or the full replacement of one. Dates are ISO-8601 in UTC
/// (`2026-12-01T00:00:00.000Z`); of `day_start_time`/`day_end_time` only the time of day counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewPin {
    pub alias: String,
    pub pin: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub day_start_time: Option<String>,
    pub day_end_time: Option<String>,
    pub week_days: Option<WeekDays>,
}

impl NewPin {
    pub fn permanent(alias: impl Into<String>, pin: impl Into<String>) -> Self {
        NewPin {
            alias: alias.into(),
            pin: pin.into(),
            ..NewPin::default()
        }
    }

    fn check(&self) -> Result<Vec<u8>> {
        check_pin(&self.pin).map_err(Error::InvalidPin)?;
        if self.alias.trim().is_empty() {
            return Err(Error::InvalidInput {
                field: "alias",
                rule: "is required".into(),
            });
        }
        let dates = [
            ("startDate", &self.start_date),
            ("endDate", &self.end_date),
            ("dayStartTime", &self.day_start_time),
            ("dayEndTime", &self.day_end_time),
        ];
        for (field, value) in dates {
            if value.as_deref().is_some_and(|v| !looks_like_datetime(v)) {
                return Err(Error::InvalidInput {
                    field,
                    rule: "must be an ISO-8601 date and time such as 2026-12-01T10:00:00.000Z"
                        .into(),
                });
            }
        }
        if let (Some(s), Some(e)) = (&self.start_date, &self.end_date)
            && e <= s
        {
            return Err(Error::InvalidInput {
                field: "endDate",
                rule: "must be after startDate".into(),
            });
        }
        if self.day_start_time.is_some() != self.day_end_time.is_some() {
            return Err(Error::InvalidInput {
                field: "dayEndTime",
                rule: "dayStartTime and dayEndTime go together".into(),
            });
        }
        if self.week_days.is_some_and(|w| w.0 == 0 || w.0 > 127) {
            return Err(Error::InvalidInput {
                field: "weekDays",
                rule: "must name at least one day (1 Monday … 64 Sunday; 127 every day)".into(),
            });
        }
        serde_json::to_vec(self).map_err(|e| Error::Decode {
            status: 0,
            message: e.to_string(),
        })
    }
}

/// `YYYY-MM-DDTHH:MM` at least, digits where digits belong. UTC strings compare in time order.
fn looks_like_datetime(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 16
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && [0..4, 5..7, 8..10, 11..13, 14..16]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit))
}

/// An activity-log entry (`GET /my/deviceactivity`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: i64,
    pub device_id: i64,
    #[serde(default)]
    pub user_id: Option<Value>,
    /// Sent as `username` (the data-structure page says `userName`; both are read).
    #[serde(default, alias = "userName")]
    pub username: Option<String>,
    /// The event type (61 unlocked by PIN, 62 wrong PIN, 33 unlocked remotely…).
    pub event: i64,
    /// 0 device, 1 mobile.
    #[serde(default)]
    pub source: Option<i64>,
    /// UTC, usually without a `Z`.
    pub date: String,
}

#[derive(Deserialize)]
struct Created {
    id: i64,
}

impl TedeeClient {
    /// Every lock of the account.
    pub async fn locks(&self) -> Result<Vec<Lock>> {
        self.call(Method::GET, "/my/lock", None).await
    }

    pub async fn get_lock(&self, lock_id: i64) -> Result<Lock> {
        self.call(Method::GET, &format!("/my/lock/{lock_id}"), None)
            .await
    }

    /// The state of the given locks (every lock when `ids` is empty), in one request.
    pub async fn sync(&self, ids: &[i64]) -> Result<Vec<LockSync>> {
        let query: Vec<String> = ids.iter().map(|id| format!("id={id}")).collect();
        let path = if query.is_empty() {
            "/my/lock/sync".to_owned()
        } else {
            format!("/my/lock/sync?{}", query.join("&"))
        };
        self.call(Method::GET, &path, None).await
    }

    pub async fn sync_lock(&self, lock_id: i64) -> Result<LockSync> {
        self.call(Method::GET, &format!("/my/lock/{lock_id}/sync"), None)
            .await
    }

    pub async fn bridges(&self) -> Result<Vec<Bridge>> {
        self.call(Method::GET, "/my/bridge", None).await
    }

    /// Starts unlocking; follow it with [`TedeeClient::wait_operation`].
    pub async fn unlock(&self, lock_id: i64, mode: UnlockMode) -> Result<OperationStarted> {
        let path = format!("/my/lock/{lock_id}/operation/unlock?mode={}", mode.value());
        self.call(Method::POST, &path, None).await
    }

    pub async fn lock(&self, lock_id: i64) -> Result<OperationStarted> {
        self.call(
            Method::POST,
            &format!("/my/lock/{lock_id}/operation/lock"),
            None,
        )
        .await
    }

    pub async fn pull(&self, lock_id: i64) -> Result<OperationStarted> {
        self.call(
            Method::POST,
            &format!("/my/lock/{lock_id}/operation/pull"),
            None,
        )
        .await
    }

    pub async fn operation(&self, operation_id: &str) -> Result<DeviceOperation> {
        if operation_id.is_empty() || !operation_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidInput {
                field: "operationId",
                rule: "must be the id an operation request answered".into(),
            });
        }
        self.call(
            Method::GET,
            &format!("/my/device/operation/{operation_id}"),
            None,
        )
        .await
    }

    /// Polls an operation until it is `COMPLETED` (at the configured interval, up to the
    /// configured timeout). A non-zero result is [`Error::OperationFailed`].
    pub async fn wait_operation(&self, operation_id: &str) -> Result<DeviceOperation> {
        let cfg = &self.inner.config;
        let deadline = tokio::time::Instant::now() + cfg.operation_timeout;
        loop {
            let op = self.operation(operation_id).await?;
            if op.is_completed() {
                return match op.result.unwrap_or(0) {
                    0 => Ok(op),
                    result => Err(Error::OperationFailed {
                        operation_id: op.operation_id,
                        result,
                    }),
                };
            }
            if tokio::time::Instant::now() + cfg.poll_interval > deadline {
                return Err(Error::OperationTimeout(operation_id.to_owned()));
            }
            tokio::time::sleep(cfg.poll_interval.max(Duration::from_millis(10))).await;
        }
    }

    /// The lock's PINs (ids and aliases). With the `list_version` of an earlier answer,
    /// `None` means nothing changed since (304).
    pub async fn pins(&self, lock_id: i64, list_version: Option<i64>) -> Result<Option<PinList>> {
        let mut path = format!("/my/lock/{lock_id}/pin");
        if let Some(v) = list_version {
            path.push_str(&format!("?listVersion={v}"));
        }
        match self.send(Method::GET, &path, None).await? {
            crate::client::Answer::NotModified => Ok(None),
            crate::client::Answer::Body(status, bytes) => {
                crate::client::result_of(status, &bytes).map(Some)
            }
        }
    }

    pub async fn pin(&self, lock_id: i64, pin_id: i64) -> Result<Pin> {
        self.call(
            Method::GET,
            &format!("/my/lock/{lock_id}/pin/{pin_id}"),
            None,
        )
        .await
    }

    /// Creates a PIN after checking it against Tedee's rules; answers its id.
    pub async fn create_pin(&self, lock_id: i64, pin: &NewPin) -> Result<i64> {
        let body = pin.check()?;
        let created: Created = self
            .call(Method::POST, &format!("/my/lock/{lock_id}/pin"), Some(body))
            .await?;
        Ok(created.id)
    }

    /// Replaces a PIN (every field: read it first with [`TedeeClient::pin`] and
    /// [`Pin::to_new`] to change one).
    pub async fn update_pin(&self, lock_id: i64, pin_id: i64, pin: &NewPin) -> Result<()> {
        let body = pin.check()?;
        self.call_empty(
            Method::PUT,
            &format!("/my/lock/{lock_id}/pin/{pin_id}"),
            Some(body),
        )
        .await
    }

    pub async fn delete_pin(&self, lock_id: i64, pin_id: i64) -> Result<()> {
        self.call_empty(
            Method::DELETE,
            &format!("/my/lock/{lock_id}/pin/{pin_id}"),
            None,
        )
        .await
    }

    /// The device's activity, newest first: at most `elements` (1–200), older than
    /// `last_elem_date` when given (the `date` of the last entry of the previous page).
    pub async fn activity(
        &self,
        device_id: i64,
        elements: u32,
        last_elem_date: Option<&str>,
    ) -> Result<Vec<Activity>> {
        if !(1..=200).contains(&elements) {
            return Err(Error::InvalidInput {
                field: "elements",
                rule: "must be between 1 and 200".into(),
            });
        }
        let mut query = vec![
            ("deviceId", device_id.to_string()),
            ("elements", elements.to_string()),
        ];
        if let Some(d) = last_elem_date {
            query.push(("lastElemDate", d.to_owned()));
        }
        let query = serde_urlencoded::to_string(&query).map_err(|e| Error::InvalidInput {
            field: "lastElemDate",
            rule: e.to_string(),
        })?;
        self.call(Method::GET, &format!("/my/deviceactivity?{query}"), None)
            .await
    }
}
