//! The Kii fake on the wire: the thing-password change's statuses, content types and bodies,
//! both path forms, tokens and registration.
#![allow(clippy::unwrap_used)]

use lockbridge_sim::Running;
use lockbridge_sim::kii::{KiiDemo, KiiSim};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CHANGE: &str = "application/vnd.kii.ChangeThingPasswordRequest+json";

struct Kii {
    sim: KiiSim,
    server: Running,
    http: reqwest::Client,
    demo: KiiDemo,
    admin: String,
}

impl Kii {
    async fn new() -> Self {
        let sim = KiiSim::new(7);
        let demo = sim.seed_demo();
        let server = sim.start_local().await.unwrap();
        let mut k = Kii {
            sim,
            server,
            http: reqwest::Client::new(),
            demo,
            admin: String::new(),
        };
        let (status, body) = k
            .token(json!({
                "grant_type": "client_credentials",
                "client_id": k.demo.client_id,
                "client_secret": k.demo.client_secret,
            }))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["expires_in"], 2_147_483_647);
        k.admin = body["access_token"].as_str().unwrap().to_owned();
        k
    }

    fn url(&self, rest: &str) -> String {
        format!(
            "{}/api/apps/{}{rest}",
            self.server.base_url(),
            self.demo.app_id
        )
    }

    async fn token(&self, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/oauth2/token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self, vid: &str, password: &str) -> (u16, Value) {
        self.token(json!({ "grant_type": "password", "username": format!("VENDOR_THING_ID:{vid}"), "password": password }))
            .await
    }

    /// Sends a password change; answers status, content type and body text.
    async fn change(&self, path: &str, token: &str, ct: &str, body: &str) -> (u16, String, String) {
        let r = self
            .http
            .put(self.url(path))
            .bearer_auth(token)
            .header("content-type", ct)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ct, r.text().await.unwrap())
    }

    fn changes(&self, vid: &str) -> u32 {
        let w = self.sim.world();
        w.things
            .values()
            .find(|t| t.vendor_thing_id == vid)
            .unwrap()
            .password_changes
    }
}

fn new_password(p: &str) -> String {
    json!({ "newPassword": p }).to_string()
}

#[tokio::test]
async fn change_password_204_then_only_the_new_password_logs_in() {
    let k = Kii::new().await;
    let vid = &k.demo.thing_ids[0];
    k.sim
        .world()
        .things
        .values_mut()
        .find(|t| &t.vendor_thing_id == vid)
        .unwrap()
        .password = "old-pass".into();
    assert_eq!(k.login(vid, "old-pass").await.0, 200);

    let path = format!("/things/VENDOR_THING_ID:{vid}/ownership/password");
    let (status, ct, body) = k
        .change(&path, &k.admin, CHANGE, &new_password("n3w pass~"))
        .await;
    assert_eq!((status, ct.as_str(), body.as_str()), (204, "", ""));

    let (status, body) = k.login(vid, "old-pass").await;
    assert_eq!(status, 400);
    assert_eq!(body["errorCode"], "invalid_grant");
    let (status, body) = k.login(vid, "n3w pass~").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("th."));

    // The same password again is accepted.
    let (status, _, _) = k
        .change(&path, &k.admin, CHANGE, &new_password("n3w pass~"))
        .await;
    assert_eq!(status, 204);
    assert_eq!(k.changes(vid), 2);
}

#[tokio::test]
async fn both_path_forms_and_both_id_forms() {
    let k = Kii::new().await;
    let vid = k.demo.thing_ids[1].clone();
    let thing_id = k
        .sim
        .world()
        .things
        .values()
        .find(|t| t.vendor_thing_id == vid)
        .unwrap()
        .thing_id
        .clone();
    let paths = [
        format!("/things/VENDOR_THING_ID:{vid}/ownership/password"),
        format!("/things/VENDOR_THING_ID%3A{vid}/ownership/password"),
        format!("/things/VENDOR_THING_ID:{vid}/password"),
        format!("/things/{thing_id}/ownership/password"),
        format!("/things/{thing_id}/password"),
    ];
    for (i, path) in paths.iter().enumerate() {
        let p = format!("pass-{i}");
        assert_eq!(
            k.change(path, &k.admin, CHANGE, &new_password(&p)).await.0,
            204,
            "{path}"
        );
        assert_eq!(k.login(&vid, &p).await.0, 200, "{path}");
    }
    assert_eq!(k.changes(&vid), 5);
}

#[tokio::test]
async fn not_found_bodies_name_field_value_and_app() {
    let k = Kii::new().await;
    for (path, field, value) in [
        (
            "/things/VENDOR_THING_ID:nope-1/ownership/password",
            "vendorThingID",
            "nope-1",
        ),
        ("/things/th.unknown/password", "thingID", "th.unknown"),
    ] {
        let (status, ct, body) = k.change(path, &k.admin, CHANGE, &new_password("x")).await;
        assert_eq!(status, 404);
        assert_eq!(ct, "application/vnd.kii.ThingNotFoundException+json");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["errorCode"], "THING_NOT_FOUND");
        assert_eq!(body["field"], field);
        assert_eq!(body["value"], value);
        assert_eq!(body["appID"], k.demo.app_id.as_str());
        assert!(body["message"].as_str().unwrap().contains(value));
    }
}

#[tokio::test]
async fn only_the_admin_may_change_a_password() {
    let k = Kii::new().await;
    let vid = &k.demo.thing_ids[0];
    k.sim
        .world()
        .things
        .values_mut()
        .find(|t| &t.vendor_thing_id == vid)
        .unwrap()
        .password = "pw".into();
    let (_, login) = k.login(vid, "pw").await;
    let thing_token = login["access_token"].as_str().unwrap();
    let path = format!("/things/VENDOR_THING_ID:{vid}/ownership/password");

    let (status, ct, body) = k
        .change(&path, thing_token, CHANGE, &new_password("mine"))
        .await;
    assert_eq!(status, 401);
    assert_eq!(ct, "application/vnd.kii.UnauthorizedAccessException+json");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errorCode"], "UNAUTHORIZED");
    assert_eq!(body["authenticatedAppID"], k.demo.app_id.as_str());
    assert_eq!(body["authenticatedPrincipalID"], login["id"]);
    assert!(body["message"].is_string());

    // No token at all: 401 too; an unknown token: 403.
    let r = k
        .http
        .put(k.url(&path))
        .header("content-type", CHANGE)
        .body(new_password("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        k.change(&path, "not-a-token", CHANGE, &new_password("x"))
            .await
            .0,
        403
    );
    assert_eq!(k.changes(vid), 0);
}

#[tokio::test]
async fn invalid_passwords_are_400_and_change_nothing() {
    let k = Kii::new().await;
    let vid = &k.demo.thing_ids[2];
    let path = format!("/things/VENDOR_THING_ID:{vid}/ownership/password");
    let long = "a".repeat(201);
    for bad in [
        new_password(""),
        new_password(&long),
        new_password("tab\there"),
        new_password("line\nbreak"),
        new_password("del\u{7f}"),
        new_password("caf\u{e9}"),
        json!({ "newPassword": 12345 }).to_string(),
        "{}".to_owned(),
        "not json".to_owned(),
    ] {
        let (status, ct, body) = k.change(&path, &k.admin, CHANGE, &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(ct, "application/vnd.kii.ValidationException+json");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["errorCode"], "INVALID_INPUT_DATA");
        assert!(body["message"].is_string());
    }
    for good in [
        "x".to_owned(),
        "~".repeat(200),
        " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".to_owned(),
    ] {
        assert_eq!(
            k.change(&path, &k.admin, CHANGE, &new_password(&good))
                .await
                .0,
            204,
            "{good}"
        );
    }
    assert_eq!(k.changes(vid), 3);
}

#[tokio::test]
async fn the_vendor_content_type_is_required() {
    let k = Kii::new().await;
    let path = format!(
        "/things/VENDOR_THING_ID:{}/ownership/password",
        k.demo.thing_ids[0]
    );
    let (status, _, _) = k
        .change(&path, &k.admin, "application/json", &new_password("x"))
        .await;
    assert_eq!(status, 415);
    let lower = "application/vnd.kii.changethingpasswordrequest+json; charset=utf-8";
    assert_eq!(
        k.change(&path, &k.admin, lower, &new_password("x")).await.0,
        204
    );
}

#[tokio::test]
async fn registration_login_retrieval_and_query() {
    let k = Kii::new().await;
    let register = |ct: &'static str, body: Value| {
        k.http
            .post(k.url("/things"))
            .header("X-Kii-AppID", &k.demo.app_id)
            .header("X-Kii-AppKey", "dummy")
            .header("content-type", ct)
            .body(body.to_string())
            .send()
    };
    let body = json!({ "_vendorThingID": "cam-1", "_password": "123456", "_thingType": "CAMERA", "freeForm": "v1" });
    let r = register(
        "application/vnd.kii.ThingRegistrationAndAuthorizationRequest+json",
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/things/th.")
    );
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["_vendorThingID"], "cam-1");
    assert_eq!(created["freeForm"], "v1");
    let thing_token = created["_accessToken"].as_str().unwrap();

    let r = register("application/vnd.kii.ThingRegistrationRequest+json", body)
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let conflict: Value = r.json().await.unwrap();
    assert_eq!(conflict["errorCode"], "THING_ALREADY_EXISTS");
    assert_eq!(
        (conflict["field"].as_str(), conflict["value"].as_str()),
        (Some("vendorThingID"), Some("cam-1"))
    );

    let r = register(
        "application/vnd.kii.ThingRegistrationRequest+json",
        json!({ "_vendorThingID": "bad id", "_password": "x" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);

    // The thing reads itself; another thing may not.
    let get = |vid: &str, token: &str| {
        k.http
            .get(k.url(&format!("/things/VENDOR_THING_ID:{vid}")))
            .bearer_auth(token.to_owned())
            .send()
    };
    let r = get("cam-1", thing_token).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["_thingType"], "CAMERA");
    assert_eq!(
        get(&k.demo.thing_ids[0], thing_token)
            .await
            .unwrap()
            .status(),
        401
    );
    let r = get("cam-1", &k.admin).await.unwrap();
    assert!(r.json::<Value>().await.unwrap().get("_password").is_none());

    // Anonymous registration with Basic auth and the `/api/oauth2/token` form of the login.
    let r = k
        .http
        .post(k.url("/things"))
        .basic_auth(&k.demo.app_id, Some("any"))
        .header(
            "content-type",
            "application/vnd.kii.ThingRegistrationRequest+json",
        )
        .body(json!({ "_vendorThingID": "cam-2", "_password": "pw" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = k
        .http
        .post(format!("{}/api/oauth2/token", k.server.base_url()))
        .header("x-kii-appid", &k.demo.app_id)
        .json(&json!({ "username": "VENDOR_THING_ID:cam-2", "password": "pw" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Query: pages of two until the end.
    let mut seen = Vec::new();
    let mut key: Option<String> = None;
    loop {
        let mut q = json!({ "thingQuery": { "clause": { "type": "all" } }, "bestEffortLimit": 2 });
        if let Some(k) = &key {
            q["paginationKey"] = json!(k);
        }
        let r = k
            .http
            .post(k.url("/things/query"))
            .bearer_auth(&k.admin)
            .header("content-type", "application/vnd.kii.ThingQueryRequest+json")
            .body(q.to_string())
            .send()
            .await
            .unwrap();
        let page: Value = r.json().await.unwrap();
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["_vendorThingID"].as_str().unwrap().to_owned()),
        );
        match page["nextPaginationKey"].as_str() {
            Some(next) => key = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), k.demo.thing_ids.len() + 2);
}

#[tokio::test]
async fn tokens_expire_on_the_simulated_clock_and_faults_fire() {
    let k = Kii::new().await;
    let expires = k.sim.world().now_ms() + 60_000;
    let (_, body) = k
        .token(json!({ "client_id": k.demo.client_id, "client_secret": k.demo.client_secret, "expiresAt": expires }))
        .await;
    let short = body["access_token"].as_str().unwrap().to_owned();
    assert!((55..=60).contains(&body["expires_in"].as_i64().unwrap()));
    let path = format!("/things/VENDOR_THING_ID:{}/password", k.demo.thing_ids[0]);
    assert_eq!(
        k.change(&path, &short, CHANGE, &new_password("a")).await.0,
        204
    );
    k.http
        .post(format!("{}/_sim/clock", k.server.base_url()))
        .json(&json!({ "advance_seconds": 61 }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        k.change(&path, &short, CHANGE, &new_password("a")).await.0,
        403
    );
    assert_eq!(
        k.change(&path, &k.admin, CHANGE, &new_password("a"))
            .await
            .0,
        204,
        "no expiresAt: never expires"
    );

    let (status, body) = k
        .token(json!({ "client_id": k.demo.client_id, "client_secret": "wrong" }))
        .await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (400, Some("invalid_grant"))
    );

    k.http.post(format!("{}/_sim/faults", k.server.base_url()))
        .json(&json!({ "route": "/api/apps/{app}/things/{thing}/password", "http_status": 503, "count": 1 }))
        .send().await.unwrap();
    assert_eq!(
        k.change(&path, &k.admin, CHANGE, &new_password("a"))
            .await
            .0,
        503
    );
    assert_eq!(
        k.change(&path, &k.admin, CHANGE, &new_password("a"))
            .await
            .0,
        204
    );
    let calls: Value = k
        .http
        .get(format!("{}/_sim/calls", k.server.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["/api/apps/{app}/things/{thing}/password"], 5);
}

#[tokio::test]
async fn too_many_failed_logins_lock_the_login_name() {
    let k = Kii::new().await;
    let vid = &k.demo.thing_ids[3];
    k.sim
        .world()
        .things
        .values_mut()
        .find(|t| &t.vendor_thing_id == vid)
        .unwrap()
        .password = "right".into();
    k.sim.world().config.max_login_attempts = 2;
    assert_eq!(k.login(vid, "wrong").await.0, 400);
    assert_eq!(k.login(vid, "wrong").await.0, 400);
    let (status, body) = k.login(vid, "right").await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("The login name is locked"))
    );
    // An admin reset of the password unlocks it.
    let path = format!("/things/VENDOR_THING_ID:{vid}/password");
    assert_eq!(
        k.change(&path, &k.admin, CHANGE, &new_password("right"))
            .await
            .0,
        204
    );
    assert_eq!(k.login(vid, "right").await.0, 200);
}
