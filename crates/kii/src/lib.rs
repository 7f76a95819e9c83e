//! An async client for Kii Cloud's thing API: the app-admin token (client credentials),
//! thing registration and login, reading and listing things, and changing a thing's password.
//!
//! | Kii call | Method |
//! |---|---|
//! | `POST /api/apps/{app}/oauth2/token` (client credentials) | [`KiiClient::admin_token`] (and on demand) |
//! | `POST /api/apps/{app}/oauth2/token` (`VENDOR_THING_ID:` user name) | [`KiiClient::thing_login`] |
//! | `POST /api/apps/{app}/things` | [`KiiClient::register_thing`], [`KiiClient::register_thing_and_login`] |
//! | `GET /api/apps/{app}/things/{id \| VENDOR_THING_ID:id}` | [`KiiClient::thing`], [`KiiClient::thing_as`] |
//! | `POST /api/apps/{app}/things/query` | [`KiiClient::things`], [`KiiClient::all_things`] |
//! | `PUT /api/apps/{app}/things/{…}/ownership/password` (or `…/password`) | [`KiiClient::change_thing_password`] |
//!
//! Every value Kii has a rule for is checked before a request leaves ([`check_thing_password`],
//! [`check_id`]); Kii's error bodies are typed ([`KiiError`], [`ErrorKind`]). Secrets (app
//! key, client secret, tokens, passwords) never appear in `Debug` output or errors.

mod client;
mod error;
mod rules;
mod things;

pub use client::{AdminToken, Config, KiiClient, PasswordPath, Site, TokenListener};
pub use error::{Error, ErrorKind, KiiError, Result};
pub use rules::{MAX_LEN, check_id, check_thing_password};
pub use things::{NewThing, Thing, ThingPage, ThingRef, ThingSession};
