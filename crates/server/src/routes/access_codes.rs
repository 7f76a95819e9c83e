//! Access codes: validated against the lock's rules before any vendor call, written by the
//! code engine, with a status that says where they stand.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, patch, post};
use lockbridge_app::AppError;
use lockbridge_core::ids::{AccessCodeId, LockId};
use lockbridge_core::model::{AccessCode, CodeStatus, ExternalPolicy, Schedule, Scheduling};
use lockbridge_core::time::Millis;
use lockbridge_store::{Guard, InsertError, StoreError};
use serde::Deserialize;

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Fingerprinted, single_header};
use crate::query::{CodesQuery, Query};
use crate::routes::code_changes::{freeze, manage, remove, unfreeze, update};
use crate::routes::{connections, locks};
use crate::state::AppState;
use crate::views::View;
use lockbridge_app::admission::prepare;
use lockbridge_app::engine::{self, Outcome};
use lockbridge_app::reconcile;

pub fn router() -> Api {
    let m = Access::Member;
    Api::new("access codes")
        .get(
            "/v1/locks/{id}/access-codes",
            get(list),
            Op::new(m, "A lock's codes, managed and found on the lock")
                .query::<crate::query::CodesQuery>()
                .returns::<lockbridge_api::Page<lockbridge_api::AccessCode>>(200),
        )
        .post(
            "/v1/locks/{id}/access-codes",
            post(create),
            Op::new(m, "Issue a code (checked against the lock's rules first)")
                .body::<NewCode>()
                .returns::<lockbridge_api::AccessCode>(201),
        )
        .get(
            "/v1/access-codes/{id}",
            get(read),
            Op::new(m, "An access code").returns::<lockbridge_api::AccessCode>(200),
        )
        .patch(
            "/v1/access-codes/{id}",
            patch(update),
            Op::new(m, "Change a code's name, value or period")
                .body::<crate::routes::code_changes::Change>()
                .returns::<lockbridge_api::AccessCode>(200),
        )
        .delete(
            "/v1/access-codes/{id}",
            delete(remove),
            Op::new(m, "Revoke a code (202 while the lock has not confirmed)")
                .returns::<lockbridge_api::AccessCode>(200)
                .also::<lockbridge_api::AccessCode>(202),
        )
        .post(
            "/v1/access-codes/{id}/freeze",
            post(freeze),
            Op::new(m, "Freeze a code").returns::<lockbridge_api::AccessCode>(200),
        )
        .post(
            "/v1/access-codes/{id}/unfreeze",
            post(unfreeze),
            Op::new(m, "Unfreeze a code").returns::<lockbridge_api::AccessCode>(200),
        )
        .post(
            "/v1/access-codes/{id}/manage",
            post(manage),
            Op::new(
                m,
                "Take a code found on the lock under lockbridge's management",
            )
            .returns::<lockbridge_api::AccessCode>(200),
        )
}

pub(crate) async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<AccessCode> {
    let id: AccessCodeId = id.parse().map_err(|_| ApiError::not_found("access code"))?;
    s.store
        .get_access_code(caller.org, id)
        .await?
        .ok_or(ApiError::not_found("access code"))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "NewAccessCode")]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCode {
    pub(crate) name: Option<String>,
    pub(crate) code: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    pub(crate) starts_at: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    pub(crate) ends_at: Option<Millis>,
    pub(crate) schedule: Option<Schedule>,
    /// `native`, `just_in_time` or `auto` (the default).
    #[serde(default)]
    pub(crate) scheduling: Scheduling,
    pub(crate) on_external_change: Option<ExternalPolicy>,
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
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

pub(crate) async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Fingerprinted<NewCode>,
) -> ApiResult<(StatusCode, View<AccessCode>)> {
    let lock = locks::load(&s, &caller, &id).await?;
    let key = idempotency_key(&headers)?;
    let fingerprint = request.of_request(&format!("POST /v1/locks/{}/access-codes", lock.id));
    let body = request.body;
    if let Some(k) = &key
        && let Some(first) = first_answer(&s, &caller, k, &fingerprint).await?
    {
        return Ok((StatusCode::CREATED, View(first)));
    }
    if !lock.capabilities.access_codes {
        return Err(ApiError::unsupported("hold access codes"));
    }
    let code = match body.code {
        Some(c) => c,
        None => lock.code_rules.generate(),
    };
    let now = s.now();
    let mut row = AccessCode {
        name: body
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        schedule: body.schedule,
        on_external_change: body.on_external_change,
        idempotency_key: key.clone(),
        idempotency_fingerprint: key.as_ref().map(|_| fingerprint.clone()),
        actor: caller.actor(),
        ..AccessCode::new(&lock, code, now)
    };
    prepare(&s, &lock, &mut row, body.scheduling, now)?;
    if row.status == CodeStatus::Setting {
        // This request works the code at once; should it stop, the engine takes over once
        // the lease has run out. (A scheduled code waits for the engine.)
        row.lease_owner = Some(engine::lease_owner());
        row.lease_until = Some(now + s.settings.code_lease.as_millis() as i64);
        row.attempts = 1;
    }
    let insert = s.store.insert_access_code(&row, lock.code_rules.max_codes);
    let (inserted, conn) = if row.status == CodeStatus::Scheduled {
        (insert.await, None)
    } else {
        // This request works the code next: its connection is read while the code is stored.
        let conn = connections::load_id(&s, &caller, lock.connection_id);
        let (inserted, conn) = tokio::join!(insert, conn);
        (inserted, Some(conn))
    };
    match inserted {
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
                .map(|f| (StatusCode::CREATED, View(f)))
                .ok_or(ApiError::not_found("access code"));
        }
        Err(InsertError::Store(StoreError::Conflict(_))) => {
            return Err(ApiError::already_exists("this code is already on the lock"));
        }
        Err(InsertError::Capacity(max)) => {
            return Err(ApiError::App(AppError::Provider(
                lockbridge_core::ProviderError::new(
                    lock.provider,
                    lockbridge_core::ErrorKind::CapacityReached,
                    format!("the lock holds at most {max} codes"),
                ),
            )));
        }
        Err(InsertError::Store(e)) => return Err(e.into()),
        Ok(()) => {}
    }
    let Some(conn) = conn else {
        return Ok((StatusCode::CREATED, View(row)));
    };
    match engine::work_on(&s, row, &lock, &conn?).await? {
        (Outcome::Failed(err), mut row) => {
            // Nothing was created on the lock; the request fails and leaves no live code.
            let version = row.version;
            row.status = CodeStatus::Removed;
            s.store
                .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
                .await?;
            Err(err.into())
        }
        (_, row) => Ok((StatusCode::CREATED, View(row))),
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
    Query(page): Query<CodesQuery>,
) -> ApiResult<View<super::List<AccessCode>>> {
    let lock_id: LockId = id.parse().map_err(|_| ApiError::not_found("lock"))?;
    let refresh = page.refresh.unwrap_or(false);
    // Codes set on the lock outside lockbridge show up as `managed: false`; the vendor is asked
    // at most once a `found_codes_interval` per lock, or when `refresh=true`. Otherwise the
    // listing is one query on the store.
    let mut seen = false;
    if page.cursor.is_none() && (refresh || s.code_reads.due(lock_id)) {
        let lock = locks::load(&s, &caller, &id).await?;
        seen = true;
        look_at_lock(&s, &caller, &lock, refresh).await?;
    }
    let rows = s
        .store
        .list_access_codes(caller.org, lock_id, page.limit + 1, page.cursor)
        .await?;
    if rows.is_empty() && !seen {
        // No codes, or no such lock in this organisation: only the lock can tell.
        locks::load(&s, &caller, &id).await?;
    }
    Ok(View(super::List::of(rows, page.limit, |c| {
        c.id.to_string()
    })))
}

/// Reads the lock's codes from its vendor when due (at most once a `found_codes_interval`, or
/// now when `refresh`): a read of the vendor's list is a reconciliation of the lock, so codes
/// gone, changed or found are recorded and a listing tells the truth. A vendor failure leaves
/// what is stored.
pub(crate) async fn look_at_lock(
    s: &AppState,
    caller: &Caller,
    lock: &lockbridge_core::model::Lock,
    refresh: bool,
) -> ApiResult<()> {
    if s.code_reads.claim(lock.id, refresh) && lock.capabilities.access_codes {
        let conn = connections::load_id(s, caller, lock.connection_id).await?;
        if let Err(e) = reconcile::reconcile_lock(s, &conn, lock).await {
            tracing::info!(lock = %lock.id, error = %lockbridge_core::provider::error_chain(&e), "could not read the lock's codes; listing stored ones")
        }
    }
    Ok(())
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<AccessCode>> {
    Ok(View(load(&s, &caller, &id).await?))
}
