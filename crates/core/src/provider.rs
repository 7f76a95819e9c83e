//! The contract between the service and each vendor adapter.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;

use crate::credentials::{Credentials, Field};
use crate::ids::ConnectionId;
use crate::model::{Capabilities, Connection, Lock, LockState, Provider, Schedule};
use crate::rules::CodeRules;
use crate::time::Millis;

pub use crate::offline::{OfflineCode, OfflineCodes, OfflineKind};

pub use crate::vendor_error::{ErrorKind, ProviderError, ProviderResult, error_chain};

/// A verified credential set, ready to store (tokens included).
#[derive(Debug, Clone)]
pub struct Verified {
    pub credentials: Credentials,
    pub token_expires_at: Option<Millis>,
}

/// New tokens of a connection, to persist.
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    pub connection_id: ConnectionId,
    /// The token fields only (`access_token`, `refresh_token`…), merged over the stored ones.
    pub tokens: Credentials,
    pub expires_at: Option<Millis>,
}

/// Where a connection's vendor tokens live, as the adapters see it: what a vendor session
/// renewed on its own is saved there, and a token refused mid-flight is first looked for there
/// (another instance may have stored its renewal).
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Saves tokens a vendor session renewed on its own; written in the background, in order
    /// (a vendor client reports them from a synchronous callback).
    fn save(&self, update: TokenUpdate);

    /// The connection as stored now (`None`: gone, or nothing stored).
    async fn stored(&self, id: ConnectionId) -> Option<Connection>;
}

/// A token store with nothing in it, that keeps nothing (a build without a store: the OpenAPI
/// document's).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTokenStore;

#[async_trait]
impl TokenStore for NoTokenStore {
    fn save(&self, _: TokenUpdate) {}

    async fn stored(&self, _: ConnectionId) -> Option<Connection> {
        None
    }
}

#[derive(Debug, Clone)]
pub struct DeviceLock {
    pub provider_id: String,
    pub name: String,
    pub online: bool,
    /// Whether `online` is the lock's own reach as the vendor knows it; `false` where the
    /// list only knows the gateway's (TTLock): a lock a command found unreachable then stays
    /// offline until a command reaches it.
    pub reach_reported: bool,
    pub state: LockState,
    pub battery: Option<u8>,
    /// The vendor id of the gateway or bridge it is reached through.
    pub gateway: Option<String>,
    pub time_zone: Option<String>,
    /// The lock clock's offset from UTC, in minutes, where the vendor gives that and no zone.
    pub utc_offset_minutes: Option<i32>,
    pub capabilities: Capabilities,
    pub code_rules: CodeRules,
}

#[derive(Debug, Clone)]
pub struct DeviceGateway {
    pub provider_id: String,
    pub name: String,
    pub online: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Devices {
    pub locks: Vec<DeviceLock>,
    pub gateways: Vec<DeviceGateway>,
}

/// An unlock record or alarm, normalised.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LockEvent {
    #[serde(with = "crate::time::rfc3339")]
    #[schemars(with = "crate::time::Timestamp")]
    pub time: Millis,
    /// `unlock`, `lock` or `alarm`.
    pub kind: &'static str,
    /// `passcode`, `app`, `remote`, `card`, `fingerprint`, `key`, `auto`, `other`.
    pub method: &'static str,
    pub success: bool,
    /// The person or code name the vendor reports.
    pub actor: Option<String>,
    /// The vendor's own record type.
    pub provider_type: String,
    /// For an alarm, what it is: `tamper`, `jammed`, `low_battery`, `wrong_code_lockout`,
    /// `door_ajar`, `forced_open`, `high_temperature`, `power_off`, `duress`, or `None` for
    /// what no rule names (reported as `other`).
    #[serde(skip)]
    pub alarm: Option<&'static str>,
    /// The code typed, when the vendor reports it (matched to an access code by the service).
    #[serde(skip)]
    pub code: Option<String>,
    /// The vendor's id of the code used, when the vendor reports that instead (Tuya).
    #[serde(skip)]
    pub code_provider_id: Option<String>,
    /// The vendor's own id of the record, where it gives one (TTLock, Tedee).
    #[serde(skip)]
    pub record_id: Option<String>,
}

/// A code as it is on (or for) a lock.
#[derive(Debug, Clone)]
pub struct CodeSpec {
    pub code: String,
    pub name: Option<String>,
    pub starts_at: Option<Millis>,
    pub ends_at: Option<Millis>,
    /// A weekly window (recurring codes), when the lock takes them.
    pub schedule: Option<Schedule>,
}

#[derive(Debug, Clone)]
pub struct ProviderCode {
    pub provider_id: String,
    pub spec: CodeSpec,
}

/// Vendor text without NUL characters: PostgreSQL cannot store them and no person typed them.
pub fn clean(text: &mut String) {
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
}

fn clean_opt(text: &mut Option<String>) {
    if let Some(t) = text {
        clean(t);
    }
}

impl Devices {
    /// The same devices with every text cleaned ([`clean`]).
    pub fn cleaned(mut self) -> Devices {
        for l in &mut self.locks {
            clean(&mut l.provider_id);
            clean(&mut l.name);
            clean_opt(&mut l.gateway);
            clean_opt(&mut l.time_zone);
        }
        for g in &mut self.gateways {
            clean(&mut g.provider_id);
            clean(&mut g.name);
        }
        self
    }
}

impl ProviderCode {
    /// The same code with every text cleaned ([`clean`]).
    pub fn cleaned(mut self) -> ProviderCode {
        clean(&mut self.provider_id);
        clean(&mut self.spec.code);
        clean_opt(&mut self.spec.name);
        self
    }

    /// Whether this code found on the lock is `code`: the same PIN where the vendor reports
    /// PINs, else the same name and window (to the second).
    pub fn is(&self, code: &crate::model::AccessCode) -> bool {
        let f = &self.spec;
        if f.code.is_empty() {
            f.name == code.name
                && f.starts_at.map(|t| t / 1000) == code.starts_at.map(|t| t / 1000)
                && f.ends_at.map(|t| t / 1000) == code.ends_at.map(|t| t / 1000)
        } else {
            f.code == code.code
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CodeChange {
    pub name: Option<String>,
    pub code: Option<String>,
    pub period: Option<(Millis, Millis)>,
    pub schedule: Option<Schedule>,
}

/// A Kii thing (a device registered in a Kii application).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Thing")]
pub struct ThingInfo {
    pub vendor_thing_id: String,
    pub thing_id: String,
    pub thing_type: Option<String>,
    pub vendor: Option<String>,
    pub product_name: Option<String>,
    pub firmware_version: Option<String>,
    pub disabled: bool,
    pub online: Option<bool>,
    #[serde(with = "crate::time::rfc3339_opt")]
    #[schemars(with = "Option<crate::time::Timestamp>")]
    pub created_at: Option<Millis>,
}

/// One page of things; `next` is the vendor's opaque key for the following page.
#[derive(Debug, Clone)]
pub struct ThingPage {
    pub things: Vec<ThingInfo>,
    pub next: Option<String>,
}

/// Where a code written to a lock stands, for vendors that confirm asynchronously.
#[derive(Debug, Clone)]
pub enum CodeState {
    /// The vendor has it; the lock has not taken it yet.
    Pending,
    /// On the lock.
    Active,
    /// No longer on the lock (a delete completed).
    Gone,
    /// The lock refused it (duplicate, full…).
    Failed(ProviderError),
}

/// One vendor cloud, as the service sees it: what every vendor does (credentials, tokens,
/// devices), and the optional capabilities it has. A capability a vendor lacks is `None`, so
/// no adapter writes methods it cannot do; callers ask with [`dyn Vendor::code_api`] and the like,
/// which answer the `Unsupported` error.
///
/// Each adapter keeps one vendor client per connection (rebuilt when the connection's
/// credentials change), so the methods take the connection and reach its session.
#[async_trait]
pub trait Vendor: Send + Sync {
    fn provider(&self) -> Provider;

    /// The credentials a caller gives for this vendor (the names of `lockbridge sim --json`).
    fn credential_fields(&self) -> &'static [Field];

    /// Checks a credential set with the vendor; nothing of the service's state changes.
    async fn verify(
        &self,
        base_url: Option<&str>,
        credentials: &Credentials,
    ) -> ProviderResult<Verified>;

    /// Renews the connection's tokens now. A vendor whose credential does not expire (a
    /// personal key, an API token) has nothing to renew: by default, no tokens.
    async fn refresh(&self, conn: &Connection) -> ProviderResult<TokenUpdate> {
        Ok(TokenUpdate {
            connection_id: conn.id,
            tokens: Credentials::new(),
            expires_at: None,
        })
    }

    /// The account's locks and gateways (none for vendors without locks).
    async fn devices(&self, conn: &Connection) -> ProviderResult<Devices>;

    /// How long before its token expires the token worker renews a connection; `None` takes
    /// the service's setting. Vendors whose tokens live shorter than that setting say so here,
    /// or every pass of the worker would renew them.
    fn refresh_margin(&self) -> Option<Duration> {
        None
    }

    /// How many log reads an account may spend per hour, when the vendor's request budget is
    /// small enough to matter: the log worker spaces each lock's reads so that all the account's
    /// locks together stay within it.
    fn log_reads_per_hour(&self) -> Option<u32> {
        None
    }

    /// The request rate of each account when the operator configured none: the vendor's
    /// published limit (`None`: unpaced).
    fn default_rate(&self) -> Option<crate::budgets::Rate> {
        None
    }

    /// Where `lock` takes commands, and how many of a bulk job's items are worked at once in
    /// that lane. By default each connection is a lane of four (the account's budget paces
    /// them); a vendor whose hub takes one command at a time names the hub.
    fn command_lane(&self, lock: &Lock) -> CommandLane {
        CommandLane {
            key: format!("connection {}", lock.connection_id),
            width: 4,
        }
    }

    /// Whether a code written with a weekly window carries its own time zone. When it does not
    /// (the default), the lock reads the window in its own zone, so a native window must be in
    /// the lock's zone.
    fn code_carries_zone(&self) -> bool {
        false
    }

    /// PIN codes on locks.
    fn codes(&self) -> Option<&dyn Codes> {
        None
    }

    /// Freezing a code: it stays on the lock but does not open.
    fn freezing(&self) -> Option<&dyn Freezing> {
        None
    }

    /// Remote unlock and lock.
    fn operations(&self) -> Option<&dyn Operations> {
        None
    }

    /// The locks' own records (unlocks, alarms).
    fn logs(&self) -> Option<&dyn Logs> {
        None
    }

    /// Algorithmic codes the lock computes itself.
    fn offline_codes(&self) -> Option<&dyn OfflineCodes> {
        None
    }

    /// Things of an application (Kii).
    fn things(&self) -> Option<&dyn Things> {
        None
    }

    /// Events the vendor posts to the service (`/vendor-hooks/{vendor}/…`).
    fn hooks(&self) -> Option<&dyn VendorHooks> {
        None
    }
}

/// Events a vendor posts on its own. They only tell the service where to look sooner: what
/// is on a lock is still read from the vendor, as a self-hosted service may never receive them.
#[async_trait]
pub trait VendorHooks: Send + Sync {
    /// The locks (their vendor ids) an event posted for `conn`'s account concerns; an event of
    /// no interest concerns none. `Err` with `InvalidInput` for a body that is not an event.
    async fn locks_in(&self, conn: &Connection, body: &[u8]) -> ProviderResult<Vec<String>>;

    /// Points the account's events at `url`. The vendor keeps one URL an account: another one
    /// already there is an `AlreadyExists` error naming it, unless `replace`. Answers the URL
    /// replaced, if any.
    async fn register(
        &self,
        conn: &Connection,
        url: &str,
        replace: bool,
    ) -> ProviderResult<Option<String>>;
}

/// A queue of commands: the work of one key runs `width` at a time, lanes side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLane {
    pub key: String,
    pub width: usize,
}

/// PIN codes written to and read from locks.
#[async_trait]
pub trait Codes: Send + Sync {
    async fn list_codes(&self, conn: &Connection, lock: &Lock)
    -> ProviderResult<Vec<ProviderCode>>;

    /// Writes a code to the lock; answers the vendor's id for it.
    async fn create_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        spec: &CodeSpec,
    ) -> ProviderResult<String>;

    async fn update_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
        change: &CodeChange,
    ) -> ProviderResult<()>;

    async fn delete_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
    ) -> ProviderResult<()>;

    /// Whether the lock's list tells each code's period. When it does not (SwitchBot's key
    /// list keeps no times), a listed code's period is not compared with what was written.
    fn lists_periods(&self) -> bool {
        true
    }

    /// Whether a code written (created, changed, deleted) is on the lock only once the vendor
    /// says so later ([`Codes::code_state`]); otherwise a successful call means it is.
    fn confirms_asynchronously(&self) -> bool {
        false
    }

    /// Where a written code stands (asked only of vendors that confirm asynchronously).
    async fn code_state(
        &self,
        _conn: &Connection,
        _lock: &Lock,
        _provider_id: &str,
    ) -> ProviderResult<CodeState> {
        Ok(CodeState::Active)
    }
}

#[async_trait]
pub trait Freezing: Send + Sync {
    /// Freezes (or unfreezes) a code on the lock.
    async fn freeze_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
        frozen: bool,
    ) -> ProviderResult<()>;
}

#[async_trait]
pub trait Operations: Send + Sync {
    async fn unlock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()>;

    async fn lock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()>;
}

#[async_trait]
pub trait Logs: Send + Sync {
    /// The lock's records from `since` on (as far back as the adapter reads when `None`),
    /// newest first, at most `limit`: the vendor's pages are read until one reaches `since`.
    async fn events(
        &self,
        conn: &Connection,
        lock: &Lock,
        since: Option<Millis>,
        limit: u32,
    ) -> ProviderResult<Vec<LockEvent>>;
}

#[async_trait]
pub trait Things: Send + Sync {
    /// The vendor's rule for a thing's password, checked before it is sent: the rule broken.
    fn check_password(&self, password: &str) -> Result<(), String> {
        let _ = password;
        Ok(())
    }

    /// One page of the application's things.
    async fn things(
        &self,
        conn: &Connection,
        limit: u32,
        cursor: Option<&str>,
    ) -> ProviderResult<ThingPage>;

    /// Sets a thing's password. The password is passed on and never kept.
    async fn set_thing_password(
        &self,
        conn: &Connection,
        vendor_thing_id: &str,
        new_password: &SecretString,
    ) -> ProviderResult<()>;
}

impl dyn Vendor {
    pub fn code_api(&self) -> ProviderResult<&dyn Codes> {
        self.codes()
            .ok_or_else(|| unsupported(self.provider(), "hold access codes"))
    }

    pub fn freezing_api(&self) -> ProviderResult<&dyn Freezing> {
        self.freezing()
            .ok_or_else(|| unsupported(self.provider(), "freeze codes"))
    }

    pub fn operations_api(&self) -> ProviderResult<&dyn Operations> {
        self.operations()
            .ok_or_else(|| unsupported(self.provider(), "unlock or lock remotely"))
    }

    pub fn logs_api(&self) -> ProviderResult<&dyn Logs> {
        self.logs()
            .ok_or_else(|| unsupported(self.provider(), "read lock events"))
    }

    pub fn offline_api(&self) -> ProviderResult<&dyn OfflineCodes> {
        self.offline_codes()
            .ok_or_else(|| unsupported(self.provider(), "generate offline codes"))
    }

    pub fn hooks_api(&self) -> ProviderResult<&dyn VendorHooks> {
        self.hooks()
            .ok_or_else(|| unsupported(self.provider(), "receive events from the vendor"))
    }

    pub fn things_api(&self) -> ProviderResult<&dyn Things> {
        self.things()
            .ok_or_else(|| unsupported(self.provider(), "list things"))
    }
}

/// The error of an operation a provider does not have.
pub fn unsupported(provider: Provider, what: &str) -> ProviderError {
    ProviderError::new(
        provider,
        ErrorKind::Unsupported,
        format!("{provider} connections cannot {what}"),
    )
}
