//! Locks and gateways, as the last sync found them.

use std::collections::HashMap;

use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{ConnectionId, GatewayId, LockId, OrgId};
use lockbridge_core::model::toggle_notice;
use lockbridge_core::model::{Connection, Gateway, Lock, Notice, Provider};
use lockbridge_core::provider::{DeviceLock, Devices};
use lockbridge_core::time::Millis;

use crate::device_rows::{GATEWAY_COLUMNS, GatewayRow, gateway, upsert_lock};
pub(crate) use crate::device_rows::{LOCK_COLUMNS, LockRow, lock};
use crate::{Result, Store, Tx, on, parse};

/// A lock as a sync found it, for the caller's health rules to judge.
#[derive(Debug)]
pub struct SeenLock<'a> {
    /// The lock as stored before this sync (`None`: new).
    pub before: Option<&'a Lock>,
    pub device: &'a DeviceLock,
    /// The lock's gateway is listed, and offline.
    pub gateway_down: bool,
    /// Codes on the lock or on their way to or from it.
    pub live_codes: i64,
    /// The zone the lock keeps after the sync (its operator's, else the vendor's).
    pub time_zone: Option<&'a str>,
    pub now: Millis,
}

/// What health rules make of a lock: whether it is online, its errors and warnings, and the
/// events of what changed (`lock.*`, with their data).
#[derive(Debug, Default)]
pub struct LockHealth {
    pub online: bool,
    pub errors: Vec<Notice>,
    pub warnings: Vec<Notice>,
    pub events: Vec<(EventType, Option<serde_json::Value>)>,
}

/// The rules that judge a lock's health, applied by the store inside the transaction that
/// writes what they judged (the application decides them; the store only persists).
pub trait HealthRules: Sync {
    /// A lock as a sync found it.
    fn lock(&self, seen: &SeenLock<'_>) -> LockHealth;

    /// A lock's reach as a command's answer told it: `unreachable` names the error
    /// (`device_offline`, `gateway_offline`), `None` when the command reached it. Answers
    /// whether it is online, and its errors.
    fn reach(
        &self,
        before: &Lock,
        unreachable: Option<&'static str>,
        now: Millis,
    ) -> (bool, Vec<Notice>);

    /// A lock's warnings once its operator set its time zone (`None`: forgot it).
    fn zone_set(&self, before: &Lock, zone: Option<&str>, now: Millis) -> Vec<Notice>;
}

/// Filters of `GET /v1/locks`.
#[derive(Debug, Clone, Default)]
pub struct LockFilter {
    pub provider: Option<Provider>,
    pub connection_id: Option<ConnectionId>,
    /// Case-insensitive substring of the name (Unicode lower case; no wildcards).
    pub q: Option<String>,
    pub online: Option<bool>,
}

impl LockFilter {
    /// Whether `lock` passes every filter given.
    pub fn matches(&self, lock: &Lock) -> bool {
        self.provider.is_none_or(|p| lock.provider == p)
            && self.connection_id.is_none_or(|c| lock.connection_id == c)
            && self.online.is_none_or(|o| lock.online == o)
            && self
                .q
                .as_deref()
                .is_none_or(|q| lock.name.to_lowercase().contains(&q.to_lowercase()))
    }
}

/// What a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub locks: usize,
    pub gateways: usize,
    pub removed: usize,
}

/// Moves an organisation's `locks_version`; written in the transaction that changes its locks.
pub(crate) const BUMP_ORG: &str =
    "UPDATE organisations SET locks_version = locks_version + 1 WHERE id = $1";

impl Store {
    /// Writes what a sync found, in one transaction: gateways and locks upserted by their
    /// vendor ids (keeping lockbridge's ids), the ones the vendor no longer lists removed; each
    /// lock's errors and warnings worked out anew, and every change of a known device's health
    /// (`lock.online`/`offline`, `lock.battery_low`, `gateway.online`/`offline`) recorded as an
    /// event in the same transaction.
    pub async fn apply_sync(
        &self,
        conn: &Connection,
        devices: &Devices,
        rules: &dyn HealthRules,
        now: Millis,
    ) -> Result<SyncCounts> {
        let mut tx = self.write_tx().await?;
        if let Tx::Postgres(t) = &mut tx {
            // One sync of a connection at a time: the health read below is what gets replaced.
            sqlx::query("SELECT id FROM connections WHERE id = $1 FOR UPDATE")
                .bind(conn.id.to_string())
                .fetch_optional(&mut **t)
                .await?;
        }
        let sql = format!("SELECT {GATEWAY_COLUMNS} FROM gateways WHERE connection_id = $1");
        let old_gateways: HashMap<String, Gateway> =
            on!(&mut tx, t => sqlx::query_as::<_, GatewayRow>(&sql)
            .bind(conn.id.to_string())
            .fetch_all(&mut **t)
            .await)?
            .into_iter()
            .map(|r| gateway(r).map(|g| (g.provider_id.clone(), g)))
            .collect::<Result<_>>()?;
        let sql = format!("SELECT {LOCK_COLUMNS} FROM locks WHERE connection_id = $1");
        let old_locks: HashMap<String, Lock> = on!(&mut tx, t => sqlx::query_as::<_, LockRow>(&sql)
            .bind(conn.id.to_string())
            .fetch_all(&mut **t)
            .await)?
        .into_iter()
        .map(|r| lock(r).map(|l| (l.provider_id.clone(), l)))
        .collect::<Result<_>>()?;
        let live: HashMap<String, i64> = on!(&mut tx, t => sqlx::query_as::<_, (String, i64)>("SELECT c.lock_id AS lock_id, COUNT(*) AS n FROM access_codes c JOIN locks l ON l.id = c.lock_id \
             WHERE l.connection_id = $1 AND c.status IN ('scheduled', 'setting', 'set', 'removing') \
             GROUP BY c.lock_id")
        .bind(conn.id.to_string())
        .fetch_all(&mut **t)
        .await)?
        .into_iter()
        .collect();
        // Zones an operator set: the vendor's list does not replace them.
        let zones_set: HashMap<String, String> = on!(&mut tx, t => sqlx::query_as::<_, (String, String)>("SELECT provider_id, time_zone_set FROM locks WHERE connection_id = $1 \
             AND time_zone_set IS NOT NULL")
        .bind(conn.id.to_string())
        .fetch_all(&mut **t)
        .await)?
        .into_iter()
        .collect();
        let mut events = Vec::new();
        let event = |kind: EventType| Event::new(conn.org_id, kind, now).connection(conn.id);
        let mut gateway_ids: HashMap<&str, String> = HashMap::new();
        let mut gateway_online: HashMap<&str, bool> = HashMap::new();
        let sql = format!(
            "{} ON CONFLICT (connection_id, provider_id) DO UPDATE SET name = excluded.name, \
             online = excluded.online, updated_at = excluded.updated_at RETURNING id",
            crate::insert_into("gateways", GATEWAY_COLUMNS)
        );
        for g in &devices.gateways {
            let id = on!(&mut tx, t => sqlx::query_scalar::<_, String>(&sql)
            .bind(GatewayId::new().to_string())
            .bind(conn.org_id.to_string())
            .bind(conn.id.to_string())
            .bind(conn.provider.as_str())
            .bind(&g.provider_id)
            .bind(&g.name)
            .bind(i64::from(g.online))
            .bind(now)
            .fetch_one(&mut **t)
            .await)?;
            if let Some(old) = old_gateways.get(&g.provider_id)
                && old.online != g.online
            {
                let kind = if g.online {
                    EventType::GatewayOnline
                } else {
                    EventType::GatewayOffline
                };
                events
                    .push(event(kind).data(serde_json::json!({"gateway_id": id, "name": g.name})));
            }
            gateway_ids.insert(&g.provider_id, id);
            gateway_online.insert(&g.provider_id, g.online);
        }
        for l in &devices.locks {
            let gateway_id = l
                .gateway
                .as_deref()
                .and_then(|g| gateway_ids.get(g))
                .cloned();
            let old = old_locks.get(&l.provider_id);
            let id = old.map_or_else(LockId::new, |o| o.id);
            let gateway_down = l
                .gateway
                .as_deref()
                .and_then(|g| gateway_online.get(g))
                .is_some_and(|on| !on);
            let time_zone = zones_set
                .get(&l.provider_id)
                .cloned()
                .or_else(|| l.time_zone.clone());
            let health = rules.lock(&SeenLock {
                before: old,
                device: l,
                gateway_down,
                live_codes: live.get(&id.to_string()).copied().unwrap_or(0),
                time_zone: time_zone.as_deref(),
                now,
            });
            events.extend(health.events.into_iter().map(|(kind, data)| {
                let e = event(kind).lock(id);
                match data {
                    Some(data) => e.data(data),
                    None => e,
                }
            }));
            let (online, errors, warnings) = (health.online, health.errors, health.warnings);
            let row = LockRow {
                id: id.to_string(),
                org_id: conn.org_id.to_string(),
                connection_id: conn.id.to_string(),
                provider: conn.provider.as_str().to_owned(),
                provider_id: l.provider_id.clone(),
                name: l.name.clone(),
                online: i64::from(online),
                state: l.state.as_str().to_owned(),
                battery: l.battery.map(i64::from),
                gateway_id,
                time_zone,
                capabilities: serde_json::to_string(&l.capabilities).unwrap_or_default(),
                code_rules: serde_json::to_string(&l.code_rules).unwrap_or_default(),
                updated_at: now,
                errors: serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into()),
                warnings: serde_json::to_string(&warnings).unwrap_or_else(|_| "[]".into()),
                utc_offset_minutes: l.utc_offset_minutes.map(i64::from),
            };
            upsert_lock(&mut tx, row).await?;
        }
        let mut removed = 0;
        for table in ["locks", "gateways"] {
            let sql = format!("DELETE FROM {table} WHERE connection_id = $1 AND updated_at < $2");
            let done = on!(&mut tx, t => sqlx::query(&sql)
                .bind(conn.id.to_string())
                .bind(now)
                .execute(&mut **t).await.map(|r| r.rows_affected()))?;
            removed += done as usize;
        }
        on!(&mut tx, t => sqlx::query("UPDATE connections SET last_sync_at = $1 WHERE id = $2")
            .bind(now)
            .bind(conn.id.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, t => sqlx::query(BUMP_ORG)
            .bind(conn.org_id.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        self.insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(SyncCounts {
            locks: devices.locks.len(),
            gateways: devices.gateways.len(),
            removed,
        })
    }

    /// Claims connections whose device sync is due: each moves `next_device_sync_at` to
    /// `lease_until` in the same statement, so one instance syncs a connection at a time (a
    /// finished sync sets the next time with [`Store::schedule_device_sync`]).
    pub async fn claim_device_syncs(
        &self,
        now: Millis,
        limit: u32,
        lease_until: Millis,
    ) -> Result<Vec<ConnectionId>> {
        let skip_locked = self.skip_locked();
        let sql = format!(
            "UPDATE connections SET next_device_sync_at = $1 WHERE id IN (\
             SELECT id FROM connections WHERE status = 'active' AND next_device_sync_at <= $2 \
             ORDER BY next_device_sync_at LIMIT $3{skip_locked}) AND next_device_sync_at <= $2 RETURNING id"
        );
        let ids = on!(&self.pool, db => sqlx::query_scalar::<_, String>(&sql)
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        ids.iter()
            .map(|id| parse("connections", id, "id", id))
            .collect()
    }

    pub async fn schedule_device_sync(&self, id: ConnectionId, at: Millis) -> Result<()> {
        self.schedule("connections", "next_device_sync_at", &id.to_string(), at)
            .await
    }

    /// Sets when a row's periodic work (device sync, reconciliation) is next due.
    async fn schedule(&self, table: &str, column: &str, id: &str, at: Millis) -> Result<()> {
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2");
        on!(&self.pool, db => sqlx::query(&sql)
            .bind(at)
            .bind(id.to_owned())
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Claims locks whose reconciliation is due (the same lease scheme as device syncs).
    pub async fn claim_reconciles(
        &self,
        now: Millis,
        limit: u32,
        lease_until: Millis,
    ) -> Result<Vec<Lock>> {
        self.claim_locks("next_reconcile_at", now, limit, lease_until)
            .await
    }

    /// Claims locks whose log is due to be read (the same lease scheme as reconciliation).
    pub async fn claim_log_reads(
        &self,
        now: Millis,
        limit: u32,
        lease_until: Millis,
    ) -> Result<Vec<Lock>> {
        self.claim_locks("next_log_read_at", now, limit, lease_until)
            .await
    }

    /// How many locks a connection has.
    pub async fn lock_count(&self, connection: ConnectionId) -> Result<u64> {
        let n = on!(&self.pool, db => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM locks WHERE connection_id = $1",
        )
        .bind(connection.to_string())
        .fetch_one(db)
        .await)?;
        Ok(n.max(0) as u64)
    }

    /// The time of the newest record read from the lock's log.
    pub async fn log_mark(&self, id: LockId) -> Result<Option<Millis>> {
        let mark = on!(&self.pool, db => sqlx::query_scalar::<_, Option<i64>>(
            "SELECT log_seen_until FROM locks WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(db)
        .await)?;
        Ok(mark.flatten())
    }

    /// Moves the lock's log mark forward to `at` (never back: a slower concurrent read cannot
    /// undo a faster one).
    pub async fn advance_log_mark(&self, id: LockId, at: Millis) -> Result<()> {
        on!(&self.pool, db => sqlx::query("UPDATE locks SET log_seen_until = $1 WHERE id = $2 \
             AND (log_seen_until IS NULL OR log_seen_until < $1)")
        .bind(at)
        .bind(id.to_string())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn schedule_log_read(&self, id: LockId, at: Millis) -> Result<()> {
        self.schedule("locks", "next_log_read_at", &id.to_string(), at)
            .await
    }

    /// Claims up to `limit` locks of active connections whose periodic work kept in `column`
    /// is due: `column` moves to `lease_until`, so another instance takes them only once the
    /// lease has run out (the worker sets the next time when it is done).
    async fn claim_locks(
        &self,
        column: &str,
        now: Millis,
        limit: u32,
        lease_until: Millis,
    ) -> Result<Vec<Lock>> {
        let skip_locked = self.skip_locked();
        let sql = format!(
            "UPDATE locks SET {column} = $1 WHERE id IN (\
             SELECT l.id FROM locks l JOIN connections c ON c.id = l.connection_id \
             WHERE c.status = 'active' AND l.{column} <= $2 \
             ORDER BY l.{column} LIMIT $3{skip_locked}) AND {column} <= $2 RETURNING {LOCK_COLUMNS}"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, LockRow>(&sql)
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(lock).collect()
    }

    pub async fn schedule_reconcile(&self, id: LockId, at: Millis) -> Result<()> {
        self.schedule("locks", "next_reconcile_at", &id.to_string(), at)
            .await
    }

    /// A page of the organisation's locks in id order, after `after`. Filters are applied by
    /// [`LockFilter::matches`] on what this answers (the service lists locks from a cache of
    /// this list), so that a filter has one meaning.
    pub async fn list_locks(
        &self,
        org: OrgId,
        limit: u32,
        after: Option<LockId>,
    ) -> Result<Vec<Lock>> {
        let sql = format!(
            "SELECT {LOCK_COLUMNS} FROM locks WHERE org_id = $1 AND id > $2 ORDER BY org_id, id LIMIT $3"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, LockRow>(&sql)
            .bind(org.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(lock).collect()
    }

    pub async fn get_lock(&self, org: OrgId, id: LockId) -> Result<Option<Lock>> {
        let sql = format!("SELECT {LOCK_COLUMNS} FROM locks WHERE org_id = $1 AND id = $2");
        let row = on!(&self.pool, db => sqlx::query_as::<_, LockRow>(&sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        row.map(lock).transpose()
    }

    /// Any organisation's lock (workers).
    pub async fn lock_by_id(&self, id: LockId) -> Result<Option<Lock>> {
        let sql = format!("SELECT {LOCK_COLUMNS} FROM locks WHERE id = $1");
        let row = on!(&self.pool, db => sqlx::query_as::<_, LockRow>(&sql)
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        row.map(lock).transpose()
    }

    /// Sets `code` in the errors of every lock of a connection (or drops it), in the caller's
    /// transaction; the organisation's lock version moves with it.
    pub(crate) async fn toggle_lock_error(
        &self,
        tx: &mut Tx,
        conn: ConnectionId,
        on: bool,
        code: &str,
        message: &str,
        now: Millis,
    ) -> Result<()> {
        let sql = format!("SELECT {LOCK_COLUMNS} FROM locks WHERE connection_id = $1");
        let locks: Vec<Lock> = on!(tx, t => sqlx::query_as::<_, LockRow>(&sql)
            .bind(conn.to_string())
            .fetch_all(&mut **t)
            .await)?
        .into_iter()
        .map(lock)
        .collect::<Result<_>>()?;
        for mut l in locks {
            if toggle_notice(&mut l.errors, on, code, message, now) {
                on!(tx, t => sqlx::query("UPDATE locks SET errors = $1 WHERE id = $2")
                    .bind(serde_json::to_string(&l.errors).unwrap_or_else(|_| "[]".into()))
                    .bind(l.id.to_string())
                    .execute(&mut **t).await.map(|r| r.rows_affected()))?;
                on!(tx, t => sqlx::query(BUMP_ORG)
                    .bind(l.org_id.to_string())
                    .execute(&mut **t).await.map(|r| r.rows_affected()))?;
            }
        }
        Ok(())
    }

    pub async fn list_gateways(
        &self,
        org: OrgId,
        limit: u32,
        after: Option<GatewayId>,
    ) -> Result<Vec<Gateway>> {
        let sql = format!(
            "SELECT {GATEWAY_COLUMNS} FROM gateways WHERE org_id = $1 AND id > $2 \
             ORDER BY org_id, id LIMIT $3"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, GatewayRow>(&sql)
        .bind(org.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(gateway).collect()
    }
}
