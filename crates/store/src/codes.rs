//! Access codes; the PIN itself is sealed, and a keyed hash of it keeps one live code per PIN
//! on a lock.
//!
//! A code is a state machine that requests, the code engine and reconciliation all move, on
//! several instances at once. Every write after the first is conditional on the `version` the
//! writer read (and, for the engine, on still holding the code's lease), so a write that lost
//! a race changes nothing and says so; the writer reads the row again and decides anew.

use lockbridge_core::events::Event;
use lockbridge_core::ids::{AccessCodeId, GrantId, LockId, OrgId};
use lockbridge_core::model::{AccessCode, CodeStatus, ExternalPolicy, RemovedReason, Scheduling};
use lockbridge_core::time::Millis;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, int, opt_int, opt_text, parse, text};

pub(crate) const COLUMNS: &str = "id, org_id, lock_id, name, code, starts_at, ends_at, schedule, status, frozen, managed, \
                       provider_id, last_error, attempts, next_attempt_at, idempotency_key, created_at, updated_at, \
                       confirming, version, lease_owner, lease_until, removed_reason, errors, warnings, \
                       on_external_change, pin_hash, idempotency_fingerprint, scheduling, window_start, \
                       window_end, grant_id, actor, kind";
const NCOLS: usize = 34;

/// The statuses that hold a PIN and a place on the lock (the unique index's condition).
pub(crate) const LIVE: &str = "('scheduled', 'setting', 'set', 'removing')";

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

/// The lease owner a write is conditional on ($25; bound, and unused, when there is none).
fn guard_owner(guard: Guard<'_>) -> Option<String> {
    match guard {
        Guard::Version => None,
        Guard::Lease(owner) => Some(owner.to_owned()),
    }
}

/// How a grant's conditional write of one of its codes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantCodeWrite {
    Written,
    /// The code was not at the version read: read it again.
    CodeMoved,
    /// The grant was changed again: what was to be written is no longer wanted.
    GrantMoved,
}

/// A unique-index violation: the live-PIN index or the idempotency key.
pub(crate) fn code_conflict(err: sqlx::Error) -> StoreError {
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
    pub(crate) fn access_code(&self, row: &AnyRow) -> Result<AccessCode> {
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
            scheduling: {
                let s = text(row, "scheduling")?;
                Scheduling::parse(&s).ok_or_else(|| corrupt(format!("scheduling {s:?}")))?
            },
            grant_id: opt_text(row, "grant_id")?
                .map(|g| parse("access_codes", &id, "grant_id", &g))
                .transpose()?,
            actor: opt_text(row, "actor")?
                .and_then(|a| serde_json::from_str(&a).ok())
                .unwrap_or_default(),
            kind: {
                let k = text(row, "kind")?;
                lockbridge_core::model::parse_code_kind(&k)
                    .ok_or_else(|| corrupt(format!("kind {k:?}")))?
            },
            window: opt_int(row, "window_start")?.zip(opt_int(row, "window_end")?),
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

    pub(crate) fn codes(&self, rows: &[AnyRow]) -> Result<Vec<AccessCode>> {
        rows.iter().map(|r| self.access_code(r)).collect()
    }

    /// Binds a code's columns in `COLUMNS` order, the PIN sealed and hashed.
    pub(crate) fn bind_code<'q>(
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
            .bind(c.scheduling.as_str())
            .bind(c.window.map(|w| w.0))
            .bind(c.window.map(|w| w.1))
            .bind(c.grant_id.map(|g| g.to_string()))
            .bind(serde_json::to_string(&c.actor).ok())
            .bind(lockbridge_core::model::code_kind_text(c.kind))
    }

    pub(crate) fn insert_sql(&self, rows: usize, tail: &str) -> String {
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
        self.insert_code(c, max_codes, None).await.map(|_| ())
    }

    /// [`Store::insert_access_code`] for a code of `grant`, only while the grant is still at
    /// `grant_version` (checked in the same transaction, holding the grant's row, so a change
    /// of the grant cannot slip in between): `false`, and nothing stored, when it moved.
    pub async fn insert_grant_code(
        &self,
        c: &AccessCode,
        max_codes: Option<u32>,
        grant: GrantId,
        grant_version: i64,
    ) -> Result<bool, InsertError> {
        self.insert_code(c, max_codes, Some((grant, grant_version)))
            .await
    }

    async fn insert_code(
        &self,
        c: &AccessCode,
        max_codes: Option<u32>,
        grant: Option<(GrantId, i64)>,
    ) -> Result<bool, InsertError> {
        let mut tx = self.write_tx().await?;
        if let Some((id, version)) = grant
            && !self.grant_at(&mut tx, id, version).await?
        {
            return Ok(false);
        }
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
        Ok(true)
    }

    /// Whether grant `id` is still at `version`, holding its row against changes for the rest
    /// of the transaction (PostgreSQL: a share lock, which a concurrent change waits for and
    /// whose wait ends with the changed row read; SQLite's write transaction excludes every
    /// other writer already).
    pub(crate) async fn grant_at(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: GrantId,
        version: i64,
    ) -> Result<bool> {
        let hold = match self.dialect {
            crate::Dialect::Postgres => " FOR SHARE",
            crate::Dialect::Sqlite => "",
        };
        let row =
            sqlx::query(&self.sql(&format!("SELECT version FROM grants WHERE id = $1{hold}")))
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        Ok(match row {
            Some(row) => int(&row, "version")? == version,
            None => false,
        })
    }

    /// Takes the lock's row for the rest of the transaction (PostgreSQL; SQLite's write
    /// transaction already excludes every other writer).
    pub(crate) async fn hold_lock_row(
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
        let mut tx = self.write_tx().await?;
        if !self.write_code(&mut tx, c, expected, guard, now).await? {
            return Ok(false);
        }
        self.insert_events(&mut tx, events).await?;
        tx.commit().await?;
        self.written(c, expected, guard, now);
        Ok(true)
    }

    /// [`Store::update_code_if`] for a grant bringing one of its codes to what version
    /// `grant_version` of it wants: written only while the grant is still at that version (its
    /// row held for the transaction), so a change computed from a grant that has moved on never
    /// lands after the newer one's.
    pub async fn update_grant_code_if(
        &self,
        c: &mut AccessCode,
        expected: i64,
        grant: GrantId,
        grant_version: i64,
        now: Millis,
    ) -> Result<GrantCodeWrite> {
        let mut tx = self.write_tx().await?;
        if !self.grant_at(&mut tx, grant, grant_version).await? {
            return Ok(GrantCodeWrite::GrantMoved);
        }
        if !self
            .write_code(&mut tx, c, expected, Guard::Version, now)
            .await?
        {
            return Ok(GrantCodeWrite::CodeMoved);
        }
        tx.commit().await?;
        self.written(c, expected, Guard::Version, now);
        Ok(GrantCodeWrite::Written)
    }

    /// The conditional `UPDATE` of [`Store::update_code_if`], in `tx`; `false` when the row was
    /// not at `expected` (or not leased as `guard` says).
    async fn write_code(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        c: &AccessCode,
        expected: i64,
        guard: Guard<'_>,
        now: Millis,
    ) -> Result<bool> {
        let id = c.id.to_string();
        let lease_set = match guard {
            Guard::Version => "",
            Guard::Lease(_) => ", lease_owner = NULL, lease_until = NULL",
        };
        let sql = format!(
            "UPDATE access_codes SET name = $1, code = $2, starts_at = $3, ends_at = $4, schedule = $5, \
             status = $6, frozen = $7, provider_id = $8, last_error = $9, attempts = $10, next_attempt_at = $11, \
             updated_at = $12, confirming = $13, removed_reason = $14, errors = $15, warnings = $16, \
             on_external_change = $17, managed = $18, pin_hash = $19, scheduling = $22, \
             window_start = $23, window_end = $24, actor = $26, version = version + 1{lease_set} \
             WHERE id = $20 AND version = $21 AND ($25 IS NULL OR lease_owner = $25)"
        );
        let sql = self.sql(&sql);
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
        q = q
            .bind(c.scheduling.as_str())
            .bind(c.window.map(|w| w.0))
            .bind(c.window.map(|w| w.1));
        q = q.bind(guard_owner(guard));
        q = q.bind(serde_json::to_string(&c.actor).ok());
        let done = q.execute(&mut **tx).await.map_err(code_conflict)?;
        Ok(done.rows_affected() == 1)
    }

    /// What a committed [`Store::write_code`] changed of the row, mirrored in `c`.
    fn written(&self, c: &mut AccessCode, expected: i64, guard: Guard<'_>, now: Millis) {
        c.version = expected + 1;
        c.updated_at = now;
        if matches!(guard, Guard::Lease(_)) {
            c.lease_owner = None;
            c.lease_until = None;
        }
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
}

fn schedule_text(c: &AccessCode) -> Option<String> {
    c.schedule
        .as_ref()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
}
