//! A lock's codes in the console: the table (read again by the page's script while a code
//! moves), the new-code form with the lock's PIN rules, and each code's actions.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use lockbridge_api::{AccessCode, Lock, Page};
use lockbridge_core::model::{CodeStatus, Schedule};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::pages::{
    Fields, csrf, field, filtered, layout, lock_errors, next_page, notices, refusal, rows, when,
};
use super::{Answer, Flash, Session, api, back, id_of};
use crate::state::AppState;

/// The input rules of a lock's codes, for the browser to check before sending.
fn pin_rules(lock: &Lock) -> (String, String) {
    let (min, max) = (lock.code_rules.min_length, lock.code_rules.max_length);
    (
        format!("[0-9]{{{min},{max}}}"),
        format!("{min} to {max} digits"),
    )
}

/// A weekly window as people read it.
fn window_text(w: &Schedule) -> String {
    let days: Vec<&str> = w.weekdays.iter().map(|d| d.as_str()).collect();
    format!(
        "{} {}–{} {}",
        days.join(" "),
        w.start_time,
        w.end_time,
        w.time_zone
    )
}

fn codes_rows(codes: &[AccessCode], session: &Session, lock: Option<&Lock>, now: i64) -> Markup {
    let freeze = lock.is_some_and(|l| l.capabilities.freeze);
    let zone = lock.and_then(|l| l.time_zone.as_deref());
    html! {
        @if codes.is_empty() {
            tr { td colspan="5" { "No codes on this lock yet: create one below, or let a grant or a stay add its own." } }
        }
        @for c in codes {
            @let status = c.status.as_str();
            @let name = c.name.as_deref().unwrap_or("");
            tr id={ "code-" (c.id) } data-status=(status) {
                td { (name) }
                td.pin { (c.code) }
                td { span class={ "badge status-" (status) } { (status) } @if c.frozen { " " span.badge.warn { "frozen" } } (notices(&c.errors)) }
                td {
                    @if let Some(w) = &c.schedule {
                        (window_text(w))
                    } @else if c.ends_at.is_some() {
                        (when(c.starts_at, zone, now)) " → " (when(c.ends_at, zone, now))
                    } @else { "permanent" }
                }
                td {
                    @if c.managed && !matches!(c.status, CodeStatus::Removed | CodeStatus::Removing) {
                        form.inline method="post" action={ "/console/codes/" (c.id) "/change" } {
                            (csrf(session))
                            button name="action" value="delete" aria-label={ "Delete code " (name) } { "Delete" }
                            @if freeze && c.status == CodeStatus::Set {
                                @if c.frozen { button name="action" value="unfreeze" { "Unfreeze" } }
                                @else { button name="action" value="freeze" { "Freeze" } }
                            }
                        }
                        @if let Some(w) = &c.schedule {
                            details {
                                summary { "Edit window" }
                                form method="post" action={ "/console/codes/" (c.id) "/change" } {
                                    (csrf(session))
                                    input type="hidden" name="action" value="window";
                                    (window_fields(&c.id.to_string(), Some(w), &w.time_zone))
                                    button type="submit" { "Save window" }
                                }
                            }
                        }
                    } @else if !c.managed && c.status == CodeStatus::Set {
                        form.inline method="post" action={ "/console/codes/" (c.id) "/change" } {
                            (csrf(session))
                            button name="action" value="manage" aria-label={ "Manage code " (name) } title="Found on the lock: kept as it is from now on" { "Manage" }
                        }
                    }
                }
            }
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn window_fields(prefix: &str, current: Option<&Schedule>, zone: &str) -> Markup {
    let on = |d: &str| current.is_some_and(|w| w.weekdays.iter().any(|x| x.as_str() == d));
    let time = |t: fn(&Schedule) -> String| current.map(t).unwrap_or_default();
    html! {
        fieldset {
            legend { "Weekly window" }
            @for d in DAYS {
                label.day { input type="checkbox" name={ "wd_" (d) } checked[on(d)]; (d) }
            }
            label for={ (prefix) "-start" } { "From" }
            input id={ (prefix) "-start" } type="time" name="start_time" value=(time(|w| w.start_time.to_string()));
            label for={ (prefix) "-end" } { "To (earlier than From: the next day)" }
            input id={ (prefix) "-end" } type="time" name="end_time" value=(time(|w| w.end_time.to_string()));
            label for={ (prefix) "-tz" } { "Time zone" }
            input id={ (prefix) "-tz" } name="time_zone" value=(zone);
        }
    }
}

fn window_of(f: &Fields) -> Option<Value> {
    let days: Vec<&str> = DAYS
        .iter()
        .copied()
        .filter(|d| f.contains_key(&format!("wd_{d}")))
        .collect();
    if days.is_empty() {
        return None;
    }
    Some(
        json!({"weekdays": days, "start_time": field(f, "start_time").unwrap_or(""),
                "end_time": field(f, "end_time").unwrap_or(""), "time_zone": field(f, "time_zone").unwrap_or("UTC")}),
    )
}

/// The lock and one page of its codes (from `cursor`, the page's own query).
async fn lock_and_codes(
    s: &AppState,
    session: &Session,
    id: &str,
    q: &Fields,
) -> (Answer<Lock>, Answer<Page<AccessCode>>) {
    let lock = api(s, session, Method::GET, &format!("/v1/locks/{id}"), None).await;
    let path = filtered(
        &format!("/v1/locks/{id}/access-codes?limit=100"),
        q,
        &["cursor"],
    );
    let codes = api(s, session, Method::GET, &path, None).await;
    (lock, codes)
}

pub async fn lock(
    State(s): State<AppState>,
    session: Session,
    id: Path<String>,
    flash: Flash,
    Query(q): Query<Fields>,
) -> Response {
    let id = id_of(id);
    let (lock, page) = lock_and_codes(&s, &session, &id, &q).await;
    let codes = rows(&page);
    let l = match lock {
        Ok(l) => l,
        Err(e) => {
            return Html(
                layout(
                    "Lock",
                    Some(&session),
                    &flash.0,
                    html! { p.flash.error { (e) } },
                )
                .into_string(),
            )
            .into_response();
        }
    };
    let (pattern, rule) = pin_rules(&l);
    let zone = l.time_zone.as_deref().unwrap_or("UTC");
    let body = html! {
        p {
            (l.provider.label()) " · " @if l.online { "online" } @else { "offline" }
            @if let Some(b) = l.battery { " · battery " (b) " %" }
            " · time zone " (l.time_zone.as_deref().unwrap_or("unknown (times in UTC)")) " "
            (lock_errors(&l))
        }
        h2 { "Codes" }
        div.table {
            table #codes data-refresh=(filtered(&format!("/console/locks/{id}/codes-table?"), &q, &["cursor"])) {
                thead { tr { th { "Name" } th { "PIN" } th { "Status" } th { "When" } th { "" } } }
                tbody { (codes_rows(codes, &session, Some(&l), s.now())) }
            }
        }
        (refusal(&page))
        (next_page(&format!("/console/locks/{id}"), &q, &[], &page))
        @if l.capabilities.access_codes {
            h2 { "New code" }
            form.card method="post" action={ "/console/locks/" (id) "/codes" } {
                (csrf(&session))
                label for="name" { "Name" }
                input #name name="name" maxlength="200" required;
                label for="code" { "PIN " span.muted { "(" (rule) "; empty to generate one)" } }
                input #code name="code" inputmode="numeric" pattern=(pattern) title=(rule) autocomplete="off";
                input type="hidden" name="input_zone" value=(zone);
                label for="starts_at" { "Starts (" (zone) " time, optional)" }
                input #starts_at type="datetime-local" name="starts_at";
                label for="ends_at" { "Ends (" (zone) " time, with a start)" }
                input #ends_at type="datetime-local" name="ends_at";
                details {
                    summary { "Weekly window" }
                    (window_fields("new", None, zone))
                }
                button type="submit" { "Create code" }
            }
        }
    };
    Html(layout(&l.name, Some(&session), &flash.0, body).into_string()).into_response()
}

pub async fn codes_table(
    State(s): State<AppState>,
    session: Session,
    id: Path<String>,
    Query(q): Query<Fields>,
) -> Response {
    let id = id_of(id);
    let (lock, page) = lock_and_codes(&s, &session, &id, &q).await;
    let table = codes_rows(rows(&page), &session, lock.as_ref().ok(), s.now());
    Html(table.into_string()).into_response()
}

/// A `datetime-local` value (`2027-05-01T15:00`) read in `zone` (the lock's, which the form
/// names), as the instant the API takes; a value that is not one is passed on for the API to
/// refuse, naming the field.
fn instant(local: &str, zone: &str) -> String {
    let tz = lockbridge_core::windows::zone(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    local
        .parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(tz).ok())
        .map_or_else(|| local.to_owned(), |z| z.timestamp().to_string())
}

pub async fn create_code(
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
    let mut body = json!({"name": field(&f, "name").unwrap_or("")});
    if let Some(code) = field(&f, "code") {
        body["code"] = json!(code);
    }
    let zone = field(&f, "input_zone").unwrap_or("UTC");
    if let Some(start) = field(&f, "starts_at") {
        body["starts_at"] = json!(instant(start, zone));
    }
    if let Some(end) = field(&f, "ends_at") {
        body["ends_at"] = json!(instant(end, zone));
    }
    if let Some(w) = window_of(&f) {
        body["schedule"] = w;
    }
    let r: Answer<AccessCode> = api(
        &s,
        &session,
        Method::POST,
        &format!("/v1/locks/{id}/access-codes"),
        Some(body),
    )
    .await;
    let page = format!("/console/locks/{id}");
    let outcome = r
        .map(|c| format!("Code created: {}", c.status.as_str()))
        .map_err(|e| e.0);
    back(&headers, &page, outcome)
}

pub async fn change_code(
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
    let code: Answer<AccessCode> = api(
        &s,
        &session,
        Method::GET,
        &format!("/v1/access-codes/{id}"),
        None,
    )
    .await;
    let page = match &code {
        Ok(c) => format!("/console/locks/{}", c.lock_id),
        Err(_) => "/console/locks".to_owned(),
    };
    let r: Answer<AccessCode> = match field(&f, "action") {
        Some("delete") => {
            api(
                &s,
                &session,
                Method::DELETE,
                &format!("/v1/access-codes/{id}"),
                None,
            )
            .await
        }
        Some(a @ ("freeze" | "unfreeze" | "manage")) => {
            api(
                &s,
                &session,
                Method::POST,
                &format!("/v1/access-codes/{id}/{a}"),
                Some(json!({})),
            )
            .await
        }
        Some("window") => {
            let schedule = window_of(&f).unwrap_or(Value::Null);
            api(
                &s,
                &session,
                Method::PATCH,
                &format!("/v1/access-codes/{id}"),
                Some(json!({"schedule": schedule})),
            )
            .await
        }
        _ => return back(&headers, &page, Err("unknown action".into())),
    };
    let outcome = r
        .map(|c| format!("Done: {}", c.status.as_str()))
        .map_err(|e| e.0);
    back(&headers, &page, outcome)
}

#[cfg(test)]
mod tests {
    use super::instant;

    #[test]
    fn a_form_time_is_read_in_the_locks_zone() {
        assert_eq!(
            instant("2027-05-01T15:00", "Europe/Lisbon"),
            "2027-05-01T14:00:00Z"
        );
        assert_eq!(
            instant("2027-05-01T15:00", "+02:00"),
            "2027-05-01T13:00:00Z"
        );
        assert_eq!(instant("2027-05-01T15:00", "UTC"), "2027-05-01T15:00:00Z");
        assert_eq!(instant("tomorrow", "UTC"), "tomorrow");
    }
}
