//! An async client for the Tedee cloud API.
//!
//! | Tedee call | Method |
//! |---|---|
//! | `GET /my/lock`, `GET /my/lock/{id}` | [`TedeeClient::locks`], [`TedeeClient::get_lock`] |
//! | `GET /my/lock/sync[?id=…]`, `GET /my/lock/{id}/sync` | [`TedeeClient::sync`], [`TedeeClient::sync_lock`] |
//! | `GET /my/bridge` | [`TedeeClient::bridges`] |
//! | `POST /my/lock/{id}/operation/unlock?mode=`, `…/lock`, `…/pull` | [`TedeeClient::unlock`], [`TedeeClient::lock`], [`TedeeClient::pull`] |
//! | `GET /my/device/operation/{id}` | [`TedeeClient::operation`], [`TedeeClient::wait_operation`] |
//! | `GET /my/lock/{id}/pin[?listVersion=]`, `GET …/pin/{pinId}` | [`TedeeClient::pins`], [`TedeeClient::pin`] |
//! | `POST …/pin`, `PUT …/pin/{pinId}`, `DELETE …/pin/{pinId}` | [`TedeeClient::create_pin`], [`TedeeClient::update_pin`], [`TedeeClient::delete_pin`] |
//! | `GET /my/deviceactivity` | [`TedeeClient::activity`] |
//!
//! Authorisation by Personal Access Key (`Authorization: PersonalKey …`) or OAuth bearer token
//! (renewed before it expires and once when Tedee answers 401, one renewal for any number of
//! concurrent callers). The API version is configurable (`v37` by default; `deviceState` and
//! the older `lockProperties` are both read). Every answer's envelope
//! `{result, success, errorMessages, statusCode}` is decoded and error statuses typed
//! ([`ErrorKind`]). PINs are checked against Tedee's five rules before they are sent
//! ([`check_pin`]).
//!
//! Tedee allows 700 requests per hour per user. The client keeps under that by itself (a
//! sliding window, [`Config::rate_limit`], or a [`RateGate`] shared with others) and waits out a `Retry-After` when Tedee answers 429
//! anyway (up to [`Config::max_retry_wait`], after which it answers [`Error::RateLimited`]).

mod api;
mod client;
mod error;
mod pacer;
mod pin;

pub use api::{
    Activity, Bridge, DeviceOperation, DeviceState, Lock, LockState, LockSync, NewPin,
    OperationStarted, Pin, PinList, PinSummary, UnlockMode,
};
pub use client::{
    Auth, Config, DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_TOKEN_URL, OAuthTokens,
    TedeeClient, TokenListener,
};
pub use error::{ApiError, Error, ErrorKind, Result};
pub use pacer::RateGate;
pub use pin::{PinRule, WeekDays, Weekday, check_pin};
