//! Configuration and the transport every call goes through: the `t`/`nonce`/`sign` headers,
//! the `{statusCode, body, message}` envelope, and the key list's passwords decrypted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::api::{Accepted, Device, DeviceList, Key, LockStatus, NewKey, WebhookConfig};
use crate::error::{ApiError, Error, ErrorKind, Result};

/// SwitchBot's API host.
pub const DEFAULT_BASE_URL: &str = "https://api.switch-bot.com";

/// Where and how the client talks to SwitchBot.
#[derive(Clone)]
pub struct Config {
    base_url: String,
    token: SecretString,
    secret: SecretString,
    timeout: Duration,
    upper_case_sign: bool,
    gate: Option<Arc<dyn RequestGate>>,
}

/// What every request passes before it leaves. SwitchBot counts each one against the
/// account's 10,000 a day; a gate shared by every client of the account (in every process)
/// keeps them together inside it. Without one, the client sends whenever asked.
pub trait RequestGate: Send + Sync {
    /// Waits until one more request may leave. `Err(wait)` when it should not wait that long:
    /// the request then fails with [`Error::Budget`] and is not sent.
    fn acquire(&self) -> Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + '_>>;

    /// SwitchBot said the account's requests are spent: nothing more may leave for `wait`.
    fn hold(&self, wait: Duration);
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("gate", &self.gate.is_some())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The account's open token and secret (SwitchBot app → Developer Options).
    pub fn new(token: impl Into<String>, secret: impl Into<String>) -> Self {
        Config {
            base_url: DEFAULT_BASE_URL.into(),
            token: SecretString::from(token.into()),
            secret: SecretString::from(secret.into()),
            timeout: Duration::from_secs(30),
            upper_case_sign: false,
            gate: None,
        }
    }

    /// Passes every request through `gate` first (the account's shared budget).
    pub fn request_gate(mut self, gate: Arc<dyn RequestGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The host (`https://api.switch-bot.com` by default); a trailing `/` or `/v1.1` is dropped.
    pub fn base_url(mut self, url: &str) -> Self {
        let url = url.trim().trim_end_matches('/');
        self.base_url = url.strip_suffix("/v1.1").unwrap_or(url).to_owned();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the signature upper-cased, as SwitchBot's prose and two of its samples have it.
    /// Off by default: every client deployed sends it unchanged, and an upper-cased one has
    /// been refused.
    pub fn upper_case_sign(mut self, on: bool) -> Self {
        self.upper_case_sign = on;
        self
    }
}

/// `Base64(HMAC-SHA256(secret, token + t + nonce))`, the `sign` header.
pub fn sign(token: &str, secret: &str, t: &str, nonce: &str) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(token.as_bytes());
    mac.update(t.as_bytes());
    mac.update(nonce.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A key's password: AES-128-CBC with PKCS#7 padding, the key the hex-decoded secret, the IV
/// the key's `iv` in hex, the ciphertext in Base64.
pub fn decrypt_password(secret: &str, key: &Key) -> Result<String> {
    let aes_key: [u8; 16] = hex::decode(secret.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or(Error::Decrypt("the secret is not 32 hex digits"))?;
    let iv: [u8; 16] = hex::decode(key.iv.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or(Error::Decrypt("the iv is not 32 hex digits"))?;
    let mut data = STANDARD
        .decode(key.password.trim())
        .map_err(|_| Error::Decrypt("the password is not Base64"))?;
    let plain = cbc::Decryptor::<aes::Aes128>::new(&aes_key.into(), &iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut data)
        .map_err(|_| Error::Decrypt("wrong secret, or a damaged password"))?;
    String::from_utf8(plain.to_vec()).map_err(|_| Error::Decrypt("the password is not text"))
}

/// Checks a new key before it is sent: 6 to 12 digits, a name, a period that ends after it
/// starts (SwitchBot accepts a reversed one and then fails silently on the device).
pub fn check_key(key: &NewKey) -> Result<()> {
    let p = &key.password;
    if !(6..=12).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidInput {
            field: "password",
            rule: "must be 6 to 12 digits".into(),
        });
    }
    if key.name.trim().is_empty() {
        return Err(Error::InvalidInput {
            field: "name",
            rule: "must not be empty".into(),
        });
    }
    if let Some((from, until)) = key.period
        && from >= until
    {
        return Err(Error::InvalidInput {
            field: "period",
            rule: "must end after it starts".into(),
        });
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status_code: i64,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    message: String,
}

/// How long nothing is sent after SwitchBot's burst refusal ("Too many Request"; its threshold
/// is not published, so the pause is a guess on the safe side).
const BURST_PAUSE: Duration = Duration::from_secs(10);

/// The time left until the next 00:00 UTC, when SwitchBot's day is assumed to start again (it
/// does not say when its count resets; a later reset is waited out by the next refusal).
pub fn until_utc_midnight(now: SystemTime) -> Duration {
    const DAY: u64 = 86_400_000;
    let ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Duration::from_millis(DAY - ms % DAY)
}

/// A client of one SwitchBot account. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SwitchBotClient {
    config: Arc<Config>,
    http: reqwest::Client,
}

impl SwitchBotClient {
    pub fn new(config: Config) -> Self {
        SwitchBotClient::with_http(config, reqwest::Client::new())
    }

    pub fn with_http(config: Config, http: reqwest::Client) -> Self {
        SwitchBotClient {
            config: Arc::new(config),
            http,
        }
    }

    /// Every physical device of the account, keypads with their key lists.
    pub async fn devices(&self) -> Result<Vec<Device>> {
        let list: DeviceList = self.call(Method::GET, "devices", None).await?;
        Ok(list.device_list)
    }

    /// A lock's status.
    pub async fn lock_status(&self, device: &str) -> Result<LockStatus> {
        let path = format!("devices/{}/status", segment(device)?);
        self.call(Method::GET, &path, None).await
    }

    /// Sends a command (`parameter` `"default"` unless given).
    pub async fn command(&self, device: &str, command: &str, parameter: Value) -> Result<Accepted> {
        let path = format!("devices/{}/commands", segment(device)?);
        let body = json!({"commandType": "command", "command": command, "parameter": parameter});
        let accepted: Option<Accepted> = self.call(Method::POST, &path, Some(body)).await?;
        Ok(accepted.unwrap_or_default())
    }

    pub async fn lock(&self, device: &str) -> Result<Accepted> {
        self.command(device, "lock", json!("default")).await
    }

    pub async fn unlock(&self, device: &str) -> Result<Accepted> {
        self.command(device, "unlock", json!("default")).await
    }

    /// Asks a keypad to store a passcode. SwitchBot's answer only says it accepted the command;
    /// the key shows in the keypad's `keyList` (with its id) when the keypad has it — or never.
    pub async fn create_key(&self, keypad: &str, key: &NewKey) -> Result<Accepted> {
        check_key(key)?;
        let (kind, from, until) = match key.period {
            Some((from, until)) => ("timeLimit", json!(from), json!(until)),
            None => ("permanent", Value::Null, Value::Null),
        };
        let mut parameter = json!({"name": key.name, "type": kind, "password": key.password});
        if !from.is_null() {
            parameter["startTime"] = from;
            parameter["endTime"] = until;
        }
        self.command(keypad, "createKey", parameter).await
    }

    /// Asks a keypad to delete a passcode; it is gone only once the `keyList` no longer has it
    /// (SwitchBot has answered success and kept the key).
    pub async fn delete_key(&self, keypad: &str, id: i64) -> Result<Accepted> {
        self.command(keypad, "deleteKey", json!({"id": id})).await
    }

    /// A key's password in clear.
    pub fn password(&self, key: &Key) -> Result<String> {
        decrypt_password(self.config.secret.expose_secret(), key)
    }

    /// Points the account's events at `url` (one URL per account).
    pub async fn setup_webhook(&self, url: &str) -> Result<()> {
        let body = json!({"action": "setupWebhook", "url": url, "deviceList": "ALL"});
        self.call::<Value>(Method::POST, "webhook/setupWebhook", Some(body))
            .await
            .map(drop)
    }

    /// The account's webhook URLs; a 190 answer (SwitchBot's, with no URL set) is none.
    pub async fn webhook_urls(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Urls {
            #[serde(default)]
            urls: Vec<String>,
        }
        let body = json!({"action": "queryUrl"});
        match self
            .call::<Option<Urls>>(Method::POST, "webhook/queryWebhook", Some(body))
            .await
        {
            Ok(found) => Ok(found.map(|u| u.urls).unwrap_or_default()),
            Err(Error::Api(e)) if e.status_code == 190 => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    pub async fn webhook_details(&self, urls: &[String]) -> Result<Vec<WebhookConfig>> {
        let body = json!({"action": "queryDetails", "urls": urls});
        self.call(Method::POST, "webhook/queryWebhook", Some(body))
            .await
    }

    pub async fn update_webhook(&self, url: &str, enable: bool) -> Result<()> {
        let body = json!({"action": "updateWebhook", "config": {"url": url, "enable": enable}});
        self.call::<Value>(Method::POST, "webhook/updateWebhook", Some(body))
            .await
            .map(drop)
    }

    pub async fn delete_webhook(&self, url: &str) -> Result<()> {
        let body = json!({"action": "deleteWebhook", "url": url});
        self.call::<Value>(Method::POST, "webhook/deleteWebhook", Some(body))
            .await
            .map(drop)
    }

    /// One signed request; the envelope's `body` when its `statusCode` is 100.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T> {
        if let Some(gate) = &self.config.gate {
            gate.acquire()
                .await
                .map_err(|wait| Error::Budget { retry_after: wait })?;
        }
        let result = self.send(method, path, body).await;
        if let (Some(gate), Err(e)) = (&self.config.gate, &result) {
            match e.kind() {
                Some(ErrorKind::DailyLimit) => gate.hold(until_utc_midnight(SystemTime::now())),
                Some(ErrorKind::TooMany) => gate.hold(BURST_PAUSE),
                _ => {}
            }
        }
        result
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T> {
        let token = self.config.token.expose_secret();
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
            .to_string();
        let nonce = uuid::Uuid::new_v4().to_string();
        let mut signature = sign(token, self.config.secret.expose_secret(), &t, &nonce);
        if self.config.upper_case_sign {
            signature = signature.to_ascii_uppercase();
        }
        let url = format!("{}/v1.1/{path}", self.config.base_url);
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(self.config.timeout)
            .header("Authorization", token)
            .header("t", t)
            .header("nonce", nonce)
            .header("sign", signature)
            .header("Content-Type", "application/json");
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        tracing::debug!(%method, path, status, "switchbot");
        let message = || {
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect())
        };
        match status {
            200..=299 => {}
            401 | 403 => {
                return Err(Error::Unauthorized {
                    status,
                    message: message(),
                });
            }
            _ => {
                return Err(Error::Http {
                    status,
                    message: message(),
                });
            }
        }
        let envelope: Envelope = decode(&bytes)?;
        if envelope.status_code != 100 {
            return Err(Error::Api(ApiError {
                status_code: envelope.status_code,
                message: envelope.message,
            }));
        }
        serde_path_to_error::deserialize(envelope.body).map_err(|e| Error::Decode {
            path: format!("body.{}", e.path()),
            message: e.inner().to_string(),
        })
    }
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// A device id as a path segment: SwitchBot's are hexadecimal MACs.
fn segment(id: &str) -> Result<&str> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Error::InvalidInput {
            field: "device_id",
            rule: "must be letters and digits only".into(),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_signature() {
        let s = sign(
            "tok",
            "00112233445566778899aabbccddeeff",
            "1700000000000",
            "00000000-0000-4000-8000-000000000000",
        );
        assert_eq!(s, "IPJ/cDiHbotfnQul3VmQNjCDD8IdkXROeD5z+di3/rE=");
    }

    #[test]
    fn a_keys_password_decrypted() {
        let key = Key {
            id: 15,
            name: "Guest Code".into(),
            kind: "timeLimit".into(),
            password: "msVfX8nzfc4o+qpxjroXxw==".into(),
            iv: "0102030405060708090a0b0c0d0e0f10".into(),
            status: "normal".into(),
            create_time: Some(1_716_717_225_850),
        };
        let secret = "00112233445566778899aabbccddeeff";
        assert_eq!(decrypt_password(secret, &key).unwrap(), "123456");
        let wrong = "ffeeddccbbaa99887766554433221100";
        assert!(matches!(
            decrypt_password(wrong, &key),
            Err(Error::Decrypt(_))
        ));
    }

    #[test]
    fn keys_are_checked_before_sending() {
        let key = |password: &str, period| NewKey {
            name: "Guest".into(),
            password: password.into(),
            period,
        };
        assert!(check_key(&key("123456", None)).is_ok());
        assert!(check_key(&key("12345", None)).is_err());
        assert!(check_key(&key("1234567890123", None)).is_err());
        assert!(check_key(&key("12345a", None)).is_err());
        let reversed = check_key(&key("123456", Some((20, 10)))).unwrap_err();
        assert!(matches!(
            reversed,
            Error::InvalidInput {
                field: "period",
                ..
            }
        ));
    }
}
