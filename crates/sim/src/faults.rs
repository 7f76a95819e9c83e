//! Fault injection shared by every fake: error rates, fixed errors and latency per route.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// One fault rule, as posted to `POST /_sim/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The request path this rule applies to (`/v3/keyboardPwd/add`); every route when absent.
    #[serde(default)]
    pub route: Option<String>,
    /// The vendor error code to answer with (its envelope is the vendor's own).
    #[serde(default)]
    pub errcode: Option<i64>,
    /// A bare HTTP status to answer with instead (an outage: 500, 502, 503…).
    #[serde(default)]
    pub http_status: Option<u16>,
    /// The share of matching requests that fail (or, for a rule with only a latency, that are
    /// slowed), 0 to 1 (default 1).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Added delay before answering, in milliseconds: to every matching request of a failing
    /// rule, to `rate` of them for a rule that only slows.
    #[serde(default)]
    pub latency_ms: u64,
    /// How many more times the rule may fire; forever when absent.
    #[serde(default)]
    pub count: Option<u32>,
    /// Request paths this rule leaves alone (with no `route`: every route but these).
    #[serde(default)]
    pub except: Vec<String>,
}

/// What a fault draw decided for one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FaultHit {
    pub latency_ms: u64,
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Errcode(i64),
    HttpStatus(u16),
}

/// The active fault rules of one fake.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Draws the fault for a request to `route`: latencies add up, the first failing rule wins.
    pub fn draw(&mut self, route: &str, rng: &mut Rng) -> FaultHit {
        let mut hit = FaultHit::default();
        for rule in &mut self.rules {
            if rule.route.as_deref().is_some_and(|r| r != route)
                || rule.except.iter().any(|r| r == route)
                || rule.count == Some(0)
            {
                continue;
            }
            let fails = rule.errcode.is_some() || rule.http_status.is_some();
            if !fails {
                // A latency-only rule slows its share of the requests (all without a rate).
                if rng.chance(rule.rate.unwrap_or(1.0)) {
                    hit.latency_ms += rule.latency_ms;
                }
                continue;
            }
            hit.latency_ms += rule.latency_ms;
            if hit.failure.is_some() || !rng.chance(rule.rate.unwrap_or(1.0)) {
                continue;
            }
            if let Some(n) = rule.count.as_mut() {
                *n -= 1;
            }
            hit.failure = match (rule.http_status, rule.errcode) {
                (Some(status), _) => Some(Failure::HttpStatus(status)),
                (None, Some(code)) => Some(Failure::Errcode(code)),
                (None, None) => None,
            };
        }
        self.rules.retain(|r| r.count != Some(0));
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rule_fires_then_disappears() {
        let mut faults = Faults::default();
        faults.add(FaultRule {
            route: Some("/a".into()),
            errcode: Some(-3003),
            count: Some(2),
            ..Default::default()
        });
        let mut rng = Rng::new(1);
        assert_eq!(faults.draw("/b", &mut rng).failure, None);
        assert_eq!(
            faults.draw("/a", &mut rng).failure,
            Some(Failure::Errcode(-3003))
        );
        assert!(faults.draw("/a", &mut rng).failure.is_some());
        assert_eq!(faults.draw("/a", &mut rng).failure, None);
        assert!(faults.rules().is_empty());
    }

    #[test]
    fn latency_only_rule_never_fails() {
        let mut faults = Faults::default();
        faults.add(FaultRule {
            latency_ms: 5,
            ..Default::default()
        });
        let hit = faults.draw("/x", &mut Rng::new(3));
        assert_eq!(hit.latency_ms, 5);
        assert_eq!(hit.failure, None);
    }
}
