//! SwitchBot behind the provider trait: locks reached through their hub, actions confirmed by
//! reading the lock's state back, and a lock's keypad passcodes as access codes (permanent and
//! time-bound; weekly windows just in time, as the keypad keeps no windows).
//!
//! SwitchBot's answer to a keypad command only says it accepted it; the result comes by a
//! webhook that often never arrives. So a code is on the lock when the keypad's key list holds
//! it, and gone when the list no longer does (SwitchBot has answered a deletion with success
//! and kept the key): each write is followed in the list until it shows, and one that does not
//! show in time is a timeout, whose outcome the engine checks against the list.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use lockbridge_switchbot::{self as sb, Bolt, Config, ErrorKind as SbKind, SwitchBotClient};

use crate::call::Calls;
use crate::sessions::Sessions;
use lockbridge_core::budgets::Rate;
use lockbridge_core::credentials::{Credentials, Field};
use lockbridge_core::model::{Capabilities, Connection, Lock, LockState, Provider};
use lockbridge_core::provider::*;
use lockbridge_core::rules::CodeRules;

mod codes;
mod hooks;

/// This vendor, as lockbridge names it.
pub const PROVIDER: Provider = Provider::named(&lockbridge_core::model::VendorNames {
    id: "switchbot",
    label: "SwitchBot",
});
const P: Provider = PROVIDER;

/// This vendor's adapter (its line in [`crate::builtin`]).
pub fn adapter(cx: &crate::Context) -> std::sync::Arc<dyn lockbridge_core::Vendor> {
    std::sync::Arc::new(SwitchBotProvider::new(cx))
}

/// How long a keypad's result is looked for in its key list (SwitchBot: "within a minute").
const KEY_WAIT: Duration = Duration::from_secs(60);

pub struct SwitchBotProvider {
    sessions: Sessions<SwitchBotClient>,
    http: reqwest::Client,
    calls: Calls<sb::Error>,
    pace: std::sync::Arc<crate::pace::Pace>,
    pairings: hooks::Pairings,
    /// How often the key list or a lock's state is read while a write is followed: ten
    /// operation polls, so that a minute's wait spends a dozen of the day's requests.
    poll: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for SwitchBotProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchBotProvider").finish_non_exhaustive()
    }
}

/// Maps the client's error; `verifying` turns a refused token into `RejectedCredentials`.
fn map_err(err: sb::Error, verifying: bool) -> ProviderError {
    use ErrorKind::*;
    let credentials = if verifying {
        RejectedCredentials
    } else {
        AuthFailed
    };
    let (kind, field) = match &err {
        sb::Error::InvalidInput { field, .. } => (
            InvalidInput,
            Some(match *field {
                "password" => "code",
                "period" => "ends_at",
                other => other,
            }),
        ),
        sb::Error::Unauthorized { .. } => (credentials, None),
        sb::Error::Budget { .. } => (RateLimited, None),
        sb::Error::Api(e) => match e.kind() {
            SbKind::DeviceType | SbKind::Unsupported => (Unsupported, None),
            SbKind::NotFound => (NotFound, None),
            SbKind::DeviceOffline => (DeviceOffline, None),
            SbKind::HubOffline => (GatewayOffline, None),
            SbKind::DailyLimit | SbKind::TooMany => (RateLimited, None),
            SbKind::Invalid => (InvalidInput, None),
            _ => (Failed, None),
        },
        sb::Error::Http { status, .. } if *status >= 500 => (Unavailable, None),
        sb::Error::Transport(t) if t.is_timeout() => (Timeout, None),
        sb::Error::Transport(_) => (Unavailable, None),
        _ => (Failed, None),
    };
    let code = err.api().map(|a| a.status_code);
    let wait = match &err {
        sb::Error::Budget { retry_after } => Some(*retry_after),
        _ if err.kind() == Some(SbKind::DailyLimit) => {
            Some(sb::until_utc_midnight(std::time::SystemTime::now()))
        }
        _ => None,
    };
    let mut out = ProviderError::caused(P, kind, err);
    out.retry_after = wait.map(|w| w.as_secs().max(1));
    if let Some(code) = code {
        out = out.with_code(code);
    }
    match field {
        Some(f) => out.with_field(f),
        None => out,
    }
}

/// Passcodes: 6 to 12 digits. SwitchBot publishes no number of keys a keypad holds.
fn code_rules() -> CodeRules {
    CodeRules {
        min_length: 6,
        max_length: 12,
        digits_only: true,
        min_distinct_digits: None,
        no_sequences: false,
        max_codes: None,
        excluded_digits: String::new(),
        forbidden_prefixes: Vec::new(),
    }
}

/// The keypad that holds `lock`'s passcodes: one paired with it, or the lock itself when it
/// holds them (Lock Vision).
fn keypad_of<'d>(devices: &'d [sb::Device], lock: &str) -> Option<&'d sb::Device> {
    devices
        .iter()
        .find(|d| d.holds_keys() && !d.is_lock() && d.lock_device_id.as_deref() == Some(lock))
        .or_else(|| {
            devices
                .iter()
                .find(|d| d.device_id == lock && d.holds_keys())
        })
}

impl SwitchBotProvider {
    pub fn new(cx: &crate::Context) -> Self {
        SwitchBotProvider {
            sessions: Sessions::default(),
            http: reqwest::Client::new(),
            calls: Calls::new(cx, P, map_err)
                .paced_by_client()
                .longer_by(KEY_WAIT),
            pace: cx.pace.clone(),
            pairings: hooks::Pairings::default(),
            poll: cx.operation_poll * 10,
            timeout: cx.request_timeout,
        }
    }

    fn client(&self, base_url: Option<&str>, c: &Credentials) -> ProviderResult<SwitchBotClient> {
        let token = c.required(P, "token")?;
        let mut config = Config::new(token, c.required(P, "secret")?).timeout(self.timeout);
        if let Some(url) = base_url {
            config = config.base_url(url);
        }
        // Every request spends the account's day of requests, shared by every instance and by
        // every connection and credential check with the token.
        if let Some(gate) = self.pace.gate(P, &crate::pace::account_of(token)) {
            config = config.request_gate(std::sync::Arc::new(gate));
        }
        Ok(SwitchBotClient::with_http(config, self.http.clone()))
    }

    fn session(&self, conn: &Connection) -> ProviderResult<SwitchBotClient> {
        self.sessions.get(conn, || {
            self.client(conn.base_url.as_deref(), &conn.credentials)
        })
    }

    async fn devices_of(&self, conn: &Connection) -> ProviderResult<Vec<sb::Device>> {
        let client = self.session(conn)?;
        let devices = self.calls.run(conn.id, "devices", client.devices()).await?;
        self.pairings.learn(conn.id, &devices);
        Ok(devices)
    }

    /// Sends a lock command, then reads the lock until its state shows it.
    async fn operate(&self, conn: &Connection, lock: &Lock, unlock: bool) -> ProviderResult<()> {
        let client = self.session(conn)?;
        let id = lock.provider_id.as_str();
        if unlock {
            self.calls
                .run(conn.id, "devices/{id}/commands", client.unlock(id))
                .await?;
        } else {
            self.calls
                .run(conn.id, "devices/{id}/commands", client.lock(id))
                .await?;
        }
        let started = Instant::now();
        loop {
            let status = self
                .calls
                .run(conn.id, "devices/{id}/status", client.lock_status(id))
                .await
                .map_err(ProviderError::after_write)?;
            match (status.bolt(), unlock) {
                (Bolt::Unlocked | Bolt::Latched, true) | (Bolt::Locked, false) => return Ok(()),
                (Bolt::Jammed, _) => {
                    return Err(ProviderError::new(
                        P,
                        ErrorKind::Jammed,
                        "the lock reports it is jammed",
                    ));
                }
                _ if started.elapsed() + self.poll > KEY_WAIT => {
                    return Err(ProviderError::new(
                        P,
                        ErrorKind::Timeout,
                        "the lock did not show the command in time",
                    ));
                }
                _ => tokio::time::sleep(self.poll).await,
            }
        }
    }
}

fn state_of(status: &sb::LockStatus) -> LockState {
    match status.bolt() {
        Bolt::Locked => LockState::Locked,
        // Held by its latch only: not secured.
        Bolt::Unlocked | Bolt::Latched => LockState::Unlocked,
        _ => LockState::Unknown,
    }
}

#[async_trait]
impl Vendor for SwitchBotProvider {
    fn provider(&self) -> Provider {
        P
    }

    fn credential_fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[Field::secret("token"), Field::secret("secret")];
        FIELDS
    }

    /// SwitchBot's 10,000 calls a day per account, shared by every instance.
    fn default_rate(&self) -> Option<Rate> {
        Some(Rate {
            limit: 10_000,
            window: Duration::from_secs(86_400),
        })
    }

    /// Lists the devices with the token and secret: a refused pair is refused here.
    async fn verify(
        &self,
        base_url: Option<&str>,
        credentials: &Credentials,
    ) -> ProviderResult<Verified> {
        let client = self.client(base_url, credentials)?;
        self.calls.verify("devices", client.devices()).await?;
        Ok(Verified {
            credentials: credentials.clone(),
            token_expires_at: None,
        })
    }

    /// The account's locks (each one's status read) and hubs. A keypad is its lock's access
    /// codes, not a lock of its own.
    async fn devices(&self, conn: &Connection) -> ProviderResult<Devices> {
        let client = self.session(conn)?;
        let devices = self.devices_of(conn).await?;
        let mut locks = Vec::new();
        for d in devices.iter().filter(|d| d.is_lock()) {
            let status = self
                .calls
                .run(
                    conn.id,
                    "devices/{id}/status",
                    client.lock_status(&d.device_id),
                )
                .await;
            let (online, state, battery) = match &status {
                Ok(s) => (true, state_of(s), s.battery.map(|b| b.clamp(0, 100) as u8)),
                Err(e)
                    if matches!(e.kind, ErrorKind::DeviceOffline | ErrorKind::GatewayOffline) =>
                {
                    (false, LockState::Unknown, None)
                }
                Err(e) => return Err(e.clone()),
            };
            let keypad = keypad_of(&devices, &d.device_id).is_some();
            locks.push(DeviceLock {
                provider_id: d.device_id.clone(),
                name: d.device_name.clone(),
                online,
                reach_reported: true,
                state,
                battery,
                gateway: d.hub().map(str::to_owned),
                // SwitchBot tells no zone.
                time_zone: None,
                utc_offset_minutes: None,
                capabilities: Capabilities {
                    remote_unlock: true,
                    access_codes: keypad,
                    time_bound_codes: keypad,
                    recurring_codes: false,
                    offline_codes: false,
                    freeze: false,
                },
                code_rules: code_rules(),
            });
        }
        let gateways = devices
            .iter()
            .filter(|d| d.device_type.to_ascii_lowercase().contains("hub"))
            .map(|h| DeviceGateway {
                provider_id: h.device_id.clone(),
                name: h.device_name.clone(),
                online: true,
            })
            .collect();
        Ok(Devices { locks, gateways })
    }

    fn codes(&self) -> Option<&dyn Codes> {
        Some(self)
    }

    fn operations(&self) -> Option<&dyn Operations> {
        Some(self)
    }

    fn hooks(&self) -> Option<&dyn VendorHooks> {
        Some(self)
    }
}

#[async_trait]
impl Operations for SwitchBotProvider {
    async fn unlock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        self.operate(conn, lock, true).await
    }

    async fn lock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        self.operate(conn, lock, false).await
    }
}
