//! Vendor budgets in the store, identical on SQLite and PostgreSQL: a window never gives more
//! than its limit, a pause refuses every take, concurrent takers never
//! spend one request twice, and a device's turn is held by one holder until released or
//! expired.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lockbridge_core::budgets::Rate;
use lockbridge_store::both_backends;
use lockbridge_store::testing::TestDb;

both_backends!(
    a_window_gives_its_limit_and_no_more,
    |db: TestDb| async move {
        let s = &db.store;
        let rate: Rate = "100/h".parse().unwrap(); // counted in one-minute slots
        let t0 = 60_000 * 1_000 + 30_000; // half-way through a slot
        for _ in 0..100 {
            assert_eq!(s.take_budget("tedee:a", rate, t0).await.unwrap(), None);
        }
        // Full until that slot has left the 61 counted: 60.5 minutes.
        let wait = s.take_budget("tedee:a", rate, t0).await.unwrap().unwrap();
        assert_eq!(wait, Duration::from_millis(61 * 60_000 - 30_000));
        // Another budget is untouched.
        assert_eq!(s.take_budget("tedee:b", rate, t0).await.unwrap(), None);
        let later = t0 + wait.as_millis() as i64;
        assert!(
            s.take_budget("tedee:a", rate, later - 1)
                .await
                .unwrap()
                .is_some()
        );
        for _ in 0..100 {
            assert_eq!(s.take_budget("tedee:a", rate, later).await.unwrap(), None);
        }
        assert!(
            s.take_budget("tedee:a", rate, later)
                .await
                .unwrap()
                .is_some()
        );
        // A clock a little behind (another instance's) counts in the newest slot, and is refused.
        assert!(
            s.take_budget("tedee:a", rate, later - 120_000)
                .await
                .unwrap()
                .is_some()
        );
    }
);

both_backends!(
    a_pause_refuses_every_take_until_it_ends,
    |db: TestDb| async move {
        let s = &db.store;
        let rate: Rate = "700/h".parse().unwrap();
        let t0 = 5_000_000;
        s.pause_budget("tedee:a", t0 + 60_000).await.unwrap();
        s.pause_budget("tedee:a", t0 + 30_000).await.unwrap(); // never shortened
        assert_eq!(
            s.take_budget("tedee:a", rate, t0 + 10_000).await.unwrap(),
            Some(Duration::from_secs(50))
        );
        assert_eq!(
            s.take_budget("tedee:a", rate, t0 + 60_000).await.unwrap(),
            None
        );
    }
);

both_backends!(
    concurrent_takers_spend_each_request_once,
    |db: TestDb| async move {
        let s = &db.store;
        let rate: Rate = "10/h".parse().unwrap();
        let now = 9_000_000;
        let takers = (0..40).map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.take_budget("shared", rate, now).await.unwrap() })
        });
        let mut taken = 0;
        for t in takers {
            if t.await.unwrap().is_none() {
                taken += 1;
            }
        }
        assert_eq!(taken, 10);
    }
);

both_backends!(
    a_turn_is_held_by_one_until_released_or_expired,
    |db: TestDb| async move {
        let s = &db.store;
        let now = 1_000;
        assert!(s.try_turn("gw:1", "a", now + 30_000, now).await.unwrap());
        assert!(
            !s.try_turn("gw:1", "b", now + 30_000, now + 1)
                .await
                .unwrap()
        );
        assert!(
            s.try_turn("gw:2", "b", now + 30_000, now).await.unwrap(),
            "another gateway"
        );
        s.end_turn("gw:1", "b").await.unwrap(); // not b's: nothing happens
        assert!(
            !s.try_turn("gw:1", "b", now + 30_000, now + 2)
                .await
                .unwrap()
        );
        s.end_turn("gw:1", "a").await.unwrap();
        assert!(
            s.try_turn("gw:1", "b", now + 30_000, now + 3)
                .await
                .unwrap()
        );
        // b dies holding it: the turn is free once the lease has run out.
        assert!(
            !s.try_turn("gw:1", "c", now + 60_000, now + 29_999)
                .await
                .unwrap()
        );
        assert!(
            s.try_turn("gw:1", "c", now + 60_000, now + 30_003)
                .await
                .unwrap()
        );
    }
);
