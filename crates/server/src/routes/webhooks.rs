//! `/v1/webhooks`: endpoints that receive the organisation's events, their deliveries, retries
//! by hand and test events. Admin keys only: an endpoint decides where the organisation's data
//! goes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{DeliveryId, WebhookId};
use lockbridge_core::webhooks::{Delivery, Webhook, WebhookFormat, check_patterns, new_secret};
use lockbridge_store::WebhookPatch;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body};
use crate::query::{Page, Query};
use crate::state::AppState;
use crate::views::View;
use lockbridge_app::webhooks::address::{check_resolved, check_url};

const MAX_DESCRIPTION: usize = 500;

/// How long a rotated-out secret keeps signing, so receivers can switch without losing events.
const ROTATION_OVERLAP_MS: i64 = 24 * 3_600_000;

pub fn router() -> Api {
    let a = Access::Admin;
    Api::new("webhooks")
        .post(
            "/v1/webhooks",
            post(create),
            Op::new(a, "Add an endpoint (its secret is in this answer only)")
                .body::<NewWebhook>()
                .returns::<lockbridge_api::WebhookCreated>(201),
        )
        .get(
            "/v1/webhooks",
            get(list),
            Op::new(a, "List the endpoints")
                .query::<crate::query::Page<lockbridge_core::ids::WebhookId>>()
                .returns::<lockbridge_api::Page<lockbridge_api::Webhook>>(200),
        )
        .get(
            "/v1/webhooks/{id}",
            get(read),
            Op::new(a, "An endpoint").returns::<lockbridge_api::Webhook>(200),
        )
        .patch(
            "/v1/webhooks/{id}",
            axum::routing::patch(update),
            Op::new(
                a,
                "Change an endpoint's URL, event types, description or enabled",
            )
            .body::<Change>()
            .returns::<lockbridge_api::Webhook>(200),
        )
        .delete(
            "/v1/webhooks/{id}",
            axum::routing::delete(remove),
            Op::new(a, "Delete an endpoint and its deliveries").empty(204),
        )
        .post(
            "/v1/webhooks/{id}/rotate-secret",
            post(rotate),
            Op::new(
                a,
                "A new secret (the old one keeps signing for 24 hours, beside the new)",
            )
            .returns::<lockbridge_api::WebhookCreated>(200),
        )
        .get(
            "/v1/webhooks/{id}/deliveries",
            get(deliveries),
            Op::new(a, "The endpoint's attempts, newest first")
                .query::<crate::query::Page<lockbridge_core::ids::DeliveryId>>()
                .returns::<lockbridge_api::Page<lockbridge_api::Delivery>>(200),
        )
        .post(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(retry),
            Op::new(a, "Send an attempt's event again, now")
                .returns::<lockbridge_api::Delivery>(202),
        )
        .post(
            "/v1/webhooks/{id}/test",
            post(test),
            Op::new(a, "Send a webhook.test event to this endpoint")
                .returns::<lockbridge_api::Delivery>(202),
        )
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "NewWebhook")]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWebhook {
    /// `http` or `https`; private, loopback and link-local hosts are refused unless
    /// `LOCKBRIDGE_WEBHOOK_ALLOW_PRIVATE=true`.
    url: String,
    /// Event types (`access_code.set`), `prefix.*` (`lock.*`) or `*`; every type when absent.
    #[serde(default)]
    event_types: Vec<String>,
    description: Option<String>,
}

/// A field that may be given as `null` (to clear it): `Some(None)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "WebhookChange")]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    /// `true` also forgets past failures.
    enabled: Option<bool>,
}

/// An endpoint with its secret: the answer of a creation or a rotation only.
#[derive(Debug)]
pub struct WebhookCreated {
    pub webhook: Webhook,
    pub secret: String,
}

pub(crate) async fn checked_url(s: &AppState, url: &str) -> ApiResult<String> {
    let allow = s.settings.webhook_allow_private;
    let url = check_url(url, allow).map_err(|rule| ApiError::validation("url", rule))?;
    if !allow {
        check_resolved(&url)
            .await
            .map_err(|rule| ApiError::validation("url", rule))?;
    }
    Ok(url.to_string())
}

/// An endpoint's event types: every known type (`webhook.test` included, though a test event
/// goes to the endpoint tested whatever it lists), or a prefix ending in `.*`; Seam's names for
/// an endpoint that receives Seam's bodies.
pub(crate) fn checked_types(types: Vec<String>, format: WebhookFormat) -> ApiResult<Vec<String>> {
    let known: Vec<&str> = match format {
        WebhookFormat::Lockbridge => EventType::ALL.iter().map(|t| t.as_str()).collect(),
        WebhookFormat::Seam => lockbridge_core::seam::EVENT_TYPES.to_vec(),
    };
    check_patterns(&types, &known).map_err(|rule| ApiError::validation("event_types", rule))?;
    Ok(types)
}

fn checked_description(d: Option<String>) -> ApiResult<Option<String>> {
    let d = d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if d.as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(ApiError::validation(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(d)
}

pub(crate) fn id_of(id: &str) -> ApiResult<WebhookId> {
    id.parse().map_err(|_| ApiError::not_found("webhook"))
}

pub(crate) async fn load(
    s: &AppState,
    caller: &crate::extract::Caller,
    id: &str,
) -> ApiResult<Webhook> {
    s.store
        .get_webhook(caller.org, id_of(id)?)
        .await?
        .ok_or(ApiError::not_found("webhook"))
}

async fn create(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Body(body): Body<NewWebhook>,
) -> ApiResult<(StatusCode, View<WebhookCreated>)> {
    let made = add(
        &s,
        &caller,
        &body.url,
        body.event_types,
        body.description,
        WebhookFormat::Lockbridge,
    )
    .await?;
    Ok((StatusCode::CREATED, View(made)))
}

/// Adds an endpoint for the caller's organisation; its secret is in the answer.
pub(crate) async fn add(
    s: &AppState,
    caller: &crate::extract::Caller,
    url: &str,
    event_types: Vec<String>,
    description: Option<String>,
    format: WebhookFormat,
) -> ApiResult<WebhookCreated> {
    let now = s.now();
    let webhook = Webhook {
        id: WebhookId::new(),
        org_id: caller.org,
        url: checked_url(s, url).await?,
        event_types: checked_types(event_types, format)?,
        description: checked_description(description)?,
        enabled: true,
        format,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let secret = new_secret();
    s.store.insert_webhook(&webhook, &secret).await?;
    Ok(WebhookCreated { webhook, secret })
}

async fn list(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Query(page): Query<Page<WebhookId>>,
) -> ApiResult<View<super::List<Webhook>>> {
    let rows = s
        .store
        .list_webhooks(caller.org, page.limit + 1, page.cursor)
        .await?;
    Ok(View(super::List::of(rows, page.limit, |w| {
        w.id.to_string()
    })))
}

async fn read(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult<View<Webhook>> {
    Ok(View(load(&s, &caller, &id).await?))
}

async fn update(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    Body(body): Body<Change>,
) -> ApiResult<View<Webhook>> {
    let patch = WebhookPatch {
        url: match body.url {
            Some(u) => Some(checked_url(&s, &u).await?),
            None => None,
        },
        event_types: match body.event_types {
            Some(types) => Some(checked_types(types, load(&s, &caller, &id).await?.format)?),
            None => None,
        },
        description: body.description.map(checked_description).transpose()?,
        enabled: body.enabled,
    };
    s.store
        .update_webhook(caller.org, id_of(&id)?, &patch, s.now())
        .await?
        .map(View)
        .ok_or(ApiError::not_found("webhook"))
}

async fn remove(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    match s.store.delete_webhook(caller.org, id_of(&id)?).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found("webhook")),
    }
}

async fn rotate(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult<View<WebhookCreated>> {
    let secret = new_secret();
    let now = s.now();
    let webhook = s
        .store
        .rotate_webhook_secret(
            caller.org,
            id_of(&id)?,
            &secret,
            now + ROTATION_OVERLAP_MS,
            now,
        )
        .await?
        .ok_or(ApiError::not_found("webhook"))?;
    Ok(View(WebhookCreated { webhook, secret }))
}

async fn deliveries(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    Query(page): Query<Page<DeliveryId>>,
) -> ApiResult<View<super::List<Delivery>>> {
    let hook = load(&s, &caller, &id).await?;
    let rows = s
        .store
        .list_deliveries(caller.org, hook.id, page.limit + 1, page.cursor)
        .await?;
    Ok(View(super::List::of(rows, page.limit, |d| {
        d.id.to_string()
    })))
}

async fn retry(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult<(StatusCode, View<Delivery>)> {
    let delivery: DeliveryId = delivery
        .parse()
        .map_err(|_| ApiError::not_found("delivery"))?;
    let d = s
        .store
        .retry_delivery(caller.org, id_of(&id)?, delivery, s.now())
        .await?
        .ok_or(ApiError::not_found("delivery"))?;
    Ok((StatusCode::ACCEPTED, View(d)))
}

async fn test(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, View<Delivery>)> {
    let hook = load(&s, &caller, &id).await?;
    let event = Event::new(caller.org, EventType::WebhookTest, s.now())
        .by(caller.actor())
        .data(serde_json::json!({"webhook_id": hook.id}));
    let d = s.store.insert_test_event(&event, hook.id).await?;
    Ok((StatusCode::ACCEPTED, View(d)))
}
