//! Offline codes: PINs the lock computes itself from its secret, issued without reaching it.

use lockbridge_core::events::{Actor, Event, EventType};
use lockbridge_core::model::{AccessCode, CodeStatus, Connection, Lock};
use lockbridge_core::offline::OfflineKind;
use lockbridge_core::time::Millis;
use serde_json::json;

use crate::connections::call;
use crate::{AppError, AppResult, Service};

/// Issues an offline code of `kind` on `lock` for `period` (its end required for a time-bound
/// or recurring kind) and stores it `set`: the lock's from now on (its algorithm takes it),
/// never worked by the engine, listed and attributed like any other.
pub async fn issue(
    s: &Service,
    lock: &Lock,
    conn: &Connection,
    kind: OfflineKind,
    name: Option<String>,
    period: (Millis, Option<Millis>),
    actor: Actor,
) -> AppResult<AccessCode> {
    if !lock.capabilities.offline_codes {
        return Err(AppError::Unsupported("compute offline codes"));
    }
    let (start, end) = period;
    match end {
        None if kind == OfflineKind::TimeBound || kind.is_cyclic() => {
            return Err(AppError::validation(
                "ends_at",
                format!(
                    "is required for a {} code{}",
                    kind.as_str(),
                    if kind.is_cyclic() {
                        " (its time of day ends the daily window)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Some(end) if end <= start => {
            return Err(AppError::validation("ends_at", "must be after starts_at"));
        }
        _ => {}
    }
    let (l, c, n) = (lock, conn, name.as_deref());
    let made = call(s, conn, |api| async move {
        api.offline_api()?
            .offline_code(c, l, kind, n, (start, end))
            .await
    })
    .await?;
    let now = s.now();
    let row = AccessCode {
        name,
        starts_at: made.starts_at,
        // A cyclic code recurs from its start on: its end only closes the daily window.
        ends_at: made.ends_at.filter(|_| !kind.is_cyclic()),
        provider_id: made.provider_id,
        status: CodeStatus::Set,
        next_attempt_at: None,
        kind: Some(kind),
        actor: actor.clone(),
        ..AccessCode::new(lock, made.code, now)
    };
    s.store
        .insert_access_code(&row, None)
        .await
        .map_err(|e| match e {
            lockbridge_store::InsertError::Store(e) => AppError::Store(e),
            lockbridge_store::InsertError::Capacity(_) => AppError::Unsupported("hold more codes"),
        })?;
    let event = Event::new(lock.org_id, EventType::CodeSet, now)
        .code(row.id, lock.id)
        .connection(lock.connection_id)
        .data(json!({"kind": lockbridge_core::model::code_kind_text(row.kind)}))
        .by(actor);
    s.store.record_events(&[event]).await?;
    Ok(row)
}
