//! Access codes: validated against the lock's rules before any vendor call, written by the
//! code engine, with a status that says where they stand.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, patch, post};
use lockbridge_core::ids::{AccessCodeId, LockId};
use lockbridge_core::model::{
    AccessCode, CodeStatus, ExternalPolicy, Lock, RemovedReason, Schedule,
};
use lockbridge_core::time::Millis;
use lockbridge_store::{Guard, InsertError, StoreError};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{Access, Api, Op};
use crate::engine::{self, Outcome};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller, Fingerprinted, Page, single_header};
use crate::reconcile;
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
        .post(
            "/v1/access-codes/{id}/manage",
            post(manage),
            Op::new(
                m,
                "Take a code found on the lock under lockbridge's management",
            )
            .returns(200, "AccessCode"),
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
    now: Millis,
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
        (Some(_), Some(e)) if e <= now => {
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
    on_external_change: Option<ExternalPolicy>,
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let given = headers.contains_key("idempotency-key");
    match single_header(headers, "Idempotency-Key")? {
        None if !given => Ok(None),
        v => {
            let key = v.map(str::trim).unwrap_or_default();
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
    request: Fingerprinted<NewCode>,
) -> ApiResult<(StatusCode, Json<AccessCode>)> {
    let lock = locks::load(&s, &caller, &id).await?;
    let key = idempotency_key(&headers)?;
    let fingerprint = request.of_request(&format!("POST /v1/locks/{}/access-codes", lock.id));
    let body = request.body;
    if let Some(k) = &key
        && let Some(first) = first_answer(&s, &caller, k, &fingerprint).await?
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
        s.now(),
        &lock,
        &code,
        (body.starts_at, body.ends_at),
        body.schedule.as_ref(),
    )?;
    let now = s.now();
    let owner = engine::lease_owner();
    let row = AccessCode {
        name: body
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        schedule: body.schedule,
        on_external_change: body.on_external_change,
        // This request works the code at once; should it stop, the engine takes over once
        // the lease has run out.
        lease_owner: Some(owner),
        lease_until: Some(now + s.settings.code_lease.as_millis() as i64),
        attempts: 1,
        next_attempt_at: Some(now),
        idempotency_key: key.clone(),
        idempotency_fingerprint: key.as_ref().map(|_| fingerprint.clone()),
        ..AccessCode::new(&lock, code, now)
    };
    match s
        .store
        .insert_access_code(&row, lock.code_rules.max_codes)
        .await
    {
        Err(InsertError::Store(StoreError::Conflict("idempotency_key"))) => {
            // The same key raced in: answer the first one (if it asked the same).
            let first = first_answer(
                &s,
                &caller,
                key.as_deref().unwrap_or_default(),
                &fingerprint,
            )
            .await?;
            return first
                .map(|f| (StatusCode::CREATED, Json(f)))
                .ok_or(ApiError::NotFound("access code"));
        }
        Err(InsertError::Store(StoreError::Conflict(_))) => {
            return Err(ApiError::AlreadyExists {
                message: "this code is already on the lock".into(),
            });
        }
        Err(InsertError::Capacity(max)) => {
            return Err(ApiError::Provider(lockbridge_core::ProviderError::new(
                lock.provider,
                lockbridge_core::ErrorKind::CapacityReached,
                format!("the lock holds at most {max} codes"),
            )));
        }
        Err(InsertError::Store(e)) => return Err(e.into()),
        Ok(()) => {}
    }
    match engine::work(&s, row).await? {
        (Outcome::Failed(err), mut row) => {
            // Nothing was created on the lock; the request fails and leaves no live code.
            let version = row.version;
            row.status = CodeStatus::Removed;
            s.store
                .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
                .await?;
            Err(err)
        }
        (_, row) => Ok((StatusCode::CREATED, Json(row))),
    }
}

/// The code a used `Idempotency-Key` created, when the request is the same one again; 422
/// `idempotency_key_reused` when the key comes with another route, lock or body; `None` for a
/// new key. (Codes created before fingerprints were kept match any request.)
async fn first_answer(
    s: &AppState,
    caller: &Caller,
    key: &str,
    fingerprint: &str,
) -> ApiResult<Option<AccessCode>> {
    match s.store.access_code_by_key(caller.org, key).await? {
        None => Ok(None),
        Some(first)
            if first
                .idempotency_fingerprint
                .as_deref()
                .is_none_or(|f| f == fingerprint) =>
        {
            Ok(Some(first))
        }
        Some(_) => Err(ApiError::IdempotencyKeyReused),
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
            // A read of the vendor's list is a reconciliation of the lock: what it shows is
            // recorded (codes gone, changed or found), and the listing tells the truth.
            let conn = connections::load_id(&s, &caller, lock.connection_id).await?;
            match reconcile::reconcile_lock(&s, &conn, &lock).await {
                Ok(_) => {}
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
    on_external_change: Option<ExternalPolicy>,
}

/// How often a request re-reads a code that another writer changed between its read and its
/// write before it gives up with 409.
const WRITE_TRIES: usize = 5;

fn changed_meanwhile() -> ApiError {
    ApiError::AlreadyExists {
        message: "the code changed while this request ran; read it and try again".into(),
    }
}

/// Works the code at once if nobody else holds it; answers it as it then stands.
async fn work_if_free(s: &AppState, row: AccessCode) -> ApiResult<(Outcome, AccessCode)> {
    match engine::work_now(s, row.id).await? {
        Some(done) => Ok(done),
        None => Ok((Outcome::Yielded, row)),
    }
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Change>,
) -> ApiResult<Json<AccessCode>> {
    if body.name.is_none()
        && body.code.is_none()
        && body.starts_at.is_none()
        && body.ends_at.is_none()
        && body.on_external_change.is_none()
    {
        return Err(ApiError::validation(
            "body",
            "give at least one of name, code, starts_at, ends_at, on_external_change",
        ));
    }
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
    let only_policy = body.name.is_none()
        && body.code.is_none()
        && body.starts_at.is_none()
        && body.on_external_change.is_some();
    for _ in 0..WRITE_TRIES {
        let before = load(&s, &caller, &id).await?;
        if !matches!(
            before.status,
            CodeStatus::Setting | CodeStatus::Set | CodeStatus::Scheduled
        ) {
            return Err(ApiError::validation(
                "status",
                format!("a {} code cannot be changed", before.status.as_str()),
            ));
        }
        let lock = s
            .store
            .get_lock(caller.org, before.lock_id)
            .await?
            .ok_or(ApiError::NotFound("lock"))?;
        let mut row = before.clone();
        if let Some(name) = &body.name {
            row.name = Some(name.trim().to_owned()).filter(|n| !n.is_empty());
        }
        if let Some(code) = &body.code {
            row.code = code.clone();
        }
        if body.starts_at.is_some() {
            (row.starts_at, row.ends_at) = (body.starts_at, body.ends_at);
        }
        if body.on_external_change.is_some() {
            row.on_external_change = body.on_external_change;
        }
        check(
            s.now(),
            &lock,
            &row.code,
            (row.starts_at, row.ends_at),
            row.schedule.as_ref(),
        )?;
        if !only_policy {
            row.status = CodeStatus::Setting;
            row.confirming = false;
            row.attempts = 0;
            row.next_attempt_at = Some(s.now());
        }
        match s
            .store
            .update_code_if(&mut row, before.version, Guard::Version, s.now(), &[])
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::AlreadyExists {
                    message: "this code is already on the lock".into(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        if only_policy {
            return Ok(Json(row));
        }
        return match work_if_free(&s, row).await? {
            (Outcome::Failed(err), mut row) => {
                // The lock refused the change: the code stays as it was on the lock.
                let version = row.version;
                row.code = before.code;
                row.name = before.name;
                (row.starts_at, row.ends_at) = (before.starts_at, before.ends_at);
                row.status = before.status;
                row.removed_reason = before.removed_reason;
                row.last_error = None;
                row.errors.clear();
                row.next_attempt_at = (before.status != CodeStatus::Set).then(|| s.now());
                s.store
                    .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
                    .await?;
                Err(err)
            }
            (_, row) => Ok(Json(row)),
        };
    }
    Err(changed_meanwhile())
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<AccessCode>)> {
    for _ in 0..WRITE_TRIES {
        let mut row = load(&s, &caller, &id).await?;
        let version = row.version;
        match row.status {
            CodeStatus::Removed => return Ok((StatusCode::OK, Json(row))),
            CodeStatus::Removing => {
                return Ok((StatusCode::ACCEPTED, Json(row)));
            }
            // Refused by the vendor and never given an id: it is not on the lock.
            CodeStatus::Failed if row.provider_id.is_none() => {
                row.status = CodeStatus::Removed;
                row.removed_reason = Some(RemovedReason::Deleted);
                row.next_attempt_at = None;
                if s.store
                    .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
                    .await?
                {
                    return Ok((StatusCode::OK, Json(row)));
                }
                continue;
            }
            _ => {}
        }
        row.status = CodeStatus::Removing;
        row.removed_reason = Some(RemovedReason::Deleted);
        row.confirming = false;
        row.attempts = 0;
        row.next_attempt_at = Some(s.now());
        if !s
            .store
            .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
            .await?
        {
            continue;
        }
        return match work_if_free(&s, row).await? {
            (Outcome::Done, row) if row.status == CodeStatus::Removed => {
                Ok((StatusCode::OK, Json(row)))
            }
            (Outcome::Failed(err), _) => Err(err),
            (_, row) => Ok((StatusCode::ACCEPTED, Json(row))),
        };
    }
    Err(changed_meanwhile())
}

/// Takes a code found on the lock (`managed: false`) under lockbridge's management: from now
/// on reconciliation keeps it as it is.
async fn manage(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AccessCode>> {
    for _ in 0..WRITE_TRIES {
        let mut row = load(&s, &caller, &id).await?;
        if row.managed {
            return Ok(Json(row));
        }
        if !row.status.is_live() {
            return Err(ApiError::validation(
                "status",
                format!("a {} code cannot be managed", row.status.as_str()),
            ));
        }
        let version = row.version;
        row.managed = true;
        if s.store
            .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
            .await?
        {
            return Ok(Json(row));
        }
    }
    Err(changed_meanwhile())
}

/// Freezes or unfreezes a code on locks that can (Tuya): it stays on the lock but does not
/// open it. Locks that cannot answer 422 `not_supported`.
async fn toggle(
    s: AppState,
    caller: Caller,
    id: String,
    frozen: bool,
) -> ApiResult<Json<AccessCode>> {
    let row = load(&s, &caller, &id).await?;
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
    // The lock holds the new state now: record it on the row as it stands.
    for _ in 0..WRITE_TRIES {
        let mut row = load(&s, &caller, &id).await?;
        let version = row.version;
        row.frozen = frozen;
        if s.store
            .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
            .await?
        {
            return Ok(Json(row));
        }
    }
    Err(changed_meanwhile())
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
