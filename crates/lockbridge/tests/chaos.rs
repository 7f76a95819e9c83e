//! Several instances as one service, under chaos: three `lockbridge serve` processes on one
//! PostgreSQL database, the simulators failing a fifth of the requests on every route (HTTP 503,
//! the vendor's busy or throttling answer, two seconds of latency), and one instance killed with
//! SIGKILL and started again every few seconds, while a client creates, changes and deletes codes
//! through the instances in turn. Then the faults stop, and the simulators' ground truth must be
//! what lockbridge says: every wanted code on its lock once with its PIN, every deleted one gone,
//! nothing left `setting` or `removing`, one token renewal per expiry, no 429 from Tedee, no busy
//! answer to the client. The figures are the last line printed.
//!
//! This suite runs real processes: it kills one every few seconds of wall-clock time, learns
//! that a process serves from its log, and polls the service's state; everything it checks is
//! state, never a duration. It needs PostgreSQL (skipped
//! without it, except under `CI=true`).

#![allow(clippy::unwrap_used)]

mod fleet;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use std::sync::Arc;

use lockbridge_core::model::Role;
use lockbridge_sim::faults::FaultRule;
use lockbridge_sim::registry::Simulator;
use lockbridge_sim::tedee::TedeeSim;
use lockbridge_sim::ttlock::TtlockSim;
use lockbridge_sim::tuya::TuyaSim;
use lockbridge_store::testing::TestDb;
use serde_json::{Value, json};

use fleet::{Client, Fleet, INSTANCES, Pins, free_port};

/// How long codes are worked under faults and kills.
const CHAOS: Duration = Duration::from_secs(40);
const KILL_EVERY: Duration = Duration::from_secs(4);
/// How long the service may take to settle once the faults stop.
const SETTLE: Duration = Duration::from_secs(200);
/// Tedee's budget in the simulator, and lockbridge's share of it (the key check at connection
/// time is paced by its own client, outside the shared budget). A run sends Tedee about 300
/// requests: near the budget, but not so far over it that codes wait a minute for it.
const TEDEE_SIM_LIMIT: u32 = 400;
const TEDEE_RATE: &str = "360/min";

/// What the client wants of each code it made: its lock and PIN, or gone.
#[derive(Debug, Clone)]
struct Wanted {
    lock: String,
    pin: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_survive_faults_and_kills() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let started = Instant::now();
    // Every simulator of the registry, in this process: their state is the ground truth.
    let sims = lockbridge_sim::registry::all(7);
    let mut servers = Vec::new();
    for sim in &sims {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        servers.push(sim.serve(listener).unwrap());
    }
    let demos: Vec<Value> = sims.iter().map(|s| s.seed_demo()).collect();
    // The faults below are each vendor's own.
    let (ttlock, tuya, tedee) = (
        typed::<TtlockSim>(&sims),
        typed::<TuyaSim>(&sims),
        typed::<TedeeSim>(&sims),
    );
    // Tokens expire during the run: each is due for renewal 40 s after it was issued (TTLock's
    // margin is a day, Tuya's ten minutes).
    ttlock.world().config.token_ttl_s = 24 * 3600 + 40;
    tuya.world().config.token_ttl_s = 600 + 40;
    {
        let mut w = tedee.world();
        w.config.rate_limit = TEDEE_SIM_LIMIT;
        w.config.rate_window_s = 60;
    }

    let org = db.store.create_org("Chaos").await.unwrap();
    let (_, key) = db
        .store
        .create_api_key(org.id, "chaos", Role::Admin)
        .await
        .unwrap();
    let base_urls = sims.iter().zip(&servers).map(|(sim, server)| {
        let name = format!("LOCKBRIDGE_{}_BASE_URL", sim.vendor().to_uppercase());
        (name, server.base_url())
    });
    let env: Vec<(String, String)> = [
        ("LOCKBRIDGE_DATABASE_URL", db.url.clone()),
        ("LOCKBRIDGE_MASTER_KEY", db.key.to_hex()),
        ("LOCKBRIDGE_WORKER_INTERVAL", "300ms".into()),
        ("LOCKBRIDGE_RETRY_BASE", "500ms".into()),
        ("LOCKBRIDGE_RETRY_MAX", "3s".into()),
        ("LOCKBRIDGE_VENDOR_TIMEOUT", "8s".into()),
        ("LOCKBRIDGE_VENDOR_REQUEST_TIMEOUT", "4s".into()),
        ("LOCKBRIDGE_RECONCILE_INTERVAL", "20s".into()),
        ("LOCKBRIDGE_DEVICE_SYNC_INTERVAL", "20s".into()),
        ("LOCKBRIDGE_LOG_INTERVAL", "20s".into()),
        ("LOCKBRIDGE_TEDEE_RATE", TEDEE_RATE.into()),
        ("LOCKBRIDGE_BUDGET_WAIT", "3s".into()),
        // `lockbridge::serve=info` carries the line that says an instance serves.
        (
            "LOCKBRIDGE_LOG",
            "warn,lockbridge::serve=info,lockbridge_app::engine=info,lockbridge_core::metrics=debug".into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(base_urls)
    .collect();
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join("lockbridge-chaos"));
    let mut fleet = Fleet {
        env,
        ports: (0..INSTANCES).map(|_| free_port()).collect(),
        children: (0..INSTANCES).map(|_| None).collect(),
        serving: (0..INSTANCES).map(|_| None).collect(),
        kills: 0,
    };
    for i in 0..INSTANCES {
        fleet.start(i);
    }
    let http = reqwest::Client::new();
    fleet.wait_ready().await;
    let mut client = Client {
        http,
        key,
        turn: 0,
        busy_answers: 0,
        server_errors: Vec::new(),
    };

    // Connect every simulated vendor and read its locks.
    let credentials = sims
        .iter()
        .zip(&demos)
        .map(|(sim, demo)| connection_body(sim.vendor(), demo));
    for body in credentials {
        let (status, conn) = client
            .call(&fleet, "POST", "/v1/connections", Some(body), None)
            .await;
        assert_eq!(status, 201, "{conn}");
        let id = conn["id"].as_str().unwrap();
        let (status, _) = client
            .call(
                &fleet,
                "POST",
                &format!("/v1/connections/{id}/sync"),
                Some(json!({})),
                None,
            )
            .await;
        assert_eq!(status, 200);
    }
    let tuya_grants = tuya.world().calls.get("token grants").copied().unwrap_or(0);
    let (_, page) = client
        .call(&fleet, "GET", "/v1/locks?limit=200", None, None)
        .await;
    // lockbridge id → (provider, vendor id, PIN length)
    let mut locks: BTreeMap<String, (String, String, usize)> = BTreeMap::new();
    for l in page["data"].as_array().unwrap() {
        let provider = l["provider"].as_str().unwrap();
        let takes_codes = matches!(provider, "ttlock" | "tuya" | "tedee");
        if takes_codes && l["online"] == true && l["errors"].as_array().is_none_or(Vec::is_empty) {
            let rules = &l["code_rules"];
            let len = 6.clamp(
                rules["min_length"].as_u64().unwrap(),
                rules["max_length"].as_u64().unwrap(),
            );
            locks.insert(
                l["id"].as_str().unwrap().to_owned(),
                (
                    provider.to_owned(),
                    l["provider_id"].as_str().unwrap().to_owned(),
                    len as usize,
                ),
            );
        }
    }
    assert!(locks.len() >= 6, "locks to work on: {:?}", locks);

    // A fifth of every simulator's requests fail or crawl, on every route. The token routes
    // are spared the latency alone: an instance killed inside a renewal's own round trip takes
    // the new token with it, and the next renewal is then unavoidable; two seconds there would
    // make that a matter of luck rather than of lockbridge.
    let faults = |busy: FaultRule, token_routes: &[&str]| {
        vec![
            FaultRule {
                rate: Some(0.07),
                http_status: Some(503),
                ..Default::default()
            },
            FaultRule {
                rate: Some(0.07),
                ..busy
            },
            FaultRule {
                rate: Some(0.06),
                latency_ms: 2_000,
                except: token_routes.iter().map(|r| (*r).to_owned()).collect(),
                ..Default::default()
            },
        ]
    };
    for rule in faults(
        FaultRule {
            errcode: Some(-3003),
            ..Default::default()
        },
        &["/oauth2/token"],
    ) {
        ttlock.world().faults.add(rule);
    }
    for rule in faults(
        FaultRule {
            errcode: Some(1199),
            ..Default::default()
        },
        &["GET /v1.0/token", "GET /v1.0/token/{id}"],
    ) {
        tuya.world().faults.add(rule);
    }
    for rule in faults(
        FaultRule {
            http_status: Some(409),
            ..Default::default()
        },
        &[],
    ) {
        tedee.world().faults.add(rule);
    }

    // The client works codes through the instances in turn, one round after another, while one
    // instance after the other is killed and started again.
    let mut wanted: BTreeMap<String, Wanted> = BTreeMap::new();
    // Every (lock, PIN) this run asked for, at any time.
    let mut made: BTreeSet<(String, String)> = BTreeSet::new();
    let mut pins = Pins(0x5eed);
    let (mut created, mut updated, mut deleted) = (0, 0, 0);
    let chaos_until = Instant::now() + CHAOS;
    let mut next_kill = Instant::now() + KILL_EVERY;
    let mut victim = 0;
    let mut round = 0;
    while Instant::now() < chaos_until {
        round += 1;
        for (lock, (_, _, len)) in locks.clone() {
            if Instant::now() >= next_kill {
                fleet.kill(victim);
                fleet.start(victim);
                victim = (victim + 1) % INSTANCES;
                next_kill = Instant::now() + KILL_EVERY;
            }
            // A new code.
            let pin = pins.next(len);
            made.insert((lock.clone(), pin.clone()));
            let idem = format!("chaos-{round}-{lock}");
            let body = json!({"name": format!("Guest {round}"), "code": pin});
            let (status, code) = client
                .call(
                    &fleet,
                    "POST",
                    &format!("/v1/locks/{lock}/access-codes"),
                    Some(body),
                    Some(&idem),
                )
                .await;
            assert!(matches!(status, 201 | 202), "create: {status} {code}");
            wanted.insert(
                code["id"].as_str().unwrap().to_owned(),
                Wanted {
                    lock: lock.clone(),
                    pin: Some(pin),
                },
            );
            created += 1;
            // Every other round, the oldest live code of the lock gets a new PIN or is deleted.
            let live: Vec<String> = wanted
                .iter()
                .filter(|(_, w)| w.lock == lock && w.pin.is_some())
                .map(|(id, _)| id.clone())
                .collect();
            if live.len() < 2 {
                continue;
            }
            let id = &live[0];
            if round % 2 == 0 {
                let pin = pins.next(len);
                made.insert((lock.clone(), pin.clone()));
                let (status, body) = client
                    .call(
                        &fleet,
                        "PATCH",
                        &format!("/v1/access-codes/{id}"),
                        Some(json!({"code": pin})),
                        None,
                    )
                    .await;
                if !matches!(status, 200 | 202) {
                    let (_, code) = client
                        .call(&fleet, "GET", &format!("/v1/access-codes/{id}"), None, None)
                        .await;
                    panic!("update: {status} {body}; the code: {code:#}");
                }
                wanted.get_mut(id).unwrap().pin = Some(pin);
                updated += 1;
            } else {
                let (status, body) = client
                    .call(
                        &fleet,
                        "DELETE",
                        &format!("/v1/access-codes/{id}"),
                        None,
                        None,
                    )
                    .await;
                assert!(
                    matches!(status, 200 | 202 | 204 | 404),
                    "delete: {status} {body}"
                );
                wanted.get_mut(id).unwrap().pin = None;
                deleted += 1;
            }
        }
    }

    // The faults stop; every instance runs. The service settles by itself.
    for sim_faults in [
        &mut ttlock.world().faults,
        &mut tuya.world().faults,
        &mut tedee.world().faults,
    ] {
        sim_faults.clear();
    }
    for i in 0..INSTANCES {
        if fleet.children[i].is_none() {
            fleet.start(i);
        }
    }
    fleet.wait_ready().await;
    let settling = Instant::now();
    let settle_deadline = settling + SETTLE;
    // Each pass reads every code the client made (a hundred requests or so), which paces the
    // passes by itself.
    loop {
        let mut moving = Vec::new();
        for id in wanted.keys() {
            let (status, code) = client
                .call(&fleet, "GET", &format!("/v1/access-codes/{id}"), None, None)
                .await;
            assert_eq!(status, 200, "{code}");
            if matches!(code["status"].as_str(), Some("setting" | "removing")) {
                moving.push(code);
            }
        }
        if moving.is_empty() {
            break;
        }
        assert!(
            Instant::now() < settle_deadline,
            "still moving after {SETTLE:?}: {moving:?}"
        );
    }
    let settled_in = settling.elapsed();

    // lockbridge's view: wanted codes `set` with their PIN, deleted ones `removed`.
    for (id, w) in &wanted {
        let (_, code) = client
            .call(&fleet, "GET", &format!("/v1/access-codes/{id}"), None, None)
            .await;
        match &w.pin {
            Some(pin) => {
                assert_eq!(code["status"], "set", "{code}");
                assert_eq!(code["code"].as_str(), Some(pin.as_str()), "{code}");
            }
            None => assert_eq!(code["status"], "removed", "{code}"),
        }
    }
    // Ground truth: on each lock, the PINs this run made are exactly the wanted ones, once each.
    for (lock, (provider, vendor_id, _)) in &locks {
        let on_lock: Vec<String> = match provider.as_str() {
            "ttlock" => ttlock.world().locks[&vendor_id.parse::<i64>().unwrap()]
                .passcodes
                .values()
                .map(|p| p.code.clone())
                .collect(),
            "tedee" => tedee.world().locks[&vendor_id.parse::<i64>().unwrap()]
                .pins
                .values()
                .map(|p| p.pin.clone())
                .collect(),
            _ => tuya.world().devices[vendor_id]
                .passwords
                .values()
                .filter(|p| !p.deleted && p.phase != 5)
                .map(|p| p.pin.clone())
                .collect(),
        };
        let mut ours_on_lock: Vec<&str> = on_lock
            .iter()
            .map(String::as_str)
            .filter(|p| made.contains(&(lock.clone(), (*p).to_owned())))
            .collect();
        ours_on_lock.sort_unstable();
        let mut expected: Vec<&str> = wanted
            .values()
            .filter(|w| &w.lock == lock)
            .filter_map(|w| w.pin.as_deref())
            .collect();
        expected.sort_unstable();
        assert_eq!(
            ours_on_lock, expected,
            "{provider} lock {vendor_id}: the PINs on the lock"
        );
    }

    // Tokens: each renewed once per expiry, and no instance took a new one of its own. An
    // instance killed inside a renewal's round trip takes the new pair with it, and the next
    // renewal (TTLock) or grant (Tuya) is then the only way on: the simulators tell those
    // apart, as the new pair was never presented by anyone.
    let (tt_refreshes, tt_reused, tt_lost) = {
        let w = ttlock.world();
        let n = |k: &str| w.calls.get(k).copied().unwrap_or(0);
        (
            n("/oauth2/token#refresh_token"),
            n("/oauth2/token#refresh_token reused"),
            n("/oauth2/token#refresh_token reused after a lost answer"),
        )
    };
    let (ty_refreshes, ty_grants, ty_regrants, ty_replaced) = {
        let w = tuya.world();
        let n = |k: &str| w.calls.get(k).copied().unwrap_or(0);
        (
            n("token refreshes"),
            n("token grants"),
            n("token grants after a lost renewal"),
            n("token refreshes of a replaced pair"),
        )
    };
    assert!(
        tt_refreshes >= 1 && ty_refreshes >= 1,
        "tokens expired during the run"
    );
    assert_eq!(tt_reused, 0, "a TTLock token renewed twice");
    assert_eq!(
        ty_replaced, 0,
        "a Tuya pair renewed after its renewal was stored"
    );
    assert_eq!(
        ty_grants - ty_regrants,
        tuya_grants,
        "an instance took a new Tuya token instead of the stored one"
    );
    let tedee_429: u32 = tedee.world().throttled.values().sum();
    let tedee_requests: u64 = tedee.world().calls.values().sum();
    assert_eq!(tedee_429, 0, "Tedee's budget was overspent");
    assert_eq!(client.busy_answers, 0, "busy answers reached the client");
    assert_eq!(client.server_errors, [], "5xx answers reached the client");
    println!(
        "chaos: {INSTANCES} instances, {} SIGKILLs, {created} codes created, {updated} changed, {deleted} deleted on {} locks under 20 % vendor faults; settled {:.1} s after the faults stopped; token renewals TTLock {tt_refreshes} (0 twice, {tt_lost} after a lost answer), Tuya {ty_refreshes} (0 new grants, {ty_regrants} after a lost answer); Tedee 429s 0 of {tedee_requests} requests; busy answers 0; {:.0} s in all",
        fleet.kills,
        locks.len(),
        settled_in.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
}

/// The registry's simulator of type `T`.
fn typed<T: 'static>(sims: &[Arc<dyn Simulator>]) -> &T {
    sims.iter()
        .find_map(|s| s.as_any().downcast_ref::<T>())
        .expect("the registry has this simulator")
}

/// The body that connects a simulator's demo account: its credentials, as the vendor's adapter
/// names them.
fn connection_body(vendor: &str, demo: &Value) -> Value {
    let cx = lockbridge_vendors::Context {
        tokens: Arc::new(lockbridge_core::provider::NoTokenStore),
        calls: Arc::default(),
        operation_poll: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        pace: Arc::default(),
    };
    let adapter = lockbridge_vendors::builtin(&cx)
        .into_iter()
        .find(|v| v.provider().as_str() == vendor)
        .expect("every simulator has an adapter");
    let credentials: serde_json::Map<String, Value> = adapter
        .credential_fields()
        .iter()
        .filter_map(|f| Some((f.name.to_owned(), demo.get(f.name)?.clone())))
        .collect();
    json!({"provider": vendor, "credentials": credentials})
}
