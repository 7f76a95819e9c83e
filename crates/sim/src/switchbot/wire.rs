//! SwitchBot's v1.1 paths as its cloud answers them: signed requests checked (401
//! `{"message": "Unauthorized"}` otherwise), every answer in `{statusCode, body, message}`
//! inside HTTP 200, business errors with the codes and messages SwitchBot sends.

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use axum::Json;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::SwitchBotSim;
use super::world::{Key, KeyOp, Outgoing, Pending, World};
use crate::faults::Failure;

fn envelope(status_code: i64, body: Value, message: &str) -> Response {
    Json(json!({"statusCode": status_code, "body": body, "message": message})).into_response()
}

fn ok(body: Value) -> Response {
    envelope(100, body, "success")
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "Unauthorized"})),
    )
        .into_response()
}

/// The signature SwitchBot expects, from its own description (independent of any client).
fn expected_sign(token: &str, secret: &str, t: &str, nonce: &str) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(format!("{token}{t}{nonce}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A header by name, whatever its case (the fake is lenient; the real cloud is not).
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.to_str().ok())
}

/// Every request: counted, faults drawn, the signature checked, the day's budget spent, due
/// keypad commands carried out; afterwards, the webhook events sent.
pub(crate) async fn gate(
    State(sim): State<SwitchBotSim>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| format!("{} {}", req.method(), p.as_str()))
        .unwrap_or_default();
    if let Some(failure) = crate::control::prelude(&sim, &route).await {
        return match failure {
            Failure::Errcode(code) => envelope(code, json!({}), "injected by /_sim/faults"),
            Failure::HttpStatus(s) => {
                let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, Json(json!({"message": "injected by /_sim/faults"}))).into_response()
            }
        };
    }
    {
        let mut w = sim.world();
        let (token, t, nonce, sign) = (
            header(&headers, "authorization").unwrap_or_default(),
            header(&headers, "t").unwrap_or_default(),
            // An empty nonce has worked for users: accepted.
            header(&headers, "nonce").unwrap_or_default(),
            header(&headers, "sign").unwrap_or_default(),
        );
        let expected = expected_sign(&w.token, &w.secret, t, nonce);
        // The documented upper-cased form is accepted as well as the plain one.
        let signed = sign == expected || sign == expected.to_ascii_uppercase();
        let fresh = !w.config.check_time
            || t.parse::<i64>()
                .is_ok_and(|t| (t - w.now_ms()).abs() <= 300_000);
        if w.token.is_empty() || token != w.token || !signed || !fresh {
            return unauthorized();
        }
        if !w.spend() {
            return envelope(190, json!({}), "Requests reached the daily limit");
        }
        w.settle();
    }
    let answer = next.run(req).await;
    deliver(&sim);
    answer
}

/// Sends the queued webhook events, each in a task of its own.
pub(crate) fn deliver(sim: &SwitchBotSim) {
    for event in sim.world().take_outbox() {
        let delivered = sim.delivered.clone();
        tokio::spawn(async move {
            let status = post(event).await;
            delivered.send_modify(|all| all.push(status));
        });
    }
}

/// POSTs an event to an `http://` URL (SwitchBot posts JSON; a failed delivery is not retried).
/// Answers the receiver's HTTP status, 0 when there was none.
async fn post(event: Outgoing) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = event.url.strip_prefix("http://") else {
        return 0;
    };
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let Ok(mut stream) = tokio::net::TcpStream::connect(host).await else {
        return 0;
    };
    let body = event.body.to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut answer = Vec::new();
    if stream.write_all(head.as_bytes()).await.is_ok()
        && stream.write_all(body.as_bytes()).await.is_ok()
    {
        let _ = stream.read_to_end(&mut answer).await;
    }
    // `HTTP/1.1 200 OK…`
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A key as the key list shows it: its password encrypted with the account's secret.
fn key_json(w: &World, k: &Key) -> Value {
    let (Ok(aes_key), Ok(iv)) = (hex::decode(&w.secret), hex::decode(&k.iv)) else {
        return json!({});
    };
    let (Ok(aes_key), Ok(iv)) = (<[u8; 16]>::try_from(aes_key), <[u8; 16]>::try_from(iv)) else {
        return json!({});
    };
    let sealed = cbc::Encryptor::<aes::Aes128>::new(&aes_key.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(k.password.as_bytes());
    json!({
        "id": k.id,
        "name": k.name,
        "type": k.kind,
        "password": STANDARD.encode(sealed),
        "iv": k.iv,
        "status": k.status,
        "createTime": k.create_time,
    })
}

pub(crate) async fn devices(State(sim): State<SwitchBotSim>) -> Response {
    let mut w = sim.world();
    let now = w.now_ms();
    // A time-limited key past its end is `expired`, and stays listed.
    for pad in w.keypads.values_mut() {
        for k in &mut pad.keys {
            if k.end_time.is_some_and(|end| end * 1000 <= now) {
                k.status = "expired".into();
            }
        }
    }
    let mut list: Vec<Value> = w
        .hubs
        .values()
        .map(|h| {
            json!({"deviceId": h.device_id, "deviceName": h.name, "deviceType": "Hub 2",
                   "enableCloudService": true, "hubDeviceId": "000000000000"})
        })
        .collect();
    list.extend(w.locks.values().map(|l| {
        json!({"deviceId": l.device_id, "deviceName": l.name, "deviceType": l.device_type,
               "enableCloudService": true, "hubDeviceId": l.hub_device_id, "group": false,
               "master": true, "groupName": "", "lockDevicesIds": [l.device_id]})
    }));
    list.extend(w.keypads.values().map(|p| {
        let keys: Vec<Value> = p.keys.iter().map(|k| key_json(&w, k)).collect();
        json!({"deviceId": p.device_id, "deviceName": p.name, "deviceType": p.device_type,
               "enableCloudService": true, "hubDeviceId": p.hub_device_id,
               "lockDeviceId": p.lock_device_id, "keyList": keys})
    }));
    ok(json!({"deviceList": list, "infraredRemoteList": []}))
}

pub(crate) async fn status(State(sim): State<SwitchBotSim>, Path(id): Path<String>) -> Response {
    let w = sim.world();
    if let Some(l) = w.locks.get(&id) {
        if !l.online {
            return envelope(161, json!({}), "");
        }
        return ok(json!({
            "deviceId": l.device_id, "deviceType": l.device_type, "hubDeviceId": l.hub_device_id,
            "lockState": l.lock_state, "doorState": l.door_state, "calibrate": true,
            "version": "V6.5", "battery": l.battery,
        }));
    }
    if let Some(p) = w.keypads.get(&id) {
        return ok(json!({"deviceId": p.device_id, "deviceType": p.device_type,
                         "hubDeviceId": p.hub_device_id}));
    }
    if w.hubs.contains_key(&id) {
        return ok(json!({}));
    }
    envelope(152, json!({}), "device not found")
}

pub(crate) async fn command(
    State(sim): State<SwitchBotSim>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut w = sim.world();
    let Some(command) = body
        .get("command")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return envelope(190, json!({}), "param is invalid");
    };
    // The key is `parameter`; `parameters` fails as SwitchBot's backend does.
    let parameter = body.get("parameter").cloned().unwrap_or(Value::Null);
    if w.locks.contains_key(&id) {
        return lock_command(&mut w, &id, &command);
    }
    if w.keypads.contains_key(&id) {
        return key_command(&mut w, &id, &command, &parameter);
    }
    envelope(152, json!({}), "device not found")
}

fn reachable(w: &World, online: bool, hub: &str) -> Option<Response> {
    if w.hubs.get(hub).is_some_and(|h| !h.online) {
        return Some(envelope(171, json!({}), "The device is offline"));
    }
    (!online).then(|| envelope(161, json!({}), ""))
}

fn lock_command(w: &mut World, id: &str, command: &str) -> Response {
    let (online, hub) = {
        let l = &w.locks[id];
        (l.online, l.hub_device_id.clone())
    };
    if let Some(refused) = reachable(w, online, &hub) {
        return refused;
    }
    let now = w.now_ms();
    let Some(l) = w.locks.get_mut(id) else {
        return envelope(152, json!({}), "device not found");
    };
    let state = match command {
        "lock" => "locked",
        "unlock" | "deadbolt" => "unlocked",
        _ => return envelope(160, json!({}), &format!("not this command:{command}")),
    };
    l.lock_state = if std::mem::take(&mut l.jam_next) {
        "jammed".into()
    } else {
        state.into()
    };
    let event = json!({
        "eventType": "changeReport",
        "eventVersion": "1",
        "context": {"deviceType": "WoLockPro", "deviceMac": l.device_id, "battery": l.battery,
                    "lockState": l.lock_state.to_ascii_uppercase(), "timeOfSample": now},
    });
    w.notify(event);
    envelope(100, json!({}), "success")
}

fn key_command(w: &mut World, id: &str, command: &str, parameter: &Value) -> Response {
    let (online, hub) = {
        let p = &w.keypads[id];
        (p.online, p.hub_device_id.clone())
    };
    if let Some(refused) = reachable(w, online, &hub) {
        return refused;
    }
    let op = match command {
        "createKey" => match new_key(w, id, parameter) {
            Ok(key) => KeyOp::Create(key),
            Err(message) => return envelope(190, json!({}), message),
        },
        "deleteKey" => {
            // The id as an integer or a string: both are sent by real clients.
            let key = parameter.get("id").and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            });
            match key {
                Some(key) if w.keypads[id].keys.iter().any(|k| k.id == key) => {
                    KeyOp::Delete { id: key }
                }
                _ => return envelope(190, json!({}), "param is invalid"),
            }
        }
        _ => return envelope(160, json!({}), &format!("not this command:{command}")),
    };
    let command_id = w.command_id();
    if !w.config.keys_never_applied {
        let due_ms = w.now_ms() + w.config.key_delay_ms;
        w.pending.push(Pending {
            due_ms,
            keypad: id.to_owned(),
            command_id: command_id.clone(),
            op,
        });
    }
    ok(json!({"commandId": command_id}))
}

/// A `createKey` parameter checked as the keypad checks it: a unique name, 6–12 digits, a
/// period for the kinds that need one. The refusal is the 190 answer's message.
fn new_key(w: &mut World, keypad: &str, p: &Value) -> Result<Key, &'static str> {
    let invalid = || "param is invalid";
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let kind = p.get("type").and_then(Value::as_str);
    let password = p.get("password").and_then(Value::as_str);
    let (Some(name), Some(kind), Some(password)) = (name, kind, password) else {
        return Err(invalid());
    };
    if !(6..=12).contains(&password.len()) || !password.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    if !matches!(kind, "permanent" | "timeLimit" | "disposable" | "urgent") {
        return Err(invalid());
    }
    let times = (
        p.get("startTime").and_then(Value::as_i64),
        p.get("endTime").and_then(Value::as_i64),
    );
    let needs_period = matches!(kind, "timeLimit" | "disposable");
    if needs_period && (times.0.is_none() || times.1.is_none()) {
        return Err(invalid());
    }
    let taken = w.keypads[keypad].keys.iter().map(|k| k.name.as_str());
    let coming = w
        .pending
        .iter()
        .filter(|p| p.keypad == keypad)
        .filter_map(|p| match &p.op {
            KeyOp::Create(k) => Some(k.name.as_str()),
            KeyOp::Delete { .. } => None,
        });
    if taken.chain(coming).any(|n| n == name) {
        return Err("the name is already used");
    }
    let now = w.now_ms();
    Ok(Key {
        id: w.next_key_id(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        password: password.to_owned(),
        iv: w.rng.hex(32),
        status: "normal".into(),
        create_time: now,
        start_time: if needs_period { times.0 } else { None },
        end_time: if needs_period { times.1 } else { None },
    })
}

/// `setupWebhook`, `queryWebhook` (`queryUrl`, `queryDetails`), `updateWebhook`,
/// `deleteWebhook`: one URL per account.
pub(crate) async fn webhook(
    State(sim): State<SwitchBotSim>,
    Path(op): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut w = sim.world();
    let now = w.now_ms();
    let url = body.get("url").and_then(Value::as_str).map(str::to_owned);
    match (op.as_str(), body.get("action").and_then(Value::as_str)) {
        ("setupWebhook", Some("setupWebhook")) => {
            let Some(url) = url else {
                return envelope(190, json!({}), "param is invalid");
            };
            if w.webhook.is_some() {
                return envelope(190, json!({}), "webhook is exist");
            }
            w.webhook = Some((url, true, now, now));
            envelope(100, json!({}), "")
        }
        ("queryWebhook", Some("queryUrl")) => match &w.webhook {
            Some((url, ..)) => envelope(100, json!({"urls": [url]}), ""),
            None => envelope(190, json!({}), ""),
        },
        ("queryWebhook", Some("queryDetails")) => {
            let details: Vec<Value> = w
                .webhook
                .iter()
                .map(|(url, enable, created, updated)| {
                    json!({"url": url, "enable": enable, "deviceList": "ALL",
                           "createTime": created, "lastUpdateTime": updated})
                })
                .collect();
            envelope(100, json!(details), "")
        }
        ("updateWebhook", Some("updateWebhook")) => {
            let config = body.get("config").cloned().unwrap_or(Value::Null);
            let (Some(url), Some(enable)) = (
                config.get("url").and_then(Value::as_str),
                config.get("enable").and_then(Value::as_bool),
            ) else {
                return envelope(190, json!({}), "param is invalid");
            };
            match &mut w.webhook {
                Some(hook) if hook.0 == url => {
                    hook.1 = enable;
                    hook.3 = now;
                    envelope(100, json!({}), "")
                }
                _ => envelope(190, json!({}), "webhook is not exist"),
            }
        }
        ("deleteWebhook", Some("deleteWebhook")) => match (&w.webhook, url) {
            (Some(hook), Some(url)) if hook.0 == url => {
                w.webhook = None;
                envelope(100, json!({}), "")
            }
            _ => envelope(190, json!({}), "webhook is not exist"),
        },
        _ => envelope(190, json!({}), "param is invalid"),
    }
}
