//! Query strings, read with serde into each route's own struct: unknown parameters are refused
//! and every error names the parameter and its rule.

use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lockbridge_core::ids::ConnectionId;
use lockbridge_core::model::Provider;
use lockbridge_store::LockFilter;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};

use crate::error::ApiError;

/// `T` from the request's query string.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Reads `query` into `T`; the error names the parameter.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if query.contains("%00") {
        return Err(ApiError::validation(
            "query",
            "must not contain NUL characters",
        ));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        };
        if let Some(name) = named("unknown field `") {
            ApiError::validation(name, "is not a parameter of this list")
        } else if let Some(name) = named("duplicate field `") {
            ApiError::validation(name, "is given more than once")
        } else if path == "." {
            ApiError::validation("query", message)
        } else {
            ApiError::validation(path, message)
        }
    })
}

pub(crate) fn fifty() -> u32 {
    50
}

/// `limit`: a whole number from 1 to 200.
pub(crate) fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .ok()
        .filter(|l| (1..=200).contains(l))
        .ok_or_else(|| D::Error::custom("must be a whole number from 1 to 200"))
}

/// `cursor`: the id a previous page gave out (empty: the first page).
pub(crate) fn cursor<'de, D: Deserializer<'de>, C: FromStr>(d: D) -> Result<Option<C>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| D::Error::custom("is not a cursor this list gave out"))
}

/// A yes-or-no parameter.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match String::deserialize(d)?.as_str() {
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err(D::Error::custom("must be true or false")),
    }
}

/// `?limit=&cursor=` of a list: limit 1–200 (default 50), cursor an id from the last page.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, bound(deserialize = "C: FromStr"))]
pub struct Page<C> {
    #[serde(default = "fifty", deserialize_with = "limit")]
    pub limit: u32,
    #[serde(default, deserialize_with = "cursor")]
    pub cursor: Option<C>,
}

/// `GET /v1/locks`: the filters and the page.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockQuery {
    pub provider: Option<Provider>,
    pub connection_id: Option<ConnectionId>,
    /// Part of the name, any case.
    pub q: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    pub online: Option<bool>,
    #[serde(default = "fifty", deserialize_with = "limit")]
    pub limit: u32,
    #[serde(default, deserialize_with = "cursor")]
    pub cursor: Option<lockbridge_core::ids::LockId>,
}

impl LockQuery {
    pub fn filter(&self) -> LockFilter {
        LockFilter {
            provider: self.provider,
            connection_id: self.connection_id,
            q: self.q.clone().filter(|q| !q.is_empty()),
            online: self.online,
        }
    }
}

/// `GET /v1/locks/{id}/access-codes`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodesQuery {
    #[serde(default = "fifty", deserialize_with = "limit")]
    pub limit: u32,
    #[serde(default, deserialize_with = "cursor")]
    pub cursor: Option<lockbridge_core::ids::AccessCodeId>,
    /// Read the lock's codes from the vendor now.
    #[serde(default, deserialize_with = "flag")]
    pub refresh: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<T: DeserializeOwned + std::fmt::Debug>(q: &str) -> String {
        match parse::<T>(q) {
            Err(ApiError::App(lockbridge_app::AppError::Validation { field, .. })) => field,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn pages_and_their_errors() {
        let p: Page<u32> = parse("limit=10&cursor=7").unwrap();
        assert_eq!((p.limit, p.cursor), (10, Some(7)));
        let p: Page<u32> = parse("").unwrap();
        assert_eq!((p.limit, p.cursor), (50, None));
        assert_eq!(parse::<Page<u32>>("cursor=").unwrap().cursor, None);
        assert_eq!(field::<Page<u32>>("limit=0"), "limit");
        assert_eq!(field::<Page<u32>>("limit=201"), "limit");
        assert_eq!(field::<Page<u32>>("limit=ten"), "limit");
        assert_eq!(field::<Page<u32>>("cursor=x"), "cursor");
        assert_eq!(field::<Page<u32>>("limit=5&since=2026"), "since");
        assert_eq!(field::<Page<u32>>("limit=5&limit=6"), "limit");
    }

    #[test]
    fn lock_filters() {
        lockbridge_vendors::register();
        let q: LockQuery = parse("provider=tedee&online=false&q=Front%20d%C3%B6or").unwrap();
        let f = q.filter();
        assert_eq!(
            (f.provider, f.online, f.q.as_deref()),
            (
                Some(lockbridge_vendors::TEDEE),
                Some(false),
                Some("Front döor")
            )
        );
        assert_eq!(field::<LockQuery>("online=yes"), "online");
        assert_eq!(field::<LockQuery>("provider=no-such-vendor"), "provider");
        assert_eq!(field::<LockQuery>("connection_id=x"), "connection_id");
        assert_eq!(field::<LockQuery>("name=x"), "name");
        assert_eq!(field::<LockQuery>("q=a%00b"), "query");
    }
}

/// `GET /v1/events`: the filters and the page; `type` may repeat.
#[derive(Debug, Clone)]
pub struct EventsQuery {
    pub filter: lockbridge_store::EventFilter,
    pub limit: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventsRest {
    lock_id: Option<lockbridge_core::ids::LockId>,
    access_code_id: Option<lockbridge_core::ids::AccessCodeId>,
    connection_id: Option<ConnectionId>,
    grant_id: Option<String>,
    /// `api_key`, `console`, `system` or `vendor`.
    actor_type: Option<lockbridge_core::events::ActorType>,
    /// An API key's id (with or without `actor_type`).
    actor_id: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    since: Option<lockbridge_core::time::Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    until: Option<lockbridge_core::time::Millis>,
    #[serde(default = "fifty", deserialize_with = "limit")]
    limit: u32,
    #[serde(default, deserialize_with = "cursor")]
    cursor: Option<lockbridge_core::ids::EventId>,
}

impl EventsQuery {
    pub fn parse(query: &str) -> Result<EventsQuery, ApiError> {
        let mut types = Vec::new();
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k == "type" {
                types.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned),
                );
            } else {
                rest.append_pair(&k, &v);
            }
        }
        let known: Vec<&str> = lockbridge_core::events::EventType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect();
        lockbridge_core::webhooks::check_patterns(&types, &known)
            .map_err(|rule| ApiError::validation("type", rule))?;
        let r: EventsRest = parse(&rest.finish())?;
        Ok(EventsQuery {
            filter: lockbridge_store::EventFilter {
                types,
                lock_id: r.lock_id,
                access_code_id: r.access_code_id,
                connection_id: r.connection_id,
                grant_id: r.grant_id,
                actor_type: r.actor_type,
                actor_id: r.actor_id,
                since: r.since,
                until: r.until,
                before: r.cursor,
            },
            limit: r.limit,
        })
    }
}

/// The parameters of `EventsQuery`: those of [`EventsRest`] and `type`, read apart because it
/// may repeat.
impl schemars::JsonSchema for EventsQuery {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventsQuery".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = EventsRest::json_schema(g);
        if let Some(props) = schema
            .get_mut("properties")
            .and_then(serde_json::Value::as_object_mut)
        {
            props.insert(
                "type".into(),
                serde_json::json!({"type": "array", "items": {"type": "string"}}),
            );
        }
        schema
    }
}

impl<S: Send + Sync> FromRequestParts<S> for EventsQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        EventsQuery::parse(parts.uri.query().unwrap_or_default())
    }
}
