//! Access codes; the PIN itself is sealed.

use std::collections::HashSet;

use lockbridge_core::ids::{AccessCodeId, LockId, OrgId};
use lockbridge_core::model::{AccessCode, CodeStatus, Lock};
use lockbridge_core::provider::ProviderCode;
use lockbridge_core::time::{Millis, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, conflict, int, opt_int, opt_text, parse, text};

const COLUMNS: &str = "id, org_id, lock_id, name, code, starts_at, ends_at, schedule, status, frozen, managed, \
                       provider_id, last_error, attempts, next_attempt_at, idempotency_key, created_at, updated_at, confirming";

impl Store {
    fn access_code(&self, row: &AnyRow) -> Result<AccessCode> {
        let id = text(row, "id")?;
        let sealed: Vec<u8> = row.try_get("code")?;
        let status = text(row, "status")?;
        let corrupt = |what: String| StoreError::Corrupt {
            table: "access_codes",
            id: id.clone(),
            what,
        };
        Ok(AccessCode {
            id: parse("access_codes", &id, "id", &id)?,
            org_id: parse("access_codes", &id, "org_id", &text(row, "org_id")?)?,
            lock_id: parse("access_codes", &id, "lock_id", &text(row, "lock_id")?)?,
            name: opt_text(row, "name")?,
            code: self.cipher.open_string(&id, &sealed)?,
            starts_at: opt_int(row, "starts_at")?,
            ends_at: opt_int(row, "ends_at")?,
            schedule: opt_text(row, "schedule")?
                .map(|s| serde_json::from_str(&s).map_err(|_| corrupt("schedule".into())))
                .transpose()?,
            status: CodeStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("status {status:?}")))?,
            frozen: int(row, "frozen")? != 0,
            managed: int(row, "managed")? != 0,
            provider_id: opt_text(row, "provider_id")?,
            last_error: opt_text(row, "last_error")?,
            attempts: int(row, "attempts")?,
            confirming: int(row, "confirming")? != 0,
            next_attempt_at: opt_int(row, "next_attempt_at")?,
            idempotency_key: opt_text(row, "idempotency_key")?,
            created_at: int(row, "created_at")?,
            updated_at: int(row, "updated_at")?,
        })
    }

    /// Inserts a code; a repeated idempotency key is [`StoreError::Conflict`].
    pub async fn insert_access_code(&self, c: &AccessCode) -> Result<()> {
        self.insert_code(&self.pool, c).await
    }

    /// Inserts codes in one transaction: all of them or, on any error, none. Rows go in
    /// batches per statement.
    pub async fn insert_access_codes(&self, codes: &[AccessCode]) -> Result<()> {
        // 19 parameters a row. The SQLite driver looks each parameter's name up by a linear
        // scan, so a statement's cost grows with the square of its parameters there.
        let rows = match self.dialect {
            crate::Dialect::Sqlite => 25,
            crate::Dialect::Postgres => 500,
        };
        let mut tx = self.write_tx().await?;
        for chunk in codes.chunks(rows) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let params: Vec<String> =
                        (1..=19).map(|c| format!("${}", r * 19 + c)).collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO access_codes ({COLUMNS}) VALUES {}",
                rows.join(", ")
            );
            let sql = self.sql(&sql);
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = self.bind_code(q, c);
            }
            q.execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, "idempotency_key"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Binds a code's 19 columns in `COLUMNS` order, the PIN sealed.
    fn bind_code<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        c: &AccessCode,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let id = c.id.to_string();
        q.bind(id.clone())
            .bind(c.org_id.to_string())
            .bind(c.lock_id.to_string())
            .bind(c.name.clone())
            .bind(self.cipher.seal(&id, c.code.as_bytes()))
            .bind(c.starts_at)
            .bind(c.ends_at)
            .bind(
                c.schedule
                    .as_ref()
                    .map(|s| serde_json::to_string(s).unwrap_or_default()),
            )
            .bind(c.status.as_str())
            .bind(i64::from(c.frozen))
            .bind(i64::from(c.managed))
            .bind(c.provider_id.clone())
            .bind(c.last_error.clone())
            .bind(c.attempts)
            .bind(c.next_attempt_at)
            .bind(c.idempotency_key.clone())
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(i64::from(c.confirming))
    }

    async fn insert_code<'e, E>(&self, ex: E, c: &AccessCode) -> Result<()>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let sql = format!(
            "INSERT INTO access_codes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19)"
        );
        self.bind_code(sqlx::query(&self.sql(&sql)), c)
            .execute(ex)
            .await
            .map_err(|e| conflict(e, "idempotency_key"))?;
        Ok(())
    }

    /// Writes every changeable field of a code (not its id, lock, organisation or key), and
    /// sets its `updated_at` to now, on the row and on `c`.
    pub async fn update_access_code(&self, c: &mut AccessCode) -> Result<()> {
        c.updated_at = now_ms();
        let id = c.id.to_string();
        sqlx::query(&self.sql(
            "UPDATE access_codes SET name = $1, code = $2, starts_at = $3, ends_at = $4, schedule = $5, status = $6, \
             frozen = $7, provider_id = $8, last_error = $9, attempts = $10, next_attempt_at = $11, updated_at = $12, \
             confirming = $13 WHERE id = $14",
        ))
        .bind(c.name.clone())
        .bind(self.cipher.seal(&id, c.code.as_bytes()))
        .bind(c.starts_at)
        .bind(c.ends_at)
        .bind(c.schedule.as_ref().map(|s| serde_json::to_string(s).unwrap_or_default()))
        .bind(c.status.as_str())
        .bind(i64::from(c.frozen))
        .bind(c.provider_id.clone())
        .bind(c.last_error.clone())
        .bind(c.attempts)
        .bind(c.next_attempt_at)
        .bind(c.updated_at)
        .bind(i64::from(c.confirming))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_access_code(
        &self,
        org: OrgId,
        id: AccessCodeId,
    ) -> Result<Option<AccessCode>> {
        let sql = format!("SELECT {COLUMNS} FROM access_codes WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(&self.sql(&sql))
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| self.access_code(r)).transpose()
    }

    pub async fn access_code_by_key(&self, org: OrgId, key: &str) -> Result<Option<AccessCode>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM access_codes WHERE org_id = $1 AND idempotency_key = $2"
        );
        let row = sqlx::query(&self.sql(&sql))
            .bind(org.to_string())
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| self.access_code(r)).transpose()
    }

    /// A page of a lock's codes in id order (removed ones left out); only the organisation's.
    /// The organisation is checked on the rows, not in SQL: with `org_id` in the condition
    /// PostgreSQL may intersect the lock index with the `(org_id, idempotency_key)` one, which
    /// spans every code of the organisation (40 ms at a million codes before statistics exist).
    pub async fn list_access_codes(
        &self,
        org: OrgId,
        lock: LockId,
        limit: u32,
        after: Option<AccessCodeId>,
    ) -> Result<Vec<AccessCode>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM access_codes WHERE lock_id = $1 AND id > $2 \
             AND status <> 'removed' ORDER BY lock_id, id LIMIT $3"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(lock.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let org = org.to_string();
        let mut codes = Vec::with_capacity(rows.len());
        for row in &rows {
            if text(row, "org_id")? == org {
                codes.push(self.access_code(row)?);
            }
        }
        Ok(codes)
    }

    /// Codes waiting for the engine (`setting` or `removing`) whose next attempt is due.
    /// Claims up to `limit` codes whose next attempt is due: each is leased until `lease_until`
    /// (its `next_attempt_at` moves there) in the same statement, so that several instances
    /// working the same database never attempt the same code at once. PostgreSQL skips rows
    /// another claim holds (`FOR UPDATE SKIP LOCKED`); SQLite has one writer at a time.
    pub async fn claim_due_access_codes(
        &self,
        now: Millis,
        limit: u32,
        lease_until: Millis,
    ) -> Result<Vec<AccessCode>> {
        let skip_locked = match self.dialect {
            crate::Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            crate::Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE access_codes SET next_attempt_at = $1 WHERE id IN (\
             SELECT id FROM access_codes WHERE status IN ('setting', 'removing') \
             AND next_attempt_at IS NOT NULL AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3{skip_locked}) \
             RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| self.access_code(r)).collect()
    }

    /// Records codes found on the lock that lockbridge does not know (`managed: false`), in
    /// one transaction that holds the lock's row, so that two syncs of the same lock at once
    /// cannot both record the same code; answers how many were new.
    pub async fn record_found_codes(&self, lock: &Lock, found: &[ProviderCode]) -> Result<usize> {
        let mut tx = self.write_tx().await?;
        if self.dialect == crate::Dialect::Postgres {
            sqlx::query("SELECT id FROM locks WHERE id = $1 FOR UPDATE")
                .bind(lock.id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        }
        let known: HashSet<String> = sqlx::query(&self.sql(
            "SELECT provider_id FROM access_codes WHERE lock_id = $1 AND provider_id IS NOT NULL",
        ))
        .bind(lock.id.to_string())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| text(r, "provider_id"))
        .collect::<Result<_>>()?;
        let now = now_ms();
        let mut added = 0;
        for f in found.iter().filter(|f| !known.contains(&f.provider_id)) {
            let code = AccessCode {
                id: AccessCodeId::new(),
                lock_id: lock.id,
                org_id: lock.org_id,
                name: f.spec.name.clone(),
                code: f.spec.code.clone(),
                starts_at: f.spec.starts_at,
                ends_at: f.spec.ends_at,
                schedule: f.spec.schedule.clone(),
                status: CodeStatus::Set,
                frozen: false,
                managed: false,
                provider_id: Some(f.provider_id.clone()),
                last_error: None,
                attempts: 0,
                confirming: false,
                next_attempt_at: None,
                idempotency_key: None,
                created_at: now,
                updated_at: now,
            };
            self.insert_code(&mut *tx, &code).await?;
            added += 1;
        }
        tx.commit().await?;
        Ok(added)
    }
}
