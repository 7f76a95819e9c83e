//! The store's behaviour, identical on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

use lockbridge_core::credentials::Credentials;
use lockbridge_core::ids::{AccessCodeId, ConnectionId, OrgId};
use lockbridge_core::model::*;
use lockbridge_core::provider::{CodeSpec, DeviceGateway, DeviceLock, Devices, ProviderCode};
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::now_ms;
use lockbridge_store::testing::TestDb;
use lockbridge_store::{LockFilter, MasterKey, Store, StoreError, both_backends};

const SECRET: &str = "client-secret-that-must-never-be-stored-plainly";
const MD5: &str = "5f4dcc3b5aa765d61d8327deb882cf99";

fn ttlock_credentials() -> Credentials {
    let mut c = Credentials::new();
    c.set("client_id", "0123456789abcdef0123456789abcdef");
    c.set("client_secret", SECRET);
    c.set("username", "owner@example.com");
    c.set("password_md5", MD5);
    c.set("access_token", "access-token-0000000000000000001");
    c.set("refresh_token", "refresh-token-000000000000000001");
    c
}

fn connection(org: OrgId) -> Connection {
    let now = now_ms();
    Connection {
        id: ConnectionId::new(),
        org_id: org,
        provider: Provider::Ttlock,
        name: "Main account".into(),
        base_url: Some("http://127.0.0.1:1".into()),
        status: ConnectionStatus::Active,
        credentials: ttlock_credentials(),
        token_expires_at: Some(now + 1000),
        credentials_version: 1,
        last_sync_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    }
}

fn device_lock(id: &str, name: &str, gateway: Option<&str>, online: bool) -> DeviceLock {
    DeviceLock {
        provider_id: id.into(),
        name: name.into(),
        online,
        state: LockState::Unknown,
        battery: Some(80),
        gateway: gateway.map(Into::into),
        time_zone: None,
        capabilities: Capabilities {
            remote_unlock: gateway.is_some(),
            access_codes: true,
            ..Default::default()
        },
        code_rules: CodeRules::ttlock(),
    }
}

fn devices() -> Devices {
    Devices {
        gateways: vec![DeviceGateway {
            provider_id: "78001".into(),
            name: "Lobby".into(),
            online: true,
        }],
        locks: vec![
            device_lock("1001", "Front door", Some("78001"), true),
            device_lock("1002", "Back door", Some("78001"), true),
            device_lock("1003", "Garden shed", None, false),
        ],
    }
}

async fn org_with_locks(store: &Store) -> (OrgId, Connection, Vec<Lock>) {
    let org = store.create_org("Acme").await.unwrap().id;
    let conn = connection(org);
    store.insert_connection(&conn).await.unwrap();
    store.apply_sync(&conn, &devices()).await.unwrap();
    let locks = store
        .list_locks(org, &LockFilter::default(), 100, None)
        .await
        .unwrap();
    (org, conn, locks)
}

fn code(lock: &Lock, pin: &str, key: Option<&str>) -> AccessCode {
    let now = now_ms();
    AccessCode {
        id: AccessCodeId::new(),
        lock_id: lock.id,
        org_id: lock.org_id,
        name: Some("Guest".into()),
        code: pin.into(),
        starts_at: Some(now),
        ends_at: Some(now + 3_600_000),
        schedule: None,
        status: CodeStatus::Setting,
        frozen: false,
        managed: true,
        provider_id: None,
        last_error: None,
        attempts: 0,
        confirming: false,
        next_attempt_at: Some(now),
        idempotency_key: key.map(Into::into),
        created_at: now,
        updated_at: now,
    }
}

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
            (Provider::Ttlock, ConnectionStatus::Active, 1)
        );
        assert!(s.get_connection(other, conn.id).await.unwrap().is_none());
        assert_eq!(
            s.first_connection(org, Provider::Ttlock)
                .await
                .unwrap()
                .unwrap()
                .id,
            conn.id
        );
        assert!(
            s.first_connection(org, Provider::Tedee)
                .await
                .unwrap()
                .is_none()
        );

        let mut fresh = ttlock_credentials();
        fresh.set("password_md5", "0123456789abcdef0123456789abcdef");
        assert!(
            s.replace_credentials(conn.id, &fresh, Some(42))
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
            s.connections_expiring(Provider::Ttlock, now_ms() + 1000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.connections_expiring(Provider::Ttlock, now_ms() + 100_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            s.connections_expiring(Provider::Tuya, now_ms() + 100_000, 10)
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
            s.connections_expiring(Provider::Ttlock, i64::MAX, 10)
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
        let counts = s.apply_sync(&conn, &second).await.unwrap();
        assert_eq!((counts.locks, counts.removed), (2, 1));
        let again = s.get_lock(org, front.id).await.unwrap().unwrap();
        assert_eq!(again.name, "Front door (new)", "same id, new name");
        assert_eq!(
            s.list_locks(org, &LockFilter::default(), 10, None)
                .await
                .unwrap()
                .len(),
            2
        );
    }
);

both_backends!(
    lock_lists_filter_and_page_by_cursor,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, conn, locks) = org_with_locks(s).await;
        let page = s
            .list_locks(org, &LockFilter::default(), 2, None)
            .await
            .unwrap();
        let rest = s
            .list_locks(org, &LockFilter::default(), 2, Some(page[1].id))
            .await
            .unwrap();
        assert_eq!(page.len() + rest.len(), 3);
        assert!(page[1].id < rest[0].id);

        let q = |q: &str| LockFilter {
            q: Some(q.into()),
            ..Default::default()
        };
        assert_eq!(
            s.list_locks(org, &q("DOOR"), 10, None).await.unwrap().len(),
            2
        );
        assert_eq!(
            s.list_locks(org, &q("%"), 10, None).await.unwrap().len(),
            0,
            "wildcards are literal"
        );
        let offline = LockFilter {
            online: Some(false),
            ..Default::default()
        };
        assert_eq!(
            s.list_locks(org, &offline, 10, None).await.unwrap()[0].name,
            "Garden shed"
        );
        let by_conn = LockFilter {
            connection_id: Some(conn.id),
            provider: Some(Provider::Ttlock),
            ..Default::default()
        };
        assert_eq!(
            s.list_locks(org, &by_conn, 10, None).await.unwrap().len(),
            3
        );
        let tedee = LockFilter {
            provider: Some(Provider::Tedee),
            ..Default::default()
        };
        assert!(
            s.list_locks(org, &tedee, 10, None)
                .await
                .unwrap()
                .is_empty()
        );

        let other = s.create_org("Other").await.unwrap().id;
        assert!(s.get_lock(other, locks[0].id).await.unwrap().is_none());
        assert!(
            s.list_locks(other, &LockFilter::default(), 10, None)
                .await
                .unwrap()
                .is_empty()
        );
        s.set_lock_state(locks[0].id, LockState::Unlocked)
            .await
            .unwrap();
        assert_eq!(
            s.lock_by_id(locks[0].id).await.unwrap().unwrap().state,
            LockState::Unlocked
        );
    }
);

both_backends!(
    access_codes_round_trip_with_idempotency,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, _, locks) = org_with_locks(s).await;
        let lock = &locks[0];
        let first = code(lock, "048213", Some("booking-17"));
        s.insert_access_code(&first).await.unwrap();
        let dup = code(lock, "999999", Some("booking-17"));
        assert!(matches!(
            s.insert_access_code(&dup).await,
            Err(StoreError::Conflict("idempotency_key"))
        ));
        assert_eq!(
            s.access_code_by_key(org, "booking-17")
                .await
                .unwrap()
                .unwrap()
                .id,
            first.id
        );
        s.insert_access_code(&code(lock, "111111", None))
            .await
            .unwrap();
        s.insert_access_code(&code(lock, "222222", None))
            .await
            .unwrap();

        let mut got = s.get_access_code(org, first.id).await.unwrap().unwrap();
        assert_eq!(
            (got.code.as_str(), got.status),
            ("048213", CodeStatus::Setting)
        );
        got.status = CodeStatus::Set;
        got.provider_id = Some("80700001".into());
        got.next_attempt_at = None;
        s.update_access_code(&mut got).await.unwrap();
        let now = now_ms() + 1;
        let due = s
            .claim_due_access_codes(now, 10, now + 30_000)
            .await
            .unwrap();
        assert_eq!(due.len(), 2, "the set one is no longer due");
        assert!(
            due.iter().all(|c| c.next_attempt_at == Some(now + 30_000)),
            "leased"
        );
        assert!(
            s.claim_due_access_codes(now, 10, now + 30_000)
                .await
                .unwrap()
                .is_empty(),
            "held by the lease"
        );

        let listed = s
            .list_access_codes(lock.org_id, lock.id, 10, None)
            .await
            .unwrap();
        assert_eq!(listed.len(), 3);
        got.status = CodeStatus::Removed;
        s.update_access_code(&mut got).await.unwrap();
        assert_eq!(
            s.list_access_codes(lock.org_id, lock.id, 10, None)
                .await
                .unwrap()
                .len(),
            2
        );

        let found = [
            ProviderCode {
                provider_id: "80700001".into(),
                spec: CodeSpec {
                    code: "048213".into(),
                    name: None,
                    starts_at: None,
                    ends_at: None,
                    schedule: None,
                },
            },
            ProviderCode {
                provider_id: "555".into(),
                spec: CodeSpec {
                    code: "4711".into(),
                    name: Some("Cleaner".into()),
                    starts_at: None,
                    ends_at: None,
                    schedule: None,
                },
            },
        ];
        assert_eq!(s.record_found_codes(lock, &found).await.unwrap(), 1);
        assert_eq!(
            s.record_found_codes(lock, &found).await.unwrap(),
            0,
            "recorded once"
        );
        let unmanaged: Vec<AccessCode> = s
            .list_access_codes(lock.org_id, lock.id, 10, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| !c.managed)
            .collect();
        assert_eq!(
            (
                unmanaged.len(),
                unmanaged[0].code.as_str(),
                unmanaged[0].status
            ),
            (1, "4711", CodeStatus::Set)
        );

        let other = s.create_org("Other").await.unwrap().id;
        assert!(s.get_access_code(other, first.id).await.unwrap().is_none());
        assert!(
            s.list_access_codes(other, lock.id, 10, None)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

both_backends!(
    bulk_inserts_are_all_or_none_and_found_codes_recorded_once,
    |db: TestDb| async move {
        let s = &db.store;
        let (_, _, locks) = org_with_locks(s).await;
        let lock = &locks[1];
        // More rows than one statement takes: several statements, one transaction.
        let batch: Vec<AccessCode> = (0..1_203)
            .map(|i| code(lock, &format!("{:06}", 100_000 + i), None))
            .collect();
        s.insert_access_codes(&batch).await.unwrap();
        let stored = |s: Store| async move {
            s.list_access_codes(lock.org_id, lock.id, 5_000, None)
                .await
                .unwrap()
                .len()
        };
        assert_eq!(stored(s.clone()).await, 1_203);
        let back = s
            .get_access_code(lock.org_id, batch[777].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (back.code.as_str(), back.name.as_deref()),
            ("100777", Some("Guest"))
        );
        // A repeated idempotency key in a later statement: nothing of the batch is kept, not
        // even the first statement's rows.
        let mut bad: Vec<AccessCode> = (0..700)
            .map(|i| code(lock, &format!("{:06}", 200_000 + i), Some(&format!("k{i}"))))
            .collect();
        bad.push(code(lock, "299999", Some("k0")));
        assert!(matches!(
            s.insert_access_codes(&bad).await,
            Err(StoreError::Conflict("idempotency_key"))
        ));
        assert_eq!(stored(s.clone()).await, 1_203);

        // Eight syncs of the same lock find the same 20 codes at once: each recorded once.
        let found: Vec<ProviderCode> = (0..20)
            .map(|i| ProviderCode {
                provider_id: format!("9{i:03}"),
                spec: CodeSpec {
                    code: format!("{:04}", 4000 + i),
                    name: None,
                    starts_at: None,
                    ends_at: None,
                    schedule: None,
                },
            })
            .collect();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (s, lock, found) = (s.clone(), lock.clone(), found.clone());
                tokio::spawn(async move { s.record_found_codes(&lock, &found).await })
            })
            .collect();
        let mut added = 0;
        for t in tasks {
            added += t.await.unwrap().unwrap();
        }
        assert_eq!(added, 20);
        let unmanaged = s
            .list_access_codes(lock.org_id, lock.id, 5_000, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| !c.managed)
            .count();
        assert_eq!(unmanaged, 20);
        assert_eq!(stored(s.clone()).await, 1_223);
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
        s.insert_access_code(&code(&locks[0], "123456", None))
            .await
            .unwrap();
        assert_eq!(
            s.locks_version(org).await.unwrap(),
            v,
            "codes are not locks"
        );
        s.set_lock_state(locks[0].id, LockState::Unlocked)
            .await
            .unwrap();
        assert_eq!(s.locks_version(org).await.unwrap(), v + 1);
        s.apply_sync(&conn, &devices()).await.unwrap();
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
        s.insert_access_code(&c).await.unwrap();
        assert!(s.delete_connection(org, conn.id).await.unwrap());
        assert!(s.get_lock(org, locks[0].id).await.unwrap().is_none());
        assert!(s.get_access_code(org, c.id).await.unwrap().is_none());
        assert!(s.list_gateways(org, 10, None).await.unwrap().is_empty());
    }
);

both_backends!(
    secrets_are_sealed_and_need_the_master_key,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, conn, locks) = org_with_locks(s).await;
        s.insert_access_code(&code(&locks[0], "90817263", None))
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
    concurrent_claims_never_share_a_code,
    |db: TestDb| async move {
        let s = db.store.clone();
        let (_, _, locks) = org_with_locks(&s).await;
        for i in 0..40 {
            s.insert_access_code(&code(&locks[0], &format!("{:06}", 100_000 + i), None))
                .await
                .unwrap();
        }
        // Four instances' workers claim at the same moment.
        let now = now_ms() + 1;
        let claims: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.claim_due_access_codes(now, 15, now + 30_000).await })
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for c in claims {
            for code in c.await.unwrap().unwrap() {
                assert!(seen.insert(code.id), "claimed twice: {}", code.id);
            }
        }
        assert_eq!(seen.len(), 40, "every due code claimed once");
    }
);
