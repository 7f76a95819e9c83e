//! Configuration and the transport every call goes through: the bearer token, Nuki's error
//! answers, JSON decoded with the path of what broke, and the writes Nuki only accepts (204)
//! followed until their result shows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    Action, AuthBody, KEYPAD_CODE, LogQuery, NewKeypadCode, Smartlock, SmartlockAuth, SmartlockLog,
};
use crate::code::check_code;
use crate::error::{ApiError, Error, Result};

/// Nuki's API host: every path hangs off its root (no version segment).
pub const DEFAULT_BASE_URL: &str = "https://api.nuki.io";

/// The most records one log page holds.
pub const MAX_LOG_PAGE: u32 = 50;

/// Where and how the client talks to Nuki.
#[derive(Clone)]
pub struct Config {
    base_url: String,
    token: SecretString,
    timeout: Duration,
    /// How often an accepted write is looked for, and for how long.
    poll: (Duration, Duration),
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// An API token (Nuki Web → API), sent as `Authorization: Bearer …`.
    pub fn new(token: impl Into<String>) -> Self {
        Config {
            base_url: DEFAULT_BASE_URL.into(),
            token: SecretString::from(token.into()),
            timeout: Duration::from_secs(30),
            poll: (Duration::from_secs(1), Duration::from_secs(30)),
        }
    }

    /// The host (`https://api.nuki.io` by default); a trailing `/` is dropped.
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = url.trim().trim_end_matches('/').to_owned();
        self
    }

    /// The longest one request may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a write Nuki accepted is looked for (`every`), and how long (`until`): Nuki
    /// applies it on the device "within seconds", and says nothing when it does not.
    pub fn polling(mut self, every: Duration, until: Duration) -> Self {
        self.poll = (every, until);
        self
    }
}

/// A client of one Nuki account. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NukiClient {
    config: Arc<Config>,
    http: reqwest::Client,
}

impl NukiClient {
    pub fn new(config: Config) -> Self {
        NukiClient::with_http(config, reqwest::Client::new())
    }

    /// A client sharing `http`'s connections.
    pub fn with_http(config: Config, http: reqwest::Client) -> Self {
        NukiClient {
            config: Arc::new(config),
            http,
        }
    }

    /// Every device of the account (`GET /smartlock`).
    pub async fn smartlocks(&self) -> Result<Vec<Smartlock>> {
        self.get("/smartlock", &[]).await
    }

    /// One device (`GET /smartlock/{id}`).
    pub async fn smartlock(&self, id: i64) -> Result<Smartlock> {
        self.get(&format!("/smartlock/{id}"), &[]).await
    }

    /// Asks the device to act (`POST /smartlock/{id}/action`). Nuki answers once it has
    /// accepted the request; the device acts seconds later, or not at all (offline, jammed):
    /// read its state to know.
    pub async fn action(&self, id: i64, action: Action) -> Result<()> {
        let body = serde_json::json!({ "action": action.code() });
        self.send(
            Method::POST,
            &format!("/smartlock/{id}/action"),
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// The device's authorizations of the given types (`GET /smartlock/{id}/auth?types=`).
    pub async fn auths(&self, id: i64, types: &[i32]) -> Result<Vec<SmartlockAuth>> {
        let types: Vec<String> = types.iter().map(i32::to_string).collect();
        let query = [("types", types.join(","))];
        self.get(&format!("/smartlock/{id}/auth"), &query).await
    }

    /// The device's keypad codes.
    pub async fn keypad_codes(&self, id: i64) -> Result<Vec<SmartlockAuth>> {
        let all = self.auths(id, &[KEYPAD_CODE]).await?;
        Ok(all.into_iter().filter(|a| a.kind == KEYPAD_CODE).collect())
    }

    /// Writes a keypad code (`PUT /smartlock/{id}/auth`) after checking it against the keypad's
    /// rules. Nuki answers without an id; the code is followed until it shows in the device's
    /// list (its name and code are unique there), and answered as listed.
    pub async fn create_keypad_code(&self, id: i64, new: &NewKeypadCode) -> Result<SmartlockAuth> {
        let code = check_code(&new.code).map_err(Error::InvalidCode)?;
        check_name(&new.name)?;
        let body = AuthBody {
            name: &new.name,
            kind: Some(KEYPAD_CODE),
            code,
            remote_allowed: false,
            enabled: None,
            restrictions: &new.restrictions,
        };
        self.send(
            Method::PUT,
            &format!("/smartlock/{id}/auth"),
            &[],
            Some(&body),
        )
        .await?;
        let matches = |a: &SmartlockAuth| a.code == Some(i64::from(code)) && a.name == new.name;
        self.until("keypad code", || async {
            Ok(self.keypad_codes(id).await?.into_iter().find(matches))
        })
        .await
    }

    /// Changes a keypad code (`POST /smartlock/{id}/auth/{authId}`), the whole of it, and
    /// follows the change until the device's list shows it.
    pub async fn update_keypad_code(
        &self,
        id: i64,
        auth: &str,
        new: &NewKeypadCode,
        enabled: bool,
    ) -> Result<SmartlockAuth> {
        let code = check_code(&new.code).map_err(Error::InvalidCode)?;
        check_name(&new.name)?;
        let body = AuthBody {
            name: &new.name,
            kind: None,
            code,
            remote_allowed: false,
            enabled: Some(enabled),
            restrictions: &new.restrictions,
        };
        let path = format!("/smartlock/{id}/auth/{}", segment(auth)?);
        self.send(Method::POST, &path, &[], Some(&body)).await?;
        let applied = |a: &SmartlockAuth| {
            a.id == auth
                && a.code == Some(i64::from(code))
                && a.name == new.name
                && a.enabled == enabled
                && a.allowed_from_date.as_deref().and_then(crate::from_time)
                    == new
                        .restrictions
                        .allowed_from_date
                        .as_deref()
                        .and_then(crate::from_time)
                && a.allowed_until_date.as_deref().and_then(crate::from_time)
                    == new
                        .restrictions
                        .allowed_until_date
                        .as_deref()
                        .and_then(crate::from_time)
        };
        self.until("change", || async {
            Ok(self.keypad_codes(id).await?.into_iter().find(applied))
        })
        .await
    }

    /// Deletes an authorization (`DELETE /smartlock/{id}/auth/{authId}`) and follows it until
    /// it is gone from the device's list.
    pub async fn delete_auth(&self, id: i64, auth: &str) -> Result<()> {
        let path = format!("/smartlock/{id}/auth/{}", segment(auth)?);
        match self.send(Method::DELETE, &path, &[], None::<&()>).await {
            // Gone already.
            Err(e) if e.kind() == Some(crate::ErrorKind::NotFound) => return Ok(()),
            other => other?,
        };
        self.until("deletion", || async {
            let listed = self.auths(id, &[KEYPAD_CODE]).await?;
            Ok((!listed.iter().any(|a| a.id == auth)).then_some(()))
        })
        .await
    }

    /// One page of the device's log, newest first (`GET /smartlock/{id}/log`).
    pub async fn logs(&self, id: i64, query: &LogQuery) -> Result<Vec<SmartlockLog>> {
        let limit = query.limit.unwrap_or(MAX_LOG_PAGE).clamp(1, MAX_LOG_PAGE);
        let mut params = vec![("limit", limit.to_string())];
        if let Some(before) = &query.before {
            params.push(("id", before.clone()));
        }
        if let Some(from) = &query.from_date {
            params.push(("fromDate", from.clone()));
        }
        self.get(&format!("/smartlock/{id}/log"), &params).await
    }

    /// Looks with `probe` until it finds what a write made, at the configured interval, for
    /// the configured time. The write went out, so a look that fails (Nuki busy, a 429) is
    /// not the write's failure: it is looked again, and the write is `NotApplied` (its outcome
    /// unknown) only when the time is up.
    async fn until<T, F, Fut>(&self, what: &'static str, probe: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let (every, until) = self.config.poll;
        let started = Instant::now();
        loop {
            match probe().await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(e) => tracing::debug!(what, error = %e, "following a write: the look failed"),
            }
            if started.elapsed() + every > until {
                return Err(Error::NotApplied {
                    what,
                    waited_ms: started.elapsed().as_millis() as u64,
                });
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let (status, body) = self
            .send(Method::GET, path, query, None::<&()>)
            .await?
            .unwrap_or_default();
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
            status,
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }

    /// One request; the answer's status and body (`None` for 204).
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Option<(u16, Vec<u8>)>> {
        let url = format!("{}{path}", self.config.base_url);
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(self.config.timeout)
            .header(
                AUTHORIZATION,
                format!("Bearer {}", self.config.token.expose_secret()),
            )
            .header(ACCEPT, "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| Error::InvalidInput {
                field: "body",
                rule: e.to_string(),
            })?;
            req = req.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let bytes = resp.bytes().await?;
        tracing::debug!(%method, path, status, "nuki");
        if !(200..300).contains(&status) {
            return Err(Error::Api(Box::new(ApiError::from_body(
                status,
                &bytes,
                retry_after,
            ))));
        }
        Ok((status != 204).then(|| (status, bytes.to_vec())))
    }
}

/// Nuki's keypad shows at most 20 characters of a name (its API takes 32).
fn check_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > 20 {
        return Err(Error::InvalidInput {
            field: "name",
            rule: "must be 1 to 20 characters".into(),
        });
    }
    Ok(())
}

/// An authorization id as a path segment: Nuki's are 24 hexadecimal digits.
fn segment(id: &str) -> Result<&str> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::InvalidInput {
            field: "auth_id",
            rule: "must be letters and digits only".into(),
        });
    }
    Ok(id)
}
