//! Validated values: passcodes, MD5 passwords, instants.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// An instant as TTLock counts it: milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochMillis(pub i64);

impl EpochMillis {
    pub fn now() -> Self {
        SystemTime::now().into()
    }
}

impl From<i64> for EpochMillis {
    fn from(ms: i64) -> Self {
        EpochMillis(ms)
    }
}

impl From<SystemTime> for EpochMillis {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => EpochMillis(d.as_millis() as i64),
            Err(e) => EpochMillis(-(e.duration().as_millis() as i64)),
        }
    }
}

impl From<EpochMillis> for SystemTime {
    fn from(ms: EpochMillis) -> Self {
        if ms.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(ms.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(ms.0.unsigned_abs())
        }
    }
}

/// A custom passcode: 4 to 9 ASCII digits, leading zeros kept (it travels as a string).
#[derive(Clone, PartialEq, Eq)]
pub struct Passcode(String);

impl Passcode {
    /// Checks TTLock's rule for custom codes; `param` names the argument in the error. The add
    /// page documents 4–9 digits while -3006's text says 6–9 (unconfirmed for 4–5 digits):
    /// the documented rule is applied, and a lock that disagrees answers -3006, typed as
    /// [`crate::ApiErrorKind::InvalidPasscode`].
    pub fn parse(param: &'static str, code: &str) -> Result<Self> {
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(param, "must contain digits only"));
        }
        if !(4..=9).contains(&code.len()) {
            return Err(Error::invalid(param, "must be 4 to 9 digits long"));
        }
        Ok(Passcode(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Passcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passcode(****)")
    }
}

/// The MD5 of an account password as TTLock wants it: 32 lowercase hex characters.
#[derive(Clone)]
pub struct Md5Password(SecretString);

impl Md5Password {
    /// Hashes a plain password.
    pub fn hash(plain: &str) -> Self {
        Md5Password(hex::encode(Md5::digest(plain.as_bytes())).into())
    }

    /// Takes an already hashed password (as a service stores it); upper case is folded.
    pub fn parse(hex: &str) -> Result<Self> {
        if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Md5Password(hex.to_ascii_lowercase().into()))
        } else {
            Err(Error::invalid(
                "password_md5",
                "must be 32 hexadecimal characters",
            ))
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Md5Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Md5Password(****)")
    }
}

/// Rejects a period whose end is not after its start.
pub(crate) fn check_period(start: EpochMillis, end: EpochMillis) -> Result<()> {
    if start < end {
        Ok(())
    } else {
        Err(Error::invalid("end_date", "must be after start_date"))
    }
}

/// What TTLock does past a page-size cap (clamp or -3) is unconfirmed, so the client refuses
/// such a page before sending it rather than rely on either.
pub(crate) fn check_page(page_no: u32, page_size: u32, max: u32) -> Result<()> {
    if page_no < 1 {
        return Err(Error::invalid("page_no", "must be 1 or more"));
    }
    if !(1..=max).contains(&page_size) {
        return Err(Error::invalid(
            "page_size",
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passcode_rule() {
        for ok in ["0000", "012345678", "4821"] {
            assert!(Passcode::parse("passcode", ok).is_ok(), "{ok}");
        }
        for bad in ["123", "1234567890", "12a4", "", "12 45", "１２３４"] {
            let err = Passcode::parse("passcode", bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid passcode"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            format!("{:?}", Passcode::parse("p", "1234").unwrap()),
            "Passcode(****)"
        );
    }

    #[test]
    fn md5_matches_known_digest() {
        assert_eq!(
            Md5Password::hash("password").expose(),
            "5f4dcc3b5aa765d61d8327deb882cf99"
        );
        let upper = Md5Password::parse("5F4DCC3B5AA765D61D8327DEB882CF99").unwrap();
        assert_eq!(upper.expose(), "5f4dcc3b5aa765d61d8327deb882cf99");
        assert!(Md5Password::parse("password").is_err());
        assert!(!format!("{upper:?}").contains("5f4d"));
    }

    #[test]
    fn epoch_millis_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_528_878_944_000);
        assert_eq!(EpochMillis::from(t), EpochMillis(1_528_878_944_000));
        assert_eq!(SystemTime::from(EpochMillis(1_528_878_944_000)), t);
    }
}
