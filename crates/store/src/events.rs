//! The event log: rows written inside the transaction of the change they describe.

use lockbridge_core::events::{Actor, ActorType, Event, EventType};
use lockbridge_core::ids::{AccessCodeId, ConnectionId, EventId, LockId, OrgId};
use lockbridge_core::time::Millis;
use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::{Result, Store, StoreError, Tx, on, parse, parse_opt};

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

/// A row of `events`, in [`COLUMNS`]' order.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    id: String,
    org_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    occurred_at: i64,
    created_at: i64,
    connection_id: Option<String>,
    lock_id: Option<String>,
    access_code_id: Option<String>,
    grant_id: Option<String>,
    data: String,
    actor_type: Option<String>,
    actor_id: Option<String>,
    actor_name: Option<String>,
}

pub(crate) fn event(row: EventRow) -> Result<Event> {
    let id = row.id;
    Ok(Event {
        org_id: parse("events", &id, "org_id", &row.org_id)?,
        kind: EventType::parse(&row.kind).ok_or_else(|| StoreError::Corrupt {
            table: "events",
            id: id.clone(),
            what: format!("type {:?}", row.kind),
        })?,
        occurred_at: row.occurred_at,
        created_at: row.created_at,
        connection_id: parse_opt("events", &id, "connection_id", row.connection_id)?,
        lock_id: parse_opt("events", &id, "lock_id", row.lock_id)?,
        access_code_id: parse_opt("events", &id, "access_code_id", row.access_code_id)?,
        grant_id: row.grant_id,
        source_key: None,
        actor: Actor {
            kind: row
                .actor_type
                .and_then(|t| ActorType::parse(&t))
                .unwrap_or(ActorType::System),
            id: row.actor_id,
            name: row.actor_name,
        },
        data: serde_json::from_str(&row.data).map_err(|_| StoreError::Corrupt {
            table: "events",
            id: id.clone(),
            what: "data".into(),
        })?,
        id: parse("events", &id, "id", &id)?,
    })
}

/// The `SELECT` of [`Store::list_events`]: the organisation's newest events matching `filter`.
fn events_query<'a, DB: Database>(
    org: OrgId,
    filter: &EventFilter,
    limit: u32,
) -> QueryBuilder<'a, DB>
where
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM events WHERE org_id = "));
    q.push_bind(org.to_string());
    // The most selective index first: a code's, a lock's, else the organisation's.
    let texts = [
        (
            "access_code_id",
            filter.access_code_id.map(|v| v.to_string()),
        ),
        ("lock_id", filter.lock_id.map(|v| v.to_string())),
        ("connection_id", filter.connection_id.map(|v| v.to_string())),
        ("grant_id", filter.grant_id.clone()),
        (
            "actor_type",
            filter.actor_type.map(|v| v.as_str().to_owned()),
        ),
        ("actor_id", filter.actor_id.clone()),
    ];
    for (column, value) in texts {
        if let Some(v) = value {
            q.push(format!(" AND {column} = ")).push_bind(v);
        }
    }
    if let Some(v) = filter.since {
        q.push(" AND occurred_at >= ").push_bind(v);
    }
    if let Some(v) = filter.until {
        q.push(" AND occurred_at < ").push_bind(v);
    }
    if let Some(v) = filter.before {
        q.push(" AND id < ").push_bind(v.to_string());
    }
    let every = filter.types.iter().any(|t| t == "*");
    let types: Vec<&String> = filter.types.iter().filter(|t| t.as_str() != "*").collect();
    if !every && !types.is_empty() {
        q.push(" AND (");
        for (i, t) in types.into_iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            match t.strip_suffix('*') {
                Some(prefix) => q
                    .push("type LIKE ")
                    .push_bind(format!("{}%", prefix.replace('_', "\\_")))
                    .push(" ESCAPE '\\'"),
                None => q.push("type = ").push_bind(t.clone()),
            };
        }
        q.push(")");
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
    q
}

/// `VALUES (…), (…)` of `events`, in [`COLUMNS`]' order.
pub(crate) fn push_event_values<'a, DB>(q: &mut QueryBuilder<'a, DB>, events: &'a [Event])
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push_values(events, |mut b, e| {
        b.push_bind(e.id.to_string())
            .push_bind(e.org_id.to_string())
            .push_bind(e.kind.as_str())
            .push_bind(e.occurred_at)
            .push_bind(e.created_at)
            .push_bind(e.connection_id.map(|v| v.to_string()))
            .push_bind(e.lock_id.map(|v| v.to_string()))
            .push_bind(e.access_code_id.map(|v| v.to_string()))
            .push_bind(e.grant_id.clone())
            .push_bind(e.data.to_string())
            .push_bind(e.actor.kind.as_str())
            .push_bind(e.actor.id.clone())
            .push_bind(e.actor.name.clone());
    });
}

impl Store {
    /// Writes `events`, and their first delivery attempts to the organisation's webhook
    /// endpoints, with the executor of the transaction that makes the change.
    pub(crate) async fn insert_events(&self, tx: &mut Tx, events: &[Event]) -> Result<()> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        // PostgreSQL: the events written and their organisation's endpoints read in one
        // statement (a data-modifying WITH), one round trip less on every change with events.
        if let crate::Db::Postgres(t) = &mut *tx
            && events.len() <= 75
        {
            let mut q =
                QueryBuilder::new(format!("WITH written AS (INSERT INTO events ({COLUMNS}) "));
            push_event_values(&mut q, events);
            q.push(") SELECT id, event_types, format FROM webhooks WHERE org_id = ")
                .push_bind(first.org_id.to_string())
                .push(" AND enabled = 1");
            let endpoints = q
                .build_query_as::<(String, String, String)>()
                .fetch_all(&mut **t)
                .await?;
            return self.fan_out_to(tx, events, endpoints).await;
        }
        self.insert_event_rows(tx, events).await?;
        self.fan_out(tx, events).await
    }

    /// Writes `events` alone.
    pub(crate) async fn insert_event_rows(&self, tx: &mut Tx, events: &[Event]) -> Result<()> {
        // Up to 75 rows a statement (975 parameters: under both backends' limits).
        for chunk in events.chunks(75) {
            on!(&mut *tx, t => {
                let mut q = QueryBuilder::new(format!("INSERT INTO events ({COLUMNS}) "));
                push_event_values(&mut q, chunk);
                q.build().execute(&mut **t).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Records what a vendor's log says happened at a lock: each event whose `source_key` the
    /// lock has not recorded yet, with its deliveries, in one transaction. Answers the events
    /// recorded now (a record read twice, or by two instances at once, is recorded once).
    pub async fn record_lock_log(&self, events: &[Event]) -> Result<Vec<Event>> {
        let sql = format!(
            "{} ON CONFLICT DO NOTHING",
            crate::insert_into("events", &format!("{COLUMNS}, source_key"))
        );
        let mut tx = self.begin().await?;
        let mut new = Vec::new();
        for e in events {
            if self.completes_command(&mut tx, e).await? {
                continue;
            }
            let done = on!(&mut tx, t => sqlx::query(&sql)
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
                .bind(e.actor.name.clone())
                .bind(e.source_key.clone())
                .execute(&mut **t).await.map(|r| r.rows_affected()))?;
            if done > 0 {
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
    async fn completes_command(&self, tx: &mut Tx, e: &Event) -> Result<bool> {
        let remote = e.data.get("method").and_then(|m| m.as_str()) == Some("remote");
        let (Some(lock), Some(key)) = (e.lock_id, e.source_key.as_deref()) else {
            return Ok(false);
        };
        if !remote || !matches!(e.kind, EventType::LockUnlocked | EventType::LockLocked) {
            return Ok(false);
        }
        let recorded = on!(tx, t => sqlx::query_scalar::<_, String>("SELECT id FROM events WHERE lock_id = $1 AND source_key = $2")
                .bind(lock.to_string())
                .bind(key.to_owned())
                .fetch_optional(&mut **t)
                .await)?;
        if recorded.is_some() {
            return Ok(true);
        }
        let window = 120_000;
        let Some((id, data)) = on!(tx, t => sqlx::query_as::<_, (String, String)>("SELECT id, data FROM events WHERE lock_id = $1 AND type = $2 AND source_key IS NULL \
             AND actor_type IN ('api_key', 'console') AND occurred_at BETWEEN $3 AND $4 \
             ORDER BY ABS(occurred_at - $5) LIMIT 1")
        .bind(lock.to_string())
        .bind(e.kind.as_str())
        .bind(e.occurred_at - window)
        .bind(e.occurred_at + window)
        .bind(e.occurred_at)
        .fetch_optional(&mut **t)
        .await)?
        else {
            return Ok(false);
        };
        let mut data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
        if let (Some(map), Some(vendor)) = (data.as_object_mut(), e.data.as_object()) {
            for (k, v) in vendor {
                if k != "method" && k != "source" {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            map.insert("confirmed_by_log".into(), serde_json::Value::Bool(true));
        }
        let done = on!(tx, t => sqlx::query("UPDATE events SET source_key = $1, data = $2 WHERE id = $3 AND source_key IS NULL")
        .bind(key.to_owned())
        .bind(data.to_string())
        .bind(id)
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records `events` that describe no change of lockbridge's own state (what a vendor's log
    /// says happened), with their deliveries, in one transaction.
    pub async fn record_events(&self, events: &[Event]) -> Result<()> {
        let mut tx = self.begin().await?;
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
        let rows = on!(&self.pool, db => events_query(org, filter, limit)
            .build_query_as::<EventRow>()
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(event).collect()
    }
}
