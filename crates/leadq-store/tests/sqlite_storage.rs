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

/// `.cargo/config.toml` builds the bundled SQLite for a store whose writer,
/// checkpointer and readers are threads of one process; a build without it
/// puts every connection's pages behind one mutex.
#[test]
fn the_embedded_sqlite_keeps_a_page_cache_per_connection_and_no_memory_statistics() {
    let conn = Connection::open_in_memory().expect("open");
    let used = |option: &str| -> i64 {
        conn.query_row("SELECT sqlite_compileoption_used(?1)", [option], |r| {
            r.get(0)
        })
        .expect("compile option")
    };
    assert_eq!(used("ENABLE_MEMORY_MANAGEMENT"), 0);
    assert_eq!(used("DEFAULT_MEMSTATUS=0"), 1);
    assert_eq!(used("THREADSAFE=1"), 1);
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

#[test]
fn the_wal_starts_over_under_a_steady_stream_of_commits_while_readers_read() {
    // Frames the background checkpointer lets the WAL reach before the
    // writer starts it over (8,192), plus what a checkpoint round can let
    // in meanwhile; the writer's own automatic checkpoint alone would let
    // it grow to 32,768.
    const MOST_FRAMES: u64 = 16_384;
    const FRAME_BYTES: u64 = 4096 + 24;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(leadq_store::open(None, dir.path()).expect("store opens"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers always inside a snapshot: what keeps SQLite from starting
    // the WAL over on its own.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store.lead("w-0").expect("read");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let filler = "x".repeat(3000);
    let wal = dir.path().join("leadq.db-wal");
    // Each commit of four 3 KB leads writes about 16 frames (their pages
    // and the indexes'), so 4,000 commits write about 64,000: twice what
    // the writer's own checkpoint would let the WAL hold.
    for i in 0..4_000 {
        let changes = (0..4)
            .map(|k| {
                let mut lead = scored_lead(&format!("w-{}", i * 4 + k), "[]");
                lead.fields = format!(r#"{{"note":"{filler}{i}"}}"#);
                LeadChange::insert(lead)
            })
            .collect();
        for r in store.apply(changes).expect("apply") {
            r.expect("inserted");
        }
        // The file is written over from its start, never shrunk: its size
        // is the most frames it ever held.
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(
            size <= MOST_FRAMES * FRAME_BYTES,
            "the WAL reached {} frames after {} commits",
            size / FRAME_BYTES,
            i + 1
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader") > 0, "the readers read");
    }
}

#[test]
fn a_leads_fields_live_beside_its_row_are_left_alone_by_a_rescore_and_go_with_the_lead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = leadq_store::open(None, dir.path()).expect("store opens");
    let mut lead = scored_lead("kept", "[]");
    lead.fields = r#"{"industry":"Software","employees":250}"#.into();
    let mut other = scored_lead("other", "[]");
    other.fields = r#"{"industry":"Retail"}"#.into();
    for r in store
        .apply(vec![LeadChange::insert(lead), LeadChange::insert(other)])
        .expect("apply")
    {
        r.expect("inserted");
    }
    let stored = store.lead("kept").expect("read").expect("stored");
    assert_eq!(stored.fields, r#"{"industry":"Software","employees":250}"#);

    // A re-score: only the score moves.
    let mut rescored = stored.clone();
    rescored.score.as_mut().expect("scored").fit = 55.0;
    let change = LeadChange {
        stored: Some(Box::new(stored.clone())),
        ..LeadChange::update(rescored)
    };
    store.apply(vec![change]).expect("apply")[0]
        .as_ref()
        .expect("updated");
    let after = store.lead("kept").expect("read").expect("stored");
    assert_eq!(after.score.as_ref().expect("scored").fit, 55.0);
    assert_eq!(after.fields, stored.fields);

    // A change of the fields themselves is stored.
    let mut edited = after.clone();
    edited.fields = r#"{"industry":"Fintech"}"#.into();
    store
        .apply(vec![LeadChange::update(edited)])
        .expect("apply")[0]
        .as_ref()
        .expect("updated");
    let edited = store.lead("kept").expect("read").expect("stored");
    assert_eq!(edited.fields, r#"{"industry":"Fintech"}"#);
    assert!(store.delete_lead("kept").expect("delete"));
    drop(store);

    let conn = Connection::open(dir.path().join("leadq.db")).expect("open file");
    let texts = |sql: &str| -> Vec<String> {
        conn.prepare(sql)
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let columns = texts("SELECT name FROM pragma_table_info('leads')");
    assert!(!columns.iter().any(|c| c == "fields"), "{columns:?}");
    let documents = texts("SELECT fields FROM lead_fields ORDER BY seq");
    assert_eq!(documents, vec![r#"{"industry":"Retail"}"#.to_string()]);
}

/// A database file with the SQLite migrations up to `version` applied, as
/// a build of that time left it.
fn file_migrated_to(path: &std::path::Path, version: i64) -> Connection {
    let conn = Connection::open(path).expect("create file");
    conn.execute_batch(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .expect("migrations table");
    for m in leadq_store::migrations("sqlite")
        .iter()
        .filter(|m| m.version <= version)
    {
        conn.execute_batch(m.sql).expect(m.name);
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
            rusqlite::params![m.version, m.name],
        )
        .expect("recorded");
    }
    conn
}

#[test]
fn a_database_made_when_factors_were_stored_keeps_every_prediction_without_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leadq.db");
    {
        let conn = file_migrated_to(&path, 13);
        conn.execute(
            "INSERT INTO lead_predictions (lead_id, champion_version, probability, factors, challenger_version, challenger_probability, scored_at) VALUES ('old-1', 3, 0.625, '[{\"feature\":\"industry\"}]', 4, 0.5, 77)",
            [],
        )
        .expect("an old prediction");
    }
    let store = leadq_store::open(None, dir.path()).expect("store opens and migrates");
    let kept = store.prediction_of("old-1").expect("read").expect("kept");
    assert_eq!(
        (
            kept.champion_version,
            kept.probability,
            kept.challenger_version,
            kept.challenger_probability,
            kept.scored_at
        ),
        (3, 0.625, Some(4), Some(0.5), 77)
    );
    let conn = Connection::open(&path).expect("open");
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('lead_predictions')")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|c| c.expect("name"))
        .collect();
    assert!(!columns.iter().any(|c| c == "factors"), "{columns:?}");
}

#[test]
fn a_database_made_before_the_fields_moved_keeps_every_leads_fields_when_migrated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leadq.db");
    {
        let conn = file_migrated_to(&path, 12);
        for (id, fields) in [
            ("old-1", r#"{"country":"DE"}"#),
            ("old-2", r#"{"country":"FR"}"#),
        ] {
            conn.execute(
                "INSERT INTO leads (id, fields, stage, created_at, updated_at, stage_changed_at) VALUES (?1, ?2, 'new', 1, 1, 1)",
                [id, fields],
            )
            .expect("an old lead");
        }
    }
    let store = leadq_store::open(None, dir.path()).expect("store opens and migrates");
    assert_eq!(
        store.lead("old-1").expect("read").expect("kept").fields,
        r#"{"country":"DE"}"#
    );
    assert_eq!(
        store.lead("old-2").expect("read").expect("kept").fields,
        r#"{"country":"FR"}"#
    );
}
