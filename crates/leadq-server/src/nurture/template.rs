//! Email templates: Jinja syntax (minijinja) over `lead.*`, `rep.*` and
//! `sender.*` variables. A template is checked when it is saved — syntax
//! and every variable it reads — so a send never fails on a typo.

use leadq_store::{LeadRow, RepRow};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// Variables of the lead a template may use.
pub const LEAD_VARIABLES: &[&str] = &[
    "id",
    "first_name",
    "last_name",
    "name",
    "email",
    "phone",
    "title",
    "company",
    "domain",
    "country",
    "source",
    "campaign",
    "stage",
    "grade",
    "priority",
];

/// Variables of the lead's owner.
pub const REP_VARIABLES: &[&str] = &["name", "first_name", "email"];

/// Variables of the sending organisation.
pub const SENDER_VARIABLES: &[&str] = &["name", "email"];

/// A problem found in a template, with the field it is in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateProblem {
    /// `subject` or `body`.
    pub field: &'static str,
    pub message: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Every variable is checked at save time; at send time an empty value
    // renders as empty text rather than failing the send.
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env
}

/// Checks the syntax and variables of a subject and body.
pub fn check(subject: &str, body: &str) -> Vec<TemplateProblem> {
    let env = environment();
    let mut problems = Vec::new();
    for (field, text) in [("subject", subject), ("body", body)] {
        if text.trim().is_empty() {
            problems.push(TemplateProblem {
                field,
                message: "must not be empty".into(),
            });
            continue;
        }
        let tmpl = match env.template_from_str(text) {
            Ok(t) => t,
            Err(e) => {
                problems.push(TemplateProblem {
                    field,
                    message: format!(
                        "template syntax error{}: {}",
                        e.line()
                            .map(|l| format!(" on line {l}"))
                            .unwrap_or_default(),
                        e.detail().unwrap_or("invalid syntax")
                    ),
                });
                continue;
            }
        };
        let mut names: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
        names.sort();
        for name in names {
            if let Some(problem) = unknown_variable(&name) {
                problems.push(TemplateProblem {
                    field,
                    message: problem,
                });
            }
        }
    }
    problems
}

fn unknown_variable(name: &str) -> Option<String> {
    let mut parts = name.splitn(2, '.');
    let root = parts.next().unwrap_or_default();
    let attr = parts.next();
    let (known, label): (&[&str], &str) = match root {
        "lead" => (LEAD_VARIABLES, "lead"),
        "rep" => (REP_VARIABLES, "rep"),
        "sender" => (SENDER_VARIABLES, "sender"),
        _ => {
            return Some(format!(
                "unknown variable '{name}': use lead.*, rep.* or sender.*"
            ))
        }
    };
    match attr {
        None => Some(format!(
            "'{label}' needs an attribute, e.g. {label}.{}",
            known[1.min(known.len() - 1)]
        )),
        Some(a) => {
            let a = a.split('.').next().unwrap_or(a);
            (!known.contains(&a)).then(|| {
                format!(
                    "unknown variable '{label}.{a}' (known: {})",
                    known
                        .iter()
                        .map(|k| format!("{label}.{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        }
    }
}

/// The values a template is rendered with.
pub fn context(lead: &LeadRow, rep: Option<&RepRow>, sender: (&str, &str)) -> Json {
    let fields: Map<String, Json> = serde_json::from_str(&lead.fields).unwrap_or_default();
    let field = |names: &[&str]| -> Option<String> {
        names.iter().find_map(|n| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .and_then(|(_, v)| match v {
                    Json::String(s) => Some(s.trim().to_string()),
                    Json::Number(x) => Some(x.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
        })
    };
    let first = field(&["first_name", "firstname", "first name", "given_name"]);
    let last = field(&["last_name", "lastname", "last name", "family_name"]);
    let name = match (&first, &last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(f), None) => Some(f.clone()),
        (None, Some(l)) => Some(l.clone()),
        _ => field(&["name", "full_name"]),
    };
    let mut l = BTreeMap::new();
    l.insert("id", Some(lead.id.clone()));
    l.insert("first_name", first);
    l.insert("last_name", last);
    l.insert("name", name);
    l.insert("email", lead.email.clone());
    l.insert("phone", field(&["phone", "phone_number", "mobile"]));
    l.insert("title", field(&["title", "job_title", "jobtitle"]));
    l.insert("company", lead.company.clone());
    l.insert("domain", lead.domain.clone());
    l.insert("country", lead.country.clone());
    l.insert("source", lead.source.clone());
    l.insert("campaign", lead.campaign.clone());
    l.insert("stage", Some(lead.stage.clone()));
    l.insert("grade", lead.score.as_ref().map(|s| s.grade.clone()));
    l.insert("priority", lead.score.as_ref().map(|s| s.priority.clone()));
    let rep = rep.map(|r| {
        serde_json::json!({
            "name": r.name,
            "first_name": r.name.split_whitespace().next().unwrap_or(&r.name),
            "email": r.email,
        })
    });
    // Missing values are left out, so `default(...)` fills them.
    let l: BTreeMap<&str, String> = l.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
    serde_json::json!({
        "lead": l,
        "rep": rep.unwrap_or_else(|| serde_json::json!({})),
        "sender": { "name": sender.0, "email": sender.1 },
    })
}

/// Renders a checked subject and body.
pub fn render(subject: &str, body: &str, ctx: &Json) -> Result<(String, String), String> {
    let env = environment();
    let one = |text: &str| -> Result<String, String> {
        env.render_str(text, minijinja::Value::from(minijinja::value::Serde(ctx)))
            .map_err(|e| e.to_string())
    };
    let subject = one(subject)?;
    // A subject is one line, whatever the values held.
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((subject, one(body)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_variable_is_reported_when_saved() {
        let p = check("Hi {{ lead.first_nme }}", "From {{ rep.name }} {{ foo }}");
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].field, "subject");
        assert!(p[0].message.contains("lead.first_nme"), "{}", p[0].message);
        assert_eq!(p[1].field, "body");
        assert!(p[1].message.contains("'foo'"), "{}", p[1].message);
    }

    #[test]
    fn a_syntax_error_names_the_field() {
        let p = check("Hello", "Hi {{ lead.first_name ");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "body");
        assert!(p[0].message.contains("syntax"), "{}", p[0].message);
    }

    #[test]
    fn known_variables_and_filters_pass_and_render() {
        let subject = "Hi {{ lead.first_name | default('there') }}";
        let body = "{{ rep.first_name }} from {{ sender.name }} about {{ lead.company }}";
        assert!(check(subject, body).is_empty());
        let ctx = serde_json::json!({
            "lead": {"company": "Acme"},
            "rep": {"first_name": "Nora"},
            "sender": {"name": "leadq"}
        });
        let (s, b) = render(subject, body, &ctx).unwrap();
        assert_eq!(s, "Hi there");
        assert_eq!(b, "Nora from leadq about Acme");
    }
}
