//! Vendor budgets through the real adapters and simulators: an account's request budget is
//! spent before the vendor refuses (no 429 reaches the simulator), and a TTLock gateway gets one
//! command at a time. On PostgreSQL, instances share both: what one spent another cannot, and
//! two instances never send one gateway two commands at once.

#![allow(clippy::unwrap_used)]

mod common;

use lockbridge_app::AppError;
use std::time::Duration;

use common::*;
use lockbridge_app::connections as service;
use lockbridge_core::provider::ErrorKind;
use lockbridge_core::{ConnectionId, LockId};
use lockbridge_server::{AppState, Settings};
use lockbridge_store::Dialect;

/// Tedee at 10 requests an hour; a call waits for none.
fn tight_tedee(s: &mut Settings) {
    s.vendor_rates
        .insert(lockbridge_vendors::TEDEE, "10/h".parse().unwrap());
    s.budget_wait = Duration::ZERO;
}

async fn sync(state: &AppState, conn: ConnectionId) -> Result<(), ErrorKind> {
    let stored = state.store.connection_by_id(conn).await.unwrap().unwrap();
    match service::sync(state, &stored).await {
        Ok(_) => Ok(()),
        Err(AppError::Provider(e)) => Err(e.kind),
        Err(e) => panic!("{e}"),
    }
}

both_backends!(
    an_account_budget_is_spent_before_the_vendor_refuses,
    |db: Db| async move {
        let t = TestApp::start_with(db, tight_tedee).await;
        let conn: ConnectionId = t.connect_tedee().await.parse().unwrap();
        // The simulator now allows 10 in a fresh window: a request past lockbridge's budget would be
        // refused with 429 (the connection's first sync spent some of it already).
        {
            let mut w = t.tedee.world();
            w.config.rate_limit = 10;
            w.rate.clear();
        }
        let mut synced = 0;
        let refused = loop {
            match sync(&t.app.state, conn).await {
                Ok(()) => synced += 1,
                Err(kind) => break kind,
            }
            assert!(synced < 20, "the budget never ran out");
        };
        assert_eq!(refused, ErrorKind::RateLimited);
        let throttled = t.tedee.world().throttled.values().sum::<u32>();
        assert_eq!(throttled, 0, "the simulator refused {throttled} requests");

        if t.db.store.dialect() == Dialect::Postgres {
            // Another instance spends the same budget: it is refused before it sends anything.
            let other = t.other_instance({
                let mut s = Settings::default();
                tight_tedee(&mut s);
                s
            });
            let sent = t.tedee.world().rate.values().map(|r| r.1).sum::<u32>();
            assert_eq!(sync(&other.state, conn).await, Err(ErrorKind::RateLimited));
            assert_eq!(
                t.tedee.world().rate.values().map(|r| r.1).sum::<u32>(),
                sent
            );
            // The budget comes back on the service's clock, once the hour has passed (on the
            // simulator's clock too), to either instance.
            let hour = 61 * 60_000;
            t.app.state.clock.advance(hour);
            other.state.clock.advance(hour);
            t.tedee.world().clock_offset_ms += hour;
            assert_eq!(sync(&other.state, conn).await, Ok(()));
            assert_eq!(t.tedee.world().throttled.values().sum::<u32>(), 0);
        }
    }
);

async fn ttlock_lock(t: &TestApp, name: &str) -> lockbridge_core::Lock {
    let id: LockId = t.lock_id(name).await.parse().unwrap();
    t.db.store.lock_by_id(id).await.unwrap().unwrap()
}

both_backends!(a_gateway_takes_one_command_at_a_time, |db: Db| async move {
    let t = TestApp::start(db).await;
    let conn: ConnectionId = t.connect().await.parse().unwrap();
    let postgres = t.db.store.dialect() == Dialect::Postgres;
    // Two instances on PostgreSQL; on SQLite (one instance) two callers of the same one.
    let other = t.other_instance(Settings::default());
    let second = if postgres { &other.state } else { &t.app.state };
    // Front door and back door are both behind the lobby gateway, which now stays busy for
    // 150 ms per command and refuses a second one meanwhile.
    t.sim.world().config.gateway_latency_ms = 150;
    let front = ttlock_lock(&t, "Front door").await;
    let back = ttlock_lock(&t, "Back door").await;
    let stored = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
    let unlock = |state: &AppState, lock: lockbridge_core::Lock| {
        let (state, conn) = (state.clone(), stored.clone());
        async move {
            let vendor = state.providers.get(lockbridge_vendors::TTLOCK).unwrap();
            for _ in 0..3 {
                vendor
                    .operations_api()
                    .unwrap()
                    .unlock(&conn, &lock)
                    .await
                    .unwrap();
            }
        }
    };
    tokio::join!(unlock(&t.app.state, front), unlock(second, back));
    t.sim.world().config.gateway_latency_ms = 0;
    assert_eq!(t.sim_calls("/v3/lock/unlock"), 6);
    assert_eq!(t.sim_calls("gateway busy refusals"), 0);
});
