//! The OAuth token endpoint (Azure AD B2C's path): `grant_type=refresh_token` rotates the
//! access token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::TedeeSim;
use super::wire::envelope;

/// The OAuth token endpoint (Azure AD B2C's path), for `grant_type=refresh_token`.
pub(crate) async fn oauth_token(State(sim): State<TedeeSim>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let bad = |e: &str, d: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": e, "error_description": d })),
        )
            .into_response()
    };
    if get("grant_type") != "refresh_token" {
        return bad("unsupported_grant_type", "Only refresh_token is simulated");
    }
    let mut w = sim.world();
    w.count_call("POST /oauth2/v2.0/token");
    let now = w.now_ms();
    let Some(old) = w
        .refresh_tokens
        .get(get("refresh_token"))
        .filter(|c| c.expires_at_ms.is_none_or(|at| at > now))
        .cloned()
    else {
        return bad(
            "invalid_grant",
            "AADB2C90080: The provided grant has expired or is invalid.",
        );
    };
    let ttl = 3600;
    let (access, refresh) = w.issue_oauth(old.user_id, old.scopes, ttl);
    let out = json!({
        "access_token": access, "token_type": "Bearer", "expires_in": ttl.to_string(),
        "refresh_token": refresh, "refresh_token_expires_in": 1_209_600,
        "not_before": (now / 1000).to_string(),
    });
    envelope(StatusCode::OK, &out)
}
