//! Vendor connections: credentials and tokens sealed in one column.

use std::sync::LazyLock;

use lockbridge_core::credentials::Credentials;
use lockbridge_core::events::{Actor, Event, EventType};
use lockbridge_core::ids::{ConnectionId, LockId, OrgId};
use lockbridge_core::model::{Connection, ConnectionStatus, ExternalPolicy, Lock, Provider};
use lockbridge_core::time::Millis;

use crate::device_rows::{LOCK_COLUMNS, LockRow, lock as lock_of};
use crate::{Result, Store, StoreError, Tx, insert_into, on, parse};

const COLUMNS: &str = "id, org_id, provider, name, base_url, status, credentials, credentials_version, \
                       token_expires_at, last_sync_at, last_error, created_at, updated_at, on_external_change";

/// A row of `connections`: the credentials (and tokens) sealed as one JSON document.
#[derive(Debug, sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    org_id: String,
    provider: String,
    name: String,
    created_at: i64,
    updated_at: i64,
    #[sqlx(flatten)]
    rest: ConnectionColumns,
}

/// The columns of `connections` with no namesake in `locks`.
#[derive(Debug, sqlx::FromRow)]
struct ConnectionColumns {
    base_url: Option<String>,
    status: String,
    credentials: Vec<u8>,
    credentials_version: i64,
    token_expires_at: Option<i64>,
    last_sync_at: Option<i64>,
    last_error: Option<String>,
    on_external_change: String,
}

/// A lock's row and its connection's, joined: the connection's id and organisation are the
/// lock's, its other columns renamed where the lock has one of the same name.
#[derive(Debug, sqlx::FromRow)]
struct LockAndConnectionRow {
    #[sqlx(flatten)]
    lock: LockRow,
    conn_provider: String,
    conn_name: String,
    conn_created_at: i64,
    conn_updated_at: i64,
    #[sqlx(flatten)]
    rest: ConnectionColumns,
}

impl Store {
    fn seal_credentials(&self, id: ConnectionId, c: &Credentials) -> Vec<u8> {
        self.cipher.seal(&id.to_string(), c.to_json().as_bytes())
    }

    fn connection(&self, row: ConnectionRow) -> Result<Connection> {
        let (id, rest) = (row.id, row.rest);
        let corrupt = |what: String| StoreError::Corrupt {
            table: "connections",
            id: id.clone(),
            what,
        };
        let credentials = Credentials::from_json(&self.cipher.open_string(&id, &rest.credentials)?)
            .ok_or_else(|| corrupt("credentials".into()))?;
        Ok(Connection {
            org_id: parse("connections", &id, "org_id", &row.org_id)?,
            provider: parse("connections", &id, "provider", &row.provider)?,
            name: row.name,
            base_url: rest.base_url,
            status: ConnectionStatus::parse(&rest.status)
                .ok_or_else(|| corrupt(format!("status {:?}", rest.status)))?,
            credentials,
            credentials_version: rest.credentials_version,
            token_expires_at: rest.token_expires_at,
            last_sync_at: rest.last_sync_at,
            last_error: rest.last_error,
            on_external_change: ExternalPolicy::parse(&rest.on_external_change)
                .ok_or_else(|| corrupt(format!("policy {:?}", rest.on_external_change)))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            id: parse("connections", &id, "id", &id)?,
        })
    }

    pub async fn insert_connection(&self, c: &Connection) -> Result<()> {
        let sql = insert_into("connections", COLUMNS);
        on!(&self.pool, db => sqlx::query(&sql)
            .bind(c.id.to_string())
            .bind(c.org_id.to_string())
            .bind(c.provider.as_str())
            .bind(&c.name)
            .bind(c.base_url.clone())
            .bind(c.status.as_str())
            .bind(self.seal_credentials(c.id, &c.credentials))
            .bind(c.credentials_version)
            .bind(c.token_expires_at)
            .bind(c.last_sync_at)
            .bind(c.last_error.clone())
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(c.on_external_change.as_str())
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn get_connection(&self, org: OrgId, id: ConnectionId) -> Result<Option<Connection>> {
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE org_id = $1 AND id = $2");
        let row = on!(&self.pool, db => sqlx::query_as::<_, ConnectionRow>(&sql)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.connection(r)).transpose()
    }

    /// The organisation's lock `lock` and its connection, in one statement (what a command
    /// to the lock needs before the vendor is called).
    pub async fn lock_with_connection(
        &self,
        org: OrgId,
        lock: LockId,
    ) -> Result<Option<(Lock, Connection)>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let lock_columns: Vec<String> = LOCK_COLUMNS
                .split(',')
                .map(|c| format!("l.{}", c.trim()))
                .collect();
            format!(
                "SELECT {}, c.provider AS conn_provider, c.name AS conn_name, c.base_url, \
                 c.status, c.credentials, c.credentials_version, c.token_expires_at, \
                 c.last_sync_at, c.last_error, c.created_at AS conn_created_at, \
                 c.updated_at AS conn_updated_at, c.on_external_change \
                 FROM locks l JOIN connections c ON c.id = l.connection_id AND c.org_id = l.org_id \
                 WHERE l.org_id = $1 AND l.id = $2",
                lock_columns.join(", ")
            )
        });
        let row = on!(&self.pool, db => sqlx::query_as::<_, LockAndConnectionRow>(&SQL)
            .bind(org.to_string())
            .bind(lock.to_string())
            .fetch_optional(db)
            .await)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let conn = ConnectionRow {
            id: row.lock.connection_id.clone(),
            org_id: row.lock.org_id.clone(),
            provider: row.conn_provider,
            name: row.conn_name,
            created_at: row.conn_created_at,
            updated_at: row.conn_updated_at,
            rest: row.rest,
        };
        Ok(Some((lock_of(row.lock)?, self.connection(conn)?)))
    }

    /// Any organisation's connection (workers).
    pub async fn connection_by_id(&self, id: ConnectionId) -> Result<Option<Connection>> {
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE id = $1");
        let row = on!(&self.pool, db => sqlx::query_as::<_, ConnectionRow>(&sql)
            .bind(id.to_string())
            .fetch_optional(db)
            .await)?;
        row.map(|r| self.connection(r)).transpose()
    }

    /// The organisation's connection to `provider` made first (credentials-update).
    /// The organisation's connections to `provider`, oldest first, at most `limit`.
    pub async fn connections_of(
        &self,
        org: OrgId,
        provider: Provider,
        limit: u32,
    ) -> Result<Vec<Connection>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE org_id = $1 AND provider = $2 ORDER BY id LIMIT $3"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, ConnectionRow>(&sql)
            .bind(org.to_string())
            .bind(provider.as_str())
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(|r| self.connection(r)).collect()
    }

    pub async fn list_connections(
        &self,
        org: OrgId,
        limit: u32,
        after: Option<ConnectionId>,
    ) -> Result<Vec<Connection>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE org_id = $1 AND id > $2 ORDER BY org_id, id LIMIT $3"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, ConnectionRow>(&sql)
            .bind(org.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(|r| self.connection(r)).collect()
    }

    /// Active connections to `provider` whose token expires before `before`, soonest first
    /// (the token worker; each vendor has its own margin).
    pub async fn connections_expiring(
        &self,
        provider: Provider,
        before: Millis,
        limit: u32,
    ) -> Result<Vec<Connection>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE status = 'active' AND provider = $1 \
             AND token_expires_at IS NOT NULL AND token_expires_at < $2 ORDER BY token_expires_at LIMIT $3"
        );
        let rows = on!(&self.pool, db => sqlx::query_as::<_, ConnectionRow>(&sql)
            .bind(provider.as_str())
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(|r| self.connection(r)).collect()
    }

    /// Writes new credentials (already verified), their token expiry and status in one
    /// statement, bumping the credentials version. Nothing else of the row changes.
    pub async fn replace_credentials(
        &self,
        id: ConnectionId,
        credentials: &Credentials,
        token_expires_at: Option<Millis>,
        actor: &Actor,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write_tx().await?;
        self.record_transition(&mut tx, id, ConnectionStatus::Active, now, actor)
            .await?;
        let done = on!(&mut tx, t => sqlx::query("UPDATE connections SET credentials = $1, token_expires_at = $2, status = 'active', last_error = NULL, \
             credentials_version = credentials_version + 1, updated_at = $3 WHERE id = $4")
        .bind(self.seal_credentials(id, credentials))
        .bind(token_expires_at)
        .bind(now)
        .bind(id.to_string())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Merges renewed tokens over the stored credentials (read, merge, write in a transaction;
    /// the credentials version stays, the vendor session already holds the tokens).
    /// Claims the renewal of a connection's token for `owner` until `until`, if its token is
    /// still the one that expires at `expires_at` (nobody renewed it since it was read) and no
    /// other instance holds the renewal.
    pub async fn claim_refresh(
        &self,
        id: ConnectionId,
        expires_at: Millis,
        owner: &str,
        until: Millis,
        now: Millis,
    ) -> Result<bool> {
        let done = on!(&self.pool, db => sqlx::query("UPDATE connections SET refresh_owner = $1, refresh_until = $2 WHERE id = $3 \
             AND token_expires_at = $4 AND (refresh_until IS NULL OR refresh_until <= $5)")
        .bind(owner.to_owned())
        .bind(until)
        .bind(id.to_string())
        .bind(expires_at)
        .bind(now)
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Gives a claimed renewal back.
    pub async fn release_refresh(&self, id: ConnectionId, owner: &str) -> Result<()> {
        on!(&self.pool, db => sqlx::query("UPDATE connections SET refresh_owner = NULL, refresh_until = NULL \
             WHERE id = $1 AND refresh_owner = $2")
        .bind(id.to_string())
        .bind(owner.to_owned())
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn store_tokens(
        &self,
        id: ConnectionId,
        tokens: &Credentials,
        expires_at: Option<Millis>,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let lock = self.on_postgres(" FOR UPDATE");
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE id = $1{lock}");
        let Some(row) = on!(&mut tx, t => sqlx::query_as::<_, ConnectionRow>(&sql)
            .bind(id.to_string())
            .fetch_optional(&mut **t)
            .await)?
        else {
            return Ok(());
        };
        let mut conn = self.connection(row)?;
        conn.credentials.merge(tokens);
        on!(&mut tx, t => sqlx::query("UPDATE connections SET credentials = $1, token_expires_at = $2, updated_at = $3 WHERE id = $4")
        .bind(self.seal_credentials(id, &conn.credentials))
        .bind(expires_at)
        .bind(self.now())
        .bind(id.to_string())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a connection's status and last error. A move into or out of `needs_reauth` is
    /// recorded as `connection.needs_reauth` / `connection.reauthorized` in the same
    /// transaction (the status read is in the `WHERE`, so the event is written once).
    pub async fn set_connection_status(
        &self,
        id: ConnectionId,
        status: ConnectionStatus,
        last_error: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.write_tx().await?;
        self.record_transition(&mut tx, id, status, now, &Actor::system())
            .await?;
        on!(&mut tx, t => sqlx::query("UPDATE connections SET status = $1, last_error = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(last_error.map(str::to_owned))
        .bind(now)
        .bind(id.to_string())
        .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a move into or out of `needs_reauth` — with the status read in the `WHERE`, so
    /// it is recorded once — as its event, and as the `connection_needs_reauth` error on the
    /// connection's locks, in the caller's transaction.
    async fn record_transition(
        &self,
        tx: &mut Tx,
        id: ConnectionId,
        status: ConnectionStatus,
        now: Millis,
        actor: &Actor,
    ) -> Result<()> {
        let (from, kind) = match status {
            ConnectionStatus::NeedsReauth => {
                ("status <> 'needs_reauth'", EventType::ConnectionNeedsReauth)
            }
            ConnectionStatus::Active => {
                ("status = 'needs_reauth'", EventType::ConnectionReauthorized)
            }
            ConnectionStatus::Error => return Ok(()),
        };
        let moved = on!(tx, t => sqlx::query_scalar::<_, String>(&format!(
            "UPDATE connections SET status = $1 WHERE id = $2 AND {from} RETURNING org_id"
        ))
        .bind(status.as_str())
        .bind(id.to_string())
        .fetch_optional(&mut **t)
        .await)?;
        let Some(org) = moved else {
            return Ok(());
        };
        let org: OrgId = parse("connections", &id.to_string(), "org_id", &org)?;
        let e = Event::new(org, kind, now).connection(id).by(actor.clone());
        self.insert_events(tx, &[e]).await?;
        let broken = status == ConnectionStatus::NeedsReauth;
        self.toggle_lock_error(
            tx,
            id,
            broken,
            "connection_needs_reauth",
            "the vendor account's credentials no longer work",
            now,
        )
        .await
    }

    /// Sets what reconciliation does with codes changed on the connection's locks outside
    /// lockbridge.
    pub async fn set_external_policy(
        &self,
        id: ConnectionId,
        policy: ExternalPolicy,
    ) -> Result<()> {
        on!(&self.pool, db => sqlx::query("UPDATE connections SET on_external_change = $1 WHERE id = $2")
            .bind(policy.as_str())
            .bind(id.to_string())
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes a connection with its gateways, locks and codes.
    pub async fn delete_connection(&self, org: OrgId, id: ConnectionId) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = on!(&mut tx, t => sqlx::query("DELETE FROM connections WHERE org_id = $1 AND id = $2")
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        on!(&mut tx, t => sqlx::query(crate::devices::BUMP_ORG)
            .bind(org.to_string())
            .execute(&mut **t).await.map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(done > 0)
    }
}
