//! A fake of Kii Cloud's thing API (`/api/oauth2/token`, `/api/apps/{app}/things…`), from
//! Kii's REST API documentation (thing registration, login and password change).
//!
//! Wire behaviour: JSON bodies with Kii's vendor content types, error bodies
//! `{errorCode, message, …context}` typed `application/vnd.kii.<Exception>+json`, the app-admin
//! token (client credentials) and thing tokens (`VENDOR_THING_ID:` logins), registration with
//! and without a token, and the password change on both documented paths
//! (`…/ownership/password` as the reference page has it, `…/password` as the SDKs send it), for
//! both `{thingID}` and `VENDOR_THING_ID:{vendorThingID}`.
//!
//! Where Kii's documents leave a point open, the fake takes the lenient reading and says so:
//! registration also takes plain `application/json` (as register-only); the token endpoint
//! takes JSON whatever the content type says, and forms too; a request without a token gets
//! 401 `UNAUTHORIZED` with `anonymous` as the principal, an unknown or expired token 403
//! `WRONG_TOKEN`; thing tokens survive a password change unless configured otherwise.

mod control;
mod demo;
mod wire;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;

pub use demo::KiiDemo;
pub use world::{App, KiiConfig, Principal, Thing, World, valid_password};

use crate::Running;

/// The Kii fake. Cheap to clone: clones share one world.
#[derive(Debug, Clone)]
pub struct KiiSim {
    world: Arc<Mutex<World>>,
}

impl KiiSim {
    pub fn new(seed: u64) -> Self {
        KiiSim {
            world: Arc::new(Mutex::new(World::new(seed))),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seeds the demo application with a few things (door controllers) on it.
    pub fn seed_demo(&self) -> KiiDemo {
        demo::seed(&mut self.world())
    }

    pub fn router(&self) -> Router {
        let things = "/api/apps/{app}/things";
        Router::new()
            .route("/api/oauth2/token", post(wire::token))
            .route("/api/apps/{app}/oauth2/token", post(wire::token))
            .route(things, post(wire::register))
            .route(&format!("{things}/query"), post(wire::query))
            .route(&format!("{things}/{{thing}}"), get(wire::get_thing))
            .route(
                &format!("{things}/{{thing}}/password"),
                put(wire::change_password),
            )
            .route(
                &format!("{things}/{{thing}}/ownership/password"),
                put(wire::change_password),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                wire::faults,
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

crate::control::shared_control!(KiiSim, World, world::KiiConfig);

crate::registry::registered!(KiiSim, "kii", "Kii");
