//! An async client for the TTLock Open Platform cloud API.
//!
//! It keeps the account's tokens valid on its own (renewed before expiry, once for any number
//! of concurrent callers; a refused refresh token makes it sign in again with the stored MD5
//! password), checks every parameter before a request leaves, and turns TTLock's
//! `errcode` answers — which arrive with HTTP 200 — into typed errors that keep the code and
//! message. It depends on nothing of lockbridge.
//!
//! | TTlockClient 2.1.0 | here |
//! |---|---|
//! | `configure/3`, `authenticate/2`, `start/5`, `start_with_env/0` | [`TtlockClient::configure`], [`TtlockClient::authenticate`], [`TtlockClient::start`], [`TtlockClient::start_with_env`] |
//! | `get_valid_token/0`, `refresh_token/0`, `reset/0`, `status/0`, `ready?/0`, `get_user_id/0` | [`TtlockClient::valid_token`], [`TtlockClient::refresh_token`], [`TtlockClient::reset`], [`TtlockClient::status`], [`TtlockClient::is_ready`], [`TtlockClient::user_id`] |
//! | `get_locks/4`, `get_all_locks/2`, `get_lock/1` | [`TtlockClient::locks`], [`TtlockClient::all_locks`] (and [`TtlockClient::locks_stream`]), [`TtlockClient::lock_detail`] |
//! | `get_gateways/3`, `get_gateway_locks/1` | [`TtlockClient::gateways`], [`TtlockClient::gateway_locks`] |
//! | `get_passcodes/5`, `get_lock_passcodes/2`, `search_passcodes/2` | [`TtlockClient::passcodes`], [`TtlockClient::all_passcodes`], [`TtlockClient::search_passcodes`] |
//! | `add_passcode/7`, `add_permanent_passcode/3`, `add_temporary_passcode/5` | [`TtlockClient::add_passcode`], [`TtlockClient::add_permanent_passcode`], [`TtlockClient::add_temporary_passcode`] |
//! | `change_passcode/6`, `change_passcode_name/3`, `change_passcode_value/3`, `change_passcode_period/4` | [`TtlockClient::change_passcode`] and the three single-field forms |
//! | `delete_passcode/2`, `delete_passcode_via_gateway/2` | [`TtlockClient::delete_passcode`], [`TtlockClient::delete_passcode_via_gateway`] |
//!
//! Beyond it: [`TtlockClient::unlock`], [`TtlockClient::lock`], [`TtlockClient::open_state`],
//! [`TtlockClient::battery`], [`TtlockClient::unlock_records`], [`TtlockClient::random_passcode`]
//! (`/v3/keyboardPwd/get`), [`TtlockClient::lock_gateways`], token persistence
//! ([`TtlockClient::on_tokens`], [`TtlockClient::restore`]).
//!
//! Passcodes travel as strings so that leading zeros survive.

mod api;
mod auth;
mod client;
mod config;
mod de;
mod error;
mod types;

pub use api::Page;
pub use api::gateways::{Gateway, GatewayLock, LockGateway, OrderBy};
pub use api::locks::{Features, Lock, LockDetail, LockQuery, OpenState};
pub use api::passcodes::{
    NewPasscode, PasscodeChange, PasscodeInfo, PasscodeQuery, RandomKind, RandomPasscode,
    RandomPasscodeRequest, Validity, WriteVia,
};
pub use api::records::{RecordQuery, UnlockRecord};
pub use auth::{Status, TokenListener, TokenSource, Tokens};
pub use client::TtlockClient;
pub use config::{Config, Region};
pub use error::{ApiError, ApiErrorKind, Error, Result};
pub use secrecy::{ExposeSecret, SecretString};
pub use types::{EpochMillis, Md5Password, Passcode};
