//! Nurture sequences: the ordered steps a lead walks through once enrolled
//! (send an email, create a task for the owner, wait some business days,
//! branch on a condition) and the signals that end an enrolment early.
//!
//! A sequence is data (JSON over the API). [`Sequence::compile`] checks it
//! once — conditions type-checked, branch targets resolved, loops that
//! would spin without waiting refused — so running it never fails on its
//! own definition. [`Sequence::advance`] is pure: given where an
//! enrolment stands and the facts of its lead, it says what to do now and
//! where the enrolment goes next; the service does the IO.

use crate::expr::{Env, Program, Resolver, Slot, Ty};
use crate::framework;
use crate::value::{FieldType, ValueRef};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// A sequence as written by its author.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Enrol every lead for which this condition holds (checked when leads
    /// are written or re-scored). Without it, leads are enrolled by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrol_when: Option<String>,
    /// What ends an enrolment early. Defaults to every signal.
    #[serde(default = "StopSignal::all")]
    pub stop_on: Vec<StopSignal>,
    pub steps: Vec<StepDef>,
}

/// One step. `id` names it for branches; steps run in order otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepDef {
    /// Send the template (by id) to the lead.
    Email {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        template: String,
    },
    /// Create a task for the lead's owner.
    Task {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        title: String,
        #[serde(default = "default_task_kind")]
        kind: String,
        /// Due this many business hours after the step runs.
        #[serde(default = "default_task_hours")]
        due_business_hours: f64,
    },
    /// Pause for whole business days of the owner's working hours.
    Wait {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        business_days: u32,
    },
    /// Jump to `then` when the condition holds, else to `otherwise`
    /// (each a step id or `end`; omitted means the next step).
    Branch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        when: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        otherwise: Option<String>,
    },
}

fn default_task_kind() -> String {
    "todo".into()
}

fn default_task_hours() -> f64 {
    8.0
}

impl StepDef {
    fn id(&self) -> Option<&str> {
        match self {
            StepDef::Email { id, .. }
            | StepDef::Task { id, .. }
            | StepDef::Wait { id, .. }
            | StepDef::Branch { id, .. } => id.as_deref(),
        }
    }
}

/// What stops an enrolment before its last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopSignal {
    /// The lead answered an email.
    Reply,
    /// The lead unsubscribed (or withdrew email consent).
    Unsubscribe,
    /// An email to the lead bounced.
    Bounce,
    /// A meeting with the lead was booked.
    MeetingBooked,
    /// The lead moved to another lifecycle stage than at enrolment.
    StageChange,
}

impl StopSignal {
    pub fn all() -> Vec<StopSignal> {
        vec![
            StopSignal::Reply,
            StopSignal::Unsubscribe,
            StopSignal::Bounce,
            StopSignal::MeetingBooked,
            StopSignal::StageChange,
        ]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StopSignal::Reply => "reply",
            StopSignal::Unsubscribe => "unsubscribe",
            StopSignal::Bounce => "bounce",
            StopSignal::MeetingBooked => "meeting_booked",
            StopSignal::StageChange => "stage_change",
        }
    }

    /// The signal an event of `kind` carries, if any.
    pub fn of_event(kind: &str) -> Option<StopSignal> {
        match kind {
            "email_reply" => Some(StopSignal::Reply),
            "email_unsubscribe" => Some(StopSignal::Unsubscribe),
            "email_bounce" => Some(StopSignal::Bounce),
            "meeting_booked" => Some(StopSignal::MeetingBooked),
            _ => None,
        }
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum SequenceError {
    #[error("the sequence has no steps")]
    NoSteps,
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl SequenceError {
    /// The JSON path of the offending part (`steps[2].when`), if any.
    pub fn path(&self) -> &str {
        match self {
            SequenceError::NoSteps => "steps",
            SequenceError::Invalid { path, .. } => path,
        }
    }
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> SequenceError {
    SequenceError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// Facts about a lead that enrolment and branch conditions may read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadFacts {
    pub stage: String,
    pub grade: Option<String>,
    pub priority: Option<String>,
    pub band: Option<f64>,
    pub fit: Option<f64>,
    pub engagement: Option<f64>,
    pub score: Option<f64>,
    pub mql: bool,
    pub source: Option<String>,
    pub campaign: Option<String>,
    pub country: Option<String>,
    pub owner: Option<String>,
    /// Status (`qualified`, `not_yet`, `disqualified`) per built-in
    /// framework column prefix (`bant`, `meddic`, …).
    pub frameworks: Vec<(String, String)>,
    /// Within the current enrolment.
    pub emails_sent: u32,
    pub emails_opened: u32,
    pub emails_clicked: u32,
}

const FACTS: &[(&str, FieldType)] = &[
    ("stage", FieldType::String),
    ("grade", FieldType::String),
    ("priority", FieldType::String),
    ("band", FieldType::Number),
    ("fit", FieldType::Number),
    ("engagement", FieldType::Number),
    ("score", FieldType::Number),
    ("mql", FieldType::Bool),
    ("source", FieldType::String),
    ("campaign", FieldType::String),
    ("country", FieldType::String),
    ("owner", FieldType::String),
    ("emails_sent", FieldType::Number),
    ("emails_opened", FieldType::Number),
    ("emails_clicked", FieldType::Number),
];

/// Framework prefixes the conditions may use (`bant.status`).
fn framework_prefixes() -> Vec<String> {
    framework::built_in()
        .iter()
        .map(|f| f.column_prefix())
        .collect()
}

struct FactsResolver {
    frameworks: Vec<String>,
}

impl Resolver for FactsResolver {
    fn resolve(&mut self, path: &[&str]) -> Result<(Slot, FieldType), String> {
        match path {
            [name] => FACTS
                .iter()
                .position(|(n, _)| n == name)
                .map(|i| (Slot::Custom(i), FACTS[i].1))
                .ok_or_else(|| {
                    format!(
                        "unknown field '{name}' (known: {}, and <framework>.status)",
                        FACTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    )
                }),
            [prefix, "status"] => self
                .frameworks
                .iter()
                .position(|p| p == prefix)
                .map(|i| (Slot::FrameworkStatus(i), FieldType::String))
                .ok_or_else(|| {
                    format!(
                        "unknown framework '{prefix}' (known: {})",
                        self.frameworks.join(", ")
                    )
                }),
            _ => Err(format!("unknown field '{}'", path.join("."))),
        }
    }
}

struct FactsEnv<'a> {
    facts: &'a LeadFacts,
    frameworks: &'a [String],
}

fn opt_str(s: &Option<String>) -> ValueRef<'_> {
    ValueRef::from_opt_str(s.as_deref())
}

impl Env for FactsEnv<'_> {
    fn get(&self, slot: Slot) -> ValueRef<'_> {
        let f = self.facts;
        match slot {
            Slot::Custom(i) => match FACTS.get(i).map(|(n, _)| *n) {
                Some("stage") => ValueRef::Str(&f.stage),
                Some("grade") => opt_str(&f.grade),
                Some("priority") => opt_str(&f.priority),
                Some("band") => ValueRef::from_opt_num(f.band),
                Some("fit") => ValueRef::from_opt_num(f.fit),
                Some("engagement") => ValueRef::from_opt_num(f.engagement),
                Some("score") => ValueRef::from_opt_num(f.score),
                Some("mql") => ValueRef::Bool(f.mql),
                Some("source") => opt_str(&f.source),
                Some("campaign") => opt_str(&f.campaign),
                Some("country") => opt_str(&f.country),
                Some("owner") => opt_str(&f.owner),
                Some("emails_sent") => ValueRef::Num(f.emails_sent as f64),
                Some("emails_opened") => ValueRef::Num(f.emails_opened as f64),
                Some("emails_clicked") => ValueRef::Num(f.emails_clicked as f64),
                _ => ValueRef::Null,
            },
            Slot::FrameworkStatus(i) => {
                let prefix = &self.frameworks[i];
                f.frameworks
                    .iter()
                    .find(|(p, _)| p == prefix)
                    .map_or(ValueRef::Null, |(_, s)| ValueRef::Str(s))
            }
            _ => ValueRef::Null,
        }
    }
}

/// A condition over [`LeadFacts`].
#[derive(Debug, Clone)]
pub struct Condition {
    program: Program,
    frameworks: Vec<String>,
}

impl Condition {
    /// Compiles `source`; the error names the position of the problem.
    pub fn compile(source: &str) -> Result<Condition, String> {
        let frameworks = framework_prefixes();
        let mut resolver = FactsResolver {
            frameworks: frameworks.clone(),
        };
        let program =
            Program::compile(source, Ty::Bool, &mut resolver).map_err(|e| e.to_string())?;
        Ok(Condition {
            program,
            frameworks,
        })
    }

    pub fn test(&self, facts: &LeadFacts) -> bool {
        self.program.test(&FactsEnv {
            facts,
            frameworks: &self.frameworks,
        })
    }

    pub fn source(&self) -> &str {
        self.program.source()
    }
}

/// A step ready to run: targets resolved to indices.
#[derive(Debug, Clone)]
pub enum Step {
    Email {
        template: String,
    },
    Task {
        title: String,
        kind: String,
        due_business_minutes: i64,
    },
    Wait {
        business_days: u32,
    },
    Branch {
        when: Condition,
        then: Target,
        otherwise: Target,
    },
}

/// Where a branch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Step(usize),
    End,
}

/// A checked sequence.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub def: SequenceDef,
    pub enrol_when: Option<Condition>,
    pub steps: Vec<Step>,
}

/// What running an enrolment asks the caller to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    SendEmail {
        step: usize,
        template: String,
    },
    CreateTask {
        step: usize,
        title: String,
        kind: String,
        due_business_minutes: i64,
    },
}

/// Where an enrolment stands after [`Sequence::advance`].
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Resume at step `step` after waiting `business_days`.
    Wait { step: usize, business_days: u32 },
    /// The last step ran.
    Completed,
}

/// Steps one pass may run before it must meet a wait; a defence in depth
/// beside the loop check at compile time.
const MAX_STEPS_PER_PASS: usize = 1000;

const VALID_TASK_KINDS: &[&str] = &["call", "email", "proposal", "meeting", "todo"];

impl Sequence {
    /// Checks a definition. `template_exists` says whether a template id is
    /// known, so a sequence never refers to a template that is not there.
    pub fn compile(
        def: SequenceDef,
        template_exists: &dyn Fn(&str) -> bool,
    ) -> Result<Sequence, SequenceError> {
        if def.name.trim().is_empty() {
            return Err(invalid("name", "a sequence needs a name"));
        }
        if def.steps.is_empty() {
            return Err(SequenceError::NoSteps);
        }
        let enrol_when = match &def.enrol_when {
            Some(src) => Some(Condition::compile(src).map_err(|m| invalid("enrol_when", m))?),
            None => None,
        };
        let mut ids: Vec<(&str, usize)> = Vec::new();
        for (i, s) in def.steps.iter().enumerate() {
            if let Some(id) = s.id() {
                if id == "end" {
                    return Err(invalid(format!("steps[{i}].id"), "'end' is reserved"));
                }
                if ids.iter().any(|(n, _)| *n == id) {
                    return Err(invalid(
                        format!("steps[{i}].id"),
                        format!("the id '{id}' is used twice"),
                    ));
                }
                ids.push((id, i));
            }
        }
        let resolve =
            |i: usize, field: &str, t: &Option<String>| -> Result<Target, SequenceError> {
                match t.as_deref() {
                    None => Ok(if i + 1 < def.steps.len() {
                        Target::Step(i + 1)
                    } else {
                        Target::End
                    }),
                    Some("end") => Ok(Target::End),
                    Some(name) => ids
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, at)| Target::Step(*at))
                        .ok_or_else(|| {
                            invalid(
                                format!("steps[{i}].{field}"),
                                format!("no step has the id '{name}'"),
                            )
                        }),
                }
            };
        let mut steps = Vec::with_capacity(def.steps.len());
        for (i, s) in def.steps.iter().enumerate() {
            steps.push(match s {
                StepDef::Email { template, .. } => {
                    if !template_exists(template) {
                        return Err(invalid(
                            format!("steps[{i}].template"),
                            format!("no template has the id '{template}'"),
                        ));
                    }
                    Step::Email {
                        template: template.clone(),
                    }
                }
                StepDef::Task {
                    title,
                    kind,
                    due_business_hours,
                    ..
                } => {
                    if title.trim().is_empty() {
                        return Err(invalid(format!("steps[{i}].title"), "a task needs a title"));
                    }
                    if !VALID_TASK_KINDS.contains(&kind.as_str()) {
                        return Err(invalid(
                            format!("steps[{i}].kind"),
                            format!("'{kind}' is not one of {}", VALID_TASK_KINDS.join(", ")),
                        ));
                    }
                    if !(due_business_hours.is_finite() && *due_business_hours >= 0.0) {
                        return Err(invalid(
                            format!("steps[{i}].due_business_hours"),
                            "must be a number of hours, 0 or more",
                        ));
                    }
                    Step::Task {
                        title: title.clone(),
                        kind: kind.clone(),
                        due_business_minutes: (due_business_hours * 60.0).round() as i64,
                    }
                }
                StepDef::Wait { business_days, .. } => {
                    if *business_days == 0 || *business_days > 365 {
                        return Err(invalid(
                            format!("steps[{i}].business_days"),
                            "must be between 1 and 365",
                        ));
                    }
                    Step::Wait {
                        business_days: *business_days,
                    }
                }
                StepDef::Branch {
                    when,
                    then,
                    otherwise,
                    ..
                } => Step::Branch {
                    when: Condition::compile(when)
                        .map_err(|m| invalid(format!("steps[{i}].when"), m))?,
                    then: resolve(i, "then", then)?,
                    otherwise: resolve(i, "otherwise", otherwise)?,
                },
            });
        }
        // A jump backwards must pass a wait on its way round, or one pass
        // would repeat the same emails forever.
        for (i, s) in steps.iter().enumerate() {
            if let Step::Branch {
                then, otherwise, ..
            } = s
            {
                for (field, t) in [("then", then), ("otherwise", otherwise)] {
                    if let Target::Step(to) = *t {
                        if to <= i && !steps[to..=i].iter().any(|s| matches!(s, Step::Wait { .. }))
                        {
                            return Err(invalid(
                                format!("steps[{i}].{field}"),
                                "a jump back must pass a wait step, or the sequence would loop without pause",
                            ));
                        }
                    }
                }
            }
        }
        Ok(Sequence {
            def,
            enrol_when,
            steps,
        })
    }

    /// Whether the sequence stops on `signal`.
    pub fn stops_on(&self, signal: StopSignal) -> bool {
        self.def.stop_on.contains(&signal)
    }

    /// Whether a lead should be enrolled automatically.
    pub fn wants(&self, facts: &LeadFacts) -> bool {
        self.enrol_when.as_ref().is_some_and(|c| c.test(facts))
    }

    /// Runs from step `from` until the next wait or the end; `resumed`
    /// says the wait at `from` has just been served (a fresh enrolment
    /// starts with `resumed = false`, so a leading wait is honoured).
    /// `facts` are read by branches.
    pub fn advance(&self, from: usize, resumed: bool, facts: &LeadFacts) -> (Vec<Action>, Next) {
        let mut actions = Vec::new();
        let mut at = from;
        let mut first = resumed;
        for _ in 0..MAX_STEPS_PER_PASS {
            let Some(step) = self.steps.get(at) else {
                return (actions, Next::Completed);
            };
            match step {
                Step::Wait { business_days } => {
                    if first {
                        // Resuming after this wait.
                        at += 1;
                        first = false;
                        continue;
                    }
                    return (
                        actions,
                        Next::Wait {
                            step: at,
                            business_days: *business_days,
                        },
                    );
                }
                Step::Email { template } => {
                    actions.push(Action::SendEmail {
                        step: at,
                        template: template.clone(),
                    });
                    at += 1;
                }
                Step::Task {
                    title,
                    kind,
                    due_business_minutes,
                } => {
                    actions.push(Action::CreateTask {
                        step: at,
                        title: title.clone(),
                        kind: kind.clone(),
                        due_business_minutes: *due_business_minutes,
                    });
                    at += 1;
                }
                Step::Branch {
                    when,
                    then,
                    otherwise,
                } => {
                    let target = if when.test(facts) { then } else { otherwise };
                    match target {
                        Target::Step(to) => at = *to,
                        Target::End => return (actions, Next::Completed),
                    }
                }
            }
            first = false;
        }
        (actions, Next::Completed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(json: &str) -> SequenceDef {
        serde_json::from_str(json).unwrap()
    }

    fn compile(json: &str) -> Result<Sequence, SequenceError> {
        Sequence::compile(def(json), &|t| t.starts_with("tpl"))
    }

    const NURTURE: &str = r#"{
        "name": "Nurture",
        "enrol_when": "grade in [\"C\", \"D\"] || bant.status == \"not_yet\"",
        "steps": [
            {"type": "email", "template": "tpl-intro"},
            {"type": "wait", "id": "pause", "business_days": 2},
            {"type": "branch", "when": "emails_opened > 0", "then": "call", "otherwise": "again"},
            {"type": "email", "id": "again", "template": "tpl-second"},
            {"type": "wait", "business_days": 3},
            {"type": "task", "id": "call", "title": "Call", "kind": "call", "due_business_hours": 2}
        ]
    }"#;

    #[test]
    fn a_pass_runs_until_the_first_wait() {
        let s = compile(NURTURE).unwrap();
        let (actions, next) = s.advance(0, false, &LeadFacts::default());
        assert_eq!(
            actions,
            vec![Action::SendEmail {
                step: 0,
                template: "tpl-intro".into()
            }]
        );
        assert_eq!(
            next,
            Next::Wait {
                step: 1,
                business_days: 2
            }
        );
    }

    #[test]
    fn a_branch_follows_the_facts() {
        let s = compile(NURTURE).unwrap();
        let opened = LeadFacts {
            emails_opened: 1,
            ..Default::default()
        };
        let (actions, next) = s.advance(1, true, &opened);
        assert!(matches!(
            &actions[..],
            [Action::CreateTask {
                step: 5,
                due_business_minutes: 120,
                ..
            }]
        ));
        assert_eq!(next, Next::Completed);
        let (actions, next) = s.advance(1, true, &LeadFacts::default());
        assert!(matches!(&actions[..], [Action::SendEmail { step: 3, .. }]));
        assert_eq!(
            next,
            Next::Wait {
                step: 4,
                business_days: 3
            }
        );
    }

    #[test]
    fn enrolment_conditions_read_grades_and_framework_status() {
        let s = compile(NURTURE).unwrap();
        let mut facts = LeadFacts {
            grade: Some("A".into()),
            ..Default::default()
        };
        assert!(!s.wants(&facts));
        facts.frameworks.push(("bant".into(), "not_yet".into()));
        assert!(s.wants(&facts));
        facts.frameworks.clear();
        facts.grade = Some("D".into());
        assert!(s.wants(&facts));
    }

    #[test]
    fn an_unknown_template_is_refused_with_its_path() {
        let e =
            compile(r#"{"name":"x","steps":[{"type":"email","template":"nope"}]}"#).unwrap_err();
        assert_eq!(e.path(), "steps[0].template");
    }

    #[test]
    fn a_bad_condition_names_the_step() {
        let e = compile(
            r#"{"name":"x","steps":[{"type":"branch","when":"no_such_field > 1","then":"end"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), "steps[0].when");
        assert!(e.to_string().contains("no_such_field"), "{e}");
    }

    #[test]
    fn a_loop_without_a_wait_is_refused() {
        let e = compile(
            r#"{"name":"x","steps":[
                {"type":"email","id":"a","template":"tpl"},
                {"type":"branch","when":"emails_opened == 0","then":"a"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), "steps[1].then");
        compile(
            r#"{"name":"x","steps":[
                {"type":"email","id":"a","template":"tpl"},
                {"type":"wait","business_days":1},
                {"type":"branch","when":"emails_opened == 0","then":"a"}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn stop_signals_come_from_event_kinds() {
        assert_eq!(StopSignal::of_event("email_reply"), Some(StopSignal::Reply));
        assert_eq!(
            StopSignal::of_event("meeting_booked"),
            Some(StopSignal::MeetingBooked)
        );
        assert_eq!(StopSignal::of_event("page_view"), None);
        let s = compile(NURTURE).unwrap();
        assert!(s.stops_on(StopSignal::StageChange));
    }
}
