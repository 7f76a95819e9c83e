//! Stays in the console: the properties with their calendar feeds (a feed added from here),
//! the arrivals of the next days with their readiness, and a stay's codes and fallbacks.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use lockbridge_api::{Calendar, Page, Property, Reservation};
use lockbridge_core::ids::PropertyId;
use lockbridge_core::stays::{CodeSource, Readiness, ReservationStatus};
use maud::html;
use serde_json::json;

use super::pages::{
    Fields, csrf, field, filtered, layout, lock_link, lock_names, next_page, refusal, rows, when,
};
use super::{Answer, Flash, Session, api, back, id_of};
use crate::state::AppState;

/// How far ahead the arrivals page looks.
const ARRIVALS_DAYS: i64 = 7;

fn readiness(r: &Reservation) -> maud::Markup {
    let (class, state) = match r.readiness {
        Readiness::Ready => ("badge status-set", "ready"),
        Readiness::AtRisk => ("badge bad", "at risk"),
        Readiness::Pending => ("badge warn", "pending"),
    };
    html! {
        span class=(class) { (state) }
        @for reason in &r.reasons {
            " " span.badge.bad title=(reason.message) { (reason.code) }
        }
    }
}

/// The guest's name, else the booking's id.
fn guest(r: &Reservation) -> &str {
    r.guest_name.as_deref().unwrap_or(&r.external_id)
}

fn status(r: &Reservation) -> &'static str {
    match r.status {
        ReservationStatus::Upcoming => "upcoming",
        ReservationStatus::Active => "active",
        ReservationStatus::Ended => "ended",
        ReservationStatus::Cancelled => "cancelled",
    }
}

pub async fn properties(
    State(s): State<AppState>,
    session: Session,
    flash: Flash,
    Query(q): Query<Fields>,
) -> Response {
    let path = filtered("/v1/properties?limit=50", &q, &["cursor"]);
    let list: Answer<Page<Property>> = api(&s, &session, Method::GET, &path, None).await;
    let mut feeds: Vec<Vec<Calendar>> = Vec::new();
    for p in rows(&list) {
        let path = format!("/v1/properties/{}/calendars", p.id);
        let read: Answer<Page<Calendar>> = api(&s, &session, Method::GET, &path, None).await;
        feeds.push(read.map(|c| c.data).unwrap_or_default());
    }
    let now = s.now();
    let body = html! {
        (refusal(&list))
        p { a href="/console/arrivals" { "Arrivals of the next " (ARRIVALS_DAYS) " days" } }
        @if rows(&list).is_empty() && list.is_ok() {
            p.empty { "No properties yet: a property groups the doors of one place (" code { "POST /v1/properties" } "); its bookings, from a calendar feed or an integration, become codes on every door." }
        }
        @for (p, feeds) in rows(&list).iter().zip(&feeds) {
            section.card {
                h2 { (p.name) }
                p.muted {
                    (p.time_zone) " · check-in " (p.check_in_time) " · check-out "
                    (p.check_out_time) " · " (p.lock_ids.len()) " locks · PIN: "
                    (match p.code_source { CodeSource::PhoneLast4 => "the guest's phone's last 4 digits", CodeSource::Generated => "generated" })
                }
                @if feeds.is_empty() { p { "No calendar feed." } }
                @for f in feeds {
                    p {
                        (f.name.as_deref().unwrap_or("feed")) " — last read "
                        @if f.last_read_at.is_some() { (when(f.last_read_at, Some(&p.time_zone), now)) } @else { "never" }
                        @if let Some(e) = &f.last_error { " " span.badge.bad title=(e) { "failing" } }
                    }
                }
                form method="post" action={ "/console/properties/" (p.id) "/calendars" } {
                    (csrf(&session))
                    label for={ "url-" (p.id) } { "Calendar feed (iCalendar export URL)" }
                    input id={ "url-" (p.id) } name="url" type="url" required placeholder="https://www.airbnb.com/calendar/ical/….ics";
                    label for={ "name-" (p.id) } { "Name" }
                    input id={ "name-" (p.id) } name="name" placeholder="Airbnb";
                    button type="submit" { "Add feed" }
                }
            }
        }
        (next_page("/console/properties", &q, &[], &list))
    };
    Html(layout("Properties", Some(&session), &flash.0, body).into_string()).into_response()
}

/// Each property's zone and name, by id.
async fn properties_by_id(
    s: &AppState,
    session: &Session,
) -> HashMap<PropertyId, (String, String)> {
    api::<Page<Property>>(s, session, Method::GET, "/v1/properties?limit=200", None)
        .await
        .map(|p| p.data)
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.id, (p.time_zone, p.name)))
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
    let r: Answer<Calendar> = api(
        &s,
        &session,
        Method::POST,
        &format!("/v1/properties/{id}/calendars"),
        Some(body),
    )
    .await;
    let outcome = match r {
        Err(e) => Err(e.0),
        Ok(Calendar {
            last_error: Some(e),
            ..
        }) => Err(format!("Feed added, but its first read failed: {e}")),
        Ok(_) => Ok("Feed added and read.".to_owned()),
    };
    back(&headers, "/console/properties", outcome)
}

pub async fn arrivals(State(s): State<AppState>, session: Session, flash: Flash) -> Response {
    let now = s.now();
    let to = lockbridge_core::time::to_rfc3339(now + ARRIVALS_DAYS * 86_400_000);
    let from = lockbridge_core::time::to_rfc3339(now);
    let q = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let path = format!("/v1/reservations?limit=200&from={}&to={}", q(&from), q(&to));
    let r: Answer<Page<Reservation>> = api(&s, &session, Method::GET, &path, None).await;
    let places = properties_by_id(&s, &session).await;
    let mut stays: Vec<&Reservation> = rows(&r)
        .iter()
        .filter(|r| r.status != ReservationStatus::Cancelled)
        .collect();
    stays.sort_by_key(|r| r.check_in_at);
    let body = html! {
        (refusal(&r))
        @if stays.is_empty() { p.empty { "No arrivals in the next " (ARRIVALS_DAYS) " days. Stays come from a property's calendar feed (" a href="/console/properties" { "Properties" } ") or from an integration (PUT /v1/properties/{id}/reservations/{external_id})." } }
        div.table { table {
            thead { tr { th { "Check-in" } th { "Check-out" } th { "Property" } th { "Guest" } th { "Status" } th { "Readiness" } th { "Fallbacks" } } }
            tbody {
                @for r in &stays {
                    @let place = places.get(&r.property_id);
                    @let zone = place.map(|(z, _)| z.as_str());
                    tr {
                        td { a href={ "/console/reservations/" (r.id) } { (when(Some(r.check_in_at), zone, now)) } }
                        td { (when(Some(r.check_out_at), zone, now)) }
                        td { (place.map_or("", |(_, n)| n.as_str())) }
                        td { (guest(r)) }
                        td { (status(r)) }
                        td { (readiness(r)) }
                        td { (r.fallback_codes.len()) }
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
    let r: Answer<Reservation> = api(
        &s,
        &session,
        Method::GET,
        &format!("/v1/reservations/{id}"),
        None,
    )
    .await;
    let stay = match r {
        Ok(stay) => stay,
        Err(e) => {
            let body = html! { p.flash.error { (e) } };
            return Html(layout("Stay", Some(&session), &flash.0, body).into_string())
                .into_response();
        }
    };
    let locks = lock_names(&s, &session).await;
    let places = properties_by_id(&s, &session).await;
    let zone = places.get(&stay.property_id).map(|(z, _)| z.as_str());
    let now = s.now();
    let title = format!("Stay {}", guest(&stay));
    let body = html! {
        p { (when(Some(stay.check_in_at), zone, now)) " → " (when(Some(stay.check_out_at), zone, now)) " · " (status(&stay)) " · " (readiness(&stay)) }
        @for w in &stay.warnings {
            p.flash.error { (w.message) }
        }
        h2 { "Codes" }
        div.table { table {
            thead { tr { th { "Lock" } th { "PIN" } th { "Status" } th { "From" } th { "Until" } } }
            tbody {
                @if stay.access_codes.is_empty() { tr { td colspan="5" { "No codes yet: they are made when the stay is read, one per door of the property." } } }
                @for c in &stay.access_codes {
                    tr {
                        td { (lock_link(&locks, c.lock_id)) }
                        td.pin { (c.code) }
                        td { span class={ "badge status-" (c.status.as_str()) } { (c.status.as_str()) } }
                        td { (when(c.starts_at, zone, now)) }
                        td { (when(c.ends_at, zone, now)) }
                    }
                }
            }
        } }
        h2 { "Fallback codes" }
        @if stay.fallback_codes.is_empty() { p { "None: every lock was reachable." } }
        @else {
            div.table { table {
                thead { tr { th { "Lock" } th { "Offline PIN" } th { "From" } th { "Until" } } }
                tbody {
                    @for f in &stay.fallback_codes {
                        tr {
                            td { (lock_link(&locks, f.lock_id)) }
                            td.pin { (f.code) }
                            td { (when(Some(f.starts_at), zone, now)) }
                            td { (when(f.ends_at, zone, now)) }
                        }
                    }
                }
            } }
        }
    };
    Html(layout(&title, Some(&session), &flash.0, body).into_string()).into_response()
}
