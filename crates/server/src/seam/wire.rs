//! How Seam's SDKs speak: parameters in the query (GET, DELETE; Seam's serialisation with a
//! trailing `_strict=true`) or in a JSON body (every other method, and POST on any route), keys
//! written `seam_` + a lockbridge key, answers `{"<key>": …, "ok": true}`, errors
//! `{"error": {"type", "message", "data"?, "validation_errors"?}, "ok": false}` with the
//! request id in `seam-request-id`.

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lockbridge_app::AppError;
use lockbridge_core::time::Millis;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, request_id};
use crate::extract::Caller;
use crate::state::AppState;

/// A failure as Seam's SDKs read it.
#[derive(Debug)]
pub enum SeamError {
    /// `invalid_input` (400): the parameter and what is wrong with it.
    Invalid { field: String, message: String },
    /// A Seam error of its own type (`device_not_found`, `duplicate_access_code`, …).
    Typed {
        status: StatusCode,
        kind: &'static str,
        message: String,
        data: Option<Value>,
    },
    /// Any other failure of the service, under lockbridge's own error code.
    Api(ApiError),
}

pub type SeamResult<T> = Result<T, SeamError>;

impl From<ApiError> for SeamError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::App(AppError::Validation { field, message }) => SeamError::Invalid {
                // `/v1` names the locks of a grant `lock_ids`; Seam names them `device_ids`.
                field: field.replace("lock_ids", "device_ids"),
                message,
            },
            ApiError::App(AppError::NotFound(what)) => not_found(what),
            other => SeamError::Api(other),
        }
    }
}

impl From<AppError> for SeamError {
    fn from(e: AppError) -> Self {
        ApiError::App(e).into()
    }
}

impl From<lockbridge_store::StoreError> for SeamError {
    fn from(e: lockbridge_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

/// Seam's not-found error for one of lockbridge's objects.
pub fn not_found(what: &'static str) -> SeamError {
    let (kind, message) = match what {
        "lock" => ("device_not_found", "Device not found"),
        "access code" => (
            "access_code_not_found",
            "Could not find an access_code with device_id or access_code_id",
        ),
        "action attempt" => ("action_attempt_not_found", "Action attempt not found"),
        "connection" => ("connected_account_not_found", "Connected account not found"),
        "event" => ("event_not_found", "Event not found"),
        "webhook" => ("webhook_not_found", "Webhook not found"),
        _ => ("not_found", "Not found"),
    };
    SeamError::Typed {
        status: StatusCode::NOT_FOUND,
        kind,
        message: message.to_owned(),
        data: None,
    }
}

pub fn invalid(field: &str, message: impl Into<String>) -> SeamError {
    SeamError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

impl IntoResponse for SeamError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            SeamError::Invalid { field, message } => {
                let mut tree = Map::new();
                tree.insert("_errors".into(), json!([]));
                tree.insert(field.clone(), json!({"_errors": [message.clone()]}));
                (
                    StatusCode::BAD_REQUEST,
                    json!({"type": "invalid_input", "message": format!("{field}: {message}"),
                           "validation_errors": tree}),
                )
            }
            SeamError::Typed {
                status,
                kind,
                message,
                data,
            } => {
                let mut e = json!({"type": kind, "message": message});
                if let Some(d) = data {
                    e["data"] = d;
                }
                (status, e)
            }
            SeamError::Api(e) => {
                let headers = e.provider().and_then(|p| p.retry_after);
                // The /v1 answer logs a vendor's or the store's cause; keep that, and its status.
                let (status, code) = e.status_code();
                let message = e.public_message();
                e.log(&request_id());
                let mut r = reply_error(status, json!({"type": code, "message": message}));
                if let Some(s) = headers
                    && let Ok(v) = HeaderValue::from_str(&s.to_string())
                {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return r;
            }
        };
        reply_error(status, error)
    }
}

fn reply_error(status: StatusCode, mut error: Value) -> Response {
    let id = request_id();
    error["request_id"] = json!(id);
    let mut r = (status, axum::Json(json!({"error": error, "ok": false}))).into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        r.headers_mut().insert("seam-request-id", v);
    }
    r
}

/// A success: `{"<key>": value, …, "ok": true}`.
pub fn reply(fields: Vec<(&str, Value)>) -> Response {
    let mut body = Map::new();
    for (k, v) in fields {
        body.insert(k.to_owned(), v);
    }
    body.insert("ok".into(), Value::Bool(true));
    let mut r = axum::Json(Value::Object(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert("seam-request-id", v);
    }
    r
}

/// A success whose values are JSON already: `{"<key>": <json>, …, "ok": true}`.
pub fn reply_raw(fields: &[(&str, &str)]) -> Response {
    let mut body = String::from("{");
    for (k, v) in fields {
        body.push_str(&serde_json::to_string(k).unwrap_or_default());
        body.push(':');
        body.push_str(v);
        body.push(',');
    }
    body.push_str("\"ok\":true}");
    let mut r = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        r.headers_mut().insert("seam-request-id", v);
    }
    r
}

/// The caller behind a `seam_`-prefixed key (the SDKs refuse keys without it; the rest is a
/// lockbridge key). Seam's 401 when it is missing or unknown.
#[derive(Debug)]
pub struct SeamCaller(pub Caller);

impl SeamCaller {
    /// The caller, when its key is an admin's; Seam's 403 otherwise.
    pub fn admin(self) -> SeamResult<Caller> {
        match self.0.role {
            lockbridge_core::model::Role::Admin => Ok(self.0),
            lockbridge_core::model::Role::Member => Err(SeamError::Typed {
                status: StatusCode::FORBIDDEN,
                kind: "forbidden",
                message: "This route needs an admin key".to_owned(),
                data: None,
            }),
        }
    }
}

fn unauthorized(message: &str) -> SeamError {
    SeamError::Typed {
        status: StatusCode::UNAUTHORIZED,
        kind: "unauthorized",
        message: message.to_owned(),
        data: None,
    }
}

/// Everything a `/seam` route reads of its request: the caller and the parameters.
#[derive(Debug)]
pub struct SeamRequest {
    pub caller: SeamCaller,
    pub params: Params,
}

impl<S> FromRequest<S> for SeamRequest
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SeamError;

    async fn from_request(req: Request, state: &S) -> Result<Self, SeamError> {
        let s = AppState::from_ref(state);
        let secret = crate::extract::bearer(req.headers())?
            .ok_or_else(|| unauthorized("No Authorization header"))?;
        let secret = secret.strip_prefix("seam_").unwrap_or(secret);
        let Some(caller) = Caller::of_key(&s, secret).await? else {
            s.http.auth_failed();
            return Err(unauthorized("API Key not found"));
        };
        let mut map = query_params(req.uri().query().unwrap_or_default())?;
        if !matches!(*req.method(), Method::GET | Method::DELETE | Method::HEAD) {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|_| invalid("body", "could not be read"))?;
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(body)) => {
                        crate::extract::check_value(&Value::Object(body.clone()))?;
                        map.extend(body);
                    }
                    Ok(_) => return Err(invalid("body", "must be a JSON object")),
                    Err(e) => return Err(invalid("body", format!("is not valid JSON ({e})"))),
                }
            }
        }
        Ok(SeamRequest {
            caller: SeamCaller(caller),
            params: Params(map),
        })
    }
}

/// Seam's query serialisation read back: a repeated key is a list, `key=` is `null` (an
/// empty list for a list parameter), `a.b=v` nests, `_strict` is not a parameter.
fn query_params(query: &str) -> SeamResult<Map<String, Value>> {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "_strict" {
            continue;
        }
        if k.contains('\0') || v.contains('\0') {
            return Err(invalid(&k, "must not contain NUL characters"));
        }
        let value = if v.is_empty() {
            Value::Null
        } else {
            Value::String(v.into_owned())
        };
        let (head, rest) = match k.split_once('.') {
            Some((h, r)) => (h.to_owned(), Some(r.to_owned())),
            None => (k.into_owned(), None),
        };
        let slot = map.entry(head).or_insert(Value::Null);
        if let Some(sub) = rest {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot[sub.as_str()] = value;
            continue;
        }
        *slot = match slot.take() {
            Value::Null if value.is_null() => Value::Null,
            Value::Null => value,
            Value::Array(mut items) => {
                items.push(value);
                Value::Array(items)
            }
            first => Value::Array(vec![first, value]),
        };
    }
    Ok(map)
}

/// A route's parameters, read one by one with Seam's types (numbers and booleans may come as
/// text from a query string). Parameters a route does not read are ignored, as Seam allows.
#[derive(Debug)]
pub struct Params(pub Map<String, Value>);

impl Params {
    fn raw(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    /// Whether the caller gave `k`, even as `null`.
    pub fn given(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }

    pub fn str(&self, k: &str) -> SeamResult<Option<String>> {
        match self.raw(k) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(invalid(k, "Expected string")),
        }
    }

    pub fn required(&self, k: &str) -> SeamResult<String> {
        self.str(k)?.ok_or_else(|| invalid(k, "Required"))
    }

    /// A list: a JSON array, a repeated query key, one value, or `key=` (empty).
    pub fn strs(&self, k: &str) -> SeamResult<Option<Vec<String>>> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Vec::new())),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(invalid(k, "Expected an array of strings")),
                })
                .collect::<SeamResult<Vec<_>>>()
                .map(Some),
            Some(_) => Err(invalid(k, "Expected an array of strings")),
        }
    }

    pub fn bool(&self, k: &str) -> SeamResult<Option<bool>> {
        match self.raw(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(invalid(k, "Expected boolean")),
        }
    }

    pub fn number(&self, k: &str) -> SeamResult<Option<u64>> {
        let n = match self.raw(k) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.parse::<f64>().ok(),
            Some(_) => None,
        };
        match n {
            Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= 1e12 => Ok(Some(n as u64)),
            _ => Err(invalid(k, "Expected a whole number of at least 1")),
        }
    }

    /// A time: `None` when absent, `Some(None)` when given as `null`.
    pub fn time(&self, k: &str) -> SeamResult<Option<Option<Millis>>> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => lockbridge_core::time::parse_rfc3339(s)
                .map(|t| Some(Some(t)))
                .ok_or_else(|| {
                    invalid(
                        k,
                        "Expected an ISO 8601 time with a zone (2030-01-01T15:00:00Z)",
                    )
                }),
            Some(_) => Err(invalid(k, "Expected string")),
        }
    }

    /// A lockbridge id given as a Seam parameter; `None` when it cannot be one (the route then
    /// answers its not-found error).
    pub fn id<T: std::str::FromStr>(&self, k: &str) -> SeamResult<Option<T>> {
        Ok(self.str(k)?.and_then(|s| s.parse().ok()))
    }
}

/// A page of a Seam list: `limit` (default `default`) items after `page_cursor`, and the
/// `pagination` object the paginators follow.
#[derive(Debug)]
pub struct Paging {
    pub limit: u32,
    pub after: Option<String>,
}

impl Paging {
    pub fn read(p: &Params, default: u32) -> SeamResult<Paging> {
        let limit = p.number("limit")?.unwrap_or(u64::from(default));
        Ok(Paging {
            limit: limit.min(u64::from(default)) as u32,
            after: p.str("page_cursor")?,
        })
    }

    /// The first `limit` of `rows` (fetched with one more) and its `pagination`.
    pub fn page<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> String) -> (Vec<T>, Value) {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next = rows.last().filter(|_| more).map(id);
        let pagination = json!({
            "has_next_page": next.is_some(),
            "next_page_cursor": next,
            "next_page_url": null,
        });
        (rows, pagination)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seams_query_serialisation_reads_back() {
        let q = "created_before=2025-01-01T00%3A00%3A00Z&custom_metadata_has.b=true&\
                 custom_metadata_has.k=v&device_ids=a&device_ids=x2&limit=10&name=&_strict=true";
        let p = Params(query_params(q).unwrap());
        assert_eq!(
            p.str("created_before").unwrap().as_deref(),
            Some("2025-01-01T00:00:00Z")
        );
        assert_eq!(p.strs("device_ids").unwrap().unwrap(), ["a", "x2"]);
        assert_eq!(p.number("limit").unwrap(), Some(10));
        assert_eq!(p.0["custom_metadata_has"]["k"], "v");
        assert!(p.given("name") && p.str("name").unwrap().is_none());
        assert!(!p.given("_strict"));
        let one = Params(query_params("device_ids=a&ids=&_strict=true").unwrap());
        assert_eq!(one.strs("device_ids").unwrap().unwrap(), ["a"]);
        assert!(one.strs("ids").unwrap().unwrap().is_empty());
        let bad = Params(query_params("limit=0").unwrap());
        assert!(matches!(
            bad.number("limit"),
            Err(SeamError::Invalid { .. })
        ));
    }
}
