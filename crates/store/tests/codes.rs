//! Access codes in the store, identical on SQLite and PostgreSQL: idempotency, found codes, bulk
//! inserts, and claims by several instances.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::model::*;
use lockbridge_core::provider::{CodeSpec, ProviderCode};
use lockbridge_core::time::now_ms;
use lockbridge_store::testing::TestDb;
use lockbridge_store::{Store, StoreError, both_backends};

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
