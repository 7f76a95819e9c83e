//! A lock's codes in the console: the table (read again by the page's script while a code
//! moves), the new-code form with the lock's PIN rules, and each code's actions.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::pages::{Fields, csrf, field, layout, lock_errors, notices, text};
use super::{Answer, Flash, Session, api, back, id_of};
use crate::state::AppState;

/// The input rules of a lock's codes, for the browser to check before sending.
fn pin_rules(lock: &Value) -> (String, String) {
    let r = &lock["code_rules"];
    let (min, max) = (
        r["min_length"].as_u64().unwrap_or(4),
        r["max_length"].as_u64().unwrap_or(12),
    );
    (
        format!("[0-9]{{{min},{max}}}"),
        format!("{min} to {max} digits"),
    )
}

fn codes_rows(codes: &[Value], session: &Session, lock: &Value, now: i64) -> Markup {
    let freeze = lock["capabilities"]["freeze"] == true;
    let zone = lock["time_zone"].as_str();
    html! {
        @for c in codes {
            @let id = text(&c["id"]);
            @let status = text(&c["status"]);
            tr id={ "code-" (id) } data-status=(status) {
                td { (text(&c["name"])) }
                td.pin { (text(&c["code"])) }
                td { span class={ "badge status-" (status) } { (status) } @if c["frozen"] == true { " " span.badge.warn { "frozen" } } (notices(&c["errors"])) }
                td {
                    @if c["schedule"].is_object() {
                        (c["schedule"]["weekdays"].as_array().map(|d| d.iter().map(text).collect::<Vec<_>>().join(" ")).unwrap_or_default())
                        " " (text(&c["schedule"]["start_time"])) "–" (text(&c["schedule"]["end_time"])) " " (text(&c["schedule"]["time_zone"]))
                    } @else if c["ends_at"].is_string() {
                        (super::pages::when(&c["starts_at"], zone, now)) " → " (super::pages::when(&c["ends_at"], zone, now))
                    } @else { "permanent" }
                }
                td {
                    @if c["managed"] == true && !matches!(status.as_str(), "removed" | "removing") {
                        form.inline method="post" action={ "/console/codes/" (id) "/change" } {
                            (csrf(session))
                            button name="action" value="delete" aria-label={ "Delete code " (text(&c["name"])) } { "Delete" }
                            @if freeze && status == "set" {
                                @if c["frozen"] == true { button name="action" value="unfreeze" { "Unfreeze" } }
                                @else { button name="action" value="freeze" { "Freeze" } }
                            }
                        }
                        @if c["schedule"].is_object() {
                            details {
                                summary { "Edit window" }
                                form method="post" action={ "/console/codes/" (id) "/change" } {
                                    (csrf(session))
                                    input type="hidden" name="action" value="window";
                                    (window_fields(&id, &c["schedule"]))
                                    button type="submit" { "Save window" }
                                }
                            }
                        }
                    } @else if c["managed"] == false && status == "set" {
                        form.inline method="post" action={ "/console/codes/" (id) "/change" } {
                            (csrf(session))
                            button name="action" value="manage" aria-label={ "Manage code " (text(&c["name"])) } title="Found on the lock: kept as it is from now on" { "Manage" }
                        }
                    }
                }
            }
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn window_fields(prefix: &str, current: &Value) -> Markup {
    let on = |d: &str| {
        current["weekdays"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == d))
    };
    html! {
        fieldset {
            legend { "Weekly window" }
            @for d in DAYS {
                label.day { input type="checkbox" name={ "wd_" (d) } checked[on(d)]; (d) }
            }
            label for={ (prefix) "-start" } { "From" }
            input id={ (prefix) "-start" } type="time" name="start_time" value=(text(&current["start_time"]));
            label for={ (prefix) "-end" } { "To (earlier than From: the next day)" }
            input id={ (prefix) "-end" } type="time" name="end_time" value=(text(&current["end_time"]));
            label for={ (prefix) "-tz" } { "Time zone" }
            input id={ (prefix) "-tz" } name="time_zone" value=(current["time_zone"].as_str().unwrap_or("UTC"));
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

async fn lock_and_codes(s: &AppState, session: &Session, id: &str) -> (Answer, Vec<Value>) {
    let lock = api(s, session, Method::GET, &format!("/v1/locks/{id}"), None).await;
    let codes = api(
        s,
        session,
        Method::GET,
        &format!("/v1/locks/{id}/access-codes?limit=200"),
        None,
    )
    .await;
    (lock, codes.list())
}

pub async fn lock(
    State(s): State<AppState>,
    session: Session,
    id: Path<String>,
    flash: Flash,
) -> Response {
    let id = id_of(id);
    let (lock, codes) = lock_and_codes(&s, &session, &id).await;
    if !lock.ok() {
        return Html(
            layout(
                "Lock",
                Some(&session),
                &flash.0,
                html! { p.flash.error { (lock.error()) } },
            )
            .into_string(),
        )
        .into_response();
    }
    let l = &lock.body;
    let (pattern, rule) = pin_rules(l);
    let body = html! {
        p { (text(&l["provider"])) " · " @if l["online"] == true { "online" } @else { "offline" } " · battery " (text(&l["battery"])) " % " (lock_errors(l)) }
        h2 { "Codes" }
        div.table {
            table #codes data-refresh={ "/console/locks/" (id) "/codes-table" } {
                thead { tr { th { "Name" } th { "PIN" } th { "Status" } th { "When" } th { "" } } }
                tbody { (codes_rows(&codes, &session, l, s.now())) }
            }
        }
        @if l["capabilities"]["access_codes"] == true {
            h2 { "New code" }
            form.card method="post" action={ "/console/locks/" (id) "/codes" } {
                (csrf(&session))
                label for="name" { "Name" }
                input #name name="name" maxlength="200" required;
                label for="code" { "PIN " span.muted { "(" (rule) "; empty to generate one)" } }
                input #code name="code" inputmode="numeric" pattern=(pattern) title=(rule) autocomplete="off";
                @let zone = l["time_zone"].as_str().unwrap_or("UTC");
                input type="hidden" name="input_zone" value=(zone);
                label for="starts_at" { "Starts (" (zone) " time, optional)" }
                input #starts_at type="datetime-local" name="starts_at";
                label for="ends_at" { "Ends (" (zone) " time, with a start)" }
                input #ends_at type="datetime-local" name="ends_at";
                details {
                    summary { "Weekly window" }
                    (window_fields("new", &json!({"time_zone": l["time_zone"].as_str().unwrap_or("UTC")})))
                }
                button type="submit" { "Create code" }
            }
        }
    };
    let title = text(&l["name"]);
    Html(layout(&title, Some(&session), &flash.0, body).into_string()).into_response()
}

pub async fn codes_table(
    State(s): State<AppState>,
    session: Session,
    id: Path<String>,
) -> Response {
    let id = id_of(id);
    let (lock, codes) = lock_and_codes(&s, &session, &id).await;
    Html(codes_rows(&codes, &session, &lock.body, s.now()).into_string()).into_response()
}

/// A `datetime-local` value (`2027-05-01T15:00`) read in `zone` (the lock's, which the form
/// names), as the instant the API takes; a value that is not one is passed on for the API to
/// refuse, naming the field.
fn instant(local: &str, zone: &str) -> String {
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
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
    let r = api(
        &s,
        &session,
        Method::POST,
        &format!("/v1/locks/{id}/access-codes"),
        Some(body),
    )
    .await;
    let page = format!("/console/locks/{id}");
    back(
        &headers,
        &page,
        if r.ok() {
            Ok(format!("Code created: {}", text(&r.body["status"])))
        } else {
            Err(r.error())
        },
    )
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
    let code = api(
        &s,
        &session,
        Method::GET,
        &format!("/v1/access-codes/{id}"),
        None,
    )
    .await;
    let page = format!("/console/locks/{}", text(&code.body["lock_id"]));
    let r = match field(&f, "action") {
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
    back(
        &headers,
        &page,
        if r.ok() {
            Ok(format!("Done: {}", text(&r.body["status"])))
        } else {
            Err(r.error())
        },
    )
}
