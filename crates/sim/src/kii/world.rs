//! The Kii fake's ground truth: applications, things, tokens, and the rules Kii applies.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::faults::Faults;
use crate::rng::Rng;
use crate::wall_ms;

/// `expires_in` of a token that does not expire (Kii's own value, i32::MAX seconds).
pub const NEVER_EXPIRES_S: i64 = 2_147_483_647;

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub app_id: String,
    #[serde(skip)]
    pub app_key: String,
    pub client_id: String,
    #[serde(skip)]
    pub client_secret: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Thing {
    pub app_id: String,
    pub thing_id: String,
    pub vendor_thing_id: String,
    /// Kept only to compare logins with; never shown by the control API.
    #[serde(skip)]
    pub password: String,
    /// Predefined optional fields (`_thingType`…) and custom fields, as registered.
    pub fields: Map<String, Value>,
    pub created_ms: i64,
    pub disabled: bool,
    /// How many times the password was changed (the ground truth tests look at).
    pub password_changes: u32,
    pub failed_logins: u32,
}

impl Thing {
    /// The thing as Kii's retrieval answer shows it (no password).
    pub fn wire(&self) -> Value {
        let mut out = self.fields.clone();
        out.insert("_thingID".into(), self.thing_id.clone().into());
        out.insert("_vendorThingID".into(), self.vendor_thing_id.clone().into());
        out.insert("_created".into(), self.created_ms.into());
        out.insert("_disabled".into(), self.disabled.into());
        Value::Object(out)
    }
}

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    Admin,
    Thing(String),
    Anonymous,
}

impl Principal {
    /// The id Kii reports as `authenticatedPrincipalID`.
    pub fn id(&self) -> &str {
        match self {
            Principal::Admin => "admin",
            Principal::Thing(id) => id,
            Principal::Anonymous => "anonymous",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Token {
    pub app_id: String,
    pub principal: Principal,
    pub expires_at_ms: Option<i64>,
}

/// Settings of the fake, changed through `POST /_sim/config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KiiConfig {
    /// Failed thing logins before the login name is locked; 0 never locks.
    pub max_login_attempts: u32,
    /// Whether a password change revokes the thing's tokens. Kii documents this for users,
    /// not for things, so the fake keeps them valid by default (the lenient reading).
    pub revoke_tokens_on_password_change: bool,
    /// Which thing-password routes exist: `both` (default), `ownership` (only
    /// `…/ownership/password`, as Kii's reference documents it) or `direct` (only
    /// `…/password`, as Kii's SDKs send it). Which ones the real cloud serves is unconfirmed.
    pub password_paths: String,
}

impl Default for KiiConfig {
    fn default() -> Self {
        KiiConfig {
            max_login_attempts: 0,
            revoke_tokens_on_password_change: false,
            password_paths: "both".into(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct World {
    pub seed: u64,
    #[serde(skip)]
    pub rng: Rng,
    pub apps: BTreeMap<String, App>,
    /// By thing id.
    pub things: BTreeMap<String, Thing>,
    #[serde(skip)]
    pub tokens: HashMap<String, Token>,
    pub faults: Faults,
    pub clock_offset_ms: i64,
    pub config: KiiConfig,
    pub calls: BTreeMap<String, u64>,
}

/// Kii's rule for ids: `^[a-zA-Z0-9\-_.]{1,max}$`.
pub fn valid_id(id: &str, max: usize) -> bool {
    !id.is_empty()
        && id.len() <= max
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Kii's rule for passwords, `^\p{Print}{1,200}$` read as Java reads it: `\p{Print}` is the
/// US-ASCII printable class (U+0020–U+007E) unless Unicode classes are switched on, which Kii
/// does not document. So tabs, newlines, DEL and every non-ASCII character are refused.
pub fn valid_password(p: &str) -> bool {
    (1..=200).contains(&p.len()) && p.chars().all(|c| (' '..='~').contains(&c))
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            seed,
            rng: Rng::new(seed ^ 0x4b11),
            apps: BTreeMap::new(),
            things: BTreeMap::new(),
            tokens: HashMap::new(),
            faults: Faults::default(),
            clock_offset_ms: 0,
            config: KiiConfig::default(),
            calls: BTreeMap::new(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.clock_offset_ms
    }

    pub fn count_call(&mut self, key: &str) {
        *self.calls.entry(key.to_owned()).or_default() += 1;
    }

    /// A new application; ids and secrets are drawn from the seed unless given.
    pub fn add_app(&mut self, app_id: Option<String>) -> App {
        let app = App {
            app_id: app_id.unwrap_or_else(|| self.rng.hex(8)),
            app_key: self.rng.hex(32),
            client_id: self.rng.hex(32),
            client_secret: self.rng.hex(64),
        };
        self.apps.insert(app.app_id.clone(), app.clone());
        app
    }

    pub fn thing_by_vendor_id(&self, app_id: &str, vendor_thing_id: &str) -> Option<&Thing> {
        self.things
            .values()
            .find(|t| t.app_id == app_id && t.vendor_thing_id == vendor_thing_id)
    }

    /// Registers a thing after the caller checked its fields; `None` if the vendor thing id
    /// is taken in this app.
    pub fn add_thing(
        &mut self,
        app_id: &str,
        vendor_thing_id: &str,
        password: &str,
        fields: Map<String, Value>,
    ) -> Option<Thing> {
        if self.thing_by_vendor_id(app_id, vendor_thing_id).is_some() {
            return None;
        }
        let thing_id = format!(
            "th.{}-{}-{}-{}-{}",
            self.rng.hex(12),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(4),
            self.rng.hex(8)
        );
        let thing = Thing {
            app_id: app_id.to_owned(),
            thing_id: thing_id.clone(),
            vendor_thing_id: vendor_thing_id.to_owned(),
            password: password.to_owned(),
            fields,
            created_ms: self.now_ms(),
            disabled: false,
            password_changes: 0,
            failed_logins: 0,
        };
        self.things.insert(thing_id, thing.clone());
        Some(thing)
    }

    /// Issues a token; `expires_at_ms` absent means it never expires.
    pub fn issue_token(
        &mut self,
        app_id: &str,
        principal: Principal,
        expires_at_ms: Option<i64>,
    ) -> String {
        let token = self.rng.hex(43);
        self.tokens.insert(
            token.clone(),
            Token {
                app_id: app_id.to_owned(),
                principal,
                expires_at_ms,
            },
        );
        token
    }

    /// The live token behind a bearer string.
    pub fn token(&self, bearer: &str) -> Option<&Token> {
        let now = self.now_ms();
        self.tokens
            .get(bearer)
            .filter(|t| t.expires_at_ms.is_none_or(|at| at > now))
    }

    /// Sets a thing's password (the same as before is accepted).
    pub fn set_password(&mut self, thing_id: &str, password: &str) -> bool {
        let Some(thing) = self.things.get_mut(thing_id) else {
            return false;
        };
        thing.password = password.to_owned();
        thing.password_changes += 1;
        thing.failed_logins = 0;
        if self.config.revoke_tokens_on_password_change {
            let id = thing_id.to_owned();
            self.tokens
                .retain(|_, t| t.principal != Principal::Thing(id.clone()));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rule() {
        assert!(valid_password("a") && valid_password(&"~".repeat(200)));
        assert!(!valid_password("") && !valid_password(&"a".repeat(201)));
        assert!(!valid_password("a\tb") && !valid_password("\u{7f}") && !valid_password("é"));
    }
}
