//! SwitchBot's webhook events (`changeReport`): which of the account's locks one concerns. A
//! keypad's event (a key created or deleted) concerns the lock the keypad is paired with; a
//! lock's, the lock. The pairing comes from the last device list this instance read, read again
//! when an event names a device it does not know (at most every ten minutes: SwitchBot sends
//! events of every device of the account, bots and curtains too).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lockbridge_core::ids::ConnectionId;
use lockbridge_core::model::Connection;
use lockbridge_core::provider::{ErrorKind, ProviderError, ProviderResult, VendorHooks};
use lockbridge_switchbot as sb;

use super::{P, SwitchBotProvider, keypad_of};

/// How long a device list answers for the devices it does not hold.
const FRESH: Duration = Duration::from_secs(600);

/// A device list as of when it was read: each device (upper-cased) to the lock it is or is
/// paired with.
type Pairing = (Instant, HashMap<String, String>);

/// Each connection's devices, as the lock whose codes or state they are.
#[derive(Debug, Default)]
pub(super) struct Pairings(std::sync::Mutex<HashMap<ConnectionId, Pairing>>);

impl Pairings {
    /// Remembers what a device list says.
    pub(super) fn learn(&self, conn: ConnectionId, devices: &[sb::Device]) {
        let mut map = HashMap::new();
        for d in devices {
            if d.is_lock() {
                map.insert(d.device_id.to_ascii_uppercase(), d.device_id.clone());
                if let Some(pad) = keypad_of(devices, &d.device_id) {
                    map.insert(pad.device_id.to_ascii_uppercase(), d.device_id.clone());
                }
            }
        }
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(conn, (Instant::now(), map));
    }

    /// The lock `device` belongs to; `Err(())` when the list is not fresh enough to say no.
    fn lock_of(&self, conn: ConnectionId, device: &str) -> Result<Option<String>, ()> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match all.get(&conn) {
            Some((_, map)) if map.contains_key(device) => Ok(map.get(device).cloned()),
            Some((at, _)) if at.elapsed() < FRESH => Ok(None),
            _ => Err(()),
        }
    }
}

#[async_trait]
impl VendorHooks for SwitchBotProvider {
    async fn locks_in(&self, conn: &Connection, body: &[u8]) -> ProviderResult<Vec<String>> {
        let event = sb::Event::parse(body).map_err(|e| {
            ProviderError::new(
                P,
                ErrorKind::InvalidInput,
                format!("not a SwitchBot event: {e}"),
            )
        })?;
        if event.event_type != "changeReport" {
            return Ok(Vec::new());
        }
        let device = event.context.device_mac.to_ascii_uppercase();
        let lock = match self.pairings.lock_of(conn.id, &device) {
            Ok(lock) => lock,
            Err(()) => {
                self.devices_of(conn).await?;
                self.pairings.lock_of(conn.id, &device).unwrap_or(None)
            }
        };
        Ok(lock.into_iter().collect())
    }

    async fn register(
        &self,
        conn: &Connection,
        url: &str,
        replace: bool,
    ) -> ProviderResult<Option<String>> {
        let client = self.session(conn)?;
        let urls = self
            .calls
            .run(conn.id, "webhook/queryWebhook", client.webhook_urls())
            .await?;
        if urls.iter().any(|u| u == url) {
            return Ok(None);
        }
        let other = urls.into_iter().next();
        if let Some(other) = &other {
            if !replace {
                return Err(ProviderError::new(
                    P,
                    ErrorKind::AlreadyExists,
                    format!(
                        "the account already sends its events to {other} (SwitchBot keeps one URL an account); ask again with replace to take its place"
                    ),
                ));
            }
            self.calls
                .run(
                    conn.id,
                    "webhook/deleteWebhook",
                    client.delete_webhook(other),
                )
                .await?;
        }
        self.calls
            .run(conn.id, "webhook/setupWebhook", client.setup_webhook(url))
            .await?;
        Ok(other)
    }
}
