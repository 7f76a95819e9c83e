//! Several instances on one database renew each token once, and each uses the token stored by
//! whichever renewed it (Tuya supersedes the old token on renewal, so an instance that kept
//! its own would break the others' calls, and renew again). A call refused mid-flight because
//! its token was superseded or expired first looks for the stored token, and renews only when
//! the store has nothing newer.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_app::{connections as service, workers};
use lockbridge_core::credentials::Credentials;
use lockbridge_core::time::now_ms;
use lockbridge_core::{Connection, ConnectionId};
use lockbridge_server::{InstanceRole, Settings};
use lockbridge_sim::faults::FaultRule;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

both_backends!(two_instances_renew_a_token_once, |db: Db| async move {
    let t = TestApp::start(db).await;
    let conn: ConnectionId = t.connect().await.parse().unwrap();
    let other = t.other_instance(Default::default());
    t.db.store
        .store_tokens(conn, &Credentials::new(), Some(now_ms() + 60_000))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        workers::refresh_due_tokens(&t.app.state),
        workers::refresh_due_tokens(&other.state)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(t.sim_calls("/oauth2/token#refresh_token"), 1);
    // Both instances work with the renewed token.
    let stored = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
    service::sync(&other.state, &stored).await.unwrap();
    service::sync(&t.app.state, &stored).await.unwrap();
    assert_eq!(t.sim_calls("/oauth2/token#refresh_token"), 1);
});

/// Another instance works with the connection (its vendor client holds the current token),
/// then this one renews the token and stores it. Answers the other instance and the connection
/// as it was read before the renewal.
async fn renewed_by_this_one(
    t: &TestApp,
    conn: ConnectionId,
) -> (lockbridge_server::App, Connection) {
    let other = t.other_instance(Default::default());
    let before = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
    service::sync(&other.state, &before).await.unwrap();
    let vendor = t.app.state.providers.get(before.provider).unwrap();
    let update = vendor.refresh(&before).await.unwrap();
    t.db.store
        .store_tokens(conn, &update.tokens, update.expires_at)
        .await
        .unwrap();
    (other, before)
}

both_backends!(
    an_instance_takes_the_token_another_renewed,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn: ConnectionId = t.connect_tuya().await.parse().unwrap();
        // Renewals and new grants: an instance refused with a superseded token takes a new one.
        let refreshes = || {
            let w = t.tuya.world();
            let n = |k: &str| w.calls.get(k).copied().unwrap_or(0);
            n("token refreshes") + n("token grants")
        };
        // The other instance holds a client with the first token; this one renews it (Tuya
        // supersedes the first token).
        let (other, _) = renewed_by_this_one(&t, conn).await;
        let renewed = refreshes();
        // The other instance reads the connection again and uses the stored token: no refusal,
        // no renewal of its own.
        let stored = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        service::sync(&other.state, &stored).await.unwrap();
        assert_eq!(refreshes(), renewed, "the stored token was used");
    }
);

both_backends!(
    a_call_refused_mid_flight_takes_the_stored_tuya_token,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn: ConnectionId = t.connect_tuya().await.parse().unwrap();
        let refreshes = || {
            let w = t.tuya.world();
            let n = |k: &str| w.calls.get(k).copied().unwrap_or(0);
            n("token refreshes") + n("token grants")
        };
        // This instance renews: Tuya supersedes the pair the other instance holds.
        let (other, before) = renewed_by_this_one(&t, conn).await;
        let renewed = refreshes();
        // The other instance is still working from the connection as it read it before (its
        // client holds the superseded pair): Tuya refuses it, and the client takes the pair
        // from the store instead of renewing again (which would supersede this one's).
        service::sync(&other.state, &before).await.unwrap();
        assert_eq!(refreshes(), renewed, "no second renewal");
        service::sync(&t.app.state, &before).await.unwrap();
        assert_eq!(refreshes(), renewed);
    }
);

both_backends!(
    a_token_refused_mid_flight_is_first_looked_for_in_the_store,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn: ConnectionId = t.connect().await.parse().unwrap();
        let (other, before) = renewed_by_this_one(&t, conn).await;
        assert_eq!(t.sim_calls("/oauth2/token#refresh_token"), 1);
        // TTLock refuses the other instance's token as expired: it takes the stored one.
        t.sim.world().faults.add(lockbridge_sim::faults::FaultRule {
            route: Some("/v3/lock/list".into()),
            errcode: Some(10004),
            count: Some(1),
            ..Default::default()
        });
        service::sync(&other.state, &before).await.unwrap();
        assert_eq!(
            t.sim_calls("/oauth2/token#refresh_token"),
            1,
            "no second renewal"
        );
    }
);

/// Serves `app` as `role` on a port of its own until the test ends; answers its base URL.
async fn serve_as(t: &TestApp, app: &lockbridge_server::App, role: InstanceRole) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(app.clone().serve_as(role, listener, t.stopper()));
    url
}

both_backends!(
    an_api_instance_and_a_workers_instance_do_the_work_of_one,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        // Both look for work every 10 ms; only the one that runs the workers may find any.
        let fast = Settings {
            worker_interval: Duration::from_millis(10),
            webhook_poll: Duration::from_millis(10),
            ..(*t.app.state.settings).clone()
        };
        let api = t.other_instance(fast.clone());
        let api_url = serve_as(&t, &api, InstanceRole::Api).await;
        let key = Some(t.admin.as_str());

        let conn = t
            .call_at(
                &api_url,
                Method::POST,
                "/v1/connections",
                key,
                Some(json!({"provider": "ttlock", "credentials": t.ttlock_credentials()})),
            )
            .await;
        assert_eq!(conn.status, 201, "{}", conn.body);
        let synced = t
            .call_at(
                &api_url,
                Method::POST,
                &format!("/v1/connections/{}/sync", conn.body["id"].as_str().unwrap()),
                key,
                Some(json!({})),
            )
            .await;
        assert_eq!(synced.status, 200, "{}", synced.body);
        let lock = t.lock_id("Front door").await;
        // The vendor refuses the first write: the request answers `setting`, and what is left
        // (the retry) is a worker's.
        t.sim.world().faults.add(FaultRule {
            route: Some("/v3/keyboardPwd/add".into()),
            http_status: Some(503),
            count: Some(1),
            ..Default::default()
        });
        let made = t
            .call_at(
                &api_url,
                Method::POST,
                &format!("/v1/locks/{lock}/access-codes"),
                key,
                Some(json!({"code": "86420"})),
            )
            .await;
        assert_eq!(
            (made.status.as_u16(), made.body["status"].as_str()),
            (201, Some("setting")),
            "{}",
            made.body
        );
        let id = made.body["id"].as_str().unwrap().to_owned();

        let workers = t.other_instance(fast);
        let workers_url = serve_as(&t, &workers, InstanceRole::Workers).await;
        wait_until(
            "the workers instance set the code on the lock",
            t.sim.changes(),
            || t.pins_on(0).iter().any(|(pin, _)| pin == "86420"),
        )
        .await;
        // The API instance answers what the workers instance did.
        let mut read = None;
        for _ in 0..1000 {
            let r = t
                .call_at(
                    &api_url,
                    Method::GET,
                    &format!("/v1/access-codes/{id}"),
                    key,
                    None,
                )
                .await;
            let set = r.body["status"] == "set";
            read = Some(r);
            if set {
                break;
            }
            tokio::task::yield_now().await;
        }
        let read = read.unwrap();
        assert_eq!(read.body["status"], "set", "{}", read.body);

        // The workers instance serves its health, not the API.
        let health = t
            .call_at(&workers_url, Method::GET, "/readyz", None, None)
            .await;
        assert_eq!(health.status, 200);
        let api_there = t
            .call_at(&workers_url, Method::GET, "/v1/locks", key, None)
            .await;
        assert_eq!(
            (api_there.status.as_u16(), error_code(&api_there)),
            (404, "not_found")
        );
    }
);
