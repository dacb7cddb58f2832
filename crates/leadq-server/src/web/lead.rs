//! The lead page: who the lead is, why it scored as it did, everything that
//! happened to it, the qualification checklist, and the moves a person may
//! make next. Reps open only their own leads (others' answer 404, as the
//! API does); every action is a form sent to the JSON API.

use super::queue::{person_name, priority_badge};
use super::{blocking, encode, layout, when, Page, Viewer};
use crate::auth::Role;
use crate::service::Service;
use crate::AppState;
use axum::extract::{Path, Query, State};
use leadq_core::framework::{self, AnswerType, CriterionState, Framework, FrameworkStatus};
use leadq_core::lifecycle::Stage;
use leadq_ingest::mapping::{header_key, InputField, Target};
use leadq_store::{
    AnswerRow, AssignmentRow, EventRow, LeadRow, LedgerEntry, RepRow, TransitionRow,
};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// The timeline shows at most this many entries, newest first.
const TIMELINE_LIMIT: usize = 200;

#[derive(Deserialize, Default)]
pub struct LeadQuery {
    framework: Option<String>,
}

struct LeadData {
    lead: LeadRow,
    fields: Map<String, Json>,
    /// Built-in lead field name → the submitted value feeding it.
    known: Vec<(&'static str, String)>,
    events: Vec<EventRow>,
    transitions: Vec<TransitionRow>,
    assignments: Vec<AssignmentRow>,
    ledger: Vec<LedgerEntry>,
    answers: Vec<AnswerRow>,
    reps: Vec<RepRow>,
    frameworks: Vec<Framework>,
    chosen: Framework,
    /// The `?framework=` asked for when it names no framework.
    unknown_choice: Option<String>,
    /// The framework SQL is gated on, whether it is satisfied, what is unknown.
    gate: Option<crate::service::SqlGate>,
    /// Criteria of that framework answered in a way that does not qualify,
    /// with the answer: `Authority (user)`.
    gate_short: Vec<String>,
    /// The stored predictive probability of the lead, if a model is trained,
    /// with its top factors explained for this page.
    prediction: Option<(leadq_store::PredictionRow, Vec<leadq_predict::Factor>)>,
    nurture: super::nurture::NurtureData,
    tasks: Vec<leadq_store::TaskRow>,
    now: i64,
}

pub async fn page(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<LeadQuery>,
) -> Page {
    v.require(&[Role::Rep, Role::Manager, Role::Marketing])?;
    let who = v.who.clone();
    let d = blocking(&state, move |s| {
        let svc = Service::new(s);
        let lead = svc.lead_for(&who, &id)?;
        let fields: Map<String, Json> = serde_json::from_str(&lead.fields).unwrap_or_default();
        let extra = s
            .model()
            .map(|m| m.compiled.frameworks.clone())
            .unwrap_or_default();
        // A model may name a shipped framework again (`frameworks = ["BANT"]`):
        // each is listed once, the model's own definition winning as in `find`.
        let mut frameworks: Vec<Framework> = framework::built_in()
            .into_iter()
            .map(|f| {
                extra
                    .iter()
                    .find(|x| x.key.eq_ignore_ascii_case(&f.key))
                    .cloned()
                    .unwrap_or(f)
            })
            .collect();
        for x in &extra {
            if !frameworks
                .iter()
                .any(|f| f.key.eq_ignore_ascii_case(&x.key))
            {
                frameworks.push(x.clone());
            }
        }
        let setting = s.store.setting("sql_framework")?;
        let default = setting
            .as_deref()
            .and_then(|k| framework::find(k, &extra).ok())
            .or_else(|| framework::find("BANT", &extra).ok())
            .or_else(|| frameworks.first().cloned())
            .ok_or_else(|| crate::error::ApiError::internal("no framework is available"))?;
        let asked = q
            .framework
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty());
        let (chosen, unknown_choice) = match asked {
            Some(k) => match framework::find(&k, &extra) {
                Ok(f) => (f, None),
                Err(_) => (default, Some(k)),
            },
            None => (default, None),
        };
        let answers = s.store.answers_of(&lead.id)?;
        Ok(LeadData {
            known: known_fields(s, &fields),
            fields,
            events: s.store.events_of(&lead.id)?,
            transitions: s.store.transitions_of(&lead.id)?,
            assignments: s.store.assignments_of(&lead.id)?,
            ledger: s.store.ledger_of(&lead.id)?,
            gate_short: shortfall(setting.as_deref(), &extra, &answers),
            answers,
            reps: s.store.list_reps()?,
            prediction: match s.store.prediction_of(&lead.id)? {
                Some(p) => {
                    let factors = crate::predictive::factors_of(s, &lead, &p)?;
                    Some((p, factors))
                }
                None => None,
            },
            nurture: super::nurture::load(s, &lead.id)?,
            tasks: super::tasks::load(s, &lead.id)?,
            now: s.clock.now_ms(),
            gate: svc.framework_gate(&lead.id)?,
            frameworks,
            chosen,
            unknown_choice,
            lead,
        })
    })
    .await?;
    let title = person_name(&d.lead)
        .or_else(|| d.lead.email.clone())
        .unwrap_or_else(|| d.lead.id.clone());
    let body = html! {
        h1 { (title) }
        p {
            (priority_badge(&d.lead)) " "
            "Stage " strong { (d.lead.stage) }
            @if let Some(r) = &d.lead.stage_reason { " (" (r) ")" }
            " · owner " (owner_name(&d.reps, d.lead.owner.as_deref()))
        }
        div.grid {
            section.panel aria-labelledby="facts-h" { h2 #facts-h { "Contact and company" } (facts(&d)) }
            section.panel aria-labelledby="score-h" { h2 #score-h { "Score" } (score(&d.lead)) }
            section.panel aria-labelledby="predict-h" { h2 #predict-h { "Predicted conversion" } (predictive(&d.fields, d.prediction.as_ref())) }
            section.panel aria-labelledby="actions-h" { h2 #actions-h { "Actions" } (actions(&v, &d)) }
        }
        section aria-labelledby="reasons-h" { h2 #reasons-h { "Why it scored this way" } (reasons(&d.lead)) }
        section aria-labelledby="framework-h" { h2 #framework-h { "Qualification checklist" } (checklist(&d)) }
        section aria-labelledby="tasks-h" { h2 #tasks-h { "Tasks" } (super::tasks::section(&d.tasks, &d.lead.id, d.now)) }
        section aria-labelledby="nurture-h" { h2 #nurture-h { "Email and sequences" } (super::nurture::section(&d.nurture, &d.lead.id)) }
        section aria-labelledby="timeline-h" { h2 #timeline-h { "Timeline" } (timeline(&d)) }
    };
    Ok(layout(&v, &title, "queue", body))
}

/// The criteria of the SQL framework (setting `sql_framework`, default
/// BANT, as the transition guard reads it) whose answers do not qualify.
/// The guard's refusal names only unanswered criteria; these complete it.
fn shortfall(setting: Option<&str>, extra: &[Framework], answers: &[AnswerRow]) -> Vec<String> {
    let key = setting.unwrap_or("BANT");
    if key.is_empty() || key.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    let Ok(f) = framework::find(key, extra) else {
        return Vec::new();
    };
    let values = crate::engine::framework_values(&f, answers);
    let eval = f.evaluate(&values);
    f.criteria
        .iter()
        .zip(&eval.states)
        .zip(&values)
        .filter(|((_, st), _)| {
            matches!(
                st,
                CriterionState::Unsatisfied | CriterionState::Disqualifying
            )
        })
        .map(|((c, _), v)| format!("{} ({})", c.name, option_label(&v.to_string())))
        .collect()
}

// ------------------------------------------------------------------ facts

/// Which submitted field feeds each built-in lead field, decided by the
/// server's column mapping (names and synonyms) as imports decide it.
fn known_fields(s: &AppState, fields: &Map<String, Json>) -> Vec<(&'static str, String)> {
    let keys: Vec<String> = fields.keys().cloned().collect();
    let targets: Vec<Option<InputField>> = match s.model() {
        Some(m) => match s.mapping.plan(&keys, &m.compiled) {
            Ok(plan) => plan
                .targets
                .into_iter()
                .map(|t| match t {
                    Target::Field(f) => Some(f),
                    _ => None,
                })
                .collect(),
            Err(_) => by_name(&keys),
        },
        None => by_name(&keys),
    };
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (k, t) in keys.iter().zip(targets) {
        let (Some(f), Some(v)) = (t, fields.get(k).and_then(text)) else {
            continue;
        };
        if !out.iter().any(|(n, _)| *n == f.name()) {
            out.push((f.name(), v));
        }
    }
    out
}

/// Without a model (the mapping needs one), fields match by their own name.
fn by_name(keys: &[String]) -> Vec<Option<InputField>> {
    keys.iter()
        .map(|k| InputField::all_names().find(|n| header_key(n) == header_key(k)))
        .map(|n| n.and_then(InputField::by_name))
        .collect()
}

/// A submitted value as text; nulls and blanks are no value.
fn text(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) if s.trim().is_empty() => None,
        Json::String(s) => Some(s.trim().to_string()),
        Json::Bool(b) => Some(if *b { "yes" } else { "no" }.into()),
        other => Some(other.to_string()),
    }
}

fn owner_name(reps: &[RepRow], owner: Option<&str>) -> String {
    match owner {
        None => "unassigned".into(),
        Some(id) => reps
            .iter()
            .find(|r| r.id == id)
            .map_or(id.to_string(), |r| format!("{} ({id})", r.name)),
    }
}

fn facts(d: &LeadData) -> Markup {
    let l = &d.lead;
    let known = |name: &str| {
        d.known
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let name = person_name(l);
    let rows: Vec<(&str, Option<String>)> = vec![
        ("Email", l.email.clone().or_else(|| known("email"))),
        ("Name", name),
        ("Phone", known("phone")),
        ("Title", known("title")),
        ("Company", l.company.clone().or_else(|| known("company"))),
        ("Domain", l.domain.clone().or_else(|| known("domain"))),
        ("Industry", known("industry")),
        ("Employees", known("employees")),
        ("Country", l.country.clone().or_else(|| known("country"))),
        ("Source", l.source.clone().or_else(|| known("source"))),
        ("Campaign", l.campaign.clone().or_else(|| known("campaign"))),
        ("External id", l.external_id.clone()),
        ("Lead id", Some(l.id.clone())),
        ("Created", Some(when(l.created_at))),
        ("Assigned", l.assigned_at.map(when)),
        ("First response", l.first_response_at.map(when)),
        ("Opt-in", known("opt_in")),
        ("Lawful basis", known("lawful_basis")),
        ("Do not contact", known("do_not_contact")),
    ];
    html! {
        dl.facts {
            @for (label, value) in &rows {
                @if let Some(v) = value {
                    dt { (label) } dd { (v) }
                }
            }
            dt { "Stage" } dd { (l.stage) @if let Some(r) = &l.stage_reason { " — " (r) } }
            dt { "Owner" } dd { (owner_name(&d.reps, l.owner.as_deref())) }
        }
        details {
            summary { "Everything submitted (" (d.fields.len()) " fields)" }
            div.table-wrap {
                table {
                    caption.sr { "Submitted fields" }
                    thead { tr { th scope="col" { "Field" } th scope="col" { "Value" } } }
                    tbody {
                        @for (k, v) in &d.fields {
                            tr { td { (k) } td { (text(v).unwrap_or_default()) } }
                        }
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------ score

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn score(l: &LeadRow) -> Markup {
    let Some(s) = &l.score else {
        return html! { p.muted { "Not scored yet: no scoring model was published when the lead last changed." } };
    };
    html! {
        dl.facts {
            dt { "Fit" } dd { (s.fit) }
            dt { "Grade" } dd { (s.grade) }
            dt { "Engagement" } dd { (s.engagement) }
            dt { "Band" } dd { (s.band) }
            dt { "Weighted score" } dd { (s.score) }
            dt { "Priority" } dd { (s.priority) }
            dt { "MQL" } dd { (yes_no(s.mql)) }
            dt { "Model version" } dd { (s.model_version) }
            dt { "Scored" } dd { (when(s.scored_at)) }
        }
    }
}

fn reasons(l: &LeadRow) -> Markup {
    let Some(s) = &l.score else {
        return html! { p.muted { "No score, so no reasons." } };
    };
    let list: Vec<Json> = match crate::engine::shown_reasons(&s.reasons) {
        Json::Array(list) => list,
        _ => Vec::new(),
    };
    let num = |v: &Json| v.as_f64().map(|n| format!("{n:+}")).unwrap_or_default();
    html! {
        @if list.is_empty() {
            p.muted { "No rule of the model fired for this lead." }
        } @else {
            div.table-wrap {
                table #reasons {
                    caption.sr { "Every rule that fired, with its points" }
                    thead { tr {
                        th scope="col" { "Kind" }
                        th scope="col" { "Rule" }
                        th scope="col" class="num" { "Points" }
                        th scope="col" class="num" { "Before decay" }
                        th scope="col" class="num" { "Events" }
                        th scope="col" { "Capped" }
                        th scope="col" { "Description" }
                    } }
                    tbody {
                        @for r in &list {
                            tr {
                                td { (r["kind"].as_str().unwrap_or("")) }
                                td { (r["rule"].as_str().unwrap_or("")) }
                                td.num { (num(&r["points"])) }
                                td.num { (num(&r["raw_points"])) }
                                td.num { (r["events"].as_u64().map(|n| n.to_string()).unwrap_or_default()) }
                                td { @if r["capped"].as_bool() == Some(true) { "capped" } }
                                td { (r["description"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The champion's probability from the stored prediction with its top
/// factors, and the challenger's beside it as a shadow; without one, a
/// probability imported with the lead's fields (`probability`, `factor_N`,
/// `factor_N_value`, `factor_N_effect`, as `leadq predict` writes them).
fn predictive(
    fields: &Map<String, Json>,
    stored: Option<&(leadq_store::PredictionRow, Vec<leadq_predict::Factor>)>,
) -> Markup {
    if let Some((p, factors)) = stored {
        return html! {
            p #champion-probability {
                "Probability of converting: " strong { (format!("{:.0}%", p.probability * 100.0)) }
                " " small.muted { "(model v" (p.champion_version) ")" }
            }
            @if let (Some(v), Some(cp)) = (p.challenger_version, p.challenger_probability) {
                p #challenger-probability.muted {
                    "Challenger v" (v) " (shadow, not used): " (format!("{:.0}%", cp * 100.0))
                }
            }
            @if !factors.is_empty() {
                div.table-wrap {
                    table {
                        caption { "Top factors" }
                        thead { tr { th scope="col" { "Factor" } th scope="col" { "Value" } th scope="col" class="num" { "Effect" } } }
                        tbody { @for f in factors { tr {
                            td { (f.feature) }
                            td { (f.value) }
                            td.num { (format!("{:+.3}", f.contribution)) }
                        } } }
                    }
                }
            }
        };
    }
    let num = |v: &Json| match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let p = [
        "probability",
        "predicted_probability",
        "conversion_probability",
    ]
    .iter()
    .find_map(|k| fields.get(*k).and_then(num))
    .filter(|p| (0.0..=1.0).contains(p));
    let Some(p) = p else {
        return html! { p #no-predictive { "No predictive model is published, so this lead has no conversion probability." } };
    };
    let factors: Vec<(String, String, String)> = (1..=10)
        .map_while(|i| {
            let f = fields.get(&format!("factor_{i}")).and_then(text)?;
            let get = |k: String| fields.get(&k).and_then(text).unwrap_or_default();
            Some((
                f,
                get(format!("factor_{i}_value")),
                get(format!("factor_{i}_effect")),
            ))
        })
        .collect();
    html! {
        p { "Probability of converting: " strong { (format!("{:.0}%", p * 100.0)) } }
        @if !factors.is_empty() {
            div.table-wrap {
                table {
                    caption { "Top factors" }
                    thead { tr { th scope="col" { "Factor" } th scope="col" { "Value" } th scope="col" class="num" { "Effect" } } }
                    tbody { @for (f, v, e) in &factors { tr { td { (f) } td { (v) } td.num { (e) } } } }
                }
            }
        }
    }
}

// ------------------------------------------------------------------ actions

fn transition_form(id: &str, to: Stage, label: &str, reason: Option<(&str, bool)>) -> Markup {
    html! {
        form.inline data-api={"/api/v1/leads/" (encode(id)) "/transitions"} data-method="POST" data-then="reload"
            aria-label=(label) {
            input type="hidden" name="to" value=(to.as_str());
            @if let Some((hint, required)) = reason {
                label { (hint)
                    input name="reason" required[required] list="stage-reasons";
                }
            }
            button type="submit" { (label) }
            p role="alert" {}
        }
    }
}

fn actions(v: &Viewer, d: &LeadData) -> Markup {
    let id = &d.lead.id;
    let stage = Stage::parse(&d.lead.stage).unwrap_or(Stage::New);
    let allowed = stage.allowed_next();
    let main = [Stage::Sal, Stage::Sql, Stage::Nurture, Stage::Disqualified];
    let others: Vec<Stage> = allowed
        .iter()
        .copied()
        .filter(|s| !main.contains(s))
        .collect();
    let short = d.gate_short.join(", ");
    html! {
        datalist #stage-reasons {
            @for r in ["spam", "competitor", "student", "duplicate", "no budget", "no need", "not reachable", "timing"] {
                option value=(r) {}
            }
        }
        @if allowed.is_empty() {
            p.muted { "The lead is " (stage) ": no further move is possible." }
        }
        @if allowed.contains(&Stage::Sal) {
            (transition_form(id, Stage::Sal, "Accept (SAL)", None))
        }
        @if allowed.contains(&Stage::Sql) {
            @if let Some(g) = &d.gate {
                @if g.satisfied {
                    p.good { (g.framework) " is satisfied: the lead may become an SQL." }
                } @else {
                    p.warn #sql-gate {
                        "SQL needs " (g.framework) " satisfied"
                        @if !g.unknown.is_empty() { "; still unknown: " (g.unknown.join(", ")) }
                        @if !short.is_empty() { "; answered but not qualifying: " (short) }
                        "."
                    }
                }
            }
            (transition_form(id, Stage::Sql, "Qualify (SQL)", None))
        }
        @if allowed.contains(&Stage::Nurture) {
            (transition_form(id, Stage::Nurture, "Nurture", Some(("Why (optional)", false))))
        }
        @if allowed.contains(&Stage::Disqualified) {
            (transition_form(id, Stage::Disqualified, "Disqualify", Some(("Reason for disqualifying", true))))
        }
        @if !others.is_empty() {
            form.inline data-api={"/api/v1/leads/" (encode(id)) "/transitions"} data-method="POST" data-then="reload"
                aria-label="Move to another stage" {
                label { "Move to"
                    select name="to" {
                        @for s in &others { option value=(s.as_str()) { (s.as_str()) } }
                    }
                }
                label { "Reason (needed for lost)" input name="reason" list="stage-reasons"; }
                button.secondary type="submit" { "Move" }
                p role="alert" {}
            }
        }
        @if v.is(&[Role::Manager]) {
            form.inline data-api={"/api/v1/leads/" (encode(id)) "/assign"} data-method="POST" data-then="reload"
                aria-label="Reassign" {
                label { "Assign to"
                    select name="rep_id" {
                        option value="" { "Whoever the routing rules pick" }
                        @for r in &d.reps {
                            option value=(r.id) selected[d.lead.owner.as_deref() == Some(r.id.as_str())] {
                                (r.name) " (" (r.id) ")" @if !r.active { " — inactive" }
                            }
                        }
                    }
                }
                button.secondary type="submit" { "Reassign" }
                p role="alert" {}
            }
        }
    }
}

// ------------------------------------------------------------------ checklist

fn state_label(s: CriterionState) -> Markup {
    match s {
        CriterionState::Unknown => html! { span.muted { "unknown" } },
        CriterionState::Satisfied => html! { span.good { "satisfied" } },
        CriterionState::Unsatisfied => html! { span.warn { "not satisfied" } },
        CriterionState::Disqualifying => html! { span.bad { "disqualifying" } },
    }
}

fn option_label(o: &str) -> String {
    o.replace('_', " ")
}

fn checklist(d: &LeadData) -> Markup {
    let f = &d.chosen;
    let lead = &d.lead.id;
    let values = crate::engine::framework_values(f, &d.answers);
    let eval = f.evaluate(&values);
    let unknown: Vec<&str> = f
        .criteria
        .iter()
        .zip(&eval.states)
        .filter(|(_, s)| **s == CriterionState::Unknown)
        .map(|(c, _)| c.name.as_str())
        .collect();
    let answer_of = |key: &str| {
        d.answers
            .iter()
            .find(|a| a.framework.eq_ignore_ascii_case(&f.key) && a.criterion == key)
    };
    let gates_sql = d.gate.as_ref().is_some_and(|g| g.framework == f.name);
    html! {
        // Options show the short key so the select fits a phone; the full
        // name is the heading below.
        form.inline method="get" action={"/ui/leads/" (encode(lead))} aria-label="Choose a framework" {
            label { "Framework"
                select name="framework" {
                    @for x in &d.frameworks {
                        option value=(x.column_prefix()) selected[x.key == f.key] { (x.key) }
                    }
                }
            }
            button.secondary type="submit" { "Show" }
        }
        @if let Some(k) = &d.unknown_choice {
            p.warn role="status" { "There is no framework “" (k) "”; showing " (f.name) "." }
        }
        h3 { (f.name) }
        @if !f.description.is_empty() { p.muted { (f.description) } }
        p #evaluation {
            @match eval.status {
                FrameworkStatus::Qualified => strong.good { "Qualified" },
                FrameworkStatus::NotYet => strong.warn { "Not yet qualified" },
                FrameworkStatus::Disqualified => strong.bad { "Disqualified" },
            }
            " — " (eval.satisfied) " of " (f.criteria.len()) " criteria satisfied"
            @if let Some(n) = f.min_satisfied { " (" (n) " needed)" }
            "."
            @if !unknown.is_empty() { " Still unknown: " (unknown.join(", ")) "." }
            @if gates_sql { " This framework gates the move to SQL." }
        }
        form.stack data-api={"/api/v1/leads/" (encode(lead)) "/frameworks/" (encode(&f.column_prefix()))}
            data-method="PUT" data-then="reload" aria-label={"Answers to " (f.name)} {
            // The API needs an `answers` object even when nothing is chosen.
            input type="hidden" name="answers" data-type="json" value="{}";
            ol.criteria {
                @for (c, st) in f.criteria.iter().zip(&eval.states) {
                    @let a = answer_of(&c.key);
                    @let field = format!("answer-{}", c.key);
                    li data-criterion=(c.key) {
                        h4 { (c.name) " " (state_label(*st)) @if !c.required { span.muted { " (optional)" } } }
                        ol.questions { @for q in &c.questions { li { (q) } } }
                        @if !c.help.is_empty() { p.muted { (c.help) } }
                        label for=(field) { "Answer for " (c.name) }
                        (answer_input(c, &field, a.map(|a| a.value.as_str())))
                        label { "Evidence for " (c.name)
                            input name={"evidence." (c.key)} value=[a.and_then(|a| a.evidence.as_deref())] placeholder="a note or a quote";
                        }
                        @if let Some(a) = a {
                            @if a.value.trim().is_empty() {
                                p.muted { "Set back to unknown by " (a.actor) ", " (when(a.at)) }
                            } @else {
                                p.muted { "Answered by " (a.actor) ", " (when(a.at)) }
                            }
                        }
                    }
                }
            }
            button type="submit" { "Save answers" }
            p role="alert" {}
        }
    }
}

/// An input suited to the criterion's answer type, holding its answer.
fn answer_input(c: &framework::Criterion, id: &str, current: Option<&str>) -> Markup {
    let name = format!("answers.{}", c.key);
    let parsed = current.and_then(|v| Framework::parse_answer(c, v).ok());
    // An answered criterion sends its field even when emptied: that is how
    // it is set back to unknown. Unanswered ones left empty send nothing.
    let keep_empty = current.is_some_and(|v| !v.trim().is_empty());
    let chosen = parsed.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let tag = |o: &str| {
        if c.disqualified_by.iter().any(|d| d == o) {
            " — disqualifies"
        } else if c.satisfied_by.iter().any(|s| s == o) {
            " — qualifies"
        } else {
            ""
        }
    };
    match c.answer {
        AnswerType::Choice => html! {
            select id=(id) name=(name) data-keep-empty[keep_empty] {
                option value="" { "— unknown —" }
                @for o in &c.options {
                    option value=(o) selected[chosen == *o] { (option_label(o)) (tag(o)) }
                }
            }
        },
        AnswerType::YesNo => html! {
            select id=(id) name=(name) data-keep-empty[keep_empty] {
                option value="" { "— unknown —" }
                @for o in ["yes", "no"] {
                    option value=(o) selected[chosen == o] { (o) (tag(o)) }
                }
            }
        },
        AnswerType::Number => html! {
            input id=(id) name=(name) type="number" step="any" data-type="number" data-keep-empty[keep_empty] value=[current]
                placeholder=[c.min.map(|m| format!("at least {m} qualifies"))];
        },
        AnswerType::Text => html! {
            textarea id=(id) name=(name) rows="2" data-keep-empty[keep_empty] { (current.unwrap_or_default()) }
        },
    }
}

// ------------------------------------------------------------------ timeline

struct Entry {
    at: i64,
    /// Orders entries of the same instant: what happened first comes first.
    order: u8,
    seq: i64,
    kind: &'static str,
    body: Markup,
}

fn timeline(d: &LeadData) -> Markup {
    let rep = |id: &str| owner_name(&d.reps, Some(id));
    let mut entries: Vec<Entry> = Vec::new();
    for t in &d.transitions {
        entries.push(Entry {
            at: t.at,
            order: if t.from_stage.is_none() { 0 } else { 2 },
            seq: t.seq,
            kind: "stage",
            body: html! {
                strong {
                    @match &t.from_stage {
                        Some(f) => { (f) " → " (t.to_stage) },
                        None => { "Created as " (t.to_stage) },
                    }
                }
                " by " (t.actor)
                @if t.automatic { " (automatic)" }
                @if let Some(r) = &t.reason { " — " span.reason { (r) } }
                @if let Some(m) = t.model_version { " · model version " (m) }
            },
        });
    }
    let mut previous: Option<&LedgerEntry> = None;
    for e in &d.ledger {
        let change = previous
            .filter(|p| p.grade != e.grade || p.priority != e.priority)
            .map(|p| (p.grade.clone(), p.priority.clone()));
        entries.push(Entry {
            at: e.at,
            order: 1,
            seq: e.seq,
            kind: "score",
            body: html! {
                strong { "Scored " (e.priority) }
                " (grade " (e.grade) ", fit " (e.fit) ", engagement " (e.engagement) ", band " (e.band)
                @if e.mql { ", MQL" } ")"
                @if let Some((g, p)) = change { " — was " (p) " (grade " (g) ")" }
                " · cause " (e.cause) " · model version " (e.model_version)
            },
        });
        previous = Some(e);
    }
    for a in &d.assignments {
        entries.push(Entry {
            at: a.at,
            order: 3,
            seq: a.seq,
            kind: "assignment",
            body: html! {
                strong { "Assigned to " (rep(&a.rep_id)) }
                @if let Some(p) = &a.previous_rep { " (was " (rep(p)) ")" }
                " by " (a.actor)
                @if let Some(r) = &a.rule { " · rule " (r) }
                br;
                span.muted { (a.explanation) }
            },
        });
    }
    for e in &d.events {
        let props: Map<String, Json> = serde_json::from_str(&e.props).unwrap_or_default();
        let props: Vec<(&String, String)> = props
            .iter()
            .filter_map(|(k, v)| Some((k, text(v)?)))
            .collect();
        entries.push(Entry {
            at: e.at,
            order: 4,
            seq: e.seq,
            kind: "event",
            body: html! {
                strong { (e.kind.replace('_', " ")) }
                @for (k, v) in props.iter().take(4) {
                    " · " (k) ": " (v)
                }
            },
        });
    }
    let total = entries.len();
    entries.sort_by_key(|e| std::cmp::Reverse((e.at, e.order, e.seq)));
    entries.truncate(TIMELINE_LIMIT);
    html! {
        @if total == 0 {
            p.muted { "Nothing has happened to this lead yet." }
        } @else {
            @if total > TIMELINE_LIMIT { p.muted { "The " (TIMELINE_LIMIT) " newest of " (total) " entries." } }
            ol.timeline #timeline {
                @for e in &entries {
                    li data-kind=(e.kind) {
                        time.when datetime=(crate::clock::rfc3339(e.at)) { (when(e.at)) }
                        " " span.muted { (e.kind) } br;
                        (e.body)
                    }
                }
            }
        }
    }
}
