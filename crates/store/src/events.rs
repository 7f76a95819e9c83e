//! The event log: rows written inside the transaction of the change they describe.

use lockbridge_core::events::{Actor, ActorType, Event, EventType};
use lockbridge_core::ids::{AccessCodeId, ConnectionId, EventId, LockId, OrgId};
use lockbridge_core::time::Millis;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, int, opt_text, parse, text};

pub(crate) const COLUMNS: &str = "id, org_id, type, occurred_at, created_at, connection_id, lock_id, access_code_id, grant_id, data, \
                                  actor_type, actor_id, actor_name";

/// Which events to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Exact types, or `prefix.*`; any type when empty.
    pub types: Vec<String>,
    pub lock_id: Option<LockId>,
    pub access_code_id: Option<AccessCodeId>,
    pub connection_id: Option<ConnectionId>,
    pub grant_id: Option<String>,
    /// Caused by this kind of actor, and (with it) this actor's id.
    pub actor_type: Option<ActorType>,
    pub actor_id: Option<String>,
    /// `occurred_at` at or after.
    pub since: Option<Millis>,
    /// `occurred_at` before.
    pub until: Option<Millis>,
    /// Older than this event (the cursor of the previous page).
    pub before: Option<EventId>,
}

pub(crate) fn event(row: &AnyRow) -> Result<Event> {
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
        grant_id: opt("grant_id")?,
        source_key: None,
        actor: Actor {
            kind: opt("actor_type")?
                .and_then(|t| ActorType::parse(&t))
                .unwrap_or(ActorType::System),
            id: opt("actor_id")?,
            name: opt("actor_name")?,
        },
        data: serde_json::from_str(&text(row, "data")?).map_err(|_| StoreError::Corrupt {
            table: "events",
            id: id.clone(),
            what: "data".into(),
        })?,
    })
}

impl Store {
    /// Writes `events`, and their first delivery attempts to the organisation's webhook
    /// endpoints, with the executor of the transaction that makes the change.
    pub(crate) async fn insert_events<'c>(
        &self,
        tx: &mut sqlx::Transaction<'c, sqlx::Any>,
        events: &[Event],
    ) -> Result<()> {
        self.insert_event_rows(tx, events).await?;
        self.fan_out(tx, events).await
    }

    /// Writes `events` alone.
    pub(crate) async fn insert_event_rows<'c>(
        &self,
        tx: &mut sqlx::Transaction<'c, sqlx::Any>,
        events: &[Event],
    ) -> Result<()> {
        // Up to 75 rows a statement (975 parameters: under both backends' limits).
        for chunk in events.chunks(75) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=13).map(|k| format!("${}", i * 13 + k)).collect();
                    format!("({})", p.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO events (id, org_id, type, occurred_at, created_at, connection_id, \
                 lock_id, access_code_id, grant_id, data, actor_type, actor_id, actor_name) VALUES {}",
                rows.join(", ")
            );
            let sql = self.sql(&sql);
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.id.to_string())
                    .bind(e.org_id.to_string())
                    .bind(e.kind.as_str())
                    .bind(e.occurred_at)
                    .bind(e.created_at)
                    .bind(e.connection_id.map(|v| v.to_string()))
                    .bind(e.lock_id.map(|v| v.to_string()))
                    .bind(e.access_code_id.map(|v| v.to_string()))
                    .bind(e.grant_id.clone())
                    .bind(e.data.to_string())
                    .bind(e.actor.kind.as_str())
                    .bind(e.actor.id.clone())
                    .bind(e.actor.name.clone());
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Records what a vendor's log says happened at a lock: each event whose `source_key` the
    /// lock has not recorded yet, with its deliveries, in one transaction. Answers the events
    /// recorded now (a record read twice, or by two instances at once, is recorded once).
    pub async fn record_lock_log(&self, events: &[Event]) -> Result<Vec<Event>> {
        let sql = self.sql(
            "INSERT INTO events (id, org_id, type, occurred_at, created_at, connection_id, lock_id, \
             access_code_id, grant_id, data, source_key, actor_type, actor_id, actor_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
        );
        let mut tx = self.pool.begin().await?;
        let mut new = Vec::new();
        for e in events {
            if self.completes_command(&mut tx, e).await? {
                continue;
            }
            let done = sqlx::query(&sql)
                .bind(e.id.to_string())
                .bind(e.org_id.to_string())
                .bind(e.kind.as_str())
                .bind(e.occurred_at)
                .bind(e.created_at)
                .bind(e.connection_id.map(|v| v.to_string()))
                .bind(e.lock_id.map(|v| v.to_string()))
                .bind(e.access_code_id.map(|v| v.to_string()))
                .bind(e.grant_id.clone())
                .bind(e.data.to_string())
                .bind(e.source_key.clone())
                .bind(e.actor.kind.as_str())
                .bind(e.actor.id.clone())
                .bind(e.actor.name.clone())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() > 0 {
                new.push(e.clone());
            }
        }
        self.fan_out(&mut tx, &new).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// A vendor's record of a remote unlock or lock that lockbridge itself sent is the same
    /// event as the one lockbridge recorded then: the record completes that event (its key, the
    /// vendor's record type) instead of being a second one. The command's event is the nearest
    /// of its type on the lock, by a request's actor, not yet completed, within two minutes.
    async fn completes_command(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        e: &Event,
    ) -> Result<bool> {
        let remote = e.data.get("method").and_then(|m| m.as_str()) == Some("remote");
        let (Some(lock), Some(key)) = (e.lock_id, e.source_key.as_deref()) else {
            return Ok(false);
        };
        if !remote || !matches!(e.kind, EventType::LockUnlocked | EventType::LockLocked) {
            return Ok(false);
        }
        let recorded =
            sqlx::query(&self.sql("SELECT id FROM events WHERE lock_id = $1 AND source_key = $2"))
                .bind(lock.to_string())
                .bind(key.to_owned())
                .fetch_optional(&mut **tx)
                .await?;
        if recorded.is_some() {
            return Ok(true);
        }
        let window = 120_000;
        let Some(row) = sqlx::query(&self.sql(
            "SELECT id, data FROM events WHERE lock_id = $1 AND type = $2 AND source_key IS NULL \
             AND actor_type IN ('api_key', 'console') AND occurred_at BETWEEN $3 AND $4 \
             ORDER BY ABS(occurred_at - $5) LIMIT 1",
        ))
        .bind(lock.to_string())
        .bind(e.kind.as_str())
        .bind(e.occurred_at - window)
        .bind(e.occurred_at + window)
        .bind(e.occurred_at)
        .fetch_optional(&mut **tx)
        .await?
        else {
            return Ok(false);
        };
        let id = text(&row, "id")?;
        let mut data: serde_json::Value =
            serde_json::from_str(&text(&row, "data")?).unwrap_or_default();
        if let (Some(map), Some(vendor)) = (data.as_object_mut(), e.data.as_object()) {
            for (k, v) in vendor {
                if k != "method" && k != "source" {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            map.insert("confirmed_by_log".into(), serde_json::Value::Bool(true));
        }
        let done = sqlx::query(&self.sql(
            "UPDATE events SET source_key = $1, data = $2 WHERE id = $3 AND source_key IS NULL",
        ))
        .bind(key.to_owned())
        .bind(data.to_string())
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records `events` that describe no change of lockbridge's own state (what a vendor's log
    /// says happened), with their deliveries, in one transaction.
    pub async fn record_events(&self, events: &[Event]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        self.insert_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The organisation's newest events matching `filter`.
    pub async fn list_events(
        &self,
        org: OrgId,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<Event>> {
        enum Arg {
            Text(String),
            Int(i64),
        }
        let mut args = vec![Arg::Text(org.to_string())];
        let mut clauses = vec!["org_id = $1".to_owned()];
        let mut add = |clause: &str, arg: Arg| {
            args.push(arg);
            clauses.push(clause.replace('#', &format!("${}", args.len())));
        };
        // The most selective index first: a code's, a lock's, else the organisation's.
        if let Some(v) = filter.access_code_id {
            add("access_code_id = #", Arg::Text(v.to_string()));
        }
        if let Some(v) = filter.lock_id {
            add("lock_id = #", Arg::Text(v.to_string()));
        }
        if let Some(v) = filter.connection_id {
            add("connection_id = #", Arg::Text(v.to_string()));
        }
        if let Some(v) = &filter.grant_id {
            add("grant_id = #", Arg::Text(v.clone()));
        }
        if let Some(v) = filter.actor_type {
            add("actor_type = #", Arg::Text(v.as_str().to_owned()));
        }
        if let Some(v) = &filter.actor_id {
            add("actor_id = #", Arg::Text(v.clone()));
        }
        if let Some(v) = filter.since {
            add("occurred_at >= #", Arg::Int(v));
        }
        if let Some(v) = filter.until {
            add("occurred_at < #", Arg::Int(v));
        }
        if let Some(v) = filter.before {
            add("id < #", Arg::Text(v.to_string()));
        }
        let mut any = Vec::new();
        for t in &filter.types {
            let (clause, value) = match t.strip_suffix('*') {
                Some("") => continue,
                Some(prefix) => (
                    "type LIKE # ESCAPE '\\'",
                    format!("{}%", prefix.replace('_', "\\_")),
                ),
                None => ("type = #", t.clone()),
            };
            args.push(Arg::Text(value));
            any.push(clause.replace('#', &format!("${}", args.len())));
        }
        if !any.is_empty() && !filter.types.iter().any(|t| t == "*") {
            clauses.push(format!("({})", any.join(" OR ")));
        }
        args.push(Arg::Int(i64::from(limit)));
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE {} ORDER BY id DESC LIMIT ${}",
            clauses.join(" AND "),
            args.len()
        );
        let sql = self.sql(&sql);
        let mut q = sqlx::query(&sql);
        for a in args {
            q = match a {
                Arg::Text(t) => q.bind(t),
                Arg::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(event).collect()
    }
}
