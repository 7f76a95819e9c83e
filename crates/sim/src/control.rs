//! What every fake shares: the control routes (`/_sim/state`, `/seed`, `/reset`, `/config`,
//! `/faults`, `/clock`) and the fault prelude of every vendor request (count the call, draw the
//! fault rules, wait their latency).

use std::sync::MutexGuard;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{Failure, FaultHit, FaultRule, Faults};

/// A fake's world, as the shared control routes see it.
pub(crate) trait SharedWorld: serde::Serialize {
    /// The fake's settings (`/_sim/config`).
    type Config: serde::Serialize + serde::de::DeserializeOwned;
    fn config(&mut self) -> &mut Self::Config;
    /// Counts a vendor request by its route (`/_sim/calls`).
    fn count_call(&mut self, route: &str);
    /// Draws the fault rules for a request to `route`.
    fn draw(&mut self, route: &str) -> FaultHit;
    /// Brings the world up to its clock before it is shown (operations due, codes expired).
    fn settle(&mut self) {}
    fn faults(&mut self) -> &mut Faults;
    fn clock_offset_ms(&mut self) -> &mut i64;
    fn now_ms(&self) -> i64;
    /// Applies what the moved clock made due (completed operations, expired codes…).
    fn clock_moved(&mut self) {}
    fn seed(&self) -> u64;
    /// An empty world drawing from `seed`.
    fn fresh(seed: u64) -> Self;
}

/// A fake, as the shared control routes reach its world.
pub(crate) trait Sim: Clone + Send + Sync + 'static {
    type World: SharedWorld + Send;
    fn lock_world(&self) -> MutexGuard<'_, Self::World>;
    /// Seeds the demo account (`/_sim/seed`); answers what to connect with.
    fn seed_demo_value(&self) -> Value;
}

/// What every vendor request goes through first: counted under `route`, the fault rules
/// drawn, their latency waited. Answers the failure to send instead, if one fires.
pub(crate) async fn prelude<S: Sim>(sim: &S, route: &str) -> Option<Failure> {
    let hit = {
        let mut w = sim.lock_world();
        w.count_call(route);
        w.draw(route)
    };
    if hit.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(hit.latency_ms)).await;
    }
    hit.failure
}

/// `/faults` (GET lists, POST adds, DELETE clears), `/clock` (GET reads, POST advances) and
/// `/reset` (an empty world; `{"seed": n}` optional).
pub(crate) fn shared<S: Sim>() -> Router<S>
where
    S::World: Sized,
{
    Router::new()
        .route("/state", get(state::<S>))
        .route("/seed", axum::routing::post(seed::<S>))
        .route("/config", get(config::<S>).post(set_config::<S>))
        .route("/reset", axum::routing::post(reset::<S>))
        .route(
            "/faults",
            get(faults::<S>)
                .post(add_fault::<S>)
                .delete(clear_faults::<S>),
        )
        .route("/clock", get(clock::<S>).post(advance_clock::<S>))
}

async fn state<S: Sim>(State(sim): State<S>) -> Json<Value> {
    let mut w = sim.lock_world();
    w.settle();
    Json(serde_json::to_value(&*w).unwrap_or_default())
}

async fn seed<S: Sim>(State(sim): State<S>) -> Json<Value> {
    Json(sim.seed_demo_value())
}

async fn config<S: Sim>(State(sim): State<S>) -> Json<Value> {
    Json(serde_json::to_value(sim.lock_world().config()).unwrap_or_default())
}

/// The fields given replace the current ones; the others stay.
async fn set_config<S: Sim>(
    State(sim): State<S>,
    Json(patch): Json<Value>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let mut w = sim.lock_world();
    let mut merged = serde_json::to_value(w.config()).unwrap_or_default();
    if let (Value::Object(m), Value::Object(p)) = (&mut merged, patch) {
        m.extend(p);
    }
    let config = serde_json::from_value(merged.clone()).map_err(|e| {
        let body = json!({ "error": e.to_string() });
        (StatusCode::BAD_REQUEST, Json(body))
    })?;
    *w.config() = config;
    Ok(Json(merged))
}

async fn faults<S: Sim>(State(sim): State<S>) -> Json<Value> {
    Json(json!({ "rules": sim.lock_world().faults().rules() }))
}

async fn add_fault<S: Sim>(State(sim): State<S>, Json(rule): Json<FaultRule>) -> Json<Value> {
    let mut w = sim.lock_world();
    w.faults().add(rule);
    Json(json!({ "rules": w.faults().rules() }))
}

async fn clear_faults<S: Sim>(State(sim): State<S>) -> StatusCode {
    sim.lock_world().faults().clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    seed: Option<u64>,
}

async fn reset<S: Sim>(State(sim): State<S>, body: Option<Json<ResetBody>>) -> Json<Value> {
    let mut w = sim.lock_world();
    let seed = body.and_then(|b| b.0.seed).unwrap_or(w.seed());
    *w = S::World::fresh(seed);
    Json(json!({ "seed": seed }))
}

fn clock_body<W: SharedWorld>(w: &mut W) -> Json<Value> {
    let now = w.now_ms();
    Json(json!({ "now_ms": now, "offset_ms": *w.clock_offset_ms() }))
}

async fn clock<S: Sim>(State(sim): State<S>) -> Json<Value> {
    clock_body(&mut *sim.lock_world())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    advance_seconds: i64,
}

async fn advance_clock<S: Sim>(State(sim): State<S>, Json(b): Json<ClockBody>) -> Json<Value> {
    let mut w = sim.lock_world();
    *w.clock_offset_ms() += b.advance_seconds * 1000;
    w.clock_moved();
    clock_body(&mut *w)
}

/// Implements [`SharedWorld`] for a world with `faults`, `clock_offset_ms` and `now_ms()`, and
/// [`Sim`] for its fake.
macro_rules! shared_control {
    ($sim:ty, $world:ty, $config:ty $(, moved = $moved:ident)?) => {
        impl $crate::control::SharedWorld for $world {
            type Config = $config;
            fn config(&mut self) -> &mut $config {
                &mut self.config
            }
            fn count_call(&mut self, route: &str) {
                <$world>::count_call(self, route)
            }
            fn draw(&mut self, route: &str) -> $crate::faults::FaultHit {
                self.faults.draw(route, &mut self.rng)
            }
            fn faults(&mut self) -> &mut $crate::faults::Faults {
                &mut self.faults
            }
            fn clock_offset_ms(&mut self) -> &mut i64 {
                &mut self.clock_offset_ms
            }
            fn now_ms(&self) -> i64 {
                <$world>::now_ms(self)
            }
            fn seed(&self) -> u64 {
                self.seed
            }
            fn fresh(seed: u64) -> Self {
                <$world>::new(seed)
            }
            $(fn clock_moved(&mut self) {
                self.$moved();
            }
            fn settle(&mut self) {
                self.$moved();
            })?
        }

        impl $crate::control::Sim for $sim {
            type World = $world;
            fn lock_world(&self) -> std::sync::MutexGuard<'_, $world> {
                self.world()
            }
            fn seed_demo_value(&self) -> serde_json::Value {
                serde_json::to_value(self.seed_demo()).unwrap_or_default()
            }
        }
    };
}

pub(crate) use shared_control;
