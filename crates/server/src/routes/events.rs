//! `GET /v1/events`: the organisation's event log, newest first.

use axum::extract::State;
use axum::routing::get;
use lockbridge_core::events::Event;

use crate::api::{Access, Api, Op};
use crate::error::ApiResult;
use crate::extract::Caller;
use crate::query::EventsQuery;
use crate::state::AppState;
use crate::views::View;

pub fn router() -> Api {
    Api::new("events").get(
        "/v1/events",
        get(list),
        Op::new(
            Access::Member,
            "Everything lockbridge did or saw, newest first (`type` may repeat or end in `.*`)",
        )
        .query::<crate::query::EventsQuery>()
        .returns::<lockbridge_api::Page<lockbridge_api::Event>>(200),
    )
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    q: EventsQuery,
) -> ApiResult<View<super::List<Event>>> {
    let rows = s
        .store
        .list_events(caller.org, &q.filter, q.limit + 1)
        .await?;
    Ok(View(super::List::of(rows, q.limit, |e| e.id.to_string())))
}
