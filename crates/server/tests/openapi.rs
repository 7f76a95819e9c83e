//! `/openapi.json` and `/docs`: the document describes exactly the routes the service answers.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::Value;

both_backends!(every_documented_operation_is_a_route, |db: Db| async move {
    let t = TestApp::start(db).await;
    let doc = t.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().unwrap();
    let schemas = doc.body["components"]["schemas"].as_object().unwrap();
    let mut count = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            // Every schema an operation names exists.
            for r in [&op["requestBody"], &op["responses"]]
                .iter()
                .flat_map(|v| find_refs(v))
            {
                assert!(
                    schemas.contains_key(r.trim_start_matches("#/components/schemas/")),
                    "{method} {path}: {r}"
                );
            }
            let concrete = path.replace("{id}", "x_0");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = t
                .call(m, &concrete, Some(&t.admin), Some(serde_json::json!({})))
                .await;
            assert_ne!(r.status, 405, "{method} {path}");
            let fell_through = r.body["error"]["message"].as_str() == Some("route not found");
            assert!(
                !fell_through,
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert!(count >= 27, "{count} operations");
    assert!(paths["/bff/iot-lock/credentials-update"]["post"]["requestBody"].is_object());
    assert_eq!(
        paths["/v1/locks"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    let docs = t.http.get(format!("{}/docs", t.url)).send().await.unwrap();
    assert!(
        docs.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(docs.text().await.unwrap().contains("/openapi.json"));
    // An undocumented path is the fallback.
    let r = t.get("/v1/undocumented").await;
    assert_eq!(r.body["error"]["message"], "route not found");
});

fn find_refs(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, v)| {
                if k == "$ref" {
                    vec![v.as_str().unwrap().to_owned()]
                } else {
                    find_refs(v)
                }
            })
            .collect(),
        Value::Array(a) => a.iter().flat_map(find_refs).collect(),
        _ => vec![],
    }
}

/// The checker every suite runs on every answer refuses what the document does not promise.
#[test]
fn the_contract_check_refuses_drift() {
    let key = serde_json::json!({"id": "key_0123456789abcdef0123456789abcdef", "name": "n", "role": "admin",
        "prefix": "lb_01234567", "created_at": "2026-01-01T00:00:00Z", "key": "lb_x",
        "seam_key": "seam_lb_x"});
    contract::check(&Method::POST, "/v1/api-keys", 201, &key);
    let refused = |body: Value, status: u16, path: &str| {
        let method = if path.contains("keys") {
            Method::POST
        } else {
            Method::DELETE
        };
        std::panic::catch_unwind(|| contract::check(&method, path, status, &body)).is_err()
    };
    let mut extra = key.clone();
    extra["secret"] = "x".into();
    assert!(refused(extra, 201, "/v1/api-keys"), "an undocumented field");
    let mut wrong = key.clone();
    wrong["role"] = "owner".into();
    assert!(
        refused(wrong, 201, "/v1/api-keys"),
        "a value outside the enum"
    );
    assert!(
        refused(key.clone(), 418, "/v1/api-keys"),
        "an error answer that is not the error body"
    );
    assert!(
        refused(Value::Null, 299, "/v1/access-codes/x"),
        "an undocumented status"
    );
}
