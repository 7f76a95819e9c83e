//! Tuya's wire: signature and token checks, the envelope, and the door-lock routes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::TuyaSim;
use super::auth::{header, token, verify};
use super::locks::business;
use super::world::World;
use crate::faults::Failure;

/// A refusal: Tuya's code and message (on HTTP 200).
pub(crate) struct Refusal(pub(super) i64, pub(super) String);

pub(super) fn refuse(code: i64, msg: impl Into<String>) -> Refusal {
    Refusal(code, msg.into())
}

/// Codes for lock business failures Tuya does not publish (lockbridge's own choice).
pub const TICKET_INVALID: i64 = 40_101;
pub const PASSWORD_EXISTS: i64 = 40_102;
pub const PASSWORD_STORE_FULL: i64 = 40_103;

pub(super) type Answer = Result<Value, Refusal>;

fn envelope(w: &mut World, answer: Answer) -> Response {
    let t = w.now_ms();
    let tid = w.rng.hex(32);
    let body = match answer {
        Ok(result) => json!({ "success": true, "result": result, "t": t, "tid": tid }),
        Err(Refusal(code, msg)) => {
            json!({ "success": false, "code": code, "msg": msg, "t": t, "tid": tid })
        }
    };
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The route template a request counts under (`GET /v1.0/devices/{id}/door-lock/open-logs`).
fn template(method: &Method, version: &str, segs: &[&str]) -> String {
    let mut parts = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        let prev = if i > 0 { segs[i - 1] } else { "" };
        let is_param = matches!(
            prev,
            "devices" | "temp-passwords" | "temp-password" | "users" | "token"
        ) && !matches!(*s, "devices");
        parts.push(if is_param { "{id}" } else { s });
    }
    format!("{} /{version}/{}", method.as_str(), parts.join("/"))
}

/// Every request.
pub(crate) async fn api(
    State(sim): State<TuyaSim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (version, rest) = match segs.split_first() {
        Some((v, rest)) => (*v, rest),
        None => ("", &[][..]),
    };
    let route = template(&method, version, rest);
    let failure = crate::control::prelude(&sim, &route).await;
    let mut w = sim.world();
    match failure {
        Some(Failure::HttpStatus(s)) => {
            return (
                StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_GATEWAY),
                "simulated outage",
            )
                .into_response();
        }
        Some(Failure::Errcode(code)) => {
            return envelope(&mut w, Err(refuse(code, "simulated fault")));
        }
        None => {}
    }
    let token_call = version == "v1.0" && rest.first() == Some(&"token");
    let client = match verify(&mut w, &method, &path, &query, &headers, &body, token_call) {
        Ok(c) => c,
        Err(r) => return envelope(&mut w, Err(r)),
    };
    if token_call {
        let answer = token(&mut w, &client, &method, rest, &query);
        return envelope(&mut w, answer);
    }
    let access = header(&headers, "access_token").to_owned();
    let now = w.now_ms();
    let checked = match w.tokens.get_mut(&access) {
        _ if access.is_empty() => Err(refuse(1002, "access_token is null")),
        None => Err(refuse(1011, "token invalid")),
        Some(t) if t.client_id != client => Err(refuse(1011, "token invalid")),
        Some(t) if t.superseded => Err(refuse(1012, "token status is invalid")),
        Some(t) if t.expires_at_ms <= now => Err(refuse(1010, "token is expired")),
        Some(t) => {
            t.used = true;
            Ok(())
        }
    };
    let answer =
        checked.and_then(|()| business(&mut w, &client, &method, version, rest, &query, &body));
    envelope(&mut w, answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuya::crypto::{open_password, seal_ticket_key};

    #[test]
    fn the_ticket_vector() {
        let key = *b"9a3f4c1e7b2d8e60";
        let sealed = seal_ticket_key("4OHBOnWOqaEC1mWXOpVL3yV50s0qGSRC", &key);
        assert_eq!(
            sealed,
            "6D84C05BA0BAA4C61242CC349AF8DFFA9173247C8D56147E406EBA159F6E577A"
        );
        assert_eq!(
            open_password(&key, "D77B4B6C5A28B618D1F05E294AFB30FC").as_deref(),
            Some("1234567")
        );
        assert_eq!(
            open_password(&key, "61be96547035b7d99afb11485ed25627").as_deref(),
            Some("123456")
        );
        assert!(open_password(&key, "00").is_none());
    }

    #[test]
    fn templates() {
        let t = template(
            &Method::GET,
            "v1.0",
            &["devices", "bfabc", "door-lock", "temp-password", "12"],
        );
        assert_eq!(t, "GET /v1.0/devices/{id}/door-lock/temp-password/{id}");
        let t = template(
            &Method::PUT,
            "v1.0",
            &[
                "devices",
                "bfabc",
                "door-lock",
                "temp-passwords",
                "12",
                "freeze-password",
            ],
        );
        assert_eq!(
            t,
            "PUT /v1.0/devices/{id}/door-lock/temp-passwords/{id}/freeze-password"
        );
    }
}
