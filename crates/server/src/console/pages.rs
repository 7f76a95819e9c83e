//! The console's pages and forms. Each reads and writes through the API ([`super::api`]) as
//! the signed-in key; forms answer with a redirect back to their page and a message.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::{Value, json};

use super::{Flash, Session, api, back, id_of};
use crate::state::AppState;

pub(super) type Fields = HashMap<String, String>;

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An instant as people read it: the wall clock in `zone` (UTC when none), the zone named, and
/// how far from `now` it is; the exact instant in the tooltip.
pub(super) fn when(v: &Value, zone: Option<&str>, now: i64) -> Markup {
    let Some(at) = v.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return html! {};
    };
    let tz = zone
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let local = at.to_zoned(tz);
    let name = zone
        .filter(|z| jiff::tz::TimeZone::get(z).is_ok())
        .unwrap_or("UTC");
    let secs = (at.as_millisecond() - now) / 1000;
    let span = |s: i64| match s {
        s if s < 90 * 60 => format!("{} min", s / 60),
        s if s < 36 * 3600 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    };
    let relative = if secs.abs() < 60 {
        "now".to_owned()
    } else if secs > 0 {
        format!("in {}", span(secs))
    } else {
        format!("{} ago", span(-secs))
    };
    html! {
        time datetime=(at.to_string()) title=(at.to_string()) {
            (local.strftime("%Y-%m-%d %H:%M")) " " span.muted { (name) " · " (relative) }
        }
    }
}

/// The organisation's locks by id: name and zone (one page of up to 200).
pub(super) async fn lock_names(
    s: &AppState,
    session: &Session,
) -> HashMap<String, (String, Option<String>)> {
    api(s, session, Method::GET, "/v1/locks?limit=200", None)
        .await
        .list()
        .into_iter()
        .map(|l| {
            (
                text(&l["id"]),
                (text(&l["name"]), l["time_zone"].as_str().map(str::to_owned)),
            )
        })
        .collect()
}

/// A link to a lock, named.
pub(super) fn lock_link(locks: &HashMap<String, (String, Option<String>)>, id: &Value) -> Markup {
    let id = text(id);
    let name = locks
        .get(&id)
        .map_or("a lock no longer here", |(n, _)| n.as_str());
    html! { a href={ "/console/locks/" (id) } { (name) } }
}

pub(super) fn field<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// A page: navigation, the signed-in key, the message a form left, the body.
pub(super) fn layout(
    title: &str,
    session: Option<&Session>,
    flash: &Fields,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · lockbridge" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/console/overview" { "lockbridge" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            a href="/console/overview" { "Overview" }
                            a href="/console/locks" { "Locks" }
                            a href="/console/grants" { "Grants" }
                            a href="/console/properties" { "Stays" }
                            a href="/console/events" { "Events" }
                            a href="/console/webhooks" { "Webhooks" }
                        }
                        form.signout method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span.who { (s.key.name) " (" (s.key.role.as_str()) ")" }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(e) = field(flash, "error") {
                        p.flash.error role="alert" { (e) }
                    }
                    @if let Some(n) = field(flash, "notice") {
                        p.flash.notice role="status" { (n) }
                    }
                    (body)
                }
            }
        }
    }
}

/// `path` with the page's filters `names` that were given, encoded, added to its query.
fn filtered(path: &str, q: &Fields, names: &[&str]) -> String {
    let mut out = path.to_owned();
    for name in names {
        if let Some(v) = field(q, name) {
            let v: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
            out.push_str(&format!("&{name}={v}"));
        }
    }
    out
}

/// A link to the next page of a list (the API's `next_cursor`), keeping the page's filters.
pub(super) fn next_page(page: &str, q: &Fields, names: &[&str], answer: &super::Answer) -> Markup {
    let Some(next) = answer.body["next_cursor"].as_str() else {
        return html! {};
    };
    let cursor: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let href = format!(
        "{}&cursor={cursor}",
        filtered(&format!("{page}?"), q, names)
    );
    html! { p.pager { a href=(href) rel="next" { "Next page →" } } }
}

pub(super) fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

pub fn message_page(title: &str, message: &str) -> Markup {
    layout(
        title,
        None,
        &Fields::new(),
        html! { p { (message) } p { a href="/console" { "Back to the console" } } },
    )
}

pub fn sign_in(token: &str, flash: &Fields) -> Markup {
    layout(
        "Sign in",
        None,
        flash,
        html! {
            form.card method="post" action="/console/sign-in" {
                input type="hidden" name="csrf" value=(token);
                label for="api_key" { "API key" }
                input #api_key type="password" name="api_key" required autocomplete="off" placeholder="lb_…";
                p.hint { "The key is checked once; the browser keeps a session cookie, never the key." }
                p.hint { "Seam's SDKs take the same key written " code { "seam_lb_…" } " with the endpoint " code { "/seam" } " of this service." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub(super) fn notices(list: &Value) -> Markup {
    html! {
        @for n in list.as_array().into_iter().flatten() {
            span.badge.warn title=(text(&n["message"])) { (text(&n["code"])) }
        }
    }
}

pub(super) fn lock_errors(lock: &Value) -> Markup {
    html! {
        @for n in lock["errors"].as_array().into_iter().flatten() {
            span.badge.bad title=(text(&n["message"])) { (text(&n["code"])) }
        }
        (notices(&lock["warnings"]))
    }
}

pub async fn overview(State(s): State<AppState>, session: Session, flash: Flash) -> Response {
    let conns = api(&s, &session, Method::GET, "/v1/connections?limit=200", None).await;
    let locks = api(&s, &session, Method::GET, "/v1/locks?limit=200", None).await;
    let locks = locks.list();
    let troubled: Vec<&Value> = locks
        .iter()
        .filter(|l| {
            l["errors"].as_array().is_some_and(|e| !e.is_empty())
                || l["warnings"].as_array().is_some_and(|w| !w.is_empty())
        })
        .collect();
    let online = locks.iter().filter(|l| l["online"] == true).count();
    let body = html! {
        section aria-labelledby="conns" {
            h2 #conns { "Connections" }
            @if !conns.ok() { p.flash.error { (conns.error()) } }
            @for c in conns.list() {
                @let id = text(&c["id"]);
                article.card {
                    h3 { (text(&c["name"])) " " span.muted { "(" (text(&c["provider"])) ")" } }
                    @if c["status"] == "needs_reauth" {
                        p.flash.error role="alert" { "Needs re-authentication: the stored credentials stopped working. Locks of this connection cannot be changed until they are updated." }
                    } @else {
                        p { "Status: " span.badge.ok { (text(&c["status"])) } }
                    }
                    @if session.admin() {
                        details open[c["status"] == "needs_reauth"] {
                            summary { "Re-authenticate" }
                            form method="post" action={ "/console/connections/" (id) "/credentials" } {
                                (csrf(&session))
                                @for (name, shown) in c["credentials"].as_object().into_iter().flatten() {
                                    label for={ (id) "-" (name) } { (name) " " span.muted { "(now " (text(shown)) ")" } }
                                    input id={ (id) "-" (name) } name={ "cred_" (name) } autocomplete="off";
                                }
                                p.hint { "Fields left empty keep their stored value; the new ones are checked with the vendor first." }
                                button type="submit" { "Update credentials" }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="counts" {
            h2 #counts { "Locks" }
            p { (locks.len()) " locks, " (online) " online. " a href="/console/locks" { "All locks" } }
            @if !troubled.is_empty() {
                h3 { "Needing attention" }
                ul {
                    @for l in troubled {
                        li { a href={ "/console/locks/" (text(&l["id"])) } { (text(&l["name"])) } " " (lock_errors(l)) }
                    }
                }
            }
        }
    };
    Html(layout("Overview", Some(&session), &flash.0, body).into_string()).into_response()
}

pub async fn reauthenticate(
    State(s): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    id: Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = session.refuse(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let creds: serde_json::Map<String, Value> = f
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("cred_")?.to_owned(), v.trim())))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, json!(v)))
        .collect();
    let id = id_of(id);
    let r = api(
        &s,
        &session,
        Method::PATCH,
        &format!("/v1/connections/{id}"),
        Some(json!({"credentials": creds})),
    )
    .await;
    back(
        &headers,
        "/console/overview",
        if r.ok() {
            Ok("Credentials updated and verified.".into())
        } else {
            Err(r.error())
        },
    )
}

pub async fn locks(
    State(s): State<AppState>,
    session: Session,
    flash: Flash,
    Query(q): Query<Fields>,
) -> Response {
    let path = filtered(
        "/v1/locks?limit=100",
        &q,
        &["provider", "online", "q", "cursor"],
    );
    let r = api(&s, &session, Method::GET, &path, None).await;
    let selected = |name: &str, v: &str| field(&q, name) == Some(v);
    let body = html! {
        form.filters method="get" action="/console/locks" role="search" {
            div { label for="q" { "Name" } input #q name="q" value=(field(&q, "q").unwrap_or("")); }
            div {
                label for="provider" { "Vendor" }
                select #provider name="provider" {
                    option value="" { "any" }
                    @for (p, _) in s.providers.iter() { option value=(p.as_str()) selected[selected("provider", p.as_str())] { (p.label()) } }
                }
            }
            div {
                label for="online" { "Online" }
                select #online name="online" {
                    option value="" { "any" }
                    option value="true" selected[selected("online", "true")] { "online" }
                    option value="false" selected[selected("online", "false")] { "offline" }
                }
            }
            div { button type="submit" { "Filter" } }
        }
        @if !r.ok() { p.flash.error { (r.error()) } }
        div.table {
            table {
                thead { tr { th { "Lock" } th { "Vendor" } th { "Online" } th { "Battery" } th { "Gateway" } th { "Health" } th { "Remote" } } }
                tbody {
                    @for l in r.list() {
                        @let id = text(&l["id"]);
                        tr {
                            td { a href={ "/console/locks/" (id) } { (text(&l["name"])) } }
                            td { (text(&l["provider"])) }
                            td { @if l["online"] == true { span.badge.ok { "online" } } @else { span.badge.bad { "offline" } } }
                            td { @if l["battery"].is_null() { "–" } @else { (text(&l["battery"])) " %" } }
                            td { @if l["gateway_id"].is_null() { "none" } @else { "yes" } }
                            td { (lock_errors(&l)) }
                            td {
                                @if l["capabilities"]["remote_unlock"] == true {
                                    form.inline method="post" action={ "/console/locks/" (id) "/operate" } {
                                        (csrf(&session))
                                        button name="action" value="unlock" aria-label={ "Unlock " (text(&l["name"])) } { "Unlock" }
                                        button name="action" value="lock" aria-label={ "Lock " (text(&l["name"])) } { "Lock" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (next_page("/console/locks", &q, &["provider", "online", "q"], &r))
    };
    Html(layout("Locks", Some(&session), &flash.0, body).into_string()).into_response()
}

pub async fn operate(
    State(s): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    id: Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = session.refuse(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let id = id_of(id);
    let action = if field(&f, "action") == Some("lock") {
        "lock"
    } else {
        "unlock"
    };
    let r = api(
        &s,
        &session,
        Method::POST,
        &format!("/v1/locks/{id}/{action}"),
        Some(json!({})),
    )
    .await;
    let outcome = if r.ok() {
        Ok(format!(
            "{}: {}",
            if action == "lock" {
                "Locked"
            } else {
                "Unlocked"
            },
            text(&r.body["state"])
        ))
    } else {
        Err(r.error())
    };
    back(&headers, "/console/locks", outcome)
}

pub async fn grants(
    State(s): State<AppState>,
    session: Session,
    flash: Flash,
    Query(q): Query<Fields>,
) -> Response {
    let r = api(
        &s,
        &session,
        Method::GET,
        &filtered("/v1/grants?limit=100", &q, &["cursor"]),
        None,
    )
    .await;
    let locks = lock_names(&s, &session).await;
    let now = s.now();
    let body = html! {
        div.table { table {
            thead { tr { th { "Name" } th { "Status" } th { "PIN" } th { "Locks" } th { "Until" } } }
            tbody {
                @for g in r.list() {
                    tr {
                        td { (text(&g["name"])) }
                        td { span class={ "badge status-" (text(&g["status"])) } { (text(&g["status"])) } }
                        td.pin { @if g["code"].is_null() { "one per lock" } @else { (text(&g["code"])) } }
                        td { @for l in g["lock_ids"].as_array().into_iter().flatten() { (lock_link(&locks, l)) " " } }
                        td { (when(&g["ends_at"], None, now)) }
                    }
                }
            }
        } }
        (next_page("/console/grants", &q, &[], &r))
    };
    Html(layout("Grants", Some(&session), &flash.0, body).into_string()).into_response()
}

pub async fn events(
    State(s): State<AppState>,
    session: Session,
    flash: Flash,
    Query(q): Query<Fields>,
) -> Response {
    let path = filtered("/v1/events?limit=100", &q, &["type", "lock_id", "cursor"]);
    let r = api(&s, &session, Method::GET, &path, None).await;
    let locks = lock_names(&s, &session).await;
    let now = s.now();
    // Newest first by when it happened (a vendor's log record is stored when it is read).
    let mut events = r.list();
    events.sort_by(|a, b| text(&b["occurred_at"]).cmp(&text(&a["occurred_at"])));
    let zone = |e: &Value| locks.get(&text(&e["lock_id"])).and_then(|(_, z)| z.clone());
    let body = html! {
        form.filters method="get" action="/console/events" role="search" {
            div { label for="type" { "Type" } input #type name="type" placeholder="access_code.* or lock.unlocked" value=(field(&q, "type").unwrap_or("")); }
            div { label for="lock_id" { "Lock id" } input #lock_id name="lock_id" value=(field(&q, "lock_id").unwrap_or("")); }
            div { button type="submit" { "Filter" } }
        }
        @if !r.ok() { p.flash.error { (r.error()) } }
        div.table { table {
            thead { tr { th { "When" } th { "Type" } th { "Lock" } th { "Code" } th { "By" } } }
            tbody {
                @if events.is_empty() { tr { td colspan="5" { "No events yet: they come as codes are set, locks report, and vendors' logs are read." } } }
                @for e in &events {
                    tr {
                        td { (when(&e["occurred_at"], zone(e).as_deref(), now)) }
                        td { (text(&e["type"])) }
                        td { @if e["lock_id"].is_string() { (lock_link(&locks, &e["lock_id"])) } }
                        td { @if e["access_code_id"].is_string() { a href={ "/console/locks/" (text(&e["lock_id"])) "#code-" (text(&e["access_code_id"])) } { "the code" } } }
                        td { (e["actor"]["name"].as_str().unwrap_or(&text(&e["actor"]["type"]).replace('_', " "))) }
                    }
                }
            }
        } }
        (next_page("/console/events", &q, &["type", "lock_id"], &r))
    };
    Html(layout("Events", Some(&session), &flash.0, body).into_string()).into_response()
}
