//! `lockbridge serve` refuses bad settings before it touches the database.

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
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("LOCKBRIDGE_TUYA_RATE: `fast` is not a rate"),
        "{stderr}"
    );
    assert!(!db.exists() && !dir.join("lockbridge.key").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
