//! An async client for the SwitchBot Cloud API v1.1 (`https://api.switch-bot.com`).
//!
//! | SwitchBot call | Method |
//! |---|---|
//! | `GET /v1.1/devices` | [`SwitchBotClient::devices`] (keypads with their `keyList`) |
//! | `GET /v1.1/devices/{id}/status` | [`SwitchBotClient::lock_status`] |
//! | `POST /v1.1/devices/{id}/commands` | [`SwitchBotClient::command`], [`SwitchBotClient::lock`], [`SwitchBotClient::unlock`], [`SwitchBotClient::create_key`], [`SwitchBotClient::delete_key`] |
//! | `POST /v1.1/webhook/setupWebhook`, `queryWebhook`, `updateWebhook`, `deleteWebhook` | [`SwitchBotClient::setup_webhook`], [`SwitchBotClient::webhook_urls`], [`SwitchBotClient::webhook_details`], [`SwitchBotClient::update_webhook`], [`SwitchBotClient::delete_webhook`] |
//!
//! Every request is signed: the token in `Authorization`, the time in milliseconds in `t`, a
//! UUID in `nonce`, and `sign` = Base64 of HMAC-SHA256 over token, time and nonce with the
//! secret ([`sign`], sent as computed; [`Config::upper_case_sign`] for the upper-cased form
//! SwitchBot's prose describes). Answers are `{statusCode, body, message}` inside HTTP 200;
//! every code SwitchBot documents is typed ([`ErrorKind`], "daily limit" included); HTTP 401
//! (a refused token or signature) is [`Error::Unauthorized`]. A keypad's passwords come
//! encrypted with the secret (AES-128-CBC) and are decrypted by [`SwitchBotClient::password`].
//!
//! Every request may first pass a [`RequestGate`] ([`Config::request_gate`]): the account's
//! 10,000 requests a day shared by all its clients. A "daily limit" answer holds the gate until
//! 00:00 UTC, a burst refusal for ten seconds.
//!
//! Commands are only accepted by SwitchBot's answer: a key created shows in the keypad's
//! `keyList` when the keypad has it, a key deleted is gone only when the list no longer holds
//! it (SwitchBot has answered success and kept one), and a lock's state is read back.

mod api;
mod client;
mod error;

pub use api::{
    Accepted, Bolt, Device, Event, EventContext, Key, LockStatus, NewKey, WebhookConfig,
};
pub use client::{
    Config, DEFAULT_BASE_URL, RequestGate, SwitchBotClient, check_key, decrypt_password, sign,
    until_utc_midnight,
};
pub use error::{ApiError, Error, ErrorKind, Result};
