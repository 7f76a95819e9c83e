//! The event log: rows written inside the transaction of the change they describe.

use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{AccessCodeId, LockId, OrgId};
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, int, opt_text, parse, text};

const COLUMNS: &str =
    "id, org_id, type, occurred_at, created_at, connection_id, lock_id, access_code_id, data";

/// Which events to list (newest first).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter {
    pub lock_id: Option<LockId>,
    pub access_code_id: Option<AccessCodeId>,
}

fn event(row: &AnyRow) -> Result<Event> {
    let id = text(row, "id")?;
    let kind = text(row, "type")?;
    let opt = |col: &str| -> Result<Option<String>> { opt_text(row, col) };
    Ok(Event {
        id: parse("events", &id, "id", &id)?,
        org_id: parse("events", &id, "org_id", &text(row, "org_id")?)?,
        kind: EventType::parse(&kind).ok_or_else(|| StoreError::Corrupt {
            table: "events",
            id: id.clone(),
            what: format!("type {kind:?}"),
        })?,
        occurred_at: int(row, "occurred_at")?,
        created_at: int(row, "created_at")?,
        connection_id: opt("connection_id")?
            .map(|v| parse("events", &id, "connection_id", &v))
            .transpose()?,
        lock_id: opt("lock_id")?
            .map(|v| parse("events", &id, "lock_id", &v))
            .transpose()?,
        access_code_id: opt("access_code_id")?
            .map(|v| parse("events", &id, "access_code_id", &v))
            .transpose()?,
        data: serde_json::from_str(&text(row, "data")?).map_err(|_| StoreError::Corrupt {
            table: "events",
            id: id.clone(),
            what: "data".into(),
        })?,
    })
}

impl Store {
    /// Writes `events` with the executor of the transaction that makes the change.
    pub(crate) async fn insert_events<'c>(
        &self,
        tx: &mut sqlx::Transaction<'c, sqlx::Any>,
        events: &[Event],
    ) -> Result<()> {
        let sql = self.sql(
            "INSERT INTO events (id, org_id, type, occurred_at, created_at, connection_id, lock_id, \
             access_code_id, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        );
        for e in events {
            sqlx::query(&sql)
                .bind(e.id.to_string())
                .bind(e.org_id.to_string())
                .bind(e.kind.as_str())
                .bind(e.occurred_at)
                .bind(e.created_at)
                .bind(e.connection_id.map(|v| v.to_string()))
                .bind(e.lock_id.map(|v| v.to_string()))
                .bind(e.access_code_id.map(|v| v.to_string()))
                .bind(e.data.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// The organisation's newest events matching `filter`.
    pub async fn list_events(
        &self,
        org: OrgId,
        filter: EventFilter,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let (clause, value) = match (filter.access_code_id, filter.lock_id) {
            (Some(code), _) => ("access_code_id = $2", code.to_string()),
            (None, Some(lock)) => ("lock_id = $2", lock.to_string()),
            (None, None) => ("org_id = $2", org.to_string()),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE org_id = $1 AND {clause} ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(org.to_string())
            .bind(value)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event).collect()
    }
}
