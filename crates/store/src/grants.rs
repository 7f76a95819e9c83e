//! Grants: the wanted state of one person's access to several locks. Their codes are rows of
//! `access_codes` with the grant's id. A grant is written whole, conditionally on the version
//! read; `applied_version` records how far its codes have been brought, so that a change an
//! instance did not finish applying is finished by the next pass.

use lockbridge_core::events::Event;
use lockbridge_core::grants::{Grant, GrantStatus, SharedCodePolicy};
use lockbridge_core::ids::{GrantId, OrgId};
use lockbridge_core::model::{AccessCode, Scheduling};
use lockbridge_core::time::Millis;
use sqlx::QueryBuilder;

use crate::codes::{COLUMNS as CODE_COLUMNS, CodeRow, InsertError, code_conflict};
use crate::{Result, Store, StoreError, insert_into, on, parse, push_list};

const COLUMNS: &str = "id, org_id, name, starts_at, ends_at, schedule, scheduling, \
                       on_shared_code_impossible, lock_ids, code, applied_version, status, version, \
                       idempotency_key, idempotency_fingerprint, created_at, updated_at, actor";

/// A row of `grants`, in [`COLUMNS`]' order: the shared PIN sealed, the locks as JSON.
#[derive(Debug, sqlx::FromRow)]
struct GrantRow {
    id: String,
    org_id: String,
    name: String,
    starts_at: Option<i64>,
    ends_at: Option<i64>,
    schedule: Option<String>,
    scheduling: String,
    on_shared_code_impossible: String,
    lock_ids: String,
    code: Option<Vec<u8>>,
    applied_version: i64,
    status: String,
    version: i64,
    idempotency_key: Option<String>,
    idempotency_fingerprint: Option<String>,
    created_at: i64,
    updated_at: i64,
    actor: Option<String>,
}

impl Store {
    fn grant(&self, row: GrantRow) -> Result<Grant> {
        let id = row.id;
        let corrupt = |what: &str| StoreError::Corrupt {
            table: "grants",
            id: id.clone(),
            what: what.to_owned(),
        };
        Ok(Grant {
            org_id: parse("grants", &id, "org_id", &row.org_id)?,
            name: row.name,
            code: row
                .code
                .map(|s| self.cipher.open_string(&id, &s))
                .transpose()?,
            lock_ids: serde_json::from_str(&row.lock_ids).map_err(|_| corrupt("lock_ids"))?,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            schedule: row
                .schedule
                .map(|s| serde_json::from_str(&s).map_err(|_| corrupt("schedule")))
                .transpose()?,
            scheduling: Scheduling::parse(&row.scheduling).ok_or_else(|| corrupt("scheduling"))?,
            on_shared_code_impossible: SharedCodePolicy::parse(&row.on_shared_code_impossible)
                .ok_or_else(|| corrupt("on_shared_code_impossible"))?,
            status: GrantStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            access_codes: Vec::new(),
            version: row.version,
            applied_version: row.applied_version,
            idempotency_key: row.idempotency_key,
            idempotency_fingerprint: row.idempotency_fingerprint,
            created_at: row.created_at,
            updated_at: row.updated_at,
            actor: row
                .actor
                .and_then(|a| serde_json::from_str(&a).ok())
                .unwrap_or_default(),
            id: parse("grants", &id, "id", &id)?,
        })
    }

    /// Inserts a grant and its codes in one transaction: all of them or none. Each lock's live
    /// codes are counted against its `max` with the lock's row held; the error says which code
    /// (by index) could not be stored.
    pub async fn insert_grant(
        &self,
        g: &Grant,
        codes: &[(AccessCode, Option<u32>)],
    ) -> Result<(), (Option<usize>, InsertError)> {
        let mut tx = self.write_tx().await.map_err(|e| (None, e.into()))?;
        let id = g.id.to_string();
        let sql = insert_into("grants", COLUMNS);
        on!(&mut tx, t => sqlx::query(&sql)
        .bind(id.clone())
        .bind(g.org_id.to_string())
        .bind(g.name.clone())
        .bind(g.starts_at)
        .bind(g.ends_at)
        .bind(schedule_text(g))
        .bind(g.scheduling.as_str())
        .bind(g.on_shared_code_impossible.as_str())
        .bind(serde_json::to_string(&g.lock_ids).unwrap_or_default())
        .bind(g.code.as_ref().map(|c| self.cipher.seal(&id, c.as_bytes())))
        .bind(g.applied_version)
        .bind(g.status.as_str())
        .bind(g.version)
        .bind(g.idempotency_key.clone())
        .bind(g.idempotency_fingerprint.clone())
        .bind(g.created_at)
        .bind(g.updated_at)
        .bind(serde_json::to_string(&g.actor).ok())
        .execute(&mut **t).await.map(|r| r.rows_affected()))
        .map_err(|e| (None, InsertError::Store(code_conflict(e))))?;
        for (i, (c, max)) in codes.iter().enumerate() {
            self.insert_within(&mut tx, c, *max)
                .await
                .map_err(|e| (Some(i), e))?;
        }
        tx.commit().await.map_err(|e| (None, e.into()))?;
        Ok(())
    }

    /// Writes every changeable field of `g` if the row is still at `expected` version, with
    /// `events` in the same transaction; `false` when another writer came first.
    pub async fn update_grant_if(
        &self,
        g: &mut Grant,
        expected: i64,
        now: Millis,
        events: &[Event],
    ) -> Result<bool> {
        let id = g.id.to_string();
        let mut tx = self.write_tx().await?;
        let (code, schedule) = (
            g.code.as_ref().map(|c| self.cipher.seal(&id, c.as_bytes())),
            schedule_text(g),
        );
        let (lock_ids, actor) = (
            serde_json::to_string(&g.lock_ids).unwrap_or_default(),
            serde_json::to_string(&g.actor).ok(),
        );
        let done = on!(&mut tx, t => {
            let mut q = QueryBuilder::new("UPDATE grants SET version = version + 1");
            q.push(", name = ").push_bind(g.name.clone());
            q.push(", starts_at = ").push_bind(g.starts_at);
            q.push(", ends_at = ").push_bind(g.ends_at);
            q.push(", schedule = ").push_bind(schedule);
            q.push(", scheduling = ").push_bind(g.scheduling.as_str());
            q.push(", lock_ids = ").push_bind(lock_ids);
            q.push(", code = ").push_bind(code);
            q.push(", status = ").push_bind(g.status.as_str());
            q.push(", updated_at = ").push_bind(now);
            q.push(", actor = ").push_bind(actor);
            q.push(" WHERE id = ").push_bind(id);
            q.push(" AND version = ").push_bind(expected);
            q.build().execute(&mut **t).await.map(|r| r.rows_affected())
        })?;
        if done != 1 {
            return Ok(false);
        }
        self.insert_events(&mut tx, events).await?;
        tx.commit().await?;
        g.version = expected + 1;
        g.updated_at = now;
        Ok(true)
    }

    /// Records that every code was brought to the grant's `version` (if it is still that).
    pub async fn mark_grant_applied(&self, id: GrantId, version: i64) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query("UPDATE grants SET applied_version = $1 WHERE id = $2 AND version = $1 \
             AND applied_version < $1")
        .bind(version)
        .bind(id.to_string())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Moves a grant's status from `from` to `to` with `events`, in one transaction, if it is
    /// still `from` (what its codes add up to is not a change of what is wanted: the version
    /// stays). `false` when another writer moved it first.
    pub async fn set_grant_status(
        &self,
        id: GrantId,
        from: GrantStatus,
        to: GrantStatus,
        now: Millis,
        events: &[Event],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = on!(&mut tx, t => sqlx::query("UPDATE grants SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
            .bind(to.as_str())
            .bind(now)
            .bind(id.to_string())
            .bind(from.as_str())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        if done != 1 {
            return Ok(false);
        }
        self.insert_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Any organisation's grant (workers), without its codes.
    pub async fn grant_by_id(&self, id: GrantId) -> Result<Option<Grant>> {
        let sql = format!("SELECT {COLUMNS} FROM grants WHERE id = $1");
        let row = on!(&self.pool, db => sqlx::query_as::<_, GrantRow>(&sql)
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.grant(r)).transpose()
    }

    pub async fn get_grant(&self, org: OrgId, id: GrantId) -> Result<Option<Grant>> {
        Ok(self.grant_by_id(id).await?.filter(|g| g.org_id == org))
    }

    pub async fn grant_by_key(&self, org: OrgId, key: &str) -> Result<Option<Grant>> {
        let sql =
            format!("SELECT {COLUMNS} FROM grants WHERE org_id = $1 AND idempotency_key = $2");
        let row = on!(&self.pool, db => sqlx::query_as::<_, GrantRow>(&sql)
            .bind(org.to_string())
            .bind(key)
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.grant(r)).transpose()
    }

    /// A page of the organisation's grants in id order, without their codes.
    pub async fn list_grants(
        &self,
        org: OrgId,
        limit: u32,
        after: Option<GrantId>,
    ) -> Result<Vec<Grant>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM grants WHERE org_id = $1 AND id > $2 ORDER BY org_id, id LIMIT $3"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, GrantRow>(&sql)
            .bind(org.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(|r| self.grant(r)).collect()
    }

    /// Every code the grant ever had, oldest first.
    pub async fn grant_codes(&self, id: GrantId) -> Result<Vec<AccessCode>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS} FROM access_codes WHERE grant_id = $1 ORDER BY grant_id, id"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, CodeRow>(&sql)
            .bind(id.to_string())
            .fetch_all(db)
            .await)?;
        self.codes(rows)
    }

    /// The codes of each of `grants` (a page of them), a few queries for all.
    pub async fn codes_of_grants(
        &self,
        grants: &[GrantId],
    ) -> Result<std::collections::HashMap<GrantId, Vec<AccessCode>>> {
        let mut out: std::collections::HashMap<GrantId, Vec<AccessCode>> =
            grants.iter().map(|g| (*g, Vec::new())).collect();
        for chunk in grants.chunks(100) {
            let head = format!("SELECT {CODE_COLUMNS} FROM access_codes WHERE grant_id IN ");
            let rows = on!(&self.pool, db => {
                let mut q = QueryBuilder::new(head);
                push_list(&mut q, chunk.iter().map(|g| g.to_string()));
                q.push(" ORDER BY grant_id, id");
                q.build_query_as::<CodeRow>().fetch_all(db).await
            })?;
            for code in self.codes(rows)? {
                if let Some(g) = code.grant_id {
                    out.entry(g).or_default().push(code);
                }
            }
        }
        Ok(out)
    }

    /// Grants whose status may move (codes on their way, or being revoked) or whose last change
    /// was not applied to every code: up to `limit`, oldest change first.
    pub async fn unsettled_grants(&self, limit: u32) -> Result<Vec<GrantId>> {
        let ids = on!(&self.pool, db => sqlx::query_scalar::<_, String>("SELECT id FROM grants WHERE status IN ('setting', 'removing') \
             OR applied_version < version ORDER BY updated_at LIMIT $1")
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?;
        ids.iter().map(|id| parse("grants", id, "id", id)).collect()
    }
}

fn schedule_text(g: &Grant) -> Option<String> {
    g.schedule
        .as_ref()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
}
