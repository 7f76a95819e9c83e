//! Vendor logs as events: each lock's newest records (TTLock unlock records, Tuya open and
//! alarm logs, Tedee activity) read on a schedule, each recorded once (keyed by its content,
//! unique per lock), attributed to the access code used where the record says which.

use std::collections::HashMap;

use lockbridge_core::events::{Event, EventType};
use lockbridge_core::model::{AccessCode, Connection, Lock};
use lockbridge_core::provider::LockEvent;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Service;
use crate::connections;
use crate::error::AppResult;

/// Records read per lock and pass at most: far more than a door sees between two reads.
const READ: u32 = 1000;

/// How far before its mark a lock's log is read again, for clocks that disagree.
const OVERLAP_MS: i64 = 60_000;

/// lockbridge's name of a vendor's unlock method.
fn method(m: &str) -> &'static str {
    match m {
        "passcode" => "code",
        "app" => "app",
        "remote" => "remote",
        "key" => "key",
        "card" => "card",
        "fingerprint" => "fingerprint",
        "button" => "button",
        "auto" => "auto",
        _ => "unknown",
    }
}

/// The key that makes a record unique on its lock: the vendor's record id where it gives one,
/// else the record's content, hashed so that no typed PIN is kept in it.
fn source_key(e: &LockEvent) -> String {
    if let Some(id) = &e.record_id {
        return format!("id:{id}");
    }
    let mut h = Sha256::new();
    for part in [
        e.time.to_string().as_str(),
        e.kind,
        e.method,
        &e.provider_type,
        &e.success.to_string(),
        e.actor.as_deref().unwrap_or(""),
        e.code.as_deref().unwrap_or(""),
        e.code_provider_id.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The access code a record names: by the PIN typed (TTLock), the vendor's id of the code used
/// (Tuya), or the PIN's alias (Tedee logs it as the user name). Codes that share a name are
/// told apart by when the record happened: the one whose period or window held it (a stay's
/// "Guest" code this week, not last week's); a record two of them fit names neither.
fn attributed<'c>(e: &LockEvent, codes: &'c [AccessCode]) -> Option<&'c AccessCode> {
    if let Some(typed) = e.code.as_deref() {
        return codes.iter().find(|c| c.code == typed);
    }
    if let Some(pid) = e.code_provider_id.as_deref() {
        return codes.iter().find(|c| c.provider_id.as_deref() == Some(pid));
    }
    let alias = e.actor.as_deref().filter(|_| e.method == "passcode")?;
    let named: Vec<&AccessCode> = codes
        .iter()
        .filter(|c| c.name.as_deref() == Some(alias))
        .collect();
    let only = |list: &[&'c AccessCode]| match list {
        [one] => Some(*one),
        _ => None,
    };
    only(&named).or_else(|| {
        let held: Vec<&AccessCode> = named
            .iter()
            .copied()
            .filter(|c| {
                c.starts_at.is_none_or(|s| s <= e.time) && c.ends_at.is_none_or(|end| e.time < end)
            })
            .collect();
        only(&held)
    })
}

/// The event a vendor record is.
pub fn event_of(lock: &Lock, e: &LockEvent, codes: &[AccessCode], now: i64) -> Event {
    let kind = match (e.kind, e.success) {
        ("alarm", _) => EventType::LockAlarm,
        ("lock", _) => EventType::LockLocked,
        (_, true) => EventType::LockUnlocked,
        (_, false) => EventType::LockAccessDenied,
    };
    let code = attributed(e, codes);
    let mut data = json!({
        "method": method(e.method),
        "source": "vendor_log",
        "vendor_type": e.provider_type,
    });
    if let Some(actor) = &e.actor {
        data["actor"] = json!(actor);
    }
    if kind == EventType::LockAlarm {
        data["alarm"] = json!(e.alarm.unwrap_or("other"));
    }
    let mut event = Event::new(lock.org_id, kind, e.time)
        .lock(lock.id)
        .connection(lock.connection_id)
        .data(data)
        .by(lockbridge_core::events::Actor::vendor(e.actor.clone()));
    event.created_at = now;
    if let Some(c) = code {
        event.access_code_id = Some(c.id);
    }
    event.source_key = Some(source_key(e));
    event
}

/// Reads the lock's newest records and records the ones not recorded yet; answers how many.
pub async fn ingest_lock(state: &Service, conn: &Connection, lock: &Lock) -> AppResult<usize> {
    let api = state.providers.get(conn.provider)?;
    if api.logs().is_none() {
        return Ok(0);
    }
    let since = state.store.log_mark(lock.id).await?.map(|m| m - OVERLAP_MS);
    let (c, l) = (conn, lock);
    let records = connections::call(state, conn, |api| async move {
        api.logs_api()?.events(c, l, since, READ).await
    })
    .await?;
    let Some(newest) = records.iter().map(|r| r.time).max() else {
        return Ok(0);
    };
    let codes = state
        .store
        .list_access_codes(lock.org_id, lock.id, 1000, None)
        .await?;
    let now = state.now();
    // Oldest first, so that event ids (which sort by creation) follow the lock's order.
    let events: Vec<Event> = records
        .iter()
        .rev()
        .map(|e| event_of(lock, e, &codes, now))
        .collect();
    let new = state.store.record_lock_log(&events).await?.len();
    state.store.advance_log_mark(lock.id, newest).await?;
    Ok(new)
}

/// One pass: locks whose log is due are read (one lock at a time per connection) and scheduled
/// one `log_interval` later — or later still where the vendor's budget asks
/// ([`lockbridge_core::Vendor::log_reads_per_hour`]): then each lock of the account is read at
/// most once per `locks × 1 h / budget`. Answers how many records were new.
pub async fn ingest_due(state: &Service) -> AppResult<usize> {
    let now = state.now();
    let interval = state.settings.log_interval.as_millis() as i64;
    let lease = now + state.settings.code_lease.as_millis() as i64;
    let due = state.store.claim_log_reads(now, 200, lease).await?;
    let mut by_conn: HashMap<_, Vec<Lock>> = HashMap::new();
    for lock in due {
        by_conn.entry(lock.connection_id).or_default().push(lock);
    }
    let mut total = 0;
    for (conn_id, locks) in by_conn {
        let Some(conn) = state.store.connection_by_id(conn_id).await? else {
            continue;
        };
        let mut every = interval;
        if let Some(budget) = state
            .providers
            .get(conn.provider)
            .ok()
            .and_then(|v| v.log_reads_per_hour())
            .filter(|b| *b > 0)
        {
            let locks = state.store.lock_count(conn.id).await? as i64;
            every = every.max(locks * 3_600_000 / i64::from(budget));
        }
        for lock in locks {
            match ingest_lock(state, &conn, &lock).await {
                Ok(n) => total += n,
                Err(e) => {
                    tracing::info!(lock = %lock.id, error = %lockbridge_core::provider::error_chain(&e), "could not read a lock's log");
                }
            }
            state.store.schedule_log_read(lock.id, now + every).await?;
        }
    }
    Ok(total)
}
