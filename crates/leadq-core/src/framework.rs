//! Qualification frameworks (BANT, MEDDIC, CHAMP, SPIN, GPCTBA/C&I, ANUM)
//! shipped as data: criteria in the order a rep asks about them, the
//! questions, the answer types, and which answers qualify or disqualify.

use crate::value::{FieldType, Value, ValueRef};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum FrameworkError {
    #[error("framework definition {origin}: {source}")]
    Parse {
        origin: String,
        source: toml::de::Error,
    },
    #[error("framework {framework}: {message}")]
    Invalid { framework: String, message: String },
    #[error("unknown framework '{0}' (known: {1})")]
    Unknown(String, String),
}

/// What kind of answer a criterion takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerType {
    /// One of `options`.
    Choice,
    /// `yes` or `no` (also true/false, y/n, 1/0 on input).
    YesNo,
    /// A number, satisfied when `>= min`.
    Number,
    /// Free text, satisfied when not empty.
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub key: String,
    pub name: String,
    #[serde(default = "yes")]
    pub required: bool,
    pub answer: AnswerType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub satisfied_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disqualified_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default)]
    pub questions: Vec<String>,
    #[serde(default)]
    pub help: String,
}

fn yes() -> bool {
    true
}

/// A framework definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// When set, the lead qualifies once this many criteria are satisfied;
    /// otherwise every required criterion must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_satisfied: Option<u32>,
    pub criteria: Vec<Criterion>,
}

/// The overall verdict of a framework on one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameworkStatus {
    Qualified,
    NotYet,
    Disqualified,
}

impl FrameworkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameworkStatus::Qualified => "qualified",
            FrameworkStatus::NotYet => "not_yet",
            FrameworkStatus::Disqualified => "disqualified",
        }
    }
}

impl fmt::Display for FrameworkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one criterion stands for one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionState {
    Unknown,
    Satisfied,
    Unsatisfied,
    Disqualifying,
}

/// The result of evaluating a framework on one lead's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub status: FrameworkStatus,
    pub satisfied: u32,
    /// Criteria with no answer yet.
    pub unknown_count: u32,
    /// One state per criterion, in asking order.
    pub states: Vec<CriterionState>,
}

impl Evaluation {
    /// Keys of the criteria of `framework` still without an answer, in
    /// asking order.
    pub fn unknown<'f>(&self, framework: &'f Framework) -> Vec<&'f str> {
        framework
            .criteria
            .iter()
            .zip(&self.states)
            .filter(|(_, s)| **s == CriterionState::Unknown)
            .map(|(c, _)| c.key.as_str())
            .collect()
    }
}

const BUILT_IN: &[(&str, &str)] = &[
    ("bant.toml", include_str!("../frameworks/bant.toml")),
    ("meddic.toml", include_str!("../frameworks/meddic.toml")),
    ("champ.toml", include_str!("../frameworks/champ.toml")),
    ("spin.toml", include_str!("../frameworks/spin.toml")),
    (
        "gpctba_ci.toml",
        include_str!("../frameworks/gpctba_ci.toml"),
    ),
    ("anum.toml", include_str!("../frameworks/anum.toml")),
];

/// The frameworks that ship with leadq, in a stable order. Parsed once per
/// process: the write path asks for them with every lead.
pub fn built_in() -> Vec<Framework> {
    static PARSED: std::sync::LazyLock<Vec<Framework>> = std::sync::LazyLock::new(|| {
        BUILT_IN
            .iter()
            .map(|(origin, text)| {
                Framework::from_toml(text, origin)
                    .unwrap_or_else(|e| panic!("shipped framework is invalid: {e}"))
            })
            .collect()
    });
    PARSED.clone()
}

/// Finds a framework by key, case-insensitively, among `extra` then the
/// built-in ones. `GPCTBA` and `GPCTBA/C&I` name the same framework.
pub fn find(key: &str, extra: &[Framework]) -> Result<Framework, FrameworkError> {
    let want = normalise_key(key);
    let all: Vec<Framework> = extra.iter().cloned().chain(built_in()).collect();
    all.iter()
        .find(|f| normalise_key(&f.key) == want || f.column_prefix() == want)
        .cloned()
        .ok_or_else(|| {
            FrameworkError::Unknown(
                key.to_string(),
                all.iter()
                    .map(|f| f.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}

fn normalise_key(k: &str) -> String {
    k.trim().to_ascii_lowercase()
}

impl Framework {
    pub fn from_toml(text: &str, origin: &str) -> Result<Framework, FrameworkError> {
        let f: Framework = toml::from_str(text).map_err(|source| FrameworkError::Parse {
            origin: origin.to_string(),
            source,
        })?;
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> Result<(), FrameworkError> {
        let invalid = |message: String| FrameworkError::Invalid {
            framework: self.key.clone(),
            message,
        };
        if self.criteria.is_empty() {
            return Err(invalid("has no criteria".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.criteria {
            if !seen.insert(&c.key) {
                return Err(invalid(format!("criterion '{}' is defined twice", c.key)));
            }
            if c.key.is_empty()
                || !c
                    .key
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
            {
                return Err(invalid(format!(
                    "criterion key '{}' must be snake_case",
                    c.key
                )));
            }
            match c.answer {
                AnswerType::Choice => {
                    if c.options.is_empty() {
                        return Err(invalid(format!(
                            "choice criterion '{}' has no options",
                            c.key
                        )));
                    }
                    for s in c.satisfied_by.iter().chain(&c.disqualified_by) {
                        if !c.options.contains(s) {
                            return Err(invalid(format!(
                                "criterion '{}': '{s}' is not one of its options",
                                c.key
                            )));
                        }
                    }
                }
                AnswerType::YesNo => {
                    for s in c.satisfied_by.iter().chain(&c.disqualified_by) {
                        if s != "yes" && s != "no" {
                            return Err(invalid(format!(
                                "yes/no criterion '{}': '{s}' must be yes or no",
                                c.key
                            )));
                        }
                    }
                }
                AnswerType::Number | AnswerType::Text => {}
            }
        }
        if let Some(n) = self.min_satisfied {
            if n as usize > self.criteria.len() || n == 0 {
                return Err(invalid(format!(
                    "min_satisfied = {n} but there are {} criteria",
                    self.criteria.len()
                )));
            }
        }
        Ok(())
    }

    /// The prefix of input columns carrying this framework's answers:
    /// `bant` for BANT (`bant.budget`), `gpctba_ci` for GPCTBA/C&I.
    pub fn column_prefix(&self) -> String {
        self.key
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
            .replace("__", "_")
            .trim_matches('_')
            .to_string()
    }

    /// The value type rules see for a criterion's answer.
    pub fn answer_field_type(c: &Criterion) -> FieldType {
        match c.answer {
            AnswerType::Number => FieldType::Number,
            _ => FieldType::String,
        }
    }

    /// Parses a raw answer for criterion `c`. Empty input is no answer.
    pub fn parse_answer(c: &Criterion, raw: &str) -> Result<Value, String> {
        let folded = raw.trim().to_lowercase();
        if folded.is_empty() {
            return Ok(Value::Null);
        }
        match c.answer {
            AnswerType::Choice => {
                let key: String = folded
                    .chars()
                    .map(|ch| if ch == ' ' || ch == '-' { '_' } else { ch })
                    .collect();
                if c.options.contains(&key) {
                    Ok(Value::str(&key))
                } else {
                    Err(format!(
                        "'{}' is not one of {}",
                        raw.trim(),
                        c.options.join(", ")
                    ))
                }
            }
            AnswerType::YesNo => match folded.as_str() {
                "yes" | "y" | "true" | "1" => Ok(Value::str("yes")),
                "no" | "n" | "false" | "0" => Ok(Value::str("no")),
                _ => Err(format!("'{}' is not yes or no", raw.trim())),
            },
            AnswerType::Number => folded
                .replace([',', '_', '$', '€', '£'], "")
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(Value::Num)
                .ok_or_else(|| format!("'{}' is not a number", raw.trim())),
            AnswerType::Text => Ok(Value::str(raw.trim())),
        }
    }

    fn state_of(c: &Criterion, answer: ValueRef<'_>) -> CriterionState {
        match (c.answer, answer) {
            (_, ValueRef::Null) => CriterionState::Unknown,
            (AnswerType::Number, ValueRef::Num(n)) => match c.min {
                Some(min) if n < min => CriterionState::Unsatisfied,
                _ => CriterionState::Satisfied,
            },
            (AnswerType::Text, ValueRef::Str(s)) => {
                if s.trim().is_empty() {
                    CriterionState::Unknown
                } else {
                    CriterionState::Satisfied
                }
            }
            (AnswerType::Choice | AnswerType::YesNo, ValueRef::Str(s)) => {
                if c.disqualified_by.iter().any(|d| d == s) {
                    CriterionState::Disqualifying
                } else if c.satisfied_by.is_empty() || c.satisfied_by.iter().any(|d| d == s) {
                    CriterionState::Satisfied
                } else {
                    CriterionState::Unsatisfied
                }
            }
            _ => CriterionState::Unsatisfied,
        }
    }

    /// Evaluates answers given in criterion order (`Null` = not answered).
    pub fn evaluate(&self, answers: &[Value]) -> Evaluation {
        let states: Vec<CriterionState> = self
            .criteria
            .iter()
            .enumerate()
            .map(|(i, c)| Self::state_of(c, answers.get(i).map_or(ValueRef::Null, Value::as_ref)))
            .collect();
        let satisfied = states
            .iter()
            .filter(|s| **s == CriterionState::Satisfied)
            .count() as u32;
        let status = if states.contains(&CriterionState::Disqualifying) {
            FrameworkStatus::Disqualified
        } else {
            let qualified = match self.min_satisfied {
                Some(n) => satisfied >= n,
                None => self
                    .criteria
                    .iter()
                    .zip(&states)
                    .all(|(c, s)| !c.required || *s == CriterionState::Satisfied),
            };
            if qualified {
                FrameworkStatus::Qualified
            } else {
                FrameworkStatus::NotYet
            }
        };
        let unknown_count = states
            .iter()
            .filter(|s| **s == CriterionState::Unknown)
            .count() as u32;
        Evaluation {
            status,
            satisfied,
            unknown_count,
            states,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(f: &Framework, given: &[(&str, &str)]) -> Vec<Value> {
        f.criteria
            .iter()
            .map(|c| match given.iter().find(|(k, _)| *k == c.key) {
                Some((_, raw)) => Framework::parse_answer(c, raw).unwrap(),
                None => Value::Null,
            })
            .collect()
    }

    #[test]
    fn every_shipped_framework_loads_and_has_questions() {
        let all = built_in();
        let keys: Vec<&str> = all.iter().map(|f| f.key.as_str()).collect();
        for k in ["BANT", "MEDDIC", "CHAMP", "SPIN", "GPCTBA/C&I", "ANUM"] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        for f in &all {
            for c in &f.criteria {
                assert!(
                    !c.questions.is_empty(),
                    "{} {} has no questions",
                    f.key,
                    c.key
                );
            }
        }
    }

    #[test]
    fn spin_asks_its_questions_in_order() {
        let spin = find("spin", &[]).unwrap();
        let order: Vec<&str> = spin.criteria.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            order,
            ["situation", "problem", "implication", "need_payoff"]
        );
    }

    #[test]
    fn every_framework_qualifies_when_all_criteria_are_satisfied() {
        for f in built_in() {
            let full: Vec<Value> = f
                .criteria
                .iter()
                .map(|c| match c.answer {
                    AnswerType::Choice | AnswerType::YesNo => Value::str(
                        c.satisfied_by
                            .first()
                            .map(String::as_str)
                            .unwrap_or_else(|| c.options.first().map_or("yes", String::as_str)),
                    ),
                    AnswerType::Number => Value::Num(c.min.unwrap_or(0.0) + 1.0),
                    AnswerType::Text => Value::str("documented"),
                })
                .collect();
            let e = f.evaluate(&full);
            assert_eq!(e.status, FrameworkStatus::Qualified, "{}", f.key);
            assert_eq!(e.unknown_count, 0);
            let none = f.evaluate(&[]);
            assert_eq!(none.status, FrameworkStatus::NotYet, "{}", f.key);
            assert_eq!(none.unknown(&f).len(), f.criteria.len());
        }
    }

    #[test]
    fn every_framework_with_a_disqualifying_answer_disqualifies() {
        for f in built_in() {
            if let Some(c) = f.criteria.iter().find(|c| !c.disqualified_by.is_empty()) {
                let e = f.evaluate(&answers(
                    &f,
                    &[(c.key.as_str(), c.disqualified_by[0].as_str())],
                ));
                assert_eq!(e.status, FrameworkStatus::Disqualified, "{}", f.key);
            }
        }
    }

    #[test]
    fn bant_reports_the_criteria_still_unknown() {
        let bant = find("BANT", &[]).unwrap();
        let e = bant.evaluate(&answers(
            &bant,
            &[("budget", "confirmed"), ("authority", "decision maker")],
        ));
        assert_eq!(e.status, FrameworkStatus::NotYet);
        assert_eq!(e.unknown(&bant), vec!["need", "timeline"]);
        assert_eq!(e.satisfied, 2);
    }

    #[test]
    fn a_bad_answer_is_reported_with_the_allowed_options() {
        let bant = find("bant", &[]).unwrap();
        let err = Framework::parse_answer(&bant.criteria[0], "lots").unwrap_err();
        assert!(err.contains("is not one of"), "{err}");
    }

    #[test]
    fn a_custom_framework_is_checked_when_loaded() {
        let bad = r#"
key = "X"
name = "X"
[[criteria]]
key = "a"
name = "A"
answer = "choice"
options = ["p"]
satisfied_by = ["q"]
"#;
        let err = Framework::from_toml(bad, "x.toml").unwrap_err().to_string();
        assert!(err.contains("'q' is not one of its options"), "{err}");
        assert_eq!(
            find("gpctba/c&i", &[]).unwrap().column_prefix(),
            "gpctba_c_i"
        );
    }
}
