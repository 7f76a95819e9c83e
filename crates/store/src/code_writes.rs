//! How a code's row is written: its values and its conditional update, for either backend; and
//! on PostgreSQL an engine's result in one statement. There the code's conditional update, the
//! events it causes and their first delivery attempts are written by one data-modifying
//! `WITH`, which is atomic on its own (no `BEGIN`/`COMMIT` round trips).
//!
//! Which endpoints take which event is decided here, from the organisation's enabled endpoints
//! as this instance last saw them. The statement writes only if the endpoints it reads are
//! exactly those: otherwise nothing is written, the statement's answer carries the endpoints as
//! they are, and the write is made again from them. So a cached list can cost a round trip,
//! never a delivery; and the endpoints are read in the statement's snapshot, as the
//! transaction that read them first would have read them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lockbridge_core::events::Event;
use lockbridge_core::ids::{DeliveryId, OrgId};
use lockbridge_core::model::AccessCode;
use lockbridge_core::time::Millis;
use sqlx::{Database, Encode, PgPool, Postgres, QueryBuilder, Type};

use crate::codes::{CodeRow, Guard, code_conflict};
use crate::events::{COLUMNS as EVENT_COLUMNS, push_event_values};
use crate::lock_state::Commit;
use crate::webhooks::deliveries_for;
use crate::{Result, Store};

/// How often the endpoints may turn out to have changed before the write falls back to a
/// transaction that reads them first.
const TRIES: usize = 3;
/// Organisations whose endpoints are remembered; beyond that the memory starts again.
const REMEMBERED: usize = 10_000;
/// Binds in one statement, well under PostgreSQL's 65,535 (13 an event, 8 a delivery, the
/// code's and the endpoints' lists under 40).
const MAX_BINDS: usize = 30_000;

/// An organisation's enabled endpoints in id order: ids, event types (JSON), formats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Endpoints {
    ids: Vec<String>,
    types: Vec<String>,
    formats: Vec<String>,
}

/// The endpoints each organisation had when this instance last wrote one of its events.
#[derive(Debug, Default)]
pub(crate) struct EndpointMemory(Mutex<HashMap<OrgId, Arc<Endpoints>>>);

/// `UPDATE access_codes SET … WHERE …`: every changeable field of `r`, if the row is still at
/// `expected` version (and, with [`Guard::Lease`], still leased to that owner, releasing it).
pub(crate) fn push_code_update<'a, DB: Database>(
    q: &mut QueryBuilder<'a, DB>,
    r: CodeRow,
    expected: i64,
    guard: Guard<'_>,
    now: Millis,
) where
    String: Encode<'a, DB> + Type<DB>,
    Option<String>: Encode<'a, DB> + Type<DB>,
    Vec<u8>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
{
    q.push("UPDATE access_codes SET version = version + 1");
    q.push(", name = ").push_bind(r.name);
    q.push(", code = ").push_bind(r.code);
    q.push(", starts_at = ").push_bind(r.starts_at);
    q.push(", ends_at = ").push_bind(r.ends_at);
    q.push(", schedule = ").push_bind(r.schedule);
    q.push(", status = ").push_bind(r.status);
    q.push(", frozen = ").push_bind(r.frozen);
    q.push(", provider_id = ").push_bind(r.provider_id);
    q.push(", last_error = ").push_bind(r.last_error);
    q.push(", attempts = ").push_bind(r.attempts);
    q.push(", next_attempt_at = ").push_bind(r.next_attempt_at);
    q.push(", updated_at = ").push_bind(now);
    q.push(", confirming = ").push_bind(r.confirming);
    q.push(", removed_reason = ").push_bind(r.removed_reason);
    q.push(", errors = ").push_bind(r.errors);
    q.push(", warnings = ").push_bind(r.warnings);
    q.push(", on_external_change = ")
        .push_bind(r.on_external_change);
    q.push(", managed = ").push_bind(r.managed);
    q.push(", pin_hash = ").push_bind(r.pin_hash);
    q.push(", scheduling = ").push_bind(r.scheduling);
    q.push(", window_start = ").push_bind(r.window_start);
    q.push(", window_end = ").push_bind(r.window_end);
    q.push(", actor = ").push_bind(r.actor);
    if let Guard::Lease(_) = guard {
        q.push(", lease_owner = NULL, lease_until = NULL");
    }
    q.push(" WHERE id = ").push_bind(r.id);
    q.push(" AND version = ").push_bind(expected);
    if let Guard::Lease(owner) = guard {
        q.push(" AND lease_owner = ").push_bind(owner.to_owned());
    }
}

/// `VALUES (…), (…)` of `rows`, in [`COLUMNS`]' order.
pub(crate) fn push_code_values<'a, DB: Database>(
    q: &mut QueryBuilder<'a, DB>,
    rows: impl IntoIterator<Item = CodeRow>,
) where
    String: Encode<'a, DB> + Type<DB>,
    Option<String>: Encode<'a, DB> + Type<DB>,
    Vec<u8>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
{
    q.push_values(rows, |mut b, r| {
        b.push_bind(r.id)
            .push_bind(r.org_id)
            .push_bind(r.lock_id)
            .push_bind(r.name)
            .push_bind(r.code)
            .push_bind(r.starts_at)
            .push_bind(r.ends_at)
            .push_bind(r.schedule)
            .push_bind(r.status)
            .push_bind(r.frozen)
            .push_bind(r.managed)
            .push_bind(r.provider_id)
            .push_bind(r.last_error)
            .push_bind(r.attempts)
            .push_bind(r.next_attempt_at)
            .push_bind(r.idempotency_key)
            .push_bind(r.created_at)
            .push_bind(r.updated_at)
            .push_bind(r.confirming)
            .push_bind(r.version)
            .push_bind(r.lease_owner)
            .push_bind(r.lease_until)
            .push_bind(r.removed_reason)
            .push_bind(r.errors)
            .push_bind(r.warnings)
            .push_bind(r.on_external_change)
            .push_bind(r.pin_hash)
            .push_bind(r.idempotency_fingerprint)
            .push_bind(r.scheduling)
            .push_bind(r.window_start)
            .push_bind(r.window_end)
            .push_bind(r.grant_id)
            .push_bind(r.actor)
            .push_bind(r.kind);
    });
}

impl Endpoints {
    /// Each endpoint as (id, event types, format).
    fn rows(&self) -> Vec<(&str, &str, &str)> {
        let columns = self.ids.iter().zip(&self.types).zip(&self.formats);
        columns
            .map(|((id, types), format)| (id.as_str(), types.as_str(), format.as_str()))
            .collect()
    }
}

impl EndpointMemory {
    fn get(&self, org: OrgId) -> Arc<Endpoints> {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        known.get(&org).cloned().unwrap_or_default()
    }

    fn put(&self, org: OrgId, endpoints: Arc<Endpoints>) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert(org, endpoints);
    }
}

impl Store {
    /// [`Store::update_code_if`] in one statement; `None` when it cannot be (too many events
    /// and deliveries for one statement, or the endpoints kept changing): the caller writes in
    /// a transaction instead.
    pub(crate) async fn update_code_in_one(
        &self,
        pool: &PgPool,
        c: &mut AccessCode,
        expected: i64,
        guard: Guard<'_>,
        now: Millis,
        events: &[Event],
    ) -> Result<Option<bool>> {
        let written = self
            .change_with_events(pool, c.org_id, events, Commit::Flushed, |q| {
                q.push("u AS (");
                push_code_update(q, self.code_row(c), expected, guard, now);
                q.push(" AND EXISTS (SELECT 1 FROM matched) RETURNING 1)");
            })
            .await?;
        if written == Some(true) {
            self.written(c, expected, guard, now);
        }
        Ok(written)
    }

    /// A change and the events it causes, with their first deliveries to `org`'s endpoints, in
    /// one statement. `change` pushes the change as the `WITH` query `u` (changing rows only
    /// `WHERE EXISTS (SELECT 1 FROM matched)`, and `RETURNING` a row for each it changed),
    /// possibly followed by more queries that depend on it. `commit` says whether the answer
    /// waits for the flush. Answers whether `u` changed any row; `None` when it cannot be one
    /// statement (too many events and deliveries, or the endpoints kept changing).
    pub(crate) async fn change_with_events(
        &self,
        pool: &PgPool,
        org: OrgId,
        events: &[Event],
        commit: Commit,
        change: impl Fn(&mut QueryBuilder<'_, Postgres>),
    ) -> Result<Option<bool>> {
        let mut known = self.endpoints.get(org);
        for _ in 0..TRIES {
            let endpoints = known.rows();
            let deliveries = deliveries_for(events, &endpoints);
            if 40 + events.len() * 13 + deliveries.len() * 8 > MAX_BINDS {
                return Ok(None);
            }
            let mut q = QueryBuilder::new(
                "WITH seen AS (SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids, \
                 coalesce(array_agg(event_types ORDER BY id), '{}') AS types, \
                 coalesce(array_agg(format ORDER BY id), '{}') AS formats \
                 FROM webhooks WHERE org_id = ",
            );
            q.push_bind(org.to_string())
                .push(" AND enabled = 1), matched AS (SELECT 1 FROM seen WHERE ids = ")
                .push_bind(known.ids.clone())
                .push(" AND types = ")
                .push_bind(known.types.clone())
                .push(" AND formats = ")
                .push_bind(known.formats.clone())
                .push("), ");
            if commit == Commit::Unflushed {
                // Read at this statement's commit; `true`: for its own transaction only.
                q.push("unflushed AS (SELECT set_config('synchronous_commit', 'off', true)), ");
            }
            change(&mut q);
            if !events.is_empty() {
                q.push(format!(
                    ", e AS (INSERT INTO events ({EVENT_COLUMNS}) SELECT * FROM ("
                ));
                push_event_values(&mut q, events);
                q.push(") AS v WHERE EXISTS (SELECT 1 FROM u))");
            }
            if !deliveries.is_empty() {
                q.push(
                    ", d AS (INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, \
                     attempt, status, next_attempt_at, created_at) SELECT * FROM (",
                );
                q.push_values(deliveries, |mut b, (endpoint, event)| {
                    let e = &events[event];
                    b.push_bind(DeliveryId::new().to_string())
                        .push_bind(org.to_string())
                        .push_bind(endpoints[endpoint].0.to_owned())
                        .push_bind(e.id.to_string())
                        .push_bind(1_i64)
                        .push_bind("pending")
                        .push_bind(e.created_at)
                        .push_bind(e.created_at);
                });
                q.push(") AS v WHERE EXISTS (SELECT 1 FROM u))");
            }
            q.push(" SELECT (SELECT count(*) FROM u) AS written, ids, types, formats FROM seen");
            if commit == Commit::Unflushed {
                // A query of a `WITH` that nothing reads is not run.
                q.push(", unflushed");
            }
            let (written, ids, types, formats) = q
                .build_query_as::<(i64, Vec<String>, Vec<String>, Vec<String>)>()
                .fetch_one(pool)
                .await
                .map_err(code_conflict)?;
            if written > 0 {
                return Ok(Some(true));
            }
            let seen = Endpoints {
                ids,
                types,
                formats,
            };
            if seen == *known {
                // The endpoints were as known: the change's own condition did not hold.
                return Ok(Some(false));
            }
            known = Arc::new(seen);
            self.endpoints.put(org, known.clone());
        }
        Ok(None)
    }
}
