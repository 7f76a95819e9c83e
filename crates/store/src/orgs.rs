//! Organisations and their API keys (stored as SHA-256 hashes only).

use lockbridge_core::ids::{ApiKeyId, OrgId};
use lockbridge_core::model::{ApiKey, Organisation, Role};
use sha2::{Digest, Sha256};

use crate::cipher::random_hex;
use crate::{Result, Store, StoreError, Tx, on, parse};

/// The hash an API key is stored and looked up by.
fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A row of `api_keys` without its hash; a console session's adds its CSRF token.
#[derive(Debug, sqlx::FromRow)]
struct KeyRow {
    id: String,
    org_id: String,
    name: String,
    role: String,
    prefix: String,
    created_at: i64,
    #[sqlx(default)]
    csrf: Option<String>,
}

fn api_key(row: KeyRow) -> Result<ApiKey> {
    let id = row.id;
    Ok(ApiKey {
        org_id: parse("api_keys", &id, "org_id", &row.org_id)?,
        name: row.name,
        role: Role::parse(&row.role).ok_or_else(|| StoreError::Corrupt {
            table: "api_keys",
            id: id.clone(),
            what: format!("role {:?}", row.role),
        })?,
        prefix: row.prefix,
        created_at: row.created_at,
        id: parse("api_keys", &id, "id", &id)?,
    })
}

impl Store {
    pub async fn create_org(&self, name: &str) -> Result<Organisation> {
        let org = Organisation {
            id: OrgId::new(),
            name: name.to_owned(),
            created_at: self.now(),
        };
        on!(&self.pool, db => sqlx::query(
            "INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)",
        )
        .bind(org.id.to_string())
        .bind(&org.name)
        .bind(org.created_at)
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(org)
    }

    pub async fn get_org(&self, id: OrgId) -> Result<Option<Organisation>> {
        let row = on!(&self.pool, db => sqlx::query_as::<_, (String, i64)>(
            "SELECT name, created_at FROM organisations WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(db)
        .await)?;
        Ok(row.map(|(name, created_at)| Organisation {
            id,
            name,
            created_at,
        }))
    }

    /// Creates a key; answers it with the secret key, which is not kept.
    pub async fn create_api_key(
        &self,
        org: OrgId,
        name: &str,
        role: Role,
    ) -> Result<(ApiKey, String)> {
        let secret = format!("lb_{}", random_hex(32));
        let key = ApiKey {
            id: ApiKeyId::new(),
            org_id: org,
            name: name.to_owned(),
            role,
            prefix: secret[..11].to_owned(),
            created_at: self.now(),
        };
        on!(&self.pool, db => sqlx::query("INSERT INTO api_keys (id, org_id, name, role, prefix, key_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(key.id.to_string())
        .bind(org.to_string())
        .bind(&key.name)
        .bind(role.as_str())
        .bind(&key.prefix)
        .bind(key_hash(&secret))
        .bind(key.created_at)
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok((key, secret))
    }

    /// The key a secret belongs to, if any.
    pub async fn api_key_by_secret(&self, secret: &str) -> Result<Option<ApiKey>> {
        let row = on!(&self.pool, db => sqlx::query_as::<_, KeyRow>("SELECT id, org_id, name, role, prefix, created_at FROM api_keys WHERE key_hash = $1")
        .bind(key_hash(secret))
        .fetch_optional(db)
        .await)?;
        row.map(api_key).transpose()
    }

    pub async fn list_api_keys(
        &self,
        org: OrgId,
        limit: u32,
        after: Option<ApiKeyId>,
    ) -> Result<Vec<ApiKey>> {
        let rows = on!(&self.pool, db => sqlx::query_as::<_, KeyRow>("SELECT id, org_id, name, role, prefix, created_at FROM api_keys \
             WHERE org_id = $1 AND id > $2 ORDER BY org_id, id LIMIT $3")
        .bind(org.to_string())
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(api_key).collect()
    }

    /// Deletes a key of the organisation; false when there is none. The organisation's last
    /// admin key is kept ([`StoreError::Conflict`] `"last_admin_key"`): the count and the delete
    /// are one statement, in a transaction that holds the organisation's row, so two admins
    /// deleting each other at once cannot both succeed.
    pub async fn delete_api_key(&self, org: OrgId, id: ApiKeyId) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        if let Tx::Postgres(t) = &mut tx {
            sqlx::query("SELECT id FROM organisations WHERE id = $1 FOR UPDATE")
                .bind(org.to_string())
                .fetch_optional(&mut **t)
                .await?;
        }
        let done = on!(&mut tx, t => sqlx::query("DELETE FROM api_keys WHERE org_id = $1 AND id = $2 AND (role <> 'admin' OR \
             (SELECT COUNT(*) FROM api_keys WHERE org_id = $1 AND role = 'admin') > 1)")
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            let exists =
                on!(&mut tx, t => sqlx::query_scalar::<_, String>("SELECT id FROM api_keys WHERE org_id = $1 AND id = $2")
                    .bind(org.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&mut **t)
                    .await)?
                    .is_some();
            return if exists {
                Err(StoreError::Conflict("last_admin_key"))
            } else {
                Ok(false)
            };
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Signs `key` in to the console until `expires_at`: answers the cookie's token and the
    /// session's CSRF token (only the token's hash is stored).
    pub async fn create_console_session(
        &self,
        key: ApiKeyId,
        expires_at: i64,
    ) -> Result<(String, String)> {
        let (token, csrf) = (random_hex(32), random_hex(32));
        on!(&self.pool, db => sqlx::query("INSERT INTO console_sessions (token_hash, api_key_id, csrf, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)")
        .bind(key_hash(&token))
        .bind(key.to_string())
        .bind(csrf.clone())
        .bind(expires_at)
        .bind(self.now())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok((token, csrf))
    }

    /// The key and CSRF token of a console session that has not expired (nor lost its key).
    pub async fn console_session(&self, token: &str, now: i64) -> Result<Option<(ApiKey, String)>> {
        let row = on!(&self.pool, db => sqlx::query_as::<_, KeyRow>("SELECT k.id, k.org_id, k.name, k.role, k.prefix, k.created_at, s.csrf \
             FROM console_sessions s JOIN api_keys k ON k.id = s.api_key_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2")
        .bind(key_hash(token))
        .bind(now)
        .fetch_optional(db)
        .await)?;
        row.map(|mut r| {
            let csrf = r.csrf.take().unwrap_or_default();
            Ok((api_key(r)?, csrf))
        })
        .transpose()
    }

    /// Ends a console session (sign-out); expired ones are cleared on the way.
    pub async fn end_console_session(&self, token: &str, now: i64) -> Result<()> {
        on!(&self.pool, db => sqlx::query(
            "DELETE FROM console_sessions WHERE token_hash = $1 OR expires_at <= $2",
        )
        .bind(key_hash(token))
        .bind(now)
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
