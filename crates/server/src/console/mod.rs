//! `/console`: the web page for the people who run the doors, served by the same binary.
//!
//! Pages are rendered on the server from typed templates (maud: HTML written as Rust, escaped by
//! default and checked when the binary builds — no template files to ship or to get out of step).
//! Every page gets its data, and every form does its work, through the API itself: the console
//! calls its own routes in-process with the signed-in key's caller, so the console can do
//! nothing the API would not let that key do, and shows the API's own errors.
//!
//! Sign-in takes an API key and answers a session cookie (`HttpOnly`, `SameSite=Strict`; behind
//! HTTPS `Secure` and named `__Host-…`, so no other origin of the host can plant one; path
//! `/console` otherwise); the session is stored hashed, expires after 12 hours, ends on sign-out
//! and with its key. Every form carries the session's CSRF token (sign-in: a token in a cookie
//! of its own); a form without it is refused with 403.
//!
//! Every console answer forbids framing (`X-Frame-Options`, CSP `frame-ancestors 'none'`),
//! caching (`no-store`: pages show PINs and secrets), sniffing and referrers. A form's outcome
//! reaches the next page in a one-time cookie, never in the URL: no page prints text it was
//! handed in a link.

mod codes;
mod pages;
mod stays;
mod webhooks;

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lockbridge_core::model::{ApiKey, Role};
use serde_json::Value;
use tower::ServiceExt;

use crate::extract::{Caller, ConsoleCaller};
use crate::state::AppState;

const SESSION_COOKIE: &str = "lb_console";
const SIGN_IN_COOKIE: &str = "lb_console_csrf";
/// The outcome of the last form, shown once by the page it led to.
const FLASH_COOKIE: &str = "lb_console_flash";
const SESSION_MS: i64 = 12 * 3600 * 1000;

/// The console's routes (outside the API's description: they answer HTML).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/overview") }),
        )
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/overview", get(pages::overview))
        .route(
            "/console/connections/{id}/credentials",
            post(pages::reauthenticate),
        )
        .route("/console/locks", get(pages::locks))
        .route("/console/locks/{id}", get(codes::lock))
        .route("/console/locks/{id}/codes-table", get(codes::codes_table))
        .route("/console/locks/{id}/operate", post(pages::operate))
        .route("/console/locks/{id}/codes", post(codes::create_code))
        .route("/console/codes/{id}/change", post(codes::change_code))
        .route("/console/grants", get(pages::grants))
        .route("/console/properties", get(stays::properties))
        .route(
            "/console/properties/{id}/calendars",
            post(stays::add_calendar),
        )
        .route("/console/arrivals", get(stays::arrivals))
        .route("/console/reservations/{id}", get(stays::reservation))
        .route("/console/events", get(pages::events))
        .route(
            "/console/webhooks",
            get(webhooks::webhooks).post(webhooks::create_webhook),
        )
        .route("/console/webhooks/{id}", get(webhooks::webhook))
        .route(
            "/console/webhooks/{id}/deliveries/{delivery}/retry",
            post(webhooks::retry_delivery),
        )
        .layer(axum::middleware::from_fn(edge))
}

/// What every console answer carries, and the one-time message of the last form: read from
/// its cookie into the request (see [`Flash`]) and cleared by the page that shows it.
async fn edge(mut request: Request<Body>, next: axum::middleware::Next) -> Response {
    let flash = flash_of(request.headers());
    let clear = (!flash.is_empty()).then(|| set_cookie(request.headers(), FLASH_COOKIE, "", 0));
    request.extensions_mut().insert(Flash(flash));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    if let Some(clear) = clear
        && !response.status().is_redirection()
        && let Ok(v) = header::HeaderValue::from_str(&clear)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The message the last form left for this page (`notice` or `error`), from its cookie.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flash(pub pages::Fields);

impl<S: Send + Sync> FromRequestParts<S> for Flash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Flash>().cloned().unwrap_or_default())
    }
}

fn flash_of(headers: &HeaderMap) -> pages::Fields {
    let mut out = pages::Fields::new();
    let Some(raw) = cookie(headers, FLASH_COOKIE) else {
        return out;
    };
    let text: String = form_urlencoded::parse(format!("m={raw}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .next()
        .unwrap_or_default();
    if let Some((kind, message)) = text.split_once(':')
        && matches!(kind, "notice" | "error")
    {
        out.insert(kind.into(), message.into());
    }
    out
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("console.js"),
    )
}

/// The cookie `name` (its `__Host-` form behind HTTPS: the only one taken there), parsed with
/// the `cookie` crate.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let name = cookie_name(headers, name);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// `name` as the console's cookies are called here: behind HTTPS with the `__Host-` prefix,
/// which browsers accept only from a secure origin, for the whole host, without a domain.
fn cookie_name(headers: &HeaderMap, name: &str) -> String {
    if https(headers) {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// Whether the browser reached the service over HTTPS (directly or through a proxy that says
/// so): then cookies are `Secure`.
fn https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A console cookie: HTTP-only, same-site, for the console's path (behind HTTPS: secure,
/// `__Host-`, for the whole host), as the `cookie` crate writes it.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_s: i64) -> String {
    let secure = https(headers);
    cookie::Cookie::build((cookie_name(headers, name), value.to_owned()))
        .path(if secure { "/" } else { "/console" })
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age_s))
        .secure(secure)
        .build()
        .to_string()
}

/// Two strings compared in time that does not depend on where they differ (`subtle`).
fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct Session {
    pub key: ApiKey,
    pub csrf: String,
    pub caller: Caller,
}

impl Session {
    pub fn admin(&self) -> bool {
        self.key.role == Role::Admin
    }

    /// The refusal of a form whose token is not this session's; `None` when it is.
    pub fn refuse(&self, token: Option<&str>) -> Option<Response> {
        match token {
            Some(t) if same(t, &self.csrf) => None,
            _ => Some(forbidden()),
        }
    }
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(
            pages::message_page(
                "Refused",
                "This form has no valid security token. Reload the page and send it again.",
            )
            .into_string(),
        ),
    )
        .into_response()
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in());
        };
        match s.store.console_session(&token, s.now()).await {
            Ok(Some((key, csrf))) => Ok(Session {
                caller: Caller {
                    org: key.org_id,
                    role: key.role,
                    key: key.id,
                    name: key.name.as_str().into(),
                    console: true,
                },
                key,
                csrf,
            }),
            Ok(None) => Err(to_sign_in()),
            Err(e) => {
                tracing::error!(error = %lockbridge_core::provider::error_chain(&e), "could not read a console session");
                Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

/// What the API answered a console call: its answer in the API's own type, or its refusal.
pub type Answer<T> = Result<T, Refused>;

/// An API call that did not succeed, in the words of the API's error.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Calls the API in-process as the session's key and reads its answer as `T` (one of
/// [`lockbridge_api`]'s types; `IgnoredAny` where only success matters).
pub async fn api<T: serde::de::DeserializeOwned>(
    s: &AppState,
    session: &Session,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> Answer<T> {
    static ROUTES: OnceLock<Router<AppState>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| crate::App::api().router).clone();
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .extension(ConsoleCaller(session.caller.clone()))
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .map_err(|_| Refused("not a valid request".into()))?;
    let response = match routes.with_state(s.clone()).oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    if !status.is_success() {
        let message = serde_json::from_slice::<lockbridge_api::ErrorBody>(&bytes)
            .map_or_else(|_| format!("failed ({status})"), |e| e.error.message);
        return Err(Refused(message));
    }
    // An empty answer (204) reads as `null`.
    let bytes = if bytes.is_empty() {
        &b"null"[..]
    } else {
        &bytes[..]
    };
    serde_json::from_slice(bytes).map_err(|e| {
        tracing::error!(error = %e, uri, "the console could not read the API's answer");
        Refused(format!("an unexpected answer ({status})"))
    })
}

/// A call whose answer only matters as success or refusal, with the message for the page.
pub async fn act(
    s: &AppState,
    session: &Session,
    method: Method,
    uri: &str,
    body: Option<Value>,
    done: &str,
) -> Result<String, String> {
    api::<serde::de::IgnoredAny>(s, session, method, uri, body)
        .await
        .map(|_| done.to_owned())
        .map_err(|e| e.0)
}

#[derive(serde::Deserialize)]
struct SignInForm {
    api_key: String,
    csrf: Option<String>,
}

async fn sign_in_page(headers: HeaderMap, flash: Flash) -> Response {
    // 256 bits from the operating system's generator.
    let mut random = [0u8; 32];
    if getrandom::fill(&mut random).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let token = hex::encode(random);
    let page = pages::sign_in(&token, &flash.0);
    (
        [(
            header::SET_COOKIE,
            set_cookie(&headers, SIGN_IN_COOKIE, &token, 3600),
        )],
        Html(page.into_string()),
    )
        .into_response()
}

async fn sign_in(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: axum::Form<SignInForm>,
) -> Response {
    let expected = cookie(&headers, SIGN_IN_COOKIE);
    if !matches!((expected.as_deref(), form.csrf.as_deref()), (Some(a), Some(b)) if same(a, b)) {
        return forbidden();
    }
    // The key as lockbridge writes it, or as Seam's SDKs take it (`seam_lb_…`).
    let typed = form.api_key.trim();
    let key = match s
        .store
        .api_key_by_secret(typed.strip_prefix("seam_").unwrap_or(typed))
        .await
    {
        Ok(Some(k)) => k,
        Ok(None) => {
            return back(
                &headers,
                "/console/sign-in",
                Err("That key is not valid".into()),
            );
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let Ok((token, _)) = s
        .store
        .create_console_session(key.id, s.now() + SESSION_MS)
        .await
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                set_cookie(&headers, SESSION_COOKIE, &token, SESSION_MS / 1000),
            ),
            (header::LOCATION, "/console/overview".to_owned()),
        ],
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn sign_out(
    State(s): State<AppState>,
    session: Session,
    headers: HeaderMap,
    form: axum::Form<CsrfForm>,
) -> Response {
    if let Some(refused) = session.refuse(form.csrf.as_deref()) {
        return refused;
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && s.store.end_console_session(&token, s.now()).await.is_err()
    {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                set_cookie(&headers, SESSION_COOKIE, "", 0),
            ),
            (header::LOCATION, "/console/sign-in".to_owned()),
        ],
    )
        .into_response()
}

/// Back to `to` with a message for the page (`notice` or `error`), in a one-time cookie.
pub fn back(headers: &HeaderMap, to: &str, outcome: Result<String, String>) -> Response {
    let (kind, text) = match outcome {
        Ok(t) => ("notice", t),
        Err(t) => ("error", t),
    };
    // Short enough for any browser's cookie limit.
    let text: String = text.chars().take(600).collect();
    let value: String =
        form_urlencoded::byte_serialize(format!("{kind}:{text}").as_bytes()).collect();
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                set_cookie(headers, FLASH_COOKIE, &value, 60),
            ),
            (header::LOCATION, to.to_owned()),
        ],
    )
        .into_response()
}

/// A path segment from a URL, checked to be an id's characters only.
pub fn id_of(Path(id): Path<String>) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}
