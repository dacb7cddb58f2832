//! What the SQLite store keeps on disk: read the migrated file directly.

use leadq_store::{LeadChange, LeadRow, LeadScore, LedgerEntry};
use rusqlite::Connection;

fn scored_lead(id: &str, reasons: &str) -> LeadRow {
    LeadRow {
        seq: 0,
        id: id.into(),
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
        score: Some(LeadScore {
            fit: 40.0,
            grade: "B".into(),
            engagement: 10.0,
            score: 50.0,
            band: 2,
            priority: "B2".into(),
            priority_rank: 5,
            mql: false,
            model_version: 1,
            reasons: reasons.into(),
            scored_at: 1,
            inputs_digest: None,
        }),
        created_at: 1,
        updated_at: 1,
        assigned_at: None,
        first_response_at: None,
        stage_changed_at: 1,
        mql_at: None,
        sql_at: None,
        closed_at: None,
        version: 1,
    }
}

fn entry(lead_id: &str, reasons: &str) -> LedgerEntry {
    LedgerEntry {
        seq: 0,
        lead_id: lead_id.into(),
        at: 1,
        as_of: 0,
        model_version: 1,
        fit: 40.0,
        grade: "B".into(),
        engagement: 10.0,
        band: 2,
        priority: "B2".into(),
        mql: false,
        reasons: reasons.into(),
        cause: "created".into(),
        inputs: "{}".into(),
    }
}

#[test]
fn reasons_recorded_in_the_ledger_are_not_stored_again_in_the_lead_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = leadq_store::open(None, dir.path()).expect("store opens");
    let reasons = r#"[{"kind":"fit","rule":"Core industry","points":15.0}]"#;
    let changes = vec![
        // Scored with a ledger entry of the same reasons.
        LeadChange {
            ledger: vec![entry("in-ledger", reasons)],
            ..LeadChange::insert(scored_lead("in-ledger", reasons))
        },
        // Scored without an entry: the row is the only place for them.
        LeadChange::insert(scored_lead("in-row", reasons)),
    ];
    for r in store.apply(changes).expect("apply") {
        r.expect("inserted");
    }
    for id in ["in-ledger", "in-row"] {
        let read = store.lead(id).expect("read").expect("stored");
        assert_eq!(read.score.expect("scored").reasons, reasons, "{id}");
    }
    drop(store);

    let conn = Connection::open(dir.path().join("leadq.db")).expect("open file");
    let stored = |id: &str| -> Option<String> {
        conn.query_row("SELECT reasons FROM leads WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .expect("the row")
    };
    assert_eq!(stored("in-ledger"), None);
    assert_eq!(stored("in-row").as_deref(), Some(reasons));
    let in_ledger: String = conn
        .query_row(
            "SELECT reasons FROM ledger WHERE lead_id = 'in-ledger'",
            [],
            |r| r.get(0),
        )
        .expect("the entry");
    assert_eq!(in_ledger, reasons);
}
