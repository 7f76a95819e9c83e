//! The Tedee client against the Tedee simulator.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lockbridge_sim::Running;
use lockbridge_sim::tedee::{TOKEN_PATH, TedeeDemo, TedeeSim};
use lockbridge_tedee::{
    Config, Error, ErrorKind, LockState, NewPin, OAuthTokens, PinRule, TedeeClient, UnlockMode,
    WeekDays, Weekday,
};

async fn setup() -> (TedeeSim, Running, TedeeDemo, Config) {
    let sim = TedeeSim::new(9);
    let demo = sim.seed_demo();
    sim.world().config.operation_ms = 100;
    let server = sim.start_local().await.unwrap();
    let config = Config::personal_key(&demo.personal_access_key)
        .base_url(&server.base_url())
        .operation_polling(Duration::from_millis(20), Duration::from_secs(5));
    (sim, server, demo, config)
}

fn calls(sim: &TedeeSim) -> u64 {
    sim.world().calls.values().sum()
}

#[tokio::test]
async fn locks_sync_and_bridges() {
    let (_sim, _server, demo, config) = setup().await;
    let tedee = TedeeClient::new(config.clone());
    let locks = tedee.locks().await.unwrap();
    assert_eq!(locks.len(), 4);
    let flat1 = &locks[0];
    assert_eq!(flat1.name, "Apartment 1");
    let state = flat1.state().unwrap();
    // The demo opened it with the cleaner's PIN.
    assert_eq!(
        (state.lock_state(), state.battery_level),
        (LockState::Unlocked, Some(76))
    );
    assert_eq!(flat1.connected_to_id, Some(demo.bridge_ids[0]));
    assert_eq!(flat1.time_zone.as_deref(), Some("Europe/Warsaw"));
    let office = tedee.get_lock(demo.lock_ids[2]).await.unwrap();
    assert_eq!(
        (office.is_connected, office.state().is_none()),
        (Some(false), true)
    );
    let cellar = tedee.get_lock(demo.lock_ids[3]).await.unwrap();
    assert_eq!(cellar.is_connected, None);

    let synced = tedee.sync(&demo.lock_ids[..2]).await.unwrap();
    assert_eq!(synced.len(), 2);
    assert!(
        synced[1]
            .device_state
            .as_ref()
            .unwrap()
            .is_charging
            .unwrap()
    );
    assert_eq!(tedee.sync(&[]).await.unwrap().len(), 4);
    assert_eq!(
        tedee.sync_lock(demo.lock_ids[0]).await.unwrap().id,
        demo.lock_ids[0]
    );
    assert_eq!(tedee.bridges().await.unwrap()[0].name, "Hallway bridge");

    // An older API version names the state `lockProperties`; the client reads both.
    let old = TedeeClient::new(config.api_version("v1.32"));
    let locks = old.locks().await.unwrap();
    assert_eq!(locks[0].state().unwrap().battery_level, Some(76));
    assert_eq!(
        old.sync(&[]).await.unwrap()[0]
            .device_state
            .as_ref()
            .unwrap()
            .state,
        2
    );
}

#[tokio::test]
async fn pins_round_trip_with_windows() {
    let (sim, _server, demo, config) = setup().await;
    let tedee = TedeeClient::new(config);
    let lock = demo.lock_ids[1];
    let list = tedee.pins(lock, None).await.unwrap().unwrap();
    assert_eq!(list.pins.len(), 1);
    assert!(
        tedee
            .pins(lock, Some(list.list_version))
            .await
            .unwrap()
            .is_none(),
        "304"
    );

    let weekend = NewPin {
        alias: "weekend".into(),
        pin: "480213".into(),
        start_date: Some("2026-01-01T00:00:00.000Z".into()),
        end_date: Some("2099-12-31T00:00:00.000Z".into()),
        day_start_time: Some("2026-01-01T10:00:00.000Z".into()),
        day_end_time: Some("2026-01-01T18:00:00.000Z".into()),
        week_days: Some(WeekDays::from_days([Weekday::Friday, Weekday::Saturday])),
    };
    let id = tedee.create_pin(lock, &weekend).await.unwrap();
    let read = tedee.pin(lock, id).await.unwrap();
    assert_eq!(read.week_days, Some(WeekDays(48)));
    assert_eq!(
        read.week_days.unwrap().days(),
        vec![Weekday::Friday, Weekday::Saturday]
    );
    assert_eq!(read.to_new(), weekend);
    assert_eq!(sim.world().locks[&lock].pins[&id].week_days, Some(48));

    let mut changed = read.to_new();
    changed.alias = "weekdays".into();
    changed.week_days = Some(WeekDays(31));
    tedee.update_pin(lock, id, &changed).await.unwrap();
    assert_eq!(tedee.pin(lock, id).await.unwrap().alias, "weekdays");
    tedee.delete_pin(lock, id).await.unwrap();
    let gone = tedee.pin(lock, id).await.unwrap_err();
    assert_eq!(gone.kind(), Some(ErrorKind::NotFound));
}

#[tokio::test]
async fn bad_pins_never_leave_the_client() {
    let (sim, _server, demo, config) = setup().await;
    let tedee = TedeeClient::new(config);
    let before = calls(&sim);
    for (pin, rule) in [
        ("", PinRule::Empty),
        ("1234", PinRule::Length),
        ("12b45", PinRule::DigitsOnly),
        ("11122", PinRule::DistinctDigits),
        ("12345", PinRule::Sequence),
        ("13579", PinRule::Sequence),
        ("67890", PinRule::Sequence),
    ] {
        let err = tedee
            .create_pin(demo.lock_ids[0], &NewPin::permanent("x", pin))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidPin(r) if r == rule),
            "{pin}: {err}"
        );
    }
    let mut window = NewPin::permanent("x", "480213");
    window.day_start_time = Some("10:00".into());
    assert!(matches!(
        tedee.create_pin(demo.lock_ids[0], &window).await,
        Err(Error::InvalidInput {
            field: "dayStartTime",
            ..
        })
    ));
    assert_eq!(calls(&sim), before, "nothing was sent");
    // The simulator itself takes 13579 (the lenient reading); the client refuses it first.
    assert!(lockbridge_sim::tedee::pin_rule("13579").is_none());
}

#[tokio::test]
async fn every_documented_status_is_typed() {
    let (sim, _server, demo, config) = setup().await;
    let tedee = TedeeClient::new(config);
    let flat1 = demo.lock_ids[0];
    let kind = |r: Result<i64, Error>| r.unwrap_err().kind();
    assert_eq!(
        kind(
            tedee
                .create_pin(flat1, &NewPin::permanent("dup", "918273"))
                .await
        ),
        Some(ErrorKind::PinExists)
    );
    assert_eq!(
        kind(
            tedee
                .create_pin(demo.lock_ids[2], &NewPin::permanent("x", "480213"))
                .await
        ),
        Some(ErrorKind::Disconnected)
    );
    sim.world().locks.get_mut(&flat1).unwrap().not_responding = true;
    assert_eq!(
        kind(
            tedee
                .create_pin(flat1, &NewPin::permanent("x", "480213"))
                .await
        ),
        Some(ErrorKind::DeviceTimeout)
    );
    sim.world().locks.get_mut(&flat1).unwrap().not_responding = false;
    sim.world().config.pin_capacity = 2;
    assert_eq!(
        kind(
            tedee
                .create_pin(flat1, &NewPin::permanent("x", "480213"))
                .await
        ),
        Some(ErrorKind::PinSlotsFull)
    );
    sim.world().config.slots_full_status = 422;
    assert_eq!(
        kind(
            tedee
                .create_pin(flat1, &NewPin::permanent("x", "480213"))
                .await
        ),
        Some(ErrorKind::PinSlotsFull)
    );
    sim.world().config.pin_capacity = 100;
    sim.world().locks.get_mut(&flat1).unwrap().busy = true;
    let busy = tedee
        .create_pin(flat1, &NewPin::permanent("x", "480213"))
        .await
        .unwrap_err();
    assert_eq!(busy.kind(), Some(ErrorKind::DeviceBusy));
    assert!(busy.to_string().contains("Another request"), "{busy}");
    sim.world().locks.get_mut(&flat1).unwrap().busy = false;
    let wrong = TedeeClient::new(Config::personal_key("nope").base_url(&_server.base_url()));
    assert_eq!(
        wrong.locks().await.unwrap_err().kind(),
        Some(ErrorKind::Unauthorized)
    );
    assert!(!format!("{wrong:?}").contains("nope"));
    let stranger = {
        let mut w = sim.world();
        let u = w.add_user("S", "s@x");
        w.add_key(u, &[], None)
    };
    let other = TedeeClient::new(Config::personal_key(stranger).base_url(&_server.base_url()));
    assert_eq!(
        other.pins(flat1, None).await.unwrap_err().kind(),
        Some(ErrorKind::Forbidden)
    );
}

#[tokio::test]
async fn operations_are_followed_to_their_result() {
    let (sim, _server, demo, config) = setup().await;
    let tedee = TedeeClient::new(config);
    let flat1 = demo.lock_ids[0];
    let started = tedee.unlock(flat1, UnlockMode::WithoutPull).await.unwrap();
    let done = tedee.wait_operation(&started.operation_id).await.unwrap();
    assert_eq!(
        (done.device_id, done.result, done.operation_type),
        (flat1, Some(0), Some(1))
    );
    assert_eq!(
        tedee
            .sync_lock(flat1)
            .await
            .unwrap()
            .device_state
            .unwrap()
            .lock_state(),
        LockState::Unlocked
    );
    let op = tedee.lock(flat1).await.unwrap();
    tedee.wait_operation(&op.operation_id).await.unwrap();
    assert_eq!(sim.world().locks[&flat1].state, 6);

    sim.world().locks.get_mut(&flat1).unwrap().jam_next = true;
    let op = tedee.unlock(flat1, UnlockMode::Normal).await.unwrap();
    let err = tedee.wait_operation(&op.operation_id).await.unwrap_err();
    assert!(
        matches!(err, Error::OperationFailed { result: 1, .. }),
        "{err}"
    );
    assert!(
        tedee
            .sync_lock(flat1)
            .await
            .unwrap()
            .device_state
            .unwrap()
            .is_jammed()
    );

    let log = tedee.activity(flat1, 10, None).await.unwrap();
    assert_eq!(log[0].event, 40, "jammed");
    assert_eq!(log[1].event, 32, "locked remotely");
    let older = tedee.activity(flat1, 10, Some(&log[1].date)).await.unwrap();
    assert!(older.iter().all(|a| a.date < log[1].date));
    assert!(tedee.activity(flat1, 0, None).await.is_err());
}

#[tokio::test]
async fn expired_oauth_tokens_are_renewed_once_for_concurrent_callers() {
    let (sim, server, _demo, _config) = setup().await;
    let (access, refresh) = {
        let mut w = sim.world();
        let owner = *w.users.keys().next().unwrap();
        w.issue_oauth(owner, vec!["Device.ReadWrite".into()], 60)
    };
    let tokens = OAuthTokens {
        access_token: access.into(),
        refresh_token: refresh.into(),
        // Looks fresh to the client; the cloud will say otherwise (401).
        expires_at_ms: None,
    };
    sim.world().clock_offset_ms += 120_000;
    let config = Config::oauth("client", tokens)
        .base_url(&server.base_url())
        .token_url(format!("{}{TOKEN_PATH}", server.base_url()));
    let tedee = TedeeClient::new(config);
    let renewed = Arc::new(AtomicUsize::new(0));
    let seen = renewed.clone();
    tedee.on_tokens(Arc::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let t = tedee.clone();
            tokio::spawn(async move { t.locks().await.map(|l| l.len()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 4);
    }
    assert_eq!(renewed.load(Ordering::SeqCst), 1);
    assert_eq!(sim.world().calls["POST /oauth2/v2.0/token"], 1);
    assert!(tedee.tokens().unwrap().expires_at_ms.is_some());
}

#[tokio::test]
async fn paces_itself_under_the_limit_and_honours_retry_after() {
    let (sim, _server, _demo, config) = setup().await;
    {
        let mut w = sim.world();
        w.config.rate_limit = 4;
        w.config.rate_window_s = 1;
    }
    // Told the limit, the client never meets a 429. (It counts requests when they leave; with a
    // one-second window, a quarter second of margin covers their trip to the simulator on a
    // loaded machine — against Tedee's hour the trip does not matter.)
    let paced = TedeeClient::new(config.clone().rate_limit(4, Duration::from_millis(1250)));
    for _ in 0..10 {
        paced.locks().await.unwrap();
    }
    assert!(
        sim.world().throttled.is_empty(),
        "{:?}",
        sim.world().throttled
    );

    // Told nothing (700/h), it meets 429s and waits out each Retry-After, failing nothing.
    let eager = TedeeClient::new(config.clone());
    for _ in 0..10 {
        eager.locks().await.unwrap();
    }
    assert!(sim.world().throttled.values().sum::<u32>() >= 1);

    // A Retry-After longer than it will wait is an error saying how long.
    sim.world().config.rate_window_s = 3600;
    sim.world().config.rate_limit = 0;
    let impatient = TedeeClient::new(config.max_retry_wait(Duration::from_secs(1)));
    match impatient.locks().await {
        Err(Error::RateLimited { retry_after_s }) => assert!(retry_after_s > 1),
        other => panic!("{other:?}"),
    }
}
