//! Configuration, authentication and the token lifecycle against the simulator.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::Env;
use lockbridge_ttlock::{
    ApiErrorKind, Config, Error, ExposeSecret, Md5Password, Status, Tokens, TtlockClient,
};

const REFRESH: &str = "/oauth2/token#refresh_token";
const PASSWORD: &str = "/oauth2/token#password";

#[tokio::test]
async fn status_follows_configure_authenticate_reset() {
    let env = Env::unstarted().await;
    let c = &env.client;
    assert_eq!(c.status(), Status::NotConfigured);
    assert!(!c.is_ready());
    assert!(matches!(c.valid_token().await, Err(Error::NotConfigured)));
    assert!(matches!(
        c.authenticate("u", "p").await,
        Err(Error::NotConfigured)
    ));

    c.configure(env.config());
    assert_eq!(c.status(), Status::Configured);
    assert!(matches!(
        c.valid_token().await,
        Err(Error::NotAuthenticated)
    ));
    assert!(matches!(c.user_id(), Err(Error::NotAuthenticated)));

    c.authenticate(&env.demo.username, &env.demo.password)
        .await
        .unwrap();
    assert_eq!(c.status(), Status::Authenticated);
    assert!(c.is_ready());
    let uid = env.sim.world().uid_of(&env.demo.username).unwrap();
    assert_eq!(c.user_id().unwrap(), uid);

    c.reset();
    assert_eq!(c.status(), Status::NotConfigured);
}

#[tokio::test]
async fn wrong_password_is_typed_and_leaves_the_client_unauthenticated() {
    let env = Env::unstarted().await;
    env.client.configure(env.config());
    let err = env
        .client
        .authenticate(&env.demo.username, "not it")
        .await
        .unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(
        (api.errcode, api.kind()),
        (10007, ApiErrorKind::InvalidAccount)
    );
    assert_eq!(env.client.status(), Status::Configured);

    let bad_client = Config::new(&env.demo.client_id, "wrong").base_url(env.server.base_url());
    let err = env
        .client
        .start(bad_client, &env.demo.username, &env.demo.password)
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().kind(), ApiErrorKind::InvalidClient);
}

#[tokio::test]
async fn the_password_travels_as_md5() {
    let env = Env::started().await;
    // The simulator refuses a plain password with 30005; signing in worked, so MD5 was sent.
    assert_eq!(env.calls(PASSWORD), 1);
    let md5 = Md5Password::hash(&env.demo.password);
    assert_eq!(
        env.sim.world().users[&env.demo.username].password_md5,
        md5.expose()
    );
}

#[tokio::test]
async fn start_with_env_reads_the_four_variables() {
    let env = Env::unstarted().await;
    let vars = [
        ("TTLOCK_CLIENT_ID", env.demo.client_id.clone()),
        ("TTLOCK_CLIENT_SECRET", env.demo.client_secret.clone()),
        ("TTLOCK_USERNAME", env.demo.username.clone()),
        ("TTLOCK_PASSWORD", env.demo.password.clone()),
        ("TTLOCK_BASE_URL", env.server.base_url()),
    ];
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    env.client.start_with_lookup(lookup).await.unwrap();
    assert!(env.client.is_ready());

    let partial = |name: &str| (name == "TTLOCK_USERNAME").then(|| "someone".to_owned());
    match TtlockClient::new().start_with_lookup(partial).await {
        Err(Error::MissingEnv(missing)) => {
            assert_eq!(
                missing,
                [
                    "TTLOCK_CLIENT_ID",
                    "TTLOCK_CLIENT_SECRET",
                    "TTLOCK_PASSWORD"
                ]
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_fresh_token_is_reused_and_manual_refresh_renews_it() {
    let env = Env::started().await;
    let first = env.client.valid_token().await.unwrap();
    let again = env.client.valid_token().await.unwrap();
    assert_eq!(first.expose_secret(), again.expose_secret());
    assert_eq!(env.calls(REFRESH), 0);

    env.client.refresh_token().await.unwrap();
    assert_eq!(env.calls(REFRESH), 1);
    let renewed = env.client.valid_token().await.unwrap();
    assert_ne!(first.expose_secret(), renewed.expose_secret());
    // The refresh answer has no uid: the one from sign-in is kept.
    assert!(env.client.user_id().is_ok());
}

fn expired(tokens: Tokens) -> Tokens {
    Tokens {
        expires_at: SystemTime::now() - Duration::from_secs(1),
        ..tokens
    }
}

#[tokio::test]
async fn a_hundred_callers_on_an_expired_token_cause_one_refresh() {
    let env = Env::started().await;
    let tokens = env.client.tokens().unwrap();
    let md5 = Md5Password::hash(&env.demo.password);
    env.client
        .restore(&env.demo.username, md5, expired(tokens))
        .unwrap();

    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = env.client.clone();
            tokio::spawn(async move { c.valid_token().await.map(|t| t.expose_secret().to_owned()) })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for t in tasks {
        seen.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(env.calls(REFRESH), 1, "exactly one refresh for 100 callers");
    assert_eq!(seen.len(), 1, "every caller got the same new token");
}

#[tokio::test]
async fn a_token_the_cloud_expired_is_renewed_once_for_concurrent_calls() {
    let env = Env::started().await;
    // The cloud's clock passes the 90 days; the client's own clock still thinks it is fresh.
    env.sim.world().clock_offset_ms += 7_776_001_000;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = env.client.clone();
            tokio::spawn(async move { c.locks(&Default::default()).await.map(|p| p.list.len()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 5);
    }
    assert_eq!(env.calls(REFRESH), 1);
}

#[tokio::test]
async fn a_refused_refresh_token_signs_in_again_with_the_stored_md5() {
    let env = Env::started().await;
    env.sim.world().refresh_tokens.clear();
    env.client.refresh_token().await.unwrap();
    assert_eq!(env.calls(REFRESH), 1);
    assert_eq!(env.calls(PASSWORD), 2, "signed in again");
    assert_eq!(
        env.client
            .locks(&Default::default())
            .await
            .unwrap()
            .list
            .len(),
        5
    );
}

#[tokio::test]
async fn tokens_are_handed_out_for_persistence_and_restored() {
    let env = Env::unstarted().await;
    let saved: Arc<Mutex<Option<Tokens>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let (s, n) = (saved.clone(), count.clone());
    env.client.on_tokens(move |t| {
        *s.lock().unwrap() = Some(t.clone());
        n.fetch_add(1, Ordering::SeqCst);
    });
    env.client
        .start(env.config(), &env.demo.username, &env.demo.password)
        .await
        .unwrap();
    env.client.refresh_token().await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let tokens = saved.lock().unwrap().clone().unwrap();
    assert!(!format!("{tokens:?}").contains(tokens.access_token.expose_secret()));

    // A new process: configure, restore, call — no sign-in needed.
    let before = env.calls(PASSWORD);
    let fresh = TtlockClient::new();
    fresh.configure(env.config());
    fresh
        .restore(
            &env.demo.username,
            Md5Password::hash(&env.demo.password),
            tokens,
        )
        .unwrap();
    assert!(fresh.is_ready());
    assert_eq!(fresh.all_locks(Default::default()).await.unwrap().len(), 5);
    assert_eq!(env.calls(PASSWORD), before);
}

#[tokio::test]
async fn the_refresh_margin_renews_before_expiry() {
    let env = Env::unstarted().await;
    // The cloud hands out one-hour tokens; a two-hour margin means every call renews first.
    env.sim.world().config.token_ttl_s = 3600;
    let config = env.config().refresh_margin(Duration::from_secs(7200));
    env.client
        .start(config, &env.demo.username, &env.demo.password)
        .await
        .unwrap();
    env.client.valid_token().await.unwrap();
    assert_eq!(env.calls(REFRESH), 1);
}

#[tokio::test]
async fn transport_failures_and_outages_are_typed_and_transient() {
    let env = Env::started().await;
    env.sim
        .world()
        .faults
        .add(lockbridge_sim::faults::FaultRule {
            http_status: Some(503),
            count: Some(1),
            ..Default::default()
        });
    let err = env.client.lock_detail(env.lock(0)).await.unwrap_err();
    assert!(
        matches!(err, Error::Status { status: 503 }) && err.is_transient(),
        "{err:?}"
    );

    let nowhere = TtlockClient::new();
    nowhere.configure(Config::new("a", "b").base_url("http://127.0.0.1:9"));
    let err = nowhere.authenticate("u", "p").await.unwrap_err();
    assert!(
        matches!(err, Error::Transport(_)) && err.is_transient(),
        "{err:?}"
    );
}

#[test]
fn debug_output_hides_secrets() {
    let config = Config::new("id", "very-secret-value");
    assert!(!format!("{config:?}").contains("very-secret-value"));
    assert_eq!(
        Config::new("a", "b").get_base_url(),
        "https://euapi.ttlock.com"
    );
    let us = Config::new("a", "b").region(lockbridge_ttlock::Region::Us);
    assert_eq!(us.get_base_url(), "https://usapi.ttlock.com");
}
