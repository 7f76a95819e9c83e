//! A code's conditional write, and a lock's new state, deliver their events to the
//! organisation's endpoints as they are at the write, on both backends. On PostgreSQL each is
//! one statement that checks the endpoints it was computed from against the table: an endpoint
//! added, disabled or deleted since the instance last wrote is never missed nor served.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use lockbridge_core::events::{Event, EventType};
use lockbridge_core::ids::{OrgId, WebhookId};
use lockbridge_core::model::LockState;
use lockbridge_core::model::*;
use lockbridge_core::time::now_ms;
use lockbridge_core::webhooks::{Webhook, WebhookFormat};
use lockbridge_store::testing::TestDb;
use lockbridge_store::{Commit, EventFilter, Guard, Store, both_backends};

async fn endpoint(
    s: &Store,
    org: OrgId,
    types: &[&str],
    format: WebhookFormat,
    enabled: bool,
) -> WebhookId {
    let now = now_ms();
    let w = Webhook {
        id: WebhookId::new(),
        org_id: org,
        url: "http://127.0.0.1:9/hook".into(),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        description: None,
        enabled,
        format,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    s.insert_webhook(&w, "whsec_test").await.unwrap();
    w.id
}

async fn deliveries(s: &Store, org: OrgId, w: WebhookId) -> usize {
    s.list_deliveries(org, w, 100, None).await.unwrap().len()
}

/// Writes `c` as set, with its `access_code.set` event; whether it was written.
async fn write(s: &Store, c: &mut AccessCode, version: i64) -> bool {
    let event = Event::new(c.org_id, EventType::CodeSet, now_ms()).code(c.id, c.lock_id);
    c.status = CodeStatus::Set;
    s.update_code_if(c, version, Guard::Version, now_ms(), &[event])
        .await
        .unwrap()
}

both_backends!(
    a_code_write_delivers_to_the_endpoints_there_are_at_the_write,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, _, locks) = org_with_locks(s).await;
        let mut c = code(&locks[0], "480613", None);
        s.insert_access_code(&c, None).await.unwrap();
        // No endpoints yet: the instance learns that.
        assert!(write(s, &mut c, 0).await);

        let set = Event::new(org, EventType::CodeSet, 0);
        let seam_name = lockbridge_core::seam::event_type(&set).unwrap();
        let codes = endpoint(s, org, &["access_code.*"], WebhookFormat::Lockbridge, true).await;
        let seam = endpoint(s, org, &[seam_name], WebhookFormat::Seam, true).await;
        let off = endpoint(s, org, &[], WebhookFormat::Lockbridge, false).await;
        let locks_only = endpoint(s, org, &["lock.*"], WebhookFormat::Lockbridge, true).await;
        // Endpoints made since the last write still get this one.
        let v = c.version;
        assert!(write(s, &mut c, v).await);
        assert_eq!(deliveries(s, org, codes).await, 1);
        assert_eq!(deliveries(s, org, seam).await, 1);
        assert_eq!(deliveries(s, org, off).await, 0, "disabled");
        assert_eq!(deliveries(s, org, locks_only).await, 0, "another type");

        // A write from a stale version writes nothing: no event, no delivery.
        let mut stale = c.clone();
        assert!(!write(s, &mut stale, 0).await);
        let events = s
            .list_events(org, &EventFilter::default(), 100)
            .await
            .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(deliveries(s, org, codes).await, 1);

        // An endpoint deleted since the last write gets nothing more; the others do.
        assert!(s.delete_webhook(org, codes).await.unwrap());
        let v = c.version;
        assert!(write(s, &mut c, v).await);
        assert_eq!(deliveries(s, org, seam).await, 2);
        assert_eq!(
            s.list_events(org, &EventFilter::default(), 100)
                .await
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            s.access_code_by_id(c.id).await.unwrap().unwrap().version,
            c.version,
            "the version the write reports is the stored one"
        );
    }
);

both_backends!(
    a_lock_state_delivers_to_the_endpoints_there_are_at_the_write,
    |db: TestDb| async move {
        let s = &db.store;
        let (org, _, locks) = org_with_locks(s).await;
        let lock = &locks[0];
        let unlocked = |at| {
            Event::new(org, EventType::LockUnlocked, at)
                .lock(lock.id)
                .connection(lock.connection_id)
        };
        let version = s.locks_version(org).await.unwrap();
        s.set_lock_state(
            lock.id,
            LockState::Unlocked,
            Some(unlocked(now_ms())),
            Commit::Flushed,
        )
        .await
        .unwrap();
        // An endpoint made since: the next change delivers to it, also when its answer does
        // not wait for the flush.
        let hook = endpoint(s, org, &["lock.*"], WebhookFormat::Lockbridge, true).await;
        s.set_lock_state(
            lock.id,
            LockState::Locked,
            Some(unlocked(now_ms())),
            Commit::Unflushed,
        )
        .await
        .unwrap();
        assert_eq!(deliveries(s, org, hook).await, 1);
        let stored = s.get_lock(org, lock.id).await.unwrap().unwrap();
        assert_eq!(stored.state, LockState::Locked);
        assert_eq!(s.locks_version(org).await.unwrap(), version + 2);
        let events = EventFilter {
            lock_id: Some(lock.id),
            ..Default::default()
        };
        assert_eq!(s.list_events(org, &events, 100).await.unwrap().len(), 2);
    }
);
