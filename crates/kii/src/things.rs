//! Things: registration, login, lookup, listing and the password change.

use std::sync::atomic::Ordering;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::client::{Auth, KiiClient, now_ms};
use crate::error::{Error, Result};
use crate::rules::{check_id, check_thing_password};

/// A thing, by Kii's thing id (`th.…`) or by the vendor's own id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThingRef {
    Id(String),
    Vendor(String),
}

impl ThingRef {
    pub fn id(id: impl Into<String>) -> Self {
        ThingRef::Id(id.into())
    }
    pub fn vendor(vendor_thing_id: impl Into<String>) -> Self {
        ThingRef::Vendor(vendor_thing_id.into())
    }

    /// The path segment: `th.…` or `VENDOR_THING_ID:…`, after checking the id's characters.
    fn segment(&self) -> Result<String> {
        match self {
            ThingRef::Id(id) => {
                check_id("thingID", id)?;
                Ok(id.clone())
            }
            ThingRef::Vendor(v) => {
                check_id("vendorThingID", v)?;
                Ok(format!("VENDOR_THING_ID:{v}"))
            }
        }
    }
}

/// A thing as Kii describes it. Predefined fields are typed; custom fields stay in `fields`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Thing {
    #[serde(rename = "_thingID")]
    pub thing_id: String,
    #[serde(rename = "_vendorThingID", default)]
    pub vendor_thing_id: String,
    #[serde(
        rename = "_thingType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub thing_type: Option<String>,
    #[serde(rename = "_vendor", default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(
        rename = "_firmwareVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub firmware_version: Option<String>,
    #[serde(
        rename = "_productName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub product_name: Option<String>,
    #[serde(rename = "_lot", default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// Epoch milliseconds.
    #[serde(rename = "_created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    #[serde(rename = "_disabled", default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(
        rename = "_layoutPosition",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub layout_position: Option<String>,
    #[serde(rename = "_online", default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// Everything else Kii returned (custom fields, `_stringField1`…).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A thing to register.
#[derive(Clone, Default)]
pub struct NewThing {
    pub vendor_thing_id: String,
    pub password: String,
    pub thing_type: Option<String>,
    pub vendor: Option<String>,
    pub firmware_version: Option<String>,
    pub product_name: Option<String>,
    pub lot: Option<String>,
    /// Custom fields, sent as they are.
    pub fields: Map<String, Value>,
}

impl std::fmt::Debug for NewThing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewThing")
            .field("vendor_thing_id", &self.vendor_thing_id)
            .field("thing_type", &self.thing_type)
            .finish_non_exhaustive()
    }
}

impl NewThing {
    pub fn new(vendor_thing_id: impl Into<String>, password: impl Into<String>) -> Self {
        NewThing {
            vendor_thing_id: vendor_thing_id.into(),
            password: password.into(),
            ..NewThing::default()
        }
    }

    fn body(&self) -> Result<Vec<u8>> {
        check_id("_vendorThingID", &self.vendor_thing_id)?;
        check_thing_password("_password", &self.password)?;
        let mut body = self.fields.clone();
        body.insert("_vendorThingID".into(), json!(self.vendor_thing_id));
        body.insert("_password".into(), json!(self.password));
        let optional = [
            ("_thingType", &self.thing_type),
            ("_vendor", &self.vendor),
            ("_firmwareVersion", &self.firmware_version),
            ("_productName", &self.product_name),
            ("_lot", &self.lot),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                if v.is_empty()
                    || v.len() > 100
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                {
                    return Err(Error::InvalidInput {
                        field: name,
                        rule: "must be 1 to 100 characters of A-Z, a-z, 0-9, '-', '_' and '.'"
                            .into(),
                    });
                }
                body.insert(name.into(), json!(v));
            }
        }
        serde_json::to_vec(&body).map_err(|source| Error::Decode { status: 0, source })
    }
}

/// A thing's own session, from a thing login.
#[derive(Clone)]
pub struct ThingSession {
    pub thing_id: String,
    pub access_token: SecretString,
    /// Epoch milliseconds; `None` when Kii gave no usable lifetime.
    pub expires_at_ms: Option<i64>,
}

impl std::fmt::Debug for ThingSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThingSession")
            .field("thing_id", &self.thing_id)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// What `oauth2/token` answers.
#[derive(Deserialize)]
pub(crate) struct TokenGrant {
    #[serde(default)]
    pub(crate) id: Option<String>,
    pub(crate) access_token: SecretString,
    #[serde(default)]
    pub(crate) expires_in: Option<i64>,
}

impl TokenGrant {
    /// Kii answers `expires_in` = 2147483647 (i32::MAX seconds) for a token that does not
    /// expire; that and anything absurd is read as "no expiry".
    pub(crate) fn expires_at_ms(&self) -> Option<i64> {
        self.expires_in
            .filter(|&s| s > 0 && s < i64::from(i32::MAX))
            .map(|s| now_ms() + s * 1000)
    }
}

/// One page of [`KiiClient::things`].
#[derive(Debug, Clone)]
pub struct ThingPage {
    pub things: Vec<Thing>,
    /// Pass it back to get the next page; `None` on the last one.
    pub next: Option<String>,
}

#[derive(Deserialize)]
struct QueryAnswer {
    #[serde(default)]
    results: Vec<Thing>,
    #[serde(rename = "nextPaginationKey", default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Registered {
    #[serde(flatten)]
    thing: Thing,
    #[serde(rename = "_accessToken", default)]
    access_token: Option<SecretString>,
}

const REGISTER: &str = "application/vnd.kii.ThingRegistrationRequest+json";
const REGISTER_AND_AUTHORIZE: &str =
    "application/vnd.kii.ThingRegistrationAndAuthorizationRequest+json";
const QUERY: &str = "application/vnd.kii.ThingQueryRequest+json";
const CHANGE_PASSWORD: &str = "application/vnd.kii.ChangeThingPasswordRequest+json";

impl KiiClient {
    /// Registers a thing (anonymously, as the application). Kii answers 409
    /// `THING_ALREADY_EXISTS` for a vendor thing id it knows.
    pub async fn register_thing(&self, thing: &NewThing) -> Result<Thing> {
        Ok(self.register(thing, REGISTER).await?.0)
    }

    /// Registers a thing and signs it in, in one call.
    pub async fn register_thing_and_login(
        &self,
        thing: &NewThing,
    ) -> Result<(Thing, ThingSession)> {
        let (thing, token) = self.register(thing, REGISTER_AND_AUTHORIZE).await?;
        let access_token = token.ok_or_else(|| Error::Decode {
            status: 201,
            source: serde::de::Error::missing_field("_accessToken"),
        })?;
        let session = ThingSession {
            thing_id: thing.thing_id.clone(),
            access_token,
            expires_at_ms: None,
        };
        Ok((thing, session))
    }

    async fn register(
        &self,
        thing: &NewThing,
        kind: &'static str,
    ) -> Result<(Thing, Option<SecretString>)> {
        let body = thing.body()?;
        let answer = self
            .send(
                Method::POST,
                &self.app_path("/things"),
                Auth::App,
                Some((kind, body)),
            )
            .await?;
        let status = answer.0;
        let mut reg: Registered = Self::decode(status, &Self::check(answer)?)?;
        if reg.thing.vendor_thing_id.is_empty() {
            reg.thing.vendor_thing_id = thing.vendor_thing_id.clone();
        }
        Ok((reg.thing, reg.access_token))
    }

    /// Signs a thing in with its password (`VENDOR_THING_ID:<id>` as the user name). A wrong
    /// password, an unknown thing and a locked login all answer 400 `invalid_grant`.
    pub async fn thing_login(&self, vendor_thing_id: &str, password: &str) -> Result<ThingSession> {
        check_id("vendorThingID", vendor_thing_id)?;
        if password.is_empty() {
            return Err(Error::InvalidInput {
                field: "password",
                rule: "must not be empty".into(),
            });
        }
        let body = json!({
            "grant_type": "password",
            "username": format!("VENDOR_THING_ID:{vendor_thing_id}"),
            "password": password,
        });
        let grant: TokenGrant = self.token_request(&body).await?;
        Ok(ThingSession {
            expires_at_ms: grant.expires_at_ms(),
            thing_id: grant.id.unwrap_or_default(),
            access_token: grant.access_token,
        })
    }

    /// A thing, read with the admin token.
    pub async fn thing(&self, thing: &ThingRef) -> Result<Thing> {
        let path = self.app_path(&format!("/things/{}", thing.segment()?));
        let answer = self.admin_call(Method::GET, &path, None).await?;
        let status = answer.0;
        Self::decode(status, &Self::check(answer)?)
    }

    /// A thing, read with a thing's own token.
    pub async fn thing_as(&self, session: &ThingSession, thing: &ThingRef) -> Result<Thing> {
        let path = self.app_path(&format!("/things/{}", thing.segment()?));
        let answer = self
            .send(
                Method::GET,
                &path,
                Auth::Bearer(session.access_token.expose_secret()),
                None,
            )
            .await?;
        let status = answer.0;
        Self::decode(status, &Self::check(answer)?)
    }

    /// One page of the application's things (admin token), at most about `limit` of them —
    /// Kii treats the limit as best effort.
    ///
    /// The query route and its body (`thingQuery` with an `all` clause, `bestEffortLimit`,
    /// `paginationKey`) come from Kii's SDKs, which query things of an owner; an app-wide
    /// query with the admin token is not confirmed by Kii's documentation.
    pub async fn things(&self, limit: u32, pagination_key: Option<&str>) -> Result<ThingPage> {
        if !(1..=200).contains(&limit) {
            return Err(Error::InvalidInput {
                field: "limit",
                rule: "must be between 1 and 200".into(),
            });
        }
        let mut body = json!({
            "thingQuery": { "clause": { "type": "all" } },
            "bestEffortLimit": limit,
        });
        if let Some(key) = pagination_key {
            body["paginationKey"] = json!(key);
        }
        let bytes =
            serde_json::to_vec(&body).map_err(|source| Error::Decode { status: 0, source })?;
        let answer = self
            .admin_call(
                Method::POST,
                &self.app_path("/things/query"),
                Some((QUERY, bytes)),
            )
            .await?;
        let status = answer.0;
        let page: QueryAnswer = Self::decode(status, &Self::check(answer)?)?;
        Ok(ThingPage {
            things: page.results,
            next: page.next.filter(|k| !k.is_empty()),
        })
    }

    /// Every thing of the application, page by page.
    pub async fn all_things(&self) -> Result<Vec<Thing>> {
        let mut out = Vec::new();
        let mut key: Option<String> = None;
        loop {
            let page = self.things(200, key.as_deref()).await?;
            out.extend(page.things);
            match page.next {
                Some(next) if Some(&next) != key.as_ref() => key = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// Changes a thing's password (admin token only). The password is checked against Kii's
    /// rule first; the same password as before is accepted. Kii answers 204; afterwards the
    /// thing signs in with the new password only.
    pub async fn change_thing_password(&self, thing: &ThingRef, new_password: &str) -> Result<()> {
        check_thing_password("newPassword", new_password)?;
        let segment = thing.segment()?;
        let body = serde_json::to_vec(&json!({ "newPassword": new_password }))
            .map_err(|source| Error::Decode { status: 0, source })?;
        let direct = self.inner.direct_password_path.load(Ordering::Relaxed);
        let path = |direct: bool| {
            let tail = if direct {
                "password"
            } else {
                "ownership/password"
            };
            self.app_path(&format!("/things/{segment}/{tail}"))
        };
        let first = self
            .admin_call(
                Method::PUT,
                &path(direct),
                Some((CHANGE_PASSWORD, body.clone())),
            )
            .await
            .and_then(Self::check);
        match first {
            Err(e) if Self::route_missing(&e) => {
                tracing::info!(
                    "Kii has no {} route for the thing password; trying the other form",
                    path(direct)
                );
                Self::check(
                    self.admin_call(Method::PUT, &path(!direct), Some((CHANGE_PASSWORD, body)))
                        .await?,
                )?;
                self.inner
                    .direct_password_path
                    .store(!direct, Ordering::Relaxed);
                Ok(())
            }
            other => other.map(drop),
        }
    }
}
