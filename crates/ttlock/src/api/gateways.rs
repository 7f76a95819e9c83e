//! Gateways and the locks they reach.

use serde::Deserialize;

use super::Page;
use crate::client::{Form, TtlockClient};
use crate::de;
use crate::error::Result;
use crate::types::check_page;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gateway {
    #[serde(deserialize_with = "de::int")]
    pub gateway_id: i64,
    #[serde(default)]
    pub gateway_mac: Option<String>,
    #[serde(default)]
    pub gateway_name: Option<String>,
    /// 1 G1, 2 G2, 3 G3 wired, 4 G4 4G.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub gateway_version: Option<i64>,
    #[serde(default)]
    pub network_name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub lock_num: Option<i64>,
    /// Follows the gateway's connection, minutes late after an unplug.
    #[serde(default, deserialize_with = "de::flag")]
    pub is_online: bool,
}

/// A lock a gateway reaches (`/v3/gateway/listLock`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayLock {
    #[serde(deserialize_with = "de::int")]
    pub lock_id: i64,
    #[serde(default)]
    pub lock_mac: Option<String>,
    #[serde(default)]
    pub lock_name: Option<String>,
    #[serde(default)]
    pub lock_alias: Option<String>,
    /// Above -75 strong, below -85 weak.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub rssi: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub update_date: Option<i64>,
}

/// A gateway that reaches a lock (`/v3/gateway/listByLock`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockGateway {
    #[serde(deserialize_with = "de::int")]
    pub gateway_id: i64,
    #[serde(default)]
    pub gateway_mac: Option<String>,
    #[serde(default)]
    pub gateway_name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub rssi: Option<i64>,
}

#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    list: Vec<T>,
}

/// Sort order of gateway and passcode lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    /// By name.
    Name = 0,
    /// Newest first (the default).
    #[default]
    NewestFirst = 1,
    /// By name, descending.
    NameDescending = 2,
}

impl TtlockClient {
    /// One page of the account's gateways; `page_size` 1 to 200 (`get_gateways/3`).
    pub async fn gateways(
        &self,
        page_no: u32,
        page_size: u32,
        order_by: OrderBy,
    ) -> Result<Page<Gateway>> {
        check_page(page_no, page_size, 200)?;
        let form = Form::new()
            .put("pageNo", page_no)
            .put("pageSize", page_size)
            .put("orderBy", order_by as i64);
        self.call("/v3/gateway/list", form).await
    }

    /// The locks a gateway reaches (`get_gateway_locks/1`).
    pub async fn gateway_locks(&self, gateway_id: i64) -> Result<Vec<GatewayLock>> {
        let l: List<GatewayLock> = self
            .call(
                "/v3/gateway/listLock",
                Form::new().put("gatewayId", gateway_id),
            )
            .await?;
        Ok(l.list)
    }

    /// The gateways that reach a lock; the cloud picks the strongest for commands.
    pub async fn lock_gateways(&self, lock_id: i64) -> Result<Vec<LockGateway>> {
        let l: List<LockGateway> = self
            .call("/v3/gateway/listByLock", Form::new().put("lockId", lock_id))
            .await?;
        Ok(l.list)
    }
}
