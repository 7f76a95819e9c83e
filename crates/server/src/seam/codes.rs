//! `/seam/access_codes/*`: Seam's access codes over `/v1`'s own code and grant writes (the
//! same handlers and the same engine; a code made on one surface is the other's too).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lockbridge_app::grant_writes as writes;
use lockbridge_core::grants::{Grant, SharedCodePolicy};
use lockbridge_core::ids::{AccessCodeId, GrantId, LockId};
use lockbridge_core::model::{AccessCode, CodeStatus, ExternalPolicy, Lock, Scheduling};
use lockbridge_core::seam::{ActionAttempt, ActionType};
use lockbridge_core::time::Millis;
use serde_json::{Value, json};

use super::attempts::code_attempt;
use super::views::{self, COMMON_KEY};
use super::wire::{Paging, Params, SeamError, SeamRequest, SeamResult, invalid, not_found, reply};
use crate::error::ApiError;
use crate::extract::{Caller, Fingerprinted};
use crate::routes::{access_codes, code_changes};
use crate::state::AppState;
use crate::views::View;

/// Seam's default page of access codes (a plain `.list()` expects them all).
const CODES_PAGE: u32 = 55_000;

/// The lock `device_id` names: from the lock list in memory (the `/v1` routes the Seam ones
/// call read it fresh where they act on it), else from the store.
pub(crate) async fn lock_of(s: &AppState, caller: &Caller, p: &Params) -> SeamResult<Lock> {
    let Some(id) = p.id::<LockId>("device_id")? else {
        p.required("device_id")?;
        return Err(not_found("lock"));
    };
    let all = s.locks.get(&s.store, caller.org).await?;
    if let Ok(i) = all.binary_search_by(|c| c.lock.id.cmp(&id)) {
        return Ok(all[i].lock.clone());
    }
    s.store
        .get_lock(caller.org, id)
        .await?
        .ok_or(not_found("lock"))
}

/// The code `access_code_id` names, or the one holding `code` on `device_id`; `managed` says
/// which kind the route serves. A removed code no longer exists.
pub(crate) async fn code_of(
    s: &AppState,
    caller: &Caller,
    p: &Params,
    managed: bool,
) -> SeamResult<AccessCode> {
    let found = if p.str("access_code_id")?.is_some() {
        match p.id::<AccessCodeId>("access_code_id")? {
            Some(id) => s.store.get_access_code(caller.org, id).await?,
            None => None,
        }
    } else if let (Some(_), Some(pin)) = (p.str("device_id")?, p.str("code")?) {
        let lock = lock_of(s, caller, p).await?;
        s.store
            .list_access_codes(caller.org, lock.id, 10_000, None)
            .await?
            .into_iter()
            .find(|c| c.code == pin && c.managed == managed)
    } else {
        return Err(invalid(
            "access_code_id",
            "Required (or device_id and code)",
        ));
    };
    match found {
        Some(c) if c.status != CodeStatus::Removed && c.managed == managed => Ok(c),
        _ => Err(SeamError::Typed {
            status: StatusCode::NOT_FOUND,
            kind: "access_code_not_found",
            message: "Could not find an access_code with device_id or access_code_id".into(),
            data: Some(json!({"access_code_id": p.str("access_code_id")?})),
        }),
    }
}

/// The common code keys of the grants `codes` belong to.
pub(crate) async fn keys_of(
    s: &AppState,
    caller: &Caller,
    codes: &[AccessCode],
) -> SeamResult<HashMap<GrantId, String>> {
    let mut keys = HashMap::new();
    for g in codes.iter().filter_map(|c| c.grant_id) {
        if keys.contains_key(&g) {
            continue;
        }
        if let Some(grant) = s.store.get_grant(caller.org, g).await? {
            keys.insert(g, views::common_key(&grant));
        }
    }
    Ok(keys)
}

pub(crate) async fn code_view(s: &AppState, caller: &Caller, c: &AccessCode) -> SeamResult<Value> {
    let keys = keys_of(s, caller, std::slice::from_ref(c)).await?;
    Ok(views::access_code(c, &keys, s.now()))
}

/// The grant a caller's `common_code_key` names: one made for that key, or a grant's id.
async fn grant_of_key(s: &AppState, caller: &Caller, key: &str) -> SeamResult<Option<Grant>> {
    let made = s
        .store
        .grant_by_key(caller.org, &format!("{COMMON_KEY}{key}"))
        .await?;
    Ok(match (made, key.parse::<GrantId>()) {
        (Some(g), _) => Some(g),
        (None, Ok(id)) => s.store.get_grant(caller.org, id).await?,
        (None, Err(_)) => None,
    })
}

pub(crate) fn policy(p: &Params) -> SeamResult<Option<ExternalPolicy>> {
    let allowed = match p.bool("is_external_modification_allowed")? {
        Some(b) => Some(b),
        None => p.bool("allow_external_modification")?,
    };
    Ok(allowed.map(|a| {
        if a {
            ExternalPolicy::Accept
        } else {
            ExternalPolicy::Restore
        }
    }))
}

fn scheduling(p: &Params) -> SeamResult<Scheduling> {
    Ok(match p.bool("prefer_native_scheduling")? {
        Some(false) => Scheduling::JustInTime,
        _ => Scheduling::Auto,
    })
}

/// `starts_at` and `ends_at`: both or neither (lockbridge's rule), `null` as absent.
fn period(p: &Params) -> SeamResult<(Option<Millis>, Option<Millis>)> {
    let starts = p.time("starts_at")?.flatten();
    let ends = p.time("ends_at")?.flatten();
    match (starts, ends) {
        (Some(_), None) => Err(invalid("ends_at", "Required with starts_at")),
        (None, Some(_)) => Err(invalid("starts_at", "Required with ends_at")),
        both => Ok(both),
    }
}

fn refuse_unsupported(p: &Params) -> SeamResult<()> {
    if p.bool("use_backup_access_code_pool")? == Some(true) {
        return Err(invalid(
            "use_backup_access_code_pool",
            "lockbridge keeps no pool of backup codes",
        ));
    }
    Ok(())
}

/// A duplicate PIN is Seam's `duplicate_access_code`.
fn duplicate(e: ApiError, pin: Option<&str>) -> SeamError {
    match e.status_code().1 {
        "already_exists" => SeamError::Typed {
            status: StatusCode::CONFLICT,
            kind: "duplicate_access_code",
            message: format!(
                "Cannot set duplicate access code {}",
                pin.unwrap_or_default()
            ),
            data: None,
        },
        _ => e.into(),
    }
}

/// `access_codes.create`.
pub async fn create(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    refuse_unsupported(&p)?;
    let lock = lock_of(&s, &caller, &p).await?;
    let name = p.str("name")?;
    let pin = p.str("code")?;
    let (starts_at, ends_at) = period(&p)?;
    let row = if p.bool("is_offline_access_code")? == Some(true)
        || p.bool("use_offline_access_code")? == Some(true)
    {
        if pin.is_some() {
            return Err(invalid(
                "code",
                "an offline code is computed by the lock: leave code out",
            ));
        }
        use lockbridge_core::provider::OfflineKind;
        let kind = if p.bool("is_one_time_use")? == Some(true) {
            OfflineKind::OneTime
        } else if ends_at.is_some() {
            OfflineKind::TimeBound
        } else {
            OfflineKind::Permanent
        };
        let conn = crate::routes::connections::load_id(&s, &caller, lock.connection_id).await?;
        let start = starts_at.unwrap_or_else(|| s.now());
        lockbridge_app::offline::issue(
            &s,
            &lock,
            &conn,
            kind,
            name,
            (start, ends_at),
            caller.actor(),
        )
        .await
        .map_err(ApiError::from)?
    } else if let Some(key) = p.str("common_code_key")? {
        in_common(
            &s,
            &caller,
            &lock,
            &key,
            name,
            pin.clone(),
            (starts_at, ends_at),
        )
        .await?
    } else {
        let pin = match (pin, p.number("preferred_code_length")?) {
            (None, Some(len)) => Some(lock.code_rules.generate_of(len.min(32) as u8)),
            (pin, _) => pin,
        };
        let body = access_codes::NewCode {
            name,
            code: pin.clone(),
            starts_at,
            ends_at,
            schedule: None,
            scheduling: scheduling(&p)?,
            on_external_change: policy(&p)?,
        };
        let request = Fingerprinted {
            body,
            fingerprint: String::new(),
        };
        let made = access_codes::create(
            State(s.clone()),
            caller.clone(),
            Path(lock.id.to_string()),
            HeaderMap::new(),
            request,
        )
        .await;
        match made {
            Ok((_, View(row))) => row,
            Err(e) => return Err(duplicate(e, pin.as_deref())),
        }
    };
    let attempt = code_attempt(&s, &caller, ActionType::CreateAccessCode, &row).await?;
    let view = code_view(&s, &caller, &row).await?;
    Ok(reply(vec![
        ("access_code", view),
        ("action_attempt", attempt),
    ]))
}

/// A code under a caller's `common_code_key`: the key's grant gains this lock (keeping its
/// PIN), or a grant is made for the key.
async fn in_common(
    s: &AppState,
    caller: &Caller,
    lock: &Lock,
    key: &str,
    name: Option<String>,
    pin: Option<String>,
    (starts_at, ends_at): (Option<Millis>, Option<Millis>),
) -> SeamResult<AccessCode> {
    let grant = match grant_of_key(s, caller, key).await? {
        Some(g) if g.lock_ids.contains(&lock.id) => g,
        Some(g) => {
            if pin.as_ref().is_some_and(|p| g.code.as_ref() != Some(p)) {
                return Err(invalid(
                    "code",
                    "codes sharing a common_code_key share their PIN",
                ));
            }
            let mut ids: Vec<String> = g.lock_ids.iter().map(|l| l.to_string()).collect();
            ids.push(lock.id.to_string());
            let edit = writes::GrantEdit {
                lock_ids: Some(ids),
                ..Default::default()
            };
            writes::change(s, caller.org, g.id, caller.actor(), edit)
                .await
                .map_err(ApiError::from)?
        }
        None => {
            let asked = writes::NewGrant {
                name: name.unwrap_or_else(|| key.to_owned()),
                lock_ids: vec![lock.id.to_string()],
                code: pin,
                starts_at,
                ends_at,
                schedule: None,
                scheduling: Scheduling::Auto,
                on_shared_code_impossible: SharedCodePolicy::Fail,
                idempotency: Some((format!("{COMMON_KEY}{key}"), "seam".into())),
            };
            match writes::create(s, caller.org, caller.actor(), asked)
                .await
                .map_err(ApiError::from)?
            {
                Some(g) => g,
                // Another request made the key's grant first: join it.
                None => {
                    return Box::pin(in_common(s, caller, lock, key, None, None, (None, None)))
                        .await;
                }
            }
        }
    };
    let settled = lockbridge_app::grants::settle(s, grant.id)
        .await
        .map_err(ApiError::from)?
        .unwrap_or(grant);
    settled
        .access_codes
        .into_iter()
        .find(|c| c.lock_id == lock.id && c.status.is_live())
        .ok_or(not_found("access code"))
}

/// `access_codes.create_multiple` (PUT): one grant; its codes share one PIN where they can.
pub async fn create_multiple(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    refuse_unsupported(&p)?;
    let ids = p
        .strs("device_ids")?
        .ok_or_else(|| invalid("device_ids", "Required"))?;
    let (starts_at, ends_at) = period(&p)?;
    let on_impossible = match p.str("behavior_when_code_cannot_be_shared")?.as_deref() {
        None | Some("throw") => SharedCodePolicy::Fail,
        Some("create_random_code") => SharedCodePolicy::PerLock,
        Some(_) => {
            return Err(invalid(
                "behavior_when_code_cannot_be_shared",
                "Expected 'throw' or 'create_random_code'",
            ));
        }
    };
    let asked = writes::NewGrant {
        name: p.str("name")?.unwrap_or_else(|| "Access code".to_owned()),
        lock_ids: ids,
        code: p.str("code")?,
        starts_at,
        ends_at,
        schedule: None,
        scheduling: scheduling(&p)?,
        on_shared_code_impossible: on_impossible,
        idempotency: None,
    };
    let grant = writes::create(&s, caller.org, caller.actor(), asked)
        .await
        .map_err(ApiError::from)?
        .ok_or(not_found("access code"))?;
    let grant = lockbridge_app::grants::settle(&s, grant.id)
        .await
        .map_err(ApiError::from)?
        .unwrap_or(grant);
    let keys = HashMap::from([(grant.id, views::common_key(&grant))]);
    let now = s.now();
    let codes: Vec<Value> = grant
        .access_codes
        .iter()
        .filter(|c| c.status.is_live())
        .map(|c| views::access_code(c, &keys, now))
        .collect();
    Ok(reply(vec![("access_codes", json!(codes))]))
}

/// `access_codes.update_multiple`: the whole group of a `common_code_key` moves together.
pub async fn update_multiple(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    let key = p.required("common_code_key")?;
    let grant = grant_of_key(&s, &caller, &key)
        .await?
        .ok_or(not_found("access code"))?;
    let given = p.given("starts_at") || p.given("ends_at");
    let edit = writes::GrantEdit {
        name: p.str("name")?,
        period: given.then_some(period(&p)?),
        ..Default::default()
    };
    writes::change(&s, caller.org, grant.id, caller.actor(), edit)
        .await
        .map_err(ApiError::from)?;
    Ok(reply(vec![]))
}

pub async fn get(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.0;
    let c = code_of(&s, &caller, &r.params, true).await?;
    Ok(reply(vec![(
        "access_code",
        code_view(&s, &caller, &c).await?,
    )]))
}

/// The live codes of `device_id` (managed or found, as `managed` says) after the cursor, or
/// those of `access_code_ids`.
pub(crate) async fn codes_listed(
    s: &AppState,
    caller: &Caller,
    p: &Params,
    managed: bool,
    page: &Paging,
) -> SeamResult<Vec<AccessCode>> {
    if let Some(ids) = p.strs("access_code_ids")? {
        let mut out = Vec::new();
        for id in ids.iter().filter_map(|i| i.parse::<AccessCodeId>().ok()) {
            if let Some(c) = s.store.get_access_code(caller.org, id).await? {
                out.push(c);
            }
        }
        out.retain(|c| c.managed == managed && c.status != CodeStatus::Removed);
        return Ok(out);
    }
    if p.str("device_id")?.is_none() {
        return Err(invalid("device_id", "Required (or access_code_ids)"));
    }
    let lock = lock_of(s, caller, p).await?;
    if page.after.is_none() {
        access_codes::look_at_lock(s, caller, &lock, false).await?;
    }
    let after = page.after.as_deref().and_then(|a| a.parse().ok());
    // Managed and found codes share the lock's list: read on until a page of the kind asked.
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let rows = s
            .store
            .list_access_codes(caller.org, lock.id, 1_000, cursor)
            .await?;
        let done = rows.len() < 1_000;
        cursor = rows.last().map(|c| c.id);
        out.extend(rows.into_iter().filter(|c| c.managed == managed));
        if done || out.len() > page.limit as usize {
            break;
        }
    }
    Ok(out)
}

pub async fn list(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    let page = Paging::read(&p, CODES_PAGE)?;
    let rows = codes_listed(&s, &caller, &p, true, &page).await?;
    let (rows, pagination) = page.page(rows, |c| c.id.to_string());
    let keys = keys_of(&s, &caller, &rows).await?;
    let now = s.now();
    let codes: Vec<Value> = rows
        .iter()
        .map(|c| views::access_code(c, &keys, now))
        .collect();
    Ok(reply(vec![
        ("access_codes", json!(codes)),
        ("pagination", pagination),
    ]))
}

/// `access_codes.update`: `/v1`'s PATCH of the code.
pub async fn update(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    p.required("access_code_id")?;
    let before = code_of(&s, &caller, &p, true).await?;
    if p.str("type")?.as_deref() == Some("ongoing") && before.starts_at.is_some()
        || (p.given("starts_at") && p.time("starts_at")?.is_some_and(|t| t.is_none()))
    {
        return Err(invalid(
            "type",
            "a time-bound code cannot become ongoing here: delete it and create an ongoing one",
        ));
    }
    let (mut starts_at, mut ends_at) =
        (p.time("starts_at")?.flatten(), p.time("ends_at")?.flatten());
    if starts_at.is_some() != ends_at.is_some() {
        starts_at = starts_at.or(before.starts_at);
        ends_at = ends_at.or(before.ends_at);
    }
    let change = code_changes::Change {
        name: p.str("name")?,
        code: p.str("code")?,
        starts_at,
        ends_at,
        on_external_change: policy(&p)?,
        schedule: None,
        scheduling: None,
    };
    let pin = change.code.clone();
    let View(row) = code_changes::update(
        State(s.clone()),
        caller.clone(),
        Path(before.id.to_string()),
        crate::extract::Body(change),
    )
    .await
    .map_err(|e| duplicate(e, pin.as_deref()))?;
    let attempt = code_attempt(&s, &caller, ActionType::UpdateAccessCode, &row).await?;
    Ok(reply(vec![("action_attempt", attempt)]))
}

/// `access_codes.delete` (and `unmanaged.delete`): `/v1`'s revocation, idempotent as the SDKs
/// retry a DELETE (a code already deleted answers a finished attempt).
pub(crate) async fn delete_code(
    s: AppState,
    r: SeamRequest,
    managed: bool,
) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    let id = match p.id::<AccessCodeId>("access_code_id")? {
        Some(id) => id,
        None if p.str("access_code_id")?.is_some() => return Err(not_found("access code")),
        None => code_of(&s, &caller, &p, managed).await?.id,
    };
    let (_, View(row)) =
        code_changes::remove(State(s.clone()), caller.clone(), Path(id.to_string())).await?;
    let attempt = code_attempt(&s, &caller, ActionType::DeleteAccessCode, &row).await?;
    Ok(reply(vec![("action_attempt", attempt)]))
}

pub async fn delete(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    delete_code(s, r, true).await
}

pub async fn generate_code(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let lock = lock_of(&s, &r.caller.0, &r.params).await?;
    let code = lock.code_rules.generate();
    Ok(reply(vec![(
        "generated_code",
        json!({"device_id": lock.id.to_string(), "code": code}),
    )]))
}

/// A finished code attempt's `result`: the code as it now stands (nothing for a delete).
pub(crate) async fn attempt_result(
    s: &AppState,
    caller: &Caller,
    a: &ActionAttempt,
) -> SeamResult<Option<Value>> {
    if a.action_type == ActionType::DeleteAccessCode {
        return Ok(None);
    }
    let Some(id) = a.access_code_id else {
        return Ok(None);
    };
    Ok(match s.store.get_access_code(caller.org, id).await? {
        Some(c) if c.status != CodeStatus::Removed => {
            Some(json!({"access_code": code_view(s, caller, &c).await?}))
        }
        _ => None,
    })
}
