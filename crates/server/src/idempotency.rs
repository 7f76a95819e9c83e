//! `Idempotency-Key` on every `POST` that changes something. Codes, grants and jobs keep the
//! key on what they create (a retry after a crash finds it there); every other `POST` — unlock,
//! lock, a test event, a sync, a retry by hand… — is answered once per key: the first request
//! claims the key, its answer is kept for a day, and the same request again (same method, path
//! and body) gets that answer with `Idempotent-Replayed: true`. The key with another request is
//! 422 `idempotency_key_reused`; while the first is still being answered, 409
//! `request_in_progress`. A 5xx answer is not kept: the request may be tried again.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lockbridge_store::Claim;
use sha2::Digest;

use crate::error::ApiError;
use crate::routes::access_codes::idempotency_key;
use crate::state::AppState;

/// Routes that keep the key on what they create.
fn keeps_its_own(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        parts.as_slice(),
        ["", "v1", "grants"] | ["", "v1", "jobs"] | ["", "v1", "locks", _, "access-codes"]
    )
}

pub async fn replay(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST
        || !req.headers().contains_key("idempotency-key")
        || keeps_its_own(req.uri().path())
    {
        return next.run(req).await;
    }
    let key = match idempotency_key(req.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(req).await,
        Err(e) => return e.into_response(),
    };
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim().to_owned());
    let caller = match secret {
        Some(secret) => match s.keys.lookup(&s.store, &secret, s.now()).await {
            Ok(found) => found,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    // Without a valid key the route itself refuses the request.
    let Some(caller) = caller else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, s.edge.max_body).await {
        Ok(b) => b,
        Err(_) => return ApiError::BodyTimeout.into_response(),
    };
    let mut digest = sha2::Sha256::new();
    digest.update(format!("POST {}\n", parts.uri.path()));
    digest.update(&bytes);
    let fingerprint = format!("{:x}", digest.finalize());
    let now = s.now();
    let stale = now - 2 * s.edge.request_timeout.as_millis() as i64;
    let claim = s
        .store
        .claim_idempotency_key(caller.org_id, &key, &fingerprint, now, stale)
        .await;
    match claim {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Claim::Reused) => ApiError::IdempotencyKeyReused.into_response(),
        Ok(Claim::Running { .. }) => ApiError::InProgress.into_response(),
        Ok(Claim::Answered { status, body }) => {
            let mut r = Response::new(Body::from(body));
            *r.status_mut() =
                axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
            r
        }
        Ok(Claim::Mine) => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, 16 << 20)
                .await
                .unwrap_or_default();
            let keep = (!parts.status.is_server_error())
                .then(|| (parts.status.as_u16(), String::from_utf8_lossy(&bytes)));
            let kept = s
                .store
                .keep_answer(
                    caller.org_id,
                    &key,
                    keep.as_ref().map(|(st, b)| (*st, b.as_ref())),
                )
                .await;
            if let Err(e) = kept {
                tracing::warn!(error = %lockbridge_core::provider::error_chain(&e), "could not keep an idempotent answer");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::keeps_its_own;

    #[test]
    fn codes_grants_and_jobs_keep_their_own_keys() {
        assert!(keeps_its_own("/v1/grants"));
        assert!(keeps_its_own("/v1/jobs"));
        assert!(keeps_its_own("/v1/locks/lock_1/access-codes"));
        assert!(!keeps_its_own("/v1/locks/lock_1/unlock"));
        assert!(!keeps_its_own("/v1/grants/grt_1/x"));
    }
}
