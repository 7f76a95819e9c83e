//! Passcodes: list and search, add, change, delete, and algorithmic (offline) codes.

use futures_util::{Stream, TryStreamExt};
use serde::Deserialize;

use super::gateways::OrderBy;
use super::{Page, walk};
use crate::client::{Ack, Form, TtlockClient};
use crate::de;
use crate::error::{Error, Result};
use crate::types::{EpochMillis, Passcode, check_page, check_period};

/// A passcode as `/v3/lock/listKeyboardPwd` lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasscodeInfo {
    #[serde(deserialize_with = "de::int")]
    pub keyboard_pwd_id: i64,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub lock_id: Option<i64>,
    #[serde(default)]
    pub keyboard_pwd: Option<String>,
    #[serde(default)]
    pub keyboard_pwd_name: Option<String>,
    /// 2 permanent, 3 period; 1 and 4–14 for algorithmic codes (sometimes sent as a string).
    #[serde(default, deserialize_with = "de::opt_int")]
    pub keyboard_pwd_type: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub start_date: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub end_date: Option<i64>,
    /// Creation time (ms).
    #[serde(default, deserialize_with = "de::opt_int")]
    pub send_date: Option<i64>,
    /// Custom (added) rather than algorithmic.
    #[serde(default, deserialize_with = "de::flag")]
    pub is_custom: bool,
    #[serde(default)]
    pub sender_username: Option<String>,
}

/// Page, search and order of a lock's passcodes.
#[derive(Debug, Clone)]
pub struct PasscodeQuery {
    pub lock_id: i64,
    /// Fuzzy on the name, exact on the code.
    pub search: Option<String>,
    pub page_no: u32,
    /// 1 to 200 (default 20).
    pub page_size: u32,
    pub order_by: OrderBy,
}

impl PasscodeQuery {
    pub fn new(lock_id: i64) -> Self {
        PasscodeQuery {
            lock_id,
            search: None,
            page_no: 1,
            page_size: 20,
            order_by: OrderBy::NewestFirst,
        }
    }
}

/// How a write reaches the lock: `addType`, `changeType` and `deleteType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteVia {
    /// The app already wrote it over Bluetooth; the cloud only records it.
    Bluetooth = 1,
    /// The cloud writes it through the gateway or the lock's Wi-Fi (the default here).
    #[default]
    Gateway = 2,
}

/// When a custom passcode works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Permanent,
    Period {
        start: EpochMillis,
        end: EpochMillis,
    },
}

/// A custom passcode to add (`add_passcode/7`).
#[derive(Debug, Clone)]
pub struct NewPasscode {
    pub lock_id: i64,
    /// 4 to 9 digits.
    pub passcode: String,
    pub name: Option<String>,
    pub validity: Validity,
    pub via: WriteVia,
}

/// What to change on a passcode: any mix, at least one.
#[derive(Debug, Clone, Default)]
pub struct PasscodeChange {
    pub name: Option<String>,
    pub passcode: Option<String>,
    pub start: Option<EpochMillis>,
    pub end: Option<EpochMillis>,
    pub via: WriteVia,
}

/// The kinds of algorithmic passcode `/v3/keyboardPwd/get` computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomKind {
    /// Usable once within 6 hours of the start.
    OneTime = 1,
    /// Must be used once within 24 hours of the start.
    Permanent = 2,
    /// Valid from start to end; used once within 24 hours of the start.
    Period = 3,
    /// Entering it erases every other code.
    Erase = 4,
    Weekend = 5,
    Daily = 6,
    Workday = 7,
    Monday = 8,
    Tuesday = 9,
    Wednesday = 10,
    Thursday = 11,
    Friday = 12,
    Saturday = 13,
    Sunday = 14,
}

impl RandomKind {
    fn needs_end(self) -> bool {
        self as i64 == 3 || self as i64 >= 5
    }
}

/// An algorithmic code request. Validity is hour-precise: times are truncated to the hour by
/// TTLock. For recurring kinds, give start and end on the nearest matching day: their times
/// of day are the daily window.
#[derive(Debug, Clone)]
pub struct RandomPasscodeRequest {
    pub lock_id: i64,
    pub kind: RandomKind,
    pub name: Option<String>,
    pub start: EpochMillis,
    pub end: Option<EpochMillis>,
}

/// An algorithmic code; it can start with a zero.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RandomPasscode {
    pub keyboard_pwd: String,
    #[serde(deserialize_with = "de::int")]
    pub keyboard_pwd_id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Added {
    #[serde(deserialize_with = "de::int")]
    keyboard_pwd_id: i64,
}

fn check_name(param: &'static str, name: Option<&str>) -> Result<()> {
    match name {
        Some(n) if n.trim().is_empty() => {
            Err(Error::invalid(param, "must not be empty when given"))
        }
        _ => Ok(()),
    }
}

impl TtlockClient {
    /// One page of a lock's passcodes, custom and algorithmic (`get_passcodes/5`).
    pub async fn passcodes(&self, query: &PasscodeQuery) -> Result<Page<PasscodeInfo>> {
        check_page(query.page_no, query.page_size, 200)?;
        let form = Form::new()
            .put("lockId", query.lock_id)
            .put("pageNo", query.page_no)
            .put("pageSize", query.page_size)
            .put("orderBy", query.order_by as i64)
            .opt(
                "searchStr",
                query.search.as_deref().filter(|s| !s.is_empty()),
            );
        self.call("/v3/lock/listKeyboardPwd", form).await
    }

    /// Every passcode of a lock, page after page as the stream is read.
    pub fn passcodes_stream(
        &self,
        lock_id: i64,
        search: Option<String>,
    ) -> impl Stream<Item = Result<PasscodeInfo>> + '_ {
        walk(200, move |page_no| {
            let query = PasscodeQuery {
                search: search.clone(),
                page_no,
                page_size: 200,
                ..PasscodeQuery::new(lock_id)
            };
            async move { self.passcodes(&query).await }
        })
    }

    /// Every passcode of a lock in one list (`get_lock_passcodes/2`).
    pub async fn all_passcodes(
        &self,
        lock_id: i64,
        search: Option<&str>,
    ) -> Result<Vec<PasscodeInfo>> {
        self.passcodes_stream(lock_id, search.map(str::to_owned))
            .try_collect()
            .await
    }

    /// Passcodes whose name contains `term` or whose code is exactly `term` (`search_passcodes/2`).
    pub async fn search_passcodes(&self, lock_id: i64, term: &str) -> Result<Vec<PasscodeInfo>> {
        if term.trim().is_empty() {
            return Err(Error::invalid("search_term", "must not be empty"));
        }
        self.all_passcodes(lock_id, Some(term)).await
    }

    /// Adds a custom passcode (`add_passcode/7`); answers its `keyboardPwdId`.
    pub async fn add_passcode(&self, new: &NewPasscode) -> Result<i64> {
        let code = Passcode::parse("passcode", &new.passcode)?;
        check_name("name", new.name.as_deref())?;
        let mut form = Form::new()
            .put("lockId", new.lock_id)
            .put("keyboardPwd", code.as_str())
            .opt("keyboardPwdName", new.name.as_deref());
        form = match new.validity {
            Validity::Permanent => form.put("keyboardPwdType", 2),
            Validity::Period { start, end } => {
                check_period(start, end)?;
                form.put("keyboardPwdType", 3)
                    .put("startDate", start.0)
                    .put("endDate", end.0)
            }
        };
        let added: Added = self
            .call("/v3/keyboardPwd/add", form.put("addType", new.via as i64))
            .await?;
        Ok(added.keyboard_pwd_id)
    }

    /// Adds a permanent passcode through the gateway (`add_permanent_passcode/3`).
    pub async fn add_permanent_passcode(
        &self,
        lock_id: i64,
        passcode: &str,
        name: Option<&str>,
    ) -> Result<i64> {
        self.add_passcode(&NewPasscode {
            lock_id,
            passcode: passcode.to_owned(),
            name: name.map(str::to_owned),
            validity: Validity::Permanent,
            via: WriteVia::Gateway,
        })
        .await
    }

    /// Adds a passcode valid from `start` to `end` through the gateway (`add_temporary_passcode/5`).
    pub async fn add_temporary_passcode(
        &self,
        lock_id: i64,
        passcode: &str,
        start: impl Into<EpochMillis>,
        end: impl Into<EpochMillis>,
        name: Option<&str>,
    ) -> Result<i64> {
        let validity = Validity::Period {
            start: start.into(),
            end: end.into(),
        };
        self.add_passcode(&NewPasscode {
            lock_id,
            passcode: passcode.to_owned(),
            name: name.map(str::to_owned),
            validity,
            via: WriteVia::Gateway,
        })
        .await
    }

    /// Changes a passcode's name, value, period, or any mix (`change_passcode/6`). An empty
    /// change is refused before any call; a period needs both ends.
    pub async fn change_passcode(
        &self,
        lock_id: i64,
        passcode_id: i64,
        change: &PasscodeChange,
    ) -> Result<()> {
        if change.name.is_none()
            && change.passcode.is_none()
            && change.start.is_none()
            && change.end.is_none()
        {
            return Err(Error::invalid(
                "change",
                "give at least one of name, passcode, start and end",
            ));
        }
        check_name("new_name", change.name.as_deref())?;
        let code = change
            .passcode
            .as_deref()
            .map(|c| Passcode::parse("new_passcode", c))
            .transpose()?;
        let period = match (change.start, change.end) {
            (Some(s), Some(e)) => {
                check_period(s, e)?;
                Some((s, e))
            }
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Error::invalid("start_date", "is required with end_date"));
            }
            (Some(_), None) => {
                return Err(Error::invalid("end_date", "is required with start_date"));
            }
        };
        let form = Form::new()
            .put("lockId", lock_id)
            .put("keyboardPwdId", passcode_id)
            .opt("keyboardPwdName", change.name.as_deref())
            .opt("newKeyboardPwd", code.as_ref().map(Passcode::as_str))
            .opt("startDate", period.map(|p| p.0.0))
            .opt("endDate", period.map(|p| p.1.0))
            .put("changeType", change.via as i64);
        let _: Ack = self.call("/v3/keyboardPwd/change", form).await?;
        Ok(())
    }

    /// Renames a passcode (`change_passcode_name/3`).
    pub async fn change_passcode_name(
        &self,
        lock_id: i64,
        passcode_id: i64,
        name: &str,
    ) -> Result<()> {
        let change = PasscodeChange {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        self.change_passcode(lock_id, passcode_id, &change).await
    }

    /// Gives a passcode a new value through the gateway (`change_passcode_value/3`).
    pub async fn change_passcode_value(
        &self,
        lock_id: i64,
        passcode_id: i64,
        passcode: &str,
    ) -> Result<()> {
        let change = PasscodeChange {
            passcode: Some(passcode.to_owned()),
            ..Default::default()
        };
        self.change_passcode(lock_id, passcode_id, &change).await
    }

    /// Moves a passcode's validity period through the gateway (`change_passcode_period/4`).
    pub async fn change_passcode_period(
        &self,
        lock_id: i64,
        passcode_id: i64,
        start: impl Into<EpochMillis>,
        end: impl Into<EpochMillis>,
    ) -> Result<()> {
        let change = PasscodeChange {
            start: Some(start.into()),
            end: Some(end.into()),
            ..Default::default()
        };
        self.change_passcode(lock_id, passcode_id, &change).await
    }

    /// Deletes a passcode from the lock through the gateway (`delete_passcode/2`).
    pub async fn delete_passcode(&self, lock_id: i64, passcode_id: i64) -> Result<()> {
        self.delete_passcode_with(lock_id, passcode_id, WriteVia::Gateway)
            .await
    }

    /// The same as [`Self::delete_passcode`] (`delete_passcode_via_gateway/2`).
    pub async fn delete_passcode_via_gateway(&self, lock_id: i64, passcode_id: i64) -> Result<()> {
        self.delete_passcode(lock_id, passcode_id).await
    }

    /// Deletes a passcode; with [`WriteVia::Bluetooth`] the cloud only forgets it.
    pub async fn delete_passcode_with(
        &self,
        lock_id: i64,
        passcode_id: i64,
        via: WriteVia,
    ) -> Result<()> {
        let form = Form::new()
            .put("lockId", lock_id)
            .put("keyboardPwdId", passcode_id)
            .put("deleteType", via as i64);
        let _: Ack = self.call("/v3/keyboardPwd/delete", form).await?;
        Ok(())
    }

    /// Computes an algorithmic passcode; it needs no gateway (works offline on the lock).
    pub async fn random_passcode(&self, req: &RandomPasscodeRequest) -> Result<RandomPasscode> {
        check_name("name", req.name.as_deref())?;
        match req.end {
            Some(end) => check_period(req.start, end)?,
            None if req.kind.needs_end() => {
                return Err(Error::invalid(
                    "end_date",
                    "is required for period and recurring kinds",
                ));
            }
            None => {}
        }
        let form = Form::new()
            .put("lockId", req.lock_id)
            .put("keyboardPwdType", req.kind as i64)
            .opt("keyboardPwdName", req.name.as_deref())
            .put("startDate", req.start.0)
            .opt("endDate", req.end.map(|e| e.0));
        self.call("/v3/keyboardPwd/get", form).await
    }
}
