//! lockbridge's persistence: one interface returning domain types, over SQLite (the embedded
//! default) and PostgreSQL.
//!
//! Each backend has its own typed pool (sqlx's SQLite and PostgreSQL drivers, no runtime-generic
//! layer). A query is written once, with `$N` parameters both drivers read, and compiled once
//! per backend by `on!`: its rows decode into `FromRow` structs (one per table) and are checked
//! against each driver's types separately. Statements whose shape varies (bulk inserts, the
//! code's conditional update) are built with sqlx's `QueryBuilder`, which numbers the binds.
//! Columns are portable (text ids, 64-bit integers, millisecond instants, bytes); each backend
//! has its own migrations, kept in lockstep (`migrations/sqlite`, `migrations/postgres`, same
//! version for the same change). Secrets — credentials, tokens, PINs — are sealed with
//! AES-256-GCM under the master key before they reach either database.

mod attempts;
mod budgets;
mod calendars;
mod cipher;
mod code_passes;
mod code_writes;
mod codes;
mod connections;
mod deliveries;
mod device_rows;
mod devices;
mod events;
mod grants;
mod idempotency;
mod jobs;
mod lock_state;
mod orgs;
mod stays;
#[cfg(feature = "test-util")]
pub mod testing;
mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

pub use budgets::SharedBudgets;
pub use cipher::MasterKey;
pub use codes::{GrantCodeWrite, Guard, InsertError};
pub use devices::{HealthRules, LockFilter, LockHealth, SeenLock, SyncCounts};
pub use events::EventFilter;
pub use idempotency::Claim;
pub use jobs::{JobItem, JobProgress, JobRow};
pub use lock_state::Commit;
pub use stays::ReservationFilter;
pub use webhooks::{Endpoint, FailedAttempt, WebhookPatch};

use cipher::Cipher;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An older lockbridge on a database a newer one migrated: it refuses to start rather than
    /// run on a schema it does not know.
    #[error(
        "this database was migrated by a newer lockbridge (migration {0} is unknown to this one): run that version or a later one"
    )]
    NewerSchema(i64),
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

/// One thing per backend: a pool ([`Pool`]) or a transaction ([`Tx`]).
#[derive(Debug, Clone)]
pub(crate) enum Db<S, P> {
    Sqlite(S),
    Postgres(P),
}

pub(crate) type Pool = Db<SqlitePool, PgPool>;

/// A write transaction on either backend; rolled back when dropped uncommitted.
pub(crate) type Tx = Db<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;

/// `on!(pool_or_tx, db => expression)`: the expression for whichever backend it is, with `db`
/// naming that backend's pool (`&SqlitePool`, `&PgPool`) or transaction. Written once, compiled
/// once per driver, so every bind and every decoded row is typed for the backend it runs on.
macro_rules! on {
    ($on:expr, $db:ident => $body:expr) => {
        match $on {
            $crate::Db::Sqlite($db) => $body,
            $crate::Db::Postgres($db) => $body,
        }
    };
}
pub(crate) use on;

impl Tx {
    pub(crate) async fn commit(self) -> Result<()> {
        on!(self, tx => tx.commit().await)?;
        Ok(())
    }
}

/// How long a pooled connection may sit unused and still be handed out unchecked, in
/// milliseconds (1 s unless [`Store::set_trusted_idle`] says otherwise). One in steady use goes
/// straight to its statement (sqlx's default pings every connection it hands out: a round trip
/// before each statement); one idle longer is pinged first, and replaced if the database
/// dropped it meanwhile (a restart, an idle timeout on the way). A connection is also pinged as
/// it is given back (sqlx does that off the caller's path), so a broken one is not reused.
#[derive(Debug)]
struct TrustedIdle(std::sync::atomic::AtomicU64);

impl Default for TrustedIdle {
    fn default() -> Self {
        TrustedIdle(1_000.into())
    }
}

impl TrustedIdle {
    /// The pool's check before it hands out `conn`.
    fn check<'c, C: sqlx::Connection>(
        self: &Arc<Self>,
        conn: &'c mut C,
        meta: sqlx::pool::PoolConnectionMetadata,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = std::result::Result<bool, sqlx::Error>> + Send + 'c>,
    > {
        let trusted = Duration::from_millis(self.0.load(std::sync::atomic::Ordering::Relaxed));
        Box::pin(async move {
            if meta.idle_for >= trusted {
                conn.ping().await?;
            }
            Ok(true)
        })
    }
}

/// The store. Cheap to clone (a pool handle and the cipher).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    cipher: Cipher,
    /// What the store stamps rows it creates with (`created_at`, `updated_at`) when the caller
    /// gives no time: the service's clock once the service holds the store.
    clock: Arc<lockbridge_core::time::Clock>,
    /// The organisations' webhook endpoints as this instance last saw them (PostgreSQL's
    /// one-statement writes check them against the table).
    endpoints: Arc<code_writes::EndpointMemory>,
    trusted_idle: Arc<TrustedIdle>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects (creating a SQLite file when missing) without migrating.
    pub async fn connect(url: &str, key: &MasterKey) -> Result<Store> {
        let acquire = Duration::from_secs(10);
        let trusted_idle = Arc::new(TrustedIdle::default());
        let idle = trusted_idle.clone();
        let pool = if url.starts_with("sqlite:") {
            // One writer at a time in SQLite: a few connections serve reads under WAL.
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .synchronous(SqliteSynchronous::Normal)
                .journal_mode(SqliteJournalMode::Wal);
            let pool = SqlitePoolOptions::new()
                .acquire_timeout(acquire)
                .max_connections(8)
                .test_before_acquire(false)
                .before_acquire(move |conn, meta| idle.check(conn, meta))
                .connect_with(options)
                .await?;
            Db::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .acquire_timeout(acquire)
                .max_connections(16)
                .test_before_acquire(false)
                .before_acquire(move |conn, meta| idle.check(conn, meta))
                .connect(url)
                .await?;
            Db::Postgres(pool)
        } else {
            return Err(StoreError::Url(url.to_owned()));
        };
        Ok(Store {
            pool,
            cipher: Cipher::new(key),
            clock: Arc::default(),
            endpoints: Arc::default(),
            trusted_idle,
        })
    }

    /// How long a pooled connection may sit unused and still be handed out without a check
    /// (1 s by default; zero checks every one, as a test that drops connections needs).
    pub fn set_trusted_idle(&self, idle: Duration) {
        let ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        self.trusted_idle
            .0
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// The same store, stamping rows on `clock`.
    pub fn with_clock(mut self, clock: Arc<lockbridge_core::time::Clock>) -> Store {
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
        let done = match &self.pool {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        };
        match done {
            Err(sqlx::migrate::MigrateError::VersionMissing(v)) => Err(StoreError::NewerSchema(v)),
            other => Ok(other?),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Brings the database to the state it settles in after a bulk load: the planner's
    /// statistics refreshed and, on PostgreSQL, the tables vacuumed and the load's pages
    /// written out (what autovacuum and the next checkpoint would do on their own a little
    /// later, competing with whatever runs then). The checkpoint needs a privileged role; a
    /// role without it skips that step.
    pub async fn analyze(&self) -> Result<()> {
        match &self.pool {
            Db::Sqlite(db) => sqlx::query("ANALYZE").execute(db).await.map(drop)?,
            Db::Postgres(db) => {
                sqlx::query("VACUUM ANALYZE").execute(db).await?;
                if let Err(e) = sqlx::query("CHECKPOINT").execute(db).await {
                    tracing::debug!(error = %e, "no checkpoint after the load");
                }
            }
        }
        Ok(())
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<()> {
        on!(&self.pool, db => sqlx::query("SELECT 1").execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on!(&self.pool, db => db.close().await);
    }

    /// A transaction that reads before it writes nothing another writer could change meanwhile
    /// (SQLite begins it deferred).
    async fn begin(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Db::Sqlite(pool) => Db::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => Db::Postgres(pool.begin().await?),
        })
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
    /// "database is locked" when another writer committed in between, whatever the busy
    /// timeout. PostgreSQL takes row locks (`FOR UPDATE`) where it reads before writing.
    async fn write_tx(&self) -> Result<Tx> {
        Ok(match &self.pool {
            // Begun in a task of its own: a caller dropped while `BEGIN IMMEDIATE` waits for
            // the write lock (a client gone, a pass cancelled) would otherwise leave the
            // connection in a transaction that no `Transaction` ends, holding the lock in the
            // pool. The task's `Transaction`, when nobody takes it, is rolled back on drop.
            Db::Sqlite(pool) => {
                let pool = pool.clone();
                Db::Sqlite(
                    tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await })
                        .await
                        .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))??,
                )
            }
            Db::Postgres(pool) => Db::Postgres(pool.begin().await?),
        })
    }

    /// What a claim's inner `SELECT` ends with so that concurrent claims skip each other's
    /// rows (PostgreSQL); SQLite has one writer at a time and needs nothing.
    fn skip_locked(&self) -> &'static str {
        self.on_postgres(" FOR UPDATE SKIP LOCKED")
    }

    /// `text` on PostgreSQL, nothing on SQLite: a row lock's clause (SQLite's write
    /// transaction excludes every other writer already).
    fn on_postgres(&self, text: &'static str) -> &'static str {
        match self.pool {
            Db::Postgres(_) => text,
            Db::Sqlite(_) => "",
        }
    }

    /// How many rows one multi-row statement carries: PostgreSQL takes many more binds per
    /// statement than SQLite plans quickly.
    fn per_statement(&self, sqlite: usize, postgres: usize) -> usize {
        match self.pool {
            Db::Sqlite(_) => sqlite,
            Db::Postgres(_) => postgres,
        }
    }
}

/// `INSERT INTO table (columns) VALUES ($1, …, $n)`: one parameter per column, bound in the
/// columns' order.
pub(crate) fn insert_into(table: &str, columns: &str) -> String {
    let params: Vec<String> = (1..=columns.split(',').count())
        .map(|i| format!("${i}"))
        .collect();
    format!(
        "INSERT INTO {table} ({columns}) VALUES ({})",
        params.join(", ")
    )
}

/// Pushes `(v1, v2, …)` onto `q`, each value bound: an `IN` list.
pub(crate) fn push_list<'a, DB: sqlx::Database, T>(
    q: &mut sqlx::QueryBuilder<'a, DB>,
    values: impl IntoIterator<Item = T>,
) where
    T: 'a + sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push("(");
    let mut list = q.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    list.push_unseparated(")");
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

/// [`parse`] of a column that may be `NULL`.
pub(crate) fn parse_opt<T: FromStr>(
    table: &'static str,
    id: &str,
    what: &str,
    value: Option<String>,
) -> Result<Option<T>> {
    value.map(|v| parse(table, id, what, &v)).transpose()
}
