//! The TTLock fake at the wire level: custom and algorithmic passcodes.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

use serde_json::json;

#[tokio::test]
async fn add_passcode_rules() {
    let f = Fixture::new().await;
    let (front, shed, storage) = (f.lock(0), f.lock(4), f.lock(2));
    let add = |lock: String, code: &'static str| {
        let f = &f;
        async move {
            f.call(
                "/v3/keyboardPwd/add",
                &[
                    ("lockId", &lock),
                    ("keyboardPwd", code),
                    ("keyboardPwdType", "2"),
                    ("addType", "2"),
                ],
            )
            .await
        }
    };
    let ok = add(front.clone(), "0246").await;
    assert!(ok["keyboardPwdId"].is_i64(), "{ok}");
    assert!(ok.get("errcode").is_none());
    let dup = add(front.clone(), "0246").await;
    assert_eq!(errcode(&dup), -3007);
    assert_eq!(
        dup["errmsg"],
        "The same passcode\u{a0}already exists. Please use another one."
    );
    assert_eq!(errcode(&add(front.clone(), "123").await), -3006);
    assert_eq!(errcode(&add(front.clone(), "1234567890").await), -3006);
    assert_eq!(errcode(&add(front.clone(), "12a456").await), -3006);
    assert_eq!(errcode(&add(shed, "555111").await), -2012);
    assert_eq!(errcode(&add(storage, "555111").await), -3002);

    // Period codes need both dates.
    let v = f
        .call(
            "/v3/keyboardPwd/add",
            &[("lockId", &front), ("keyboardPwd", "88990011")],
        )
        .await;
    assert_eq!(errcode(&v), -3);

    // The code went to the lock through the gateway: it opens the door.
    assert_eq!(f.sim.world().keypad(f.demo.lock_ids[0], "0246"), Some(true));
    // A Bluetooth add type only records the code in the cloud.
    let start = now_ms().to_string();
    let end = (now_ms() + 3_600_000).to_string();
    let bt = f
        .call(
            "/v3/keyboardPwd/add",
            &[
                ("lockId", &front),
                ("keyboardPwd", "97531"),
                ("startDate", &start),
                ("endDate", &end),
            ],
        )
        .await;
    assert!(bt["keyboardPwdId"].is_i64(), "{bt}");
    assert_eq!(
        f.sim.world().keypad(f.demo.lock_ids[0], "97531"),
        Some(false)
    );
}

#[tokio::test]
async fn capacity_is_enforced() {
    let f = Fixture::new().await;
    f.sim.world().config.capacity = 3;
    let front = f.lock(0); // holds two demo codes already
    let first = f
        .call(
            "/v3/keyboardPwd/add",
            &[
                ("lockId", &front),
                ("keyboardPwd", "11112222"),
                ("keyboardPwdType", "2"),
                ("addType", "2"),
            ],
        )
        .await;
    assert!(first["keyboardPwdId"].is_i64());
    let full = f
        .call(
            "/v3/keyboardPwd/add",
            &[
                ("lockId", &front),
                ("keyboardPwd", "33334444"),
                ("keyboardPwdType", "2"),
                ("addType", "2"),
            ],
        )
        .await;
    assert_eq!(errcode(&full), -3009);
}

#[tokio::test]
async fn list_change_and_delete_passcodes() {
    let f = Fixture::new().await;
    let front = f.lock(0);
    let list = f
        .call(
            "/v3/lock/listKeyboardPwd",
            &[
                ("lockId", &front),
                ("pageNo", "1"),
                ("pageSize", "20"),
                ("orderBy", "0"),
            ],
        )
        .await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["list"][0]["keyboardPwdName"], "Cleaner");
    let id = list["list"][0]["keyboardPwdId"]
        .as_i64()
        .unwrap()
        .to_string();

    let by_code = f
        .call(
            "/v3/lock/listKeyboardPwd",
            &[("lockId", &front), ("searchStr", "482913")],
        )
        .await;
    assert_eq!(by_code["total"], 1);
    let by_name = f
        .call(
            "/v3/lock/listKeyboardPwd",
            &[("lockId", &front), ("searchStr", "guest")],
        )
        .await;
    assert_eq!(by_name["list"][0]["keyboardPwd"], "70315");

    let ack = f
        .call(
            "/v3/keyboardPwd/change",
            &[
                ("lockId", &front),
                ("keyboardPwdId", &id),
                ("newKeyboardPwd", "4820"),
                ("keyboardPwdName", "Cleaning crew"),
                ("changeType", "2"),
            ],
        )
        .await;
    assert_eq!(
        ack,
        json!({"errcode": 0, "errmsg": "none error message or means yes", "description": "表示成功或是"})
    );
    let one_date = f
        .call(
            "/v3/keyboardPwd/change",
            &[
                ("lockId", &front),
                ("keyboardPwdId", &id),
                ("startDate", "1"),
            ],
        )
        .await;
    assert_eq!(errcode(&one_date), -3);
    {
        let w = f.sim.world();
        let code = &w.locks[&f.demo.lock_ids[0]].passcodes[&id.parse::<i64>().unwrap()];
        assert_eq!(
            (code.code.as_str(), code.name.as_deref()),
            ("4820", Some("Cleaning crew"))
        );
    }
    let del = f
        .call(
            "/v3/keyboardPwd/delete",
            &[
                ("lockId", &front),
                ("keyboardPwdId", &id),
                ("deleteType", "2"),
            ],
        )
        .await;
    assert_eq!(errcode(&del), 0);
    assert_eq!(f.sim.world().locks[&f.demo.lock_ids[0]].passcodes.len(), 1);
}

#[tokio::test]
async fn algorithmic_codes_are_hour_precise_strings() {
    let f = Fixture::new().await;
    let front = f.lock(0);
    let start = 1_900_000_000_000i64 + 20 * 60 * 1000; // 20 minutes past an hour
    let end = start + 48 * 3_600_000;
    let (s, e) = (start.to_string(), end.to_string());
    let v = f
        .call(
            "/v3/keyboardPwd/get",
            &[
                ("lockId", &front),
                ("keyboardPwdType", "3"),
                ("startDate", &s),
                ("endDate", &e),
            ],
        )
        .await;
    let code = v["keyboardPwd"].as_str().unwrap();
    assert!((6..=9).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()));
    let id = v["keyboardPwdId"].as_i64().unwrap();
    assert_eq!(
        f.sim.world().locks[&f.demo.lock_ids[0]].passcodes[&id].start_ms % 3_600_000,
        0
    );
    let again = f
        .call(
            "/v3/keyboardPwd/get",
            &[
                ("lockId", &front),
                ("keyboardPwdType", "3"),
                ("startDate", &s),
                ("endDate", &e),
            ],
        )
        .await;
    assert_eq!(errcode(&again), -3007);
    let bad = f
        .call(
            "/v3/keyboardPwd/get",
            &[
                ("lockId", &front),
                ("keyboardPwdType", "15"),
                ("startDate", &s),
            ],
        )
        .await;
    assert_eq!(errcode(&bad), -3);
}
