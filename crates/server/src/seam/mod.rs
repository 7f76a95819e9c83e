//! The Seam-compatible surface under `/seam`: programs written for Seam's SDKs (given
//! `endpoint=<lockbridge>/seam` and `seam_` + a lockbridge key) run unchanged for locks, access
//! codes, action attempts, connected accounts, events and webhooks. A translation layer over
//! the same handlers and application services as `/v1`: no second engine, no second store of
//! codes. Each route takes the method the SDKs send and POST with a JSON body, as Seam does.

mod attempts;
mod codes;
mod resources;
mod unmanaged;
mod views;
pub mod wire;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};

use crate::state::AppState;

/// Every route of the surface, with the method Seam's current SDKs use.
pub fn router() -> Router<AppState> {
    use MethodFilter as M;
    let r = Router::new();
    let r = route(r, "/devices/list", M::GET, resources::devices_list);
    let r = route(r, "/devices/get", M::GET, resources::devices_get);
    let r = route(r, "/locks/list", M::GET, resources::locks_list);
    let r = route(r, "/locks/get", M::GET, resources::locks_get);
    let r = route(r, "/locks/unlock_door", M::POST, attempts::unlock_door);
    let r = route(r, "/locks/lock_door", M::POST, attempts::lock_door);
    let r = route(r, "/action_attempts/get", M::GET, attempts::get);
    let r = route(r, "/action_attempts/list", M::GET, attempts::list);
    let r = route(r, "/access_codes/create", M::POST, codes::create);
    let r = route(r, "/access_codes/list", M::GET, codes::list);
    let r = route(r, "/access_codes/get", M::GET, codes::get);
    let r = route(
        r,
        "/access_codes/update",
        M::PATCH.or(M::PUT),
        codes::update,
    );
    let r = route(r, "/access_codes/delete", M::DELETE, codes::delete);
    let r = route(
        r,
        "/access_codes/create_multiple",
        M::PUT,
        codes::create_multiple,
    );
    let r = route(
        r,
        "/access_codes/update_multiple",
        M::PATCH,
        codes::update_multiple,
    );
    let r = route(
        r,
        "/access_codes/generate_code",
        M::GET,
        codes::generate_code,
    );
    let r = route(r, "/access_codes/unmanaged/list", M::GET, unmanaged::list);
    let r = route(r, "/access_codes/unmanaged/get", M::GET, unmanaged::get);
    let r = route(
        r,
        "/access_codes/unmanaged/convert_to_managed",
        M::PATCH,
        unmanaged::convert,
    );
    let r = route(
        r,
        "/access_codes/unmanaged/delete",
        M::DELETE,
        unmanaged::delete,
    );
    let r = route(
        r,
        "/connected_accounts/list",
        M::GET,
        resources::accounts_list,
    );
    let r = route(
        r,
        "/connected_accounts/get",
        M::GET,
        resources::accounts_get,
    );
    let r = route(r, "/events/list", M::GET, resources::events_list);
    let r = route(r, "/events/get", M::GET, resources::events_get);
    let r = route(r, "/webhooks/create", M::POST, resources::webhooks_create);
    let r = route(r, "/webhooks/list", M::GET, resources::webhooks_list);
    let r = route(r, "/webhooks/get", M::GET, resources::webhooks_get);
    let r = route(r, "/webhooks/update", M::PUT, resources::webhooks_update);
    let r = route(r, "/webhooks/delete", M::DELETE, resources::webhooks_delete);
    Router::new().nest("/seam", r.fallback(resources::unknown))
}

/// `path` answering `method` and POST.
fn route<H, T>(
    r: Router<AppState>,
    path: &str,
    method: MethodFilter,
    handler: H,
) -> Router<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    r.route(
        path,
        on(method.or(MethodFilter::POST), handler).fallback(resources::wrong_method),
    )
}
