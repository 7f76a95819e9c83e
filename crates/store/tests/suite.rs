//! The store's behaviour, identical on SQLite and PostgreSQL: organisations, keys, connections,
//! locks and secrets. Access codes are in `codes.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::ids::LockId;
use lockbridge_core::model::*;
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::now_ms;
use lockbridge_store::testing::{Backend, TestDb};
use lockbridge_store::{Commit, LockFilter, MasterKey, Store, StoreError, both_backends};
use sqlx::Connection;

both_backends!(api_keys_are_found_by_secret_only, |db: TestDb| async move {
    let s = &db.store;
    let org = s.create_org("Acme").await.unwrap();
    assert_eq!(s.get_org(org.id).await.unwrap().unwrap().name, "Acme");
    let (key, secret) = s.create_api_key(org.id, "ops", Role::Admin).await.unwrap();
    assert!(secret.starts_with("lb_") && secret.len() == 67);
    assert!(secret.starts_with(&key.prefix));
    let found = s.api_key_by_secret(&secret).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.org_id, found.role),
        (key.id, org.id, Role::Admin)
    );
    assert!(s.api_key_by_secret("lb_wrong").await.unwrap().is_none());

    let other = s.create_org("Other").await.unwrap();
    assert!(
        !s.delete_api_key(other.id, key.id).await.unwrap(),
        "another organisation's key"
    );
    let (member, _) = s
        .create_api_key(org.id, "desk", Role::Member)
        .await
        .unwrap();
    let listed = s.list_api_keys(org.id, 10, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|k| k.id).collect::<Vec<_>>(),
        [key.id, member.id]
    );
    assert_eq!(
        s.list_api_keys(org.id, 10, Some(key.id))
            .await
            .unwrap()
            .len(),
        1
    );
    // The organisation's only admin key stays.
    assert!(matches!(
        s.delete_api_key(org.id, key.id).await,
        Err(StoreError::Conflict("last_admin_key"))
    ));
    assert!(s.api_key_by_secret(&secret).await.unwrap().is_some());
    s.create_api_key(org.id, "second", Role::Admin)
        .await
        .unwrap();
    assert!(s.delete_api_key(org.id, key.id).await.unwrap());
    assert!(s.api_key_by_secret(&secret).await.unwrap().is_none());
});

both_backends!(
    connections_round_trip_and_stay_in_their_organisation,
    |db: TestDb| async move {
        let s = &db.store;
        let org = s.create_org("Acme").await.unwrap().id;
        let other = s.create_org("Other").await.unwrap().id;
        let conn = connection(org);
        s.insert_connection(&conn).await.unwrap();
        let back = s.get_connection(org, conn.id).await.unwrap().unwrap();
        assert_eq!(back.credentials.get("client_secret"), Some(SECRET));
        assert_eq!(
            (back.provider, back.status, back.credentials_version),
            (TTLOCK, ConnectionStatus::Active, 1)
        );
        assert!(s.get_connection(other, conn.id).await.unwrap().is_none());
        let ttlock = s.connections_of(org, TTLOCK, 5).await.unwrap();
        assert_eq!(ttlock.iter().map(|c| c.id).collect::<Vec<_>>(), [conn.id]);
        assert!(s.connections_of(org, TEDEE, 5).await.unwrap().is_empty());

        let mut fresh = ttlock_credentials();
        fresh.set("password_md5", "0123456789abcdef0123456789abcdef");
        assert!(
            s.replace_credentials(conn.id, &fresh, Some(42), &Default::default())
                .await
                .unwrap()
        );
        let back = s.connection_by_id(conn.id).await.unwrap().unwrap();
        assert_eq!(
            (back.credentials_version, back.token_expires_at),
            (2, Some(42))
        );

        let mut tokens = Credentials::new();
        tokens.set("access_token", "renewed");
        s.store_tokens(conn.id, &tokens, Some(now_ms() + 99_000))
            .await
            .unwrap();
        let back = s.connection_by_id(conn.id).await.unwrap().unwrap();
        assert_eq!(back.credentials.get("access_token"), Some("renewed"));
        assert_eq!(
            back.credentials.get("client_secret"),
            Some(SECRET),
            "other fields kept"
        );
        assert_eq!(back.credentials_version, 2);
        assert!(
            s.connections_expiring(TTLOCK, now_ms() + 1000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.connections_expiring(TTLOCK, now_ms() + 100_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            s.connections_expiring(TUYA, now_ms() + 100_000, 10)
                .await
                .unwrap()
                .is_empty(),
            "only the provider asked for"
        );

        s.set_connection_status(
            conn.id,
            ConnectionStatus::NeedsReauth,
            Some("invalid grant"),
        )
        .await
        .unwrap();
        let back = s.connection_by_id(conn.id).await.unwrap().unwrap();
        assert_eq!(
            (back.status, back.last_error.as_deref()),
            (ConnectionStatus::NeedsReauth, Some("invalid grant"))
        );
        assert!(
            s.connections_expiring(TTLOCK, i64::MAX, 10)
                .await
                .unwrap()
                .is_empty(),
            "only active ones"
        );

        assert!(!s.delete_connection(other, conn.id).await.unwrap());
        assert!(s.delete_connection(org, conn.id).await.unwrap());
        assert!(s.connection_by_id(conn.id).await.unwrap().is_none());
    }
);

both_backends!(
    sync_upserts_keeps_ids_and_removes_what_vanished,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, conn, locks) = org_with_locks(s).await;
        assert_eq!(locks.len(), 3);
        let front = locks.iter().find(|l| l.provider_id == "1001").unwrap();
        let gw = s.list_gateways(org, 10, None).await.unwrap();
        assert_eq!(gw.len(), 1);
        assert_eq!(front.gateway_id, Some(gw[0].id));
        assert_eq!(front.code_rules, CodeRules::ttlock());
        assert!(
            s.connection_by_id(conn.id)
                .await
                .unwrap()
                .unwrap()
                .last_sync_at
                .is_some()
        );

        let mut second = devices();
        second.locks.retain(|l| l.provider_id != "1003");
        second.locks[0].name = "Front door (new)".into();
        let counts = s
            .apply_sync(&conn, &second, &NoRules, now_ms())
            .await
            .unwrap();
        assert_eq!((counts.locks, counts.removed), (2, 1));
        let again = s.get_lock(org, front.id).await.unwrap().unwrap();
        assert_eq!(again.name, "Front door (new)", "same id, new name");
        assert_eq!(s.list_locks(org, 10, None).await.unwrap().len(), 2);
    }
);

both_backends!(
    lock_lists_filter_and_page_by_cursor,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, conn, locks) = org_with_locks(s).await;
        let page = s.list_locks(org, 2, None).await.unwrap();
        let rest = s.list_locks(org, 2, Some(page[1].id)).await.unwrap();
        assert_eq!(page.len() + rest.len(), 3);
        assert!(page[1].id < rest[0].id);

        let all = s.list_locks(org, 10, None).await.unwrap();
        let count = |f: &LockFilter| all.iter().filter(|l| f.matches(l)).count();
        let q = |q: &str| LockFilter {
            q: Some(q.into()),
            ..Default::default()
        };
        assert_eq!(count(&q("DOOR")), 2);
        assert_eq!(count(&q("%")), 0, "wildcards are literal");
        let offline = LockFilter {
            online: Some(false),
            ..Default::default()
        };
        let found: Vec<&str> = all
            .iter()
            .filter(|l| offline.matches(l))
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(found, ["Garden shed"]);
        let by_conn = LockFilter {
            connection_id: Some(conn.id),
            provider: Some(TTLOCK),
            ..Default::default()
        };
        assert_eq!(count(&by_conn), 3);
        let tedee = LockFilter {
            provider: Some(TEDEE),
            ..Default::default()
        };
        assert_eq!(count(&tedee), 0);

        let other = s.create_org("Other").await.unwrap().id;
        assert!(s.get_lock(other, locks[0].id).await.unwrap().is_none());
        assert!(s.list_locks(other, 10, None).await.unwrap().is_empty());
        s.set_lock_state(locks[0].id, LockState::Unlocked, None, Commit::Flushed)
            .await
            .unwrap();
        assert_eq!(
            s.lock_by_id(locks[0].id).await.unwrap().unwrap().state,
            LockState::Unlocked
        );
    }
);

both_backends!(
    locks_version_moves_with_every_change_to_the_locks,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, conn, locks) = org_with_locks(s).await;
        let other = s.create_org("Other").await.unwrap().id;
        let v = s.locks_version(org).await.unwrap();
        assert!(v >= 1, "the sync moved it");
        s.insert_access_code(&code(&locks[0], "123456", None), None)
            .await
            .unwrap();
        assert_eq!(
            s.locks_version(org).await.unwrap(),
            v,
            "codes are not locks"
        );
        s.set_lock_state(locks[0].id, LockState::Unlocked, None, Commit::Flushed)
            .await
            .unwrap();
        assert_eq!(s.locks_version(org).await.unwrap(), v + 1);
        s.apply_sync(&conn, &devices(), &NoRules, now_ms())
            .await
            .unwrap();
        assert_eq!(s.locks_version(org).await.unwrap(), v + 2);
        assert!(s.delete_connection(org, conn.id).await.unwrap());
        assert_eq!(s.locks_version(org).await.unwrap(), v + 3);
        assert_eq!(
            s.locks_version(other).await.unwrap(),
            0,
            "only that organisation's"
        );
    }
);

both_backends!(
    deleting_a_connection_takes_its_locks_and_codes,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, conn, locks) = org_with_locks(s).await;
        let c = code(&locks[0], "123456", None);
        s.insert_access_code(&c, None).await.unwrap();
        assert!(s.delete_connection(org, conn.id).await.unwrap());
        assert!(s.get_lock(org, locks[0].id).await.unwrap().is_none());
        assert!(s.get_access_code(org, c.id).await.unwrap().is_none());
        assert!(s.list_gateways(org, 10, None).await.unwrap().is_empty());
    }
);

both_backends!(
    a_lock_is_read_with_its_connection_and_only_in_its_organisation,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, conn, locks) = org_with_locks(s).await;
        let other = s.create_org("Other").await.unwrap().id;
        let (lock, back) = s
            .lock_with_connection(org, locks[0].id)
            .await
            .unwrap()
            .unwrap();
        let alone = s.get_lock(org, locks[0].id).await.unwrap().unwrap();
        assert_eq!(
            (lock.id, &lock.name, lock.gateway_id, lock.updated_at),
            (alone.id, &alone.name, alone.gateway_id, alone.updated_at)
        );
        let stored = s.get_connection(org, conn.id).await.unwrap().unwrap();
        let seen = |c: &lockbridge_core::model::Connection| {
            (
                c.id,
                c.org_id,
                c.provider,
                c.name.clone(),
                c.status,
                c.credentials_version,
                c.created_at,
                c.updated_at,
                c.on_external_change,
            )
        };
        assert_eq!(seen(&back), seen(&stored));
        assert_eq!(back.credentials.get("client_secret"), Some(SECRET));
        assert!(
            s.lock_with_connection(other, locks[0].id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.lock_with_connection(org, LockId::new())
                .await
                .unwrap()
                .is_none()
        );
    }
);

/// The pool hands out a connection it has used within the trusted idle time without a round
/// trip to check it; one idle longer is checked, and replaced when the database dropped it.
/// PostgreSQL only: SQLite has no server to drop a connection.
#[tokio::test]
async fn a_connection_the_database_dropped_is_replaced_once_idle() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let s = &db.store;
    let org = s.create_org("Acme").await.unwrap().id;
    // Connections in the pool, then every one of them ended by the server.
    let reads = tokio::join!(
        s.locks_version(org),
        s.locks_version(org),
        s.locks_version(org)
    );
    assert_eq!(
        (reads.0.unwrap(), reads.1.unwrap(), reads.2.unwrap()),
        (0, 0, 0)
    );
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(ended >= 1, "the store's connections are ended");
    // Every idle connection is checked now: the dead ones are dropped, fresh ones made.
    s.set_trusted_idle(std::time::Duration::ZERO);
    for _ in 0..5 {
        assert_eq!(s.locks_version(org).await.unwrap(), 0);
    }
}

both_backends!(
    secrets_are_sealed_and_need_the_master_key,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, conn, locks) = org_with_locks(s).await;
        s.insert_access_code(&code(&locks[0], "90817263", None), None)
            .await
            .unwrap();
        // Migrating again is a no-op.
        s.migrate().await.unwrap();

        if let Some(path) = db.file() {
            s.close().await;
            let mut bytes = std::fs::read(path).unwrap();
            if let Ok(wal) = std::fs::read(format!("{}-wal", path.display())) {
                bytes.extend(wal);
            }
            let hay = String::from_utf8_lossy(&bytes);
            for secret in [SECRET, MD5, "access-token-0000000000000000001", "90817263"] {
                assert!(!hay.contains(secret), "{secret} found in the database file");
            }
        }
        let wrong = Store::connect(&db.url, &MasterKey::generate())
            .await
            .unwrap();
        assert!(matches!(
            wrong.get_connection(org, conn.id).await,
            Err(StoreError::Decrypt)
        ));
        let right = Store::connect(&db.url, &db.key).await.unwrap();
        assert!(right.get_connection(org, conn.id).await.unwrap().is_some());
    }
);

both_backends!(
    concurrent_token_writes_to_one_connection_all_land,
    |db: TestDb| async move {
        let s = db.store.clone();
        let org = s.create_org("Acme").await.unwrap().id;
        let conn = connection(org);
        s.insert_connection(&conn).await.unwrap();
        // A renewal persisted by the vendor client and by the token worker at the same moment.
        let writers: Vec<_> = (0..24)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut tokens = Credentials::new();
                    tokens.set("access_token", format!("token-{i}"));
                    s.store_tokens(conn.id, &tokens, Some(i)).await
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        let back = s.connection_by_id(conn.id).await.unwrap().unwrap();
        assert!(
            back.credentials
                .get("access_token")
                .unwrap()
                .starts_with("token-")
        );
        assert_eq!(back.credentials.get("client_secret"), Some(SECRET));
    }
);

both_backends!(
    an_older_lockbridge_refuses_a_database_a_newer_one_migrated,
    |db: TestDb| async move {
        use sqlx::Connection;
        // A migration this build does not have, as a newer version would have recorded it.
        let newer = "INSERT INTO _sqlx_migrations \
                     (version, description, success, checksum, execution_time) \
                     VALUES (99999, 'from a newer lockbridge', TRUE, ";
        match db.backend {
            lockbridge_store::testing::Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query(&format!("{newer} X'00', 0)"))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            lockbridge_store::testing::Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query(&format!("{newer} '\\x00'::bytea, 0)"))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        }
        match Store::open(&db.url, &db.key).await {
            Err(e @ StoreError::NewerSchema(99999)) => {
                assert!(e.to_string().contains("newer lockbridge"), "{e}")
            }
            other => panic!("opened anyway: {:?}", other.map(|_| ())),
        }
    }
);
