//! Locks: list, detail, remote unlock and lock, open state, battery.

use futures_util::{Stream, TryStreamExt};
use serde::Deserialize;

use super::{Page, walk};
use crate::client::{Ack, Form, TtlockClient};
use crate::de;
use crate::error::Result;
use crate::types::check_page;

/// A lock as `/v3/lock/list` gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lock {
    #[serde(deserialize_with = "de::int")]
    pub lock_id: i64,
    #[serde(default)]
    pub lock_name: Option<String>,
    #[serde(default)]
    pub lock_alias: Option<String>,
    #[serde(default)]
    pub lock_mac: Option<String>,
    /// Battery, 0–100, as last reported.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub electric_quantity: Option<i64>,
    #[serde(default)]
    pub feature_value: Option<String>,
    #[serde(default, deserialize_with = "de::flag")]
    pub has_gateway: bool,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub group_id: Option<i64>,
    #[serde(default)]
    pub group_name: Option<String>,
    /// Initialisation time (ms).
    #[serde(default, deserialize_with = "de::opt_int")]
    pub date: Option<i64>,
}

impl Lock {
    pub fn features(&self) -> Features {
        Features::parse(self.feature_value.as_deref().unwrap_or(""))
    }

    /// Reachable from the cloud: behind a gateway or with Wi-Fi of its own.
    pub fn is_remote(&self) -> bool {
        self.has_gateway || self.features().has(Features::WIFI)
    }
}

/// `/v3/lock/detail`. The lock's own secrets (admin code, AES key…) are not read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockDetail {
    #[serde(deserialize_with = "de::int")]
    pub lock_id: i64,
    #[serde(default)]
    pub lock_name: Option<String>,
    #[serde(default)]
    pub lock_alias: Option<String>,
    #[serde(default)]
    pub lock_mac: Option<String>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub electric_quantity: Option<i64>,
    #[serde(default)]
    pub feature_value: Option<String>,
    #[serde(default, deserialize_with = "de::flag")]
    pub has_gateway: bool,
    /// Offset from UTC of the lock's clock, in ms.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub timezone_raw_offset: Option<i64>,
    #[serde(default)]
    pub model_num: Option<String>,
    #[serde(default)]
    pub hardware_revision: Option<String>,
    #[serde(default)]
    pub firmware_revision: Option<String>,
    /// Seconds; -1 when auto-lock is off.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub auto_lock_time: Option<i64>,
    /// 1 on, 2 off.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub passage_mode: Option<i64>,
    /// 1 frozen, 2 not.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub is_frozen: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub date: Option<i64>,
}

impl LockDetail {
    pub fn features(&self) -> Features {
        Features::parse(self.feature_value.as_deref().unwrap_or(""))
    }
}

/// The `featureValue` bit set: an upper-case hex number wider than 64 bits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features(Vec<u8>);

impl Features {
    pub const PASSCODE: u32 = 0;
    pub const IC_CARD: u32 = 1;
    pub const FINGERPRINT: u32 = 2;
    pub const REMOTE_LOCK: u32 = 8;
    pub const GATEWAY_UNLOCK: u32 = 10;
    pub const FREEZE: u32 = 11;
    pub const CYCLIC_PASSCODES: u32 = 12;
    pub const DOOR_SENSOR: u32 = 13;
    pub const PASSAGE_MODE: u32 = 22;
    pub const WIFI: u32 = 56;

    /// Parses the hex string; characters that are not hex digits are ignored.
    pub fn parse(hex: &str) -> Self {
        // Nibbles, least significant first.
        Features(
            hex.chars()
                .rev()
                .filter_map(|c| c.to_digit(16).map(|d| d as u8))
                .collect(),
        )
    }

    /// Bit `n`, counted from the least significant (Java's `BigInteger.testBit`).
    pub fn has(&self, n: u32) -> bool {
        self.0
            .get((n / 4) as usize)
            .is_some_and(|nibble| nibble >> (n % 4) & 1 == 1)
    }
}

/// `queryOpenState`: what the lock reports through its gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenState {
    Locked,
    Unlocked,
    Unknown,
}

/// Filters and page of `/v3/lock/list`.
#[derive(Debug, Clone)]
pub struct LockQuery {
    pub page_no: u32,
    /// 1 to 1000 (default 20).
    pub page_size: u32,
    /// Fuzzy match on the alias.
    pub lock_alias: Option<String>,
    pub group_id: Option<i64>,
}

impl Default for LockQuery {
    fn default() -> Self {
        LockQuery {
            page_no: 1,
            page_size: 20,
            lock_alias: None,
            group_id: None,
        }
    }
}

#[derive(Deserialize)]
struct State {
    #[serde(deserialize_with = "de::int")]
    state: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Battery {
    #[serde(deserialize_with = "de::int")]
    electric_quantity: i64,
}

impl TtlockClient {
    /// One page of the account's locks (`get_locks/4`). Locks shared by eKey are not listed.
    pub async fn locks(&self, query: &LockQuery) -> Result<Page<Lock>> {
        check_page(query.page_no, query.page_size, 1000)?;
        let form = Form::new()
            .put("pageNo", query.page_no)
            .put("pageSize", query.page_size)
            .opt("lockAlias", query.lock_alias.as_deref())
            .opt("groupId", query.group_id);
        self.call("/v3/lock/list", form).await
    }

    /// Every lock, page after page as the stream is read (pages of `filter.page_size`).
    pub fn locks_stream(&self, filter: LockQuery) -> impl Stream<Item = Result<Lock>> + '_ {
        let size = filter.page_size;
        walk(size, move |page_no| {
            let query = LockQuery {
                page_no,
                ..filter.clone()
            };
            async move { self.locks(&query).await }
        })
    }

    /// Every lock in one list (`get_all_locks/2`); pages of 1000.
    pub async fn all_locks(&self, filter: LockQuery) -> Result<Vec<Lock>> {
        let filter = LockQuery {
            page_size: 1000,
            ..filter
        };
        self.locks_stream(filter).try_collect().await
    }

    /// Details of one lock; only its administrator may read them (`get_lock/1`).
    pub async fn lock_detail(&self, lock_id: i64) -> Result<LockDetail> {
        self.call("/v3/lock/detail", Form::new().put("lockId", lock_id))
            .await
    }

    /// Opens the lock through its gateway or Wi-Fi; synchronous, takes seconds.
    pub async fn unlock(&self, lock_id: i64) -> Result<()> {
        let _: Ack = self
            .call("/v3/lock/unlock", Form::new().put("lockId", lock_id))
            .await?;
        Ok(())
    }

    /// Locks the lock through its gateway or Wi-Fi.
    pub async fn lock(&self, lock_id: i64) -> Result<()> {
        let _: Ack = self
            .call("/v3/lock/lock", Form::new().put("lockId", lock_id))
            .await?;
        Ok(())
    }

    /// Asks the lock, through its gateway, whether it is open.
    pub async fn open_state(&self, lock_id: i64) -> Result<OpenState> {
        let s: State = self
            .call(
                "/v3/lock/queryOpenState",
                Form::new().put("lockId", lock_id),
            )
            .await?;
        Ok(match s.state {
            0 => OpenState::Locked,
            1 => OpenState::Unlocked,
            _ => OpenState::Unknown,
        })
    }

    /// Reads the battery (0–100) live, through the gateway.
    pub async fn battery(&self, lock_id: i64) -> Result<i64> {
        let form = Form::new().put("lockId", lock_id);
        let b: Battery = self.call("/v3/lock/queryElectricQuantity", form).await?;
        Ok(b.electric_quantity)
    }
}

#[cfg(test)]
mod tests {
    use super::Features;

    #[test]
    fn feature_bits_past_64() {
        let f = Features::parse("C27442140F5F4");
        assert!(!f.has(Features::PASSCODE));
        assert!(f.has(2));
        let wifi = Features::parse(&format!("{:X}", 1u128 << 56 | 1));
        assert!(wifi.has(Features::WIFI) && wifi.has(Features::PASSCODE));
        assert!(!wifi.has(110));
        assert!(Features::parse(&format!("{:X}", 1u128 << 110)).has(110));
    }
}
