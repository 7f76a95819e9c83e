//! A vendor's name: open, declared by its adapter and registered, never a closed list here.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A vendor cloud, by the name lockbridge gives it (`ttlock`: on the wire, in URLs and in the
/// store) and the vendor's own (`TTLock`). Vendors are not a closed list here: each adapter
/// names its own, and a name parses only once [`Provider::register`]ed (the vendor adapters
/// register theirs when built), so adding a vendor changes nothing in this crate.
#[derive(Clone, Copy)]
pub struct Provider(&'static VendorNames);

/// What a vendor is called: by lockbridge (`ttlock`, lowercase ASCII) and by people (`TTLock`).
#[derive(Debug)]
pub struct VendorNames {
    pub id: &'static str,
    pub label: &'static str,
}

/// The registered vendors, in registration order.
static KNOWN: std::sync::RwLock<Vec<Provider>> = std::sync::RwLock::new(Vec::new());

impl Provider {
    /// The vendor with these names (`Provider::named(&VendorNames { id: "ttlock", label:
    /// "TTLock" })`).
    pub const fn named(names: &'static VendorNames) -> Provider {
        Provider(names)
    }

    /// Makes `self` a name that parses (idempotent).
    pub fn register(self) -> Provider {
        let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
        if !known.contains(&self) {
            known.push(self);
        }
        self
    }

    /// Every registered vendor, in registration order.
    pub fn known() -> Vec<Provider> {
        KNOWN.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The name on the wire, in URLs and in the store.
    pub fn as_str(self) -> &'static str {
        self.0.id
    }

    /// The vendor's own name, for people.
    pub fn label(self) -> &'static str {
        self.0.label
    }
}

impl PartialEq for Provider {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Provider {}

impl std::hash::Hash for Provider {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl PartialOrd for Provider {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Provider {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.id.cmp(other.0.id)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.id)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.id)
    }
}

impl FromStr for Provider {
    type Err = String;
    /// Read on every stored row that names a vendor: looked up under the read lock, no copy.
    fn from_str(s: &str) -> Result<Self, String> {
        let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
        known.iter().copied().find(|p| p.0.id == s).ok_or_else(|| {
            let names: Vec<&str> = known.iter().map(|p| p.0.id).collect();
            format!("unknown provider {s:?}: use {}", names.join(", "))
        })
    }
}

impl Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.id)
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Provider {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Provider".into()
    }

    /// The registered vendors' names.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = Provider::known().iter().map(|p| p.0.id).collect();
        if names.is_empty() {
            schemars::json_schema!({"type": "string", "description": "A vendor cloud."})
        } else {
            schemars::json_schema!({"type": "string", "enum": names, "description": "A vendor cloud."})
        }
    }
}
