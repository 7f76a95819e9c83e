use serde::Serialize;

use super::time;
use super::world::{LockSpec, Pin, World};

/// The demo account, as `lockbridge sim --json` prints it under `tedee`.
#[derive(Debug, Clone, Serialize)]
pub struct TedeeDemo {
    pub personal_access_key: String,
    pub lock_ids: Vec<i64>,
    pub bridge_ids: Vec<i64>,
}

pub fn seed(w: &mut World) -> TedeeDemo {
    let user = w.add_user("Demo Owner", "owner@lockbridge.test");
    let key = w.add_key(user, &[], None);
    let hall = w.add_bridge(user, "Hallway bridge", true);
    let spec = |name: &str| LockSpec::new(user, name);
    let flat1 = w.add_lock(LockSpec {
        bridge_id: Some(hall),
        connected: true,
        battery: 76,
        ..spec("Apartment 1")
    });
    let flat2 = w.add_lock(LockSpec {
        bridge_id: Some(hall),
        connected: true,
        state: 2,
        battery: 31,
        ..spec("Apartment 2")
    });
    let office = w.add_lock(LockSpec {
        bridge_id: Some(hall),
        connected: false,
        device_type: 4,
        battery: 58,
        ..spec("Office")
    });
    let cellar = w.add_lock(LockSpec {
        keypad: false,
        battery: 90,
        ..spec("Cellar")
    });
    if let Some(l) = w.locks.get_mut(&flat2) {
        l.is_charging = true;
    }
    let now = w.now_ms();
    let pin = |alias: &str, code: &str| Pin {
        id: 0,
        alias: alias.into(),
        pin: code.into(),
        start_date: None,
        end_date: None,
        day_start_time: None,
        day_end_time: None,
        week_days: None,
    };
    w.put_pin(flat1, pin("Cleaner", "918273"));
    w.put_pin(
        flat1,
        Pin {
            start_date: Some(time::format_z(now - 86_400_000)),
            end_date: Some(time::format_z(now + 30 * 86_400_000)),
            day_start_time: Some("2021-10-01T10:00:00.000Z".into()),
            day_end_time: Some("2021-10-01T18:00:00.000Z".into()),
            week_days: Some(48),
            ..pin("Weekend guest", "48213")
        },
    );
    w.put_pin(flat2, pin("Owner", "736194"));
    w.keypad(flat1, "918273");
    w.keypad(flat1, "111111");
    TedeeDemo {
        personal_access_key: key,
        lock_ids: vec![flat1, flat2, office, cellar],
        bridge_ids: vec![hall],
    }
}
