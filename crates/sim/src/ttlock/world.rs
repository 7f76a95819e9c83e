//! The TTLock fake's ground truth: accounts, tokens, gateways, locks, passcodes and records,
//! and the rules the cloud applies to them.

use std::collections::{BTreeMap, HashMap};

use md5::{Digest, Md5};
use serde::Serialize;

use super::errors::ApiErr;
use crate::faults::Faults;
use crate::rng::Rng;
use crate::wall_ms;

/// Default access-token lifetime: 90 days, in seconds (TTLock's OAuth documentation).
pub const TOKEN_TTL_S: i64 = 7_776_000;
/// The cloud's default passcode capacity per lock (§8).
pub const DEFAULT_CAPACITY: usize = 250;

pub fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// Settings of the fake, changed through `POST /_sim/config`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Passcodes a lock holds before `-3009`.
    pub capacity: usize,
    /// How long a gateway command keeps the gateway busy (real gateways take ~3.5 s).
    pub gateway_latency_ms: u64,
    /// Access-token lifetime handed out by `/oauth2/token`.
    pub token_ttl_s: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            capacity: DEFAULT_CAPACITY,
            gateway_latency_ms: 0,
            token_ttl_s: TOKEN_TTL_S,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub uid: i64,
    pub username: String,
    /// Only the MD5 of the password is kept, as the cloud does.
    pub password_md5: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessToken {
    pub uid: i64,
    pub client_id: String,
    pub expires_at_ms: i64,
    /// Presented on a `/v3` call at least once: its holder has it.
    pub used: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefreshToken {
    pub uid: i64,
    pub client_id: String,
    /// Renewed with once already.
    pub used: bool,
    /// The access token its first renewal issued.
    pub successor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gateway {
    pub id: i64,
    pub owner_uid: i64,
    pub name: String,
    pub mac: String,
    pub version: i64,
    pub network_name: String,
    pub online: bool,
    /// A command is being carried out; another one gets `-3003`.
    pub busy: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Passcode {
    pub id: i64,
    pub code: String,
    pub name: Option<String>,
    /// keyboardPwdType: 2 permanent, 3 period, 1 and 4–14 for algorithmic codes.
    pub kind: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub send_ms: i64,
    pub is_custom: bool,
    pub sender: String,
    /// Written to the lock itself (through a gateway, or already there); a code only recorded in
    /// the cloud (Bluetooth add type without the app) does not open the door.
    pub on_lock: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: i64,
    pub record_type: i64,
    pub success: bool,
    pub username: Option<String>,
    pub keyboard_pwd: Option<String>,
    pub lock_ms: i64,
    pub server_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lock {
    pub id: i64,
    pub owner_uid: i64,
    pub name: String,
    pub alias: String,
    pub mac: String,
    pub battery: i64,
    pub gateway_id: Option<i64>,
    /// A Wi-Fi lock reaches the cloud itself (featureValue bit 56), without a gateway.
    pub wifi: bool,
    pub online: bool,
    /// 0 locked, 1 unlocked (queryOpenState).
    pub state: i64,
    pub group_id: i64,
    pub remote_unlock: bool,
    pub timezone_raw_offset: i64,
    pub init_ms: i64,
    pub passcodes: BTreeMap<i64, Passcode>,
    /// Oldest first; listed newest first.
    pub records: Vec<Record>,
    /// (start, end) of every period code the algorithm handed out.
    #[serde(skip)]
    pub issued_periods: std::collections::BTreeSet<(i64, i64)>,
}

impl Lock {
    /// featureValue as upper-case hex: passcode, IC card, remote lock, gateway unlock, freeze,
    /// cyclic codes and passage mode, plus Wi-Fi (bit 56) on Wi-Fi locks.
    pub fn feature_value(&self) -> String {
        let mut bits: u128 = (1 << 0) | (1 << 1) | (1 << 7) | (1 << 8) | (1 << 10);
        bits |= (1 << 11) | (1 << 12) | (1 << 14) | (1 << 22);
        if self.wifi {
            bits |= 1 << 56;
        }
        format!("{bits:X}")
    }
}

/// Counters of calls made to the fake, by route (and by grant on `/oauth2/token`).
pub type Calls = BTreeMap<String, u64>;

#[derive(Debug, Serialize)]
pub struct World {
    pub seed: u64,
    #[serde(skip)]
    pub rng: Rng,
    pub clock_offset_ms: i64,
    pub config: SimConfig,
    pub apps: BTreeMap<String, String>,
    pub users: BTreeMap<String, User>,
    #[serde(skip)]
    pub tokens: HashMap<String, AccessToken>,
    #[serde(skip)]
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub gateways: BTreeMap<i64, Gateway>,
    pub locks: BTreeMap<i64, Lock>,
    pub faults: Faults,
    pub calls: Calls,
    next_id: i64,
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            seed,
            rng: Rng::new(seed),
            clock_offset_ms: 0,
            config: SimConfig::default(),
            apps: BTreeMap::new(),
            users: BTreeMap::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            gateways: BTreeMap::new(),
            locks: BTreeMap::new(),
            faults: Faults::default(),
            calls: Calls::new(),
            next_id: 0,
        }
    }

    /// The simulated time: the wall clock moved by `/_sim/clock`.
    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.clock_offset_ms
    }

    /// Ids grow from a per-kind base so that they look like the cloud's (8-digit passcode ids…).
    pub fn next_id(&mut self, base: i64) -> i64 {
        self.next_id += 1;
        base + self.next_id
    }

    pub fn count_call(&mut self, key: &str) {
        *self.calls.entry(key.to_owned()).or_default() += 1;
    }

    pub fn add_app(
        &mut self,
        client_id: Option<String>,
        secret: Option<String>,
    ) -> (String, String) {
        let id = client_id.unwrap_or_else(|| self.rng.hex(32));
        let secret = secret.unwrap_or_else(|| self.rng.hex(32));
        self.apps.insert(id.clone(), secret.clone());
        (id, secret)
    }

    pub fn add_user(&mut self, username: &str, password: &str) -> i64 {
        if let Some(user) = self.users.get_mut(username) {
            user.password_md5 = md5_hex(password);
            return user.uid;
        }
        let uid = self.next_id(2_300_000);
        self.users.insert(
            username.to_owned(),
            User {
                uid,
                username: username.to_owned(),
                password_md5: md5_hex(password),
            },
        );
        uid
    }

    pub fn uid_of(&self, username: &str) -> Option<i64> {
        self.users.get(username).map(|u| u.uid)
    }

    pub fn username_of(&self, uid: i64) -> Option<&str> {
        self.users
            .values()
            .find(|u| u.uid == uid)
            .map(|u| u.username.as_str())
    }

    fn mac(&mut self) -> String {
        let hex = self.rng.hex(12).to_uppercase();
        let pairs: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
        pairs.join(":")
    }

    pub fn add_gateway(&mut self, owner_uid: i64, name: &str, online: bool) -> i64 {
        let id = self.next_id(78_000);
        let mac = self.mac();
        let network_name = format!("{name}-wifi");
        self.gateways.insert(
            id,
            Gateway {
                id,
                owner_uid,
                name: name.to_owned(),
                mac,
                version: 2,
                network_name,
                online,
                busy: false,
            },
        );
        id
    }

    pub fn add_lock(&mut self, spec: LockSpec) -> i64 {
        let id = self.next_id(3_200_000);
        let mac = self.mac();
        let name = format!("S31_{}", mac.replace(':', "")[6..].to_lowercase());
        let init_ms = self.now_ms();
        self.locks.insert(
            id,
            Lock {
                id,
                owner_uid: spec.owner_uid,
                name,
                alias: spec.alias,
                mac,
                battery: spec.battery,
                gateway_id: spec.gateway_id,
                wifi: spec.wifi,
                online: spec.online,
                state: 0,
                group_id: 0,
                remote_unlock: true,
                timezone_raw_offset: 0,
                init_ms,
                passcodes: BTreeMap::new(),
                records: Vec::new(),
                issued_periods: Default::default(),
            },
        );
        id
    }

    /// Puts a passcode on a lock as if it had been set there outside the API (keypad, app).
    pub fn put_passcode(&mut self, lock_id: i64, spec: PasscodeSpec) -> Option<i64> {
        let id = self.next_id(80_700_000);
        let now = self.now_ms();
        let lock = self.locks.get_mut(&lock_id)?;
        let sender = self
            .users
            .values()
            .find(|u| u.uid == lock.owner_uid)
            .map(|u| u.username.clone())
            .unwrap_or_default();
        let kind = if spec.start_ms.is_some() { 3 } else { 2 };
        lock.passcodes.insert(
            id,
            Passcode {
                id,
                code: spec.code,
                name: spec.name,
                kind,
                start_ms: spec.start_ms.unwrap_or(0),
                end_ms: spec.end_ms.unwrap_or(0),
                send_ms: now,
                is_custom: true,
                sender,
                on_lock: true,
            },
        );
        Some(id)
    }

    /// Adds a record to a lock's log, stamped with the simulated time.
    pub fn log(
        &mut self,
        lock_id: i64,
        record_type: i64,
        success: bool,
        who: Option<String>,
        pwd: Option<String>,
    ) {
        let id = self.next_id(1_600_000_000);
        let now = self.now_ms();
        if let Some(lock) = self.locks.get_mut(&lock_id) {
            lock.records.push(Record {
                id,
                record_type,
                success,
                username: who,
                keyboard_pwd: pwd,
                lock_ms: now,
                server_ms: now,
            });
        }
    }

    /// Someone types `code` on the lock's keypad: it opens when a code on the lock is valid now.
    pub fn keypad(&mut self, lock_id: i64, code: &str) -> Option<bool> {
        let now = self.now_ms();
        let lock = self.locks.get_mut(&lock_id)?;
        let hit = lock
            .passcodes
            .values()
            .find(|p| p.code == code && p.on_lock)
            .filter(|p| p.kind == 2 || (p.start_ms <= now && now < p.end_ms || p.end_ms == 0))
            .map(|p| p.name.clone());
        let opened = hit.is_some();
        if opened {
            lock.state = 1;
        }
        let who = hit.flatten();
        self.log(lock_id, 4, opened, who, Some(code.to_owned()));
        Some(opened)
    }

    /// The lock a caller may administer, or the cloud's error.
    pub fn own_lock(&self, uid: i64, lock_id: i64) -> Result<&Lock, ApiErr> {
        let lock = self.locks.get(&lock_id).ok_or(ApiErr::code(-1003))?;
        if lock.owner_uid != uid {
            return Err(ApiErr::code(20002));
        }
        Ok(lock)
    }

    pub fn own_lock_mut(&mut self, uid: i64, lock_id: i64) -> Result<&mut Lock, ApiErr> {
        self.own_lock(uid, lock_id)?;
        self.locks.get_mut(&lock_id).ok_or(ApiErr::code(-1003))
    }

    /// Checks that a command can reach the lock now and returns the gateway it goes through
    /// (none for a Wi-Fi lock). The gateway is not yet marked busy.
    pub fn route_to_lock(&self, lock_id: i64) -> Result<Option<i64>, ApiErr> {
        let lock = self.locks.get(&lock_id).ok_or(ApiErr::code(-1003))?;
        if lock.wifi {
            return if lock.online {
                Ok(None)
            } else {
                Err(ApiErr::code(-3036))
            };
        }
        let gw_id = lock.gateway_id.ok_or(ApiErr::code(-2012))?;
        let gw = self.gateways.get(&gw_id).ok_or(ApiErr::code(-2012))?;
        if !gw.online {
            return Err(ApiErr::code(-3002));
        }
        if gw.busy {
            return Err(ApiErr::code(-3003));
        }
        if !lock.online {
            // The gateway cannot reach the lock. The cloud's code for this case is
            // unconfirmed; -3036 ("The lock is offline") is the documented nearest.
            return Err(ApiErr::code(-3036));
        }
        Ok(Some(gw_id))
    }
}

/// A lock to create (the control API's `POST /_sim/locks` builds one).
#[derive(Debug, Clone)]
pub struct LockSpec {
    pub owner_uid: i64,
    pub alias: String,
    pub gateway_id: Option<i64>,
    pub wifi: bool,
    pub online: bool,
    pub battery: i64,
}

impl LockSpec {
    pub fn new(owner_uid: i64, alias: &str) -> Self {
        LockSpec {
            owner_uid,
            alias: alias.into(),
            gateway_id: None,
            wifi: false,
            online: true,
            battery: 100,
        }
    }
}

/// A passcode put on a lock outside the API (`POST /_sim/locks/{id}/passcodes`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasscodeSpec {
    pub code: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub start_ms: Option<i64>,
    #[serde(default)]
    pub end_ms: Option<i64>,
}
