//! Claiming webhook attempts for sending: which endpoints have attempts due, an endpoint's
//! due attempts leased to one sender, and an attempt given back unsent.

use lockbridge_core::ids::WebhookId;
use lockbridge_core::time::Millis;
use lockbridge_core::webhooks::Delivery;

use sqlx::QueryBuilder;

use crate::webhooks::{DELIVERY_COLUMNS, DeliveryRow, delivery};
use crate::{Result, Store, on, parse, push_list};

impl Store {
    /// Enabled endpoints with attempts due at `now` that nobody holds, but those of `busy`
    /// (endpoints this instance is sending to already), oldest due first, at most `limit`.
    pub async fn due_endpoints(
        &self,
        now: Millis,
        busy: &[WebhookId],
        limit: u32,
    ) -> Result<Vec<WebhookId>> {
        let ids = on!(&self.pool, db => {
            let mut q = QueryBuilder::new(
                "SELECT d.webhook_id, MIN(d.next_attempt_at) AS due FROM webhook_deliveries d \
                 JOIN webhooks w ON w.id = d.webhook_id AND w.enabled = 1 \
                 WHERE d.status = 'pending' AND d.next_attempt_at <= ",
            );
            q.push_bind(now);
            q.push(" AND (d.lease_until IS NULL OR d.lease_until <= ").push_bind(now).push(")");
            if !busy.is_empty() {
                q.push(" AND d.webhook_id NOT IN ");
                push_list(&mut q, busy.iter().map(|id| id.to_string()));
            }
            q.push(" GROUP BY d.webhook_id ORDER BY due LIMIT ").push_bind(i64::from(limit));
            q.build_query_as::<(String, i64)>().fetch_all(db).await
        })?;
        ids.into_iter()
            .map(|(id, _)| parse("webhook_deliveries", &id, "webhook_id", &id))
            .collect()
    }

    /// Claims up to `limit` due attempts to endpoint `webhook` (while it is enabled) for
    /// `owner` until `lease_until` (on PostgreSQL, rows another instance is claiming are
    /// skipped).
    pub async fn claim_due_deliveries(
        &self,
        webhook: WebhookId,
        now: Millis,
        limit: u32,
        lease_until: Millis,
        owner: &str,
    ) -> Result<Vec<Delivery>> {
        let skip_locked = self.skip_locked();
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 WHERE id IN (\
             SELECT id FROM webhook_deliveries WHERE webhook_id = $5 AND status = 'pending' \
             AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) \
             AND EXISTS (SELECT 1 FROM webhooks WHERE id = $5 AND enabled = 1) \
             ORDER BY next_attempt_at LIMIT $4{skip_locked}) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $3) \
             RETURNING {DELIVERY_COLUMNS}"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, DeliveryRow>(&sql)
            .bind(owner.to_owned())
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .bind(webhook.to_string())
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(delivery).collect()
    }

    /// Gives a claimed attempt back unsent: it stays pending (for when its endpoint, disabled
    /// after the claim, is enabled again, or another attempt of its event has ended).
    pub async fn release_delivery(&self, d: &Delivery, owner: &str) -> Result<()> {
        on!(&self.pool, db => sqlx::query("UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND status = 'pending' AND lease_owner = $2")
        .bind(d.id.to_string())
        .bind(owner.to_owned())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
