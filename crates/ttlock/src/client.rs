//! The client handle and the transport every call goes through.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::auth::{AuthState, Renew, TokenListener};
use crate::config::Config;
use crate::de;
use crate::error::{ApiError, Error, Result};
use crate::types::EpochMillis;

/// A TTLock Open Platform client. Cheap to clone: clones share configuration, tokens and the
/// connection pool, and many tasks may use it at once.
///
/// ```no_run
/// # async fn demo() -> Result<(), lockbridge_ttlock::Error> {
/// use lockbridge_ttlock::{Config, TtlockClient};
/// let client = TtlockClient::new();
/// client.start(Config::new("client-id", "client-secret"), "+8618966498228", "app password").await?;
/// let locks = client.all_locks(Default::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct TtlockClient {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) state: RwLock<AuthState>,
    /// Held while tokens are renewed, so that concurrent callers wait for one renewal.
    pub(crate) renewing: tokio::sync::Mutex<()>,
    pub(crate) listener: RwLock<Option<TokenListener>>,
    pub(crate) source: RwLock<Option<crate::auth::TokenSource>>,
}

impl std::fmt::Debug for TtlockClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlockClient")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// Form parameters of one call, in order.
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(&'static str, String)>);

impl Form {
    pub(crate) fn new() -> Self {
        Form(Vec::with_capacity(8))
    }
    pub(crate) fn put(mut self, key: &'static str, value: impl ToString) -> Self {
        self.0.push((key, value.to_string()));
        self
    }
    pub(crate) fn opt(self, key: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }
}

/// What every answer is first read as: a non-zero `errcode` makes it a refusal.
#[derive(Deserialize)]
struct Probe {
    #[serde(default, deserialize_with = "de::opt_int")]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Decodes an answer: a non-zero `errcode` is an error, a missing one is success.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let probe: Probe = serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        path: ".".into(),
        source,
    })?;
    if let Some(errcode) = probe.errcode.filter(|&c| c != 0) {
        return Err(Error::Api(ApiError {
            errcode,
            errmsg: probe.errmsg.unwrap_or_default(),
            description: probe.description.filter(|d| !d.is_empty()),
        }));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Error::Decode {
        path: e.path().to_string(),
        source: e.into_inner(),
    })
}

impl TtlockClient {
    /// A client that is not configured yet (status [`crate::Status::NotConfigured`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A client that sends its requests through an existing `reqwest::Client` (its pool,
    /// proxy and TLS settings).
    pub fn with_http(http: reqwest::Client) -> Self {
        TtlockClient {
            inner: Arc::new(Inner {
                http,
                ..Inner::default()
            }),
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, AuthState> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, AuthState> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn config(&self) -> Result<Arc<Config>> {
        self.read().config.clone().ok_or(Error::NotConfigured)
    }

    /// POSTs a form to `path` and decodes the answer.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        config: &Config,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<T> {
        let body = serde_urlencoded::to_string(form).unwrap_or_default();
        let resp = self
            .inner
            .http
            .post(format!("{}{path}", config.base_url))
            .timeout(config.timeout)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Error::Status {
                status: status.as_u16(),
            });
        }
        let bytes = resp.bytes().await?;
        decode(&bytes)
    }

    /// One `/v3` call with the common parameters. An answer saying the token is unknown or
    /// expired (10003, 10004) renews the token once and repeats the call.
    pub(crate) async fn call<T: DeserializeOwned>(&self, path: &str, form: Form) -> Result<T> {
        let config = self.config()?;
        let token = self.valid_token().await?;
        match self.send(&config, path, &form, &token).await {
            Err(Error::Api(e)) if matches!(e.errcode, 10003 | 10004) => {
                tracing::debug!(path, errcode = e.errcode, "token refused; renewing once");
                let stale = token.expose_secret().to_owned();
                let token = self.renew(Renew::Replacing(stale)).await?;
                self.send(&config, path, &form, &token).await
            }
            other => other,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        config: &Config,
        path: &str,
        form: &Form,
        token: &SecretString,
    ) -> Result<T> {
        let mut params: Vec<(&str, String)> = Vec::with_capacity(form.0.len() + 3);
        params.push(("clientId", config.client_id.clone()));
        params.push(("accessToken", token.expose_secret().to_owned()));
        params.push(("date", EpochMillis::now().0.to_string()));
        params.extend(form.0.iter().map(|(k, v)| (*k, v.clone())));
        self.post(config, path, &params).await
    }
}

/// An action endpoint's answer: only the ack envelope.
#[derive(Debug, Deserialize)]
pub(crate) struct Ack {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Id {
        #[serde(rename = "keyboardPwdId")]
        id: i64,
    }

    #[test]
    fn decode_reads_errcode_first() {
        let err =
            decode::<Id>(br#"{"errcode":-3007,"errmsg":"same","description":""}"#).unwrap_err();
        let api = err.api().unwrap();
        assert_eq!(
            (api.errcode, api.errmsg.as_str(), api.description.clone()),
            (-3007, "same", None)
        );
        assert_eq!(
            decode::<Id>(br#"{"keyboardPwdId":24242}"#).unwrap().id,
            24242
        );
        assert!(decode::<Ack>(br#"{"errcode":0,"errmsg":"none error message"}"#).is_ok());
        assert!(decode::<Ack>(br#"{"errcode":"1","errmsg":"failed"}"#).is_err());
    }

    #[test]
    fn decode_names_the_drifted_field() {
        let err = decode::<Id>(br#"{"keyboardPwdId":"abc"}"#).unwrap_err();
        match err {
            Error::Decode { path, .. } => assert_eq!(path, "keyboardPwdId"),
            other => panic!("{other:?}"),
        }
    }
}
