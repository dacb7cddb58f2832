//! One conformance suite for every backend: each story is written once
//! against `&dyn Store` and run on SQLite (always) and on PostgreSQL (when
//! `LEADQ_TEST_POSTGRES_URL` is set; each story gets its own database).
//!
//! Run on PostgreSQL with, e.g.:
//! `LEADQ_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p leadq-store`

#[macro_use]
mod common;

use common::FreshDb;
use leadq_store::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

// --- builders -----------------------------------------------------------

fn lead(id: &str) -> LeadRow {
    LeadRow {
        seq: 0,
        id: id.to_string(),
        external_id: None,
        email: None,
        domain: None,
        company: None,
        source: None,
        campaign: None,
        country: None,
        fields: "{}".into(),
        stage: "new".into(),
        stage_reason: None,
        owner: None,
        score: None,
        created_at: 1_000,
        updated_at: 1_000,
        assigned_at: None,
        first_response_at: None,
        stage_changed_at: 1_000,
        mql_at: None,
        sql_at: None,
        closed_at: None,
        version: 0,
    }
}

fn score(priority: &str, rank: i64, fit: f64, engagement: f64) -> LeadScore {
    LeadScore {
        fit,
        grade: "B".into(),
        engagement,
        score: fit + engagement,
        band: 2,
        priority: priority.into(),
        priority_rank: rank,
        mql: false,
        model_version: 1,
        reasons: "[]".into(),
        scored_at: 1_000,
        inputs_digest: None,
    }
}

/// Applies one change, which must succeed; returns the lead as stored.
fn apply_one(store: &dyn Store, change: LeadChange) -> LeadRow {
    store
        .apply(vec![change])
        .expect("apply")
        .remove(0)
        .expect("the change applies")
}

/// Inserts `leads` in one batch; every insert must succeed.
fn insert(store: &dyn Store, leads: Vec<LeadRow>) -> Vec<LeadRow> {
    store
        .apply(leads.into_iter().map(LeadChange::insert).collect())
        .expect("apply")
        .into_iter()
        .map(|r| r.expect("insert"))
        .collect()
}

fn event(lead_id: &str, key: &str, at: i64) -> EventRow {
    EventRow {
        seq: 0,
        lead_id: lead_id.into(),
        kind: "page_view".into(),
        at,
        props: format!(r#"{{"key":"{key}"}}"#),
        idempotency_key: key.into(),
        received_at: at + 1,
    }
}

fn ledger_entry(lead_id: &str, at: i64, cause: &str) -> LedgerEntry {
    LedgerEntry {
        seq: 0,
        lead_id: lead_id.into(),
        at,
        as_of: at / 1000,
        model_version: 1,
        fit: 61.5,
        grade: "B".into(),
        engagement: 12.25,
        band: 3,
        priority: "warm".into(),
        mql: true,
        reasons: r#"["title matches"]"#.into(),
        cause: cause.into(),
        inputs: format!(r#"{{"lead":{{"id":"{lead_id}"}},"event_seq":{at}}}"#),
    }
}

fn transition(lead_id: &str, at: i64, from: Option<&str>, to: &str) -> TransitionRow {
    TransitionRow {
        seq: 0,
        lead_id: lead_id.into(),
        at,
        from_stage: from.map(Into::into),
        to_stage: to.into(),
        actor: "system".into(),
        reason: Some(format!("to {to}")),
        model_version: Some(1),
        automatic: from.is_none(),
    }
}

fn assignment(lead_id: &str, at: i64, rep: &str, previous: Option<&str>) -> AssignmentRow {
    AssignmentRow {
        seq: 0,
        lead_id: lead_id.into(),
        at,
        rep_id: rep.into(),
        previous_rep: previous.map(Into::into),
        rule: Some("round-robin".into()),
        explanation: format!("{rep} was next"),
        actor: "router".into(),
    }
}

fn rep(id: &str) -> RepRow {
    RepRow {
        id: id.into(),
        name: format!("Rep {id}"),
        email: Some(format!("{id}@example.com")),
        capacity: 10,
        timezone: "Europe/Paris".into(),
        working_hours: "Mon-Fri 09:00-17:00".into(),
        territory: r#"["FR"]"#.into(),
        active: true,
        last_assigned_at: None,
        created_at: 100,
    }
}

fn delivery(webhook: &str, status: &str, next_attempt_at: i64, created_at: i64) -> DeliveryRow {
    DeliveryRow {
        seq: 0,
        webhook_id: webhook.into(),
        event_type: "lead.stage_changed".into(),
        payload: format!(r#"{{"n":{created_at}}}"#),
        status: status.into(),
        attempts: 0,
        next_attempt_at,
        last_status: None,
        last_error: None,
        created_at,
        delivered_at: None,
    }
}

fn webhook(id: &str, created_at: i64) -> WebhookRow {
    WebhookRow {
        id: id.into(),
        url: format!("https://hooks.example.com/{id}"),
        secret: "s3cret".into(),
        events: r#"["lead.stage_changed"]"#.into(),
        active: true,
        created_at,
    }
}

fn ids(leads: &[LeadRow]) -> Vec<String> {
    leads.iter().map(|l| l.id.clone()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn without_seq<T: Clone>(rows: &[T], clear: impl Fn(&mut T)) -> Vec<T> {
    rows.iter()
        .cloned()
        .map(|mut r| {
            clear(&mut r);
            r
        })
        .collect()
}

// --- migrations and opening ---------------------------------------------------

fn a_fresh_database_gets_every_migration_exactly_once(db: &FreshDb) {
    let expected: Vec<String> = migrations(db.kind)
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    assert!(!expected.is_empty());
    {
        let store = db.open_unmigrated();
        assert_eq!(store.migrate().unwrap(), expected);
        assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
        assert_eq!(store.count_leads().unwrap(), 0);
    }
    // Opening again (as a restarted service does) applies nothing new
    // and keeps the data.
    {
        let store = db.open();
        insert(store.as_ref(), vec![lead("kept")]);
        assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
    }
    let store = db.open();
    assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
    assert!(store.lead("kept").unwrap().is_some());
}
on_every_fresh_database!(a_fresh_database_gets_every_migration_exactly_once);

fn two_services_starting_at_once_on_one_database_both_come_up(db: &FreshDb) {
    let stores: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| db.open());
        let b = s.spawn(|| db.open());
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    insert(stores[0].as_ref(), vec![lead("one")]);
    insert(stores[1].as_ref(), vec![lead("two")]);
    for store in &stores {
        assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
        assert_eq!(store.count_leads().unwrap(), 2);
    }
}
on_every_fresh_database!(two_services_starting_at_once_on_one_database_both_come_up);

fn migrating_an_up_to_date_store_applies_nothing(store: &dyn Store) {
    assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
    assert_eq!(store.migrate().unwrap(), Vec::<String>::new());
    store.ping().unwrap();
    store.checkpoint().unwrap();
    assert_eq!(store.count_leads().unwrap(), 0);
}
on_every_backend!(migrating_an_up_to_date_store_applies_nothing);

#[test]
fn an_unsupported_database_url_is_refused_without_echoing_its_password() {
    let dir = tempfile::TempDir::new().unwrap();
    let err = match leadq_store::open(Some("mysql://admin:hunter2@db/leadq"), dir.path()) {
        Ok(_) => panic!("a mysql URL was accepted"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn a_sqlite_url_opens_that_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("nested").join("custom.db");
    let url = format!("sqlite://{}", path.display());
    {
        let store = leadq_store::open(Some(&url), dir.path()).unwrap();
        insert(store.as_ref(), vec![lead("in-custom-file")]);
    }
    assert!(path.exists());
    assert!(!dir.path().join("leadq.db").exists());
    let store = leadq_store::open(Some(&url), dir.path()).unwrap();
    assert!(store.lead("in-custom-file").unwrap().is_some());
}

#[test]
fn the_database_of_a_postgres_url_is_replaced() {
    assert_eq!(
        common::with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        common::with_database("postgresql://u:p@h/db?sslmode=disable", "t2"),
        "postgresql://u:p@h/t2?sslmode=disable"
    );
    assert_eq!(
        common::with_database("postgres://h:1", "t3"),
        "postgres://h:1/t3"
    );
}

// --- leads ------------------------------------------------------------------------

fn a_lead_round_trips_every_field(store: &dyn Store) {
    let full = LeadRow {
        seq: 0,
        id: "lead-full".into(),
        external_id: Some("crm-42".into()),
        email: Some("ada@acme.io".into()),
        domain: Some("acme.io".into()),
        company: Some("Acme, Inc. — Café".into()),
        source: Some("LinkedIn".into()),
        campaign: Some("spring-24".into()),
        country: Some("FR".into()),
        fields: r#"{"title":"CTO","employees":250,"nested":{"a":[1,2]}}"#.into(),
        stage: "mql".into(),
        stage_reason: Some("score above threshold".into()),
        owner: Some("rep-1".into()),
        score: Some(LeadScore {
            fit: 72.125,
            grade: "A".into(),
            engagement: 13.3,
            score: 48.595,
            band: 4,
            priority: "hot".into(),
            priority_rank: 0,
            mql: true,
            model_version: 3,
            reasons: r#"["+20 title","-5 country"]"#.into(),
            scored_at: 1_700_000_000_123,
            inputs_digest: Some(-4_200_000_000_000_000_042),
        }),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_500,
        assigned_at: Some(1_700_000_000_600),
        first_response_at: Some(1_700_000_000_700),
        stage_changed_at: 1_700_000_000_800,
        mql_at: Some(1_700_000_000_900),
        sql_at: Some(1_700_000_001_000),
        closed_at: Some(1_700_000_001_100),
        version: 0,
    };
    let bare = lead("lead-bare");
    let stored = insert(store, vec![full.clone(), bare.clone()]);

    assert!(stored[0].seq > 0);
    assert!(stored[1].seq > stored[0].seq);
    for (input, out) in [(&full, &stored[0]), (&bare, &stored[1])] {
        assert_eq!(out.version, 1);
        let expected = LeadRow {
            seq: out.seq,
            version: 1,
            ..input.clone()
        };
        assert_eq!(out, &expected);
        assert_eq!(store.lead(&input.id).unwrap().as_ref(), Some(&expected));
    }
    assert_eq!(stored[0].total(), 48.595);
    assert_eq!(store.lead("nobody").unwrap(), None);
}
on_every_backend!(a_lead_round_trips_every_field);

fn a_lead_is_found_by_id_external_id_or_email_ignoring_case(store: &dyn Store) {
    let mut a = lead("lead-a");
    a.external_id = Some("CRM-1".into());
    a.email = Some("ada@acme.io".into());
    let mut b = lead("lead-b");
    b.email = Some("bob@acme.io".into());
    let mut c = lead("lead-c");
    c.external_id = Some("crm-1".into());
    insert(store, vec![a, b, c]);
    // One lead per email: a second lead with a stored email is refused.
    let mut twin = lead("lead-twin");
    twin.email = Some("ada@acme.io".into());
    let refused = store.apply(vec![LeadChange::insert(twin)]).unwrap();
    assert!(
        matches!(refused[0], Err(StoreError::Conflict(_))),
        "{refused:?}"
    );

    let found = |k: LeadKey| store.find_lead(&k).unwrap().map(|l| l.id);
    assert_eq!(found(LeadKey::Id("lead-b".into())), Some("lead-b".into()));
    assert_eq!(found(LeadKey::Id("LEAD-B".into())), None);
    assert_eq!(
        found(LeadKey::ExternalId("CRM-1".into())),
        Some("lead-a".into())
    );
    assert_eq!(
        found(LeadKey::ExternalId("crm-1".into())),
        Some("lead-c".into())
    );
    // Email is matched case-insensitively.
    assert_eq!(
        found(LeadKey::Email("Ada@ACME.io".into())),
        Some("lead-a".into())
    );
    assert_eq!(
        found(LeadKey::Email("ada@acme.io".into())),
        Some("lead-a".into())
    );
    assert_eq!(
        found(LeadKey::Email("bob@acme.io".into())),
        Some("lead-b".into())
    );
    assert_eq!(found(LeadKey::Email("eve@acme.io".into())), None);
    assert_eq!(found(LeadKey::ExternalId("crm-2".into())), None);
}
on_every_backend!(a_lead_is_found_by_id_external_id_or_email_ignoring_case);

fn leads_by_ids_are_the_stored_ones_in_the_order_asked(store: &dyn Store) {
    let stored = insert(
        store,
        (0..1_100).map(|i| lead(&format!("many-{i:04}"))).collect(),
    );
    let ask = strs(&[
        "many-0700",
        "missing",
        "many-0003",
        "many-1099",
        "many-0000",
    ]);
    let got = store.leads_by_ids(&ask).unwrap();
    assert_eq!(
        ids(&got),
        strs(&["many-0700", "many-0003", "many-1099", "many-0000"])
    );
    assert_eq!(got[1], stored[3]);
    assert!(store.leads_by_ids(&[]).unwrap().is_empty());
    assert!(store.leads_by_ids(&strs(&["missing"])).unwrap().is_empty());

    // Existence alone, past one statement's worth of ids.
    let mut asked: Vec<String> = (0..1_200).map(|i| format!("many-{i:04}")).collect();
    asked.push("missing".into());
    let mut existing = store.existing_lead_ids(&asked).unwrap();
    existing.sort();
    assert_eq!(existing, ids(&stored));
    assert!(store.existing_lead_ids(&[]).unwrap().is_empty());
    // Beyond one statement's worth of ids, newest first.
    let all: Vec<String> = ids(&stored).into_iter().rev().collect();
    assert_eq!(ids(&store.leads_by_ids(&all).unwrap()), all);
}
on_every_backend!(leads_by_ids_are_the_stored_ones_in_the_order_asked);

fn an_update_needs_the_current_version(store: &dyn Store) {
    let v1 = insert(store, vec![lead("lead-u")]).remove(0);
    assert_eq!(v1.version, 1);

    let mut change = v1.clone();
    change.stage = "working".into();
    change.owner = Some("rep-1".into());
    change.score = Some(score("hot", 0, 50.0, 25.0));
    let v2 = store
        .apply(vec![LeadChange::update(change)])
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.seq, v1.seq);
    let read = store.lead("lead-u").unwrap().unwrap();
    assert_eq!(read, v2);
    assert_eq!(read.stage, "working");
    assert_eq!(read.total(), 75.0);

    // Writing from the stale copy is refused and changes nothing.
    let mut stale = v1.clone();
    stale.stage = "lost".into();
    let out = store.apply(vec![LeadChange::update(stale)]).unwrap();
    assert_eq!(out, vec![Err(StoreError::StaleVersion { expected: 1 })]);
    assert_eq!(store.lead("lead-u").unwrap().unwrap(), v2);

    // An update of a lead that does not exist is NotFound.
    let mut ghost = lead("ghost");
    ghost.version = 1;
    let out = store.apply(vec![LeadChange::update(ghost)]).unwrap();
    assert!(matches!(out[0], Err(StoreError::NotFound(_))), "{out:?}");
    assert_eq!(store.lead("ghost").unwrap(), None);

    // Updating from the fresh copy works again.
    let mut next = v2.clone();
    next.score = None;
    let v3 = store
        .apply(vec![LeadChange::update(next)])
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(store.lead("lead-u").unwrap().unwrap().score, None);
}
on_every_backend!(an_update_needs_the_current_version);

fn one_failing_change_does_not_stop_the_others_in_its_batch(store: &dyn Store) {
    let mut existing = lead("dup");
    existing.external_id = Some("ext-dup".into());
    let existing = insert(store, vec![existing]).remove(0);
    let mut other = insert(store, vec![lead("other")]).remove(0);
    other.stage = "working".into();
    let mut stale = other.clone();
    stale.version = 7;

    let with_history = |l: LeadRow, expected_version: Option<i64>| LeadChange {
        ledger: vec![ledger_entry(&l.id, 5_000, "created")],
        transitions: vec![transition(&l.id, 5_000, None, "new")],
        assignments: vec![assignment(&l.id, 5_000, "rep-x", None)],
        deliveries: vec![delivery("wh-batch", "pending", 0, 5_000)],
        consents: Vec::new(),
        tasks: Vec::new(),
        cancel_open_tasks: false,
        stored: None,
        prediction: Some(prediction(&l.id, 1, 0.25)),
        expected_version,
        lead: l,
    };
    let mut ext_clash = lead("ext-clash");
    ext_clash.external_id = Some("ext-dup".into());
    let results = store
        .apply(vec![
            with_history(lead("first"), None),
            with_history(lead("dup"), None),
            with_history(stale, Some(7)),
            with_history(lead("first"), None),
            with_history(ext_clash, None),
            with_history(other.clone(), Some(1)),
            with_history(lead("last"), None),
        ])
        .unwrap();

    assert_eq!(results.len(), 7);
    assert_eq!(results[0].as_ref().map(|l| l.id.as_str()), Ok("first"));
    assert!(
        matches!(results[1], Err(StoreError::Conflict(_))),
        "{:?}",
        results[1]
    );
    assert_eq!(results[2], Err(StoreError::StaleVersion { expected: 7 }));
    assert!(
        matches!(results[3], Err(StoreError::Conflict(_))),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(results[4], Err(StoreError::Conflict(_))),
        "{:?}",
        results[4]
    );
    assert_eq!(results[5].as_ref().map(|l| l.version), Ok(2));
    assert_eq!(results[6].as_ref().map(|l| l.id.as_str()), Ok("last"));

    // The refused changes left nothing behind, not even their history.
    assert_eq!(store.lead("dup").unwrap().unwrap(), existing);
    assert_eq!(store.lead("ext-clash").unwrap(), None);
    assert_eq!(store.count_leads().unwrap(), 4);
    assert!(store.ledger_of("dup").unwrap().is_empty());
    assert!(store.transitions_of("dup").unwrap().is_empty());
    assert!(store.assignments_of("ext-clash").unwrap().is_empty());
    assert_eq!(store.ledger_of("first").unwrap().len(), 1);
    assert_eq!(store.ledger_of("other").unwrap().len(), 1);
    assert_eq!(store.lead("other").unwrap().unwrap().stage, "working");
    // Deliveries of the three accepted changes only.
    assert_eq!(store.deliveries_of("wh-batch", 100).unwrap().len(), 3);
    // Predictions too: each is stored with its lead, or not at all.
    for id in ["first", "other", "last"] {
        assert_eq!(
            store.prediction_of(id).unwrap(),
            Some(prediction(id, 1, 0.25)),
            "{id}"
        );
    }
    assert_eq!(store.prediction_of("dup").unwrap(), None);
    assert_eq!(store.prediction_of("ext-clash").unwrap(), None);
}
on_every_backend!(one_failing_change_does_not_stop_the_others_in_its_batch);

fn ledger_entries_stored_without_inputs_read_back_with_those_of_the_entry_before(
    store: &dyn Store,
) {
    let first = ledger_entry("i-1", 1_000, "created");
    let mut same = ledger_entry("i-1", 2_000, "publish");
    same.inputs = String::new();
    let changed = ledger_entry("i-1", 3_000, "updated");
    let mut same_again = ledger_entry("i-1", 4_000, "publish");
    same_again.inputs = String::new();
    let mut row = lead("i-1");
    row.score = Some(LeadScore {
        inputs_digest: Some(7),
        ..score("warm", 1, 50.0, 5.0)
    });
    let stored = store
        .apply(vec![LeadChange {
            ledger: vec![first.clone(), same],
            ..LeadChange::insert(row)
        }])
        .unwrap()
        .remove(0)
        .unwrap();
    let mut next = stored.clone();
    next.score.as_mut().unwrap().inputs_digest = Some(-8);
    store
        .apply(vec![LeadChange {
            ledger: vec![changed.clone(), same_again],
            ..LeadChange::update(next)
        }])
        .unwrap()
        .remove(0)
        .unwrap();
    insert(store, vec![lead("i-2")]);

    let inputs: Vec<String> = store
        .ledger_of("i-1")
        .unwrap()
        .into_iter()
        .map(|e| e.inputs)
        .collect();
    assert_eq!(
        inputs,
        [
            first.inputs.clone(),
            first.inputs,
            changed.inputs.clone(),
            changed.inputs
        ]
    );
    // The digest of the latest entry's inputs is kept with the lead.
    let read = store.lead("i-1").unwrap().unwrap();
    assert_eq!(read.score.unwrap().inputs_digest, Some(-8));
}
on_every_backend!(ledger_entries_stored_without_inputs_read_back_with_those_of_the_entry_before);

fn a_leads_reasons_read_back_whether_kept_by_its_row_or_by_its_latest_ledger_entry(
    store: &dyn Store,
) {
    let with_reasons = |reasons: &str, version: i64| LeadScore {
        reasons: reasons.into(),
        model_version: version,
        ..score("warm", 1, 50.0, 5.0)
    };
    let entry = |at: i64, reasons: &str, version: i64| LedgerEntry {
        reasons: reasons.into(),
        model_version: version,
        ..ledger_entry("r-1", at, "test")
    };
    let reads = |store: &dyn Store| -> Vec<String> {
        let one = store.lead("r-1").unwrap().unwrap();
        let by_ids = store.leads_by_ids(&["r-1".into()]).unwrap();
        let found = store
            .find_lead(&LeadKey::Id("r-1".into()))
            .unwrap()
            .unwrap();
        let listed = store.list_leads(&LeadFilter::default()).unwrap().leads;
        let scanned = store.scan_leads(0, 10).unwrap();
        [one]
            .into_iter()
            .chain(by_ids)
            .chain([found])
            .chain(listed.into_iter().filter(|l| l.id == "r-1"))
            .chain(scanned.into_iter().filter(|l| l.id == "r-1"))
            .map(|l| l.score.expect("scored").reasons)
            .collect()
    };
    let all = |r: &str| vec![r.to_string(); 5];

    // Created with a score and its ledger entry: the reasons are kept once,
    // and every read finds them.
    let mut row = lead("r-1");
    row.score = Some(with_reasons(r#"["a"]"#, 1));
    let v1 = store
        .apply(vec![LeadChange {
            ledger: vec![entry(1_000, r#"["a"]"#, 1)],
            ..LeadChange::insert(row)
        }])
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(v1.score.as_ref().unwrap().reasons, r#"["a"]"#);
    assert_eq!(reads(store), all(r#"["a"]"#));
    insert(store, vec![lead("r-0")]); // unscored: no score, no reasons

    // A change without a ledger entry leaves them where they are.
    let mut v2 = v1.clone();
    v2.stage = "working".into();
    let v2 = apply_one(store, LeadChange::update(v2));
    assert_eq!(reads(store), all(r#"["a"]"#));

    // A new score with its entry: the new reasons.
    let mut v3 = v2.clone();
    v3.score = Some(with_reasons(r#"["b"]"#, 2));
    let v3 = apply_one(
        store,
        LeadChange {
            ledger: vec![entry(2_000, r#"["b"]"#, 2)],
            ..LeadChange::update(v3)
        },
    );
    assert_eq!(reads(store), all(r#"["b"]"#));

    // An entry whose reasons are not the row's: the row keeps its own.
    let mut v4 = v3.clone();
    v4.score = Some(with_reasons(r#"["c"]"#, 2));
    let v4 = apply_one(
        store,
        LeadChange {
            ledger: vec![entry(3_000, r#"["other"]"#, 2)],
            ..LeadChange::update(v4)
        },
    );
    assert_eq!(reads(store), all(r#"["c"]"#));

    // New reasons without an entry are written with the row.
    let mut v5 = v4.clone();
    v5.score = Some(with_reasons(r#"["d"]"#, 2));
    let v5 = apply_one(store, LeadChange::update(v5));
    assert_eq!(reads(store), all(r#"["d"]"#));

    // And back to the ledger: two entries in one change, the last counts.
    let mut v6 = v5.clone();
    v6.score = Some(with_reasons(r#"["f"]"#, 3));
    apply_one(
        store,
        LeadChange {
            ledger: vec![entry(4_000, r#"["e"]"#, 3), entry(4_001, r#"["f"]"#, 3)],
            ..LeadChange::update(v6)
        },
    );
    assert_eq!(reads(store), all(r#"["f"]"#));
    assert_eq!(
        store
            .ledger_of("r-1")
            .unwrap()
            .iter()
            .map(|e| e.reasons.as_str())
            .collect::<Vec<_>>(),
        [
            r#"["a"]"#,
            r#"["b"]"#,
            r#"["other"]"#,
            r#"["e"]"#,
            r#"["f"]"#
        ]
    );

    // A re-score with version 3 reads the reasons of leads on version 3
    // and not those of others.
    let scan = |version| {
        store
            .scan_leads_to_rescore(0, 10, version)
            .unwrap()
            .into_iter()
            .map(|l| (l.id, l.score.map(|s| s.reasons)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        scan(3),
        [
            ("r-1".to_string(), Some(r#"["f"]"#.to_string())),
            ("r-0".to_string(), None)
        ]
    );
    assert_eq!(
        scan(4),
        [
            ("r-1".to_string(), Some(String::new())),
            ("r-0".to_string(), None)
        ]
    );
}
on_every_backend!(a_leads_reasons_read_back_whether_kept_by_its_row_or_by_its_latest_ledger_entry);

fn a_rescore_scan_reads_each_lead_with_its_fields_as_a_lookup_does(store: &dyn Store) {
    let leads: Vec<LeadRow> = (0..5)
        .map(|i| LeadRow {
            fields: format!(r#"{{"company":"Acme {i}","employees":{}}}"#, 10 * i),
            ..lead(&format!("f-{i}"))
        })
        .collect();
    let stored = insert(store, leads);
    let after = stored[0].seq;
    let scanned = store.scan_leads_to_rescore(after, 3, 1).unwrap();
    // From just after the first lead, in order, at most the page asked for.
    assert_eq!(
        scanned.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["f-1", "f-2", "f-3"]
    );
    for l in &scanned {
        let looked_up = store.lead(&l.id).unwrap().expect("stored");
        assert_eq!(l.fields, looked_up.fields, "fields of {}", l.id);
        assert_eq!(l.seq, looked_up.seq);
    }
    assert_eq!(scanned[1].fields, r#"{"company":"Acme 2","employees":20}"#);
    let rest = store
        .scan_leads_to_rescore(scanned[2].seq, 3, 1)
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l.fields))
        .collect::<Vec<_>>();
    assert_eq!(
        rest,
        [(
            "f-4".to_string(),
            r#"{"company":"Acme 4","employees":40}"#.to_string()
        )]
    );
}
on_every_backend!(a_rescore_scan_reads_each_lead_with_its_fields_as_a_lookup_does);

fn history_written_with_a_lead_change_reads_back_in_order(store: &dyn Store) {
    store.upsert_rep(rep("rep-1")).unwrap();
    store.upsert_rep(rep("rep-2")).unwrap();
    let created = LeadChange {
        ledger: vec![ledger_entry("h-1", 1_000, "created")],
        transitions: vec![transition("h-1", 1_000, None, "new")],
        assignments: vec![assignment("h-1", 1_000, "rep-1", None)],
        deliveries: vec![delivery("wh-h", "pending", 1_000, 1_000)],
        ..LeadChange::insert(lead("h-1"))
    };
    let v1 = store
        .apply(vec![created.clone()])
        .unwrap()
        .remove(0)
        .unwrap();
    insert(store, vec![lead("h-2")]);

    let mut l = v1.clone();
    l.stage = "working".into();
    l.owner = Some("rep-2".into());
    let mut second_entry = ledger_entry("h-1", 2_000, "event");
    second_entry.mql = false;
    second_entry.fit = -3.75;
    let updated = LeadChange {
        ledger: vec![second_entry.clone(), ledger_entry("h-1", 2_001, "updated")],
        transitions: vec![transition("h-1", 2_000, Some("new"), "working")],
        assignments: vec![assignment("h-1", 2_000, "rep-2", Some("rep-1"))],
        ..LeadChange::update(l)
    };
    store
        .apply(vec![updated.clone()])
        .unwrap()
        .remove(0)
        .unwrap();

    let ledger = store.ledger_of("h-1").unwrap();
    assert!(ledger.windows(2).all(|w| w[0].seq < w[1].seq), "{ledger:?}");
    let mut expected = created.ledger.clone();
    expected.extend(updated.ledger.clone());
    assert_eq!(without_seq(&ledger, |e| e.seq = 0), expected);

    let transitions = store.transitions_of("h-1").unwrap();
    assert!(transitions.windows(2).all(|w| w[0].seq < w[1].seq));
    let mut expected = created.transitions.clone();
    expected.extend(updated.transitions.clone());
    assert_eq!(without_seq(&transitions, |t| t.seq = 0), expected);

    let assignments = store.assignments_of("h-1").unwrap();
    assert!(assignments.windows(2).all(|w| w[0].seq < w[1].seq));
    let mut expected = created.assignments.clone();
    expected.extend(updated.assignments.clone());
    assert_eq!(without_seq(&assignments, |a| a.seq = 0), expected);

    // Each assignment stamped its rep.
    assert_eq!(
        store.rep("rep-1").unwrap().unwrap().last_assigned_at,
        Some(1_000)
    );
    assert_eq!(
        store.rep("rep-2").unwrap().unwrap().last_assigned_at,
        Some(2_000)
    );

    // Another lead's history is its own.
    assert!(store.ledger_of("h-2").unwrap().is_empty());
    assert!(store.transitions_of("h-2").unwrap().is_empty());
    assert!(store.assignments_of("h-2").unwrap().is_empty());

    let outbox = store.deliveries_of("wh-h", 10).unwrap();
    assert_eq!(without_seq(&outbox, |d| d.seq = 0), created.deliveries);
}
on_every_backend!(history_written_with_a_lead_change_reads_back_in_order);

fn an_update_given_the_row_as_read_writes_what_changed_and_no_less(store: &dyn Store) {
    let mut a = lead("d-1");
    a.email = Some("d1@example.com".into());
    a.external_id = Some("crm-d1".into());
    a.fields = r#"{"city":"Austin"}"#.into();
    let read = insert(store, vec![a, lead("d-2")]).remove(0);

    // Only the score and the update time differ from what was read.
    let mut scored = read.clone();
    scored.score = Some(score("A1", 0, 40.0, 12.5));
    scored.updated_at = 2_000;
    let written = store
        .apply(vec![LeadChange {
            stored: Some(Box::new(read.clone())),
            ..LeadChange::update(scored.clone())
        }])
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(written.seq, read.seq);
    assert_eq!(written.version, 2);
    let mut expected = scored.clone();
    expected.version = 2;
    assert_eq!(store.lead("d-1").unwrap().unwrap(), expected);
    assert_eq!(written, expected);
    assert_eq!(
        store
            .find_lead(&LeadKey::Email("d1@example.com".into()))
            .unwrap()
            .map(|l| l.id),
        Some("d-1".into())
    );

    // A row as read at another version is not trusted: every column is
    // written, and a stale expected version is refused as always.
    let mut moved = expected.clone();
    moved.stage = "working".into();
    moved.owner = Some("rep-9".into());
    let results = store
        .apply(vec![
            LeadChange {
                stored: Some(Box::new(read.clone())),
                ..LeadChange::update(moved.clone())
            },
            LeadChange {
                stored: Some(Box::new(read.clone())),
                ..LeadChange::update(read.clone())
            },
        ])
        .unwrap();
    assert_eq!(results[0].as_ref().map(|l| l.version), Ok(3));
    assert_eq!(results[1], Err(StoreError::StaleVersion { expected: 1 }));
    let mut expected = moved;
    expected.version = 3;
    assert_eq!(store.lead("d-1").unwrap().unwrap(), expected);

    // Taking another lead's email is still refused when it changes.
    let other = store.lead("d-2").unwrap().unwrap();
    let mut clash = other.clone();
    clash.email = Some("d1@example.com".into());
    let refused = store
        .apply(vec![LeadChange {
            stored: Some(Box::new(other.clone())),
            ..LeadChange::update(clash)
        }])
        .unwrap()
        .remove(0);
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(store.lead("d-2").unwrap().unwrap(), other);
}
on_every_backend!(an_update_given_the_row_as_read_writes_what_changed_and_no_less);

fn score_only_changes_are_applied_and_anything_more_is_refused_whole(store: &dyn Store) {
    let read = insert(store, vec![lead("q-1"), lead("q-2")]);
    let rescored = |row: &LeadRow, fit: f64| {
        let mut next = row.clone();
        next.score = Some(score("B2", 5, fit, 3.0));
        LeadChange {
            stored: Some(Box::new(row.clone())),
            ledger: vec![ledger_entry(&row.id, 1_000, "publish")],
            ..LeadChange::update(next)
        }
    };
    let written = store
        .apply_score_only(vec![rescored(&read[0], 41.0), rescored(&read[1], 42.0)])
        .unwrap();
    assert_eq!(written.len(), 2);
    for (row, fit) in [(&read[0], 41.0), (&read[1], 42.0)] {
        let now = store.lead(&row.id).unwrap().unwrap();
        assert_eq!(now.version, 2);
        assert_eq!(now.score.map(|s| s.fit), Some(fit));
        assert_eq!(store.ledger_of(&row.id).unwrap().len(), 1);
    }
    // A stale one is reported like apply does, the others still land.
    let stale = store
        .apply_score_only(vec![rescored(&read[0], 50.0)])
        .unwrap();
    assert_eq!(stale, vec![Err(StoreError::StaleVersion { expected: 1 })]);

    // A stage change in the batch: nothing of it is written.
    let current = store.lead("q-1").unwrap().unwrap();
    let mut moved = rescored(&current, 60.0);
    moved.lead.stage = "mql".into();
    moved.transitions.push(TransitionRow {
        seq: 0,
        lead_id: "q-1".into(),
        at: 2_000,
        from_stage: Some("new".into()),
        to_stage: "mql".into(),
        actor: "system:model".into(),
        reason: None,
        model_version: Some(1),
        automatic: true,
    });
    let other = store.lead("q-2").unwrap().unwrap();
    assert!(!moved.is_score_only());
    assert!(store
        .apply_score_only(vec![rescored(&other, 70.0), moved])
        .is_err());
    assert_eq!(store.lead("q-2").unwrap().unwrap().version, 2);
    assert_eq!(store.lead("q-1").unwrap().unwrap().stage, "new");
}
on_every_backend!(score_only_changes_are_applied_and_anything_more_is_refused_whole);

// --- listing ----------------------------------------------------------------------

fn filter_leads() -> Vec<LeadRow> {
    let mut f1 = lead("f-1");
    f1.owner = Some("rep-a".into());
    f1.source = Some("LinkedIn".into());
    f1.email = Some("ada_lovelace@acme.io".into());
    f1.company = Some("Acme Corp".into());
    f1.score = Some(LeadScore {
        grade: "A".into(),
        mql: true,
        ..score("hot", 0, 80.0, 10.0)
    });
    let mut f2 = lead("f-2");
    f2.stage = "working".into();
    f2.owner = Some("rep-b".into());
    f2.source = Some("linkedin".into());
    f2.email = Some("adaxlovelace@other.io".into());
    f2.company = Some("100% Organic".into());
    f2.score = Some(score("warm", 1, 40.0, 5.0));
    let mut f3 = lead("f-3");
    f3.source = Some("Webinar".into());
    f3.company = Some("1000 Widgets!".into());
    let mut f4 = lead("f-4");
    f4.stage = "won".into();
    f4.owner = Some("rep-a".into());
    f4.email = Some("bob@acme.io".into());
    f4.score = Some(LeadScore {
        grade: "A".into(),
        mql: true,
        ..score("cold", 2, 10.0, 1.0)
    });
    vec![f1, f2, f3, f4]
}

fn list_filters_select_only_the_matching_leads(store: &dyn Store) {
    insert(store, filter_leads());
    let list = |f: LeadFilter| {
        let page = store.list_leads(&LeadFilter { limit: 100, ..f }).unwrap();
        assert_eq!(page.next_cursor, None);
        sorted(ids(&page.leads))
    };
    let some = |s: &str| Some(s.to_string());

    assert_eq!(
        list(LeadFilter::default()),
        strs(&["f-1", "f-2", "f-3", "f-4"])
    );
    assert_eq!(
        list(LeadFilter {
            stage: some("new"),
            ..Default::default()
        }),
        strs(&["f-1", "f-3"])
    );
    assert_eq!(
        list(LeadFilter {
            owner: some("rep-a"),
            ..Default::default()
        }),
        strs(&["f-1", "f-4"])
    );
    // Open leads: f-4 is won.
    assert_eq!(
        list(LeadFilter {
            open_only: true,
            ..Default::default()
        }),
        strs(&["f-1", "f-2", "f-3"])
    );
    assert_eq!(
        list(LeadFilter {
            open_only: true,
            owner: some("rep-a"),
            ..Default::default()
        }),
        strs(&["f-1"])
    );
    assert_eq!(
        list(LeadFilter {
            grade: some("A"),
            ..Default::default()
        }),
        strs(&["f-1", "f-4"])
    );
    assert_eq!(
        list(LeadFilter {
            priority: some("warm"),
            ..Default::default()
        }),
        strs(&["f-2"])
    );
    assert_eq!(
        list(LeadFilter {
            source: some("LINKEDIN"),
            ..Default::default()
        }),
        strs(&["f-1", "f-2"])
    );
    assert_eq!(
        list(LeadFilter {
            source: some("webinar"),
            ..Default::default()
        }),
        strs(&["f-3"])
    );
    assert_eq!(
        list(LeadFilter {
            mql: Some(true),
            ..Default::default()
        }),
        strs(&["f-1", "f-4"])
    );
    assert_eq!(
        list(LeadFilter {
            mql: Some(false),
            ..Default::default()
        }),
        strs(&["f-2", "f-3"])
    );
    // Search: case-insensitive substring of email, company or id.
    assert_eq!(
        list(LeadFilter {
            search: some("ACME"),
            ..Default::default()
        }),
        strs(&["f-1", "f-4"])
    );
    assert_eq!(
        list(LeadFilter {
            search: some("widgets"),
            ..Default::default()
        }),
        strs(&["f-3"])
    );
    assert_eq!(
        list(LeadFilter {
            search: some("F-2"),
            ..Default::default()
        }),
        strs(&["f-2"])
    );
    // `_` and `%` are literal characters, not wildcards.
    assert_eq!(
        list(LeadFilter {
            search: some("ada_l"),
            ..Default::default()
        }),
        strs(&["f-1"])
    );
    assert_eq!(
        list(LeadFilter {
            search: some("100%"),
            ..Default::default()
        }),
        strs(&["f-2"])
    );
    assert_eq!(
        list(LeadFilter {
            search: some("%"),
            ..Default::default()
        }),
        strs(&["f-2"])
    );
    assert_eq!(
        list(LeadFilter {
            search: some("s!"),
            ..Default::default()
        }),
        strs(&["f-3"])
    );
    assert_eq!(
        list(LeadFilter {
            search: some("!%"),
            ..Default::default()
        }),
        Vec::<String>::new()
    );
    // Filters combine.
    assert_eq!(
        list(LeadFilter {
            owner: some("rep-a"),
            source: some("linkedin"),
            mql: Some(true),
            search: some("acme"),
            ..Default::default()
        }),
        strs(&["f-1"])
    );
    assert_eq!(
        list(LeadFilter {
            stage: some("new"),
            owner: some("rep-b"),
            ..Default::default()
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        list(LeadFilter {
            stage: some("lost"),
            ..Default::default()
        }),
        Vec::<String>::new()
    );
}
on_every_backend!(list_filters_select_only_the_matching_leads);

/// Leads with ties in priority and total, unscored leads and totals that
/// are not exact in binary.
fn paging_leads() -> Vec<LeadRow> {
    // (priority, rank, weighted score); fit and engagement do not matter.
    let scores: [Option<(&str, i64, f64)>; 20] = [
        Some(("hot", 0, 90.0)),
        Some(("hot", 0, 90.0)),
        Some(("hot", 0, 55.0)),
        Some(("warm", 1, 95.0)),
        None,
        Some(("warm", 1, 55.0)),
        Some(("warm", 1, 0.1 + 0.2)),
        Some(("cold", 2, 0.0)),
        None,
        Some(("hot", 0, 15.0)),
        Some(("cold", 2, 99.99)),
        Some(("hot", 0, 90.0)),
        Some(("cold", 2, -2.5)),
        None,
        Some(("warm", 1, 0.300_000_000_000_000_04)),
        Some(("hot", 0, 15.0)),
        Some(("cold", 2, 55.0)),
        Some(("warm", 1, 95.0)),
        None,
        Some(("hot", 0, 1e-9)),
    ];
    scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut l = lead(&format!("p-{:02}", i + 1));
            l.created_at = 10_000 + i as i64;
            l.owner = match i % 3 {
                0 => Some("rep-a".into()),
                1 => Some("rep-b".into()),
                _ => None,
            };
            l.score = s.map(|(p, r, weighted)| LeadScore {
                mql: i.is_multiple_of(2),
                score: weighted,
                ..score(p, r, 100.0 - i as f64, i as f64 / 3.0)
            });
            l
        })
        .collect()
}

fn expected_order(leads: &[LeadRow], sort: LeadSort) -> Vec<String> {
    let rank = |l: &LeadRow| l.score.as_ref().map_or(999, |s| s.priority_rank);
    let by_total = |a: &LeadRow, b: &LeadRow| b.total().partial_cmp(&a.total()).unwrap();
    let mut v = leads.to_vec();
    match sort {
        LeadSort::Priority => v.sort_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then(by_total(a, b))
                .then(a.seq.cmp(&b.seq))
        }),
        LeadSort::Score => v.sort_by(|a, b| by_total(a, b).then(a.seq.cmp(&b.seq))),
        LeadSort::Created => v.sort_by_key(|l| std::cmp::Reverse(l.seq)),
    }
    ids(&v)
}

/// Follows the cursors from the first page to the last.
fn walk(store: &dyn Store, mut filter: LeadFilter) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..1_000 {
        let page = store.list_leads(&filter).unwrap();
        out.extend(ids(&page.leads));
        match page.next_cursor {
            Some(c) => {
                assert_eq!(
                    page.leads.len(),
                    filter.limit,
                    "a page before the last is full"
                );
                filter.cursor = Some(c);
            }
            None => {
                assert!(page.leads.len() <= filter.limit);
                return out;
            }
        }
    }
    panic!("pagination did not end");
}

fn walking_every_page_yields_each_lead_once_in_sort_order(store: &dyn Store) {
    let leads = insert(store, paging_leads());
    // The fixture has the ties it is meant to have.
    assert_eq!(leads[6].total(), leads[14].total());
    assert_eq!(leads[0].total(), leads[11].total());
    assert_eq!(leads[7].total(), leads[4].total());

    type Subset = (&'static str, fn(&LeadRow) -> bool, LeadFilter);
    let subsets: [Subset; 4] = [
        ("all", |_| true, LeadFilter::default()),
        (
            "owner rep-a",
            |l| l.owner.as_deref() == Some("rep-a"),
            LeadFilter {
                owner: Some("rep-a".into()),
                ..Default::default()
            },
        ),
        (
            "mql and search",
            |l| l.score.as_ref().is_some_and(|s| s.mql) && l.id.starts_with("p-1"),
            LeadFilter {
                mql: Some(true),
                search: Some("P-1".into()),
                ..Default::default()
            },
        ),
        (
            "nothing",
            |_| false,
            LeadFilter {
                stage: Some("won".into()),
                ..Default::default()
            },
        ),
    ];
    for sort in [LeadSort::Priority, LeadSort::Score, LeadSort::Created] {
        for (name, keep, filter) in &subsets {
            let subset: Vec<LeadRow> = leads.iter().filter(|l| keep(l)).cloned().collect();
            let expected = expected_order(&subset, sort);
            for limit in [1, 3, 4, 7, 20, 1000] {
                let got = walk(
                    store,
                    LeadFilter {
                        sort,
                        limit,
                        cursor: None,
                        ..filter.clone()
                    },
                );
                assert_eq!(got, expected, "{sort:?}, {name}, limit {limit}");
            }
        }
    }
    assert_eq!(
        expected_order(&leads, LeadSort::Priority)[..3],
        strs(&["p-01", "p-02", "p-12"])
    );
    assert_eq!(expected_order(&leads, LeadSort::Priority)[19], "p-19");
}
on_every_backend!(walking_every_page_yields_each_lead_once_in_sort_order);

fn a_malformed_cursor_is_an_error(store: &dyn Store) {
    insert(store, paging_leads());
    let first = |sort| {
        store
            .list_leads(&LeadFilter {
                sort,
                limit: 2,
                ..Default::default()
            })
            .unwrap()
    };
    let created_cursor = first(LeadSort::Created).next_cursor.unwrap();
    let score_cursor = first(LeadSort::Score).next_cursor.unwrap();
    let list = |sort, cursor: &str| {
        store.list_leads(&LeadFilter {
            sort,
            limit: 2,
            cursor: Some(cursor.into()),
            ..Default::default()
        })
    };
    assert!(list(LeadSort::Created, &created_cursor).is_ok());
    assert!(list(LeadSort::Score, &score_cursor).is_ok());
    for (sort, bad) in [
        (LeadSort::Priority, "garbage"),
        (LeadSort::Priority, ""),
        (LeadSort::Priority, "p.x.y.z"),
        (LeadSort::Priority, "p.0.zz.1"),
        (LeadSort::Score, "s.1.2.3"),
        (LeadSort::Created, "c.1; DROP TABLE leads"),
        (LeadSort::Priority, created_cursor.as_str()),
        (LeadSort::Created, score_cursor.as_str()),
    ] {
        assert!(list(sort, bad).is_err(), "{sort:?} accepted cursor {bad:?}");
    }
    assert_eq!(store.count_leads().unwrap(), 20);
}
on_every_backend!(a_malformed_cursor_is_an_error);

fn scan_and_count_see_every_lead_in_insertion_order(store: &dyn Store) {
    assert!(store.scan_leads(0, 10).unwrap().is_empty());
    let leads = insert(store, paging_leads());
    assert_eq!(store.count_leads().unwrap(), 20);
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.scan_leads(after, 6).unwrap();
        assert!(batch.len() <= 6);
        let Some(last) = batch.last() else { break };
        after = last.seq;
        seen.extend(batch);
    }
    assert_eq!(seen, leads);
    assert_eq!(
        ids(&store.scan_leads(leads[17].seq, 100).unwrap()),
        strs(&["p-19", "p-20"])
    );
}
on_every_backend!(scan_and_count_see_every_lead_in_insertion_order);

fn deleting_a_lead_removes_its_events_answers_and_history(store: &dyn Store) {
    for id in ["gone", "stays"] {
        store
            .apply(vec![LeadChange {
                ledger: vec![ledger_entry(id, 1, "created")],
                transitions: vec![transition(id, 1, None, "new")],
                assignments: vec![assignment(id, 1, "rep-1", None)],
                ..LeadChange::insert(lead(id))
            }])
            .unwrap()
            .remove(0)
            .unwrap();
        store
            .insert_events(vec![
                event(id, &format!("{id}-e1"), 5),
                event(id, &format!("{id}-e2"), 6),
            ])
            .unwrap();
        store
            .set_answers(vec![AnswerRow {
                lead_id: id.into(),
                framework: "bant".into(),
                criterion: "budget".into(),
                value: "yes".into(),
                evidence: None,
                actor: "rep-1".into(),
                at: 7,
            }])
            .unwrap();
        assert!(store
            .record_breach(BreachRow {
                seq: 0,
                lead_id: id.into(),
                policy_id: "sla-1".into(),
                stage: "new".into(),
                owner: None,
                due_at: 10,
                detected_at: 20,
                action: "escalate".into(),
            })
            .unwrap());
    }

    store
        .put_predictions(vec![
            prediction("gone", 1, 0.4),
            prediction("stays", 1, 0.6),
        ])
        .unwrap();
    assert!(store.delete_lead("gone").unwrap());
    assert_eq!(store.lead("gone").unwrap(), None);
    assert_eq!(store.prediction_of("gone").unwrap(), None);
    assert!(store.prediction_of("stays").unwrap().is_some());
    assert!(store.events_of("gone").unwrap().is_empty());
    assert!(store.answers_of("gone").unwrap().is_empty());
    assert!(store.ledger_of("gone").unwrap().is_empty());
    assert!(store.transitions_of("gone").unwrap().is_empty());
    assert!(store.assignments_of("gone").unwrap().is_empty());
    let breaches = store.list_breaches(0, 100).unwrap();
    assert_eq!(
        breaches
            .iter()
            .map(|b| b.lead_id.as_str())
            .collect::<Vec<_>>(),
        vec!["stays"]
    );
    // The other lead is untouched.
    assert!(store.lead("stays").unwrap().is_some());
    assert_eq!(store.events_of("stays").unwrap().len(), 2);
    assert_eq!(store.answers_of("stays").unwrap().len(), 1);
    assert_eq!(store.ledger_of("stays").unwrap().len(), 1);
    assert_eq!(store.transitions_of("stays").unwrap().len(), 1);
    assert_eq!(store.assignments_of("stays").unwrap().len(), 1);
    assert_eq!(store.count_leads().unwrap(), 1);
    // Deleting again finds nothing; the idempotency keys are free again.
    assert!(!store.delete_lead("gone").unwrap());
    assert_eq!(
        store
            .insert_events(vec![event("gone", "gone-e1", 5)])
            .unwrap(),
        vec![true]
    );
}
on_every_backend!(deleting_a_lead_removes_its_events_answers_and_history);

fn open_leads_per_owner_ignore_closed_stages(store: &dyn Store) {
    let stages = [
        ("o-1", "new", Some("rep-a")),
        ("o-2", "working", Some("rep-a")),
        ("o-3", "won", Some("rep-a")),
        ("o-4", "lost", Some("rep-b")),
        ("o-5", "disqualified", Some("rep-b")),
        ("o-6", "mql", Some("rep-b")),
        ("o-7", "new", None),
        ("o-8", "lost", Some("rep-c")),
    ];
    insert(
        store,
        stages
            .iter()
            .map(|(id, stage, owner)| LeadRow {
                stage: stage.to_string(),
                owner: owner.map(Into::into),
                ..lead(id)
            })
            .collect(),
    );
    let mut counts = store.open_leads_by_owner().unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![("rep-a".to_string(), 2), ("rep-b".to_string(), 1)]
    );
}
on_every_backend!(open_leads_per_owner_ignore_closed_stages);

fn open_leads_up_to_a_cap_count_every_open_stage_and_stop_at_the_cap(store: &dyn Store) {
    let open = leadq_store::OPEN_STAGES;
    let mut rows: Vec<LeadRow> = open
        .iter()
        .enumerate()
        .map(|(i, stage)| LeadRow {
            stage: stage.to_string(),
            owner: Some("rep-a".into()),
            ..lead(&format!("a-{i}"))
        })
        .collect();
    for (i, stage) in ["won", "lost", "disqualified"].iter().enumerate() {
        rows.push(LeadRow {
            stage: stage.to_string(),
            owner: Some("rep-a".into()),
            ..lead(&format!("closed-{i}"))
        });
    }
    rows.push(LeadRow {
        owner: Some("rep-b".into()),
        ..lead("b-1")
    });
    insert(store, rows);
    let n = open.len() as i64;
    let caps = [
        ("rep-a".to_string(), 100),
        ("rep-b".to_string(), 100),
        ("rep-c".to_string(), 100),
    ];
    assert_eq!(
        store.open_leads_up_to(&caps).unwrap(),
        vec![
            ("rep-a".to_string(), n),
            ("rep-b".to_string(), 1),
            ("rep-c".to_string(), 0)
        ]
    );
    let capped = [("rep-a".to_string(), 3), ("rep-b".to_string(), 0)];
    assert_eq!(
        store.open_leads_up_to(&capped).unwrap(),
        vec![("rep-a".to_string(), 3), ("rep-b".to_string(), 0)]
    );
}
on_every_backend!(open_leads_up_to_a_cap_count_every_open_stage_and_stop_at_the_cap);

fn the_account_owner_is_the_latest_assigned_owner_of_another_lead_of_the_domain(store: &dyn Store) {
    let rows = [
        ("d-1", "acme.io", Some("rep-1"), Some(100)),
        ("d-2", "acme.io", Some("rep-2"), Some(300)),
        ("d-3", "acme.io", Some("rep-3"), None),
        ("d-4", "acme.io", None, Some(900)),
        ("d-5", "other.io", Some("rep-5"), Some(999)),
    ];
    insert(
        store,
        rows.iter()
            .map(|(id, domain, owner, at)| LeadRow {
                domain: Some(domain.to_string()),
                owner: owner.map(Into::into),
                assigned_at: *at,
                ..lead(id)
            })
            .collect(),
    );
    let owner = |d: &str, except: &str| store.account_owner(d, except).unwrap();
    assert_eq!(owner("acme.io", "new-lead"), Some("rep-2".into()));
    assert_eq!(owner("acme.io", "d-2"), Some("rep-1".into()));
    assert_eq!(owner("other.io", "new-lead"), Some("rep-5".into()));
    assert_eq!(owner("other.io", "d-5"), None);
    assert_eq!(owner("nobody.io", "new-lead"), None);
}
on_every_backend!(the_account_owner_is_the_latest_assigned_owner_of_another_lead_of_the_domain);

fn metric_rows_are_the_leads_created_in_the_half_open_range(store: &dyn Store) {
    insert(
        store,
        [("m-1", 100), ("m-2", 200), ("m-3", 300), ("m-0", 99)]
            .iter()
            .map(|(id, at)| LeadRow {
                created_at: *at,
                fields: r#"{"email":"m@example.com","notes":"a long text"}"#.into(),
                ..lead(id)
            })
            .collect(),
    );
    assert_eq!(
        ids(&store.metric_rows(100, 300).unwrap()),
        strs(&["m-1", "m-2"])
    );
    assert_eq!(
        ids(&store.metric_rows(0, 1_000).unwrap()),
        strs(&["m-1", "m-2", "m-3", "m-0"])
    );
    assert!(store.metric_rows(301, 1_000).unwrap().is_empty());
    // The facts metrics need, without the large documents.
    let row = &store.metric_rows(100, 101).unwrap()[0];
    let full = store.lead("m-1").unwrap().unwrap();
    assert_ne!(full.fields, "{}", "the stored lead has fields");
    assert_eq!(row.fields, "{}");
    assert_eq!(
        LeadRow {
            fields: full.fields.clone(),
            ..row.clone()
        },
        full
    );

    // Ranges holding few of the leads and most of them (on SQLite, read
    // through the creation index or by one pass over the table) both come
    // in insertion order.
    let later: Vec<LeadRow> = (0..16)
        .map(|i| LeadRow {
            created_at: 500 + (i * 7) % 16,
            ..lead(&format!("m-{}", 10 + i))
        })
        .collect();
    let by_seq = |from: i64, to: i64| -> Vec<String> {
        later
            .iter()
            .filter(|l| l.created_at >= from && l.created_at < to)
            .map(|l| l.id.clone())
            .collect()
    };
    insert(store, later.clone());
    assert_eq!(ids(&store.metric_rows(500, 503).unwrap()), by_seq(500, 503));
    assert_eq!(by_seq(500, 503).len(), 3);
    assert_eq!(
        ids(&store.metric_rows(500, 1_000).unwrap()),
        by_seq(500, 1_000)
    );
    let mut all = strs(&["m-1", "m-2", "m-3", "m-0"]);
    all.extend(by_seq(0, 1_000));
    assert_eq!(ids(&store.metric_rows(0, 1_000).unwrap()), all);
}
on_every_backend!(metric_rows_are_the_leads_created_in_the_half_open_range);

fn waiting_leads_are_those_in_the_stage_unanswered_since_the_cutoff(store: &dyn Store) {
    let rows = [
        ("w-1", "new", 500, None),
        ("w-2", "new", 100, None),
        ("w-3", "new", 200, Some(250)),
        ("w-4", "working", 50, None),
        ("w-5", "new", 501, None),
        ("w-6", "new", 300, None),
    ];
    insert(
        store,
        rows.iter()
            .map(|(id, stage, changed, responded)| LeadRow {
                stage: stage.to_string(),
                stage_changed_at: *changed,
                first_response_at: *responded,
                ..lead(id)
            })
            .collect(),
    );
    assert_eq!(
        ids(&store.leads_waiting("new", 500, 10).unwrap()),
        strs(&["w-2", "w-6", "w-1"])
    );
    assert_eq!(
        ids(&store.leads_waiting("new", 500, 2).unwrap()),
        strs(&["w-2", "w-6"])
    );
    assert_eq!(
        ids(&store.leads_waiting("working", 1_000, 10).unwrap()),
        strs(&["w-4"])
    );
    assert!(store.leads_waiting("new", 99, 10).unwrap().is_empty());
    assert!(store.leads_waiting("won", 1_000, 10).unwrap().is_empty());
}
on_every_backend!(waiting_leads_are_those_in_the_stage_unanswered_since_the_cutoff);

// --- events and answers ---------------------------------------------------------------

fn a_repeated_idempotency_key_is_stored_once(store: &dyn Store) {
    let first = store
        .insert_events(vec![
            event("ev-a", "k1", 30),
            event("ev-a", "k2", 10),
            event("ev-b", "k3", 20),
            event("ev-a", "k1", 99),
            event("ev-a", "k4", 10),
        ])
        .unwrap();
    assert_eq!(first, vec![true, true, true, false, true]);
    let again = store
        .insert_events(vec![
            event("ev-a", "k2", 77),
            event("ev-b", "k5", 5),
            event("ev-b", "k3", 1),
        ])
        .unwrap();
    assert_eq!(again, vec![false, true, false]);
    assert_eq!(store.insert_events(vec![]).unwrap(), Vec::<bool>::new());

    // Ordered by time, then arrival; the first copy of a key is the one kept.
    let a = store.events_of("ev-a").unwrap();
    assert_eq!(
        a.iter()
            .map(|e| e.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        vec!["k2", "k4", "k1"]
    );
    assert_eq!(a[2].at, 30);
    assert_eq!(
        without_seq(&a[..1], |e| e.seq = 0),
        vec![event("ev-a", "k2", 10)]
    );
    assert!(a[0].seq < a[1].seq);

    let many = store
        .events_of_many(&strs(&["ev-b", "ev-a", "ev-none"]))
        .unwrap();
    let keys: Vec<(&str, &str)> = many
        .iter()
        .map(|e| (e.lead_id.as_str(), e.idempotency_key.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("ev-a", "k2"),
            ("ev-a", "k4"),
            ("ev-a", "k1"),
            ("ev-b", "k5"),
            ("ev-b", "k3")
        ]
    );
    assert!(store.events_of_many(&[]).unwrap().is_empty());
    assert!(store.events_of("ev-none").unwrap().is_empty());
}
on_every_backend!(a_repeated_idempotency_key_is_stored_once);

fn events_of_many_leads_span_every_chunk(store: &dyn Store) {
    let leads: Vec<String> = (0..1_203).map(|i| format!("many-{i:04}")).collect();
    store
        .insert_events(
            leads
                .iter()
                .map(|l| event(l, &format!("{l}-k"), 1))
                .collect(),
        )
        .unwrap();
    let got = store.events_of_many(&leads).unwrap();
    assert_eq!(got.len(), leads.len());
    assert_eq!(
        got.iter().map(|e| e.lead_id.clone()).collect::<Vec<_>>(),
        leads
    );
}
on_every_backend!(events_of_many_leads_span_every_chunk);

fn answers_are_upserted_per_criterion(store: &dyn Store) {
    let answer = |lead: &str, fw: &str, crit: &str, value: &str, at: i64| AnswerRow {
        lead_id: lead.into(),
        framework: fw.into(),
        criterion: crit.into(),
        value: value.into(),
        evidence: Some(format!("call at {at}")),
        actor: "rep-1".into(),
        at,
    };
    store
        .set_answers(vec![
            answer("q-1", "meddic", "pain", "churn", 1),
            answer("q-1", "bant", "timeline", "Q3", 2),
            answer("q-1", "bant", "budget", "50k", 3),
            answer("q-2", "bant", "budget", "none", 4),
        ])
        .unwrap();
    let mut changed = answer("q-1", "bant", "budget", "80k", 9);
    changed.evidence = None;
    changed.actor = "rep-2".into();
    store.set_answers(vec![changed.clone()]).unwrap();

    assert_eq!(
        store.answers_of("q-1").unwrap(),
        vec![
            changed,
            answer("q-1", "bant", "timeline", "Q3", 2),
            answer("q-1", "meddic", "pain", "churn", 1)
        ]
    );
    assert_eq!(
        store.answers_of("q-2").unwrap(),
        vec![answer("q-2", "bant", "budget", "none", 4)]
    );
    assert!(store.answers_of("q-3").unwrap().is_empty());
    let many = store
        .answers_of_many(&strs(&["q-2", "q-3", "q-1"]))
        .unwrap();
    let keys: Vec<(&str, &str, &str)> = many
        .iter()
        .map(|a| {
            (
                a.lead_id.as_str(),
                a.framework.as_str(),
                a.criterion.as_str(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("q-1", "bant", "budget"),
            ("q-1", "bant", "timeline"),
            ("q-1", "meddic", "pain"),
            ("q-2", "bant", "budget")
        ]
    );
    assert_eq!(many[0].value, "80k");
    assert!(store.answers_of_many(&[]).unwrap().is_empty());
}
on_every_backend!(answers_are_upserted_per_criterion);

// --- users, tokens, models ------------------------------------------------------------------

fn sessions_are_found_until_they_expire_or_end_and_passwords_can_be_changed(store: &dyn Store) {
    store
        .create_user(UserRow {
            id: "u-1".into(),
            name: "amy".into(),
            role: "rep".into(),
            password_hash: None,
            rep_id: Some("rep-1".into()),
            created_at: 1,
        })
        .unwrap();
    assert!(store.set_password("amy", Some("argon2:x".into())).unwrap());
    assert!(!store
        .set_password("nobody", Some("argon2:y".into()))
        .unwrap());
    assert_eq!(
        store
            .user_by_name("amy")
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("argon2:x")
    );
    let session = |hash: &str, expires_at: i64| SessionRow {
        hash: hash.into(),
        csrf: format!("csrf-{hash}"),
        name: "amy".into(),
        role: "rep".into(),
        rep_id: Some("rep-1".into()),
        user_id: Some("u-1".into()),
        created_at: 10,
        expires_at,
    };
    store.create_session(session("s-1", 100)).unwrap();
    store.create_session(session("s-2", 50)).unwrap();
    assert_eq!(store.session("s-1", 20).unwrap(), Some(session("s-1", 100)));
    assert_eq!(
        store.session("s-1", 100).unwrap(),
        None,
        "expired at its end"
    );
    assert_eq!(store.session("nope", 20).unwrap(), None);
    // Ending s-1 at time 60 also sweeps s-2, which expired at 50.
    assert!(store.delete_session("s-1", 60).unwrap());
    assert_eq!(store.session("s-1", 20).unwrap(), None);
    assert_eq!(store.session("s-2", 20).unwrap(), None);
    assert!(!store.delete_session("s-1", 60).unwrap());
}
on_every_backend!(sessions_are_found_until_they_expire_or_end_and_passwords_can_be_changed);

fn user_names_are_unique_and_tokens_are_found_by_hash_until_revoked(store: &dyn Store) {
    let user = |id: &str, name: &str| UserRow {
        id: id.into(),
        name: name.into(),
        role: "admin".into(),
        password_hash: Some(format!("argon2:{id}")),
        rep_id: None,
        created_at: 5,
    };
    store.create_user(user("u-2", "zoe")).unwrap();
    store
        .create_user(UserRow {
            rep_id: Some("rep-1".into()),
            password_hash: None,
            ..user("u-1", "amy")
        })
        .unwrap();
    let dup = store.create_user(user("u-3", "zoe"));
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let dup_id = store.create_user(user("u-1", "other"));
    assert!(matches!(dup_id, Err(StoreError::Conflict(_))), "{dup_id:?}");
    assert_eq!(store.user_by_name("zoe").unwrap(), Some(user("u-2", "zoe")));
    assert_eq!(
        store
            .user_by_name("amy")
            .unwrap()
            .unwrap()
            .rep_id
            .as_deref(),
        Some("rep-1")
    );
    assert_eq!(store.user_by_name("other").unwrap(), None);
    let names: Vec<String> = store
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, strs(&["amy", "zoe"]));

    let token = |id: &str, hash: &str, at: i64| TokenRow {
        id: id.into(),
        name: format!("token {id}"),
        role: "rep".into(),
        user_id: Some("u-1".into()),
        rep_id: Some("rep-1".into()),
        hash: hash.into(),
        created_at: at,
        revoked: false,
    };
    store.create_token(token("t-2", "hash-2", 20)).unwrap();
    store.create_token(token("t-1", "hash-1", 10)).unwrap();
    let dup = store.create_token(token("t-3", "hash-1", 30));
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(
        store.token_by_hash("hash-2").unwrap(),
        Some(token("t-2", "hash-2", 20))
    );
    assert_eq!(store.token_by_hash("hash-3").unwrap(), None);

    assert!(store.revoke_token("t-2").unwrap());
    assert!(!store.revoke_token("t-9").unwrap());
    assert!(store.token_by_hash("hash-2").unwrap().unwrap().revoked);
    assert!(!store.token_by_hash("hash-1").unwrap().unwrap().revoked);
    let listed: Vec<(String, bool)> = store
        .list_tokens()
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.revoked))
        .collect();
    assert_eq!(listed, vec![("t-1".into(), false), ("t-2".into(), true)]);
}
on_every_backend!(user_names_are_unique_and_tokens_are_found_by_hash_until_revoked);

fn publishing_models_numbers_versions_and_retires_the_previous_one(store: &dyn Store) {
    assert_eq!(store.published_model().unwrap(), None);
    let m1 = store.create_model("first", "fit: {}", "amy", 100).unwrap();
    assert_eq!(
        (m1.status.as_str(), m1.version, m1.published_at),
        ("draft", None, None)
    );
    assert_eq!(
        (
            m1.name.as_str(),
            m1.source.as_str(),
            m1.created_by.as_str(),
            m1.created_at
        ),
        ("first", "fit: {}", "amy", 100)
    );
    assert_eq!(store.model(m1.id).unwrap(), Some(m1.clone()));
    assert_eq!(store.published_model().unwrap(), None);

    let p1 = store.publish_model(m1.id, 200).unwrap();
    assert_eq!(
        (p1.id, p1.status.as_str(), p1.version, p1.published_at),
        (m1.id, "published", Some(1), Some(200))
    );
    assert_eq!(store.published_model().unwrap(), Some(p1.clone()));

    let m2 = store
        .create_model("second", "fit: {x: 1}", "zoe", 300)
        .unwrap();
    assert_ne!(m2.id, m1.id);
    assert_eq!(
        store.published_model().unwrap(),
        Some(p1.clone()),
        "a draft does not replace the published model"
    );
    let p2 = store.publish_model(m2.id, 400).unwrap();
    assert_eq!((p2.status.as_str(), p2.version), ("published", Some(2)));
    assert_eq!(store.published_model().unwrap(), Some(p2.clone()));
    let retired = store.model(m1.id).unwrap().unwrap();
    assert_eq!(
        (
            retired.status.as_str(),
            retired.version,
            retired.published_at
        ),
        ("retired", Some(1), Some(200))
    );

    // Only a draft can be published.
    for id in [m1.id, m2.id] {
        let again = store.publish_model(id, 500);
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    }
    assert!(matches!(
        store.publish_model(m2.id + 1_000, 500),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.published_model().unwrap(), Some(p2.clone()));

    assert_eq!(store.model_by_version(1).unwrap(), Some(retired.clone()));
    assert_eq!(store.model_by_version(2).unwrap(), Some(p2.clone()));
    assert_eq!(store.model_by_version(3).unwrap(), None);
    assert_eq!(store.model(m2.id + 1_000).unwrap(), None);

    let m3 = store.create_model("third", "", "amy", 600).unwrap();
    assert_eq!(store.list_models().unwrap(), vec![retired, p2, m3.clone()]);
    assert_eq!(store.publish_model(m3.id, 700).unwrap().version, Some(3));
    assert_eq!(
        store.model_by_version(2).unwrap().unwrap().status,
        "retired"
    );
}
on_every_backend!(publishing_models_numbers_versions_and_retires_the_previous_one);

// --- reps, routing, SLA ------------------------------------------------------------------------

fn reps_are_upserted_listed_and_deleted(store: &dyn Store) {
    store.upsert_rep(rep("rep-b")).unwrap();
    store.upsert_rep(rep("rep-a")).unwrap();
    assert_eq!(store.rep("rep-a").unwrap(), Some(rep("rep-a")));
    assert_eq!(store.rep("rep-z").unwrap(), None);

    // The assignment clock survives an edit of the rep.
    let assigned = LeadChange {
        assignments: vec![assignment("r-lead", 4_242, "rep-a", None)],
        ..LeadChange::insert(lead("r-lead"))
    };
    store.apply(vec![assigned]).unwrap().remove(0).unwrap();
    let edited = RepRow {
        name: "Renamed".into(),
        email: None,
        capacity: 3,
        active: false,
        territory: r#"["DE","AT"]"#.into(),
        ..rep("rep-a")
    };
    store.upsert_rep(edited.clone()).unwrap();
    assert_eq!(
        store.rep("rep-a").unwrap(),
        Some(RepRow {
            last_assigned_at: Some(4_242),
            ..edited.clone()
        })
    );

    let ids: Vec<String> = store
        .list_reps()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, strs(&["rep-a", "rep-b"]));
    assert!(store.delete_rep("rep-b").unwrap());
    assert!(!store.delete_rep("rep-b").unwrap());
    assert_eq!(store.rep("rep-b").unwrap(), None);
    assert_eq!(store.list_reps().unwrap().len(), 1);
}
on_every_backend!(reps_are_upserted_listed_and_deleted);

fn routing_rules_are_replaced_as_a_whole_in_order(store: &dyn Store) {
    assert!(store.routing_rules().unwrap().is_empty());
    let rules = strs(&[r#"{"name":"c"}"#, r#"{"name":"a"}"#, r#"{"name":"b"}"#]);
    store.set_routing_rules(rules.clone()).unwrap();
    assert_eq!(store.routing_rules().unwrap(), rules);
    let fewer = strs(&[r#"{"name":"b"}"#, r#"{"name":"c"}"#]);
    store.set_routing_rules(fewer.clone()).unwrap();
    assert_eq!(store.routing_rules().unwrap(), fewer);
    store.set_routing_rules(vec![]).unwrap();
    assert!(store.routing_rules().unwrap().is_empty());
}
on_every_backend!(routing_rules_are_replaced_as_a_whole_in_order);

fn sla_policies_are_upserted_listed_and_deleted(store: &dyn Store) {
    let policy = |id: &str, minutes: i64| SlaPolicyRow {
        id: id.into(),
        stage: "new".into(),
        minutes,
        action: "escalate".into(),
        escalate_to: Some("rep-lead".into()),
        active: true,
        created_at: 10,
    };
    store.upsert_sla_policy(policy("sla-2", 60)).unwrap();
    store.upsert_sla_policy(policy("sla-1", 30)).unwrap();
    let changed = SlaPolicyRow {
        stage: "mql".into(),
        action: "reassign".into(),
        escalate_to: None,
        active: false,
        ..policy("sla-2", 15)
    };
    store.upsert_sla_policy(changed.clone()).unwrap();
    assert_eq!(
        store.list_sla_policies().unwrap(),
        vec![policy("sla-1", 30), changed]
    );
    assert!(store.delete_sla_policy("sla-1").unwrap());
    assert!(!store.delete_sla_policy("sla-1").unwrap());
    assert_eq!(store.list_sla_policies().unwrap().len(), 1);
}
on_every_backend!(sla_policies_are_upserted_listed_and_deleted);

fn a_breach_is_recorded_once(store: &dyn Store) {
    let breach = |lead: &str, due: i64, detected: i64| BreachRow {
        seq: 0,
        lead_id: lead.into(),
        policy_id: "sla-1".into(),
        stage: "new".into(),
        owner: Some("rep-1".into()),
        due_at: due,
        detected_at: detected,
        action: "escalate".into(),
    };
    assert!(store.record_breach(breach("b-1", 100, 110)).unwrap());
    assert!(
        !store.record_breach(breach("b-1", 100, 120)).unwrap(),
        "same lead, policy and due time"
    );
    assert!(
        store.record_breach(breach("b-1", 200, 210)).unwrap(),
        "a later due time is a new breach"
    );
    assert!(store.record_breach(breach("b-2", 100, 130)).unwrap());
    assert!(store
        .record_breach(BreachRow {
            policy_id: "sla-2".into(),
            owner: None,
            ..breach("b-1", 100, 140)
        })
        .unwrap());

    let mut keys = store.breach_keys("sla-1").unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            ("b-1".to_string(), 100),
            ("b-1".to_string(), 200),
            ("b-2".to_string(), 100)
        ],
        "the keys of one policy's breaches"
    );
    assert_eq!(store.breach_keys("sla-9").unwrap(), vec![]);

    let all = store.list_breaches(0, 1_000).unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(
        without_seq(&all[..1], |b| b.seq = 0),
        vec![breach("b-1", 100, 110)]
    );
    let detected: Vec<i64> = store
        .list_breaches(110, 140)
        .unwrap()
        .iter()
        .map(|b| b.detected_at)
        .collect();
    assert_eq!(detected, vec![110, 130]);
}
on_every_backend!(a_breach_is_recorded_once);

// --- webhooks and the outbox ---------------------------------------------------------------------

fn webhooks_are_created_listed_and_found(store: &dyn Store) {
    store.create_webhook(webhook("wh-b", 10)).unwrap();
    store
        .create_webhook(WebhookRow {
            active: false,
            ..webhook("wh-a", 20)
        })
        .unwrap();
    store.create_webhook(webhook("wh-c", 10)).unwrap();
    let dup = store.create_webhook(webhook("wh-b", 30));
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let ids: Vec<String> = store
        .list_webhooks()
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(ids, strs(&["wh-b", "wh-c", "wh-a"]));
    assert_eq!(
        store.webhook("wh-a").unwrap(),
        Some(WebhookRow {
            active: false,
            ..webhook("wh-a", 20)
        })
    );
    assert_eq!(store.webhook("wh-z").unwrap(), None);
}
on_every_backend!(webhooks_are_created_listed_and_found);

fn due_deliveries_honour_their_time_and_status(store: &dyn Store) {
    store.create_webhook(webhook("wh-1", 1)).unwrap();
    store.create_webhook(webhook("wh-2", 2)).unwrap();
    store
        .enqueue_deliveries(vec![
            delivery("wh-1", "pending", 100, 1),
            delivery("wh-1", "pending", 300, 2),
            delivery("wh-2", "pending", 50, 3),
            delivery("wh-1", "delivered", 10, 4),
            delivery("wh-1", "failed", 0, 5),
            delivery("wh-2", "pending", 100, 6),
        ])
        .unwrap();
    let due = |now: i64, limit: usize| -> Vec<i64> {
        store
            .due_deliveries(now, limit)
            .unwrap()
            .iter()
            .map(|d| d.created_at)
            .collect()
    };
    assert_eq!(due(49, 10), Vec::<i64>::new());
    assert_eq!(due(100, 10), vec![3, 1, 6]);
    assert_eq!(due(1_000, 10), vec![3, 1, 6, 2]);
    assert_eq!(due(1_000, 2), vec![3, 1]);

    // A failed attempt is rescheduled; a success leaves the queue.
    let mut first = store.due_deliveries(100, 10).unwrap().remove(1);
    assert_eq!(first.created_at, 1);
    first.attempts = 1;
    first.next_attempt_at = 400;
    first.last_status = Some(503);
    first.last_error = Some("service unavailable".into());
    store.update_delivery(&first).unwrap();
    let mut third = store.due_deliveries(100, 10).unwrap().remove(0);
    assert_eq!(third.created_at, 3);
    third.status = "delivered".into();
    third.attempts = 1;
    third.last_status = Some(200);
    third.delivered_at = Some(60);
    store.update_delivery(&third).unwrap();
    assert_eq!(due(300, 10), vec![6, 2]);
    assert_eq!(due(400, 10), vec![6, 2, 1]);

    // Newest first per webhook, with what was written.
    let of_1 = store.deliveries_of("wh-1", 10).unwrap();
    assert_eq!(
        of_1.iter().map(|d| d.created_at).collect::<Vec<_>>(),
        vec![5, 4, 2, 1]
    );
    assert_eq!(of_1[3], first);
    assert_eq!(store.deliveries_of("wh-2", 10).unwrap()[1], third);
    assert_eq!(store.deliveries_of("wh-1", 2).unwrap().len(), 2);
    assert_eq!(store.deliveries_of("wh-1", 2).unwrap()[0].created_at, 5);
}
on_every_backend!(due_deliveries_honour_their_time_and_status);

fn deleting_a_webhook_deletes_its_deliveries(store: &dyn Store) {
    store.create_webhook(webhook("wh-gone", 1)).unwrap();
    store.create_webhook(webhook("wh-kept", 2)).unwrap();
    store
        .enqueue_deliveries(vec![
            delivery("wh-gone", "pending", 0, 1),
            delivery("wh-kept", "pending", 0, 2),
            delivery("wh-gone", "failed", 0, 3),
        ])
        .unwrap();
    assert!(store.delete_webhook("wh-gone").unwrap());
    assert!(!store.delete_webhook("wh-gone").unwrap());
    assert_eq!(store.webhook("wh-gone").unwrap(), None);
    assert!(store.deliveries_of("wh-gone", 10).unwrap().is_empty());
    let due: Vec<String> = store
        .due_deliveries(10, 10)
        .unwrap()
        .into_iter()
        .map(|d| d.webhook_id)
        .collect();
    assert_eq!(due, strs(&["wh-kept"]));
    assert_eq!(store.deliveries_of("wh-kept", 10).unwrap().len(), 1);
}
on_every_backend!(deleting_a_webhook_deletes_its_deliveries);

// --- jobs, spend, settings ---------------------------------------------------------------------------

fn a_job_is_upserted_and_keeps_its_creation(store: &dyn Store) {
    let running = JobRow {
        id: "job-1".into(),
        kind: "rescore".into(),
        status: "running".into(),
        total: 100,
        done: 0,
        result: None,
        error: None,
        created_at: 10,
        finished_at: None,
    };
    store.put_job(running.clone()).unwrap();
    assert_eq!(store.job("job-1").unwrap(), Some(running.clone()));
    let done = JobRow {
        status: "done".into(),
        done: 100,
        result: Some(r#"{"changed":7}"#.into()),
        finished_at: Some(99),
        created_at: 50,
        kind: "other".into(),
        ..running.clone()
    };
    store.put_job(done.clone()).unwrap();
    assert_eq!(
        store.job("job-1").unwrap(),
        Some(JobRow {
            created_at: 10,
            kind: "rescore".into(),
            ..done
        })
    );
    let failed = JobRow {
        id: "job-2".into(),
        status: "failed".into(),
        error: Some("boom".into()),
        ..running
    };
    store.put_job(failed.clone()).unwrap();
    assert_eq!(store.job("job-2").unwrap(), Some(failed));
    assert_eq!(store.job("job-3").unwrap(), None);
}
on_every_backend!(a_job_is_upserted_and_keeps_its_creation);

fn jobs_left_running_are_marked_failed_and_returned_as_they_were(store: &dyn Store) {
    let job = |id: &str, kind: &str, status: &str, created_at: i64| JobRow {
        id: id.into(),
        kind: kind.into(),
        status: status.into(),
        total: 10,
        done: 4,
        result: None,
        error: None,
        created_at,
        finished_at: None,
    };
    let import = job("j-import", "import", "running", 20);
    let rescore = job("j-rescore", "rescore", "running", 10);
    let finished = JobRow {
        finished_at: Some(30),
        ..job("j-done", "rescore", "done", 5)
    };
    for j in [&import, &rescore, &finished] {
        store.put_job(j.clone()).unwrap();
    }
    let failed = store.fail_running_jobs("stopped", 99, None).unwrap();
    assert_eq!(
        failed,
        vec![rescore.clone(), import.clone()],
        "oldest first"
    );
    for j in [&rescore, &import] {
        assert_eq!(
            store.job(&j.id).unwrap(),
            Some(JobRow {
                status: "failed".into(),
                error: Some("stopped".into()),
                finished_at: Some(99),
                ..j.clone()
            })
        );
    }
    assert_eq!(store.job("j-done").unwrap(), Some(finished));
    assert!(store
        .fail_running_jobs("again", 100, None)
        .unwrap()
        .is_empty());
}
on_every_backend!(jobs_left_running_are_marked_failed_and_returned_as_they_were);

fn jobs_whose_heartbeat_stopped_are_failed_and_those_still_beating_are_left(store: &dyn Store) {
    let job = |id: &str, created_at: i64| JobRow {
        id: id.into(),
        kind: "rescore".into(),
        status: "running".into(),
        total: 10,
        done: 0,
        result: None,
        error: None,
        created_at,
        finished_at: None,
    };
    let silent = job("j-silent", 10);
    let beating = job("j-beating", 20);
    let young = job("j-young", 600);
    for j in [&silent, &beating, &young] {
        store.put_job(j.clone()).unwrap();
    }
    // A beat records the progress of running jobs only.
    store
        .beat_jobs(
            vec![("j-beating".into(), 7, 9), ("j-missing".into(), 1, 1)],
            700,
        )
        .unwrap();
    let beating = JobRow {
        done: 7,
        total: 9,
        ..beating
    };
    assert_eq!(store.job("j-beating").unwrap(), Some(beating.clone()));
    assert_eq!(store.job("j-missing").unwrap(), None);

    // Before 550: the job that never beat (counted from its start at 10);
    // the one that beat at 700 and the one started at 600 are left.
    let failed = store.fail_running_jobs("gone", 1000, Some(550)).unwrap();
    assert_eq!(failed, vec![silent.clone()]);
    assert_eq!(store.job("j-beating").unwrap(), Some(beating.clone()));
    assert_eq!(store.job("j-young").unwrap(), Some(young.clone()));
    // A beat does not bring a failed job back.
    store
        .beat_jobs(vec![("j-silent".into(), 9, 10)], 1100)
        .unwrap();
    assert_eq!(
        store.job("j-silent").unwrap(),
        Some(JobRow {
            status: "failed".into(),
            error: Some("gone".into()),
            finished_at: Some(1000),
            ..silent
        })
    );

    // Later, both are past the lease: oldest first, as they were.
    let failed = store.fail_running_jobs("gone", 2000, Some(1500)).unwrap();
    assert_eq!(failed, vec![beating, young]);
    assert!(store
        .fail_running_jobs("gone", 3000, None)
        .unwrap()
        .is_empty());

    // Two servers failing the same stale jobs at once: each job goes to
    // one of them.
    let many: Vec<JobRow> = (0..12)
        .map(|i| job(&format!("j-many-{i:02}"), 50 + i))
        .collect();
    for j in &many {
        store.put_job(j.clone()).unwrap();
    }
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| store.fail_running_jobs("gone", 4000, Some(3500)).unwrap());
        let b = s.spawn(|| store.fail_running_jobs("gone", 4000, Some(3500)).unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut taken: Vec<String> = a.iter().chain(&b).map(|j| j.id.clone()).collect();
    taken.sort();
    let expected: Vec<String> = many.iter().map(|j| j.id.clone()).collect();
    assert_eq!(taken, expected, "every job once: {a:?} / {b:?}");
}
on_every_backend!(jobs_whose_heartbeat_stopped_are_failed_and_those_still_beating_are_left);

fn spend_is_upserted_per_source_campaign_and_period(store: &dyn Store) {
    let spend = |source: &str, campaign: &str, period: i64, amount: f64| SpendRow {
        source: source.into(),
        campaign: campaign.into(),
        period_start: period,
        amount,
    };
    assert!(store.list_spend().unwrap().is_empty());
    store
        .set_spend(vec![
            spend("google", "brand", 200, 10.5),
            spend("linkedin", "abm", 100, 99.99),
            spend("google", "brand", 100, 1.0),
        ])
        .unwrap();
    store
        .set_spend(vec![
            spend("google", "brand", 200, 12.25),
            spend("google", "abm", 200, 0.0),
        ])
        .unwrap();
    assert_eq!(
        store.list_spend().unwrap(),
        vec![
            spend("google", "brand", 100, 1.0),
            spend("linkedin", "abm", 100, 99.99),
            spend("google", "abm", 200, 0.0),
            spend("google", "brand", 200, 12.25),
        ]
    );
}
on_every_backend!(spend_is_upserted_per_source_campaign_and_period);

fn settings_are_upserted(store: &dyn Store) {
    assert_eq!(store.setting("mql.threshold").unwrap(), None);
    store.set_setting("mql.threshold", "60").unwrap();
    store.set_setting("theme", "").unwrap();
    assert_eq!(
        store.setting("mql.threshold").unwrap().as_deref(),
        Some("60")
    );
    store.set_setting("mql.threshold", "75").unwrap();
    assert_eq!(
        store.setting("mql.threshold").unwrap().as_deref(),
        Some("75")
    );
    assert_eq!(store.setting("theme").unwrap().as_deref(), Some(""));
}
on_every_backend!(settings_are_upserted);

// --- concurrency -------------------------------------------------------------------------------------------

const THREADS: usize = 8;
const PER_THREAD: usize = 50;

fn concurrent_lead_id(thread: usize, i: usize) -> String {
    if i.is_multiple_of(5) {
        format!("shared-{i:02}")
    } else {
        format!("t{thread}-{i:02}")
    }
}

fn concurrent_event_key(thread: usize, i: usize) -> String {
    if i.is_multiple_of(4) {
        format!("shared-key-{i:02}")
    } else {
        format!("t{thread}-key-{i:02}")
    }
}

fn concurrent_writers_with_overlapping_keys_leave_exact_counts(store: &dyn Store) {
    type Outcome = (
        Vec<(String, Result<LeadRow, StoreError>)>,
        Vec<(EventRow, bool)>,
    );
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut leads = Vec::new();
                    let mut events = Vec::new();
                    // Batches of five, keys in the same order everywhere.
                    for chunk in (0..PER_THREAD).collect::<Vec<_>>().chunks(5) {
                        let batch: Vec<LeadRow> = chunk
                            .iter()
                            .map(|&i| LeadRow {
                                company: Some(format!("thread {t}")),
                                ..lead(&concurrent_lead_id(t, i))
                            })
                            .collect();
                        let results = store
                            .apply(batch.iter().cloned().map(LeadChange::insert).collect())
                            .unwrap();
                        assert_eq!(results.len(), batch.len());
                        leads.extend(batch.into_iter().map(|l| l.id).zip(results));

                        let evs: Vec<EventRow> = chunk
                            .iter()
                            .map(|&i| EventRow {
                                props: format!(r#"{{"thread":{t}}}"#),
                                ..event(
                                    &format!("ev-owner-{}", i % 7),
                                    &concurrent_event_key(t, i),
                                    i as i64,
                                )
                            })
                            .collect();
                        let fresh = store.insert_events(evs.clone()).unwrap();
                        assert_eq!(fresh.len(), evs.len());
                        events.extend(evs.into_iter().zip(fresh));
                    }
                    (leads, events)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let shared_leads = (0..PER_THREAD).filter(|i| i.is_multiple_of(5)).count();
    let shared_keys = (0..PER_THREAD).filter(|i| i.is_multiple_of(4)).count();
    let expected_leads = THREADS * (PER_THREAD - shared_leads) + shared_leads;
    let expected_events = THREADS * (PER_THREAD - shared_keys) + shared_keys;

    // Leads: every id won exactly once; every Ok is what is stored.
    let mut winners: HashMap<String, LeadRow> = HashMap::new();
    for (id, result) in outcomes.iter().flat_map(|o| &o.0) {
        match result {
            Ok(l) => assert!(
                winners.insert(id.clone(), l.clone()).is_none(),
                "{id} inserted twice"
            ),
            Err(StoreError::Conflict(_)) => assert!(id.starts_with("shared-"), "{id} conflicted"),
            Err(e) => panic!("{id}: {e:?}"),
        }
    }
    assert_eq!(winners.len(), expected_leads);
    assert_eq!(store.count_leads().unwrap(), expected_leads as i64);
    for (id, l) in &winners {
        assert_eq!(store.lead(id).unwrap().as_ref(), Some(l));
    }
    let seqs: BTreeSet<i64> = winners.values().map(|l| l.seq).collect();
    assert_eq!(seqs.len(), expected_leads, "sequence numbers are unique");
    let scanned = store.scan_leads(0, 10_000).unwrap();
    assert_eq!(scanned.len(), expected_leads);

    // Events: each key new exactly once, stored once, as its first writer sent it.
    let mut fresh_by_key: BTreeMap<String, EventRow> = BTreeMap::new();
    for (e, fresh) in outcomes.iter().flat_map(|o| &o.1) {
        if *fresh {
            assert!(
                fresh_by_key
                    .insert(e.idempotency_key.clone(), e.clone())
                    .is_none(),
                "{} new twice",
                e.idempotency_key
            );
        }
    }
    assert_eq!(fresh_by_key.len(), expected_events);
    let owners: Vec<String> = (0..7).map(|i| format!("ev-owner-{i}")).collect();
    let stored = store.events_of_many(&owners).unwrap();
    assert_eq!(stored.len(), expected_events);
    let stored_by_key: BTreeMap<String, EventRow> = stored
        .into_iter()
        .map(|e| (e.idempotency_key.clone(), EventRow { seq: 0, ..e }))
        .collect();
    assert_eq!(stored_by_key, fresh_by_key);
}
on_every_backend!(concurrent_writers_with_overlapping_keys_leave_exact_counts);

// --- properties ----------------------------------------------------------------------------------------------

/// Inserts `calls` (each a batch of (key, lead, at)) and checks that exactly
/// the distinct keys are stored, each as first sent, and that exactly the
/// first sending of each key was reported new.
fn check_idempotent_events(
    store: &dyn Store,
    calls: &[Vec<(u8, u8, i64)>],
) -> Result<(), TestCaseError> {
    let mut first: BTreeMap<String, EventRow> = BTreeMap::new();
    for (n, call) in calls.iter().enumerate() {
        let events: Vec<EventRow> = call
            .iter()
            .map(|&(k, l, at)| EventRow {
                props: format!(r#"{{"call":{n}}}"#),
                ..event(&format!("prop-{l}"), &format!("key-{k}"), at)
            })
            .collect();
        let fresh = store.insert_events(events.clone()).unwrap();
        let expected: Vec<bool> = events
            .iter()
            .map(|e| {
                let new = !first.contains_key(&e.idempotency_key);
                first
                    .entry(e.idempotency_key.clone())
                    .or_insert_with(|| e.clone());
                new
            })
            .collect();
        prop_assert_eq!(fresh, expected);
    }
    let leads: Vec<String> = (0..4).map(|l| format!("prop-{l}")).collect();
    let stored = store.events_of_many(&leads).unwrap();
    prop_assert_eq!(stored.len(), first.len());
    let stored: BTreeMap<String, EventRow> = stored
        .into_iter()
        .map(|e| (e.idempotency_key.clone(), EventRow { seq: 0, ..e }))
        .collect();
    prop_assert_eq!(stored, first);
    Ok(())
}

fn event_calls() -> impl Strategy<Value = Vec<Vec<(u8, u8, i64)>>> {
    prop::collection::vec(
        prop::collection::vec((0u8..12, 0u8..4, 0i64..50), 0..12),
        1..5,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn any_sequence_of_events_stores_exactly_the_distinct_keys_on_sqlite(calls in event_calls()) {
        let mut outcome = Ok(());
        common::on_sqlite(|store| outcome = check_idempotent_events(store, &calls));
        outcome?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn any_sequence_of_events_stores_exactly_the_distinct_keys_on_postgres(calls in event_calls()) {
        let mut outcome = Ok(());
        common::on_postgres(|store| outcome = check_idempotent_events(store, &calls));
        outcome?;
    }
}

// --- predictive models and predictions ------------------------------------------

fn new_predictive(algorithm: &str, at: i64) -> NewPredictiveModel {
    NewPredictiveModel {
        algorithm: algorithm.into(),
        model: format!("{{\"trained\":{at}}}"),
        metrics: "{\"auc\":0.8}".into(),
        rows: 120,
        positives: 40,
        trained_at: at,
        trained_by: "marketing".into(),
    }
}

fn prediction(lead_id: &str, version: i64, p: f64) -> PredictionRow {
    PredictionRow {
        lead_id: lead_id.into(),
        champion_version: version,
        probability: p,
        challenger_version: None,
        challenger_probability: None,
        scored_at: 5_000,
    }
}

fn statuses(store: &dyn Store) -> Vec<(i64, String)> {
    store
        .predictive_models()
        .unwrap()
        .into_iter()
        .map(|m| (m.version, m.status))
        .collect()
}

fn the_first_predictive_model_is_champion_and_later_ones_replace_the_challenger(store: &dyn Store) {
    let first = store
        .create_predictive_model(new_predictive("gbdt", 10))
        .unwrap();
    assert_eq!((first.version, first.status.as_str()), (1, "champion"));
    assert_eq!(first.model, "{\"trained\":10}");
    assert_eq!((first.rows, first.positives), (120, 40));
    let second = store
        .create_predictive_model(new_predictive("logistic", 20))
        .unwrap();
    assert_eq!((second.version, second.status.as_str()), (2, "challenger"));
    let third = store
        .create_predictive_model(new_predictive("gbdt", 30))
        .unwrap();
    assert_eq!(
        statuses(store),
        vec![
            (1, "champion".to_string()),
            (2, "retired".to_string()),
            (3, "challenger".to_string())
        ]
    );
    assert_eq!(
        store.predictive_model(third.id).unwrap(),
        Some(third.clone())
    );
    assert_eq!(store.predictive_model(9_999).unwrap(), None);
    assert_eq!(
        store.predictive_model_with_status("champion").unwrap(),
        Some(first)
    );
    assert_eq!(
        store.predictive_model_with_status("challenger").unwrap(),
        Some(third)
    );
}
on_every_backend!(the_first_predictive_model_is_champion_and_later_ones_replace_the_challenger);

fn promoting_the_challenger_retires_the_champion_and_nothing_else_can_be_promoted(
    store: &dyn Store,
) {
    let first = store
        .create_predictive_model(new_predictive("gbdt", 10))
        .unwrap();
    assert!(matches!(
        store.promote_predictive_model(first.id),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.promote_predictive_model(9_999),
        Err(StoreError::NotFound(_))
    ));
    let second = store
        .create_predictive_model(new_predictive("gbdt", 20))
        .unwrap();
    let promoted = store.promote_predictive_model(second.id).unwrap();
    assert_eq!(
        (promoted.version, promoted.status.as_str()),
        (2, "champion")
    );
    assert_eq!(
        statuses(store),
        vec![(1, "retired".to_string()), (2, "champion".to_string())]
    );
    assert_eq!(
        store.predictive_model_with_status("challenger").unwrap(),
        None
    );
    // With the champion in place, the next model is a challenger again.
    let third = store
        .create_predictive_model(new_predictive("gbdt", 30))
        .unwrap();
    assert_eq!(third.status, "challenger");
}
on_every_backend!(promoting_the_challenger_retires_the_champion_and_nothing_else_can_be_promoted);

fn predictions_are_upserted_in_bulk_and_read_for_one_or_many_leads(store: &dyn Store) {
    assert_eq!(store.prediction_of("p-1").unwrap(), None);
    assert!(store.predictions_of(&[]).unwrap().is_empty());
    store
        .put_predictions(vec![prediction("p-1", 1, 0.25), prediction("p-2", 1, 0.5)])
        .unwrap();
    let mut replaced = prediction("p-1", 2, 0.75);
    replaced.challenger_version = Some(3);
    replaced.challenger_probability = Some(0.125);
    replaced.scored_at = 6_000;
    store
        .put_predictions(vec![replaced.clone(), prediction("p-3", 2, 0.5)])
        .unwrap();
    assert_eq!(store.prediction_of("p-1").unwrap(), Some(replaced.clone()));
    let many = store
        .predictions_of(&strs(&["p-3", "p-1", "missing"]))
        .unwrap();
    assert_eq!(many, vec![replaced, prediction("p-3", 2, 0.5)]);
    // Many ids are read in chunks; all are found.
    let rows: Vec<PredictionRow> = (0..1_200)
        .map(|i| prediction(&format!("bulk-{i:04}"), 1, f64::from(i) / 1_200.0))
        .collect();
    store.put_predictions(rows).unwrap();
    let wanted: Vec<String> = (0..1_200).map(|i| format!("bulk-{i:04}")).collect();
    let got = store.predictions_of(&wanted).unwrap();
    assert_eq!(got.len(), 1_200);
    assert_eq!(got[600].probability, 0.5);
}
on_every_backend!(predictions_are_upserted_in_bulk_and_read_for_one_or_many_leads);

fn closed_leads_are_the_won_and_lost_ones_closed_since_an_instant(store: &dyn Store) {
    let mut rows = Vec::new();
    for (id, stage, closed) in [
        ("c-1", "won", Some(100)),
        ("c-2", "lost", Some(300)),
        ("c-3", "disqualified", Some(300)),
        ("c-4", "new", None),
        ("c-5", "won", Some(500)),
    ] {
        let mut l = lead(id);
        l.stage = stage.into();
        l.closed_at = closed;
        rows.push(l);
    }
    insert(store, rows);
    let all = store.closed_leads(0, 0, 100).unwrap();
    assert_eq!(ids(&all), strs(&["c-1", "c-2", "c-5"]));
    let since = store.closed_leads(300, 0, 100).unwrap();
    assert_eq!(ids(&since), strs(&["c-2", "c-5"]));
    let first = store.closed_leads(0, 0, 1).unwrap();
    assert_eq!(ids(&first), strs(&["c-1"]));
    let rest = store.closed_leads(0, first[0].seq, 100).unwrap();
    assert_eq!(ids(&rest), strs(&["c-2", "c-5"]));
}
on_every_backend!(closed_leads_are_the_won_and_lost_ones_closed_since_an_instant);

// --- consent and privacy -------------------------------------------------------

fn consent(lead_id: &str, channel: &str, opt_in: Option<bool>, at: i64) -> ConsentRow {
    ConsentRow {
        seq: 0,
        lead_id: lead_id.into(),
        channel: channel.into(),
        lawful_basis: Some("consent".into()),
        opt_in,
        do_not_contact: false,
        source: "web form".into(),
        actor: "tester".into(),
        recorded_at: at,
    }
}

fn consent_is_current_per_channel_and_every_statement_is_kept_in_order(store: &dyn Store) {
    insert(store, vec![lead("c-1"), lead("c-2")]);
    // One statement commits with the lead change itself.
    let mut l = store.lead("c-1").unwrap().unwrap();
    l.updated_at = 2_000;
    let change = LeadChange {
        consents: vec![consent("c-1", "email", Some(true), 2_000)],
        tasks: Vec::new(),
        cancel_open_tasks: false,
        ..LeadChange::update(l)
    };
    store.apply(vec![change]).unwrap().remove(0).unwrap();
    let mut withdrawn = consent("c-1", "email", Some(false), 3_000);
    withdrawn.do_not_contact = true;
    withdrawn.lawful_basis = None;
    withdrawn.source = "phone call".into();
    store
        .record_consents(vec![
            withdrawn.clone(),
            consent("c-1", "sms", None, 3_000),
            consent("c-2", "phone", Some(true), 3_500),
        ])
        .unwrap();

    let current = store.consents_of("c-1").unwrap();
    assert_eq!(
        current,
        vec![withdrawn.clone(), consent("c-1", "sms", None, 3_000)],
        "email replaced by the later statement, sms added; by channel"
    );
    let history = store.consent_history_of("c-1").unwrap();
    assert_eq!(
        without_seq(&history, |r| r.seq = 0),
        vec![
            consent("c-1", "email", Some(true), 2_000),
            withdrawn,
            consent("c-1", "sms", None, 3_000)
        ]
    );
    assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
    let many = store
        .consents_of_many(&strs(&["c-2", "c-1", "nobody"]))
        .unwrap();
    assert_eq!(
        many.iter()
            .map(|c| (c.lead_id.as_str(), c.channel.as_str()))
            .collect::<Vec<_>>(),
        vec![("c-1", "email"), ("c-1", "sms"), ("c-2", "phone")]
    );
    assert!(store.consents_of("nobody").unwrap().is_empty());
}
on_every_backend!(consent_is_current_per_channel_and_every_statement_is_kept_in_order);

fn erasing_a_person_removes_their_rows_everywhere_and_keeps_an_anonymous_audit_entry(
    store: &dyn Store,
) {
    store.create_webhook(webhook("wh-e", 1)).unwrap();
    for id in ["erase_me", "keep"] {
        let mut l = lead(id);
        l.email = Some(format!("{id}@example.com"));
        l.source = Some("webinar".into());
        l.fields = format!(r#"{{"email":"{id}@example.com","phone":"+49 30 1234-{id}"}}"#);
        let mut d = delivery("wh-e", "pending", 0, 1);
        d.payload = format!(r#"{{"data":{{"lead_id":"{id}"}}}}"#);
        store
            .apply(vec![LeadChange {
                ledger: vec![ledger_entry(id, 1, "created")],
                transitions: vec![transition(id, 1, None, "new")],
                assignments: vec![assignment(id, 1, "rep-1", None)],
                deliveries: vec![d],
                consents: vec![consent(id, "email", Some(true), 1)],
                tasks: Vec::new(),
                cancel_open_tasks: false,
                ..LeadChange::insert(l)
            }])
            .unwrap()
            .remove(0)
            .unwrap();
        store
            .insert_events(vec![event(id, &format!("{id}-e1"), 5)])
            .unwrap();
        store
            .set_answers(vec![AnswerRow {
                lead_id: id.into(),
                framework: "BANT".into(),
                criterion: "budget".into(),
                value: "yes".into(),
                evidence: Some(format!("{id} said so")),
                actor: "rep".into(),
                at: 2,
            }])
            .unwrap();
        store.put_predictions(vec![prediction(id, 1, 0.5)]).unwrap();
    }
    store
        .put_job(JobRow {
            id: "job-import".into(),
            kind: "import".into(),
            status: "done".into(),
            total: 3,
            done: 3,
            result: Some(
                r#"{"rejected":2,"rejects":[{"row":2,"value":"ERASE_ME@example.com","reason":"bad"},{"row":3,"value":"keep@example.com","reason":"bad"}]}"#
                    .into(),
            ),
            error: None,
            created_at: 1,
            finished_at: Some(2),
        })
        .unwrap();
    // A needle's `%` and `_` are literal characters, not patterns.
    assert!(store
        .deliveries_mentioning(&strs(&["erase%"]))
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .deliveries_mentioning(&strs(&["erase_me"]))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .jobs_mentioning(&strs(&["erase_me@EXAMPLE.com"]))
            .unwrap()
            .len(),
        1
    );

    let audit = store
        .erase(Erasure {
            lead_id: Some("erase_me".into()),
            needles: strs(&["erase_me", "erase_me@example.com", ""]),
            actor: "admin".into(),
            reason: "request".into(),
            at: 9_000,
        })
        .unwrap();

    assert!(store.lead("erase_me").unwrap().is_none());
    assert!(store.events_of("erase_me").unwrap().is_empty());
    assert!(store.ledger_of("erase_me").unwrap().is_empty());
    assert!(store.transitions_of("erase_me").unwrap().is_empty());
    assert!(store.assignments_of("erase_me").unwrap().is_empty());
    assert!(store.answers_of("erase_me").unwrap().is_empty());
    assert!(store.prediction_of("erase_me").unwrap().is_none());
    assert!(store.consents_of("erase_me").unwrap().is_empty());
    assert!(store.consent_history_of("erase_me").unwrap().is_empty());
    assert!(store
        .deliveries_mentioning(&strs(&["erase_me"]))
        .unwrap()
        .is_empty());
    let deliveries = store.deliveries_of("wh-e", 10).unwrap();
    assert_eq!(deliveries.len(), 2);
    let erased: Vec<_> = deliveries.iter().filter(|d| d.status == "erased").collect();
    assert_eq!(
        erased.len(),
        1,
        "the pending delivery about them is not sent"
    );
    assert!(!erased[0].payload.contains("erase_me"));
    assert!(store
        .due_deliveries(i64::MAX, 10)
        .unwrap()
        .iter()
        .all(|d| d.payload.contains("keep")));
    let job: serde_json::Value =
        serde_json::from_str(&store.job("job-import").unwrap().unwrap().result.unwrap()).unwrap();
    assert_eq!(job["rejected"], 1);
    assert_eq!(job["rejects"].as_array().unwrap().len(), 1);
    assert_eq!(job["rejects"][0]["value"], "keep@example.com");

    // The other person is untouched.
    assert!(store.lead("keep").unwrap().is_some());
    assert_eq!(store.events_of("keep").unwrap().len(), 1);
    assert_eq!(store.ledger_of("keep").unwrap().len(), 1);
    assert_eq!(store.consents_of("keep").unwrap().len(), 1);
    assert!(store.prediction_of("keep").unwrap().is_some());

    let counts: serde_json::Value = serde_json::from_str(&audit.counts).unwrap();
    for (k, n) in [
        ("leads", 1),
        ("events", 1),
        ("ledger", 1),
        ("transitions", 1),
        ("assignments", 1),
        ("answers", 1),
        ("predictions", 1),
        ("consents", 1),
        ("deliveries", 1),
        ("import_rejects", 1),
    ] {
        assert_eq!(counts[k], n, "{k}");
    }
    assert_eq!(audit.source.as_deref(), Some("webinar"));
    assert_eq!(audit.stage.as_deref(), Some("new"));
    let listed = store.erasures().unwrap();
    assert_eq!(listed, vec![audit.clone()]);
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains("erase_me"), "the audit names nobody: {text}");
}
on_every_backend!(
    erasing_a_person_removes_their_rows_everywhere_and_keeps_an_anonymous_audit_entry
);

fn an_erasure_without_a_lead_still_cleans_reject_reports(store: &dyn Store) {
    store
        .put_job(JobRow {
            id: "job-r".into(),
            kind: "import".into(),
            status: "done".into(),
            total: 1,
            done: 1,
            result: Some(r#"{"rejected":1,"rejects":[{"row":2,"value":"only@reject.example","reason":"bad"}]}"#.into()),
            error: None,
            created_at: 1,
            finished_at: Some(2),
        })
        .unwrap();
    let audit = store
        .erase(Erasure {
            lead_id: None,
            needles: strs(&["only@reject.example"]),
            actor: "admin".into(),
            reason: "request".into(),
            at: 5,
        })
        .unwrap();
    let counts: serde_json::Value = serde_json::from_str(&audit.counts).unwrap();
    assert_eq!(counts["leads"], 0);
    assert_eq!(counts["import_rejects"], 1);
    assert!(store
        .jobs_mentioning(&strs(&["only@reject.example"]))
        .unwrap()
        .is_empty());
}
on_every_backend!(an_erasure_without_a_lead_still_cleans_reject_reports);

fn inactive_leads_are_those_without_updates_stage_changes_or_events_since_the_cutoff(
    store: &dyn Store,
) {
    let mut old = lead("old");
    old.created_at = 100;
    old.updated_at = 100;
    old.stage_changed_at = 100;
    let mut updated = old.clone();
    updated.id = "updated".into();
    updated.updated_at = 1_000;
    let mut moved = old.clone();
    moved.id = "moved".into();
    moved.stage_changed_at = 1_000;
    let mut late_event = old.clone();
    late_event.id = "late_event".into();
    let mut old_event = old.clone();
    old_event.id = "old_event".into();
    let mut new = old.clone();
    new.id = "new".into();
    new.created_at = 1_000;
    new.updated_at = 1_000;
    new.stage_changed_at = 1_000;
    insert(store, vec![old, updated, moved, late_event, old_event, new]);
    let mut received_late = event("late_event", "k1", 100);
    received_late.received_at = 1_000;
    store
        .insert_events(vec![received_late, event("old_event", "k2", 200)])
        .unwrap();
    let found: Vec<String> = store
        .inactive_leads(500, 100)
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(found, strs(&["old", "old_event"]));
    assert_eq!(store.inactive_leads(500, 1).unwrap().len(), 1);
    assert!(store.inactive_leads(100, 100).unwrap().is_empty());
}
on_every_backend!(
    inactive_leads_are_those_without_updates_stage_changes_or_events_since_the_cutoff
);

// --- email: templates, sequences, enrolments, outbox ----------------------------------

fn enrolment(id: &str, sequence: &str, lead: &str, next_run_at: i64) -> EnrolmentRow {
    EnrolmentRow {
        id: id.into(),
        sequence_id: sequence.into(),
        lead_id: lead.into(),
        status: "active".into(),
        step: 0,
        resumed: false,
        next_run_at: Some(next_run_at),
        stage_at_enrol: "new".into(),
        stop_reason: None,
        enrolled_by: "test".into(),
        enrolled_at: next_run_at,
        updated_at: next_run_at,
    }
}

fn email(id: &str, lead: &str, enrolment: Option<&str>, next_attempt_at: i64) -> EmailRow {
    EmailRow {
        id: id.into(),
        lead_id: lead.into(),
        enrolment_id: enrolment.map(str::to_string),
        step: Some(0),
        template_id: Some("t".into()),
        to_addr: format!("{lead}@example.com"),
        subject: "Hello".into(),
        body: "Hi".into(),
        purpose: "marketing".into(),
        status: "queued".into(),
        attempts: 0,
        next_attempt_at,
        last_error: None,
        message_id: None,
        created_at: next_attempt_at,
        sent_at: None,
        opened_at: None,
        clicked_at: None,
        replied_at: None,
        bounced_at: None,
    }
}

fn a_lead_is_enrolled_in_a_sequence_once_and_due_enrolments_come_oldest_first(store: &dyn Store) {
    store
        .put_sequence(SequenceRow {
            id: "s".into(),
            name: "S".into(),
            definition: "{}".into(),
            active: true,
            created_at: 1,
            updated_at: 1,
        })
        .unwrap();
    assert!(store.enrol(enrolment("e1", "s", "a", 20)).unwrap());
    assert!(store.enrol(enrolment("e2", "s", "b", 10)).unwrap());
    assert!(
        !store.enrol(enrolment("e3", "s", "a", 5)).unwrap(),
        "a second enrolment of the same lead is refused"
    );
    assert_eq!(store.enrolled_leads("s").unwrap().len(), 2);
    let due: Vec<String> = store
        .due_enrolments(20, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(due, strs(&["e2", "e1"]));
    assert!(store.due_enrolments(9, 10).unwrap().is_empty());
    let mut e1 = store.enrolment("e1").unwrap().unwrap();
    e1.step = 2;
    e1.resumed = true;
    e1.next_run_at = Some(100);
    store
        .advance_enrolment(e1.clone(), vec![email("m1", "a", Some("e1"), 20)])
        .unwrap();
    assert_eq!(store.enrolment("e1").unwrap().unwrap(), e1);
    assert_eq!(store.emails_of_enrolment("e1").unwrap()[0].id, "m1");
}
on_every_backend!(a_lead_is_enrolled_in_a_sequence_once_and_due_enrolments_come_oldest_first);

fn stopping_an_enrolment_cancels_its_queued_email_and_refuses_a_late_advance(store: &dyn Store) {
    store.enrol(enrolment("e1", "s", "a", 10)).unwrap();
    store.enrol(enrolment("e2", "other", "a", 10)).unwrap();
    store
        .queue_emails(vec![
            email("m1", "a", Some("e1"), 10),
            email("m2", "a", Some("e2"), 10),
        ])
        .unwrap();
    let stopped = store
        .stop_enrolments("a", Some(&strs(&["s"])), "reply", 50)
        .unwrap();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].stop_reason.as_deref(), Some("reply"));
    let due: Vec<String> = store
        .due_emails(100, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        due,
        strs(&["m2"]),
        "the stopped enrolment's email is cancelled"
    );
    assert_eq!(store.email("m1").unwrap().unwrap().status, "cancelled");
    let late = store.enrolment("e1").unwrap().unwrap();
    assert!(matches!(
        store.advance_enrolment(late, vec![email("m3", "a", Some("e1"), 60)]),
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store.email("m3").unwrap().is_none(),
        "nothing of a refused advance is written"
    );
    assert_eq!(store.enrolments_of("a").unwrap().len(), 2);
}
on_every_backend!(stopping_an_enrolment_cancels_its_queued_email_and_refuses_a_late_advance);

fn an_email_is_found_by_its_message_id_and_updates_round_trip(store: &dyn Store) {
    store
        .queue_emails(vec![email("m1", "a", None, 10)])
        .unwrap();
    let mut m = store.email("m1").unwrap().unwrap();
    m.status = "sent".into();
    m.attempts = 1;
    m.message_id = Some("<m1@acme.example>".into());
    m.sent_at = Some(11);
    m.opened_at = Some(12);
    store.update_email(&m).unwrap();
    assert_eq!(
        store.email_by_message_id("<m1@acme.example>").unwrap(),
        Some(m.clone())
    );
    assert_eq!(store.emails_of("a").unwrap(), vec![m]);
    assert!(store.due_emails(100, 10).unwrap().is_empty());
}
on_every_backend!(an_email_is_found_by_its_message_id_and_updates_round_trip);

// --- tasks -------------------------------------------------------------------------------

fn task(id: &str, lead: &str, owner: Option<&str>, origin: &str, due_at: i64) -> TaskRow {
    TaskRow {
        id: id.into(),
        lead_id: lead.into(),
        owner: owner.map(str::to_string),
        kind: "call".into(),
        title: format!("Task {id}"),
        notes: None,
        due_at,
        status: "open".into(),
        origin: origin.into(),
        created_at: 1,
        created_by: "test".into(),
        completed_at: None,
        completed_by: None,
        snoozed: 0,
        overdue_notified_at: None,
    }
}

fn a_rule_task_is_written_with_its_lead_change_once_while_open_and_closing_cancels_it(
    store: &dyn Store,
) {
    let first = LeadChange {
        tasks: vec![task("t1", "tl", Some("rep-1"), "rule:call", 100)],
        ..LeadChange::insert(lead("tl"))
    };
    let v1 = store.apply(vec![first]).unwrap().remove(0).unwrap();
    let again = LeadChange {
        tasks: vec![task("t2", "tl", Some("rep-1"), "rule:call", 200)],
        ..LeadChange::update(v1.clone())
    };
    let v2 = store.apply(vec![again]).unwrap().remove(0).unwrap();
    let open = |s: &dyn Store| {
        s.list_tasks(&TaskFilter {
            lead_id: Some("tl".into()),
            status: Some("open".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap()
    };
    assert_eq!(
        ids_of(&open(store)),
        strs(&["t1"]),
        "one open task per rule"
    );
    let mut closed = v2.clone();
    closed.stage = "lost".into();
    closed.updated_at = 500;
    let close = LeadChange {
        cancel_open_tasks: true,
        ..LeadChange::update(closed)
    };
    store.apply(vec![close]).unwrap().remove(0).unwrap();
    assert!(open(store).is_empty());
    let t1 = store.task("t1").unwrap().unwrap();
    assert_eq!(
        (t1.status.as_str(), t1.completed_at),
        ("cancelled", Some(500))
    );
}
on_every_backend!(
    a_rule_task_is_written_with_its_lead_change_once_while_open_and_closing_cancels_it
);

fn ids_of(tasks: &[TaskRow]) -> Vec<String> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

fn tasks_filter_by_owner_and_due_and_count_overdue_and_on_time(store: &dyn Store) {
    store
        .insert_task(task("a", "l1", Some("r1"), "manual:x", 300))
        .unwrap();
    store
        .insert_task(task("b", "l2", Some("r2"), "manual:x", 100))
        .unwrap();
    store
        .insert_task(task("c", "l3", Some("r1"), "manual:x", 200))
        .unwrap();
    let by = |f: TaskFilter| ids_of(&store.list_tasks(&TaskFilter { limit: 10, ..f }).unwrap());
    assert_eq!(
        by(TaskFilter::default()),
        strs(&["b", "c", "a"]),
        "soonest due first"
    );
    assert_eq!(
        by(TaskFilter {
            owner: Some("r1".into()),
            ..Default::default()
        }),
        strs(&["c", "a"])
    );
    assert_eq!(
        by(TaskFilter {
            due_before: Some(250),
            ..Default::default()
        }),
        strs(&["b", "c"])
    );
    let mut c = store.task("c").unwrap().unwrap();
    c.status = "done".into();
    c.completed_at = Some(150);
    store.update_task(&c).unwrap();
    let mut a = store.task("a").unwrap().unwrap();
    a.status = "done".into();
    a.completed_at = Some(400);
    store.update_task(&a).unwrap();
    let counts = store.task_counts(0, 10, 250).unwrap();
    assert_eq!(
        counts,
        TaskCounts {
            open: 1,
            overdue: 1,
            done: 2,
            done_on_time: 1
        }
    );
    assert_eq!(
        ids_of(&store.overdue_unnotified(250, 10).unwrap()),
        strs(&["b"])
    );
    let mut b = store.task("b").unwrap().unwrap();
    b.overdue_notified_at = Some(250);
    store.update_task(&b).unwrap();
    assert!(store.overdue_unnotified(250, 10).unwrap().is_empty());
    let mut gone = task("zz", "l9", None, "manual:x", 1);
    gone.status = "done".into();
    assert!(matches!(
        store.update_task(&gone),
        Err(StoreError::NotFound(_))
    ));
}
on_every_backend!(tasks_filter_by_owner_and_due_and_count_overdue_and_on_time);
// --- website tracking ----------------------------------------------------------------

fn visitor_event(id: &str, url: &str, at: i64) -> VisitorEventRow {
    VisitorEventRow {
        seq: 0,
        visitor_id: String::new(),
        id: id.into(),
        kind: "page_view".into(),
        url: Some(url.into()),
        props: format!(r#"{{"url":"{url}"}}"#),
        occurred_at: at,
        received_at: at + 1,
    }
}

fn visit(visitor: &str, consent: Option<bool>, at: i64, events: Vec<VisitorEventRow>) -> Visit {
    Visit {
        visitor_id: visitor.into(),
        consent,
        at,
        events,
    }
}

fn a_visit_creates_the_visitor_once_and_stores_each_event_once(store: &dyn Store) {
    let (v, fresh) = store
        .record_visit(visit(
            "vis-1",
            None,
            100,
            vec![
                visitor_event("e1", "/", 100),
                visitor_event("e2", "/pricing", 90),
            ],
        ))
        .unwrap();
    assert_eq!(fresh, vec![true, true]);
    assert_eq!(
        v,
        VisitorRow {
            id: "vis-1".into(),
            lead_id: None,
            consent: None,
            first_seen: 100,
            last_seen: 100,
        }
    );
    // A repeated event id of the same visitor is not stored again; the
    // same id of another visitor is a different event.
    let (v, fresh) = store
        .record_visit(visit(
            "vis-1",
            Some(true),
            200,
            vec![
                visitor_event("e2", "/other", 200),
                visitor_event("e3", "/docs", 200),
            ],
        ))
        .unwrap();
    assert_eq!(fresh, vec![false, true]);
    assert_eq!(
        (v.first_seen, v.last_seen, v.consent),
        (100, 200, Some(true))
    );
    let (_, fresh) = store
        .record_visit(visit(
            "vis-2",
            None,
            150,
            vec![visitor_event("e2", "/", 150)],
        ))
        .unwrap();
    assert_eq!(fresh, vec![true]);
    let events = store.visitor_events("vis-1").unwrap();
    let seen: Vec<(&str, Option<&str>, i64)> = events
        .iter()
        .map(|e| (e.id.as_str(), e.url.as_deref(), e.occurred_at))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("e2", Some("/pricing"), 90),
            ("e1", Some("/"), 100),
            ("e3", Some("/docs"), 200)
        ]
    );
    assert!(events.iter().all(|e| e.visitor_id == "vis-1"));
    // An earlier visit arriving late does not move last_seen back, and a
    // visit without a stated consent keeps the flag.
    let (v, _) = store
        .record_visit(visit("vis-1", None, 50, vec![]))
        .unwrap();
    assert_eq!((v.last_seen, v.consent), (200, Some(true)));
    let (v, _) = store
        .record_visit(visit("vis-1", Some(false), 300, vec![]))
        .unwrap();
    assert_eq!(v.consent, Some(false));
    assert_eq!(store.visitor("vis-1").unwrap(), Some(v));
    assert_eq!(store.visitor("nobody").unwrap(), None);
    assert!(store.visitor_events("nobody").unwrap().is_empty());
}
on_every_backend!(a_visit_creates_the_visitor_once_and_stores_each_event_once);

fn linking_a_visitor_attaches_it_to_a_lead_and_creates_unknown_ones(store: &dyn Store) {
    insert(store, vec![lead("l-1"), lead("l-2")]);
    store
        .record_visit(visit(
            "vis-a",
            None,
            100,
            vec![visitor_event("e1", "/", 100)],
        ))
        .unwrap();
    let v = store.link_visitor("vis-a", "l-1", 200).unwrap();
    assert_eq!(
        (v.lead_id.as_deref(), v.first_seen, v.last_seen),
        (Some("l-1"), 100, 200)
    );
    let fresh = store.link_visitor("vis-b", "l-1", 300).unwrap();
    assert_eq!(
        (fresh.lead_id.as_deref(), fresh.first_seen),
        (Some("l-1"), 300)
    );
    let of: Vec<String> = store
        .visitors_of("l-1")
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(of, strs(&["vis-a", "vis-b"]));
    // Another person on the same browser: the visitor moves to their lead.
    store.link_visitor("vis-a", "l-2", 400).unwrap();
    assert_eq!(store.visitors_of("l-2").unwrap().len(), 1);
    assert_eq!(store.visitors_of("l-1").unwrap().len(), 1);
    // Later visits keep the link.
    let (v, _) = store
        .record_visit(visit("vis-a", None, 500, vec![]))
        .unwrap();
    assert_eq!(v.lead_id.as_deref(), Some("l-2"));
}
on_every_backend!(linking_a_visitor_attaches_it_to_a_lead_and_creates_unknown_ones);

fn erasing_or_deleting_a_lead_removes_its_visitors_and_their_events(store: &dyn Store) {
    insert(store, vec![lead("gone"), lead("deleted"), lead("kept")]);
    for (vid, lead_id) in [("v-gone", "gone"), ("v-del", "deleted"), ("v-kept", "kept")] {
        store
            .record_visit(visit(
                vid,
                None,
                100,
                vec![
                    visitor_event("e1", "/", 100),
                    visitor_event("e2", "/pricing", 100),
                ],
            ))
            .unwrap();
        store.link_visitor(vid, lead_id, 100).unwrap();
    }
    store
        .record_visit(visit(
            "v-anon",
            None,
            100,
            vec![visitor_event("e1", "/", 100)],
        ))
        .unwrap();
    let audit = store
        .erase(Erasure {
            lead_id: Some("gone".into()),
            needles: vec![],
            actor: "admin:root".into(),
            reason: "request".into(),
            at: 1_000,
        })
        .unwrap();
    let counts: serde_json::Value = serde_json::from_str(&audit.counts).unwrap();
    assert_eq!(
        (
            counts["visitors"].as_u64(),
            counts["visitor_events"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(store.visitor("v-gone").unwrap(), None);
    assert!(store.visitor_events("v-gone").unwrap().is_empty());
    assert!(store.delete_lead("deleted").unwrap());
    assert_eq!(store.visitor("v-del").unwrap(), None);
    assert!(store.visitor_events("v-del").unwrap().is_empty());
    // Other people's visitors and anonymous ones stay.
    assert_eq!(store.visitor_events("v-kept").unwrap().len(), 2);
    assert_eq!(store.visitor_events("v-anon").unwrap().len(), 1);
}
on_every_backend!(erasing_or_deleting_a_lead_removes_its_visitors_and_their_events);

fn stale_anonymous_visitors_are_deleted_and_linked_or_recent_ones_kept(store: &dyn Store) {
    store
        .record_visit(visit("old", None, 100, vec![visitor_event("e1", "/", 100)]))
        .unwrap();
    store
        .record_visit(visit(
            "linked",
            None,
            100,
            vec![visitor_event("e1", "/", 100)],
        ))
        .unwrap();
    insert(store, vec![lead("lead-v")]);
    store.link_visitor("linked", "lead-v", 100).unwrap();
    store
        .record_visit(visit(
            "recent",
            None,
            900,
            vec![visitor_event("e1", "/", 900)],
        ))
        .unwrap();
    assert_eq!(store.delete_stale_visitors(500).unwrap(), 1);
    assert!(store.visitor("old").unwrap().is_none());
    assert!(store.visitor_events("old").unwrap().is_empty());
    assert!(
        store.visitor("linked").unwrap().is_some(),
        "a lead's visitor goes with the lead"
    );
    assert_eq!(store.visitor_events("recent").unwrap().len(), 1);
    assert_eq!(store.delete_stale_visitors(500).unwrap(), 0);
}
on_every_backend!(stale_anonymous_visitors_are_deleted_and_linked_or_recent_ones_kept);
