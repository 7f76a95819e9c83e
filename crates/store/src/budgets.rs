//! Vendor budgets kept in the database, so that every instance on it spends one budget: a row
//! per request budget holding its window's counts, changed by conditional updates, and a turn
//! row per device that takes one command at a time, held with a lease.

use std::sync::Arc;
use std::time::Duration;

use crate::{Result, Store, on};
use async_trait::async_trait;
use lockbridge_core::budgets::{BudgetError, Budgets, Rate, Window};
use lockbridge_core::time::{Clock, Millis};

/// [`Budgets`] in the store, on the service's clock (instances compare their times, as they do
/// for every lease).
#[derive(Debug, Clone)]
pub struct SharedBudgets {
    store: Store,
    clock: Arc<Clock>,
}

impl SharedBudgets {
    pub fn new(store: Store, clock: Arc<Clock>) -> SharedBudgets {
        SharedBudgets { store, clock }
    }
}

impl Store {
    /// Takes one request from `key`'s window at `now`: `None` when taken, otherwise how long to
    /// wait. The window is read, counted and written back only if nobody wrote it meanwhile (its
    /// version is in the `WHERE`); a taker that lost the race reads it again.
    pub async fn take_budget(
        &self,
        key: &str,
        rate: Rate,
        now: Millis,
    ) -> Result<Option<Duration>> {
        self.change_window(key, |w| w.take(rate, now).err()).await
    }

    /// Refuses takes from `key` until `until` (never shortening a longer pause).
    pub async fn pause_budget(&self, key: &str, until: Millis) -> Result<()> {
        self.change_window(key, |w| {
            w.paused_until = w.paused_until.max(until);
        })
        .await
    }

    async fn change_window<T>(
        &self,
        key: &str,
        mut change: impl FnMut(&mut Window) -> T,
    ) -> Result<T> {
        loop {
            let row = on!(&self.pool, db => sqlx::query_as::<_, (String, i64)>(
                "SELECT window_state, version FROM rate_budgets WHERE key = $1",
            )
            .bind(key.to_owned())
            .fetch_optional(db)
            .await)?;
            let Some((state, version)) = row else {
                let mut window = Window::default();
                let out = change(&mut window);
                let added = on!(&self.pool, db => sqlx::query("INSERT INTO rate_budgets (key, window_state, version) VALUES ($1, $2, 1) \
                     ON CONFLICT (key) DO NOTHING")
                .bind(key.to_owned())
                .bind(window.encode())
                .execute(db).await.map(|r| r.rows_affected()))?;
                if added > 0 {
                    return Ok(out);
                }
                continue;
            };
            let mut window = Window::decode(&state);
            let before = window.clone();
            let out = change(&mut window);
            if window == before {
                return Ok(out);
            }
            let written = on!(&self.pool, db => sqlx::query("UPDATE rate_budgets SET window_state = $1, version = version + 1 \
                 WHERE key = $2 AND version = $3")
            .bind(window.encode())
            .bind(key.to_owned())
            .bind(version)
            .execute(db).await.map(|r| r.rows_affected()))?;
            if written > 0 {
                return Ok(out);
            }
        }
    }

    /// Takes the turn on `key` for `holder` until `until`, if nobody holds it at `now`.
    pub async fn try_turn(
        &self,
        key: &str,
        holder: &str,
        until: Millis,
        now: Millis,
    ) -> Result<bool> {
        let taken = on!(&self.pool, db => sqlx::query("INSERT INTO device_turns (key, holder, held_until) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET holder = $2, held_until = $3 \
             WHERE device_turns.held_until <= $4")
        .bind(key.to_owned())
        .bind(holder.to_owned())
        .bind(until)
        .bind(now)
        .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(taken > 0)
    }

    /// Gives `holder`'s turn on `key` back.
    pub async fn end_turn(&self, key: &str, holder: &str) -> Result<()> {
        on!(&self.pool, db => sqlx::query("DELETE FROM device_turns WHERE key = $1 AND holder = $2")
            .bind(key.to_owned())
            .bind(holder.to_owned())
            .execute(db).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}

#[async_trait]
impl Budgets for SharedBudgets {
    async fn take(
        &self,
        key: &str,
        rate: Rate,
    ) -> std::result::Result<Option<Duration>, BudgetError> {
        Ok(self.store.take_budget(key, rate, self.clock.now()).await?)
    }

    async fn pause(&self, key: &str, wait: Duration) -> std::result::Result<(), BudgetError> {
        let until = self.clock.now() + wait.as_millis() as Millis;
        Ok(self.store.pause_budget(key, until).await?)
    }

    async fn try_turn(
        &self,
        key: &str,
        holder: &str,
        lease: Duration,
    ) -> std::result::Result<bool, BudgetError> {
        let now = self.clock.now();
        let until = now + lease.as_millis() as Millis;
        Ok(self.store.try_turn(key, holder, until, now).await?)
    }

    async fn end_turn(&self, key: &str, holder: &str) -> std::result::Result<(), BudgetError> {
        Ok(self.store.end_turn(key, holder).await?)
    }
}
