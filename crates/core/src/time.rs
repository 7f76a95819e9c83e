//! Instants are milliseconds since the Unix epoch (UTC) inside lockbridge, RFC 3339 at the edges.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The service's clock: the wall clock plus an offset that tests move forward (leases
/// expire, codes reach their end) without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset: std::sync::atomic::AtomicI64,
}

impl Clock {
    pub fn now(&self) -> Millis {
        now_ms() + self.offset.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.offset
            .fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `2026-11-21T09:30:00Z` (milliseconds shown only when not zero), through jiff. An instant
/// outside jiff's range (years -9999 to 9999) is written as the nearest one inside it.
pub fn to_rfc3339(ms: Millis) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    if ms.rem_euclid(1000) == 0 {
        format!("{ts:.0}")
    } else {
        format!("{ts:.3}")
    }
}

/// Parses RFC 3339 (`Z` or a `±HH:MM` offset, optional fraction) to UTC milliseconds, with
/// jiff's parser: any text, however malformed, is an answer (`None`), never a panic.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    Some(ts.as_millisecond())
}

/// Parses a vendor's ISO-8601 instant: RFC 3339, or the same without a zone, which is read as
/// UTC (Tedee writes `2020-11-20T13:59:26.212`).
pub fn parse_utc_lenient(text: &str) -> Option<Millis> {
    parse_rfc3339(text).or_else(|| parse_rfc3339(&format!("{text}Z")))
}

/// Serde for optional RFC 3339 instants held as milliseconds.
pub mod rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Millis;

    pub fn serialize<S: Serializer>(v: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ms) => s.serialize_str(&super::to_rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::parse_rfc3339(&s).map(Some).ok_or_else(|| {
                serde::de::Error::custom(
                    "expected an RFC 3339 date-time such as 2026-11-21T09:30:00Z",
                )
            }),
        }
    }
}

/// Serde for RFC 3339 instants held as milliseconds.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Millis;

    pub fn serialize<S: Serializer>(v: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_rfc3339(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s).ok_or_else(|| {
            serde::de::Error::custom("expected an RFC 3339 date-time such as 2026-11-21T09:30:00Z")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(to_rfc3339(1_528_878_944_000), "2018-06-13T08:35:44Z");
        assert_eq!(to_rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            parse_rfc3339("2018-06-13T08:35:44Z"),
            Some(1_528_878_944_000)
        );
        assert_eq!(
            parse_rfc3339("2018-06-13T10:35:44+02:00"),
            Some(1_528_878_944_000)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.123Z"),
            Some(951_782_400_123)
        );
        for bad in [
            "2018-06-13",
            "2018-02-30T00:00:00Z",
            "2018-06-13T25:00:00Z",
            "2018-06-13T08:35:44",
            "x",
            "2026-01-01T00:00:00+0é00",
            "2026-01-01T00:00:00.é",
            "２０２６-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        for ms in [0, 1, 86_399_999, 4_102_444_800_000, -86_400_000] {
            assert_eq!(parse_rfc3339(&to_rfc3339(ms)), Some(ms));
        }
    }

    /// Any character at any place of a valid instant: an answer, never a panic.
    #[test]
    fn no_text_makes_the_parser_panic() {
        let valid: Vec<char> = "2026-01-01T00:00:00.123+01:00".chars().collect();
        let odd = [
            'é',
            '\u{0}',
            '０',
            '𝟘',
            '\u{202e}',
            '+',
            ':',
            '.',
            'Z',
            ' ',
            '\u{10ffff}',
        ];
        for at in 0..=valid.len() {
            for c in odd {
                for replace in [false, true] {
                    let mut text = valid.clone();
                    if replace && at < text.len() {
                        text[at] = c;
                    } else {
                        text.insert(at, c);
                    }
                    let text: String = text.into_iter().collect();
                    let _ = parse_rfc3339(&text);
                    let _ = parse_utc_lenient(&text);
                }
            }
        }
    }
}

/// The schema of a timestamp on the wire: an RFC 3339 string in UTC (`2026-05-01T12:00:00Z`).
/// Fields kept as [`Millis`] and written with [`rfc3339`] name it with
/// `#[schemars(with = "Timestamp")]`.
#[derive(Debug)]
pub struct Timestamp;

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time"})
    }
}
