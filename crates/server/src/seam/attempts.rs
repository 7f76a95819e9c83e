//! Action attempts: `locks.unlock_door` / `lock_door` answer with one at once (finished by
//! this instance in the background, through `/v1`'s own operation), and code writes answer
//! with one that follows the code the engine works. `action_attempts.get` reads either.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use lockbridge_core::ids::{ActionAttemptId, LockId};
use lockbridge_core::model::{AccessCode, CodeStatus};
use lockbridge_core::seam::{ActionAttempt, ActionType, AttemptStatus};
use serde_json::{Value, json};

use super::codes::{attempt_result, lock_of};
use super::views;
use super::wire::{Paging, SeamRequest, SeamResult, not_found, reply};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::routes::locks;
use crate::state::AppState;

/// How long `unlock_door` / `lock_door` wait for the vendor before answering `pending` (the
/// SDKs then poll `action_attempts.get`): most operations answer finished, in one round trip.
const DOOR_WAIT: Duration = Duration::from_secs(3);

/// Seam's page of action attempts.
const ATTEMPTS_PAGE: u32 = 500;

/// What a code attempt came to, as its code now stands; `None` while it is still on its way.
pub(crate) fn resolved(kind: ActionType, code: Option<&AccessCode>) -> Option<AttemptStatus> {
    let failed = |c: &AccessCode| AttemptStatus::Error {
        kind: "failed_to_set_on_device".into(),
        message: c
            .last_error
            .clone()
            .unwrap_or_else(|| "the lock's vendor refused the code".into()),
    };
    let gone = || AttemptStatus::Error {
        kind: "access_code_not_found".into(),
        message: "the code was deleted before it was set".into(),
    };
    let Some(c) = code else {
        return Some(gone());
    };
    if kind == ActionType::DeleteAccessCode {
        return match c.status {
            CodeStatus::Removed => Some(AttemptStatus::Success),
            CodeStatus::Removing => None,
            _ => Some(AttemptStatus::Error {
                kind: "failed_to_remove_from_device".into(),
                message: c
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "the code could not be removed".into()),
            }),
        };
    }
    match c.status {
        CodeStatus::Set | CodeStatus::Scheduled => Some(AttemptStatus::Success),
        CodeStatus::Setting => None,
        CodeStatus::Failed => Some(failed(c)),
        CodeStatus::Removing | CodeStatus::Removed => Some(gone()),
    }
}

/// Stores the attempt of a code write (finished already when the code is) and answers it.
pub(crate) async fn code_attempt(
    s: &AppState,
    caller: &Caller,
    kind: ActionType,
    code: &AccessCode,
) -> SeamResult<Value> {
    let a = ActionAttempt {
        access_code_id: Some(code.id),
        status: resolved(kind, Some(code)).unwrap_or(AttemptStatus::Pending),
        ..ActionAttempt::new(caller.org, kind, code.lock_id, s.now())
    };
    s.store.insert_action_attempt(&a).await?;
    let result = match (&a.status, kind) {
        (AttemptStatus::Success, ActionType::DeleteAccessCode) => None,
        (AttemptStatus::Success, _) => {
            Some(json!({"access_code": super::codes::code_view(s, caller, code).await?}))
        }
        _ => None,
    };
    Ok(views::attempt(&a, result))
}

/// An attempt as it stands now: a pending code attempt is settled by its code.
async fn settled(s: &AppState, caller: &Caller, mut a: ActionAttempt) -> SeamResult<Value> {
    if a.status == AttemptStatus::Pending
        && !a.action_type.is_door()
        && let Some(id) = a.access_code_id
    {
        let code = s.store.get_access_code(caller.org, id).await?;
        if let Some(done) = resolved(a.action_type, code.as_ref()) {
            // Another reader may have ended it first: only then is it read again.
            if s.store.finish_action_attempt(a.id, &done, s.now()).await? {
                a.status = done;
            } else {
                a = s
                    .store
                    .get_action_attempt(caller.org, a.id)
                    .await?
                    .unwrap_or(a);
            }
        }
    }
    let result = match a.status {
        AttemptStatus::Success => attempt_result(s, caller, &a).await?,
        _ => None,
    };
    Ok(views::attempt(&a, result))
}

pub async fn get(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.0;
    r.params.required("action_attempt_id")?;
    let a = match r.params.id::<ActionAttemptId>("action_attempt_id")? {
        Some(id) => s.store.get_action_attempt(caller.org, id).await?,
        None => None,
    };
    let Some(a) = a else {
        return Err(super::wire::SeamError::Typed {
            status: axum::http::StatusCode::NOT_FOUND,
            kind: "action_attempt_not_found",
            message: "Action attempt not found".into(),
            data: Some(json!({"action_attempt_id": r.params.str("action_attempt_id")?})),
        });
    };
    Ok(reply(vec![(
        "action_attempt",
        settled(&s, &caller, a).await?,
    )]))
}

pub async fn list(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    let page = Paging::read(&p, ATTEMPTS_PAGE)?;
    let ids: Option<Vec<ActionAttemptId>> = p
        .strs("action_attempt_ids")?
        .map(|ids| ids.iter().filter_map(|i| i.parse().ok()).collect());
    let lock: Option<LockId> = match p.str("device_id")? {
        Some(d) => Some(d.parse().map_err(|_| not_found("lock"))?),
        None => None,
    };
    let after = page.after.as_deref().and_then(|a| a.parse().ok());
    let rows = s
        .store
        .list_action_attempts(caller.org, ids.as_deref(), lock, page.limit + 1, after)
        .await?;
    let (rows, pagination) = page.page(rows, |a| a.id.to_string());
    let mut out = Vec::with_capacity(rows.len());
    for a in rows {
        out.push(settled(&s, &caller, a).await?);
    }
    Ok(reply(vec![
        ("action_attempts", json!(out)),
        ("pagination", pagination),
    ]))
}

/// The end of an operation as an attempt's status.
fn outcome(done: Result<Result<(), ApiError>, tokio::time::error::Elapsed>) -> AttemptStatus {
    match done {
        Ok(Ok(())) => AttemptStatus::Success,
        Ok(Err(e)) => AttemptStatus::Error {
            kind: e.status_code().1.to_owned(),
            message: e.public_message(),
        },
        Err(_) => AttemptStatus::Error {
            kind: "provider_timeout".into(),
            message: "the vendor did not answer in time; the door may have moved: read the device"
                .into(),
        },
    }
}

async fn door(s: AppState, r: SeamRequest, kind: ActionType) -> SeamResult<Response> {
    let caller = r.caller.0;
    let lock = lock_of(&s, &caller, &r.params).await?;
    if !lock.capabilities.remote_unlock {
        return Err(
            ApiError::unsupported("be operated remotely: it has no gateway or Wi-Fi").into(),
        );
    }
    let mut a = ActionAttempt::new(caller.org, kind, lock.id, s.now());
    s.store.insert_action_attempt(&a).await?;
    let (id, task_state) = (a.id, s.clone());
    let mut task = tokio::spawn(async move {
        let s = task_state;
        let unlock = kind == ActionType::UnlockDoor;
        let done = tokio::time::timeout(
            s.settings.vendor_timeout,
            locks::operate(s.clone(), caller, lock.id.to_string(), unlock),
        )
        .await
        .map(|r| r.map(|_| ()));
        if let Ok(Err(e)) = &done {
            tracing::info!(attempt = %id, lock = %lock.id, error = %e, "a door operation failed");
        }
        let status = outcome(done);
        match s.store.finish_action_attempt(id, &status, s.now()).await {
            Ok(_) => Some(status),
            Err(e) => {
                tracing::warn!(attempt = %id, error = %lockbridge_core::provider::error_chain(&e), "could not record an attempt's end");
                None
            }
        }
    });
    if let Ok(Ok(Some(status))) = tokio::time::timeout(DOOR_WAIT, &mut task).await {
        a.status = status;
    }
    Ok(reply(vec![("action_attempt", views::attempt(&a, None))]))
}

pub async fn unlock_door(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    door(s, r, ActionType::UnlockDoor).await
}

pub async fn lock_door(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    door(s, r, ActionType::LockDoor).await
}
