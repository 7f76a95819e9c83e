//! `/seam` devices and locks, connected accounts, events and webhooks.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use lockbridge_core::events::Event;
use lockbridge_core::ids::{ConnectionId, EventId, LockId};
use lockbridge_core::model::Lock;
use lockbridge_core::webhooks::{Webhook, WebhookFormat};
use lockbridge_store::{EventFilter, WebhookPatch};
use serde_json::{Value, json};

use super::views;
use super::wire::{
    Paging, Params, SeamError, SeamRequest, SeamResult, invalid, not_found, reply, reply_raw,
};
use crate::extract::Caller;
use crate::routes::webhooks as hooks;
use crate::state::AppState;

/// Seam's page of devices, connected accounts and events.
const DEVICES_PAGE: u32 = 500;
const ACCOUNTS_PAGE: u32 = 11_000;
const EVENTS_PAGE: u32 = 500;

/// The organisation's cached locks that the filters keep, in id order after `after`.
async fn locks(
    s: &AppState,
    caller: &Caller,
    r: &SeamRequest,
    after: Option<LockId>,
) -> SeamResult<Vec<Kept>> {
    let p = &r.params;
    let account: Option<ConnectionId> = match p.str("connected_account_id")? {
        Some(c) => Some(c.parse().map_err(|_| not_found("connection"))?),
        None => None,
    };
    let accounts = p.strs("connected_account_ids")?;
    let ids = p.strs("device_ids")?;
    let types = p
        .strs("device_types")?
        .or(p.str("device_type")?.map(|t| vec![t]));
    let manufacturer = p.str("manufacturer")?;
    let search = p.str("search")?.map(|q| q.to_lowercase());
    let created_before = p.time("created_before")?.flatten();
    let all = s.locks.get(&s.store, caller.org).await?;
    let start = after.map_or(0, |a| all.partition_point(|c| c.lock.id <= a));
    let keep = |l: &Lock| {
        account.is_none_or(|a| l.connection_id == a)
            && accounts
                .as_ref()
                .is_none_or(|a| a.contains(&l.connection_id.to_string()))
            && ids.as_ref().is_none_or(|i| i.contains(&l.id.to_string()))
            && types
                .as_ref()
                .is_none_or(|t| t.contains(&format!("{}_lock", l.provider.as_str())))
            && manufacturer
                .as_ref()
                .is_none_or(|m| m == l.provider.as_str())
            && search
                .as_ref()
                .is_none_or(|q| l.name.to_lowercase().contains(q))
            && created_before.is_none_or(|b| views::made_at(&l.id.0, l.updated_at) < b)
    };
    Ok((start..all.len())
        .filter(|&i| keep(&all[i].lock))
        .map(|i| Kept(all.clone(), i))
        .collect())
}

/// A lock of a cached list, kept by the filters.
struct Kept(lockbridge_app::lock_cache::OrgLocks, usize);

impl Kept {
    fn lock(&self) -> &Lock {
        &self.0[self.1].lock
    }

    /// Its Seam device, serialised once per cached list.
    fn json(&self) -> &str {
        let c = &self.0[self.1];
        c.other.get_or_init(|| {
            serde_json::to_string(&views::device(&c.lock))
                .unwrap_or_default()
                .into()
        })
    }
}

fn json_list(items: &[Kept]) -> String {
    let mut out = String::with_capacity(2 + items.len() * 1_200);
    out.push('[');
    for (i, k) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k.json());
    }
    out.push(']');
    out
}

/// `devices.list` (paginated).
pub async fn devices_list(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.0.clone();
    let page = Paging::read(&r.params, DEVICES_PAGE)?;
    let after = page.after.as_deref().and_then(|a| a.parse().ok());
    let mut rows = locks(&s, &caller, &r, after).await?;
    rows.truncate(page.limit as usize + 1);
    let (rows, pagination) = page.page(rows, |k| k.lock().id.to_string());
    Ok(reply_raw(&[
        ("devices", &json_list(&rows)),
        ("pagination", &pagination.to_string()),
    ]))
}

/// `locks.list`: every lock, never paged, under `devices` and `locks`.
pub async fn locks_list(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.0.clone();
    let rows = locks(&s, &caller, &r, None).await?;
    let list = json_list(&rows);
    Ok(reply_raw(&[("devices", &list), ("locks", &list)]))
}

async fn one_lock(s: &AppState, r: &SeamRequest) -> SeamResult<Lock> {
    let caller = &r.caller.0;
    let p = &r.params;
    if let Some(name) = p
        .str("name")?
        .filter(|_| p.str("device_id").ok().flatten().is_none())
    {
        let all = s.locks.get(&s.store, caller.org).await?;
        return all
            .iter()
            .find(|c| c.lock.name == name)
            .map(|c| c.lock.clone())
            .ok_or(not_found("lock"));
    }
    super::codes::lock_of(s, caller, p).await
}

pub async fn devices_get(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let lock = one_lock(&s, &r).await?;
    Ok(reply(vec![("device", views::device(&lock))]))
}

pub async fn locks_get(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let lock = one_lock(&s, &r).await?;
    let d = views::device(&lock);
    Ok(reply(vec![("device", d.clone()), ("lock", d)]))
}

pub async fn accounts_list(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.0;
    let page = Paging::read(&r.params, ACCOUNTS_PAGE)?;
    let after = page.after.as_deref().and_then(|a| a.parse().ok());
    let search = r.params.str("search")?.map(|q| q.to_lowercase());
    let mut rows = s
        .store
        .list_connections(caller.org, page.limit + 1, after)
        .await?;
    if let Some(q) = &search {
        rows.retain(|c| c.name.to_lowercase().contains(q));
    }
    let (rows, pagination) = page.page(rows, |c| c.id.to_string());
    let out: Vec<Value> = rows.iter().map(views::connected_account).collect();
    Ok(reply(vec![
        ("connected_accounts", json!(out)),
        ("pagination", pagination),
    ]))
}

pub async fn accounts_get(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.0;
    if r.params.str("email")?.is_some() && r.params.str("connected_account_id")?.is_none() {
        return Err(invalid(
            "email",
            "lockbridge's connections have no email: give connected_account_id",
        ));
    }
    r.params.required("connected_account_id")?;
    let conn = match r.params.id::<ConnectionId>("connected_account_id")? {
        Some(id) => s.store.get_connection(caller.org, id).await?,
        None => None,
    };
    let conn = conn.ok_or(not_found("connection"))?;
    Ok(reply(vec![(
        "connected_account",
        views::connected_account(&conn),
    )]))
}

/// `events.list`: `since` (strictly after) or `between` (both ends excluded), newest first,
/// at most `limit` (500), only the events Seam has a type for.
pub async fn events_list(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let (caller, p) = (r.caller.0, r.params);
    let since = p.time("since")?.flatten();
    let between = p.strs("between")?;
    let (after, before) = match (since, between) {
        (Some(t), None) => (t, None),
        (None, Some(b)) if b.len() == 2 => {
            let parse = |t: &str| {
                lockbridge_core::time::parse_rfc3339(t)
                    .ok_or_else(|| invalid("between", "Expected two ISO 8601 times"))
            };
            (parse(&b[0])?, Some(parse(&b[1])?))
        }
        (None, Some(_)) => return Err(invalid("between", "Expected two ISO 8601 times")),
        _ => return Err(invalid("_errors", "Must specify either since or between")),
    };
    let limit = p
        .number("limit")?
        .unwrap_or(u64::from(EVENTS_PAGE))
        .min(u64::from(EVENTS_PAGE)) as usize;
    let mut devices = p.strs("device_ids")?.unwrap_or_default();
    devices.extend(p.str("device_id")?);
    let mut codes = p.strs("access_code_ids")?.unwrap_or_default();
    codes.extend(p.str("access_code_id")?);
    let mut types = p.strs("event_types")?.unwrap_or_default();
    types.extend(p.str("event_type")?);
    let ids = p.strs("event_ids")?.unwrap_or_default();
    let account = p.str("connected_account_id")?;
    let lockbridge_types: Vec<String> = types
        .iter()
        .flat_map(|t| lockbridge_core::seam::lockbridge_types(t))
        .map(|k| k.as_str().to_owned())
        .collect();
    if !types.is_empty() && lockbridge_types.is_empty() {
        return Ok(reply(vec![("events", json!([]))]));
    }
    let mut filter = EventFilter {
        types: lockbridge_types,
        since: Some(after + 1),
        until: before,
        ..Default::default()
    };
    if let [one] = devices.as_slice() {
        filter.lock_id = Some(one.parse().map_err(|_| not_found("lock"))?);
    }
    let keep = |e: &Event| {
        lockbridge_core::seam::event_type(e).is_some()
            && (devices.is_empty() || e.lock_id.is_some_and(|l| devices.contains(&l.to_string())))
            && (codes.is_empty()
                || e.access_code_id
                    .is_some_and(|c| codes.contains(&c.to_string())))
            && (ids.is_empty() || ids.contains(&e.id.to_string()))
            && account
                .as_ref()
                .is_none_or(|a| e.connection_id.is_some_and(|c| &c.to_string() == a))
    };
    let mut out = Vec::new();
    // Events Seam has no type for are skipped, so read on until the page is full.
    for _ in 0..20 {
        let rows = s.store.list_events(caller.org, &filter, 500).await?;
        let done = rows.len() < 500;
        filter.before = rows.last().map(|e| e.id);
        out.extend(
            rows.iter()
                .filter(|e| keep(e))
                .filter_map(lockbridge_core::seam::event_object),
        );
        if done || out.len() >= limit {
            break;
        }
    }
    out.truncate(limit);
    Ok(reply(vec![("events", json!(out))]))
}

pub async fn events_get(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.0;
    r.params.required("event_id")?;
    let found = match r.params.id::<EventId>("event_id")? {
        Some(id) => s.store.events_by_ids(&[id]).await?,
        None => Vec::new(),
    };
    let event = found
        .iter()
        .find(|e| e.org_id == caller.org)
        .and_then(lockbridge_core::seam::event_object)
        .ok_or(not_found("event"))?;
    Ok(reply(vec![("event", event)]))
}

/// A webhook as Seam's: its secret too, for endpoints made through `/seam`.
async fn webhook_view(s: &AppState, w: &Webhook) -> SeamResult<Value> {
    let mut v = json!({"webhook_id": w.id.to_string(), "url": w.url, "event_types": w.event_types});
    if w.format == WebhookFormat::Seam
        && let Some(e) = s.store.endpoints(&[w.id], s.now()).await?.first()
    {
        v["secret"] = json!(e.secrets.first());
    }
    Ok(v)
}

async fn webhook_of(s: &AppState, caller: &Caller, p: &Params) -> SeamResult<Webhook> {
    let id = p.required("webhook_id")?;
    Ok(hooks::load(s, caller, &id).await?)
}

pub async fn webhooks_create(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.admin()?;
    let url = r.params.required("url")?;
    let types = r
        .params
        .strs("event_types")?
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| vec!["*".to_owned()]);
    let made = hooks::add(&s, &caller, &url, types, None, WebhookFormat::Seam).await?;
    let mut v = webhook_view(&s, &made.webhook).await?;
    v["secret"] = json!(made.secret);
    Ok(reply(vec![("webhook", v)]))
}

pub async fn webhooks_list(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.admin()?;
    let rows = s.store.list_webhooks(caller.org, 10_000, None).await?;
    let mut out = Vec::with_capacity(rows.len());
    for w in &rows {
        out.push(webhook_view(&s, w).await?);
    }
    Ok(reply(vec![("webhooks", json!(out))]))
}

pub async fn webhooks_get(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.admin()?;
    let w = webhook_of(&s, &caller, &r.params).await?;
    Ok(reply(vec![("webhook", webhook_view(&s, &w).await?)]))
}

/// `webhooks.update` (PUT, retried by the SDKs): the new list replaces the old.
pub async fn webhooks_update(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.admin()?;
    let w = webhook_of(&s, &caller, &r.params).await?;
    let types = r
        .params
        .strs("event_types")?
        .ok_or_else(|| invalid("event_types", "Required"))?;
    let patch = WebhookPatch {
        event_types: Some(hooks::checked_types(types, w.format)?),
        ..Default::default()
    };
    s.store
        .update_webhook(caller.org, w.id, &patch, s.now())
        .await?
        .ok_or(not_found("webhook"))?;
    Ok(reply(vec![]))
}

pub async fn webhooks_delete(State(s): State<AppState>, r: SeamRequest) -> SeamResult<Response> {
    let caller = r.caller.admin()?;
    let w = webhook_of(&s, &caller, &r.params).await?;
    if !s.store.delete_webhook(caller.org, w.id).await? {
        return Err(not_found("webhook"));
    }
    Ok(reply(vec![]))
}

/// Any other path under `/seam`.
pub async fn unknown() -> SeamError {
    SeamError::Typed {
        status: StatusCode::NOT_FOUND,
        kind: "not_found",
        message: "This route is not part of lockbridge's Seam-compatible surface".into(),
        data: None,
    }
}

pub async fn wrong_method() -> SeamError {
    SeamError::Typed {
        status: StatusCode::METHOD_NOT_ALLOWED,
        kind: "method_not_allowed",
        message: "This route does not take that method".into(),
        data: None,
    }
}
