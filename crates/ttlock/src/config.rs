use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// TTLock's regional API hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Region {
    /// `https://euapi.ttlock.com`, the default.
    #[default]
    Eu,
    /// `https://usapi.ttlock.com`.
    Us,
    /// `https://api.ttlock.com`.
    Global,
    /// `https://api.ttlock.com.cn`.
    China,
}

impl Region {
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Eu => "https://euapi.ttlock.com",
            Region::Us => "https://usapi.ttlock.com",
            Region::Global => "https://api.ttlock.com",
            Region::China => "https://api.ttlock.com.cn",
        }
    }
}

/// The application's credentials and the client's settings.
#[derive(Clone)]
pub struct Config {
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) base_url: String,
    pub(crate) refresh_margin: Duration,
    pub(crate) timeout: Duration,
}

impl Config {
    /// The application's id and secret from the TTLock developer portal; EU host by default.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Config {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            base_url: Region::Eu.base_url().to_owned(),
            refresh_margin: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(60),
        }
    }

    pub fn region(self, region: Region) -> Self {
        self.base_url(region.base_url())
    }

    /// Any base URL (a regional host, a proxy, a simulator); a trailing slash is dropped.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.base_url = url.trim_end_matches('/').to_owned();
        self
    }

    /// How long before its expiry a token is refreshed (default one day of its 90).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Per-request timeout (default 60 s: gateway commands take seconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn get_base_url(&self) -> &str {
        &self.base_url
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("client_id", &self.client_id)
            .field("client_secret", &"****")
            .field("base_url", &self.base_url)
            .field("refresh_margin", &self.refresh_margin)
            .field("timeout", &self.timeout)
            .finish()
    }
}
