//! `/v1/api-keys`: admin keys create, list and delete keys of their organisation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use lockbridge_api::ApiKeyCreated;
use lockbridge_core::ids::ApiKeyId;
use lockbridge_core::model::ApiKey;
use lockbridge_core::model::Role;
use serde::Deserialize;

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body};
use crate::query::{Page, Query};
use crate::state::AppState;
use crate::views::View;

pub fn router() -> Api {
    Api::new("api keys")
        .get(
            "/v1/api-keys",
            get(list),
            Op::new(Access::Admin, "List the organisation's API keys")
                .query::<crate::query::Page<lockbridge_core::ids::ApiKeyId>>()
                .returns::<lockbridge_api::Page<lockbridge_api::ApiKey>>(200),
        )
        .post(
            "/v1/api-keys",
            post(create),
            Op::new(Access::Admin, "Create an API key (shown once)")
                .body::<NewKey>()
                .returns::<lockbridge_api::ApiKeyCreated>(201),
        )
        .delete(
            "/v1/api-keys/{id}",
            delete(remove),
            Op::new(
                Access::Admin,
                "Delete an API key (409 last_admin_key for the organisation's only admin key)",
            )
            .empty(204),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "NewApiKey")]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    name: String,
    role: Role,
}

async fn create(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Body(body): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation("name", "must be 1 to 100 characters"));
    }
    let (key, secret) = s.store.create_api_key(caller.org, name, body.role).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            api_key: (&key).into(),
            seam_key: format!("seam_{secret}"),
            key: secret,
        }),
    ))
}

async fn list(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Query(page): Query<Page<ApiKeyId>>,
) -> ApiResult<View<super::List<ApiKey>>> {
    let rows = s
        .store
        .list_api_keys(caller.org, page.limit + 1, page.cursor)
        .await?;
    Ok(View(super::List::of(rows, page.limit, |k| {
        k.id.to_string()
    })))
}

async fn remove(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ApiKeyId = id.parse().map_err(|_| ApiError::not_found("api key"))?;
    match s.store.delete_api_key(caller.org, id).await {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::not_found("api key")),
        Err(lockbridge_store::StoreError::Conflict("last_admin_key")) => {
            return Err(ApiError::LastAdminKey);
        }
        Err(e) => return Err(e.into()),
    }
    s.keys.forget(id);
    Ok(StatusCode::NO_CONTENT)
}
