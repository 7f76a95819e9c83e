//! `POST /bff/iot-lock/credentials-update`: a new TTLock credential set, verified with
//! TTLock, then persisted in one statement. Only `password` is required; the other fields fall
//! back to what the organisation's TTLock connection holds. An organisation with several TTLock
//! connections names the one meant (`connectionId`); without it the route answers 409
//! `ambiguous_connection` naming them, and changes nothing.

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use lockbridge_api::Success;
use lockbridge_app::AppError;
use lockbridge_core::credentials::Credentials;
use serde::Deserialize;

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Body};
use crate::state::AppState;
use lockbridge_app::connections as service;
use lockbridge_vendors::TTLOCK;

pub fn router() -> Api {
    let op = Op::new(
        Access::Admin,
        "Verify a new TTLock credential set, then persist it",
    )
    .body::<Update>()
    .returns::<lockbridge_api::Success>(200);
    Api::new("credentials").post(
        "/bff/iot-lock/credentials-update",
        post(credentials_update),
        op,
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "CredentialsUpdate")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Update {
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    /// Plain; MD5-hashed by lockbridge, never stored.
    password: Option<String>,
    /// The TTLock connection to update, where the organisation has several.
    connection_id: Option<String>,
}

async fn credentials_update(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Body(body): Body<Update>,
) -> ApiResult<Json<Success>> {
    let password = body
        .password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::validation("password", "is required"))?;
    let given = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let mut supplied = Credentials::new();
    let fields = [
        ("client_id", "clientId", given(body.client_id)),
        ("client_secret", "clientSecret", given(body.client_secret)),
        ("username", "username", given(body.username)),
    ];
    for (name, _, value) in &fields {
        if let Some(v) = value {
            supplied.set(name, v.clone());
        }
    }
    supplied.set("password", password);

    let existing = match given(body.connection_id) {
        Some(id) => {
            let conn = super::connections::load(&s, &caller, &id).await?;
            if conn.provider != TTLOCK {
                return Err(ApiError::validation(
                    "connectionId",
                    "must name a TTLock connection",
                ));
            }
            Some(conn)
        }
        None => {
            let mut found = s.store.connections_of(caller.org, TTLOCK, 20).await?;
            if found.len() > 1 {
                let ids: Vec<String> = found.iter().map(|c| c.id.to_string()).collect();
                return Err(ApiError::App(AppError::AmbiguousConnection {
                    message: format!(
                        "the organisation has several TTLock connections ({}); say which in connectionId",
                        ids.join(", ")
                    ),
                }));
            }
            found.pop()
        }
    };
    match existing {
        Some(conn) => {
            for (name, wire, _) in &fields {
                if supplied.get(name).is_none() && conn.credentials.get(name).is_none() {
                    return Err(ApiError::validation(
                        *wire,
                        "is required: it is neither given nor stored",
                    ));
                }
            }
            service::update_credentials(&s, &conn, &supplied, &caller.actor()).await?;
        }
        None => {
            if let Some((_, wire, _)) = fields.iter().find(|(_, _, v)| v.is_none()) {
                return Err(ApiError::validation(
                    *wire,
                    "is required: the organisation has no TTLock connection yet",
                ));
            }
            service::create(&s, caller.org, TTLOCK, None, None, &supplied).await?;
        }
    }
    Ok(Json(Success { success: true }))
}
