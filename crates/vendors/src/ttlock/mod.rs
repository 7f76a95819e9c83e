//! TTLock behind the provider trait.

use std::collections::HashMap;

use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use lockbridge_ttlock::{
    self as tt, ApiErrorKind, Config, ExposeSecret, Md5Password, NewPasscode, OrderBy,
    PasscodeChange, RecordQuery, Tokens, TtlockClient, Validity, WriteVia,
};

use crate::call::Calls;
use crate::sessions::Sessions;
use lockbridge_core::credentials::{Credentials, Field};
use lockbridge_core::model::{Capabilities, Connection, Lock, LockState, Provider};
use lockbridge_core::provider::*;
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::Millis;

mod codes;
mod offline;

/// This vendor, as lockbridge names it.
pub const PROVIDER: Provider = Provider::named(&lockbridge_core::model::VendorNames {
    id: "ttlock",
    label: "TTLock",
});
const P: Provider = PROVIDER;

/// This vendor's adapter (its line in [`crate::builtin`]).
pub fn adapter(cx: &crate::Context) -> std::sync::Arc<dyn lockbridge_core::Vendor> {
    std::sync::Arc::new(TtlockProvider::new(cx))
}
/// A busy gateway is waited for, not reported: this many tries, doubling from 250 ms.
const BUSY_TRIES: u32 = 5;

/// TTLock's error code for a gateway handling another command.
const GATEWAY_BUSY: &str = "-3003";

pub struct TtlockProvider {
    /// Checks credential sets; holds no state of its own.
    verifier: TtlockClient,
    sessions: Sessions<TtlockClient>,
    /// The account's request budget, and one command at a time per gateway (or per Wi-Fi
    /// lock) across every instance.
    pace: Arc<crate::pace::Pace>,
    tokens: Arc<dyn TokenStore>,
    calls: Calls<tt::Error>,
    busy_backoff: Duration,
    timeout: Duration,
    /// Each lock's UTC offset in minutes, read from its detail once.
    offsets: std::sync::Mutex<HashMap<i64, i32>>,
}

impl std::fmt::Debug for TtlockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlockProvider").finish_non_exhaustive()
    }
}

fn ms(t: SystemTime) -> Millis {
    tt::EpochMillis::from(t).0
}

fn token_fields(tokens: &Tokens) -> Credentials {
    let mut c = Credentials::new();
    c.set("access_token", tokens.access_token.expose_secret());
    c.set("refresh_token", tokens.refresh_token.expose_secret());
    if let Some(uid) = tokens.uid {
        c.set("uid", uid.to_string());
    }
    c
}

/// Maps the client's error; `verifying` turns credential refusals into
/// `RejectedCredentials` instead of `AuthFailed`.
fn map_err(err: tt::Error, verifying: bool) -> ProviderError {
    use ErrorKind::*;
    let (kind, field) = match &err {
        tt::Error::Api(api) => {
            let kind = match api.kind() {
                ApiErrorKind::InvalidClient
                | ApiErrorKind::InvalidAccount
                | ApiErrorKind::InvalidRefreshToken
                | ApiErrorKind::PasswordNotMd5
                | ApiErrorKind::InvalidToken
                | ApiErrorKind::TokenExpired => {
                    if verifying {
                        RejectedCredentials
                    } else {
                        AuthFailed
                    }
                }
                ApiErrorKind::DuplicatePasscode => AlreadyExists,
                ApiErrorKind::NoSpace => CapacityReached,
                ApiErrorKind::InvalidPasscode => InvalidInput,
                ApiErrorKind::InvalidParameter => InvalidInput,
                ApiErrorKind::GatewayBusy | ApiErrorKind::LockBusy => DeviceBusy,
                ApiErrorKind::LockOffline => DeviceOffline,
                // -2012 on a lock that had one: its gateway is gone.
                ApiErrorKind::GatewayOffline | ApiErrorKind::NoGateway => GatewayOffline,
                ApiErrorKind::NotSupported => Unsupported,
                ApiErrorKind::NotLockAdmin
                | ApiErrorKind::LockNotFound
                | ApiErrorKind::GatewayNotFound => NotFound,
                ApiErrorKind::RateLimited => RateLimited,
                ApiErrorKind::Internal | ApiErrorKind::Failed => Unavailable,
                _ => Failed,
            };
            let field = matches!(
                api.kind(),
                ApiErrorKind::InvalidPasscode | ApiErrorKind::DuplicatePasscode
            )
            .then_some("code");
            let code = api.errcode;
            let e = ProviderError::caused(P, kind, err).with_code(code);
            return match field {
                Some(f) => e.with_field(f),
                None => e,
            };
        }
        tt::Error::InvalidInput { param, .. } => (InvalidInput, Some(*param)),
        tt::Error::Status { .. } => (Unavailable, None),
        tt::Error::Transport(t) if is_timeout(t) => (Timeout, None),
        tt::Error::Transport(_) => (Unavailable, None),
        tt::Error::NotConfigured | tt::Error::NotAuthenticated | tt::Error::MissingEnv(_) => {
            (AuthFailed, None)
        }
        _ => (Failed, None),
    };
    let e = ProviderError::caused(P, kind, err);
    match field {
        Some(f) => e.with_field(f),
        None => e,
    }
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains("timed out") {
            return true;
        }
        cur = err.source();
    }
    false
}

fn lock_id(lock: &Lock) -> ProviderResult<i64> {
    lock.provider_id
        .parse()
        .map_err(|_| ProviderError::new(P, ErrorKind::NotFound, "not a TTLock lock id"))
}

fn config(base_url: Option<&str>, c: &Credentials, timeout: Duration) -> ProviderResult<Config> {
    // The service renews tokens ahead of expiry, once across instances (the renewal lease);
    // the client renews by itself only a token about to lapse under a call, and only after
    // looking in the store for one renewed elsewhere.
    let mut config = Config::new(c.required(P, "client_id")?, c.required(P, "client_secret")?)
        .timeout(timeout)
        .refresh_margin(Duration::from_secs(60));
    if let Some(url) = base_url {
        config = config.base_url(url);
    }
    Ok(config)
}

/// The token pair stored with a connection.
fn stored_tokens(conn: &Connection) -> ProviderResult<Tokens> {
    let c = &conn.credentials;
    Ok(Tokens {
        access_token: c.required(P, "access_token")?.to_owned().into(),
        refresh_token: c.required(P, "refresh_token")?.to_owned().into(),
        uid: c.get("uid").and_then(|u| u.parse().ok()),
        expires_at: tt::EpochMillis(conn.token_expires_at.unwrap_or(0)).into(),
    })
}

impl TtlockProvider {
    pub fn new(cx: &crate::Context) -> Self {
        TtlockProvider {
            verifier: TtlockClient::new(),
            sessions: Sessions::default(),
            pace: cx.pace.clone(),
            tokens: cx.tokens.clone(),
            calls: Calls::new(cx, P, map_err),
            busy_backoff: Duration::from_millis(250),
            timeout: cx.request_timeout,
            offsets: Default::default(),
        }
    }

    /// The connection's client, rebuilt when its credentials changed.
    fn session(&self, conn: &Connection) -> ProviderResult<TtlockClient> {
        self.sessions.get(conn, || {
            let c = &conn.credentials;
            let client = TtlockClient::new();
            client.configure(config(conn.base_url.as_deref(), c, self.timeout)?);
            let md5 = Md5Password::parse(c.required(P, "password_md5")?)
                .map_err(|e| map_err(e, false))?;
            client
                .restore(c.required(P, "username")?, md5, stored_tokens(conn)?)
                .map_err(|e| map_err(e, false))?;
            // A token refused or expired is first looked for in the store, where another
            // instance may have put its renewal.
            let (store, id) = (self.tokens.clone(), conn.id);
            client.tokens_from(Arc::new(move || {
                let store = store.clone();
                Box::pin(async move { stored_tokens(&store.stored(id).await?).ok() })
            }));
            let (store, id) = (self.tokens.clone(), conn.id);
            client.on_tokens(move |t| {
                store.save(TokenUpdate {
                    connection_id: id,
                    tokens: token_fields(t),
                    expires_at: Some(ms(t.expires_at)),
                })
            });
            Ok(client)
        })
    }

    /// A command through the lock's gateway: one at a time, "gateway busy" retried.
    async fn via_gateway<T, F, Fut>(
        &self,
        conn: &Connection,
        lock: &Lock,
        route: &'static str,
        op: F,
    ) -> ProviderResult<T>
    where
        F: Fn(TtlockClient) -> Fut,
        Fut: std::future::Future<Output = tt::Result<T>>,
    {
        let client = self.session(conn)?;
        let gateway = lock
            .gateway_id
            .map_or_else(|| lock.id.to_string(), |g| g.to_string());
        // Longer than one command can take, so the turn outlives a command only when its
        // holder died.
        let lease = self.timeout + Duration::from_secs(5);
        let mut wait = self.busy_backoff;
        for attempt in 1..=BUSY_TRIES {
            let turn = self.pace.turn(P, &gateway, lease).await?;
            let result = self.calls.run(conn.id, route, op(client.clone())).await;
            // Given back after the answer (see `Turn`'s `Drop`).
            drop(turn);
            match result {
                Err(e) if e.code.as_deref() == Some(GATEWAY_BUSY) && attempt < BUSY_TRIES => {
                    tracing::debug!(route, attempt, "gateway busy; waiting");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                other => return other,
            }
        }
        unreachable!("the last attempt returns")
    }
}

fn event_of(r: &tt::UnlockRecord) -> LockEvent {
    let (kind, method) = match r.record_type {
        4 => ("unlock", "passcode"),
        7 | 49 => ("unlock", "card"),
        8 => ("unlock", "fingerprint"),
        1 => ("unlock", "app"),
        3 | 12 | 37 | 55 => ("unlock", "remote"),
        10 => ("unlock", "key"),
        11 | 47 => ("lock", "remote"),
        33 => ("lock", "fingerprint"),
        34 => ("lock", "passcode"),
        35 => ("lock", "card"),
        36 => ("lock", "key"),
        45 => ("lock", "auto"),
        29 | 44 | 48 | 50 | 64 => ("alarm", "other"),
        _ => ("unlock", "other"),
    };
    LockEvent {
        time: r.lock_date,
        kind,
        method,
        success: r.success,
        actor: r.username.clone(),
        provider_type: r.record_type.to_string(),
        alarm: match r.record_type {
            29 => Some("forced_open"),
            44 => Some("tamper"),
            48 => Some("wrong_code_lockout"),
            50 => Some("high_temperature"),
            64 => Some("door_ajar"),
            _ => None,
        },
        code: r.keyboard_pwd.clone().filter(|c| !c.is_empty()),
        code_provider_id: None,
        record_id: r.record_id.map(|id| id.to_string()),
    }
}

fn spec_of(p: &tt::PasscodeInfo) -> ProviderCode {
    let period = |v: Option<i64>| v.filter(|&t| t > 0);
    ProviderCode {
        provider_id: p.keyboard_pwd_id.to_string(),
        spec: CodeSpec {
            code: p.keyboard_pwd.clone().unwrap_or_default(),
            name: p.keyboard_pwd_name.clone(),
            starts_at: period(p.start_date).filter(|_| p.keyboard_pwd_type != Some(2)),
            ends_at: period(p.end_date).filter(|_| p.keyboard_pwd_type != Some(2)),
            schedule: None,
        },
    }
}

#[async_trait]
impl Vendor for TtlockProvider {
    fn provider(&self) -> Provider {
        P
    }

    /// A gateway takes one command at a time (the adapter's turn on it keeps them so); its
    /// lane works two items, so one item's code is stored while the other's command runs and
    /// the gateway never waits for the database. A lock without a gateway is its own lane.
    fn command_lane(&self, lock: &Lock) -> lockbridge_core::provider::CommandLane {
        let key = match lock.gateway_id {
            Some(g) => format!("gateway {g}"),
            None => format!("lock {}", lock.id),
        };
        lockbridge_core::provider::CommandLane { key, width: 2 }
    }

    fn credential_fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::plain("client_id"),
            Field::secret("client_secret"),
            Field::plain("username"),
            // Kept only as its MD5.
            Field::secret("password").stored_as("password_md5"),
        ];
        FIELDS
    }

    async fn verify(&self, base_url: Option<&str>, c: &Credentials) -> ProviderResult<Verified> {
        let config = config(base_url, c, self.timeout)?;
        let username = c.required(P, "username")?;
        let md5 = match (c.get("password_md5"), c.get("password")) {
            (_, Some(plain)) => Md5Password::hash(plain),
            (Some(hex), None) => Md5Password::parse(hex).map_err(|e| map_err(e, true))?,
            (None, None) => {
                return Err(
                    ProviderError::new(P, ErrorKind::InvalidInput, "password is required")
                        .with_field("password"),
                );
            }
        };
        let tokens = self
            .calls
            .verify(
                "/oauth2/token",
                self.verifier.verify(&config, username, &md5),
            )
            .await?;
        let mut stored = Credentials::new();
        for name in ["client_id", "client_secret", "username"] {
            stored.set(name, c.required(P, name)?);
        }
        stored.set("password_md5", md5.expose());
        stored.merge(&token_fields(&tokens));
        Ok(Verified {
            credentials: stored,
            token_expires_at: Some(ms(tokens.expires_at)),
        })
    }

    async fn refresh(&self, conn: &Connection) -> ProviderResult<TokenUpdate> {
        let client = self.session(conn)?;
        self.calls
            .run(conn.id, "/oauth2/token", client.refresh_token())
            .await?;
        let tokens = client.tokens().ok_or_else(|| {
            ProviderError::new(P, ErrorKind::AuthFailed, "no tokens after refresh")
        })?;
        Ok(TokenUpdate {
            connection_id: conn.id,
            tokens: token_fields(&tokens),
            expires_at: Some(ms(tokens.expires_at)),
        })
    }

    async fn devices(&self, conn: &Connection) -> ProviderResult<Devices> {
        let client = self.session(conn)?;
        let mut gateways = Vec::new();
        let mut gateway_of: HashMap<i64, (String, bool)> = HashMap::new();
        let mut page_no = 1;
        loop {
            let page = self
                .calls
                .run(
                    conn.id,
                    "/v3/gateway/list",
                    client.gateways(page_no, 200, OrderBy::Name),
                )
                .await?;
            let more = page.has_more(page_no, 200);
            for g in page.list {
                let id = g.gateway_id.to_string();
                let locks = self
                    .calls
                    .run(
                        conn.id,
                        "/v3/gateway/listLock",
                        client.gateway_locks(g.gateway_id),
                    )
                    .await?;
                for l in locks {
                    gateway_of.insert(l.lock_id, (id.clone(), g.is_online));
                }
                gateways.push(DeviceGateway {
                    provider_id: id,
                    name: g
                        .gateway_name
                        .unwrap_or_else(|| format!("Gateway {}", g.gateway_id)),
                    online: g.is_online,
                });
            }
            if !more {
                break;
            }
            page_no += 1;
        }
        let all = self
            .calls
            .run(
                conn.id,
                "/v3/lock/list",
                client.all_locks(Default::default()),
            )
            .await?;
        // The list gives no time zone; each lock's detail gives its clock's UTC offset. Read
        // once per lock by this instance (an offset moves only when the lock is set up again).
        let unknown: Vec<i64> = {
            let known = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
            all.iter()
                .map(|l| l.lock_id)
                .filter(|id| !known.contains_key(id))
                .collect()
        };
        let read: Vec<(i64, Option<i64>)> = futures_util::stream::iter(unknown)
            .map(|id| {
                let client = client.clone();
                async move {
                    let detail = self
                        .calls
                        .run(conn.id, "/v3/lock/detail", client.lock_detail(id))
                        .await;
                    (id, detail.ok().and_then(|d| d.timezone_raw_offset))
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let offsets = {
            let mut known = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
            for (id, ms) in read {
                if let Some(ms) = ms {
                    known.insert(id, i32::try_from(ms / 60_000).unwrap_or(0));
                }
            }
            known.clone()
        };
        let locks = all
            .into_iter()
            .map(|l| {
                let wifi = l.features().has(tt::Features::WIFI);
                let gw = gateway_of.get(&l.lock_id).cloned();
                DeviceLock {
                    provider_id: l.lock_id.to_string(),
                    name: l
                        .lock_alias
                        .clone()
                        .or(l.lock_name.clone())
                        .unwrap_or_else(|| l.lock_id.to_string()),
                    // Only a gateway's presence is known; a Wi-Fi lock is taken as online.
                    online: gw.as_ref().map_or(wifi, |g| g.1),
                    reach_reported: false,
                    state: LockState::Unknown,
                    battery: l
                        .electric_quantity
                        .and_then(|b| u8::try_from(b.clamp(0, 100)).ok()),
                    gateway: gw.map(|g| g.0),
                    time_zone: None,
                    utc_offset_minutes: offsets.get(&l.lock_id).copied(),
                    // Codes are written through a gateway or over Wi-Fi: a Bluetooth-only
                    // lock takes none from the cloud (its offline codes still work).
                    capabilities: Capabilities {
                        remote_unlock: l.is_remote(),
                        access_codes: l.is_remote(),
                        time_bound_codes: l.is_remote(),
                        recurring_codes: false,
                        offline_codes: true,
                        freeze: false,
                    },
                    code_rules: CodeRules::ttlock(),
                }
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

    fn codes(&self) -> Option<&dyn Codes> {
        Some(self)
    }

    fn offline_codes(&self) -> Option<&dyn OfflineCodes> {
        Some(self)
    }
}

#[async_trait]
impl Operations for TtlockProvider {
    async fn unlock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        let id = lock_id(lock)?;
        self.via_gateway(conn, lock, "/v3/lock/unlock", |c| async move {
            c.unlock(id).await
        })
        .await
    }

    async fn lock(&self, conn: &Connection, lock: &Lock) -> ProviderResult<()> {
        let id = lock_id(lock)?;
        self.via_gateway(
            conn,
            lock,
            "/v3/lock/lock",
            |c| async move { c.lock(id).await },
        )
        .await
    }
}

#[async_trait]
impl Logs for TtlockProvider {
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
        for page_no in 1.. {
            let query = RecordQuery {
                page_no,
                page_size: size,
                ..RecordQuery::new(lock_id(lock)?)
            };
            let page = self
                .calls
                .run(
                    conn.id,
                    "/v3/lockRecord/list",
                    client.unlock_records(&query),
                )
                .await?;
            let full = page.list.len() as u32 >= size;
            let before = out.len();
            out.extend(
                page.list
                    .iter()
                    .map(event_of)
                    .filter(|e| since.is_none_or(|s| e.time >= s)),
            );
            // Newest first: a page that reached `since` (or the end) is the last one.
            if !full || out.len() - before < page.list.len() || out.len() >= limit as usize {
                break;
            }
        }
        out.truncate(limit as usize);
        Ok(out)
    }
}
