//! Tuya's online temporary passwords as access codes, confirmed by their `phase`; freezing.

use super::*;

#[async_trait]
impl Codes for TuyaProvider {
    /// The valid temporary passwords. Tuya never returns a PIN, so found codes carry none.
    async fn list_codes(
        &self,
        conn: &Connection,
        lock: &Lock,
    ) -> ProviderResult<Vec<ProviderCode>> {
        let list = self
            .calls
            .run(
                conn.id,
                "temp-passwords",
                self.session(conn)?
                    .temp_passwords(&lock.provider_id, Some(true)),
            )
            .await?;
        Ok(list
            .into_iter()
            .map(|p| {
                let permanent = p.invalid_time >= PERMANENT_FROM_S;
                let schedule = p.schedule_list.first().map(|s| Schedule {
                    weekdays: weekdays_of(s.working_day),
                    start_time: TimeOfDay::from_minutes(s.effective_time),
                    end_time: TimeOfDay::from_minutes(s.invalid_time),
                    time_zone: p
                        .time_zone
                        .clone()
                        .filter(|t| !t.is_empty())
                        .or_else(|| lock.time_zone.clone())
                        .unwrap_or_default(),
                });
                ProviderCode {
                    provider_id: p.id.to_string(),
                    spec: CodeSpec {
                        code: String::new(),
                        name: Some(p.name).filter(|n| !n.is_empty()),
                        starts_at: (!permanent).then_some(p.effective_time * 1000),
                        ends_at: (!permanent).then_some(p.invalid_time * 1000),
                        schedule,
                    },
                }
            })
            .collect())
    }

    async fn create_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        spec: &CodeSpec,
    ) -> ProviderResult<String> {
        let pw = temp_password(
            lock,
            spec.name.as_deref(),
            &spec.code,
            spec.starts_at.zip(spec.ends_at),
            spec.schedule.as_ref(),
        );
        let client = self.session(conn)?;
        self.calls
            .run(
                conn.id,
                "temp-password",
                client.create_temp_password(&lock.provider_id, pin_length(lock), &pw),
            )
            .await
    }

    /// Tuya replaces the password whole (name, PIN, window), with a fresh ticket.
    async fn update_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
        change: &CodeChange,
    ) -> ProviderResult<()> {
        let Some(code) = change.code.as_deref() else {
            return Err(ProviderError::new(
                P,
                ErrorKind::InvalidInput,
                "Tuya needs the PIN to change a password",
            )
            .with_field("code"));
        };
        let pw = temp_password(
            lock,
            change.name.as_deref(),
            code,
            change.period,
            change.schedule.as_ref(),
        );
        let client = self.session(conn)?;
        self.calls
            .run(
                conn.id,
                "modify-password",
                client.modify_temp_password(&lock.provider_id, provider_id, pin_length(lock), &pw),
            )
            .await
    }

    async fn delete_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
    ) -> ProviderResult<()> {
        self.calls
            .run(
                conn.id,
                "delete temp-password",
                self.session(conn)?
                    .delete_temp_password(&lock.provider_id, provider_id),
            )
            .await
    }

    fn confirms_asynchronously(&self) -> bool {
        true
    }

    /// A password's `phase`, read by protocol (7-digit locks are Wi-Fi, 6-digit ones Zigbee or
    /// Bluetooth): Wi-Fi 1 to be sent, 2 sent, 3 to be deleted, 0 deleted; Zigbee 1 to be
    /// created, 2 normal, 3 frozen, 4 deleted, 5 failed (with `delivery_status` 4 duplicate,
    /// 5 store full); Bluetooth 7 failed to send.
    async fn code_state(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
    ) -> ProviderResult<CodeState> {
        let client = self.session(conn)?;
        let info = match self
            .calls
            .run(
                conn.id,
                "temp-password",
                client.temp_password(&lock.provider_id, provider_id),
            )
            .await
        {
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(CodeState::Gone),
            other => other?,
        };
        let wifi = pin_length(lock) == 7;
        Ok(match (wifi, info.phase) {
            (_, 1) => CodeState::Pending,
            (_, 2) => CodeState::Active,
            (true, 3) => CodeState::Pending,
            (false, 3) => CodeState::Active,
            (true, 0) | (false, 4) => CodeState::Gone,
            (false, 0) => CodeState::Gone,
            (false, 5 | 7) => CodeState::Failed(match info.delivery_status {
                Some(4) => ProviderError::new(
                    P,
                    ErrorKind::AlreadyExists,
                    "the lock already has this code",
                )
                .with_field("code")
                .with_code("delivery_status 4"),
                Some(5) => ProviderError::new(
                    P,
                    ErrorKind::CapacityReached,
                    "the lock's password store is full",
                )
                .with_code("delivery_status 5"),
                other => ProviderError::new(
                    P,
                    ErrorKind::Failed,
                    format!("the lock did not take the code (delivery_status {other:?})"),
                ),
            }),
            (_, phase) => CodeState::Failed(ProviderError::new(
                P,
                ErrorKind::Failed,
                format!("unexpected password phase {phase}"),
            )),
        })
    }
}

#[async_trait]
impl Freezing for TuyaProvider {
    async fn freeze_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        provider_id: &str,
        frozen: bool,
    ) -> ProviderResult<()> {
        let client = self.session(conn)?;
        if frozen {
            self.calls
                .run(
                    conn.id,
                    "freeze-password",
                    client.freeze_temp_password(&lock.provider_id, provider_id),
                )
                .await
        } else {
            self.calls
                .run(
                    conn.id,
                    "unfreeze-password",
                    client.unfreeze_temp_password(&lock.provider_id, provider_id),
                )
                .await
        }
    }
}
