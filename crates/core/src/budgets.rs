//! Vendor budgets: how fast an account may call its vendor (Tedee's 700 requests an hour, a
//! configured rate for TTLock and Tuya) and whose turn it is on a device that takes one command
//! at a time (a TTLock gateway). Several instances of the service share them, so they are kept
//! where every instance sees them: the database on PostgreSQL ([`Budgets`] in the store), memory
//! on a single instance ([`LocalBudgets`]).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::time::{Clock, Millis};

/// At most `limit` requests in any `window`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub limit: u32,
    pub window: Duration,
}

impl Rate {
    pub fn per_hour(limit: u32) -> Rate {
        Rate {
            limit,
            window: Duration::from_secs(3600),
        }
    }

    fn slot_ms(&self) -> Millis {
        (self.window.as_millis() as Millis / SLOTS as Millis).max(1)
    }
}

/// A window is counted in 60 slots (a minute each for an hour). Any window-long stretch of time
/// lies within 61 consecutive slots, so a request is allowed while the current slot and the 60
/// before it hold fewer than the limit: no stretch of the window's length, wherever the vendor
/// starts its own windows, ever sees more than the limit. A caller that always wants more gets
/// the limit every 61 slots (98 % of it), and a quiet account may spend its whole limit at once.
const SLOTS: usize = 60;

/// The requests counted per slot for one budget: `counts[i]` belongs to slot `newest - i`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    pub newest: i64,
    pub counts: Vec<u32>,
    /// Nothing is taken before this (the vendor said `Retry-After`).
    pub paused_until: Millis,
}

impl Window {
    /// Takes one request at `now`: `Ok` when it fits (counted), or how long until one would.
    pub fn take(&mut self, rate: Rate, now: Millis) -> Result<(), Duration> {
        if self.paused_until > now {
            return Err(Duration::from_millis((self.paused_until - now) as u64));
        }
        let slot_ms = rate.slot_ms();
        // A clock behind another instance's counts in the newest slot seen, never earlier.
        let current = (now / slot_ms).max(self.newest);
        self.shift_to(current);
        let used: u32 = self.counts.iter().sum();
        if used < rate.limit {
            self.counts[0] += 1;
            return Ok(());
        }
        // Full: wait until enough of the oldest slots have left the 61.
        let mut over = used + 1 - rate.limit;
        for (k, n) in self.counts.iter().rev().enumerate() {
            over = over.saturating_sub(*n);
            if over == 0 {
                let at = (current + k as i64 + 1) * slot_ms;
                return Err(Duration::from_millis((at - now).max(1) as u64));
            }
        }
        Err(rate.window)
    }

    fn shift_to(&mut self, current: i64) {
        let gap = (current - self.newest).clamp(0, SLOTS as i64 + 1) as usize;
        self.counts.resize(SLOTS + 1, 0);
        self.counts.rotate_right(gap);
        self.counts[..gap].fill(0);
        self.newest = current;
    }

    /// `newest;paused_until;c0,c1,…` — how the store keeps it in one column.
    pub fn encode(&self) -> String {
        let counts: Vec<String> = self.counts.iter().map(u32::to_string).collect();
        format!("{};{};{}", self.newest, self.paused_until, counts.join(","))
    }

    /// The stored form back; anything unreadable counts as a fresh window.
    pub fn decode(text: &str) -> Window {
        let mut parts = text.splitn(3, ';');
        let (Some(newest), Some(paused), Some(counts)) = (parts.next(), parts.next(), parts.next())
        else {
            return Window::default();
        };
        Window {
            newest: newest.parse().unwrap_or(0),
            paused_until: paused.parse().unwrap_or(0),
            counts: counts
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| c.parse().unwrap_or(0))
                .collect(),
        }
    }
}

/// `700/h`, `5/s`, `120/min`, `10000/day`: a limit and its window.
impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let rule =
            || format!("`{s}` is not a rate: write requests/unit, unit s, min, h or day (`700/h`)");
        let (n, unit) = s.trim().split_once('/').ok_or_else(rule)?;
        let limit: u32 = n.trim().parse().map_err(|_| rule())?;
        let secs = match unit.trim() {
            "s" => 1,
            "min" => 60,
            "h" => 3600,
            "day" => 86_400,
            _ => return Err(rule()),
        };
        if limit == 0 {
            return Err(format!(
                "`{s}` allows no request at all; the limit must be at least 1"
            ));
        }
        Ok(Rate {
            limit,
            window: Duration::from_secs(secs),
        })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.window.as_secs() {
            1 => write!(f, "{}/s", self.limit),
            60 => write!(f, "{}/min", self.limit),
            3600 => write!(f, "{}/h", self.limit),
            86_400 => write!(f, "{}/day", self.limit),
            s => write!(f, "{} per {s} s", self.limit),
        }
    }
}

pub type BudgetError = Box<dyn std::error::Error + Send + Sync>;

/// Budgets shared by every instance that uses the same store.
#[async_trait]
pub trait Budgets: Send + Sync {
    /// Takes one request from `key`'s bucket: `None` when taken, or how long until one would
    /// be there (nothing is taken then).
    async fn take(&self, key: &str, rate: Rate) -> Result<Option<Duration>, BudgetError>;

    /// Refuses every take from `key` for `wait` (the vendor said `Retry-After`).
    async fn pause(&self, key: &str, wait: Duration) -> Result<(), BudgetError>;

    /// Takes the turn on `key` for `holder` until `lease` has passed, if nobody holds it.
    async fn try_turn(&self, key: &str, holder: &str, lease: Duration)
    -> Result<bool, BudgetError>;

    /// Gives a turn back (nothing when `holder` no longer holds it).
    async fn end_turn(&self, key: &str, holder: &str) -> Result<(), BudgetError>;
}

/// The budgets of a single instance, in memory, on the service's clock.
#[derive(Debug, Default)]
pub struct LocalBudgets {
    clock: Arc<Clock>,
    state: Mutex<Local>,
}

#[derive(Debug, Default)]
struct Local {
    windows: HashMap<String, Window>,
    /// key → (holder, until)
    turns: HashMap<String, (String, Millis)>,
}

impl LocalBudgets {
    pub fn new(clock: Arc<Clock>) -> LocalBudgets {
        LocalBudgets {
            clock,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Local> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Budgets for LocalBudgets {
    async fn take(&self, key: &str, rate: Rate) -> Result<Option<Duration>, BudgetError> {
        let now = self.clock.now();
        let mut s = self.state();
        Ok(s.windows
            .entry(key.to_owned())
            .or_default()
            .take(rate, now)
            .err())
    }

    async fn pause(&self, key: &str, wait: Duration) -> Result<(), BudgetError> {
        let now = self.clock.now();
        let until = now + wait.as_millis() as Millis;
        let mut s = self.state();
        let window = s.windows.entry(key.to_owned()).or_default();
        window.paused_until = window.paused_until.max(until);
        Ok(())
    }

    async fn try_turn(
        &self,
        key: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, BudgetError> {
        let now = self.clock.now();
        let mut s = self.state();
        if s.turns.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(false);
        }
        let until = now + lease.as_millis() as Millis;
        s.turns.insert(key.to_owned(), (holder.to_owned(), until));
        Ok(true)
    }

    async fn end_turn(&self, key: &str, holder: &str) -> Result<(), BudgetError> {
        let mut s = self.state();
        if s.turns.get(key).is_some_and(|(h, _)| h == holder) {
            s.turns.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        let r: Rate = "700/h".parse().unwrap();
        assert_eq!((r.limit, r.window.as_secs()), (700, 3600));
        assert_eq!(r.to_string(), "700/h");
        assert_eq!("5/s".parse::<Rate>().unwrap().to_string(), "5/s");
        assert_eq!("120/min".parse::<Rate>().unwrap().window.as_secs(), 60);
        assert_eq!(
            "10000/day".parse::<Rate>().unwrap().to_string(),
            "10000/day"
        );
        for bad in ["700", "x/h", "7/week", "0/s", "-1/s"] {
            let e = bad.parse::<Rate>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    /// Whatever the pattern of demand, no stretch of the rate's window sees more than its
    /// limit, a quiet account spends its whole limit at once, and a caller that always wants
    /// more uses at least 95 % of it.
    #[test]
    fn a_window_never_exceeds_the_limit_anywhere() {
        let rate = Rate::per_hour(700);
        let mut window = Window::default();
        let mut sent = Vec::new();
        let mut now = 1_234_567;
        let start = now;
        while now < start + 5 * 3_600_000 {
            match window.take(rate, now) {
                Ok(()) => sent.push(now),
                Err(wait) => now += wait.as_millis() as Millis,
            }
            // Through the stored form, as the database keeps it.
            window = Window::decode(&window.encode());
        }
        assert!(
            sent[..700].iter().all(|&t| t == start),
            "the whole limit at once"
        );
        for (i, &from) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|&&t| t < from + 3_600_000)
                .count();
            assert!(
                in_window <= 700,
                "{in_window} requests in the hour from {from}"
            );
        }
        let last_hour = sent.iter().filter(|&&t| t >= start + 4 * 3_600_000).count();
        assert!(
            last_hour >= 665,
            "only {last_hour} requests in a steady hour"
        );
    }

    #[test]
    fn a_pause_holds_every_take_back() {
        let rate = Rate::per_hour(700);
        let mut window = Window {
            paused_until: 30_000,
            ..Window::default()
        };
        assert_eq!(window.take(rate, 10_000), Err(Duration::from_secs(20)));
        assert_eq!(window.take(rate, 30_000), Ok(()));
        assert_eq!(Window::decode("garbage"), Window::default());
    }
}
