//! Bulk jobs: a job row and one row per item. Items may carry PINs, so each is sealed. An
//! item moves `pending` → `working` (its code created, `access_code_id` recorded) →
//! `succeeded` or `failed`, each step a conditional update on the status read; the job is
//! leased by the instance working it, so a job whose instance died is resumed by another.

use lockbridge_core::ids::{AccessCodeId, JobId, LockId, OrgId};
use lockbridge_core::time::Millis;
use sqlx::QueryBuilder;

use crate::{Result, Store, StoreError, on, parse};

/// A job as stored.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: JobId,
    pub org_id: OrgId,
    pub kind: String,
    /// `queued`, `running`, `done`, `failed`.
    pub status: String,
    pub total: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Millis>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    /// The `Idempotency-Key` it was created with, and the fingerprint of that request.
    pub idempotency_key: Option<String>,
    pub idempotency_fingerprint: Option<String>,
    /// Who submitted it: its codes' events are theirs.
    pub actor: lockbridge_core::events::Actor,
}

/// One item of a job.
#[derive(Debug, Clone)]
pub struct JobItem {
    pub index: i64,
    pub lock_id: Option<LockId>,
    /// The item as submitted (JSON).
    pub item: String,
    /// `pending`, `working`, `succeeded`, `failed`.
    pub status: String,
    pub access_code_id: Option<AccessCodeId>,
    /// `{code, message, field?}` of a failed item (JSON).
    pub error: Option<String>,
}

/// How far a job has got.
#[derive(Debug, Clone, Default)]
pub struct JobProgress {
    pub succeeded: i64,
    pub failed: i64,
    /// (index, access code id) of each item accepted and waiting for an unreachable device.
    pub waiting: Vec<(i64, String)>,
    /// (index, error JSON) of each failed item, by index.
    pub errors: Vec<(i64, String)>,
}

const COLUMNS: &str = "id, org_id, kind, status, total, lease_owner, lease_until, created_at, \
                       finished_at, idempotency_key, idempotency_fingerprint, actor";

/// A row of `jobs`, in [`COLUMNS`]' order.
#[derive(Debug, sqlx::FromRow)]
struct StoredJob {
    id: String,
    org_id: String,
    kind: String,
    status: String,
    total: i64,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    created_at: i64,
    finished_at: Option<i64>,
    idempotency_key: Option<String>,
    idempotency_fingerprint: Option<String>,
    actor: Option<String>,
}

/// A row of `job_items` as the worker reads it (the item sealed).
#[derive(Debug, sqlx::FromRow)]
struct StoredItem {
    idx: i64,
    lock_id: Option<String>,
    item: Vec<u8>,
    status: String,
    access_code_id: Option<String>,
    error: Option<String>,
}

impl Store {
    fn job(&self, row: StoredJob) -> Result<JobRow> {
        let id = row.id;
        Ok(JobRow {
            org_id: parse("jobs", &id, "org_id", &row.org_id)?,
            kind: row.kind,
            status: row.status,
            total: row.total,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            created_at: row.created_at,
            finished_at: row.finished_at,
            idempotency_key: row.idempotency_key,
            idempotency_fingerprint: row.idempotency_fingerprint,
            actor: row
                .actor
                .and_then(|a| serde_json::from_str(&a).ok())
                .unwrap_or_default(),
            id: parse("jobs", &id, "id", &id)?,
        })
    }

    /// The organisation's job created with `Idempotency-Key` `key`.
    pub async fn job_by_key(&self, org: OrgId, key: &str) -> Result<Option<JobRow>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE org_id = $1 AND idempotency_key = $2");
        let row = on!(&self.pool, db => sqlx::query_as::<_, StoredJob>(&sql)
            .bind(org.to_string())
            .bind(key.to_owned())
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.job(r)).transpose()
    }

    /// Stores a job and its items in one transaction; items whose check failed are stored
    /// `failed` with their error. A repeated idempotency key is
    /// [`StoreError::Conflict`]`("idempotency_key")`, and nothing is stored.
    pub async fn insert_job(&self, job: &JobRow, items: &[JobItem]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let sql = crate::insert_into("jobs", &format!("{COLUMNS}, version, updated_at"));
        on!(&mut tx, t => sqlx::query(&sql)
        .bind(job.id.to_string())
        .bind(job.org_id.to_string())
        .bind(job.kind.clone())
        .bind(job.status.clone())
        .bind(job.total)
        .bind(job.lease_owner.clone())
        .bind(job.lease_until)
        .bind(job.created_at)
        .bind(job.finished_at)
        .bind(job.idempotency_key.clone())
        .bind(job.idempotency_fingerprint.clone())
        .bind(serde_json::to_string(&job.actor).ok())
        .bind(0_i64)
        .bind(job.created_at)
        .execute(&mut **t).await.map(|r| r.rows_affected()))
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("idempotency_key")
            }
            _ => StoreError::Database(e),
        })?;
        let job_id = job.id.to_string();
        for chunk in items.chunks(self.per_statement(100, 1000)) {
            let rows = chunk.iter().map(|it| {
                let sealed = self
                    .cipher
                    .seal(&format!("{job_id}/{}", it.index), it.item.as_bytes());
                (it, sealed)
            });
            on!(&mut tx, t => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO job_items (job_id, idx, lock_id, item, status, access_code_id, error) ",
                );
                q.push_values(rows, |mut b, (it, sealed)| {
                    b.push_bind(job_id.clone())
                        .push_bind(it.index)
                        .push_bind(it.lock_id.map(|l| l.to_string()))
                        .push_bind(sealed)
                        .push_bind(it.status.clone())
                        .push_bind(it.access_code_id.map(|c| c.to_string()))
                        .push_bind(it.error.clone());
                });
                q.build().execute(&mut **t).await.map(|r| r.rows_affected())
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_job(&self, org: OrgId, id: JobId) -> Result<Option<JobRow>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        let row = on!(&self.pool, db => sqlx::query_as::<_, StoredJob>(&sql)
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        Ok(row
            .map(|r| self.job(r))
            .transpose()?
            .filter(|j| j.org_id == org))
    }

    /// Claims the oldest unfinished job nobody holds, leased to `owner` until `lease_until`
    /// (and marked `running`). PostgreSQL skips a job another claim holds.
    pub async fn claim_job(
        &self,
        now: Millis,
        lease_until: Millis,
        owner: &str,
    ) -> Result<Option<JobRow>> {
        let skip_locked = self.skip_locked();
        let sql = format!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2, status = 'running', \
             version = version + 1, updated_at = $3 WHERE id IN (\
             SELECT id FROM jobs WHERE status IN ('queued', 'running') \
             AND (lease_until IS NULL OR lease_until <= $3) ORDER BY created_at LIMIT 1{skip_locked}) \
             AND (lease_until IS NULL OR lease_until <= $3) RETURNING {COLUMNS}"
        );
        let row = on!(&self.pool, db => sqlx::query_as::<_, StoredJob>(&sql)
            .bind(owner.to_owned())
            .bind(lease_until)
            .bind(now)
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.job(r)).transpose()
    }

    /// Extends `owner`'s lease on a job; `false` when it is no longer theirs.
    pub async fn extend_job_lease(&self, id: JobId, owner: &str, until: Millis) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3",
        )
        .bind(until)
        .bind(id.to_string())
        .bind(owner.to_owned())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Ends `owner`'s hold on a job: finished (`done` or `failed`, at `now`) or handed back
    /// for the next pass (`running`). `false` when the lease is no longer theirs.
    pub async fn release_job(
        &self,
        id: JobId,
        owner: &str,
        status: &str,
        now: Millis,
    ) -> Result<bool> {
        let finished = (status != "running").then_some(now);
        let done = on!(&self.pool, db => sqlx::query("UPDATE jobs SET status = $1, finished_at = $2, lease_owner = NULL, lease_until = NULL, \
             version = version + 1, updated_at = $3 WHERE id = $4 AND lease_owner = $5")
        .bind(status.to_owned())
        .bind(finished)
        .bind(now)
        .bind(id.to_string())
        .bind(owner.to_owned())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The job's items that are not finished (`pending`, `working`), by index.
    pub async fn open_job_items(&self, id: JobId) -> Result<Vec<JobItem>> {
        let rows = on!(&self.pool, db => sqlx::query_as::<_, StoredItem>("SELECT idx, lock_id, item, status, access_code_id, error FROM job_items \
             WHERE job_id = $1 AND status IN ('pending', 'working') ORDER BY job_id, idx")
        .bind(id.to_string())
        .fetch_all(db)
        .await)?;
        let job = id.to_string();
        rows.into_iter()
            .map(|r| {
                let index = r.idx;
                let row_key = format!("{job}/{index}");
                let corrupt = |what: &str| StoreError::Corrupt {
                    table: "job_items",
                    id: row_key.clone(),
                    what: what.to_owned(),
                };
                Ok(JobItem {
                    index,
                    lock_id: r
                        .lock_id
                        .map(|l| l.parse().map_err(|_| corrupt("lock_id")))
                        .transpose()?,
                    item: self.cipher.open_string(&row_key, &r.item)?,
                    status: r.status,
                    access_code_id: r
                        .access_code_id
                        .map(|c| c.parse().map_err(|_| corrupt("access_code_id")))
                        .transpose()?,
                    error: r.error,
                })
            })
            .collect()
    }

    /// Moves an item from `from` to `to` (recording its code or error); `false` when it was
    /// not `from` any more.
    pub async fn move_job_item(
        &self,
        id: JobId,
        index: i64,
        from: &str,
        to: &str,
        code: Option<AccessCodeId>,
        error: Option<&str>,
    ) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query("UPDATE job_items SET status = $1, access_code_id = COALESCE($2, access_code_id), \
             error = $3 WHERE job_id = $4 AND idx = $5 AND status = $6")
        .bind(to.to_owned())
        .bind(code.map(|c| c.to_string()))
        .bind(error.map(str::to_owned))
        .bind(id.to_string())
        .bind(index)
        .bind(from.to_owned())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Items succeeded and failed so far, with the failed ones' errors.
    pub async fn job_progress(&self, id: JobId) -> Result<JobProgress> {
        let mut progress = JobProgress::default();
        let counts = on!(&self.pool, db => sqlx::query_as::<_, (String, i64)>("SELECT status, COUNT(*) AS n FROM job_items WHERE job_id = $1 \
             AND status IN ('succeeded', 'failed') GROUP BY status")
        .bind(id.to_string())
        .fetch_all(db)
        .await)?;
        for (status, n) in counts {
            match status.as_str() {
                "succeeded" => progress.succeeded = n,
                _ => progress.failed = n,
            }
        }
        let waiting = on!(&self.pool, db => sqlx::query_as::<_, (i64, Option<String>)>("SELECT idx, access_code_id FROM job_items WHERE job_id = $1 AND status = 'waiting' \
             ORDER BY job_id, idx")
        .bind(id.to_string())
        .fetch_all(db)
        .await)?;
        progress.waiting = waiting
            .into_iter()
            .map(|(idx, code)| (idx, code.unwrap_or_default()))
            .collect();
        let failed = on!(&self.pool, db => sqlx::query_as::<_, (i64, Option<String>)>("SELECT idx, error FROM job_items WHERE job_id = $1 AND status = 'failed' \
             ORDER BY job_id, idx")
        .bind(id.to_string())
        .fetch_all(db)
        .await)?;
        progress.errors = failed
            .into_iter()
            .map(|(idx, error)| (idx, error.unwrap_or_default()))
            .collect();
        Ok(progress)
    }
}
