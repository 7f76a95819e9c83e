//! Events a vendor posts on its own (SwitchBot's), at `/vendor-hooks/{vendor}/{connection}/{secret}`.
//! The vendor signs nothing, so the path's secret (derived from the master key for each
//! connection) is what tells a real event from anyone's. An event is never taken for the truth:
//! it only brings forward the reconciliation of the locks it names and the check of their codes
//! waiting on the vendor, which read the vendor as they always do. A service that never
//! receives one (behind NAT, or the vendor silent) reaches the same state at its own pace.

use lockbridge_core::ids::ConnectionId;
use lockbridge_core::model::{Connection, Provider};
use subtle::ConstantTimeEq;

use crate::connections::call;
use crate::{AppError, AppResult, Service};

/// The path `conn`'s vendor posts its events to (its secret included: show it to admins only).
pub fn path(state: &Service, conn: &Connection) -> String {
    format!(
        "/vendor-hooks/{}/{}/{}",
        conn.provider,
        conn.id,
        state.store.hook_secret(conn.id)
    )
}

/// An event posted for `connection`: answers how many of its locks will be looked at sooner.
/// An unknown vendor, connection or secret is `NotFound`, all alike.
pub async fn received(
    state: &Service,
    vendor: &str,
    connection: &str,
    secret: &str,
    body: &[u8],
) -> AppResult<usize> {
    let not_found = || AppError::NotFound("vendor hook");
    let provider: Provider = vendor.parse().map_err(|_| not_found())?;
    let id: ConnectionId = connection.parse().map_err(|_| not_found())?;
    let expected = state.store.hook_secret(id);
    if !bool::from(expected.as_bytes().ct_eq(secret.as_bytes())) {
        return Err(not_found());
    }
    let conn = state
        .store
        .connection_by_id(id)
        .await?
        .filter(|c| c.provider == provider)
        .ok_or_else(not_found)?;
    let api = state.providers.get(provider)?;
    let hooks = api.hooks_api()?;
    let locks = hooks.locks_in(&conn, body).await?;
    let sooner = state
        .store
        .look_sooner(conn.id, &locks, state.now())
        .await?;
    tracing::info!(connection = %conn.id, %provider, locks = sooner.len(), "the vendor posted an event");
    Ok(sooner.len())
}

/// Points `conn`'s vendor account at this service's hook for it, under `public_url` (how the
/// vendor reaches the service). Answers the URL registered and the one it replaced.
pub async fn register(
    state: &Service,
    conn: &Connection,
    public_url: &str,
    replace: bool,
) -> AppResult<(String, Option<String>)> {
    let base = public_url.trim().trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) || base.contains(['?', '#']) {
        return Err(AppError::validation(
            "public_url",
            "must be the service's http:// or https:// address, without query or fragment",
        ));
    }
    let url = format!("{base}{}", path(state, conn));
    let replaced = call(state, conn, |api| {
        let url = url.clone();
        async move { api.hooks_api()?.register(conn, &url, replace).await }
    })
    .await?;
    Ok((url, replaced))
}
