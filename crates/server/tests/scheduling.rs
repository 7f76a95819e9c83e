//! Scheduling through the API, against the simulators' ground truth, with the service's and
//! the simulators' clocks moved together to fixed days (no sleeping, nothing depending on
//! today's date): weekly windows just in time on TTLock (across midnight and across the
//! spring-forward change), one-off just-in-time periods, and native weekly windows on Tedee and
//! Tuya keeping their wall-clock times on the day clocks change.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::time::{parse_rfc3339, to_rfc3339};
use serde_json::{Value, json};

impl TestApp {
    /// Moves every clock to `at` (it only moves forward) and runs the workers.
    async fn at(&self, at: &str) {
        let target = parse_rfc3339(at).unwrap();
        let now = self.app.state.now();
        assert!(target >= now, "clocks only move forward: {at}");
        self.advance_all(target - now);
        for _ in 0..3 {
            self.drain().await;
        }
    }

    /// The front door's passcode with `pin`: (start, end) as the simulated lock holds it.
    fn on_front_door(&self, pin: &str) -> Option<(String, String)> {
        self.sim.world().locks[&self.sim_lock(0)]
            .passcodes
            .values()
            .find(|p| p.code == pin && p.on_lock)
            .map(|p| (to_rfc3339(p.start_ms), to_rfc3339(p.end_ms)))
    }

    fn opens_front_door(&self, pin: &str) -> bool {
        self.sim.world().keypad(self.sim_lock(0), pin).unwrap()
    }
}

fn window(days: &[&str], start: &str, end: &str, tz: &str) -> Value {
    json!({"weekdays": days, "start_time": start, "end_time": end, "time_zone": tz})
}

fn pair(a: &str, b: &str) -> Option<(String, String)> {
    Some((a.to_owned(), b.to_owned()))
}

both_backends!(
    a_weekly_ttlock_window_is_on_the_lock_only_for_its_occurrences,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        // Friday 28 March 2036, before Warsaw's spring-forward night (30 March, 02:00 → 03:00);
        // far enough ahead that the clocks only ever move forward to it.
        t.at("2036-03-28T12:00:00Z").await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let pin = "360417";
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": pin, "name": "Night porter",
                   "schedule": window(&["sat", "sun"], "22:00", "06:00", "Europe/Warsaw")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            (r.body["status"].as_str(), r.body["scheduling"].as_str()),
            (Some("scheduled"), Some("just_in_time")),
            "TTLock holds no weekly window: lockbridge sets it before each one"
        );
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(t.on_front_door(pin), None);

        // Saturday 22:00 CET is 21:00 UTC; with the default hour of lead it goes on at 20:00.
        t.at("2036-03-29T19:59:00Z").await;
        assert_eq!(t.on_front_door(pin), None);
        assert_eq!(t.code(&id).await["status"], "scheduled");
        t.at("2036-03-29T20:00:00Z").await;
        assert_eq!(t.code(&id).await["status"], "set");
        // Across midnight and across the change: 22:00 CET to 06:00 CEST, seven hours.
        assert_eq!(
            t.on_front_door(pin),
            pair("2036-03-29T21:00:00Z", "2036-03-30T04:00:00Z")
        );
        assert!(!t.opens_front_door(pin), "on the lock, not yet open");
        t.at("2036-03-30T03:30:00Z").await; // 05:30 CEST
        assert!(t.opens_front_door(pin));
        // Off the lock when the window closes, waiting for Sunday's.
        t.at("2036-03-30T04:00:00Z").await;
        assert_eq!(t.on_front_door(pin), None);
        assert_eq!(t.code(&id).await["status"], "scheduled");
        // Sunday 22:00 CEST is 20:00 UTC now.
        t.at("2036-03-30T19:00:00Z").await;
        assert_eq!(
            t.on_front_door(pin),
            pair("2036-03-30T20:00:00Z", "2036-03-31T04:00:00Z")
        );

        // A new window while this one is on the lock: off it now, on again for the new one.
        let r = t
            .patch(
                &format!("/v1/access-codes/{id}"),
                json!({"schedule": window(&["mon"], "09:00", "10:00", "Europe/Warsaw")}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        t.drain().await;
        assert_eq!(t.on_front_door(pin), None);
        assert_eq!(t.code(&id).await["status"], "scheduled");
        t.at("2036-03-31T06:00:00Z").await;
        assert_eq!(
            t.on_front_door(pin),
            pair("2036-03-31T07:00:00Z", "2036-03-31T08:00:00Z")
        );
        // Deleted while between windows: nothing to take off the lock.
        t.at("2036-03-31T08:00:00Z").await;
        assert_eq!(t.code(&id).await["status"], "scheduled");
        let r = t.delete(&format!("/v1/access-codes/{id}")).await;
        assert_eq!(
            (r.status.as_u16(), r.body["status"].as_str()),
            (200, Some("removed"))
        );
        assert_eq!(
            t.code_events(&id)
                .await
                .iter()
                .filter(|e| *e == "access_code.set")
                .count(),
            3
        );
    }
);

both_backends!(
    a_just_in_time_stay_is_set_before_it_starts_and_gone_after,
    |db: Db| async move {
        let t =
            TestApp::start_with(db, |s| s.jit_lead = std::time::Duration::from_secs(30 * 60)).await;
        t.at("2036-01-11T08:00:00Z").await;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "714302", "scheduling": "just_in_time",
                   "starts_at": "2036-01-11T15:00:00Z", "ends_at": "2036-01-13T11:00:00Z"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(r.body["status"], "scheduled");
        t.at("2036-01-11T14:29:00Z").await;
        assert_eq!(t.on_front_door("714302"), None);
        t.at("2036-01-11T14:30:00Z").await;
        assert_eq!(
            t.on_front_door("714302"),
            pair("2036-01-11T15:00:00Z", "2036-01-13T11:00:00Z")
        );
        t.at("2036-01-13T11:00:00Z").await;
        assert_eq!(t.on_front_door("714302"), None);
        let code = t.code(&id).await;
        assert_eq!(
            (code["status"].as_str(), code["removed_reason"].as_str()),
            (Some("removed"), Some("expired"))
        );
        // Left to `auto`, a period on TTLock is held by the lock itself.
        let r = t
        .post(
            &format!("/v1/locks/{front}/access-codes"),
            json!({"code": "714303", "starts_at": "2036-01-14T15:00:00Z", "ends_at": "2036-01-15T11:00:00Z"}),
        )
        .await;
        assert_eq!(
            (r.body["status"].as_str(), r.body["scheduling"].as_str()),
            (Some("set"), Some("native"))
        );
        let r = t
            .post(
                &format!("/v1/locks/{front}/access-codes"),
                json!({"code": "714304", "scheduling": "just_in_time",
                   "schedule": window(&["mon"], "09:00", "10:00", "Europe/Warsaw"),
                   "starts_at": "2036-01-14T10:00:00Z", "ends_at": "2036-01-14T11:00:00Z"}),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(
            r.body["error"]["field"], "schedule",
            "no opening left inside the period"
        );
    }
);

both_backends!(
    native_windows_keep_wall_clock_times_when_clocks_change,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.at("2036-03-28T12:00:00Z").await;
        t.connect_tedee().await;
        t.connect_tuya().await;
        let tedee = t.tedee_lock(1).await["id"].as_str().unwrap().to_owned();
        let zigbee = t.tuya_lock(1).await["id"].as_str().unwrap().to_owned();
        // Sundays 09:00–10:00 in Warsaw, held by the locks themselves.
        let sunday = window(&["sun"], "09:00", "10:00", "Europe/Warsaw");
        let r = t
            .post(
                &format!("/v1/locks/{tedee}/access-codes"),
                json!({"code": "52817", "schedule": sunday.clone()}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["scheduling"].as_str()),
            (201, Some("native")),
            "{}",
            r.body
        );
        let r = t
            .post(
                &format!("/v1/locks/{zigbee}/access-codes"),
                json!({"code": "528174", "schedule": sunday}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["scheduling"].as_str()),
            (201, Some("native")),
            "{}",
            r.body
        );
        t.drain().await;
        let tedee_sim = t.tedee_demo.lock_ids[1];
        let tuya_sim = t.tuya_demo.lock_ids[1].clone();
        let try_both = |t: &TestApp| {
            (
                t.tedee.world().keypad(tedee_sim, "52817").unwrap(),
                t.tuya.world().keypad(&tuya_sim, "528174").unwrap(),
            )
        };
        // 30 March, after the change: 09:30 CEST is 07:30 UTC (an hour earlier in UTC than the
        // Sunday before, when 09:30 CET was 08:30 UTC).
        t.at("2036-03-30T07:30:00Z").await;
        assert_eq!(
            try_both(&t),
            (true, true),
            "09:30 local on the day clocks changed"
        );
        t.at("2036-03-30T08:30:00Z").await;
        assert_eq!(try_both(&t), (false, false), "10:30 local: closed");
        // Across midnight on Tedee: the lock cannot be trusted with it, so it is just in time.
        let r = t
        .post(
            &format!("/v1/locks/{tedee}/access-codes"),
            json!({"code": "52818", "schedule": window(&["sun"], "22:00", "06:00", "Europe/Warsaw")}),
        )
        .await;
        assert_eq!(r.body["scheduling"], "just_in_time", "{}", r.body);
        let r = t
            .post(
                &format!("/v1/locks/{tedee}/access-codes"),
                json!({"code": "52819", "scheduling": "native",
                   "schedule": window(&["sun"], "22:00", "06:00", "Europe/Warsaw")}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["field"].as_str()),
            (400, Some("scheduling"))
        );
    }
);

both_backends!(
    a_lock_keeps_the_zone_it_is_given_and_windows_in_another_go_just_in_time,
    |db: Db| async move {
        // The simulated TTLock lock's clock is at UTC+01:00; TTLock says no zone.
        let t = TestApp::start(db).await;
        t.sim
            .world()
            .locks
            .get_mut(&t.sim_lock(0))
            .unwrap()
            .timezone_raw_offset = 3_600_000;
        t.connect().await;
        let front = t.lock_id("Front door").await;
        let lock = t.get(&format!("/v1/locks/{front}")).await.body;
        assert_eq!(lock["utc_offset_minutes"], 60, "{lock}");
        let warnings: Vec<&str> = lock["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap())
            .collect();
        assert!(warnings.contains(&"time_zone_is_offset"), "{lock}");
        assert!(lock["time_zone"].is_null());

        // An operator says where it is; a sync keeps it.
        let member = t
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/locks/{front}"),
                Some(&t.member.clone()),
                Some(json!({"time_zone": "Europe/Warsaw"})),
            )
            .await;
        assert_eq!(member.status, 403);
        let bad = t
            .patch(
                &format!("/v1/locks/{front}"),
                json!({"time_zone": "Europe/Atlantis"}),
            )
            .await;
        assert_eq!(
            (bad.status.as_u16(), bad.body["error"]["field"].as_str()),
            (400, Some("time_zone"))
        );
        let r = t
            .patch(
                &format!("/v1/locks/{front}"),
                json!({"time_zone": "Europe/Warsaw"}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["time_zone"].as_str()),
            (200, Some("Europe/Warsaw")),
            "{}",
            r.body
        );
        assert!(
            r.body["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| w["code"] != "time_zone_is_offset"),
            "{}",
            r.body
        );
        t.post(
            &format!(
                "/v1/connections/{}/sync",
                r.body["connection_id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
        assert_eq!(
            t.get(&format!("/v1/locks/{front}")).await.body["time_zone"],
            "Europe/Warsaw"
        );
        let listed = t.get("/v1/locks?q=front").await;
        assert_eq!(listed.body["data"][0]["time_zone"], "Europe/Warsaw");

        // Tedee's lock keeps Europe/Warsaw: a weekly window in New York time is applied just in
        // time under `auto` (no longer refused), and refused, naming the zone, when asked native.
        t.connect_tedee().await;
        let flat = t.tedee_lock(1).await;
        let flat = flat["id"].as_str().unwrap();
        let ny = window(&["mon", "tue"], "09:00", "17:00", "America/New_York");
        let r = t
            .post(
                &format!("/v1/locks/{flat}/access-codes"),
                json!({"name": "Walker", "code": "472915", "schedule": ny}),
            )
            .await;
        assert!(r.status == 201 || r.status == 202, "{}", r.body);
        assert_eq!(r.body["scheduling"], "just_in_time", "{}", r.body);
        let r = t
            .post(
                &format!("/v1/locks/{flat}/access-codes"),
                json!({"name": "Walker", "code": "472916", "schedule": ny, "scheduling": "native"}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["error"]["field"].as_str()),
            (400, Some("schedule.time_zone")),
            "{}",
            r.body
        );
        let warsaw = window(&["mon", "tue"], "09:00", "17:00", "Europe/Warsaw");
        let r = t
            .post(
                &format!("/v1/locks/{flat}/access-codes"),
                json!({"name": "Walker", "code": "472917", "schedule": warsaw}),
            )
            .await;
        assert_eq!(r.body["scheduling"], "native", "{}", r.body);
    }
);
