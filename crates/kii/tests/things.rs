//! The Kii client against the Kii simulator.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lockbridge_kii::{Config, Error, ErrorKind, KiiClient, NewThing, PasswordPath, ThingRef};
use lockbridge_sim::Running;
use lockbridge_sim::kii::{KiiDemo, KiiSim};
use secrecy::ExposeSecret;

async fn setup() -> (KiiSim, Running, KiiDemo, KiiClient) {
    let sim = KiiSim::new(11);
    let demo = sim.seed_demo();
    let server = sim.start_local().await.unwrap();
    let client = KiiClient::new(Config::new(&server.base_url(), &demo.app_id, &demo.app_key))
        .with_admin(&demo.client_id, &demo.client_secret);
    (sim, server, demo, client)
}

fn calls(sim: &KiiSim, route: &str) -> u64 {
    sim.world().calls.get(route).copied().unwrap_or(0)
}

#[tokio::test]
async fn register_login_change_password_login_again() {
    let (sim, _server, _demo, kii) = setup().await;
    let mut new = NewThing::new("door-0042", "first-Pass");
    new.thing_type = Some("DOOR".into());
    new.fields.insert("floor".into(), 3.into());
    let thing = kii.register_thing(&new).await.unwrap();
    assert!(thing.thing_id.starts_with("th."));
    assert_eq!(thing.fields["floor"], 3);

    let session = kii.thing_login("door-0042", "first-Pass").await.unwrap();
    assert_eq!(session.thing_id, thing.thing_id);
    assert_eq!(session.expires_at_ms, None, "2147483647 s means no expiry");
    let me = kii
        .thing_as(&session, &ThingRef::id(&thing.thing_id))
        .await
        .unwrap();
    assert_eq!(me.thing_type.as_deref(), Some("DOOR"));

    kii.change_thing_password(&ThingRef::vendor("door-0042"), "second Pass~")
        .await
        .unwrap();
    let old = kii
        .thing_login("door-0042", "first-Pass")
        .await
        .unwrap_err();
    assert_eq!(old.api().unwrap().kind(), ErrorKind::InvalidGrant);
    kii.thing_login("door-0042", "second Pass~").await.unwrap();
    // By thing id, and the same password again.
    kii.change_thing_password(&ThingRef::id(&thing.thing_id), "second Pass~")
        .await
        .unwrap();
    assert_eq!(
        calls(&sim, "/api/apps/{app}/things/{thing}/ownership/password"),
        2
    );
    assert_eq!(
        calls(&sim, "/api/apps/{app}/oauth2/token"),
        4,
        "one admin token for every admin call"
    );

    let dup = kii.register_thing(&new).await.unwrap_err();
    let e = dup.api().unwrap();
    assert_eq!(
        (e.kind(), e.status, e.field.as_deref()),
        (ErrorKind::ThingAlreadyExists, 409, Some("vendorThingID"))
    );
}

#[tokio::test]
async fn invalid_passwords_never_leave_the_client() {
    let (sim, _server, demo, kii) = setup().await;
    let thing = ThingRef::vendor(&demo.thing_ids[0]);
    for bad in ["", &"a".repeat(201), "a\tb", "a\nb", "a\u{7f}", "caf\u{e9}"] {
        let err = kii.change_thing_password(&thing, bad).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "newPassword",
                    ..
                }
            ),
            "{bad:?}: {err}"
        );
    }
    let err = kii
        .change_thing_password(&ThingRef::vendor("a/b"), "x")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput {
            field: "vendorThingID",
            ..
        }
    ));
    assert!(
        sim.world().calls.is_empty(),
        "nothing was sent: {:?}",
        sim.world().calls
    );
    kii.change_thing_password(&thing, &"~".repeat(200))
        .await
        .unwrap();
}

#[tokio::test]
async fn kii_errors_are_typed() {
    let (_sim, _server, demo, kii) = setup().await;
    let err = kii
        .change_thing_password(&ThingRef::vendor("missing-1"), "x")
        .await
        .unwrap_err();
    let e = err.api().unwrap();
    assert_eq!(e.kind(), ErrorKind::ThingNotFound);
    assert_eq!(
        (e.field.as_deref(), e.value.as_deref()),
        (Some("vendorThingID"), Some("missing-1"))
    );
    assert_eq!(e.app_id.as_deref(), Some(demo.app_id.as_str()));
    assert!(err.to_string().contains("THING_NOT_FOUND"));

    let err = kii.thing(&ThingRef::id("th.nothing")).await.unwrap_err();
    assert_eq!(err.api().unwrap().field.as_deref(), Some("thingID"));

    let bad = KiiClient::new(kii.config().clone()).with_admin(&demo.client_id, "wrong-secret");
    let err = bad
        .thing(&ThingRef::vendor(&demo.thing_ids[0]))
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().kind(), ErrorKind::InvalidGrant);
    assert!(!format!("{err} {err:?} {bad:?}").contains("wrong-secret"));

    let none = KiiClient::new(kii.config().clone());
    assert!(matches!(
        none.things(10, None).await,
        Err(Error::NoAdminCredentials)
    ));
}

#[tokio::test]
async fn a_thing_token_is_not_enough_to_change_a_password() {
    let (sim, server, demo, _kii) = setup().await;
    let vid = &demo.thing_ids[0];
    sim.world()
        .things
        .values_mut()
        .find(|t| &t.vendor_thing_id == vid)
        .unwrap()
        .password = "pw".into();
    let plain = KiiClient::new(Config::new(&server.base_url(), &demo.app_id, "k"));
    let session = plain.thing_login(vid, "pw").await.unwrap();
    // A client whose "admin" token is the thing's: Kii says 401 UNAUTHORIZED with the thing id.
    let token = lockbridge_kii::AdminToken {
        access_token: session.access_token.expose_secret().into(),
        expires_at_ms: None,
    };
    let as_thing = plain.clone().with_admin("x", "y").with_admin_token(token);
    let err = as_thing
        .change_thing_password(&ThingRef::vendor(vid), "new")
        .await
        .unwrap_err();
    let e = err.api().unwrap();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(
        e.authenticated_principal_id.as_deref(),
        Some(session.thing_id.as_str())
    );
    assert_eq!(
        e.authenticated_app_id.as_deref(),
        Some(demo.app_id.as_str())
    );
}

#[tokio::test]
async fn a_refused_admin_token_is_replaced_once_by_concurrent_callers() {
    let (sim, _server, demo, kii) = setup().await;
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let kii = kii
        .with_admin_token(lockbridge_kii::AdminToken {
            access_token: "stale".into(),
            expires_at_ms: None,
        })
        .on_admin_token(Arc::new(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
    let vid = demo.thing_ids[1].clone();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let kii = kii.clone();
            let vid = vid.clone();
            tokio::spawn(async move {
                kii.change_thing_password(&ThingRef::vendor(vid), &format!("p{i}"))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(calls(&sim, "/api/apps/{app}/oauth2/token"), 1);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(
        sim.world()
            .things
            .values()
            .find(|t| t.vendor_thing_id == vid)
            .unwrap()
            .password_changes,
        20
    );
}

#[tokio::test]
async fn lists_every_thing_across_pages() {
    let (_sim, _server, demo, kii) = setup().await;
    for i in 0..250 {
        kii.register_thing(&NewThing::new(format!("bulk-{i:03}"), "pw"))
            .await
            .unwrap();
    }
    let page = kii.things(3, None).await.unwrap();
    assert_eq!(page.things.len(), 3);
    assert!(page.next.is_some());
    let all = kii.all_things().await.unwrap();
    assert_eq!(all.len(), 250 + demo.thing_ids.len());
    assert!(all.iter().any(|t| t.vendor_thing_id == demo.thing_ids[0]));
}

#[tokio::test]
async fn falls_back_to_the_other_password_path_when_a_route_is_missing() {
    let (sim, server, demo, _) = setup().await;
    for (live, configured, route) in [
        (
            "ownership",
            PasswordPath::Direct,
            "/api/apps/{app}/things/{thing}/ownership/password",
        ),
        (
            "direct",
            PasswordPath::Ownership,
            "/api/apps/{app}/things/{thing}/password",
        ),
    ] {
        sim.world().config.password_paths = live.into();
        let kii = KiiClient::new(
            Config::new(&server.base_url(), &demo.app_id, &demo.app_key).password_path(configured),
        )
        .with_admin(&demo.client_id, &demo.client_secret);
        let before = calls(&sim, route);
        kii.change_thing_password(&ThingRef::vendor(&demo.thing_ids[0]), "a")
            .await
            .unwrap();
        kii.change_thing_password(&ThingRef::vendor(&demo.thing_ids[0]), "b")
            .await
            .unwrap();
        assert_eq!(calls(&sim, route) - before, 2, "{live}");
        kii.thing_login(&demo.thing_ids[0], "b").await.unwrap();
    }
    // A real THING_NOT_FOUND is not mistaken for a missing route.
    sim.world().config.password_paths = "both".into();
    let kii = KiiClient::new(Config::new(&server.base_url(), &demo.app_id, &demo.app_key))
        .with_admin(&demo.client_id, &demo.client_secret);
    let err = kii
        .change_thing_password(&ThingRef::vendor("ghost"), "a")
        .await
        .unwrap_err();
    assert_eq!(err.api().unwrap().kind(), ErrorKind::ThingNotFound);
    // Each fallback cost one refused call on the missing route; the ghost no fallback.
    assert_eq!(
        calls(&sim, "/api/apps/{app}/things/{thing}/password"),
        1 + 2
    );
    assert_eq!(
        calls(&sim, "/api/apps/{app}/things/{thing}/ownership/password"),
        2 + 1 + 1
    );
}
