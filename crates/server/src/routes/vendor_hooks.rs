//! Events vendors post (`/vendor-hooks/{vendor}/{connection_id}/{secret}`) and the registration
//! of a connection's hook with its vendor.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use crate::api::{Access, Api, Op};
use crate::error::ApiResult;
use crate::extract::{Admin, Body};
use crate::routes::connections::load;
use crate::state::AppState;
use lockbridge_app::vendor_hooks as service;

pub fn router() -> Api {
    Api::new("vendor hooks")
        .post(
            "/vendor-hooks/{vendor}/{connection_id}/{secret}",
            post(receive),
            Op::new(
                Access::Public,
                "An event the vendor posts (SwitchBot's webhooks); the secret in the path authenticates it",
            )
            .returns::<HookReceived>(200),
        )
        .post(
            "/v1/connections/{id}/vendor-webhook",
            post(register),
            Op::new(
                Access::Admin,
                "Point the vendor account's events at this service (SwitchBot)",
            )
            .body::<VendorWebhook>()
            .returns::<VendorWebhookRegistered>(200),
        )
}

/// What an event led to.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HookReceived {
    /// The connection's locks that will be reconciled at the workers' next pass.
    pub locks: u64,
}

async fn receive(
    State(s): State<AppState>,
    Path((vendor, connection, secret)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Json<HookReceived>> {
    let locks = service::received(&s, &vendor, &connection, &secret, &body).await?;
    Ok(Json(HookReceived {
        locks: locks as u64,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VendorWebhook {
    /// How the vendor reaches this service: `https://lockbridge.example.com`.
    public_url: String,
    /// Take the place of another URL the account sends its events to (the vendor keeps one).
    #[serde(default)]
    replace: bool,
}

/// The hook registered. `url` holds the hook's secret: keep it as you would a key.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct VendorWebhookRegistered {
    pub url: String,
    /// The URL the account sent its events to before, if another.
    pub replaced: Option<String>,
}

async fn register(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    Body(body): Body<VendorWebhook>,
) -> ApiResult<Json<VendorWebhookRegistered>> {
    let conn = load(&s, &caller, &id).await?;
    let (url, replaced) = service::register(&s, &conn, &body.public_url, body.replace).await?;
    Ok(Json(VendorWebhookRegistered { url, replaced }))
}
