//! Bulk jobs at work. A pass claims one unfinished job (leased, extended while it works) and
//! works its open items in lanes: one lane per TTLock gateway (one command at a time, as the
//! gateway takes them) or per lock without one, one per connection for the other vendors
//! (a few at once; each account's rate budget paces them). Lanes run side by side.
//!
//! Each item's code is created under the idempotency key `job:{job}:{index}`, so an instance
//! that stops between creating a code and recording it on the item leaves nothing twice: the
//! next pass finds the code by its key. An item whose code the vendor has not taken yet (a
//! retry, a confirmation) stays `working`; the code engine finishes the code, and a later pass
//! records the outcome. An item whose code met an unreachable lock or gateway is `waiting`: it
//! no longer holds the job open (the job is `done` once every item succeeded, failed or waits),
//! and the code engine sets its code when the device answers again.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use futures_util::StreamExt;
use lockbridge_core::ids::{ConnectionId, JobId, LockId};
use lockbridge_core::model::{AccessCode, CodeStatus, Connection, Lock, Schedule, Scheduling};
use lockbridge_core::time::Millis;
use lockbridge_store::{Guard, InsertError, JobItem, JobRow, StoreError};
use serde::Deserialize;
use serde_json::json;

use crate::Service;
use crate::admission::prepare;
use crate::engine::{self, Outcome};
use crate::error::{AppError, AppResult};

/// One item of an `access_codes.create` job, as submitted.
#[derive(Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[schemars(rename = "BulkAccessCode")]
#[serde(deny_unknown_fields)]
pub struct BulkItem {
    pub lock_id: String,
    pub name: Option<String>,
    /// Generated to suit the lock when absent.
    pub code: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    pub starts_at: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    pub ends_at: Option<Millis>,
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub scheduling: Scheduling,
}

/// How long a pass holds a job; extended while it works.
const JOB_LEASE_MS: Millis = 60_000;

/// The code `item` asks for on `lock`: every rule checked, nothing stored (the PIN is the
/// item's, or generated).
pub fn code_of(s: &Service, lock: &Lock, item: &BulkItem, now: Millis) -> AppResult<AccessCode> {
    if !lock.capabilities.access_codes {
        return Err(AppError::validation(
            "lock_id",
            "this lock does not hold access codes",
        ));
    }
    let name = item
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 200) {
        return Err(AppError::validation(
            "name",
            "must be at most 200 characters",
        ));
    }
    let pin = item
        .code
        .clone()
        .unwrap_or_else(|| lock.code_rules.generate());
    let mut row = AccessCode {
        name: name.map(str::to_owned),
        starts_at: item.starts_at,
        ends_at: item.ends_at,
        schedule: item.schedule.clone(),
        ..AccessCode::new(lock, pin, now)
    };
    prepare(s, lock, &mut row, item.scheduling, now)?;
    Ok(row)
}

/// An item's error as stored and answered: `{code, message, field?}`.
pub fn error_json(e: &AppError) -> String {
    e.to_json().to_string()
}

/// Runs `work` while extending the job's lease.
async fn leased<T>(s: &Service, job: JobId, owner: &str, work: impl Future<Output = T>) -> T {
    let every = std::time::Duration::from_millis((JOB_LEASE_MS / 3) as u64);
    tokio::pin!(work);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = tick.tick() => {
                let until = s.now() + JOB_LEASE_MS;
                if let Err(e) = s.store.extend_job_lease(job, owner, until).await {
                    tracing::warn!(%job, error = %lockbridge_core::provider::error_chain(&e), "could not extend a job's lease");
                }
            }
        }
    }
}

/// One pass of the job worker: claims one unfinished job and works its open items. Answers
/// whether there was a job.
pub async fn run_due(s: &Service) -> AppResult<bool> {
    let owner = engine::lease_owner();
    let now = s.now();
    let Some(job) = s.store.claim_job(now, now + JOB_LEASE_MS, &owner).await? else {
        return Ok(false);
    };
    leased(s, job.id, &owner, work_job(s, &job)).await?;
    let open = s.store.open_job_items(job.id).await?;
    let status = if !open.is_empty() {
        "running"
    } else {
        let p = s.store.job_progress(job.id).await?;
        if p.succeeded == 0 && p.waiting.is_empty() && job.total > 0 {
            "failed"
        } else {
            "done"
        }
    };
    s.store.release_job(job.id, &owner, status, s.now()).await?;
    Ok(true)
}

/// The lane an item's lock takes commands in, and how many items are worked at once there,
/// as the lock's vendor declares them.
fn lane(s: &Service, lock: &Lock) -> (String, usize) {
    match s.providers.get(lock.provider) {
        Ok(vendor) => {
            let lane = vendor.command_lane(lock);
            (lane.key, lane.width)
        }
        Err(_) => (format!("connection {}", lock.connection_id), 1),
    }
}

/// An item with its lock and connection.
type Work = (JobItem, Lock, Connection);

async fn work_job(s: &Service, job: &JobRow) -> AppResult<()> {
    let items = s.store.open_job_items(job.id).await?;
    let mut locks: HashMap<LockId, Option<Lock>> = HashMap::new();
    let mut conns: HashMap<ConnectionId, Option<Connection>> = HashMap::new();
    let mut lanes: BTreeMap<String, (usize, Vec<Work>)> = BTreeMap::new();
    for item in items {
        let lock = match item.lock_id {
            Some(id) => match locks.get(&id) {
                Some(l) => l.clone(),
                None => {
                    let l = s
                        .store
                        .lock_by_id(id)
                        .await?
                        .filter(|l| l.org_id == job.org_id);
                    locks.insert(id, l.clone());
                    l
                }
            },
            None => None,
        };
        let conn = match &lock {
            Some(l) => match conns.get(&l.connection_id) {
                Some(c) => c.clone(),
                None => {
                    let c = s.store.connection_by_id(l.connection_id).await?;
                    conns.insert(l.connection_id, c.clone());
                    c
                }
            },
            None => None,
        };
        let (Some(lock), Some(conn)) = (lock, conn) else {
            let e = error_json(&AppError::validation("lock_id", "the lock is gone"));
            s.store
                .move_job_item(job.id, item.index, &item.status, "failed", None, Some(&e))
                .await?;
            continue;
        };
        let (key, width) = lane(s, &lock);
        lanes
            .entry(key)
            .or_insert((width, Vec::new()))
            .1
            .push((item, lock, conn));
    }
    let results = futures_util::stream::iter(lanes.into_values())
        .map(|(width, items)| async move {
            futures_util::stream::iter(items)
                .map(
                    |(item, lock, conn)| async move { work_item(s, job, item, &lock, &conn).await },
                )
                .buffer_unordered(width)
                .filter_map(|r| async move { r.err() })
                .collect::<Vec<_>>()
                .await
        })
        .buffer_unordered(usize::MAX)
        .collect::<Vec<_>>()
        .await;
    if let Some(e) = results.into_iter().flatten().next() {
        return Err(e);
    }
    Ok(())
}

async fn fail(
    s: &Service,
    job: &JobRow,
    item: &JobItem,
    from: &str,
    e: &AppError,
) -> AppResult<()> {
    s.store
        .move_job_item(
            job.id,
            item.index,
            from,
            "failed",
            None,
            Some(&error_json(e)),
        )
        .await?;
    Ok(())
}

async fn work_item(
    s: &Service,
    job: &JobRow,
    item: JobItem,
    lock: &Lock,
    conn: &Connection,
) -> AppResult<()> {
    if item.status == "working" {
        let code = match item.access_code_id {
            Some(id) => s.store.access_code_by_id(id).await?,
            None => None,
        };
        return record(s, job, &item, code).await;
    }
    let body: BulkItem = serde_json::from_str(&item.item).map_err(|_| StoreError::Corrupt {
        table: "job_items",
        id: format!("{}/{}", job.id, item.index),
        what: "item".into(),
    })?;
    let now = s.now();
    let mut row = match code_of(s, lock, &body, now) {
        Ok(row) => row,
        Err(e) => return fail(s, job, &item, "pending", &e).await,
    };
    let key = format!("job:{}:{}", job.id, item.index);
    row.idempotency_key = Some(key.clone());
    row.actor = job.actor.clone();
    if row.status == CodeStatus::Setting {
        row.lease_owner = Some(engine::lease_owner());
        row.lease_until = Some(now + s.settings.code_lease.as_millis() as i64);
        row.attempts = 1;
    }
    let row = match s
        .store
        .insert_access_code(&row, lock.code_rules.max_codes)
        .await
    {
        Ok(()) => row,
        Err(InsertError::Store(StoreError::Conflict("idempotency_key"))) => {
            // Created by a pass that stopped before recording it: the code is this item's.
            let code = s.store.access_code_by_key(job.org_id, &key).await?;
            if let Some(c) = &code {
                s.store
                    .move_job_item(job.id, item.index, "pending", "working", Some(c.id), None)
                    .await?;
            }
            return record(
                s,
                job,
                &JobItem {
                    status: "working".into(),
                    ..item
                },
                code,
            )
            .await;
        }
        Err(InsertError::Store(StoreError::Conflict(_))) => {
            let e = AppError::AlreadyExists {
                message: "this code is already on the lock".into(),
            };
            return fail(s, job, &item, "pending", &e).await;
        }
        Err(InsertError::Capacity(max)) => {
            let e = AppError::Provider(lockbridge_core::ProviderError::new(
                lock.provider,
                lockbridge_core::ErrorKind::CapacityReached,
                format!("the lock holds at most {max} codes"),
            ));
            return fail(s, job, &item, "pending", &e).await;
        }
        Err(InsertError::Store(e)) => return Err(e.into()),
    };
    s.store
        .move_job_item(job.id, item.index, "pending", "working", Some(row.id), None)
        .await?;
    let item = JobItem {
        status: "working".into(),
        ..item
    };
    if row.status != CodeStatus::Setting {
        return record(s, job, &item, Some(row)).await;
    }
    let (mut outcome, mut code) = engine::work_on(s, row, lock, conn).await?;
    // A vendor (or the account's budget) that said when it takes more: the lane waits that
    // long and goes on with the same code, so the budget is spent as soon as it frees rather
    // than at the engine's next pass.
    for _ in 0..RATE_WAITS {
        let Outcome::Retry(e) = &outcome else { break };
        let Some(ms) = e.retry_after_ms().filter(|ms| *ms <= MAX_RATE_WAIT_MS) else {
            break;
        };
        tokio::time::sleep(std::time::Duration::from_millis(ms.max(0) as u64)).await;
        match engine::work_now(s, code.id).await? {
            Some(next) => (outcome, code) = next,
            None => break,
        }
    }
    record(s, job, &item, Some(code)).await
}

/// How often, and how long at most, a lane waits for a vendor's `Retry-After` on one item.
const RATE_WAITS: usize = 5;
const MAX_RATE_WAIT_MS: Millis = 5 * 60_000;

/// Records a working item's outcome once its code has one: `set` (or waiting for its
/// just-in-time opening) succeeded; `failed` failed, and the code, never on the lock, is
/// removed so that it holds no PIN; a code whose last attempt found the lock or its gateway
/// unreachable is `waiting`; anything else is still on its way.
async fn record(
    s: &Service,
    job: &JobRow,
    item: &JobItem,
    code: Option<AccessCode>,
) -> AppResult<()> {
    let Some(mut code) = code else {
        let e = AppError::NotFound("access code");
        return fail(s, job, item, "working", &e).await;
    };
    match code.status {
        CodeStatus::Set | CodeStatus::Scheduled => {
            s.store
                .move_job_item(
                    job.id,
                    item.index,
                    "working",
                    "succeeded",
                    Some(code.id),
                    None,
                )
                .await?;
        }
        CodeStatus::Failed | CodeStatus::Removed => {
            let error = code.errors.first().map_or_else(
                || json!({"code": "removed", "message": "the code was removed before it was set"}),
                |n| json!({"code": n.code, "message": n.message}),
            );
            if code.status == CodeStatus::Failed && code.provider_id.is_none() {
                let version = code.version;
                code.status = CodeStatus::Removed;
                code.next_attempt_at = None;
                s.store
                    .update_code_if(&mut code, version, Guard::Version, s.now(), &[])
                    .await?;
            }
            s.store
                .move_job_item(
                    job.id,
                    item.index,
                    "working",
                    "failed",
                    Some(code.id),
                    Some(&error.to_string()),
                )
                .await?;
        }
        CodeStatus::Setting
            if code
                .errors
                .iter()
                .any(|n| n.code == "device_offline" || n.code == "gateway_offline") =>
        {
            s.store
                .move_job_item(
                    job.id,
                    item.index,
                    "working",
                    "waiting",
                    Some(code.id),
                    None,
                )
                .await?;
        }
        _ => {}
    }
    Ok(())
}
