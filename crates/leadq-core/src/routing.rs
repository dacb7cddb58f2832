//! Picking the rep who should work a lead.
//!
//! Routing is a chain of fallbacks so that a lead is never dropped while
//! someone could take it: the account's owner first (one voice per account),
//! then the first matching rule that still has a rep free, then anyone free.
//! Every decision comes with a one-sentence explanation, because "why did
//! this lead go to Bob?" is the first question asked about any router.

use crate::scoring::Grade;
use crate::sla::WorkingHours;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use thiserror::Error;

/// How a rule chooses among its eligible reps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The rep who has waited longest since their last assignment: spreads
    /// new leads evenly over time.
    #[default]
    RoundRobin,
    /// The rep with the fewest open leads: evens out workload when reps
    /// close leads at different speeds.
    LeastLoaded,
}

impl Strategy {
    /// The serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastLoaded => "least_loaded",
        }
    }

    /// The name used in explanations.
    pub fn label(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastLoaded => "least-loaded",
        }
    }
}

/// One ordered routing rule. Empty lists match anything; all given conditions must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub name: String,
    #[serde(default)]
    pub countries: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub industries: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub grades: Vec<String>,
    /// Inclusive lower bound on the company's employee count.
    #[serde(default)]
    pub min_employees: Option<f64>,
    /// Inclusive upper bound on the company's employee count.
    #[serde(default)]
    pub max_employees: Option<f64>,
    /// Rep ids this rule may assign to. A rule without reps never routes
    /// anything; [`RoutingRule::validate`] reports it.
    #[serde(default)]
    pub reps: Vec<String>,
    #[serde(default)]
    pub strategy: Strategy,
}

/// A configuration mistake in a routing rule, found before any lead is
/// routed so that it does not silently send every lead to the fallback.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RuleError {
    #[error("a routing rule has no name")]
    NoName,
    #[error("routing rule \"{rule}\" lists no reps")]
    NoReps { rule: String },
    #[error("routing rule \"{rule}\": '{grade}' is not a grade (use A, B, C or D)")]
    BadGrade { rule: String, grade: String },
    #[error("routing rule \"{rule}\": {message}")]
    BadEmployees { rule: String, message: String },
}

impl RoutingRule {
    /// Checks the rule for mistakes [`route`] would otherwise quietly work
    /// around: no name, no reps, unknown grades, an impossible employee range.
    pub fn validate(&self) -> Result<(), RuleError> {
        if self.name.trim().is_empty() {
            return Err(RuleError::NoName);
        }
        let rule = || self.name.clone();
        if self.reps.iter().all(|r| r.trim().is_empty()) {
            return Err(RuleError::NoReps { rule: rule() });
        }
        if let Some(bad) = self.grades.iter().find(|g| Grade::parse(g).is_none()) {
            return Err(RuleError::BadGrade {
                rule: rule(),
                grade: bad.clone(),
            });
        }
        for (what, bound) in [("min", self.min_employees), ("max", self.max_employees)] {
            if let Some(v) = bound {
                if !v.is_finite() || v < 0.0 {
                    return Err(RuleError::BadEmployees {
                        rule: rule(),
                        message: format!("{what}_employees must be a number >= 0, not {v}"),
                    });
                }
            }
        }
        if let (Some(min), Some(max)) = (self.min_employees, self.max_employees) {
            if min > max {
                return Err(RuleError::BadEmployees {
                    rule: rule(),
                    message: format!("min_employees {min} is above max_employees {max}"),
                });
            }
        }
        Ok(())
    }

    /// `Some(reasons)` when every condition holds for `lead`, naming each
    /// condition that was checked (for the explanation); `None` otherwise.
    /// A lead missing a fact that a condition asks about does not match it.
    pub fn matches(&self, lead: &LeadFacts<'_>) -> Option<Vec<String>> {
        let mut reasons = Vec::new();
        let lists: [(&str, &[String], Option<&str>); 5] = [
            ("country", &self.countries, lead.country),
            ("region", &self.regions, lead.region),
            ("industry", &self.industries, lead.industry),
            ("source", &self.sources, lead.source),
            ("grade", &self.grades, lead.grade),
        ];
        for (what, allowed, value) in lists {
            if allowed.is_empty() {
                continue;
            }
            let value = value?.trim();
            if !allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(value)) {
                return None;
            }
            reasons.push(format!("{what} {value}"));
        }
        if let Some(min) = self.min_employees {
            let n = lead.employees.filter(|n| *n >= min)?;
            reasons.push(format!("employees {n} >= {min}"));
        }
        if let Some(max) = self.max_employees {
            let n = lead.employees.filter(|n| *n <= max)?;
            reasons.push(format!("employees {n} <= {max}"));
        }
        Some(reasons)
    }
}

/// What routing knows about a lead (strings compared case-insensitively).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LeadFacts<'a> {
    pub country: Option<&'a str>,
    pub region: Option<&'a str>,
    pub industry: Option<&'a str>,
    pub source: Option<&'a str>,
    pub grade: Option<&'a str>,
    pub employees: Option<f64>,
}

/// A rep as routing sees them at the moment of routing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepState {
    pub id: String,
    pub active: bool,
    /// Most open leads the rep should hold at once.
    pub capacity: u32,
    pub open_leads: u32,
    /// When the rep can pick up a lead; a lead routed outside them would wait
    /// and miss its SLA.
    pub hours: WorkingHours,
    #[serde(default)]
    pub last_assigned_at: Option<Timestamp>,
}

impl RepState {
    /// Why the rep cannot take a lead now, or `None` if they can.
    pub fn ineligibility(&self, now: Timestamp) -> Option<String> {
        let mut why = Vec::new();
        if !self.active {
            why.push("inactive".to_string());
        }
        if self.open_leads >= self.capacity {
            why.push(format!("at capacity {}/{}", self.open_leads, self.capacity));
        }
        if !self.hours.is_working(now) {
            why.push("outside working hours".to_string());
        }
        (!why.is_empty()).then(|| why.join(" and "))
    }

    /// active && open_leads < capacity && hours.is_working(now).
    pub fn is_eligible(&self, now: Timestamp) -> bool {
        self.ineligibility(now).is_none()
    }
}

/// The rep a lead goes to, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub rep_id: String,
    /// The rule that decided: a rule name, `"account owner"`, or `None` for
    /// the catch-all fallback.
    pub rule: Option<String>,
    pub explanation: String,
}

/// No rep could take the lead; the explanation says why each was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
#[error("no rep available: {explanation}")]
pub struct Unrouted {
    pub explanation: String,
}

/// The `rule` of an assignment to the account's owner.
pub const ACCOUNT_OWNER_RULE: &str = "account owner";

/// Order: (1) if `account_owner` is Some and that rep is eligible → that rep
/// (rule "account owner"); (2) the first rule whose conditions match and
/// which has at least one eligible rep among its `reps` → pick by its
/// strategy; (3) if no rule matched or all matched rules' reps were
/// ineligible, fall back to all eligible reps with round-robin (rule None).
///
/// Eligible = active && open_leads < capacity && hours.is_working(now).
/// RoundRobin = eligible rep with the oldest last_assigned_at (None is
/// oldest), ties by id; LeastLoaded = fewest open_leads, then lowest
/// open_leads/capacity, then id. Rep ids are compared exactly; a rep id that
/// appears twice in `reps` is taken from its first occurrence.
pub fn route(
    lead: &LeadFacts<'_>,
    account_owner: Option<&str>,
    rules: &[RoutingRule],
    reps: &[RepState],
    now: Timestamp,
) -> Result<Assignment, Unrouted> {
    let mut notes: Vec<String> = Vec::new();

    if let Some(owner) = account_owner {
        match find_rep(reps, owner) {
            Some(rep) => match rep.ineligibility(now) {
                None => {
                    return Ok(Assignment {
                        rep_id: rep.id.clone(),
                        rule: Some(ACCOUNT_OWNER_RULE.into()),
                        explanation: format!(
                            "assigned to account owner {} (active, {}/{} open leads, within working hours)",
                            rep.id, rep.open_leads, rep.capacity
                        ),
                    });
                }
                Some(why) => notes.push(format!("account owner {owner} skipped: {why}")),
            },
            None => notes.push(format!("account owner {owner} is not a known rep")),
        }
    }

    let mut any_matched = false;
    for rule in rules {
        let Some(reasons) = rule.matches(lead) else {
            continue;
        };
        any_matched = true;
        let why_matched = if reasons.is_empty() {
            "it has no conditions".to_string()
        } else {
            reasons.join(", ")
        };
        let candidates = Candidates::sort(
            rule.reps.iter().map(|id| (id.as_str(), find_rep(reps, id))),
            now,
        );
        if candidates.eligible.is_empty() {
            let skipped = if candidates.skipped.is_empty() {
                "it lists no reps".to_string()
            } else {
                format!("skipped {}", candidates.skipped.join(", "))
            };
            notes.push(format!(
                "rule \"{}\" matched ({why_matched}) but no rep of it could take the lead ({skipped})",
                rule.name
            ));
            continue;
        }
        let (chosen, how) = pick(rule.strategy, &candidates.eligible);
        notes.push(format!(
            "rule \"{}\" matched ({why_matched}); {how}",
            rule.name
        ));
        if !candidates.skipped.is_empty() {
            notes.push(format!("skipped {}", candidates.skipped.join(", ")));
        }
        return Ok(Assignment {
            rep_id: chosen.id.clone(),
            rule: Some(rule.name.clone()),
            explanation: notes.join("; "),
        });
    }

    if rules.is_empty() {
        notes.push("no routing rules are configured".into());
    } else if !any_matched {
        notes.push("no rule matched".into());
    }
    if reps.is_empty() {
        notes.push("no reps are configured".into());
        return Err(Unrouted {
            explanation: notes.join("; "),
        });
    }
    let candidates = Candidates::sort(reps.iter().map(|r| (r.id.as_str(), Some(r))), now);
    if candidates.eligible.is_empty() {
        notes.push(format!(
            "no rep is eligible (skipped {})",
            candidates.skipped.join(", ")
        ));
        return Err(Unrouted {
            explanation: notes.join("; "),
        });
    }
    let (chosen, how) = pick(Strategy::RoundRobin, &candidates.eligible);
    notes.push(format!("fell back to all reps: {how}"));
    if !candidates.skipped.is_empty() {
        notes.push(format!("skipped {}", candidates.skipped.join(", ")));
    }
    Ok(Assignment {
        rep_id: chosen.id.clone(),
        rule: None,
        explanation: notes.join("; "),
    })
}

fn find_rep<'r>(reps: &'r [RepState], id: &str) -> Option<&'r RepState> {
    reps.iter().find(|r| r.id == id)
}

/// A candidate list split into reps who can take the lead and the reasons
/// the others cannot, each rep once, in the order given.
struct Candidates<'r> {
    eligible: Vec<&'r RepState>,
    skipped: Vec<String>,
}

impl<'r> Candidates<'r> {
    fn sort<'i>(
        ids: impl Iterator<Item = (&'i str, Option<&'r RepState>)>,
        now: Timestamp,
    ) -> Candidates<'r> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Candidates {
            eligible: Vec::new(),
            skipped: Vec::new(),
        };
        for (id, rep) in ids {
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            match rep {
                None => out.skipped.push(format!("{id}: not a known rep")),
                Some(rep) => match rep.ineligibility(now) {
                    None => out.eligible.push(rep),
                    Some(why) => out.skipped.push(format!("{id}: {why}")),
                },
            }
        }
        out
    }
}

/// Chooses among `eligible` (non-empty) and describes the choice.
fn pick<'r>(strategy: Strategy, eligible: &[&'r RepState]) -> (&'r RepState, String) {
    let chosen = match strategy {
        Strategy::RoundRobin => eligible.iter().min_by(|a, b| {
            a.last_assigned_at
                .cmp(&b.last_assigned_at)
                .then_with(|| a.id.cmp(&b.id))
        }),
        Strategy::LeastLoaded => eligible.iter().min_by(|a, b| least_loaded_order(a, b)),
    };
    let chosen = *chosen.expect("pick is only called with eligible reps");
    let detail = match strategy {
        Strategy::RoundRobin => match chosen.last_assigned_at {
            None => "never assigned".to_string(),
            Some(t) => format!("last assigned {}", format_instant(t)),
        },
        Strategy::LeastLoaded => {
            format!("{}/{} open leads", chosen.open_leads, chosen.capacity)
        }
    };
    let n = eligible.len();
    let how = format!(
        "{} among {n} eligible rep{} chose {} ({detail})",
        strategy.label(),
        if n == 1 { "" } else { "s" },
        chosen.id
    );
    (chosen, how)
}

/// Fewest open leads, then the lowest share of capacity in use (compared
/// without floating point), then id.
fn least_loaded_order(a: &RepState, b: &RepState) -> Ordering {
    a.open_leads
        .cmp(&b.open_leads)
        .then_with(|| {
            let left = u64::from(a.open_leads) * u64::from(b.capacity);
            let right = u64::from(b.open_leads) * u64::from(a.capacity);
            left.cmp(&right)
        })
        .then_with(|| a.id.cmp(&b.id))
}

fn format_instant(t: Timestamp) -> String {
    jiff::Timestamp::from_second(t.0).map_or_else(|_| format!("{}s", t.0), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(id: &str) -> RepState {
        RepState {
            id: id.into(),
            active: true,
            capacity: 10,
            open_leads: 0,
            hours: WorkingHours::always(),
            last_assigned_at: None,
        }
    }

    #[test]
    fn a_rule_without_conditions_matches_an_empty_lead() {
        let rule = RoutingRule {
            name: "all".into(),
            countries: vec![],
            regions: vec![],
            industries: vec![],
            sources: vec![],
            grades: vec![],
            min_employees: None,
            max_employees: None,
            reps: vec!["a".into()],
            strategy: Strategy::RoundRobin,
        };
        assert_eq!(rule.matches(&LeadFacts::default()), Some(vec![]));
    }

    #[test]
    fn the_capacity_share_breaks_ties_in_open_leads() {
        let mut small = rep("a");
        small.open_leads = 5;
        small.capacity = 10;
        let mut big = rep("b");
        big.open_leads = 5;
        big.capacity = 50;
        assert_eq!(least_loaded_order(&big, &small), Ordering::Less);
        assert_eq!(least_loaded_order(&small, &big), Ordering::Greater);
    }

    #[test]
    fn all_reasons_for_skipping_a_rep_are_given() {
        let mut r = rep("a");
        r.active = false;
        r.capacity = 3;
        r.open_leads = 3;
        r.hours = WorkingHours::parse("Mon 09:00-10:00", "UTC").unwrap();
        // 1970-01-01 was a Thursday.
        assert_eq!(
            r.ineligibility(Timestamp(0)).as_deref(),
            Some("inactive and at capacity 3/3 and outside working hours")
        );
    }

    #[test]
    fn instants_in_explanations_are_rfc3339_utc() {
        assert_eq!(
            format_instant(Timestamp(1_793_527_200)),
            "2026-11-01T10:00:00Z"
        );
    }
}
