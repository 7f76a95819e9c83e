//! Keeps the client inside Tedee's rate limit: at most `limit` requests in any `window`
//! (Tedee counts 700 per fixed hour per user; staying under it in every sliding hour also stays
//! under it in every fixed one), and nothing at all while a `Retry-After` runs. Requests are
//! counted when they leave; the cloud counts them when they arrive, a trip later — negligible
//! against an hour.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What paces a client's requests. By default each client keeps its own [`Pacer`]; give one
/// with [`crate::Config::rate_gate`] to share a user's budget between clients or processes.
pub trait RateGate: Send + Sync {
    /// Waits until one more request may leave. `Err(wait)` when it should not wait that long:
    /// the request then fails with [`crate::Error::RateLimited`] and is not sent.
    fn acquire(&self) -> Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + '_>>;

    /// Tedee answered 429: nothing more may leave for `wait`.
    fn retry_after(&self, wait: Duration);
}

#[derive(Debug)]
pub(crate) struct Pacer {
    limit: usize,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Pacer {
            limit: limit.max(1) as usize,
            window,
            state: Mutex::default(),
        }
    }

    /// Waits until one more request fits, and counts it.
    pub(crate) async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while s.sent.front().is_some_and(|&t| t + self.window <= now) {
                    s.sent.pop_front();
                }
                match s.blocked_until.filter(|&b| b > now) {
                    Some(until) => until - now,
                    None if s.sent.len() < self.limit => {
                        s.sent.push_back(now);
                        return;
                    }
                    None => s
                        .sent
                        .front()
                        .map_or(Duration::ZERO, |&t| t + self.window - now),
                }
            };
            tracing::debug!(?wait, "pacing to Tedee's rate limit");
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every request back for `d` (Tedee's `Retry-After`).
    pub(crate) fn block_for(&self, d: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + d;
        s.blocked_until = Some(s.blocked_until.map_or(until, |b| b.max(until)));
    }
}

impl RateGate for Pacer {
    fn acquire(&self) -> Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + '_>> {
        Box::pin(async move {
            Pacer::acquire(self).await;
            Ok(())
        })
    }

    fn retry_after(&self, wait: Duration) {
        self.block_for(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_a_window() {
        let pacer = Pacer::new(3, Duration::from_secs(10));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            pacer.acquire().await;
            at.push(start.elapsed().as_secs());
        }
        assert_eq!(at, vec![0, 0, 0, 10, 10, 10, 20]);
        pacer.block_for(Duration::from_secs(30));
        pacer.acquire().await;
        assert_eq!(start.elapsed().as_secs(), 50);
    }
}
