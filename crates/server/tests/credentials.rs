//! `POST /bff/iot-lock/credentials-update`, and connections verified before they are stored.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::ConnectionId;
use lockbridge_sim::ttlock::md5_hex;
use serde_json::json;

const ROUTE: &str = "/bff/iot-lock/credentials-update";

both_backends!(password_is_required, |db: Db| async move {
    let t = TestApp::start(db).await;
    for body in [json!({}), json!({"password": ""}), json!({"clientId": "x"})] {
        let r = t.post(ROUTE, body.clone()).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (400, "validation_failed"),
            "{body}"
        );
        assert_eq!(r.body["error"]["field"], "password");
    }
    let r = t.post(ROUTE, json!({"password": "x", "colour": 1})).await;
    assert_eq!(r.body["error"]["field"], "colour");
});

both_backends!(
    first_time_needs_all_four_fields_then_creates_the_connection,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let r = t.post(ROUTE, json!({"password": t.demo.password})).await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["field"].as_str()),
            (400, Some("clientId"))
        );
        let r = t
        .post(ROUTE, json!({"clientId": t.demo.client_id, "clientSecret": t.demo.client_secret, "username": t.demo.username, "password": t.demo.password}))
        .await;
        assert_eq!(
            (r.status.as_u16(), &r.body),
            (200, &json!({"success": true}))
        );
        let list = t.get("/v1/connections").await;
        assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(list.body["data"][0]["provider"], "ttlock");
    }
);

both_backends!(
    a_new_app_password_alone_is_verified_and_persisted,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn: ConnectionId = t.connect().await.parse().unwrap();
        let before = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        // The password was changed in the TTLock app.
        t.sim
            .world()
            .add_user(&t.demo.username, "a-new-app-password");
        let grants = t.sim_calls("/oauth2/token#password");
        let r = t
            .post(
                ROUTE,
                json!({"password": "a-new-app-password", "clientId": "", "username": ""}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), &r.body),
            (200, &json!({"success": true})),
            "empty fields fall back"
        );
        assert_eq!(
            t.sim_calls("/oauth2/token#password"),
            grants + 1,
            "verified with TTLock"
        );

        let after = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        assert_eq!(
            after.credentials.get("password_md5"),
            Some(md5_hex("a-new-app-password").as_str())
        );
        assert_ne!(
            after.credentials.get("access_token"),
            before.credentials.get("access_token")
        );
        assert_eq!(
            after.credentials.get("client_secret"),
            before.credentials.get("client_secret")
        );
        assert_eq!(
            after.credentials.get("password"),
            None,
            "the plain password is never stored"
        );
        assert!(after.credentials_version > before.credentials_version);
        // The new tokens work.
        let front = t.lock_id("Front door").await;
        assert_eq!(
            t.post(&format!("/v1/locks/{front}/unlock"), json!({}))
                .await
                .status,
            200
        );
    }
);

both_backends!(a_refused_update_changes_nothing, |db: Db| async move {
    let t = TestApp::start(db).await;
    let conn: ConnectionId = t.connect().await.parse().unwrap();
    let before = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
    let r = t.post(ROUTE, json!({"password": "wrong"})).await;
    assert_eq!(
        (r.status.as_u16(), error_code(&r)),
        (422, "provider_rejected_credentials"),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["provider"], "ttlock");
    assert_eq!(r.body["error"]["provider_code"], "10007");
    let r = t
        .post(
            ROUTE,
            json!({"password": t.demo.password, "clientSecret": "not-the-secret"}),
        )
        .await;
    assert_eq!(r.body["error"]["provider_code"], "10001");

    let after = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
    for field in [
        "access_token",
        "refresh_token",
        "password_md5",
        "client_secret",
    ] {
        assert_eq!(
            after.credentials.get(field),
            before.credentials.get(field),
            "{field}"
        );
    }
    assert_eq!(after.credentials_version, before.credentials_version);
    // The stored tokens still work.
    let front = t.lock_id("Front door").await;
    assert_eq!(
        t.post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await
            .status,
        200
    );
});

both_backends!(
    connections_are_verified_masked_patched_and_deleted,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let mut bad = t.ttlock_credentials();
        bad["client_secret"] = json!("wrong");
        let r = t
            .post(
                "/v1/connections",
                json!({"provider": "ttlock", "credentials": bad}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (422, "provider_rejected_credentials")
        );
        assert_eq!(
            t.get("/v1/connections").await.body["data"],
            json!([]),
            "nothing stored"
        );

        let id = t.connect().await;
        let read = t.get(&format!("/v1/connections/{id}")).await;
        let text = read.body.to_string();
        assert!(!text.contains(&t.demo.client_secret) && !text.contains(&t.demo.password));
        assert!(!text.contains(&md5_hex(&t.demo.password)));
        let secret = read.body["credentials"]["client_secret"].as_str().unwrap();
        assert!(secret.starts_with("••••") && secret.chars().count() <= 8);
        assert_eq!(read.body["credentials"]["username"], t.demo.username);
        assert_eq!(read.body["status"], "active");
        assert!(read.body["last_sync_at"].is_string());

        t.sim.world().add_user(&t.demo.username, "rotated");
        let r = t
            .patch(
                &format!("/v1/connections/{id}"),
                json!({"credentials": {"password": "rotated"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = t
            .patch(
                &format!("/v1/connections/{id}"),
                json!({"credentials": {"password": "stale"}}),
            )
            .await;
        assert_eq!(r.status, 422);

        assert_eq!(t.delete(&format!("/v1/connections/{id}")).await.status, 204);
        assert_eq!(t.get(&format!("/v1/connections/{id}")).await.status, 404);
        assert_eq!(t.get("/v1/locks").await.body["data"], json!([]));
    }
);

both_backends!(
    several_ttlock_connections_need_the_one_named,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let first = t.connect().await;
        t.sim.world().add_user("second-site", "second-password");
        let mut creds = t.ttlock_credentials();
        creds["username"] = json!("second-site");
        creds["password"] = json!("second-password");
        let second = t
            .connect_with(json!({"provider": "ttlock", "credentials": creds}))
            .await;
        let before =
            t.db.store
                .connection_by_id(first.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
        t.sim.world().add_user("second-site", "a-newer-password");
        let r = t.post(ROUTE, json!({"password": "a-newer-password"})).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (409, "ambiguous_connection")
        );
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&first) && message.contains(&second),
            "{message}"
        );
        let unchanged =
            t.db.store
                .connection_by_id(first.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
        assert_eq!(unchanged.credentials_version, before.credentials_version);

        let r = t
            .post(
                ROUTE,
                json!({"password": "a-newer-password", "connectionId": second}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), &r.body),
            (200, &json!({"success": true}))
        );
        let updated =
            t.db.store
                .connection_by_id(second.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            updated.credentials.get("password_md5"),
            Some(md5_hex("a-newer-password").as_str())
        );
        let first_after =
            t.db.store
                .connection_by_id(first.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
        assert_eq!(first_after.credentials_version, before.credentials_version);
        let r = t
            .post(
                ROUTE,
                json!({"password": "x", "connectionId": "conn_nothing"}),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.body);
    }
);
