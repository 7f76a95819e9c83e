//! The shared-PIN generator for a 20-lock grant over TTLock, Tedee and Tuya locks: the common
//! rules, a PIN within them, and the fewest groups when the Tuya locks mix Wi-Fi and Zigbee.
//!
//! `cargo bench -p lockbridge-core --bench shared_pin`

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use lockbridge_core::rules::CodeRules;
use lockbridge_core::shared_pin::shared_pin;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

fn run(what: &str, rules: &[CodeRules]) {
    let mut lat = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let t = Instant::now();
        let _ = std::hint::black_box(shared_pin(std::hint::black_box(rules)));
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "{what}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
}

fn main() {
    let one_pin: Vec<CodeRules> = (0..20)
        .map(|i| match i % 3 {
            0 => CodeRules::ttlock(),
            1 => CodeRules::tedee(),
            _ => CodeRules::tuya(6),
        })
        .collect();
    run("20 locks, one PIN (TTLock, Tedee, Tuya Zigbee)", &one_pin);
    let mixed: Vec<CodeRules> = (0..20)
        .map(|i| match i % 4 {
            0 => CodeRules::ttlock(),
            1 => CodeRules::tedee(),
            2 => CodeRules::tuya(6),
            _ => CodeRules::tuya(7),
        })
        .collect();
    run(
        "20 locks, no single PIN (Tuya Wi-Fi among them): the fewest groups",
        &mixed,
    );
}
