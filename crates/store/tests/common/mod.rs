//! Fixtures the store suites share: an organisation with a TTLock connection, its locks, codes.

#![allow(dead_code)]

use lockbridge_core::credentials::Credentials;
use lockbridge_core::ids::{ConnectionId, OrgId};
use lockbridge_core::model::*;
use lockbridge_core::provider::{DeviceGateway, DeviceLock, Devices};
use lockbridge_core::rules::CodeRules;
use lockbridge_core::time::now_ms;
use lockbridge_store::{HealthRules, LockHealth, SeenLock, Store};

/// The store's tests judge no health: a lock is online when the vendor says so, with no
/// errors or warnings (the application's rules are tested through the service).
pub struct NoRules;

impl HealthRules for NoRules {
    fn lock(&self, seen: &SeenLock<'_>) -> LockHealth {
        LockHealth {
            online: seen.device.online,
            ..LockHealth::default()
        }
    }

    fn reach(&self, _: &Lock, unreachable: Option<&'static str>, _: i64) -> (bool, Vec<Notice>) {
        (unreachable.is_none(), Vec::new())
    }

    fn zone_set(&self, before: &Lock, _: Option<&str>, _: i64) -> Vec<Notice> {
        before.warnings.clone()
    }
}

pub const SECRET: &str = "client-secret-that-must-never-be-stored-plainly";
pub const MD5: &str = "5f4dcc3b5aa765d61d8327deb882cf99";

pub fn ttlock_credentials() -> Credentials {
    let mut c = Credentials::new();
    c.set("client_id", "0123456789abcdef0123456789abcdef");
    c.set("client_secret", SECRET);
    c.set("username", "owner@example.com");
    c.set("password_md5", MD5);
    c.set("access_token", "access-token-0000000000000000001");
    c.set("refresh_token", "refresh-token-000000000000000001");
    c
}

/// The vendors these tests store rows of (the store knows none of its own).
pub const TTLOCK: Provider = Provider::named(&VendorNames {
    id: "ttlock",
    label: "TTLock",
});
pub const TUYA: Provider = Provider::named(&VendorNames {
    id: "tuya",
    label: "Tuya",
});
pub const TEDEE: Provider = Provider::named(&VendorNames {
    id: "tedee",
    label: "Tedee",
});

/// Makes the test vendors' names parse when their rows are read back.
pub fn register_vendors() {
    for p in [TTLOCK, TUYA, TEDEE] {
        p.register();
    }
}

pub fn connection(org: OrgId) -> Connection {
    register_vendors();
    let now = now_ms();
    Connection {
        id: ConnectionId::new(),
        org_id: org,
        provider: TTLOCK,
        name: "Main account".into(),
        base_url: Some("http://127.0.0.1:1".into()),
        status: ConnectionStatus::Active,
        credentials: ttlock_credentials(),
        token_expires_at: Some(now + 1000),
        credentials_version: 1,
        last_sync_at: None,
        last_error: None,
        on_external_change: ExternalPolicy::Restore,
        created_at: now,
        updated_at: now,
    }
}

pub fn device_lock(id: &str, name: &str, gateway: Option<&str>, online: bool) -> DeviceLock {
    DeviceLock {
        provider_id: id.into(),
        name: name.into(),
        online,
        reach_reported: true,
        state: LockState::Unknown,
        battery: Some(80),
        gateway: gateway.map(Into::into),
        time_zone: None,
        utc_offset_minutes: None,
        capabilities: Capabilities {
            remote_unlock: gateway.is_some(),
            access_codes: true,
            ..Default::default()
        },
        code_rules: CodeRules::ttlock(),
    }
}

pub fn devices() -> Devices {
    Devices {
        gateways: vec![DeviceGateway {
            provider_id: "78001".into(),
            name: "Lobby".into(),
            online: true,
        }],
        locks: vec![
            device_lock("1001", "Front door", Some("78001"), true),
            device_lock("1002", "Back door", Some("78001"), true),
            device_lock("1003", "Garden shed", None, false),
        ],
    }
}

pub async fn org_with_locks(store: &Store) -> (OrgId, Connection, Vec<Lock>) {
    let org = store.create_org("Acme").await.unwrap().id;
    let conn = connection(org);
    store.insert_connection(&conn).await.unwrap();
    store
        .apply_sync(&conn, &devices(), &NoRules, now_ms())
        .await
        .unwrap();
    let locks = store.list_locks(org, 100, None).await.unwrap();
    (org, conn, locks)
}

pub fn code(lock: &Lock, pin: &str, key: Option<&str>) -> AccessCode {
    let now = now_ms();
    AccessCode {
        name: Some("Guest".into()),
        starts_at: Some(now),
        ends_at: Some(now + 3_600_000),
        next_attempt_at: Some(now),
        idempotency_key: key.map(Into::into),
        ..AccessCode::new(lock, pin.into(), now)
    }
}
