//! The SwitchBot fake's ground truth: the account, its hub, locks and keypads with their keys,
//! the commands the keypads have not carried out yet, and the day's request count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::rng::Rng;
use crate::wall_ms;

/// Settings of the fake, changed through `POST /_sim/config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwitchBotConfig {
    /// Requests an account may make in a UTC day (SwitchBot's 10,000).
    pub daily_limit: u64,
    /// How long after SwitchBot's answer a keypad carries out `createKey` / `deleteKey`.
    pub key_delay_ms: i64,
    /// Commands to keypads are accepted and never carried out (a field report).
    pub keys_never_applied: bool,
    /// `deleteKey` answers success and leaves the key (a documented field report).
    pub ghost_delete: bool,
    /// Webhook events are not sent (they often never arrive).
    pub drop_webhooks: bool,
    /// Checks that `t` is within five minutes of the fake's clock (SwitchBot documents no
    /// window: off by default, the lenient reading).
    pub check_time: bool,
}

impl Default for SwitchBotConfig {
    fn default() -> Self {
        SwitchBotConfig {
            daily_limit: 10_000,
            key_delay_ms: 300,
            keys_never_applied: false,
            ghost_delete: false,
            drop_webhooks: false,
            check_time: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Lock {
    pub device_id: String,
    pub name: String,
    pub device_type: String,
    pub hub_device_id: String,
    /// `locked`, `unlocked`, `jammed`.
    pub lock_state: String,
    /// `opened`, `closed`.
    pub door_state: String,
    pub battery: i64,
    pub online: bool,
    /// The next command jams it.
    pub jam_next: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Key {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// In clear: this is the ground truth (the API shows it encrypted).
    pub password: String,
    pub iv: String,
    pub status: String,
    pub create_time: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Keypad {
    pub device_id: String,
    pub name: String,
    pub device_type: String,
    pub hub_device_id: String,
    pub lock_device_id: String,
    pub online: bool,
    pub keys: Vec<Key>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hub {
    pub device_id: String,
    pub name: String,
    pub online: bool,
}

/// A keypad command SwitchBot accepted, carried out at `due_ms`.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    pub due_ms: i64,
    pub keypad: String,
    pub command_id: String,
    pub op: KeyOp,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KeyOp {
    Create(Key),
    Delete { id: i64 },
}

/// A webhook event waiting to be sent.
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    pub url: String,
    pub body: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct World {
    pub seed: u64,
    #[serde(skip)]
    pub rng: Rng,
    #[serde(skip)]
    pub token: String,
    #[serde(skip)]
    pub secret: String,
    pub hubs: BTreeMap<String, Hub>,
    pub locks: BTreeMap<String, Lock>,
    pub keypads: BTreeMap<String, Keypad>,
    pub pending: Vec<Pending>,
    /// The account's webhook: its URL and whether it is enabled, with its times.
    pub webhook: Option<(String, bool, i64, i64)>,
    /// Events waiting to be sent.
    pub outbox: Vec<Outgoing>,
    /// Events sent (or dropped, with `drop_webhooks`) so far.
    pub sent: Vec<Outgoing>,
    /// Requests counted on each UTC day (days since the epoch).
    pub requests_by_day: BTreeMap<i64, u64>,
    pub faults: Faults,
    pub clock_offset_ms: i64,
    pub config: SwitchBotConfig,
    pub calls: BTreeMap<String, u64>,
    #[serde(skip)]
    next_key: i64,
    #[serde(skip)]
    command_seq: u64,
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            seed,
            rng: Rng::new(seed ^ 0x5b07),
            token: String::new(),
            secret: String::new(),
            hubs: BTreeMap::new(),
            locks: BTreeMap::new(),
            keypads: BTreeMap::new(),
            pending: Vec::new(),
            webhook: None,
            outbox: Vec::new(),
            sent: Vec::new(),
            requests_by_day: BTreeMap::new(),
            faults: Faults::default(),
            clock_offset_ms: 0,
            config: SwitchBotConfig::default(),
            calls: BTreeMap::new(),
            next_key: 10,
            command_seq: 0,
        }
    }

    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.clock_offset_ms
    }

    pub fn count_call(&mut self, key: &str) {
        *self.calls.entry(key.to_owned()).or_default() += 1;
    }

    /// The account's credentials: a 96-hex-digit token, a 32-hex-digit secret.
    pub fn open_account(&mut self) -> (String, String) {
        self.token = self.rng.hex(96);
        self.secret = self.rng.hex(32);
        (self.token.clone(), self.secret.clone())
    }

    /// A device id: a MAC as 12 upper-case hex digits.
    pub fn mac(&mut self) -> String {
        self.rng.hex(12).to_ascii_uppercase()
    }

    /// Counts a request against today's budget; `false` once the day's are spent.
    pub fn spend(&mut self) -> bool {
        let day = self.now_ms().div_euclid(86_400_000);
        let used = self.requests_by_day.entry(day).or_default();
        *used += 1;
        *used <= self.config.daily_limit
    }

    pub fn command_id(&mut self) -> String {
        self.command_seq += 1;
        format!("CMD{}{:02}", self.now_ms(), self.command_seq % 100)
    }

    pub fn next_key_id(&mut self) -> i64 {
        self.next_key += 1;
        self.next_key
    }

    /// Carries out the keypad commands that are due (a keypad offline then drops them), and
    /// queues their webhook events.
    pub fn settle(&mut self) {
        let now = self.now_ms();
        let (due, later): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(|p| p.due_ms <= now);
        self.pending = later;
        for p in due {
            let Some(pad) = self.keypads.get_mut(&p.keypad) else {
                continue;
            };
            let reachable =
                pad.online && self.hubs.get(&pad.hub_device_id).is_none_or(|h| h.online);
            let (event, result) = match p.op {
                KeyOp::Create(key) if reachable => {
                    pad.keys.push(key);
                    ("createKey", "success")
                }
                KeyOp::Delete { id } if reachable => {
                    if !self.config.ghost_delete {
                        pad.keys.retain(|k| k.id != id);
                    }
                    ("deleteKey", "success")
                }
                KeyOp::Create(_) => ("createKey", "timeout"),
                KeyOp::Delete { .. } => ("deleteKey", "timeout"),
            };
            let body = serde_json::json!({
                "eventType": "changeReport",
                "eventVersion": "1",
                "context": {
                    "deviceType": "WoKeypadTouch",
                    "deviceMac": p.keypad,
                    "eventName": event,
                    "commandId": p.command_id,
                    "result": result,
                    "timeOfSample": now,
                },
            });
            self.notify(body);
        }
    }

    /// Queues an event for the account's webhook, if one is set and enabled.
    pub fn notify(&mut self, body: serde_json::Value) {
        if let Some((url, true, _, _)) = &self.webhook {
            self.outbox.push(Outgoing {
                url: url.clone(),
                body,
            });
        }
    }

    /// The events to send now (none when they are dropped); all are kept in `sent`.
    pub fn take_outbox(&mut self) -> Vec<Outgoing> {
        let out: Vec<Outgoing> = self.outbox.drain(..).collect();
        self.sent.extend(out.iter().cloned());
        if self.config.drop_webhooks {
            return Vec::new();
        }
        out
    }
}
