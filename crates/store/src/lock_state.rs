//! What moves a lock between device syncs: our own remote operations (its state), what a
//! vendor's answer to a command says of its reach, and the time zone its operator gives it.

use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{LockId, OrgId};
use lockbridge_core::model::{Lock, LockState};
use lockbridge_core::time::Millis;

use crate::devices::{BUMP_ORG, HealthRules, LOCK_COLUMNS, LockRow, lock};
use crate::{Result, Store, Tx, on};

/// Whether the answer to a write waits until its commit is on disk (PostgreSQL).
///
/// SQLite's commits here never wait for a sync (write-ahead log with `synchronous = NORMAL`):
/// a commit survives the process, not the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// On disk before the answer: every write, unless its caller says otherwise.
    Flushed,
    /// Answered before the server flushes it (`synchronous_commit = off` for this one
    /// transaction): a crash of the database server in the next moments (up to three times
    /// its `wal_writer_delay`, 0.6 s by default) can lose it whole, never in part. Only for a
    /// write that something else restores when it is lost.
    Unflushed,
}

impl Store {
    /// Lock `id` as it is, its row held for the rest of the transaction (PostgreSQL; SQLite's
    /// write transaction excludes every other writer already).
    async fn held_lock(&self, tx: &mut Tx, id: LockId) -> Result<Option<Lock>> {
        let hold = self.on_postgres(" FOR UPDATE");
        let row = on!(tx, t => sqlx::query_as::<_, LockRow>(&format!(
            "SELECT {LOCK_COLUMNS} FROM locks WHERE id = $1{hold}"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut **t)
        .await)?;
        row.map(lock).transpose()
    }

    /// Sets (or, with `None`, forgets) the time zone an operator gives a lock: it is the lock's
    /// zone from now on, whatever the vendor says; forgotten, the vendor's comes back with the
    /// next sync. Its warnings are as `rules` judge them. `false` when there is no such lock.
    pub async fn set_lock_time_zone(
        &self,
        org: OrgId,
        id: LockId,
        zone: Option<&str>,
        rules: &dyn HealthRules,
        now: Millis,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let Some(l) = self
            .held_lock(&mut tx, id)
            .await?
            .filter(|l| l.org_id == org)
        else {
            return Ok(false);
        };
        let warnings = rules.zone_set(&l, zone, now);
        on!(&mut tx, t => sqlx::query("UPDATE locks SET time_zone_set = $1, time_zone = $1, warnings = $2, updated_at = $3 \
             WHERE id = $4")
        .bind(zone.map(str::to_owned))
        .bind(serde_json::to_string(&warnings).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .bind(id.to_string())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, t => sqlx::query(BUMP_ORG)
            .bind(org.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records what a vendor's answer to a command said of a lock's reach: `Some(code)`
    /// (`device_offline` or `gateway_offline`) when it could not be reached, `None` when the
    /// command reached it, judged by `rules`. The change, its event (`lock.offline` /
    /// `lock.online`) and the organisation's lock version move in one transaction,
    /// conditionally on the row as read; `false` when nothing changed.
    pub async fn note_reach(
        &self,
        id: LockId,
        unreachable: Option<&'static str>,
        rules: &dyn HealthRules,
        now: Millis,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let Some(l) = self.held_lock(&mut tx, id).await? else {
            return Ok(false);
        };
        let (online, errors) = rules.reach(&l, unreachable, now);
        if online == l.online && errors == l.errors {
            return Ok(false);
        }
        on!(&mut tx, t => sqlx::query("UPDATE locks SET online = $1, errors = $2 WHERE id = $3")
            .bind(i64::from(online))
            .bind(serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into()))
            .bind(id.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, t => sqlx::query(BUMP_ORG)
            .bind(l.org_id.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        if online != l.online {
            let kind = if online {
                EventType::LockOnline
            } else {
                EventType::LockOffline
            };
            let event = Event::new(l.org_id, kind, now)
                .lock(l.id)
                .connection(l.connection_id)
                .data(serde_json::json!({"reason": unreachable.unwrap_or("reached")}));
            self.insert_events(&mut tx, &[event]).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records a lock's new state, and the event for it when `event` says what moved it (our
    /// own remote operation), in one transaction. `commit`: see [`Commit`] (a write that does
    /// not fit one statement is flushed whatever it says).
    pub async fn set_lock_state(
        &self,
        id: LockId,
        state: LockState,
        event: Option<Event>,
        commit: Commit,
    ) -> Result<()> {
        // PostgreSQL: the state, the organisation's version and the event in one statement.
        if let (crate::Db::Postgres(pool), Some(e)) = (&self.pool, &event)
            && self
                .change_with_events(pool, e.org_id, std::slice::from_ref(e), commit, |q| {
                    q.push("u AS (UPDATE locks SET state = ")
                        .push_bind(state.as_str())
                        .push(" WHERE id = ")
                        .push_bind(id.to_string())
                        .push(
                            " AND EXISTS (SELECT 1 FROM matched) RETURNING org_id), \
                             o AS (UPDATE organisations SET locks_version = locks_version + 1 \
                             WHERE id IN (SELECT org_id FROM u))",
                        );
                })
                .await?
                .is_some()
        {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        if let Some(e) = event {
            self.insert_events(&mut tx, &[e]).await?;
        }
        on!(&mut tx, t => sqlx::query("UPDATE locks SET state = $1 WHERE id = $2")
            .bind(state.as_str())
            .bind(id.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, t => sqlx::query("UPDATE organisations SET locks_version = locks_version + 1 \
             WHERE id = (SELECT org_id FROM locks WHERE id = $1)")
        .bind(id.to_string())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(())
    }

    /// A number that moves with every committed change to the organisation's locks.
    pub async fn locks_version(&self, org: OrgId) -> Result<i64> {
        let version = on!(&self.pool, db => sqlx::query_scalar::<_, i64>(
            "SELECT locks_version FROM organisations WHERE id = $1",
        )
        .bind(org.to_string())
        .fetch_optional(db)
        .await)?;
        Ok(version.unwrap_or(0))
    }
}
