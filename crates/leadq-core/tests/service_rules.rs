//! Behaviour of the service rules (lifecycle moves, rep routing and the
//! business-hours SLA clock) as seen from outside the crate. Expected
//! instants are written as local wall-clock times so that each case can be
//! checked against a calendar.

use leadq_core::lifecycle::{
    automatic_after_scoring, check_manual, FrameworkGate, Guard, Stage, TransitionError,
};
use leadq_core::routing::{
    route, Assignment, LeadFacts, RepState, RoutingRule, RuleError, Strategy, Unrouted,
};
use leadq_core::sla::{SlaError, WorkingHours};
use leadq_core::Timestamp;
use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, prop_assume, proptest, Just};
use proptest::strategy::Strategy as _;
use proptest::test_runner::Config as ProptestConfig;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// `"2026-11-06T16:00:00[Europe/Berlin]"` to a timestamp.
fn at(text: &str) -> Timestamp {
    let zoned: jiff::Zoned = text
        .parse()
        .unwrap_or_else(|e| panic!("bad test instant {text}: {e}"));
    Timestamp(zoned.timestamp().as_second())
}

fn berlin_office() -> WorkingHours {
    WorkingHours::office("Europe/Berlin").unwrap()
}

fn with_reason(reason: &str) -> Guard<'_> {
    Guard {
        reason: Some(reason),
        framework: None,
    }
}

fn bant(satisfied: bool, unknown: &[&str]) -> Guard<'static> {
    Guard {
        reason: None,
        framework: Some(FrameworkGate {
            name: "BANT",
            satisfied,
            unknown: unknown.iter().map(|s| s.to_string()).collect(),
            not_met: vec![],
        }),
    }
}

/// An active rep with room, working around the clock, never assigned.
fn rep(id: &str) -> RepState {
    RepState {
        id: id.into(),
        active: true,
        capacity: 40,
        open_leads: 0,
        hours: WorkingHours::always(),
        last_assigned_at: None,
    }
}

fn rule(name: &str, reps: &[&str]) -> RoutingRule {
    RoutingRule {
        name: name.into(),
        countries: vec![],
        regions: vec![],
        industries: vec![],
        sources: vec![],
        grades: vec![],
        min_employees: None,
        max_employees: None,
        reps: reps.iter().map(|s| s.to_string()).collect(),
        strategy: Strategy::RoundRobin,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A Monday, 10:00 UTC.
const NOW: Timestamp = Timestamp(1_793_613_600);

fn routed(result: Result<Assignment, Unrouted>) -> Assignment {
    result.unwrap_or_else(|e| panic!("the lead should be routed, but: {e}"))
}

fn unrouted(result: Result<Assignment, Unrouted>) -> Unrouted {
    match result {
        Ok(a) => panic!("the lead should not be routed, but went to {a:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

#[test]
fn the_manual_graph_is_exactly_the_documented_one() {
    use Stage::*;
    let expected: [(Stage, &[Stage]); 11] = [
        (New, &[Working, Mql, Sal, Nurture, Disqualified]),
        (Working, &[Mql, Sal, Nurture, Disqualified]),
        (Mql, &[Working, Sal, Nurture, Recycled, Disqualified]),
        (Sal, &[Sql, Nurture, Recycled, Disqualified]),
        (Sql, &[Opportunity, Nurture, Recycled, Disqualified, Lost]),
        (Opportunity, &[Won, Lost]),
        (Won, &[]),
        (Lost, &[Recycled]),
        (Nurture, &[Working, Mql, Recycled, Disqualified]),
        (Recycled, &[Working, Mql, Nurture, Disqualified]),
        (Disqualified, &[Recycled]),
    ];
    for (from, next) in expected {
        assert_eq!(from.allowed_next(), next, "from {from}");
    }
}

#[test]
fn every_edge_of_the_graph_is_accepted_with_a_reason_and_a_satisfied_framework() {
    let guard = Guard {
        reason: Some("budget cut"),
        framework: Some(FrameworkGate {
            name: "BANT",
            satisfied: true,
            unknown: vec![],
            not_met: vec![],
        }),
    };
    for from in Stage::ALL {
        for to in Stage::ALL {
            let result = check_manual(from, to, &guard);
            let expected = from != to && from.allowed_next().contains(&to);
            assert_eq!(result.is_ok(), expected, "{from} -> {to}: {result:?}");
        }
    }
}

#[test]
fn moving_to_the_same_stage_is_refused_as_unchanged() {
    let err = check_manual(Stage::Sal, Stage::Sal, &Guard::default()).unwrap_err();
    assert_eq!(err, TransitionError::Unchanged { stage: Stage::Sal });
    assert_eq!(err.code(), "unchanged");
    assert_eq!(err.to_string(), "the lead is already sal");
}

#[test]
fn skipping_ahead_is_refused_and_the_allowed_stages_are_listed() {
    let err = check_manual(Stage::New, Stage::Opportunity, &Guard::default()).unwrap_err();
    assert_eq!(
        err,
        TransitionError::NotAllowed {
            from: Stage::New,
            to: Stage::Opportunity,
            allowed: vec![
                Stage::Working,
                Stage::Mql,
                Stage::Sal,
                Stage::Nurture,
                Stage::Disqualified
            ],
        }
    );
    assert_eq!(err.code(), "not_allowed");
    assert_eq!(
        err.to_string(),
        "a lead cannot move from new to opportunity; allowed next stages: working, mql, sal, nurture, disqualified"
    );
}

#[test]
fn disqualifying_without_a_reason_is_refused() {
    for guard in [Guard::default(), with_reason(""), with_reason("  \t ")] {
        let err = check_manual(Stage::Working, Stage::Disqualified, &guard).unwrap_err();
        assert_eq!(
            err,
            TransitionError::ReasonRequired {
                to: Stage::Disqualified
            }
        );
        assert_eq!(err.code(), "reason_required");
    }
    assert_eq!(
        check_manual(Stage::Working, Stage::Disqualified, &with_reason("student")),
        Ok(())
    );
}

#[test]
fn losing_an_opportunity_without_a_reason_is_refused() {
    let err = check_manual(Stage::Opportunity, Stage::Lost, &Guard::default()).unwrap_err();
    assert_eq!(err, TransitionError::ReasonRequired { to: Stage::Lost });
    assert!(err.to_string().contains("lost"), "{err}");
    assert_eq!(
        check_manual(
            Stage::Opportunity,
            Stage::Lost,
            &with_reason("went with a rival")
        ),
        Ok(())
    );
}

#[test]
fn winning_and_recycling_need_no_reason() {
    assert_eq!(
        check_manual(Stage::Opportunity, Stage::Won, &Guard::default()),
        Ok(())
    );
    assert_eq!(
        check_manual(Stage::Lost, Stage::Recycled, &Guard::default()),
        Ok(())
    );
}

#[test]
fn sql_needs_the_framework_satisfied_and_names_what_is_unknown() {
    let err = check_manual(
        Stage::Sal,
        Stage::Sql,
        &bant(false, &["budget", "authority"]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        TransitionError::FrameworkNotSatisfied {
            framework: "BANT".into(),
            unknown: strings(&["budget", "authority"]),
            not_met: vec![],
        }
    );
    assert_eq!(err.code(), "framework_not_satisfied");
    assert_eq!(
        err.to_string(),
        "SQL needs BANT satisfied; still unknown: budget, authority"
    );
    let answered_badly = check_manual(
        Stage::Sal,
        Stage::Sql,
        &Guard {
            reason: None,
            framework: Some(FrameworkGate {
                name: "BANT",
                satisfied: false,
                unknown: strings(&["timeline"]),
                not_met: strings(&["authority"]),
            }),
        },
    )
    .unwrap_err();
    assert_eq!(
        answered_badly.to_string(),
        "SQL needs BANT satisfied; still unknown: timeline; answered but not qualifying: authority"
    );
    assert_eq!(
        check_manual(Stage::Sal, Stage::Sql, &bant(true, &[])),
        Ok(())
    );
}

#[test]
fn sql_is_not_gated_when_no_framework_is_configured() {
    assert_eq!(
        check_manual(Stage::Sal, Stage::Sql, &Guard::default()),
        Ok(())
    );
}

#[test]
fn an_unsatisfied_framework_only_gates_the_move_to_sql() {
    assert_eq!(
        check_manual(Stage::Sal, Stage::Nurture, &bant(false, &["need"])),
        Ok(())
    );
}

#[test]
fn the_graph_is_checked_before_the_reason_and_the_reason_before_the_framework() {
    // Won -> Disqualified is both off the graph and missing a reason.
    let err = check_manual(Stage::Won, Stage::Disqualified, &Guard::default()).unwrap_err();
    assert_eq!(err.code(), "not_allowed");
    // Opportunity -> Sql is off the graph even with an unsatisfied framework.
    let err = check_manual(Stage::Opportunity, Stage::Sql, &bant(false, &["budget"])).unwrap_err();
    assert_eq!(err.code(), "not_allowed");
    // Unchanged wins over everything.
    let err = check_manual(Stage::Lost, Stage::Lost, &Guard::default()).unwrap_err();
    assert_eq!(err.code(), "unchanged");
    // Sql -> Lost without a reason and with an unsatisfied framework.
    let err = check_manual(Stage::Sql, Stage::Lost, &bant(false, &["budget"])).unwrap_err();
    assert_eq!(err.code(), "reason_required");
}

#[test]
fn scoring_promotes_only_unqualified_leads_to_mql() {
    use Stage::*;
    for stage in [New, Working, Nurture, Recycled] {
        assert_eq!(automatic_after_scoring(stage, true), Some(Mql), "{stage}");
        assert_eq!(automatic_after_scoring(stage, false), None, "{stage}");
    }
    for stage in [Mql, Sal, Sql, Opportunity, Won, Lost, Disqualified] {
        assert_eq!(automatic_after_scoring(stage, true), None, "{stage}");
        assert_eq!(automatic_after_scoring(stage, false), None, "{stage}");
    }
}

#[test]
fn every_automatic_move_is_also_a_legal_manual_move() {
    for stage in Stage::ALL {
        if let Some(next) = automatic_after_scoring(stage, true) {
            assert_eq!(
                check_manual(stage, next, &Guard::default()),
                Ok(()),
                "{stage}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Routing: account owner
// ---------------------------------------------------------------------------

#[test]
fn an_eligible_account_owner_gets_the_lead_before_any_rule() {
    let rules = [rule("everyone", &["rep-1"])];
    let reps = [rep("rep-1"), rep("rep-2")];
    let a = routed(route(
        &LeadFacts::default(),
        Some("rep-2"),
        &rules,
        &reps,
        NOW,
    ));
    assert_eq!(a.rep_id, "rep-2");
    assert_eq!(a.rule.as_deref(), Some("account owner"));
    assert!(
        a.explanation.contains("account owner rep-2"),
        "{}",
        a.explanation
    );
}

#[test]
fn an_ineligible_account_owner_is_skipped_with_the_reason() {
    let rules = [rule("everyone", &["rep-1"])];
    let mut owner = rep("rep-2");
    owner.active = false;
    let reps = [rep("rep-1"), owner];
    let a = routed(route(
        &LeadFacts::default(),
        Some("rep-2"),
        &rules,
        &reps,
        NOW,
    ));
    assert_eq!(a.rep_id, "rep-1");
    assert_eq!(a.rule.as_deref(), Some("everyone"));
    assert!(
        a.explanation
            .starts_with("account owner rep-2 skipped: inactive; rule \"everyone\" matched"),
        "{}",
        a.explanation
    );
}

#[test]
fn an_account_owner_who_is_not_a_rep_is_reported_and_routing_goes_on() {
    let reps = [rep("rep-1")];
    let a = routed(route(&LeadFacts::default(), Some("ghost"), &[], &reps, NOW));
    assert_eq!(a.rep_id, "rep-1");
    assert_eq!(a.rule, None);
    assert!(
        a.explanation
            .contains("account owner ghost is not a known rep"),
        "{}",
        a.explanation
    );
}

// ---------------------------------------------------------------------------
// Routing: rule conditions
// ---------------------------------------------------------------------------

/// Routes `lead` with `the_rule` (to rep "ruled") before a catch-all
/// fallback rep "other", and says whether the rule took it.
fn rule_takes(the_rule: RoutingRule, lead: LeadFacts<'_>) -> bool {
    let reps = [rep("other"), rep("ruled")];
    let a = routed(route(&lead, None, &[the_rule], &reps, NOW));
    a.rep_id == "ruled"
}

fn ruled() -> RoutingRule {
    rule("r", &["ruled"])
}

#[test]
fn a_rule_matches_on_country_ignoring_case() {
    let r = RoutingRule {
        countries: strings(&["DE", "AT"]),
        ..ruled()
    };
    let lead = |c| LeadFacts {
        country: Some(c),
        ..LeadFacts::default()
    };
    assert!(rule_takes(r.clone(), lead("at")));
    assert!(!rule_takes(r.clone(), lead("CH")));
    assert!(!rule_takes(r, LeadFacts::default()));
}

#[test]
fn a_rule_matches_on_region() {
    let r = RoutingRule {
        regions: strings(&["EMEA"]),
        ..ruled()
    };
    let lead = |c| LeadFacts {
        region: Some(c),
        ..LeadFacts::default()
    };
    assert!(rule_takes(r.clone(), lead(" emea ")));
    assert!(!rule_takes(r.clone(), lead("APAC")));
    assert!(!rule_takes(r, LeadFacts::default()));
}

#[test]
fn a_rule_matches_on_industry() {
    let r = RoutingRule {
        industries: strings(&["Software", "Fintech"]),
        ..ruled()
    };
    let lead = |c| LeadFacts {
        industry: Some(c),
        ..LeadFacts::default()
    };
    assert!(rule_takes(r.clone(), lead("FINTECH")));
    assert!(!rule_takes(r.clone(), lead("Retail")));
    assert!(!rule_takes(r, LeadFacts::default()));
}

#[test]
fn a_rule_matches_on_source() {
    let r = RoutingRule {
        sources: strings(&["webinar"]),
        ..ruled()
    };
    let lead = |c| LeadFacts {
        source: Some(c),
        ..LeadFacts::default()
    };
    assert!(rule_takes(r.clone(), lead("Webinar")));
    assert!(!rule_takes(r.clone(), lead("organic")));
    assert!(!rule_takes(r, LeadFacts::default()));
}

#[test]
fn a_rule_matches_on_grade() {
    let r = RoutingRule {
        grades: strings(&["A", "B"]),
        ..ruled()
    };
    let lead = |c| LeadFacts {
        grade: Some(c),
        ..LeadFacts::default()
    };
    assert!(rule_takes(r.clone(), lead("b")));
    assert!(!rule_takes(r.clone(), lead("C")));
    assert!(!rule_takes(r, LeadFacts::default()));
}

#[test]
fn employee_bounds_are_inclusive_and_need_a_known_size() {
    let r = RoutingRule {
        min_employees: Some(500.0),
        max_employees: Some(5000.0),
        ..ruled()
    };
    let lead = |n| LeadFacts {
        employees: Some(n),
        ..LeadFacts::default()
    };
    assert!(rule_takes(r.clone(), lead(500.0)));
    assert!(rule_takes(r.clone(), lead(5000.0)));
    assert!(!rule_takes(r.clone(), lead(499.0)));
    assert!(!rule_takes(r.clone(), lead(5001.0)));
    assert!(!rule_takes(r.clone(), lead(f64::NAN)));
    assert!(!rule_takes(r, LeadFacts::default()));
}

#[test]
fn every_given_condition_must_hold() {
    let r = RoutingRule {
        regions: strings(&["EMEA"]),
        grades: strings(&["A"]),
        ..ruled()
    };
    let both = LeadFacts {
        region: Some("EMEA"),
        grade: Some("A"),
        ..LeadFacts::default()
    };
    assert!(rule_takes(r.clone(), both));
    assert!(!rule_takes(
        r,
        LeadFacts {
            grade: Some("B"),
            ..both
        }
    ));
}

#[test]
fn the_first_matching_rule_wins() {
    let rules = [
        RoutingRule {
            regions: strings(&["APAC"]),
            ..rule("apac", &["rep-apac"])
        },
        RoutingRule {
            regions: strings(&["EMEA"]),
            ..rule("emea", &["rep-emea"])
        },
        rule("catch-all", &["rep-any"]),
    ];
    let reps = [rep("rep-any"), rep("rep-apac"), rep("rep-emea")];
    let lead = LeadFacts {
        region: Some("EMEA"),
        ..LeadFacts::default()
    };
    let a = routed(route(&lead, None, &rules, &reps, NOW));
    assert_eq!(a.rep_id, "rep-emea");
    assert_eq!(a.rule.as_deref(), Some("emea"));
    assert_eq!(
        a.explanation,
        "rule \"emea\" matched (region EMEA); round-robin among 1 eligible rep chose rep-emea (never assigned)"
    );
}

#[test]
fn a_rule_without_conditions_says_so() {
    let reps = [rep("rep-1")];
    let a = routed(route(
        &LeadFacts::default(),
        None,
        &[rule("catch-all", &["rep-1"])],
        &reps,
        NOW,
    ));
    assert!(
        a.explanation
            .starts_with("rule \"catch-all\" matched (it has no conditions);"),
        "{}",
        a.explanation
    );
}

// ---------------------------------------------------------------------------
// Routing: eligibility and fallback
// ---------------------------------------------------------------------------

#[test]
fn the_documented_example_explanation_is_produced_word_for_word() {
    let rules = [RoutingRule {
        regions: strings(&["EMEA"]),
        min_employees: Some(500.0),
        ..rule("EMEA enterprise", &["rep-3", "rep-7", "rep-9"])
    }];
    let mut full = rep("rep-3");
    full.open_leads = 40;
    let mut seven = rep("rep-7");
    seven.last_assigned_at = Some(at("2026-11-01T10:00:00Z[UTC]"));
    let mut nine = rep("rep-9");
    nine.last_assigned_at = Some(at("2026-11-01T11:00:00Z[UTC]"));
    let lead = LeadFacts {
        region: Some("EMEA"),
        employees: Some(1200.0),
        ..LeadFacts::default()
    };
    let a = routed(route(&lead, None, &rules, &[full, seven, nine], NOW));
    assert_eq!(a.rep_id, "rep-7");
    assert_eq!(
        a.explanation,
        "rule \"EMEA enterprise\" matched (region EMEA, employees 1200 >= 500); \
         round-robin among 2 eligible reps chose rep-7 (last assigned 2026-11-01T10:00:00Z); \
         skipped rep-3: at capacity 40/40"
    );
}

#[test]
fn inactive_full_off_hours_and_unknown_reps_are_skipped_with_their_reasons() {
    let mut inactive = rep("a-inactive");
    inactive.active = false;
    let mut full = rep("b-full");
    full.capacity = 5;
    full.open_leads = 5;
    let mut asleep = rep("c-asleep");
    // NOW is Monday 10:00 UTC, 19:00 in Tokyo.
    asleep.hours = WorkingHours::office("Asia/Tokyo").unwrap();
    let awake = rep("d-awake");
    let rules = [rule(
        "team",
        &["a-inactive", "b-full", "c-asleep", "nobody", "d-awake"],
    )];
    let a = routed(route(
        &LeadFacts::default(),
        None,
        &rules,
        &[inactive, full, asleep, awake],
        NOW,
    ));
    assert_eq!(a.rep_id, "d-awake");
    assert!(
        a.explanation.ends_with(
            "skipped a-inactive: inactive, b-full: at capacity 5/5, \
             c-asleep: outside working hours, nobody: not a known rep"
        ),
        "{}",
        a.explanation
    );
}

#[test]
fn a_matched_rule_without_free_reps_passes_the_lead_to_the_next_matching_rule() {
    let mut busy = rep("rep-busy");
    busy.active = false;
    let rules = [
        rule("first", &["rep-busy"]),
        RoutingRule {
            regions: strings(&["APAC"]),
            ..rule("not matching", &["rep-apac"])
        },
        rule("second", &["rep-free"]),
    ];
    let reps = [busy, rep("rep-apac"), rep("rep-free")];
    let a = routed(route(&LeadFacts::default(), None, &rules, &reps, NOW));
    assert_eq!(a.rep_id, "rep-free");
    assert_eq!(a.rule.as_deref(), Some("second"));
    assert!(
        a.explanation.starts_with(
            "rule \"first\" matched (it has no conditions) but no rep of it could take the lead \
             (skipped rep-busy: inactive); rule \"second\" matched"
        ),
        "{}",
        a.explanation
    );
}

#[test]
fn when_all_matched_rules_are_blocked_any_free_rep_gets_the_lead() {
    let mut busy = rep("rep-busy");
    busy.open_leads = 40;
    let reps = [busy, rep("rep-z"), rep("rep-y")];
    let a = routed(route(
        &LeadFacts::default(),
        None,
        &[rule("team", &["rep-busy"])],
        &reps,
        NOW,
    ));
    // Both free reps were never assigned; the tie goes to the lower id.
    assert_eq!(a.rep_id, "rep-y");
    assert_eq!(a.rule, None);
    assert!(
        a.explanation.contains(
            "fell back to all reps: round-robin among 2 eligible reps chose rep-y (never assigned)"
        ),
        "{}",
        a.explanation
    );
}

#[test]
fn when_no_rule_matches_the_fallback_says_so() {
    let rules = [RoutingRule {
        countries: strings(&["JP"]),
        ..rule("japan", &["rep-jp"])
    }];
    let reps = [rep("rep-jp"), rep("rep-1")];
    let lead = LeadFacts {
        country: Some("DE"),
        ..LeadFacts::default()
    };
    let a = routed(route(&lead, None, &rules, &reps, NOW));
    assert_eq!(a.rule, None);
    assert_eq!(a.rep_id, "rep-1");
    assert!(
        a.explanation
            .starts_with("no rule matched; fell back to all reps"),
        "{}",
        a.explanation
    );
}

#[test]
fn the_fallback_uses_round_robin_even_if_the_rules_use_least_loaded() {
    let rules = [RoutingRule {
        countries: strings(&["JP"]),
        strategy: Strategy::LeastLoaded,
        ..rule("japan", &["rep-jp"])
    }];
    let mut loaded = rep("rep-loaded");
    loaded.open_leads = 30;
    let mut recent = rep("rep-recent");
    recent.last_assigned_at = Some(NOW);
    let a = routed(route(
        &LeadFacts::default(),
        None,
        &rules,
        &[recent, loaded],
        NOW,
    ));
    assert_eq!(a.rep_id, "rep-loaded");
}

#[test]
fn with_no_free_rep_the_lead_is_unrouted_and_every_rep_is_accounted_for() {
    let mut off = rep("rep-1");
    off.active = false;
    let mut full = rep("rep-2");
    full.capacity = 0;
    let err = unrouted(route(
        &LeadFacts::default(),
        Some("rep-1"),
        &[rule("team", &["rep-1", "rep-2"])],
        &[off, full],
        NOW,
    ));
    assert_eq!(
        err.explanation,
        "account owner rep-1 skipped: inactive; \
         rule \"team\" matched (it has no conditions) but no rep of it could take the lead \
         (skipped rep-1: inactive, rep-2: at capacity 0/0); \
         no rep is eligible (skipped rep-1: inactive, rep-2: at capacity 0/0)"
    );
    assert!(err.to_string().starts_with("no rep available: "), "{err}");
}

#[test]
fn with_no_reps_at_all_the_lead_is_unrouted() {
    let err = unrouted(route(&LeadFacts::default(), None, &[], &[], NOW));
    assert_eq!(
        err.explanation,
        "no routing rules are configured; no reps are configured"
    );
}

// ---------------------------------------------------------------------------
// Routing: strategies
// ---------------------------------------------------------------------------

#[test]
fn round_robin_prefers_never_assigned_then_the_longest_waiting_rep() {
    let mut early = rep("rep-b");
    early.last_assigned_at = Some(Timestamp(NOW.0 - 7200));
    let mut late = rep("rep-a");
    late.last_assigned_at = Some(Timestamp(NOW.0 - 60));
    let never = rep("rep-z");
    let rules = [rule("team", &["rep-a", "rep-b", "rep-z"])];
    let pick =
        |reps: &[RepState]| routed(route(&LeadFacts::default(), None, &rules, reps, NOW)).rep_id;
    assert_eq!(pick(&[early.clone(), late.clone(), never]), "rep-z");
    assert_eq!(pick(&[late.clone(), early.clone()]), "rep-b");
    let mut tie = late.clone();
    tie.id = "rep-b".into();
    assert_eq!(pick(&[tie, late]), "rep-a");
}

#[test]
fn least_loaded_prefers_fewest_open_leads_then_spare_capacity_then_id() {
    let team = |ids: &[&str]| RoutingRule {
        strategy: Strategy::LeastLoaded,
        ..rule("team", ids)
    };
    let with = |id: &str, open: u32, capacity: u32| RepState {
        open_leads: open,
        capacity,
        ..rep(id)
    };
    let pick = |reps: &[RepState]| {
        let ids: Vec<&str> = reps.iter().map(|r| r.id.as_str()).collect();
        routed(route(&LeadFacts::default(), None, &[team(&ids)], reps, NOW))
    };
    let a = pick(&[with("rep-a", 7, 100), with("rep-b", 3, 10)]);
    assert_eq!(a.rep_id, "rep-b");
    assert!(
        a.explanation
            .ends_with("least-loaded among 2 eligible reps chose rep-b (3/10 open leads)"),
        "{}",
        a.explanation
    );
    assert_eq!(
        pick(&[with("rep-a", 3, 10), with("rep-b", 3, 20)]).rep_id,
        "rep-b"
    );
    assert_eq!(
        pick(&[with("rep-b", 3, 10), with("rep-a", 3, 10)]).rep_id,
        "rep-a"
    );
}

// ---------------------------------------------------------------------------
// Routing: configuration
// ---------------------------------------------------------------------------

#[test]
fn a_rule_read_from_toml_defaults_its_lists_and_strategy() {
    let r: RoutingRule = toml::from_str(
        r#"
        name = "EMEA enterprise"
        regions = ["EMEA"]
        min_employees = 500
        reps = ["rep-3", "rep-7"]
        "#,
    )
    .unwrap();
    assert_eq!(r.regions, strings(&["EMEA"]));
    assert!(r.countries.is_empty() && r.grades.is_empty());
    assert_eq!(r.min_employees, Some(500.0));
    assert_eq!(r.max_employees, None);
    assert_eq!(r.strategy, Strategy::RoundRobin);
    assert_eq!(r.validate(), Ok(()));
}

#[test]
fn a_rule_names_its_strategy_in_snake_case_and_refuses_unknown_keys() {
    let r: RoutingRule =
        toml::from_str("name = \"x\"\nreps = [\"a\"]\nstrategy = \"least_loaded\"").unwrap();
    assert_eq!(r.strategy, Strategy::LeastLoaded);
    let err = toml::from_str::<RoutingRule>("name = \"x\"\nreps = [\"a\"]\nregion = [\"EMEA\"]")
        .unwrap_err();
    assert!(err.to_string().contains("region"), "{err}");
}

#[test]
fn rule_validation_catches_rules_that_could_never_route_as_meant() {
    let ok = rule("team", &["a"]);
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(
        RoutingRule {
            name: " ".into(),
            ..ok.clone()
        }
        .validate(),
        Err(RuleError::NoName)
    );
    assert_eq!(
        rule("team", &[]).validate(),
        Err(RuleError::NoReps {
            rule: "team".into()
        })
    );
    assert_eq!(
        RoutingRule {
            grades: strings(&["A", "E"]),
            ..ok.clone()
        }
        .validate(),
        Err(RuleError::BadGrade {
            rule: "team".into(),
            grade: "E".into()
        })
    );
    assert!(matches!(
        RoutingRule {
            min_employees: Some(1000.0),
            max_employees: Some(10.0),
            ..ok.clone()
        }
        .validate(),
        Err(RuleError::BadEmployees { .. })
    ));
    assert!(matches!(
        RoutingRule {
            min_employees: Some(-1.0),
            ..ok
        }
        .validate(),
        Err(RuleError::BadEmployees { .. })
    ));
}

// ---------------------------------------------------------------------------
// SLA clock
// ---------------------------------------------------------------------------

#[test]
fn friday_16_00_in_berlin_plus_120_business_minutes_is_monday_10_00() {
    let due = berlin_office().add_business_minutes(at("2026-11-06T16:00:00[Europe/Berlin]"), 120);
    assert_eq!(due, at("2026-11-09T10:00:00[Europe/Berlin]"));
}

#[test]
fn a_split_week_uses_the_short_friday() {
    let h = WorkingHours::parse("Mon-Thu 08:30-17:00, Fri 08:30-12:00", "Europe/Berlin").unwrap();
    let due = h.add_business_minutes(at("2026-11-06T11:00:00[Europe/Berlin]"), 90);
    assert_eq!(due, at("2026-11-09T09:00:00[Europe/Berlin]"));
    assert_eq!(
        h.business_minutes_between(
            at("2026-11-02T00:00:00[Europe/Berlin]"),
            at("2026-11-09T00:00:00[Europe/Berlin]")
        ),
        4 * 510 + 210
    );
}

#[test]
fn a_business_week_in_berlin_is_forty_hours() {
    let h = berlin_office();
    let minutes = h.business_minutes_between(
        at("2026-03-23T00:00:00[Europe/Berlin]"),
        at("2026-03-30T00:00:00[Europe/Berlin]"),
    );
    assert_eq!(minutes, 40 * 60);
}

#[test]
fn the_same_office_hours_are_at_different_utc_times_across_the_atlantic() {
    let berlin = berlin_office();
    let new_york = WorkingHours::office("America/New_York").unwrap();
    // 15:30 UTC on a Monday in November: 16:30 Berlin, 10:30 New York.
    let t = at("2026-11-09T15:30:00Z[UTC]");
    assert!(berlin.is_working(t));
    assert!(new_york.is_working(t));
    // 17:30 UTC: Berlin has closed, New York has not.
    let t = at("2026-11-09T17:30:00Z[UTC]");
    assert!(!berlin.is_working(t));
    assert!(new_york.is_working(t));
}

#[test]
fn a_us_deadline_across_the_fall_back_weekend_keeps_local_opening_times() {
    // Clocks in New York fall back on Sunday 2026-11-01.
    let h = WorkingHours::office("America/New_York").unwrap();
    let due = h.add_business_minutes(at("2026-10-30T16:30:00[America/New_York]"), 60);
    assert_eq!(due, at("2026-11-02T09:30:00[America/New_York]"));
}

#[test]
fn describe_round_trips_the_common_schedules() {
    for spec in [
        "Mon-Fri 09:00-17:00",
        "Mon-Thu 08:30-17:00, Fri 08:30-12:00",
        "always",
    ] {
        let h = WorkingHours::parse(spec, "Europe/Berlin").unwrap();
        assert_eq!(h.describe(), spec);
        assert_eq!(WorkingHours::parse(&h.describe(), &h.timezone).unwrap(), h);
    }
}

#[test]
fn office_and_always_are_the_parsed_schedules() {
    assert_eq!(
        WorkingHours::office("UTC").unwrap(),
        WorkingHours::parse("Mon-Fri 09:00-17:00", "UTC").unwrap()
    );
    assert_eq!(
        WorkingHours::always(),
        WorkingHours::parse("always", "UTC").unwrap()
    );
}

#[test]
fn bad_schedules_and_zones_are_refused_with_the_bad_part_named() {
    match WorkingHours::parse("Mon-Fri 09:00-17:00", "Berlin") {
        Err(SlaError::BadTimezone(name)) => assert_eq!(name, "Berlin"),
        other => panic!("expected a bad time zone, got {other:?}"),
    }
    match WorkingHours::parse("Mon-Fri 09:00-1700", "UTC") {
        Err(SlaError::BadHours(message)) => assert!(message.contains("'1700'"), "{message}"),
        other => panic!("expected bad hours, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn schedules() -> Vec<WorkingHours> {
    vec![
        berlin_office(),
        WorkingHours::parse("Mon-Thu 08:30-17:00, Fri 08:30-12:00", "America/New_York").unwrap(),
        WorkingHours::parse("always", "Europe/Berlin").unwrap(),
        // Edges inside the hours the clocks skip or repeat.
        WorkingHours::parse("Sat-Sun 01:30-02:30, Mon 00:00-03:00", "Europe/Berlin").unwrap(),
        WorkingHours::parse("Sun 00:00-24:00, Wed 23:59-24:00", "America/New_York").unwrap(),
        WorkingHours::parse("Tue 10:00-11:00", "Australia/Lord_Howe").unwrap(),
    ]
}

fn any_schedule() -> impl proptest::strategy::Strategy<Value = WorkingHours> {
    prop::sample::select(schedules())
}

/// Instants between 2024 and 2030, which include many DST changes.
fn any_instant() -> impl proptest::strategy::Strategy<Value = Timestamp> {
    (1_704_067_200i64..1_893_456_000).prop_map(Timestamp)
}

fn any_day() -> impl proptest::strategy::Strategy<Value = Option<(u16, u16)>> {
    prop::option::of((0u16..1440).prop_flat_map(|start| (Just(start), start + 1..=1440)))
}

/// Weekday (Mon = 0) and minute of the day of a UTC instant.
fn utc_weekday_and_minute(t: i64) -> (usize, u16) {
    let day = t.div_euclid(86_400);
    // 1970-01-01 was a Thursday.
    let weekday = (day + 3).rem_euclid(7) as usize;
    (weekday, (t.rem_euclid(86_400) / 60) as u16)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn adding_more_business_minutes_never_gives_an_earlier_instant(
        h in any_schedule(),
        start in any_instant(),
        a in 0i64..20_000,
        b in 0i64..20_000,
    ) {
        let (small, large) = (a.min(b), a.max(b));
        prop_assert!(h.add_business_minutes(start, small) <= h.add_business_minutes(start, large));
    }

    #[test]
    fn the_business_minutes_added_are_the_business_minutes_between(
        h in any_schedule(),
        start in any_instant(),
        minutes in 0i64..20_000,
    ) {
        let opening = h.add_business_minutes(start, 0);
        prop_assert!(h.is_working(opening));
        prop_assert_eq!(
            h.business_minutes_between(opening, h.add_business_minutes(opening, minutes)),
            minutes
        );
        prop_assert_eq!(
            h.business_minutes_between(start, h.add_business_minutes(start, minutes)),
            minutes
        );
    }

    #[test]
    fn a_deadline_is_inside_working_hours_or_at_their_end(
        h in any_schedule(),
        start in any_instant(),
        minutes in 0i64..20_000,
    ) {
        let due = h.add_business_minutes(start, minutes);
        prop_assert!(due >= start);
        prop_assert!(
            h.is_working(due) || h.is_working(Timestamp(due.0 - 1)),
            "{} is neither working nor a closing time", due.0
        );
    }

    #[test]
    fn adding_in_two_steps_is_adding_once(
        h in any_schedule(),
        start in any_instant(),
        a in 0i64..10_000,
        b in 1i64..10_000,
    ) {
        prop_assert_eq!(
            h.add_business_minutes(h.add_business_minutes(start, a), b),
            h.add_business_minutes(start, a + b)
        );
    }

    #[test]
    fn business_seconds_over_consecutive_spans_add_up(
        h in any_schedule(),
        a in any_instant(),
        gap1 in 0i64..1_000_000,
        gap2 in 0i64..1_000_000,
    ) {
        let b = Timestamp(a.0 + gap1);
        let c = Timestamp(b.0 + gap2);
        prop_assert_eq!(
            h.business_seconds_between(a, b) + h.business_seconds_between(b, c),
            h.business_seconds_between(a, c)
        );
        prop_assert!(h.business_seconds_between(a, c) <= c.0 - a.0);
    }

    #[test]
    fn in_utc_the_clock_agrees_with_plain_calendar_arithmetic(
        days in prop::array::uniform7(any_day()),
        start_minute in 0i64..(3 * 1440),
        span_minutes in 0i64..(4 * 1440),
        base_day in 19_700i64..20_500,
    ) {
        prop_assume!(days.iter().any(Option::is_some));
        let h = WorkingHours { days, timezone: "UTC".into() };
        let working = |t: i64| {
            let (weekday, minute) = utc_weekday_and_minute(t);
            days[weekday].is_some_and(|(s, e)| s <= minute && minute < e)
        };
        let a = base_day * 86_400 + start_minute * 60;
        let expected = (0..span_minutes).filter(|m| working(a + m * 60)).count() as i64;
        prop_assert_eq!(
            h.business_minutes_between(Timestamp(a), Timestamp(a + span_minutes * 60)),
            expected
        );
        prop_assert_eq!(h.is_working(Timestamp(a)), working(a));
    }

    #[test]
    fn describe_parses_back_to_the_same_schedule(
        days in prop::array::uniform7(any_day()),
    ) {
        prop_assume!(days.iter().any(Option::is_some));
        let h = WorkingHours { days, timezone: "Europe/Berlin".into() };
        prop_assert_eq!(h.validate(), Ok(()));
        let back = WorkingHours::parse(&h.describe(), "Europe/Berlin");
        prop_assert_eq!(back, Ok(h));
    }

    #[test]
    fn a_routed_lead_always_goes_to_an_eligible_rep_and_unrouted_means_none_was(
        flags in prop::collection::vec((any::<bool>(), 0u32..4, 0u32..4, any::<bool>(), prop::option::of(0i64..1000)), 0..6),
        owner in prop::option::of(0usize..8),
        rule_reps in prop::collection::vec(prop::collection::vec(0usize..8, 0..4), 0..4),
        strategy_least in any::<bool>(),
    ) {
        let closed = WorkingHours::parse("Mon 00:00-00:01", "UTC").unwrap();
        let reps: Vec<RepState> = flags
            .iter()
            .enumerate()
            .map(|(i, &(active, capacity, open, open_now, last))| RepState {
                id: format!("rep-{i}"),
                active,
                capacity,
                open_leads: open,
                hours: if open_now { WorkingHours::always() } else { closed.clone() },
                last_assigned_at: last.map(Timestamp),
            })
            .collect();
        let rules: Vec<RoutingRule> = rule_reps
            .iter()
            .enumerate()
            .map(|(i, ids)| RoutingRule {
                strategy: if strategy_least { Strategy::LeastLoaded } else { Strategy::RoundRobin },
                reps: ids.iter().map(|k| format!("rep-{k}")).collect(),
                ..rule(&format!("rule-{i}"), &[])
            })
            .collect();
        let owner_id = owner.map(|k| format!("rep-{k}"));
        let eligible = |id: &str| {
            reps.iter().any(|r| r.id == id && r.active && r.open_leads < r.capacity && r.hours.is_working(NOW))
        };
        match route(&LeadFacts::default(), owner_id.as_deref(), &rules, &reps, NOW) {
            Ok(a) => {
                prop_assert!(eligible(&a.rep_id), "{a:?}");
                prop_assert!(!a.explanation.is_empty());
                if let Some(owner) = owner_id.as_deref().filter(|o| eligible(o)) {
                    prop_assert_eq!(a.rep_id.as_str(), owner);
                }
            }
            Err(e) => {
                prop_assert!(!reps.iter().any(|r| eligible(&r.id)), "{e}");
                prop_assert!(!e.explanation.is_empty());
            }
        }
    }
}
