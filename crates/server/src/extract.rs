//! Extractors: JSON bodies and queries whose errors name the field, and the caller's key.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use lockbridge_core::ids::{ApiKeyId, OrgId};
use lockbridge_core::model::Role;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body. Malformed JSON, an unknown field, a missing field or a wrong type is a 400
/// naming the field; nothing is written.
#[derive(Debug)]
pub struct Body<T>(pub T);

/// The field a serde error is about: the path (which already ends in an unknown field's name),
/// with a missing field's name appended.
fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (p, Some(name)) => format!("{p}.{name}"),
        (".", None) => "body".to_owned(),
        (p, None) => p.to_owned(),
    }
}

/// Longest `name` (and `description`) anywhere in a body, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The rules every text field of every body keeps: no NUL character (stored text must survive
/// PostgreSQL and every vendor), and names of at most [`MAX_NAME_CHARS`] characters. Only a
/// body that could break one is walked: JSON spells NUL `\u0000`, and a long name needs a long
/// body.
fn check_text(bytes: &[u8]) -> Result<(), ApiError> {
    let nul = bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"));
    if !nul && bytes.len() <= MAX_NAME_CHARS {
        return Ok(());
    }
    // Malformed JSON is reported by the decoder with its own message.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    walk(&value, "", None)
}

fn walk(value: &serde_json::Value, path: &str, key: Option<&str>) -> Result<(), ApiError> {
    let field = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match value {
        serde_json::Value::String(text) => {
            let here = if path.is_empty() { "body" } else { path };
            if text.contains('\0') {
                return Err(ApiError::validation(
                    here,
                    "must not contain NUL characters",
                ));
            }
            if matches!(key, Some("name" | "description")) && text.chars().count() > MAX_NAME_CHARS
            {
                return Err(ApiError::validation(
                    here,
                    format!("must be at most {MAX_NAME_CHARS} characters"),
                ));
            }
            Ok(())
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| walk(v, &format!("{path}[{i}]"), None)),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            // A bulk job's items are checked one by one when the job is submitted (see
            // [`check_value`]): a bad item fails alone instead of refusing the whole job.
            if path.is_empty() && k == "items" && v.is_array() {
                return Ok(());
            }
            if k.contains('\0') {
                return Err(ApiError::validation(
                    field("body"),
                    "a field name must not contain NUL characters",
                ));
            }
            walk(v, &field(k), Some(k))
        }),
        _ => Ok(()),
    }
}

/// The text rules of a body (no NUL, names of at most 200 characters) for one value on its own.
pub fn check_value(value: &serde_json::Value) -> Result<(), ApiError> {
    walk(value, "", None)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_text(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::validation("body", format!("is not valid JSON ({message})"))
            }
            _ => {
                let text = message.split(" at line").next().unwrap_or(&message);
                ApiError::validation(field_of(&path, &message), text.to_owned())
            }
        }
    })?;
    de.end().map_err(|_| {
        ApiError::validation("body", "has trailing characters after the JSON value")
    })?;
    Ok(value)
}

/// A request's JSON body bytes (an empty body reads as `{}`), after its content type.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let json_ok = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/json") || ct.contains("+json"));
    if !json_ok {
        return Err(ApiError::validation(
            "content-type",
            "must be application/json",
        ));
    }
    let bytes =
        Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection.status() {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
                _ => ApiError::BodyTimeout,
            })?;
    Ok(if bytes.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        bytes
    })
}

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        decode(&json_bytes(req, state).await?).map(Body)
    }
}

/// A JSON body and a fingerprint of what it says (SHA-256 of its JSON value with keys sorted,
/// so spacing and key order do not count), for `Idempotency-Key` checks.
#[derive(Debug)]
pub struct Fingerprinted<T> {
    pub body: T,
    pub fingerprint: String,
}

impl<T> Fingerprinted<T> {
    /// The fingerprint of this body sent to `target` (the method, route and object it names).
    pub fn of_request(&self, target: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{target}\n{}", self.fingerprint));
        hex::encode(digest)
    }
}

impl<S, T> FromRequest<S> for Fingerprinted<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        let body = decode(&bytes)?;
        // It decoded, so it is JSON; `Value` keeps object keys sorted.
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok(Fingerprinted {
            body,
            fingerprint: value.to_string(),
        })
    }
}

/// A header that may be given once: two of them are ambiguous (which one counts?) and refused
/// with 400 naming it; one that is not visible ASCII reads as absent for the caller to judge.
pub fn single_header<'h>(
    headers: &'h axum::http::HeaderMap,
    name: &str,
) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::validation(name, "must be given once"));
    }
    Ok(first.and_then(|v| v.to_str().ok()))
}

/// The organisation and role behind the request's API key, and who it is in events.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub role: Role,
    pub key: ApiKeyId,
    /// The key's name, for the events the request causes.
    pub name: std::sync::Arc<str>,
    /// Signed in to the console with the key, rather than calling the API with it.
    pub console: bool,
}

impl Caller {
    /// The caller as the actor of the events its request causes.
    pub fn actor(&self) -> lockbridge_core::events::Actor {
        use lockbridge_core::events::{Actor, ActorType};
        Actor {
            kind: if self.console {
                ActorType::Console
            } else {
                ActorType::ApiKey
            },
            id: Some(self.key.to_string()),
            name: Some(self.name.to_string()),
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(ConsoleCaller(caller)) = parts.extensions.get::<ConsoleCaller>() {
            return Ok(caller.clone());
        }
        let state = AppState::from_ref(state);
        let refused = || {
            state.http.auth_failed();
            ApiError::Unauthorized
        };
        let secret = bearer(&parts.headers)?.ok_or_else(refused)?;
        Caller::of_key(&state, secret).await?.ok_or_else(refused)
    }
}

/// The secret of an `Authorization: Bearer <secret>` header, if there is one (the scheme is
/// case-insensitive, RFC 9110 §11.1); two such headers are a 400.
pub fn bearer(headers: &axum::http::HeaderMap) -> Result<Option<&str>, ApiError> {
    Ok(
        single_header(headers, header::AUTHORIZATION.as_str())?.and_then(|h| {
            h.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, secret)| secret.trim())
                .filter(|s| !s.is_empty())
        }),
    )
}

impl Caller {
    /// The caller holding the API key `secret`, if it is one.
    pub async fn of_key(state: &AppState, secret: &str) -> Result<Option<Caller>, ApiError> {
        let key = state.keys.lookup(&state.store, secret, state.now()).await?;
        Ok(key.map(|key| Caller {
            org: key.org_id,
            role: key.role,
            key: key.id,
            name: key.name.as_str().into(),
            console: false,
        }))
    }
}

/// The caller behind a console page, on the API request the console makes for it (a request
/// from outside cannot carry an extension; the console set it from a signed-in session).
#[derive(Debug, Clone)]
pub struct ConsoleCaller(pub Caller);

/// A caller holding an admin key; a member key is 403.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.role {
            Role::Admin => Ok(Admin(caller)),
            Role::Member => Err(ApiError::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Option<Inner>,
    }

    fn field(json: &str) -> String {
        match decode::<Outer>(json.as_bytes()) {
            Err(ApiError::App(lockbridge_app::AppError::Validation { field, .. })) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field(r#"{}"#), "name");
        assert_eq!(field(r#"{"name": 5}"#), "name");
        assert_eq!(field(r#"{"name": "x", "extra": 1}"#), "extra");
        assert_eq!(field(r#"{"name": "x", "inner": {"n": 300}}"#), "inner.n");
        assert_eq!(field(r#"{"name": "x", "inner": {}}"#), "inner.n");
        assert_eq!(field(r#"{"name": "#), "body");
        assert_eq!(field(r#"{"name": "x"} trailing"#), "body");
    }
}
