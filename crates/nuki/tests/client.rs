//! The client against the Nuki simulator: its state is the oracle.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use lockbridge_nuki::{
    Action, Bolt, CodeRule, Config, Error, ErrorKind, LogQuery, NewKeypadCode, NukiClient,
    Restrictions,
};
use lockbridge_sim::nuki::{NukiDemo, NukiSim};
use lockbridge_sim::registry::Simulator;

struct Fixture {
    sim: NukiSim,
    demo: NukiDemo,
    client: NukiClient,
    _server: lockbridge_sim::Running,
}

async fn fixture() -> Fixture {
    let sim = NukiSim::new(3);
    let demo = sim.seed_demo();
    sim.world().config.write_delay_ms = 0;
    sim.world().config.action_delay_ms = 0;
    let server = sim.start_local().await.unwrap();
    let client = NukiClient::new(
        Config::new(demo.api_token.clone())
            .base_url(&format!("{}/", server.base_url()))
            .polling(Duration::from_millis(5), Duration::from_millis(200)),
    );
    Fixture {
        sim,
        demo,
        client,
        _server: server,
    }
}

fn code(name: &str, pin: &str) -> NewKeypadCode {
    NewKeypadCode {
        name: name.into(),
        code: pin.into(),
        restrictions: Restrictions::default(),
    }
}

#[tokio::test]
async fn devices_with_ids_wider_than_32_bits() {
    let f = fixture().await;
    let locks = f.client.smartlocks().await.unwrap();
    assert_eq!(locks.len(), 3);
    assert!(locks.iter().all(|l| l.smartlock_id > i64::from(u32::MAX)));
    let one = f.client.smartlock(f.demo.lock_ids[0]).await.unwrap();
    assert!(one.online() && one.keypad_paired() && one.is_lock());
    assert_eq!(one.state.unwrap().bolt(), Bolt::Locked);
    assert_eq!(
        one.config
            .and_then(|c| c.timezone_id)
            .and_then(lockbridge_nuki::zone_name),
        Some("Europe/Berlin")
    );
}

#[tokio::test]
async fn a_refused_token_keeps_nukis_message() {
    let f = fixture().await;
    let stranger = NukiClient::new(Config::new("nope").base_url(&f._server.base_url()));
    let err = stranger.smartlocks().await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Unauthorized));
    assert_eq!(
        err.api().unwrap().message,
        "Your access token is not authorized"
    );
    let err = f.client.smartlock(4 << 32).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::NotFound));
}

#[tokio::test]
async fn keypad_codes_are_checked_before_anything_is_sent() {
    let f = fixture().await;
    let lock = f.demo.lock_ids[0];
    let before = f.sim.world().calls.clone();
    for (pin, rule) in [
        ("12345", CodeRule::SixDigits),
        ("384305", CodeRule::NoZero),
        ("123456", CodeRule::NotStartingWith12),
    ] {
        let err = f
            .client
            .create_keypad_code(lock, &code("Guest", pin))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidCode(r) if r == rule),
            "{pin}: {err}"
        );
    }
    let err = f
        .client
        .create_keypad_code(lock, &code("A name far longer than twenty", "384365"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { field: "name", .. }),
        "{err}"
    );
    assert_eq!(f.sim.world().calls, before);
}

#[tokio::test]
async fn a_code_is_created_changed_and_deleted_as_the_lock_shows_it() {
    let f = fixture().await;
    let lock = f.demo.lock_ids[1];
    let created = f
        .client
        .create_keypad_code(lock, &code("Cleaner", "384365"))
        .await
        .unwrap();
    assert_eq!(created.id.len(), 24);
    assert_eq!(created.code, Some(384_365));
    assert!(f.sim.world().auths.contains_key(&created.id));

    // The same PIN again: Nuki's conflict.
    let err = f
        .client
        .create_keypad_code(lock, &code("Other", "384365"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Conflict));

    let later = NewKeypadCode {
        restrictions: Restrictions {
            allowed_from_date: Some("2030-01-01T14:00:00.000Z".into()),
            allowed_until_date: Some("2030-01-08T10:00:00.000Z".into()),
            allowed_week_days: Some(124),
            allowed_from_time: Some(480),
            allowed_until_time: Some(1080),
        },
        ..code("Cleaner", "593817")
    };
    let changed = f
        .client
        .update_keypad_code(lock, &created.id, &later, true)
        .await
        .unwrap();
    assert_eq!(changed.code, Some(593_817));
    {
        let w = f.sim.world();
        let held = &w.auths[&created.id];
        assert_eq!(held.allowed_week_days, Some(124));
        assert_eq!(held.allowed_until_time, Some(1080));
    }

    f.client.delete_auth(lock, &created.id).await.unwrap();
    assert!(!f.sim.world().auths.contains_key(&created.id));
    // Gone already: nothing to do.
    f.client.delete_auth(lock, &created.id).await.unwrap();
}

#[tokio::test]
async fn a_write_nuki_accepted_but_the_lock_has_not_applied_is_said_so() {
    let f = fixture().await;
    let lock = f.demo.lock_ids[0];
    // The lock applies it an hour after Nuki's 204, on the simulator's clock.
    f.sim.world().config.write_delay_ms = 3_600_000;
    let err = f
        .client
        .create_keypad_code(lock, &code("Late", "735918"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotApplied {
                what: "keypad code",
                ..
            }
        ),
        "{err}"
    );
    assert!(f.client.keypad_codes(lock).await.unwrap().is_empty());
    // The code is taken from the moment Nuki accepted it.
    let err = f
        .client
        .create_keypad_code(lock, &code("Again", "735918"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Conflict));
    f.sim.advance(3_600_000);
    let listed = f.client.keypad_codes(lock).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].code),
        ("Late", Some(735_918))
    );

    // A lock out of Nuki's reach drops what was accepted.
    f.sim.world().config.write_delay_ms = 10;
    f.sim.world().locks.get_mut(&lock).unwrap().server_state = 4;
    let err = f
        .client
        .create_keypad_code(lock, &code("Dropped", "846239"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotApplied { .. }), "{err}");
}

#[tokio::test]
async fn a_keypad_code_needs_a_paired_keypad() {
    let f = fixture().await;
    let lock = f.demo.lock_ids[2];
    f.sim.world().locks.get_mut(&lock).unwrap().keypad_paired = false;
    let err = f
        .client
        .create_keypad_code(lock, &code("Guest", "384365"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::BadRequest));
    assert!(err.to_string().contains("parameter 'type'"), "{err}");
}

#[tokio::test]
async fn actions_and_the_log_paged_by_record() {
    let f = fixture().await;
    let lock = f.demo.lock_ids[0];
    f.client.action(lock, Action::Unlock).await.unwrap();
    let now = f.client.smartlock(lock).await.unwrap();
    assert_eq!(now.state.unwrap().bolt(), Bolt::Unlocked);
    let created = f
        .client
        .create_keypad_code(lock, &code("Dog walker", "846239"))
        .await
        .unwrap();
    for i in 0..60 {
        let pin = if i % 2 == 0 { 846_239 } else { 999_999 };
        f.sim.world().keypad_entry(lock, pin);
    }
    let first = f.client.logs(lock, &LogQuery::default()).await.unwrap();
    assert_eq!(first.len(), 50);
    let next = f
        .client
        .logs(
            lock,
            &LogQuery {
                before: first.last().map(|r| r.id.clone()),
                ..LogQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(next.len(), 11, "ten entries and the unlock");
    let all: Vec<_> = first.iter().chain(&next).collect();
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let entry = all
        .iter()
        .find(|r| r.trigger == 255 && r.state == 0)
        .unwrap();
    assert_eq!(entry.auth_id.as_deref(), Some(created.id.as_str()));
    assert_eq!(entry.source, Some(1));
    assert!(all.iter().any(|r| r.state == 224));
    assert_eq!(all.last().unwrap().action, 1);
}

/// An answer that is not what the API documents names where it broke.
#[tokio::test]
async fn a_malformed_answer_names_its_json_path() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await.unwrap();
        let body = r#"[{"smartlockId": 17968122341, "name": "Door"}, {"smartlockId": "x", "name": "Gate"}]"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(body.as_bytes()).await.unwrap();
    });
    let client = NukiClient::new(Config::new("t").base_url(&format!("http://{addr}")));
    match client.smartlocks().await.unwrap_err() {
        Error::Decode { status, path, .. } => {
            assert_eq!((status, path.as_str()), (200, "[1].smartlockId"));
        }
        other => panic!("{other}"),
    }
}
