//! Webhooks in the console: endpoints (created by admins; the secret shown once, in the
//! answer), each endpoint's deliveries and their retry.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde_json::json;

use super::pages::{Fields, csrf, field, layout, text};
use super::{Answer, Flash, Session, api, back, id_of};
use crate::state::AppState;

fn webhooks_page(session: &Session, list: &Answer, flash: &Fields, secret: Option<&str>) -> Markup {
    let body = html! {
        @if let Some(secret) = secret {
            p.flash.notice role="status" { "Endpoint created. Its signing secret, shown this once: " code { (secret) } }
        }
        @if !list.ok() { p.flash.error { (list.error()) } }
        div.table { table {
            thead { tr { th { "URL" } th { "Events" } th { "Enabled" } } }
            tbody {
                @for w in list.list() {
                    tr {
                        td { a href={ "/console/webhooks/" (text(&w["id"])) } { (text(&w["url"])) } }
                        td { (w["event_types"].as_array().map(|t| t.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                        td { (text(&w["enabled"])) }
                    }
                }
            }
        } }
        @if session.admin() {
            h2 { "New endpoint" }
            form.card method="post" action="/console/webhooks" {
                (csrf(session))
                label for="url" { "URL" }
                input #url name="url" type="url" required placeholder="https://hooks.example.com/lockbridge";
                label for="event_types" { "Event types (comma-separated; empty for all)" }
                input #event_types name="event_types" placeholder="access_code.*, lock.offline";
                button type="submit" { "Create endpoint" }
            }
        }
    };
    layout("Webhooks", Some(session), flash, body)
}

pub async fn webhooks(State(s): State<AppState>, session: Session, flash: Flash) -> Response {
    let list = api(&s, &session, Method::GET, "/v1/webhooks?limit=200", None).await;
    Html(webhooks_page(&session, &list, &flash.0, None).into_string()).into_response()
}

pub async fn create_webhook(
    State(s): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = session.refuse(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let mut body = json!({"url": field(&f, "url").unwrap_or("")});
    let types: Vec<&str> = field(&f, "event_types")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if !types.is_empty() {
        body["event_types"] = json!(types);
    }
    let r = api(&s, &session, Method::POST, "/v1/webhooks", Some(body)).await;
    if !r.ok() {
        return back(&headers, "/console/webhooks", Err(r.error()));
    }
    // The secret is shown in this answer only, never put in a URL.
    let list = api(&s, &session, Method::GET, "/v1/webhooks?limit=200", None).await;
    let secret = text(&r.body["secret"]);
    Html(webhooks_page(&session, &list, &Fields::new(), Some(&secret)).into_string())
        .into_response()
}

pub async fn webhook(
    State(s): State<AppState>,
    session: Session,
    id: Path<String>,
    flash: Flash,
) -> Response {
    let id = id_of(id);
    let r = api(
        &s,
        &session,
        Method::GET,
        &format!("/v1/webhooks/{id}/deliveries?limit=100"),
        None,
    )
    .await;
    let body = html! {
        @if !r.ok() { p.flash.error { (r.error()) } }
        div.table { table {
            thead { tr { th { "Event" } th { "Status" } th { "Attempts" } th { "Answer" } th { "" } } }
            tbody {
                @for d in r.list() {
                    tr {
                        td { (text(&d["event_type"])) }
                        td { (text(&d["status"])) }
                        td { (text(&d["attempt"])) }
                        td { (text(&d["response_status"])) }
                        td {
                            @if session.admin() {
                                form.inline method="post" action={ "/console/webhooks/" (id) "/deliveries/" (text(&d["id"])) "/retry" } {
                                    (csrf(&session))
                                    button type="submit" { "Retry" }
                                }
                            }
                        }
                    }
                }
            }
        } }
    };
    Html(layout("Deliveries", Some(&session), &flash.0, body).into_string()).into_response()
}

pub async fn retry_delivery(
    State(s): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Path((id, delivery)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = session.refuse(f.get("csrf").map(String::as_str)) {
        return r;
    }
    let clean = |v: &str| {
        v.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    let (id, delivery) = (clean(&id), clean(&delivery));
    let r = api(
        &s,
        &session,
        Method::POST,
        &format!("/v1/webhooks/{id}/deliveries/{delivery}/retry"),
        Some(json!({})),
    )
    .await;
    back(
        &headers,
        &format!("/console/webhooks/{id}"),
        if r.ok() {
            Ok("Sent again.".into())
        } else {
            Err(r.error())
        },
    )
}
