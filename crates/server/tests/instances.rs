//! Several instances on one database renew each token once, and each uses the token stored by
//! whichever renewed it (Tuya supersedes the old token on renewal, so an instance that kept
//! its own would break the others' calls, and renew again).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::ConnectionId;
use lockbridge_core::credentials::Credentials;
use lockbridge_core::time::now_ms;
use lockbridge_server::{service, workers};

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
        let other = t.other_instance(Default::default());
        // The other instance works with the connection: it holds a client with the first token.
        let stored = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        service::sync(&other.state, &stored).await.unwrap();
        // This instance renews it: Tuya supersedes the first token.
        let vendor = t.app.state.providers.get(stored.provider).unwrap();
        let update = vendor.refresh(&stored).await.unwrap();
        t.db.store
            .store_tokens(conn, &update.tokens, update.expires_at)
            .await
            .unwrap();
        let renewed = refreshes();
        // The other instance reads the connection again and uses the stored token: no refusal,
        // no renewal of its own.
        let stored = t.db.store.connection_by_id(conn).await.unwrap().unwrap();
        service::sync(&other.state, &stored).await.unwrap();
        assert_eq!(refreshes(), renewed, "the stored token was used");
    }
);
