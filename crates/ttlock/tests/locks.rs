//! Locks, gateways, remote operations and records against the simulator.

#![allow(clippy::unwrap_used)]

mod common;

use common::Env;
use futures_util::TryStreamExt;
use lockbridge_ttlock::{
    ApiErrorKind, Error, Features, LockQuery, OpenState, OrderBy, RecordQuery,
};

#[tokio::test]
async fn a_page_of_locks_and_all_of_them() {
    let env = Env::started().await;
    let page = env.client.locks(&LockQuery::default()).await.unwrap();
    assert_eq!(
        (page.total, page.pages, page.list.len()),
        (Some(5), Some(1), 5)
    );
    let front = page.list.iter().find(|l| l.lock_id == env.lock(0)).unwrap();
    assert_eq!(front.lock_alias.as_deref(), Some("Front door"));
    assert_eq!(front.electric_quantity, Some(87));
    assert!(front.has_gateway && front.is_remote());
    let studio = page.list.iter().find(|l| l.lock_id == env.lock(3)).unwrap();
    assert!(!studio.has_gateway && studio.features().has(Features::WIFI) && studio.is_remote());
    let shed = page.list.iter().find(|l| l.lock_id == env.lock(4)).unwrap();
    assert!(!shed.is_remote());

    let filtered = env
        .client
        .all_locks(LockQuery {
            lock_alias: Some("door".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.len(), 2);
}

#[tokio::test]
async fn the_stream_walks_every_page() {
    let env = Env::started().await;
    let before = env.calls("/v3/lock/list");
    let query = LockQuery {
        page_size: 2,
        ..Default::default()
    };
    let ids: Vec<i64> = env
        .client
        .locks_stream(query)
        .map_ok(|l| l.lock_id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, env.demo.lock_ids);
    assert_eq!(
        env.calls("/v3/lock/list") - before,
        3,
        "pages of 2, 2 and 1"
    );
}

#[tokio::test]
async fn bad_pages_fail_before_any_request() {
    let env = Env::started().await;
    let before = env.total_calls();
    let too_big = LockQuery {
        page_size: 1001,
        ..Default::default()
    };
    let err = env.client.locks(&too_big).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                param: "page_size",
                ..
            }
        ),
        "{err}"
    );
    let zero = LockQuery {
        page_no: 0,
        ..Default::default()
    };
    assert!(matches!(
        env.client.locks(&zero).await,
        Err(Error::InvalidInput {
            param: "page_no",
            ..
        })
    ));
    assert!(env.client.gateways(1, 201, OrderBy::Name).await.is_err());
    assert_eq!(env.total_calls(), before);
}

#[tokio::test]
async fn lock_detail_and_unknown_locks() {
    let env = Env::started().await;
    let d = env.client.lock_detail(env.lock(0)).await.unwrap();
    assert_eq!(d.lock_alias.as_deref(), Some("Front door"));
    assert!(d.has_gateway);
    assert!(d.firmware_revision.is_some());
    let err = env.client.lock_detail(1).await.unwrap_err();
    assert_eq!(err.api().unwrap().kind(), ApiErrorKind::LockNotFound);
}

#[tokio::test]
async fn gateways_and_their_locks() {
    let env = Env::started().await;
    let page = env.client.gateways(1, 20, OrderBy::Name).await.unwrap();
    let names: Vec<_> = page
        .list
        .iter()
        .map(|g| g.gateway_name.clone().unwrap())
        .collect();
    assert_eq!(names, ["Annex gateway", "Lobby gateway"]);
    assert!(!page.list[0].is_online && page.list[1].is_online);
    let locks = env
        .client
        .gateway_locks(env.demo.gateway_ids[0])
        .await
        .unwrap();
    let mut ids: Vec<i64> = locks.iter().map(|l| l.lock_id).collect();
    ids.sort();
    assert_eq!(ids, [env.lock(0), env.lock(1)]);
    let gws = env.client.lock_gateways(env.lock(1)).await.unwrap();
    assert_eq!(gws[0].gateway_id, env.demo.gateway_ids[0]);
}

#[tokio::test]
async fn unlock_lock_state_and_battery_through_the_gateway() {
    let env = Env::started().await;
    let front = env.lock(0);
    env.client.unlock(front).await.unwrap();
    assert_eq!(
        env.client.open_state(front).await.unwrap(),
        OpenState::Unlocked
    );
    assert_eq!(env.sim.world().locks[&front].state, 1);
    env.client.lock(front).await.unwrap();
    assert_eq!(
        env.client.open_state(front).await.unwrap(),
        OpenState::Locked
    );
    assert_eq!(env.client.battery(front).await.unwrap(), 87);
    // A Wi-Fi lock needs no gateway.
    env.client.unlock(env.lock(3)).await.unwrap();

    let no_gateway = env.client.unlock(env.lock(4)).await.unwrap_err();
    assert_eq!(no_gateway.api().unwrap().kind(), ApiErrorKind::NoGateway);
    assert!(!no_gateway.is_transient());
    let offline = env.client.unlock(env.lock(2)).await.unwrap_err();
    assert_eq!(offline.api().unwrap().kind(), ApiErrorKind::GatewayOffline);
    assert!(offline.is_transient());
}

#[tokio::test]
async fn records_newest_first_with_filters() {
    let env = Env::started().await;
    let front = env.lock(0);
    env.client.unlock(front).await.unwrap();
    let page = env
        .client
        .unlock_records(&RecordQuery::new(front))
        .await
        .unwrap();
    assert_eq!(page.total, Some(3));
    let newest = &page.list[0];
    assert_eq!((newest.record_type, newest.success), (12, true));
    assert_eq!(newest.username.as_deref(), Some(env.demo.username.as_str()));
    let by_code = page
        .list
        .iter()
        .find(|r| r.keyboard_pwd.as_deref() == Some("482913"))
        .unwrap();
    assert_eq!(by_code.username.as_deref(), Some("Cleaner"));

    let only_codes = RecordQuery {
        record_type: Some(4),
        ..RecordQuery::new(front)
    };
    let page = env.client.unlock_records(&only_codes).await.unwrap();
    assert_eq!(page.list.len(), 2);
    assert!(
        page.list.iter().any(|r| !r.success),
        "the wrong code is logged as a failure"
    );

    let backwards = RecordQuery {
        start: Some(10.into()),
        end: Some(5.into()),
        ..RecordQuery::new(front)
    };
    let err = env.client.unlock_records(&backwards).await.unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput {
            param: "end_date",
            ..
        }
    ));
}
