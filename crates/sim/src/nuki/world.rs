//! The Nuki fake's ground truth: the account's devices, their authorizations and logs, and the
//! writes Nuki accepted that the devices have not applied yet.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::rng::Rng;
use crate::wall_ms;

/// Settings of the fake, changed through `POST /_sim/config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NukiConfig {
    /// How long after Nuki's 204 an authorization write shows (the device applies it).
    pub write_delay_ms: i64,
    /// How long after Nuki's 204 an action is done.
    pub action_delay_ms: i64,
    /// Keypad codes a lock holds. Nuki publishes no figure; 100 is the fake's.
    pub keypad_capacity: usize,
    /// The status of a code the lock holds already. Unconfirmed; 409 is the likely one.
    pub duplicate_status: u16,
}

impl Default for NukiConfig {
    fn default() -> Self {
        NukiConfig {
            write_delay_ms: 300,
            action_delay_ms: 300,
            keypad_capacity: 100,
            duplicate_status: 409,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Lock {
    pub smartlock_id: i64,
    pub account_id: i64,
    pub kind: i32,
    pub name: String,
    /// The API token's own slot on the lock.
    pub auth_id: i64,
    pub timezone_id: i32,
    pub keypad_paired: bool,
    /// 0 online, 4 offline.
    pub server_state: i32,
    pub state: i32,
    pub last_action: i32,
    pub trigger: i32,
    pub battery_charge: i32,
    pub battery_critical: bool,
    pub door_state: i32,
    /// The next action blocks the motor (state 254, log state 1).
    pub jam_next: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Auth {
    pub id: String,
    pub smartlock_id: i64,
    pub auth_id: i64,
    pub kind: i32,
    pub name: String,
    pub code: Option<i64>,
    pub enabled: bool,
    pub allowed_from_date: Option<String>,
    pub allowed_until_date: Option<String>,
    pub allowed_week_days: Option<i64>,
    pub allowed_from_time: Option<i64>,
    pub allowed_until_time: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub id: String,
    pub smartlock_id: i64,
    pub auth_id: Option<String>,
    pub name: String,
    pub action: i32,
    pub trigger: i32,
    pub state: i32,
    pub date_ms: i64,
    pub source: i32,
}

/// A write Nuki accepted, applied by the device at `due_ms` (dropped if it is offline then).
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    pub due_ms: i64,
    pub smartlock_id: i64,
    pub op: Op,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create(Auth),
    Update(Auth),
    Delete { id: String },
    Action { action: i32 },
}

#[derive(Debug, Serialize)]
pub struct World {
    pub seed: u64,
    #[serde(skip)]
    pub rng: Rng,
    /// The account's API tokens (every token sees every device of the account).
    #[serde(skip)]
    pub tokens: Vec<String>,
    pub locks: BTreeMap<i64, Lock>,
    /// By authorization id.
    pub auths: BTreeMap<String, Auth>,
    pub logs: Vec<LogEntry>,
    pub pending: Vec<Pending>,
    pub faults: Faults,
    pub clock_offset_ms: i64,
    pub config: NukiConfig,
    pub calls: BTreeMap<String, u64>,
    #[serde(skip)]
    log_seq: u64,
    #[serde(skip)]
    slots: HashMap<i64, i64>,
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            seed,
            rng: Rng::new(seed ^ 0x4e75),
            tokens: Vec::new(),
            locks: BTreeMap::new(),
            auths: BTreeMap::new(),
            logs: Vec::new(),
            pending: Vec::new(),
            faults: Faults::default(),
            clock_offset_ms: 0,
            config: NukiConfig::default(),
            calls: BTreeMap::new(),
            log_seq: 0,
            slots: HashMap::new(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.clock_offset_ms
    }

    pub fn count_call(&mut self, key: &str) {
        *self.calls.entry(key.to_owned()).or_default() += 1;
    }

    /// A new API token of the account.
    pub fn add_token(&mut self) -> String {
        let token = self.rng.hex(80);
        self.tokens.push(token.clone());
        token
    }

    /// A new smart lock (type 4) with a paired keypad, online, locked; its id is wider than
    /// 32 bits (a type digit before the 8-hex-digit Nuki ID, as real ids are).
    pub fn add_lock(&mut self, name: &str, timezone_id: i32) -> Lock {
        let nuki_id = self.rng.next_u64() & 0xffff_ffff;
        let lock = Lock {
            smartlock_id: (4 << 32) | nuki_id as i64,
            account_id: 987_654_321,
            kind: 4,
            name: name.to_owned(),
            auth_id: 1_000_000 + self.rng.below(1_000_000) as i64,
            timezone_id,
            keypad_paired: true,
            server_state: 0,
            state: 1,
            last_action: 2,
            trigger: 6,
            battery_charge: 90,
            battery_critical: false,
            door_state: 2,
            jam_next: false,
        };
        self.locks.insert(lock.smartlock_id, lock.clone());
        lock
    }

    pub fn valid_token(&self, token: &str) -> bool {
        self.tokens.iter().any(|t| t == token)
    }

    /// A new authorization id: 24 hexadecimal digits, as Nuki's are.
    pub fn new_auth_id(&mut self) -> String {
        self.rng.hex(24)
    }

    /// The next free slot on a lock.
    pub fn next_slot(&mut self, lock: i64) -> i64 {
        let slot = self.slots.entry(lock).or_insert(0);
        *slot += 1;
        *slot
    }

    /// Keypad codes of `lock` as the device holds them, and as they will be once the accepted
    /// writes are applied (a code is taken from the moment Nuki accepts it).
    pub fn codes_taken(&self, lock: i64, except: Option<&str>) -> Vec<i64> {
        let held = self.auths.values().filter(|a| a.smartlock_id == lock);
        let coming = self
            .pending
            .iter()
            .filter(|p| p.smartlock_id == lock)
            .filter_map(|p| match &p.op {
                Op::Create(a) | Op::Update(a) => Some(a),
                _ => None,
            });
        held.chain(coming)
            .filter(|a| except != Some(a.id.as_str()))
            .filter_map(|a| a.code)
            .collect()
    }

    pub fn accept(&mut self, smartlock_id: i64, op: Op, delay_ms: i64) {
        let due_ms = self.now_ms() + delay_ms;
        self.pending.push(Pending {
            due_ms,
            smartlock_id,
            op,
        });
    }

    /// Applies the accepted writes that are due; an offline device drops them (Nuki's 204
    /// promised nothing).
    pub fn settle(&mut self) {
        let now = self.now_ms();
        let (due, later): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(|p| p.due_ms <= now);
        self.pending = later;
        for p in due {
            let online = self
                .locks
                .get(&p.smartlock_id)
                .is_some_and(|l| l.server_state == 0);
            if !online {
                continue;
            }
            match p.op {
                Op::Create(a) | Op::Update(a) => {
                    self.auths.insert(a.id.clone(), a);
                }
                Op::Delete { id } => {
                    self.auths.remove(&id);
                }
                Op::Action { action } => self.act(p.smartlock_id, action, p.due_ms),
            }
        }
    }

    /// A lock does what it was asked (`trigger` 4: through the web).
    fn act(&mut self, lock: i64, action: i32, at: i64) {
        let Some(l) = self.locks.get_mut(&lock) else {
            return;
        };
        let (state, done) = if std::mem::take(&mut l.jam_next) {
            (254, 1)
        } else {
            let state = match action {
                1 | 6 => 3,
                3 => 5,
                _ => 1,
            };
            (state, 0)
        };
        l.state = state;
        l.last_action = action;
        l.trigger = 4;
        let name = "lockbridge".to_owned();
        self.log(lock, None, name, action, 4, done, at, 0);
    }

    /// Someone types `code` on the lock's keypad: a known, enabled code unlocks (trigger 255,
    /// source 1, its authorization named); another is refused (state 224).
    pub fn keypad_entry(&mut self, lock: i64, code: i64) -> bool {
        let at = self.now_ms();
        let found = self
            .auths
            .values()
            .find(|a| a.smartlock_id == lock && a.code == Some(code) && a.enabled)
            .map(|a| (a.id.clone(), a.name.clone()));
        match found {
            Some((id, name)) => {
                if let Some(l) = self.locks.get_mut(&lock) {
                    l.state = 3;
                    l.last_action = 1;
                    l.trigger = 255;
                }
                self.log(lock, Some(id), name, 1, 255, 0, at, 1);
                true
            }
            None => {
                self.log(lock, None, String::new(), 1, 255, 224, at, 1);
                false
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn log(
        &mut self,
        lock: i64,
        auth_id: Option<String>,
        name: String,
        action: i32,
        trigger: i32,
        state: i32,
        at: i64,
        source: i32,
    ) {
        self.log_seq += 1;
        // Increasing, like the ObjectIds Nuki pages by: the time, then a sequence.
        let id = format!("{:08x}{:016x}", at / 1000, self.log_seq);
        self.logs.push(LogEntry {
            id,
            smartlock_id: lock,
            auth_id,
            name,
            action,
            trigger,
            state,
            date_ms: at,
            source,
        });
    }
}

/// Nuki's keypad rules: six digits, `1`–`9` only, not beginning with `12`.
pub fn valid_code(code: i64) -> bool {
    let text = code.to_string();
    text.len() == 6 && !text.contains('0') && !text.starts_with("12")
}
