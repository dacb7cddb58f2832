//! The lead lifecycle: which stages exist, which moves a person may make by
//! hand, and the one move scoring makes on its own.
//!
//! The graph is deliberately strict. A lead that skips from `new` straight to
//! `opportunity` makes funnel reports lie (no SAL or SQL date), so every
//! manual move has to follow an edge below, and the moves that end a lead's
//! journey (`disqualified`, `lost`) must say why so that recycling and
//! win/loss analysis have something to work with.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Where a lead is in the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Just arrived; nobody has looked at it.
    New,
    /// Someone is researching or contacting it.
    Working,
    /// Marketing qualified: the scoring model's MQL rule holds.
    Mql,
    /// Sales accepted: a rep has agreed to work it.
    Sal,
    /// Sales qualified: the qualification framework (if any) is satisfied.
    Sql,
    /// An opportunity is open.
    Opportunity,
    /// Closed and won.
    Won,
    /// Closed and lost.
    Lost,
    /// Not ready yet; kept warm by marketing.
    Nurture,
    /// Came back from a dead end and may be worked again.
    Recycled,
    /// Not a fit at all (spam, competitor, student, ...).
    Disqualified,
}

use Stage::*;

impl Stage {
    /// Every stage, in funnel order (open stages first, then the side tracks).
    pub const ALL: [Stage; 11] = [
        New,
        Working,
        Mql,
        Sal,
        Sql,
        Opportunity,
        Won,
        Lost,
        Nurture,
        Recycled,
        Disqualified,
    ];

    /// The stable name used in storage, APIs and serde.
    pub fn as_str(self) -> &'static str {
        match self {
            New => "new",
            Working => "working",
            Mql => "mql",
            Sal => "sal",
            Sql => "sql",
            Opportunity => "opportunity",
            Won => "won",
            Lost => "lost",
            Nurture => "nurture",
            Recycled => "recycled",
            Disqualified => "disqualified",
        }
    }

    /// Reads a stage name as typed by a person: surrounding blanks and case
    /// are ignored ("MQL" works), but only the names of [`Stage::as_str`] are
    /// accepted, so a typo is an error rather than a guess.
    pub fn parse(s: &str) -> Option<Stage> {
        let s = s.trim();
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether the lead's journey has ended. Closed leads are left out of
    /// routing and SLA clocks; only `lost` and `disqualified` can be reopened,
    /// and only by recycling.
    pub fn is_closed(self) -> bool {
        matches!(self, Won | Lost | Disqualified)
    }

    /// The stages a person may move a lead to from `self`.
    pub fn allowed_next(self) -> &'static [Stage] {
        match self {
            New => &[Working, Mql, Sal, Nurture, Disqualified],
            Working => &[Mql, Sal, Nurture, Disqualified],
            Mql => &[Working, Sal, Nurture, Recycled, Disqualified],
            Sal => &[Sql, Nurture, Recycled, Disqualified],
            Sql => &[Opportunity, Nurture, Recycled, Disqualified, Lost],
            Opportunity => &[Won, Lost],
            Won => &[],
            Lost => &[Recycled],
            Nurture => &[Working, Mql, Recycled, Disqualified],
            Recycled => &[Working, Mql, Nurture, Disqualified],
            Disqualified => &[Recycled],
        }
    }

    /// Whether moving to `to` needs a written reason.
    pub fn needs_reason(self) -> bool {
        matches!(self, Lost | Disqualified)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller knows about a manual move besides its two ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Guard<'a> {
    /// Why the person is making the move; required (non-blank) for
    /// `disqualified` and `lost`.
    pub reason: Option<&'a str>,
    /// The qualification framework configured for the lead's model, if any.
    /// `None` means no framework is configured, so `sql` is not gated.
    pub framework: Option<FrameworkGate<'a>>,
}

/// The state of the qualification framework (BANT, MEDDIC, ...) for one
/// lead, as far as the move to `sql` cares.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameworkGate<'a> {
    /// Display name of the framework, e.g. "BANT".
    pub name: &'a str,
    /// Whether the framework's criteria are met.
    pub satisfied: bool,
    /// Criteria nobody has answered yet; listed in the refusal so the rep
    /// knows what to ask.
    pub unknown: Vec<String>,
    /// Criteria answered in a way that does not qualify (or disqualifies).
    pub not_met: Vec<String>,
}

/// Why a manual move was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransitionError {
    #[error("the lead is already {stage}")]
    Unchanged { stage: Stage },
    #[error("{}", not_allowed_message(*.from, *.to, .allowed))]
    NotAllowed {
        from: Stage,
        to: Stage,
        allowed: Vec<Stage>,
    },
    #[error("moving a lead to {to} needs a reason")]
    ReasonRequired { to: Stage },
    #[error("{}", framework_message(.framework, .unknown, .not_met))]
    FrameworkNotSatisfied {
        framework: String,
        unknown: Vec<String>,
        not_met: Vec<String>,
    },
}

impl TransitionError {
    /// A stable machine-readable code, so API clients need not parse prose.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::Unchanged { .. } => "unchanged",
            TransitionError::NotAllowed { .. } => "not_allowed",
            TransitionError::ReasonRequired { .. } => "reason_required",
            TransitionError::FrameworkNotSatisfied { .. } => "framework_not_satisfied",
        }
    }
}

fn join_stages(stages: &[Stage]) -> String {
    stages
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn not_allowed_message(from: Stage, to: Stage, allowed: &[Stage]) -> String {
    if allowed.is_empty() {
        format!("a lead cannot move from {from} to {to}: {from} is final")
    } else {
        format!(
            "a lead cannot move from {from} to {to}; allowed next stages: {}",
            join_stages(allowed)
        )
    }
}

fn framework_message(framework: &str, unknown: &[String], not_met: &[String]) -> String {
    let mut message = format!("SQL needs {framework} satisfied");
    if !unknown.is_empty() {
        message.push_str(&format!("; still unknown: {}", unknown.join(", ")));
    }
    if !not_met.is_empty() {
        message.push_str(&format!(
            "; answered but not qualifying: {}",
            not_met.join(", ")
        ));
    }
    message
}

/// Checks a move a person asked for. The checks run in a fixed order
/// (unchanged, graph, reason, framework) so the error names the first thing
/// the person has to fix.
pub fn check_manual(from: Stage, to: Stage, guard: &Guard<'_>) -> Result<(), TransitionError> {
    if from == to {
        return Err(TransitionError::Unchanged { stage: from });
    }
    let allowed = from.allowed_next();
    if !allowed.contains(&to) {
        return Err(TransitionError::NotAllowed {
            from,
            to,
            allowed: allowed.to_vec(),
        });
    }
    if to.needs_reason() && guard.reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(TransitionError::ReasonRequired { to });
    }
    if to == Sql {
        if let Some(gate) = &guard.framework {
            if !gate.satisfied {
                return Err(TransitionError::FrameworkNotSatisfied {
                    framework: gate.name.to_string(),
                    unknown: gate.unknown.clone(),
                    not_met: gate.not_met.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The move scoring makes by itself when the model's MQL rule holds: leads
/// that nobody has qualified yet (new, working, nurture, recycled) become
/// MQLs. It never demotes a lead when the rule stops holding (scores decay;
/// sales decisions should not) and never touches leads sales already owns.
pub fn automatic_after_scoring(current: Stage, mql: bool) -> Option<Stage> {
    (mql && matches!(current, New | Working | Nurture | Recycled)).then_some(Mql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_name_parses_back_to_itself() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
    }

    #[test]
    fn parsing_ignores_case_and_blanks_but_not_typos() {
        assert_eq!(Stage::parse("  MQL "), Some(Mql));
        assert_eq!(Stage::parse("Disqualified"), Some(Disqualified));
        assert_eq!(Stage::parse("Sales Accepted"), None);
        assert_eq!(Stage::parse("opportunities"), None);
        assert_eq!(Stage::parse(""), None);
    }

    #[test]
    fn the_names_are_all_different() {
        let mut names: Vec<_> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Stage::ALL.len());
    }

    #[test]
    fn only_won_lost_and_disqualified_are_closed() {
        let closed: Vec<_> = Stage::ALL.into_iter().filter(|s| s.is_closed()).collect();
        assert_eq!(closed, vec![Won, Lost, Disqualified]);
    }

    #[test]
    fn no_stage_lists_itself_as_a_next_stage() {
        for stage in Stage::ALL {
            assert!(!stage.allowed_next().contains(&stage), "{stage}");
        }
    }

    #[test]
    fn closed_stages_can_only_be_left_by_recycling() {
        assert_eq!(Won.allowed_next(), &[] as &[Stage]);
        assert_eq!(Lost.allowed_next(), &[Recycled]);
        assert_eq!(Disqualified.allowed_next(), &[Recycled]);
    }

    #[test]
    fn stages_serialize_as_snake_case_names() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Doc {
            stages: Vec<Stage>,
        }
        let doc = Doc {
            stages: vec![Mql, Sal, Sql, Opportunity],
        };
        let text = toml::to_string(&doc).unwrap();
        assert_eq!(
            text.trim(),
            r#"stages = ["mql", "sal", "sql", "opportunity"]"#
        );
        assert_eq!(toml::from_str::<Doc>(&text).unwrap(), doc);
    }

    #[test]
    fn the_framework_message_without_unknowns_omits_the_list() {
        let err = TransitionError::FrameworkNotSatisfied {
            framework: "MEDDIC".into(),
            unknown: vec![],
            not_met: vec![],
        };
        assert_eq!(err.to_string(), "SQL needs MEDDIC satisfied");
    }

    #[test]
    fn leaving_won_is_explained_as_final() {
        let err = check_manual(Won, Recycled, &Guard::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a lead cannot move from won to recycled: won is final"
        );
    }
}
