//! Kii connections, their things, and the thing-password route, end to end against the
//! Kii simulator.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_kii::{Config, ErrorKind, KiiClient};
use reqwest::Method;
use serde_json::{Value, json};

impl TestApp {
    fn kii_credentials(&self) -> Value {
        json!({
            "app_id": self.kii_demo.app_id,
            "app_key": self.kii_demo.app_key,
            "client_id": self.kii_demo.client_id,
            "client_secret": self.kii_demo.client_secret,
        })
    }

    async fn connect_kii(&self) -> String {
        let r = self
            .post(
                "/v1/connections",
                json!({"provider": "kii", "name": "Door controllers", "credentials": self.kii_credentials()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    async fn put_password(&self, conn: &str, vid: &str, key: &str, body: Value) -> Resp {
        let path = format!("/v1/connections/{conn}/things/{vid}/password");
        self.call(Method::PUT, &path, Some(key), Some(body)).await
    }

    /// Logs the thing in with `password` through the real Kii client.
    async fn kii_login(&self, vid: &str, password: &str) -> Result<(), lockbridge_kii::Error> {
        let d = &self.kii_demo;
        let client = KiiClient::new(Config::new(&self.sim_url("kii"), &d.app_id, &d.app_key));
        client.thing_login(vid, password).await.map(drop)
    }

    fn password_changes(&self, vid: &str) -> u32 {
        let w = self.kii.world();
        w.things
            .values()
            .find(|t| t.vendor_thing_id == vid)
            .unwrap()
            .password_changes
    }
}

both_backends!(
    connect_list_things_and_change_a_password,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn = t.connect_kii().await;
        let read = t.get(&format!("/v1/connections/{conn}")).await;
        assert_eq!(read.body["provider"], "kii");
        assert_eq!(
            read.body["credentials"]["app_id"],
            t.kii_demo.app_id.as_str()
        );
        assert!(
            read.body["credentials"]["client_secret"]
                .as_str()
                .unwrap()
                .starts_with("••••")
        );
        assert!(!read.body.to_string().contains(&t.kii_demo.client_secret));

        let things = t
            .call(
                Method::GET,
                &format!("/v1/connections/{conn}/things?limit=2"),
                Some(&t.member),
                None,
            )
            .await;
        assert_eq!(things.status, 200, "{}", things.body);
        assert_eq!(things.body["data"].as_array().unwrap().len(), 2);
        let next = things.body["next_cursor"].as_str().unwrap();
        let rest = t
            .get(&format!(
                "/v1/connections/{conn}/things?limit=50&cursor={next}"
            ))
            .await;
        let mut seen: Vec<String> = things.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .chain(rest.body["data"].as_array().unwrap())
            .map(|t| t["vendor_thing_id"].as_str().unwrap().to_owned())
            .collect();
        seen.sort();
        let mut expected = t.kii_demo.thing_ids.clone();
        expected.sort();
        assert_eq!(seen, expected);
        assert!(rest.body["next_cursor"].is_null());
        assert_eq!(things.body["data"][0]["thing_type"], "DOOR_CONTROLLER");

        let vid = t.kii_demo.thing_ids[0].clone();
        let r = t
            .put_password(
                &conn,
                &vid,
                &t.admin,
                json!({"new_password": "Guest 2026-11 ~ok"}),
            )
            .await;
        assert_eq!((r.status.as_u16(), &r.body), (204, &Value::Null));
        assert_eq!(t.password_changes(&vid), 1);
        t.kii_login(&vid, "Guest 2026-11 ~ok").await.unwrap();
        // The same password again is accepted; a second new one replaces it.
        assert_eq!(
            t.put_password(
                &conn,
                &vid,
                &t.admin,
                json!({"new_password": "Guest 2026-11 ~ok"})
            )
            .await
            .status,
            204
        );
        assert_eq!(
            t.put_password(&conn, &vid, &t.admin, json!({"new_password": "x"}))
                .await
                .status,
            204
        );
        let old = t.kii_login(&vid, "Guest 2026-11 ~ok").await.unwrap_err();
        assert_eq!(old.api().unwrap().kind(), ErrorKind::InvalidGrant);
        t.kii_login(&vid, "x").await.unwrap();

        // Neither the database nor the connection's JSON holds the new password.
        let stored =
            t.db.store
                .connection_by_id(conn.parse().unwrap())
                .await
                .unwrap()
                .unwrap();
        assert!(!stored.credentials.to_json().contains("Guest 2026-11"));
    }
);

both_backends!(
    the_password_rule_is_checked_before_kii_is_called,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn = t.connect_kii().await;
        let vid = t.kii_demo.thing_ids[1].clone();
        let calls_before = t.kii.world().calls.clone();
        let long = "a".repeat(201);
        for bad in [
            json!(""),
            json!(long),
            json!("tab\there"),
            json!("new\nline"),
            json!("del\u{7f}"),
            json!("caf\u{e9}"),
            json!(1234),
        ] {
            let r = t
                .put_password(&conn, &vid, &t.admin, json!({ "new_password": bad }))
                .await;
            assert_eq!(
                (r.status.as_u16(), error_code(&r)),
                (400, "validation_failed"),
                "{bad}"
            );
            assert_eq!(r.body["error"]["field"], "new_password", "{bad}");
            if let Some(text) = bad.as_str().filter(|s| !s.is_empty()) {
                assert!(
                    !r.body.to_string().contains(text),
                    "the password is not echoed"
                );
            }
        }
        let r = t.put_password(&conn, &vid, &t.admin, json!({})).await;
        assert_eq!(r.body["error"]["field"], "new_password");
        let r = t
            .put_password(
                &conn,
                &vid,
                &t.admin,
                json!({"new_password": "ok", "old_password": "x"}),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "old_password");
        assert_eq!(
            t.kii.world().calls,
            calls_before,
            "no vendor call for a bad password"
        );
        assert_eq!(t.password_changes(&vid), 0);
        // The edges that pass: 1 and 200 printable ASCII characters.
        for good in ["a".to_owned(), "~".repeat(200)] {
            assert_eq!(
                t.put_password(&conn, &vid, &t.admin, json!({ "new_password": good }))
                    .await
                    .status,
                204
            );
        }
    }
);

both_backends!(unknown_things_members_and_other_orgs, |db: Db| async move {
    let t = TestApp::start(db).await;
    let conn = t.connect_kii().await;
    let vid = t.kii_demo.thing_ids[0].clone();
    let r = t
        .put_password(
            &conn,
            "no-such-thing",
            &t.admin,
            json!({"new_password": "abc"}),
        )
        .await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (404, "not_found"));
    assert_eq!(r.body["error"]["provider"], "kii");
    assert_eq!(r.body["error"]["provider_code"], "THING_NOT_FOUND");

    let r = t
        .put_password(&conn, &vid, &t.member, json!({"new_password": "abc"}))
        .await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (403, "forbidden"));
    let r = t
        .call(
            Method::PUT,
            &format!("/v1/connections/{conn}/things/{vid}/password"),
            None,
            Some(json!({"new_password": "abc"})),
        )
        .await;
    assert_eq!(r.status, 401);

    let other = t.db.store.create_org("Other").await.unwrap().id;
    let (_, other_admin) =
        t.db.store
            .create_api_key(other, "a", lockbridge_core::model::Role::Admin)
            .await
            .unwrap();
    let r = t
        .put_password(&conn, &vid, &other_admin, json!({"new_password": "abc"}))
        .await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (404, "not_found"));
    assert_eq!(t.password_changes(&vid), 0);

    // A TTLock connection has no things.
    let tt = t.connect().await;
    let r = t
        .put_password(&tt, &vid, &t.admin, json!({"new_password": "abc"}))
        .await;
    assert_eq!((r.status.as_u16(), error_code(&r)), (422, "not_supported"));
    let r = t.get(&format!("/v1/connections/{tt}/things")).await;
    assert_eq!(error_code(&r), "not_supported");
});

both_backends!(
    kii_credentials_are_verified_and_failures_mapped,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let mut creds = t.kii_credentials();
        creds["client_secret"] = json!("not-the-secret");
        let r = t
            .post(
                "/v1/connections",
                json!({"provider": "kii", "credentials": creds}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (422, "provider_rejected_credentials")
        );
        let mut creds = t.kii_credentials();
        creds["app_id"] = json!("nosuchapp");
        let r = t
            .post(
                "/v1/connections",
                json!({"provider": "kii", "credentials": creds}),
            )
            .await;
        assert_eq!(error_code(&r), "provider_rejected_credentials");
        let r = t
            .post(
                "/v1/connections",
                json!({"provider": "kii", "credentials": {"app_id": "x"}}),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "credentials.app_key");
        assert!(
            t.get("/v1/connections").await.body["data"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        let conn = t.connect_kii().await;
        let vid = t.kii_demo.thing_ids[2].clone();
        t.kii.world().faults.add(lockbridge_sim::faults::FaultRule {
            http_status: Some(503),
            count: Some(1),
            ..Default::default()
        });
        let r = t
            .put_password(&conn, &vid, &t.admin, json!({"new_password": "abc"}))
            .await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (502, "provider_error"));
        assert_eq!(
            t.put_password(&conn, &vid, &t.admin, json!({"new_password": "abc"}))
                .await
                .status,
            204
        );

        // A sync finds no locks on a Kii connection (things are not locks).
        let s = t
            .post(&format!("/v1/connections/{conn}/sync"), json!({}))
            .await;
        assert_eq!((s.status.as_u16(), &s.body["locks"]), (200, &json!(0)));

        // Two refused verifications, one at connect, and none per password change: the admin
        // token obtained while verifying is stored and reused.
        let calls = t.kii.world().calls.clone();
        assert_eq!(
            calls.get("/api/apps/{app}/oauth2/token").copied(),
            Some(3),
            "{calls:?}"
        );
    }
);
