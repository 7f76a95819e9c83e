//! The Tedee fake's ground truth: users and their keys and tokens, bridges, locks with their
//! state, PINs, activity and operations, and the per-user rate limit.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::time;
use crate::faults::Faults;
use crate::rng::Rng;
use crate::wall_ms;

/// Every scope a Personal Access Key may carry.
pub const ALL_SCOPES: &[&str] = &[
    "Account.ReadWrite",
    "Bridge.Operate",
    "Device.ReadWrite",
    "DeviceActivity.Read",
    "DeviceShare.ReadWrite",
    "Lock.Operate",
    "Organization.ReadWrite",
];

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub identity: String,
}

/// A Personal Access Key or an OAuth access token.
#[derive(Debug, Clone, Serialize)]
pub struct Credential {
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub expires_at_ms: Option<i64>,
}

impl Credential {
    /// Whether the credential carries one of `any` (`Device.ReadWrite` implies `Device.Read`,
    /// and so on for every `X.ReadWrite`).
    pub fn allows(&self, any: &[&str]) -> bool {
        any.iter().any(|want| {
            self.scopes.iter().any(|have| {
                have == want
                    || want
                        .strip_suffix(".Read")
                        .is_some_and(|base| *have == format!("{base}.ReadWrite"))
            })
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Bridge {
    pub id: i64,
    pub name: String,
    pub serial_number: String,
    pub user_id: i64,
    pub online: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    pub id: i64,
    pub alias: String,
    pub pin: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub day_start_time: Option<String>,
    pub day_end_time: Option<String>,
    pub week_days: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    pub id: i64,
    pub device_id: i64,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub event: i64,
    pub source: i64,
    pub date_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lock {
    pub id: i64,
    pub name: String,
    pub serial_number: String,
    /// 2 Lock PRO, 4 Lock GO.
    pub device_type: i64,
    pub owner: i64,
    /// Other users with access: user id → (access level, remote access disabled).
    pub guests: BTreeMap<i64, (i64, bool)>,
    pub bridge_id: Option<i64>,
    /// Reachable through its bridge (the bridge must be online too).
    pub connected: bool,
    pub keypad: bool,
    pub state: i64,
    pub door_state: i64,
    pub is_charging: bool,
    pub battery: i64,
    pub state_change_result: i64,
    pub last_state_changed_ms: i64,
    pub time_zone: String,
    /// The offset the simulator uses for PIN day windows (it has no time-zone database).
    pub utc_offset_min: i64,
    pub auto_pull: bool,
    pub pins: BTreeMap<i64, Pin>,
    pub next_pin_id: i64,
    pub list_version: i64,
    pub activities: Vec<Activity>,
    /// The device does not answer: PIN commands time out (408).
    pub not_responding: bool,
    /// The next operation jams (result 1, `stateChangeResult` 1).
    pub jam_next: bool,
    /// A PIN command is being carried out (another one gets 409).
    pub busy: bool,
    pub revision: i64,
    pub created_ms: i64,
}

/// An operation in flight or done.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub id: String,
    pub device_id: i64,
    pub user_id: i64,
    /// 0 lock, 1 unlock, 2 pull.
    pub kind: i64,
    pub completes_at_ms: i64,
    pub completed: bool,
    pub result: i64,
}

/// Settings of the fake, changed through `POST /_sim/config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TedeeConfig {
    /// PINs a lock holds before create answers "no more PINs" (Tedee's maximum is not
    /// published).
    pub pin_capacity: usize,
    /// The status of "no more PINs": 412 as documented now, 422 as documented 2021–2026.
    pub slots_full_status: u16,
    /// How long an operation stays PENDING.
    pub operation_ms: i64,
    /// How long a PIN command keeps the device busy (a second one meanwhile gets 409).
    pub device_latency_ms: u64,
    /// Requests per user and window before 429.
    pub rate_limit: u32,
    pub rate_window_s: i64,
}

impl Default for TedeeConfig {
    fn default() -> Self {
        TedeeConfig {
            pin_capacity: 100,
            slots_full_status: 412,
            operation_ms: 1500,
            device_latency_ms: 0,
            rate_limit: 700,
            rate_window_s: 3600,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct World {
    pub seed: u64,
    #[serde(skip)]
    pub rng: Rng,
    pub users: BTreeMap<i64, User>,
    /// Personal Access Keys by value.
    #[serde(skip)]
    pub keys: HashMap<String, Credential>,
    #[serde(skip)]
    pub bearers: HashMap<String, Credential>,
    #[serde(skip)]
    pub refresh_tokens: HashMap<String, Credential>,
    pub bridges: BTreeMap<i64, Bridge>,
    pub locks: BTreeMap<i64, Lock>,
    pub operations: BTreeMap<String, Operation>,
    /// Per user: (window start, requests in it).
    pub rate: BTreeMap<i64, (i64, u32)>,
    /// 429 answers given, per user.
    pub throttled: BTreeMap<i64, u32>,
    pub faults: Faults,
    pub clock_offset_ms: i64,
    pub config: TedeeConfig,
    pub calls: BTreeMap<String, u64>,
    next_id: i64,
}

/// The lenient reading of rule 5 ("not a strictly ascending or descending sequence"): only
/// runs where every digit is exactly one more (or one less) than the one before are refused,
/// as in Tedee's examples 12345 and 54321. `13579` and `67890` pass here; the lockbridge
/// client refuses them, being the defensive side.
pub fn pin_rule(pin: &str) -> Option<&'static str> {
    if pin.trim().is_empty() {
        return Some("Pin cannot be null, empty or whitespace.");
    }
    if !(5..=8).contains(&pin.chars().count()) {
        return Some("Pin length must be between 5 and 8 digits.");
    }
    if !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Some("Pin can contain only numeric characters.");
    }
    let mut seen = [false; 10];
    pin.bytes().for_each(|b| seen[usize::from(b - b'0')] = true);
    if seen.iter().filter(|&&s| s).count() < 3 {
        return Some("Pin must contain at least 3 different digits.");
    }
    let d = pin.as_bytes();
    let up = d.windows(2).all(|w| w[1] == w[0] + 1);
    let down = d.windows(2).all(|w| w[0] == w[1] + 1);
    if up || down {
        return Some("Pin cannot be a strictly ascending or descending sequence.");
    }
    None
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            seed,
            rng: Rng::new(seed ^ 0x7ede),
            users: BTreeMap::new(),
            keys: HashMap::new(),
            bearers: HashMap::new(),
            refresh_tokens: HashMap::new(),
            bridges: BTreeMap::new(),
            locks: BTreeMap::new(),
            operations: BTreeMap::new(),
            rate: BTreeMap::new(),
            throttled: BTreeMap::new(),
            faults: Faults::default(),
            clock_offset_ms: 0,
            config: TedeeConfig::default(),
            calls: BTreeMap::new(),
            next_id: 10_000 + (seed % 1000) as i64 * 10,
        }
    }

    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.clock_offset_ms
    }

    pub fn count_call(&mut self, key: &str) {
        *self.calls.entry(key.to_owned()).or_default() += 1;
    }

    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_user(&mut self, name: &str, email: &str) -> i64 {
        let id = self.id();
        let identity = format!(
            "{}-{}-{}-{}-{}",
            self.rng.hex(8),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(12)
        );
        self.users.insert(
            id,
            User {
                id,
                name: name.into(),
                email: email.into(),
                identity,
            },
        );
        id
    }

    /// A Personal Access Key for `user_id` with `scopes` (all when empty).
    pub fn add_key(
        &mut self,
        user_id: i64,
        scopes: &[String],
        expires_at_ms: Option<i64>,
    ) -> String {
        let key = format!("pak_{}", self.rng.hex(40));
        let scopes = if scopes.is_empty() {
            ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            scopes.to_vec()
        };
        self.keys.insert(
            key.clone(),
            Credential {
                user_id,
                scopes,
                expires_at_ms,
            },
        );
        key
    }

    /// An OAuth access token (valid `ttl_s`) and its refresh token.
    pub fn issue_oauth(
        &mut self,
        user_id: i64,
        scopes: Vec<String>,
        ttl_s: i64,
    ) -> (String, String) {
        let access = format!("eyJ.{}", self.rng.hex(48));
        let refresh = format!("rt_{}", self.rng.hex(48));
        let now = self.now_ms();
        self.bearers.insert(
            access.clone(),
            Credential {
                user_id,
                scopes: scopes.clone(),
                expires_at_ms: Some(now + ttl_s * 1000),
            },
        );
        self.refresh_tokens.insert(
            refresh.clone(),
            Credential {
                user_id,
                scopes,
                expires_at_ms: Some(now + 14 * 86_400_000),
            },
        );
        (access, refresh)
    }

    pub fn add_bridge(&mut self, user_id: i64, name: &str, online: bool) -> i64 {
        let id = self.id();
        let serial = format!("{}-{}", self.rng.digits(6), self.rng.digits(5));
        self.bridges.insert(
            id,
            Bridge {
                id,
                name: name.into(),
                serial_number: serial,
                user_id,
                online,
            },
        );
        id
    }

    pub fn add_lock(&mut self, spec: LockSpec) -> i64 {
        let id = self.id();
        let now = self.now_ms();
        let serial = format!("{}-{}", self.rng.digits(6), self.rng.digits(5));
        self.locks.insert(
            id,
            Lock {
                id,
                name: spec.name,
                serial_number: serial,
                device_type: spec.device_type,
                owner: spec.owner,
                guests: BTreeMap::new(),
                bridge_id: spec.bridge_id,
                connected: spec.connected,
                keypad: spec.keypad,
                state: spec.state,
                door_state: 0,
                is_charging: false,
                battery: spec.battery,
                state_change_result: 0,
                last_state_changed_ms: now,
                time_zone: spec.time_zone,
                utc_offset_min: 0,
                auto_pull: false,
                pins: BTreeMap::new(),
                next_pin_id: 1,
                list_version: 1,
                activities: Vec::new(),
                not_responding: false,
                jam_next: false,
                busy: false,
                revision: 1,
                created_ms: now,
            },
        );
        id
    }

    /// Whether the lock answers through the cloud: it has a bridge, is connected to it, and
    /// the bridge is online.
    pub fn reachable(&self, lock: &Lock) -> bool {
        lock.connected
            && lock
                .bridge_id
                .and_then(|b| self.bridges.get(&b))
                .is_some_and(|b| b.online)
    }

    /// Puts a PIN on a lock directly (ground truth; rules not applied). Answers its id.
    pub fn put_pin(&mut self, lock_id: i64, mut pin: Pin) -> Option<i64> {
        let lock = self.locks.get_mut(&lock_id)?;
        pin.id = lock.next_pin_id;
        lock.next_pin_id += 1;
        lock.list_version += 1;
        let id = pin.id;
        lock.pins.insert(id, pin);
        Some(id)
    }

    pub fn log(
        &mut self,
        lock_id: i64,
        user: Option<i64>,
        username: Option<String>,
        event: i64,
        source: i64,
    ) {
        let id = self.id();
        let now = self.now_ms();
        if let Some(lock) = self.locks.get_mut(&lock_id) {
            lock.activities.push(Activity {
                id,
                device_id: lock_id,
                user_id: user,
                username,
                event,
                source,
                date_ms: now,
            });
        }
    }

    /// Applies what time has done: operations whose time came complete, PINs past their
    /// `endDate` are removed (as Tedee does).
    pub fn settle(&mut self) {
        let now = self.now_ms();
        let due: Vec<String> = self
            .operations
            .values()
            .filter(|o| !o.completed && o.completes_at_ms <= now)
            .map(|o| o.id.clone())
            .collect();
        for id in due {
            let Some(op) = self.operations.get(&id).cloned() else {
                continue;
            };
            let Some(lock) = self.locks.get_mut(&op.device_id) else {
                continue;
            };
            let jam = std::mem::take(&mut lock.jam_next);
            let (result, event) = if jam {
                lock.state_change_result = 1;
                (1, 40)
            } else {
                lock.state_change_result = 0;
                lock.state = match op.kind {
                    0 => 6,
                    _ => 2,
                };
                (0, [32, 33, 51][op.kind as usize])
            };
            lock.last_state_changed_ms = op.completes_at_ms;
            let username = self.users.get(&op.user_id).map(|u| u.name.clone());
            let user = if jam { None } else { Some(op.user_id) };
            self.log(
                op.device_id,
                user,
                username.filter(|_| !jam),
                event,
                if jam { 0 } else { 1 },
            );
            if let Some(o) = self.operations.get_mut(&id) {
                o.completed = true;
                o.result = result;
            }
        }
        for lock in self.locks.values_mut() {
            let before = lock.pins.len();
            lock.pins.retain(|_, p| {
                p.end_date
                    .as_deref()
                    .and_then(time::parse)
                    .is_none_or(|end| end > now)
            });
            if lock.pins.len() != before {
                lock.list_version += 1;
            }
        }
    }

    /// Whether `pin` opens the lock now: the value, the date range, the weekdays and the day
    /// window (in the lock's local time: its zone's, clock changes included, or its configured
    /// offset).
    pub fn pin_allows_now(&self, lock: &Lock, pin: &Pin) -> bool {
        let now = self.now_ms();
        let offset = crate::zone_offset_min(&lock.time_zone, now).unwrap_or(lock.utc_offset_min);
        let local = now + offset * 60_000;
        let in_dates = pin
            .start_date
            .as_deref()
            .and_then(time::parse)
            .is_none_or(|s| now >= s)
            && pin
                .end_date
                .as_deref()
                .and_then(time::parse)
                .is_none_or(|e| now < e);
        let day_bit = 1 << time::weekday(local);
        let on_day = pin.week_days.is_none_or(|w| w & day_bit != 0);
        let tod = local.rem_euclid(86_400_000);
        let in_window = match (
            pin.day_start_time.as_deref().and_then(time::time_of_day),
            pin.day_end_time.as_deref().and_then(time::time_of_day),
        ) {
            (Some(s), Some(e)) if s <= e => tod >= s && tod < e,
            (Some(s), Some(e)) => tod >= s || tod < e,
            _ => true,
        };
        in_dates && on_day && in_window
    }

    /// Someone types `code` on the lock's keypad; answers whether it opened.
    pub fn keypad(&mut self, lock_id: i64, code: &str) -> Option<bool> {
        self.settle();
        let lock = self.locks.get(&lock_id)?;
        let found = lock.pins.values().find(|p| p.pin == code).cloned();
        let (event, name, opened) = match found {
            Some(p) if self.pin_allows_now(lock, &p) => (61, Some(p.alias), true),
            Some(p) => (75, Some(p.alias), false),
            None => (62, None, false),
        };
        if opened && let Some(l) = self.locks.get_mut(&lock_id) {
            l.state = 2;
            l.last_state_changed_ms = wall_ms() + self.clock_offset_ms;
        }
        self.log(lock_id, None, name, event, 0);
        Some(opened)
    }
}

/// A lock to add.
#[derive(Debug, Clone)]
pub struct LockSpec {
    pub owner: i64,
    pub name: String,
    pub device_type: i64,
    pub bridge_id: Option<i64>,
    pub connected: bool,
    pub keypad: bool,
    pub state: i64,
    pub battery: i64,
    pub time_zone: String,
}

impl LockSpec {
    pub fn new(owner: i64, name: &str) -> Self {
        LockSpec {
            owner,
            name: name.into(),
            device_type: 2,
            bridge_id: None,
            connected: false,
            keypad: true,
            state: 6,
            battery: 100,
            time_zone: "Europe/Warsaw".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_rule_five() {
        assert!(pin_rule("12345").is_some() && pin_rule("54321").is_some());
        assert!(pin_rule("13579").is_none() && pin_rule("67890").is_none());
        assert!(pin_rule("11223").is_none());
        assert!(pin_rule("11122").is_some());
    }

    #[test]
    fn read_write_scopes_imply_read() {
        let c = Credential {
            user_id: 1,
            scopes: vec!["Device.ReadWrite".into()],
            expires_at_ms: None,
        };
        assert!(c.allows(&["Device.Read"]) && c.allows(&["Device.ReadWrite"]));
        assert!(!c.allows(&["Lock.Operate"]));
    }
}
