//! A fresh database per test, dropped when the test ends (feature `test-util`).
//!
//! SQLite: a file in the temp directory. PostgreSQL: a new database on the server named by
//! `LOCKBRIDGE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`). When that
//! server cannot be reached the PostgreSQL variant is skipped with a message — unless `CI` is
//! set to `true`, where it fails.

use std::path::PathBuf;

use sqlx::{Connection, Executor, PgConnection};

use crate::{MasterKey, Store};

const DEFAULT_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that lives as long as the test.
#[derive(Debug)]
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub key: MasterKey,
    pub backend: Backend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    File(PathBuf),
    Database { admin: String, name: String },
}

fn admin_url() -> String {
    std::env::var("LOCKBRIDGE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN.to_owned())
}

/// Says once per test binary, past the test harness's output capture, that the PostgreSQL
/// variants pass here without running: a green summary must not hide it.
fn skipped_once(admin: &str, err: &str) {
    use std::io::Write;
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: PostgreSQL is not reachable at {admin} ({err}): the `postgres` variants of \
             this binary's tests pass WITHOUT RUNNING. Start PostgreSQL (or set \
             LOCKBRIDGE_TEST_POSTGRES) to run them; under CI=true they fail instead.\n"
        );
    });
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite().await),
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!(
            "lockbridge-test-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let url = format!("sqlite://{}", path.display());
        let key = MasterKey::generate();
        let store = Store::open(&url, &key)
            .await
            .expect("a SQLite test database opens");
        TestDb {
            store,
            url,
            key,
            backend: Backend::Sqlite,
            cleanup: Cleanup::File(path),
        }
    }

    /// `None` (after saying why) when PostgreSQL cannot be reached outside CI.
    pub async fn postgres() -> Option<TestDb> {
        let admin = admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(err) if std::env::var("CI").as_deref() != Ok("true") => {
                skipped_once(&admin, &err.to_string());
                return None;
            }
            Err(err) => panic!("PostgreSQL at {admin} is required under CI=true: {err}"),
        };
        let name = format!("lockbridge_test_{}", uuid::Uuid::new_v4().simple());
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("the test database is created");
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        let key = MasterKey::generate();
        let store = Store::open(&url, &key)
            .await
            .expect("the PostgreSQL test database opens");
        Some(TestDb {
            store,
            url,
            key,
            backend: Backend::Postgres,
            cleanup: Cleanup::Database { admin, name },
        })
    }

    /// Runs `sql` on the database as it stands, for a test that needs a state no API makes:
    /// what a crash leaves behind. Answers how many rows it changed.
    pub async fn execute(&self, sql: &str) -> u64 {
        crate::on!(&self.store.pool, db => sqlx::query(sql).execute(db).await.map(|r| r.rows_affected()))
            .expect("the test's statement runs")
    }

    /// The SQLite file, for tests that read it raw.
    pub fn file(&self) -> Option<&PathBuf> {
        match &self.cleanup {
            Cleanup::File(path) => Some(path),
            Cleanup::Database { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Database { admin, name } => {
                // Drop runs outside any runtime guarantee: a short-lived thread and runtime
                // remove the database, closing whatever connections are left.
                let (admin, name) = (admin.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        if let Ok(mut conn) = PgConnection::connect(&admin).await {
                            let _ = conn
                                .execute(
                                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                                )
                                .await;
                            let _ = conn.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Runs an async test body once on SQLite and once on PostgreSQL:
/// `both_backends!(name, |db: TestDb| async move { … })`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let db = $crate::testing::TestDb::sqlite().await;
                ($body)(db).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    ($body)(db).await;
                }
            }
        }
    };
}
