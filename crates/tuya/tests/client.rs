//! The Tuya client against the Tuya simulator: every endpoint, tokens, and refusals.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lockbridge_sim::Running;
use lockbridge_sim::tuya::{TuyaDemo, TuyaSim};
use lockbridge_tuya::{
    Config, Error, ErrorKind, OfflineKind, Region, ScheduleItem, TempPassword, Tokens, TuyaClient,
    sign,
};
use secrecy::ExposeSecret;

async fn setup() -> (TuyaSim, Running, TuyaDemo, TuyaClient) {
    let sim = TuyaSim::new(4);
    let demo = sim.seed_demo();
    sim.world().config.delivery_ms = 0;
    let server = sim.start_local().await.unwrap();
    let client = TuyaClient::new(
        Config::new(Region::CentralEurope, &demo.access_id, &demo.access_secret)
            .base_url(&server.base_url()),
    );
    (sim, server, demo, client)
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn week(name: &str, pin: &str) -> TempPassword {
    TempPassword {
        name: name.into(),
        pin: pin.into(),
        effective_time: now_s() - 60,
        invalid_time: now_s() + 7 * 86_400,
        ..TempPassword::default()
    }
}

fn calls(sim: &TuyaSim, key: &str) -> u64 {
    sim.world().calls.get(key).copied().unwrap_or(0)
}

#[tokio::test]
async fn discovery_and_device_info() {
    let (_sim, _server, demo, tuya) = setup().await;
    let devices = tuya.devices().await.unwrap();
    assert_eq!(devices.len(), 3);
    let wifi = tuya.device(&demo.lock_ids[0]).await.unwrap();
    assert_eq!(
        (
            wifi.category.as_str(),
            wifi.online,
            wifi.sub,
            wifi.pin_length()
        ),
        ("jtmspro", true, false, 7)
    );
    let zigbee = tuya.device(&demo.lock_ids[1]).await.unwrap();
    assert_eq!(
        (zigbee.sub, zigbee.pin_length(), zigbee.battery()),
        (true, 6, Some(64))
    );
    assert!(!tuya.device(&demo.lock_ids[2]).await.unwrap().online);
    let missing = tuya.device("bfnope").await.unwrap_err();
    assert_eq!(missing.kind(), Some(ErrorKind::NotFound));
}

#[tokio::test]
async fn temp_password_lifecycle_with_ticket_encryption() {
    let (sim, _server, demo, tuya) = setup().await;
    let lock = &demo.lock_ids[0];
    sim.world().config.delivery_ms = 60_000;
    let id = tuya
        .create_temp_password(lock, 7, &week("Guest", "5820394"))
        .await
        .unwrap();
    // The cloud decrypted the PIN with the ticket it issued.
    let pid: i64 = id.parse().unwrap();
    assert_eq!(sim.world().devices[lock].passwords[&pid].pin, "5820394");
    let info = tuya.temp_password(lock, &id).await.unwrap();
    assert_eq!((info.name.as_str(), info.phase), ("Guest", 1), "to be sent");
    sim.world().clock_offset_ms += 61_000;
    assert_eq!(
        tuya.temp_password(lock, &id).await.unwrap().phase,
        2,
        "sent"
    );

    let mut changed = week("Guest 2", "5820395");
    changed.schedule = vec![ScheduleItem {
        effective_time: 450,
        invalid_time: 510,
        working_day: 38,
    }];
    changed.time_zone = Some("+01:00".into());
    tuya.modify_temp_password(lock, &id, 7, &changed)
        .await
        .unwrap();
    let info = tuya.temp_password(lock, &id).await.unwrap();
    assert_eq!(info.schedule_list, changed.schedule);
    assert_eq!(sim.world().devices[lock].passwords[&pid].pin, "5820395");
    // A change with no window drops the window (the client says so with an empty list).
    changed.schedule.clear();
    tuya.modify_temp_password(lock, &id, 7, &changed)
        .await
        .unwrap();
    assert!(
        tuya.temp_password(lock, &id)
            .await
            .unwrap()
            .schedule_list
            .is_empty()
    );

    tuya.freeze_temp_password(lock, &id).await.unwrap();
    assert!(sim.world().devices[lock].passwords[&pid].frozen);
    tuya.unfreeze_temp_password(lock, &id).await.unwrap();
    assert!(!sim.world().devices[lock].passwords[&pid].frozen);

    let list = tuya.temp_passwords(lock, Some(true)).await.unwrap();
    assert!(list.iter().any(|p| p.id == pid));
    tuya.delete_temp_password(lock, &id).await.unwrap();
    assert_eq!(
        tuya.temp_password(lock, &id).await.unwrap().phase,
        3,
        "to be deleted"
    );
    sim.world().clock_offset_ms += 61_000;
    assert!(
        tuya.temp_passwords(lock, Some(true))
            .await
            .unwrap()
            .iter()
            .all(|p| p.id != pid)
    );

    // v2.0 (unnamed) and clearing everything.
    let v2 = tuya
        .create_temp_password_v2(lock, 7, &week("", "6093821"))
        .await
        .unwrap();
    assert!(!v2.is_empty());
    tuya.clear_temp_passwords(lock).await.unwrap();
    sim.world().clock_offset_ms += 61_000;
    assert!(
        tuya.temp_passwords(lock, Some(true))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn pin_rules_per_protocol_and_lock_refusals() {
    let (sim, _server, demo, tuya) = setup().await;
    let (wifi, zigbee, offline) = (&demo.lock_ids[0], &demo.lock_ids[1], &demo.lock_ids[2]);
    let before = calls(&sim, "POST /v1.0/devices/{id}/door-lock/password-ticket");
    for (pin, len) in [
        ("123456", 7),
        ("12345678", 7),
        ("12a4567", 7),
        ("1234567", 6),
    ] {
        let err = tuya
            .create_temp_password(wifi, len, &week("x", pin))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "password",
                    ..
                }
            ),
            "{pin}: {err}"
        );
    }
    assert_eq!(
        calls(&sim, "POST /v1.0/devices/{id}/door-lock/password-ticket"),
        before,
        "nothing sent"
    );
    // Told the wrong length, the client lets a 6-digit PIN go to a Wi-Fi lock: the cloud says no.
    let err = tuya
        .create_temp_password(wifi, 6, &week("x", "123456"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidParam));
    tuya.create_temp_password(zigbee, 6, &week("z", "482913"))
        .await
        .unwrap();

    let dup = tuya
        .create_temp_password(wifi, 7, &week("dup", "4820913"))
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), Some(ErrorKind::PasswordExists));
    let off = tuya
        .create_temp_password(offline, 6, &week("x", "482913"))
        .await
        .unwrap_err();
    assert_eq!(off.kind(), Some(ErrorKind::DeviceOffline));
    sim.world().config.capacity = 1;
    let full = tuya
        .create_temp_password(wifi, 7, &week("x", "5820394"))
        .await
        .unwrap_err();
    assert_eq!(full.kind(), Some(ErrorKind::PasswordStoreFull));
    // A Zigbee lock reports a duplicate when the password reaches it.
    sim.world().config.capacity = 20;
    let id = tuya
        .create_temp_password(zigbee, 6, &week("again", "736194"))
        .await
        .unwrap();
    let info = tuya.temp_password(zigbee, &id).await.unwrap();
    assert_eq!((info.phase, info.delivery_status), (5, Some(4)));
}

#[tokio::test]
async fn offline_dynamic_remote_and_logs() {
    let (sim, _server, demo, tuya) = setup().await;
    let lock = &demo.lock_ids[0];
    let once = tuya
        .offline_password(lock, OfflineKind::Once, Some("Courier"), None, None)
        .await
        .unwrap();
    assert_eq!(once.offline_temp_password.len(), 10);
    assert_eq!(once.invalid_time - once.effective_time, 6 * 3600);
    let start = now_s();
    let multi = tuya
        .offline_password(
            lock,
            OfflineKind::Multiple,
            None,
            Some((start, start + 3 * 86_400)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(multi.effective_time % 3600, 0, "rounded down to the hour");
    assert!(
        tuya.offline_password(lock, OfflineKind::Multiple, None, None, None)
            .await
            .is_err()
    );
    tuya.offline_password(
        lock,
        OfflineKind::ClearOne,
        None,
        None,
        Some(&multi.offline_temp_password_id),
    )
    .await
    .unwrap();

    let dynamic = tuya.dynamic_password(lock).await.unwrap();
    assert_eq!(sim.world().keypad(lock, &dynamic), Some(true));
    let remote = tuya.remote_unlocks(lock).await.unwrap();
    assert_eq!(
        (remote[0].remote_unlock_type.as_str(), remote[0].open),
        ("remoteUnlockWithoutPwd", true)
    );
    tuya.unlock_password_free(lock).await.unwrap();
    assert!(sim.world().devices[lock].open);
    tuya.door_operate(lock, false).await.unwrap();
    assert!(!sim.world().devices[lock].open);
    let err = tuya
        .unlock_password_free(&demo.lock_ids[2])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::DeviceOffline));

    let logs = tuya
        .open_logs(lock, 1, 20, now_s() - 3600, now_s() + 60)
        .await
        .unwrap();
    let codes: Vec<&str> = logs.logs.iter().map(|l| l.status.code.as_str()).collect();
    assert_eq!(
        &codes[..2],
        &["unlock_app", "unlock_dynamic"],
        "newest first"
    );
    assert!(
        codes.contains(&"unlock_temporary"),
        "the demo's keypad entry"
    );
    let alarms = tuya.alarm_logs(lock, 1, 20, None).await.unwrap();
    assert_eq!(alarms.logs[0].status.value, "wrong_password");
    assert!(alarms.logs[0].update_time < 10_000_000_000, "seconds here");
}

#[tokio::test]
async fn one_token_renewal_for_many_callers_and_1010_retried() {
    let (sim, _server, demo, tuya) = setup().await;
    let renewed = Arc::new(AtomicUsize::new(0));
    let seen = renewed.clone();
    tuya.on_tokens(Arc::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    tuya.connect().await.unwrap();
    assert_eq!(renewed.load(Ordering::SeqCst), 1);
    // The cloud's clock passes the token's lifetime; the client still thinks it is fresh.
    sim.world().clock_offset_ms += 7_300_000;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let t = tuya.clone();
            let id = demo.lock_ids[0].clone();
            tokio::spawn(async move { t.device(&id).await.map(|d| d.name) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "Entrance");
    }
    assert_eq!(calls(&sim, "token refreshes"), 1, "{:?}", sim.world().calls);
    assert_eq!(renewed.load(Ordering::SeqCst), 2);

    // A token near its end is renewed before use; a refused refresh token gets a new pair.
    let stale = tuya.tokens().unwrap();
    tuya.restore(Tokens {
        expires_at_ms: 0,
        refresh_token: "0000".to_owned().into(),
        ..stale
    });
    tuya.device(&demo.lock_ids[0]).await.unwrap();
    assert_eq!(calls(&sim, "token grants"), 2);
}

#[tokio::test]
async fn a_token_superseded_elsewhere_is_replaced_and_the_call_repeated() {
    let (sim, _server, demo, tuya) = setup().await;
    tuya.connect().await.unwrap();
    let stale = tuya.tokens().unwrap();
    // Another holder of the same pair (a second instance, the token worker) refreshes it:
    // Tuya invalidates the old access and refresh tokens at once.
    let other = TuyaClient::new(tuya.config().clone());
    other.restore(tuya.tokens().unwrap());
    let rotated = other.refresh().await.unwrap();
    assert_eq!(calls(&sim, "token refreshes"), 1);
    // The first client's token is now refused with 1012; its refresh token too; it takes the
    // project's live token through a new grant and the call goes through.
    let d = tuya.device(&demo.lock_ids[0]).await.unwrap();
    assert_eq!(d.name, "Entrance");
    assert_eq!(calls(&sim, "token grants"), 2, "{:?}", sim.world().calls);
    assert_eq!(
        tuya.tokens().unwrap().access_token.expose_secret(),
        rotated.access_token.expose_secret()
    );
    // The simulator saw the replacing pair unused when the old one came back: a renewal whose
    // answer had not reached its holder, and the grant after it the way back.
    assert_eq!(
        calls(&sim, "token refreshes refused after a lost answer"),
        1
    );
    assert_eq!(calls(&sim, "token grants after a lost renewal"), 1);
    // Both holders work with the one live pair.
    other.device(&demo.lock_ids[0]).await.unwrap();
    assert_eq!(calls(&sim, "token refreshes"), 1);

    // The old pair once more, now that its replacement is in use: that is a holder renewing
    // from a pair it should have known was replaced, and counted so.
    let late = TuyaClient::new(tuya.config().clone());
    late.restore(stale);
    late.device(&demo.lock_ids[0]).await.unwrap();
    assert_eq!(calls(&sim, "token refreshes of a replaced pair"), 1);
    assert_eq!(calls(&sim, "token grants after a lost renewal"), 1);
    assert_eq!(calls(&sim, "token grants"), 3);
}

/// Sends one raw signed request (the client's signing, but `t` and nonce chosen here).
async fn raw(
    server: &Running,
    demo: &TuyaDemo,
    secret: &str,
    t: i64,
    nonce: &str,
) -> serde_json::Value {
    let t = t.to_string();
    let sts = sign::string_to_sign("GET", b"", &[], "/v1.0/token?grant_type=1");
    let signature = sign::sign(secret, &demo.access_id, "", &t, nonce, &sts);
    reqwest::Client::new()
        .get(format!("{}/v1.0/token?grant_type=1", server.base_url()))
        .header("client_id", &demo.access_id)
        .header("sign", signature)
        .header("sign_method", "HMAC-SHA256")
        .header("t", t)
        .header("nonce", nonce)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap()
}

#[tokio::test]
async fn wrong_secret_stale_t_and_replayed_nonce_are_refused() {
    let (_sim, server, demo, _tuya) = setup().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ok = raw(&server, &demo, &demo.access_secret, now, "n-1").await;
    assert_eq!(ok["success"], true, "{ok}");
    let wrong = raw(
        &server,
        &demo,
        "0123456789abcdef0123456789abcdef",
        now,
        "n-2",
    )
    .await;
    assert_eq!(
        (wrong["success"].as_bool(), wrong["code"].as_i64()),
        (Some(false), Some(1004))
    );
    let stale = raw(&server, &demo, &demo.access_secret, now - 400_000, "n-3").await;
    assert_eq!(stale["code"], 1013);
    let replay = raw(&server, &demo, &demo.access_secret, now, "n-1").await;
    assert_eq!(replay["code"], 1004, "{replay}");
    // The client surfaces the same codes, typed.
    let bad = TuyaClient::new(
        Config::new(
            Region::China,
            &demo.access_id,
            "not-the-secret-not-the-secret!!",
        )
        .base_url(&server.base_url()),
    );
    assert_eq!(
        bad.connect().await.unwrap_err().kind(),
        Some(ErrorKind::SignInvalid)
    );
    let unknown =
        TuyaClient::new(Config::new(Region::China, "nobody", "x").base_url(&server.base_url()));
    assert_eq!(
        unknown.connect().await.unwrap_err().kind(),
        Some(ErrorKind::ClientInvalid)
    );
    assert!(!format!("{bad:?}").contains("not-the-secret"));
}

/// Tuya's refresh carries the refresh token in its path: a refresh that times out must not show
/// it in the error, its sources or its `Debug`.
#[tokio::test]
async fn a_refresh_timeout_does_not_reveal_the_refresh_token() {
    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let config = Config::new(
        Region::CentralEurope,
        "access-id-0000",
        "secret-0000000000000000",
    )
    .base_url(&format!("http://{addr}"))
    .timeout(std::time::Duration::from_millis(200));
    let client = TuyaClient::new(config);
    let refresh = "refresh-token-that-must-stay-secret-4711";
    client.restore(Tokens {
        access_token: "access-token-0001".to_owned().into(),
        refresh_token: refresh.to_owned().into(),
        expires_at_ms: 0,
        uid: None,
    });
    let err = client.refresh().await.unwrap_err();
    let mut shown = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        shown.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!shown.contains(refresh), "{shown}");
    assert!(!shown.contains("/v1.0/token/"), "no URL at all: {shown}");
}
