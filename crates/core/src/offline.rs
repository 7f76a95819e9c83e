//! Offline codes: what the lock's own algorithm opens for, given by its vendor's cloud without
//! reaching the lock — their kinds, the code given, and the capability that gives them.

use async_trait::async_trait;
use serde::Serialize;

use crate::model::{Connection, Lock, Provider};
use crate::provider::{ProviderResult, unsupported};
use crate::time::Millis;

/// Algorithmic codes a lock computes itself (no gateway needed). The cyclic kinds (TTLock)
/// open every matching day within the time-of-day window of `starts_at`–`ends_at`, from the
/// start on; give both on the nearest matching day.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OfflineKind {
    OneTime,
    Permanent,
    TimeBound,
    Weekend,
    Daily,
    Workday,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl OfflineKind {
    pub const ALL: [OfflineKind; 13] = [
        OfflineKind::OneTime,
        OfflineKind::Permanent,
        OfflineKind::TimeBound,
        OfflineKind::Weekend,
        OfflineKind::Daily,
        OfflineKind::Workday,
        OfflineKind::Monday,
        OfflineKind::Tuesday,
        OfflineKind::Wednesday,
        OfflineKind::Thursday,
        OfflineKind::Friday,
        OfflineKind::Saturday,
        OfflineKind::Sunday,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfflineKind::OneTime => "one_time",
            OfflineKind::Permanent => "permanent",
            OfflineKind::TimeBound => "time_bound",
            OfflineKind::Weekend => "weekend",
            OfflineKind::Daily => "daily",
            OfflineKind::Workday => "workday",
            OfflineKind::Monday => "monday",
            OfflineKind::Tuesday => "tuesday",
            OfflineKind::Wednesday => "wednesday",
            OfflineKind::Thursday => "thursday",
            OfflineKind::Friday => "friday",
            OfflineKind::Saturday => "saturday",
            OfflineKind::Sunday => "sunday",
        }
    }

    /// Recurs every matching day (needs a window: both ends).
    pub fn is_cyclic(self) -> bool {
        !matches!(
            self,
            OfflineKind::OneTime | OfflineKind::Permanent | OfflineKind::TimeBound
        )
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OfflineCode {
    pub code: String,
    pub provider_id: Option<String>,
    #[serde(with = "crate::time::rfc3339_opt")]
    #[schemars(with = "Option<crate::time::Timestamp>")]
    pub starts_at: Option<Millis>,
    #[serde(with = "crate::time::rfc3339_opt")]
    #[schemars(with = "Option<crate::time::Timestamp>")]
    pub ends_at: Option<Millis>,
}

#[async_trait]
pub trait OfflineCodes: Send + Sync {
    async fn offline_code(
        &self,
        conn: &Connection,
        lock: &Lock,
        kind: OfflineKind,
        name: Option<&str>,
        period: (Millis, Option<Millis>),
    ) -> ProviderResult<OfflineCode>;

    /// Whether an offline code can be taken off the lock from the cloud (as an online code
    /// is: `delete_code` with its vendor id). Where not, it works until its end.
    fn clears_offline_codes(&self) -> bool {
        false
    }

    /// A short-lived code the lock accepts now (Tuya's dynamic password).
    async fn dynamic_code(&self, conn: &Connection, lock: &Lock) -> ProviderResult<OfflineCode> {
        let _ = (conn, lock);
        Err(unsupported(self.provider(), "give dynamic codes"))
    }

    /// The vendor these codes come from (for errors).
    fn provider(&self) -> Provider;
}
