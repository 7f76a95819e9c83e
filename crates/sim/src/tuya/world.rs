//! The Tuya fake's ground truth: projects, tokens, tickets, lock devices with their temporary,
//! offline and dynamic passwords and logs, and how a lock takes a password over time.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::rng::Rng;
use crate::wall_ms;

/// Token lifetime (2 hours).
pub const TOKEN_TTL_S: i64 = 7200;
/// Ticket lifetime (the doc example shows 360 s left).
pub const TICKET_TTL_S: i64 = 360;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Wifi,
    Zigbee,
    Ble,
}

impl Protocol {
    /// Online temporary passwords: 7 digits on Wi-Fi, 6 on Zigbee and Bluetooth.
    pub fn pin_length(self) -> usize {
        match self {
            Protocol::Wifi => 7,
            _ => 6,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub client_id: String,
    #[serde(skip)]
    pub secret: String,
    pub uid: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Token {
    pub client_id: String,
    pub refresh_token: String,
    pub expires_at_ms: i64,
    /// Replaced by a refresh (1012 from then on).
    pub superseded: bool,
    /// Accepted on a business call at least once: its holder has it.
    pub used: bool,
    /// The access token of the pair that replaced it.
    pub successor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub device_id: String,
    #[serde(skip)]
    pub key: [u8; 16],
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScheduleItem {
    pub effective_time: i64,
    pub invalid_time: i64,
    pub working_day: i64,
}

/// An online temporary password as the lock and the cloud hold it.
#[derive(Debug, Clone, Serialize)]
pub struct TempPassword {
    pub id: i64,
    pub name: String,
    /// The plain PIN (the cloud decrypted it with the ticket); never returned by the API.
    pub pin: String,
    pub effective_time: i64,
    pub invalid_time: i64,
    pub one_use: bool,
    pub used: bool,
    pub phone: String,
    pub time_zone: String,
    pub schedule_list: Vec<ScheduleItem>,
    pub phase: i64,
    pub delivery_status: Option<i64>,
    pub frozen: bool,
    /// When the lock takes the pending change (create, modify, freeze, delete).
    pub settles_at_ms: Option<i64>,
    /// A delete is pending (Wi-Fi phase 3 "to be deleted").
    pub deleting: bool,
    pub deleted: bool,
    /// A Zigbee lock refuses it when it arrives: `delivery_status` 4 (duplicate) or 5 (full).
    pub failure: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OfflinePassword {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub password: String,
    pub effective_time: i64,
    pub invalid_time: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub time_ms: i64,
    pub code: String,
    pub value: String,
    pub nick_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub category: String,
    pub protocol: Protocol,
    pub online: bool,
    pub battery: i64,
    pub time_zone: String,
    pub product_id: String,
    pub local_key: String,
    pub created_s: i64,
    pub remote_unlock_open: bool,
    /// The bolt, as `lock_motor_state` (true = open).
    pub open: bool,
    pub passwords: BTreeMap<i64, TempPassword>,
    pub offline: Vec<OfflinePassword>,
    pub dynamic: Option<(String, i64)>,
    pub open_logs: Vec<LogEntry>,
    pub alarm_logs: Vec<LogEntry>,
}

/// Settings of the fake, changed through `POST /_sim/config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TuyaConfig {
    /// How long a lock takes to acknowledge a password change (pending → sent).
    pub delivery_ms: i64,
    /// Temporary passwords a lock holds.
    pub capacity: usize,
    /// The allowed distance of `t` from the clock, in ms.
    pub t_window_ms: i64,
    pub token_ttl_s: i64,
}

impl Default for TuyaConfig {
    fn default() -> Self {
        TuyaConfig {
            delivery_ms: 1500,
            capacity: 20,
            t_window_ms: 300_000,
            token_ttl_s: TOKEN_TTL_S,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct World {
    pub seed: u64,
    #[serde(skip)]
    pub rng: Rng,
    pub projects: BTreeMap<String, Project>,
    /// Access tokens by value.
    #[serde(skip)]
    pub tokens: HashMap<String, Token>,
    /// Refresh token → the access token it renews (one use).
    #[serde(skip)]
    pub refresh: HashMap<String, String>,
    /// Per project, the renewals refused because their pair's replacement never reached a
    /// holder (its answer was lost): each lets one grant follow as the way back.
    #[serde(skip)]
    pub lost_renewals: HashMap<String, u32>,
    #[serde(skip)]
    pub tickets: HashMap<String, Ticket>,
    /// `client_id:nonce:sign` of signed requests seen, with their `t` (replays are refused;
    /// entries older than the `t` window are dropped, since such a request is refused anyway).
    #[serde(skip)]
    pub seen: HashSet<String>,
    /// The same entries in arrival order with their wall-clock time, to drop them when old.
    #[serde(skip)]
    pub seen_order: VecDeque<(i64, String)>,
    pub devices: BTreeMap<String, Device>,
    pub faults: Faults,
    pub clock_offset_ms: i64,
    pub config: TuyaConfig,
    pub calls: BTreeMap<String, u64>,
    next_id: i64,
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            seed,
            rng: Rng::new(seed ^ 0x7a7a),
            projects: BTreeMap::new(),
            tokens: HashMap::new(),
            refresh: HashMap::new(),
            lost_renewals: HashMap::new(),
            tickets: HashMap::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            devices: BTreeMap::new(),
            faults: Faults::default(),
            clock_offset_ms: 0,
            config: TuyaConfig::default(),
            calls: BTreeMap::new(),
            next_id: 1000,
        }
    }

    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.clock_offset_ms
    }

    pub fn count_call(&mut self, key: &str) {
        *self.calls.entry(key.to_owned()).or_default() += 1;
    }

    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn alnum(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| CHARS[self.rng.below(CHARS.len() as u64) as usize] as char)
            .collect()
    }

    pub fn add_project(&mut self) -> Project {
        let p = Project {
            client_id: self.alnum(20),
            secret: self.rng.hex(32),
            uid: format!("eu{}", self.rng.digits(13)),
        };
        self.projects.insert(p.client_id.clone(), p.clone());
        p
    }

    pub fn add_device(
        &mut self,
        client_id: &str,
        name: &str,
        protocol: Protocol,
        online: bool,
    ) -> String {
        let id = format!("bf{}", self.alnum(20));
        let local_key = self.rng.hex(16);
        let product_id = self.alnum(16);
        let created_s = self.now_ms() / 1000;
        let category = match protocol {
            Protocol::Wifi => "jtmspro",
            _ => "ms",
        };
        self.devices.insert(
            id.clone(),
            Device {
                id: id.clone(),
                client_id: client_id.to_owned(),
                name: name.to_owned(),
                category: category.into(),
                protocol,
                online,
                battery: 100,
                time_zone: "+01:00".into(),
                product_id,
                local_key,
                created_s,
                remote_unlock_open: true,
                open: false,
                passwords: BTreeMap::new(),
                offline: Vec::new(),
                dynamic: None,
                open_logs: Vec::new(),
                alarm_logs: Vec::new(),
            },
        );
        id
    }

    /// A token pair for a project.
    pub fn issue_token(&mut self, client_id: &str) -> (String, Token) {
        let access = self.rng.hex(32);
        let token = Token {
            client_id: client_id.to_owned(),
            refresh_token: self.rng.hex(32),
            expires_at_ms: self.now_ms() + self.config.token_ttl_s * 1000,
            superseded: false,
            used: false,
            successor: None,
        };
        self.refresh
            .insert(token.refresh_token.clone(), access.clone());
        self.tokens.insert(access.clone(), token.clone());
        (access, token)
    }

    /// Puts a password on a lock directly (ground truth; it is active at once).
    pub fn put_password(
        &mut self,
        device_id: &str,
        name: &str,
        pin: &str,
        window: (i64, i64),
    ) -> Option<i64> {
        let id = self.next_id();
        let d = self.devices.get_mut(device_id)?;
        d.passwords.insert(
            id,
            TempPassword {
                id,
                name: name.into(),
                pin: pin.into(),
                effective_time: window.0,
                invalid_time: window.1,
                one_use: false,
                used: false,
                phone: String::new(),
                time_zone: String::new(),
                schedule_list: Vec::new(),
                phase: 2,
                delivery_status: (d.protocol == Protocol::Zigbee).then_some(2),
                frozen: false,
                settles_at_ms: None,
                deleting: false,
                deleted: false,
                failure: None,
            },
        );
        Some(id)
    }

    /// Applies what the locks did since: pending changes are taken by online locks once their
    /// delivery time passed.
    pub fn settle(&mut self) {
        let now = self.now_ms();
        for d in self.devices.values_mut() {
            if !d.online {
                continue;
            }
            let zigbee = d.protocol == Protocol::Zigbee;
            for p in d.passwords.values_mut() {
                if p.settles_at_ms.is_none_or(|at| at > now) {
                    continue;
                }
                p.settles_at_ms = None;
                if p.deleting {
                    p.deleting = false;
                    p.deleted = true;
                    p.phase = if zigbee { 4 } else { 0 };
                } else if let Some(status) = p.failure {
                    p.phase = 5;
                    p.delivery_status = Some(status);
                } else if p.frozen {
                    p.phase = if zigbee { 3 } else { 2 };
                } else {
                    p.phase = 2;
                    if zigbee {
                        p.delivery_status = Some(2);
                    }
                }
            }
        }
    }

    pub fn log_open(&mut self, device_id: &str, code: &str, value: &str, name: &str) {
        let now = self.now_ms();
        if let Some(d) = self.devices.get_mut(device_id) {
            d.open_logs.push(LogEntry {
                time_ms: now,
                code: code.into(),
                value: value.into(),
                nick_name: name.into(),
            });
        }
    }

    pub fn log_alarm(&mut self, device_id: &str, value: &str) {
        let now = self.now_ms();
        if let Some(d) = self.devices.get_mut(device_id) {
            d.alarm_logs.push(LogEntry {
                time_ms: now,
                code: "alarm_lock".into(),
                value: value.into(),
                nick_name: String::new(),
            });
        }
    }

    /// Someone types `pin` on the lock; answers whether it opened. Active temporary passwords
    /// (sent, not frozen, inside their window and schedule), offline and dynamic ones open it.
    pub fn keypad(&mut self, device_id: &str, pin: &str) -> Option<bool> {
        self.settle();
        let now = self.now_ms();
        let d = self.devices.get(device_id)?;
        let now_s = now / 1000;
        // A password's schedule is read in its own `time_zone` (an IANA name or an offset;
        // which forms Tuya takes is unconfirmed, so both are), else in the device's.
        let device_offset = parse_offset(&d.time_zone);
        let local = |p: &TempPassword| {
            let offset = crate::zone_offset_min(&p.time_zone, now).unwrap_or(device_offset);
            let minutes = now.div_euclid(60_000) + offset;
            // (minute of the day, weekday with 0 = Sunday)
            (
                minutes.rem_euclid(1440),
                (minutes.div_euclid(1440) + 4).rem_euclid(7),
            )
        };
        let temp = d.passwords.values().find(|p| {
            let (local_min, weekday) = local(p);
            p.pin == pin
                && p.phase == 2
                && !p.frozen
                && !p.deleted
                && !(p.one_use && p.used)
                && p.effective_time <= now_s
                && now_s < p.invalid_time
                && (p.schedule_list.is_empty()
                    || p.schedule_list.iter().any(|s| {
                        (s.working_day == 0 || s.working_day & (1 << weekday) != 0)
                            && s.effective_time <= local_min
                            && local_min < s.invalid_time
                    }))
        });
        let offline = d
            .offline
            .iter()
            .find(|o| o.password == pin && o.effective_time <= now_s && now_s < o.invalid_time);
        let (code, value, name) = if let Some(p) = temp {
            ("unlock_temporary", p.id.to_string(), p.name.clone())
        } else if let Some(o) = offline {
            // Whether Tuya's record names the offline password is unconfirmed: the fake names
            // it by its id, as a temporary password's record does.
            ("unlock_offline_pd", o.id.clone(), o.name.clone())
        } else if d
            .dynamic
            .as_ref()
            .is_some_and(|(code, until)| code == pin && *until > now)
        {
            ("unlock_dynamic", String::new(), String::new())
        } else {
            self.log_alarm(device_id, "wrong_password");
            return Some(false);
        };
        if let Some(p) = temp.map(|p| p.id)
            && let Some(tp) = self
                .devices
                .get_mut(device_id)
                .and_then(|d| d.passwords.get_mut(&p))
        {
            tp.used = true;
        }
        if let Some(d) = self.devices.get_mut(device_id) {
            d.open = true;
        }
        self.log_open(device_id, code, &value, &name);
        Some(true)
    }
}

/// Minutes east of UTC of `+01:00` / `-05:30` (0 for anything else).
pub fn parse_offset(tz: &str) -> i64 {
    let b = tz.as_bytes();
    if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
        return 0;
    }
    let v = tz[1..3].parse::<i64>().unwrap_or(0) * 60 + tz[4..6].parse::<i64>().unwrap_or(0);
    if b[0] == b'-' { -v } else { v }
}
