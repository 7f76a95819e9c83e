//! A lock's PIN rules, checked before any vendor call, and codes generated to fit them.

use serde::{Deserialize, Serialize};

/// The rules a code must follow on a lock, from its provider and model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRules {
    pub min_length: u8,
    pub max_length: u8,
    pub digits_only: bool,
    /// At least this many different digits (Tedee: 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_distinct_digits: Option<u8>,
    /// No strictly ascending or descending run across the whole code (Tedee).
    #[serde(default)]
    pub no_sequences: bool,
    /// Codes the lock holds at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_codes: Option<u32>,
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
        let len = 6u8.clamp(self.min_length, self.max_length).max(1);
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

/// Each digit one more (or one less) than the one before, across the whole code.
fn is_run(code: &str) -> bool {
    let d: Vec<i16> = code
        .bytes()
        .map(|b| i16::from(b) - i16::from(b'0'))
        .collect();
    d.len() > 1
        && (d.windows(2).all(|w| w[1] - w[0] == 1) || d.windows(2).all(|w| w[0] - w[1] == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tedee_like() -> CodeRules {
        CodeRules {
            min_length: 5,
            max_length: 8,
            digits_only: true,
            min_distinct_digits: Some(3),
            no_sequences: true,
            max_codes: None,
        }
    }

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
    fn distinct_digits_and_runs() {
        let r = tedee_like();
        assert_eq!(r.check("11222").unwrap_err().rule, "min_distinct_digits");
        assert!(r.check("11223").is_ok(), "three different digits");
        assert_eq!(r.check("12345").unwrap_err().rule, "no_sequences");
        assert_eq!(r.check("98765").unwrap_err().rule, "no_sequences");
        assert!(r.check("13579").is_ok());
        assert!(
            r.check("67890").is_ok(),
            "0 after 9 does not continue the run"
        );
        for _ in 0..50 {
            assert!(r.check(&r.generate()).is_ok());
        }
    }
}
