//! What moves a lock between device syncs: our own remote operations (its state), what a
//! vendor's answer to a command says of its reach, and the time zone its operator gives it.

use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{LockId, OrgId};
use lockbridge_core::model::{Lock, LockState, toggle_notice};
use lockbridge_core::time::Millis;

use crate::devices::{BUMP_ORG, LOCK_COLUMNS, lock};
use crate::{Result, Store, int};

/// `+08:00`, `-03:30`.
pub(crate) fn offset_text(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The message of a `device_offline` error learned from a command's answer.
pub(crate) const UNREACHED: &str = "the lock did not answer the last command";

impl Store {
    /// Lock `id` as it is, its row held for the rest of the transaction (PostgreSQL; SQLite's
    /// write transaction excludes every other writer already).
    async fn held_lock(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: LockId,
    ) -> Result<Option<Lock>> {
        let hold = match self.dialect {
            crate::Dialect::Postgres => " FOR UPDATE",
            crate::Dialect::Sqlite => "",
        };
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {LOCK_COLUMNS} FROM locks WHERE id = $1{hold}"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(lock).transpose()
    }

    /// Sets (or, with `None`, forgets) the time zone an operator gives a lock: it is the lock's
    /// zone from now on, whatever the vendor says; forgotten, the vendor's comes back with the
    /// next sync. The zone warnings go with it. `false` when there is no such lock.
    pub async fn set_lock_time_zone(
        &self,
        org: OrgId,
        id: LockId,
        zone: Option<&str>,
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
        let mut warnings = l.warnings.clone();
        if zone.is_some() {
            toggle_notice(&mut warnings, false, "time_zone_unknown", "", now);
            toggle_notice(&mut warnings, false, "time_zone_is_offset", "", now);
        }
        sqlx::query(&self.sql(
            "UPDATE locks SET time_zone_set = $1, time_zone = $1, warnings = $2, updated_at = $3 \
             WHERE id = $4",
        ))
        .bind(zone.map(str::to_owned))
        .bind(serde_json::to_string(&warnings).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query(&self.sql(BUMP_ORG))
            .bind(org.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records what a vendor's answer to a command said of a lock's reach: `Some(code)`
    /// (`device_offline` or `gateway_offline`) marks it offline with that error, `None` (the
    /// command reached it) brings it back online without either. The change, its event
    /// (`lock.offline` / `lock.online`) and the organisation's lock version move in one
    /// transaction, conditionally on the row as read; `false` when nothing changed.
    pub async fn note_reach(
        &self,
        id: LockId,
        unreachable: Option<&'static str>,
        now: Millis,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let Some(l) = self.held_lock(&mut tx, id).await? else {
            return Ok(false);
        };
        let mut errors = l.errors.clone();
        let online = match unreachable {
            Some(code) => {
                let message = if code == "gateway_offline" {
                    "the lock's gateway did not answer the last command"
                } else {
                    UNREACHED
                };
                toggle_notice(&mut errors, true, code, message, now);
                false
            }
            None => {
                toggle_notice(&mut errors, false, "device_offline", "", now);
                toggle_notice(&mut errors, false, "gateway_offline", "", now);
                true
            }
        };
        if online == l.online && errors == l.errors {
            return Ok(false);
        }
        sqlx::query(&self.sql("UPDATE locks SET online = $1, errors = $2 WHERE id = $3"))
            .bind(i64::from(online))
            .bind(serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into()))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(&self.sql(BUMP_ORG))
            .bind(l.org_id.to_string())
            .execute(&mut *tx)
            .await?;
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
    /// own remote operation), in one transaction.
    pub async fn set_lock_state(
        &self,
        id: LockId,
        state: LockState,
        event: Option<Event>,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        if let Some(e) = event {
            self.insert_events(&mut tx, &[e]).await?;
        }
        sqlx::query(&self.sql("UPDATE locks SET state = $1 WHERE id = $2"))
            .bind(state.as_str())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(&self.sql(
            "UPDATE organisations SET locks_version = locks_version + 1 \
             WHERE id = (SELECT org_id FROM locks WHERE id = $1)",
        ))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A number that moves with every committed change to the organisation's locks.
    pub async fn locks_version(&self, org: OrgId) -> Result<i64> {
        let row = sqlx::query(&self.sql("SELECT locks_version FROM organisations WHERE id = $1"))
            .bind(org.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map_or(Ok(0), |r| int(&r, "locks_version"))
    }
}
