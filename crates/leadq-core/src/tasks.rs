//! Tasks for reps and the rules that create them: "when a lead becomes MQL
//! and is assigned, call it within 2 business hours", "when it becomes
//! SQL, send a proposal within a business day". A rule names what happens
//! to the lead (it enters a stage, or it is assigned) and the task that
//! follows; the service creates it for the lead's owner, due in the
//! owner's working hours.

use crate::lifecycle::Stage;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a task asks the rep to do.
pub const TASK_KINDS: &[&str] = &["call", "email", "proposal", "meeting", "todo"];

/// What makes a rule fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum Trigger {
    /// The lead enters `stage`.
    Stage { stage: String },
    /// The lead is assigned to a rep while in one of `stages` (any stage
    /// when empty).
    Assigned {
        #[serde(default)]
        stages: Vec<String>,
    },
}

/// A task rule as stored and sent over the API. (The trigger is flattened
/// into the rule, which serde cannot combine with refusing unknown fields.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRule {
    pub id: String,
    #[serde(flatten)]
    pub trigger: Trigger,
    pub kind: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Due this many business minutes after the rule fires, in the owner's
    /// working hours.
    pub due_business_minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Error)]
#[error("{path}: {message}")]
pub struct RuleError {
    /// Where in the list: `rules[1].stage`.
    pub path: String,
    pub message: String,
}

fn bad(i: usize, field: &str, message: impl Into<String>) -> RuleError {
    RuleError {
        path: format!("rules[{i}].{field}"),
        message: message.into(),
    }
}

/// Checks an ordered list of rules.
pub fn validate(rules: &[TaskRule]) -> Result<(), RuleError> {
    for (i, r) in rules.iter().enumerate() {
        if r.id.trim().is_empty() || r.id.len() > 64 {
            return Err(bad(i, "id", "must be 1 to 64 characters"));
        }
        if rules[..i].iter().any(|o| o.id == r.id) {
            return Err(bad(i, "id", format!("'{}' is used twice", r.id)));
        }
        if r.title.trim().is_empty() || r.title.len() > 200 {
            return Err(bad(i, "title", "must be 1 to 200 characters"));
        }
        check_kind(&r.kind).map_err(|m| bad(i, "kind", m))?;
        if !(0..=60 * 24 * 365).contains(&r.due_business_minutes) {
            return Err(bad(
                i,
                "due_business_minutes",
                "must be between 0 and a year of minutes",
            ));
        }
        match &r.trigger {
            Trigger::Stage { stage } => {
                if Stage::parse(stage).is_none() {
                    return Err(bad(
                        i,
                        "stage",
                        format!("'{stage}' is not a lifecycle stage"),
                    ));
                }
            }
            Trigger::Assigned { stages } => {
                for (j, s) in stages.iter().enumerate() {
                    if Stage::parse(s).is_none() {
                        return Err(bad(
                            i,
                            &format!("stages[{j}]"),
                            format!("'{s}' is not a lifecycle stage"),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Checks a task kind.
pub fn check_kind(kind: &str) -> Result<(), String> {
    if TASK_KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(format!("'{kind}' is not one of {}", TASK_KINDS.join(", ")))
    }
}

/// What happened to a lead in one change.
#[derive(Debug, Clone, Default)]
pub struct LeadMoves<'a> {
    /// Stages entered, in order.
    pub entered: Vec<&'a str>,
    /// Whether it was assigned (to a rep, possibly again).
    pub assigned: bool,
    /// Its stage after the change.
    pub stage: &'a str,
}

/// The rules a change fires, in rule order, each once.
pub fn fired<'r>(rules: &'r [TaskRule], moves: &LeadMoves<'_>) -> Vec<&'r TaskRule> {
    rules
        .iter()
        .filter(|r| match &r.trigger {
            Trigger::Stage { stage } => moves.entered.iter().any(|s| s == stage),
            Trigger::Assigned { stages } => {
                moves.assigned && (stages.is_empty() || stages.iter().any(|s| s == moves.stage))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<TaskRule> {
        serde_json::from_str(
            r#"[
            {"id": "call-mql", "on": "assigned", "stages": ["mql"], "kind": "call", "title": "Call the new MQL", "due_business_minutes": 120},
            {"id": "proposal", "on": "stage", "stage": "sql", "kind": "proposal", "title": "Send a proposal", "due_business_minutes": 480}
        ]"#,
        )
        .unwrap()
    }

    #[test]
    fn an_assignment_of_an_mql_fires_the_call_rule_only() {
        let r = rules();
        let f = fired(
            &r,
            &LeadMoves {
                entered: vec!["mql"],
                assigned: true,
                stage: "mql",
            },
        );
        assert_eq!(
            f.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["call-mql"]
        );
        let f = fired(
            &r,
            &LeadMoves {
                entered: vec![],
                assigned: true,
                stage: "working",
            },
        );
        assert!(f.is_empty(), "assigned outside the rule's stages");
        let f = fired(
            &r,
            &LeadMoves {
                entered: vec!["sal", "sql"],
                assigned: false,
                stage: "sql",
            },
        );
        assert_eq!(
            f.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["proposal"]
        );
    }

    #[test]
    fn bad_rules_are_refused_with_their_path() {
        let mut r = rules();
        r[1].trigger = Trigger::Stage {
            stage: "maybe".into(),
        };
        assert_eq!(validate(&r).unwrap_err().path, "rules[1].stage");
        let mut r = rules();
        r[0].kind = "fax".into();
        assert_eq!(validate(&r).unwrap_err().path, "rules[0].kind");
        let mut r = rules();
        r[1].id = "call-mql".into();
        assert_eq!(validate(&r).unwrap_err().path, "rules[1].id");
        assert!(validate(&rules()).is_ok());
    }
}
