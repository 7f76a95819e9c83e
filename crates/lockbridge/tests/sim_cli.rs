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
}

#[tokio::test]
async fn the_same_seed_prints_the_same_account() {
    let (_a, a) = first_line(&["sim", "--demo", "--json", "--seed", "11"]);
    let (_b, b) = first_line(&["sim", "--demo", "--json", "--seed", "11"]);
    assert_eq!(a["ttlock"]["client_id"], b["ttlock"]["client_id"]);
    assert_eq!(a["ttlock"]["lock_ids"], b["ttlock"]["lock_ids"]);
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
