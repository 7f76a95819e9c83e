//! Local fakes of the vendor clouds lockbridge speaks to.
//!
//! Each fake answers the vendor's own paths with the vendor's envelopes, error codes and quirks,
//! keeps state (accounts, locks, gateways, codes, logs) and exposes a control API under `/_sim/`
//! to seed data, inspect the ground truth, take devices offline, inject faults and move the
//! clock. Everything random is drawn from a seeded generator, so a run is reproducible.
//!
//! The fakes are written from the vendors' public wire documentation, independently of the
//! lockbridge client crates: they share no types with them.

mod control;
pub mod faults;
pub mod kii;
pub mod nuki;
pub mod registry;
pub mod rng;
mod server;
pub mod switchbot;
pub mod tedee;
pub mod ttlock;
pub mod tuya;

pub use registry::Simulator;
pub use server::Running;

/// The wall clock in epoch milliseconds (each fake adds its own offset to it).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The offset from UTC, in minutes, of the zone `name` at `at_ms`: an IANA name (`Europe/Warsaw`,
/// with its clock changes) or a fixed `±HH:MM`; `None` when it is neither.
pub fn zone_offset_min(name: &str, at_ms: i64) -> Option<i64> {
    if let Ok(tz) = jiff::tz::TimeZone::get(name) {
        let ts = jiff::Timestamp::from_millisecond(at_ms).ok()?;
        return Some(i64::from(tz.to_offset(ts).seconds()) / 60);
    }
    let b = name.as_bytes();
    if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
        return None;
    }
    let v = name[1..3].parse::<i64>().ok()? * 60 + name[4..6].parse::<i64>().ok()?;
    Some(if b[0] == b'-' { -v } else { v })
}
