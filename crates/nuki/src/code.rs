//! Nuki's rules for a keypad code, and the weekday mask of a time restriction.

/// A rule of Nuki's keypad that a code breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeRule {
    /// Exactly six digits.
    SixDigits,
    /// Digits 1 to 9 only.
    NoZero,
    /// Not beginning with `12`.
    NotStartingWith12,
}

impl std::fmt::Display for CodeRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CodeRule::SixDigits => "must be exactly 6 digits",
            CodeRule::NoZero => "must not contain the digit 0",
            CodeRule::NotStartingWith12 => "must not start with 12",
        })
    }
}

/// Checks `code` against the keypad's rules (six digits, `1`–`9` only, not starting with `12`);
/// answers it as the integer Nuki takes. Uniqueness on the lock is Nuki's to check.
pub fn check_code(code: &str) -> Result<u32, CodeRule> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeRule::SixDigits);
    }
    if code.contains('0') {
        return Err(CodeRule::NoZero);
    }
    if code.starts_with("12") {
        return Err(CodeRule::NotStartingWith12);
    }
    code.parse().map_err(|_| CodeRule::SixDigits)
}

/// Days of the week as Nuki's `allowedWeekDays` mask: Monday 64, Tuesday 32 … Sunday 1 (the
/// reverse of Tedee's order). `weekday` is 1 for Monday to 7 for Sunday.
pub fn weekday_bit(weekday: u8) -> u8 {
    match weekday {
        1..=7 => 1 << (7 - weekday),
        _ => 0,
    }
}

/// The weekdays (1 Monday … 7 Sunday) of a mask; an empty mask (0) is every day.
pub fn weekdays_of(mask: u8) -> Vec<u8> {
    if mask & 0x7f == 0 {
        return (1..=7).collect();
    }
    (1..=7).filter(|d| mask & weekday_bit(*d) != 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keypad_rules() {
        assert_eq!(check_code("384365"), Ok(384_365));
        assert_eq!(check_code("38436"), Err(CodeRule::SixDigits));
        assert_eq!(check_code("3843656"), Err(CodeRule::SixDigits));
        assert_eq!(check_code("38a365"), Err(CodeRule::SixDigits));
        assert_eq!(check_code("384305"), Err(CodeRule::NoZero));
        assert_eq!(check_code("123456"), Err(CodeRule::NotStartingWith12));
        assert_eq!(check_code("213456"), Ok(213_456));
    }

    #[test]
    fn the_weekday_mask_runs_from_monday_down() {
        assert_eq!(weekday_bit(1), 64);
        assert_eq!(weekday_bit(7), 1);
        let weekdays: u8 = (1..=5).map(weekday_bit).sum();
        assert_eq!(weekdays, 124);
        assert_eq!(weekdays_of(124), vec![1, 2, 3, 4, 5]);
        assert_eq!(weekdays_of(0), vec![1, 2, 3, 4, 5, 6, 7]);
    }
}
