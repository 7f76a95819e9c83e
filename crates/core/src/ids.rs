//! Typed ids: a lock id can never be passed where an access-code id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id; ids grow with time (UUIDv7), so they order by creation.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": concat!("^", $prefix, "_[0-9a-f]{32}$"),
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "_{}"), self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let raw = s.strip_prefix(concat!($prefix, "_")).ok_or(InvalidId)?;
                Uuid::try_parse(raw).map($name).map_err(|_| InvalidId)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The text is not an id of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

typed_id!(
    /// An organisation.
    OrgId, "org"
);
typed_id!(
    /// An API key.
    ApiKeyId, "key"
);
typed_id!(
    /// A vendor account connected to an organisation.
    ConnectionId, "con"
);
typed_id!(
    /// A lock.
    LockId, "lck"
);
typed_id!(
    /// A gateway or bridge.
    GatewayId, "gw"
);
typed_id!(
    /// An access code.
    AccessCodeId, "ac"
);
typed_id!(
    /// An event (ids sort by creation).
    EventId, "evt"
);
typed_id!(
    /// A webhook endpoint.
    WebhookId, "whk"
);
typed_id!(
    /// One attempt to deliver an event to a webhook endpoint.
    DeliveryId, "dlv"
);
typed_id!(
    /// A grant: one person's access to several locks.
    GrantId, "grt"
);
typed_id!(
    /// An action attempt: an unlock, lock or code write asked for through `/seam`.
    ActionAttemptId, "act"
);
typed_id!(
    /// A bulk job.
    JobId, "job"
);
typed_id!(
    /// A place rented out: its locks, zone and times.
    PropertyId, "prp"
);
typed_id!(
    /// A stay at a property.
    ReservationId, "rsv"
);
typed_id!(
    /// A property's calendar feed.
    CalendarId, "cal"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_kind() {
        let id = LockId::new();
        let text = id.to_string();
        assert!(text.starts_with("lck_"));
        assert_eq!(text.parse::<LockId>().unwrap(), id);
        assert!(text.parse::<AccessCodeId>().is_err());
        assert!("lck_nothex".parse::<LockId>().is_err());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<LockId>(&json).unwrap(), id);
        assert!(LockId::new() > id, "ids order by creation");
    }
}
