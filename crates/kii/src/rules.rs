//! The rules Kii applies to thing identifiers and passwords, checked before a request leaves.

use crate::error::{Error, Result};

/// Longest thing password and vendor thing id Kii takes.
pub const MAX_LEN: usize = 200;

/// Checks a thing password against Kii's rule `^\p{Print}{1,200}$`.
///
/// Kii's server is Java, where `\p{Print}` without `UNICODE_CHARACTER_CLASS` is the POSIX class
/// of the US-ASCII printable characters, U+0020 (space) to U+007E (`~`). So a tab, a newline,
/// DEL (U+007F) and every non-ASCII character — `é` included — are refused, and the length is
/// counted in those (single-byte) characters. Reading it more widely would let through
/// passwords the cloud refuses with 400 after a round trip.
pub fn check_thing_password(field: &'static str, password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(invalid(
            field,
            "must not be empty (1 to 200 printable ASCII characters)",
        ));
    }
    if let Some((i, c)) = password.chars().enumerate().find(|(_, c)| !is_print(*c)) {
        return Err(invalid(
            field,
            format!(
                "may hold only printable ASCII characters (space to ~, `^\\p{{Print}}{{1,200}}$`); character {} is U+{:04X}",
                i + 1,
                c as u32
            ),
        ));
    }
    if password.len() > MAX_LEN {
        return Err(invalid(
            field,
            format!(
                "must be at most {MAX_LEN} characters (it has {})",
                password.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a vendor thing id (or a thing id) against `^[a-zA-Z0-9\-_.]{1,200}$`. Ids that pass
/// need no escaping in a URL path.
pub fn check_id(field: &'static str, id: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > MAX_LEN || !id.chars().all(ok_char) {
        return Err(invalid(
            field,
            "must be 1 to 200 characters of A-Z, a-z, 0-9, '-', '_' and '.'",
        ));
    }
    Ok(())
}

fn is_print(c: char) -> bool {
    (' '..='~').contains(&c)
}

fn invalid(field: &'static str, rule: impl Into<String>) -> Error {
    Error::InvalidInput {
        field,
        rule: rule.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> bool {
        check_thing_password("newPassword", p).is_ok()
    }

    #[test]
    fn password_rule_at_its_edges() {
        assert!(ok("x"));
        assert!(ok(&"a".repeat(200)));
        assert!(ok(" ~!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}"));
        assert!(!ok(""));
        assert!(!ok(&"a".repeat(201)));
        assert!(!ok("tab\there"));
        assert!(!ok("new\nline"));
        assert!(!ok("del\u{7f}"));
        assert!(
            !ok("caf\u{e9}"),
            "non-ASCII letters are not \\p{{Print}} in Java"
        );
        assert!(!ok("\u{a0}"), "no-break space is not ASCII");
        // Every single byte: exactly 0x20..=0x7E pass.
        for b in 0u8..=127 {
            assert_eq!(
                ok(&char::from(b).to_string()),
                (0x20..=0x7e).contains(&b),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn the_error_names_the_rule_and_the_character() {
        let e = check_thing_password("newPassword", "ab\tc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "newPassword may hold only printable ASCII characters (space to ~, `^\\p{Print}{1,200}$`); character 3 is U+0009"
        );
        let e = check_thing_password("newPassword", &"a".repeat(201)).unwrap_err();
        assert!(e.to_string().ends_with("(it has 201)"), "{e}");
    }

    #[test]
    fn ids() {
        assert!(check_id("vendorThingID", "lock-01_a.b").is_ok());
        assert!(check_id("vendorThingID", "a/b").is_err());
        assert!(check_id("vendorThingID", "").is_err());
        assert!(check_id("vendorThingID", "VENDOR_THING_ID:x").is_err());
    }
}
