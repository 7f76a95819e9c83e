//! Access codes: validated against the lock's rules before any vendor call, written by the
//! code engine, with a status that says where they stand.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, patch, post};
use lockbridge_core::ids::{AccessCodeId, LockId};
use lockbridge_core::model::{AccessCode, CodeStatus, Lock, Schedule};
use lockbridge_core::time::{Millis, now_ms};
use lockbridge_store::StoreError;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{Access, Api, Op};
use crate::engine::{self, LEASE_MS, Outcome};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller, Page};
use crate::routes::{connections, locks};
use crate::service;
use crate::state::AppState;

pub fn router() -> Api {
    let m = Access::Member;
    Api::new("access codes")
        .get(
            "/v1/locks/{id}/access-codes",
            get(list),
            Op::new(m, "A lock's codes, managed and found on the lock")
                .query(&["limit", "cursor", "refresh"])
                .returns(200, "AccessCodeList"),
        )
        .post(
            "/v1/locks/{id}/access-codes",
            post(create),
            Op::new(m, "Issue a code (checked against the lock's rules first)")
                .body("NewAccessCode")
                .returns(201, "AccessCode"),
        )
        .get(
            "/v1/access-codes/{id}",
            get(read),
            Op::new(m, "An access code").returns(200, "AccessCode"),
        )
        .patch(
            "/v1/access-codes/{id}",
            patch(update),
            Op::new(m, "Change a code's name, value or period")
                .body("AccessCodeChange")
                .returns(200, "AccessCode"),
        )
        .delete(
            "/v1/access-codes/{id}",
            delete(remove),
            Op::new(m, "Revoke a code (202 while the lock has not confirmed)")
                .returns(200, "AccessCode"),
        )
        .post(
            "/v1/access-codes/{id}/freeze",
            post(freeze),
            Op::new(m, "Freeze a code").returns(200, "AccessCode"),
        )
        .post(
            "/v1/access-codes/{id}/unfreeze",
            post(unfreeze),
            Op::new(m, "Unfreeze a code").returns(200, "AccessCode"),
        )
}

async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<AccessCode> {
    let id: AccessCodeId = id.parse().map_err(|_| ApiError::NotFound("access code"))?;
    s.store
        .get_access_code(caller.org, id)
        .await?
        .ok_or(ApiError::NotFound("access code"))
}

/// Everything checked before the vendor is asked.
fn check(
    lock: &Lock,
    code: &str,
    period: (Option<Millis>, Option<Millis>),
    schedule: Option<&Schedule>,
) -> ApiResult<()> {
    if let Err(v) = lock.code_rules.check(code) {
        return Err(ApiError::validation(
            "code",
            format!("{} (rule {})", v.message, v.rule),
        ));
    }
    match period {
        (Some(_), None) => {
            return Err(ApiError::validation(
                "ends_at",
                "is required with starts_at",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::validation(
                "starts_at",
                "is required with ends_at",
            ));
        }
        (Some(s), Some(e)) if e <= s => {
            return Err(ApiError::validation("ends_at", "must be after starts_at"));
        }
        (Some(_), Some(e)) if e <= now_ms() => {
            return Err(ApiError::validation("ends_at", "is in the past"));
        }
        (Some(_), Some(_)) if !lock.capabilities.time_bound_codes => {
            return Err(ApiError::validation(
                "starts_at",
                "this lock takes permanent codes only",
            ));
        }
        _ => {}
    }
    if let Some(schedule) = schedule {
        if !lock.capabilities.recurring_codes {
            return Err(ApiError::validation(
                "schedule",
                "this lock does not take recurring codes",
            ));
        }
        schedule
            .check(lock.time_zone.as_deref())
            .map_err(|(field, rule)| ApiError::validation(field, rule))?;
    }
    Ok(())
}

/// The lock's codes that hold (or will hold) a place on it.
async fn active_codes(s: &AppState, lock: &Lock) -> ApiResult<Vec<AccessCode>> {
    let all = s
        .store
        .list_access_codes(lock.org_id, lock.id, 10_000, None)
        .await?;
    Ok(all
        .into_iter()
        .filter(|c| matches!(c.status, CodeStatus::Setting | CodeStatus::Set))
        .collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCode {
    name: Option<String>,
    code: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    starts_at: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    ends_at: Option<Millis>,
    schedule: Option<Schedule>,
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let key = v.to_str().map(str::trim).unwrap_or_default();
            if key.is_empty() || key.len() > 200 {
                return Err(ApiError::validation(
                    "Idempotency-Key",
                    "must be 1 to 200 visible characters",
                ));
            }
            Ok(Some(key.to_owned()))
        }
    }
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<NewCode>,
) -> ApiResult<(StatusCode, Json<AccessCode>)> {
    let lock = locks::load(&s, &caller, &id).await?;
    let key = idempotency_key(&headers)?;
    if let Some(k) = &key
        && let Some(first) = s.store.access_code_by_key(caller.org, k).await?
    {
        return Ok((StatusCode::CREATED, Json(first)));
    }
    if !lock.capabilities.access_codes {
        return Err(ApiError::Unsupported("hold access codes"));
    }
    let code = match body.code {
        Some(c) => c,
        None => lock.code_rules.generate(),
    };
    check(
        &lock,
        &code,
        (body.starts_at, body.ends_at),
        body.schedule.as_ref(),
    )?;
    let active = active_codes(&s, &lock).await?;
    if active.iter().any(|c| c.code == code) {
        return Err(ApiError::AlreadyExists {
            message: "this code is already on the lock".into(),
        });
    }
    if let Some(max) = lock.code_rules.max_codes
        && active.len() >= max as usize
    {
        return Err(ApiError::Provider(lockbridge_core::ProviderError::new(
            lock.provider,
            lockbridge_core::ErrorKind::CapacityReached,
            format!("the lock holds at most {max} codes"),
        )));
    }
    let now = now_ms();
    let mut row = AccessCode {
        id: AccessCodeId::new(),
        lock_id: lock.id,
        org_id: caller.org,
        name: body
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        code,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        schedule: body.schedule,
        status: CodeStatus::Setting,
        frozen: false,
        managed: true,
        provider_id: None,
        last_error: None,
        attempts: 0,
        confirming: false,
        next_attempt_at: Some(now + LEASE_MS),
        idempotency_key: key.clone(),
        created_at: now,
        updated_at: now,
    };
    match s.store.insert_access_code(&row).await {
        Err(StoreError::Conflict(_)) => {
            // The same key raced in: answer the first one.
            let first = s
                .store
                .access_code_by_key(caller.org, key.as_deref().unwrap_or_default())
                .await?;
            return first
                .map(|f| (StatusCode::CREATED, Json(f)))
                .ok_or(ApiError::NotFound("access code"));
        }
        other => other?,
    }
    match engine::attempt(&s, &mut row).await? {
        Outcome::Done | Outcome::Pending | Outcome::Retry(_) => {
            Ok((StatusCode::CREATED, Json(row)))
        }
        Outcome::Failed(err) => {
            // Nothing was created on the lock; the request fails and leaves no code behind.
            row.status = CodeStatus::Removed;
            s.store.update_access_code(&mut row).await?;
            Err(err)
        }
    }
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let lock_id: LockId = id.parse().map_err(|_| ApiError::NotFound("lock"))?;
    let (page, rest) = Page::<AccessCodeId>::parse(q.as_deref())?;
    let refresh = match rest
        .iter()
        .find(|(k, _)| k == "refresh")
        .map(|(_, v)| v.as_str())
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::validation("refresh", "must be true or false")),
    };
    // Codes set on the lock outside lockbridge show up as `managed: false`; the vendor is asked
    // at most once a `found_codes_interval` per lock, or when `refresh=true`. Otherwise the
    // listing is one query on the store.
    let mut seen = false;
    if page.cursor.is_none() && (refresh || s.code_reads.due(lock_id)) {
        let lock = locks::load(&s, &caller, &id).await?;
        seen = true;
        if s.code_reads.claim(lock.id, refresh) && lock.capabilities.access_codes {
            let conn = connections::load_id(&s, &caller, lock.connection_id).await?;
            let (l, c) = (&lock, &conn);
            match service::call(&s, &conn, |api| async move { api.list_codes(c, l).await }).await {
                Ok(found) => {
                    s.store.record_found_codes(&lock, &found).await?;
                }
                Err(e) => {
                    tracing::info!(lock = %lock.id, error = %e, "could not read the lock's codes; listing stored ones")
                }
            }
        }
    }
    let rows = s
        .store
        .list_access_codes(caller.org, lock_id, page.limit + 1, page.cursor)
        .await?;
    if rows.is_empty() && !seen {
        // No codes, or no such lock in this organisation: only the lock can tell.
        locks::load(&s, &caller, &id).await?;
    }
    Ok(Json(super::list(rows, page.limit, |c| c.id.to_string())))
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AccessCode>> {
    Ok(Json(load(&s, &caller, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    name: Option<String>,
    code: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    starts_at: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    ends_at: Option<Millis>,
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Change>,
) -> ApiResult<Json<AccessCode>> {
    let mut before = load(&s, &caller, &id).await?;
    if matches!(
        before.status,
        CodeStatus::Removing | CodeStatus::Removed | CodeStatus::Failed
    ) {
        return Err(ApiError::validation(
            "status",
            format!("a {} code cannot be changed", before.status.as_str()),
        ));
    }
    if body.name.is_none()
        && body.code.is_none()
        && body.starts_at.is_none()
        && body.ends_at.is_none()
    {
        return Err(ApiError::validation(
            "body",
            "give at least one of name, code, starts_at, ends_at",
        ));
    }
    let lock = s
        .store
        .get_lock(caller.org, before.lock_id)
        .await?
        .ok_or(ApiError::NotFound("lock"))?;
    let mut row = before.clone();
    if let Some(name) = body.name {
        row.name = Some(name.trim().to_owned()).filter(|n| !n.is_empty());
    }
    if let Some(code) = body.code {
        row.code = code;
    }
    if body.starts_at.is_some() || body.ends_at.is_some() {
        if body.starts_at.is_none() || body.ends_at.is_none() {
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
        (row.starts_at, row.ends_at) = (body.starts_at, body.ends_at);
    }
    check(
        &lock,
        &row.code,
        (row.starts_at, row.ends_at),
        row.schedule.as_ref(),
    )?;
    if row.code != before.code
        && active_codes(&s, &lock)
            .await?
            .iter()
            .any(|c| c.code == row.code && c.id != row.id)
    {
        return Err(ApiError::AlreadyExists {
            message: "this code is already on the lock".into(),
        });
    }
    row.status = CodeStatus::Setting;
    row.confirming = false;
    row.next_attempt_at = Some(now_ms() + LEASE_MS);
    s.store.update_access_code(&mut row).await?;
    match engine::attempt(&s, &mut row).await? {
        Outcome::Done | Outcome::Pending | Outcome::Retry(_) => Ok(Json(row)),
        Outcome::Failed(err) => {
            // The lock refused the change: the code stays as it was.
            s.store.update_access_code(&mut before).await?;
            Err(err)
        }
    }
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<AccessCode>)> {
    let mut row = load(&s, &caller, &id).await?;
    if row.status == CodeStatus::Removed {
        return Ok((StatusCode::OK, Json(row)));
    }
    row.status = CodeStatus::Removing;
    row.confirming = false;
    row.attempts = 0;
    row.next_attempt_at = Some(now_ms() + LEASE_MS);
    s.store.update_access_code(&mut row).await?;
    match engine::attempt(&s, &mut row).await? {
        Outcome::Done => Ok((StatusCode::OK, Json(row))),
        Outcome::Pending | Outcome::Retry(_) => Ok((StatusCode::ACCEPTED, Json(row))),
        Outcome::Failed(err) => Err(err),
    }
}

/// Freezes or unfreezes a code on locks that can (Tuya): it stays on the lock but does not
/// open it. Locks that cannot answer 422 `not_supported`.
async fn toggle(
    s: AppState,
    caller: Caller,
    id: String,
    frozen: bool,
) -> ApiResult<Json<AccessCode>> {
    let mut row = load(&s, &caller, &id).await?;
    let lock = s
        .store
        .get_lock(caller.org, row.lock_id)
        .await?
        .ok_or(ApiError::NotFound("lock"))?;
    if !lock.capabilities.freeze {
        return Err(ApiError::Unsupported("freeze codes"));
    }
    if row.frozen == frozen {
        return Ok(Json(row));
    }
    let (Some(pid), CodeStatus::Set | CodeStatus::Setting) = (row.provider_id.clone(), row.status)
    else {
        return Err(ApiError::validation(
            "id",
            "only a code that is on the lock (set, or setting) can be frozen or unfrozen",
        ));
    };
    let conn = connections::load_id(&s, &caller, lock.connection_id).await?;
    let (c, l, p) = (&conn, &lock, pid.as_str());
    service::call(&s, &conn, |api| async move {
        api.freeze_code(c, l, p, frozen).await
    })
    .await?;
    row.frozen = frozen;
    s.store.update_access_code(&mut row).await?;
    Ok(Json(row))
}

async fn freeze(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AccessCode>> {
    toggle(s, caller, id, true).await
}

async fn unfreeze(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AccessCode>> {
    toggle(s, caller, id, false).await
}
