//! Who is calling: `client_id`, `t`, the signature (and replays), and the token endpoints.

use axum::http::{HeaderMap, Method};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::crypto::hex;
use super::locks::q;
use super::wire::{Answer, Refusal, refuse};
use super::world::World;

pub(super) fn header<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Checks `client_id`, `t`, `sign` (and that the request is not a replay). Answers the project's
/// client id.
pub(super) fn verify(
    w: &mut World,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
    token_call: bool,
) -> Result<String, Refusal> {
    let client_id = header(headers, "client_id");
    let Some(project) = w.projects.get(client_id).cloned() else {
        return Err(refuse(1005, "clientId invalid"));
    };
    let t = header(headers, "t");
    let Ok(t_ms) = t.parse::<i64>() else {
        return Err(refuse(1105, "missing the header: t"));
    };
    // The wall clock, not the simulated one: callers cannot know how far a test moved it.
    if (t_ms - crate::wall_ms()).abs() > w.config.t_window_ms {
        return Err(refuse(1013, "request time is invalid"));
    }
    let nonce = header(headers, "nonce");
    let signed_headers: String = header(headers, "Signature-Headers")
        .split(':')
        .filter(|n| !n.is_empty())
        .map(|n| format!("{n}:{}\n", header(headers, n)))
        .collect();
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let url = if pairs.is_empty() {
        path.to_owned()
    } else {
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{path}?{}", q.join("&"))
    };
    let body_hash = hex::encode(Sha256::digest(body));
    let sts = format!("{}\n{body_hash}\n{signed_headers}\n{url}", method.as_str());
    let token = if token_call {
        ""
    } else {
        header(headers, "access_token")
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(project.secret.as_bytes()) else {
        return Err(refuse(1004, "sign invalid"));
    };
    mac.update(format!("{client_id}{token}{t}{nonce}{sts}").as_bytes());
    let expected = hex(&mac.finalize().into_bytes());
    let sign = header(headers, "sign");
    if !sign.eq_ignore_ascii_case(&expected) {
        return Err(refuse(1004, "sign invalid"));
    }
    // The same signed request again (same nonce and signature) is a replay. Clients that keep
    // one nonce for every request still sign each with a new `t`, so they pass.
    if !nonce.is_empty() {
        let now = crate::wall_ms();
        while let Some((at, _)) = w.seen_order.front()
            && *at < now - 2 * w.config.t_window_ms
        {
            if let Some((_, key)) = w.seen_order.pop_front() {
                w.seen.remove(&key);
            }
        }
        let key = format!("{client_id}:{nonce}:{sign}");
        if !w.seen.insert(key.clone()) {
            return Err(refuse(1004, "sign invalid: the request was replayed"));
        }
        w.seen_order.push_back((now, key));
    }
    Ok(project.client_id)
}

pub(super) fn token_result(w: &World, access: &str) -> Value {
    let t = &w.tokens[access];
    let uid = w
        .projects
        .get(&t.client_id)
        .map(|p| p.uid.clone())
        .unwrap_or_default();
    json!({
        "access_token": access,
        "refresh_token": t.refresh_token,
        "expire_time": ((t.expires_at_ms - w.now_ms()) / 1000).max(0),
        "uid": uid,
    })
}

/// `GET /v1.0/token?grant_type=1` (the live token and its remaining seconds, or a new one) and
/// `GET /v1.0/token/{refresh_token}` (rotates both; the old pair stops working).
pub(super) fn token(
    w: &mut World,
    client: &str,
    method: &Method,
    rest: &[&str],
    query: &[(String, String)],
) -> Answer {
    if method != Method::GET {
        return Err(refuse(1108, "uri path invalid"));
    }
    let now = w.now_ms();
    match rest {
        ["token"] => {
            if q(query, "grant_type") != Some("1") {
                return Err(refuse(1003, "grant type invalid"));
            }
            let live = w
                .tokens
                .iter()
                .find(|(_, t)| t.client_id == client && !t.superseded && t.expires_at_ms > now)
                .map(|(a, _)| a.clone());
            let access = match live {
                Some(a) => a,
                None => w.issue_token(client).0,
            };
            *w.calls.entry("token grants".into()).or_default() += 1;
            // A grant that follows a renewal refused for a lost answer is the way back, and
            // counted apart from one taken while the project's pair was in a holder's hands.
            if let Some(n) = w.lost_renewals.get_mut(client).filter(|n| **n > 0) {
                *n -= 1;
                *w.calls
                    .entry("token grants after a lost renewal".into())
                    .or_default() += 1;
            }
            Ok(token_result(w, &access))
        }
        ["token", refresh] => {
            let Some(old) = w.refresh.remove(*refresh) else {
                note_superseded_refresh(w, client, refresh);
                return Err(refuse(1012, "token status is invalid"));
            };
            if w.tokens.get(&old).is_none_or(|t| t.client_id != client) {
                return Err(refuse(1012, "token status is invalid"));
            }
            let (access, _) = w.issue_token(client);
            if let Some(t) = w.tokens.get_mut(&old) {
                t.superseded = true;
                t.successor = Some(access.clone());
            }
            *w.calls.entry("token refreshes".into()).or_default() += 1;
            Ok(token_result(w, &access))
        }
        _ => Err(refuse(1108, "uri path invalid")),
    }
}

/// A refresh token presented again after its renewal: when the pair that renewal issued was
/// never used, its answer never reached a holder (the caller stopped, or the answer was lost),
/// and the refusal is counted as such; otherwise a caller renewed from a pair it should have
/// known was replaced.
fn note_superseded_refresh(w: &mut World, client: &str, refresh: &str) {
    let Some(replaced) = w
        .tokens
        .values()
        .find(|t| t.client_id == client && t.superseded && t.refresh_token == refresh)
    else {
        return;
    };
    let lost = replaced
        .successor
        .as_ref()
        .and_then(|a| w.tokens.get(a))
        .is_some_and(|t| !t.used);
    if lost {
        *w.lost_renewals.entry(client.to_owned()).or_default() += 1;
        *w.calls
            .entry("token refreshes refused after a lost answer".into())
            .or_default() += 1;
    } else {
        *w.calls
            .entry("token refreshes of a replaced pair".into())
            .or_default() += 1;
    }
}
