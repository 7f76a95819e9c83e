//! `lockbridge sim --demo --json`, run as a user would.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn first_line(args: &[&str]) -> (Killed, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Killed(child), serde_json::from_str(&line).unwrap())
}

#[tokio::test]
async fn sim_json_describes_a_working_ttlock_demo() {
    let (_child, desc) = first_line(&["sim", "--demo", "--json", "--seed", "3"]);
    let t = &desc["ttlock"];
    for key in [
        "base_url",
        "client_id",
        "client_secret",
        "username",
        "password",
    ] {
        assert!(
            t[key].as_str().is_some_and(|v| !v.is_empty()),
            "ttlock.{key} in {desc}"
        );
    }
    let base = t["base_url"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"));

    let state: Value = reqwest::get(format!("{base}/_sim/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let locks = state["locks"].as_object().unwrap();
    let ids: Vec<i64> = t["lock_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(ids.len() >= 3);
    let gateway_of = |id: &i64| locks[&id.to_string()]["gateway_id"].as_i64();
    let mut behind: std::collections::HashMap<i64, usize> = Default::default();
    for id in &ids {
        if let Some(gw) = gateway_of(id) {
            *behind.entry(gw).or_default() += 1;
        }
    }
    assert!(
        behind.values().any(|&n| n >= 2),
        "two locks behind one gateway"
    );
    assert!(
        ids.iter().any(|id| gateway_of(id).is_none()),
        "a lock without a gateway"
    );
    let codes: usize = locks
        .values()
        .map(|l| l["passcodes"].as_object().unwrap().len())
        .sum();
    assert!(codes >= 3, "codes already on the locks");
    assert_eq!(state["seed"], 3);

    let tuya = &desc["tuya"];
    for key in ["base_url", "access_id", "access_secret"] {
        assert!(
            tuya[key].as_str().is_some_and(|v| !v.is_empty()),
            "tuya.{key} in {desc}"
        );
    }
    let tuya_state: Value =
        reqwest::get(format!("{}/_sim/state", tuya["base_url"].as_str().unwrap()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let protocols: Vec<(String, bool)> = tuya["lock_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            let d = &tuya_state["devices"][id.as_str().unwrap()];
            (
                d["protocol"].as_str().unwrap().to_owned(),
                d["online"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        protocols.iter().any(|(p, _)| p == "wifi") && protocols.iter().any(|(p, _)| p == "zigbee")
    );
    assert!(
        protocols.iter().any(|(_, online)| !online),
        "an offline Tuya lock"
    );

    let td = &desc["tedee"];
    let key = td["personal_access_key"].as_str().unwrap();
    let tedee_locks = td["lock_ids"].as_array().unwrap();
    assert!(tedee_locks.len() >= 3);
    let listed: Value = reqwest::Client::new()
        .get(format!(
            "{}/api/v37/my/lock",
            td["base_url"].as_str().unwrap()
        ))
        .header("authorization", format!("PersonalKey {key}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["result"].as_array().unwrap().len(),
        tedee_locks.len()
    );
    assert!(
        listed["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["deviceState"].is_null()),
        "a disconnected Tedee lock"
    );

    let k = &desc["kii"];
    for key in [
        "base_url",
        "app_id",
        "app_key",
        "client_id",
        "client_secret",
    ] {
        assert!(
            k[key].as_str().is_some_and(|v| !v.is_empty()),
            "kii.{key} in {desc}"
        );
    }
    let things = k["thing_ids"].as_array().unwrap();
    assert!(things.len() >= 2);
    // The printed account works: the admin token, then the first thing read by its vendor id.
    let base = k["base_url"].as_str().unwrap();
    let app = k["app_id"].as_str().unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/api/apps/{app}/oauth2/token"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"grant_type": "client_credentials", "client_id": k["client_id"], "client_secret": k["client_secret"]}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let thing = http
        .get(format!(
            "{base}/api/apps/{app}/things/VENDOR_THING_ID:{}",
            things[0].as_str().unwrap()
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(thing.status(), 200);
}

#[tokio::test]
async fn the_same_seed_prints_the_same_account() {
    let (_a, a) = first_line(&["sim", "--demo", "--json", "--seed", "11"]);
    let (_b, b) = first_line(&["sim", "--demo", "--json", "--seed", "11"]);
    assert_eq!(a["ttlock"]["client_id"], b["ttlock"]["client_id"]);
    assert_eq!(a["ttlock"]["lock_ids"], b["ttlock"]["lock_ids"]);
    assert_eq!(a["kii"]["client_secret"], b["kii"]["client_secret"]);
    assert_eq!(
        a["tedee"]["personal_access_key"],
        b["tedee"]["personal_access_key"]
    );
    assert_eq!(a["tuya"]["access_secret"], b["tuya"]["access_secret"]);
    assert_ne!(
        a["ttlock"]["base_url"], b["ttlock"]["base_url"],
        "free ports by default"
    );
}

#[tokio::test]
async fn demo_json_nests_the_simulators() {
    let (_child, desc) = first_line(&["demo", "--json"]);
    assert!(
        desc["simulators"]["ttlock"]["base_url"].is_string(),
        "{desc}"
    );
}

#[tokio::test]
async fn addr_fixes_one_simulators_port_and_names_an_unknown_vendor() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let addr = format!("tuya=127.0.0.1:{port}");
    let (_child, desc) = first_line(&["sim", "--json", "--addr", &addr]);
    assert_eq!(
        desc["tuya"]["base_url"],
        format!("http://127.0.0.1:{port}"),
        "{desc}"
    );
    // Every other simulator still serves, on a port of its own.
    for vendor in ["ttlock", "tedee", "kii"] {
        assert!(desc[vendor]["base_url"].is_string(), "{desc}");
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(["sim", "--addr", "acme=127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("\"acme\" is not a simulated vendor: ttlock, tuya, tedee, kii"),
        "{said}"
    );
}
