//! One PIN for many locks (a grant over locks of several vendors): the rules every lock agrees
//! on, a PIN generated within them, and, when no single PIN can exist, the fewest groups of
//! locks that can each share one.

use crate::rules::CodeRules;

/// The rules a PIN must meet to be taken by every lock of `rules`: the longest minimum length,
/// the shortest maximum, and every digit rule any of them has. `None` when no length suits
/// them all (or there are no locks).
pub fn common_rules<'a>(rules: impl IntoIterator<Item = &'a CodeRules>) -> Option<CodeRules> {
    let mut all = rules.into_iter();
    let mut common = all.next()?.clone();
    for r in all {
        common.min_length = common.min_length.max(r.min_length);
        common.max_length = common.max_length.min(r.max_length);
        common.digits_only |= r.digits_only;
        common.no_sequences |= r.no_sequences;
        common.min_distinct_digits = common.min_distinct_digits.max(r.min_distinct_digits);
        for d in r.excluded_digits.chars() {
            if !common.excluded_digits.contains(d) {
                common.excluded_digits.push(d);
            }
        }
        for p in &r.forbidden_prefixes {
            if !common.forbidden_prefixes.contains(p) {
                common.forbidden_prefixes.push(p.clone());
            }
        }
        common.max_codes = match (common.max_codes, r.max_codes) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    // A PIN of n digits has at most n different ones (and at most ten).
    let shortest = common
        .min_length
        .max(common.min_distinct_digits.unwrap_or(0));
    let digits = 10
        - common
            .excluded_digits
            .chars()
            .filter(char::is_ascii_digit)
            .count();
    let distinct_possible = common
        .min_distinct_digits
        .is_none_or(|d| usize::from(d) <= digits);
    (shortest <= common.max_length && distinct_possible).then_some(CodeRules {
        min_length: shortest,
        ..common
    })
}

/// The fewest groups of locks (indexes into `rules`) such that each group has common rules.
/// Digit rules never conflict with each other, so only the lengths decide: each lock allows an
/// interval of lengths, and a group is a set of intervals with a point in common. Taking the
/// interval that ends first and grouping every interval that contains its end is the classic
/// optimal cover, so no grouping has fewer groups.
pub fn fewest_groups(rules: &[CodeRules]) -> Vec<Vec<usize>> {
    let span = |r: &CodeRules| {
        let low = r.min_length.max(r.min_distinct_digits.unwrap_or(0));
        (low, r.max_length)
    };
    let mut order: Vec<usize> = (0..rules.len()).collect();
    order.sort_by_key(|&i| (span(&rules[i]).1, span(&rules[i]).0, i));
    let mut groups: Vec<(u8, Vec<usize>)> = Vec::new();
    for i in order {
        let (low, high) = span(&rules[i]);
        if low > high {
            groups.push((high, vec![i])); // a lock no PIN suits alone stays alone
            continue;
        }
        match groups
            .iter_mut()
            .find(|(len, _)| low <= *len && *len <= high)
        {
            Some((_, members)) => members.push(i),
            None => groups.push((high, vec![i])),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut m)| {
            m.sort_unstable();
            m
        })
        .collect()
}

/// A PIN every lock of `rules` takes, or, when there is none, the fewest groups that can each
/// share one (for the caller to name the locks, or to give each group its own PIN).
pub fn shared_pin(rules: &[CodeRules]) -> Result<String, Vec<Vec<usize>>> {
    match common_rules(rules) {
        Some(common) => Ok(common.generate()),
        None => Err(fewest_groups(rules)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pin_for_ttlock_tedee_and_a_zigbee_tuya_lock() {
        let rules = [CodeRules::ttlock(), CodeRules::tedee(), CodeRules::tuya(6)];
        let common = common_rules(&rules).unwrap();
        assert_eq!((common.min_length, common.max_length), (6, 6));
        assert!(common.no_sequences && common.min_distinct_digits == Some(3));
        assert_eq!(common.max_codes, Some(250));
        for _ in 0..200 {
            let pin = shared_pin(&rules).unwrap();
            for r in &rules {
                assert!(r.check(&pin).is_ok(), "{pin} on {r:?}");
            }
        }
    }

    #[test]
    fn a_wifi_and_a_zigbee_tuya_lock_share_no_pin() {
        let rules = [CodeRules::tuya(7), CodeRules::tuya(6)];
        assert!(common_rules(&rules).is_none());
        assert_eq!(shared_pin(&rules).unwrap_err(), vec![vec![1], vec![0]]);
    }

    #[test]
    fn the_groups_are_the_fewest() {
        // Lengths: 4–9, 5–8, 6, 7, 6, 7, 4–9: two groups (6 and 7) cover all seven.
        let rules = [
            CodeRules::ttlock(),
            CodeRules::tedee(),
            CodeRules::tuya(6),
            CodeRules::tuya(7),
            CodeRules::tuya(6),
            CodeRules::tuya(7),
            CodeRules::ttlock(),
        ];
        let groups = fewest_groups(&rules);
        assert_eq!(groups.len(), 2, "{groups:?}");
        let mut all: Vec<usize> = groups.concat();
        all.sort_unstable();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        for g in &groups {
            let common = common_rules(g.iter().map(|&i| &rules[i])).unwrap();
            let pin = common.generate();
            assert!(g.iter().all(|&i| rules[i].check(&pin).is_ok()));
        }
    }

    #[test]
    fn distinct_digits_lengthen_the_shortest_pin() {
        let mut picky = CodeRules::ttlock();
        picky.min_distinct_digits = Some(7);
        let common = common_rules([&picky, &CodeRules::ttlock()]).unwrap();
        assert_eq!(common.min_length, 7);
        let pin = common.generate();
        assert!(picky.check(&pin).is_ok(), "{pin}");
    }
}
