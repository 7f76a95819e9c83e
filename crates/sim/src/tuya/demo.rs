use serde::Serialize;

use super::world::{Protocol, World};

/// The demo project, as `lockbridge sim --json` prints it under `tuya`.
#[derive(Debug, Clone, Serialize)]
pub struct TuyaDemo {
    pub access_id: String,
    pub access_secret: String,
    pub uid: String,
    /// Wi-Fi (online), Zigbee (online), Zigbee (offline).
    pub lock_ids: Vec<String>,
}

pub fn seed(w: &mut World) -> TuyaDemo {
    let project = w.add_project();
    let entrance = w.add_device(&project.client_id, "Entrance", Protocol::Wifi, true);
    let unit = w.add_device(&project.client_id, "Unit 3B", Protocol::Zigbee, true);
    let storage = w.add_device(&project.client_id, "Storage", Protocol::Zigbee, false);
    if let Some(d) = w.devices.get_mut(&unit) {
        d.battery = 64;
    }
    if let Some(d) = w.devices.get_mut(&storage) {
        d.battery = 18;
    }
    let now_s = w.now_ms() / 1000;
    // Permanent, as apps make them: ending in 2038.
    let permanent = (now_s - 86_400, 2_145_916_800);
    w.put_password(&entrance, "Housekeeping", "4820913", permanent);
    w.put_password(&unit, "Owner", "736194", permanent);
    w.keypad(&entrance, "4820913");
    w.keypad(&entrance, "1111111");
    TuyaDemo {
        access_id: project.client_id,
        access_secret: project.secret,
        uid: project.uid,
        lock_ids: vec![entrance, unit, storage],
    }
}
