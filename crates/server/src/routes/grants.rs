//! `/v1/grants`: one person's access to several locks, possibly of several vendors. Everything
//! is checked against every lock before anything is stored or sent; the grant and its codes
//! are stored in one transaction; the codes are then worked at once, several at a time.

use lockbridge_app::AppError;
use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use futures_util::StreamExt;
use lockbridge_core::grants::{Grant, GrantStatus, SharedCodePolicy};
use lockbridge_core::ids::{GrantId, LockId};
use lockbridge_core::model::{CodeStatus, Lock, Schedule, Scheduling};
use lockbridge_core::shared_pin::{common_rules, shared_pin};
use lockbridge_core::time::Millis;
use lockbridge_store::{InsertError, StoreError};
use serde::Deserialize;

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller, Fingerprinted};
use crate::query::{Page, Query};
use crate::routes::access_codes::idempotency_key;
use crate::state::AppState;
use lockbridge_app::engine;
use lockbridge_app::grants::{bring, code_for, settle, work_and_settle};

pub fn router() -> Api {
    let m = Access::Member;
    Api::new("grants")
        .get(
            "/v1/grants",
            get(list),
            Op::new(m, "The organisation's grants")
                .query(&["limit", "cursor"])
                .returns(200, "GrantList"),
        )
        .post(
            "/v1/grants",
            post(create),
            Op::new(m, "Give one person access to several locks with one PIN")
                .body("NewGrant")
                .returns(201, "Grant"),
        )
        .get(
            "/v1/grants/{id}",
            get(read),
            Op::new(m, "A grant with its codes").returns(200, "Grant"),
        )
        .patch(
            "/v1/grants/{id}",
            axum::routing::patch(update),
            Op::new(m, "Move every code of a grant together")
                .body("GrantChange")
                .returns(200, "Grant"),
        )
        .delete(
            "/v1/grants/{id}",
            axum::routing::delete(remove),
            Op::new(
                m,
                "Revoke every code of a grant (202 while locks have not confirmed)",
            )
            .returns(200, "Grant")
            .also(202, "Grant"),
        )
}

/// At most this many locks in one grant.
const MAX_LOCKS: usize = 100;

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

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::validation("name", "must not be empty"));
    }
    Ok(name.to_owned())
}

/// The grant's locks, each of the organisation, once, and able to hold codes.
async fn load_locks(s: &AppState, caller: &Caller, ids: &[String]) -> ApiResult<Vec<Lock>> {
    if ids.is_empty() || ids.len() > MAX_LOCKS {
        return Err(ApiError::validation(
            "lock_ids",
            format!("must name 1 to {MAX_LOCKS} locks"),
        ));
    }
    let mut seen = HashSet::new();
    let mut locks = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let field = format!("lock_ids[{i}]");
        let lock = match id.parse::<LockId>() {
            Ok(l) => s.store.get_lock(caller.org, l).await?,
            Err(_) => None,
        }
        .ok_or_else(|| {
            ApiError::validation(&field, format!("no lock {id:?} in this organisation"))
        })?;
        if !seen.insert(lock.id) {
            return Err(ApiError::validation(field, format!("{id} is given twice")));
        }
        if !lock.capabilities.access_codes {
            return Err(ApiError::validation(
                field,
                format!(
                    "lock {} \"{}\" does not hold access codes",
                    lock.id, lock.name
                ),
            ));
        }
        locks.push(lock);
    }
    Ok(locks)
}

/// The PIN each lock gets: the given one (refused, naming the lock and the rule, by a lock
/// that cannot take it), one generated to suit every lock, or, when none can, what the policy
/// says. Answers the PINs and the shared one, if there is one.
fn choose_pins(
    locks: &[Lock],
    given: Option<&str>,
    policy: SharedCodePolicy,
) -> ApiResult<(Vec<String>, Option<String>)> {
    if let Some(code) = given {
        for lock in locks {
            if let Err(v) = lock.code_rules.check(code) {
                return Err(ApiError::validation(
                    "code",
                    format!(
                        "lock {} \"{}\" cannot take it: {} (rule {})",
                        lock.id, lock.name, v.message, v.rule
                    ),
                ));
            }
        }
        return Ok((vec![code.to_owned(); locks.len()], Some(code.to_owned())));
    }
    let rules: Vec<_> = locks.iter().map(|l| l.code_rules.clone()).collect();
    match shared_pin(&rules) {
        Ok(pin) => Ok((vec![pin.clone(); locks.len()], Some(pin))),
        Err(groups) if policy == SharedCodePolicy::Fail => {
            let named: Vec<String> = groups
                .iter()
                .map(|g| {
                    let names: Vec<String> = g
                        .iter()
                        .map(|&i| format!("{} \"{}\"", locks[i].id, locks[i].name))
                        .collect();
                    format!("[{}]", names.join(", "))
                })
                .collect();
            Err(ApiError::App(AppError::SharedCodeImpossible {
                message: format!(
                    "no single PIN suits every lock; these groups of locks could each share one: {}",
                    named.join(" ")
                ),
            }))
        }
        Err(groups) => {
            let mut pins = vec![String::new(); locks.len()];
            for g in groups {
                let pin = common_rules(g.iter().map(|&i| &rules[i]))
                    .unwrap_or_else(|| rules[g[0]].clone())
                    .generate();
                for i in g {
                    pins[i].clone_from(&pin);
                }
            }
            Ok((pins, None))
        }
    }
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    request: Fingerprinted<NewGrant>,
) -> ApiResult<(StatusCode, Json<Grant>)> {
    let key = idempotency_key(&headers)?;
    let fingerprint = request.of_request("POST /v1/grants");
    if let Some(k) = &key
        && let Some(first) = first_answer(&s, &caller, k, &fingerprint).await?
    {
        return Ok((StatusCode::CREATED, Json(first)));
    }
    let body = request.body;
    let name = check_name(&body.name)?;
    let locks = load_locks(&s, &caller, &body.lock_ids).await?;
    let now = s.now();
    let mut grant = Grant {
        actor: caller.actor(),
        id: GrantId::new(),
        org_id: caller.org,
        name,
        code: None,
        lock_ids: locks.iter().map(|l| l.id).collect(),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        schedule: body.schedule,
        scheduling: body.scheduling,
        on_shared_code_impossible: body.on_shared_code_impossible,
        status: GrantStatus::Setting,
        access_codes: Vec::new(),
        version: 0,
        applied_version: 0,
        idempotency_key: key.clone(),
        idempotency_fingerprint: key.as_ref().map(|_| fingerprint.clone()),
        created_at: now,
        updated_at: now,
    };
    // A generated PIN may already be on one of the locks: another is drawn.
    for _ in 0..5 {
        let (pins, shared) = choose_pins(
            &locks,
            body.code.as_deref(),
            grant.on_shared_code_impossible,
        )?;
        grant.code = shared;
        let owner = engine::lease_owner();
        let mut codes = Vec::with_capacity(locks.len());
        for (lock, pin) in locks.iter().zip(pins) {
            let mut row = code_for(&s, &grant, lock, pin, now)?;
            if row.status == CodeStatus::Setting {
                // This request works it at once; the engine takes over if it stops.
                row.lease_owner = Some(owner.clone());
                row.lease_until = Some(now + s.settings.code_lease.as_millis() as i64);
                row.attempts = 1;
            }
            codes.push((row, lock.code_rules.max_codes));
        }
        match s.store.insert_grant(&grant, &codes).await {
            Ok(()) => {
                let due = codes
                    .into_iter()
                    .filter(|(c, _)| c.status == CodeStatus::Setting)
                    .map(|(c, _)| c);
                futures_util::stream::iter(due)
                    .for_each_concurrent(16, |code| {
                        let s = &s;
                        async move {
                            if let Err(e) = engine::work(s, code).await {
                                tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "a grant's code could not be worked now");
                            }
                        }
                    })
                    .await;
                let g = settle(&s, grant.id)
                    .await?
                    .ok_or(ApiError::not_found("grant"))?;
                return Ok((StatusCode::CREATED, Json(g)));
            }
            Err((None, InsertError::Store(StoreError::Conflict(_)))) => {
                let k = key.as_deref().unwrap_or_default();
                let first = first_answer(&s, &caller, k, &fingerprint).await?;
                return first
                    .map(|f| (StatusCode::CREATED, Json(f)))
                    .ok_or(ApiError::not_found("grant"));
            }
            Err((Some(i), InsertError::Store(StoreError::Conflict(_)))) if body.code.is_some() => {
                let lock = &locks[i];
                return Err(ApiError::already_exists(format!(
                    "lock {} \"{}\" already holds this code",
                    lock.id, lock.name
                )));
            }
            Err((_, InsertError::Store(StoreError::Conflict(_)))) => continue,
            Err((i, InsertError::Capacity(max))) => {
                // The store names the full lock; a grant always has one.
                let Some(lock) = i.and_then(|i| locks.get(i)).or(locks.first()) else {
                    return Err(ApiError::Internal);
                };
                return Err(ApiError::App(AppError::Provider(
                    lockbridge_core::ProviderError::new(
                        lock.provider,
                        lockbridge_core::ErrorKind::CapacityReached,
                        format!("lock {} holds at most {max} codes", lock.id),
                    ),
                )));
            }
            Err((_, InsertError::Store(e))) => return Err(e.into()),
        }
    }
    Err(ApiError::already_exists(
        "could not draw a PIN that none of the locks holds yet; try again",
    ))
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
) -> ApiResult<Json<Grant>> {
    let g = load(&s, &caller, &id).await?;
    Ok(Json(
        settle(&s, g.id)
            .await?
            .ok_or(ApiError::not_found("grant"))?,
    ))
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(page): Query<Page<GrantId>>,
) -> ApiResult<Json<super::List<Grant>>> {
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
    Ok(Json(super::List::of(out, page.limit, |g| g.id.to_string())))
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<GrantChange>,
) -> ApiResult<Json<Grant>> {
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
    for _ in 0..5 {
        let before = load(&s, &caller, &id).await?;
        if before.status.is_revoked() {
            return Err(ApiError::validation(
                "status",
                "a revoked grant cannot be changed",
            ));
        }
        let mut g = before.clone();
        g.actor = caller.actor();
        if let Some(name) = &body.name {
            g.name = check_name(name)?;
        }
        if body.starts_at.is_some() {
            (g.starts_at, g.ends_at) = (body.starts_at, body.ends_at);
        }
        if let Some(schedule) = &body.schedule {
            g.schedule = schedule.clone();
        }
        if let Some(scheduling) = body.scheduling {
            g.scheduling = scheduling;
        }
        let locks = match &body.lock_ids {
            Some(ids) => load_locks(&s, &caller, ids).await?,
            None => {
                let ids: Vec<String> = g.lock_ids.iter().map(|l| l.to_string()).collect();
                load_locks(&s, &caller, &ids).await?
            }
        };
        g.lock_ids = locks.iter().map(|l| l.id).collect();
        if let Some(code) = &body.code {
            g.code = choose_pins(&locks, Some(code), g.on_shared_code_impossible)?.1;
        } else if let Some(pin) = &g.code
            && locks.iter().any(|l| l.code_rules.check(pin).is_err())
        {
            // A new lock cannot take the shared PIN: each lock keeps a PIN that suits it.
            if g.on_shared_code_impossible == SharedCodePolicy::Fail {
                return Err(ApiError::App(AppError::SharedCodeImpossible {
                    message: "the grant's PIN does not suit every lock named".into(),
                }));
            }
            g.code = None;
        }
        // Every lock checked before anything is written.
        let now = s.now();
        for lock in &locks {
            let pin = g.code.clone().unwrap_or_else(|| lock.code_rules.generate());
            code_for(&s, &g, lock, pin, now)?;
        }
        if let Some(pin) = &body.code {
            for lock in &locks {
                let taken = s
                    .store
                    .live_codes(lock.id)
                    .await?
                    .into_iter()
                    .any(|c| c.code == *pin && c.grant_id != Some(g.id));
                if taken {
                    return Err(ApiError::already_exists(format!(
                        "lock {} \"{}\" already holds this code",
                        lock.id, lock.name
                    )));
                }
            }
        }
        if !s
            .store
            .update_grant_if(&mut g, before.version, now, &[])
            .await?
        {
            continue;
        }
        let due = bring(&s, g.id).await?;
        return Ok(Json(work_and_settle(&s, g.id, due).await?));
    }
    Err(ApiError::already_exists(
        "the grant changed while this request ran; read it and try again",
    ))
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Grant>)> {
    for _ in 0..5 {
        let before = load(&s, &caller, &id).await?;
        let mut g = before.clone();
        if !g.status.is_revoked() {
            g.status = GrantStatus::Removing;
            g.actor = caller.actor();
            if !s
                .store
                .update_grant_if(&mut g, before.version, s.now(), &[])
                .await?
            {
                continue;
            }
        }
        let due = bring(&s, g.id).await?;
        let g = work_and_settle(&s, g.id, due).await?;
        let status = if g.status == GrantStatus::Removed {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        return Ok((status, Json(g)));
    }
    Err(ApiError::already_exists(
        "the grant changed while this request ran; read it and try again",
    ))
}
