//! A fake of Tedee's cloud API (`/api/{version}/…`), from Tedee's API documentation
//! (its create-PIN endpoint in full detail).
//!
//! Wire behaviour: the `{result, success, errorMessages, statusCode}` envelope on every answer
//! (204 and 304 carry no body, as HTTP requires); `Authorization: PersonalKey <key>` or
//! `Bearer <token>` with per-credential scopes; API versions v1.13 to v1.36 and v37, with
//! `lockProperties` before v1.34 (v1.35 for sync) and `deviceState` after; case-insensitive
//! paths and query names, trailing slashes accepted; a 700-requests-per-hour window per
//! user, opened by its first request (429 with `Retry-After`); operations answered 202 and
//! completed asynchronously; PIN commands relayed to the lock through its bridge (428 when disconnected or without keypad,
//! 409 while another command is in flight, 408 when the device does not answer), Tedee's
//! five PIN rules (400), duplicates (406) and a full lock (412, or 422 by configuration).
//!
//! Unconfirmed points, read leniently and written down: rule 5 refuses only unit-step runs
//! (12345, 54321), so 13579 and 67890 pass; error bodies are the envelope with the message in
//! `errorMessages`; operations on a disconnected lock answer 428; an operation on a lock in the
//! "wrong" state still completes; filters of `GET /my/lock` are ignored; day windows of PINs
//! are evaluated in the lock's local time by a fixed offset (`utc_offset_min`).

mod access;
mod control;
mod demo;
mod model;
mod oauth;
mod routes;
pub mod time;
mod wire;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{any, post};
use tokio::net::TcpListener;

pub use demo::TedeeDemo;
pub use world::{
    ALL_SCOPES, Credential, Lock, LockSpec, Operation, Pin, TedeeConfig, World, pin_rule,
};

use crate::Running;

/// The path of the OAuth token endpoint, as on Tedee's Azure AD B2C tenant.
pub const TOKEN_PATH: &str =
    "/tedee.onmicrosoft.com/B2C_1A_Signup_Signin_With_Kmsi/oauth2/v2.0/token";

/// The Tedee fake. Cheap to clone: clones share one world.
#[derive(Debug, Clone)]
pub struct TedeeSim {
    world: Arc<Mutex<World>>,
}

impl TedeeSim {
    pub fn new(seed: u64) -> Self {
        TedeeSim {
            world: Arc::new(Mutex::new(World::new(seed))),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seeds the demo account: a bridge, four locks (connected, charging, disconnected,
    /// without bridge) and a few PINs already on them.
    pub fn seed_demo(&self) -> TedeeDemo {
        demo::seed(&mut self.world())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(TOKEN_PATH, post(oauth::oauth_token))
            .nest("/_sim", control::router())
            // Everything else is the API: its paths are case-insensitive, so they are matched
            // by hand rather than by the router.
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

crate::control::shared_control!(TedeeSim, World, world::TedeeConfig, moved = settle);

crate::registry::registered!(TedeeSim, "tedee", "Tedee");
