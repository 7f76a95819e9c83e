//! A fake of Tuya's cloud OpenAPI for door locks, from Tuya's OpenAPI documentation (signing, tokens, door-lock passwords).
//!
//! Wire behaviour: every answer is HTTP 200 with `{success, result | code+msg, t, tid}`;
//! requests are signed (HMAC-SHA256 over the string-to-sign with the raw body's hash, the
//! URL-decoded query sorted by key and the `Signature-Headers` lines) and checked in Tuya's
//! order: client id (1005), `t` within ±5 min of the wall clock (1013), signature (1004; an
//! exact replay — same nonce and signature — too), token present (1002), unknown (1011),
//! superseded by a refresh (1012), expired (1010), device (2010) of the project (1106).
//! Tokens live 2 hours; `GET /v1.0/token` answers the live token with its remaining seconds;
//! a refresh rotates both tokens. Password tickets carry a random key sealed with the project
//! secret (AES-256-ECB); temporary passwords arrive encrypted with it (AES-128-ECB) and are
//! decrypted and checked (7 digits on Wi-Fi, 6 on Zigbee/Bluetooth). A lock takes a password
//! change after `delivery_ms` while online: `phase` 1 → 2 (Wi-Fi and Zigbee, Zigbee also
//! `delivery_status` 1 → 2, or 4/5 when the lock finds a duplicate or is full); deletes go
//! through phase 3 on Wi-Fi. An offline lock answers 2001.
//!
//! Unconfirmed points, read leniently: tickets stay usable until they expire; both
//! `rest-password` and `reset-password` clear; open-log times in seconds or milliseconds;
//! lock business failures Tuya does not number get lockbridge's own codes (40101 ticket
//! invalid, 40102 password exists, 40103 store full); a frozen Wi-Fi password keeps phase 2.

mod auth;
mod control;
mod crypto;
mod demo;
mod locks;
mod wire;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::any;
use tokio::net::TcpListener;

pub use crypto::seal_ticket_key;
pub use demo::TuyaDemo;
pub use wire::{PASSWORD_EXISTS, PASSWORD_STORE_FULL, TICKET_INVALID};
pub use world::{Device, Project, Protocol, TempPassword, TuyaConfig, World};

use crate::Running;

/// The Tuya fake. Cheap to clone: clones share one world.
#[derive(Debug, Clone)]
pub struct TuyaSim {
    world: Arc<Mutex<World>>,
}

impl TuyaSim {
    pub fn new(seed: u64) -> Self {
        TuyaSim {
            world: Arc::new(Mutex::new(World::new(seed))),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seeds the demo project: a Wi-Fi lock, a Zigbee lock and an offline Zigbee lock, with a
    /// few passwords already on them.
    pub fn seed_demo(&self) -> TuyaDemo {
        demo::seed(&mut self.world())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .nest("/_sim", control::router())
            .fallback(any(wire::api))
            .with_state(self.clone())
    }

    pub fn serve(&self, listener: TcpListener) -> std::io::Result<Running> {
        Running::start(listener, self.router())
    }

    pub async fn start_local(&self) -> std::io::Result<Running> {
        self.serve(TcpListener::bind("127.0.0.1:0").await?)
    }
}

crate::control::shared_control!(TuyaSim, World, world::TuyaConfig, moved = settle);

crate::registry::registered!(TuyaSim, "tuya", "Tuya");
