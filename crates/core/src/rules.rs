//! A lock's PIN rules, checked before any vendor call, and codes generated to fit them.

use serde::{Deserialize, Serialize};

/// The rules a code must follow on a lock, from its provider and model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CodeRules {
    pub min_length: u8,
    pub max_length: u8,
    pub digits_only: bool,
    /// At least this many different digits (Tedee: 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_distinct_digits: Option<u8>,
    /// Not an ascending or descending sequence (Tedee): digits that strictly increase or
    /// strictly decrease all the way (`12345`, `13579`, `97531`), or a run of consecutive
    /// digits that wraps past 9 (`67890`, `21098`).
    #[serde(default)]
    pub no_sequences: bool,
    /// Codes the lock holds at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_codes: Option<u32>,
    /// Digits the code must not contain (Nuki's keypad: `0`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub excluded_digits: String,
    /// Beginnings the code must not have (Nuki's keypad: `12`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbidden_prefixes: Vec<String>,
}

/// The rule a code breaks, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleViolation {
    pub rule: &'static str,
    pub message: String,
}

impl CodeRules {
    /// TTLock custom passcodes: 4 to 9 digits, 250 per lock.
    pub fn ttlock() -> Self {
        CodeRules {
            min_length: 4,
            max_length: 9,
            digits_only: true,
            min_distinct_digits: None,
            no_sequences: false,
            max_codes: Some(250),
            excluded_digits: String::new(),
            forbidden_prefixes: Vec::new(),
        }
    }

    /// Tuya online temporary passwords: exactly `length` digits (7 on Wi-Fi locks, 6 on Zigbee
    /// and Bluetooth locks). Tuya publishes no limit per lock.
    pub fn tuya(length: u8) -> Self {
        CodeRules {
            min_length: length,
            max_length: length,
            digits_only: true,
            min_distinct_digits: None,
            no_sequences: false,
            max_codes: None,
            excluded_digits: String::new(),
            forbidden_prefixes: Vec::new(),
        }
    }

    /// Tedee keypad PINs: 5 to 8 digits, at least 3 different, no sequence. Tedee publishes
    /// no PIN limit per lock.
    pub fn tedee() -> Self {
        CodeRules {
            min_length: 5,
            max_length: 8,
            digits_only: true,
            min_distinct_digits: Some(3),
            no_sequences: true,
            max_codes: None,
            excluded_digits: String::new(),
            forbidden_prefixes: Vec::new(),
        }
    }

    pub fn check(&self, code: &str) -> Result<(), RuleViolation> {
        let v = |rule: &'static str, message: String| Err(RuleViolation { rule, message });
        if code.trim().is_empty() {
            return v("not_empty", "must not be empty or whitespace".into());
        }
        if self.digits_only && !code.bytes().all(|b| b.is_ascii_digit()) {
            return v("digits_only", "must contain digits only".into());
        }
        let len = code.chars().count();
        if len < usize::from(self.min_length) || len > usize::from(self.max_length) {
            let range = if self.min_length == self.max_length {
                format!("exactly {} digits", self.min_length)
            } else {
                format!("{} to {} digits", self.min_length, self.max_length)
            };
            return v("length", format!("must be {range} long"));
        }
        if let Some(d) = code.chars().find(|c| self.excluded_digits.contains(*c)) {
            return v("excluded_digits", format!("must not contain the digit {d}"));
        }
        if let Some(p) = self
            .forbidden_prefixes
            .iter()
            .find(|p| code.starts_with(p.as_str()))
        {
            return v("forbidden_prefix", format!("must not start with {p}"));
        }
        if let Some(min) = self.min_distinct_digits {
            let mut seen: Vec<char> = code.chars().collect();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() < usize::from(min) {
                return v(
                    "min_distinct_digits",
                    format!("must use at least {min} different digits"),
                );
            }
        }
        if self.no_sequences && is_run(code) {
            return v(
                "no_sequences",
                "must not be a run of ascending or descending digits".into(),
            );
        }
        Ok(())
    }

    /// A random code that satisfies the rules (six digits when the lock allows it).
    pub fn generate(&self) -> String {
        self.generate_of(6)
    }

    /// A random code that satisfies the rules, `len` digits long where the lock allows it
    /// (else the allowed length nearest to it).
    pub fn generate_of(&self, len: u8) -> String {
        let len = len.clamp(self.min_length, self.max_length).max(1);
        loop {
            let mut bits = uuid::Uuid::new_v4().as_u128();
            let code: String = (0..len)
                .map(|_| {
                    let d = (bits % 10) as u8;
                    bits /= 10;
                    char::from(b'0' + d)
                })
                .collect();
            if self.check(&code).is_ok() {
                return code;
            }
        }
    }
}

/// Tedee's "strictly ascending or descending sequence", read defensively (what Tedee refuses
/// beyond its examples 12345 and 54321 is not documented): every step up, every step down, or
/// a run of consecutive digits that wraps past 9.
fn is_run(code: &str) -> bool {
    let steps: Vec<i16> = code
        .as_bytes()
        .windows(2)
        .map(|w| i16::from(w[1]) - i16::from(w[0]))
        .collect();
    !steps.is_empty()
        && (steps.iter().all(|&s| s > 0)
            || steps.iter().all(|&s| s < 0)
            || steps.iter().all(|&s| s == 1 || s == -9)
            || steps.iter().all(|&s| s == -1 || s == 9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttlock_rules() {
        let r = CodeRules::ttlock();
        assert!(r.check("0123").is_ok());
        assert_eq!(r.check("123").unwrap_err().rule, "length");
        assert_eq!(r.check("12a45").unwrap_err().rule, "digits_only");
        assert_eq!(r.check("  ").unwrap_err().rule, "not_empty");
        for _ in 0..50 {
            let code = r.generate();
            assert_eq!(code.len(), 6);
            assert!(r.check(&code).is_ok());
        }
    }

    #[test]
    fn excluded_digits_and_prefixes() {
        let r = CodeRules {
            min_length: 6,
            max_length: 6,
            excluded_digits: "0".into(),
            forbidden_prefixes: vec!["12".into()],
            ..CodeRules::ttlock()
        };
        assert_eq!(r.check("384305").unwrap_err().rule, "excluded_digits");
        let e = r.check("123456").unwrap_err();
        assert_eq!(
            (e.rule, e.message.as_str()),
            ("forbidden_prefix", "must not start with 12")
        );
        assert!(r.check("213456").is_ok());
        for _ in 0..50 {
            assert!(r.check(&r.generate()).is_ok());
        }
    }

    #[test]
    fn distinct_digits_and_runs() {
        let r = CodeRules::tedee();
        assert_eq!(r.check("11222").unwrap_err().rule, "min_distinct_digits");
        assert!(
            r.check("11223").is_ok(),
            "three different digits; repeats break a run"
        );
        for run in [
            "12345", "98765", "13579", "97531", "67890", "21098", "2345678",
        ] {
            assert_eq!(r.check(run).unwrap_err().rule, "no_sequences", "{run}");
        }
        assert!(r.check("918273").is_ok() && r.check("48213").is_ok());
        assert_eq!(r.check("123456789").unwrap_err().rule, "length");
        for _ in 0..50 {
            assert!(r.check(&r.generate()).is_ok());
        }
    }
}
