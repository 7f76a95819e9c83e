//! A fake of the Nuki Web API (`/smartlock…`), from Nuki's API reference and developer forum.
//!
//! Wire behaviour: bearer tokens (401 `{"detailMessage": "Your access token is not
//! authorized", …}`), plain JSON answers without an envelope, 204 for every write, errors as
//! `detailMessage` bodies. Writes are asynchronous as Nuki's are: a write is checked at once
//! (the keypad's code rules, a paired keypad, a code the lock holds already) and answered 204,
//! and the device applies it after `write_delay_ms` (`action_delay_ms` for actions) — or drops it
//! when it is offline then (`serverState` 4), as Nuki's 204 promises nothing. Device ids are
//! wider than 32 bits; authorization ids are 24 hexadecimal digits; log records page by id,
//! newest first.
//!
//! Where Nuki leaves a point open the fake takes the lenient reading: a code may be an integer
//! or a six-digit string; an update is partial, `null` clears a field and `enable` is read as
//! `enabled`; dates are taken with or without seconds; a duplicate code answers
//! `duplicate_status` (409 by default, unconfirmed); a keypad holds `keypad_capacity` codes
//! (Nuki publishes no figure).

mod control;
mod demo;
mod wire;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

pub use demo::NukiDemo;
pub use world::{Auth, Lock, LogEntry, NukiConfig, Op, World, valid_code};

use crate::Running;

/// The Nuki fake. Cheap to clone: clones share one world.
#[derive(Debug, Clone)]
pub struct NukiSim {
    world: Arc<Mutex<World>>,
}

impl NukiSim {
    pub fn new(seed: u64) -> Self {
        NukiSim {
            world: Arc::new(Mutex::new(World::new(seed))),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seeds the demo account: a token and three locks with keypads.
    pub fn seed_demo(&self) -> NukiDemo {
        demo::seed(&mut self.world())
    }

    pub fn router(&self) -> Router {
        let auth = "/smartlock/{id}/auth";
        Router::new()
            .route("/smartlock", get(wire::smartlocks))
            .route("/smartlock/{id}", get(wire::smartlock))
            .route("/smartlock/{id}/action", post(wire::action))
            .route("/smartlock/{id}/action/lock", post(wire::lock))
            .route("/smartlock/{id}/action/unlock", post(wire::unlock))
            .route(auth, get(wire::auths).put(wire::create_auth))
            .route(
                &format!("{auth}/{{auth}}"),
                get(wire::auth)
                    .post(wire::update_auth)
                    .delete(wire::delete_auth),
            )
            .route("/smartlock/{id}/log", get(wire::logs))
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

crate::control::shared_control!(NukiSim, World, world::NukiConfig, moved = settle);

crate::registry::registered!(NukiSim, "nuki", "Nuki");
