//! Configuration, tokens and the signed transport every call goes through.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, Error, ErrorKind, Result};
use crate::sign::{canonical_url, sign, string_to_sign};

/// Tuya's data centres. A project's credentials and devices belong to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    China,
    UsWest,
    UsEast,
    CentralEurope,
    WesternEurope,
    India,
    Singapore,
}

impl Region {
    pub fn base_url(self) -> &'static str {
        match self {
            Region::China => "https://openapi.tuyacn.com",
            Region::UsWest => "https://openapi.tuyaus.com",
            Region::UsEast => "https://openapi-ueaz.tuyaus.com",
            Region::CentralEurope => "https://openapi.tuyaeu.com",
            Region::WesternEurope => "https://openapi-weaz.tuyaeu.com",
            Region::India => "https://openapi.tuyain.com",
            Region::Singapore => "https://openapi-sg.iotbing.com",
        }
    }

    /// `cn`, `us`, `us-east`, `eu`, `eu-west`, `in`, `sg`.
    pub fn parse(name: &str) -> Option<Region> {
        Some(match name.to_ascii_lowercase().as_str() {
            "cn" | "china" => Region::China,
            "us" | "us-west" => Region::UsWest,
            "us-east" | "ueaz" => Region::UsEast,
            "eu" | "central-europe" => Region::CentralEurope,
            "eu-west" | "weaz" => Region::WesternEurope,
            "in" | "india" => Region::India,
            "sg" | "singapore" => Region::Singapore,
            _ => return None,
        })
    }
}

/// A project's Access ID and Secret, and where its data centre is.
#[derive(Clone)]
pub struct Config {
    pub(crate) base_url: String,
    pub(crate) access_id: String,
    pub(crate) access_secret: SecretString,
    pub(crate) timeout: Duration,
    pub(crate) refresh_margin: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("access_id", &self.access_id)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn new(
        region: Region,
        access_id: impl Into<String>,
        access_secret: impl Into<String>,
    ) -> Self {
        Config {
            base_url: region.base_url().to_owned(),
            access_id: access_id.into(),
            access_secret: SecretString::from(access_secret.into()),
            timeout: Duration::from_secs(30),
            refresh_margin: Duration::from_secs(60),
        }
    }

    /// Any base URL (`http://` too, for a local simulator).
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = url.trim().trim_end_matches('/').to_owned();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long before expiry the access token is renewed (60 s by default).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    pub fn access_id(&self) -> &str {
        &self.access_id
    }
}

/// A project token pair. The refresh token works once: a refresh rotates both.
#[derive(Clone)]
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// Epoch milliseconds.
    pub expires_at_ms: i64,
    pub uid: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

pub type TokenListener = Arc<dyn Fn(&Tokens) + Send + Sync>;

/// A Tuya cloud client for one project. Cheap to clone: clones share the configuration, the
/// tokens and the connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), lockbridge_tuya::Error> {
/// use lockbridge_tuya::{Config, Region, TuyaClient};
/// let tuya = TuyaClient::new(Config::new(Region::CentralEurope, "access id", "access secret"));
/// let device = tuya.device("bf80786606d50303aeum9g").await?;
/// println!("{} online: {}", device.name, device.online);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TuyaClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    pub(crate) config: Config,
    tokens: RwLock<Option<Tokens>>,
    renewing: tokio::sync::Mutex<()>,
    listener: RwLock<Option<TokenListener>>,
    source: RwLock<Option<TokenSource>>,
}

/// Where tokens renewed by another process sharing the project are found (a database, say):
/// asked for the newest pair before the client renews on its own.
pub type TokenSource =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<Tokens>> + Send>> + Send + Sync>;

impl std::fmt::Debug for TuyaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TuyaClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Tuya's envelope: `{success, result, code, msg, t, tid}`.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    t: Option<i64>,
    #[serde(default)]
    tid: Option<String>,
}

#[derive(Deserialize)]
struct Granted {
    access_token: SecretString,
    refresh_token: SecretString,
    /// Seconds left (older pages call it `expire`).
    #[serde(alias = "expire")]
    expire_time: i64,
    #[serde(default)]
    uid: Option<String>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A request before signing.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: Vec<(&'static str, String)>,
    /// Compact JSON, hashed and sent byte for byte; `None` sends no body and hashes "".
    pub body: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a str) -> Self {
        Call {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
        }
    }
    pub fn new(method: Method, path: &'a str) -> Self {
        Call {
            method,
            ..Call::get(path)
        }
    }
    pub fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }
    pub fn json(mut self, body: &Value) -> Self {
        self.body = serde_json::to_vec(body).ok();
        self
    }
}

impl TuyaClient {
    pub fn new(config: Config) -> Self {
        Self::with_http(config, reqwest::Client::new())
    }

    pub fn with_http(config: Config, http: reqwest::Client) -> Self {
        TuyaClient {
            inner: Arc::new(Inner {
                http,
                config,
                tokens: RwLock::new(None),
                renewing: tokio::sync::Mutex::new(()),
                listener: RwLock::new(None),
                source: RwLock::new(None),
            }),
        }
    }

    /// Starts from tokens obtained earlier (they are renewed as needed).
    pub fn restore(&self, tokens: Tokens) {
        *self.inner.tokens.write().unwrap_or_else(|e| e.into_inner()) = Some(tokens);
    }

    /// Before renewing a pair that expired or that Tuya refused, the client asks `source` for
    /// a newer one and takes it when it is still good: Tuya supersedes a pair on every renewal,
    /// so processes sharing a project must use the pair one of them renewed, not renew again.
    pub fn tokens_from(&self, source: TokenSource) {
        *self.inner.source.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// Called with every new token pair, to persist it.
    pub fn on_tokens(&self, listener: TokenListener) {
        *self
            .inner
            .listener
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    pub fn tokens(&self) -> Option<Tokens> {
        self.inner
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Signs and sends one request; answers the envelope's `result` (or the refusal).
    async fn send(&self, call: &Call<'_>, token: Option<&str>) -> Result<Value> {
        let cfg = &self.inner.config;
        let url = canonical_url(
            call.path,
            &call
                .query
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect::<Vec<_>>(),
        );
        let body = call.body.as_deref().unwrap_or(b"");
        let t = now_ms().to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let sts = string_to_sign(call.method.as_str(), body, &[], &url);
        let signature = sign(
            cfg.access_secret.expose_secret(),
            &cfg.access_id,
            token.unwrap_or(""),
            &t,
            &nonce,
            &sts,
        );
        let mut req = self
            .inner
            .http
            .request(
                call.method.clone(),
                format!("{}{}", cfg.base_url, call.path),
            )
            .timeout(cfg.timeout)
            .header("client_id", &cfg.access_id)
            .header("sign", signature)
            .header("sign_method", "HMAC-SHA256")
            .header("t", &t)
            .header("nonce", &nonce)
            .header("lang", "en");
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(token) = token {
            req = req.header("access_token", token);
        }
        if let Some(bytes) = &call.body {
            req = req
                .header("content-type", "application/json")
                .body(bytes.clone());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(Error::Status { status });
        }
        let bytes = resp.bytes().await?;
        let env: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))?;
        if !env.success {
            return Err(Error::Api(Box::new(ApiError {
                code: env.code.unwrap_or(0),
                msg: env.msg.unwrap_or_default(),
                tid: env.tid,
            })));
        }
        let _ = env.t;
        Ok(env.result.unwrap_or(Value::Null))
    }

    fn store(&self, granted: Granted) -> Tokens {
        let tokens = Tokens {
            access_token: granted.access_token,
            refresh_token: granted.refresh_token,
            expires_at_ms: now_ms() + granted.expire_time * 1000,
            uid: granted.uid,
        };
        *self.inner.tokens.write().unwrap_or_else(|e| e.into_inner()) = Some(tokens.clone());
        let listener = self
            .inner
            .listener
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(l) = listener {
            l(&tokens);
        }
        tokens
    }

    /// Gets a new token pair (simple mode, `grant_type=1`).
    pub async fn connect(&self) -> Result<Tokens> {
        let v = self
            .send(&Call::get("/v1.0/token").query("grant_type", 1), None)
            .await?;
        let granted: Granted =
            serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(self.store(granted))
    }

    /// Renews the token pair with the (single-use) refresh token; when Tuya refuses it, gets a
    /// new pair instead. Shares the single flight of automatic renewals: a caller that waited
    /// while another renewal ran gets that renewal's pair rather than spending a second one.
    pub async fn refresh(&self) -> Result<Tokens> {
        let before = self.access_token();
        let _one = self.inner.renewing.lock().await;
        match self.tokens() {
            Some(t) if Some(t.access_token.expose_secret()) != before.as_deref() => Ok(t),
            _ => self.renew().await,
        }
    }

    /// One renewal; the caller holds `renewing`.
    async fn renew(&self) -> Result<Tokens> {
        let Some(current) = self.tokens() else {
            return self.connect().await;
        };
        let path = format!("/v1.0/token/{}", current.refresh_token.expose_secret());
        match self.send(&Call::get(&path), None).await {
            Ok(v) => {
                let granted: Granted =
                    serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))?;
                Ok(self.store(granted))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    Some(
                        ErrorKind::TokenInvalid | ErrorKind::TokenExpired | ErrorKind::InvalidParam
                    )
                ) =>
            {
                tracing::info!(error = %e, "Tuya refused the refresh token; getting a new token");
                self.connect().await
            }
            Err(e) => Err(e),
        }
    }

    fn access_token(&self) -> Option<String> {
        self.tokens()
            .map(|t| t.access_token.expose_secret().to_owned())
    }

    /// The access token to use: renewed when it is about to expire or when it is `stale` (the
    /// token Tuya just refused). One renewal however many callers ask at once — the refresh
    /// token works only once, so a second concurrent refresh would fail.
    async fn token(&self, stale: Option<&str>) -> Result<String> {
        let margin = self.inner.config.refresh_margin.as_millis() as i64;
        let usable = |t: &Option<Tokens>| {
            t.as_ref()
                .filter(|t| Some(t.access_token.expose_secret()) != stale)
                .filter(|t| t.expires_at_ms > now_ms() + margin)
                .map(|t| t.access_token.expose_secret().to_owned())
        };
        if let Some(t) = usable(&self.tokens()) {
            return Ok(t);
        }
        let _one = self.inner.renewing.lock().await;
        if let Some(t) = usable(&self.tokens()) {
            return Ok(t);
        }
        let source = self
            .inner
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(source) = source {
            let elsewhere = source().await;
            if let (Some(access), Some(pair)) = (usable(&elsewhere), elsewhere) {
                tracing::debug!("took the token pair renewed elsewhere");
                self.restore(pair);
                return Ok(access);
            }
        }
        Ok(self.renew().await?.access_token.expose_secret().to_owned())
    }

    /// A business call: signed with the access token. When Tuya answers that the token expired
    /// (1010) or is no longer valid (1011, 1012 — a refresh elsewhere superseded it while this
    /// call was on its way), the token is renewed once and the call repeated. Renewing a
    /// superseded pair falls back to a new grant, which hands over the project's live token.
    /// Repeating is safe: the cloud checks the token before it acts on anything.
    pub(crate) async fn call(&self, call: Call<'_>) -> Result<Value> {
        let token = self.token(None).await?;
        match self.send(&call, Some(&token)).await {
            Err(e)
                if matches!(
                    e.kind(),
                    Some(ErrorKind::TokenExpired | ErrorKind::TokenInvalid)
                ) =>
            {
                tracing::debug!(error = %e, "Tuya refused the access token; renewing once");
                let token = self.token(Some(&token)).await?;
                self.send(&call, Some(&token)).await
            }
            other => other,
        }
    }

    pub(crate) async fn call_as<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T> {
        let v = self.call(call).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))
    }
}
