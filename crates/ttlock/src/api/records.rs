//! Unlock and operation records.

use serde::Deserialize;

use super::Page;
use crate::client::{Form, TtlockClient};
use crate::de;
use crate::error::Result;
use crate::types::{EpochMillis, check_page, check_period};

/// One record of `/v3/lockRecord/list` (newest first; kept six months).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlockRecord {
    #[serde(default, deserialize_with = "de::opt_int")]
    pub record_id: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub lock_id: Option<i64>,
    /// The cloud's type: 4 passcode, 7 IC card, 8 fingerprint, 12 gateway unlock, …
    #[serde(deserialize_with = "de::int")]
    pub record_type: i64,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub record_type_from_lock: Option<i64>,
    #[serde(default, deserialize_with = "de::flag")]
    pub success: bool,
    /// The app account, or the passcode's, card's or fingerprint's name.
    #[serde(default)]
    pub username: Option<String>,
    /// The passcode, card or fingerprint number.
    #[serde(default)]
    pub keyboard_pwd: Option<String>,
    /// When it happened on the lock (ms).
    #[serde(deserialize_with = "de::int")]
    pub lock_date: i64,
    /// When it reached the cloud (ms).
    #[serde(default, deserialize_with = "de::opt_int")]
    pub server_date: Option<i64>,
}

/// Filters and page of a lock's records.
#[derive(Debug, Clone)]
pub struct RecordQuery {
    pub lock_id: i64,
    pub start: Option<EpochMillis>,
    pub end: Option<EpochMillis>,
    pub record_type: Option<i64>,
    pub page_no: u32,
    /// 1 to 200 (default 20).
    pub page_size: u32,
}

impl RecordQuery {
    pub fn new(lock_id: i64) -> Self {
        RecordQuery {
            lock_id,
            start: None,
            end: None,
            record_type: None,
            page_no: 1,
            page_size: 20,
        }
    }
}

impl TtlockClient {
    /// One page of a lock's unlock and operation records, newest first.
    pub async fn unlock_records(&self, query: &RecordQuery) -> Result<Page<UnlockRecord>> {
        check_page(query.page_no, query.page_size, 200)?;
        if let (Some(s), Some(e)) = (query.start, query.end) {
            check_period(s, e)?;
        }
        let form = Form::new()
            .put("lockId", query.lock_id)
            .put("pageNo", query.page_no)
            .put("pageSize", query.page_size)
            .opt("startDate", query.start.map(|s| s.0))
            .opt("endDate", query.end.map(|e| e.0))
            .opt("recordType", query.record_type);
        self.call("/v3/lockRecord/list", form).await
    }
}
