//! Action attempts (the `/seam` surface's record of an unlock, a lock or a code write). An
//! attempt leaves `pending` once, conditionally on still being `pending`.

use lockbridge_core::ids::{ActionAttemptId, LockId, OrgId};
use lockbridge_core::seam::{ActionAttempt, ActionType, AttemptStatus};
use lockbridge_core::time::Millis;
use sqlx::QueryBuilder;

use crate::{Result, Store, StoreError, insert_into, on, parse, parse_opt, push_list};

const COLUMNS: &str = "id, org_id, action_type, lock_id, access_code_id, status, error_type, \
    error_message, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
struct AttemptRow {
    id: String,
    org_id: String,
    action_type: String,
    lock_id: String,
    access_code_id: Option<String>,
    status: String,
    error_type: Option<String>,
    error_message: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn attempt(row: AttemptRow) -> Result<ActionAttempt> {
    const T: &str = "action_attempts";
    let id = row.id;
    let corrupt = |what: String| StoreError::Corrupt {
        table: T,
        id: id.clone(),
        what,
    };
    let status = match row.status.as_str() {
        "pending" => AttemptStatus::Pending,
        "success" => AttemptStatus::Success,
        "error" => AttemptStatus::Error {
            kind: row.error_type.unwrap_or_default(),
            message: row.error_message.unwrap_or_default(),
        },
        other => return Err(corrupt(format!("status {other:?}"))),
    };
    Ok(ActionAttempt {
        org_id: parse(T, &id, "org_id", &row.org_id)?,
        action_type: ActionType::parse(&row.action_type)
            .ok_or_else(|| corrupt(format!("action_type {:?}", row.action_type)))?,
        lock_id: parse(T, &id, "lock_id", &row.lock_id)?,
        access_code_id: parse_opt(T, &id, "access_code_id", row.access_code_id)?,
        status,
        created_at: row.created_at,
        updated_at: row.updated_at,
        id: parse(T, &id, "id", &id)?,
    })
}

fn error_parts(status: &AttemptStatus) -> (Option<&str>, Option<&str>) {
    match status {
        AttemptStatus::Error { kind, message } => (Some(kind), Some(message)),
        _ => (None, None),
    }
}

impl Store {
    pub async fn insert_action_attempt(&self, a: &ActionAttempt) -> Result<()> {
        let sql = insert_into("action_attempts", COLUMNS);
        let (kind, message) = error_parts(&a.status);
        on!(&self.pool, db => sqlx::query(&sql)
            .bind(a.id.to_string())
            .bind(a.org_id.to_string())
            .bind(a.action_type.as_str())
            .bind(a.lock_id.to_string())
            .bind(a.access_code_id.map(|c| c.to_string()))
            .bind(a.status.as_str())
            .bind(kind)
            .bind(message)
            .bind(a.created_at)
            .bind(a.updated_at)
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Ends a pending attempt with `status`; `false` when it had already ended.
    pub async fn finish_action_attempt(
        &self,
        id: ActionAttemptId,
        status: &AttemptStatus,
        now: Millis,
    ) -> Result<bool> {
        let (kind, message) = error_parts(status);
        let done = on!(&self.pool, db => sqlx::query(
            "UPDATE action_attempts SET status = $1, error_type = $2, error_message = $3, \
             updated_at = $4 WHERE id = $5 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(kind)
        .bind(message)
        .bind(now)
        .bind(id.to_string())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn get_action_attempt(
        &self,
        org: OrgId,
        id: ActionAttemptId,
    ) -> Result<Option<ActionAttempt>> {
        let sql = format!("SELECT {COLUMNS} FROM action_attempts WHERE org_id = $1 AND id = $2");
        let row = on!(&self.pool, db => sqlx::query_as::<_, AttemptRow>(&sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        row.map(attempt).transpose()
    }

    /// The organisation's attempts in creation order after `after`: those of `ids` when given,
    /// of `lock` when given.
    pub async fn list_action_attempts(
        &self,
        org: OrgId,
        ids: Option<&[ActionAttemptId]>,
        lock: Option<LockId>,
        limit: u32,
        after: Option<ActionAttemptId>,
    ) -> Result<Vec<ActionAttempt>> {
        if ids.is_some_and(<[_]>::is_empty) {
            return Ok(Vec::new());
        }
        let rows = on!(&self.pool, db => {
            let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM action_attempts WHERE org_id = "));
            q.push_bind(org.to_string());
            q.push(" AND id > ").push_bind(after.map(|a| a.to_string()).unwrap_or_default());
            if let Some(ids) = ids {
                q.push(" AND id IN ");
                push_list(&mut q, ids.iter().map(|i| i.to_string()));
            }
            if let Some(lock) = lock {
                q.push(" AND lock_id = ").push_bind(lock.to_string());
            }
            q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
            q.build_query_as::<AttemptRow>().fetch_all(db).await
        })?;
        rows.into_iter().map(attempt).collect()
    }

    /// Unlock and lock attempts still pending since before `before`: the instance sending them
    /// stopped before the vendor answered.
    pub async fn stale_door_attempts(
        &self,
        before: Millis,
        limit: u32,
    ) -> Result<Vec<ActionAttempt>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM action_attempts WHERE status = 'pending' AND created_at < $1 \
             AND action_type IN ('UNLOCK_DOOR', 'LOCK_DOOR') ORDER BY created_at LIMIT $2"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, AttemptRow>(&sql)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(attempt).collect()
    }
}
