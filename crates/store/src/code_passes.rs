//! What the workers do to codes in bulk, each one statement or one transaction: claims of due
//! codes (leased, so that several instances never work the same code at once), expiry, the
//! openings and closings of just-in-time windows, and codes found on a lock.

use std::collections::HashSet;

use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::AccessCodeId;
use lockbridge_core::model::{AccessCode, CodeStatus, Lock};
use lockbridge_core::provider::ProviderCode;
use lockbridge_core::time::Millis;

use lockbridge_core::ids::{ConnectionId, LockId};
use sqlx::QueryBuilder;

use crate::codes::{COLUMNS, CodeRow, LIVE};
use crate::{Result, Store, on, push_list};

impl Store {
    /// The secret in the path `connection`'s vendor posts its events to.
    pub fn hook_secret(&self, connection: ConnectionId) -> String {
        self.cipher.hook_secret(&connection.to_string())
    }

    /// The vendor said something changed on these of `conn`'s locks (their vendor ids): each
    /// is reconciled, and its codes waiting on the vendor are checked, at the workers' next
    /// pass rather than at their own time. Times are only moved earlier. Answers the locks.
    pub async fn look_sooner(
        &self,
        conn: ConnectionId,
        vendor_ids: &[String],
        now: Millis,
    ) -> Result<Vec<LockId>> {
        if vendor_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = on!(&self.pool, db => {
            let mut q = QueryBuilder::new("SELECT id FROM locks WHERE connection_id = ");
            q.push_bind(conn.to_string()).push(" AND provider_id IN ");
            push_list(&mut q, vendor_ids.iter().cloned());
            q.build_query_scalar::<String>().fetch_all(db).await
        })?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Each only moves a time earlier: no transaction needed, nothing lost if one is cut.
        for (table, column, rows) in [
            ("locks", "next_reconcile_at", "id"),
            (
                "access_codes",
                "next_attempt_at",
                "status IN ('setting', 'removing') AND lock_id",
            ),
        ] {
            on!(&self.pool, db => {
                let mut q = QueryBuilder::new(format!("UPDATE {table} SET {column} = "));
                q.push_bind(now).push(format!(" WHERE {column} > "));
                q.push_bind(now).push(format!(" AND {rows} IN "));
                push_list(&mut q, ids.iter().cloned());
                q.build().execute(db).await.map(|r| r.rows_affected())
            })?;
        }
        ids.iter()
            .map(|id| crate::parse("locks", id, "id", id))
            .collect()
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
        let rows = on!(&self.pool, db => sqlx::query_as::<_, CodeRow>(&sql)
            .bind(owner.to_owned())
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        self.codes(rows)
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
        let row = on!(&self.pool, db => sqlx::query_as::<_, CodeRow>(&sql)
            .bind(owner.to_owned())
            .bind(lease_until)
            .bind(id.to_string())
            .bind(now)
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.access_code(r)).transpose()
    }

    /// Extends `owner`'s lease on a code; `false` when the lease is no longer theirs.
    pub async fn extend_lease(&self, id: AccessCodeId, owner: &str, until: Millis) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query(
            "UPDATE access_codes SET lease_until = $1 WHERE id = $2 AND lease_owner = $3",
        )
        .bind(until)
        .bind(id.to_string())
        .bind(owner.to_owned())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records the vendor's id of a code that has none yet (a write whose result came back
    /// after its lease was lost): a fact about the lock, whatever is wanted of the code now.
    pub async fn record_provider_id(&self, id: AccessCodeId, provider_id: &str) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query("UPDATE access_codes SET provider_id = $1, version = version + 1 \
             WHERE id = $2 AND provider_id IS NULL")
        .bind(provider_id.to_owned())
        .bind(id.to_string())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Codes whose `ends_at` has passed are to be removed from their locks (reason `expired`);
    /// one statement, conditional on their status and on nobody holding them. Answers how many.
    pub async fn expire_codes(&self, now: Millis) -> Result<u64> {
        let done = on!(&self.pool, db => sqlx::query("UPDATE access_codes SET status = 'removing', removed_reason = 'expired', attempts = 0, \
             confirming = 0, next_attempt_at = $1, version = version + 1 \
             WHERE ends_at IS NOT NULL AND ends_at <= $1 AND managed = 1 AND kind = 'online' \
             AND status IN ('scheduled', 'setting', 'set') AND (lease_until IS NULL OR lease_until <= $1)")
        .bind(now)
        .execute(db).await.map(|r| r.rows_affected()))?;
        // An offline code stops working on the lock by itself at its end: nothing to send.
        let offline = on!(&self.pool, db => sqlx::query("UPDATE access_codes SET status = 'removed', removed_reason = 'expired', \
             next_attempt_at = NULL, version = version + 1 \
             WHERE ends_at IS NOT NULL AND ends_at <= $1 AND kind <> 'online' AND status = 'set' \
             AND (lease_until IS NULL OR lease_until <= $1)")
        .bind(now)
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done + offline)
    }

    /// Just-in-time codes whose moment has come (a `scheduled` code's `next_attempt_at` is its
    /// opening less the lead) are to be written now: one statement, conditional on their
    /// status and on nobody holding them. Answers how many.
    pub async fn open_windows(&self, now: Millis) -> Result<u64> {
        let done = on!(&self.pool, db => sqlx::query("UPDATE access_codes SET status = 'setting', attempts = 0, confirming = 0, \
             version = version + 1 WHERE status = 'scheduled' AND next_attempt_at IS NOT NULL \
             AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)")
        .bind(now)
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }

    /// Just-in-time codes whose opening has closed come off the lock (the engine then waits
    /// for the next opening, or lets the code expire): one statement, conditional as above.
    pub async fn close_windows(&self, now: Millis) -> Result<u64> {
        let done = on!(&self.pool, db => sqlx::query("UPDATE access_codes SET status = 'removing', removed_reason = NULL, last_error = NULL, \
             errors = '[]', attempts = 0, confirming = 0, next_attempt_at = $1, version = version + 1 \
             WHERE window_end IS NOT NULL AND window_end <= $1 AND scheduling = 'just_in_time' \
             AND managed = 1 AND status IN ('setting', 'set') \
             AND (lease_until IS NULL OR lease_until <= $1)")
        .bind(now)
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done)
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
        let known: HashSet<String> = on!(&mut tx, t => sqlx::query_scalar::<_, String>(
            "SELECT provider_id FROM access_codes WHERE lock_id = $1 AND provider_id IS NOT NULL",
        )
        .bind(lock.id.to_string())
        .fetch_all(&mut **t)
        .await)?
        .into_iter()
        .collect();
        // Ours on their way to the lock (no vendor id yet): not strangers.
        let sql = format!(
            "SELECT {COLUMNS} FROM access_codes WHERE lock_id = $1 AND managed = 1 \
             AND provider_id IS NULL AND status IN {LIVE}"
        );
        let in_flight = self.codes(on!(&mut tx, t => sqlx::query_as::<_, CodeRow>(&sql)
            .bind(lock.id.to_string())
            .fetch_all(&mut **t)
            .await)?)?;
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
                .insert_codes(
                    &mut tx,
                    std::slice::from_ref(&code),
                    " ON CONFLICT DO NOTHING",
                )
                .await?;
            if done == 1 {
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
