//! Device discovery and the door-lock endpoints.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{Call, TuyaClient};
use crate::error::{Error, ErrorKind, Result};
use crate::sign::{encrypt_pin, ticket_key};
use crate::types::*;
use secrecy::ExposeSecret;

#[derive(Deserialize)]
struct Created {
    #[serde(deserialize_with = "any_id")]
    id: String,
}

fn seg(field: &'static str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field,
            rule: "must be a Tuya id (letters, digits, '_' and '-')".into(),
        })
    }
}

impl TuyaClient {
    /// Every device the project reaches: the devices of its linked app accounts, page by page
    /// (`/v1.0/iot-01/associated-users/devices`), or — when that API is not there for the
    /// project — the project-wide list (`/v2.0/cloud/thing/device`).
    pub async fn devices(&self) -> Result<Vec<Device>> {
        match self.associated_devices().await {
            Err(e)
                if matches!(
                    e.kind(),
                    Some(
                        ErrorKind::NotSubscribed
                            | ErrorKind::PermissionDenied
                            | ErrorKind::InvalidParam
                            | ErrorKind::NotFound
                    )
                ) =>
            {
                tracing::info!(error = %e, "associated-users devices not available; using the project list");
                self.project_devices().await
            }
            other => other,
        }
    }

    async fn associated_devices(&self) -> Result<Vec<Device>> {
        #[derive(Deserialize)]
        struct PageOf {
            #[serde(default)]
            devices: Vec<Device>,
            #[serde(default)]
            last_row_key: Option<String>,
            #[serde(default)]
            has_more: bool,
        }
        let mut out = Vec::new();
        let mut key = String::new();
        loop {
            let page: PageOf = self
                .call_as(
                    Call::get("/v1.0/iot-01/associated-users/devices")
                        .query("last_row_key", &key)
                        .query("size", 100),
                )
                .await?;
            out.extend(page.devices);
            match page
                .last_row_key
                .filter(|k| page.has_more && !k.is_empty() && *k != key)
            {
                Some(next) => key = next,
                None => return Ok(out),
            }
        }
    }

    async fn project_devices(&self) -> Result<Vec<Device>> {
        let mut out: Vec<Device> = Vec::new();
        let mut last = String::new();
        loop {
            let page: Vec<Device> = self
                .call_as(
                    Call::get("/v2.0/cloud/thing/device")
                        .query("page_size", 20)
                        .query("last_id", &last),
                )
                .await?;
            let n = page.len();
            out.extend(page);
            match out.last() {
                Some(d) if n == 20 && d.id != last => last = d.id.clone(),
                _ => return Ok(out),
            }
        }
    }

    pub async fn device(&self, device_id: &str) -> Result<Device> {
        seg("device_id", device_id)?;
        self.call_as(Call::get(&format!("/v1.0/devices/{device_id}")))
            .await
    }

    pub async fn password_ticket(&self, device_id: &str) -> Result<Ticket> {
        seg("device_id", device_id)?;
        self.call_as(Call::new(
            Method::POST,
            &format!("/v1.0/devices/{device_id}/door-lock/password-ticket"),
        ))
        .await
    }

    /// A fresh ticket and the PIN encrypted with it.
    async fn encrypted(&self, device_id: &str, pin: &str) -> Result<(String, String)> {
        let ticket = self.password_ticket(device_id).await?;
        let key = ticket_key(
            self.inner.config.access_secret.expose_secret(),
            &ticket.ticket_key,
        )
        .ok_or(Error::Ticket)?;
        Ok((ticket.ticket_id, encrypt_pin(&key, pin)))
    }

    fn temp_body(&self, pw: &TempPassword, pin_length: usize, named: bool) -> Result<Value> {
        check_pin(&pw.pin, pin_length)?;
        if named && (pw.name.trim().is_empty() || pw.name.chars().count() > 20) {
            return Err(Error::InvalidInput {
                field: "name",
                rule: "must be 1 to 20 characters".into(),
            });
        }
        if pw.invalid_time <= pw.effective_time || pw.effective_time <= 0 {
            return Err(Error::InvalidInput {
                field: "invalid_time",
                rule: "must be after effective_time (Unix seconds)".into(),
            });
        }
        for s in &pw.schedule {
            if !(0..=1440).contains(&s.effective_time)
                || !(0..=1440).contains(&s.invalid_time)
                || s.invalid_time <= s.effective_time
                || !(0..=127).contains(&s.working_day)
            {
                return Err(Error::InvalidInput {
                    field: "schedule_list",
                    rule: "windows are minutes 0–1440, opening before closing, working_day 0–127"
                        .into(),
                });
            }
        }
        if !pw.schedule.is_empty() && pw.time_zone.as_deref().is_none_or(str::is_empty) {
            return Err(Error::InvalidInput {
                field: "time_zone",
                rule: "is required with schedule_list".into(),
            });
        }
        let mut body = json!({
            "password_type": "ticket",
            "effective_time": pw.effective_time,
            "invalid_time": pw.invalid_time,
            "type": i64::from(pw.one_use),
            "time_zone": pw.time_zone.clone().unwrap_or_default(),
        });
        if named {
            body["name"] = json!(pw.name);
        }
        if let Some(phone) = &pw.phone {
            body["phone"] = json!(phone);
        }
        if !pw.schedule.is_empty() {
            body["schedule_list"] = json!(pw.schedule);
        }
        Ok(body)
    }

    /// Creates an online temporary password (v1.0, named) after checking the PIN against the
    /// lock's length (7 on Wi-Fi, 6 on Zigbee/Bluetooth: [`Device::pin_length`]). Answers its id.
    pub async fn create_temp_password(
        &self,
        device_id: &str,
        pin_length: usize,
        pw: &TempPassword,
    ) -> Result<String> {
        self.create(device_id, pin_length, pw, "v1.0", true).await
    }

    /// The same without a name (v2.0).
    pub async fn create_temp_password_v2(
        &self,
        device_id: &str,
        pin_length: usize,
        pw: &TempPassword,
    ) -> Result<String> {
        self.create(device_id, pin_length, pw, "v2.0", false).await
    }

    async fn create(
        &self,
        device_id: &str,
        pin_length: usize,
        pw: &TempPassword,
        version: &str,
        named: bool,
    ) -> Result<String> {
        seg("device_id", device_id)?;
        let mut body = self.temp_body(pw, pin_length, named)?;
        let (ticket_id, password) = self.encrypted(device_id, &pw.pin).await?;
        body["ticket_id"] = json!(ticket_id);
        body["password"] = json!(password);
        let path = format!("/{version}/devices/{device_id}/door-lock/temp-password");
        let created: Created = self
            .call_as(Call::new(Method::POST, &path).json(&body))
            .await?;
        Ok(created.id)
    }

    /// The lock's temporary passwords (`valid`: only the valid, or only the invalid ones).
    pub async fn temp_passwords(
        &self,
        device_id: &str,
        valid: Option<bool>,
    ) -> Result<Vec<TempPasswordInfo>> {
        seg("device_id", device_id)?;
        let path = format!("/v1.0/devices/{device_id}/door-lock/temp-passwords");
        let mut call = Call::get(&path);
        if let Some(v) = valid {
            call = call.query("valid", v);
        }
        self.call_as(call).await
    }

    pub async fn temp_password(
        &self,
        device_id: &str,
        password_id: &str,
    ) -> Result<TempPasswordInfo> {
        seg("device_id", device_id)?;
        seg("password_id", password_id)?;
        self.call_as(Call::get(&format!(
            "/v1.0/devices/{device_id}/door-lock/temp-password/{password_id}"
        )))
        .await
    }

    /// Replaces a temporary password (name, PIN, window), with a fresh ticket.
    pub async fn modify_temp_password(
        &self,
        device_id: &str,
        password_id: &str,
        pin_length: usize,
        pw: &TempPassword,
    ) -> Result<()> {
        seg("device_id", device_id)?;
        seg("password_id", password_id)?;
        let mut body = self.temp_body(pw, pin_length, true)?;
        // A change replaces the password: with no window, say so (an empty `schedule_list`)
        // rather than leave it out, which Tuya might read as "keep the old window" — how it
        // reads an absent list on a modify is unconfirmed.
        if pw.schedule.is_empty() {
            body["schedule_list"] = json!([]);
        }
        let (ticket_id, password) = self.encrypted(device_id, &pw.pin).await?;
        body["ticket_id"] = json!(ticket_id);
        body["password"] = json!(password);
        let path = format!(
            "/v1.0/devices/{device_id}/door-lock/temp-passwords/{password_id}/modify-password"
        );
        self.call(Call::new(Method::PUT, &path).json(&body))
            .await
            .map(drop)
    }

    async fn password_action(
        &self,
        device_id: &str,
        password_id: &str,
        action: &str,
    ) -> Result<()> {
        seg("device_id", device_id)?;
        seg("password_id", password_id)?;
        let path =
            format!("/v1.0/devices/{device_id}/door-lock/temp-passwords/{password_id}/{action}");
        self.call(Call::new(Method::PUT, &path)).await.map(drop)
    }

    pub async fn freeze_temp_password(&self, device_id: &str, password_id: &str) -> Result<()> {
        self.password_action(device_id, password_id, "freeze-password")
            .await
    }

    pub async fn unfreeze_temp_password(&self, device_id: &str, password_id: &str) -> Result<()> {
        self.password_action(device_id, password_id, "unfreeze-password")
            .await
    }

    pub async fn delete_temp_password(&self, device_id: &str, password_id: &str) -> Result<()> {
        seg("device_id", device_id)?;
        seg("password_id", password_id)?;
        let path = format!("/v1.0/devices/{device_id}/door-lock/temp-passwords/{password_id}");
        self.call(Call::new(Method::DELETE, &path)).await.map(drop)
    }

    /// Clears every temporary password of the lock. Tuya's table spells the path
    /// `rest-password` and its example `reset-password`; the table's spelling is sent.
    pub async fn clear_temp_passwords(&self, device_id: &str) -> Result<()> {
        seg("device_id", device_id)?;
        let path = format!("/v1.0/devices/{device_id}/door-lock/temp-passwords/rest-password");
        self.call(Call::new(Method::POST, &path)).await.map(drop)
    }

    /// An offline password (v1.1). Times are Unix seconds; Tuya rounds them down to the hour.
    pub async fn offline_password(
        &self,
        device_id: &str,
        kind: OfflineKind,
        name: Option<&str>,
        window: Option<(i64, i64)>,
        revoke: Option<&str>,
    ) -> Result<OfflinePassword> {
        seg("device_id", device_id)?;
        let kind_name = match kind {
            OfflineKind::Multiple => "multiple",
            OfflineKind::Once => "once",
            OfflineKind::ClearOne => "clear_one",
            OfflineKind::ClearAll => "clear_all",
        };
        let mut body = json!({ "type": kind_name });
        if let Some(n) = name {
            body["name"] = json!(n);
        }
        match (kind, window) {
            (OfflineKind::Multiple, Some((start, end))) if end > start => {
                body["effective_time"] = json!(start);
                body["invalid_time"] = json!(end);
            }
            (OfflineKind::Multiple, _) => {
                return Err(Error::InvalidInput {
                    field: "invalid_time",
                    rule:
                        "a multiple-use offline password needs effective_time before invalid_time"
                            .into(),
                });
            }
            _ => {}
        }
        if kind == OfflineKind::ClearOne {
            let id = revoke.ok_or_else(|| Error::InvalidInput {
                field: "password_id",
                rule: "is required to clear one offline password".into(),
            })?;
            body["password_id"] = json!(id);
        }
        let path = format!("/v1.1/devices/{device_id}/door-lock/offline-temp-password");
        self.call_as(Call::new(Method::POST, &path).json(&body))
            .await
    }

    pub async fn dynamic_password(&self, device_id: &str) -> Result<String> {
        seg("device_id", device_id)?;
        #[derive(Deserialize)]
        struct Dynamic {
            dynamic_password: String,
        }
        let d: Dynamic = self
            .call_as(Call::get(&format!(
                "/v1.0/devices/{device_id}/door-lock/dynamic-password"
            )))
            .await?;
        Ok(d.dynamic_password)
    }

    pub async fn remote_unlocks(&self, device_id: &str) -> Result<Vec<RemoteUnlock>> {
        seg("device_id", device_id)?;
        self.call_as(Call::get(&format!(
            "/v1.0/devices/{device_id}/door-lock/remote-unlocks"
        )))
        .await
    }

    /// Unlocks without a password: a ticket, then `password-free/open-door`.
    pub async fn unlock_password_free(&self, device_id: &str) -> Result<()> {
        let ticket = self.password_ticket(device_id).await?;
        let path = format!("/v1.0/devices/{device_id}/door-lock/password-free/open-door");
        self.call(Call::new(Method::POST, &path).json(&json!({ "ticket_id": ticket.ticket_id })))
            .await
            .map(drop)
    }

    /// Locks (`open: false`) or unlocks without a password (`smart-lock/…/door-operate`).
    pub async fn door_operate(&self, device_id: &str, open: bool) -> Result<()> {
        let ticket = self.password_ticket(device_id).await?;
        let path = format!("/v1.0/smart-lock/devices/{device_id}/password-free/door-operate");
        self.call(
            Call::new(Method::POST, &path)
                .json(&json!({ "ticket_id": ticket.ticket_id, "open": open })),
        )
        .await
        .map(drop)
    }

    /// Unlocking records, newest first. Times in Unix seconds.
    pub async fn open_logs(
        &self,
        device_id: &str,
        page_no: u32,
        page_size: u32,
        start: i64,
        end: i64,
    ) -> Result<Page<OpenLog>> {
        seg("device_id", device_id)?;
        let path = format!("/v1.0/devices/{device_id}/door-lock/open-logs");
        let call = Call::get(&path)
            .query("page_no", page_no.max(1))
            .query("page_size", page_size.clamp(1, 100))
            .query("start_time", start)
            .query("end_time", end);
        self.call_as(call).await
    }

    /// Alert records, newest first (`codes` such as `alarm_lock,hijack,doorbell`).
    pub async fn alarm_logs(
        &self,
        device_id: &str,
        page_no: u32,
        page_size: u32,
        codes: Option<&str>,
    ) -> Result<Page<AlarmLog>> {
        seg("device_id", device_id)?;
        let path = format!("/v1.0/devices/{device_id}/door-lock/alarm-logs");
        let mut call = Call::get(&path)
            .query("page_no", page_no.max(1))
            .query("page_size", page_size.clamp(1, 100));
        if let Some(c) = codes {
            call = call.query("codes", c);
        }
        self.call_as(call).await
    }
}
