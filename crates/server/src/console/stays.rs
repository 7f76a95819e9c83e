//! Stays in the console: the properties with their calendar feeds (a feed added from here),
//! the arrivals of the next days with their readiness, and a stay's codes and fallbacks.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde_json::{Value, json};

use super::pages::{Fields, csrf, field, layout, lock_link, lock_names, text, when};
use super::{Flash, Session, api, back, id_of};
use crate::state::AppState;

/// How far ahead the arrivals page looks.
const ARRIVALS_DAYS: i64 = 7;

fn readiness(r: &Value) -> maud::Markup {
    let state = text(&r["readiness"]);
    let class = match state.as_str() {
        "ready" => "badge status-set",
        "at_risk" => "badge bad",
        _ => "badge warn",
    };
    html! {
        span class=(class) { (state.replace('_', " ")) }
        @for reason in r["reasons"].as_array().into_iter().flatten() {
            " " span.badge.bad title=(text(&reason["message"])) { (text(&reason["code"])) }
        }
    }
}

pub async fn properties(State(s): State<AppState>, session: Session, flash: Flash) -> Response {
    let list = api(&s, &session, Method::GET, "/v1/properties?limit=200", None).await;
    let mut feeds = Vec::new();
    for p in list.list() {
        let path = format!("/v1/properties/{}/calendars", text(&p["id"]));
        feeds.push(api(&s, &session, Method::GET, &path, None).await.list());
    }
    let body = html! {
        @if !list.ok() { p.flash.error { (list.error()) } }
        p { a href="/console/arrivals" { "Arrivals of the next " (ARRIVALS_DAYS) " days" } }
        @for (p, feeds) in list.list().iter().zip(&feeds) {
            section.card {
                h2 { (text(&p["name"])) }
                p.muted {
                    (text(&p["time_zone"])) " · check-in " (text(&p["check_in_time"])) " · check-out "
                    (text(&p["check_out_time"])) " · " (p["lock_ids"].as_array().map_or(0, Vec::len)) " locks · PIN: "
                    (text(&p["code_source"]).replace('_', " "))
                }
                @if feeds.is_empty() { p { "No calendar feed." } }
                @for f in feeds {
                    p {
                        (text(&f["name"])) " — last read " (when(&f["last_read_at"], Some(&text(&p["time_zone"])), s.now()))
                        @if !f["last_error"].is_null() { " " span.badge.bad title=(text(&f["last_error"])) { "failing" } }
                    }
                }
                form method="post" action={ "/console/properties/" (text(&p["id"])) "/calendars" } {
                    (csrf(&session))
                    label for={ "url-" (text(&p["id"])) } { "Calendar feed (iCalendar export URL)" }
                    input id={ "url-" (text(&p["id"])) } name="url" type="url" required placeholder="https://www.airbnb.com/calendar/ical/….ics";
                    label for={ "name-" (text(&p["id"])) } { "Name" }
                    input id={ "name-" (text(&p["id"])) } name="name" placeholder="Airbnb";
                    button type="submit" { "Add feed" }
                }
            }
        }
    };
    Html(layout("Properties", Some(&session), &flash.0, body).into_string()).into_response()
}

/// Each property's zone, by id.
async fn property_zones(
    s: &AppState,
    session: &Session,
) -> std::collections::HashMap<String, String> {
    api(s, session, Method::GET, "/v1/properties?limit=200", None)
        .await
        .list()
        .into_iter()
        .map(|p| (text(&p["id"]), text(&p["time_zone"])))
        .collect()
}

pub async fn add_calendar(
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
    let mut body = json!({"url": field(&f, "url").unwrap_or("")});
    if let Some(name) = field(&f, "name") {
        body["name"] = json!(name);
    }
    let r = api(
        &s,
        &session,
        Method::POST,
        &format!("/v1/properties/{id}/calendars"),
        Some(body),
    )
    .await;
    let outcome = if !r.ok() {
        Err(r.error())
    } else if let Some(e) = r.body["last_error"].as_str() {
        Err(format!("Feed added, but its first read failed: {e}"))
    } else {
        Ok("Feed added and read.".to_owned())
    };
    back(&headers, "/console/properties", outcome)
}

pub async fn arrivals(State(s): State<AppState>, session: Session, flash: Flash) -> Response {
    let now = s.now();
    let to = lockbridge_core::time::to_rfc3339(now + ARRIVALS_DAYS * 86_400_000);
    let from = lockbridge_core::time::to_rfc3339(now);
    let q = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let path = format!("/v1/reservations?limit=200&from={}&to={}", q(&from), q(&to));
    let r = api(&s, &session, Method::GET, &path, None).await;
    let zones = property_zones(&s, &session).await;
    let mut stays: Vec<Value> = r
        .list()
        .into_iter()
        .filter(|r| r["status"] != "cancelled")
        .collect();
    stays.sort_by_key(|r| text(&r["check_in_at"]));
    let body = html! {
        @if !r.ok() { p.flash.error { (r.error()) } }
        @if stays.is_empty() { p { "No arrivals in the next " (ARRIVALS_DAYS) " days. Stays come from a property's calendar feed (" a href="/console/properties" { "Properties" } ") or from an integration (PUT /v1/properties/{id}/reservations/{external_id})." } }
        div.table { table {
            thead { tr { th { "Check-in" } th { "Check-out" } th { "Guest" } th { "Status" } th { "Readiness" } th { "Fallbacks" } } }
            tbody {
                @for r in &stays {
                    tr {
                        @let zone = zones.get(&text(&r["property_id"])).map(String::as_str);
                        td { a href={ "/console/reservations/" (text(&r["id"])) } { (when(&r["check_in_at"], zone, now)) } }
                        td { (when(&r["check_out_at"], zone, now)) }
                        td { (r["guest_name"].as_str().unwrap_or(r["external_id"].as_str().unwrap_or_default())) }
                        td { (text(&r["status"])) }
                        td { (readiness(r)) }
                        td { (r["fallback_codes"].as_array().map_or(0, Vec::len)) }
                    }
                }
            }
        } }
    };
    Html(layout("Arrivals", Some(&session), &flash.0, body).into_string()).into_response()
}

pub async fn reservation(
    State(s): State<AppState>,
    session: Session,
    flash: Flash,
    id: Path<String>,
) -> Response {
    let id = id_of(id);
    let r = api(
        &s,
        &session,
        Method::GET,
        &format!("/v1/reservations/{id}"),
        None,
    )
    .await;
    let stay = &r.body;
    let locks = lock_names(&s, &session).await;
    let zones = property_zones(&s, &session).await;
    let zone = zones.get(&text(&stay["property_id"])).map(String::as_str);
    let now = s.now();
    let title = format!(
        "Stay {}",
        stay["guest_name"]
            .as_str()
            .unwrap_or(stay["external_id"].as_str().unwrap_or_default())
    );
    let body = html! {
        @if !r.ok() { p.flash.error { (r.error()) } }
        @else {
            p { (when(&stay["check_in_at"], zone, now)) " → " (when(&stay["check_out_at"], zone, now)) " · " (text(&stay["status"])) " · " (readiness(stay)) }
            @for w in stay["warnings"].as_array().into_iter().flatten() {
                p.flash.error { (text(&w["message"])) }
            }
            h2 { "Codes" }
            div.table { table {
                thead { tr { th { "Lock" } th { "PIN" } th { "Status" } th { "From" } th { "Until" } } }
                tbody {
                    @for c in stay["access_codes"].as_array().into_iter().flatten() {
                        tr {
                            td { (lock_link(&locks, &c["lock_id"])) }
                            td.pin { (text(&c["code"])) }
                            td { span class={ "badge status-" (text(&c["status"])) } { (text(&c["status"])) } }
                            td { (when(&c["starts_at"], zone, now)) }
                            td { (when(&c["ends_at"], zone, now)) }
                        }
                    }
                }
            } }
            h2 { "Fallback codes" }
            @if stay["fallback_codes"].as_array().is_none_or(Vec::is_empty) { p { "None: every lock was reachable." } }
            @else {
                div.table { table {
                    thead { tr { th { "Lock" } th { "Offline PIN" } th { "From" } th { "Until" } } }
                    tbody {
                        @for f in stay["fallback_codes"].as_array().into_iter().flatten() {
                            tr {
                                td { (lock_link(&locks, &f["lock_id"])) }
                                td.pin { (text(&f["code"])) }
                                td { (when(&f["starts_at"], zone, now)) }
                                td { (when(&f["ends_at"], zone, now)) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Html(layout(&title, Some(&session), &flash.0, body).into_string()).into_response()
}
