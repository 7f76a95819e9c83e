//! The console's pages and forms. Each reads and writes through the API ([`super::api`]) as
//! the signed-in key; forms answer with a redirect back to their page and a message.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use lockbridge_api::{Connection, Event, Grant, Lock, OperationResult, Page};
use lockbridge_core::ids::LockId;
use lockbridge_core::model::{ConnectionStatus, Notice};
use lockbridge_core::time::Millis;
use lockbridge_core::windows;
use maud::{DOCTYPE, Markup, html};
use serde_json::{Value, json};

use super::{Answer, Flash, Session, act, api, back, id_of};
use crate::state::AppState;

pub(super) type Fields = HashMap<String, String>;

/// An instant as people read it: the wall clock in `zone` (UTC when none), the zone named, and
/// how far from `now` it is; the exact instant in the tooltip.
pub(super) fn when(at: Option<Millis>, zone: Option<&str>, now: i64) -> Markup {
    let Some(at) = at.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()) else {
        return html! {};
    };
    // A zone by name, or the fixed offset some locks report (`+01:00`, named `UTC+01:00`).
    let (tz, name) = match zone.and_then(|z| windows::zone(z).map(|tz| (tz, z))) {
        Some((tz, z)) if windows::is_iana(z) => (tz, z.to_owned()),
        Some((tz, z)) => (tz, format!("UTC{z}")),
        None => (jiff::tz::TimeZone::UTC, "UTC".to_owned()),
    };
    let local = at.to_zoned(tz);
    let secs = (at.as_millisecond() - now) / 1000;
    // Rounded to the nearest unit: two days less a second reads "2 d".
    let span = |s: i64| match s {
        s if s < 90 * 60 => format!("{} min", (s + 30) / 60),
        s if s < 36 * 3600 => format!("{} h", (s + 1800) / 3600),
        s => format!("{} d", (s + 43_200) / 86_400),
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

/// The organisation's locks by id: name and zone.
pub(super) type LockNames = HashMap<LockId, (String, Option<String>)>;

/// The organisation's locks by id (one page of up to 200).
pub(super) async fn lock_names(s: &AppState, session: &Session) -> LockNames {
    api::<Page<Lock>>(s, session, Method::GET, "/v1/locks?limit=200", None)
        .await
        .map(|p| p.data)
        .unwrap_or_default()
        .into_iter()
        .map(|l| (l.id, (l.name, l.time_zone)))
        .collect()
}

/// A link to a lock, named.
pub(super) fn lock_link(locks: &LockNames, id: LockId) -> Markup {
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
pub(super) fn filtered(path: &str, q: &Fields, names: &[&str]) -> String {
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
pub(super) fn next_page<T>(
    page: &str,
    q: &Fields,
    names: &[&str],
    list: &Answer<Page<T>>,
) -> Markup {
    let Some(next) = list.as_ref().ok().and_then(|p| p.next_cursor.as_deref()) else {
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

pub(super) fn notices(list: &[Notice]) -> Markup {
    html! {
        @for n in list {
            span.badge.warn title=(n.message) { (n.code) }
        }
    }
}

pub(super) fn lock_errors(lock: &Lock) -> Markup {
    html! {
        @for n in &lock.errors {
            span.badge.bad title=(n.message) { (n.code) }
        }
        (notices(&lock.warnings))
    }
}

/// A list's rows, or none when the call was refused (the page shows why with [`refusal`]).
pub(super) fn rows<T>(list: &Answer<Page<T>>) -> &[T] {
    list.as_ref().map_or(&[], |p| p.data.as_slice())
}

/// Why a call was refused, for the page; nothing when it succeeded.
pub(super) fn refusal<T>(answer: &Answer<T>) -> Markup {
    html! { @if let Err(e) = answer { p.flash.error role="alert" { (e) } } }
}

pub async fn overview(State(s): State<AppState>, session: Session, flash: Flash) -> Response {
    let conns: Answer<Page<Connection>> =
        api(&s, &session, Method::GET, "/v1/connections?limit=200", None).await;
    let locks: Answer<Page<Lock>> =
        api(&s, &session, Method::GET, "/v1/locks?limit=200", None).await;
    let locks = rows(&locks);
    let troubled: Vec<&Lock> = locks
        .iter()
        .filter(|l| !l.errors.is_empty() || !l.warnings.is_empty())
        .collect();
    let online = locks.iter().filter(|l| l.online).count();
    let body = html! {
        section aria-labelledby="conns" {
            h2 #conns { "Connections" }
            (refusal(&conns))
            @for c in rows(&conns) {
                @let reauth = c.status == ConnectionStatus::NeedsReauth;
                article.card {
                    h3 { (c.name) " " span.muted { "(" (c.provider.label()) ")" } }
                    @if reauth {
                        p.flash.error role="alert" { "Needs re-authentication: the stored credentials stopped working. Locks of this connection cannot be changed until they are updated." }
                    } @else {
                        p { "Status: " span.badge.ok { (c.status.as_str()) } }
                    }
                    @if session.admin() {
                        details open[reauth] {
                            summary { "Re-authenticate" }
                            form method="post" action={ "/console/connections/" (c.id) "/credentials" } {
                                (csrf(&session))
                                @for (name, shown) in &c.credentials {
                                    label for={ (c.id) "-" (name) } { (name) " " span.muted { "(now " (shown) ")" } }
                                    input id={ (c.id) "-" (name) } name={ "cred_" (name) } autocomplete="off";
                                }
                                p.hint { "Fields left empty keep their stored value; the new ones are checked with the vendor first." }
                                button type="submit" { "Update credentials" }
                            }
                        }
                    }
                }
            }
            @if rows(&conns).is_empty() && conns.is_ok() {
                p.empty { "No connections yet: add one with " code { "POST /v1/connections" } " (a vendor account's credentials); its locks then appear here." }
            }
        }
        section aria-labelledby="counts" {
            h2 #counts { "Locks" }
            p { (locks.len()) " locks, " (online) " online. " a href="/console/locks" { "All locks" } }
            @if !troubled.is_empty() {
                h3 { "Needing attention" }
                ul {
                    @for l in troubled {
                        li { a href={ "/console/locks/" (l.id) } { (l.name) } " " (lock_errors(l)) }
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
    let outcome = act(
        &s,
        &session,
        Method::PATCH,
        &format!("/v1/connections/{id}"),
        Some(json!({"credentials": creds})),
        "Credentials updated and verified.",
    )
    .await;
    back(&headers, "/console/overview", outcome)
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
    let r: Answer<Page<Lock>> = api(&s, &session, Method::GET, &path, None).await;
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
        (refusal(&r))
        div.table {
            table {
                thead { tr { th { "Lock" } th { "Vendor" } th { "Online" } th { "Battery" } th { "Gateway" } th { "Zone" } th { "Health" } th { "Remote" } } }
                tbody {
                    @if rows(&r).is_empty() && r.is_ok() {
                        tr { td colspan="8" { "No locks here: connect a vendor account (" code { "POST /v1/connections" } ") and its locks are listed after its first sync; or loosen the filters." } }
                    }
                    @for l in rows(&r) {
                        tr {
                            td { a href={ "/console/locks/" (l.id) } { (l.name) } }
                            td { (l.provider.label()) }
                            td { @if l.online { span.badge.ok { "online" } } @else { span.badge.bad { "offline" } } }
                            td { @match l.battery { Some(b) => { (b) " %" }, None => { "–" } } }
                            td { @if l.gateway_id.is_some() { "yes" } @else { "none" } }
                            td { (l.time_zone.as_deref().unwrap_or("unknown")) }
                            td { (lock_errors(l)) }
                            td {
                                @if l.capabilities.remote_unlock {
                                    form.inline method="post" action={ "/console/locks/" (l.id) "/operate" } {
                                        (csrf(&session))
                                        button name="action" value="unlock" aria-label={ "Unlock " (l.name) } { "Unlock" }
                                        button name="action" value="lock" aria-label={ "Lock " (l.name) } { "Lock" }
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
    let r: Answer<OperationResult> = api(
        &s,
        &session,
        Method::POST,
        &format!("/v1/locks/{id}/{action}"),
        Some(json!({})),
    )
    .await;
    let outcome = match r {
        Ok(done) => Ok(format!(
            "{}: {}",
            if action == "lock" {
                "Locked"
            } else {
                "Unlocked"
            },
            done.state.as_str()
        )),
        Err(e) => Err(e.0),
    };
    back(&headers, "/console/locks", outcome)
}

pub async fn grants(
    State(s): State<AppState>,
    session: Session,
    flash: Flash,
    Query(q): Query<Fields>,
) -> Response {
    let r: Answer<Page<Grant>> = api(
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
        (refusal(&r))
        div.table { table {
            thead { tr { th { "Name" } th { "Status" } th { "PIN" } th { "Locks" } th { "Until" } } }
            tbody {
                @if rows(&r).is_empty() && r.is_ok() {
                    tr { td colspan="5" { "No grants yet: a grant gives one PIN on several locks (" code { "POST /v1/grants" } "); a stay's booking makes one for its property." } }
                }
                @for g in rows(&r) {
                    @let zone = g.lock_ids.first().and_then(|l| locks.get(l)).and_then(|(_, z)| z.as_deref());
                    tr {
                        td { (g.name) }
                        td { span class={ "badge status-" (g.status.as_str()) } { (g.status.as_str()) } }
                        td.pin { @match &g.code { Some(c) => { (c) }, None => { "one per lock" } } }
                        td { @for l in &g.lock_ids { (lock_link(&locks, *l)) " " } }
                        td { @if g.ends_at.is_some() { (when(g.ends_at, zone, now)) } @else { "no end" } }
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
    let r: Answer<Page<Event>> = api(&s, &session, Method::GET, &path, None).await;
    let locks = lock_names(&s, &session).await;
    let now = s.now();
    // Newest first by when it happened (a vendor's log record is stored when it is read).
    let mut events: Vec<&Event> = rows(&r).iter().collect();
    events.sort_by_key(|e| std::cmp::Reverse(e.occurred_at));
    let zone = |e: &Event| {
        e.lock_id
            .and_then(|l| locks.get(&l))
            .and_then(|(_, z)| z.clone())
    };
    let body = html! {
        form.filters method="get" action="/console/events" role="search" {
            div { label for="type" { "Type" } input #type name="type" placeholder="access_code.* or lock.unlocked" value=(field(&q, "type").unwrap_or("")); }
            div {
                label for="lock_id" { "Lock" }
                select #lock_id name="lock_id" {
                    option value="" { "any" }
                    @for (id, (name, _)) in &locks {
                        option value=(id) selected[field(&q, "lock_id") == Some(id.to_string().as_str())] { (name) }
                    }
                }
            }
            div { button type="submit" { "Filter" } }
        }
        (refusal(&r))
        div.table { table {
            thead { tr { th { "When" } th { "Type" } th { "Lock" } th { "Code" } th { "By" } } }
            tbody {
                @if events.is_empty() { tr { td colspan="5" { "No events yet: they come as codes are set, locks report, and vendors' logs are read." } } }
                @for e in &events {
                    tr {
                        td { (when(Some(e.occurred_at), zone(e).as_deref(), now)) }
                        td { (e.kind.as_str()) }
                        td { @if let Some(l) = e.lock_id { (lock_link(&locks, l)) } }
                        td { @if let (Some(l), Some(c)) = (e.lock_id, e.access_code_id) { a href={ "/console/locks/" (l) "#code-" (c) } { "the code" } } }
                        td { (e.actor.name.clone().unwrap_or_else(|| e.actor.kind.as_str().replace('_', " "))) }
                    }
                }
            }
        } }
        (next_page("/console/events", &q, &["type", "lock_id"], &r))
    };
    Html(layout("Events", Some(&session), &flash.0, body).into_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_names_its_zone_and_how_far_it_is() {
        let now = 1_796_000_000_000; // 2026-11-30T00:53:20Z
        let two_days_less_a_second = now + 2 * 86_400_000 - 1_000;
        let html = when(Some(two_days_less_a_second), Some("Europe/Lisbon"), now).into_string();
        assert!(html.contains("Europe/Lisbon · in 2 d"), "{html}");
        let html = when(Some(now - 90 * 60_000), None, now).into_string();
        assert!(html.contains("UTC · 2 h ago"), "{html}");
        let html = when(Some(now + 20_000), Some("Not/AZone"), now).into_string();
        assert!(html.contains("UTC · now"), "{html}");
        // 2026-11-30T00:53:20Z is 01:53 an hour east.
        let html = when(Some(now), Some("+01:00"), now).into_string();
        assert!(
            html.contains("01:53 <span class=\"muted\">UTC+01:00 · now"),
            "{html}"
        );
        assert_eq!(when(None, None, now).into_string(), "");
    }
}
