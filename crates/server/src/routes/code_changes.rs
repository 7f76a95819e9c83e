//! Changes to existing access codes: a new name, PIN or period, revocation, management of a
//! code found on the lock, freezing. Each writes the row conditionally on the version it read
//! (trying again a few times when another writer came first) and works the code at once when
//! nobody else holds it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use lockbridge_core::model::{AccessCode, CodeStatus, ExternalPolicy, RemovedReason, Scheduling};
use lockbridge_core::schedule::Schedule;
use lockbridge_core::time::Millis;
use lockbridge_store::{Guard, StoreError};
use serde::Deserialize;

use super::access_codes::load;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller};
use crate::routes::connections;
use crate::state::AppState;
use crate::views::View;
use lockbridge_app::admission::prepare;
use lockbridge_app::connections as service;
use lockbridge_app::engine::{self, Outcome};

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "AccessCodeChange")]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    pub(crate) name: Option<String>,
    pub(crate) code: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    pub(crate) starts_at: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    pub(crate) ends_at: Option<Millis>,
    pub(crate) on_external_change: Option<ExternalPolicy>,
    /// A new weekly window, or `null` to drop the window (absent: unchanged).
    #[serde(default, deserialize_with = "given")]
    #[schemars(with = "Option<Schedule>")]
    pub(crate) schedule: Option<Option<Schedule>>,
    /// `native`, `just_in_time` or `auto` (absent: as the code is).
    pub(crate) scheduling: Option<Scheduling>,
}

/// A field that is there, even as `null` (`Some(None)`), told apart from one left out (`None`).
pub(crate) fn given<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// How often a request re-reads a code that another writer changed between its read and its
/// write before it gives up with 409.
const WRITE_TRIES: usize = 5;

fn changed_meanwhile() -> ApiError {
    ApiError::already_exists("the code changed while this request ran; read it and try again")
}

/// Works the code at once if nobody else holds it; answers it as it then stands.
async fn work_if_free(s: &AppState, row: AccessCode) -> ApiResult<(Outcome, AccessCode)> {
    match engine::work_now(s, row.id).await? {
        Some(done) => Ok(done),
        None => Ok((Outcome::Yielded, row)),
    }
}

pub(crate) async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Change>,
) -> ApiResult<View<AccessCode>> {
    if body.name.is_none()
        && body.code.is_none()
        && body.starts_at.is_none()
        && body.ends_at.is_none()
        && body.on_external_change.is_none()
        && body.schedule.is_none()
        && body.scheduling.is_none()
    {
        return Err(ApiError::validation(
            "body",
            "give at least one of name, code, starts_at, ends_at, schedule, scheduling, on_external_change",
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
        && body.schedule.is_none()
        && body.scheduling.is_none()
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
            .ok_or(ApiError::not_found("lock"))?;
        let mut row = before.clone();
        row.actor = caller.actor();
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
        if let Some(schedule) = &body.schedule {
            row.schedule = schedule.clone();
        }
        if !only_policy {
            let asked = body.scheduling.unwrap_or(before.scheduling);
            prepare(&s, &lock, &mut row, asked, s.now())?;
        }
        match s
            .store
            .update_code_if(&mut row, before.version, Guard::Version, s.now(), &[])
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::already_exists("this code is already on the lock"));
            }
            Err(e) => return Err(e.into()),
        }
        if only_policy || row.status == CodeStatus::Scheduled {
            return Ok(View(row));
        }
        return match work_if_free(&s, row).await? {
            (Outcome::Failed(err), mut row) => {
                // The lock refused the change: the code stays as it was on the lock.
                let version = row.version;
                row.code = before.code;
                row.name = before.name;
                (row.starts_at, row.ends_at) = (before.starts_at, before.ends_at);
                row.schedule = before.schedule;
                (row.scheduling, row.window) = (before.scheduling, before.window);
                row.status = before.status;
                row.removed_reason = before.removed_reason;
                row.last_error = None;
                row.errors.clear();
                row.next_attempt_at = (before.status != CodeStatus::Set).then(|| s.now());
                s.store
                    .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
                    .await?;
                Err(err.into())
            }
            (_, row) => Ok(View(row)),
        };
    }
    Err(changed_meanwhile())
}

pub(crate) async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, View<AccessCode>)> {
    for _ in 0..WRITE_TRIES {
        let mut row = load(&s, &caller, &id).await?;
        row.actor = caller.actor();
        let version = row.version;
        match row.status {
            CodeStatus::Removed => return Ok((StatusCode::OK, View(row))),
            CodeStatus::Removing => {
                return Ok((StatusCode::ACCEPTED, View(row)));
            }
            // Refused by the vendor and never given an id, or waiting for its opening: it is
            // not on the lock.
            CodeStatus::Failed | CodeStatus::Scheduled if row.provider_id.is_none() => {
                row.status = CodeStatus::Removed;
                row.removed_reason = Some(RemovedReason::Deleted);
                row.next_attempt_at = None;
                if s.store
                    .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
                    .await?
                {
                    return Ok((StatusCode::OK, View(row)));
                }
                continue;
            }
            _ => {}
        }
        if row.kind.is_some() {
            let lock = s
                .store
                .lock_by_id(row.lock_id)
                .await?
                .ok_or(ApiError::not_found("lock"))?;
            let clears = s
                .providers
                .get(lock.provider)?
                .offline_codes()
                .is_some_and(|o| o.clears_offline_codes());
            if !clears {
                return Err(ApiError::unsupported(
                    "take an offline code off from the cloud: it works until its end (its vendor offers no revocation lockbridge can confirm)",
                ));
            }
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
                Ok((StatusCode::OK, View(row)))
            }
            (Outcome::Failed(err), _) => Err(err.into()),
            (_, row) => Ok((StatusCode::ACCEPTED, View(row))),
        };
    }
    Err(changed_meanwhile())
}

/// Takes a code found on the lock (`managed: false`) under lockbridge's management: from now
/// on reconciliation keeps it as it is.
pub(crate) async fn manage(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<AccessCode>> {
    for _ in 0..WRITE_TRIES {
        let mut row = load(&s, &caller, &id).await?;
        row.actor = caller.actor();
        if row.managed {
            return Ok(View(row));
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
            return Ok(View(row));
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
) -> ApiResult<View<AccessCode>> {
    let row = load(&s, &caller, &id).await?;
    let lock = s
        .store
        .get_lock(caller.org, row.lock_id)
        .await?
        .ok_or(ApiError::not_found("lock"))?;
    if !lock.capabilities.freeze {
        return Err(ApiError::unsupported("freeze codes"));
    }
    if row.frozen == frozen {
        return Ok(View(row));
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
        api.freezing_api()?.freeze_code(c, l, p, frozen).await
    })
    .await?;
    // The lock holds the new state now: record it on the row as it stands.
    for _ in 0..WRITE_TRIES {
        let mut row = load(&s, &caller, &id).await?;
        row.actor = caller.actor();
        let version = row.version;
        row.frozen = frozen;
        if s.store
            .update_code_if(&mut row, version, Guard::Version, s.now(), &[])
            .await?
        {
            return Ok(View(row));
        }
    }
    Err(changed_meanwhile())
}

pub(super) async fn freeze(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<AccessCode>> {
    toggle(s, caller, id, true).await
}

pub(super) async fn unfreeze(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<AccessCode>> {
    toggle(s, caller, id, false).await
}
