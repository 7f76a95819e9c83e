//! A small typed client of lockbridge's own API, for the command-line tools (`codes`,
//! `grants`), reading the API's own types ([`lockbridge_api`]). Errors carry the API's `code`
//! and message; the key never appears in them.

use std::time::Duration;

use anyhow::Context;
use lockbridge_api::{AccessCode, ErrorBody, Job, Page};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where the API is and the key to call it with.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// The service's base URL.
    #[arg(
        long,
        env = "LOCKBRIDGE_API_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub api_url: String,
    /// An API key of the organisation (`lb_…`).
    #[arg(long, env = "LOCKBRIDGE_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// A failed call: whether trying the same call again may succeed (the service could not be
/// reached, or answered 5xx or 429), and what happened.
#[derive(Debug)]
pub struct CallError {
    pub transient: bool,
    pub error: anyhow::Error,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl Api {
    pub fn new(args: &ApiArgs) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("could not build an HTTP client")?;
        Ok(Api {
            http,
            base: args.api_url.trim_end_matches('/').to_owned(),
            key: args.api_key.clone(),
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<T> {
        self.call(method, path, body, None)
            .await
            .map_err(|e| e.error)
    }

    /// One call, with an `Idempotency-Key` when given; its error says whether the same call
    /// may be tried again.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<T, CallError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let transient = |error: anyhow::Error| CallError {
            transient: true,
            error,
        };
        let resp = req
            .send()
            .await
            .with_context(|| format!("could not reach lockbridge at {}", self.base))
            .map_err(transient)?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .context("the answer did not arrive")
            .map_err(transient)?;
        if !status.is_success() {
            let error = match serde_json::from_str::<ErrorBody>(&text) {
                Ok(e) => anyhow::anyhow!(
                    "{method} {path}: {} ({})",
                    crate::printable(&e.error.message),
                    crate::printable(&e.error.code)
                ),
                Err(_) => anyhow::anyhow!("{method} {path}: HTTP {status}"),
            };
            return Err(CallError {
                transient: status.is_server_error() || status.as_u16() == 429,
                error,
            });
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{method} {path}: an unexpected answer"))
            .map_err(|error| CallError {
                transient: false,
                error,
            })
    }

    /// Submits a bulk job of `access_codes.create` items.
    /// Submits a bulk job under the idempotency key `key`: the same items sent again (a lost
    /// answer, the import run again) answer the job already submitted.
    pub async fn submit_codes(&self, items: Vec<Value>, key: &str) -> Result<Job, CallError> {
        let body = serde_json::json!({"kind": "access_codes.create", "items": items});
        self.call(reqwest::Method::POST, "/v1/jobs", Some(&body), Some(key))
            .await
    }

    pub async fn job(&self, id: &str) -> Result<Job, CallError> {
        self.call(reqwest::Method::GET, &format!("/v1/jobs/{id}"), None, None)
            .await
    }

    /// Every code of a lock (all pages).
    pub async fn codes(&self, lock: &str) -> anyhow::Result<Vec<AccessCode>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/locks/{lock}/access-codes?limit=200");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page: Page<AccessCode> = self.send(reqwest::Method::GET, &path, None).await?;
            out.extend(page.data);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Creates a grant; answers it as the API does.
    pub async fn create_grant(&self, body: &Value) -> anyhow::Result<lockbridge_api::Grant> {
        self.send(reqwest::Method::POST, "/v1/grants", Some(body))
            .await
    }
}
