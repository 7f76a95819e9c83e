//! PIN values and access windows: the five rules of Tedee's create-PIN, checked before a
//! request leaves, and the `weekDays` bitmask.

use serde::{Deserialize, Serialize};

/// The rule a PIN breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRule {
    /// Null, empty or whitespace.
    Empty,
    /// Not 5 to 8 characters long.
    Length,
    /// A character other than 0–9.
    DigitsOnly,
    /// Fewer than 3 different digits.
    DistinctDigits,
    /// An ascending or descending sequence.
    Sequence,
}

impl PinRule {
    pub fn message(self) -> &'static str {
        match self {
            PinRule::Empty => "must not be empty or whitespace",
            PinRule::Length => "must be 5 to 8 digits long",
            PinRule::DigitsOnly => "may contain only the digits 0-9",
            PinRule::DistinctDigits => "must contain at least 3 different digits",
            PinRule::Sequence => {
                "must not be an ascending or descending sequence (such as 12345, 13579, 54321 or 67890)"
            }
        }
    }
}

impl std::fmt::Display for PinRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Checks a PIN against Tedee's five rules, in the order Tedee lists them.
///
/// Tedee's wording for rule 5 is "cannot be a strictly ascending or descending sequence (e.g.
/// 12345 or 54321)"; which codes beyond unit-step runs the cloud refuses is not documented.
/// This check takes the defensive reading, so that no PIN it lets through comes back as a 400:
/// a PIN is refused when its digits strictly increase (`13579`, `12489`) or strictly decrease
/// (`97531`) all the way, or when it is a run of consecutive digits that wraps around
/// (`67890`, `89012`, `21098`). Repeats break a sequence: `11223` passes.
pub fn check_pin(pin: &str) -> Result<(), PinRule> {
    if pin.trim().is_empty() {
        return Err(PinRule::Empty);
    }
    if !(5..=8).contains(&pin.chars().count()) {
        return Err(PinRule::Length);
    }
    if !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinRule::DigitsOnly);
    }
    let mut distinct = [false; 10];
    for b in pin.bytes() {
        distinct[usize::from(b - b'0')] = true;
    }
    if distinct.iter().filter(|&&d| d).count() < 3 {
        return Err(PinRule::DistinctDigits);
    }
    if is_sequence(pin.as_bytes()) {
        return Err(PinRule::Sequence);
    }
    Ok(())
}

fn is_sequence(digits: &[u8]) -> bool {
    let steps: Vec<i8> = digits.windows(2).map(|w| w[1] as i8 - w[0] as i8).collect();
    let rising = steps.iter().all(|&s| s > 0);
    let falling = steps.iter().all(|&s| s < 0);
    let wrap_up = steps.iter().all(|&s| s == 1 || s == -9);
    let wrap_down = steps.iter().all(|&s| s == -1 || s == 9);
    rising || falling || wrap_up || wrap_down
}

/// One day of Tedee's `weekDays` bitmask (Monday = 1 … Sunday = 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of weekdays, as Tedee's `weekDays` number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WeekDays(pub u8);

impl WeekDays {
    pub fn from_days(days: impl IntoIterator<Item = Weekday>) -> Self {
        WeekDays(days.into_iter().fold(0, |bits, d| bits | d.bit()))
    }

    /// The days, Monday first. Bits above Sunday are ignored.
    pub fn days(self) -> Vec<Weekday> {
        Weekday::ALL
            .into_iter()
            .filter(|d| self.0 & d.bit() != 0)
            .collect()
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & day.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules written out directly, as the oracle of the property test.
    fn oracle(pin: &str) -> Result<(), PinRule> {
        if pin.chars().all(char::is_whitespace) {
            return Err(PinRule::Empty);
        }
        let n = pin.chars().count();
        if !(5..=8).contains(&n) {
            return Err(PinRule::Length);
        }
        let d: Vec<u32> = match pin
            .chars()
            .map(|c| c.to_digit(10).filter(|_| c.is_ascii()))
            .collect()
        {
            Some(d) => d,
            None => return Err(PinRule::DigitsOnly),
        };
        let mut u = d.clone();
        u.sort();
        u.dedup();
        if u.len() < 3 {
            return Err(PinRule::DistinctDigits);
        }
        let up = (1..d.len()).all(|i| d[i] > d[i - 1]);
        let down = (1..d.len()).all(|i| d[i] < d[i - 1]);
        let wrap_up = (1..d.len()).all(|i| d[i] == (d[i - 1] + 1) % 10);
        let wrap_down = (1..d.len()).all(|i| d[i] == (d[i - 1] + 9) % 10);
        if up || down || wrap_up || wrap_down {
            return Err(PinRule::Sequence);
        }
        Ok(())
    }

    #[test]
    fn the_seed_rules_and_the_chosen_edges() {
        for (pin, expected) in [
            ("", Err(PinRule::Empty)),
            ("     ", Err(PinRule::Empty)),
            ("1234", Err(PinRule::Length)),
            ("123456789", Err(PinRule::Length)),
            ("12a45", Err(PinRule::DigitsOnly)),
            ("１２３４５", Err(PinRule::DigitsOnly)),
            ("11122", Err(PinRule::DistinctDigits)),
            ("121212", Err(PinRule::DistinctDigits)),
            ("12345", Err(PinRule::Sequence)),
            ("54321", Err(PinRule::Sequence)),
            ("13579", Err(PinRule::Sequence)),
            ("97531", Err(PinRule::Sequence)),
            ("67890", Err(PinRule::Sequence)),
            ("89012", Err(PinRule::Sequence)),
            ("21098", Err(PinRule::Sequence)),
            ("11223", Ok(())),
            ("918273", Ok(())),
            ("48213", Ok(())),
            ("00112", Ok(())),
            ("87654322", Ok(())),
        ] {
            assert_eq!(check_pin(pin), expected, "{pin:?}");
        }
    }

    #[test]
    fn property_check_pin_agrees_with_the_rules_as_written() {
        // A seeded generator over short strings drawn from digits, a letter, a space and a
        // non-ASCII digit, lengths 0..=10: a million cases cover every rule and their mixes.
        let alphabet: Vec<char> = "0123456789 a٣".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut seen = [0usize; 6];
        for _ in 0..1_000_000 {
            let len = (next() % 11) as usize;
            let digits_only = next() % 4 != 0;
            let pin: String = (0..len)
                .map(|_| {
                    let n = if digits_only {
                        10
                    } else {
                        alphabet.len() as u64
                    };
                    alphabet[(next() % n) as usize]
                })
                .collect();
            let got = check_pin(&pin);
            assert_eq!(got, oracle(&pin), "{pin:?}");
            seen[got.err().map_or(5, |r| r as usize)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 0), "every outcome drawn: {seen:?}");
    }

    #[test]
    fn exhaustive_five_digit_pins() {
        // Every 5-digit PIN: a sequence exactly when the oracle says so.
        let refused = (0..100_000)
            .map(|n| format!("{n:05}"))
            .filter(|p| check_pin(p) == Err(PinRule::Sequence))
            .count();
        // Strictly rising: C(10,5) = 252; strictly falling: 252; unit runs that wrap past 9
        // (and so are neither): 4 upwards and 4 downwards. All have 5 distinct digits.
        let wraps = [
            "67890", "78901", "89012", "90123", "09876", "10987", "21098", "32109",
        ];
        assert!(wraps.iter().all(|p| check_pin(p) == Err(PinRule::Sequence)));
        assert_eq!(refused, 252 + 252 + wraps.len());
    }

    #[test]
    fn weekdays_round_trip() {
        assert_eq!(Weekday::Monday.bit(), 1);
        assert_eq!(Weekday::Sunday.bit(), 64);
        assert_eq!(
            WeekDays(48).days(),
            vec![Weekday::Friday, Weekday::Saturday]
        );
        assert_eq!(WeekDays(31).days().len(), 5);
        for bits in 0..=127u8 {
            assert_eq!(WeekDays::from_days(WeekDays(bits).days()), WeekDays(bits));
        }
        assert_eq!(WeekDays::from_days(Weekday::ALL), WeekDays(127));
    }
}
