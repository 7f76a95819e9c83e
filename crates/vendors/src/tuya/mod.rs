//! Tuya door locks behind the provider trait: device discovery, password-free remote unlock,
//! open and alarm logs as events, online temporary passwords as access codes (permanent,
//! time-bound, weekly via `schedule_list`) confirmed by their `phase`, freeze and unfreeze,
//! offline codes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lockbridge_tuya::{self as ty, Config, ErrorKind as TyKind, Region, Tokens, TuyaClient};
use secrecy::ExposeSecret;

use crate::call::Calls;
use crate::sessions::Sessions;
use lockbridge_core::credentials::{Credentials, Field};
use lockbridge_core::model::{
    Capabilities, Connection, Lock, LockState, Provider, Schedule, TimeOfDay,
};
use lockbridge_core::provider::*;
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::{Millis, now_ms};

mod codes;
mod convert;

use convert::{event_of, pin_length, temp_password, weekdays_of};

/// This vendor, as lockbridge names it.
pub const PROVIDER: Provider = Provider::named(&lockbridge_core::model::VendorNames {
    id: "tuya",
    label: "Tuya",
});
const P: Provider = PROVIDER;

/// This vendor's adapter (its line in [`crate::builtin`]).
pub fn adapter(cx: &crate::Context) -> std::sync::Arc<dyn lockbridge_core::Vendor> {
    std::sync::Arc::new(TuyaProvider::new(cx))
}
/// Tuya needs an end for every temporary password: "permanent" ones end on 2038-01-01 (the last
/// year that fits the 32-bit seconds some locks keep), and any code ending from 2037 on reads
/// back as permanent.
const PERMANENT_END_S: i64 = 2_145_916_800;
const PERMANENT_FROM_S: i64 = 2_114_380_800;

pub struct TuyaProvider {
    sessions: Sessions<TuyaClient>,
    http: reqwest::Client,
    tokens: Arc<dyn TokenStore>,
    calls: Calls<ty::Error>,
    /// The account's request budget, shared by every instance.
    timeout: Duration,
}

impl std::fmt::Debug for TuyaProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TuyaProvider").finish_non_exhaustive()
    }
}

fn field_of(tuya_field: &str) -> &'static str {
    match tuya_field {
        "password" => "code",
        "name" => "name",
        "invalid_time" | "effective_time" => "ends_at",
        "schedule_list" | "time_zone" => "schedule",
        "region" => "credentials.region",
        _ => "code",
    }
}

/// Maps the client's error; `verifying` turns credential refusals into `RejectedCredentials`.
fn map_err(err: ty::Error, verifying: bool) -> ProviderError {
    use ErrorKind::*;
    let credentials = if verifying {
        RejectedCredentials
    } else {
        AuthFailed
    };
    let (kind, field) = match &err {
        ty::Error::InvalidInput { field, .. } => (InvalidInput, Some(field_of(field))),
        ty::Error::Api(e) => match e.kind() {
            TyKind::SignInvalid
            | TyKind::ClientInvalid
            | TyKind::TokenMissing
            | TyKind::TokenInvalid
            | TyKind::TokenExpired => (credentials, None),
            TyKind::NotSubscribed if verifying => (RejectedCredentials, None),
            TyKind::InvalidParam => (InvalidInput, Some("code")),
            TyKind::NotFound => (NotFound, None),
            TyKind::TooFrequent => (RateLimited, None),
            TyKind::DeviceOffline => (DeviceOffline, None),
            TyKind::NotSupported => (Unsupported, None),
            TyKind::PasswordExists => (AlreadyExists, Some("code")),
            TyKind::PasswordStoreFull => (CapacityReached, None),
            // A ticket that lapsed between the two calls: a new one next time.
            TyKind::TicketInvalid | TyKind::Server => (Unavailable, None),
            TyKind::PermissionDenied
            | TyKind::NotSubscribed
            | TyKind::TimeInvalid
            | TyKind::Other => (Failed, None),
        },
        ty::Error::Ticket => (credentials, None),
        ty::Error::Status { .. } => (Unavailable, None),
        ty::Error::Transport(t) if t.is_timeout() => (Timeout, None),
        ty::Error::Transport(_) => (Unavailable, None),
        ty::Error::Decode(_) => (Failed, None),
    };
    let code = err.api().map(|api| api.code);
    let mut out = ProviderError::caused(P, kind, err);
    if let Some(code) = code {
        out = out.with_code(code);
    }
    match field {
        Some(f) => out.with_field(f),
        None => out,
    }
}

fn token_fields(t: &Tokens) -> Credentials {
    let mut c = Credentials::new();
    c.set("access_token", t.access_token.expose_secret());
    c.set("refresh_token", t.refresh_token.expose_secret());
    if let Some(uid) = &t.uid {
        c.set("uid", uid);
    }
    c
}

/// The token pair stored with a connection.
fn stored_tokens(conn: &Connection) -> Option<Tokens> {
    let c = &conn.credentials;
    let (access, refresh) = (c.get("access_token")?, c.get("refresh_token")?);
    Some(Tokens {
        access_token: access.to_owned().into(),
        refresh_token: refresh.to_owned().into(),
        expires_at_ms: conn.token_expires_at.unwrap_or(0),
        uid: c.get("uid").map(str::to_owned),
    })
}

impl TuyaProvider {
    pub fn new(cx: &crate::Context) -> Self {
        TuyaProvider {
            sessions: Sessions::default(),
            http: reqwest::Client::new(),
            tokens: cx.tokens.clone(),
            calls: Calls::new(cx, P, map_err),
            timeout: cx.request_timeout,
        }
    }

    fn client(&self, base_url: Option<&str>, c: &Credentials) -> ProviderResult<TuyaClient> {
        let region = match c.get("region") {
            Some(r) => Region::parse(r).ok_or_else(|| {
                ProviderError::new(
                    P,
                    ErrorKind::InvalidInput,
                    "region must be one of cn, us, us-east, eu, eu-west, in, sg",
                )
                .with_field("credentials.region")
            })?,
            None => Region::CentralEurope,
        };
        let mut config = Config::new(
            region,
            c.required(P, "access_id")?,
            c.required(P, "access_secret")?,
        )
        .timeout(self.timeout);
        if let Some(url) = base_url {
            config = config.base_url(url);
        }
        Ok(TuyaClient::with_http(config, self.http.clone()))
    }

    /// The connection's client with its stored tokens; renewed tokens are handed to the sink.
    fn session(&self, conn: &Connection) -> ProviderResult<TuyaClient> {
        self.sessions.get(conn, || {
            let c = &conn.credentials;
            let client = self.client(conn.base_url.as_deref(), c)?;
            if let Some(tokens) = stored_tokens(conn) {
                client.restore(tokens);
            }
            // Tuya supersedes a pair on every renewal: a token refused or expired is first
            // looked for in the store, where another instance may have put its renewal.
            let (store, id) = (self.tokens.clone(), conn.id);
            client.tokens_from(Arc::new(move || {
                let store = store.clone();
                Box::pin(async move { store.stored(id).await.as_ref().and_then(stored_tokens) })
            }));
            let (store, id) = (self.tokens.clone(), conn.id);
            client.on_tokens(Arc::new(move |t: &Tokens| {
                store.save(TokenUpdate {
                    connection_id: id,
                    tokens: token_fields(t),
                    expires_at: Some(t.expires_at_ms),
                })
            }));
            Ok(client)
        })
    }
}

#[async_trait]
impl Vendor for TuyaProvider {
    fn provider(&self) -> Provider {
        P
    }

    /// A Tuya password carries its own `time_zone`.
    fn code_carries_zone(&self) -> bool {
        true
    }

    fn credential_fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::plain("access_id"),
            Field::secret("access_secret"),
            // `region` (cn, us, us-east, eu, eu-west, in, sg) picks the data centre when the
            // connection has no base URL.
            Field::optional("region").picks_host(),
        ];
        FIELDS
    }

    /// Gets a token: the access id and secret (and the data centre) had to be right.
    async fn verify(
        &self,
        base_url: Option<&str>,
        credentials: &Credentials,
    ) -> ProviderResult<Verified> {
        let client = self.client(base_url, credentials)?;
        let tokens = self.calls.verify("token", client.connect()).await?;
        let mut stored = credentials.clone();
        stored.merge(&token_fields(&tokens));
        Ok(Verified {
            credentials: stored,
            token_expires_at: Some(tokens.expires_at_ms),
        })
    }

    async fn refresh(&self, conn: &Connection) -> ProviderResult<TokenUpdate> {
        let tokens = self
            .calls
            .run(conn.id, "token/refresh", self.session(conn)?.refresh())
            .await?;
        Ok(TokenUpdate {
            connection_id: conn.id,
            tokens: token_fields(&tokens),
            expires_at: Some(tokens.expires_at_ms),
        })
    }

    async fn devices(&self, conn: &Connection) -> ProviderResult<Devices> {
        let client = self.session(conn)?;
        let devices = self.calls.run(conn.id, "devices", client.devices()).await?;
        let locks = devices
            .into_iter()
            .filter(ty::Device::is_lock)
            .map(|d| {
                let open = d
                    .status
                    .iter()
                    .find(|s| s.code == "lock_motor_state")
                    .and_then(|s| s.value.as_bool());
                DeviceLock {
                    provider_id: d.id.clone(),
                    name: d.name.clone(),
                    online: d.online,
                    reach_reported: true,
                    state: match open {
                        Some(true) => LockState::Unlocked,
                        Some(false) => LockState::Locked,
                        None => LockState::Unknown,
                    },
                    battery: d.battery(),
                    gateway: None,
                    time_zone: d.time_zone.clone().filter(|t| !t.is_empty()),
                    utc_offset_minutes: None,
                    capabilities: Capabilities {
                        remote_unlock: true,
                        access_codes: true,
                        time_bound_codes: true,
                        recurring_codes: true,
                        offline_codes: true,
                        freeze: true,
                    },
                    code_rules: CodeRules::tuya(d.pin_length() as u8),
                }
            })
            .collect();
        Ok(Devices {
            locks,
            gateways: Vec::new(),
        })
    }

    /// Tuya tokens live two hours; renew ten minutes ahead (the client itself also renews a
    /// minute ahead, and on 1010/1012).
    fn refresh_margin(&self) -> Option<Duration> {
        Some(Duration::from_secs(10 * 60))
    }

    fn operations(&self) -> Option<&dyn Operations> {
        Some(self)
    }

    fn logs(&self) -> Option<&dyn Logs> {
        Some(self)
    }

    fn codes(&self) -> Option<&dyn Codes> {
        Some(self)
    }

    fn freezing(&self) -> Option<&dyn Freezing> {
        Some(self)
    }

    fn offline_codes(&self) -> Option<&dyn OfflineCodes> {
        Some(self)
    }
}

#[async_trait]
impl Operations for TuyaProvider {
    async fn unlock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        self.calls
            .run(
                conn.id,
                "password-free/open-door",
                self.session(conn)?.unlock_password_free(&lock.provider_id),
            )
            .await
    }

    async fn lock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        self.calls
            .run(
                conn.id,
                "password-free/door-operate",
                self.session(conn)?.door_operate(&lock.provider_id, false),
            )
            .await
    }
}

#[async_trait]
impl Logs for TuyaProvider {
    /// Open logs (from `since`, else of the last 30 days; every page) and alarm logs (their
    /// newest page, which takes no time window), merged, newest first.
    async fn events(
        &self,
        conn: &Connection,
        lock: &Lock,
        since: Option<Millis>,
        limit: u32,
    ) -> ProviderResult<Vec<LockEvent>> {
        let client = self.session(conn)?;
        // A day ahead: the newest records must never be cut off by a difference between this
        // host's clock and Tuya's (the window only bounds what Tuya has, up to its present).
        let end = now_ms() / 1000 + 86_400;
        let start = since.map_or(end - 31 * 86_400, |s| s.div_euclid(1000));
        let size = limit.clamp(1, 100);
        let mut opens = ty::Page {
            total: 0,
            logs: Vec::new(),
        };
        for page_no in 1.. {
            let page = self
                .calls
                .run(
                    conn.id,
                    "open-logs",
                    client.open_logs(&lock.provider_id, page_no, size, start, end),
                )
                .await?;
            let full = page.logs.len() as u32 >= size;
            opens.logs.extend(page.logs);
            if !full || opens.logs.len() >= limit as usize {
                break;
            }
        }
        let alarms = self
            .calls
            .run(
                conn.id,
                "alarm-logs",
                client.alarm_logs(&lock.provider_id, 1, size, None),
            )
            .await?;
        let text = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        let mut events: Vec<LockEvent> = opens
            .logs
            .iter()
            .map(|l| {
                event_of(
                    &l.status.code,
                    &text(&l.status.value),
                    l.update_time,
                    l.nick_name.clone(),
                    false,
                )
            })
            .chain(alarms.logs.iter().map(|a| {
                event_of(
                    &a.status.code,
                    &text(&a.status.value),
                    a.update_time * 1000,
                    a.nick_name.clone(),
                    true,
                )
            }))
            .collect();
        events.retain(|e| since.is_none_or(|s| e.time >= s));
        events.sort_by_key(|e| std::cmp::Reverse(e.time));
        events.truncate(limit as usize);
        Ok(events)
    }
}

#[async_trait]
impl OfflineCodes for TuyaProvider {
    async fn offline_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        kind: OfflineKind,
        name: Option<&str>,
        period: (Millis, Option<Millis>),
    ) -> ProviderResult<OfflineCode> {
        let (kind, window) = match kind {
            OfflineKind::OneTime => (ty::OfflineKind::Once, None),
            OfflineKind::TimeBound => {
                let end = period.1.ok_or_else(|| {
                    ProviderError::new(P, ErrorKind::InvalidInput, "ends_at is required")
                        .with_field("ends_at")
                })?;
                (
                    ty::OfflineKind::Multiple,
                    Some((period.0 / 1000, end / 1000)),
                )
            }
            OfflineKind::Permanent => {
                return Err(unsupported(
                    P,
                    "generate permanent offline codes (Tuya's end within a window)",
                ));
            }
            _ => {
                return Err(unsupported(
                    P,
                    "generate cyclic offline codes (a TTLock kind)",
                ));
            }
        };
        let client = self.session(conn)?;
        let made = self
            .calls
            .run(
                conn.id,
                "offline-temp-password",
                client.offline_password(&lock.provider_id, kind, name, window, None),
            )
            .await?;
        Ok(OfflineCode {
            code: made.offline_temp_password,
            provider_id: Some(made.offline_temp_password_id).filter(|i| !i.is_empty()),
            starts_at: Some(made.effective_time * 1000),
            ends_at: Some(made.invalid_time * 1000),
        })
    }

    /// Tuya's dynamic password. How long it lasts is not in the answer: Tuya's app pages say 5
    /// minutes (some 5 to 10); the shortest is taken, so the code is never promised too long.
    async fn dynamic_code(&self, conn: &Connection, lock: &Lock) -> ProviderResult<OfflineCode> {
        let client = self.session(conn)?;
        let code = self
            .calls
            .run(
                conn.id,
                "dynamic-password",
                client.dynamic_password(&lock.provider_id),
            )
            .await?;
        let now = lockbridge_core::time::now_ms();
        Ok(OfflineCode {
            code,
            provider_id: None,
            starts_at: Some(now),
            ends_at: Some(now + 5 * 60_000),
        })
    }

    fn provider(&self) -> Provider {
        P
    }
}
