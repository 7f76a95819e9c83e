//! Access codes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lockbridge_core::ids::{AccessCodeId, GrantId, LockId};
use lockbridge_core::model::{
    self, CodeStatus, ExternalPolicy, Notice, RemovedReason, Schedule, Scheduling,
};
use lockbridge_core::provider::OfflineKind;
use lockbridge_core::time::{Millis, Timestamp};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AccessCode {
    pub id: AccessCodeId,
    pub lock_id: LockId,
    pub name: Option<String>,
    pub code: String,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub starts_at: Option<Millis>,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub ends_at: Option<Millis>,
    pub schedule: Option<Schedule>,
    /// How the code's period or window reaches the lock: `native` (the lock holds it) or
    /// `just_in_time` (lockbridge writes the code before each opening and removes it after).
    pub scheduling: Scheduling,
    /// The grant the code belongs to, when it does.
    pub grant_id: Option<GrantId>,
    /// `online` (written to the lock through its vendor) or `offline_…`: computed by the lock's
    /// own algorithm from its vendor's cloud, valid without a connection (`offline_one_time`,
    /// `offline_time_bound`, `offline_permanent`, TTLock's cyclic `offline_daily`,
    /// `offline_weekend`, `offline_workday`, `offline_monday` … `offline_sunday`).
    pub kind: CodeKind,
    pub status: CodeStatus,
    pub frozen: bool,
    /// Created through lockbridge (true) or found on the lock (false).
    pub managed: bool,
    pub provider_id: Option<String>,
    pub last_error: Option<String>,
    pub removed_reason: Option<RemovedReason>,
    pub errors: Vec<Notice>,
    pub warnings: Vec<Notice>,
    /// This code's own answer to external changes; the connection's when absent.
    pub on_external_change: Option<ExternalPolicy>,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub updated_at: Millis,
}

impl From<&model::AccessCode> for AccessCode {
    fn from(c: &model::AccessCode) -> AccessCode {
        AccessCode {
            id: c.id,
            lock_id: c.lock_id,
            name: c.name.clone(),
            code: c.code.clone(),
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            schedule: c.schedule.clone(),
            scheduling: c.scheduling,
            grant_id: c.grant_id,
            kind: CodeKind(c.kind),
            status: c.status,
            frozen: c.frozen,
            managed: c.managed,
            provider_id: c.provider_id.clone(),
            last_error: c.last_error.clone(),
            removed_reason: c.removed_reason,
            errors: c.errors.clone(),
            warnings: c.warnings.clone(),
            on_external_change: c.on_external_change,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A code's kind: `online`, or `offline_` and the offline kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeKind(pub Option<OfflineKind>);

impl Serialize for CodeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&model::code_kind_text(self.0))
    }
}

impl<'de> Deserialize<'de> for CodeKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        model::parse_code_kind(&text)
            .map(CodeKind)
            .ok_or_else(|| serde::de::Error::custom(format!("not a code kind: {text}")))
    }
}

impl JsonSchema for CodeKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CodeKind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut names = vec![model::code_kind_text(None)];
        names.extend(
            OfflineKind::ALL
                .iter()
                .map(|k| model::code_kind_text(Some(*k))),
        );
        schemars::json_schema!({"type": "string", "enum": names})
    }
}
