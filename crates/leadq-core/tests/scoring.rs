//! Behaviour of model loading and scoring as seen from outside the crate:
//! models are written as TOML text, leads and events are built by hand, and
//! every expected number is worked out in the test itself.

use leadq_core::account::roll_up;
use leadq_core::event::EventColumns;
use leadq_core::framework::{Framework, FrameworkStatus};
use leadq_core::lead::{Company, Contact, EmailKind};
use leadq_core::scoring::{decay_factor, rank, RuleKind};
use leadq_core::{
    CompiledModel, Domain, Grade, Lead, ModelError, Priority, Score, Timestamp, Value,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const DAY: i64 = 86_400;
const AS_OF: Timestamp = Timestamp(1_700_000_000);
const EPS: f64 = 1e-9;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The parts every model needs; rules are appended after it.
const BASE: &str = r#"name = "Test model"

[fields]
total_visits = "number"
plan = "string"

[grades]
A = 80
B = 50
C = 20

[bands]
1 = 50
2 = 20
3 = 5

[mql]
when = "fit >= 50"
"#;

fn with_rules(rules: &str) -> String {
    format!("{BASE}\n{rules}")
}

fn load(text: &str) -> CompiledModel {
    CompiledModel::from_toml(text)
        .unwrap_or_else(|e| panic!("the model should load, but: {e}\n{text}"))
}

fn load_err(text: &str) -> ModelError {
    match CompiledModel::from_toml(text) {
        Ok(_) => panic!("the model should be refused:\n{text}"),
        Err(e) => e,
    }
}

fn invalid_message(text: &str) -> String {
    match load_err(text) {
        ModelError::Invalid(m) => m,
        other => panic!("expected ModelError::Invalid, got {other:?}"),
    }
}

/// 1-based line and column (in characters) of the first `needle` in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("'{needle}' is not in the text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

fn at_days_ago(days: f64) -> Timestamp {
    Timestamp(AS_OF.0 - (days * DAY as f64).round() as i64)
}

/// A lead with the given company size and industry.
fn company_lead(id: &str, employees: Option<f64>, industry: Option<&str>) -> Lead {
    Lead {
        id: id.into(),
        company: Company {
            employees,
            industry: industry.map(Into::into),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Custom field values in the model's order, from (name, value) pairs.
fn custom_values(model: &CompiledModel, given: &[(&str, Value)]) -> Vec<Value> {
    model
        .custom_fields
        .iter()
        .map(|(name, _)| {
            given
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Value::Null, |(_, v)| v.clone())
        })
        .collect()
}

/// One event: kind name, age in days before `AS_OF`, and properties.
type Ev<'a> = (&'a str, f64, &'a [(&'a str, &'a str)]);

fn events(model: &CompiledModel, list: &[Ev<'_>]) -> EventColumns {
    let mut cols = EventColumns::new(model.event_properties.len());
    for (kind, days, props) in list {
        let k = model
            .event_kind_index(kind)
            .unwrap_or_else(|| panic!("no rule listens to '{kind}'"));
        let values: Vec<Option<compact_str::CompactString>> = model
            .event_properties
            .iter()
            .map(|p| {
                props
                    .iter()
                    .find(|(n, _)| n == p)
                    .map(|(_, v)| compact_str::CompactString::new(v))
            })
            .collect();
        cols.push(k, at_days_ago(*days), values);
    }
    cols
}

fn no_events(model: &CompiledModel) -> EventColumns {
    EventColumns::new(model.event_properties.len())
}

fn engagement_of(model: &CompiledModel, evs: &[Ev<'_>]) -> Score {
    let lead = Lead {
        id: "l1".into(),
        ..Default::default()
    };
    model.score(&lead, events(model, evs).view(), AS_OF)
}

fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= EPS,
        "expected {expected}, got {actual} (difference {})",
        actual - expected
    );
}

fn bare_score(priority: &str, score: f64) -> Score {
    let priority = Priority::parse(priority).unwrap();
    Score {
        fit: 0.0,
        engagement: 0.0,
        score,
        grade: priority.grade,
        band: priority.band,
        priority,
        mql: false,
        sql: None,
        reasons: vec![],
        frameworks: vec![],
    }
}

// ---------------------------------------------------------------------------
// 1. Model loading errors
// ---------------------------------------------------------------------------

#[test]
fn a_model_with_a_cel_syntax_error_is_rejected_naming_the_rule() {
    let text = with_rules(
        r#"
[[fit]]
name = "Big company"
when = "employees >= && industry == 'x'"
points = 10
"#,
    );
    match load_err(&text) {
        ModelError::Rule {
            section,
            rule,
            error,
            file_position,
        } => {
            assert_eq!(section, "fit");
            assert_eq!(rule, "Big company");
            assert!(
                error.message.starts_with("syntax error"),
                "{}",
                error.message
            );
            let (line, _) = position_of(&text, "employees >= &&");
            assert_eq!(file_position.map(|p| p.0), Some(line));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn a_model_with_an_unknown_field_is_rejected_naming_the_rule_and_position() {
    let text = with_rules(
        r#"
[[fit]]
name = "Enterprise size"
when = "revenue > 5 && employes > 100"
points = 10
"#,
    );
    let err = load_err(&text);
    let shown = err.to_string();
    match err {
        ModelError::Rule {
            section,
            rule,
            error,
            file_position,
        } => {
            assert_eq!(section, "fit");
            assert_eq!(rule, "Enterprise size");
            assert!(
                error.message.contains("unknown field 'employes'"),
                "{}",
                error.message
            );
            assert!(
                error.message.contains("did you mean 'employees'?"),
                "{}",
                error.message
            );
            // "revenue > 5 && " is 15 characters, so the field starts in column 16.
            assert_eq!((error.line, error.column), (1, 16));
            // BASE is 18 lines; two blank lines, `[[fit]]` and `name` follow,
            // so `when` is on line 23. Its string opens with a quote in
            // column 8, so the expression starts in column 9 and the field
            // in column 9 + 15 = 24.
            assert_eq!(file_position, Some((23, 24)));
            assert_eq!(file_position, Some(position_of(&text, "employes")));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
    assert!(
        shown.starts_with("fit rule 'Enterprise size': unknown field 'employes'"),
        "{shown}"
    );
    assert!(shown.contains("line 23, column 24 of the model"), "{shown}");
}

#[test]
fn a_model_comparing_a_string_field_with_a_number_is_rejected_as_a_type_error() {
    let text = with_rules(
        r#"
[[fit]]
name = "Odd industry"
when = "industry > 3"
points = 10
"#,
    );
    match load_err(&text) {
        ModelError::Rule {
            section,
            rule,
            error,
            file_position,
        } => {
            assert_eq!((section, rule.as_str()), ("fit", "Odd industry"));
            assert!(
                error
                    .message
                    .contains("cannot compare a string with a number"),
                "{}",
                error.message
            );
            let (line, start) = position_of(&text, "industry > 3");
            let (l, c) = file_position.expect("a file position");
            assert_eq!(l, line);
            assert!(
                (start..start + "industry > 3".len()).contains(&c),
                "column {c} is outside the expression"
            );
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn a_model_using_an_undeclared_custom_field_is_told_to_declare_it() {
    let text = with_rules(
        r#"
[[engagement]]
name = "Budget"
when = "custom.budget > 1000"
points = 5
"#,
    );
    match load_err(&text) {
        ModelError::Rule {
            section,
            rule,
            error,
            file_position,
        } => {
            assert_eq!((section, rule.as_str()), ("engagement", "Budget"));
            assert!(
                error.message.contains("unknown field 'custom.budget'"),
                "{}",
                error.message
            );
            assert!(
                error.message.contains("declare custom fields in [fields]"),
                "{}",
                error.message
            );
            assert!(
                error.message.contains("budget = \"number\""),
                "{}",
                error.message
            );
            let (line, start) = position_of(&text, "custom.budget");
            let (l, c) = file_position.expect("a file position");
            assert_eq!(l, line);
            assert!(
                (start..start + "custom.budget".len()).contains(&c),
                "column {c} does not point into 'custom.budget' (starts at {start})"
            );
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn a_declared_custom_field_of_the_wrong_type_is_rejected() {
    let text = with_rules(
        r#"
[[fit]]
name = "Paid plan"
when = "custom.plan > 2"
points = 5
"#,
    );
    match load_err(&text) {
        ModelError::Rule { error, .. } => assert!(
            error
                .message
                .contains("cannot compare a string with a number"),
            "{}",
            error.message
        ),
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn the_file_position_of_a_rule_error_points_at_the_token_in_a_multi_line_string() {
    let text = with_rules(
        r#"
[[fit]]
name = "Software"
when = """
industry == "software" &&
  countyr == "US"
"""
points = 10
"#,
    );
    match load_err(&text) {
        ModelError::Rule {
            rule,
            error,
            file_position,
            ..
        } => {
            assert_eq!(rule, "Software");
            assert!(
                error.message.contains("did you mean 'country'?"),
                "{}",
                error.message
            );
            assert_eq!((error.line, error.column), (2, 3));
            assert_eq!(file_position, Some(position_of(&text, "countyr")));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn the_file_position_of_a_rule_error_accounts_for_escaped_quotes_in_the_toml_string() {
    // In the file `\"` takes two characters but the expression sees one.
    let text = with_rules(
        r#"
[[fit]]
name = "Software"
when = "industry == \"software\" && employes > 10"
points = 10
"#,
    );
    match load_err(&text) {
        ModelError::Rule {
            error,
            file_position,
            ..
        } => {
            // In the expression `industry == "software" && ` is 26 characters.
            assert_eq!((error.line, error.column), (1, 27));
            assert_eq!(file_position, Some(position_of(&text, "employes")));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn the_file_position_of_a_rule_error_accounts_for_unicode_escapes() {
    // `\u00e9` is six characters in the file and one in the expression.
    let text = with_rules(
        r#"
[[fit]]
name = "Caf\u00e9"
when = "city == \"Caf\u00e9 town\" && employes > 10"
points = 10
"#,
    );
    match load_err(&text) {
        ModelError::Rule {
            rule,
            error,
            file_position,
            ..
        } => {
            assert_eq!(rule, "Café");
            // `city == "Café town" && ` is 23 characters in the expression.
            assert_eq!((error.line, error.column), (1, 24));
            assert_eq!(file_position, Some(position_of(&text, "employes")));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn rule_error_columns_count_characters_not_bytes() {
    // "ü" and "é" take two bytes each but one column.
    let text = with_rules(
        r#"
[[fit]]
name = "Zürich"
when = 'city in ["Zürich", "Genève"] && employes > 1'
points = 10
"#,
    );
    match load_err(&text) {
        ModelError::Rule {
            error,
            file_position,
            ..
        } => {
            // `city in ["Zürich", "Genève"] && ` is 32 characters.
            assert_eq!((error.line, error.column), (1, 33));
            assert_eq!(file_position, Some(position_of(&text, "employes")));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn the_file_position_of_a_rule_error_follows_line_ending_backslashes() {
    // A backslash at the end of a line joins it to the next one, dropping
    // the leading whitespace: the expression is a single line.
    let text = with_rules(
        r#"
[[fit]]
name = "Software"
when = """\
    industry == \"software\" && \
    employes > 10"""
points = 10
"#,
    );
    match load_err(&text) {
        ModelError::Rule {
            error,
            file_position,
            ..
        } => {
            assert_eq!((error.line, error.column), (1, 27));
            assert_eq!(file_position, Some(position_of(&text, "employes")));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn the_file_position_of_a_rule_error_is_right_in_a_file_with_crlf_line_endings() {
    let text = with_rules(
        r#"
[[fit]]
name = "Software"
when = '''
industry == "software" &&
  countyr == "US"
'''
points = 10
"#,
    )
    .replace('\n', "\r\n");
    match load_err(&text) {
        ModelError::Rule {
            error,
            file_position,
            ..
        } => {
            assert_eq!((error.line, error.column), (2, 3));
            assert_eq!(file_position, Some(position_of(&text, "countyr")));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn the_file_position_of_a_rule_error_in_a_literal_string_points_at_the_token() {
    let text = with_rules(
        r#"
[mql]
when = 'grade == "A" && bnd <= 2'
"#,
    );
    // BASE already has an [mql] table, so use a model without it.
    let text = text.replacen("[mql]\nwhen = \"fit >= 50\"\n", "", 1);
    match load_err(&text) {
        ModelError::Rule {
            section,
            rule,
            error,
            file_position,
        } => {
            assert_eq!((section, rule.as_str()), ("mql", "mql"));
            assert!(
                error.message.contains("did you mean 'band'?"),
                "{}",
                error.message
            );
            assert_eq!(file_position, Some(position_of(&text, "bnd")));
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
}

#[test]
fn invalid_toml_is_reported_with_its_line_and_column() {
    let text = "name = \"broken\"\n[grades]\nA = 80\nB = fifty\nC = 20\n";
    match load_err(text) {
        ModelError::Syntax {
            line,
            column,
            message,
        } => {
            assert!(!message.is_empty());
            // `fifty` starts in column 5 of line 4.
            assert_eq!((line, column), (4, 5), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn a_misspelt_rule_key_is_reported_at_its_line() {
    let text = with_rules(
        r#"
[[fit]]
name = "Big"
when = "employees > 100"
pionts = 10
"#,
    );
    match load_err(&text) {
        ModelError::Syntax { line, message, .. } => {
            assert!(message.contains("pionts"), "{message}");
            assert_eq!(line, position_of(&text, "pionts").0, "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn grade_thresholds_that_do_not_decrease_are_rejected() {
    let text = BASE.replace("A = 80\nB = 50", "A = 50\nB = 60");
    let msg = invalid_message(&text);
    assert!(
        msg.contains("[grades]") && msg.contains("must decrease"),
        "{msg}"
    );
    // Equal thresholds do not decrease either.
    let msg = invalid_message(&BASE.replace("B = 50\nC = 20", "B = 50\nC = 50"));
    assert!(msg.contains("[grades]"), "{msg}");
}

#[test]
fn a_missing_band_threshold_is_rejected_naming_the_band() {
    let text = BASE.replace("3 = 5\n", "");
    let msg = invalid_message(&text);
    assert!(msg.contains("[bands]") && msg.contains("band 3"), "{msg}");
}

#[test]
fn an_incomplete_custom_priority_order_is_rejected_naming_the_missing_cell() {
    let cells: Vec<String> = ["A", "B", "C", "D"]
        .iter()
        .flat_map(|g| (1..=4).map(move |b| format!("\"{g}{b}\"")))
        .filter(|c| c != "\"C3\"")
        .collect();
    assert_eq!(cells.len(), 15);
    let text = with_rules(&format!("[priority]\norder = [{}]\n", cells.join(", ")));
    let msg = invalid_message(&text);
    assert!(
        msg.contains("[priority]") && msg.contains("C3 is missing"),
        "{msg}"
    );
}

#[test]
fn an_unknown_framework_name_is_rejected_listing_the_known_ones() {
    let text = format!("frameworks = [\"BANDIT\"]\n{BASE}");
    let msg = invalid_message(&text);
    assert!(msg.contains("unknown framework 'BANDIT'"), "{msg}");
    assert!(msg.contains("BANT") && msg.contains("MEDDIC"), "{msg}");
}

#[test]
fn cap_window_days_without_a_cap_is_rejected() {
    let text = with_rules(
        r#"
[[engagement]]
name = "Page views"
event = "page_view"
points = 2
cap_window_days = 7
"#,
    );
    let msg = invalid_message(&text);
    assert!(
        msg.contains("'Page views'") && msg.contains("cap_window_days is set but cap is not"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------
// 2. Fit scoring
// ---------------------------------------------------------------------------

const FIT_RULES: &str = r#"
[[fit]]
name = "Enterprise size"
when = "employees >= 1000"
points = 50

[[fit]]
name = "Software"
when = 'industry == "software"'
points = 30

[[fit]]
name = "Free email"
when = "email_free"
points = -15
"#;

fn fit_model() -> CompiledModel {
    load(&with_rules(FIT_RULES))
}

#[test]
fn fit_is_the_sum_of_the_points_of_the_rules_that_fire() {
    let m = fit_model();
    let ev = no_events(&m);
    let both = m.score(
        &company_lead("a", Some(5000.0), Some("software")),
        ev.view(),
        AS_OF,
    );
    assert_eq!(both.fit, 80.0);
    let big = m.score(
        &company_lead("b", Some(1000.0), Some("retail")),
        ev.view(),
        AS_OF,
    );
    assert_eq!(big.fit, 50.0);
    let small = m.score(
        &company_lead("c", Some(999.0), Some("software")),
        ev.view(),
        AS_OF,
    );
    assert_eq!(small.fit, 30.0);
    let unknown = m.score(&company_lead("d", None, None), ev.view(), AS_OF);
    assert_eq!(unknown.fit, 0.0);
    assert!(unknown.reasons.is_empty());
    assert_eq!(
        m.max_fit(),
        80.0,
        "negative rules do not count towards the maximum"
    );
}

#[test]
fn negative_points_lower_fit() {
    let m = fit_model();
    let mut lead = company_lead("a", Some(5000.0), Some("software"));
    lead.contact.email_kind = Some(EmailKind::Free);
    let s = m.score(&lead, no_events(&m).view(), AS_OF);
    assert_eq!(s.fit, 65.0);
    assert_eq!(s.grade, Grade::B);
}

#[test]
fn fit_is_floored_at_zero_but_the_negative_reason_is_kept() {
    let m = fit_model();
    let lead = Lead {
        id: "a".into(),
        contact: Contact {
            email_kind: Some(EmailKind::Free),
            ..Default::default()
        },
        ..Default::default()
    };
    let s = m.score(&lead, no_events(&m).view(), AS_OF);
    assert_eq!(s.fit, 0.0);
    assert_eq!(s.score, 0.0);
    assert_eq!(s.grade, Grade::D);
    assert_eq!(s.reasons.len(), 1);
    assert_eq!(s.reasons[0].points, -15.0);
    assert_eq!(m.reasons_text(&s), "Free email -15");
}

#[test]
fn grades_follow_the_thresholds_including_their_exact_boundaries() {
    let m = fit_model();
    // A = 80, B = 50, C = 20: a threshold belongs to its own grade.
    let cases = [
        (1000.0, "software", 80.0, Grade::A),
        (1000.0, "retail", 50.0, Grade::B),
        (10.0, "software", 30.0, Grade::C),
        (10.0, "retail", 0.0, Grade::D),
    ];
    for (employees, industry, fit, grade) in cases {
        let s = m.score(
            &company_lead("x", Some(employees), Some(industry)),
            no_events(&m).view(),
            AS_OF,
        );
        assert_eq!((s.fit, s.grade), (fit, grade), "{employees} {industry}");
    }
    assert_eq!(m.grade_of(80.0), Grade::A);
    assert_eq!(m.grade_of(79.999), Grade::B);
    assert_eq!(m.grade_of(50.0), Grade::B);
    assert_eq!(m.grade_of(49.999), Grade::C);
    assert_eq!(m.grade_of(20.0), Grade::C);
    assert_eq!(m.grade_of(19.999), Grade::D);
}

#[test]
fn reasons_list_each_fired_rule_with_its_points_in_rule_order() {
    let m = fit_model();
    let mut lead = company_lead("a", Some(5000.0), Some("software"));
    lead.contact.email_kind = Some(EmailKind::Free);
    let s = m.score(&lead, no_events(&m).view(), AS_OF);
    let got: Vec<(RuleKind, u16, f64, &str)> = s
        .reasons
        .iter()
        .map(|r| (r.kind, r.rule, r.points, m.rule_name(r)))
        .collect();
    assert_eq!(
        got,
        vec![
            (RuleKind::Fit, 0, 50.0, "Enterprise size"),
            (RuleKind::Fit, 1, 30.0, "Software"),
            (RuleKind::Fit, 2, -15.0, "Free email"),
        ]
    );
    assert!(s
        .reasons
        .iter()
        .all(|r| r.raw_points == r.points && r.events == 0 && !r.capped));

    // Only the second rule fires: it is the only reason.
    let s = m.score(
        &company_lead("b", Some(10.0), Some("software")),
        no_events(&m).view(),
        AS_OF,
    );
    assert_eq!(
        s.reasons.iter().map(|r| r.rule).collect::<Vec<_>>(),
        vec![1]
    );
}

#[test]
fn reasons_text_joins_rules_with_signed_points_and_event_counts() {
    let m = load(&with_rules(&format!(
        "{FIT_RULES}
[[engagement]]
name = \"Visits\"
value = \"custom.total_visits\"
points = 2
cap = 30

[[engagement]]
name = \"Pricing page\"
event = \"pricing_page_view\"
points = 10
half_life_days = 7

[[engagement]]
name = \"Demo\"
event = \"demo_request\"
points = 40
"
    )));
    let mut lead = company_lead("a", Some(5000.0), Some("software"));
    lead.contact.email_kind = Some(EmailKind::Free);
    lead.custom = custom_values(&m, &[("total_visits", Value::Num(20.0))]);
    let evs = events(
        &m,
        &[
            ("pricing_page_view", 0.0, &[]),
            ("pricing_page_view", 7.0, &[]),
            ("pricing_page_view", 14.0, &[]),
            ("demo_request", 3.0, &[]),
        ],
    );
    let s = m.score(&lead, evs.view(), AS_OF);
    // Pricing: 10 + 5 + 2.5 = 17.5; visits: 2 × 20 = 40, capped at 30.
    assert_eq!(
        m.reasons_text(&s),
        "Enterprise size +50; Software +30; Free email -15; Visits +30 (capped); Pricing page +17.50 (3 events); Demo +40 (1 event)"
    );
}

#[test]
fn points_are_formatted_with_a_sign_and_at_most_two_decimals() {
    use leadq_core::scoring::format_points;
    assert_eq!(format_points(12.0), "+12");
    assert_eq!(format_points(-5.0), "-5");
    assert_eq!(format_points(8.4167), "+8.42");
    assert_eq!(format_points(0.0), "+0");
    assert_eq!(format_points(2.999), "+3");
}

// ---------------------------------------------------------------------------
// 3. Engagement
// ---------------------------------------------------------------------------

#[test]
fn an_event_loses_half_its_points_per_half_life() {
    let m = load(&with_rules(
        r#"
[[engagement]]
name = "Pricing page"
event = "pricing_page_view"
points = 10
half_life_days = 7
"#,
    ));
    let at = |days: f64| engagement_of(&m, &[("pricing_page_view", days, &[])]).engagement;
    assert_close(at(0.0), 10.0);
    assert_close(at(7.0), 5.0);
    assert_close(at(14.0), 2.5);
    assert_close(at(21.0), 1.25);
    // Half a half-life: 10 × 2^-0.5.
    assert_close(at(3.5), 10.0 / 2f64.sqrt());
    // Together: 10 + 5 + 2.5.
    let s = engagement_of(
        &m,
        &[
            ("pricing_page_view", 0.0, &[]),
            ("pricing_page_view", 7.0, &[]),
            ("pricing_page_view", 14.0, &[]),
        ],
    );
    assert_close(s.engagement, 17.5);
    assert_eq!(s.reasons[0].raw_points, 30.0);
    assert_eq!(s.reasons[0].events, 3);
}

#[test]
fn the_decay_factor_is_one_when_fresh_or_without_half_life_and_halves_per_half_life() {
    assert_eq!(decay_factor(0.0, Some(7.0)), 1.0);
    assert_eq!(decay_factor(30.0, None), 1.0);
    assert_close(decay_factor(7.0, Some(7.0)), 0.5);
    assert_close(decay_factor(30.0, Some(10.0)), 0.125);
}

#[test]
fn an_event_rule_without_half_life_does_not_decay() {
    let m = load(&with_rules(
        "[[engagement]]\nname = \"Demo\"\nevent = \"demo_request\"\npoints = 40\n",
    ));
    assert_eq!(
        engagement_of(&m, &[("demo_request", 365.0, &[])]).engagement,
        40.0
    );
}

#[test]
fn events_after_as_of_are_ignored() {
    let m = load(&with_rules("[[engagement]]\nname = \"Demo\"\nevent = \"demo_request\"\npoints = 10\nhalf_life_days = 7\n"));
    let mut cols = EventColumns::new(0);
    let k = m.event_kind_index("demo_request").unwrap();
    cols.push(k, Timestamp(AS_OF.0 + 1), []);
    cols.push(k, Timestamp(AS_OF.0 + 3 * DAY), []);
    let lead = Lead {
        id: "a".into(),
        ..Default::default()
    };
    let s = m.score(&lead, cols.view(), AS_OF);
    assert_eq!(s.engagement, 0.0);
    assert!(s.reasons.is_empty());
    // An event exactly at `as_of` counts in full.
    cols.push(k, AS_OF, []);
    let (s, trace) = m.explain(&lead, cols.view(), AS_OF);
    assert_eq!(s.engagement, 10.0);
    assert_eq!(trace.len(), 1);
    assert_eq!(trace[0].event, 2);
    // Seen from later, all three count (each 1 s, 3 days and 0 s before the new instant + 3 days).
    let later = Timestamp(AS_OF.0 + 3 * DAY);
    let s = m.score(&lead, cols.view(), later);
    let expected = 10.0
        * (decay_factor(3.0 - 1.0 / DAY as f64, Some(7.0)) + 1.0 + decay_factor(3.0, Some(7.0)));
    assert_close(s.engagement, expected);
}

const CAPPED_PAGE_VIEWS: &str = r#"
[[engagement]]
name = "Page views"
event = "page_view"
points = 4
cap = 10
cap_window_days = 7
"#;

#[test]
fn a_cap_limits_the_points_of_one_window_and_is_flagged() {
    let m = load(&with_rules(CAPPED_PAGE_VIEWS));
    let evs: Vec<Ev<'_>> = [0.5, 1.0, 2.0, 3.0, 4.0]
        .iter()
        .map(|&d| ("page_view", d, &[][..]))
        .collect();
    let s = engagement_of(&m, &evs);
    // 5 × 4 = 20 points, but at most 10 in one 7-day window.
    assert_eq!(s.engagement, 10.0);
    let r = &s.reasons[0];
    assert!(r.capped);
    assert_eq!(r.raw_points, 10.0);
    // 4 + 4 + 2: the third event is cut, the last two add nothing.
    assert_eq!(r.events, 3);
    assert_eq!(m.reasons_text(&s), "Page views +10 (3 events, capped)");
}

#[test]
fn each_cap_window_has_its_own_budget() {
    let m = load(&with_rules(CAPPED_PAGE_VIEWS));
    // Days 1-3 fall in the window [0, 7) before as_of, days 8-10 in [7, 14).
    let evs: Vec<Ev<'_>> = [1.0, 2.0, 3.0, 8.0, 9.0, 10.0]
        .iter()
        .map(|&d| ("page_view", d, &[][..]))
        .collect();
    let s = engagement_of(&m, &evs);
    assert_eq!(s.engagement, 20.0);
    // Two events in one window stay under the cap.
    let s = engagement_of(&m, &[("page_view", 1.0, &[]), ("page_view", 2.0, &[])]);
    assert_eq!(s.engagement, 8.0);
    assert!(!s.reasons[0].capped);
}

#[test]
fn a_cap_keeps_the_freshest_events_and_decay_applies_after_it() {
    let m = load(&with_rules(
        &CAPPED_PAGE_VIEWS.replace("cap = 10", "cap = 10\nhalf_life_days = 1"),
    ));
    // Give the events out of time order: the scorer must still take the newest first.
    let evs: Vec<Ev<'_>> = [4.0, 2.0, 0.0, 3.0, 1.0]
        .iter()
        .map(|&d| ("page_view", d, &[][..]))
        .collect();
    let s = engagement_of(&m, &evs);
    // 4 at age 0, 4 at age 1 (halved), 2 left for age 2 (quartered).
    assert_close(s.engagement, 4.0 + 2.0 + 0.5);
    assert_eq!(s.reasons[0].raw_points, 10.0);
    assert!(s.reasons[0].capped);
}

#[test]
fn a_cap_without_a_window_limits_the_rule_in_total() {
    let m = load(&with_rules(
        &CAPPED_PAGE_VIEWS.replace("cap_window_days = 7\n", ""),
    ));
    let evs: Vec<Ev<'_>> = [1.0, 20.0, 40.0, 80.0]
        .iter()
        .map(|&d| ("page_view", d, &[][..]))
        .collect();
    assert_eq!(engagement_of(&m, &evs).engagement, 10.0);
}

#[test]
fn negative_engagement_points_subtract_and_the_total_is_floored_at_zero() {
    let m = load(&with_rules(
        r#"
[[engagement]]
name = "Page views"
event = "page_view"
points = 5

[[engagement]]
name = "Unsubscribed"
event = "email_unsubscribe"
points = -10
"#,
    ));
    let s = engagement_of(
        &m,
        &[
            ("page_view", 1.0, &[]),
            ("page_view", 2.0, &[]),
            ("page_view", 3.0, &[]),
            ("email_unsubscribe", 0.0, &[]),
        ],
    );
    assert_eq!(s.engagement, 5.0);
    let s = engagement_of(&m, &[("email_unsubscribe", 0.0, &[])]);
    assert_eq!(s.engagement, 0.0);
    assert_eq!(s.band, 4);
    assert_eq!(s.reasons.len(), 1);
    assert_eq!(s.reasons[0].points, -10.0);
    assert_eq!(m.reasons_text(&s), "Unsubscribed -10 (1 event)");
}

#[test]
fn an_aggregate_rule_multiplies_points_by_its_value_up_to_its_cap() {
    let m = load(&with_rules(
        r#"
[[engagement]]
name = "Visits"
value = "custom.total_visits"
points = 2
cap = 30

[[engagement]]
name = "On trial"
when = 'custom.plan == "trial"'
points = 15
"#,
    ));
    let lead = |visits: Value, plan: Value| Lead {
        id: "a".into(),
        custom: custom_values(&m, &[("total_visits", visits), ("plan", plan)]),
        ..Default::default()
    };
    let ev = no_events(&m);

    let s = m.score(&lead(Value::Num(12.0), Value::Null), ev.view(), AS_OF);
    assert_eq!(s.engagement, 24.0);
    assert!(!s.reasons[0].capped);

    let s = m.score(
        &lead(Value::Num(20.0), Value::str("trial")),
        ev.view(),
        AS_OF,
    );
    // 2 × 20 = 40, capped at 30; plus 15 for the trial.
    assert_eq!(s.engagement, 45.0);
    assert_eq!(s.reasons.len(), 2);
    assert!(s.reasons[0].capped);
    assert_eq!(s.reasons[0].points, 30.0);
    assert_eq!(s.reasons[1].points, 15.0);

    let s = m.score(&lead(Value::Null, Value::str("paid")), ev.view(), AS_OF);
    assert_eq!(s.engagement, 0.0);
    assert!(
        s.reasons.is_empty(),
        "a missing value does not fire the rule: {:?}",
        s.reasons
    );
}

#[test]
fn an_event_condition_can_read_the_event_url() {
    let m = load(&with_rules(
        r#"
[[engagement]]
name = "Pricing page"
event = "page_view"
when = 'event.url.contains("/pricing")'
points = 10
"#,
    ));
    assert_eq!(m.event_properties, vec!["url".to_string()]);
    let s = engagement_of(
        &m,
        &[
            ("page_view", 1.0, &[("url", "https://acme.com/pricing")]),
            ("page_view", 2.0, &[("url", "https://acme.com/blog")]),
            ("page_view", 3.0, &[]),
            (
                "page_view",
                4.0,
                &[("url", "https://acme.com/pricing/enterprise")],
            ),
        ],
    );
    assert_eq!(s.engagement, 20.0);
    assert_eq!(s.reasons[0].events, 2);
}

#[test]
fn a_rule_can_listen_to_two_event_kinds_and_tell_them_apart_by_event_type() {
    let m = load(&with_rules(
        r#"
[[engagement]]
name = "Email activity"
event = ["email_open", "Email-Click"]
points = 1

[[engagement]]
name = "Email clicks"
event = ["email_open", "email_click"]
when = 'event.type == "email_click"'
points = 5
"#,
    ));
    // "Email-Click" names the same kind as "email_click".
    assert_eq!(
        m.event_kinds,
        vec!["email_open".to_string(), "email_click".to_string()]
    );
    let s = engagement_of(
        &m,
        &[
            ("email_open", 1.0, &[]),
            ("email_open", 2.0, &[]),
            ("email_click", 3.0, &[]),
        ],
    );
    // Activity: 3 × 1; clicks: 1 × 5.
    assert_eq!(s.engagement, 8.0);
    let per_rule: Vec<(u16, f64, u32)> = s
        .reasons
        .iter()
        .map(|r| (r.rule, r.points, r.events))
        .collect();
    assert_eq!(per_rule, vec![(0, 3.0, 3), (1, 5.0, 1)]);
}

// ---------------------------------------------------------------------------
// 4. Outcome: bands, priorities, ranking, MQL and SQL
// ---------------------------------------------------------------------------

#[test]
fn bands_follow_the_thresholds_including_their_exact_boundaries() {
    let m = fit_model();
    // 1 = 50, 2 = 20, 3 = 5.
    assert_eq!(m.band_of(120.0), 1);
    assert_eq!(m.band_of(50.0), 1);
    assert_eq!(m.band_of(49.999), 2);
    assert_eq!(m.band_of(20.0), 2);
    assert_eq!(m.band_of(19.999), 3);
    assert_eq!(m.band_of(5.0), 3);
    assert_eq!(m.band_of(4.999), 4);
    assert_eq!(m.band_of(0.0), 4);

    let m = load(&with_rules(
        "[[engagement]]\nname = \"Demo\"\nevent = \"demo_request\"\npoints = 25\n",
    ));
    let demos = |n: usize| {
        let evs: Vec<Ev<'_>> = (0..n)
            .map(|i| ("demo_request", i as f64, &[][..]))
            .collect();
        engagement_of(&m, &evs)
    };
    assert_eq!((demos(0).engagement, demos(0).band), (0.0, 4));
    assert_eq!((demos(1).engagement, demos(1).band), (25.0, 2));
    assert_eq!((demos(2).engagement, demos(2).band), (50.0, 1));
}

#[test]
fn the_priority_combines_grade_and_band_into_a_cell_name() {
    let m = load(&with_rules(&format!(
        "{FIT_RULES}\n[[engagement]]\nname = \"Demo\"\nevent = \"demo_request\"\npoints = 25\n"
    )));
    let score = |employees: f64, industry: &str, demos: usize| {
        let mut cols = EventColumns::new(0);
        for i in 0..demos {
            cols.push(
                m.event_kind_index("demo_request").unwrap(),
                at_days_ago(i as f64),
                [],
            );
        }
        m.score(
            &company_lead("x", Some(employees), Some(industry)),
            cols.view(),
            AS_OF,
        )
    };
    assert_eq!(score(5000.0, "software", 2).priority.to_string(), "A1");
    assert_eq!(score(5000.0, "retail", 1).priority.to_string(), "B2");
    assert_eq!(score(10.0, "software", 0).priority.to_string(), "C4");
    assert_eq!(score(10.0, "retail", 2).priority.to_string(), "D1");
    // Every cell name parses back to itself.
    for g in Grade::ALL {
        for band in 1..=4 {
            let p = Priority { grade: g, band };
            assert_eq!(p.as_str(), format!("{g}{band}"));
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
    }
    assert_eq!(Priority::parse("E1"), None);
    assert_eq!(Priority::parse("A5"), None);
}

#[test]
fn the_default_priority_order_goes_by_grade_plus_band_then_grade() {
    let m = fit_model();
    let mut cells: Vec<Priority> = Grade::ALL
        .iter()
        .flat_map(|&grade| (1..=4).map(move |band| Priority { grade, band }))
        .collect();
    cells.sort_by_key(|&p| m.priority_rank(p));
    let names: Vec<&str> = cells.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "A1", "A2", "B1", "A3", "B2", "C1", "A4", "B3", "C2", "D1", "B4", "C3", "D2", "C4",
            "D3", "D4"
        ]
    );
}

#[test]
fn ranking_orders_by_priority_then_higher_score_then_id() {
    let m = fit_model();
    let ids = ["x", "y", "z", "b", "a", "w"];
    let scores = [
        bare_score("B1", 90.0),
        bare_score("A2", 1.0),
        bare_score("A1", 0.0),
        bare_score("A2", 5.0),
        bare_score("A2", 5.0),
        bare_score("D4", 500.0),
    ];
    // z (A1); then the A2s: a and b tie on 5 and go by id, y has less; x (B1); w (D4).
    assert_eq!(rank(&m, &ids, &scores), vec![2, 4, 3, 1, 0, 5]);
}

#[test]
fn a_custom_priority_order_replaces_the_default_ranking() {
    let mut cells: Vec<String> = Grade::ALL
        .iter()
        .flat_map(|g| (1..=4).map(move |b| format!("{g}{b}")))
        .collect();
    cells.reverse();
    let order = cells
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let m = load(&with_rules(&format!("[priority]\norder = [{order}]\n")));
    assert_eq!(m.priority_rank(Priority::parse("D4").unwrap()), 0);
    assert_eq!(m.priority_rank(Priority::parse("A1").unwrap()), 15);
    let scores = [
        bare_score("A1", 100.0),
        bare_score("D4", 0.0),
        bare_score("B3", 10.0),
    ];
    assert_eq!(rank(&m, &["a", "b", "c"], &scores), vec![1, 2, 0]);
}

#[test]
fn the_mql_rule_can_use_grade_band_and_fit() {
    let text = format!(
        "{}\n{FIT_RULES}\n[[engagement]]\nname = \"Demo\"\nevent = \"demo_request\"\npoints = 25\n",
        BASE.replace(
            "when = \"fit >= 50\"",
            "when = '(grade in [\"A\", \"B\"] && band <= 2) || fit >= 80'",
        )
    );
    let m = load(&text);
    let score = |employees: f64, industry: &str, demos: usize| {
        let mut cols = EventColumns::new(0);
        for i in 0..demos {
            cols.push(
                m.event_kind_index("demo_request").unwrap(),
                at_days_ago(i as f64),
                [],
            );
        }
        m.score(
            &company_lead("x", Some(employees), Some(industry)),
            cols.view(),
            AS_OF,
        )
    };
    // B2: good enough grade and band.
    assert!(score(5000.0, "retail", 1).mql);
    // B4: the band is too cold.
    assert!(!score(5000.0, "retail", 0).mql);
    // A4: cold, but fit 80 is enough on its own.
    assert!(score(5000.0, "software", 0).mql);
    // D1: hot but a poor fit.
    assert!(!score(10.0, "retail", 3).mql);
    // No [sql] table: no SQL verdict.
    assert_eq!(score(5000.0, "software", 3).sql, None);
}

const BANT_MODEL: &str = r#"name = "BANT model"
frameworks = ["BANT"]

[grades]
A = 80
B = 50
C = 20

[bands]
1 = 50
2 = 20
3 = 5

[[fit]]
name = "Budget confirmed"
when = 'bant.budget == "confirmed"'
points = 20

[[fit]]
name = "Three criteria met"
when = "bant.satisfied >= 3"
points = 10

[mql]
when = "fit >= 50"

[sql]
when = 'bant.status == "qualified"'
"#;

fn bant_answers(m: &CompiledModel, given: &[(&str, &str)]) -> Vec<Value> {
    let bant = &m.frameworks[0];
    let keys: Vec<&str> = bant.criteria.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["budget", "authority", "need", "timeline"]);
    bant.criteria
        .iter()
        .map(|c| match given.iter().find(|(k, _)| *k == c.key) {
            Some((_, raw)) => Framework::parse_answer(c, raw).unwrap(),
            None => Value::Null,
        })
        .collect()
}

#[test]
fn the_sql_rule_can_use_the_status_of_a_qualification_framework() {
    let m = load(BANT_MODEL);
    assert_eq!(m.answer_count(), 4);
    let lead = |given: &[(&str, &str)]| Lead {
        id: "a".into(),
        answers: bant_answers(&m, given),
        ..Default::default()
    };
    let ev = no_events(&m);

    let all = [
        ("budget", "confirmed"),
        ("authority", "Decision maker"),
        ("need", "critical"),
        ("timeline", "within 3 months"),
    ];
    let s = m.score(&lead(&all), ev.view(), AS_OF);
    assert_eq!(s.frameworks[0].status, FrameworkStatus::Qualified);
    assert_eq!(s.sql, Some(true));
    // Fit is only 30, so the MQL rule alone would say no; an SQL is also an MQL.
    assert_eq!(s.fit, 30.0);
    assert!(s.mql);

    let s = m.score(&lead(&all[..3]), ev.view(), AS_OF);
    assert_eq!(s.frameworks[0].status, FrameworkStatus::NotYet);
    assert_eq!(s.frameworks[0].unknown(&m.frameworks[0]), vec!["timeline"]);
    assert_eq!(s.sql, Some(false));
    assert!(!s.mql);
    assert_eq!(s.fit, 30.0);

    let s = m.score(
        &lead(&[
            ("budget", "none"),
            ("authority", "decision maker"),
            ("need", "critical"),
            ("timeline", "within 3 months"),
        ]),
        ev.view(),
        AS_OF,
    );
    assert_eq!(s.frameworks[0].status, FrameworkStatus::Disqualified);
    assert_eq!(s.sql, Some(false));
    // "none" does not satisfy budget: only the three others do.
    assert_eq!(s.frameworks[0].satisfied, 3);
    assert_eq!(s.fit, 10.0);
}

#[test]
fn a_framework_answer_can_be_read_in_a_rule_by_criterion_key() {
    let text = BANT_MODEL.replace(
        "bant.budget == \"confirmed\"",
        "bant.timeline == \"within_6_months\"",
    );
    let m = load(&text);
    let lead = Lead {
        id: "a".into(),
        answers: bant_answers(&m, &[("timeline", "Within-6-Months")]),
        ..Default::default()
    };
    let s = m.score(&lead, no_events(&m).view(), AS_OF);
    assert_eq!(s.fit, 20.0);
    assert_eq!(s.reasons.len(), 1);
    assert_eq!(m.rule_name(&s.reasons[0]), "Budget confirmed");
}

#[test]
fn the_combined_score_weighs_fit_and_engagement() {
    let text = format!(
        "{}\n[score]\nfit_weight = 0.5\nengagement_weight = 2\n{FIT_RULES}\n[[engagement]]\nname = \"Demo\"\nevent = \"demo_request\"\npoints = 25\n",
        BASE.replace("\n[mql]\nwhen = \"fit >= 50\"\n", "")
    ) + "\n[mql]\nwhen = \"score >= 90\"\n";
    let m = load(&text);
    let mut cols = EventColumns::new(0);
    cols.push(
        m.event_kind_index("demo_request").unwrap(),
        at_days_ago(1.0),
        [],
    );
    let s = m.score(
        &company_lead("a", Some(5000.0), Some("software")),
        cols.view(),
        AS_OF,
    );
    // 0.5 × 80 + 2 × 25 = 90.
    assert_eq!(s.score, 90.0);
    assert!(s.mql);
    let s = m.score(
        &company_lead("a", Some(5000.0), Some("retail")),
        cols.view(),
        AS_OF,
    );
    assert_eq!(s.score, 75.0);
    assert!(!s.mql);
}

// ---------------------------------------------------------------------------
// 5. Explain
// ---------------------------------------------------------------------------

#[test]
fn explain_records_one_contribution_per_counted_event_with_its_decay() {
    let m = load(&with_rules(
        r#"
[[engagement]]
name = "Pricing page"
event = "page_view"
when = 'event.url.contains("/pricing")'
points = 10
half_life_days = 7

[[engagement]]
name = "Email opens"
event = "email_open"
points = 2
half_life_days = 3

[[engagement]]
name = "Demo"
event = "demo_request"
points = 40
"#,
    ));
    let lead = Lead {
        id: "a".into(),
        ..Default::default()
    };
    let mut cols = events(
        &m,
        &[
            ("page_view", 7.0, &[("url", "/pricing")]),
            ("page_view", 2.0, &[("url", "/blog")]),
            ("email_open", 6.0, &[]),
            ("demo_request", 10.0, &[]),
            ("email_open", 0.0, &[]),
        ],
    );
    // One event after as_of, which must not appear.
    cols.push(
        m.event_kind_index("email_open").unwrap(),
        Timestamp(AS_OF.0 + DAY),
        [None],
    );
    let (s, trace) = m.explain(&lead, cols.view(), AS_OF);
    assert_eq!(
        s,
        m.score(&lead, cols.view(), AS_OF),
        "explaining does not change the score"
    );

    // The blog view fails the condition and the future open is ignored: 4 of 6 count.
    assert_eq!(trace.len(), 4);
    let mut seen: Vec<(usize, u16)> = trace.iter().map(|c| (c.event, c.rule)).collect();
    seen.sort();
    assert_eq!(seen, vec![(0, 0), (2, 1), (3, 2), (4, 1)]);
    // Newest first.
    let ages: Vec<f64> = trace.iter().map(|c| c.age_days).collect();
    assert_eq!(ages, vec![0.0, 6.0, 7.0, 10.0]);

    for c in &trace {
        let rule = &m.engagement[c.rule as usize];
        assert_eq!(c.at, cols.at[c.event]);
        assert_close(c.age_days, (AS_OF.0 - c.at.0) as f64 / DAY as f64);
        assert_eq!(
            c.decay_factor,
            decay_factor(c.age_days, rule.half_life_days)
        );
        assert_close(c.points, c.raw_points * c.decay_factor);
        assert!(!c.capped);
    }
    // By hand: pricing 10 × ½ at 7 days; opens 2 at 0 days and 2 × ¼ at 6 days; demo 40 undecayed.
    let by_event: BTreeMap<usize, f64> = trace.iter().map(|c| (c.event, c.points)).collect();
    assert_close(by_event[&0], 5.0);
    assert_close(by_event[&2], 0.5);
    assert_close(by_event[&3], 40.0);
    assert_close(by_event[&4], 2.0);
    assert_close(s.engagement, 47.5);
    assert_close(trace.iter().map(|c| c.points).sum::<f64>(), s.engagement);
}

// ---------------------------------------------------------------------------
// 6. Account roll-up
// ---------------------------------------------------------------------------

#[test]
fn accounts_roll_up_leads_by_company_domain() {
    let m = load(&with_rules(&format!(
        "{FIT_RULES}
[[engagement]]
name = \"Visits\"
value = \"custom.total_visits\"
points = 1
"
    )));
    let lead = |id: &str,
                domain: Option<&str>,
                name: Option<&str>,
                employees: f64,
                industry: &str,
                visits: f64| Lead {
        id: id.into(),
        company: Company {
            name: name.map(Into::into),
            domain: domain.map(|d| Domain::parse(d).unwrap()),
            employees: Some(employees),
            industry: Some(industry.into()),
            ..Default::default()
        },
        custom: custom_values(&m, &[("total_visits", Value::Num(visits))]),
        ..Default::default()
    };
    let leads = vec![
        // Listed first but without a company name: the name comes from the next lead.
        lead("a2", Some("acme.com"), None, 100.0, "retail", 60.0),
        lead(
            "b1",
            Some("https://www.beta.io/about"),
            Some("Beta"),
            1000.0,
            "retail",
            0.0,
        ),
        lead("n1", None, Some("Nowhere"), 5000.0, "software", 99.0),
        lead(
            "a1",
            Some("ACME.com"),
            Some("Acme"),
            5000.0,
            "software",
            30.0,
        ),
    ];
    let ev = no_events(&m);
    let scores: Vec<Score> = leads.iter().map(|l| m.score(l, ev.view(), AS_OF)).collect();
    assert_eq!(
        scores
            .iter()
            .map(|s| s.priority.to_string())
            .collect::<Vec<_>>(),
        ["D1", "B4", "A1", "A2"],
        "the leads score as planned"
    );

    let accounts = roll_up(&leads, &scores, |s| m.priority_rank(s.priority));
    assert_eq!(accounts.len(), 2, "the lead without a domain is left out");

    let acme = &accounts[0];
    assert_eq!(acme.domain, "acme.com");
    assert_eq!(acme.company.as_deref(), Some("Acme"));
    assert_eq!(acme.leads, 2);
    assert_eq!(acme.fit, 80.0);
    assert_eq!(acme.grade, Grade::A);
    assert_eq!(acme.engagement, 90.0);
    assert_eq!(acme.engaged_leads, 2);
    assert_eq!(acme.mqls, 1);
    // A2 ranks before D1.
    assert_eq!(acme.best_priority, "A2");

    let beta = &accounts[1];
    assert_eq!(beta.domain, "beta.io");
    assert_eq!(beta.company.as_deref(), Some("Beta"));
    assert_eq!((beta.leads, beta.fit, beta.grade), (1, 50.0, Grade::B));
    assert_eq!(
        (beta.engagement, beta.engaged_leads, beta.mqls),
        (0.0, 0, 1)
    );
    assert_eq!(beta.best_priority, "B4");
}

// ---------------------------------------------------------------------------
// 7. Properties
// ---------------------------------------------------------------------------

/// A model with negative points, decays, windowed and total caps, an event
/// condition, a two-kind rule and an aggregate rule.
const PROP_MODEL: &str = r#"name = "Property model"

[fields]
total_visits = "number"

[grades]
A = 80
B = 50
C = 20

[bands]
1 = 50
2 = 20
3 = 5

[[fit]]
name = "Enterprise"
when = "employees >= 1000"
points = 40

[[fit]]
name = "Mid-market"
when = "employees >= 100 && employees < 1000"
points = 20

[[fit]]
name = "Software"
when = 'industry in ["software", "fintech"]'
points = 30

[[fit]]
name = "EMEA"
when = 'region == "EMEA"'
points = 10

[[fit]]
name = "Free email"
when = "email_free"
points = -25

[[fit]]
name = "Disposable email"
when = "email_disposable"
points = -60

[[engagement]]
name = "Page views"
event = "page_view"
points = 2
half_life_days = 14
cap = 10
cap_window_days = 7

[[engagement]]
name = "Pricing"
event = "page_view"
when = 'event.url.contains("/pricing")'
points = 8
half_life_days = 7
cap = 20

[[engagement]]
name = "Email"
event = ["email_open", "email_click"]
points = 1.5
half_life_days = 10
cap = 6
cap_window_days = 3.5

[[engagement]]
name = "Clicks"
event = ["email_open", "email_click"]
when = 'event.type == "email_click"'
points = 3
half_life_days = 10

[[engagement]]
name = "Demo"
event = "demo_request"
points = 40
half_life_days = 30

[[engagement]]
name = "Unsubscribed"
event = "email_unsubscribe"
points = -30
half_life_days = 60

[[engagement]]
name = "Visits"
value = "custom.total_visits"
points = 0.5
cap = 15

[mql]
when = 'grade in ["A", "B"] && band <= 2'
"#;

/// Only positive points, no windowed caps (a total cap is kept) and no
/// aggregate rule.
const POSITIVE_MODEL: &str = r#"name = "Positive model"

[grades]
A = 80
B = 50
C = 20

[bands]
1 = 50
2 = 20
3 = 5

[[fit]]
name = "Enterprise"
when = "employees >= 1000"
points = 40

[[engagement]]
name = "Page views"
event = "page_view"
points = 2
half_life_days = 14
cap = 10

[[engagement]]
name = "Pricing"
event = "page_view"
when = 'event.url.contains("/pricing")'
points = 8
half_life_days = 7

[[engagement]]
name = "Email"
event = ["email_open", "email_click"]
points = 1.5
half_life_days = 10

[[engagement]]
name = "Clicks"
event = ["email_open", "email_click"]
when = 'event.type == "email_click"'
points = 3
half_life_days = 10

[[engagement]]
name = "Demo"
event = "demo_request"
points = 40

[[engagement]]
name = "Unsubscribe noticed"
event = "email_unsubscribe"
points = 1
half_life_days = 2

[mql]
when = "fit >= 40"
"#;

fn prop_model() -> &'static CompiledModel {
    static M: OnceLock<CompiledModel> = OnceLock::new();
    M.get_or_init(|| load(PROP_MODEL))
}

fn positive_model() -> &'static CompiledModel {
    static M: OnceLock<CompiledModel> = OnceLock::new();
    M.get_or_init(|| load(POSITIVE_MODEL))
}

const KINDS: [&str; 5] = [
    "page_view",
    "email_open",
    "email_click",
    "demo_request",
    "email_unsubscribe",
];
const URLS: [Option<&str>; 4] = [
    None,
    Some("https://acme.com/pricing"),
    Some("https://acme.com/blog"),
    Some("https://acme.com/pricing/teams"),
];

/// A generated event: index into `KINDS` (5 stands for a kind the model does
/// not know), seconds before the reference instant, and an index into `URLS`.
type GenEvent = (usize, i64, usize);

fn arb_event() -> impl Strategy<Value = GenEvent> {
    (0usize..=KINDS.len(), 0i64..400 * DAY, 0usize..URLS.len())
}

fn arb_events() -> impl Strategy<Value = Vec<GenEvent>> {
    prop::collection::vec(arb_event(), 0..60)
}

/// Events with pairwise distinct timestamps, in a random order.
fn arb_distinct_events() -> impl Strategy<Value = Vec<GenEvent>> {
    prop::collection::btree_set(0i64..400 * DAY, 0..60)
        .prop_flat_map(|ages| {
            let n = ages.len();
            (
                Just(ages.into_iter().collect::<Vec<_>>()),
                prop::collection::vec((0usize..=KINDS.len(), 0usize..URLS.len()), n),
            )
        })
        .prop_map(|(ages, rest)| {
            ages.into_iter()
                .zip(rest)
                .map(|(age, (k, u))| (k, age, u))
                .collect()
        })
}

fn columns(model: &CompiledModel, evs: &[GenEvent], reference: Timestamp) -> EventColumns {
    let mut cols = EventColumns::new(model.event_properties.len());
    for &(k, age, u) in evs {
        let kind = KINDS
            .get(k)
            .and_then(|name| model.event_kind_index(name))
            .unwrap_or(u16::MAX);
        let props = model.event_properties.iter().map(|p| {
            if p == "url" {
                URLS[u].map(compact_str::CompactString::new)
            } else {
                None
            }
        });
        cols.push(kind, Timestamp(reference.0 - age), props);
    }
    cols
}

fn arb_lead() -> impl Strategy<Value = Lead> {
    (
        proptest::option::of(0.0f64..20_000.0),
        proptest::option::of(prop::sample::select(vec![
            "software",
            "fintech",
            "retail",
            "education",
        ])),
        proptest::option::of(prop::sample::select(vec![
            EmailKind::Business,
            EmailKind::Free,
            EmailKind::Disposable,
        ])),
        proptest::option::of(prop::sample::select(vec!["NA", "EMEA", "APAC", "LATAM"])),
        proptest::option::of(0.0f64..100.0),
    )
        .prop_map(|(employees, industry, email_kind, region, visits)| Lead {
            id: "p".into(),
            contact: Contact {
                email_kind,
                ..Default::default()
            },
            company: Company {
                employees,
                industry: industry.map(Into::into),
                region: region.map(Into::into),
                ..Default::default()
            },
            custom: vec![visits.map_or(Value::Null, Value::Num)],
            ..Default::default()
        })
}

/// Whether a generated event matches a rule of `POSITIVE_MODEL`, decided
/// here from the rule's definition rather than by the engine.
fn positive_rule_matches(rule: &str, kind: &str, url: Option<&str>) -> bool {
    match rule {
        "Page views" => kind == "page_view",
        "Pricing" => kind == "page_view" && url.is_some_and(|u| u.contains("/pricing")),
        "Email" => kind == "email_open" || kind == "email_click",
        "Clicks" => kind == "email_click",
        "Demo" => kind == "demo_request",
        "Unsubscribe noticed" => kind == "email_unsubscribe",
        other => panic!("no matcher for rule '{other}'"),
    }
}

fn assert_bit_identical(a: &Score, b: &Score) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.fit.to_bits(), b.fit.to_bits());
    prop_assert_eq!(a.engagement.to_bits(), b.engagement.to_bits());
    prop_assert_eq!(a.score.to_bits(), b.score.to_bits());
    prop_assert_eq!(a.reasons.len(), b.reasons.len());
    for (x, y) in a.reasons.iter().zip(&b.reasons) {
        prop_assert_eq!(
            (x.kind, x.rule, x.events, x.capped),
            (y.kind, y.rule, y.events, y.capped)
        );
        prop_assert_eq!(x.points.to_bits(), y.points.to_bits());
        prop_assert_eq!(x.raw_points.to_bits(), y.raw_points.to_bits());
    }
    prop_assert_eq!(a, b);
    Ok(())
}

proptest! {
    #[test]
    fn ranking_is_the_order_of_priority_then_higher_score_then_id(
        leads in prop::collection::vec(
            (0usize..16, prop_oneof![-1000.0..1000.0f64, Just(0.0), Just(-0.0), Just(12.5)], "[a-c]{1,2}"),
            0..60,
        ),
    ) {
        let m = fit_model();
        let cells: Vec<String> = Grade::ALL
            .iter()
            .flat_map(|g| (1..=4).map(move |b| format!("{g}{b}")))
            .collect();
        let scores: Vec<Score> = leads.iter().map(|(c, x, _)| bare_score(&cells[*c], *x)).collect();
        let ids: Vec<&str> = leads.iter().map(|(_, _, id)| id.as_str()).collect();
        let order = rank(&m, &ids, &scores);
        let mut sorted: Vec<usize> = order.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..leads.len()).collect::<Vec<_>>());
        for w in order.windows(2) {
            let (a, b) = (&scores[w[0]], &scores[w[1]]);
            let cmp = m
                .priority_rank(a.priority)
                .cmp(&m.priority_rank(b.priority))
                .then_with(|| b.score.total_cmp(&a.score))
                .then_with(|| ids[w[0]].cmp(ids[w[1]]))
                .then_with(|| w[0].cmp(&w[1]));
            prop_assert_eq!(cmp, std::cmp::Ordering::Less, "{:?} before {:?}", leads[w[0]], leads[w[1]]);
        }
    }

    #[test]
    fn fit_stays_between_zero_and_the_model_maximum(lead in arb_lead(), evs in arb_events()) {
        let m = prop_model();
        let s = m.score(&lead, columns(m, &evs, AS_OF).view(), AS_OF);
        prop_assert!(s.fit >= 0.0, "fit {}", s.fit);
        prop_assert!(s.fit <= m.max_fit(), "fit {} above maximum {}", s.fit, m.max_fit());
        prop_assert_eq!(s.grade, m.grade_of(s.fit));
        prop_assert_eq!(s.band, m.band_of(s.engagement));
    }

    #[test]
    fn engagement_is_never_negative(lead in arb_lead(), evs in arb_events()) {
        let m = prop_model();
        let s = m.score(&lead, columns(m, &evs, AS_OF).view(), AS_OF);
        prop_assert!(s.engagement >= 0.0, "engagement {}", s.engagement);
    }

    #[test]
    fn engagement_never_exceeds_the_undecayed_points_of_the_matching_events(lead in arb_lead(), evs in arb_events(), future in 0i64..30 * DAY) {
        let m = positive_model();
        // Shift some events after as_of by scoring earlier: those must not count.
        let as_of = Timestamp(AS_OF.0 - future);
        let s = m.score(&lead, columns(m, &evs, AS_OF).view(), as_of);
        let bound: f64 = m
            .engagement
            .iter()
            .map(|r| {
                let n = evs
                    .iter()
                    .filter(|&&(k, age, u)| AS_OF.0 - age <= as_of.0 && k < KINDS.len() && positive_rule_matches(&r.name, KINDS[k], URLS[u]))
                    .count();
                r.points * n as f64
            })
            .sum();
        prop_assert!(s.engagement >= 0.0);
        prop_assert!(s.engagement <= bound + EPS, "engagement {} above bound {}", s.engagement, bound);
    }

    #[test]
    fn engagement_does_not_grow_as_time_passes_without_new_events(evs in arb_events(), later in 0i64..200 * DAY, step in 0i64..200 * DAY) {
        let m = positive_model();
        let lead = Lead { id: "p".into(), ..Default::default() };
        let cols = columns(m, &evs, AS_OF);
        let t1 = Timestamp(AS_OF.0 + later);
        let t2 = Timestamp(t1.0 + step);
        let e0 = m.score(&lead, cols.view(), AS_OF).engagement;
        let e1 = m.score(&lead, cols.view(), t1).engagement;
        let e2 = m.score(&lead, cols.view(), t2).engagement;
        prop_assert!(e1 <= e0 + 1e-12 * e0.max(1.0), "{} at +{}s is above {} at as_of", e1, later, e0);
        prop_assert!(e2 <= e1 + 1e-12 * e1.max(1.0), "{} at t2 is above {} at t1", e2, e1);
    }

    #[test]
    fn the_same_inputs_always_give_bit_identical_scores(lead in arb_lead(), evs in arb_events()) {
        let m = prop_model();
        let cols = columns(m, &evs, AS_OF);
        let a = m.score(&lead, cols.view(), AS_OF);
        let b = m.score(&lead, cols.clone().view(), AS_OF);
        assert_bit_identical(&a, &b)?;
        let (c, _) = m.explain(&lead, cols.view(), AS_OF);
        assert_bit_identical(&a, &c)?;
    }

    #[test]
    fn the_order_of_events_with_distinct_timestamps_does_not_change_the_score(
        lead in arb_lead(),
        (evs, shuffled) in arb_distinct_events().prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle())),
    ) {
        let m = prop_model();
        let a = m.score(&lead, columns(m, &evs, AS_OF).view(), AS_OF);
        let b = m.score(&lead, columns(m, &shuffled, AS_OF).view(), AS_OF);
        assert_bit_identical(&a, &b)?;
    }

    #[test]
    fn a_capped_rule_never_exceeds_its_cap_within_one_window(lead in arb_lead(), evs in arb_events()) {
        let m = prop_model();
        let cols = columns(m, &evs, AS_OF);
        let (s, trace) = m.explain(&lead, cols.view(), AS_OF);
        let mut capped_rules = 0;
        for (ri, rule) in m.engagement.iter().enumerate() {
            let Some(cap) = rule.cap else { continue };
            if rule.is_aggregate() {
                continue;
            }
            capped_rules += 1;
            // window index -> (raw sum, decayed sum, matching events)
            let mut windows: BTreeMap<i64, (f64, f64, usize)> = BTreeMap::new();
            for c in trace.iter().filter(|c| c.rule as usize == ri) {
                let w = rule.cap_window_days.map_or(0, |wd| (c.age_days / wd).floor() as i64);
                let e = windows.entry(w).or_default();
                e.0 += c.raw_points;
                e.1 += c.points;
                e.2 += 1;
            }
            for (w, (raw, pts, n)) in windows {
                prop_assert!(raw <= cap + EPS, "rule '{}' window {}: {} raw points above cap {}", rule.name, w, raw, cap);
                prop_assert!(pts <= cap + EPS, "rule '{}' window {}: {} points above cap {}", rule.name, w, pts, cap);
                // The cap is also tight: a window gets everything up to the cap.
                let expected = (rule.points * n as f64).min(cap);
                prop_assert!((raw - expected).abs() <= EPS, "rule '{}' window {}: {} raw points, expected {}", rule.name, w, raw, expected);
            }
        }
        prop_assert_eq!(capped_rules, 3);
        let total: f64 = trace.iter().map(|c| c.points).sum::<f64>()
            + s.reasons.iter().filter(|r| m.engagement.get(r.rule as usize).is_some_and(|e| e.is_aggregate()) && r.kind == RuleKind::Engagement).map(|r| r.points).sum::<f64>();
        prop_assert!((total.max(0.0) - s.engagement).abs() <= 1e-6, "trace total {} vs engagement {}", total, s.engagement);
    }
}
