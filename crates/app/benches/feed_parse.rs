//! Reading a calendar feed: a 1 MB export (Airbnb's shape: all-day stays, a phone's digits in a
//! folded, escaped description, blocked ranges among them) parsed into stays, 50 times.
//! `cargo bench -p lockbridge-app --bench feed_parse` (target: under 20 ms a megabyte).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

fn feed(bytes: usize) -> String {
    let mut out = String::from(
        "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\r\nVERSION:2.0\r\n",
    );
    let mut i = 0u32;
    while out.len() < bytes {
        let start = jiff::civil::date(2027, 1, 1)
            .checked_add(jiff::Span::new().days(i64::from(i % 3000)))
            .unwrap();
        let end = start.tomorrow().unwrap().tomorrow().unwrap();
        let summary = if i.is_multiple_of(5) {
            "Airbnb (Not available)"
        } else {
            "Reserved"
        };
        out.push_str(&format!(
            "BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{}\r\nDTSTART;VALUE=DATE:{}\r\nUID:{i:08x}-a9f2d3b5d3b1@airbnb.com\r\n\
             DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/d\r\n etails/HM{i:08X}\\nPhone Number (Last 4 Digits): {:04}\r\n\
             SUMMARY:{summary}\r\nEND:VEVENT\r\n",
            end.strftime("%Y%m%d"),
            start.strftime("%Y%m%d"),
            i % 10_000
        ));
        i += 1;
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

fn main() {
    let text = feed(1 << 20);
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            let stays = lockbridge_app::stays::calendars::parse(&text).unwrap();
            std::hint::black_box(stays);
            t.elapsed()
        })
        .collect();
    times.sort();
    let stays = lockbridge_app::stays::calendars::parse(&text)
        .unwrap()
        .len();
    println!(
        "feed of {} KB, {stays} stays: p50 {:.1} ms, p99 {:.1} ms",
        text.len() / 1024,
        times[25].as_secs_f64() * 1e3,
        times[49].as_secs_f64() * 1e3
    );
}
