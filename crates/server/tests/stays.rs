//! Stays through the API, the TTLock simulator as the oracle: a booking becomes a code on every
//! door of the property from check-in to check-out (in the property's zone), a change moves it
//! with the same PIN, a cancellation takes it off; calendar feeds served on 127.0.0.1 become
//! stays, and a feed that fails changes nothing; a stay whose gateway is offline is at risk and
//! gets an offline code the lock computes.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

const ZONE: &str = "Europe/Lisbon";

/// The day `days` after the service's today, in the property's zone.
fn day(t: &TestApp, days: i64) -> Date {
    let now = jiff::Timestamp::from_millisecond(t.app.state.now()).unwrap();
    now.to_zoned(TimeZone::get(ZONE).unwrap())
        .date()
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
}

/// `day` at `hh:00` in the property's zone, in milliseconds.
fn at(day: Date, hh: i8) -> i64 {
    day.at(hh, 0, 0, 0)
        .to_zoned(TimeZone::get(ZONE).unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

async fn property(t: &TestApp, names: &[&str], source: &str) -> String {
    let mut locks = Vec::new();
    for n in names {
        locks.push(t.lock_id(n).await);
    }
    let r = t
        .post(
            "/v1/properties",
            json!({"name": "Casa Azul", "lock_ids": locks, "time_zone": ZONE,
                   "check_in_time": "16:00", "check_out_time": "10:00", "code_source": source}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// The passcodes with `pin` on the simulated lock `i`: (start, end) each.
fn windows(t: &TestApp, i: usize, pin: &str) -> Vec<(i64, i64)> {
    let w = t.sim.world();
    w.locks[&t.sim_lock(i)]
        .passcodes
        .values()
        .filter(|p| p.code == pin)
        .map(|p| (p.start_ms, p.end_ms))
        .collect()
}

both_backends!(
    a_booking_becomes_a_code_on_every_door,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        for (field, bad) in [
            ("time_zone", json!({"time_zone": "Mars/Base"})),
            ("check_in_time", json!({"check_in_time": "25:00"})),
        ] {
            let mut body = json!({"name": "X", "lock_ids": [t.lock_id("Front door").await], "time_zone": ZONE});
            body.as_object_mut()
                .unwrap()
                .extend(bad.as_object().unwrap().clone());
            let r = t.post("/v1/properties", body).await;
            assert_eq!(
                (r.status.as_u16(), r.body["error"]["field"].as_str()),
                (400, Some(field)),
                "{}",
                r.body
            );
        }
        let p = property(&t, &["Front door", "Back door"], "phone_last4").await;
        let stay = format!("/v1/properties/{p}/reservations/HM4KX2");
        let (arrive, leave) = (day(&t, 3), day(&t, 6));
        let booking = json!({"guest_name": "Ana", "arrival_date": arrive.to_string(),
                         "departure_date": leave.to_string(), "phone": "+351 912 345 678"});
        let r = t
            .call(
                reqwest::Method::PUT,
                &stay,
                Some(&t.admin),
                Some(booking.clone()),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            (r.body["status"].as_str(), r.body["phone_last4"].as_str()),
            (Some("upcoming"), Some("5678"))
        );
        assert_eq!(
            r.body["check_in_at"],
            lockbridge_core::time::to_rfc3339(at(arrive, 16))
        );
        assert_eq!(
            r.body["access_codes"].as_array().unwrap().len(),
            2,
            "{}",
            r.body
        );
        let first = r.body.clone();
        t.drain().await;
        // On both doors, with the phone's digits, from check-in to check-out.
        for i in [0, 1] {
            assert_eq!(
                windows(&t, i, "5678"),
                vec![(at(arrive, 16), at(leave, 10))],
                "lock {i}"
            );
        }

        // The same booking again changes nothing.
        let r = t
            .call(
                reqwest::Method::PUT,
                &stay,
                Some(&t.admin),
                Some(booking.clone()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["updated_at"], first["updated_at"]);

        // Extended by a night: the codes move, the PIN stays.
        let mut longer = booking.clone();
        longer["departure_date"] = json!(day(&t, 7).to_string());
        let r = t
            .call(reqwest::Method::PUT, &stay, Some(&t.admin), Some(longer))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        t.drain().await;
        for i in [0, 1] {
            assert_eq!(
                windows(&t, i, "5678"),
                vec![(at(arrive, 16), at(day(&t, 7), 10))],
                "lock {i}"
            );
        }
        let listed = t
            .get(&format!("/v1/reservations?property_id={p}&status=upcoming"))
            .await;
        assert_eq!(
            listed.body["data"].as_array().unwrap().len(),
            1,
            "{}",
            listed.body
        );

        // Cancelled: the codes leave the locks.
        let r = t.delete(&stay).await;
        assert_eq!(r.body["status"], "cancelled", "{}", r.body);
        t.drain().await;
        for i in [0, 1] {
            assert!(windows(&t, i, "5678").is_empty(), "lock {i}");
        }
        let r = t
            .get(&format!(
                "/v1/reservations?property_id={p}&status=cancelled"
            ))
            .await;
        assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{}", r.body);
        // Booked again under the same id: the codes come back.
        let r = t
            .call(
                reqwest::Method::PUT,
                &stay,
                Some(&t.admin),
                Some(booking.clone()),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.body["status"].as_str()),
            (200, Some("upcoming")),
            "{}",
            r.body
        );
        t.drain().await;
        for i in [0, 1] {
            assert_eq!(
                windows(&t, i, "5678"),
                vec![(at(arrive, 16), at(leave, 10))],
                "lock {i}"
            );
        }
        assert_eq!(t.delete(&stay).await.body["status"], "cancelled");
        t.drain().await;
        // A property with no stay left to come can go.
        assert_eq!(t.delete(&format!("/v1/properties/{p}")).await.status, 204);
    }
);

both_backends!(
    a_stay_inside_a_clock_change_keeps_its_wall_clock_time,
    |db: Db| async move {
        let t = TestApp::start(db).await;
        t.connect().await;
        let p = property(&t, &["Front door"], "generated").await;
        // Lisbon's clocks go forward on the last Sunday of March, back on the last of October.
        let year = day(&t, 0).year() + 1;
        let (spring, autumn) = (
            Date::new(year, 3, 31).unwrap(),
            Date::new(year, 10, 31).unwrap(),
        );
        let sunday = |d: Date| {
            d.checked_sub(jiff::Span::new().days(i64::from(d.weekday().to_sunday_zero_offset())))
                .unwrap()
        };
        for change in [sunday(spring), sunday(autumn)] {
            let id = format!("/v1/properties/{p}/reservations/dst-{change}");
            let r = t.call(reqwest::Method::PUT, &id, Some(&t.admin), Some(json!({
            "arrival_date": change.to_string(), "departure_date": change.tomorrow().unwrap().to_string()}))).await;
            assert_eq!(r.status, 201, "{}", r.body);
            assert_eq!(
                r.body["check_in_at"],
                lockbridge_core::time::to_rfc3339(at(change, 16)),
                "{change}"
            );
            let offset = if change.month() == 3 {
                "15:00:00Z"
            } else {
                "16:00:00Z"
            };
            assert!(
                r.body["check_in_at"].as_str().unwrap().ends_with(offset),
                "{}",
                r.body
            );
        }
    }
);

/// A feed on 127.0.0.1: its answer is set by the test; it counts requests and answers 304 to
/// a request that names its ETag.
#[derive(Clone, Default)]
struct Feed {
    answer: Arc<Mutex<(u16, String)>>,
    requests: Arc<Mutex<Vec<u16>>>,
}

impl Feed {
    async fn serve(&self) -> String {
        let feed = self.clone();
        let app = axum::Router::new().route(
            "/calendar/ical/8812.ics",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let feed = feed.clone();
                async move {
                    let (status, body) = feed.answer.lock().unwrap().clone();
                    let etag = format!(
                        "\"{:x}\"",
                        body.len() * 31 + body.bytes().map(usize::from).sum::<usize>()
                    );
                    let status = if status == 200
                        && headers.get("if-none-match").and_then(|v| v.to_str().ok())
                            == Some(etag.as_str())
                    {
                        304
                    } else {
                        status
                    };
                    feed.requests.lock().unwrap().push(status);
                    let code = axum::http::StatusCode::from_u16(status).unwrap();
                    (
                        code,
                        [("etag", etag), ("content-type", "text/calendar".into())],
                        if status == 304 { String::new() } else { body },
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/calendar/ical/8812.ics",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn set(&self, status: u16, body: String) {
        *self.answer.lock().unwrap() = (status, body);
    }
}

/// An export as Airbnb and Vrbo write them: CRLF, a folded line, escaped newlines, all-day
/// dates, a blocked range, a `TZID` date-time.
fn export(t: &TestApp, with_maria: bool) -> String {
    let d = |n: i64| day(t, n).strftime("%Y%m%d").to_string();
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "PRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "VERSION:2.0".into(),
        "BEGIN:VEVENT".into(),
        format!("DTEND;VALUE=DATE:{}", d(5)),
        format!("DTSTART;VALUE=DATE:{}", d(2)),
        "UID:1418fb94e984-a9f2d3b5d3b1f00e8b6b1d3a@airbnb.com".into(),
        "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/d".into(),
        " etails/HMABCDEF12\\nPhone Number (Last 4 Digits): 4821".into(),
        "SUMMARY:Reserved".into(),
        "END:VEVENT".into(),
        "BEGIN:VEVENT".into(),
        format!("DTEND;VALUE=DATE:{}", d(12)),
        format!("DTSTART;VALUE=DATE:{}", d(9)),
        "UID:7f5e3c1e0b5a-blocked@airbnb.com".into(),
        "SUMMARY:Airbnb (Not available)".into(),
        "END:VEVENT".into(),
    ];
    if with_maria {
        lines.extend([
            "BEGIN:VEVENT".into(),
            format!("DTSTART;TZID=Europe/Lisbon:{}T160000", d(20)),
            format!("DTEND;TZID=Europe/Lisbon:{}T100000", d(23)),
            "UID:vrbo-4471-maria".into(),
            "SUMMARY:Reserved - Maria".into(),
            "END:VEVENT".into(),
        ]);
    }
    lines.push("END:VCALENDAR".into());
    lines.join("\r\n") + "\r\n"
}

async fn stays(t: &TestApp, p: &str) -> Vec<Value> {
    let r = t.get(&format!("/v1/reservations?property_id={p}")).await;
    r.body["data"].as_array().unwrap().clone()
}

both_backends!(a_calendar_feed_becomes_stays, |db: Db| async move {
    let t = TestApp::start_with(db, |s| s.webhook_allow_private = true).await;
    t.connect().await;
    let p = property(&t, &["Front door"], "phone_last4").await;
    let feed = Feed::default();
    feed.set(200, export(&t, true));
    let url = feed.serve().await;
    let r = t
        .post(
            &format!("/v1/properties/{p}/calendars"),
            json!({"url": url, "name": "Airbnb"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body.get("url").is_none(),
        "a feed's URL is its owner's secret"
    );
    let found = stays(&t, &p).await;
    let ids: Vec<&str> = found
        .iter()
        .map(|s| s["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(found.len(), 2, "the blocked range is no stay: {ids:?}");
    let airbnb = found
        .iter()
        .find(|s| s["external_id"].as_str().unwrap().ends_with("@airbnb.com"))
        .unwrap();
    assert_eq!(airbnb["phone_last4"], "4821");
    assert_eq!(
        airbnb["check_in_at"],
        lockbridge_core::time::to_rfc3339(at(day(&t, 2), 16))
    );
    assert_eq!(
        airbnb["check_out_at"],
        lockbridge_core::time::to_rfc3339(at(day(&t, 5), 10))
    );
    t.drain().await;
    assert_eq!(
        windows(&t, 0, "4821").len(),
        1,
        "the guest's digits on the door"
    );

    // Read again an interval later: unchanged (304), nothing moves.
    let interval = t.app.state.settings.calendar_interval.as_millis() as i64;
    t.advance_all(interval);
    lockbridge_app::stays::calendars::run_due(&t.app.state)
        .await
        .unwrap();
    assert_eq!(feed.requests.lock().unwrap().last(), Some(&304));

    // A feed that fails or is not iCalendar cancels nothing.
    for (status, body) in [
        (500, "oops".to_owned()),
        (200, "<html>maintenance</html>".to_owned()),
    ] {
        feed.set(status, body);
        t.advance_all(interval);
        lockbridge_app::stays::calendars::run_due(&t.app.state)
            .await
            .unwrap();
        assert!(
            stays(&t, &p)
                .await
                .iter()
                .all(|s| s["status"] == "upcoming")
        );
        let cal = t.get(&format!("/v1/properties/{p}/calendars")).await;
        assert!(
            cal.body["data"][0]["last_error"].is_string(),
            "{}",
            cal.body
        );
    }
    let failed = t.get("/v1/events?type=calendar.failed").await;
    assert_eq!(
        failed.body["data"].as_array().unwrap().len(),
        2,
        "{}",
        failed.body
    );

    // Maria's stay gone from the feed before her check-out: cancelled. Two instances read the
    // feed once in the interval.
    feed.set(200, export(&t, false));
    let other = t.other_instance((*t.app.state.settings).clone());
    t.advance_all(interval);
    other.state.clock.advance(interval);
    let before = feed.requests.lock().unwrap().len();
    let (a, b) = tokio::join!(
        lockbridge_app::stays::calendars::run_due(&t.app.state),
        lockbridge_app::stays::calendars::run_due(&other.state)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(feed.requests.lock().unwrap().len(), before + 1);
    let now = stays(&t, &p).await;
    let maria = now
        .iter()
        .find(|s| s["external_id"] == "vrbo-4471-maria")
        .unwrap();
    assert_eq!(maria["status"], "cancelled");
    assert!(now.iter().any(|s| s["status"] == "upcoming"));
});

both_backends!(a_stay_at_risk_gets_a_fallback_code, |db: Db| async move {
    // A lead longer than the time to check-in: the stay is checked as soon as it is booked.
    let t = TestApp::start_with(db, |s| {
        s.readiness_lead = std::time::Duration::from_secs(3 * 86_400)
    })
    .await;
    t.connect().await;
    let p = property(&t, &["Front door"], "generated").await;
    let front = t.lock_id("Front door").await;
    // The gateway goes offline before the booking, which arrives inside the readiness lead.
    let gateway = t.sim.world().locks[&t.sim_lock(0)].gateway_id.unwrap();
    t.sim.world().gateways.get_mut(&gateway).unwrap().online = false;
    let tomorrow = day(&t, 1);
    let stay = format!("/v1/properties/{p}/reservations/late-booking");
    let r = t
        .call(
            reqwest::Method::PUT,
            &stay,
            Some(&t.admin),
            Some(json!({
        "arrival_date": tomorrow.to_string(), "departure_date": day(&t, 3).to_string()})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["readiness"], "pending");
    assert_eq!(
        lockbridge_app::stays::readiness::run_due(&t.app.state)
            .await
            .unwrap(),
        1
    );
    let r = t.get(&format!("/v1/reservations/{id}")).await;
    assert_eq!(r.body["readiness"], "at_risk", "{}", r.body);
    assert!(
        r.body["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == "gateway_offline" && x["lock_id"] == front.as_str()),
        "{}",
        r.body
    );
    let fallback = &r.body["fallback_codes"][0];
    assert_eq!(
        (fallback["lock_id"].as_str(), fallback["kind"].as_str()),
        (Some(front.as_str()), Some("time_bound")),
        "{}",
        r.body
    );
    // The lock computes it: the simulator holds it as an algorithmic code for the stay.
    let pin = fallback["code"].as_str().unwrap();
    assert!(
        t.sim.world().locks[&t.sim_lock(0)]
            .passcodes
            .values()
            .any(|c| c.code == pin && c.kind == 3)
    );
    for kind in ["reservation.at_risk", "reservation.fallback_issued"] {
        let e = t.get(&format!("/v1/events?type={kind}")).await;
        assert_eq!(
            e.body["data"].as_array().unwrap().len(),
            1,
            "{kind}: {}",
            e.body
        );
    }

    // The gateway is back; an hour before check-in the stay is ready.
    t.sim.world().gateways.get_mut(&gateway).unwrap().online = true;
    t.drain().await;
    let check_in = at(tomorrow, 16);
    t.advance_all(check_in - 3_600_000 - t.app.state.now());
    lockbridge_app::stays::readiness::run_due(&t.app.state)
        .await
        .unwrap();
    let r = t.get(&format!("/v1/reservations/{id}")).await;
    assert_eq!(r.body["readiness"], "ready", "{}", r.body);
    let e = t.get("/v1/events?type=reservation.ready").await;
    assert_eq!(e.body["data"].as_array().unwrap().len(), 1, "{}", e.body);

    // After check-out the fallback is over: the lock's algorithm ends it at the stay's end,
    // and lockbridge counts it expired.
    let fallback_code = r.body["fallback_codes"][0]["access_code_id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.advance_all(at(day(&t, 3), 11) - t.app.state.now());
    t.drain().await;
    let c = t.code(&fallback_code).await;
    assert_eq!(
        (c["status"].as_str(), c["removed_reason"].as_str()),
        (Some("removed"), Some("expired")),
        "{c}"
    );
    let r = t.get(&format!("/v1/reservations/{id}")).await;
    assert_eq!(r.body["status"], "ended", "{}", r.body);
});
