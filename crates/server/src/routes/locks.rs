//! `/v1/locks` and `/v1/gateways`: what the last sync found, plus live operations.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lockbridge_api::OperationResult;
use lockbridge_app::AppError;
use lockbridge_app::health::Health;
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{GatewayId, LockId};
use lockbridge_core::model::{Connection, Lock, LockState};
use lockbridge_core::provider::{ErrorKind, OfflineKind};
use lockbridge_core::time::Millis;
use lockbridge_store::Commit;
use serde::Deserialize;
use serde_json::json;

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller};
use crate::query::{EventsQuery, LockQuery, Page, Query};
use crate::routes::connections;
use crate::state::AppState;
use crate::views::View;
use lockbridge_app::connections as service;

pub fn router() -> Api {
    let m = Access::Member;
    Api::new("locks")
        .get(
            "/v1/locks",
            get(list),
            Op::new(m, "List locks")
                .query::<crate::query::LockQuery>()
                .returns::<lockbridge_api::Page<lockbridge_api::Lock>>(200),
        )
        .get(
            "/v1/locks/{id}",
            get(read),
            Op::new(
                m,
                "A lock: state, battery, online, capabilities, code rules",
            )
            .returns::<lockbridge_api::Lock>(200),
        )
        .patch(
            "/v1/locks/{id}",
            axum::routing::patch(update),
            Op::new(
                Access::Admin,
                "Set the lock's time zone (an IANA name), or null to use the vendor's",
            )
            .body::<LockChange>()
            .returns::<lockbridge_api::Lock>(200),
        )
        .post(
            "/v1/locks/{id}/unlock",
            post(unlock),
            Op::new(m, "Unlock remotely").returns::<lockbridge_api::OperationResult>(200),
        )
        .post(
            "/v1/locks/{id}/lock",
            post(lock),
            Op::new(m, "Lock remotely").returns::<lockbridge_api::OperationResult>(200),
        )
        .post(
            "/v1/locks/{id}/reconcile",
            post(reconcile),
            Op::new(
                m,
                "Compare the lock's codes with the vendor's now; answers the codes after it",
            )
            .returns::<lockbridge_api::Page<lockbridge_api::AccessCode>>(200),
        )
        .get(
            "/v1/locks/{id}/events",
            get(events),
            Op::new(
                m,
                "The lock's events, newest first (its vendor log read first): the filters of /v1/events",
            )
            .query::<crate::query::EventsQuery>()
            .returns::<lockbridge_api::Page<lockbridge_api::Event>>(200),
        )
        .post(
            "/v1/locks/{id}/offline-codes",
            post(offline_code),
            Op::new(
                m,
                "An algorithmic code the lock computes itself, stored and listed with its codes",
            )
            .body::<OfflineRequest>()
            .returns::<lockbridge_api::AccessCode>(201),
        )
        .post(
            "/v1/locks/{id}/dynamic-code",
            post(dynamic_code),
            Op::new(m, "A short-lived code the lock accepts now (Tuya's dynamic password)")
                .returns::<DynamicCode>(200),
        )
        .get(
            "/v1/gateways",
            get(gateways),
            Op::new(m, "List gateways")
                .query::<crate::query::Page<lockbridge_core::ids::GatewayId>>()
                .returns::<lockbridge_api::Page<lockbridge_api::Gateway>>(200),
        )
}

/// The caller's lock, or 404 (also for another organisation's).
pub async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<Lock> {
    let id: LockId = id.parse().map_err(|_| ApiError::not_found("lock"))?;
    s.store
        .get_lock(caller.org, id)
        .await?
        .ok_or(ApiError::not_found("lock"))
}

/// The lock and its connection, in one read (for a command sent to the lock).
pub async fn load_with_connection(
    s: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(Lock, Connection)> {
    let id: LockId = id.parse().map_err(|_| ApiError::not_found("lock"))?;
    s.store
        .lock_with_connection(caller.org, id)
        .await?
        .ok_or(ApiError::not_found("lock"))
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(page): Query<LockQuery>,
) -> ApiResult<Response> {
    let f = page.filter();
    let locks = s.locks.get(&s.store, caller.org).await?;
    let start = page
        .cursor
        .map_or(0, |c| locks.partition_point(|l| l.lock.id <= c));
    let keep = |l: &Lock| f.matches(l);
    let mut body = String::with_capacity(64 + page.limit as usize * 512);
    body.push_str("{\"data\":[");
    let (mut taken, mut last, mut more) = (0, None, false);
    for cached in locks[start..].iter().filter(|c| keep(&c.lock)) {
        if taken == page.limit {
            more = true;
            break;
        }
        if taken > 0 {
            body.push(',');
        }
        body.push_str(&cached.json);
        taken += 1;
        last = Some(cached.lock.id);
    }
    body.push_str("],\"next_cursor\":");
    match last.filter(|_| more) {
        Some(id) => body.push_str(&format!("\"{id}\"}}")),
        None => body.push_str("null}"),
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<Lock>> {
    Ok(View(load(&s, &caller, &id).await?))
}

/// `PATCH /v1/locks/{id}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "LockChange")]
#[serde(deny_unknown_fields)]
pub(crate) struct LockChange {
    /// An IANA time zone (`Europe/Warsaw`): the zone the lock keeps its time in, whatever its
    /// vendor says; `null` goes back to the vendor's (from the next sync).
    #[serde(default, deserialize_with = "super::code_changes::given")]
    #[schemars(with = "Option<String>")]
    time_zone: Option<Option<String>>,
}

async fn update(
    State(s): State<AppState>,
    crate::extract::Admin(caller): crate::extract::Admin,
    Path(id): Path<String>,
    Body(body): Body<LockChange>,
) -> ApiResult<View<Lock>> {
    let lock = load(&s, &caller, &id).await?;
    if let Some(zone) = body.time_zone {
        let zone = zone.map(|z| z.trim().to_owned());
        if let Some(z) = &zone
            && !lockbridge_core::windows::is_iana(z)
        {
            return Err(ApiError::validation(
                "time_zone",
                "must be an IANA time zone name (Europe/Warsaw, America/New_York, UTC)",
            ));
        }
        s.store
            .set_lock_time_zone(caller.org, lock.id, zone.as_deref(), &Health, s.now())
            .await?;
        s.locks.invalidate(caller.org);
    }
    Ok(View(load(&s, &caller, &id).await?))
}

pub(crate) async fn operate(
    s: AppState,
    caller: Caller,
    id: String,
    unlock: bool,
) -> ApiResult<Json<OperationResult>> {
    let (lock, conn) = load_with_connection(&s, &caller, &id).await?;
    if !lock.capabilities.remote_unlock {
        return Err(ApiError::unsupported(
            "be operated remotely: it has no gateway or Wi-Fi",
        ));
    }
    let (l, c) = (&lock, &conn);
    let done = service::call(&s, &conn, |api| async move {
        if unlock {
            api.operations_api()?.unlock(c, l).await
        } else {
            api.operations_api()?.lock(c, l).await
        }
    })
    .await;
    // What the vendor answered says whether the lock can be reached.
    let answered = match &done {
        Ok(()) => Some(None),
        Err(AppError::Provider(e)) => Some(Some(e.kind)),
        Err(_) => None,
    };
    if let Some(failed) = answered {
        service::note_reach(&s, &lock, failed).await;
    }
    if answered == Some(Some(ErrorKind::Jammed)) {
        let event = Event::new(lock.org_id, EventType::LockAlarm, s.now())
            .lock(lock.id)
            .connection(lock.connection_id)
            .data(json!({"alarm": "jammed", "source": "command", "method": "remote"}))
            .by(caller.actor());
        s.store.record_events(&[event]).await?;
    }
    done?;
    let state = if unlock {
        LockState::Unlocked
    } else {
        LockState::Locked
    };
    let kind = if unlock {
        EventType::LockUnlocked
    } else {
        EventType::LockLocked
    };
    let event = Event::new(lock.org_id, kind, s.now())
        .lock(lock.id)
        .connection(lock.connection_id)
        .data(json!({"method": "remote"}))
        .by(caller.actor());
    // The vendor's log has the command too, and the ingest restores the result from it should
    // a crash of the database server lose it: that answer need not wait for the flush.
    let restorable =
        !s.settings.flush_command_results && s.providers.get(conn.provider)?.logs().is_some();
    let commit = if restorable {
        Commit::Unflushed
    } else {
        Commit::Flushed
    };
    s.store
        .set_lock_state(lock.id, state, Some(event), commit)
        .await?;
    s.locks.set_state(caller.org, lock.id, state);
    Ok(Json(OperationResult {
        lock_id: lock.id,
        state,
    }))
}

async fn unlock(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OperationResult>> {
    operate(s, caller, id, true).await
}

async fn lock(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OperationResult>> {
    operate(s, caller, id, false).await
}

async fn events(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: EventsQuery,
) -> ApiResult<View<super::List<Event>>> {
    let lock = load(&s, &caller, &id).await?;
    // The first page reads the lock's log first, so that it is up to date; a vendor failure
    // leaves what is stored.
    if q.filter.before.is_none() {
        let conn = connections::load_id(&s, &caller, lock.connection_id).await?;
        if let Err(e) = lockbridge_app::ingest::ingest_lock(&s, &conn, &lock).await {
            tracing::info!(lock = %lock.id, error = %lockbridge_core::provider::error_chain(&e), "could not read the lock's log; listing stored events");
        }
    }
    let filter = lockbridge_store::EventFilter {
        lock_id: Some(lock.id),
        ..q.filter
    };
    let rows = s
        .store
        .list_events(caller.org, &filter, q.limit + 1)
        .await?;
    Ok(View(super::List::of(rows, q.limit, |e| e.id.to_string())))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "OfflineCodeRequest")]
#[serde(deny_unknown_fields)]
pub(crate) struct OfflineRequest {
    kind: OfflineKind,
    name: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    starts_at: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    ends_at: Option<Millis>,
}

async fn offline_code(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<OfflineRequest>,
) -> ApiResult<(
    axum::http::StatusCode,
    View<lockbridge_core::model::AccessCode>,
)> {
    let (lock, conn) = load_with_connection(&s, &caller, &id).await?;
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let start = body.starts_at.unwrap_or_else(|| s.now());
    let row = lockbridge_app::offline::issue(
        &s,
        &lock,
        &conn,
        body.kind,
        name,
        (start, body.ends_at),
        caller.actor(),
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, View(row)))
}

/// `POST /v1/locks/{id}/dynamic-code`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub(crate) struct DynamicCode {
    pub code: String,
    /// When it stops working (the vendor's shortest documented life).
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "lockbridge_core::time::Timestamp")]
    pub expires_at: Millis,
}

async fn dynamic_code(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DynamicCode>> {
    let (lock, conn) = load_with_connection(&s, &caller, &id).await?;
    let (l, c) = (&lock, &conn);
    let made = service::call(&s, &conn, |api| async move {
        api.offline_api()?.dynamic_code(c, l).await
    })
    .await?;
    let life = made
        .ends_at
        .zip(made.starts_at)
        .map_or(5 * 60_000, |(e, st)| e - st);
    Ok(Json(DynamicCode {
        code: made.code,
        expires_at: s.now() + life,
    }))
}

async fn gateways(
    State(s): State<AppState>,
    caller: Caller,
    Query(page): Query<Page<GatewayId>>,
) -> ApiResult<View<super::List<lockbridge_core::model::Gateway>>> {
    let rows = s
        .store
        .list_gateways(caller.org, page.limit + 1, page.cursor)
        .await?;
    Ok(View(super::List::of(rows, page.limit, |g| {
        g.id.to_string()
    })))
}

/// Reconciles one lock at once and answers its codes as they then stand.
async fn reconcile(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<super::List<lockbridge_core::model::AccessCode>>> {
    let lock = load(&s, &caller, &id).await?;
    lockbridge_app::reconcile::reconcile_now(&s, &lock).await?;
    let codes = s
        .store
        .list_access_codes(caller.org, lock.id, 10_000, None)
        .await?;
    Ok(View(super::List {
        data: codes,
        next_cursor: None,
    }))
}
