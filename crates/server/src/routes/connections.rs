//! `/v1/connections`: vendor accounts, verified before they are stored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use lockbridge_api::{Connection as ConnectionView, SyncResult};
use lockbridge_core::ids::ConnectionId;
use lockbridge_core::model::{Connection, ExternalPolicy, Provider};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body, Caller};
use crate::query::{Page, Query};
use crate::state::AppState;
use lockbridge_app::connections as service;

pub fn router() -> Api {
    Api::new("connections")
        .get(
            "/v1/connections",
            get(list),
            Op::new(Access::Member, "List vendor connections")
                .query::<crate::query::Page<lockbridge_core::ids::ConnectionId>>()
                .returns::<lockbridge_api::Page<lockbridge_api::Connection>>(200),
        )
        .post(
            "/v1/connections",
            post(create),
            Op::new(
                Access::Admin,
                "Connect a vendor account (verified before it is stored)",
            )
            .body::<NewConnection>()
            .returns::<lockbridge_api::Connection>(201),
        )
        .get(
            "/v1/connections/{id}",
            get(read),
            Op::new(Access::Member, "A connection, secrets masked")
                .returns::<lockbridge_api::Connection>(200),
        )
        .patch(
            "/v1/connections/{id}",
            patch(update),
            Op::new(
                Access::Admin,
                "Replace some credentials (verified first, missing ones kept)",
            )
            .body::<Patch>()
            .returns::<lockbridge_api::Connection>(200),
        )
        .delete(
            "/v1/connections/{id}",
            delete(remove),
            Op::new(Access::Admin, "Delete a connection and its locks").empty(204),
        )
        .post(
            "/v1/connections/{id}/sync",
            post(sync),
            Op::new(Access::Member, "Pull the vendor's locks and gateways")
                .returns::<lockbridge_api::SyncResult>(200),
        )
}

/// The caller's connection, or 404 (also for another organisation's).
pub async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<Connection> {
    let id: ConnectionId = id.parse().map_err(|_| ApiError::not_found("connection"))?;
    load_id(s, caller, id).await
}

/// The same, from a typed id (a lock's connection).
pub async fn load_id(s: &AppState, caller: &Caller, id: ConnectionId) -> ApiResult<Connection> {
    s.store
        .get_connection(caller.org, id)
        .await?
        .ok_or(ApiError::not_found("connection"))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "NewConnection")]
#[serde(deny_unknown_fields)]
pub(crate) struct NewConnection {
    provider: Provider,
    name: Option<String>,
    base_url: Option<String>,
    /// The vendor's credential fields (see the description of `Credentials`).
    #[schemars(with = "crate::schema::CredentialFields")]
    credentials: Map<String, Value>,
}

async fn create(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Body(body): Body<NewConnection>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let base_url = service::check_base_url(body.base_url.as_deref())?;
    let credentials =
        service::parse_credentials(&s, body.provider, &body.credentials, "credentials.")?;
    service::require_all(
        s.providers.fields(body.provider),
        &credentials,
        "credentials.",
    )?;
    let name = body
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let conn = service::create(&s, caller.org, body.provider, name, base_url, &credentials).await?;
    Ok((
        StatusCode::CREATED,
        Json(connection_json(&s.providers, &conn)),
    ))
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(page): Query<Page<ConnectionId>>,
) -> ApiResult<Json<super::List<ConnectionView>>> {
    let rows = s
        .store
        .list_connections(caller.org, page.limit + 1, page.cursor)
        .await?;
    let page = super::List::of(rows, page.limit, |c| c.id.to_string());
    Ok(Json(super::List {
        data: page
            .data
            .iter()
            .map(|c| connection_json(&s.providers, c))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    Ok(Json(connection_json(
        &s.providers,
        &load(&s, &caller, &id).await?,
    )))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "ConnectionPatch")]
#[serde(deny_unknown_fields)]
pub(crate) struct Patch {
    #[schemars(with = "Option<std::collections::BTreeMap<String, String>>")]
    credentials: Option<Map<String, Value>>,
    on_external_change: Option<ExternalPolicy>,
}

async fn update(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    Body(body): Body<Patch>,
) -> ApiResult<Json<ConnectionView>> {
    let mut conn = load(&s, &caller, &id).await?;
    if body.credentials.is_none() && body.on_external_change.is_none() {
        return Err(ApiError::validation(
            "body",
            "give credentials, on_external_change or both",
        ));
    }
    if let Some(policy) = body.on_external_change {
        s.store.set_external_policy(conn.id, policy).await?;
        conn.on_external_change = policy;
    }
    if let Some(credentials) = &body.credentials {
        let supplied = service::parse_credentials(&s, conn.provider, credentials, "credentials.")?;
        conn = service::update_credentials(&s, &conn, &supplied, &caller.actor()).await?;
    }
    Ok(Json(connection_json(&s.providers, &conn)))
}

async fn remove(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let conn = load(&s, &caller, &id).await?;
    s.store.delete_connection(caller.org, conn.id).await?;
    s.locks.invalidate(caller.org);
    Ok(StatusCode::NO_CONTENT)
}

async fn sync(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SyncResult>> {
    let conn = load(&s, &caller, &id).await?;
    let counts = service::sync(&s, &conn).await?;
    Ok(Json(SyncResult {
        locks: counts.locks as u64,
        gateways: counts.gateways as u64,
        removed: counts.removed as u64,
    }))
}

/// The connection as answered: secrets masked with the vendor's own field list.
pub fn connection_json(providers: &lockbridge_app::Providers, c: &Connection) -> ConnectionView {
    ConnectionView::new(c, c.credentials.masked(providers.fields(c.provider)))
}
