//! An async client for Tuya's cloud OpenAPI, door-lock services.
//!
//! Every request is signed (HMAC-SHA256 over the string-to-sign, [`sign`]); the project token
//! is obtained, renewed before it expires and, on 1010, renewed once and the call repeated — one
//! renewal for any number of concurrent callers, since a refresh token works only once. Online
//! temporary passwords are sent encrypted: a password ticket's key is decrypted with the access
//! secret (AES-256-ECB) and the PIN encrypted with it (AES-128-ECB, [`sign::encrypt_pin`]).
//!
//! | Tuya call | Method |
//! |---|---|
//! | `GET /v1.0/token`, `GET /v1.0/token/{refresh}` | [`TuyaClient::connect`], [`TuyaClient::refresh`] (and on demand) |
//! | `GET /v1.0/iot-01/associated-users/devices`, `GET /v2.0/cloud/thing/device` | [`TuyaClient::devices`] |
//! | `GET /v1.0/devices/{id}` | [`TuyaClient::device`] |
//! | `POST …/door-lock/password-ticket` | [`TuyaClient::password_ticket`] |
//! | `POST /v1.0/…/temp-password`, `POST /v2.0/…/temp-password` | [`TuyaClient::create_temp_password`], [`TuyaClient::create_temp_password_v2`] |
//! | `GET …/temp-passwords`, `GET …/temp-password/{id}` | [`TuyaClient::temp_passwords`], [`TuyaClient::temp_password`] |
//! | `PUT …/temp-passwords/{id}/modify-password`, `…/freeze-password`, `…/unfreeze-password` | [`TuyaClient::modify_temp_password`], [`TuyaClient::freeze_temp_password`], [`TuyaClient::unfreeze_temp_password`] |
//! | `DELETE …/temp-passwords/{id}`, `POST …/temp-passwords/rest-password` | [`TuyaClient::delete_temp_password`], [`TuyaClient::clear_temp_passwords`] |
//! | `POST /v1.1/…/offline-temp-password` | [`TuyaClient::offline_password`] |
//! | `GET …/dynamic-password`, `GET …/remote-unlocks` | [`TuyaClient::dynamic_password`], [`TuyaClient::remote_unlocks`] |
//! | `POST …/password-free/open-door`, `POST /v1.0/smart-lock/…/password-free/door-operate` | [`TuyaClient::unlock_password_free`], [`TuyaClient::door_operate`] |
//! | `GET …/open-logs`, `GET …/alarm-logs` | [`TuyaClient::open_logs`], [`TuyaClient::alarm_logs`] |

mod api;
mod client;
mod error;
pub mod sign;
mod types;

pub use client::{Config, Region, TokenListener, TokenSource, Tokens, TuyaClient};
pub use error::{ApiError, Error, ErrorKind, Result, codes};
pub use secrecy::ExposeSecret;
pub use types::{
    AlarmLog, DataPoint, Device, LOCK_CATEGORIES, LogStatus, OfflineKind, OfflinePassword, OpenLog,
    Page, RemoteUnlock, ScheduleItem, TempPassword, TempPasswordInfo, Ticket, check_pin,
};
