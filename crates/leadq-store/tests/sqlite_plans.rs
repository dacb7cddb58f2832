//! The SQLite store's indexes do what the queries need: read the plans
//! SQLite chooses on a migrated database file.

use leadq_store::{LeadChange, LeadRow};
use rusqlite::Connection;

fn lead(i: usize, owner: Option<&str>) -> LeadRow {
    LeadRow {
        seq: 0,
        id: format!("L{i:04}"),
        external_id: None,
        email: Some(format!("p{i}@example.com")),
        domain: Some("example.com".into()),
        company: None,
        source: None,
        campaign: None,
        country: None,
        fields: "{}".into(),
        stage: "new".into(),
        stage_reason: None,
        owner: owner.map(str::to_string),
        score: None,
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

/// A migrated store file holding `leads`, opened directly and analysed.
fn store_of(leads: impl Iterator<Item = LeadRow>) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = leadq_store::open(None, dir.path()).expect("store opens");
    for r in store
        .apply(leads.map(LeadChange::insert).collect())
        .expect("apply")
    {
        r.expect("inserted");
    }
    drop(store);
    let conn = Connection::open(dir.path().join("leadq.db")).expect("open file");
    conn.execute_batch("ANALYZE").expect("analyze");
    (dir, conn)
}

fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("plan");
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .expect("rows")
        .collect::<Result<Vec<_>, _>>()
        .expect("plan rows");
    rows.join("; ")
}

#[test]
fn a_reps_list_by_priority_reads_the_owner_index_which_leaves_unowned_leads_out() {
    let (_dir, conn) = store_of((0..40).map(|i| lead(i, (i % 4 == 0).then_some("rep-a"))));
    let by_owner = plan(
        &conn,
        "SELECT * FROM leads WHERE owner = 'rep-a' ORDER BY sort_rank, total DESC, seq LIMIT 50",
    );
    assert!(
        by_owner.contains("INDEX leads_owner (owner=?)"),
        "plan: {by_owner}"
    );
    assert!(!by_owner.contains("TEMP B-TREE"), "sorts again: {by_owner}");

    // Only the ten owned leads have an entry in the index.
    let entries: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM leads INDEXED BY leads_owner WHERE owner IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(entries, 10);
    let partial: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'leads_owner'",
            [],
            |r| r.get(0),
        )
        .expect("index sql");
    assert!(partial.contains("WHERE owner IS NOT NULL"), "{partial}");
}

#[test]
fn the_best_leads_of_a_priority_rank_by_score_are_read_in_order_from_the_priority_index() {
    let (_dir, conn) = store_of((0..40).map(|i| lead(i, None)));
    let per_rank = plan(
        &conn,
        "SELECT seq, total FROM leads WHERE sort_rank = 3 ORDER BY total DESC, seq LIMIT 51",
    );
    assert!(
        per_rank.contains("COVERING INDEX leads_priority (sort_rank=?)"),
        "plan: {per_rank}"
    );
    assert!(!per_rank.contains("TEMP B-TREE"), "sorts again: {per_rank}");
    // No index on the total alone is kept up to date on every re-score.
    let total_index: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'leads_total'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(total_index, 0);
}
