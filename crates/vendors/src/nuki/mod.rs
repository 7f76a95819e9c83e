//! Nuki behind the provider trait: smart locks, actions followed until the lock's state shows
//! them, the log as events (keypad entries attributed to their code), keypad codes as access
//! codes (permanent, time-bound and weekly windows, all native).
//!
//! Nuki's writes are asynchronous: it answers 204 once it has accepted one, and the device
//! applies it seconds later. The adapter follows each write until the device shows it, so a
//! call that returns has reached the lock; one that does not show in time is a timeout, whose
//! outcome the engine checks against the lock's list.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use lockbridge_nuki::{self as nk, Action, Bolt, Config, ErrorKind as NkKind, NukiClient};

use crate::call::Calls;
use crate::sessions::Sessions;
use lockbridge_core::budgets::Rate;
use lockbridge_core::credentials::{Credentials, Field};
use lockbridge_core::model::{Capabilities, Connection, Lock, LockState, Provider};
use lockbridge_core::provider::*;
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::Millis;

mod codes;

/// This vendor, as lockbridge names it.
pub const PROVIDER: Provider = Provider::named(&lockbridge_core::model::VendorNames {
    id: "nuki",
    label: "Nuki",
});
const P: Provider = PROVIDER;

/// This vendor's adapter (its line in [`crate::builtin`]).
pub fn adapter(cx: &crate::Context) -> std::sync::Arc<dyn lockbridge_core::Vendor> {
    std::sync::Arc::new(NukiProvider::new(cx))
}

/// How long a write or an action is followed until the lock shows it. Nuki says "up to
/// several seconds"; its staff say "within a few minutes" for authorizations.
const APPLY_WAIT: Duration = Duration::from_secs(30);

pub struct NukiProvider {
    sessions: Sessions<NukiClient>,
    http: reqwest::Client,
    calls: Calls<nk::Error>,
    /// How often a write is looked for, and for how long.
    poll: (Duration, Duration),
    timeout: Duration,
}

impl std::fmt::Debug for NukiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NukiProvider").finish_non_exhaustive()
    }
}

/// Maps the client's error; `verifying` turns a refused token into `RejectedCredentials`.
fn map_err(err: nk::Error, verifying: bool) -> ProviderError {
    use ErrorKind::*;
    let credentials = if verifying {
        RejectedCredentials
    } else {
        AuthFailed
    };
    let (kind, field) = match &err {
        nk::Error::InvalidCode(rule) => {
            return ProviderError::new(P, InvalidInput, format!("code {rule}")).with_field("code");
        }
        nk::Error::InvalidInput { field, .. } => (InvalidInput, Some(*field)),
        nk::Error::Api(e) => match e.kind() {
            // Nuki names the refused parameter: `… for parameter 'code' is not valid`.
            NkKind::BadRequest if e.message.contains("'code'") => (InvalidInput, Some("code")),
            NkKind::BadRequest if e.message.contains("'name'") => (InvalidInput, Some("name")),
            NkKind::BadRequest if e.message.contains("'type'") => (Unsupported, None),
            NkKind::BadRequest => (InvalidInput, None),
            NkKind::Unauthorized => (credentials, None),
            NkKind::Forbidden if verifying => (RejectedCredentials, None),
            NkKind::Forbidden | NkKind::PaymentRequired => (Forbidden, None),
            NkKind::NotFound => (NotFound, None),
            NkKind::NotAllowed | NkKind::UpgradeRequired => (Unsupported, None),
            NkKind::Conflict => (AlreadyExists, Some("code")),
            NkKind::Locked => (DeviceBusy, None),
            NkKind::RateLimited => (RateLimited, None),
            NkKind::Server => (Unavailable, None),
            _ => (Failed, None),
        },
        // Accepted, not seen applied: the outcome is unknown, as after a timeout.
        nk::Error::NotApplied { .. } => (Timeout, None),
        nk::Error::Transport(t) if t.is_timeout() => (Timeout, None),
        nk::Error::Transport(_) => (Unavailable, None),
        _ => (Failed, None),
    };
    let (code, retry_after) = match err.api() {
        Some(api) => (Some(api.status), api.retry_after_s),
        None => (None, None),
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
        .map_err(|_| ProviderError::new(P, ErrorKind::NotFound, "not a Nuki smartlock id"))
}

/// The keypad's rules: six digits, `1`–`9` only, not beginning with `12`. Nuki publishes no
/// number of codes a keypad holds.
fn code_rules() -> CodeRules {
    CodeRules {
        min_length: 6,
        max_length: 6,
        digits_only: true,
        min_distinct_digits: None,
        no_sequences: false,
        max_codes: None,
        excluded_digits: "0".into(),
        forbidden_prefixes: vec!["12".into()],
    }
}

impl NukiProvider {
    pub fn new(cx: &crate::Context) -> Self {
        NukiProvider {
            sessions: Sessions::default(),
            http: reqwest::Client::new(),
            calls: Calls::new(cx, P, map_err).longer_by(APPLY_WAIT),
            poll: (cx.operation_poll, APPLY_WAIT),
            timeout: cx.request_timeout,
        }
    }

    fn client(&self, base_url: Option<&str>, c: &Credentials) -> ProviderResult<NukiClient> {
        let token = c.required(P, "api_token")?;
        let mut config = Config::new(token)
            .timeout(self.timeout)
            .polling(self.poll.0, self.poll.1);
        if let Some(url) = base_url {
            config = config.base_url(url);
        }
        Ok(NukiClient::with_http(config, self.http.clone()))
    }

    fn session(&self, conn: &Connection) -> ProviderResult<NukiClient> {
        self.sessions.get(conn, || {
            self.client(conn.base_url.as_deref(), &conn.credentials)
        })
    }

    /// Sends an action, then reads the lock until its bolt shows it (or it jams, or drops out
    /// of Nuki's reach).
    async fn operate(&self, conn: &Connection, lock: &Lock, action: Action) -> ProviderResult<()> {
        let client = self.session(conn)?;
        let id = lock_id(lock)?;
        self.calls
            .run(conn.id, "smartlock/action", client.action(id, action))
            .await?;
        let wanted = if action == Action::Lock {
            Bolt::Locked
        } else {
            Bolt::Unlocked
        };
        let started = Instant::now();
        loop {
            let now = self
                .calls
                .run(conn.id, "smartlock/{id}", client.smartlock(id))
                .await?;
            if !now.online() {
                return Err(ProviderError::new(
                    P,
                    ErrorKind::DeviceOffline,
                    "Nuki cannot reach the lock",
                ));
            }
            match now.state.as_ref().map(nk::SmartlockState::bolt) {
                Some(b) if b == wanted => return Ok(()),
                Some(Bolt::Jammed) => {
                    return Err(ProviderError::new(
                        P,
                        ErrorKind::Jammed,
                        "the lock's motor is blocked",
                    ));
                }
                _ if started.elapsed() + self.poll.0 > self.poll.1 => {
                    return Err(ProviderError::new(
                        P,
                        ErrorKind::Timeout,
                        "the lock did not show the action in time",
                    ));
                }
                _ => tokio::time::sleep(self.poll.0).await,
            }
        }
    }
}

fn state_of(s: Option<&nk::SmartlockState>) -> LockState {
    match s.map(nk::SmartlockState::bolt) {
        Some(Bolt::Locked) => LockState::Locked,
        Some(Bolt::Unlocked) => LockState::Unlocked,
        _ => LockState::Unknown,
    }
}

/// A log record as an event: a keypad entry names its code's authorization (the code's
/// vendor id), so the service attributes it.
fn event_of(r: &nk::SmartlockLog) -> Option<LockEvent> {
    let time = nk::from_time(&r.date)?;
    let (mut kind, mut alarm) = match r.action {
        1 | 3 | 5 => ("unlock", None),
        2 | 4 => ("lock", None),
        208 => ("alarm", Some("door_ajar")),
        _ => return None,
    };
    if r.state == 1 {
        (kind, alarm) = ("alarm", Some("jammed"));
    }
    let method = match (r.trigger, r.source) {
        (255, Some(2)) => "fingerprint",
        (255, _) => "passcode",
        (4, _) => "remote",
        (5, _) => "app",
        (1, _) => "key",
        (3 | 6, _) => "auto",
        _ => "other",
    };
    Some(LockEvent {
        time,
        kind,
        method,
        success: r.state == 0,
        actor: (!r.name.is_empty()).then(|| r.name.clone()),
        provider_type: r.action.to_string(),
        alarm,
        code: None,
        code_provider_id: r.auth_id.clone().filter(|a| !a.is_empty()),
        record_id: Some(r.id.clone()),
    })
}

#[async_trait]
impl Vendor for NukiProvider {
    fn provider(&self) -> Provider {
        P
    }

    fn credential_fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[Field::secret("api_token")];
        FIELDS
    }

    /// Nuki publishes no limit, and protects its API against abuse: an account is paced at
    /// 30 requests a minute unless configured otherwise.
    fn default_rate(&self) -> Option<Rate> {
        Some(Rate::per_hour(1_800))
    }

    /// Lists the devices with the token: a refused token is refused here.
    async fn verify(
        &self,
        base_url: Option<&str>,
        credentials: &Credentials,
    ) -> ProviderResult<Verified> {
        let client = self.client(base_url, credentials)?;
        self.calls.verify("smartlock", client.smartlocks()).await?;
        Ok(Verified {
            credentials: credentials.clone(),
            token_expires_at: None,
        })
    }

    async fn devices(&self, conn: &Connection) -> ProviderResult<Devices> {
        let client = self.session(conn)?;
        let devices = self
            .calls
            .run(conn.id, "smartlock", client.smartlocks())
            .await?;
        let locks = devices
            .into_iter()
            .filter(nk::Smartlock::is_lock)
            .map(|d| {
                let keypad = d.keypad_paired();
                let zone = d.config.as_ref().and_then(|c| c.timezone_id);
                DeviceLock {
                    provider_id: d.smartlock_id.to_string(),
                    name: d.name.clone(),
                    online: d.online(),
                    reach_reported: true,
                    state: state_of(d.state.as_ref()),
                    battery: d
                        .state
                        .as_ref()
                        .and_then(|s| s.battery_charge)
                        .map(|b| b.clamp(0, 100) as u8),
                    gateway: None,
                    time_zone: zone.and_then(nk::zone_name).map(str::to_owned),
                    utc_offset_minutes: None,
                    capabilities: Capabilities {
                        remote_unlock: true,
                        access_codes: keypad,
                        time_bound_codes: keypad,
                        recurring_codes: keypad,
                        offline_codes: false,
                        freeze: false,
                    },
                    code_rules: code_rules(),
                }
            })
            .collect();
        Ok(Devices {
            locks,
            gateways: Vec::new(),
        })
    }

    fn codes(&self) -> Option<&dyn Codes> {
        Some(self)
    }

    fn operations(&self) -> Option<&dyn Operations> {
        Some(self)
    }

    fn logs(&self) -> Option<&dyn Logs> {
        Some(self)
    }
}

#[async_trait]
impl Operations for NukiProvider {
    async fn unlock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        self.operate(conn, lock, Action::Unlock).await
    }

    async fn lock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        self.operate(conn, lock, Action::Lock).await
    }
}

#[async_trait]
impl Logs for NukiProvider {
    /// The log, newest first, page after page (50 records each) until one reaches `since`.
    async fn events(
        &self,
        conn: &Connection,
        lock: &Lock,
        since: Option<Millis>,
        limit: u32,
    ) -> ProviderResult<Vec<LockEvent>> {
        let client = self.session(conn)?;
        let id = lock_id(lock)?;
        let mut out = Vec::new();
        let mut query = nk::LogQuery {
            limit: Some(limit.clamp(1, nk::MAX_LOG_PAGE)),
            before: None,
            from_date: since.map(nk::to_time),
        };
        loop {
            let page = self
                .calls
                .run(conn.id, "smartlock/{id}/log", client.logs(id, &query))
                .await?;
            out.extend(page.iter().filter_map(event_of));
            let full = page.len() as u32 >= query.limit.unwrap_or(nk::MAX_LOG_PAGE);
            query.before = page.last().map(|r| r.id.clone());
            if !full || out.len() >= limit as usize {
                break;
            }
        }
        out.retain(|e| since.is_none_or(|s| e.time >= s));
        out.truncate(limit as usize);
        Ok(out)
    }
}
