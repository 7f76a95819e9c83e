//! API keys, roles, organisations, and the error body on every route.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

both_backends!(keys_roles_and_organisations, |db: Db| async move {
    let t = TestApp::start(db).await;
    let conn = t.connect().await;

    let none = t.call(Method::GET, "/v1/locks", None, None).await;
    assert_eq!(
        (none.status.as_u16(), error_code(&none)),
        (401, "unauthorized")
    );
    let wrong = t
        .call(Method::GET, "/v1/locks", Some("lb_nope"), None)
        .await;
    assert_eq!(wrong.status, 401);

    // A member reads but does not administer.
    let m = Some(t.member.as_str());
    assert_eq!(t.call(Method::GET, "/v1/locks", m, None).await.status, 200);
    for (method, path) in [
        (Method::POST, "/v1/api-keys"),
        (Method::POST, "/v1/connections"),
        (Method::POST, "/bff/iot-lock/credentials-update"),
    ] {
        let r = t.call(method, path, m, Some(json!({}))).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (403, "forbidden"),
            "{path}"
        );
    }
    let r = t
        .call(
            Method::PATCH,
            &format!("/v1/connections/{conn}"),
            m,
            Some(json!({"credentials": {}})),
        )
        .await;
    assert_eq!(r.status, 403);

    // Another organisation's objects do not exist for this one.
    let other = t.db.store.create_org("Other").await.unwrap().id;
    let (_, other_key) =
        t.db.store
            .create_api_key(other, "admin", lockbridge_core::Role::Admin)
            .await
            .unwrap();
    let lock = t.lock_id("Front door").await;
    // The owner lists the lock's codes (two found on the lock): the next listings within the
    // minute read the store only, and still show nothing to another organisation.
    let mine = t.get(&format!("/v1/locks/{lock}/access-codes")).await;
    assert_eq!(
        mine.body["data"].as_array().map(Vec::len),
        Some(2),
        "{}",
        mine.body
    );
    let o = Some(other_key.as_str());
    for path in [
        format!("/v1/locks/{lock}"),
        format!("/v1/connections/{conn}"),
        format!("/v1/locks/{lock}/access-codes"),
        format!("/v1/locks/{lock}/access-codes?refresh=true"),
        format!(
            "/v1/locks/{}/access-codes",
            lockbridge_core::ids::LockId::new()
        ),
    ] {
        let r = t.call(Method::GET, &path, o, None).await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (404, "not_found"),
            "{path}"
        );
    }
    assert_eq!(
        t.call(Method::GET, "/v1/locks", o, None).await.body["data"],
        json!([])
    );

    // Keys: created by an admin, shown once, stored as hashes, deleted.
    let created = t
        .post(
            "/v1/api-keys",
            json!({"name": "front desk", "role": "member"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    assert_eq!(
        t.call(Method::GET, "/v1/locks", Some(&key), None)
            .await
            .status,
        200
    );
    let listed = t.get("/v1/api-keys").await;
    assert!(
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("key").is_none())
    );
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(t.delete(&format!("/v1/api-keys/{id}")).await.status, 204);
    assert_eq!(
        t.call(Method::GET, "/v1/locks", Some(&key), None)
            .await
            .status,
        401
    );
    let bad_role = t
        .post("/v1/api-keys", json!({"name": "x", "role": "owner"}))
        .await;
    assert_eq!(bad_role.body["error"]["field"], "role");
});

both_backends!(
    errors_have_one_shape_and_bad_input_is_400,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let r = t.get("/v1/nothing-here").await;
        assert_eq!((r.status.as_u16(), error_code(&r)), (404, "not_found"));
        assert_eq!(r.body["success"], false);
        assert_eq!(
            r.body["error"]["request_id"].as_str(),
            r.request_id.as_deref()
        );

        let malformed = t
            .http
            .post(format!("{}/v1/connections", t.url))
            .bearer_auth(&t.admin)
            .header("content-type", "application/json")
            .body("{\"provider\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400);
        let body: serde_json::Value = malformed.json().await.unwrap();
        assert_eq!(body["error"]["field"], "body");

        let cases = [
            (
                json!({"provider": "ttlock", "credentials": {}, "colour": "red"}),
                "colour",
            ),
            (json!({"provider": "acme", "credentials": {}}), "provider"),
            (
                json!({"provider": "ttlock", "credentials": "x"}),
                "credentials",
            ),
            (
                json!({"provider": "ttlock", "credentials": {"client_id": 5}}),
                "credentials.client_id",
            ),
            (
                json!({"provider": "ttlock", "credentials": {"api_token": "x"}}),
                "credentials.api_token",
            ),
            (
                json!({"provider": "ttlock", "credentials": {"client_id": "a"}}),
                "credentials.client_secret",
            ),
            (
                json!({"provider": "ttlock", "base_url": "ftp://x", "credentials": {}}),
                "base_url",
            ),
            (json!({"credentials": {}}), "provider"),
        ];
        for (body, field) in cases {
            let r = t.post("/v1/connections", body.clone()).await;
            assert_eq!(
                (r.status.as_u16(), error_code(&r)),
                (400, "validation_failed"),
                "{body}"
            );
            assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
        }
        assert_eq!(
            t.get("/v1/connections").await.body["data"],
            json!([]),
            "nothing was written"
        );
        let r = t.get("/v1/locks?limit=0").await;
        assert_eq!(r.body["error"]["field"], "limit");
        let r = t.get("/v1/locks?online=maybe").await;
        assert_eq!(r.body["error"]["field"], "online");

        assert_eq!(
            t.call(Method::GET, "/healthz", None, None).await.status,
            200
        );
        assert_eq!(
            t.call(Method::GET, "/readyz", None, None).await.body["status"],
            "ready"
        );
    }
);

both_backends!(
    a_deleted_key_stops_working_on_every_instance_within_two_seconds,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let (other, other_url) = t.serve_other().await;
        let created = t
            .post("/v1/api-keys", json!({"name": "cleaner", "role": "member"}))
            .await;
        let key = created.body["key"].as_str().unwrap().to_owned();
        let id = created.body["id"].as_str().unwrap().to_owned();
        let on_other = || t.call_at(&other_url, Method::GET, "/v1/locks", Some(&key), None);
        assert_eq!(
            on_other().await.status,
            200,
            "the other instance knows it now"
        );
        assert_eq!(t.delete(&format!("/v1/api-keys/{id}")).await.status, 204);
        // The other instance may still hold it for a moment, never for 2 s.
        t.app.state.clock.advance(2_000);
        other.state.clock.advance(2_000);
        let r = on_other().await;
        assert_eq!(r.status, 401, "{}", r.body);
        let metrics = t
            .call_at(&other_url, Method::GET, "/metrics", Some(&t.admin), None)
            .await;
        let text = metrics.body.as_str().unwrap_or_default().to_owned();
        assert!(text.contains("lockbridge_auth_failures_total 1"), "{text}");
    }
);
