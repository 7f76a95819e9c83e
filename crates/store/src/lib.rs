//! lockbridge's persistence: one interface returning domain types, over SQLite (the embedded
//! default) and PostgreSQL.
//!
//! Both backends run through sqlx's runtime-generic driver with portable column types (text ids,
//! 64-bit integers, millisecond instants); each has its own migrations, kept in lockstep
//! (`migrations/sqlite`, `migrations/postgres`, same version for the same change). Secrets —
//! credentials, tokens, PINs — are sealed with AES-256-GCM under the master key before they
//! reach either database.

mod budgets;
mod cipher;
mod code_passes;
mod codes;
mod connections;
mod deliveries;
mod devices;
mod events;
mod grants;
mod idempotency;
mod jobs;
mod lock_state;
mod orgs;
#[cfg(feature = "test-util")]
pub mod testing;
mod webhooks;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use budgets::SharedBudgets;
pub use cipher::MasterKey;
pub use codes::{GrantCodeWrite, Guard, InsertError};
pub use devices::{HealthRules, LockFilter, LockHealth, SeenLock, SyncCounts};
pub use events::EventFilter;
pub use idempotency::Claim;
pub use jobs::{JobItem, JobProgress, JobRow};
pub use webhooks::{Endpoint, FailedAttempt, WebhookPatch};

use cipher::Cipher;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    Url(String),
    #[error("invalid master key: {0}")]
    MasterKey(String),
    #[error("a stored secret could not be decrypted: wrong master key, or tampered data")]
    Decrypt,
    #[error("stored row {table}/{id} is malformed: {what}")]
    Corrupt {
        table: &'static str,
        id: String,
        what: String,
    },
    /// A uniqueness rule was broken (`what` names it).
    #[error("{0} already exists")]
    Conflict(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The store. Cheap to clone (a pool handle and the cipher).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    cipher: Cipher,
    /// What the store stamps rows it creates with (`created_at`, `updated_at`) when the caller
    /// gives no time: the service's clock once the service holds the store.
    clock: std::sync::Arc<lockbridge_core::time::Clock>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects (creating a SQLite file when missing) without migrating.
    pub async fn connect(url: &str, key: &MasterKey) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Url(url.to_owned()));
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let url: Cow<'_, str> = match dialect {
            Dialect::Sqlite => {
                // One writer at a time in SQLite: a few connections serve reads under WAL.
                options = options.max_connections(8).after_connect(|conn, _| {
                    Box::pin(async move {
                        use sqlx::Executor;
                        conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;")
                            .await?;
                        Ok(())
                    })
                });
                if url.contains('?') {
                    Cow::Borrowed(url)
                } else {
                    Cow::Owned(format!("{url}?mode=rwc"))
                }
            }
            Dialect::Postgres => {
                options = options.max_connections(16);
                Cow::Borrowed(url)
            }
        };
        let pool = options.connect(&url).await?;
        if dialect == Dialect::Sqlite {
            sqlx::raw_sql("PRAGMA journal_mode = WAL;")
                .execute(&pool)
                .await?;
        }
        Ok(Store {
            pool,
            dialect,
            cipher: Cipher::new(key),
            clock: std::sync::Arc::default(),
        })
    }

    /// The same store, stamping rows on `clock`.
    pub fn with_clock(mut self, clock: std::sync::Arc<lockbridge_core::time::Clock>) -> Store {
        self.clock = clock;
        self
    }

    /// Now, on the store's clock.
    pub(crate) fn now(&self) -> lockbridge_core::time::Millis {
        self.clock.now()
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, key: &MasterKey) -> Result<Store> {
        let store = Store::connect(url, key).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations (forward only).
    pub async fn migrate(&self) -> Result<()> {
        match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Refreshes the planner's statistics (PostgreSQL's autovacuum does it on its own after
    /// enough writes; call it after a bulk load).
    pub async fn analyze(&self) -> Result<()> {
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// SQL written with `$1`-style parameters, in this backend's spelling (`?1` for SQLite).
    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
    /// "database is locked" when another writer committed in between, whatever the busy
    /// timeout. PostgreSQL takes row locks (`FOR UPDATE`) where it reads before writing.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.dialect {
            // Begun in a task of its own: a caller dropped while `BEGIN IMMEDIATE` waits for
            // the write lock (a client gone, a pass cancelled) would otherwise leave the
            // connection in a transaction that no `Transaction` ends, holding the lock in the
            // pool. The task's `Transaction`, when nobody takes it, is rolled back on drop.
            Dialect::Sqlite => {
                let pool = self.pool.clone();
                tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await })
                    .await
                    .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))??
            }
            Dialect::Postgres => self.pool.begin().await?,
        })
    }

    /// What a claim's inner `SELECT` ends with so that concurrent claims skip each other's
    /// rows (PostgreSQL); SQLite has one writer at a time and needs nothing.
    fn skip_locked(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }

    fn sql<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.dialect {
            Dialect::Postgres => Cow::Borrowed(text),
            Dialect::Sqlite => Cow::Owned(text.replace('$', "?")),
        }
    }
}

/// Column helpers shared by the row mappers.
pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(col)?)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

pub(crate) fn parse<T: FromStr>(
    table: &'static str,
    id: &str,
    what: &str,
    value: &str,
) -> Result<T> {
    value.parse().map_err(|_| StoreError::Corrupt {
        table,
        id: id.to_owned(),
        what: format!("{what} {value:?}"),
    })
}
