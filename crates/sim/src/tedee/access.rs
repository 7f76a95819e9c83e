//! Who may call what: the credential behind `Authorization`, its scopes, the lock it may see,
//! and the per-user rate limit.

use axum::http::{HeaderMap, header};

use super::wire::{Refusal, refuse};
use super::world::{Credential, Lock, World};

pub(super) fn credential(w: &World, headers: &HeaderMap) -> Option<Credential> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, value) = auth.split_once(' ')?;
    let value = value.trim();
    let found = if scheme.eq_ignore_ascii_case("personalkey") {
        w.keys.get(value)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        w.bearers.get(value)
    } else {
        None
    };
    let now = w.now_ms();
    found
        .filter(|c| c.expires_at_ms.is_none_or(|at| at > now))
        .cloned()
}

/// Counts a request against the user's window; 429 with `Retry-After` past the limit. Tedee
/// does not say where its hour starts: here a window opens with a user's first request after
/// the previous one closed (not on the clock's hour), so what a caller sees does not depend on
/// the time of day.
pub(super) fn rate_limit(w: &mut World, user: i64) -> Result<(), Refusal> {
    let now = w.now_ms();
    let window = w.config.rate_window_s.max(1) * 1000;
    let limit = w.config.rate_limit;
    let entry = w.rate.entry(user).or_insert((now, 0));
    if now >= entry.0 + window || now < entry.0 {
        *entry = (now, 0);
    }
    let start = entry.0;
    if entry.1 >= limit {
        *w.throttled.entry(user).or_default() += 1;
        let secs = (start + window - now + 999) / 1000;
        let mut limited = refuse(429, "Too many requests. Rate limit exceeded.");
        limited.retry_after = Some(secs.max(1));
        return Err(limited);
    }
    entry.1 += 1;
    Ok(())
}

pub(super) fn scope(c: &Credential, any: &[&str]) -> Result<(), Refusal> {
    if c.allows(any) {
        Ok(())
    } else {
        Err(refuse(403, format!("Missing scope: {}", any.join(" or "))))
    }
}

pub(super) fn id_of(text: &str, what: &str) -> Result<i64, Refusal> {
    text.parse()
        .map_err(|_| refuse(404, format!("{what} not found")))
}

/// The lock, if the caller may see it: 404 unknown, 403 no access.
pub(super) fn lock_for<'w>(w: &'w World, c: &Credential, id: &str) -> Result<&'w Lock, Refusal> {
    let lock = w
        .locks
        .get(&id_of(id, "Lock")?)
        .ok_or_else(|| refuse(404, "Lock not found"))?;
    if lock.owner == c.user_id || lock.guests.contains_key(&c.user_id) {
        Ok(lock)
    } else {
        Err(refuse(403, "User doesn't have permission to the lock"))
    }
}
