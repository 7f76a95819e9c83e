//! Operations on connections shared by the routes and the workers.

use std::future::Future;
use std::sync::Arc;

use lockbridge_core::Vendor;
use lockbridge_core::credentials::{Credentials, Field};
use lockbridge_core::ids::{ConnectionId, OrgId};
use lockbridge_core::model::{Connection, ConnectionStatus, Lock, Provider};
use lockbridge_core::provider::{ErrorKind, ProviderResult};
use lockbridge_store::SyncCounts;
use serde_json::{Map, Value};

use crate::Service;
use crate::error::{AppError, AppResult};
use crate::health::Health;

/// Calls the connection's vendor. A connection whose credentials are known to be broken is
/// refused at once; one the vendor stops accepting turns `needs_reauth`.
pub async fn call<T, F, Fut>(state: &Service, conn: &Connection, f: F) -> AppResult<T>
where
    F: FnOnce(Arc<dyn Vendor>) -> Fut,
    Fut: Future<Output = ProviderResult<T>>,
{
    if conn.status == ConnectionStatus::NeedsReauth {
        return Err(AppError::NeedsReauth);
    }
    let api = state.providers.get(conn.provider)?;
    match f(api).await {
        Err(e) if e.kind == ErrorKind::AuthFailed => {
            tracing::warn!(connection = %conn.id, error = %lockbridge_core::provider::error_chain(&e), "credentials stopped working");
            let e = AppError::from(e);
            state
                .store
                .set_connection_status(
                    conn.id,
                    ConnectionStatus::NeedsReauth,
                    Some(&e.public_message()),
                )
                .await?;
            Err(e)
        }
        other => other.map_err(AppError::from),
    }
}

/// Records what an answer to a command sent to `lock` says of its reach: a vendor error that
/// the lock or its gateway cannot be reached marks it offline at once (with its event); an
/// answer that reached it (`None`) brings it back. Other errors say nothing of it.
pub async fn note_reach(state: &Service, lock: &Lock, failed: Option<ErrorKind>) {
    let unreachable = match failed {
        None => None,
        Some(ErrorKind::DeviceOffline) => Some("device_offline"),
        Some(ErrorKind::GatewayOffline) => Some("gateway_offline"),
        Some(_) => return,
    };
    let marked = lock
        .errors
        .iter()
        .any(|n| n.code == "device_offline" || n.code == "gateway_offline");
    if unreachable.is_none() && lock.online && !marked {
        return;
    }
    match state
        .store
        .note_reach(lock.id, unreachable, &Health, state.now())
        .await
    {
        Ok(true) => state.locks.invalidate(lock.org_id),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(lock = %lock.id, error = %lockbridge_core::provider::error_chain(&e), "could not record a lock's reach");
        }
    }
}

/// Credential fields from a request body: only the provider's names, only strings.
pub fn parse_credentials(
    state: &Service,
    provider: Provider,
    body: &Map<String, Value>,
    prefix: &str,
) -> AppResult<Credentials> {
    let allowed = state.providers.get(provider)?.credential_fields();
    let mut out = Credentials::new();
    for (name, value) in body {
        if !allowed.iter().any(|f| f.name == name) {
            let names: Vec<&str> = allowed.iter().map(|f| f.name).collect();
            return Err(AppError::validation(
                format!("{prefix}{name}"),
                format!(
                    "is not a {provider} credential (expected {})",
                    names.join(", ")
                ),
            ));
        }
        let Value::String(v) = value else {
            return Err(AppError::validation(
                format!("{prefix}{name}"),
                "must be a string",
            ));
        };
        out.set(name, v.trim());
    }
    Ok(out)
}

/// Names the first credential neither given nor stored.
pub fn require_all(fields: &[Field], c: &Credentials, prefix: &str) -> AppResult<()> {
    for f in fields.iter().filter(|f| !f.optional) {
        let present = c.get(f.name).is_some() || f.stored_as.is_some_and(|n| c.get(n).is_some());
        if !present {
            return Err(AppError::validation(
                format!("{prefix}{}", f.name),
                "is required",
            ));
        }
    }
    Ok(())
}

pub fn check_base_url(url: Option<&str>) -> AppResult<Option<String>> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(None),
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            Ok(Some(u.trim_end_matches('/').to_owned()))
        }
        Some(_) => Err(AppError::validation(
            "base_url",
            "must start with http:// or https://",
        )),
    }
}

/// Verifies `credentials` with the vendor and stores a new connection.
pub async fn create(
    state: &Service,
    org: OrgId,
    provider: Provider,
    name: Option<String>,
    base_url: Option<String>,
    credentials: &Credentials,
) -> AppResult<Connection> {
    let api = state.providers.get(provider)?;
    // A field that picks the vendor's host (Tuya's `region`) wins over the configured default
    // host, which is for connections that pick none.
    let picks_host = api
        .credential_fields()
        .iter()
        .any(|f| f.picks_host && credentials.get(f.name).is_some());
    let base_url = base_url.or_else(|| {
        (!picks_host)
            .then(|| state.settings.base_urls.get(&provider).cloned())
            .flatten()
    });
    let verified = api.verify(base_url.as_deref(), credentials).await?;
    let now = state.now();
    let conn = Connection {
        id: ConnectionId::new(),
        org_id: org,
        provider,
        name: name.unwrap_or_else(|| format!("{provider} account")),
        base_url,
        status: ConnectionStatus::Active,
        credentials: verified.credentials,
        token_expires_at: verified.token_expires_at,
        credentials_version: 1,
        last_sync_at: None,
        last_error: None,
        on_external_change: Default::default(),
        created_at: now,
        updated_at: now,
    };
    state.store.insert_connection(&conn).await?;
    Ok(conn)
}

/// The credentials-update rule for any vendor: supplied non-empty fields over the stored ones,
/// verified with the vendor, then written in one statement. A refusal changes nothing.
pub async fn update_credentials(
    state: &Service,
    conn: &Connection,
    supplied: &Credentials,
    actor: &lockbridge_core::events::Actor,
) -> AppResult<Connection> {
    let api = state.providers.get(conn.provider)?;
    let mut merged = conn.credentials.clone();
    merged.merge(supplied);
    // A field given anew replaces the derived form the adapter kept of it (TTLock's password
    // and its MD5): the adapter derives it again.
    for field in api.credential_fields() {
        if let Some(kept) = field.stored_as
            && supplied.get(field.name).is_some()
        {
            merged.remove(kept);
        }
    }
    let verified = api.verify(conn.base_url.as_deref(), &merged).await?;
    state
        .store
        .replace_credentials(
            conn.id,
            &verified.credentials,
            verified.token_expires_at,
            actor,
        )
        .await?;
    state
        .store
        .connection_by_id(conn.id)
        .await?
        .ok_or(AppError::NotFound("connection"))
}

/// A lock's codes as the vendor lists them, their text cleaned.
pub async fn list_codes(
    state: &Service,
    conn: &Connection,
    lock: &lockbridge_core::Lock,
) -> AppResult<Vec<lockbridge_core::provider::ProviderCode>> {
    let found = call(state, conn, |api| async move {
        api.code_api()?.list_codes(conn, lock).await
    })
    .await?;
    Ok(found.into_iter().map(|c| c.cleaned()).collect())
}

/// Pulls the vendor's locks and gateways into the store.
pub async fn sync(state: &Service, conn: &Connection) -> AppResult<SyncCounts> {
    let devices = call(state, conn, |api| async move { api.devices(conn).await })
        .await?
        .cleaned();
    let counts = state
        .store
        .apply_sync(conn, &devices, &Health, state.now())
        .await?;
    state.locks.invalidate(conn.org_id);
    Ok(counts)
}
