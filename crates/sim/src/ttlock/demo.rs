use serde::Serialize;

use super::world::{LockSpec, PasscodeSpec, World};

const DAY_MS: i64 = 86_400_000;

/// The demo account, as `lockbridge sim --json` prints it under `ttlock`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    /// Plain; clients send its MD5.
    pub password: String,
    pub lock_ids: Vec<i64>,
    pub gateway_ids: Vec<i64>,
}

pub fn seed(w: &mut World) -> DemoAccount {
    let (client_id, client_secret) = w.add_app(None, None);
    let username = "demo@lockbridge.test".to_owned();
    let password = "lockbridge-demo".to_owned();
    let uid = w.add_user(&username, &password);
    let lobby = w.add_gateway(uid, "Lobby gateway", true);
    let annex = w.add_gateway(uid, "Annex gateway", false);
    let lock = |alias: &str, gateway: Option<i64>, wifi: bool, battery: i64| LockSpec {
        gateway_id: gateway,
        wifi,
        battery,
        ..LockSpec::new(uid, alias)
    };
    let front = w.add_lock(lock("Front door", Some(lobby), false, 87));
    let back = w.add_lock(lock("Back door", Some(lobby), false, 54));
    let storage = w.add_lock(lock("Storage room", Some(annex), false, 12));
    let studio = w.add_lock(lock("Studio 4", None, true, 92));
    let shed = w.add_lock(lock("Garden shed", None, false, 71));

    let now = w.now_ms();
    let code = |code: &str, name: &str, period: Option<(i64, i64)>| PasscodeSpec {
        code: code.into(),
        name: Some(name.into()),
        start_ms: period.map(|p| p.0),
        end_ms: period.map(|p| p.1),
    };
    w.put_passcode(front, code("482913", "Cleaner", None));
    w.put_passcode(
        front,
        code(
            "70315",
            "Guest 1042",
            Some((now - DAY_MS, now + 6 * DAY_MS)),
        ),
    );
    w.put_passcode(back, code("1357924", "Maintenance", None));
    w.put_passcode(studio, code("2468013", "Owner", None));
    w.keypad(front, "482913");
    w.keypad(front, "111111");
    w.keypad(back, "1357924");

    DemoAccount {
        client_id,
        client_secret,
        username,
        password,
        lock_ids: vec![front, back, storage, studio, shed],
        gateway_ids: vec![lobby, annex],
    }
}
