//! Configuration, authentication and the transport every call goes through: Tedee's envelope,
//! its error statuses, the rate limit and `Retry-After`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error, Result};
use crate::pacer::{Pacer, RateGate};

/// Tedee's API host.
pub const DEFAULT_BASE_URL: &str = "https://api.tedee.com";
/// The API version the client speaks by default.
pub const DEFAULT_API_VERSION: &str = "v37";
/// Tedee's OAuth token endpoint (Azure AD B2C).
pub const DEFAULT_TOKEN_URL: &str = "https://tedee.b2clogin.com/tedee.onmicrosoft.com/B2C_1A_Signup_Signin_With_Kmsi/oauth2/v2.0/token";

/// OAuth tokens of a user.
#[derive(Clone)]
pub struct OAuthTokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// Epoch milliseconds; renewed a few minutes before.
    pub expires_at_ms: Option<i64>,
}

impl std::fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// How requests are authorised.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: PersonalKey <key>`.
    PersonalKey(SecretString),
    /// `Authorization: Bearer <token>`, renewed with the refresh token.
    OAuth {
        client_id: String,
        tokens: OAuthTokens,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::PersonalKey(_) => f.write_str("PersonalKey(••••)"),
            Auth::OAuth { client_id, .. } => write!(f, "OAuth({client_id})"),
        }
    }
}

/// Where and how the client talks to Tedee.
#[derive(Clone)]
pub struct Config {
    pub(crate) base_url: String,
    pub(crate) api_version: String,
    pub(crate) token_url: String,
    pub(crate) auth: Auth,
    pub(crate) timeout: Duration,
    pub(crate) rate_limit: (u32, Duration),
    pub(crate) max_retry_wait: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) gate: Option<Arc<dyn RateGate>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("rate_limit", &self.rate_limit)
            .field("shared_gate", &self.gate.is_some())
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn personal_key(key: impl Into<String>) -> Self {
        Config::new(Auth::PersonalKey(SecretString::from(key.into())))
    }

    pub fn oauth(client_id: impl Into<String>, tokens: OAuthTokens) -> Self {
        Config::new(Auth::OAuth {
            client_id: client_id.into(),
            tokens,
        })
    }

    fn new(auth: Auth) -> Self {
        Config {
            base_url: DEFAULT_BASE_URL.into(),
            api_version: DEFAULT_API_VERSION.into(),
            token_url: DEFAULT_TOKEN_URL.into(),
            auth,
            timeout: Duration::from_secs(30),
            rate_limit: (700, Duration::from_secs(3600)),
            max_retry_wait: Duration::from_secs(120),
            poll_interval: Duration::from_millis(500),
            operation_timeout: Duration::from_secs(30),
            gate: None,
        }
    }

    /// The host (`https://api.tedee.com` by default); a trailing `/` or `/api` is dropped.
    pub fn base_url(mut self, url: &str) -> Self {
        let url = url.trim().trim_end_matches('/');
        self.base_url = url.strip_suffix("/api").unwrap_or(url).to_owned();
        self
    }

    /// The API version in the path: `v37` (default), `v1.32`, …
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// The OAuth token endpoint used to refresh tokens.
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// At most `requests` per `window` (Tedee: 700 per hour per user account — all keys of
    /// one user share it, so give each client its share).
    pub fn rate_limit(mut self, requests: u32, window: Duration) -> Self {
        self.rate_limit = (requests, window);
        self
    }

    /// Paces requests with `gate` instead of the client's own window (then
    /// [`Config::rate_limit`] is not used): a budget shared by several clients of one user, or
    /// by several processes.
    pub fn rate_gate(mut self, gate: Arc<dyn RateGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The longest `Retry-After` the client waits out by itself before answering
    /// [`Error::RateLimited`] (2 minutes by default).
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.max_retry_wait = wait;
        self
    }

    /// How often, and how long, [`crate::TedeeClient::wait_operation`] polls.
    pub fn operation_polling(mut self, interval: Duration, timeout: Duration) -> Self {
        self.poll_interval = interval;
        self.operation_timeout = timeout;
        self
    }
}

/// Called with renewed OAuth tokens, to persist them.
pub type TokenListener = Arc<dyn Fn(&OAuthTokens) + Send + Sync>;

/// A Tedee cloud client. Cheap to clone: clones share configuration, tokens, the pacer and
/// the connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), lockbridge_tedee::Error> {
/// use lockbridge_tedee::{Config, NewPin, TedeeClient};
/// let tedee = TedeeClient::new(Config::personal_key("personal access key"));
/// for lock in tedee.locks().await? {
///     println!("{} {:?}", lock.name, lock.state().map(|s| s.battery_level));
/// }
/// let id = tedee.create_pin(123, &NewPin::permanent("cleaner", "918273")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TedeeClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    pub(crate) config: Config,
    tokens: RwLock<Option<OAuthTokens>>,
    refreshing: tokio::sync::Mutex<()>,
    listener: RwLock<Option<TokenListener>>,
    pacer: Arc<dyn RateGate>,
}

impl std::fmt::Debug for TedeeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TedeeClient")
            .field("base_url", &self.inner.config.base_url)
            .field("api_version", &self.inner.config.api_version)
            .field("auth", &self.inner.config.auth)
            .finish_non_exhaustive()
    }
}

/// Tedee's envelope: `{result, success, errorMessages, statusCode}`.
#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default = "Option::default")]
    result: Option<T>,
    #[serde(default, rename = "errorMessages")]
    error_messages: Vec<String>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What an answer's body was, once the status was looked at.
pub(crate) enum Answer {
    Body(u16, Vec<u8>),
    NotModified,
}

impl TedeeClient {
    pub fn new(config: Config) -> Self {
        Self::with_http(config, reqwest::Client::new())
    }

    pub fn with_http(config: Config, http: reqwest::Client) -> Self {
        let tokens = match &config.auth {
            Auth::OAuth { tokens, .. } => Some(tokens.clone()),
            Auth::PersonalKey(_) => None,
        };
        let (limit, window) = config.rate_limit;
        TedeeClient {
            inner: Arc::new(Inner {
                http,
                tokens: RwLock::new(tokens),
                refreshing: tokio::sync::Mutex::new(()),
                listener: RwLock::new(None),
                pacer: config
                    .gate
                    .clone()
                    .unwrap_or_else(|| Arc::new(Pacer::new(limit, window))),
                config,
            }),
        }
    }

    /// Calls `listener` with every renewed OAuth token pair.
    pub fn on_tokens(&self, listener: TokenListener) {
        *self
            .inner
            .listener
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    /// The current OAuth tokens (after any renewal).
    pub fn tokens(&self) -> Option<OAuthTokens> {
        self.inner
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn authorization(&self) -> String {
        match &self.inner.config.auth {
            Auth::PersonalKey(key) => format!("PersonalKey {}", key.expose_secret()),
            Auth::OAuth { .. } => {
                let token = self
                    .tokens()
                    .map(|t| t.access_token.expose_secret().to_owned());
                format!("Bearer {}", token.unwrap_or_default())
            }
        }
    }

    /// Renews the OAuth tokens when they are about to expire, or when `stale` (the access
    /// token Tedee just refused) is still the current one. One renewal for any number of
    /// concurrent callers.
    async fn renew_if_needed(&self, stale: Option<&str>) -> Result<()> {
        let Auth::OAuth { client_id, .. } = &self.inner.config.auth else {
            return Ok(());
        };
        let due = |t: &Option<OAuthTokens>| {
            t.as_ref().is_some_and(|t| {
                stale.is_some_and(|s| s == t.access_token.expose_secret())
                    || t.expires_at_ms.is_some_and(|at| at <= now_ms() + 300_000)
            })
        };
        if !due(&self.tokens()) {
            return Ok(());
        }
        let _one = self.inner.refreshing.lock().await;
        let current = self.tokens();
        if !due(&current) {
            return Ok(());
        }
        let Some(current) = current else {
            return Ok(());
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("refresh_token", current.refresh_token.expose_secret()),
            (
                "scope",
                "https://tedee.onmicrosoft.com/api/user_impersonation offline_access",
            ),
        ];
        let body = serde_urlencoded::to_string(form).map_err(|e| Error::Refresh(e.to_string()))?;
        let resp = self
            .inner
            .http
            .post(&self.inner.config.token_url)
            .timeout(self.inner.config.timeout)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        if !(200..300).contains(&status) {
            return Err(Error::Refresh(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )));
        }
        #[derive(Deserialize)]
        struct Granted {
            access_token: SecretString,
            refresh_token: Option<SecretString>,
            expires_in: Option<serde_json::Value>,
        }
        let g: Granted =
            serde_json::from_slice(&bytes).map_err(|e| Error::Refresh(e.to_string()))?;
        // B2C sends `expires_in` as a string ("3600"); take a number too.
        let secs = g.expires_in.and_then(|v| match v {
            serde_json::Value::String(s) => s.parse::<i64>().ok(),
            other => other.as_i64(),
        });
        let renewed = OAuthTokens {
            access_token: g.access_token,
            refresh_token: g.refresh_token.unwrap_or(current.refresh_token),
            expires_at_ms: secs.map(|s| now_ms() + s * 1000),
        };
        *self.inner.tokens.write().unwrap_or_else(|e| e.into_inner()) = Some(renewed.clone());
        let listener = self
            .inner
            .listener
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(listener) = listener {
            listener(&renewed);
        }
        Ok(())
    }

    /// One call: paced, authorised, `Retry-After` honoured, a refused OAuth token renewed once.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let cfg = &self.inner.config;
        let url = format!("{}/api/{}{path}", cfg.base_url, cfg.api_version);
        let mut renewed = false;
        loop {
            self.renew_if_needed(None).await?;
            if let Err(wait) = self.inner.pacer.acquire().await {
                return Err(Error::RateLimited {
                    retry_after_s: wait.as_secs().max(1),
                });
            }
            let auth = self.authorization();
            let mut req = self
                .inner
                .http
                .request(method.clone(), &url)
                .timeout(cfg.timeout)
                .header(AUTHORIZATION, &auth)
                .header("accept", "application/json");
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
            }
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let bytes = resp.bytes().await?.to_vec();
            match status {
                304 => return Ok(Answer::NotModified),
                200..=299 => return Ok(Answer::Body(status, bytes)),
                429 => {
                    let wait = Duration::from_secs(retry_after.unwrap_or(60));
                    self.inner.pacer.retry_after(wait);
                    if wait > cfg.max_retry_wait {
                        return Err(Error::RateLimited {
                            retry_after_s: wait.as_secs(),
                        });
                    }
                    tracing::info!(?wait, "Tedee's rate limit was reached; waiting as told");
                }
                401 if !renewed && matches!(cfg.auth, Auth::OAuth { .. }) => {
                    renewed = true;
                    let stale = auth.strip_prefix("Bearer ").unwrap_or_default().to_owned();
                    self.renew_if_needed(Some(&stale)).await?;
                }
                _ => return Err(error_of(status, &bytes, retry_after)),
            }
        }
    }

    /// A call whose answer is the envelope's `result`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        match self.send(method, path, body).await? {
            Answer::Body(status, bytes) => result_of(status, &bytes),
            Answer::NotModified => Err(Error::Decode {
                status: 304,
                message: "Not Modified where a body was expected".into(),
            }),
        }
    }

    /// A call whose success carries nothing to read (204, 202 …).
    pub(crate) async fn call_empty(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<()> {
        self.send(method, path, body).await.map(drop)
    }
}

pub(crate) fn result_of<T: DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T> {
    let env: Envelope<T> = serde_json::from_slice(bytes).map_err(|e| Error::Decode {
        status,
        message: e.to_string(),
    })?;
    env.result.ok_or_else(|| Error::Decode {
        status,
        message: format!(
            "no result in the envelope ({})",
            env.error_messages.join("; ")
        ),
    })
}

/// An error answer. The envelope's `errorMessages` are read when there is one; the
/// authentication layer may answer with no body at all.
fn error_of(status: u16, bytes: &[u8], retry_after_s: Option<u64>) -> Error {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default, rename = "errorMessages")]
        error_messages: Vec<String>,
    }
    let messages = serde_json::from_slice::<Body>(bytes)
        .map(|b| b.error_messages)
        .unwrap_or_default();
    Error::Api(Box::new(ApiError {
        status,
        messages,
        retry_after_s,
    }))
}
