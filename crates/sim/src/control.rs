//! The parts of the control API every fake shares: fault rules (`/_sim/faults`) and the
//! simulated clock (`/_sim/clock`).

use std::sync::MutexGuard;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{FaultRule, Faults};

/// A fake's world, as the shared control routes see it.
pub(crate) trait SharedWorld {
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
}

/// `/faults` (GET lists, POST adds, DELETE clears), `/clock` (GET reads, POST advances) and
/// `/reset` (an empty world; `{"seed": n}` optional).
pub(crate) fn shared<S: Sim>() -> Router<S>
where
    S::World: Sized,
{
    Router::new()
        .route("/reset", axum::routing::post(reset::<S>))
        .route(
            "/faults",
            get(faults::<S>)
                .post(add_fault::<S>)
                .delete(clear_faults::<S>),
        )
        .route("/clock", get(clock::<S>).post(advance_clock::<S>))
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
    ($sim:ty, $world:ty $(, moved = $moved:ident)?) => {
        impl $crate::control::SharedWorld for $world {
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
            })?
        }

        impl $crate::control::Sim for $sim {
            type World = $world;
            fn lock_world(&self) -> std::sync::MutexGuard<'_, $world> {
                self.world()
            }
        }
    };
}

pub(crate) use shared_control;
