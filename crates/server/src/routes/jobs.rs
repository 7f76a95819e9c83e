//! `/v1/jobs`: bulk work. Every item is checked when the job is submitted (a bad item fails
//! alone, with its index); the job worker does the rest at the vendors' pace.

use lockbridge_app::AppError;
use std::collections::HashMap;

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use lockbridge_api::{ItemError, Job, WaitingItem};
use lockbridge_core::ids::{JobId, LockId};
use lockbridge_core::model::Lock;
use lockbridge_core::time::Millis;
use lockbridge_store::{JobItem, JobRow};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::state::AppState;
use lockbridge_app::jobs::{BulkItem, code_of, error_json};
use lockbridge_store::StoreError;

/// At most this many items in one job.
pub const MAX_ITEMS: usize = 10_000;

/// The largest job body (a full job of codes with names and windows fits).
const MAX_BODY: usize = 16 << 20;

pub fn router() -> Api {
    let m = Access::Member;
    Api::new("jobs")
        .post(
            "/v1/jobs",
            post(create).layer(DefaultBodyLimit::max(MAX_BODY)),
            Op::new(m, "Submit bulk work: up to 10,000 codes, checked at once, worked at the vendors' pace")
                .body::<NewJob>()
                .returns::<lockbridge_api::Job>(202),
        )
        .get(
            "/v1/jobs/{id}",
            get(read),
            Op::new(m, "A job's progress and its failed items").returns::<lockbridge_api::Job>(200),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "NewJob")]
#[serde(deny_unknown_fields)]
pub(crate) struct NewJob {
    /// `access_codes.create`.
    kind: String,
    /// Each item is checked on its own: one that is malformed or breaks a rule fails alone.
    #[schemars(with = "Vec<BulkItem>")]
    items: Vec<Value>,
}

async fn view(s: &AppState, job: JobRow) -> ApiResult<Job> {
    let p = s.store.job_progress(job.id).await?;
    Ok(Job {
        id: job.id,
        kind: job.kind,
        status: job.status,
        total: job.total,
        succeeded: p.succeeded,
        failed: p.failed,
        errors: p
            .errors
            .into_iter()
            .map(|(index, e)| ItemError {
                index,
                error: serde_json::from_str(&e).unwrap_or_default(),
            })
            .collect(),
        waiting: p
            .waiting
            .into_iter()
            .filter_map(|(index, code)| {
                Some(WaitingItem {
                    index,
                    access_code_id: code.parse().ok()?,
                })
            })
            .collect(),
        created_at: job.created_at,
        finished_at: job.finished_at,
    })
}

/// Checks one item; answers its lock and the item as it will be worked.
async fn check_item(
    s: &AppState,
    caller: &Caller,
    locks: &mut HashMap<String, Option<Lock>>,
    value: Value,
    now: Millis,
) -> Result<(LockId, BulkItem), ApiError> {
    crate::extract::check_value(&value)?;
    let item: BulkItem =
        serde_json::from_value(value).map_err(|e| ApiError::validation("item", e.to_string()))?;
    let lock = match locks.get(&item.lock_id) {
        Some(l) => l.clone(),
        None => {
            let l = match item.lock_id.parse::<LockId>() {
                Ok(id) => s.store.get_lock(caller.org, id).await?,
                Err(_) => None,
            };
            locks.insert(item.lock_id.clone(), l.clone());
            l
        }
    }
    .ok_or_else(|| {
        ApiError::validation(
            "lock_id",
            format!("no lock {:?} in this organisation", item.lock_id),
        )
    })?;
    code_of(s, &lock, &item, now)?;
    Ok((lock.id, item))
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    request: crate::extract::Fingerprinted<NewJob>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let key = crate::routes::access_codes::idempotency_key(&headers)?;
    let fingerprint = request.of_request("POST /v1/jobs");
    if let Some(k) = &key
        && let Some(first) = first_job(&s, &caller, k, &fingerprint).await?
    {
        return Ok((StatusCode::ACCEPTED, Json(first)));
    }
    let body = request.body;
    if body.kind != "access_codes.create" {
        return Err(ApiError::validation("kind", "must be access_codes.create"));
    }
    if body.items.is_empty() || body.items.len() > MAX_ITEMS {
        return Err(ApiError::validation(
            "items",
            format!("must hold 1 to {MAX_ITEMS} items"),
        ));
    }
    let now = s.now();
    let mut locks = HashMap::new();
    let mut items = Vec::with_capacity(body.items.len());
    for (index, value) in body.items.into_iter().enumerate() {
        let index = index as i64;
        items.push(
            match check_item(&s, &caller, &mut locks, value, now).await {
                Ok((lock, item)) => JobItem {
                    index,
                    lock_id: Some(lock),
                    item: serde_json::to_string(&item).unwrap_or_default(),
                    status: "pending".into(),
                    access_code_id: None,
                    error: None,
                },
                Err(ApiError::App(e)) if !matches!(e, AppError::Store(_)) => JobItem {
                    index,
                    lock_id: None,
                    item: "{}".into(),
                    status: "failed".into(),
                    access_code_id: None,
                    error: Some(error_json(&e)),
                },
                Err(e) => return Err(e),
            },
        );
    }
    let all_failed = items.iter().all(|i| i.status == "failed");
    let job = JobRow {
        id: JobId::new(),
        org_id: caller.org,
        kind: body.kind,
        status: if all_failed { "failed" } else { "queued" }.into(),
        total: items.len() as i64,
        lease_owner: None,
        lease_until: None,
        created_at: now,
        finished_at: all_failed.then_some(now),
        idempotency_fingerprint: key.as_ref().map(|_| fingerprint.clone()),
        idempotency_key: key.clone(),
        actor: caller.actor(),
    };
    match s.store.insert_job(&job, &items).await {
        Ok(()) => Ok((StatusCode::ACCEPTED, Json(view(&s, job).await?))),
        // The same key came in twice at once: the first one stored answers both.
        Err(StoreError::Conflict("idempotency_key")) if key.is_some() => {
            let k = key.as_deref().unwrap_or_default();
            match first_job(&s, &caller, k, &fingerprint).await? {
                Some(first) => Ok((StatusCode::ACCEPTED, Json(first))),
                None => Err(ApiError::IdempotencyKeyReused),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The job a used `Idempotency-Key` created, when the request is the same one again (a client
/// that lost the answer, or runs its import again); 422 `idempotency_key_reused` when the key
/// comes with another body.
async fn first_job(
    s: &AppState,
    caller: &Caller,
    key: &str,
    fingerprint: &str,
) -> ApiResult<Option<Job>> {
    match s.store.job_by_key(caller.org, key).await? {
        None => Ok(None),
        Some(first) if first.idempotency_fingerprint.as_deref() == Some(fingerprint) => {
            Ok(Some(view(s, first).await?))
        }
        Some(_) => Err(ApiError::IdempotencyKeyReused),
    }
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Job>> {
    let id: JobId = id.parse().map_err(|_| ApiError::not_found("job"))?;
    let job = s
        .store
        .get_job(caller.org, id)
        .await?
        .ok_or(ApiError::not_found("job"))?;
    Ok(Json(view(&s, job).await?))
}
