//! Webhook endpoints, their deliveries, and the Standard Webhooks signature
//! (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, the key being the
//! base64 part of a `whsec_` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::ids::{DeliveryId, EventId, OrgId, WebhookId};
use crate::time::Millis;

/// A webhook endpoint as answered (its secret never is, but at creation and rotation).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    /// The event types delivered (`access_code.set`, `lock.*`…); empty: every type.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// The body sent: `lockbridge` (`{id, type, occurred_at, actor, data}`) or `seam` (Seam's
    /// event object, for endpoints made through `/seam`, whose `event_types` are Seam's names).
    pub format: WebhookFormat,
    /// Since when every attempt failed; after 5 days of that the endpoint is disabled.
    pub failing_since: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The body a webhook endpoint receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    #[default]
    Lockbridge,
    Seam,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Lockbridge => "lockbridge",
            WebhookFormat::Seam => "seam",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookFormat> {
        match s {
            "lockbridge" => Some(WebhookFormat::Lockbridge),
            "seam" => Some(WebhookFormat::Seam),
            _ => None,
        }
    }
}

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
    /// Not sent: another attempt of the same event to the same endpoint succeeded first (a
    /// retry by hand while a scheduled one waited).
    Superseded,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Succeeded,
            DeliveryStatus::Failed,
            DeliveryStatus::Superseded,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One attempt to deliver an event to an endpoint.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: DeliveryId,
    pub org_id: OrgId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub status: DeliveryStatus,
    /// The endpoint's HTTP status, when it answered.
    pub response_status: Option<u16>,
    pub duration_ms: Option<u64>,
    /// Why it failed, in lockbridge's words (never the endpoint's body).
    pub error: Option<String>,
    /// When this (pending) attempt is due, or (failed) when the next one is.
    pub next_attempt_at: Option<Millis>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

/// Whether `event_type` is one of `patterns` (exact names, `prefix.*`, or `*`); every type when
/// there are none.
pub fn matches(patterns: &[String], event_type: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => p == event_type,
        })
}

/// Checks an `event_types` list: each a known type, `prefix.*` of one, or `*`.
pub fn check_patterns(patterns: &[String], known: &[&str]) -> Result<(), String> {
    for p in patterns {
        let ok = match p.strip_suffix('*') {
            Some("") => true,
            Some(prefix) => prefix.ends_with('.') && known.iter().any(|k| k.starts_with(prefix)),
            None => known.contains(&p.as_str()),
        };
        if !ok {
            return Err(format!(
                "{p:?} is not an event type, `prefix.*` of one, or `*`"
            ));
        }
    }
    Ok(())
}

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    // The operating system's generator; a machine without one cannot sign anything anyway.
    getrandom::fill(&mut key).unwrap_or_else(|e| panic!("no random source: {e}"));
    format!("whsec_{}", STANDARD.encode(key))
}

/// The key of a `whsec_…` secret (the prefix is optional, as in the reference libraries).
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()
}

/// `v1,<signature>` of one message under one secret; `None` for a secret that is not base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_of(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Why a delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the webhook-timestamp is more than {0} seconds away from now")]
    Stale(i64),
    #[error("no signature matches")]
    NoMatch,
}

/// Checks a delivery: its timestamp within `tolerance_s` of `now_s`, and one of the
/// space-separated `v1,` signatures made with `secret`.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
    if (now_s - ts).abs() > tolerance_s {
        return Err(VerifyError::Stale(tolerance_s));
    }
    let key = key_of(secret).ok_or(VerifyError::NoMatch)?;
    let signed = format!("{id}.{ts}.");
    for candidate in signatures.split(' ') {
        let Some(sig) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(sig) = STANDARD.decode(sig) else {
            continue;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            continue;
        };
        mac.update(signed.as_bytes());
        mac.update(body);
        // Constant-time comparison.
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_published_test_vector() {
        assert_eq!(sign(SECRET, ID, TS, BODY).as_deref(), Some(EXPECTED));
        assert_eq!(
            verify(SECRET, ID, "1614265330", EXPECTED, BODY, TS, 300),
            Ok(())
        );
        let both = format!("v1,bm9wZQ== {EXPECTED}");
        assert_eq!(
            verify(SECRET, ID, "1614265330", &both, BODY, TS, 300),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, ID, "1614265330", EXPECTED, b"{}", TS, 300),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(SECRET, ID, "1614265330", EXPECTED, BODY, TS + 301, 300),
            Err(VerifyError::Stale(300))
        );
    }

    #[test]
    fn secrets_and_patterns() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(key_of(&s).map(|k| k.len()), Some(32));
        assert_ne!(s, new_secret());
        let p = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(matches(&[], "lock.unlocked"));
        assert!(matches(&p(&["lock.*"]), "lock.unlocked"));
        assert!(!matches(&p(&["lock.*"]), "access_code.set"));
        assert!(matches(&p(&["*"]), "access_code.set"));
        assert!(matches(&p(&["access_code.set"]), "access_code.set"));
        let known = ["access_code.set", "lock.unlocked"];
        assert!(check_patterns(&p(&["lock.*", "access_code.set", "*"]), &known).is_ok());
        assert!(check_patterns(&p(&["lock"]), &known).is_err());
        assert!(check_patterns(&p(&["nothing.*"]), &known).is_err());
        assert!(check_patterns(&p(&["lock*"]), &known).is_err());
    }
}
