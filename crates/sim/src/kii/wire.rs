//! Kii's wire: the token, registration, retrieval, query and password-change handlers.

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::KiiSim;
use super::world::{NEVER_EXPIRES_S, Principal, World, valid_id, valid_password};
use crate::faults::Failure;

/// A Kii error answer: `application/vnd.kii.<exception>+json`.
pub(crate) fn error(status: StatusCode, exception: &str, body: Value) -> Response {
    let ct = format!("application/vnd.kii.{exception}+json");
    let ct = HeaderValue::from_str(&ct).unwrap_or(HeaderValue::from_static("application/json"));
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, ct)], bytes).into_response()
}

fn json_answer(status: StatusCode, content_type: &'static str, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let ct = HeaderValue::from_static(content_type);
    (status, [(header::CONTENT_TYPE, ct)], bytes).into_response()
}

fn invalid_input(message: impl Into<String>) -> Response {
    let message = message.into();
    error(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        json!({ "errorCode": "INVALID_INPUT_DATA", "message": message, "suppressed": [] }),
    )
}

fn oauth_error(code: &str, description: &str) -> Response {
    json_answer(
        StatusCode::BAD_REQUEST,
        "application/json",
        &json!({ "errorCode": code, "error": code, "error_description": description }),
    )
}

fn app_not_found(app: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "AppNotFoundException",
        json!({ "errorCode": "APP_NOT_FOUND", "message": format!("The application {app} was not found"), "appID": app }),
    )
}

pub(crate) fn unauthorized(app: &str, principal: &str, what: &str) -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "UnauthorizedAccessException",
        json!({
            "errorCode": "UNAUTHORIZED",
            "message": format!("The user is not authorized to {what}"),
            "authenticatedAppID": app,
            "authenticatedPrincipalID": principal,
        }),
    )
}

fn thing_not_found(app: &str, field: &str, value: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ThingNotFoundException",
        json!({
            "errorCode": "THING_NOT_FOUND",
            "message": format!("Thing with {field} {value} was not found"),
            "field": field,
            "value": value,
            "appID": app,
        }),
    )
}

/// Fault injection and call counting on every vendor route, keyed by its path template
/// (`/api/apps/{app}/things/{thing}/password`…).
pub(crate) async fn faults(State(sim): State<KiiSim>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    // Kii has no numeric error codes: an `errcode` rule answers that HTTP status.
    let status = match crate::control::prelude(&sim, &route).await {
        None => return next.run(req).await,
        Some(Failure::HttpStatus(s)) => s,
        Some(Failure::Errcode(c)) => u16::try_from(c).unwrap_or(500),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(
        status,
        "SimulatedFaultException",
        json!({ "errorCode": "SIMULATED_FAULT", "message": "injected by /_sim/faults" }),
    )
}

/// The application a request names: the path's, or `X-Kii-AppID`, or Basic auth's user.
fn app_of(path_app: Option<&str>, headers: &HeaderMap) -> Option<String> {
    path_app
        .map(str::to_owned)
        .or_else(|| header_str(headers, "x-kii-appid").map(str::to_owned))
        .or_else(|| basic_user(headers))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The bearer token, with the scheme compared case-insensitively (SDKs send both `Bearer`
/// and `bearer`).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let auth = header_str(headers, "authorization")?.trim();
    let (scheme, rest) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn basic_user(headers: &HeaderMap) -> Option<String> {
    let auth = header_str(headers, "authorization")?.trim();
    let (scheme, rest) = auth.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(rest.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    Some(
        text.split_once(':')
            .map_or(text.clone(), |(u, _)| u.to_owned()),
    )
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = text.bytes().filter(|&b| b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= value(b)? << (18 - 6 * i);
        }
        let produced = chunk.len().saturating_sub(1);
        out.extend_from_slice(&n.to_be_bytes()[1..=produced]);
    }
    Some(out)
}

/// The caller behind the bearer token: 401 without one, 403 for a token Kii does not know
/// (or that expired), 401 for a token of another application.
fn authenticate(
    w: &World,
    app: &str,
    headers: &HeaderMap,
    what: &str,
) -> Result<Principal, Box<Response>> {
    let Some(token) = bearer(headers) else {
        return Err(Box::new(unauthorized(app, Principal::Anonymous.id(), what)));
    };
    let Some(t) = w.token(token) else {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "WrongTokenException",
            json!({ "errorCode": "WRONG_TOKEN", "message": "The provided token is not valid", "appID": app }),
        )));
    };
    if t.app_id != app {
        return Err(Box::new(unauthorized(&t.app_id, t.principal.id(), what)));
    }
    Ok(t.principal.clone())
}

/// A thing path segment: `VENDOR_THING_ID:{id}` (also `%3A`-encoded, which the router has
/// decoded already) or a thing id. Answers the thing id, or Kii's 404.
fn find_thing(w: &World, app: &str, segment: &str) -> Result<String, Box<Response>> {
    let (field, value, found) = match segment.strip_prefix("VENDOR_THING_ID:") {
        Some(vid) => ("vendorThingID", vid, w.thing_by_vendor_id(app, vid)),
        None => (
            "thingID",
            segment,
            w.things.get(segment).filter(|t| t.app_id == app),
        ),
    };
    found
        .map(|t| t.thing_id.clone())
        .ok_or_else(|| Box::new(thing_not_found(app, field, value)))
}

fn media_type(headers: &HeaderMap) -> String {
    header_str(headers, "content-type")
        .and_then(|ct| ct.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn unsupported_media_type(expected: &str) -> Response {
    error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaTypeException",
        json!({ "errorCode": "UNSUPPORTED_MEDIA_TYPE", "message": format!("Content-Type must be {expected}") }),
    )
}

/// `POST /api/oauth2/token` and `POST /api/apps/{app}/oauth2/token`.
pub(crate) async fn token(
    State(sim): State<KiiSim>,
    app: Option<Path<String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(app_id) = app_of(app.as_deref().map(String::as_str), &headers) else {
        return oauth_error(
            "invalid_request",
            "The application is not specified (X-Kii-AppID)",
        );
    };
    // The reference page says form-encoded, the guides and SDKs send JSON: take both.
    let fields: Map<String, Value> = if media_type(&headers) == "application/x-www-form-urlencoded"
    {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(map) => map,
            Err(_) => {
                return oauth_error("invalid_request", "The request body is not a JSON object");
            }
        }
    };
    let text = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or("");
    let mut w = sim.world();
    let Some(app) = w.apps.get(&app_id).cloned() else {
        return app_not_found(&app_id);
    };
    let now = w.now_ms();
    let expires_at = fields.get("expiresAt").and_then(Value::as_i64);
    let grant = text("grant_type");
    let principal = if !text("username").is_empty() || grant == "password" {
        let Some(vid) = text("username").strip_prefix("VENDOR_THING_ID:") else {
            return oauth_error(
                "invalid_grant",
                "The user was not found or a wrong password was given",
            );
        };
        let password = text("password").to_owned();
        let max = w.config.max_login_attempts;
        let Some(thing) = w
            .things
            .values_mut()
            .find(|t| t.app_id == app.app_id && t.vendor_thing_id == vid)
        else {
            return oauth_error(
                "invalid_grant",
                "The user was not found or a wrong password was given",
            );
        };
        if max > 0 && thing.failed_logins >= max {
            return oauth_error("invalid_grant", "The login name is locked");
        }
        if thing.disabled || thing.password != password {
            thing.failed_logins += 1;
            return oauth_error(
                "invalid_grant",
                "The user was not found or a wrong password was given",
            );
        }
        thing.failed_logins = 0;
        Principal::Thing(thing.thing_id.clone())
    } else if grant.is_empty() || grant == "client_credentials" {
        match (text("client_id"), text("client_secret")) {
            (id, secret) if id == app.client_id && secret == app.client_secret => Principal::Admin,
            (id, secret) if id == app.app_id && secret == app.app_key => Principal::Anonymous,
            _ => {
                return oauth_error(
                    "invalid_grant",
                    "The client_id or client_secret is not valid",
                );
            }
        }
    } else {
        return oauth_error(
            "unsupported_grant_type",
            "The grant_type is not supported here",
        );
    };
    if expires_at.is_some_and(|at| at <= now) {
        return oauth_error("invalid_request", "expiresAt is in the past");
    }
    let expires_in = expires_at.map_or(NEVER_EXPIRES_S, |at| (at - now) / 1000);
    let id = match &principal {
        Principal::Thing(id) => Some(id.clone()),
        _ => None,
    };
    let token = w.issue_token(&app.app_id, principal, expires_at);
    let mut out =
        json!({ "access_token": token, "expires_in": expires_in, "token_type": "Bearer" });
    if let Some(id) = id {
        out["id"] = json!(id);
    }
    json_answer(StatusCode::OK, "application/json", &out)
}

const REGISTER: &str = "application/vnd.kii.thingregistrationrequest+json";
const REGISTER_AUTH: &str = "application/vnd.kii.thingregistrationandauthorizationrequest+json";

/// `POST /api/apps/{app}/things`.
pub(crate) async fn register(
    State(sim): State<KiiSim>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = sim.world();
    if !w.apps.contains_key(&app_id) {
        return app_not_found(&app_id);
    }
    if bearer(&headers).is_some()
        && let Err(refused) = authenticate(&w, &app_id, &headers, "register things")
    {
        return *refused;
    }
    let with_token = match media_type(&headers).as_str() {
        REGISTER | "application/json" => false,
        REGISTER_AUTH => true,
        _ => {
            return unsupported_media_type(
                "application/vnd.kii.ThingRegistrationRequest+json or application/vnd.kii.ThingRegistrationAndAuthorizationRequest+json",
            );
        }
    };
    let Ok(mut fields) = serde_json::from_slice::<Map<String, Value>>(&body) else {
        return invalid_input("The request body is not a JSON object");
    };
    let take = |fields: &mut Map<String, Value>, k: &str| match fields.remove(k) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let vid = take(&mut fields, "_vendorThingID").unwrap_or_default();
    let password = take(&mut fields, "_password").unwrap_or_default();
    if !valid_id(&vid, 200) {
        return invalid_input("_vendorThingID must be 1 to 200 characters of [a-zA-Z0-9-_.]");
    }
    if !valid_password(&password) {
        return invalid_input("_password must match ^\\p{Print}{1,200}$");
    }
    for name in [
        "_thingType",
        "_vendor",
        "_firmwareVersion",
        "_productName",
        "_lot",
    ] {
        match fields.get(name) {
            None => {}
            Some(Value::String(s)) if valid_id(s, 100) => {}
            Some(_) => {
                return invalid_input(format!(
                    "{name} must be 1 to 100 characters of [a-zA-Z0-9-_.]"
                ));
            }
        }
    }
    // Read-only fields and unknown `_` fields are ignored, as Kii does.
    const KEPT: &[&str] = &[
        "_thingType",
        "_vendor",
        "_firmwareVersion",
        "_productName",
        "_lot",
        "_layoutPosition",
    ];
    fields.retain(|k, _| {
        !k.starts_with('_')
            || KEPT.contains(&k.as_str())
            || k.starts_with("_stringField")
            || k.starts_with("_numberField")
    });
    let Some(thing) = w.add_thing(&app_id, &vid, &password, fields) else {
        return error(
            StatusCode::CONFLICT,
            "ThingAlreadyExistsException",
            json!({
                "errorCode": "THING_ALREADY_EXISTS",
                "message": format!("Thing with vendorThingID {vid} already exists"),
                "value": vid,
                "field": "vendorThingID",
            }),
        );
    };
    let mut out = thing.wire();
    let content_type = if with_token {
        let token = w.issue_token(&app_id, Principal::Thing(thing.thing_id.clone()), None);
        out["_accessToken"] = json!(token);
        "application/vnd.kii.ThingRegistrationAndAuthorizationResponse+json"
    } else {
        "application/vnd.kii.ThingRegistrationResponse+json"
    };
    let mut resp = json_answer(StatusCode::CREATED, content_type, &out);
    if let Ok(location) =
        HeaderValue::from_str(&format!("/api/apps/{app_id}/things/{}", thing.thing_id))
    {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    resp
}

/// `GET /api/apps/{app}/things/{thingID | VENDOR_THING_ID:id}`: the admin or the thing itself.
pub(crate) async fn get_thing(
    State(sim): State<KiiSim>,
    Path((app_id, segment)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let w = sim.world();
    if !w.apps.contains_key(&app_id) {
        return app_not_found(&app_id);
    }
    let principal = match authenticate(&w, &app_id, &headers, "read this thing") {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let thing_id = match find_thing(&w, &app_id, &segment) {
        Ok(id) => id,
        Err(missing) => return *missing,
    };
    if principal != Principal::Admin && principal != Principal::Thing(thing_id.clone()) {
        return unauthorized(&app_id, principal.id(), "read this thing");
    }
    let thing = w
        .things
        .get(&thing_id)
        .map(|t| t.wire())
        .unwrap_or_default();
    json_answer(
        StatusCode::OK,
        "application/vnd.kii.ThingRetrievalResponse+json",
        &thing,
    )
}

/// `POST /api/apps/{app}/things/query` (admin): every thing of the app, by best-effort pages.
/// Only the `all` clause is understood.
pub(crate) async fn query(
    State(sim): State<KiiSim>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let w = sim.world();
    if !w.apps.contains_key(&app_id) {
        return app_not_found(&app_id);
    }
    match authenticate(&w, &app_id, &headers, "query things") {
        Ok(Principal::Admin) => {}
        Ok(other) => return unauthorized(&app_id, other.id(), "query things"),
        Err(refused) => return *refused,
    }
    let Ok(q) = serde_json::from_slice::<Value>(&body) else {
        return invalid_input("The request body is not a JSON object");
    };
    let clause = q["thingQuery"]["clause"]["type"].as_str().unwrap_or("all");
    if clause != "all" {
        return error(
            StatusCode::BAD_REQUEST,
            "QueryNotSupportedException",
            json!({ "errorCode": "QUERY_NOT_SUPPORTED", "message": format!("The clause type {clause} is not supported by the simulator") }),
        );
    }
    let limit = q["bestEffortLimit"]
        .as_u64()
        .filter(|&l| l > 0)
        .unwrap_or(100)
        .min(200) as usize;
    let offset: usize = q["paginationKey"]
        .as_str()
        .and_then(|k| k.parse().ok())
        .unwrap_or(0);
    let all: Vec<Value> = w
        .things
        .values()
        .filter(|t| t.app_id == app_id)
        .map(|t| t.wire())
        .collect();
    let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    let mut out = json!({ "results": page });
    if offset + limit < all.len() {
        out["nextPaginationKey"] = json!((offset + limit).to_string());
    }
    json_answer(
        StatusCode::OK,
        "application/vnd.kii.ThingQueryResponse+json",
        &out,
    )
}

const CHANGE_PASSWORD: &str = "application/vnd.kii.changethingpasswordrequest+json";

/// `PUT …/things/{thingID | VENDOR_THING_ID:id}/ownership/password` (and `…/password`),
/// exactly as the seed: admin token only, the vendor content type, `newPassword` matching
/// `^\p{Print}{1,200}$` (the same password as before is fine), 204 with no body.
pub(crate) async fn change_password(
    State(sim): State<KiiSim>,
    route: MatchedPath,
    Path((app_id, segment)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = sim.world();
    let ownership = route.as_str().ends_with("/ownership/password");
    let live = match w.config.password_paths.as_str() {
        "ownership" => ownership,
        "direct" => !ownership,
        _ => true,
    };
    if !live {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    if !w.apps.contains_key(&app_id) {
        return app_not_found(&app_id);
    }
    const WHAT: &str = "change the thing password";
    match authenticate(&w, &app_id, &headers, WHAT) {
        Ok(Principal::Admin) => {}
        Ok(other) => return unauthorized(&app_id, other.id(), WHAT),
        Err(refused) => return *refused,
    }
    if media_type(&headers) != CHANGE_PASSWORD {
        return unsupported_media_type("application/vnd.kii.ChangeThingPasswordRequest+json");
    }
    let thing_id = match find_thing(&w, &app_id, &segment) {
        Ok(id) => id,
        Err(missing) => return *missing,
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(new_password) = body.get("newPassword").and_then(Value::as_str) else {
        return invalid_input("newPassword is required");
    };
    if !valid_password(new_password) {
        return invalid_input(
            "The thing password was invalid: newPassword must match ^\\p{Print}{1,200}$",
        );
    }
    w.set_password(&thing_id, new_password);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_credentials() {
        assert_eq!(base64_decode("YWJjMTIzOmFueQ==").unwrap(), b"abc123:any");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("*").is_none());
    }
}
