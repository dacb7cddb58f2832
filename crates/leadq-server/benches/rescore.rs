//! Publish a model and re-score N stored leads: the time `POST
//! /models/{id}/publish` takes to bring every lead to the new version.
//!
//! `cargo bench -p leadq-server --bench rescore -- --leads 1000000 --backend sqlite|postgres`
//! (PostgreSQL: `LEADQ_BENCH_POSTGRES_URL=postgres://user@host:port`; a
//! database `leadq_rescore_bench` is created and dropped). `--keep DIR`
//! leaves the SQLite file in DIR.

use leadq_server::clock::SystemClock;
use leadq_server::engine::ActiveModel;
use leadq_server::{AppState, ServerConfig};
use leadq_store::{LeadChange, LeadRow};
use std::sync::Arc;
use std::time::Instant;

/// The allocator the `leadq` binary uses, so the figure is what `serve` gets.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MODEL: &str = include_str!("../../../examples/default-model.toml");

mod common;
use common::{arg, COUNTRIES, INDUSTRIES};

fn lead(i: usize, now: i64) -> LeadRow {
    const TITLES: [&str; 4] = ["VP Engineering", "CTO", "Marketing Manager", "Student"];
    let fields = serde_json::json!({
        "email": format!("p{i}@corp{}.example.com", i % 9973),
        "first_name": "Pat", "last_name": "Lee",
        "company": format!("Corp {}", i % 9973),
        "industry": INDUSTRIES[i % 5], "employees": (i * 37) % 5000 + 1, "country": COUNTRIES[i % 5],
        "job_title": TITLES[i % 4], "lead_source": "Web", "total_visits": i % 20,
    });
    LeadRow {
        seq: 0,
        id: format!("B{i:08}"),
        external_id: None,
        email: None,
        domain: None,
        company: None,
        source: None,
        campaign: None,
        country: None,
        fields: fields.to_string(),
        stage: "new".into(),
        stage_reason: None,
        owner: None,
        score: None,
        created_at: now,
        updated_at: now,
        assigned_at: None,
        first_response_at: None,
        stage_changed_at: now,
        mql_at: None,
        sql_at: None,
        closed_at: None,
        version: 1,
    }
}

/// Bytes this process has caused to be written to storage so far (Linux).
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
}

/// Publishes `toml` as the live model and re-scores every lead; returns
/// the seconds the re-score took and checks it reached every lead.
fn publish_and_rescore(state: &AppState, toml: &str, n: usize, now: i64, version: i64) -> f64 {
    let m = state
        .store
        .create_model("bench", toml, "bench", now)
        .expect("model");
    let row = state.store.publish_model(m.id, now).expect("publish");
    let compiled = leadq_core::CompiledModel::from_toml(toml).expect("compiles");
    state.set_model(Arc::new(ActiveModel { row, compiled }));
    let progress = leadq_server::jobs::Progress::default();
    let written = bytes_written();
    let t = Instant::now();
    let scored = leadq_server::workers::rescore_all(state, &progress).expect("rescore");
    let took = t.elapsed().as_secs_f64();
    if let (Some(a), Some(b)) = (written, bytes_written()) {
        println!(
            "  version {version}: {:.0} MB written to disk",
            (b - a) as f64 / 1e6
        );
    }
    assert_eq!(scored, n, "every lead re-scored");
    let sample = state
        .store
        .lead(&format!("B{:08}", n / 2))
        .expect("read")
        .expect("present");
    let score = sample.score.expect("scored");
    assert_eq!(score.model_version, version);
    took
}

fn main() {
    let n: usize = arg("--leads")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let backend = arg("--backend").unwrap_or_else(|| "sqlite".into());
    // `--keep DIR` stores the SQLite file there and leaves it behind, so its
    // tables can be measured afterwards (e.g. with SQLite's `dbstat`).
    let kept = arg("--keep").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().expect("tempdir");
    let dir_path = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir_path).expect("data dir");
    let (url, admin) = match backend.as_str() {
        "postgres" => {
            let base = std::env::var("LEADQ_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let mut c = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
                .expect("PostgreSQL reachable");
            c.batch_execute("DROP DATABASE IF EXISTS leadq_rescore_bench WITH (FORCE)")
                .expect("drop db");
            c.batch_execute("CREATE DATABASE leadq_rescore_bench")
                .expect("create db");
            (Some(format!("{base}/leadq_rescore_bench")), Some(c))
        }
        _ => (None, None),
    };
    let store = leadq_store::open(url.as_deref(), &dir_path).expect("store opens");
    let state =
        AppState::new(store, Arc::new(SystemClock), ServerConfig::default()).expect("state");
    let now = jiff::Timestamp::now().as_millisecond();

    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        let changes: Vec<LeadChange> = (i..end).map(|k| LeadChange::insert(lead(k, now))).collect();
        for r in state.store.apply(changes).expect("apply") {
            r.expect("insert");
        }
        i = end;
    }
    let insert = t.elapsed().as_secs_f64();

    // First publish: every stored lead is still unscored (the rows grow by
    // their score and reasons). Then a second version whose fit weight
    // moves every lead's total: the case of a team revising its model,
    // where each lead already carries a score.
    let first = publish_and_rescore(&state, MODEL, n, now, 1);
    let revised = MODEL.replacen("fit_weight = 1.0", "fit_weight = 1.25", 1);
    assert_ne!(revised, MODEL, "the revision changes the model");
    let second = publish_and_rescore(&state, &revised, n, now, 2);
    for file in ["leadq.db", "leadq.db-wal"] {
        if let Ok(m) = std::fs::metadata(dir_path.join(file)) {
            println!("{file} after both passes: {} MB", m.len() / 1_000_000);
        }
    }
    println!("backend={backend} leads={n}");
    println!(
        "bulk insert (store.apply, 10k per call): {insert:.2} s ({:.0} leads/s)",
        n as f64 / insert
    );
    println!(
        "first publish, unscored leads: {first:.2} s ({:.0} leads/s)",
        n as f64 / first
    );
    println!(
        "publish + re-score (new version, fit weight 1.25): {second:.2} s ({:.0} leads/s)",
        n as f64 / second
    );
    drop(state);
    if let Some(mut c) = admin {
        let _ = c.batch_execute("DROP DATABASE IF EXISTS leadq_rescore_bench WITH (FORCE)");
    }
}
