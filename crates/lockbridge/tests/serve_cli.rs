//! `lockbridge serve` refuses bad settings before it touches the database, names a setting it
//! does not know, and fits its connections under the open-file limit.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn a_bad_vendor_rate_is_named_and_nothing_is_created() {
    let dir = std::env::temp_dir().join(format!("lockbridge-serve-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("x.db");
    let out = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env(
            "LOCKBRIDGE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("LOCKBRIDGE_TUYA_RATE", "fast")
        .env("LOCKBRIDGE_RECONCILE_INTERVLA", "5m")
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // A misspelt setting is named, not ignored; the settings it knows are not.
    assert!(
        stderr.contains("LOCKBRIDGE_RECONCILE_INTERVLA") && stderr.contains("no setting is read"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("variable=LOCKBRIDGE_TUYA_RATE")
            && !stderr.contains("variable=LOCKBRIDGE_DATABASE_URL"),
        "{stderr}"
    );
    assert!(
        stderr.contains("LOCKBRIDGE_TUYA_RATE: `fast` is not a rate"),
        "{stderr}"
    );
    assert!(!db.exists() && !dir.join("lockbridge.key").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_role_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--role", "both"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--role") && stderr.contains("\"both\" is not a role: api, workers or all"),
        "{stderr}"
    );
}

/// Started under a low open-file limit, `serve` raises its soft limit to the hard one and
/// serves fewer connections at once than that, keeping a reserve for its own files; then a
/// client holding more idle connections than the limit cannot keep another client out.
#[test]
fn serve_fits_its_connections_under_the_open_file_limit() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    let dir = std::env::temp_dir().join(format!("lockbridge-nofile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("x.db");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 200 && ulimit -Hn 256 && exec \"$0\" serve --listen 127.0.0.1:0")
        .arg(env!("CARGO_BIN_EXE_lockbridge"))
        .env(
            "LOCKBRIDGE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("LOCKBRIDGE_HEADER_TIMEOUT", "1s")
        .env("LOCKBRIDGE_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("serve ended: {log}");
        };
        log.push_str(&line);
        log.push('\n');
        if line.contains("lockbridge is serving") {
            let at = line.find("addr=").unwrap() + 5;
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(
        log.contains("open_files=256") && log.contains("max_connections=192"),
        "{log}"
    );
    // 300 idle connections, more than the process may open: the extra ones wait in the
    // backlog, and a real request is answered once the idle ones' header timeout ends them.
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    let mut real = TcpStream::connect(&addr).unwrap();
    real.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    real.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    real.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle);
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The master key from a file (a container's or systemd's secret): a bad one is refused naming
/// the variable, before anything is created.
#[test]
fn the_master_key_may_come_from_a_file() {
    let dir = std::env::temp_dir().join(format!("lockbridge-key-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("master.key");
    std::fs::write(&key, "not hex\n").unwrap();
    let db = dir.join("x.db");
    let out = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(["migrate"])
        .env(
            "LOCKBRIDGE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("LOCKBRIDGE_MASTER_KEY_FILE", &key)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("LOCKBRIDGE_MASTER_KEY_FILE: the key in"),
        "{stderr}"
    );
    assert!(!stderr.contains("no setting is read"), "{stderr}");
    assert!(
        !dir.join("lockbridge.key").exists(),
        "no key file made beside the database"
    );

    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lockbridge"))
        .args(["migrate"])
        .env(
            "LOCKBRIDGE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("LOCKBRIDGE_MASTER_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.join("lockbridge.key").exists(),
        "the file's key is used, none made"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
