//! Tedee behind the provider trait: locks through their bridge, operations followed to their
//! result, activity as events, keypad PINs as access codes (permanent, time-bound and weekly
//! windows, all native).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lockbridge_tedee::{
    self as td, Config, ErrorKind as TdKind, NewPin, TedeeClient, UnlockMode, WeekDays,
};

use crate::call::Calls;
use crate::sessions::Sessions;
use lockbridge_core::credentials::{Credentials, Field};
use lockbridge_core::ids::ConnectionId;
use lockbridge_core::model::{
    Capabilities, Connection, Lock, LockState, Provider, Schedule, TimeOfDay,
};
use lockbridge_core::provider::*;
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::{Millis, parse_utc_lenient, to_rfc3339};

mod codes;

/// This vendor, as lockbridge names it.
pub const PROVIDER: Provider = Provider::named(&lockbridge_core::model::VendorNames {
    id: "tedee",
    label: "Tedee",
});
const P: Provider = PROVIDER;

/// This vendor's adapter (its line in [`crate::builtin`]).
pub fn adapter(cx: &crate::Context) -> std::sync::Arc<dyn lockbridge_core::Vendor> {
    std::sync::Arc::new(TedeeProvider::new(cx))
}

/// PINs of one lock as last read, with the list version they belong to.
type PinCache = HashMap<(ConnectionId, i64), (i64, Vec<ProviderCode>)>;

pub struct TedeeProvider {
    sessions: Sessions<TedeeClient>,
    pins: Mutex<PinCache>,
    http: reqwest::Client,
    calls: Calls<td::Error>,
    /// The account's request budget, shared by every instance.
    pace: Arc<crate::pace::Pace>,
    poll: (Duration, Duration),
    timeout: Duration,
}

impl std::fmt::Debug for TedeeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TedeeProvider").finish_non_exhaustive()
    }
}

/// Maps the client's error; `verifying` turns credential refusals into
/// `RejectedCredentials` instead of `AuthFailed`.
fn map_err(err: td::Error, verifying: bool) -> ProviderError {
    use ErrorKind::*;
    let credentials = if verifying {
        RejectedCredentials
    } else {
        AuthFailed
    };
    let (kind, field) = match &err {
        td::Error::InvalidPin(rule) => {
            return ProviderError::new(P, InvalidInput, format!("code {rule}")).with_field("code");
        }
        td::Error::InvalidInput { .. } => (InvalidInput, None),
        td::Error::Api(e) => match e.kind() {
            TdKind::BadRequest => (InvalidInput, Some("code")),
            TdKind::Unauthorized => (credentials, None),
            TdKind::Forbidden if verifying => (RejectedCredentials, None),
            TdKind::Forbidden => (Forbidden, None),
            TdKind::NotFound => (NotFound, None),
            TdKind::PinExists => (AlreadyExists, Some("code")),
            TdKind::DeviceTimeout => (Timeout, None),
            TdKind::DeviceBusy => (DeviceBusy, None),
            TdKind::PinSlotsFull => (CapacityReached, None),
            TdKind::Disconnected => (DeviceOffline, None),
            TdKind::RateLimited => (RateLimited, None),
            TdKind::Server => (Unavailable, None),
            TdKind::Other => (Failed, None),
        },
        td::Error::RateLimited { .. } => (RateLimited, None),
        // A state change that failed with result 1 is a jam (as Tedee's own clients read
        // `stateChangeResult`); other results are not named.
        td::Error::OperationFailed { result: 1, .. } => (Jammed, None),
        td::Error::OperationFailed { .. } => (Failed, None),
        td::Error::OperationTimeout(_) => (Timeout, None),
        td::Error::Transport(t) if t.is_timeout() => (Timeout, None),
        td::Error::Transport(_) => (Unavailable, None),
        td::Error::Decode { .. } => (Failed, None),
        td::Error::Refresh(_) => (credentials, None),
    };
    let (code, retry_after) = match &err {
        td::Error::RateLimited { retry_after_s } => (Some(429), Some(*retry_after_s)),
        other => match other.api() {
            Some(api) => (Some(api.status), api.retry_after_s),
            None => (None, None),
        },
    };
    let mut out = ProviderError::caused(P, kind, err);
    if let Some(code) = code {
        out = out.with_code(code);
    }
    out.retry_after = retry_after;
    match field {
        Some(f) => out.with_field(f),
        None => out,
    }
}

fn lock_id(lock: &Lock) -> ProviderResult<i64> {
    lock.provider_id
        .parse()
        .map_err(|_| ProviderError::new(P, ErrorKind::NotFound, "not a Tedee lock id"))
}

fn state_of(s: Option<&td::DeviceState>) -> LockState {
    match s.map(td::DeviceState::lock_state) {
        Some(td::LockState::Locked) => LockState::Locked,
        Some(td::LockState::Unlocked | td::LockState::SemiLocked | td::LockState::Pulled) => {
            LockState::Unlocked
        }
        _ => LockState::Unknown,
    }
}

/// The time of day of a Tedee day-time value (only its time of day counts).
fn hhmm(text: &str) -> Option<TimeOfDay> {
    text.get(11..16)?.parse().ok()
}

/// A PIN as an access code. Tedee evaluates the day window in the lock's local time (the
/// reading lockbridge takes: Tedee does not document it), so the window is in the lock's zone.
fn code_of(pin: td::Pin, time_zone: Option<&str>) -> ProviderCode {
    let window = match (&pin.day_start_time, &pin.day_end_time, pin.week_days) {
        (None, None, None) => None,
        (start, end, days) => Some(Schedule {
            weekdays: Schedule::weekdays_of(days.map_or(127, |d| d.0)),
            start_time: start
                .as_deref()
                .and_then(hhmm)
                .unwrap_or(TimeOfDay::MIDNIGHT),
            end_time: end
                .as_deref()
                .and_then(hhmm)
                .unwrap_or(TimeOfDay::LAST_MINUTE),
            time_zone: time_zone.unwrap_or("UTC").to_owned(),
        }),
    };
    ProviderCode {
        provider_id: pin.id.to_string(),
        spec: CodeSpec {
            code: pin.pin,
            name: Some(pin.alias).filter(|a| !a.is_empty()),
            starts_at: pin.start_date.as_deref().and_then(parse_utc_lenient),
            ends_at: pin.end_date.as_deref().and_then(parse_utc_lenient),
            schedule: window,
        },
    }
}

/// The PIN body for a code. The day window's times are written as the time of day of a UTC
/// datetime on the period's first day, holding the lock-local `HH:MM` (see [`code_of`]).
fn pin_of(
    name: Option<&str>,
    code: &str,
    period: Option<(Millis, Millis)>,
    schedule: Option<&Schedule>,
) -> NewPin {
    let day = period.map_or_else(
        || "2000-01-01".to_owned(),
        |(s, _)| to_rfc3339(s)[..10].to_owned(),
    );
    let at = |t: TimeOfDay| format!("{day}T{t}:00.000Z");
    NewPin {
        alias: name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("lockbridge")
            .to_owned(),
        pin: code.to_owned(),
        start_date: period.map(|(s, _)| to_rfc3339(s)),
        end_date: period.map(|(_, e)| to_rfc3339(e)),
        day_start_time: schedule.map(|s| at(s.start_time)),
        day_end_time: schedule.map(|s| at(s.end_time)),
        week_days: schedule.map(|s| WeekDays(s.weekday_bits())),
    }
}

fn event_of(a: &td::Activity) -> Option<LockEvent> {
    let (kind, method, success) = match a.event {
        32 => ("lock", "remote", true),
        33 | 51 | 54 | 55 => ("unlock", "remote", true),
        34 => ("lock", "button", true),
        35 => ("unlock", "button", true),
        36 | 56 => ("lock", "auto", true),
        37 | 52 | 87 => ("unlock", "auto", true),
        38 => ("lock", "key", true),
        39 | 53 => ("unlock", "key", true),
        61 | 63 | 64 | 68 | 76 => ("unlock", "passcode", true),
        62 | 75 => ("unlock", "passcode", false),
        65 | 66 => ("lock", "passcode", true),
        77..=81 => ("unlock", "fingerprint", a.event != 78),
        67 => ("unlock", "other", true),
        40 | 41 | 86 => ("alarm", "other", false),
        _ => return None,
    };
    Some(LockEvent {
        time: parse_utc_lenient(&a.date)?,
        kind,
        method,
        success,
        actor: a.username.clone(),
        provider_type: a.event.to_string(),
        alarm: match a.event {
            40 => Some("jammed"),
            41 => Some("power_off"),
            86 => Some("door_ajar"),
            _ => None,
        },
        code: None,
        code_provider_id: None,
        record_id: Some(a.id.to_string()),
    })
}

/// How long an operation (an unlock, a lock) is followed until the lock reports it.
const OPERATION_WAIT: Duration = Duration::from_secs(30);

impl TedeeProvider {
    pub fn new(cx: &crate::Context) -> Self {
        TedeeProvider {
            sessions: Sessions::default(),
            pins: Mutex::default(),
            http: reqwest::Client::new(),
            calls: Calls::new(cx, P, map_err)
                .paced_by_client()
                .longer_by(OPERATION_WAIT),
            pace: cx.pace.clone(),
            poll: (cx.operation_poll, OPERATION_WAIT),
            timeout: cx.request_timeout,
        }
    }

    fn client(&self, base_url: Option<&str>, c: &Credentials) -> ProviderResult<TedeeClient> {
        let key = c.required(P, "personal_access_key")?;
        let mut config = Config::personal_key(key)
            .operation_polling(self.poll.0, self.poll.1)
            .timeout(self.timeout);
        if let Some(url) = base_url {
            config = config.base_url(url);
        }
        // Every request spends the account's budget, shared by every instance: the account is
        // the key's (a digest of it names the budget), whichever connection or credential
        // check sends it.
        if let Some(gate) = self.pace.gate(P, &crate::pace::account_of(key)) {
            config = config.rate_gate(Arc::new(gate));
        }
        Ok(TedeeClient::with_http(config, self.http.clone()))
    }

    /// The connection's client: one per connection, so that its requests share one pacer
    /// (Tedee's limit is per user account).
    fn session(&self, conn: &Connection) -> ProviderResult<TedeeClient> {
        self.sessions.get(conn, || {
            self.client(conn.base_url.as_deref(), &conn.credentials)
        })
    }

    /// Starts an operation and follows it until the lock reports its result.
    async fn operate(&self, conn: &Connection, lock: &Lock, unlock: bool) -> ProviderResult<()> {
        let client = self.session(conn)?;
        let id = lock_id(lock)?;
        let started = if unlock {
            self.calls
                .run(
                    conn.id,
                    "operation/unlock",
                    client.unlock(id, UnlockMode::WithoutPull),
                )
                .await?
        } else {
            self.calls
                .run(conn.id, "operation/lock", client.lock(id))
                .await?
        };
        self.calls
            .run(
                conn.id,
                "device/operation",
                client.wait_operation(&started.operation_id),
            )
            .await
            .map(drop)
            .map_err(ProviderError::after_write)
    }

    fn forget_pins(&self, conn: &Connection, lock: i64) {
        self.pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(conn.id, lock));
    }
}

#[async_trait]
impl Vendor for TedeeProvider {
    fn provider(&self) -> Provider {
        P
    }

    /// Tedee's published limit for an account.
    fn default_rate(&self) -> Option<lockbridge_core::budgets::Rate> {
        Some(lockbridge_core::budgets::Rate::per_hour(700))
    }

    fn credential_fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[Field::secret("personal_access_key")];
        FIELDS
    }

    /// Lists the locks with the key: a refused key is refused here, before anything is stored.
    async fn verify(
        &self,
        base_url: Option<&str>,
        credentials: &Credentials,
    ) -> ProviderResult<Verified> {
        let client = self.client(base_url, credentials)?;
        self.calls.verify("my/lock", client.locks()).await?;
        Ok(Verified {
            credentials: credentials.clone(),
            token_expires_at: None,
        })
    }

    async fn devices(&self, conn: &Connection) -> ProviderResult<Devices> {
        let client = self.session(conn)?;
        let locks = self.calls.run(conn.id, "my/lock", client.locks()).await?;
        let bridges = self
            .calls
            .run(conn.id, "my/bridge", client.bridges())
            .await?;
        let locks = locks
            .into_iter()
            .map(|l| {
                let state = l.state();
                let bridged = l.connected_to_id.is_some();
                DeviceLock {
                    provider_id: l.id.to_string(),
                    name: l.name.clone(),
                    online: l.is_connected == Some(true) && state.is_some(),
                    reach_reported: true,
                    state: state_of(state),
                    battery: state
                        .and_then(|s| s.battery_level)
                        .map(|b| b.clamp(0, 100) as u8),
                    gateway: l.connected_to_id.map(|b| b.to_string()),
                    time_zone: l.time_zone.clone(),
                    utc_offset_minutes: None,
                    capabilities: Capabilities {
                        remote_unlock: bridged,
                        access_codes: bridged,
                        time_bound_codes: bridged,
                        recurring_codes: bridged,
                        offline_codes: false,
                        freeze: false,
                    },
                    code_rules: CodeRules::tedee(),
                }
            })
            .collect();
        let gateways = bridges
            .into_iter()
            .map(|b| DeviceGateway {
                provider_id: b.id.to_string(),
                name: b.name,
                online: b.is_connected.unwrap_or(true),
            })
            .collect();
        Ok(Devices { locks, gateways })
    }

    fn operations(&self) -> Option<&dyn Operations> {
        Some(self)
    }

    fn logs(&self) -> Option<&dyn Logs> {
        Some(self)
    }

    /// A quarter of Tedee's 700 requests per hour and account: the rest stays for operations,
    /// PINs and syncs.
    fn log_reads_per_hour(&self) -> Option<u32> {
        Some(175)
    }

    fn codes(&self) -> Option<&dyn Codes> {
        Some(self)
    }
}

#[async_trait]
impl Operations for TedeeProvider {
    async fn unlock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        self.operate(conn, lock, true).await
    }

    async fn lock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        self.operate(conn, lock, false).await
    }
}

#[async_trait]
impl Logs for TedeeProvider {
    async fn events(
        &self,
        conn: &Connection,
        lock: &Lock,
        since: Option<Millis>,
        limit: u32,
    ) -> ProviderResult<Vec<LockEvent>> {
        let client = self.session(conn)?;
        let size = limit.clamp(1, 200);
        let mut out = Vec::new();
        let mut older_than: Option<String> = None;
        loop {
            let items = self
                .calls
                .run(
                    conn.id,
                    "my/deviceactivity",
                    client.activity(lock_id(lock)?, size, older_than.as_deref()),
                )
                .await?;
            let reached = items
                .iter()
                .any(|a| since.is_some_and(|s| parse_utc_lenient(&a.date).is_some_and(|t| t < s)));
            out.extend(
                items
                    .iter()
                    .filter_map(event_of)
                    .filter(|e| since.is_none_or(|s| e.time >= s)),
            );
            // Newest first; the next page is what is older than this page's last item.
            older_than = items.last().map(|a| a.date.clone());
            if reached || (items.len() as u32) < size || out.len() >= limit as usize {
                break;
            }
        }
        out.truncate(limit as usize);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbridge_core::model::Weekday;

    #[test]
    fn weekly_windows_round_trip_through_a_pin() {
        let window = Schedule {
            weekdays: vec![Weekday::Fri, Weekday::Sat],
            start_time: "10:00".parse().unwrap(),
            end_time: "18:30".parse().unwrap(),
            time_zone: "Europe/Warsaw".into(),
        };
        let pin = pin_of(
            Some("weekend"),
            "480213",
            Some((1_767_225_600_000, 1_798_761_600_000)),
            Some(&window),
        );
        assert_eq!(pin.week_days, Some(WeekDays(48)));
        assert_eq!(
            pin.day_start_time.as_deref(),
            Some("2026-01-01T10:00:00.000Z")
        );
        let back = code_of(
            td::Pin {
                id: 7,
                alias: pin.alias.clone(),
                pin: pin.pin.clone(),
                start_date: pin.start_date.clone(),
                end_date: pin.end_date.clone(),
                day_start_time: pin.day_start_time.clone(),
                day_end_time: pin.day_end_time.clone(),
                week_days: pin.week_days,
            },
            Some("Europe/Warsaw"),
        );
        assert_eq!(back.spec.schedule, Some(window));
        assert_eq!(back.spec.starts_at, Some(1_767_225_600_000));
        let permanent = pin_of(None, "918273", None, None);
        assert_eq!(
            (permanent.alias.as_str(), permanent.week_days),
            ("lockbridge", None)
        );
    }
}
