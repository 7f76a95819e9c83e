//! Kii Cloud behind the provider trait. Kii things are not locks: a Kii connection has no
//! locks or codes; it lists things and changes their passwords.

use std::sync::Arc;
use std::time::Duration;

use crate::Context;

use async_trait::async_trait;
use lockbridge_kii::{self as kii, AdminToken, Config, ErrorKind as KiiKind, KiiClient, ThingRef};
use secrecy::{ExposeSecret, SecretString};

use crate::call::Calls;
use crate::sessions::Sessions;
use lockbridge_core::credentials::{Credentials, Field};
use lockbridge_core::model::{Connection, Provider};
use lockbridge_core::provider::*;

/// Checks a new thing password against Kii's rule (`^\p{Print}{1,200}$`, printable ASCII);
/// the error is the rule it breaks.
pub fn check_thing_password(password: &str) -> Result<(), String> {
    kii::check_thing_password("new_password", password).map_err(|e| match e {
        kii::Error::InvalidInput { rule, .. } => rule,
        other => other.to_string(),
    })
}

/// This vendor, as lockbridge names it.
pub const PROVIDER: Provider = Provider::named(&lockbridge_core::model::VendorNames {
    id: "kii",
    label: "Kii",
});
const P: Provider = PROVIDER;

/// This vendor's adapter (its line in [`crate::builtin`]).
pub fn adapter(cx: &crate::Context) -> std::sync::Arc<dyn lockbridge_core::Vendor> {
    std::sync::Arc::new(KiiProvider::new(cx))
}

pub struct KiiProvider {
    sessions: Sessions<KiiClient>,
    http: reqwest::Client,
    tokens: Arc<dyn TokenStore>,
    calls: Calls<kii::Error>,
    timeout: Duration,
}

impl std::fmt::Debug for KiiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KiiProvider").finish_non_exhaustive()
    }
}

/// The service's field name for a client-side rule failure.
fn field_name(kii_field: &str) -> &'static str {
    match kii_field {
        "newPassword" => "new_password",
        "vendorThingID" => "vendor_thing_id",
        "site" | "base_url" => "base_url",
        "limit" => "limit",
        _ => "cursor",
    }
}

/// Maps the client's error; `verifying` turns credential refusals into
/// `RejectedCredentials` instead of `AuthFailed`.
fn map_err(err: kii::Error, verifying: bool) -> ProviderError {
    use ErrorKind::*;
    let credentials = if verifying {
        RejectedCredentials
    } else {
        AuthFailed
    };
    let kind = match &err {
        kii::Error::InvalidInput { field, rule } => {
            let field = field_name(field);
            return ProviderError::new(P, InvalidInput, format!("{field} {rule}"))
                .with_field(field);
        }
        kii::Error::NoAdminCredentials => credentials,
        kii::Error::Api(e) => match e.kind() {
            KiiKind::ThingNotFound => NotFound,
            KiiKind::InvalidInputData => InvalidInput,
            KiiKind::ThingAlreadyExists => AlreadyExists,
            KiiKind::InvalidGrant | KiiKind::InvalidToken | KiiKind::Unauthorized => credentials,
            // An unknown application: the app id is wrong.
            KiiKind::Other if e.error_code == "APP_NOT_FOUND" => credentials,
            KiiKind::Other if e.status == 429 => RateLimited,
            KiiKind::Other if e.status == 504 => Timeout,
            KiiKind::Other if e.status >= 500 => Unavailable,
            KiiKind::Other => Failed,
        },
        kii::Error::Transport(t) if t.is_timeout() => Timeout,
        kii::Error::Transport(_) => Unavailable,
        kii::Error::Decode { .. } => Failed,
    };
    let code = err.api().map(|api| {
        if api.error_code.is_empty() {
            api.status.to_string()
        } else {
            api.error_code.clone()
        }
    });
    let mut out = ProviderError::caused(P, kind, err);
    if let Some(code) = code {
        out = out.with_code(code);
        if kind == InvalidInput {
            out = out.with_field("new_password");
        }
    }
    out
}

fn token_fields(token: &AdminToken) -> Credentials {
    let mut c = Credentials::new();
    c.set("access_token", token.access_token.expose_secret());
    c
}

impl KiiProvider {
    pub fn new(cx: &Context) -> Self {
        KiiProvider {
            sessions: Sessions::default(),
            http: reqwest::Client::new(),
            tokens: cx.tokens.clone(),
            calls: Calls::new(cx, P, map_err),
            timeout: cx.request_timeout,
        }
    }

    fn client(&self, base_url: Option<&str>, c: &Credentials) -> ProviderResult<KiiClient> {
        // Without a base URL, Kii's US site (Kii's own default).
        let base = base_url.unwrap_or(kii::Site::Us.base_url());
        let config = Config::new(base, c.required(P, "app_id")?, c.required(P, "app_key")?)
            .timeout(self.timeout);
        Ok(KiiClient::with_http(config, self.http.clone())
            .with_admin(c.required(P, "client_id")?, c.required(P, "client_secret")?))
    }

    /// The connection's client (with its stored admin token), rebuilt when its credentials
    /// changed.
    fn session(&self, conn: &Connection) -> ProviderResult<KiiClient> {
        self.sessions.get(conn, || {
            let mut client = self.client(conn.base_url.as_deref(), &conn.credentials)?;
            if let Some(token) = conn.credentials.get("access_token") {
                client = client.with_admin_token(AdminToken {
                    access_token: token.into(),
                    expires_at_ms: conn.token_expires_at,
                });
            }
            let (store, id) = (self.tokens.clone(), conn.id);
            let client = client.on_admin_token(Arc::new(move |t: &AdminToken| {
                store.save(TokenUpdate {
                    connection_id: id,
                    tokens: token_fields(t),
                    expires_at: t.expires_at_ms,
                })
            }));
            Ok(client)
        })
    }
}

fn thing_info(t: kii::Thing) -> ThingInfo {
    ThingInfo {
        vendor_thing_id: t.vendor_thing_id,
        thing_id: t.thing_id,
        thing_type: t.thing_type,
        vendor: t.vendor,
        product_name: t.product_name,
        firmware_version: t.firmware_version,
        disabled: t.disabled.unwrap_or(false),
        online: t.online,
        created_at: t.created,
    }
}

#[async_trait]
impl Vendor for KiiProvider {
    fn provider(&self) -> Provider {
        P
    }

    fn credential_fields(&self) -> &'static [Field] {
        const FIELDS: &[Field] = &[
            Field::plain("app_id"),
            Field::secret("app_key"),
            Field::plain("client_id"),
            Field::secret("client_secret"),
        ];
        FIELDS
    }

    /// Obtains an admin token: the app id, key, client id and secret all had to be right.
    async fn verify(
        &self,
        base_url: Option<&str>,
        credentials: &Credentials,
    ) -> ProviderResult<Verified> {
        let client = self.client(base_url, credentials)?;
        let token = self
            .calls
            .verify("oauth2/token", client.admin_token(None))
            .await?;
        let mut stored = credentials.clone();
        stored.merge(&token_fields(&token));
        Ok(Verified {
            credentials: stored,
            token_expires_at: token.expires_at_ms,
        })
    }

    async fn refresh(&self, conn: &Connection) -> ProviderResult<TokenUpdate> {
        let client = self.session(conn)?;
        let token = self
            .calls
            .run(conn.id, "oauth2/token", client.admin_token(None))
            .await?;
        Ok(TokenUpdate {
            connection_id: conn.id,
            tokens: token_fields(&token),
            expires_at: token.expires_at_ms,
        })
    }

    /// Kii things are not locks: a sync finds none.
    async fn devices(&self, _conn: &Connection) -> ProviderResult<Devices> {
        Ok(Devices::default())
    }

    fn things(&self) -> Option<&dyn Things> {
        Some(self)
    }
}

#[async_trait]
impl Things for KiiProvider {
    fn check_password(&self, password: &str) -> Result<(), String> {
        check_thing_password(password)
    }

    async fn things(
        &self,
        conn: &Connection,
        limit: u32,
        cursor: Option<&str>,
    ) -> ProviderResult<ThingPage> {
        let client = self.session(conn)?;
        let page = self
            .calls
            .run(conn.id, "things/query", client.things(limit, cursor))
            .await?;
        Ok(ThingPage {
            things: page.things.into_iter().map(thing_info).collect(),
            next: page.next,
        })
    }

    async fn set_thing_password(
        &self,
        conn: &Connection,
        vendor_thing_id: &str,
        new_password: &SecretString,
    ) -> ProviderResult<()> {
        let client = self.session(conn)?;
        let thing = ThingRef::vendor(vendor_thing_id);
        let change = client.change_thing_password(&thing, new_password.expose_secret());
        self.calls.run(conn.id, "things/password", change).await
    }
}
