//! Passcodes end to end: the client's calls, checked against the simulator's ground truth.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::Env;
use lockbridge_ttlock::{
    ApiErrorKind, EpochMillis, Error, NewPasscode, OrderBy, PasscodeChange, PasscodeQuery,
    RandomKind, RandomPasscodeRequest, Validity, WriteVia,
};

const DAY_MS: i64 = 86_400_000;

fn now() -> i64 {
    EpochMillis::now().0
}

/// The codes on the lock in the simulator: (id, code, name).
fn on_lock(env: &Env, lock: i64) -> Vec<(i64, String, Option<String>)> {
    let w = env.sim.world();
    w.locks[&lock]
        .passcodes
        .values()
        .map(|p| (p.id, p.code.clone(), p.name.clone()))
        .collect()
}

#[tokio::test]
async fn list_page_all_and_search() {
    let env = Env::started().await;
    let front = env.lock(0);
    let page = env
        .client
        .passcodes(&PasscodeQuery {
            order_by: OrderBy::Name,
            ..PasscodeQuery::new(front)
        })
        .await
        .unwrap();
    assert_eq!(page.total, Some(2));
    assert_eq!(page.list[0].keyboard_pwd_name.as_deref(), Some("Cleaner"));
    assert_eq!(page.list[0].keyboard_pwd_type, Some(2));
    let guest = &page.list[1];
    assert_eq!(
        (guest.keyboard_pwd.as_deref(), guest.keyboard_pwd_type),
        (Some("70315"), Some(3))
    );
    assert!(guest.start_date.unwrap() < guest.end_date.unwrap());

    assert_eq!(
        env.client.all_passcodes(front, None).await.unwrap().len(),
        2
    );
    let by_name = env.client.search_passcodes(front, "clean").await.unwrap();
    assert_eq!(by_name[0].keyboard_pwd.as_deref(), Some("482913"));
    let by_value = env.client.search_passcodes(front, "70315").await.unwrap();
    assert_eq!(by_value[0].keyboard_pwd_name.as_deref(), Some("Guest 1042"));
    assert!(
        env.client
            .search_passcodes(front, "4829")
            .await
            .unwrap()
            .is_empty(),
        "values match exactly"
    );
}

#[tokio::test]
async fn all_passcodes_walks_pages_of_200() {
    let env = Env::started().await;
    let lock = env.lock(1);
    for i in 0..240 {
        let code = format!("{:06}", 100_000 + i);
        env.sim.world().put_passcode(
            lock,
            lockbridge_sim::ttlock::PasscodeSpec {
                code,
                name: None,
                start_ms: None,
                end_ms: None,
            },
        );
    }
    let before = env.calls("/v3/lock/listKeyboardPwd");
    assert_eq!(
        env.client.all_passcodes(lock, None).await.unwrap().len(),
        241
    );
    assert_eq!(env.calls("/v3/lock/listKeyboardPwd") - before, 2);
}

#[tokio::test]
async fn add_permanent_and_temporary_codes_through_the_gateway() {
    let env = Env::started().await;
    let back = env.lock(1);
    let id = env
        .client
        .add_permanent_passcode(back, "012345", Some("Guest"))
        .await
        .unwrap();
    let start = SystemTime::now();
    let end = start + Duration::from_secs(7 * 86_400);
    let tmp = env
        .client
        .add_temporary_passcode(back, "8642", start, end, Some("Week"))
        .await
        .unwrap();

    let w = env.sim.world();
    let perm = &w.locks[&back].passcodes[&id];
    assert_eq!(
        (perm.code.as_str(), perm.kind, perm.on_lock),
        ("012345", 2, true),
        "leading zero kept"
    );
    let week = &w.locks[&back].passcodes[&tmp];
    assert_eq!((week.kind, week.end_ms - week.start_ms), (3, 7 * DAY_MS));
    drop(w);
    assert_eq!(env.sim.world().keypad(back, "012345"), Some(true));
}

#[tokio::test]
async fn add_with_full_control_and_typed_refusals() {
    let env = Env::started().await;
    let front = env.lock(0);
    let bluetooth = NewPasscode {
        lock_id: front,
        passcode: "55501".into(),
        name: None,
        validity: Validity::Period {
            start: now().into(),
            end: (now() + DAY_MS).into(),
        },
        via: WriteVia::Bluetooth,
    };
    let id = env.client.add_passcode(&bluetooth).await.unwrap();
    assert!(
        !env.sim.world().locks[&front].passcodes[&id].on_lock,
        "Bluetooth only records it"
    );

    let dup = NewPasscode {
        passcode: "482913".into(),
        validity: Validity::Permanent,
        via: WriteVia::Gateway,
        ..bluetooth.clone()
    };
    let err = env.client.add_passcode(&dup).await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(
        (api.errcode, api.kind()),
        (-3007, ApiErrorKind::DuplicatePasscode)
    );
    assert!(api.errmsg.contains("already exists"));

    let shed = NewPasscode {
        lock_id: env.lock(4),
        passcode: "123789".into(),
        ..dup.clone()
    };
    assert_eq!(
        env.client
            .add_passcode(&shed)
            .await
            .unwrap_err()
            .api()
            .unwrap()
            .kind(),
        ApiErrorKind::NoGateway
    );

    env.sim.world().config.capacity = 3;
    let full = NewPasscode {
        passcode: "909090".into(),
        ..dup
    };
    assert_eq!(
        env.client
            .add_passcode(&full)
            .await
            .unwrap_err()
            .api()
            .unwrap()
            .kind(),
        ApiErrorKind::NoSpace
    );
}

#[tokio::test]
async fn bad_input_fails_before_any_request_naming_the_parameter() {
    let env = Env::started().await;
    let front = env.lock(0);
    let before = env.total_calls();
    let param = |r: Result<i64, Error>| match r {
        Err(Error::InvalidInput { param, .. }) => param,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        param(env.client.add_permanent_passcode(front, "123", None).await),
        "passcode"
    );
    assert_eq!(
        param(
            env.client
                .add_permanent_passcode(front, "1234567890", None)
                .await
        ),
        "passcode"
    );
    assert_eq!(
        param(
            env.client
                .add_permanent_passcode(front, "12-34", None)
                .await
        ),
        "passcode"
    );
    assert_eq!(
        param(
            env.client
                .add_permanent_passcode(front, "1234", Some(" "))
                .await
        ),
        "name"
    );
    assert_eq!(
        param(
            env.client
                .add_temporary_passcode(front, "1234", 20, 10, None)
                .await
        ),
        "end_date"
    );
    assert_eq!(
        param(
            env.client
                .add_temporary_passcode(front, "1234", 10, 10, None)
                .await
        ),
        "end_date"
    );

    let change = |c: PasscodeChange| {
        let client = env.client.clone();
        async move {
            match client.change_passcode(front, 1, &c).await {
                Err(Error::InvalidInput { param, .. }) => param,
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(change(PasscodeChange::default()).await, "change");
    assert_eq!(
        change(PasscodeChange {
            passcode: Some("12".into()),
            ..Default::default()
        })
        .await,
        "new_passcode"
    );
    assert_eq!(
        change(PasscodeChange {
            start: Some(1.into()),
            ..Default::default()
        })
        .await,
        "end_date"
    );
    assert_eq!(
        change(PasscodeChange {
            end: Some(1.into()),
            ..Default::default()
        })
        .await,
        "start_date"
    );
    assert_eq!(
        change(PasscodeChange {
            name: Some(String::new()),
            ..Default::default()
        })
        .await,
        "new_name"
    );
    assert!(matches!(
        env.client.search_passcodes(front, "").await,
        Err(Error::InvalidInput {
            param: "search_term",
            ..
        })
    ));
    let req = RandomPasscodeRequest {
        lock_id: front,
        kind: RandomKind::Period,
        name: None,
        start: now().into(),
        end: None,
    };
    assert!(matches!(
        env.client.random_passcode(&req).await,
        Err(Error::InvalidInput {
            param: "end_date",
            ..
        })
    ));
    assert_eq!(env.total_calls(), before, "nothing reached the cloud");
}

#[tokio::test]
async fn change_name_value_period_and_a_mix() {
    let env = Env::started().await;
    let front = env.lock(0);
    let id = env
        .client
        .add_permanent_passcode(front, "31415", Some("Old"))
        .await
        .unwrap();
    let code = |env: &Env| env.sim.world().locks[&front].passcodes[&id].clone();

    env.client
        .change_passcode_name(front, id, "Renamed")
        .await
        .unwrap();
    assert_eq!(code(&env).name.as_deref(), Some("Renamed"));
    env.client
        .change_passcode_value(front, id, "27182")
        .await
        .unwrap();
    assert_eq!(code(&env).code, "27182");
    let (s, e) = (now(), now() + 2 * DAY_MS);
    env.client
        .change_passcode_period(front, id, s, e)
        .await
        .unwrap();
    assert_eq!((code(&env).start_ms, code(&env).end_ms), (s, e));

    let mix = PasscodeChange {
        name: Some("Mixed".into()),
        passcode: Some("16180".into()),
        ..Default::default()
    };
    env.client.change_passcode(front, id, &mix).await.unwrap();
    assert_eq!(
        (code(&env).name.as_deref(), code(&env).code.as_str()),
        (Some("Mixed"), "16180")
    );
    assert_eq!(env.sim.world().keypad(front, "16180"), Some(true));

    let clash = PasscodeChange {
        passcode: Some("482913".into()),
        ..Default::default()
    };
    let err = env
        .client
        .change_passcode(front, id, &clash)
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().kind(), ApiErrorKind::DuplicatePasscode);
}

#[tokio::test]
async fn delete_through_the_gateway_and_alias() {
    let env = Env::started().await;
    let front = env.lock(0);
    let a = env
        .client
        .add_permanent_passcode(front, "7777", None)
        .await
        .unwrap();
    let b = env
        .client
        .add_permanent_passcode(front, "8888", None)
        .await
        .unwrap();
    env.client.delete_passcode(front, a).await.unwrap();
    env.client
        .delete_passcode_via_gateway(front, b)
        .await
        .unwrap();
    let left: Vec<i64> = on_lock(&env, front).into_iter().map(|c| c.0).collect();
    assert!(!left.contains(&a) && !left.contains(&b));
    assert_eq!(left.len(), 2);

    env.sim
        .world()
        .gateways
        .get_mut(&env.demo.gateway_ids[0])
        .unwrap()
        .online = false;
    let err = env
        .client
        .delete_passcode(front, left[0])
        .await
        .unwrap_err();
    assert!(err.is_transient());
    assert_eq!(
        on_lock(&env, front).len(),
        2,
        "nothing deleted while the gateway is offline"
    );
}

#[tokio::test]
async fn gateway_busy_is_typed_and_transient() {
    let env = Env::started().await;
    env.sim
        .world()
        .faults
        .add(lockbridge_sim::faults::FaultRule {
            route: Some("/v3/keyboardPwd/add".into()),
            errcode: Some(-3003),
            count: Some(1),
            ..Default::default()
        });
    let err = env
        .client
        .add_permanent_passcode(env.lock(0), "24680", None)
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().kind(), ApiErrorKind::GatewayBusy);
    assert!(err.is_transient());
    env.client
        .add_permanent_passcode(env.lock(0), "24680", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn algorithmic_codes_need_no_gateway() {
    let env = Env::started().await;
    let shed = env.lock(4);
    let start = now();
    let req = RandomPasscodeRequest {
        lock_id: shed,
        kind: RandomKind::Period,
        name: Some("Cleaner".into()),
        start: start.into(),
        end: Some((start + DAY_MS).into()),
    };
    let code = env.client.random_passcode(&req).await.unwrap();
    assert!((6..=9).contains(&code.keyboard_pwd.len()));
    let stored = env.sim.world().locks[&shed].passcodes[&code.keyboard_pwd_id].clone();
    assert_eq!(stored.code, code.keyboard_pwd);
    assert_eq!(stored.start_ms % 3_600_000, 0, "hour precision");

    let once = RandomPasscodeRequest {
        kind: RandomKind::OneTime,
        end: None,
        ..req
    };
    assert!(env.client.random_passcode(&once).await.is_ok());
    let weekend = RandomPasscodeRequest {
        kind: RandomKind::Weekend,
        end: Some((start + 3_600_000).into()),
        ..once
    };
    assert!(env.client.random_passcode(&weekend).await.is_ok());
}
