//! Access codes; the PIN itself is sealed, and a keyed hash of it keeps one live code per PIN
//! on a lock.
//!
//! A code is a state machine that requests, the code engine and reconciliation all move, on
//! several instances at once. Every write after the first is conditional on the `version` the
//! writer read (and, for the engine, on still holding the code's lease), so a write that lost
//! a race changes nothing and says so; the writer reads the row again and decides anew.

use std::collections::HashSet;

use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{AccessCodeId, LockId, OrgId};
use lockbridge_core::model::{AccessCode, CodeStatus, ExternalPolicy, Lock, RemovedReason};
use lockbridge_core::provider::ProviderCode;
use lockbridge_core::time::Millis;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, int, opt_int, opt_text, parse, text};

const COLUMNS: &str = "id, org_id, lock_id, name, code, starts_at, ends_at, schedule, status, frozen, managed, \
                       provider_id, last_error, attempts, next_attempt_at, idempotency_key, created_at, updated_at, \
                       confirming, version, lease_owner, lease_until, removed_reason, errors, warnings, \
                       on_external_change, pin_hash, idempotency_fingerprint";
const NCOLS: usize = 28;

/// The statuses that hold a PIN and a place on the lock (the unique index's condition).
const LIVE: &str = "('scheduled', 'setting', 'set', 'removing')";

/// What a conditional write of a code requires besides the version it read.
#[derive(Debug, Clone, Copy)]
pub enum Guard<'a> {
    /// Nothing more (a request changing what is wanted; the lease holder will notice).
    Version,
    /// The writer still holds the lease `owner`; the write releases it.
    Lease(&'a str),
}

/// Why a new code could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("the lock holds at most {0} codes")]
    Capacity(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A unique-index violation: the live-PIN index or the idempotency key.
fn code_conflict(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let pin = db.constraint() == Some("access_codes_live_pin")
                || db.message().contains("pin_hash");
            StoreError::Conflict(if pin { "code" } else { "idempotency_key" })
        }
        _ => StoreError::Database(err),
    }
}

fn json_list<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<Vec<T>> {
    let id = text(row, "id")?;
    serde_json::from_str(&text(row, col)?).map_err(|_| StoreError::Corrupt {
        table: "access_codes",
        id,
        what: col.to_owned(),
    })
}

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
        let reason = opt_text(row, "removed_reason")?;
        let policy = opt_text(row, "on_external_change")?;
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
            removed_reason: reason
                .map(|r| RemovedReason::parse(&r).ok_or_else(|| corrupt(format!("reason {r:?}"))))
                .transpose()?,
            errors: json_list(row, "errors")?,
            warnings: json_list(row, "warnings")?,
            on_external_change: policy
                .map(|p| ExternalPolicy::parse(&p).ok_or_else(|| corrupt(format!("policy {p:?}"))))
                .transpose()?,
            version: int(row, "version")?,
            lease_owner: opt_text(row, "lease_owner")?,
            lease_until: opt_int(row, "lease_until")?,
            attempts: int(row, "attempts")?,
            confirming: int(row, "confirming")? != 0,
            next_attempt_at: opt_int(row, "next_attempt_at")?,
            idempotency_key: opt_text(row, "idempotency_key")?,
            idempotency_fingerprint: opt_text(row, "idempotency_fingerprint")?,
            created_at: int(row, "created_at")?,
            updated_at: int(row, "updated_at")?,
        })
    }

    fn codes(&self, rows: &[AnyRow]) -> Result<Vec<AccessCode>> {
        rows.iter().map(|r| self.access_code(r)).collect()
    }

    /// Binds a code's columns in `COLUMNS` order, the PIN sealed and hashed.
    fn bind_code<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        c: &AccessCode,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let id = c.id.to_string();
        let lock = c.lock_id.to_string();
        q.bind(id.clone())
            .bind(c.org_id.to_string())
            .bind(lock.clone())
            .bind(c.name.clone())
            .bind(self.cipher.seal(&id, c.code.as_bytes()))
            .bind(c.starts_at)
            .bind(c.ends_at)
            .bind(schedule_text(c))
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
            .bind(c.version)
            .bind(c.lease_owner.clone())
            .bind(c.lease_until)
            .bind(c.removed_reason.map(|r| r.as_str()))
            .bind(serde_json::to_string(&c.errors).unwrap_or_else(|_| "[]".into()))
            .bind(serde_json::to_string(&c.warnings).unwrap_or_else(|_| "[]".into()))
            .bind(c.on_external_change.map(|p| p.as_str()))
            .bind(self.cipher.pin_hash(&lock, &c.code))
            .bind(c.idempotency_fingerprint.clone())
    }

    fn insert_sql(&self, rows: usize, tail: &str) -> String {
        let rows: Vec<String> = (0..rows)
            .map(|r| {
                let params: Vec<String> =
                    (1..=NCOLS).map(|c| format!("${}", r * NCOLS + c)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        self.sql(&format!(
            "INSERT INTO access_codes ({COLUMNS}) VALUES {}{tail}",
            rows.join(", ")
        ))
        .into_owned()
    }

    /// Inserts a new code. With `max_codes`, the lock's live codes are counted in the same
    /// transaction, which holds the lock's row, so concurrent creates cannot overfill it. A
    /// live code with the same PIN on the lock, or a repeated idempotency key, is
    /// [`StoreError::Conflict`] (`"code"` or `"idempotency_key"`).
    pub async fn insert_access_code(
        &self,
        c: &AccessCode,
        max_codes: Option<u32>,
    ) -> Result<(), InsertError> {
        let mut tx = self.write_tx().await?;
        if let Some(max) = max_codes {
            self.hold_lock_row(&mut tx, c.lock_id).await?;
            let row = sqlx::query(&self.sql(&format!(
                "SELECT COUNT(*) AS n FROM access_codes WHERE lock_id = $1 AND status IN {LIVE}"
            )))
            .bind(c.lock_id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            if int(&row, "n")? >= i64::from(max) {
                return Err(InsertError::Capacity(max));
            }
        }
        self.bind_code(sqlx::query(&self.insert_sql(1, "")), c)
            .execute(&mut *tx)
            .await
            .map_err(code_conflict)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Takes the lock's row for the rest of the transaction (PostgreSQL; SQLite's write
    /// transaction already excludes every other writer).
    async fn hold_lock_row(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        lock: LockId,
    ) -> Result<()> {
        if self.dialect == crate::Dialect::Postgres {
            sqlx::query("SELECT id FROM locks WHERE id = $1 FOR UPDATE")
                .bind(lock.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Inserts codes in one transaction: all of them or, on any error, none. Rows go in
    /// batches per statement.
    pub async fn insert_access_codes(&self, codes: &[AccessCode]) -> Result<()> {
        // The SQLite driver looks each parameter's name up by a linear scan, so a statement's
        // cost grows with the square of its parameters there.
        let rows = match self.dialect {
            crate::Dialect::Sqlite => 20,
            crate::Dialect::Postgres => 400,
        };
        let mut tx = self.write_tx().await?;
        for chunk in codes.chunks(rows) {
            let sql = self.insert_sql(chunk.len(), "");
            let mut q = sqlx::query(&sql);
            for c in chunk {
                q = self.bind_code(q, c);
            }
            q.execute(&mut *tx).await.map_err(code_conflict)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes every changeable field of `c` if the row is still at `expected` version (and, with
    /// [`Guard::Lease`], still leased to that owner, releasing it), with `events` in the same
    /// transaction. On success `c.version` and `c.updated_at` are the stored ones; `false`
    /// means another writer came first and nothing was written.
    pub async fn update_code_if(
        &self,
        c: &mut AccessCode,
        expected: i64,
        guard: Guard<'_>,
        now: Millis,
        events: &[Event],
    ) -> Result<bool> {
        let id = c.id.to_string();
        let (lease_set, lease_where) = match guard {
            Guard::Version => ("", ""),
            Guard::Lease(_) => (
                ", lease_owner = NULL, lease_until = NULL",
                " AND lease_owner = $22",
            ),
        };
        let sql = format!(
            "UPDATE access_codes SET name = $1, code = $2, starts_at = $3, ends_at = $4, schedule = $5, \
             status = $6, frozen = $7, provider_id = $8, last_error = $9, attempts = $10, next_attempt_at = $11, \
             updated_at = $12, confirming = $13, removed_reason = $14, errors = $15, warnings = $16, \
             on_external_change = $17, managed = $18, pin_hash = $19, version = version + 1{lease_set} \
             WHERE id = $20 AND version = $21{lease_where}"
        );
        let sql = self.sql(&sql);
        let mut tx = self.write_tx().await?;
        let mut q = sqlx::query(&sql)
            .bind(c.name.clone())
            .bind(self.cipher.seal(&id, c.code.as_bytes()))
            .bind(c.starts_at)
            .bind(c.ends_at)
            .bind(schedule_text(c))
            .bind(c.status.as_str())
            .bind(i64::from(c.frozen))
            .bind(c.provider_id.clone())
            .bind(c.last_error.clone())
            .bind(c.attempts)
            .bind(c.next_attempt_at)
            .bind(now)
            .bind(i64::from(c.confirming))
            .bind(c.removed_reason.map(|r| r.as_str()))
            .bind(serde_json::to_string(&c.errors).unwrap_or_else(|_| "[]".into()))
            .bind(serde_json::to_string(&c.warnings).unwrap_or_else(|_| "[]".into()))
            .bind(c.on_external_change.map(|p| p.as_str()))
            .bind(i64::from(c.managed))
            .bind(self.cipher.pin_hash(&c.lock_id.to_string(), &c.code))
            .bind(id)
            .bind(expected);
        if let Guard::Lease(owner) = guard {
            q = q.bind(owner.to_owned());
        }
        let done = q.execute(&mut *tx).await.map_err(code_conflict)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        self.insert_events(&mut tx, events).await?;
        tx.commit().await?;
        c.version = expected + 1;
        c.updated_at = now;
        if matches!(guard, Guard::Lease(_)) {
            c.lease_owner = None;
            c.lease_until = None;
        }
        Ok(true)
    }

    /// Any organisation's code (workers).
    pub async fn access_code_by_id(&self, id: AccessCodeId) -> Result<Option<AccessCode>> {
        let sql = format!("SELECT {COLUMNS} FROM access_codes WHERE id = $1");
        let row = sqlx::query(&self.sql(&sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| self.access_code(r)).transpose()
    }

    pub async fn get_access_code(
        &self,
        org: OrgId,
        id: AccessCodeId,
    ) -> Result<Option<AccessCode>> {
        Ok(self
            .access_code_by_id(id)
            .await?
            .filter(|c| c.org_id == org))
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

    /// The lock's live codes (on it, or on their way to or from it), managed or not.
    pub async fn live_codes(&self, lock: LockId) -> Result<Vec<AccessCode>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM access_codes WHERE lock_id = $1 AND status IN {LIVE} ORDER BY lock_id, id"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(lock.to_string())
            .fetch_all(&self.pool)
            .await?;
        self.codes(&rows)
    }

    /// The live codes of each of `locks`, a few queries for all of them.
    pub async fn live_codes_of(
        &self,
        locks: &[LockId],
    ) -> Result<std::collections::HashMap<LockId, Vec<AccessCode>>> {
        let mut out: std::collections::HashMap<LockId, Vec<AccessCode>> =
            locks.iter().map(|l| (*l, Vec::new())).collect();
        // The SQLite driver looks each parameter's name up by a linear scan: fewer a statement.
        let per = match self.dialect {
            crate::Dialect::Sqlite => 40,
            crate::Dialect::Postgres => 200,
        };
        for chunk in locks.chunks(per) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM access_codes WHERE lock_id IN ({}) AND status IN {LIVE} \
                 ORDER BY lock_id, id",
                params.join(", ")
            );
            let sql = self.sql(&sql);
            let mut q = sqlx::query(&sql);
            for l in chunk {
                q = q.bind(l.to_string());
            }
            for code in self.codes(&q.fetch_all(&self.pool).await?)? {
                out.entry(code.lock_id).or_default().push(code);
            }
        }
        Ok(out)
    }

    /// Claims up to `limit` codes whose next attempt is due and that nobody holds: each is
    /// leased to `owner` until `lease_until`, its version moved and its attempt counted, in the
    /// same statement, so that several instances never work the same code at once.
    /// PostgreSQL skips rows another claim holds (`FOR UPDATE SKIP LOCKED`); SQLite has one
    /// writer at a time.
    pub async fn claim_due_access_codes(
        &self,
        now: Millis,
        limit: u32,
        lease_until: Millis,
        owner: &str,
    ) -> Result<Vec<AccessCode>> {
        let skip_locked = self.skip_locked();
        let sql = format!(
            "UPDATE access_codes SET lease_owner = $1, lease_until = $2, version = version + 1, \
             attempts = attempts + 1 WHERE id IN (\
             SELECT id FROM access_codes WHERE status IN ('setting', 'removing') \
             AND next_attempt_at IS NOT NULL AND next_attempt_at <= $3 \
             AND (lease_until IS NULL OR lease_until <= $3) \
             ORDER BY next_attempt_at LIMIT $4{skip_locked}) \
             AND (lease_until IS NULL OR lease_until <= $3) RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(owner.to_owned())
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        self.codes(&rows)
    }

    /// Claims one code for `owner` if it waits for the engine and nobody holds it (a request
    /// working its own change at once); `None` when someone else holds it.
    pub async fn claim_access_code(
        &self,
        id: AccessCodeId,
        now: Millis,
        lease_until: Millis,
        owner: &str,
    ) -> Result<Option<AccessCode>> {
        let sql = format!(
            "UPDATE access_codes SET lease_owner = $1, lease_until = $2, version = version + 1, \
             attempts = attempts + 1 WHERE id = $3 AND status IN ('setting', 'removing') \
             AND (lease_until IS NULL OR lease_until <= $4) RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&self.sql(&sql))
            .bind(owner.to_owned())
            .bind(lease_until)
            .bind(id.to_string())
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| self.access_code(r)).transpose()
    }

    /// Extends `owner`'s lease on a code; `false` when the lease is no longer theirs.
    pub async fn extend_lease(&self, id: AccessCodeId, owner: &str, until: Millis) -> Result<bool> {
        let done = sqlx::query(
            &self
                .sql("UPDATE access_codes SET lease_until = $1 WHERE id = $2 AND lease_owner = $3"),
        )
        .bind(until)
        .bind(id.to_string())
        .bind(owner.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the vendor's id of a code that has none yet (a write whose result came back
    /// after its lease was lost): a fact about the lock, whatever is wanted of the code now.
    pub async fn record_provider_id(&self, id: AccessCodeId, provider_id: &str) -> Result<bool> {
        let done = sqlx::query(&self.sql(
            "UPDATE access_codes SET provider_id = $1, version = version + 1 \
             WHERE id = $2 AND provider_id IS NULL",
        ))
        .bind(provider_id.to_owned())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Codes whose `ends_at` has passed are to be removed from their locks (reason `expired`);
    /// one statement, conditional on their status and on nobody holding them. Answers how many.
    pub async fn expire_codes(&self, now: Millis) -> Result<u64> {
        let done = sqlx::query(&self.sql(
            "UPDATE access_codes SET status = 'removing', removed_reason = 'expired', attempts = 0, \
             confirming = 0, next_attempt_at = $1, version = version + 1 \
             WHERE ends_at IS NOT NULL AND ends_at <= $1 AND managed = 1 \
             AND status IN ('scheduled', 'setting', 'set') AND (lease_until IS NULL OR lease_until <= $1)",
        ))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Records codes found on the lock that lockbridge does not know (`managed: false`, event
    /// `access_code.unmanaged_found` each), in one transaction that holds the lock's row, so
    /// that two passes over the same lock at once cannot both record the same code. A found
    /// code whose PIN a live code on the lock already holds is passed over (it is that code,
    /// on its way), as is one that matches a live code of ours whose vendor id is not known
    /// yet. Answers the new rows.
    pub async fn record_found_codes(
        &self,
        lock: &Lock,
        found: &[ProviderCode],
        now: Millis,
    ) -> Result<Vec<AccessCode>> {
        let mut tx = self.write_tx().await?;
        self.hold_lock_row(&mut tx, lock.id).await?;
        let known: HashSet<String> = sqlx::query(&self.sql(
            "SELECT provider_id FROM access_codes WHERE lock_id = $1 AND provider_id IS NOT NULL",
        ))
        .bind(lock.id.to_string())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| text(r, "provider_id"))
        .collect::<Result<_>>()?;
        // Ours on their way to the lock (no vendor id yet): not strangers.
        let sql = format!(
            "SELECT {COLUMNS} FROM access_codes WHERE lock_id = $1 AND managed = 1 \
             AND provider_id IS NULL AND status IN {LIVE}"
        );
        let in_flight = self.codes(
            &sqlx::query(&self.sql(&sql))
                .bind(lock.id.to_string())
                .fetch_all(&mut *tx)
                .await?,
        )?;
        let insert = self.insert_sql(1, " ON CONFLICT DO NOTHING");
        let mut added = Vec::new();
        let strangers = found
            .iter()
            .filter(|f| !known.contains(&f.provider_id))
            .filter(|f| !in_flight.iter().any(|c| f.is(c)));
        for f in strangers {
            let code = AccessCode {
                name: f.spec.name.clone(),
                starts_at: f.spec.starts_at,
                ends_at: f.spec.ends_at,
                schedule: f.spec.schedule.clone(),
                status: CodeStatus::Set,
                managed: false,
                provider_id: Some(f.provider_id.clone()),
                ..AccessCode::new(lock, f.spec.code.clone(), now)
            };
            let done = self
                .bind_code(sqlx::query(&insert), &code)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                let event = Event::new(lock.org_id, EventType::CodeUnmanagedFound, now)
                    .code(code.id, lock.id)
                    .connection(lock.connection_id)
                    .data(serde_json::json!({"provider_id": f.provider_id, "name": f.spec.name}));
                self.insert_events(&mut tx, &[event]).await?;
                added.push(code);
            }
        }
        tx.commit().await?;
        Ok(added)
    }
}

fn schedule_text(c: &AccessCode) -> Option<String> {
    c.schedule
        .as_ref()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
}
