use serde::Serialize;

use super::world::World;

/// The demo account, as `lockbridge sim --json` prints it under `nuki`.
#[derive(Debug, Clone, Serialize)]
pub struct NukiDemo {
    pub api_token: String,
    pub lock_ids: Vec<i64>,
}

pub fn seed(w: &mut World) -> NukiDemo {
    let api_token = w.add_token();
    // Nuki zone numbers: 37 Europe/Berlin, 40 Europe/London.
    let locks = [("Apartment door", 37), ("Garden gate", 37), ("Studio", 40)];
    let lock_ids = locks
        .iter()
        .map(|(name, zone)| w.add_lock(name, *zone).smartlock_id)
        .collect();
    NukiDemo {
        api_token,
        lock_ids,
    }
}
