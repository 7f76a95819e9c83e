//! A connection's credentials: named fields, some of them secret, all encrypted at rest.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// One credential a provider takes.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// Shown masked in responses.
    pub secret: bool,
    /// May be left out.
    pub optional: bool,
    /// The name the adapter stores it under when it keeps a derived form (TTLock keeps the
    /// password's MD5 as `password_md5`): a stored connection has the field when it has either.
    pub stored_as: Option<&'static str>,
    /// The value picks the vendor's host (Tuya's `region`): a connection that gives it is not
    /// pointed at the configured default host.
    pub picks_host: bool,
}

impl Field {
    /// A secret the caller gives; shown masked.
    pub const fn secret(name: &'static str) -> Field {
        Field {
            name,
            secret: true,
            optional: false,
            stored_as: None,
            picks_host: false,
        }
    }

    /// A plain value the caller gives; shown as it is.
    pub const fn plain(name: &'static str) -> Field {
        Field {
            name,
            secret: false,
            optional: false,
            stored_as: None,
            picks_host: false,
        }
    }

    /// A plain value the caller may leave out.
    pub const fn optional(name: &'static str) -> Field {
        Field {
            name,
            secret: false,
            optional: true,
            stored_as: None,
            picks_host: false,
        }
    }

    /// The same field, kept by the adapter under `name` in a derived form.
    pub const fn stored_as(self, name: &'static str) -> Field {
        Field {
            stored_as: Some(name),
            ..self
        }
    }

    /// The same field, whose value picks the vendor's host.
    pub const fn picks_host(self) -> Field {
        Field {
            picks_host: true,
            ..self
        }
    }
}

/// Credential values by name. `Debug` never shows a value.
#[derive(Clone, Default)]
pub struct Credentials(BTreeMap<String, SecretString>);

impl Credentials {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name`, or `provider`'s `InvalidInput` error naming the field.
    pub fn required(
        &self,
        provider: crate::model::Provider,
        name: &'static str,
    ) -> crate::provider::ProviderResult<&str> {
        self.get(name).ok_or_else(|| {
            crate::provider::ProviderError::new(
                provider,
                crate::provider::ErrorKind::InvalidInput,
                format!("{name} is required"),
            )
            .with_field(name)
        })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(|s| s.expose_secret())
            .filter(|s| !s.is_empty())
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0
            .insert(name.to_owned(), SecretString::from(value.into()));
    }

    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    /// Writes every non-empty field of `other` over this one (the credentials-update rule:
    /// what is supplied replaces, what is left out stays).
    pub fn merge(&mut self, other: &Credentials) {
        for (k, v) in &other.0 {
            if !v.expose_secret().is_empty() {
                self.0.insert(k.clone(), v.clone());
            }
        }
    }

    /// The plain JSON object, for encryption at rest only.
    pub fn to_json(&self) -> String {
        let map: Map<String, Value> = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.expose_secret().to_owned())))
            .collect();
        Value::Object(map).to_string()
    }

    pub fn from_json(text: &str) -> Option<Self> {
        let map: BTreeMap<String, String> = serde_json::from_str(text).ok()?;
        Some(Credentials(
            map.into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        ))
    }

    /// What responses show: plain fields as they are, secrets as `••••` and at most their last
    /// four characters (none for values shorter than 12), tokens not at all.
    /// `fields` are the vendor's ([`crate::Vendor::credential_fields`]).
    pub fn masked(&self, fields: &[Field]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for field in fields {
            let (stored, hashed) = match field.name {
                "password" => (self.get("password_md5"), true),
                name => (self.get(name), false),
            };
            if let Some(v) = stored {
                // A hash's last characters would only help someone guess the password.
                let shown = match (field.secret, hashed) {
                    (true, true) => "••••".to_owned(),
                    (true, false) => mask(v),
                    (false, _) => v.to_owned(),
                };
                out.insert(field.name.to_owned(), shown);
            }
        }
        out
    }
}

pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        "••••".to_owned()
    } else {
        format!(
            "••••{}",
            chars[chars.len() - 4..].iter().collect::<String>()
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        write!(f, "Credentials({names:?})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_and_merge() {
        let mut c = Credentials::new();
        c.set("client_id", "0123456789abcdef");
        c.set("client_secret", "s3cr3t-value-ending-WXYZ");
        c.set("password_md5", "5f4dcc3b5aa765d61d8327deb882cf99");
        c.set("access_token", "tok");
        let fields = [
            Field::plain("client_id"),
            Field::secret("client_secret"),
            Field::secret("password"),
        ];
        let m = c.masked(&fields);
        assert_eq!(m["client_id"], "0123456789abcdef");
        assert_eq!(m["client_secret"], "••••WXYZ");
        assert_eq!(m["password"], "••••", "nothing of the hash is shown");
        assert!(!m.contains_key("access_token"));
        assert_eq!(mask("short"), "••••");

        let mut update = Credentials::new();
        update.set("client_secret", "");
        update.set("username", "new@example.com");
        c.merge(&update);
        assert_eq!(
            c.get("client_secret"),
            Some("s3cr3t-value-ending-WXYZ"),
            "empty keeps"
        );
        assert_eq!(c.get("username"), Some("new@example.com"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
