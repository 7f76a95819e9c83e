use serde::Serialize;

use super::world::{Hub, Keypad, Lock, World};

/// The demo account, as `lockbridge sim --json` prints it under `switchbot`.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchBotDemo {
    pub token: String,
    pub secret: String,
    pub lock_ids: Vec<String>,
    pub keypad_ids: Vec<String>,
}

pub fn seed(w: &mut World) -> SwitchBotDemo {
    let (token, secret) = w.open_account();
    let hub = w.mac();
    w.hubs.insert(
        hub.clone(),
        Hub {
            device_id: hub.clone(),
            name: "Hub 2".into(),
            online: true,
        },
    );
    let mut lock_ids = Vec::new();
    let mut keypad_ids = Vec::new();
    for name in ["Back door", "Side entrance"] {
        let lock = w.mac();
        w.locks.insert(
            lock.clone(),
            Lock {
                device_id: lock.clone(),
                name: name.into(),
                device_type: "Smart Lock Pro".into(),
                hub_device_id: hub.clone(),
                lock_state: "locked".into(),
                door_state: "closed".into(),
                battery: 95,
                online: true,
                jam_next: false,
            },
        );
        let pad = w.mac();
        w.keypads.insert(
            pad.clone(),
            Keypad {
                device_id: pad.clone(),
                name: format!("{name} keypad"),
                device_type: "Keypad Touch".into(),
                hub_device_id: hub.clone(),
                lock_device_id: lock.clone(),
                online: true,
                keys: Vec::new(),
            },
        );
        lock_ids.push(lock);
        keypad_ids.push(pad);
    }
    SwitchBotDemo {
        token,
        secret,
        lock_ids,
        keypad_ids,
    }
}
