//! `/oauth2/token` and the checks every `/v3` call passes first.

use serde_json::{Value, json};

use super::errors::ApiErr;
use super::params::Params;
use super::world::{AccessToken, RefreshToken, World};
use crate::wall_ms;

/// The window the `date` parameter must fall in, in milliseconds (errcode 80000 outside).
const DATE_WINDOW_MS: i64 = 300_000;

pub fn token(w: &mut World, p: &Params) -> Result<Value, ApiErr> {
    // Both spellings work in production (TTLock's OAuth documentation).
    let client_id = p
        .either("clientId", "client_id")
        .ok_or(ApiErr::code(10000))?;
    let secret = w.apps.get(client_id).ok_or(ApiErr::code(10000))?;
    if p.either("clientSecret", "client_secret") != Some(secret.as_str()) {
        return Err(ApiErr::code(10001));
    }
    let client_id = client_id.to_owned();
    // grant_type is optional for the password grant (the newer docs omit it).
    match p.str("grant_type").unwrap_or("password") {
        "password" => {
            w.count_call("/oauth2/token#password");
            let username = p.required("username")?;
            let password = p.required("password")?;
            if password.len() != 32 || !password.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiErr::code(30005));
            }
            let user = w.users.get(username).ok_or(ApiErr::code(10007))?;
            // Upper-case hex is accepted: the docs ask for lower case but do not say the cloud
            // refuses the other.
            if !user.password_md5.eq_ignore_ascii_case(password) {
                return Err(ApiErr::code(10007));
            }
            let uid = user.uid;
            Ok(issue(w, uid, client_id, true))
        }
        "refresh_token" => {
            w.count_call("/oauth2/token#refresh_token");
            let given = p.required("refresh_token")?;
            let stored = w.refresh_tokens.get_mut(given).ok_or(ApiErr::code(10011))?;
            if stored.client_id != client_id {
                return Err(ApiErr::code(10011));
            }
            let reused = std::mem::replace(&mut stored.used, true);
            let (uid, successor) = (stored.uid, stored.successor.clone());
            if reused {
                // Counted so that tests see a token renewed twice. When the first renewal's
                // token was never presented, its answer never reached a holder (the caller
                // died or the answer was lost): renewing again is the only way on, and is
                // counted apart.
                let lost = successor
                    .and_then(|a| w.tokens.get(&a))
                    .is_some_and(|t| !t.used);
                w.count_call(if lost {
                    "/oauth2/token#refresh_token reused after a lost answer"
                } else {
                    "/oauth2/token#refresh_token reused"
                });
            }
            // Whether a refresh retires the previous tokens is unconfirmed; the fake keeps them
            // working (the lenient reading), so a client that stores every new pair is right
            // either way.
            let body = issue(w, uid, client_id, false);
            if !reused {
                let access = body["access_token"].as_str().map(str::to_owned);
                if let Some(stored) = w.refresh_tokens.get_mut(given) {
                    stored.successor = access;
                }
            }
            Ok(body)
        }
        _ => Err(ApiErr::code(10010)),
    }
}

fn issue(w: &mut World, uid: i64, client_id: String, with_uid: bool) -> Value {
    let access = w.rng.hex(32);
    let refresh = w.rng.hex(32);
    let ttl = w.config.token_ttl_s;
    let expires_at_ms = w.now_ms() + ttl * 1000;
    w.tokens.insert(
        access.clone(),
        AccessToken {
            uid,
            client_id: client_id.clone(),
            expires_at_ms,
            used: false,
        },
    );
    w.refresh_tokens.insert(
        refresh.clone(),
        RefreshToken {
            uid,
            client_id,
            used: false,
            successor: None,
        },
    );
    let mut body = json!({
        "access_token": access,
        "refresh_token": refresh,
        "openid": uid,
        "scope": "user,key,room",
        "token_type": "Bearer",
        "expires_in": ttl,
    });
    // The refresh grant's answer carries no uid (§3.2).
    if with_uid {
        body["uid"] = json!(uid);
    }
    body
}

/// The common `/v3` checks, in the order the notes suggest: client id, token, date.
pub fn authenticate(w: &mut World, p: &Params) -> Result<i64, ApiErr> {
    let client_id = p
        .either("clientId", "client_id")
        .ok_or(ApiErr::code(10000))?;
    if !w.apps.contains_key(client_id) {
        return Err(ApiErr::code(10000));
    }
    let now = w.now_ms();
    let token = p.str("accessToken").ok_or(ApiErr::code(10003))?;
    let token = w.tokens.get_mut(token).ok_or(ApiErr::code(10003))?;
    if token.client_id != client_id {
        return Err(ApiErr::code(10003));
    }
    if now >= token.expires_at_ms {
        return Err(ApiErr::code(10004));
    }
    token.used = true;
    // `date` is checked against the wall clock, not the simulated one: a caller cannot know
    // how far a test moved the fake's clock, while the real cloud and its callers share time.
    let date = p.int("date").map_err(|_| ApiErr::code(80000))?;
    match date {
        Some(d) if (d - wall_ms()).abs() <= DATE_WINDOW_MS => Ok(token.uid),
        _ => Err(ApiErr::code(80000)),
    }
}
