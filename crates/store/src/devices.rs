//! Locks and gateways, as the last sync found them.

use std::collections::HashMap;

use lockbridge_core::ids::{ConnectionId, GatewayId, LockId, OrgId};
use lockbridge_core::model::{Connection, Gateway, Lock, LockState, Provider};
use lockbridge_core::provider::Devices;
use lockbridge_core::time::now_ms;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, int, opt_int, opt_text, parse, text};

const LOCK_COLUMNS: &str = "id, org_id, connection_id, provider, provider_id, name, online, state, battery, \
                            gateway_id, time_zone, capabilities, code_rules, updated_at";

/// Filters of `GET /v1/locks`.
#[derive(Debug, Clone, Default)]
pub struct LockFilter {
    pub provider: Option<Provider>,
    pub connection_id: Option<ConnectionId>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    pub online: Option<bool>,
}

/// What a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub locks: usize,
    pub gateways: usize,
    pub removed: usize,
}

fn lock(row: &AnyRow) -> Result<Lock> {
    let id = text(row, "id")?;
    let json = |col: &str| -> Result<String> { text(row, col) };
    let corrupt = |what: &str| StoreError::Corrupt {
        table: "locks",
        id: id.clone(),
        what: what.to_owned(),
    };
    Ok(Lock {
        id: parse("locks", &id, "id", &id)?,
        org_id: parse("locks", &id, "org_id", &text(row, "org_id")?)?,
        connection_id: parse("locks", &id, "connection_id", &text(row, "connection_id")?)?,
        provider: parse("locks", &id, "provider", &text(row, "provider")?)?,
        provider_id: text(row, "provider_id")?,
        name: text(row, "name")?,
        online: int(row, "online")? != 0,
        state: LockState::parse(&text(row, "state")?),
        battery: opt_int(row, "battery")?.and_then(|b| u8::try_from(b).ok()),
        gateway_id: opt_text(row, "gateway_id")?
            .map(|g| parse("locks", &id, "gateway_id", &g))
            .transpose()?,
        time_zone: opt_text(row, "time_zone")?,
        capabilities: serde_json::from_str(&json("capabilities")?)
            .map_err(|_| corrupt("capabilities"))?,
        code_rules: serde_json::from_str(&json("code_rules")?)
            .map_err(|_| corrupt("code_rules"))?,
        updated_at: int(row, "updated_at")?,
    })
}

fn gateway(row: &AnyRow) -> Result<Gateway> {
    let id = text(row, "id")?;
    Ok(Gateway {
        id: parse("gateways", &id, "id", &id)?,
        org_id: parse("gateways", &id, "org_id", &text(row, "org_id")?)?,
        connection_id: parse(
            "gateways",
            &id,
            "connection_id",
            &text(row, "connection_id")?,
        )?,
        provider: parse("gateways", &id, "provider", &text(row, "provider")?)?,
        provider_id: text(row, "provider_id")?,
        name: text(row, "name")?,
        online: int(row, "online")? != 0,
        updated_at: int(row, "updated_at")?,
    })
}

/// `%`, `_` and `\` taken literally in a LIKE pattern.
fn like_escape(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Moves an organisation's `locks_version`; written in the transaction that changes its locks.
pub(crate) const BUMP_ORG: &str =
    "UPDATE organisations SET locks_version = locks_version + 1 WHERE id = $1";

impl Store {
    /// Writes what a sync found, in one transaction: gateways and locks upserted by their
    /// vendor ids (keeping lockbridge's ids), the ones the vendor no longer lists removed.
    pub async fn apply_sync(&self, conn: &Connection, devices: &Devices) -> Result<SyncCounts> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let mut gateway_ids: HashMap<&str, String> = HashMap::new();
        for g in &devices.gateways {
            let row = sqlx::query(&self.sql(
                "INSERT INTO gateways (id, org_id, connection_id, provider, provider_id, name, online, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (connection_id, provider_id) DO UPDATE SET name = excluded.name, \
                 online = excluded.online, updated_at = excluded.updated_at RETURNING id",
            ))
            .bind(GatewayId::new().to_string())
            .bind(conn.org_id.to_string())
            .bind(conn.id.to_string())
            .bind(conn.provider.as_str())
            .bind(&g.provider_id)
            .bind(&g.name)
            .bind(i64::from(g.online))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            gateway_ids.insert(&g.provider_id, text(&row, "id")?);
        }
        for l in &devices.locks {
            let gateway_id = l
                .gateway
                .as_deref()
                .and_then(|g| gateway_ids.get(g))
                .cloned();
            sqlx::query(&self.sql(
                "INSERT INTO locks (id, org_id, connection_id, provider, provider_id, name, online, state, battery, \
                 gateway_id, time_zone, capabilities, code_rules, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (connection_id, provider_id) DO UPDATE SET name = excluded.name, \
                 online = excluded.online, battery = excluded.battery, gateway_id = excluded.gateway_id, \
                 time_zone = excluded.time_zone, capabilities = excluded.capabilities, \
                 code_rules = excluded.code_rules, updated_at = excluded.updated_at",
            ))
            .bind(LockId::new().to_string())
            .bind(conn.org_id.to_string())
            .bind(conn.id.to_string())
            .bind(conn.provider.as_str())
            .bind(&l.provider_id)
            .bind(&l.name)
            .bind(i64::from(l.online))
            .bind(l.state.as_str())
            .bind(l.battery.map(i64::from))
            .bind(gateway_id)
            .bind(l.time_zone.clone())
            .bind(serde_json::to_string(&l.capabilities).unwrap_or_default())
            .bind(serde_json::to_string(&l.code_rules).unwrap_or_default())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let mut removed = 0;
        for table in ["locks", "gateways"] {
            let sql = format!("DELETE FROM {table} WHERE connection_id = $1 AND updated_at < $2");
            let done = sqlx::query(&self.sql(&sql))
                .bind(conn.id.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            removed += done.rows_affected() as usize;
        }
        sqlx::query(&self.sql("UPDATE connections SET last_sync_at = $1 WHERE id = $2"))
            .bind(now)
            .bind(conn.id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(&self.sql(BUMP_ORG))
            .bind(conn.org_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(SyncCounts {
            locks: devices.locks.len(),
            gateways: devices.gateways.len(),
            removed,
        })
    }

    /// A page of the organisation's locks in id order, after `after`.
    pub async fn list_locks(
        &self,
        org: OrgId,
        filter: &LockFilter,
        limit: u32,
        after: Option<LockId>,
    ) -> Result<Vec<Lock>> {
        let mut sql = format!("SELECT {LOCK_COLUMNS} FROM locks WHERE org_id = $1 AND id > $2");
        let mut n = 2;
        let mut next = |clause: &str| {
            n += 1;
            format!(" AND {}", clause.replace('#', &format!("${n}")))
        };
        if filter.provider.is_some() {
            sql += &next("provider = #");
        }
        if filter.connection_id.is_some() {
            sql += &next("connection_id = #");
        }
        if filter.q.is_some() {
            sql += &next("LOWER(name) LIKE # ESCAPE '\\'");
        }
        if filter.online.is_some() {
            sql += &next("online = #");
        }
        sql += &format!(" ORDER BY org_id, id LIMIT ${}", n + 1);
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql)
            .bind(org.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default());
        if let Some(p) = filter.provider {
            query = query.bind(p.as_str());
        }
        if let Some(c) = filter.connection_id {
            query = query.bind(c.to_string());
        }
        if let Some(q) = &filter.q {
            query = query.bind(like_escape(q));
        }
        if let Some(o) = filter.online {
            query = query.bind(i64::from(o));
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(lock).collect()
    }

    pub async fn get_lock(&self, org: OrgId, id: LockId) -> Result<Option<Lock>> {
        let sql = format!("SELECT {LOCK_COLUMNS} FROM locks WHERE org_id = $1 AND id = $2");
        let row = sqlx::query(&self.sql(&sql))
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(lock).transpose()
    }

    /// Any organisation's lock (workers).
    pub async fn lock_by_id(&self, id: LockId) -> Result<Option<Lock>> {
        let sql = format!("SELECT {LOCK_COLUMNS} FROM locks WHERE id = $1");
        let row = sqlx::query(&self.sql(&sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(lock).transpose()
    }

    pub async fn set_lock_state(&self, id: LockId, state: LockState) -> Result<()> {
        let mut tx = self.write_tx().await?;
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

    pub async fn list_gateways(
        &self,
        org: OrgId,
        limit: u32,
        after: Option<GatewayId>,
    ) -> Result<Vec<Gateway>> {
        let rows = sqlx::query(&self.sql(
            "SELECT id, org_id, connection_id, provider, provider_id, name, online, updated_at FROM gateways \
             WHERE org_id = $1 AND id > $2 ORDER BY org_id, id LIMIT $3",
        ))
        .bind(org.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(gateway).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(super::like_escape("50%_Off\\"), "%50\\%\\_off\\\\%");
    }
}
