use serde::Serialize;
use serde_json::{Map, json};

use super::world::World;

/// The demo application, as `lockbridge sim --json` prints it under `kii`.
#[derive(Debug, Clone, Serialize)]
pub struct KiiDemo {
    pub app_id: String,
    pub app_key: String,
    pub client_id: String,
    pub client_secret: String,
    /// Vendor thing ids.
    pub thing_ids: Vec<String>,
}

pub fn seed(w: &mut World) -> KiiDemo {
    let app = w.add_app(None);
    let things = [
        ("lobby-door-01", "DOOR_CONTROLLER"),
        ("room-101-lock", "DOOR_CONTROLLER"),
        ("room-102-lock", "DOOR_CONTROLLER"),
        ("gym-gate-a", "GATE_CONTROLLER"),
    ];
    let mut thing_ids = Vec::new();
    for (vid, kind) in things {
        let password = w.rng.hex(16);
        let mut fields = Map::new();
        fields.insert("_thingType".into(), json!(kind));
        fields.insert("_vendor".into(), json!("lockbridge-demo"));
        fields.insert("_firmwareVersion".into(), json!("2.4.1"));
        if w.add_thing(&app.app_id, vid, &password, fields).is_some() {
            thing_ids.push(vid.to_owned());
        }
    }
    KiiDemo {
        app_id: app.app_id,
        app_key: app.app_key,
        client_id: app.client_id,
        client_secret: app.client_secret,
        thing_ids,
    }
}
