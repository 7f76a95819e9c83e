//! `/seam/access_codes/unmanaged/*`: the codes found on a lock that lockbridge did not set
//! (`/v1`'s `managed: false`), listed, read, taken under management or removed.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::codes::{code_of, codes_listed, delete_code, policy};
use super::views;
use super::wire::{Paging, SeamRequest, SeamResult, reply};
use crate::routes::code_changes;
use crate::state::AppState;

/// Seam's default page of unmanaged codes.
const UNMANAGED_PAGE: u32 = 300_000;

pub async fn list(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    p.required("device_id")?;
    let page = Paging::read(&p, UNMANAGED_PAGE)?;
    let rows = codes_listed(&s, &caller, &p, false, &page).await?;
    let (rows, pagination) = page.page(rows, |c| c.id.to_string());
    let codes: Vec<Value> = rows.iter().map(views::unmanaged).collect();
    Ok(reply(vec![
        ("access_codes", json!(codes)),
        ("pagination", pagination),
    ]))
}

pub async fn get(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let c = code_of(&s, &r.caller.0, &r.params, false).await?;
    Ok(reply(vec![("access_code", views::unmanaged(&c))]))
}

/// `unmanaged.convert_to_managed`: `/v1`'s manage, then the caller's answer to outside changes.
pub async fn convert(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    let c = code_of(&s, &caller, &p, false).await?;
    let _ = code_changes::manage(State(s.clone()), caller.clone(), Path(c.id.to_string())).await?;
    if let Some(policy) = policy(&p)? {
        let change = code_changes::Change {
            name: None,
            code: None,
            starts_at: None,
            ends_at: None,
            on_external_change: Some(policy),
            schedule: None,
            scheduling: None,
        };
        let _ = code_changes::update(
            State(s.clone()),
            caller,
            Path(c.id.to_string()),
            crate::extract::Body(change),
        )
        .await?;
    }
    Ok(reply(vec![]))
}

pub async fn delete(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    delete_code(s, r, false).await
}
