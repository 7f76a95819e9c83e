//! Asking for grants: one person's access to several locks, possibly of several vendors.
//! Everything is checked against every lock before anything is stored or sent; a grant and its
//! codes are stored in one transaction; the codes are then worked at once, several at a time.
//! A change is written to the grant first and its codes follow ([`crate::grants`]).

use std::collections::HashSet;

use futures_util::StreamExt;
use lockbridge_core::events::Actor;
use lockbridge_core::grants::{Grant, GrantStatus, SharedCodePolicy};
use lockbridge_core::ids::{GrantId, LockId, OrgId};
use lockbridge_core::model::{CodeStatus, Lock, Schedule, Scheduling};
use lockbridge_core::shared_pin::{common_rules, shared_pin};
use lockbridge_core::time::Millis;
use lockbridge_store::{InsertError, StoreError};

use crate::grants::{bring, code_for, settle, work_and_settle};
use crate::{AppError, AppResult, Service, engine};

/// At most this many locks in one grant.
pub const MAX_LOCKS: usize = 100;

/// A grant asked for.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub name: String,
    /// Lock ids as given (a bad one is named by its place, `lock_ids[i]`).
    pub lock_ids: Vec<String>,
    /// The PIN every lock holds; generated to suit them all when absent.
    pub code: Option<String>,
    pub starts_at: Option<Millis>,
    pub ends_at: Option<Millis>,
    pub schedule: Option<Schedule>,
    pub scheduling: Scheduling,
    pub on_shared_code_impossible: SharedCodePolicy,
    /// The caller's `Idempotency-Key` and the fingerprint of its request.
    pub idempotency: Option<(String, String)>,
}

/// A change of a grant; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct GrantEdit {
    pub name: Option<String>,
    pub code: Option<String>,
    /// A new period (both ends).
    pub period: Option<(Option<Millis>, Option<Millis>)>,
    /// A new weekly window, or `Some(None)` to drop it.
    pub schedule: Option<Option<Schedule>>,
    pub scheduling: Option<Scheduling>,
    pub lock_ids: Option<Vec<String>>,
}

pub fn check_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::validation("name", "must not be empty"));
    }
    Ok(name.to_owned())
}

/// The grant's locks, each of the organisation, once, and able to hold codes.
pub async fn load_locks(s: &Service, org: OrgId, ids: &[String]) -> AppResult<Vec<Lock>> {
    if ids.is_empty() || ids.len() > MAX_LOCKS {
        return Err(AppError::validation(
            "lock_ids",
            format!("must name 1 to {MAX_LOCKS} locks"),
        ));
    }
    let mut seen = HashSet::new();
    let mut locks = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let field = format!("lock_ids[{i}]");
        let lock = match id.parse::<LockId>() {
            Ok(l) => s.store.get_lock(org, l).await?,
            Err(_) => None,
        }
        .ok_or_else(|| {
            AppError::validation(&field, format!("no lock {id:?} in this organisation"))
        })?;
        if !seen.insert(lock.id) {
            return Err(AppError::validation(field, format!("{id} is given twice")));
        }
        if !lock.capabilities.access_codes {
            return Err(AppError::validation(
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

fn already(message: impl Into<String>) -> AppError {
    AppError::AlreadyExists {
        message: message.into(),
    }
}

/// The PIN each lock gets: the given one (refused, naming the lock and the rule, by a lock
/// that cannot take it), one generated to suit every lock, or, when none can, what the policy
/// says. Answers the PINs and the shared one, if there is one.
pub fn choose_pins(
    locks: &[Lock],
    given: Option<&str>,
    policy: SharedCodePolicy,
) -> AppResult<(Vec<String>, Option<String>)> {
    if let Some(code) = given {
        for lock in locks {
            if let Err(v) = lock.code_rules.check(code) {
                return Err(AppError::validation(
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
            Err(AppError::SharedCodeImpossible {
                message: format!(
                    "no single PIN suits every lock; these groups of locks could each share one: {}",
                    named.join(" ")
                ),
            })
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

/// Stores a grant and its codes and works them at once. `Ok(None)`: the idempotency key was
/// taken by a request at the same moment (the caller answers with that one's grant).
pub async fn create(
    s: &Service,
    org: OrgId,
    actor: Actor,
    body: NewGrant,
) -> AppResult<Option<Grant>> {
    let name = check_name(&body.name)?;
    let locks = load_locks(s, org, &body.lock_ids).await?;
    let now = s.now();
    let (key, fingerprint) = body.idempotency.clone().unzip();
    let mut grant = Grant {
        actor,
        id: GrantId::new(),
        org_id: org,
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
        idempotency_key: key,
        idempotency_fingerprint: fingerprint,
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
            let mut row = code_for(s, &grant, lock, pin, now)?;
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
                    .for_each_concurrent(16, |code| async move {
                        if let Err(e) = engine::work(s, code).await {
                            tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "a grant's code could not be worked now");
                        }
                    })
                    .await;
                return settle(s, grant.id).await;
            }
            Err((None, InsertError::Store(StoreError::Conflict(_)))) => return Ok(None),
            Err((Some(i), InsertError::Store(StoreError::Conflict(_)))) if body.code.is_some() => {
                let lock = &locks[i];
                return Err(already(format!(
                    "lock {} \"{}\" already holds this code",
                    lock.id, lock.name
                )));
            }
            Err((_, InsertError::Store(StoreError::Conflict(_)))) => continue,
            Err((i, InsertError::Capacity(max))) => {
                // The store names the full lock; a grant always has one.
                let lock = i.and_then(|i| locks.get(i)).unwrap_or(&locks[0]);
                return Err(AppError::Provider(lockbridge_core::ProviderError::new(
                    lock.provider,
                    lockbridge_core::ErrorKind::CapacityReached,
                    format!("lock {} holds at most {max} codes", lock.id),
                )));
            }
            Err((_, InsertError::Store(e))) => return Err(e.into()),
        }
    }
    Err(already(
        "could not draw a PIN that none of the locks holds yet; try again",
    ))
}

async fn load(s: &Service, org: OrgId, id: GrantId) -> AppResult<Grant> {
    s.store
        .get_grant(org, id)
        .await?
        .ok_or(AppError::NotFound("grant"))
}

/// Changes a grant and moves every code of it together.
pub async fn change(
    s: &Service,
    org: OrgId,
    id: GrantId,
    actor: Actor,
    edit: GrantEdit,
) -> AppResult<Grant> {
    for _ in 0..5 {
        let before = load(s, org, id).await?;
        if before.status.is_revoked() {
            return Err(AppError::validation(
                "status",
                "a revoked grant cannot be changed",
            ));
        }
        let mut g = before.clone();
        g.actor = actor.clone();
        if let Some(name) = &edit.name {
            g.name = check_name(name)?;
        }
        if let Some((from, until)) = edit.period {
            (g.starts_at, g.ends_at) = (from, until);
        }
        if let Some(schedule) = &edit.schedule {
            g.schedule = schedule.clone();
        }
        if let Some(scheduling) = edit.scheduling {
            g.scheduling = scheduling;
        }
        let ids = edit
            .lock_ids
            .clone()
            .unwrap_or_else(|| g.lock_ids.iter().map(|l| l.to_string()).collect());
        let locks = load_locks(s, org, &ids).await?;
        g.lock_ids = locks.iter().map(|l| l.id).collect();
        if let Some(code) = &edit.code {
            g.code = choose_pins(&locks, Some(code), g.on_shared_code_impossible)?.1;
        } else if let Some(pin) = &g.code
            && locks.iter().any(|l| l.code_rules.check(pin).is_err())
        {
            // A new lock cannot take the shared PIN: each lock keeps a PIN that suits it.
            if g.on_shared_code_impossible == SharedCodePolicy::Fail {
                return Err(AppError::SharedCodeImpossible {
                    message: "the grant's PIN does not suit every lock named".into(),
                });
            }
            g.code = None;
        }
        // Every lock checked before anything is written.
        let now = s.now();
        for lock in &locks {
            let pin = g.code.clone().unwrap_or_else(|| lock.code_rules.generate());
            code_for(s, &g, lock, pin, now)?;
        }
        if let Some(pin) = &edit.code {
            for lock in &locks {
                let taken = s
                    .store
                    .live_codes(lock.id)
                    .await?
                    .into_iter()
                    .any(|c| c.code == *pin && c.grant_id != Some(g.id));
                if taken {
                    return Err(already(format!(
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
        let due = bring(s, g.id).await?;
        return work_and_settle(s, g.id, due).await;
    }
    Err(already(
        "the grant changed while this request ran; read it and try again",
    ))
}

/// Revokes every code of a grant; answers the grant (`removed` once every lock confirmed).
pub async fn revoke(s: &Service, org: OrgId, id: GrantId, actor: Actor) -> AppResult<Grant> {
    for _ in 0..5 {
        let before = load(s, org, id).await?;
        let mut g = before.clone();
        if !g.status.is_revoked() {
            g.status = GrantStatus::Removing;
            g.actor = actor.clone();
            if !s
                .store
                .update_grant_if(&mut g, before.version, s.now(), &[])
                .await?
            {
                continue;
            }
        }
        let due = bring(s, g.id).await?;
        return work_and_settle(s, g.id, due).await;
    }
    Err(already(
        "the grant changed while this request ran; read it and try again",
    ))
}
