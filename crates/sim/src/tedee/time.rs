//! Tedee's date strings: ISO-8601, with or without `Z` (zoneless means UTC), optional fraction.

const DAY_MS: i64 = 86_400_000;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Epoch milliseconds of `2021-10-01T10:00:00.000Z`, `2020-01-01T00:00:00` (UTC) or with a
/// `±HH:MM` offset.
pub fn parse(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d, h, mi, s) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        ms = format!("{:0<3}", &frac[..digits.min(3)]).parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "" | "Z" | "z" => 0,
        o if o.len() == 6 && matches!(&o[..1], "+" | "-") && &o[3..4] == ":" => {
            let v = o[1..3].parse::<i64>().ok()? * 60 + o[4..6].parse::<i64>().ok()?;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    Some(
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_min * 60) * 1000 + ms,
    )
}

/// `2021-04-26T06:02:04.197Z`.
pub fn format_z(ms: i64) -> String {
    format!("{}Z", format_plain(ms))
}

/// `2020-11-20T13:59:26.212` (UTC without a zone, as the activity log writes it).
pub fn format_plain(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let t = ms.rem_euclid(DAY_MS);
    let (h, mi, s, milli) = (t / 3_600_000, t / 60_000 % 60, t / 1000 % 60, t % 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}")
}

/// Milliseconds since midnight of a datetime's time-of-day part, as written (its zone is
/// ignored: only the time of day of `dayStartTime`/`dayEndTime` counts).
pub fn time_of_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 16 || b[13] != b':' {
        return None;
    }
    let h: i64 = text.get(11..13)?.parse().ok()?;
    let m: i64 = text.get(14..16)?.parse().ok()?;
    (h < 24 && m < 60).then_some((h * 60 + m) * 60_000)
}

/// Monday = 0 … Sunday = 6 of a UTC instant.
pub fn weekday(ms: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    (ms.div_euclid(DAY_MS) + 3).rem_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_forms() {
        let t = parse("2021-04-26T06:02:04.197Z").unwrap();
        assert_eq!(format_z(t), "2021-04-26T06:02:04.197Z");
        assert_eq!(parse("2021-04-26T06:02:04.197"), Some(t));
        assert_eq!(parse("2021-04-26T08:02:04.197+02:00"), Some(t));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(weekday(0), 3);
        assert_eq!(time_of_day("2021-10-01T10:30:00.000Z"), Some(37_800_000));
        assert!(parse("tomorrow").is_none());
    }
}
