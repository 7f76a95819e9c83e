//! The token worker, and a connection whose credentials stop working.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_app::workers;
use lockbridge_core::ConnectionId;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::time::now_ms;
use serde_json::json;

both_backends!(
    an_expiring_token_is_refreshed_once_by_the_worker,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn: ConnectionId = t.connect().await.parse().unwrap();
        assert_eq!(
            workers::refresh_due_tokens(&t.app.state).await.unwrap(),
            0,
            "a 90-day token is not due"
        );
        let before = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        // The stored token expires within the margin.
        t.db.store
            .store_tokens(conn, &Credentials::new(), Some(now_ms() + 60_000))
            .await
            .unwrap();
        assert_eq!(workers::refresh_due_tokens(&t.app.state).await.unwrap(), 1);
        assert_eq!(t.sim_calls("/oauth2/token#refresh_token"), 1);
        let after = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        assert_ne!(
            after.credentials.get("access_token"),
            before.credentials.get("access_token")
        );
        assert!(after.token_expires_at.unwrap() > now_ms() + 80 * 86_400_000);
        assert_eq!(workers::refresh_due_tokens(&t.app.state).await.unwrap(), 0);
        assert_eq!(t.sim_calls("/oauth2/token#refresh_token"), 1, "once");
        // The renewed token works.
        let front = t.lock_id("Front door").await;
        assert_eq!(
            t.post(&format!("/v1/locks/{front}/unlock"), json!({}))
                .await
                .status,
            200
        );
    }
);

both_backends!(
    credentials_that_stop_working_need_reauth,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn = t.connect().await;
        let front = t.lock_id("Front door").await;
        {
            // The account's password changes and every token is revoked.
            let mut w = t.sim.world();
            w.add_user(&t.demo.username, "changed-elsewhere");
            w.tokens.clear();
            w.refresh_tokens.clear();
        }
        let r = t
            .post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await;
        assert_eq!(
            (r.status.as_u16(), error_code(&r)),
            (502, "provider_auth_failed"),
            "{}",
            r.body
        );
        let c = t.get(&format!("/v1/connections/{conn}")).await;
        assert_eq!(c.body["status"], "needs_reauth");
        assert!(c.body["last_error"].is_string());

        let calls = t.sim_calls("/v3/lock/unlock");
        let r = t
            .post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await;
        assert_eq!(error_code(&r), "provider_auth_failed");
        assert_eq!(
            t.sim_calls("/v3/lock/unlock"),
            calls,
            "refused without a vendor call"
        );
        let lock = t.get(&format!("/v1/locks/{front}")).await.body;
        assert_eq!(
            lock["errors"][0]["code"], "connection_needs_reauth",
            "{lock}"
        );

        let r = t
            .post(
                "/bff/iot-lock/credentials-update",
                json!({"password": "changed-elsewhere"}),
            )
            .await;
        assert_eq!(r.body, json!({"success": true}));
        assert_eq!(
            t.get(&format!("/v1/connections/{conn}")).await.body["status"],
            "active"
        );
        assert_eq!(
            t.post(&format!("/v1/locks/{front}/unlock"), json!({}))
                .await
                .status,
            200
        );
        let lock = t.get(&format!("/v1/locks/{front}")).await.body;
        assert_eq!(lock["errors"], json!([]), "{lock}");
        let events: Vec<String> =
            t.db.store
                .list_events(t.org, &Default::default(), 10)
                .await
                .unwrap()
                .iter()
                .rev()
                .map(|e| e.kind.as_str().to_owned())
                .collect();
        assert_eq!(
            events,
            [
                "connection.needs_reauth",
                "connection.reauthorized",
                "lock.unlocked"
            ],
            "each transition once, in order"
        );
    }
);

both_backends!(
    vendor_calls_are_counted_per_connection_and_route,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        let conn = t.connect().await;
        let front = t.lock_id("Front door").await;
        t.post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await;
        t.post(&format!("/v1/locks/{front}/unlock"), json!({}))
            .await;
        let text = t
            .http
            .get(format!("{}/metrics", t.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = format!(
            "lockbridge_vendor_calls_total{{connection=\"{conn}\",provider=\"ttlock\",route=\"/v3/lock/unlock\"}} 2"
        );
        assert!(text.contains(&line), "{text}");
        assert!(text.contains(
            "lockbridge_http_requests_total{route=\"/v1/locks/{id}/unlock\",status=\"200\"} 2"
        ));
    }
);
