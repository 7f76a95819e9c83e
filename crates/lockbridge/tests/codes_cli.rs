//! `lockbridge codes import` and `codes list` against a running service and the TTLock
//! simulator: a file refused line by line before anything is sent, progress while the job
//! runs, the failed lines reported, exit codes, `--json`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use lockbridge_core::model::Role;
use lockbridge_server::{App, Settings};
use lockbridge_sim::ttlock::TtlockSim;
use lockbridge_store::both_backends;
use lockbridge_store::testing::TestDb;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Service {
    url: String,
    key: String,
    sim: TtlockSim,
    front: String,
    back: String,
    dir: PathBuf,
    lock_ids: Vec<i64>,
    _db: TestDb,
    _sim_server: lockbridge_sim::Running,
    stop: CancellationToken,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn service(db: TestDb) -> Service {
    let sim = TtlockSim::new(7);
    let demo = sim.seed_demo();
    let sim_server = sim.start_local().await.unwrap();
    let mut settings = Settings {
        worker_interval: Duration::from_millis(20),
        ..Settings::default()
    };
    settings
        .base_urls
        .insert(lockbridge_vendors::TTLOCK, sim_server.base_url());
    let app = App::new(db.store.clone(), settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(app.serve(listener, stop.clone()));
    let org = db.store.create_org("CLI org").await.unwrap().id;
    let (_, key) = db
        .store
        .create_api_key(org, "admin", Role::Admin)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let conn: Value = http
        .post(format!("{url}/v1/connections"))
        .bearer_auth(&key)
        .json(&json!({"provider": "ttlock", "credentials": {
            "client_id": demo.client_id, "client_secret": demo.client_secret,
            "username": demo.username, "password": demo.password}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = conn["id"].as_str().unwrap();
    http.post(format!("{url}/v1/connections/{id}/sync"))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let locks: Value = http
        .get(format!("{url}/v1/locks"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lock = |name: &str| {
        locks["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let dir = std::env::temp_dir().join(format!(
        "lockbridge-codes-cli-{}",
        lockbridge_core::ids::JobId::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Service {
        front: lock("Front door"),
        back: lock("Back door"),
        url,
        key,
        sim,
        dir,
        lock_ids: demo.lock_ids.clone(),
        _db: db,
        _sim_server: sim_server,
        stop,
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Service {
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs the binary with the API's address and key in the environment.
    async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lockbridge"));
        cmd.args(args)
            .env("LOCKBRIDGE_API_URL", &self.url)
            .env("LOCKBRIDGE_API_KEY", &self.key)
            .env("NO_COLOR", "1");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn pins(&self, lock: usize) -> Vec<String> {
        let w = self.sim.world();
        let id = self.lock_ids[lock];
        let mut pins: Vec<String> = w.locks[&id]
            .passcodes
            .values()
            .map(|p| p.code.clone())
            .collect();
        pins.sort();
        pins
    }
}

both_backends!(
    a_bad_file_is_refused_line_by_line_before_anything_is_sent,
    |db: TestDb| async move {
        let s = service(db).await;
        let f = &s.front;
        let file = s.file(
            "bad.csv",
            &format!(
                "lock_id,name,code,starts_at,ends_at\n\
             {f},Anna,7301,,\n\
             {f},Ben,73a2,,\n\
             {f},Cleo,7303,tomorrow,2027-01-01T00:00:00Z\n\
             ,Dan,7304,,\n\
             {f},Eve,7305,2027-01-01T00:00:00Z,\n"
            ),
        );
        let r = s.run(&["codes", "import", file.to_str().unwrap()]).await;
        assert_eq!(r.code, 2, "{}", r.stderr);
        for expected in [
            "line 3: code",
            "line 4: starts_at",
            "line 5: lock_id",
            "line 6: starts_at",
        ] {
            assert!(r.stderr.contains(expected), "{expected} in {}", r.stderr);
        }
        assert!(!r.stderr.contains("line 2"), "{}", r.stderr);
        assert!(r.stderr.contains("nothing was sent"));
        assert_eq!(
            s.sim.world().calls.get("/v3/keyboardPwd/add"),
            None,
            "no vendor call"
        );
        let wrong = s.file("wrong.csv", "lock,name\nx,y\n");
        let r = s.run(&["codes", "import", wrong.to_str().unwrap()]).await;
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("unknown column \"lock\""), "{}", r.stderr);
    }
);

both_backends!(
    an_import_shows_progress_and_reports_the_failed_lines,
    |db: TestDb| async move {
        let s = service(db).await;
        let (f, b) = (&s.front, &s.back);
        // Line 4's PIN is too short for the lock; line 5's is on the front door already.
        let file = s.file(
            "stays.csv",
            &format!(
                "lock_id,name,code,starts_at,ends_at\n\
             {f},Anna,7301,,\n\
             {b},Ben,730299,2030-01-01T15:00:00Z,2030-01-03T11:00:00Z\n\
             {f},Cleo,12,,\n\
             {f},Dan,482913,,\n\
             {b},Eve,,,\n"
            ),
        );
        let (front_before, back_before) = (s.pins(0), s.pins(1));
        let r = s.run(&["codes", "import", file.to_str().unwrap()]).await;
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("progress: "), "{}", r.stderr);
        assert!(r.stderr.contains("5/5 done, 2 failed"), "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("line 4 (lock {f})")),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains(&format!("line 5 (lock {f})")),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("3 of 5 set, 2 failed"), "{}", r.stderr);
        // The simulated locks hold what was set, and nothing else new.
        let new = |before: &[String], after: Vec<String>| -> Vec<String> {
            after.into_iter().filter(|p| !before.contains(p)).collect()
        };
        assert_eq!(new(&front_before, s.pins(0)), ["7301"]);
        let back_new = new(&back_before, s.pins(1));
        assert_eq!(back_new.len(), 2, "{back_new:?}");
        assert!(back_new.contains(&"730299".to_owned()));

        // `--json` for scripts; a clean file exits 0.
        let clean = s.file("clean.csv", &format!("name,lock_id,code\nFay,{b},730301\n"));
        let r = s
            .run(&["codes", "import", clean.to_str().unwrap(), "--json"])
            .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let out: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            (
                out["status"].as_str(),
                out["succeeded"].as_u64(),
                out["failed"].as_u64()
            ),
            (Some("done"), Some(1), Some(0))
        );
        assert!(
            !r.stderr.contains("progress"),
            "no progress output with --json"
        );

        let r = s.run(&["codes", "list", "--lock", b, "--json"]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let codes: Value = serde_json::from_str(&r.stdout).unwrap();
        let pins: Vec<&str> = codes
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        assert!(
            pins.contains(&"730299") && pins.contains(&"730301"),
            "{pins:?}"
        );
        let r = s.run(&["codes", "list", "--lock", "lck_nope"]).await;
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("not_found"), "{}", r.stderr);
        assert!(!r.stderr.contains(&s.key), "the key never shows");
    }
);

both_backends!(
    an_import_run_again_follows_its_job_and_ends_with_waiting_lines,
    |db: TestDb| async move {
        let s = service(db).await;
        let (f, b) = (&s.front, &s.back);
        // The front door is out of its gateway's range: its line waits, the back door's is set.
        s.sim.world().locks.get_mut(&s.lock_ids[0]).unwrap().online = false;
        let file = s.file(
            "wait.csv",
            &format!("lock_id,name,code\n{f},Gus,\n{b},Hal,\n"),
        );
        let (front_before, back_before) = (s.pins(0), s.pins(1));
        let r = s.run(&["codes", "import", file.to_str().unwrap()]).await;
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("line 2 (lock {f}): waiting")),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("1 of 2 set, 0 failed, 1 waiting"),
            "{}",
            r.stderr
        );
        let job = r
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("job "))
            .and_then(|l| l.split(':').next())
            .unwrap()
            .to_owned();
        // Run again (the first run's answer lost, say): the same job, no code issued twice —
        // the back door's generated PIN is not generated again.
        let r = s.run(&["codes", "import", file.to_str().unwrap()]).await;
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(r.stderr.contains(&format!("job {job}:")), "{}", r.stderr);
        assert_eq!(
            s.pins(1).len(),
            back_before.len() + 1,
            "one new PIN on the back door"
        );
        assert_eq!(
            s.pins(0),
            front_before,
            "nothing on the unreachable lock yet"
        );
        // `--job` follows a job by id.
        let r = s
            .run(&[
                "codes",
                "import",
                file.to_str().unwrap(),
                "--job",
                &job,
                "--json",
            ])
            .await;
        assert_eq!(r.code, 3, "{}", r.stderr);
        let out: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(out["waiting"][0]["line"], 2, "{out}");

        // A column given twice is refused before anything is sent.
        let twice = s.file(
            "twice.csv",
            &format!("lock_id,code,code\n{b},730401,730402\n"),
        );
        let r = s.run(&["codes", "import", twice.to_str().unwrap()]).await;
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("the column code is given more than once"),
            "{}",
            r.stderr
        );
    }
);
