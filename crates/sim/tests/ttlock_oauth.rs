//! The TTLock fake at the wire level: OAuth, parameters and the common checks.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_sim::ttlock::{TtlockSim, md5_hex};
use serde_json::{Value, json};

#[tokio::test]
async fn password_grant_answers_the_documented_token() {
    let f = Fixture::new().await;
    let body = f.token_grant(&[]).await;
    for key in ["access_token", "refresh_token"] {
        let t = body[key].as_str().unwrap();
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(body["expires_in"], 7_776_000);
    assert!(body["uid"].is_i64());
    assert!(body.get("errcode").is_none());

    // camelCase spelling, and no grant_type at all.
    let md5 = md5_hex(&f.demo.password);
    let camel = f
        .post(
            "/oauth2/token",
            &[
                ("clientId", &f.demo.client_id),
                ("clientSecret", &f.demo.client_secret),
                ("username", &f.demo.username),
                ("password", &md5),
            ],
        )
        .await;
    assert!(camel["access_token"].is_string(), "{camel}");
}

#[tokio::test]
async fn refresh_grant_rotates_and_has_no_uid() {
    let f = Fixture::new().await;
    let first = f.token_grant(&[]).await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let body = f
        .post(
            "/oauth2/token",
            &[
                ("client_id", &f.demo.client_id),
                ("client_secret", &f.demo.client_secret),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
            ],
        )
        .await;
    assert!(body.get("uid").is_none(), "{body}");
    assert_ne!(body["refresh_token"], first["refresh_token"]);
    assert_eq!(f.sim.world().calls["/oauth2/token#refresh_token"], 1);

    // The same refresh token again (the lenient reading: it still works). While the token of
    // its first renewal was never presented, that answer never reached a holder; once it is in
    // use, renewing from the old one is a second renewal, counted so.
    let again = [
        ("client_id", f.demo.client_id.as_str()),
        ("client_secret", f.demo.client_secret.as_str()),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
    ];
    assert!(f.post("/oauth2/token", &again).await["access_token"].is_string());
    let calls = |k: &str| f.sim.world().calls.get(k).copied().unwrap_or(0);
    assert_eq!(
        calls("/oauth2/token#refresh_token reused after a lost answer"),
        1
    );
    assert_eq!(calls("/oauth2/token#refresh_token reused"), 0);
    let used = body["access_token"].as_str().unwrap();
    let list = f
        .post(
            "/v3/lock/list",
            &[
                ("clientId", &f.demo.client_id),
                ("accessToken", used),
                ("pageNo", "1"),
                ("pageSize", "20"),
                ("date", &now_ms().to_string()),
            ],
        )
        .await;
    assert!(list["list"].is_array(), "{list}");
    assert!(f.post("/oauth2/token", &again).await["access_token"].is_string());
    assert_eq!(calls("/oauth2/token#refresh_token reused"), 1);

    let bad = f
        .post(
            "/oauth2/token",
            &[
                ("client_id", &f.demo.client_id),
                ("client_secret", &f.demo.client_secret),
                ("grant_type", "refresh_token"),
                ("refresh_token", "0123"),
            ],
        )
        .await;
    assert_eq!(errcode(&bad), 10011);
}

#[tokio::test]
async fn oauth_refusals_use_the_three_key_envelope() {
    let f = Fixture::new().await;
    let wrong_secret = f
        .post(
            "/oauth2/token",
            &[
                ("client_id", &f.demo.client_id),
                ("client_secret", "nope"),
                ("username", "x"),
                ("password", "y"),
            ],
        )
        .await;
    assert_eq!(
        wrong_secret,
        json!({"errcode": 10001, "errmsg": "invalid client",
        "description": "无效的client，client_id或client_secret错误"})
    );

    let plain = f.token_grant(&[("password", "lockbridge-demo")]).await;
    assert_eq!(errcode(&plain), 30005, "a plain password is refused");
    let wrong = f.token_grant(&[("password", &md5_hex("wrong"))]).await;
    assert_eq!(errcode(&wrong), 10007);
    let unknown = f
        .post(
            "/oauth2/token",
            &[("client_id", "abc"), ("client_secret", "x")],
        )
        .await;
    assert_eq!(errcode(&unknown), 10000);
    let grant = f.token_grant(&[("grant_type", "authorization_code")]).await;
    assert_eq!(errcode(&grant), 10010);
}

#[tokio::test]
async fn get_and_merged_query_and_form_parameters_work() {
    let f = Fixture::new().await;
    let date = now_ms().to_string();
    // GET with everything in the query string.
    let url = f.url("/v3/lock/list");
    let q = [
        ("clientId", f.demo.client_id.as_str()),
        ("accessToken", &f.token),
        ("date", &date),
        ("pageNo", "1"),
        ("pageSize", "20"),
    ];
    let got: Value = f
        .http
        .get(&url)
        .query(&q)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["total"], 5);
    assert_eq!(got["list"].as_array().unwrap().len(), 5);
    assert!(
        got.get("errcode").is_none(),
        "data answers carry no errcode"
    );
    let item = &got["list"][0];
    for key in [
        "lockId",
        "lockName",
        "lockAlias",
        "lockMac",
        "electricQuantity",
        "featureValue",
        "hasGateway",
    ] {
        assert!(item.get(key).is_some(), "lock item lacks {key}: {item}");
    }

    // POST with the common parameters in the query and the business ones in the body.
    let lock = f.lock(0);
    let merged: Value = f
        .http
        .post(url.replace("lock/list", "lock/detail"))
        .query(&[
            ("clientId", f.demo.client_id.as_str()),
            ("accessToken", &f.token),
            ("date", &date),
        ])
        .form(&[("lockId", lock.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(merged["lockAlias"], "Front door");
    assert_eq!(merged["hasGateway"], 1);
}

#[tokio::test]
async fn common_checks_token_date_and_ownership() {
    let f = Fixture::new().await;
    let stale = (now_ms() - 301_000).to_string();
    let v = f
        .post(
            "/v3/lock/list",
            &[
                ("clientId", &f.demo.client_id),
                ("accessToken", &f.token),
                ("date", &stale),
            ],
        )
        .await;
    assert_eq!(errcode(&v), 80000);
    let v = f
        .post(
            "/v3/lock/list",
            &[
                ("clientId", &f.demo.client_id),
                ("accessToken", "f00"),
                ("date", &now_ms().to_string()),
            ],
        )
        .await;
    assert_eq!(errcode(&v), 10003);
    assert_eq!(
        errcode(&f.call("/v3/lock/detail", &[("lockId", "1")]).await),
        -1003
    );

    f.sim.world().clock_offset_ms += 7_776_000 * 1000;
    let v = f
        .call("/v3/lock/list", &[("pageNo", "1"), ("pageSize", "20")])
        .await;
    assert_eq!(
        v,
        json!({"errcode": 10004, "errmsg": "invalid grant",
        "description": "token无授权，token已失效或被撤销授权"})
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_world() {
    let (a, b) = (TtlockSim::new(9), TtlockSim::new(9));
    let (da, db) = (a.seed_demo(), b.seed_demo());
    assert_eq!(da.client_id, db.client_id);
    assert_eq!(da.lock_ids, db.lock_ids);
    assert_ne!(TtlockSim::new(10).seed_demo().client_id, da.client_id);
}
