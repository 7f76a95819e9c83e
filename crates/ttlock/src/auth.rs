//! Configuration, authentication and the token lifecycle (TTlockClient 2.1.0's state manager).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::client::TtlockClient;
use crate::config::Config;
use crate::de;
use crate::error::{Error, Result};
use crate::types::Md5Password;

/// Where the client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No application credentials yet.
    NotConfigured,
    /// Configured, no token yet.
    Configured,
    /// Holding a token: ready for API calls.
    Authenticated,
}

/// The tokens of an authenticated account; persist them to survive restarts
/// ([`TtlockClient::on_tokens`], [`TtlockClient::restore`]).
#[derive(Clone)]
pub struct Tokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// The account's user id; the refresh grant does not return it, so it is carried over.
    pub uid: Option<i64>,
    pub expires_at: SystemTime,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"****")
            .field("refresh_token", &"****")
            .field("uid", &self.uid)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Called with the new tokens after every authentication and renewal.
pub type TokenListener = Arc<dyn Fn(&Tokens) + Send + Sync>;

/// Where tokens renewed by another process sharing the account are found (a database, say):
/// asked for the newest pair before the client renews on its own.
pub type TokenSource = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Tokens>> + Send>>
        + Send
        + Sync,
>;

#[derive(Default)]
pub(crate) struct AuthState {
    pub(crate) config: Option<Arc<Config>>,
    account: Option<(String, Md5Password)>,
    tokens: Option<Tokens>,
}

pub(crate) enum Renew {
    /// Renew unless another caller already did.
    IfStale,
    /// The server refused this access token: renew unless it was already replaced.
    Replacing(String),
    /// Renew now.
    Force,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    #[serde(default, deserialize_with = "de::opt_int")]
    uid: Option<i64>,
    #[serde(deserialize_with = "de::int")]
    expires_in: i64,
}

impl TtlockClient {
    /// Sets the application credentials (`configure/3`). Tokens of an earlier configuration
    /// are dropped: they belong to another application.
    pub fn configure(&self, config: Config) {
        let mut state = self.write();
        *state = AuthState {
            config: Some(Arc::new(config)),
            ..AuthState::default()
        };
    }

    /// Signs in with the TTLock **app** account; the password is MD5-hashed here before it is
    /// sent (`authenticate/2`).
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<()> {
        self.authenticate_md5(username, Md5Password::hash(password))
            .await
    }

    /// Signs in with an already hashed password (a service keeps only the MD5).
    pub async fn authenticate_md5(&self, username: &str, password: Md5Password) -> Result<()> {
        if username.trim().is_empty() {
            return Err(Error::invalid("username", "must not be empty"));
        }
        let config = self.config()?;
        let _renewing = self.inner.renewing.lock().await;
        let tokens = self.password_grant(&config, username, &password).await?;
        let mut state = self.write();
        state.account = Some((username.to_owned(), password));
        state.tokens = Some(tokens.clone());
        drop(state);
        self.notify(&tokens);
        Ok(())
    }

    /// Checks a credential set against TTLock without touching this client's state; answers
    /// the tokens it was granted.
    pub async fn verify(
        &self,
        config: &Config,
        username: &str,
        password: &Md5Password,
    ) -> Result<Tokens> {
        self.password_grant(config, username, password).await
    }

    /// Configures and authenticates in one call (`start/5`).
    pub async fn start(&self, config: Config, username: &str, password: &str) -> Result<()> {
        self.configure(config);
        self.authenticate(username, password).await
    }

    /// `start` from `TTLOCK_CLIENT_ID`, `TTLOCK_CLIENT_SECRET`, `TTLOCK_USERNAME` and
    /// `TTLOCK_PASSWORD` (`start_with_env/0`); `TTLOCK_BASE_URL`, when set, picks the host.
    pub async fn start_with_env(&self) -> Result<()> {
        self.start_with_lookup(|name| std::env::var(name).ok())
            .await
    }

    /// `start_with_env` reading variables through `lookup`.
    pub async fn start_with_lookup(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<()> {
        const NAMES: [&str; 4] = [
            "TTLOCK_CLIENT_ID",
            "TTLOCK_CLIENT_SECRET",
            "TTLOCK_USERNAME",
            "TTLOCK_PASSWORD",
        ];
        let values: Vec<Option<String>> = NAMES
            .iter()
            .map(|n| lookup(n).filter(|v| !v.is_empty()))
            .collect();
        let missing: Vec<&'static str> = NAMES
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingEnv(missing));
        }
        let [id, secret, user, pass] = [0, 1, 2, 3].map(|i| values[i].clone().unwrap_or_default());
        let mut config = Config::new(id, secret);
        if let Some(url) = lookup("TTLOCK_BASE_URL").filter(|u| !u.is_empty()) {
            config = config.base_url(url);
        }
        self.start(config, &user, &pass).await
    }

    /// `not_configured`, `configured` or `authenticated` (`status/0`).
    pub fn status(&self) -> Status {
        let state = self.read();
        match (&state.config, &state.tokens) {
            (None, _) => Status::NotConfigured,
            (Some(_), None) => Status::Configured,
            (Some(_), Some(_)) => Status::Authenticated,
        }
    }

    /// Ready for API calls (`ready?/0`).
    pub fn is_ready(&self) -> bool {
        self.status() == Status::Authenticated
    }

    /// Forgets credentials and tokens (`reset/0`).
    pub fn reset(&self) {
        *self.write() = AuthState::default();
    }

    /// The authenticated account's user id (`get_user_id/0`).
    pub fn user_id(&self) -> Result<i64> {
        self.read()
            .tokens
            .as_ref()
            .and_then(|t| t.uid)
            .ok_or(Error::NotAuthenticated)
    }

    /// The current tokens, to persist them.
    pub fn tokens(&self) -> Option<Tokens> {
        self.read().tokens.clone()
    }

    /// Takes back persisted tokens (and the account, so that a refused refresh token can be
    /// replaced by signing in again). Requires a configuration.
    pub fn restore(&self, username: &str, password: Md5Password, tokens: Tokens) -> Result<()> {
        let mut state = self.write();
        if state.config.is_none() {
            return Err(Error::NotConfigured);
        }
        state.account = Some((username.to_owned(), password));
        state.tokens = Some(tokens);
        Ok(())
    }

    /// Before renewing tokens that expired or that TTLock refused (not when told to renew),
    /// the client asks `source` for a newer pair and takes it when it is still good, so that
    /// processes sharing an account renew each pair once.
    pub fn tokens_from(&self, source: TokenSource) {
        *self.inner.source.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// Calls `listener` with the new tokens after every authentication and renewal.
    pub fn on_tokens(&self, listener: impl Fn(&Tokens) + Send + Sync + 'static) {
        *self
            .inner
            .listener
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(listener));
    }

    /// An access token valid for at least the refresh margin; renewed first when needed, once
    /// for all concurrent callers (`get_valid_token/0`).
    pub async fn valid_token(&self) -> Result<SecretString> {
        match self.fresh_token()? {
            Some(token) => Ok(token),
            None => self.renew(Renew::IfStale).await,
        }
    }

    /// Renews the tokens now (`refresh_token/0`).
    pub async fn refresh_token(&self) -> Result<()> {
        self.renew(Renew::Force).await.map(|_| ())
    }

    fn fresh_token(&self) -> Result<Option<SecretString>> {
        let state = self.read();
        let config = state.config.as_ref().ok_or(Error::NotConfigured)?;
        let tokens = state.tokens.as_ref().ok_or(Error::NotAuthenticated)?;
        let deadline = SystemTime::now() + config.refresh_margin;
        Ok((tokens.expires_at > deadline).then(|| tokens.access_token.clone()))
    }

    pub(crate) async fn renew(&self, why: Renew) -> Result<SecretString> {
        let _renewing = self.inner.renewing.lock().await;
        // Someone else may have renewed while this caller waited for the lock.
        match &why {
            Renew::IfStale => {
                if let Some(token) = self.fresh_token()? {
                    return Ok(token);
                }
            }
            Renew::Replacing(stale) => {
                let current = self.read().tokens.as_ref().map(|t| t.access_token.clone());
                if let Some(token) = current.filter(|t| t.expose_secret() != stale) {
                    return Ok(token);
                }
            }
            Renew::Force => {}
        }
        if !matches!(why, Renew::Force)
            && let Some(token) = self.taken_from_source().await?
        {
            return Ok(token);
        }
        let (config, account, old) = {
            let state = self.read();
            let config = state.config.clone().ok_or(Error::NotConfigured)?;
            let old = state.tokens.clone().ok_or(Error::NotAuthenticated)?;
            (config, state.account.clone(), old)
        };
        let mut tokens = match self.refresh_grant(&config, &old.refresh_token).await {
            Ok(tokens) => tokens,
            // A refused refresh token: sign in again with the stored MD5 password. A failure
            // that may pass (busy, throttled, internal) is no refusal and is answered as it is.
            Err(Error::Api(refused)) if !refused.kind().is_transient() => {
                let Some((username, password)) = account else {
                    return Err(Error::Api(refused));
                };
                tracing::info!(
                    errcode = refused.errcode,
                    "refresh token refused; signing in again"
                );
                self.password_grant(&config, &username, &password).await?
            }
            Err(other) => return Err(other),
        };
        // Whether a refresh retires the previous pair is unconfirmed: the newest pair is always
        // the one kept (and handed to the listener), which is right either way.
        tokens.uid = tokens.uid.or(old.uid);
        let access = tokens.access_token.clone();
        self.write().tokens = Some(tokens.clone());
        self.notify(&tokens);
        Ok(access)
    }

    /// A pair renewed elsewhere, newer than this client's and good for the refresh margin.
    async fn taken_from_source(&self) -> Result<Option<SecretString>> {
        let source = self
            .inner
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(elsewhere) = (match source {
            Some(source) => source().await,
            None => None,
        }) else {
            return Ok(None);
        };
        let mut state = self.write();
        let config = state.config.clone().ok_or(Error::NotConfigured)?;
        let newer = state.tokens.as_ref().is_none_or(|t| {
            t.access_token.expose_secret() != elsewhere.access_token.expose_secret()
        });
        if !newer || elsewhere.expires_at <= SystemTime::now() + config.refresh_margin {
            return Ok(None);
        }
        tracing::debug!("took the tokens renewed elsewhere");
        let access = elsewhere.access_token.clone();
        let uid = state.tokens.as_ref().and_then(|t| t.uid);
        state.tokens = Some(Tokens {
            uid: elsewhere.uid.or(uid),
            ..elsewhere
        });
        Ok(Some(access))
    }

    fn notify(&self, tokens: &Tokens) {
        let listener = self
            .inner
            .listener
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(listener) = listener {
            listener(tokens);
        }
    }

    async fn password_grant(
        &self,
        config: &Config,
        username: &str,
        password: &Md5Password,
    ) -> Result<Tokens> {
        // camelCase names and no grant_type, as the current docs give them.
        let form = [
            ("clientId", config.client_id.clone()),
            (
                "clientSecret",
                config.client_secret.expose_secret().to_owned(),
            ),
            ("username", username.to_owned()),
            ("password", password.expose().to_owned()),
        ];
        self.token_grant(config, &form).await
    }

    async fn refresh_grant(&self, config: &Config, refresh: &SecretString) -> Result<Tokens> {
        let form = [
            ("clientId", config.client_id.clone()),
            (
                "clientSecret",
                config.client_secret.expose_secret().to_owned(),
            ),
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.expose_secret().to_owned()),
        ];
        self.token_grant(config, &form).await
    }

    async fn token_grant(&self, config: &Config, form: &[(&str, String)]) -> Result<Tokens> {
        let answer: TokenAnswer = self.post(config, "/oauth2/token", form).await?;
        let lifetime = Duration::from_secs(answer.expires_in.max(0) as u64);
        Ok(Tokens {
            access_token: answer.access_token.into(),
            refresh_token: answer.refresh_token.into(),
            uid: answer.uid,
            expires_at: SystemTime::now() + lifetime,
        })
    }
}
