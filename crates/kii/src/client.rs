//! The client handle, its configuration and the transport every call goes through.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, KiiError, Result};

/// Kii Cloud's sites (data centres).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    Us,
    Jp,
    Cn3,
    Sg,
    Eu,
}

impl Site {
    pub fn base_url(self) -> &'static str {
        match self {
            Site::Us => "https://api.kii.com",
            Site::Jp => "https://api-jp.kii.com",
            Site::Cn3 => "https://api-cn3.kii.com",
            Site::Sg => "https://api-sg.kii.com",
            Site::Eu => "https://api-eu.kii.com",
        }
    }
}

impl FromStr for Site {
    type Err = Error;
    fn from_str(s: &str) -> Result<Site> {
        match s.to_ascii_lowercase().as_str() {
            "us" => Ok(Site::Us),
            "jp" => Ok(Site::Jp),
            "cn" | "cn3" => Ok(Site::Cn3),
            "sg" => Ok(Site::Sg),
            "eu" => Ok(Site::Eu),
            _ => Err(Error::InvalidInput {
                field: "site",
                rule: "must be one of us, jp, cn3, sg, eu".into(),
            }),
        }
    }
}

/// Which path the thing-password change is sent to.
///
/// Kii's REST reference documents `…/things/VENDOR_THING_ID:{id}/ownership/password`; every
/// Kii SDK sends `…/things/{id}/password` instead (and that form is proven by their
/// integration tests). Whether both are live is not confirmed, so the client starts with the
/// configured one and, when it answers a bare 404 that is not Kii's `THING_NOT_FOUND` (the
/// route does not exist there), switches to the other for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordPath {
    /// `…/ownership/password`, as the reference page documents it.
    #[default]
    Ownership,
    /// `…/password`, as the SDKs send it.
    Direct,
}

/// Where and as which application the client talks to Kii.
#[derive(Clone)]
pub struct Config {
    base_url: String,
    app_id: String,
    app_key: SecretString,
    password_path: PasswordPath,
    timeout: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// `base_url` is the site's root (`https://api-jp.kii.com`); a trailing `/api`, as the
    /// JavaScript SDK takes it, is accepted too.
    pub fn new(base_url: &str, app_id: impl Into<String>, app_key: impl Into<String>) -> Self {
        let root = base_url.trim().trim_end_matches('/');
        let root = root.strip_suffix("/api").unwrap_or(root);
        Config {
            base_url: root.to_owned(),
            app_id: app_id.into(),
            app_key: SecretString::from(app_key.into()),
            password_path: PasswordPath::default(),
            timeout: Duration::from_secs(30),
        }
    }

    pub fn for_site(site: Site, app_id: impl Into<String>, app_key: impl Into<String>) -> Self {
        Config::new(site.base_url(), app_id, app_key)
    }

    pub fn password_path(mut self, path: PasswordPath) -> Self {
        self.password_path = path;
        self
    }

    /// Per-request timeout (30 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// An app-admin token.
#[derive(Clone)]
pub struct AdminToken {
    pub access_token: SecretString,
    /// Epoch milliseconds; `None` for a token that does not expire (Kii's default).
    pub expires_at_ms: Option<i64>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// Called with every admin token the client obtains, to persist it.
pub type TokenListener = Arc<dyn Fn(&AdminToken) + Send + Sync>;

/// A Kii Cloud client for one application. Cheap to clone: clones share the configuration,
/// the admin token and the connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), lockbridge_kii::Error> {
/// use lockbridge_kii::{Config, KiiClient, Site, ThingRef};
/// let kii = KiiClient::new(Config::for_site(Site::Jp, "app-id", "app-key"))
///     .with_admin("client-id", "client-secret");
/// kii.change_thing_password(&ThingRef::vendor("door-0042"), "n3w-Passw0rd").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KiiClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) config: Config,
    admin: Option<(String, SecretString)>,
    token: RwLock<Option<AdminToken>>,
    /// Held while a new admin token is obtained, so that concurrent callers wait for one.
    renewing: tokio::sync::Mutex<()>,
    listener: Option<TokenListener>,
    /// Set once the `/ownership/password` route turned out to be missing.
    pub(crate) direct_password_path: AtomicBool,
}

impl std::fmt::Debug for KiiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KiiClient")
            .field("config", &self.inner.config)
            .field("admin", &self.inner.admin.as_ref().map(|a| &a.0))
            .finish_non_exhaustive()
    }
}

/// How a request is authenticated.
pub(crate) enum Auth<'a> {
    /// Anonymous: the application's `X-Kii-AppID` / `X-Kii-AppKey` only.
    App,
    Bearer(&'a str),
}

impl KiiClient {
    pub fn new(config: Config) -> Self {
        Self::with_http(config, reqwest::Client::new())
    }

    /// A client sending through an existing `reqwest::Client` (its pool, proxy, TLS).
    pub fn with_http(config: Config, http: reqwest::Client) -> Self {
        let direct = config.password_path == PasswordPath::Direct;
        KiiClient {
            inner: Arc::new(Inner {
                http,
                config,
                admin: None,
                token: RwLock::new(None),
                renewing: tokio::sync::Mutex::new(()),
                listener: None,
                direct_password_path: AtomicBool::new(direct),
            }),
        }
    }

    fn rebuild(self, f: impl FnOnce(&mut Inner)) -> Self {
        let old = &self.inner;
        let mut inner = Inner {
            http: old.http.clone(),
            config: old.config.clone(),
            admin: old.admin.clone(),
            token: RwLock::new(self.current_token()),
            renewing: tokio::sync::Mutex::new(()),
            listener: old.listener.clone(),
            direct_password_path: AtomicBool::new(old.direct_password_path.load(Ordering::Relaxed)),
        };
        f(&mut inner);
        KiiClient {
            inner: Arc::new(inner),
        }
    }

    /// The app-admin credentials (`ClientID` / `ClientSecret` of the application), used to
    /// obtain the admin token that thing management needs.
    pub fn with_admin(
        self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let admin = (client_id.into(), SecretString::from(client_secret.into()));
        self.rebuild(|i| {
            i.admin = Some(admin);
            *i.token.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        })
    }

    /// Starts from an admin token obtained earlier (it is replaced when Kii refuses it).
    pub fn with_admin_token(self, token: AdminToken) -> Self {
        self.rebuild(|i| *i.token.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(token))
    }

    /// Calls `listener` with every admin token obtained from now on.
    pub fn on_admin_token(self, listener: TokenListener) -> Self {
        self.rebuild(|i| i.listener = Some(listener))
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn current_token(&self) -> Option<AdminToken> {
        self.inner
            .token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn app_path(&self, rest: &str) -> String {
        format!("/api/apps/{}{rest}", self.inner.config.app_id)
    }

    /// Sends one request; answers the status and body of any HTTP answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(u16, Vec<u8>)> {
        let cfg = &self.inner.config;
        let mut req = self
            .inner
            .http
            .request(method, format!("{}{path}", cfg.base_url))
            .timeout(cfg.timeout)
            .header("X-Kii-AppID", &cfg.app_id)
            .header("X-Kii-AppKey", cfg.app_key.expose_secret());
        if let Auth::Bearer(token) = auth {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some((content_type, bytes)) = body {
            req = req.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok((status, bytes.to_vec()))
    }

    /// A 2xx answer's body, or Kii's error.
    pub(crate) fn check((status, body): (u16, Vec<u8>)) -> Result<Vec<u8>> {
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Error::Api(Box::new(KiiError::from_response(status, &body))))
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|source| Error::Decode { status, source })
    }

    /// Obtains a new app-admin token now (client-credentials grant). Without `expires_at_ms`
    /// the token does not expire.
    pub async fn admin_token(&self, expires_at_ms: Option<i64>) -> Result<AdminToken> {
        let (client_id, secret) = self.inner.admin.as_ref().ok_or(Error::NoAdminCredentials)?;
        let mut body = serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret.expose_secret(),
        });
        if let Some(at) = expires_at_ms {
            body["expiresAt"] = at.into();
        }
        let granted: crate::things::TokenGrant = self.token_request(&body).await?;
        let token = AdminToken {
            expires_at_ms: granted.expires_at_ms(),
            access_token: granted.access_token,
        };
        *self.inner.token.write().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        if let Some(listener) = &self.inner.listener {
            listener(&token);
        }
        Ok(token)
    }

    pub(crate) async fn token_request<T: DeserializeOwned>(
        &self,
        body: &serde_json::Value,
    ) -> Result<T> {
        let path = self.app_path("/oauth2/token");
        let bytes =
            serde_json::to_vec(body).map_err(|source| Error::Decode { status: 0, source })?;
        let answer = self
            .send(
                Method::POST,
                &path,
                Auth::App,
                Some(("application/json", bytes)),
            )
            .await?;
        let status = answer.0;
        Self::decode(status, &Self::check(answer)?)
    }

    /// The admin token to use: the current one unless it is `stale` or expired; otherwise one
    /// new token, obtained once however many callers ask at the same time.
    async fn admin_bearer(&self, stale: Option<&str>) -> Result<String> {
        let usable = |t: &Option<AdminToken>| {
            t.as_ref()
                .filter(|t| Some(t.access_token.expose_secret()) != stale)
                .filter(|t| t.expires_at_ms.is_none_or(|at| at > now_ms() + 60_000))
                .map(|t| t.access_token.expose_secret().to_owned())
        };
        if let Some(t) = usable(&self.current_token()) {
            return Ok(t);
        }
        let _renewing = self.inner.renewing.lock().await;
        if let Some(t) = usable(&self.current_token()) {
            return Ok(t);
        }
        let token = self.admin_token(None).await?;
        Ok(token.access_token.expose_secret().to_owned())
    }

    /// A call made with the admin token. A token Kii no longer accepts (403) is replaced once
    /// and the call repeated.
    pub(crate) async fn admin_call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(u16, Vec<u8>)> {
        let token = self.admin_bearer(None).await?;
        let answer = self
            .send(method.clone(), path, Auth::Bearer(&token), body.clone())
            .await?;
        if answer.0 != 403 {
            return Ok(answer);
        }
        tracing::debug!("Kii refused the admin token; obtaining a new one");
        let token = self.admin_bearer(Some(&token)).await?;
        self.send(method, path, Auth::Bearer(&token), body).await
    }

    /// Whether an error answer means the route itself is missing (not a Kii error body).
    pub(crate) fn route_missing(err: &Error) -> bool {
        err.api().is_some_and(|e| {
            e.status == 404 && e.kind() == ErrorKind::Other && e.error_code.is_empty()
        })
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
