//! `/v1/properties` and `/v1/reservations`: places rented out, their calendar feeds, and their
//! stays, each a grant on the property's locks (`lockbridge_app::stays`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use jiff::civil::Date;
use lockbridge_app::grant_writes::load_locks;
use lockbridge_app::stays::{self as service, Booking};
use lockbridge_core::ids::{CalendarId, PropertyId, ReservationId};
use lockbridge_core::model::AccessCode;
use lockbridge_core::stays::{
    Calendar, CodeSource, Property, Reservation, ReservationStatus, check_zone, parse_time,
};
use lockbridge_core::time::Millis;
use serde::Deserialize;

use crate::api::{Access, Api, Op};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller};
use crate::query::{Page, Query, cursor, fifty, flag, limit};
use crate::state::AppState;
use crate::views::View;

pub fn router() -> Api {
    let m = Access::Member;
    Api::new("stays")
        .get(
            "/v1/properties",
            get(list),
            Op::new(m, "The organisation's properties")
                .query::<crate::query::Page<lockbridge_core::ids::PropertyId>>()
                .returns::<lockbridge_api::Page<lockbridge_api::Property>>(200),
        )
        .post(
            "/v1/properties",
            post(create),
            Op::new(m, "A place rented out: its locks, zone and times")
                .body::<NewProperty>()
                .returns::<lockbridge_api::Property>(201),
        )
        .get(
            "/v1/properties/{id}",
            get(read),
            Op::new(m, "A property").returns::<lockbridge_api::Property>(200),
        )
        .patch(
            "/v1/properties/{id}",
            axum::routing::patch(update),
            Op::new(m, "Change a property (its stays follow)")
                .body::<PropertyChange>()
                .returns::<lockbridge_api::Property>(200),
        )
        .delete(
            "/v1/properties/{id}",
            delete(remove),
            Op::new(
                m,
                "Delete a property (409 while it has stays that are not over, unless revoke=true)",
            )
            .query::<RemoveQuery>()
            .empty(204),
        )
        .get(
            "/v1/properties/{id}/calendars",
            get(calendars),
            Op::new(m, "A property's calendar feeds")
                .returns::<lockbridge_api::Page<lockbridge_api::Calendar>>(200),
        )
        .post(
            "/v1/properties/{id}/calendars",
            post(add_calendar),
            Op::new(
                m,
                "Read a calendar feed (iCalendar) into stays, now and every interval",
            )
            .body::<NewCalendar>()
            .returns::<lockbridge_api::Calendar>(201),
        )
        .delete(
            "/v1/properties/{id}/calendars/{calendar_id}",
            delete(remove_calendar),
            Op::new(m, "Stop reading a feed (its stays stay)").empty(204),
        )
        .put(
            "/v1/properties/{id}/reservations/{external_id}",
            put(upsert),
            Op::new(
                m,
                "A stay from an integration (the same body again changes nothing)",
            )
            .body::<StayBooking>()
            .returns::<lockbridge_api::Reservation>(200)
            .also::<lockbridge_api::Reservation>(201),
        )
        .delete(
            "/v1/properties/{id}/reservations/{external_id}",
            delete(cancel),
            Op::new(m, "Cancel a stay: its codes leave the locks")
                .returns::<lockbridge_api::Reservation>(200),
        )
        .get(
            "/v1/reservations",
            get(reservations),
            Op::new(m, "Stays, by property, status and dates")
                .query::<ReservationQuery>()
                .returns::<lockbridge_api::Page<lockbridge_api::Reservation>>(200),
        )
        .get(
            "/v1/reservations/{id}",
            get(reservation),
            Op::new(m, "A stay with its codes, readiness and fallbacks")
                .returns::<lockbridge_api::Reservation>(200),
        )
}

/// At most a day early or late.
const MAX_BUFFER: u32 = 24 * 60;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProperty {
    name: String,
    lock_ids: Vec<String>,
    /// IANA zone: `Europe/Lisbon`.
    time_zone: String,
    /// `HH:MM`, local (default 15:00).
    check_in_time: Option<String>,
    /// `HH:MM`, local (default 11:00).
    check_out_time: Option<String>,
    #[serde(default = "generated")]
    code_source: CodeSource,
    #[serde(default)]
    early_minutes: u32,
    #[serde(default)]
    late_minutes: u32,
}

fn generated() -> CodeSource {
    CodeSource::Generated
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PropertyChange {
    name: Option<String>,
    lock_ids: Option<Vec<String>>,
    time_zone: Option<String>,
    check_in_time: Option<String>,
    check_out_time: Option<String>,
    code_source: Option<CodeSource>,
    early_minutes: Option<u32>,
    late_minutes: Option<u32>,
}

/// Checks a property's fields, answering the error that names the first one broken.
async fn checked(
    s: &AppState,
    caller: &Caller,
    mut p: Property,
    lock_ids: Option<&[String]>,
) -> ApiResult<Property> {
    p.name = p.name.trim().to_owned();
    if p.name.is_empty() {
        return Err(ApiError::validation("name", "must not be empty"));
    }
    if let Some(ids) = lock_ids {
        p.lock_ids = load_locks(s, caller.org, ids)
            .await?
            .iter()
            .map(|l| l.id)
            .collect();
    }
    check_zone(&p.time_zone).map_err(|e| ApiError::validation("time_zone", e))?;
    parse_time(&p.check_in_time).map_err(|e| ApiError::validation("check_in_time", e))?;
    parse_time(&p.check_out_time).map_err(|e| ApiError::validation("check_out_time", e))?;
    for (field, m) in [
        ("early_minutes", p.early_minutes),
        ("late_minutes", p.late_minutes),
    ] {
        if m > MAX_BUFFER {
            return Err(ApiError::validation(
                field,
                format!("must be 0 to {MAX_BUFFER}"),
            ));
        }
    }
    Ok(p)
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Body(b): Body<NewProperty>,
) -> ApiResult<(StatusCode, View<Property>)> {
    let now = s.now();
    let p = Property {
        id: PropertyId::new(),
        org_id: caller.org,
        name: b.name,
        lock_ids: Vec::new(),
        time_zone: b.time_zone,
        check_in_time: b.check_in_time.unwrap_or_else(|| "15:00".into()),
        check_out_time: b.check_out_time.unwrap_or_else(|| "11:00".into()),
        code_source: b.code_source,
        early_minutes: b.early_minutes,
        late_minutes: b.late_minutes,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    let p = checked(&s, &caller, p, Some(&b.lock_ids)).await?;
    s.store.insert_property(&p).await?;
    Ok((StatusCode::CREATED, View(p)))
}

async fn load(s: &AppState, caller: &Caller, id: &str) -> ApiResult<Property> {
    let id: PropertyId = id.parse().map_err(|_| ApiError::not_found("property"))?;
    Ok(service::property(s, caller.org, id).await?)
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<Property>> {
    Ok(View(load(&s, &caller, &id).await?))
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(page): Query<Page<PropertyId>>,
) -> ApiResult<View<super::List<Property>>> {
    let rows = s
        .store
        .list_properties(caller.org, page.limit + 1, page.cursor)
        .await?;
    Ok(View(super::List::of(rows, page.limit, |p| {
        p.id.to_string()
    })))
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<PropertyChange>,
) -> ApiResult<View<Property>> {
    for _ in 0..5 {
        let before = load(&s, &caller, &id).await?;
        let mut p = before.clone();
        if let Some(v) = &b.name {
            p.name.clone_from(v)
        }
        if let Some(v) = &b.time_zone {
            p.time_zone.clone_from(v)
        }
        if let Some(v) = &b.check_in_time {
            p.check_in_time.clone_from(v)
        }
        if let Some(v) = &b.check_out_time {
            p.check_out_time.clone_from(v)
        }
        if let Some(v) = b.code_source {
            p.code_source = v
        }
        if let Some(v) = b.early_minutes {
            p.early_minutes = v
        }
        if let Some(v) = b.late_minutes {
            p.late_minutes = v
        }
        let mut p = checked(&s, &caller, p, b.lock_ids.as_deref()).await?;
        if s.store
            .update_property_if(&mut p, before.version, s.now())
            .await?
        {
            // The stays to come follow the property's locks and buffers.
            let filter = lockbridge_store::ReservationFilter {
                property: Some(p.id),
                from: Some(s.now()),
                ..Default::default()
            };
            for r in s
                .store
                .list_reservations(caller.org, &filter, 1000, None, s.now())
                .await?
            {
                if !r.cancelled {
                    service::apply(&s, r).await?;
                }
            }
            return Ok(View(p));
        }
    }
    Err(ApiError::already_exists(
        "the property changed while this request ran; read it and try again",
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    #[serde(default, deserialize_with = "flag")]
    revoke: Option<bool>,
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<StatusCode> {
    let p = load(&s, &caller, &id).await?;
    service::delete_property(&s, &p, q.revoke.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCalendar {
    /// The feed's address (Airbnb, Vrbo, Booking.com: "export calendar").
    url: String,
    name: Option<String>,
}

async fn add_calendar(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): Body<NewCalendar>,
) -> ApiResult<(StatusCode, View<Calendar>)> {
    let p = load(&s, &caller, &id).await?;
    lockbridge_app::webhooks::address::check_url(&b.url, s.settings.webhook_allow_private)
        .map_err(|e| ApiError::validation("url", e))?;
    let now = s.now();
    let cal = Calendar {
        id: CalendarId::new(),
        org_id: caller.org,
        property_id: p.id,
        url: b.url.trim().to_owned(),
        name: b
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        etag: None,
        last_modified: None,
        last_error: None,
        last_read_at: None,
        next_read_at: now + s.settings.calendar_interval.as_millis() as Millis,
        created_at: now,
    };
    s.store.insert_calendar(&cal).await?;
    // Read once now; the worker reads it every interval from here on.
    service::calendars::read(&s, &cal).await?;
    let read = s
        .store
        .calendars_of(p.id)
        .await?
        .into_iter()
        .find(|c| c.id == cal.id)
        .unwrap_or(cal);
    Ok((StatusCode::CREATED, View(read)))
}

async fn calendars(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<super::List<Calendar>>> {
    let p = load(&s, &caller, &id).await?;
    let rows = s.store.calendars_of(p.id).await?;
    Ok(View(super::List::of(rows, u32::MAX, |c| c.id.to_string())))
}

async fn remove_calendar(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, cal)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = load(&s, &caller, &id).await?;
    let cal: CalendarId = cal.parse().map_err(|_| ApiError::not_found("calendar"))?;
    if !s.store.delete_calendar(p.id, cal).await? {
        return Err(ApiError::not_found("calendar"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A stay as an integration sends it: instants, or days at the property's times.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StayBooking {
    guest_name: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    check_in_at: Option<Millis>,
    /// `YYYY-MM-DD`, at the property's check-in time.
    arrival_date: Option<String>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    check_out_at: Option<Millis>,
    /// `YYYY-MM-DD`, at the property's check-out time.
    departure_date: Option<String>,
    /// The guest's phone (its last four digits are kept and may become the PIN).
    phone: Option<String>,
    /// The PIN to give; otherwise the property's code source decides.
    code: Option<String>,
}

/// A stay with its codes.
#[derive(Debug)]
pub struct Stay {
    pub reservation: Reservation,
    pub access_codes: Vec<AccessCode>,
}

async fn view(s: &AppState, r: Reservation) -> ApiResult<Stay> {
    let codes = service::codes_of(s, &r).await?;
    Ok(Stay {
        reservation: r,
        access_codes: codes,
    })
}

async fn upsert(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, external)): Path<(String, String)>,
    Body(b): Body<StayBooking>,
) -> ApiResult<(StatusCode, View<Stay>)> {
    let p = load(&s, &caller, &id).await?;
    let existed = s
        .store
        .reservation_by_external(p.id, &external, s.now())
        .await?
        .is_some();
    let day = |text: Option<String>, field: &str| -> ApiResult<Option<Date>> {
        text.map(|t| {
            t.trim()
                .parse::<Date>()
                .map_err(|_| ApiError::validation(field, "must be a date: YYYY-MM-DD"))
        })
        .transpose()
    };
    let booking = Booking {
        guest_name: b.guest_name,
        check_in_at: b.check_in_at,
        arrival_date: day(b.arrival_date, "arrival_date")?,
        check_out_at: b.check_out_at,
        departure_date: day(b.departure_date, "departure_date")?,
        phone: b.phone,
        code: b.code,
    };
    let (r, _) = service::upsert(&s, &p, &external, &booking, "api").await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, View(view(&s, r).await?)))
}

async fn cancel(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, external)): Path<(String, String)>,
) -> ApiResult<View<Stay>> {
    let p = load(&s, &caller, &id).await?;
    let r = s
        .store
        .reservation_by_external(p.id, &external, s.now())
        .await?
        .ok_or(ApiError::not_found("reservation"))?;
    let r = service::cancel(&s, r).await?;
    Ok(View(view(&s, r).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReservationQuery {
    property_id: Option<PropertyId>,
    status: Option<ReservationStatus>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    from: Option<Millis>,
    #[serde(default, with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<lockbridge_core::time::Timestamp>")]
    to: Option<Millis>,
    #[serde(default = "fifty", deserialize_with = "limit")]
    limit: u32,
    #[serde(default, deserialize_with = "cursor")]
    cursor: Option<ReservationId>,
}

async fn reservations(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ReservationQuery>,
) -> ApiResult<View<super::List<Stay>>> {
    let filter = lockbridge_store::ReservationFilter {
        property: q.property_id,
        status: q.status,
        from: q.from,
        to: q.to,
    };
    let rows = s
        .store
        .list_reservations(caller.org, &filter, q.limit + 1, q.cursor, s.now())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(view(&s, r).await?);
    }
    Ok(View(super::List::of(out, q.limit, |r| {
        r.reservation.id.to_string()
    })))
}

async fn reservation(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<View<Stay>> {
    let id: ReservationId = id.parse().map_err(|_| ApiError::not_found("reservation"))?;
    let r = s
        .store
        .get_reservation(Some(caller.org), id, s.now())
        .await?
        .ok_or(ApiError::not_found("reservation"))?;
    Ok(View(view(&s, r).await?))
}
