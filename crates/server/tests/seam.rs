//! The Seam-compatible surface over HTTP, as Seam's SDKs send it (GET with `_strict=true`
//! query strings, POST/PUT/PATCH with JSON bodies, DELETE with a query), with the simulators'
//! locks as the oracle. The SDKs themselves run in `interop/seam_*_check`.

#![allow(clippy::unwrap_used)]

mod common;

use common::seam::*;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(locks_and_codes_through_seams_routes, |db: Db| async move {
    let t = TestApp::start(db).await;
    let conn = t.connect().await;
    let front = t.lock_id("Front door").await;

    let locks = t.seam(Method::GET, "/locks/list", json!({})).await;
    assert_eq!(locks.status, 200);
    assert_eq!(locks.body["locks"], locks.body["devices"]);
    let devices = locks.body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 5, "never paged");
    let d = devices.iter().find(|d| d["device_id"] == front).unwrap();
    assert_eq!(d["connected_account_id"], conn.as_str());
    assert_eq!(d["device_type"], "ttlock_lock");
    assert_eq!(d["properties"]["online"], true);
    assert_eq!(d["properties"]["battery_level"], 0.87);
    assert_eq!(d["properties"]["battery"]["status"], "good");
    assert_eq!(d["can_remotely_unlock"], true);
    assert_eq!(d["workspace_id"], t.org.to_string());

    // devices.list pages with a cursor the paginators follow.
    let mut seen = Vec::new();
    let mut params = json!({"limit": "2"});
    loop {
        let page = t.seam(Method::GET, "/devices/list", params.clone()).await;
        seen.extend(page.body["devices"].as_array().unwrap().iter().cloned());
        let p = &page.body["pagination"];
        if p["has_next_page"] != true {
            assert!(p["next_page_cursor"].is_null());
            break;
        }
        params["page_cursor"] = p["next_page_cursor"].clone();
    }
    assert_eq!(seen.len(), 5);

    // A code: the simulator holds it, and /v1 shows the same code.
    let now = t.app.state.now();
    let ends = lockbridge_core::seam::time(now + 86_400_000);
    let made = t
        .seam(
            Method::POST,
            "/access_codes/create",
            json!({"device_id": front, "name": "Guest", "code": "839201",
                   "starts_at": lockbridge_core::seam::time(now - 60_000), "ends_at": ends}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let code = &made.body["access_code"];
    assert_eq!(code["status"], "set");
    assert_eq!(code["type"], "time_bound");
    assert_eq!(code["ends_at"], ends);
    assert_eq!(made.body["action_attempt"]["status"], "success");
    assert_eq!(
        made.body["action_attempt"]["action_type"],
        "CREATE_ACCESS_CODE"
    );
    assert!(t.pins_on(0).iter().any(|(pin, _)| pin == "839201"));
    let id = code["access_code_id"].as_str().unwrap().to_owned();
    assert_eq!(t.code(&id).await["code"], "839201");
    let got = t
        .seam(
            Method::GET,
            "/access_codes/get",
            json!({"access_code_id": id}),
        )
        .await;
    assert_eq!(got.body["access_code"]["code"], "839201");
    let listed = t
        .seam(
            Method::GET,
            "/access_codes/list",
            json!({"device_id": front}),
        )
        .await;
    assert_eq!(listed.body["access_codes"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["pagination"]["has_next_page"], false);

    // The same PIN again is Seam's duplicate, with the request id in its header.
    let dup = t
        .seam(
            Method::POST,
            "/access_codes/create",
            json!({"device_id": front, "code": "839201"}),
        )
        .await;
    assert_eq!(seam_error(&dup), (409, "duplicate_access_code"));
    assert!(dup.request_id.is_some());

    // A code made on /v1 is on the Seam surface too; a change there reaches the lock.
    let v1 = t
        .post(
            &format!("/v1/locks/{front}/access-codes"),
            json!({"code": "730164", "name": "From v1"}),
        )
        .await;
    let v1_id = v1.body["id"].as_str().unwrap();
    let upd = t
        .seam(
            Method::PATCH,
            "/access_codes/update",
            json!({"access_code_id": v1_id, "code": "730165"}),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(upd.body["action_attempt"]["status"], "success");
    let pins: Vec<String> = t.pins_on(0).into_iter().map(|(p, _)| p).collect();
    assert!(pins.contains(&"730165".to_owned()) && !pins.contains(&"730164".to_owned()));

    // Delete: gone from the lock; a retried DELETE (as the SDKs retry) is still fine; then
    // the code no longer exists.
    for _ in 0..2 {
        let del = t
            .seam(
                Method::DELETE,
                "/access_codes/delete",
                json!({"access_code_id": id}),
            )
            .await;
        assert_eq!(del.status, 200, "{}", del.body);
        assert_eq!(del.body["action_attempt"]["status"], "success");
    }
    assert!(!t.pins_on(0).iter().any(|(pin, _)| pin == "839201"));
    let gone = t
        .seam(
            Method::GET,
            "/access_codes/get",
            json!({"access_code_id": id}),
        )
        .await;
    assert_eq!(seam_error(&gone), (404, "access_code_not_found"));

    // A future code is `unset` until it starts (the lock may hold it already).
    let later = t
        .seam(
            Method::POST,
            "/access_codes/create",
            json!({"device_id": front, "code": "556677",
                   "starts_at": lockbridge_core::seam::time(now + 3 * 86_400_000),
                   "ends_at": lockbridge_core::seam::time(now + 4 * 86_400_000)}),
        )
        .await;
    assert_eq!(
        later.body["access_code"]["status"], "unset",
        "{}",
        later.body
    );

    // Parameter problems are `invalid_input` naming the parameter.
    let bad = t
        .seam(Method::POST, "/access_codes/create", json!({}))
        .await;
    assert_eq!(seam_error(&bad), (400, "invalid_input"));
    assert_eq!(
        bad.body["error"]["validation_errors"]["device_id"]["_errors"][0],
        "Required"
    );
    let short = t
        .seam(
            Method::POST,
            "/access_codes/create",
            json!({"device_id": front, "code": "12"}),
        )
        .await;
    assert_eq!(seam_error(&short), (400, "invalid_input"), "{}", short.body);
    assert!(short.body["error"]["validation_errors"]["code"]["_errors"][0].is_string());
    let wrong = t
        .http
        .delete(format!("{}/seam/locks/list", t.url))
        .bearer_auth(format!("seam_{}", t.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(wrong["error"]["type"], "method_not_allowed");
    let none = t
        .seam(
            Method::GET,
            "/devices/get",
            json!({"device_id": "lck_00000000000000000000000000000000"}),
        )
        .await;
    assert_eq!(seam_error(&none), (404, "device_not_found"));
    let generated = t
        .seam(
            Method::GET,
            "/access_codes/generate_code",
            json!({"device_id": front}),
        )
        .await;
    assert_eq!(
        generated.body["generated_code"]["code"]
            .as_str()
            .unwrap()
            .len(),
        6
    );

    // Keys: only `seam_` + a lockbridge key; a member is refused Seam's 403 on webhooks.
    let r = t
        .http
        .get(format!("{}/seam/locks/list", t.url))
        .bearer_auth("seam_lb_nothing")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let member = t.member.clone();
    let refused = t
        .seam_as(
            &member,
            Method::POST,
            "/webhooks/create",
            json!({"url": "https://example.com/hook"}),
        )
        .await;
    assert_eq!(seam_error(&refused), (403, "forbidden"));
    // Every route also takes POST with a JSON body, as Seam does.
    let posted = t
        .seam(Method::POST, "/locks/get", json!({"device_id": front}))
        .await;
    assert_eq!(posted.body["lock"]["device_id"], front);
});

both_backends!(unlock_answers_an_action_attempt, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect().await;
    let front = t.lock_id("Front door").await;
    let r = t
        .seam(
            Method::POST,
            "/locks/unlock_door",
            json!({"device_id": front}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = &r.body["action_attempt"];
    assert_eq!(
        (a["action_type"].as_str(), a["status"].as_str()),
        (Some("UNLOCK_DOOR"), Some("success"))
    );
    assert_eq!(
        t.sim.world().locks[&t.sim_lock(0)].state,
        1,
        "the simulator's lock is open"
    );
    let id = a["action_attempt_id"].as_str().unwrap();
    let again = t
        .seam(
            Method::GET,
            "/action_attempts/get",
            json!({"action_attempt_id": id}),
        )
        .await;
    assert_eq!(again.body["action_attempt"]["status"], "success");

    // A lock its gateway cannot reach: the attempt ends in the vendor's error.
    t.sim.world().locks.get_mut(&t.sim_lock(0)).unwrap().online = false;
    let r = t
        .seam(
            Method::POST,
            "/locks/lock_door",
            json!({"device_id": front}),
        )
        .await;
    let a = &r.body["action_attempt"];
    assert_eq!(a["status"], "error", "{a}");
    assert_eq!(a["error"]["type"], "device_offline");

    // An attempt whose instance stopped before the vendor answered ends, after the deadline,
    // in an error saying the outcome is unknown (never a guessed success).
    let lock: lockbridge_core::ids::LockId = front.parse().unwrap();
    let stuck = lockbridge_core::seam::ActionAttempt::new(
        t.org,
        lockbridge_core::seam::ActionType::UnlockDoor,
        lock,
        t.app.state.now(),
    );
    t.db.store.insert_action_attempt(&stuck).await.unwrap();
    assert_eq!(
        lockbridge_app::workers::expire_door_attempts(&t.app.state)
            .await
            .unwrap(),
        0
    );
    t.advance(3 * t.app.state.settings.vendor_timeout.as_millis() as i64);
    assert_eq!(
        lockbridge_app::workers::expire_door_attempts(&t.app.state)
            .await
            .unwrap(),
        1
    );
    let ended = t
        .seam(
            Method::GET,
            "/action_attempts/get",
            json!({"action_attempt_id": stuck.id.to_string()}),
        )
        .await;
    assert_eq!(ended.body["action_attempt"]["status"], "error");
    let listed = t
        .seam(
            Method::GET,
            "/action_attempts/list",
            json!({"device_id": front}),
        )
        .await;
    assert_eq!(listed.body["action_attempts"].as_array().unwrap().len(), 3);
});

both_backends!(linked_codes_are_grants, |db: Db| async move {
    let t = TestApp::start(db).await;
    t.connect().await;
    let (front, back) = (t.lock_id("Front door").await, t.lock_id("Back door").await);
    let now = t.app.state.now();
    let made = t
        .seam(
            Method::PUT,
            "/access_codes/create_multiple",
            json!({"device_ids": [front, back], "name": "Family",
                   "starts_at": lockbridge_core::seam::time(now - 60_000),
                   "ends_at": lockbridge_core::seam::time(now + 86_400_000)}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let codes = made.body["access_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 2);
    let pin = codes[0]["code"].as_str().unwrap().to_owned();
    assert_eq!(codes[1]["code"], pin.as_str(), "one PIN on both locks");
    let key = codes[0]["common_code_key"].as_str().unwrap().to_owned();
    assert_eq!(codes[1]["common_code_key"], key.as_str());
    assert!(t.pins_on(0).iter().any(|(p, _)| *p == pin));
    assert!(t.pins_on(1).iter().any(|(p, _)| *p == pin));
    // It is a grant on /v1.
    let grant = t.get(&format!("/v1/grants/{key}")).await;
    assert_eq!(grant.status, 200, "{}", grant.body);
    assert_eq!(grant.body["code"], pin.as_str());

    // The group moves together.
    let new_end = lockbridge_core::seam::time(now + 2 * 86_400_000);
    let moved = t
        .seam(
            Method::PATCH,
            "/access_codes/update_multiple",
            json!({"common_code_key": key, "ends_at": new_end,
                   "starts_at": lockbridge_core::seam::time(now - 60_000)}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    t.drain().await;
    let listed = t
        .seam(
            Method::GET,
            "/access_codes/list",
            json!({"device_id": back}),
        )
        .await;
    assert_eq!(listed.body["access_codes"][0]["ends_at"], new_end.as_str());

    // A caller's own common_code_key: a second lock joins with the group's PIN.
    let first = t
        .seam(
            Method::POST,
            "/access_codes/create",
            json!({"device_id": front, "common_code_key": "booking-77", "code": "918273"}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let joined = t
        .seam(
            Method::POST,
            "/access_codes/create",
            json!({"device_id": back, "common_code_key": "booking-77"}),
        )
        .await;
    assert_eq!(
        joined.body["access_code"]["code"], "918273",
        "{}",
        joined.body
    );
    assert_eq!(joined.body["access_code"]["common_code_key"], "booking-77");
    assert!(t.pins_on(1).iter().any(|(p, _)| p == "918273"));
});
