//! A fake of the SwitchBot Cloud API v1.1 (`/v1.1/devices…`, `/v1.1/webhook/…`), from
//! SwitchBot's API document and the behaviour its users report.
//!
//! Wire behaviour: every request signed (`Authorization` token, `t`, `nonce`, `sign`; 401
//! `{"message": "Unauthorized"}` otherwise), every answer `{statusCode, body, message}` inside
//! HTTP 200 with SwitchBot's codes and messages (152 not found, 160 `not this command:…`, 161
//! and 171 offline, 190 `param is invalid`, `webhook is exist`, `Requests reached the daily
//! limit`), the account's daily budget (`daily_limit`, 10,000). Keypads hold keys whose
//! passwords the list shows encrypted with the secret (AES-128-CBC, a random IV each).
//! `createKey` and `deleteKey` are only accepted by the answer: the keypad carries them out
//! `key_delay_ms` later (dropped, and reported `timeout`, when it or its hub is offline then),
//! and the account's webhook gets a `changeReport` — unless `drop_webhooks`; with
//! `keys_never_applied` nothing happens at all, with `ghost_delete` a deletion answers success
//! and leaves the key, as users report.
//!
//! Lenient where SwitchBot is silent or contradicts itself: the signature in plain or
//! upper-cased Base64, header names in any case, an empty nonce, a key id as an integer or a
//! string, no check of `t` unless `check_time`.

mod control;
mod demo;
mod wire;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

pub use demo::SwitchBotDemo;
pub use world::{Hub, Key, KeyOp, Keypad, Lock, Outgoing, SwitchBotConfig, World};

use crate::Running;

/// The SwitchBot fake. Cheap to clone: clones share one world.
#[derive(Debug, Clone)]
pub struct SwitchBotSim {
    world: Arc<Mutex<World>>,
    /// The HTTP status each webhook delivery was answered with (0: not answered), in order.
    delivered: Arc<tokio::sync::watch::Sender<Vec<u16>>>,
}

impl SwitchBotSim {
    pub fn new(seed: u64) -> Self {
        SwitchBotSim {
            world: Arc::new(Mutex::new(World::new(seed))),
            delivered: Arc::new(tokio::sync::watch::Sender::new(Vec::new())),
        }
    }

    /// The answers to the webhook deliveries made so far, to wait on.
    pub fn deliveries(&self) -> tokio::sync::watch::Receiver<Vec<u16>> {
        self.delivered.subscribe()
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seeds the demo account: a hub, two locks and a keypad on each.
    pub fn seed_demo(&self) -> SwitchBotDemo {
        demo::seed(&mut self.world())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1.1/devices", get(wire::devices))
            .route("/v1.1/devices/{id}/status", get(wire::status))
            .route("/v1.1/devices/{id}/commands", post(wire::command))
            .route("/v1.1/webhook/{op}", post(wire::webhook))
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                wire::gate,
            ))
            .nest("/_sim", control::router())
            .with_state(self.clone())
    }

    pub fn serve(&self, listener: TcpListener) -> std::io::Result<Running> {
        Running::start(listener, self.router())
    }

    pub async fn start_local(&self) -> std::io::Result<Running> {
        self.serve(TcpListener::bind("127.0.0.1:0").await?)
    }
}

crate::control::shared_control!(SwitchBotSim, World, world::SwitchBotConfig, moved = settle);

crate::registry::registered!(SwitchBotSim, "switchbot", "SwitchBot");
