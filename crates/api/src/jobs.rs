//! Bulk jobs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use lockbridge_core::ids::{AccessCodeId, JobId};
use lockbridge_core::time::{Millis, Timestamp};

/// A job and how far it has got.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    /// `queued`, `running`, `done` (every item succeeded, failed or waits), `failed` (no item
    /// succeeded or waits).
    pub status: String,
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub errors: Vec<ItemError>,
    /// Items accepted whose lock or gateway cannot be reached now: their codes stay `setting`
    /// and are set when the device answers again.
    pub waiting: Vec<WaitingItem>,
    #[serde(with = "lockbridge_core::time::rfc3339")]
    #[schemars(with = "Timestamp")]
    pub created_at: Millis,
    #[serde(with = "lockbridge_core::time::rfc3339_opt")]
    #[schemars(with = "Option<Timestamp>")]
    pub finished_at: Option<Millis>,
}

impl Job {
    /// Whether the job will change no more (`done` or `failed`).
    pub fn finished(&self) -> bool {
        self.status == "done" || self.status == "failed"
    }
}

/// A failed item.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ItemError {
    /// The item's position in `items`, from 0.
    pub index: i64,
    pub error: ItemErrorDetail,
}

/// Why an item failed: a stable `code` (as for a single request), words, and the item's
/// field when one is to blame.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ItemErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub field: Option<String>,
}

/// An item waiting for its device, and the code that will be set.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WaitingItem {
    pub index: i64,
    pub access_code_id: AccessCodeId,
}
