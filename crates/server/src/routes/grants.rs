//! `/v1/grants`: one person's access to several locks, possibly of several vendors (what a
//! grant is and how it is written: `lockbridge_app::grant_writes`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use lockbridge_core::grants::{Grant, GrantStatus, SharedCodePolicy};
use lockbridge_core::ids::GrantId;
use lockbridge_core::model::{Schedule, Scheduling};
use lockbridge_core::time::Millis;
use serde::Deserialize;

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller, Fingerprinted};
use crate::query::{Page, Query};
use crate::routes::access_codes::idempotency_key;
use crate::state::AppState;
use crate::views::View;
use lockbridge_app::grant_writes as writes;
use lockbridge_app::grants::settle;

pub fn router() -> Api {
    let m = Access::Member;
    Api::new("grants")
        .get(
            "/v1/grants",
            get(list),
            Op::new(m, "The organisation's grants")
                .query::<crate::query::Page<lockbridge_core::ids::GrantId>>()
                .returns::<lockbridge_api::Page<lockbridge_api::Grant>>(200),
        )
        .post(
            "/v1/grants",
            post(create),
            Op::new(m, "Give one person access to several locks with one PIN")
                .body::<NewGrant>()
                .returns::<lockbridge_api::Grant>(201),
        )
        .get(
            "/v1/grants/{id}",
            get(read),
            Op::new(m, "A grant with its codes").returns::<lockbridge_api::Grant>(200),
        )
        .patch(
            "/v1/grants/{id}",
            axum::routing::patch(update),
            Op::new(m, "Move every code of a grant together")
                .body::<GrantChange>()
                .returns::<lockbridge_api::Grant>(200),
        )
        .delete(
            "/v1/grants/{id}",
            axum::routing::delete(remove),
            Op::new(
                m,
                "Revoke every code of a grant (202 while locks have not confirmed)",
            )
            .returns::<lockbridge_api::Grant>(200)
            .also::<lockbridge_api::Grant>(202),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "NewGrant")]
#[serde(deny_unknown_fields)]
pub(crate) struct NewGrant {
    name: String,
    lock_ids: Vec<String>,
    /// The PIN every lock holds; generated to suit them all when absent.
    code: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    starts_at: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    ends_at: Option<Millis>,
    schedule: Option<Schedule>,
    #[serde(default)]
    scheduling: Scheduling,
    #[serde(default)]
    on_shared_code_impossible: SharedCodePolicy,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "GrantChange")]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantChange {
    name: Option<String>,
    code: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    starts_at: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    ends_at: Option<Millis>,
    /// A new weekly window, or `null` to drop it (absent: unchanged).
    #[serde(default, deserialize_with = "crate::routes::code_changes::given")]
    #[schemars(with = "Option<Schedule>")]
    schedule: Option<Option<Schedule>>,
    scheduling: Option<Scheduling>,
    lock_ids: Option<Vec<String>>,
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    request: Fingerprinted<NewGrant>,
) -> ApiResult<(StatusCode, View<Grant>)> {
    let key = idempotency_key(&headers)?;
    let fingerprint = request.of_request("POST /v1/grants");
    if let Some(k) = &key
        && let Some(first) = first_answer(&s, &caller, k, &fingerprint).await?
    {
        return Ok((StatusCode::CREATED, View(first)));
    }
    let b = request.body;
    let asked = writes::NewGrant {
        name: b.name,
        lock_ids: b.lock_ids,
        code: b.code,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        schedule: b.schedule,
        scheduling: b.scheduling,
        on_shared_code_impossible: b.on_shared_code_impossible,
        idempotency: key.clone().map(|k| (k, fingerprint.clone())),
    };
    let grant = match writes::create(&s, caller.org, caller.actor(), asked).await? {
        Some(g) => Some(g),
        // Another request with the same key stored its grant first: that one is the answer.
        None => {
            first_answer(
                &s,
                &caller,
                key.as_deref().unwrap_or_default(),
                &fingerprint,
            )
            .await?
        }
    };
    let grant = grant.ok_or(ApiError::not_found("grant"))?;
    Ok((StatusCode::CREATED, View(grant)))
}

/// The grant a used `Idempotency-Key` created, when the request is the same one again; 422
/// `idempotency_key_reused` when it comes with another body.
async fn first_answer(
    s: &AppState,
    caller: &Caller,
    key: &str,
    fingerprint: &str,
) -> ApiResult<Option<Grant>> {
    match s.store.grant_by_key(caller.org, key).await? {
        None => Ok(None),
        Some(first) if first.idempotency_fingerprint.as_deref() == Some(fingerprint) => {
            Ok(settle(s, first.id).await?)
        }
        Some(_) => Err(ApiError::IdempotencyKeyReused),
    }
}

async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<Grant> {
    let id: GrantId = id.parse().map_err(|_| ApiError::not_found("grant"))?;
    s.store
        .get_grant(caller.org, id)
        .await?
        .ok_or(ApiError::not_found("grant"))
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<Grant>> {
    let g = load(&s, &caller, &id).await?;
    Ok(View(
        settle(&s, g.id)
            .await?
            .ok_or(ApiError::not_found("grant"))?,
    ))
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(page): Query<Page<GrantId>>,
) -> ApiResult<View<super::List<Grant>>> {
    let rows = s
        .store
        .list_grants(caller.org, page.limit + 1, page.cursor)
        .await?;
    let ids: Vec<GrantId> = rows.iter().map(|g| g.id).collect();
    let mut codes = s.store.codes_of_grants(&ids).await?;
    let out: Vec<Grant> = rows
        .into_iter()
        .map(|g| {
            let mine = codes.remove(&g.id).unwrap_or_default();
            let access_codes = mine.into_iter().filter(|c| g.holds(c)).collect();
            Grant { access_codes, ..g }
        })
        .collect();
    Ok(View(super::List::of(out, page.limit, |g| g.id.to_string())))
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<GrantChange>,
) -> ApiResult<View<Grant>> {
    if body.starts_at.is_some() != body.ends_at.is_some() {
        let missing = if body.starts_at.is_none() {
            "starts_at"
        } else {
            "ends_at"
        };
        return Err(ApiError::validation(
            missing,
            "is required when the period changes",
        ));
    }
    let id = load(&s, &caller, &id).await?.id;
    let edit = writes::GrantEdit {
        name: body.name,
        code: body.code,
        period: body
            .starts_at
            .is_some()
            .then_some((body.starts_at, body.ends_at)),
        schedule: body.schedule,
        scheduling: body.scheduling,
        lock_ids: body.lock_ids,
    };
    Ok(View(
        writes::change(&s, caller.org, id, caller.actor(), edit).await?,
    ))
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, View<Grant>)> {
    let id = load(&s, &caller, &id).await?.id;
    let g = writes::revoke(&s, caller.org, id, caller.actor()).await?;
    let status = if g.status == GrantStatus::Removed {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, View(g)))
}
