//! Calendar feeds: iCalendar (RFC 5545) as Airbnb, Vrbo and Booking.com export them, read with
//! the `icalendar` crate. Each VEVENT with a UID is a stay — unless it only blocks dates ("Not
//! available", "Blocked", "CLOSED") — its all-day `DTSTART` and `DTEND` the arrival and
//! departure days (`DTEND` exclusive, so the departure day itself) at the property's times in
//! its zone. A UID gone from the feed before its stay's check-out is a cancellation. A feed
//! that fails to load or to parse changes nothing: the error is kept on the calendar and told
//! by a `calendar.failed` event, and the last good state stays.

use futures_util::StreamExt;
use jiff::civil::Date;
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::stays::{Calendar, Property};
use serde_json::json;

use super::{Booking, cancel, upsert};
use crate::webhooks::address;
use crate::{AppResult, Service};

/// The largest feed read (a year of a busy listing is tens of kilobytes).
pub const MAX_FEED: usize = 5 * 1024 * 1024;

/// A stay as a feed gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedStay {
    pub uid: String,
    pub guest_name: Option<String>,
    pub arrival: Date,
    pub departure: Date,
    pub phone_last4: Option<String>,
}

/// Whether an entry only blocks dates.
fn blocks_only(summary: &str) -> bool {
    let s = summary.trim().to_ascii_lowercase();
    s.contains("not available")
        || s.contains("unavailable")
        || s.starts_with("blocked")
        || s.starts_with("closed")
}

/// The four digits after "Last 4 Digits" in a description (Airbnb: "Phone Number (Last 4
/// Digits): 1234").
fn phone_in(description: &str) -> Option<String> {
    let text = description.replace("\\n", "\n");
    let at = text.to_ascii_lowercase().find("last 4 digits")?;
    let rest = &text[at..];
    let rest = &rest[rest.find(':')? + 1..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (digits.len() == 4).then_some(digits)
}

/// The day of a `DTSTART` or `DTEND` value: `YYYYMMDD` (`VALUE=DATE`), or the date of a
/// date-time `YYYYMMDDTHHMMSS` (local, with its `TZID`, or UTC with `Z`: its date as written).
fn day_of(value: &str) -> Option<Date> {
    let digits = value.trim().get(..8)?;
    Date::strptime("%Y%m%d", digits).ok()
}

/// Unescapes a TEXT value (`\,` `\;` `\n` `\\`).
fn text_of(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The stays in a feed; an error says what is wrong with it. The feed is read into the
/// parser's borrowed components (unfolded once), not into owned typed events: half the time.
pub fn parse(text: &str) -> Result<Vec<FeedStay>, String> {
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err("not an iCalendar feed (it does not begin with BEGIN:VCALENDAR)".into());
    }
    let unfolded = icalendar::parser::unfold(text);
    let calendar = icalendar::parser::read_calendar(&unfolded).map_err(|e| {
        let first = e.lines().next().unwrap_or_default().to_owned();
        format!("not a readable iCalendar feed: {first}")
    })?;
    let mut out = Vec::new();
    for event in calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
    {
        let prop = |name: &str| {
            event
                .properties
                .iter()
                .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
                .map(|p| p.val.as_str())
        };
        let Some(uid) = prop("UID").map(str::trim).filter(|u| !u.is_empty()) else {
            continue;
        };
        let summary = text_of(prop("SUMMARY").unwrap_or_default());
        if blocks_only(&summary) {
            continue;
        }
        let (Some(arrival), Some(departure)) = (
            prop("DTSTART").and_then(day_of),
            prop("DTEND").and_then(day_of),
        ) else {
            continue;
        };
        if departure <= arrival {
            continue;
        }
        let guest_name = summary
            .split_once(" - ")
            .map(|(_, name)| name.trim().to_owned())
            .filter(|n| !n.is_empty());
        out.push(FeedStay {
            uid: uid.to_owned(),
            guest_name,
            arrival,
            departure,
            phone_last4: prop("DESCRIPTION")
                .map(text_of)
                .as_deref()
                .and_then(phone_in),
        });
    }
    Ok(out)
}

/// What a read brought: the feed's text and its validators, or nothing new (304).
enum Fetched {
    Changed(String, Option<String>, Option<String>),
    Unchanged,
}

async fn fetch(s: &Service, cal: &Calendar) -> Result<Fetched, String> {
    let allow = s.settings.webhook_allow_private;
    let url = address::check_url(&cal.url, allow).map_err(|e| format!("url {e}"))?;
    let http = address::client(s.settings.webhook_timeout, allow);
    let mut req = http.get(url);
    if let Some(e) = &cal.etag {
        req = req.header("If-None-Match", e);
    }
    if let Some(m) = &cal.last_modified {
        req = req.header("If-Modified-Since", m);
    }
    let mut resp = req
        .send()
        .await
        .map_err(|e| format!("the feed could not be read: {}", e.without_url()))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Fetched::Unchanged);
    }
    if !status.is_success() {
        return Err(format!("the feed answered HTTP {}", status.as_u16()));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (etag, modified) = (header("etag"), header("last-modified"));
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("the feed could not be read: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_FEED {
            return Err(format!("the feed is larger than {} MB", MAX_FEED >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| "the feed is not UTF-8 text".to_owned())?;
    Ok(Fetched::Changed(text, etag, modified))
}

/// Reads one feed now and brings its property's stays in line with it.
pub async fn read(s: &Service, cal: &Calendar) -> AppResult<()> {
    let now = s.now();
    let Some(p) = s.store.get_property(None, cal.property_id).await? else {
        return Ok(());
    };
    let parsed = match fetch(s, cal).await {
        Ok(Fetched::Unchanged) => {
            let same = Some((cal.etag.clone(), cal.last_modified.clone()));
            s.store.calendar_read(cal.id, same, None, now).await?;
            return Ok(());
        }
        Ok(Fetched::Changed(text, etag, modified)) => {
            parse(&text).map(|stays| (stays, etag, modified))
        }
        Err(e) => Err(e),
    };
    let (stays, etag, modified) = match parsed {
        Ok(ok) => ok,
        Err(e) => {
            tracing::info!(calendar = %cal.id, error = %e, "a calendar feed could not be read; nothing changed");
            s.store.calendar_read(cal.id, None, Some(&e), now).await?;
            let event = Event::new(p.org_id, EventType::CalendarFailed, now)
                .data(json!({"calendar_id": cal.id, "property_id": p.id, "error": e}));
            s.store.record_events(&[event]).await?;
            return Ok(());
        }
    };
    apply_feed(s, &p, cal, &stays).await?;
    s.store
        .calendar_read(cal.id, Some((etag, modified)), None, now)
        .await?;
    Ok(())
}

/// Brings a property's stays from `cal` in line with what the feed holds now.
async fn apply_feed(
    s: &Service,
    p: &Property,
    cal: &Calendar,
    stays: &[FeedStay],
) -> AppResult<()> {
    let source = cal.id.to_string();
    for stay in stays {
        let booking = Booking {
            guest_name: stay.guest_name.clone(),
            arrival_date: Some(stay.arrival),
            departure_date: Some(stay.departure),
            phone: stay.phone_last4.clone(),
            ..Booking::default()
        };
        if let Err(e) = upsert(s, p, &stay.uid, &booking, &source).await {
            tracing::warn!(calendar = %cal.id, error = %e, "a stay of a feed could not be stored");
        }
    }
    let now = s.now();
    let listed: std::collections::HashSet<&str> = stays.iter().map(|s| s.uid.as_str()).collect();
    for r in s.store.reservations_from(p.id, &source, now).await? {
        if !r.cancelled && now < r.check_out_at && !listed.contains(r.external_id.as_str()) {
            cancel(s, r).await?;
        }
    }
    Ok(())
}

/// One pass of the calendar worker: the feeds due a read, claimed (each read once an interval,
/// by one instance), read eight at a time. Answers how many.
pub async fn run_due(s: &Service) -> AppResult<usize> {
    let now = s.now();
    let next = now + s.settings.calendar_interval.as_millis() as i64;
    let due = s.store.claim_due_calendars(now, 100, next).await?;
    let n = due.len();
    futures_util::stream::iter(due)
        .for_each_concurrent(8, |cal| async move {
            if let Err(e) = read(s, &cal).await {
                tracing::warn!(calendar = %cal.id, error = %e, "a calendar feed could not be applied");
            }
        })
        .await;
    Ok(n)
}
