//! Keypad codes (authorizations of type 13) as access codes: a span of dates (UTC instants),
//! and weekly windows as Nuki's weekday mask and minutes in the lock's own time.

use lockbridge_core::model::{Schedule, TimeOfDay, Weekday};

use super::*;

/// The name a code is written with: Nuki's keypad shows 20 characters, and finds a new code by
/// its name and PIN.
fn name_of(name: Option<&str>) -> String {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    name.unwrap_or("lockbridge").chars().take(20).collect()
}

/// When a code works, as Nuki takes it. A weekly window only counts with a start date (Nuki's
/// rule), so a window without one starts at the epoch.
pub(super) fn restrictions(
    period: Option<(Millis, Millis)>,
    schedule: Option<&Schedule>,
) -> nk::Restrictions {
    let mut r = nk::Restrictions::default();
    if let Some((from, until)) = period {
        r.allowed_from_date = Some(nk::to_time(from));
        r.allowed_until_date = Some(nk::to_time(until));
    }
    if let Some(s) = schedule {
        r.allowed_from_date.get_or_insert_with(|| nk::to_time(0));
        let mask = s
            .weekdays
            .iter()
            .map(|d| nk::weekday_bit(d.index() as u8 + 1))
            .sum();
        r.allowed_week_days = Some(mask);
        r.allowed_from_time = Some(u32::from(s.start_time.minutes()));
        r.allowed_until_time = Some(u32::from(s.end_time.minutes()));
    }
    r
}

/// A listed keypad code as lockbridge sees it; its window is in the lock's zone.
pub(super) fn code_of(a: &nk::SmartlockAuth, zone: Option<&str>) -> ProviderCode {
    let from = a.allowed_from_date.as_deref().and_then(nk::from_time);
    let until = a.allowed_until_date.as_deref().and_then(nk::from_time);
    let windowed = a.allowed_from_time.is_some() || a.allowed_until_time.is_some();
    let weekly = a
        .allowed_week_days
        .is_some_and(|m| m & 0x7f != 127 && m != 0);
    let schedule = (windowed || weekly).then(|| Schedule {
        weekdays: nk::weekdays_of(a.allowed_week_days.unwrap_or(0))
            .into_iter()
            .map(|d| Weekday::ALL[usize::from(d - 1)])
            .collect(),
        start_time: TimeOfDay::from_minutes(i64::from(a.allowed_from_time.unwrap_or(0))),
        end_time: TimeOfDay::from_minutes(i64::from(a.allowed_until_time.unwrap_or(1439))),
        time_zone: zone.unwrap_or("UTC").to_owned(),
    });
    // The epoch start written for a window alone is no period.
    let period = from
        .zip(until)
        .filter(|(f, _)| !(schedule.is_some() && *f == 0));
    ProviderCode {
        provider_id: a.id.clone(),
        spec: CodeSpec {
            code: a.code.map(|c| format!("{c:06}")).unwrap_or_default(),
            name: Some(a.name.clone()).filter(|n| !n.is_empty()),
            starts_at: period.map(|p| p.0),
            ends_at: period.map(|p| p.1),
            schedule,
        },
    }
    .cleaned()
}

#[async_trait]
impl Codes for NukiProvider {
    async fn list_codes(
        &self,
        conn: &Connection,
        lock: &Lock,
    ) -> ProviderResult<Vec<ProviderCode>> {
        let client = self.session(conn)?;
        let listed = self
            .calls
            .run(
                conn.id,
                "smartlock/{id}/auth",
                client.keypad_codes(lock_id(lock)?),
            )
            .await?;
        let zone = lock.time_zone.as_deref();
        Ok(listed.iter().map(|a| code_of(a, zone)).collect())
    }

    /// Writes the code and follows it until the lock lists it; answers its authorization id.
    async fn create_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        spec: &CodeSpec,
    ) -> ProviderResult<String> {
        let client = self.session(conn)?;
        let new = nk::NewKeypadCode {
            name: name_of(spec.name.as_deref()),
            code: spec.code.clone(),
            restrictions: restrictions(spec.starts_at.zip(spec.ends_at), spec.schedule.as_ref()),
        };
        let created = self
            .calls
            .run(
                conn.id,
                "smartlock/{id}/auth (create)",
                client.create_keypad_code(lock_id(lock)?, &new),
            )
            .await?;
        Ok(created.id)
    }

    /// Rewrites the whole code (what does not change, as the lock lists it now) and follows
    /// the change until the lock lists it.
    async fn update_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
        change: &CodeChange,
    ) -> ProviderResult<()> {
        let client = self.session(conn)?;
        let id = lock_id(lock)?;
        let listed = self
            .calls
            .run(conn.id, "smartlock/{id}/auth", client.keypad_codes(id))
            .await?;
        let Some(current) = listed.iter().find(|a| a.id == provider_id) else {
            return Err(ProviderError::new(
                P,
                ErrorKind::NotFound,
                "the keypad code is not on the lock",
            ));
        };
        let was = code_of(current, lock.time_zone.as_deref()).spec;
        let period = change.period.or(was.starts_at.zip(was.ends_at));
        let schedule = change.schedule.as_ref().or(was.schedule.as_ref());
        let new = nk::NewKeypadCode {
            name: name_of(change.name.as_deref().or(was.name.as_deref())),
            code: change.code.clone().unwrap_or(was.code),
            restrictions: restrictions(period, schedule),
        };
        self.calls
            .run(
                conn.id,
                "smartlock/{id}/auth/{authId} (update)",
                client.update_keypad_code(id, provider_id, &new, current.enabled),
            )
            .await
            .map(drop)
    }

    /// Deletes the code and follows it until the lock no longer lists it.
    async fn delete_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
    ) -> ProviderResult<()> {
        let client = self.session(conn)?;
        self.calls
            .run(
                conn.id,
                "smartlock/{id}/auth/{authId} (delete)",
                client.delete_auth(lock_id(lock)?, provider_id),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weekly_window_round_trips_through_an_authorization() {
        let window = Schedule {
            weekdays: vec![Weekday::Mon, Weekday::Fri, Weekday::Sun],
            start_time: TimeOfDay::from_minutes(8 * 60),
            end_time: TimeOfDay::from_minutes(18 * 60),
            time_zone: "Europe/Berlin".into(),
        };
        let r = restrictions(Some((1_767_225_600_000, 1_798_761_600_000)), Some(&window));
        assert_eq!(r.allowed_week_days, Some(64 + 4 + 1));
        assert_eq!(
            (r.allowed_from_time, r.allowed_until_time),
            (Some(480), Some(1080))
        );
        assert_eq!(
            r.allowed_from_date.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        let auth = nk::SmartlockAuth {
            id: "65219648fe57075d71a6cb01".into(),
            smartlock_id: 17_968_122_341,
            auth_id: Some(3),
            code: Some(384_365),
            kind: nk::KEYPAD_CODE,
            name: "Guest".into(),
            enabled: true,
            allowed_from_date: r.allowed_from_date.clone(),
            allowed_until_date: r.allowed_until_date.clone(),
            allowed_week_days: r.allowed_week_days,
            allowed_from_time: r.allowed_from_time,
            allowed_until_time: r.allowed_until_time,
            operation_id: None,
            error: None,
        };
        let back = code_of(&auth, Some("Europe/Berlin"));
        assert_eq!(back.spec.schedule, Some(window.clone()));
        assert_eq!(back.spec.starts_at, Some(1_767_225_600_000));
        assert_eq!(back.spec.code, "384365");
        // A window alone starts at the epoch on the wire, and is no period when read back.
        let alone = restrictions(None, Some(&window));
        let read = code_of(
            &nk::SmartlockAuth {
                allowed_from_date: alone.allowed_from_date,
                allowed_until_date: alone.allowed_until_date,
                ..auth
            },
            Some("Europe/Berlin"),
        );
        assert_eq!(
            (read.spec.starts_at, read.spec.schedule),
            (None, Some(window))
        );
    }

    #[test]
    fn a_name_fits_the_keypad() {
        assert_eq!(name_of(None), "lockbridge");
        assert_eq!(name_of(Some("  ")), "lockbridge");
        assert_eq!(
            name_of(Some("A very long guest name indeed"))
                .chars()
                .count(),
            20
        );
    }
}
