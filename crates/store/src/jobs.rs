//! Bulk jobs: a job row and one row per item. Items may carry PINs, so each is sealed. An
//! item moves `pending` → `working` (its code created, `access_code_id` recorded) →
//! `succeeded` or `failed`, each step a conditional update on the status read; the job is
//! leased by the instance working it, so a job whose instance died is resumed by another.

use lockbridge_core::ids::{AccessCodeId, JobId, LockId, OrgId};
use lockbridge_core::time::Millis;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, int, opt_int, opt_text, parse, text};

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

impl Store {
    fn job(&self, row: &AnyRow) -> Result<JobRow> {
        let id = text(row, "id")?;
        Ok(JobRow {
            id: parse("jobs", &id, "id", &id)?,
            org_id: parse("jobs", &id, "org_id", &text(row, "org_id")?)?,
            kind: text(row, "kind")?,
            status: text(row, "status")?,
            total: int(row, "total")?,
            lease_owner: opt_text(row, "lease_owner")?,
            lease_until: opt_int(row, "lease_until")?,
            created_at: int(row, "created_at")?,
            finished_at: opt_int(row, "finished_at")?,
            idempotency_key: opt_text(row, "idempotency_key")?,
            idempotency_fingerprint: opt_text(row, "idempotency_fingerprint")?,
            actor: opt_text(row, "actor")?
                .and_then(|a| serde_json::from_str(&a).ok())
                .unwrap_or_default(),
        })
    }

    /// The organisation's job created with `Idempotency-Key` `key`.
    pub async fn job_by_key(&self, org: OrgId, key: &str) -> Result<Option<JobRow>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE org_id = $1 AND idempotency_key = $2");
        let row = sqlx::query(&self.sql(&sql))
            .bind(org.to_string())
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| self.job(r)).transpose()
    }

    /// Stores a job and its items in one transaction; items whose check failed are stored
    /// `failed` with their error. A repeated idempotency key is
    /// [`StoreError::Conflict`]`("idempotency_key")`, and nothing is stored.
    pub async fn insert_job(&self, job: &JobRow, items: &[JobItem]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(&self.sql(&format!(
            "INSERT INTO jobs ({COLUMNS}, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $8)"
        )))
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
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("idempotency_key")
            }
            _ => StoreError::Database(e),
        })?;
        let per = match self.dialect {
            crate::Dialect::Sqlite => 100,
            crate::Dialect::Postgres => 1000,
        };
        let job_id = job.id.to_string();
        for chunk in items.chunks(per) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let p: Vec<String> = (1..=7).map(|c| format!("${}", r * 7 + c)).collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let sql = self
                .sql(&format!(
                    "INSERT INTO job_items (job_id, idx, lock_id, item, status, access_code_id, error) VALUES {}",
                    rows.join(", ")
                ))
                .into_owned();
            let mut q = sqlx::query(&sql);
            for it in chunk {
                let sealed = self
                    .cipher
                    .seal(&format!("{job_id}/{}", it.index), it.item.as_bytes());
                q = q
                    .bind(job_id.clone())
                    .bind(it.index)
                    .bind(it.lock_id.map(|l| l.to_string()))
                    .bind(sealed)
                    .bind(it.status.clone())
                    .bind(it.access_code_id.map(|c| c.to_string()))
                    .bind(it.error.clone());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_job(&self, org: OrgId, id: JobId) -> Result<Option<JobRow>> {
        let row = sqlx::query(&self.sql(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .as_ref()
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
        let row = sqlx::query(&self.sql(&sql))
            .bind(owner.to_owned())
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| self.job(r)).transpose()
    }

    /// Extends `owner`'s lease on a job; `false` when it is no longer theirs.
    pub async fn extend_job_lease(&self, id: JobId, owner: &str, until: Millis) -> Result<bool> {
        let done = sqlx::query(
            &self.sql("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3"),
        )
        .bind(until)
        .bind(id.to_string())
        .bind(owner.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
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
        let done = sqlx::query(&self.sql(
            "UPDATE jobs SET status = $1, finished_at = $2, lease_owner = NULL, lease_until = NULL, \
             version = version + 1, updated_at = $3 WHERE id = $4 AND lease_owner = $5",
        ))
        .bind(status.to_owned())
        .bind(finished)
        .bind(now)
        .bind(id.to_string())
        .bind(owner.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The job's items that are not finished (`pending`, `working`), by index.
    pub async fn open_job_items(&self, id: JobId) -> Result<Vec<JobItem>> {
        let rows = sqlx::query(&self.sql(
            "SELECT idx, lock_id, item, status, access_code_id, error FROM job_items \
             WHERE job_id = $1 AND status IN ('pending', 'working') ORDER BY job_id, idx",
        ))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let job = id.to_string();
        rows.iter()
            .map(|r| {
                let index = int(r, "idx")?;
                let row_key = format!("{job}/{index}");
                let sealed: Vec<u8> = r.try_get("item")?;
                let corrupt = |what: &str| StoreError::Corrupt {
                    table: "job_items",
                    id: row_key.clone(),
                    what: what.to_owned(),
                };
                Ok(JobItem {
                    index,
                    lock_id: opt_text(r, "lock_id")?
                        .map(|l| l.parse().map_err(|_| corrupt("lock_id")))
                        .transpose()?,
                    item: self.cipher.open_string(&row_key, &sealed)?,
                    status: text(r, "status")?,
                    access_code_id: opt_text(r, "access_code_id")?
                        .map(|c| c.parse().map_err(|_| corrupt("access_code_id")))
                        .transpose()?,
                    error: opt_text(r, "error")?,
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
        let done = sqlx::query(&self.sql(
            "UPDATE job_items SET status = $1, access_code_id = COALESCE($2, access_code_id), \
             error = $3 WHERE job_id = $4 AND idx = $5 AND status = $6",
        ))
        .bind(to.to_owned())
        .bind(code.map(|c| c.to_string()))
        .bind(error.map(str::to_owned))
        .bind(id.to_string())
        .bind(index)
        .bind(from.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Items succeeded and failed so far, with the failed ones' errors.
    pub async fn job_progress(&self, id: JobId) -> Result<JobProgress> {
        let mut progress = JobProgress::default();
        let counts = sqlx::query(&self.sql(
            "SELECT status, COUNT(*) AS n FROM job_items WHERE job_id = $1 \
             AND status IN ('succeeded', 'failed') GROUP BY status",
        ))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        for r in &counts {
            match text(r, "status")?.as_str() {
                "succeeded" => progress.succeeded = int(r, "n")?,
                _ => progress.failed = int(r, "n")?,
            }
        }
        let waiting = sqlx::query(&self.sql(
            "SELECT idx, access_code_id FROM job_items WHERE job_id = $1 AND status = 'waiting' \
             ORDER BY job_id, idx",
        ))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        for r in &waiting {
            progress.waiting.push((
                int(r, "idx")?,
                opt_text(r, "access_code_id")?.unwrap_or_default(),
            ));
        }
        let failed = sqlx::query(&self.sql(
            "SELECT idx, error FROM job_items WHERE job_id = $1 AND status = 'failed' \
             ORDER BY job_id, idx",
        ))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        for r in &failed {
            progress
                .errors
                .push((int(r, "idx")?, opt_text(r, "error")?.unwrap_or_default()));
        }
        Ok(progress)
    }
}
