//! The rows of `locks` and `gateways` as both backends store them, how they become the model's
//! locks and gateways, and the upsert a device sync writes a lock with.

use lockbridge_core::model::{Gateway, Lock, LockState};
use sqlx::QueryBuilder;

use crate::{Result, StoreError, Tx, on, parse};

/// A lock's columns, in [`LockRow`]'s order.
pub(crate) const LOCK_COLUMNS: &str = "id, org_id, connection_id, provider, provider_id, name, online, state, battery, \
                            gateway_id, time_zone, capabilities, code_rules, updated_at, errors, warnings, \
                            utc_offset_minutes";

/// A row of `locks`: capabilities, code rules, errors and warnings as JSON text.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LockRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) connection_id: String,
    pub(crate) provider: String,
    pub(crate) provider_id: String,
    pub(crate) name: String,
    pub(crate) online: i64,
    pub(crate) state: String,
    pub(crate) battery: Option<i64>,
    pub(crate) gateway_id: Option<String>,
    pub(crate) time_zone: Option<String>,
    pub(crate) capabilities: String,
    pub(crate) code_rules: String,
    pub(crate) updated_at: i64,
    pub(crate) errors: String,
    pub(crate) warnings: String,
    pub(crate) utc_offset_minutes: Option<i64>,
}

pub(crate) fn lock(row: LockRow) -> Result<Lock> {
    let id = row.id;
    let corrupt = |what: &str| StoreError::Corrupt {
        table: "locks",
        id: id.clone(),
        what: what.to_owned(),
    };
    Ok(Lock {
        org_id: parse("locks", &id, "org_id", &row.org_id)?,
        connection_id: parse("locks", &id, "connection_id", &row.connection_id)?,
        provider: parse("locks", &id, "provider", &row.provider)?,
        provider_id: row.provider_id,
        name: row.name,
        online: row.online != 0,
        state: LockState::parse(&row.state),
        battery: row.battery.and_then(|b| u8::try_from(b).ok()),
        gateway_id: row
            .gateway_id
            .map(|g| parse("locks", &id, "gateway_id", &g))
            .transpose()?,
        time_zone: row.time_zone,
        utc_offset_minutes: row.utc_offset_minutes.and_then(|m| i32::try_from(m).ok()),
        capabilities: serde_json::from_str(&row.capabilities)
            .map_err(|_| corrupt("capabilities"))?,
        code_rules: serde_json::from_str(&row.code_rules).map_err(|_| corrupt("code_rules"))?,
        errors: serde_json::from_str(&row.errors).map_err(|_| corrupt("errors"))?,
        warnings: serde_json::from_str(&row.warnings).map_err(|_| corrupt("warnings"))?,
        updated_at: row.updated_at,
        id: parse("locks", &id, "id", &id)?,
    })
}

pub(crate) const GATEWAY_COLUMNS: &str =
    "id, org_id, connection_id, provider, provider_id, name, online, updated_at";

/// A row of `gateways`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct GatewayRow {
    id: String,
    org_id: String,
    connection_id: String,
    provider: String,
    provider_id: String,
    name: String,
    online: i64,
    updated_at: i64,
}

pub(crate) fn gateway(row: GatewayRow) -> Result<Gateway> {
    let id = row.id;
    Ok(Gateway {
        org_id: parse("gateways", &id, "org_id", &row.org_id)?,
        connection_id: parse("gateways", &id, "connection_id", &row.connection_id)?,
        provider: parse("gateways", &id, "provider", &row.provider)?,
        provider_id: row.provider_id,
        name: row.name,
        online: row.online != 0,
        updated_at: row.updated_at,
        id: parse("gateways", &id, "id", &id)?,
    })
}

/// Inserts a lock a sync found, or updates the one with its vendor id (keeping lockbridge's
/// id, and its state when the vendor does not say it).
pub(crate) async fn upsert_lock(tx: &mut Tx, row: LockRow) -> Result<()> {
    on!(tx, t => {
        let mut q = QueryBuilder::new(format!("INSERT INTO locks ({LOCK_COLUMNS}) "));
        q.push_values([row], |mut b, r| {
            b.push_bind(r.id)
                .push_bind(r.org_id)
                .push_bind(r.connection_id)
                .push_bind(r.provider)
                .push_bind(r.provider_id)
                .push_bind(r.name)
                .push_bind(r.online)
                .push_bind(r.state)
                .push_bind(r.battery)
                .push_bind(r.gateway_id)
                .push_bind(r.time_zone)
                .push_bind(r.capabilities)
                .push_bind(r.code_rules)
                .push_bind(r.updated_at)
                .push_bind(r.errors)
                .push_bind(r.warnings)
                .push_bind(r.utc_offset_minutes);
        });
        q.push(
            " ON CONFLICT (connection_id, provider_id) DO UPDATE SET name = excluded.name, \
             online = excluded.online, battery = excluded.battery, \
             state = CASE WHEN excluded.state = 'unknown' THEN locks.state ELSE excluded.state END, \
             gateway_id = excluded.gateway_id, time_zone = excluded.time_zone, \
             utc_offset_minutes = excluded.utc_offset_minutes, \
             capabilities = excluded.capabilities, code_rules = excluded.code_rules, \
             updated_at = excluded.updated_at, errors = excluded.errors, warnings = excluded.warnings",
        );
        q.build().execute(&mut **t).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}
