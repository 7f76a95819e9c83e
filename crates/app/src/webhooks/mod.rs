//! Webhooks: who may be called ([`address`]) and the delivery worker ([`deliver`]).

pub mod address;
pub mod deliver;

pub use deliver::{Lanes, Sender, deliver_due, start_due};
