//! Answers kept for `Idempotency-Key`s of requests that create no resource carrying the key
//! itself (an unlock, a lock, a test event…): the first request claims the key, the answer is
//! kept once it is known, and the same request again gets that answer.

use lockbridge_core::ids::OrgId;
use lockbridge_core::time::Millis;

use crate::{Result, Store, on};

/// What a claim of a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's: do the work, then [`Store::keep_answer`].
    Mine,
    /// The key was used with another request (method, path or body).
    Reused,
    /// The same request is being answered elsewhere, since `since`.
    Running { since: Millis },
    /// The same request was answered: its status and body.
    Answered { status: u16, body: String },
}

impl Store {
    /// Claims `key` for a request whose fingerprint is `fingerprint`. A claim left running
    /// since before `stale` (its instance stopped before it answered) is taken over.
    pub async fn claim_idempotency_key(
        &self,
        org: OrgId,
        key: &str,
        fingerprint: &str,
        now: Millis,
        stale: Millis,
    ) -> Result<Claim> {
        let inserted = on!(&self.pool, db => sqlx::query("INSERT INTO idempotency_keys (org_id, key, fingerprint, state, created_at) \
             VALUES ($1, $2, $3, 'running', $4) ON CONFLICT (org_id, key) DO NOTHING")
        .bind(org.to_string())
        .bind(key.to_owned())
        .bind(fingerprint.to_owned())
        .bind(now)
        .execute(db).await.map(|r| r.rows_affected()))?;
        if inserted == 1 {
            return Ok(Claim::Mine);
        }
        let Some((stored, state, status, body, since)) = on!(&self.pool, db => sqlx::query_as::<_, (String, String, Option<i64>, Option<String>, i64)>("SELECT fingerprint, state, status, body, created_at FROM idempotency_keys \
             WHERE org_id = $1 AND key = $2")
        .bind(org.to_string())
        .bind(key.to_owned())
        .fetch_optional(db)
        .await)?
        else {
            // Forgotten meanwhile (an answer not kept): claim it afresh.
            return Box::pin(self.claim_idempotency_key(org, key, fingerprint, now, stale)).await;
        };
        if stored != fingerprint {
            return Ok(Claim::Reused);
        }
        if state == "done" {
            return Ok(Claim::Answered {
                status: status.unwrap_or(200).clamp(100, 599) as u16,
                body: body.unwrap_or_default(),
            });
        }
        if since < stale {
            let taken = on!(&self.pool, db => sqlx::query("UPDATE idempotency_keys SET created_at = $1 WHERE org_id = $2 AND key = $3 \
                 AND state = 'running' AND created_at = $4")
            .bind(now)
            .bind(org.to_string())
            .bind(key.to_owned())
            .bind(since)
            .execute(db).await.map(|r| r.rows_affected()))?;
            if taken == 1 {
                return Ok(Claim::Mine);
            }
        }
        Ok(Claim::Running { since })
    }

    /// Keeps the answer of a claimed key (`Some`), or lets the key go (`None`: the request
    /// failed in a way worth trying again).
    pub async fn keep_answer(
        &self,
        org: OrgId,
        key: &str,
        answer: Option<(u16, &str)>,
    ) -> Result<()> {
        match answer {
            Some((status, body)) => {
                on!(&self.pool, db => sqlx::query("UPDATE idempotency_keys SET state = 'done', status = $1, body = $2 \
                     WHERE org_id = $3 AND key = $4")
                .bind(i64::from(status))
                .bind(body.to_owned())
                .bind(org.to_string())
                .bind(key.to_owned())
                .execute(db).await.map(|r| r.rows_affected()))?;
            }
            None => {
                on!(&self.pool, db => sqlx::query(
                    "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2",
                )
                .bind(org.to_string())
                .bind(key.to_owned())
                .execute(db).await.map(|r| r.rows_affected()))?;
            }
        }
        Ok(())
    }

    /// Forgets answers kept since before `before`; answers how many.
    pub async fn forget_idempotency_keys(&self, before: Millis) -> Result<u64> {
        let done = on!(&self.pool, db => sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }
}
