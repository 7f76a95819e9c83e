//! Webhook endpoints (secrets sealed) and their deliveries: one row per attempt, claimed by
//! workers with leases; every change of an attempt is conditional on the lease it holds.

use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{DeliveryId, EventId, OrgId, WebhookId};
use lockbridge_core::time::Millis;
use lockbridge_core::webhooks::{Delivery, DeliveryStatus, Webhook, WebhookFormat, matches};
use sqlx::QueryBuilder;

use crate::{Result, Store, StoreError, Tx, on, parse, push_list};

const COLUMNS: &str = "id, org_id, url, event_types, description, enabled, failing_since, created_at, \
                       updated_at, format";
pub(crate) const DELIVERY_COLUMNS: &str = "id, org_id, webhook_id, event_id, attempt, status, response_status, \
                                duration_ms, error, next_attempt_at, created_at, finished_at";

/// Which of `endpoints` (an organisation's enabled ones: id, event types as JSON, format) take
/// which of `events`: pairs of indexes (endpoint, event), one first attempt each.
pub(crate) fn deliveries_for(
    events: &[Event],
    endpoints: &[(&str, &str, &str)],
) -> Vec<(usize, usize)> {
    let endpoints: Vec<(Vec<String>, bool)> = endpoints
        .iter()
        .map(|(_, types, format)| {
            let seam = *format == WebhookFormat::Seam.as_str();
            (serde_json::from_str(types).unwrap_or_default(), seam)
        })
        .collect();
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for (j, (types, seam)) in endpoints.iter().enumerate() {
            // A Seam endpoint filters on Seam's names and takes only what Seam has a name for.
            let name = if *seam {
                lockbridge_core::seam::event_type(e)
            } else {
                Some(e.kind.as_str())
            };
            if e.kind != EventType::WebhookTest && name.is_some_and(|n| matches(types, n)) {
                out.push((j, i));
            }
        }
    }
    out
}

/// What a delivery worker needs of an endpoint to send to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: WebhookId,
    pub url: String,
    pub enabled: bool,
    pub format: WebhookFormat,
    /// The current secret, and the previous one while a rotation lasts.
    pub secrets: Vec<String>,
}

/// A PATCH of an endpoint: the fields given replace the stored ones.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// A row of `webhooks` (its secrets are read by [`Store::endpoints`] only).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WebhookRow {
    id: String,
    org_id: String,
    url: String,
    event_types: String,
    description: Option<String>,
    enabled: i64,
    failing_since: Option<i64>,
    created_at: i64,
    updated_at: i64,
    format: String,
}

fn webhook(row: WebhookRow) -> Result<Webhook> {
    let id = row.id;
    Ok(Webhook {
        org_id: parse("webhooks", &id, "org_id", &row.org_id)?,
        url: row.url,
        event_types: serde_json::from_str(&row.event_types).map_err(|_| StoreError::Corrupt {
            table: "webhooks",
            id: id.clone(),
            what: "event_types".into(),
        })?,
        description: row.description,
        enabled: row.enabled != 0,
        format: WebhookFormat::parse(&row.format).ok_or_else(|| StoreError::Corrupt {
            table: "webhooks",
            id: id.clone(),
            what: format!("format {:?}", row.format),
        })?,
        failing_since: row.failing_since,
        created_at: row.created_at,
        updated_at: row.updated_at,
        id: parse("webhooks", &id, "id", &id)?,
    })
}

/// A row of `webhook_deliveries`: one attempt.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: String,
    org_id: String,
    webhook_id: String,
    event_id: String,
    attempt: i64,
    status: String,
    response_status: Option<i64>,
    duration_ms: Option<i64>,
    error: Option<String>,
    next_attempt_at: Option<i64>,
    created_at: i64,
    finished_at: Option<i64>,
}

pub(crate) fn delivery(row: DeliveryRow) -> Result<Delivery> {
    let id = row.id;
    let table = "webhook_deliveries";
    Ok(Delivery {
        org_id: parse(table, &id, "org_id", &row.org_id)?,
        webhook_id: parse(table, &id, "webhook_id", &row.webhook_id)?,
        event_id: parse(table, &id, "event_id", &row.event_id)?,
        attempt: row.attempt.clamp(0, i64::from(u32::MAX)) as u32,
        status: DeliveryStatus::parse(&row.status).ok_or_else(|| StoreError::Corrupt {
            table,
            id: id.clone(),
            what: format!("status {:?}", row.status),
        })?,
        response_status: row.response_status.map(|s| s.clamp(0, 999) as u16),
        duration_ms: row.duration_ms.map(|d| d.max(0) as u64),
        error: row.error,
        next_attempt_at: row.next_attempt_at,
        created_at: row.created_at,
        finished_at: row.finished_at,
        id: parse(table, &id, "id", &id)?,
    })
}

/// What [`Store::endpoints`] reads of an endpoint.
#[derive(Debug, sqlx::FromRow)]
struct EndpointRow {
    id: String,
    url: String,
    secret: Vec<u8>,
    previous_secret: Option<Vec<u8>>,
    previous_until: Option<i64>,
    enabled: i64,
    format: String,
}

/// A failed webhook attempt, and what the retry policy decided of it.
#[derive(Debug, Clone)]
pub struct FailedAttempt<'a> {
    pub response_status: Option<u16>,
    pub error: &'a str,
    pub duration_ms: u64,
    pub now: Millis,
    /// When the next attempt is due; `None` ends the delivery `failed`.
    pub next_at: Option<Millis>,
    /// How long an endpoint may fail every attempt before it is disabled.
    pub disable_after_ms: Millis,
}

impl Store {
    pub async fn insert_webhook(&self, w: &Webhook, secret: &str) -> Result<()> {
        let sql = crate::insert_into("webhooks", &format!("{COLUMNS}, secret"));
        on!(&self.pool, db => sqlx::query(&sql)
            .bind(w.id.to_string())
            .bind(w.org_id.to_string())
            .bind(&w.url)
            .bind(serde_json::to_string(&w.event_types).unwrap_or_else(|_| "[]".into()))
            .bind(w.description.clone())
            .bind(i64::from(w.enabled))
            .bind(w.failing_since)
            .bind(w.created_at)
            .bind(w.updated_at)
            .bind(w.format.as_str())
            .bind(self.cipher.seal(&w.id.to_string(), secret.as_bytes()))
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn get_webhook(&self, org: OrgId, id: WebhookId) -> Result<Option<Webhook>> {
        let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE org_id = $1 AND id = $2");
        let row = on!(&self.pool, db => sqlx::query_as::<_, WebhookRow>(&sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        row.map(webhook).transpose()
    }

    /// The organisation's endpoints in id order, after `after`.
    pub async fn list_webhooks(
        &self,
        org: OrgId,
        limit: u32,
        after: Option<WebhookId>,
    ) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhooks WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, WebhookRow>(&sql)
            .bind(org.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(webhook).collect()
    }

    /// Applies `patch` in one statement; `None` when there is no such endpoint.
    pub async fn update_webhook(
        &self,
        org: OrgId,
        id: WebhookId,
        patch: &WebhookPatch,
        now: Millis,
    ) -> Result<Option<Webhook>> {
        let sql = format!(
            "UPDATE webhooks SET url = COALESCE($3, url), event_types = COALESCE($4, event_types), \
             description = CASE WHEN $5 = 1 THEN $6 ELSE description END, \
             enabled = COALESCE($7, enabled), \
             failing_since = CASE WHEN $7 = 1 THEN NULL ELSE failing_since END, updated_at = $8 \
             WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row = on!(&self.pool, db => sqlx::query_as::<_, WebhookRow>(&sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .bind(patch.url.clone())
            .bind(
                patch
                    .event_types
                    .as_ref()
                    .map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into())),
            )
            .bind(i64::from(patch.description.is_some()))
            .bind(patch.description.clone().flatten())
            .bind(patch.enabled.map(i64::from))
            .bind(now)
            .fetch_optional(db)
            .await)?;
        row.map(webhook).transpose()
    }

    /// Replaces the secret; the previous one keeps signing until `previous_until`.
    pub async fn rotate_webhook_secret(
        &self,
        org: OrgId,
        id: WebhookId,
        secret: &str,
        previous_until: Millis,
        now: Millis,
    ) -> Result<Option<Webhook>> {
        let sql = format!(
            "UPDATE webhooks SET previous_secret = secret, previous_until = $3, secret = $4, \
             updated_at = $5 WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row = on!(&self.pool, db => sqlx::query_as::<_, WebhookRow>(&sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .bind(previous_until)
            .bind(self.cipher.seal(&id.to_string(), secret.as_bytes()))
            .bind(now)
            .fetch_optional(db)
            .await)?;
        row.map(webhook).transpose()
    }

    pub async fn delete_webhook(&self, org: OrgId, id: WebhookId) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// The first attempts of `events` to every enabled endpoint of their organisation that
    /// takes their type, written with the executor of the events' transaction.
    pub(crate) async fn fan_out(&self, tx: &mut Tx, events: &[Event]) -> Result<()> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let rows = on!(tx, t => sqlx::query_as::<_, (String, String, String)>(
            "SELECT id, event_types, format FROM webhooks WHERE org_id = $1 AND enabled = 1",
        )
        .bind(first.org_id.to_string())
        .fetch_all(&mut **t)
        .await)?;
        self.fan_out_to(tx, events, rows).await
    }

    /// The first attempts of `events` to those of `rows` (an organisation's enabled endpoints:
    /// id, event types, format) that take their type.
    pub(crate) async fn fan_out_to(
        &self,
        tx: &mut Tx,
        events: &[Event],
        rows: Vec<(String, String, String)>,
    ) -> Result<()> {
        let endpoints: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|(id, types, format)| (id.as_str(), types.as_str(), format.as_str()))
            .collect();
        for (endpoint, event) in deliveries_for(events, &endpoints) {
            let e = &events[event];
            self.insert_attempt(tx, e.org_id, endpoints[endpoint].0, e.id, 1, e.created_at)
                .await?;
        }
        Ok(())
    }

    async fn insert_attempt(
        &self,
        tx: &mut Tx,
        org: OrgId,
        webhook: &str,
        event: EventId,
        attempt: u32,
        due: Millis,
    ) -> Result<Delivery> {
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, attempt, status, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) \
             RETURNING {DELIVERY_COLUMNS}"
        );
        let row = on!(tx, t => sqlx::query_as::<_, DeliveryRow>(&sql)
            .bind(DeliveryId::new().to_string())
            .bind(org.to_string())
            .bind(webhook.to_owned())
            .bind(event.to_string())
            .bind(i64::from(attempt))
            .bind(due)
            .fetch_one(&mut **t)
            .await)?;
        delivery(row)
    }

    /// Records a `webhook.test` event, delivered to the endpoint `id` only.
    pub async fn insert_test_event(&self, event: &Event, id: WebhookId) -> Result<Delivery> {
        let mut tx = self.begin().await?;
        self.insert_event_rows(&mut tx, std::slice::from_ref(event))
            .await?;
        let d = self
            .insert_attempt(
                &mut tx,
                event.org_id,
                &id.to_string(),
                event.id,
                1,
                event.created_at,
            )
            .await?;
        tx.commit().await?;
        Ok(d)
    }

    /// The events of `ids`.
    pub async fn events_by_ids(&self, ids: &[EventId]) -> Result<Vec<Event>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let head = format!("SELECT {} FROM events WHERE id IN ", crate::events::COLUMNS);
        let rows = on!(&self.pool, db => {
            let mut q = QueryBuilder::new(head);
            push_list(&mut q, ids.iter().map(|id| id.to_string()));
            q.build_query_as::<crate::events::EventRow>().fetch_all(db).await
        })?;
        rows.into_iter().map(crate::events::event).collect()
    }

    /// Where and how to send to the endpoints of `ids` (secrets opened; the previous one while
    /// its rotation lasts at `now`).
    pub async fn endpoints(&self, ids: &[WebhookId], now: Millis) -> Result<Vec<Endpoint>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on!(&self.pool, db => {
            let mut q = QueryBuilder::new(
                "SELECT id, url, secret, previous_secret, previous_until, enabled, format FROM webhooks \
                 WHERE id IN ",
            );
            push_list(&mut q, ids.iter().map(|id| id.to_string()));
            q.build_query_as::<EndpointRow>().fetch_all(db).await
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.id;
            let mut secrets = vec![self.cipher.open_string(&id, &row.secret)?];
            if let Some(p) = row.previous_secret
                && row.previous_until.is_some_and(|until| until > now)
            {
                secrets.push(self.cipher.open_string(&id, &p)?);
            }
            out.push(Endpoint {
                id: parse("webhooks", &id, "id", &id)?,
                url: row.url,
                enabled: row.enabled != 0,
                format: WebhookFormat::parse(&row.format).unwrap_or_default(),
                secrets,
            });
        }
        Ok(out)
    }

    /// Records a successful attempt (if `owner` still holds it); the endpoint is no longer
    /// failing.
    pub async fn delivery_succeeded(
        &self,
        d: &Delivery,
        owner: &str,
        response_status: u16,
        duration_ms: u64,
        now: Millis,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = on!(&mut tx, t => sqlx::query("UPDATE webhook_deliveries SET status = 'succeeded', response_status = $1, \
             duration_ms = $2, finished_at = $3, next_attempt_at = NULL, lease_owner = NULL \
             WHERE id = $4 AND status = 'pending' AND lease_owner = $5")
        .bind(i64::from(response_status))
        .bind(duration_ms as i64)
        .bind(now)
        .bind(d.id.to_string())
        .bind(owner.to_owned())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Ok(false);
        }
        // The event has arrived: its other attempts waiting for this endpoint are not sent.
        on!(&mut tx, t => sqlx::query("UPDATE webhook_deliveries SET status = 'superseded', finished_at = $1, \
             next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL \
             WHERE id IN (SELECT id FROM webhook_deliveries WHERE event_id = $3 \
             AND webhook_id = $2 AND status = 'pending' AND id <> $4)")
        .bind(now)
        .bind(d.webhook_id.to_string())
        .bind(d.event_id.to_string())
        .bind(d.id.to_string())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, t => sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE id = $1")
            .bind(d.webhook_id.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt (if `owner` still holds it) and, in the same transaction, the
    /// next attempt at `f.next_at` (none: the delivery has failed); an endpoint that has been
    /// failing for `f.disable_after_ms` is disabled, with a `webhook.disabled` event. The retry
    /// and disable policy is the caller's. Answers the next attempt, if any.
    pub async fn delivery_failed(
        &self,
        d: &Delivery,
        owner: &str,
        f: &FailedAttempt<'_>,
    ) -> Result<Option<Delivery>> {
        let (response_status, error, duration_ms, now, next_at) =
            (f.response_status, f.error, f.duration_ms, f.now, f.next_at);
        let mut tx = self.begin().await?;
        let done = on!(&mut tx, t => sqlx::query("UPDATE webhook_deliveries SET status = 'failed', response_status = $1, \
             duration_ms = $2, error = $3, finished_at = $4, next_attempt_at = $5, \
             lease_owner = NULL WHERE id = $6 AND status = 'pending' AND lease_owner = $7")
        .bind(response_status.map(i64::from))
        .bind(duration_ms as i64)
        .bind(error.to_owned())
        .bind(now)
        .bind(next_at)
        .bind(d.id.to_string())
        .bind(owner.to_owned())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Ok(None);
        }
        let next = match next_at {
            Some(at) => Some(
                self.insert_attempt(
                    &mut tx,
                    d.org_id,
                    &d.webhook_id.to_string(),
                    d.event_id,
                    d.attempt + 1,
                    at,
                )
                .await?,
            ),
            None => None,
        };
        let failing_since = on!(&mut tx, t => sqlx::query_scalar::<_, Option<i64>>(
            "UPDATE webhooks SET failing_since = COALESCE(failing_since, $1) WHERE id = $2 \
             RETURNING failing_since",
        )
        .bind(now)
        .bind(d.webhook_id.to_string())
        .fetch_optional(&mut **t)
        .await)?;
        if let Some(Some(since)) = failing_since
            && now - since >= f.disable_after_ms
        {
            let off = on!(&mut tx, t => sqlx::query("UPDATE webhooks SET enabled = 0, updated_at = $1 WHERE id = $2 AND enabled = 1")
            .bind(now)
            .bind(d.webhook_id.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
            if off > 0 {
                let event = Event::new(d.org_id, EventType::WebhookDisabled, now)
                    .data(serde_json::json!({"webhook_id": d.webhook_id, "failing_since": since}));
                self.insert_events(&mut tx, &[event]).await?;
            }
        }
        tx.commit().await?;
        Ok(next)
    }

    /// A new attempt of `delivery`'s event to its endpoint, due at `now` (a retry by hand).
    pub async fn retry_delivery(
        &self,
        org: OrgId,
        webhook: WebhookId,
        id: DeliveryId,
        now: Millis,
    ) -> Result<Option<Delivery>> {
        // One retry at a time per endpoint, so that each takes the next number.
        let mut tx = self.write_tx().await?;
        if let Tx::Postgres(t) = &mut tx {
            sqlx::query("SELECT id FROM webhooks WHERE id = $1 FOR UPDATE")
                .bind(webhook.to_string())
                .fetch_optional(&mut **t)
                .await?;
        }
        let row = on!(&mut tx, t => sqlx::query_as::<_, (String, i64)>("SELECT event_id, (SELECT MAX(attempt) FROM webhook_deliveries o \
             WHERE o.webhook_id = d.webhook_id AND o.event_id = d.event_id) AS last \
             FROM webhook_deliveries d WHERE d.org_id = $1 AND d.webhook_id = $2 AND d.id = $3")
        .bind(org.to_string())
        .bind(webhook.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut **t)
        .await)?;
        let Some((event, last)) = row else {
            return Ok(None);
        };
        let event: EventId = parse("webhook_deliveries", "", "event_id", &event)?;
        let last = last.clamp(0, i64::from(u32::MAX)) as u32;
        let d = self
            .insert_attempt(&mut tx, org, &webhook.to_string(), event, last + 1, now)
            .await?;
        tx.commit().await?;
        Ok(Some(d))
    }

    /// An endpoint's attempts, newest first, before `before`.
    pub async fn list_deliveries(
        &self,
        org: OrgId,
        webhook: WebhookId,
        limit: u32,
        before: Option<DeliveryId>,
    ) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2 \
             AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, DeliveryRow>(&sql)
            .bind(org.to_string())
            .bind(webhook.to_string())
            .bind(before.map(|b| b.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(delivery).collect()
    }
}
