//! Kii things of a connection: listed, and their passwords changed.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use lockbridge_core::secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use super::connections::load;
use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body, Caller};
use crate::query::{Page, Query};
use crate::state::AppState;
use lockbridge_app::connections as service;

pub fn router() -> Api {
    Api::new("things")
        .get(
            "/v1/connections/{id}/things",
            get(list),
            Op::new(Access::Member, "List the things of a Kii connection")
                .query::<crate::query::Page<String>>()
                .returns::<lockbridge_api::Page<lockbridge_core::provider::ThingInfo>>(200),
        )
        .put(
            "/v1/connections/{id}/things/{vendor_thing_id}/password",
            put(set_password),
            Op::new(
                Access::Admin,
                "Change a Kii thing's password (sent to Kii, never stored)",
            )
            .body::<ThingPassword>()
            .empty(204),
        )
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<Page<String>>,
) -> ApiResult<Json<super::List<lockbridge_core::provider::ThingInfo>>> {
    let conn = load(&s, &caller, &id).await?;
    let (c, cursor) = (&conn, page.cursor.as_deref());
    let found = service::call(&s, &conn, |api| async move {
        api.things_api()?.things(c, page.limit, cursor).await
    })
    .await?;
    Ok(Json(super::List {
        data: found.things,
        next_cursor: found.next,
    }))
}

/// The body is read as a raw value so that nothing of a malformed password is ever echoed
/// back in an error.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "ThingPassword")]
#[serde(deny_unknown_fields)]
pub(crate) struct ThingPassword {
    /// 1 to 200 printable ASCII characters (Kii's `^\p{Print}{1,200}$`); sent to Kii, never
    /// stored.
    #[schemars(
        with = "String",
        length(min = 1, max = 200),
        regex(pattern = r"^[\x20-\x7E]{1,200}$")
    )]
    new_password: Value,
}

async fn set_password(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path((id, vendor_thing_id)): Path<(String, String)>,
    Body(body): Body<ThingPassword>,
) -> ApiResult<StatusCode> {
    let conn = load(&s, &caller, &id).await?;
    let Value::String(plain) = body.new_password else {
        return Err(ApiError::validation("new_password", "must be a string"));
    };
    s.providers
        .get(conn.provider)?
        .things_api()?
        .check_password(&plain)
        .map_err(|rule| ApiError::validation("new_password", rule))?;
    let password = SecretString::from(plain);
    let (c, vid, pw) = (&conn, vendor_thing_id.as_str(), &password);
    service::call(&s, &conn, |api| async move {
        api.things_api()?.set_thing_password(c, vid, pw).await
    })
    .await?;
    tracing::info!(connection = %conn.id, vendor_thing_id = %vendor_thing_id, "thing password changed");
    Ok(StatusCode::NO_CONTENT)
}
