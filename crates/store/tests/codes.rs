//! Access codes in the store, identical on SQLite and PostgreSQL: idempotency, found codes, bulk
//! inserts, and claims by several instances.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::model::*;
use lockbridge_core::provider::{CodeSpec, ProviderCode};
use lockbridge_core::time::now_ms;
use lockbridge_store::testing::TestDb;
use lockbridge_store::{EventFilter, Guard, InsertError, Store, StoreError, both_backends};

fn found(pid: &str, pin: &str, name: Option<&str>) -> ProviderCode {
    ProviderCode {
        provider_id: pid.into(),
        spec: CodeSpec {
            code: pin.into(),
            name: name.map(Into::into),
            starts_at: None,
            ends_at: None,
            schedule: None,
        },
    }
}

both_backends!(
    access_codes_round_trip_with_idempotency_and_one_live_code_per_pin,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, _, locks) = org_with_locks(s).await;
        let lock = &locks[0];
        let first = code(lock, "048213", Some("booking-17"));
        s.insert_access_code(&first, None).await.unwrap();
        let dup = code(lock, "999999", Some("booking-17"));
        assert!(matches!(
            s.insert_access_code(&dup, None).await,
            Err(InsertError::Store(StoreError::Conflict("idempotency_key")))
        ));
        assert_eq!(
            s.access_code_by_key(org, "booking-17")
                .await
                .unwrap()
                .unwrap()
                .id,
            first.id
        );
        // The same PIN on the same lock, live twice: refused by the store itself.
        assert!(matches!(
            s.insert_access_code(&code(lock, "048213", None), None)
                .await,
            Err(InsertError::Store(StoreError::Conflict("code")))
        ));
        // On another lock it is another code.
        s.insert_access_code(&code(&locks[1], "048213", None), None)
            .await
            .unwrap();
        s.insert_access_code(&code(lock, "111111", None), None)
            .await
            .unwrap();

        let mut got = s.get_access_code(org, first.id).await.unwrap().unwrap();
        assert_eq!(
            (got.code.as_str(), got.status, got.version),
            ("048213", CodeStatus::Setting, 0)
        );
        got.status = CodeStatus::Set;
        got.provider_id = Some("80700001".into());
        got.next_attempt_at = None;
        assert!(
            s.update_code_if(&mut got, 0, Guard::Version, now_ms(), &[])
                .await
                .unwrap()
        );
        assert_eq!(got.version, 1);
        // A writer that read version 0 comes second and writes nothing.
        let mut stale = got.clone();
        stale.status = CodeStatus::Failed;
        assert!(
            !s.update_code_if(&mut stale, 0, Guard::Version, now_ms(), &[])
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_access_code(org, first.id)
                .await
                .unwrap()
                .unwrap()
                .status,
            CodeStatus::Set
        );

        // Removed, the PIN is free again.
        got.status = CodeStatus::Removed;
        assert!(
            s.update_code_if(&mut got, 1, Guard::Version, now_ms(), &[])
                .await
                .unwrap()
        );
        s.insert_access_code(&code(lock, "048213", None), None)
            .await
            .unwrap();
        let listed = s
            .list_access_codes(lock.org_id, lock.id, 10, None)
            .await
            .unwrap();
        assert_eq!(listed.len(), 2, "the removed one is not listed");

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
    leases_guard_the_engine_and_events_go_with_the_write,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, _, locks) = org_with_locks(s).await;
        let lock = &locks[0];
        let c = code(lock, "480213", None);
        s.insert_access_code(&c, None).await.unwrap();
        let now = now_ms() + 1;
        let mut held = s
            .claim_access_code(c.id, now, now + 30_000, "worker-a")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((held.attempts, held.version), (1, 1));
        assert!(
            s.claim_access_code(c.id, now, now + 30_000, "worker-b")
                .await
                .unwrap()
                .is_none(),
            "held by worker-a"
        );
        assert!(
            s.claim_due_access_codes(now, 10, now + 30_000, "worker-b")
                .await
                .unwrap()
                .is_empty(),
            "nor claimed as due"
        );
        // The lease runs out: worker-b takes over, and worker-a's late write is refused.
        let later = now + 30_001;
        let taken = s
            .claim_due_access_codes(later, 10, later + 30_000, "worker-b")
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].attempts, 2);
        assert!(!s.extend_lease(c.id, "worker-a", later).await.unwrap());
        assert!(
            s.extend_lease(c.id, "worker-b", later + 60_000)
                .await
                .unwrap()
        );
        held.status = CodeStatus::Failed;
        let version = held.version;
        assert!(
            !s.update_code_if(&mut held, version, Guard::Lease("worker-a"), later, &[])
                .await
                .unwrap()
        );
        // A fact learned late is still kept when the row has none.
        assert!(s.record_provider_id(c.id, "777").await.unwrap());
        assert!(!s.record_provider_id(c.id, "778").await.unwrap());

        let mut b = s.access_code_by_id(c.id).await.unwrap().unwrap();
        assert_eq!(b.provider_id.as_deref(), Some("777"));
        b.status = CodeStatus::Set;
        let event = Event::new(org, EventType::CodeSet, later).code(c.id, lock.id);
        let version = b.version;
        assert!(
            s.update_code_if(&mut b, version, Guard::Lease("worker-b"), later, &[event])
                .await
                .unwrap()
        );
        assert_eq!(
            (b.lease_owner.as_deref(), b.lease_until),
            (None, None),
            "released"
        );
        let events = s
            .list_events(
                org,
                &EventFilter {
                    access_code_id: Some(c.id),
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventType::CodeSet);
        // A refused write leaves no event behind.
        let mut stale = b.clone();
        let event = Event::new(org, EventType::CodeFailed, later).code(c.id, lock.id);
        assert!(
            !s.update_code_if(&mut stale, 0, Guard::Version, later, &[event])
                .await
                .unwrap()
        );
        assert_eq!(
            s.list_events(org, &EventFilter::default(), 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }
);

both_backends!(
    capacity_and_the_same_pin_hold_under_concurrent_creates,
    |db: TestDb| async move {
        let s = db.store.clone();
        let (_, _, locks) = org_with_locks(&s).await;
        let lock = locks[0].clone();
        // Sixteen requests issue the same PIN on one lock at once: exactly one code.
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (s, c) = (s.clone(), code(&lock, "735190", None));
                tokio::spawn(async move { s.insert_access_code(&c, Some(250)).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(InsertError::Store(StoreError::Conflict("code"))) => {}
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        assert_eq!(ok, 1);
        // Twelve different PINs at once on a lock with room for five more.
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (s, c) = (s.clone(), code(&lock, &format!("{:06}", 600_000 + i), None));
                tokio::spawn(async move { s.insert_access_code(&c, Some(6)).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(InsertError::Capacity(6)) => {}
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        assert_eq!(ok, 5, "never more than the lock holds");
        let mut live = s.live_codes(lock.id).await.unwrap();
        assert_eq!(live.len(), 6);
        // A removed code gives its place back.
        let version = live[0].version;
        live[0].status = CodeStatus::Removed;
        assert!(
            s.update_code_if(&mut live[0], version, Guard::Version, now_ms(), &[])
                .await
                .unwrap()
        );
        s.insert_access_code(&code(&lock, "699999", None), Some(6))
            .await
            .unwrap();
    }
);

both_backends!(
    codes_past_their_end_are_marked_for_removal,
    |db: TestDb| async move {
        let s = &db.store;
        let (_, _, locks) = org_with_locks(s).await;
        let now = now_ms();
        let mut ended = code(&locks[0], "480001", None);
        ended.status = CodeStatus::Set;
        ended.ends_at = Some(now - 1);
        ended.starts_at = Some(now - 10_000);
        let running = code(&locks[0], "480002", None);
        let mut leased = code(&locks[0], "480003", None);
        leased.ends_at = Some(now - 1);
        leased.starts_at = Some(now - 10_000);
        leased.lease_owner = Some("w".into());
        leased.lease_until = Some(now + 60_000);
        for c in [&ended, &running, &leased] {
            s.insert_access_code(c, None).await.unwrap();
        }
        assert_eq!(
            s.expire_codes(now).await.unwrap(),
            1,
            "not the leased one yet"
        );
        let got = s.access_code_by_id(ended.id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.removed_reason),
            (CodeStatus::Removing, Some(RemovedReason::Expired))
        );
        assert_eq!(s.expire_codes(now + 60_001).await.unwrap(), 1);
        assert_eq!(s.expire_codes(now + 60_001).await.unwrap(), 0);
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

        // A found code is recorded once, with its event; one whose PIN a live code holds is
        // that code on its way, not a stranger.
        let other = &locks[0];
        s.insert_access_code(&code(other, "048213", None), None)
            .await
            .unwrap();
        let twice = [
            found("80700001", "048213", None),
            found("555", "4711", Some("Cleaner")),
        ];
        assert_eq!(
            s.record_found_codes(other, &twice, now_ms())
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            s.record_found_codes(other, &twice, now_ms())
                .await
                .unwrap()
                .is_empty()
        );
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
                tokio::spawn(async move { s.record_found_codes(&lock, &found, now_ms()).await })
            })
            .collect();
        let mut added = 0;
        for t in tasks {
            added += t.await.unwrap().unwrap().len();
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
            s.insert_access_code(&code(&locks[0], &format!("{:06}", 100_000 + i), None), None)
                .await
                .unwrap();
        }
        // Four instances' workers claim at the same moment.
        let now = now_ms() + 1;
        let claims: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(
                    async move { s.claim_due_access_codes(now, 15, now + 30_000, "w").await },
                )
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
