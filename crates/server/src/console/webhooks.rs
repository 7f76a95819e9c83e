//! Webhooks in the console: endpoints (created by admins; the secret shown once, in the
//! answer), each endpoint's deliveries and their retry.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use lockbridge_api::{Delivery, Page, Webhook, WebhookCreated};
use maud::{Markup, html};
use serde_json::json;

use super::pages::{Fields, csrf, field, filtered, layout, next_page, refusal, rows, when};
use super::{Answer, Flash, Session, act, api, back, id_of};
use crate::state::AppState;

fn webhooks_page(
    session: &Session,
    list: &Answer<Page<Webhook>>,
    flash: &Fields,
    secret: Option<&str>,
    now: i64,
) -> Markup {
    let no_filters = Fields::new();
    let body = html! {
        @if let Some(secret) = secret {
            p.flash.notice role="status" { "Endpoint created. Its signing secret, shown this once: " code { (secret) } }
        }
        (refusal(list))
        div.table { table {
            thead { tr { th { "URL" } th { "Events" } th { "Enabled" } th { "Failing since" } } }
            tbody {
                @if rows(list).is_empty() && list.is_ok() {
                    tr { td colspan="4" { "No endpoints yet: add one below and lockbridge signs and sends it each event as it happens." } }
                }
                @for w in rows(list) {
                    tr {
                        td { a href={ "/console/webhooks/" (w.id) } { (w.url) } }
                        td { @if w.event_types.is_empty() { "all" } @else { (w.event_types.join(", ")) } }
                        td { @if w.enabled { span.badge.ok { "enabled" } } @else { span.badge.bad { "disabled" } } }
                        td { @if w.failing_since.is_some() { (when(w.failing_since, None, now)) } @else { "–" } }
                    }
                }
            }
        } }
        (next_page("/console/webhooks", &no_filters, &[], list))
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

pub async fn webhooks(
    State(s): State<AppState>,
    session: Session,
    flash: Flash,
    axum::extract::Query(q): axum::extract::Query<Fields>,
) -> Response {
    let path = filtered("/v1/webhooks?limit=100", &q, &["cursor"]);
    let list = api(&s, &session, Method::GET, &path, None).await;
    Html(webhooks_page(&session, &list, &flash.0, None, s.now()).into_string()).into_response()
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
    let made: Answer<WebhookCreated> =
        api(&s, &session, Method::POST, "/v1/webhooks", Some(body)).await;
    let made = match made {
        Ok(m) => m,
        Err(e) => return back(&headers, "/console/webhooks", Err(e.0)),
    };
    // The secret is shown in this answer only, never put in a URL.
    let list = api(&s, &session, Method::GET, "/v1/webhooks?limit=100", None).await;
    let page = webhooks_page(&session, &list, &Fields::new(), Some(&made.secret), s.now());
    Html(page.into_string()).into_response()
}

pub async fn webhook(
    State(s): State<AppState>,
    session: Session,
    id: Path<String>,
    flash: Flash,
    axum::extract::Query(q): axum::extract::Query<Fields>,
) -> Response {
    let id = id_of(id);
    let mut path = format!("/v1/webhooks/{id}/deliveries?limit=100");
    if let Some(c) = field(&q, "cursor") {
        let c: String = form_urlencoded::byte_serialize(c.as_bytes()).collect();
        path.push_str(&format!("&cursor={c}"));
    }
    let r: Answer<Page<Delivery>> = api(&s, &session, Method::GET, &path, None).await;
    let now = s.now();
    let body = html! {
        (refusal(&r))
        div.table { table {
            thead { tr { th { "Sent" } th { "Event" } th { "Status" } th { "Attempt" } th { "Answer" } th { "" } } }
            tbody {
                @if rows(&r).is_empty() && r.is_ok() {
                    tr { td colspan="6" { "Nothing delivered to this endpoint yet: deliveries show here as events happen." } }
                }
                @for d in rows(&r) {
                    tr {
                        td { (when(Some(d.created_at), None, now)) }
                        td { code { (d.event_id) } }
                        td { (d.status.as_str()) @if let Some(e) = &d.error { " " span.badge.bad title=(e) { "why" } } }
                        td { (d.attempt) }
                        td { @match d.response_status { Some(code) => { "HTTP " (code) }, None => { "–" } } }
                        td {
                            @if session.admin() {
                                form.inline method="post" action={ "/console/webhooks/" (id) "/deliveries/" (d.id) "/retry" } {
                                    (csrf(&session))
                                    button type="submit" aria-label={ "Retry delivery " (d.id) } { "Retry" }
                                }
                            }
                        }
                    }
                }
            }
        } }
        (next_page(&format!("/console/webhooks/{id}"), &q, &[], &r))
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
    let outcome = act(
        &s,
        &session,
        Method::POST,
        &format!("/v1/webhooks/{id}/deliveries/{delivery}/retry"),
        Some(json!({})),
        "Sent again.",
    )
    .await;
    back(&headers, &format!("/console/webhooks/{id}"), outcome)
}
