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
use sqlx::QueryBuilder;

use crate::code_writes::{push_code_update, push_code_values};
use crate::{Result, Store, StoreError, Tx, on, parse, push_list};

/// A code's columns, in [`CodeRow`]'s order.
pub(crate) const COLUMNS: &str = "id, org_id, lock_id, name, code, starts_at, ends_at, schedule, status, frozen, managed, \
                       provider_id, last_error, attempts, next_attempt_at, idempotency_key, created_at, updated_at, \
                       confirming, version, lease_owner, lease_until, removed_reason, errors, warnings, \
                       on_external_change, pin_hash, idempotency_fingerprint, scheduling, window_start, \
                       window_end, grant_id, actor, kind";

/// A row of `access_codes` as both backends store it: the PIN sealed, its keyed hash beside it,
/// lists and the actor as JSON text, flags as 0/1.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CodeRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) lock_id: String,
    pub(crate) name: Option<String>,
    pub(crate) code: Vec<u8>,
    pub(crate) starts_at: Option<i64>,
    pub(crate) ends_at: Option<i64>,
    pub(crate) schedule: Option<String>,
    pub(crate) status: String,
    pub(crate) frozen: i64,
    pub(crate) managed: i64,
    pub(crate) provider_id: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: Option<i64>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) confirming: i64,
    pub(crate) version: i64,
    pub(crate) lease_owner: Option<String>,
    pub(crate) lease_until: Option<i64>,
    pub(crate) removed_reason: Option<String>,
    pub(crate) errors: String,
    pub(crate) warnings: String,
    pub(crate) on_external_change: Option<String>,
    pub(crate) pin_hash: Option<String>,
    pub(crate) idempotency_fingerprint: Option<String>,
    pub(crate) scheduling: String,
    pub(crate) window_start: Option<i64>,
    pub(crate) window_end: Option<i64>,
    pub(crate) grant_id: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) kind: String,
}

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

fn json_list<T: serde::de::DeserializeOwned>(id: &str, col: &str, text: &str) -> Result<Vec<T>> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt {
        table: "access_codes",
        id: id.to_owned(),
        what: col.to_owned(),
    })
}

impl Store {
    pub(crate) fn access_code(&self, row: CodeRow) -> Result<AccessCode> {
        let id = row.id;
        let corrupt = |what: String| StoreError::Corrupt {
            table: "access_codes",
            id: id.clone(),
            what,
        };
        Ok(AccessCode {
            org_id: parse("access_codes", &id, "org_id", &row.org_id)?,
            lock_id: parse("access_codes", &id, "lock_id", &row.lock_id)?,
            name: row.name,
            code: self.cipher.open_string(&id, &row.code)?,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            schedule: row
                .schedule
                .map(|s| serde_json::from_str(&s).map_err(|_| corrupt("schedule".into())))
                .transpose()?,
            scheduling: Scheduling::parse(&row.scheduling)
                .ok_or_else(|| corrupt(format!("scheduling {:?}", row.scheduling)))?,
            grant_id: row
                .grant_id
                .map(|g| parse("access_codes", &id, "grant_id", &g))
                .transpose()?,
            actor: row
                .actor
                .and_then(|a| serde_json::from_str(&a).ok())
                .unwrap_or_default(),
            kind: lockbridge_core::model::parse_code_kind(&row.kind)
                .ok_or_else(|| corrupt(format!("kind {:?}", row.kind)))?,
            window: row.window_start.zip(row.window_end),
            status: CodeStatus::parse(&row.status)
                .ok_or_else(|| corrupt(format!("status {:?}", row.status)))?,
            frozen: row.frozen != 0,
            managed: row.managed != 0,
            provider_id: row.provider_id,
            last_error: row.last_error,
            removed_reason: row
                .removed_reason
                .map(|r| RemovedReason::parse(&r).ok_or_else(|| corrupt(format!("reason {r:?}"))))
                .transpose()?,
            errors: json_list(&id, "errors", &row.errors)?,
            warnings: json_list(&id, "warnings", &row.warnings)?,
            on_external_change: row
                .on_external_change
                .map(|p| ExternalPolicy::parse(&p).ok_or_else(|| corrupt(format!("policy {p:?}"))))
                .transpose()?,
            version: row.version,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            attempts: row.attempts,
            confirming: row.confirming != 0,
            next_attempt_at: row.next_attempt_at,
            idempotency_key: row.idempotency_key,
            idempotency_fingerprint: row.idempotency_fingerprint,
            created_at: row.created_at,
            updated_at: row.updated_at,
            id: parse("access_codes", &id, "id", &id)?,
        })
    }

    pub(crate) fn codes(&self, rows: Vec<CodeRow>) -> Result<Vec<AccessCode>> {
        rows.into_iter().map(|r| self.access_code(r)).collect()
    }

    /// `c` as it is stored: the PIN sealed and hashed, lists and the actor as JSON.
    pub(crate) fn code_row(&self, c: &AccessCode) -> CodeRow {
        let id = c.id.to_string();
        let lock_id = c.lock_id.to_string();
        CodeRow {
            code: self.cipher.seal(&id, c.code.as_bytes()),
            pin_hash: self.cipher.pin_hash(&lock_id, &c.code),
            id,
            org_id: c.org_id.to_string(),
            lock_id,
            name: c.name.clone(),
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            schedule: schedule_text(c),
            status: c.status.as_str().to_owned(),
            frozen: i64::from(c.frozen),
            managed: i64::from(c.managed),
            provider_id: c.provider_id.clone(),
            last_error: c.last_error.clone(),
            attempts: c.attempts,
            next_attempt_at: c.next_attempt_at,
            idempotency_key: c.idempotency_key.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            confirming: i64::from(c.confirming),
            version: c.version,
            lease_owner: c.lease_owner.clone(),
            lease_until: c.lease_until,
            removed_reason: c.removed_reason.map(|r| r.as_str().to_owned()),
            errors: serde_json::to_string(&c.errors).unwrap_or_else(|_| "[]".into()),
            warnings: serde_json::to_string(&c.warnings).unwrap_or_else(|_| "[]".into()),
            on_external_change: c.on_external_change.map(|p| p.as_str().to_owned()),
            idempotency_fingerprint: c.idempotency_fingerprint.clone(),
            scheduling: c.scheduling.as_str().to_owned(),
            window_start: c.window.map(|w| w.0),
            window_end: c.window.map(|w| w.1),
            grant_id: c.grant_id.map(|g| g.to_string()),
            actor: serde_json::to_string(&c.actor).ok(),
            kind: lockbridge_core::model::code_kind_text(c.kind).to_owned(),
        }
    }

    /// Inserts `codes` in `tx`, one statement (`INSERT … VALUES (…), (…)` followed by `tail`);
    /// the rows affected.
    pub(crate) async fn insert_codes(
        &self,
        tx: &mut Tx,
        codes: &[AccessCode],
        tail: &str,
    ) -> Result<u64> {
        let rows = codes.iter().map(|c| self.code_row(c));
        let head = format!("INSERT INTO access_codes ({COLUMNS}) ");
        on!(tx, t => {
            let mut q = QueryBuilder::new(head);
            push_code_values(&mut q, rows);
            q.push(tail);
            q.build().execute(&mut **t).await.map(|r| r.rows_affected())
        })
        .map_err(code_conflict)
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
        self.insert_within(&mut tx, c, max_codes).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Inserts `c` in `tx`; with `max_codes`, only while its lock has fewer live codes. The
    /// count is part of the insert, which runs once the lock's row is held (PostgreSQL), so its
    /// snapshot already sees every create that held the row before.
    pub(crate) async fn insert_within(
        &self,
        tx: &mut Tx,
        c: &AccessCode,
        max_codes: Option<u32>,
    ) -> Result<(), InsertError> {
        let Some(max) = max_codes else {
            self.insert_codes(tx, std::slice::from_ref(c), "").await?;
            return Ok(());
        };
        self.hold_lock_row(tx, c.lock_id).await?;
        let r = self.code_row(c);
        let lock = c.lock_id.to_string();
        let head = format!("INSERT INTO access_codes ({COLUMNS}) SELECT * FROM (");
        let added = on!(tx, t => {
            let mut q = QueryBuilder::new(head);
            push_code_values(&mut q, std::iter::once(r));
            q.push(") AS v WHERE (SELECT COUNT(*) FROM access_codes WHERE lock_id = ")
                .push_bind(lock)
                .push(format!(" AND status IN {LIVE}) < "))
                .push_bind(i64::from(max));
            q.build().execute(&mut **t).await.map(|r| r.rows_affected())
        })
        .map_err(code_conflict)?;
        if added == 0 {
            return Err(InsertError::Capacity(max));
        }
        Ok(())
    }

    /// Whether grant `id` is still at `version`, holding its row against changes for the rest
    /// of the transaction (PostgreSQL: a share lock, which a concurrent change waits for and
    /// whose wait ends with the changed row read; SQLite's write transaction excludes every
    /// other writer already).
    pub(crate) async fn grant_at(&self, tx: &mut Tx, id: GrantId, version: i64) -> Result<bool> {
        let sql = format!(
            "SELECT version FROM grants WHERE id = $1{}",
            self.on_postgres(" FOR SHARE")
        );
        let stored = on!(tx, t => sqlx::query_scalar::<_, i64>(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut **t)
            .await)?;
        Ok(stored == Some(version))
    }

    /// Takes the lock's row for the rest of the transaction (PostgreSQL; SQLite's write
    /// transaction already excludes every other writer).
    pub(crate) async fn hold_lock_row(&self, tx: &mut Tx, lock: LockId) -> Result<()> {
        if let Tx::Postgres(t) = tx {
            sqlx::query("SELECT id FROM locks WHERE id = $1 FOR UPDATE")
                .bind(lock.to_string())
                .fetch_optional(&mut **t)
                .await?;
        }
        Ok(())
    }

    /// Inserts codes in one transaction: all of them or, on any error, none. Rows go in
    /// batches per statement.
    pub async fn insert_access_codes(&self, codes: &[AccessCode]) -> Result<()> {
        // 34 binds a row: SQLite takes at most 32,766 a statement, PostgreSQL 65,535.
        let rows = self.per_statement(100, 400);
        let mut tx = self.write_tx().await?;
        for chunk in codes.chunks(rows) {
            self.insert_codes(&mut tx, chunk, "").await?;
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
        if let crate::Db::Postgres(pool) = &self.pool
            && let Some(done) = self
                .update_code_in_one(pool, c, expected, guard, now, events)
                .await?
        {
            return Ok(done);
        }
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
        tx: &mut Tx,
        c: &AccessCode,
        expected: i64,
        guard: Guard<'_>,
        now: Millis,
    ) -> Result<bool> {
        let r = self.code_row(c);
        let done = on!(tx, t => {
            let mut q = QueryBuilder::new("");
            push_code_update(&mut q, r, expected, guard, now);
            q.build().execute(&mut **t).await.map(|r| r.rows_affected())
        })
        .map_err(code_conflict)?;
        Ok(done == 1)
    }

    /// What a committed [`Store::write_code`] changed of the row, mirrored in `c`.
    pub(crate) fn written(&self, c: &mut AccessCode, expected: i64, guard: Guard<'_>, now: Millis) {
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
        let row = on!(&self.pool, db => sqlx::query_as::<_, CodeRow>(&sql)
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.access_code(r)).transpose()
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
        let row = on!(&self.pool, db => sqlx::query_as::<_, CodeRow>(&sql)
            .bind(org.to_string())
            .bind(key)
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.access_code(r)).transpose()
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
        let rows = on!(&self.pool, db => sqlx::query_as::<_, CodeRow>(&sql)
            .bind(lock.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        let org = org.to_string();
        self.codes(rows.into_iter().filter(|r| r.org_id == org).collect())
    }

    /// The lock's live codes (on it, or on their way to or from it), managed or not.
    pub async fn live_codes(&self, lock: LockId) -> Result<Vec<AccessCode>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM access_codes WHERE lock_id = $1 AND status IN {LIVE} ORDER BY lock_id, id"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, CodeRow>(&sql)
            .bind(lock.to_string())
            .fetch_all(db)
            .await)?;
        self.codes(rows)
    }

    /// The live codes of each of `locks`, a few queries for all of them.
    pub async fn live_codes_of(
        &self,
        locks: &[LockId],
    ) -> Result<std::collections::HashMap<LockId, Vec<AccessCode>>> {
        let mut out: std::collections::HashMap<LockId, Vec<AccessCode>> =
            locks.iter().map(|l| (*l, Vec::new())).collect();
        for chunk in locks.chunks(self.per_statement(100, 200)) {
            let head = format!("SELECT {COLUMNS} FROM access_codes WHERE lock_id IN ");
            let tail = format!(" AND status IN {LIVE} ORDER BY lock_id, id");
            let rows = on!(&self.pool, db => {
                let mut q = QueryBuilder::new(head);
                push_list(&mut q, chunk.iter().map(|l| l.to_string()));
                q.push(tail);
                q.build_query_as::<CodeRow>().fetch_all(db).await
            })?;
            for code in self.codes(rows)? {
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
