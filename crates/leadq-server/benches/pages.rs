//! Server render time of the web UI's pages on a large store, next to the
//! JSON API's lead list (the peer: same router, same store, no HTML).
//!
//! `cargo bench -p leadq-server --bench pages -- --leads 100000 [--runs 30]`
//!
//! Each page is requested in-process through the whole router (session
//! lookup, store reads, rendering) `--runs` times after one warm-up; the
//! table gives the median and the 95th percentile.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use leadq_server::auth::{hash_token, new_token, Role};
use leadq_server::clock::SystemClock;
use leadq_server::engine::ActiveModel;
use leadq_server::{AppState, ServerConfig};
use leadq_store::{LeadChange, LeadRow, SessionRow};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MODEL: &str = include_str!("../../../examples/default-model.toml");

mod common;
use common::{arg, COUNTRIES, INDUSTRIES};

const REPS: [&str; 4] = ["rep-na", "rep-emea", "rep-apac", "rep-latam"];

/// A lead with a deterministic mix of fit, owner, source and outcome:
/// about a third closed (won or lost) so the dashboard and backtest have
/// outcomes to work on.
fn lead(i: usize, now: i64) -> LeadRow {
    const TITLES: [&str; 4] = ["VP Engineering", "CTO", "Marketing Manager", "Student"];
    const SOURCES: [&str; 4] = ["web", "event", "partner", "paid search"];
    let fields = serde_json::json!({
        "email": format!("p{i}@corp{}.example.com", i % 9973),
        "first_name": "Pat", "last_name": format!("Lee {i}"),
        "company": format!("Corp {}", i % 9973),
        "industry": INDUSTRIES[i % 5], "employees": (i * 37) % 5000 + 1, "country": COUNTRIES[i % 5],
        "job_title": TITLES[i % 4], "lead_source": SOURCES[i % 4], "total_visits": i % 20,
    });
    let day = 86_400_000;
    let created = now - ((i % 120) as i64) * day;
    let (stage, closed) = match i % 9 {
        0 => ("won", Some(created + 20 * day)),
        1 | 2 => ("lost", Some(created + 10 * day)),
        3 | 4 => ("working", None),
        _ => ("new", None),
    };
    LeadRow {
        seq: 0,
        id: format!("B{i:08}"),
        external_id: None,
        email: Some(format!("p{i}@corp{}.example.com", i % 9973)),
        domain: None,
        company: Some(format!("Corp {}", i % 9973)),
        source: Some(SOURCES[i % 4].into()),
        campaign: None,
        country: None,
        fields: fields.to_string(),
        stage: stage.into(),
        stage_reason: None,
        owner: Some(REPS[i % 4].into()),
        score: None,
        created_at: created,
        updated_at: created,
        assigned_at: Some(created + 3_600_000),
        first_response_at: (stage != "new").then_some(created + 7_200_000),
        stage_changed_at: closed.unwrap_or(created),
        mql_at: None,
        sql_at: None,
        closed_at: closed,
        version: 1,
    }
}

async fn time_page(app: &axum::Router, cookie: &str, path: &str, runs: usize) -> (f64, f64, usize) {
    let mut samples = Vec::with_capacity(runs);
    let mut bytes = 0;
    for i in 0..=runs {
        let req = Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .expect("request");
        let t = Instant::now();
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        bytes = body.len();
        if i > 0 {
            samples.push(ms);
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (pct(0.5), pct(0.95), bytes)
}

fn main() {
    let n: usize = arg("--leads")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs: usize = arg("--runs").and_then(|v| v.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = leadq_store::open(None, dir.path()).expect("store opens");
    let state =
        AppState::new(store, Arc::new(SystemClock), ServerConfig::default()).expect("state");
    let now = jiff::Timestamp::now().as_millisecond();
    for (k, rep) in REPS.iter().enumerate() {
        state
            .store
            .upsert_rep(leadq_store::RepRow {
                id: rep.to_string(),
                name: format!("Rep {k}"),
                email: None,
                capacity: 1_000_000,
                timezone: "UTC".into(),
                working_hours: "Mon-Fri 09:00-17:00".into(),
                territory: "[]".into(),
                active: true,
                last_assigned_at: None,
                created_at: now,
            })
            .expect("rep");
    }
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        let changes: Vec<LeadChange> = (i..end).map(|k| LeadChange::insert(lead(k, now))).collect();
        for r in state.store.apply(changes).expect("apply") {
            r.expect("insert");
        }
        i = end;
    }
    let m = state
        .store
        .create_model("bench", MODEL, "bench", now)
        .expect("model");
    let row = state.store.publish_model(m.id, now).expect("publish");
    let compiled = leadq_core::CompiledModel::from_toml(MODEL).expect("compiles");
    state.set_model(Arc::new(ActiveModel { row, compiled }));
    leadq_server::workers::rescore_all(&state, &leadq_server::jobs::Progress::default())
        .expect("rescore");
    let (_, token) =
        leadq_server::api::issue_token(&state, "bench", Role::Admin, None, None).expect("token");

    let session = new_token();
    state
        .store
        .create_session(SessionRow {
            hash: hash_token(&session),
            csrf: new_token(),
            name: "bench".into(),
            role: "admin".into(),
            rep_id: None,
            user_id: None,
            created_at: now,
            expires_at: now + 3_600_000,
        })
        .expect("session");
    let cookie = format!("leadq_session={session}");
    let app = leadq_server::app(state.clone());
    let lead_id = format!("B{:08}", n / 2);
    let pages = [
        ("queue (50 best open leads)", "/ui".to_string()),
        (
            "queue filtered (owner + grade + search)",
            "/ui?owner=rep-emea&grade=A&q=corp1".to_string(),
        ),
        ("lead page", format!("/ui/leads/{lead_id}")),
        ("dashboard", "/ui/dashboard".to_string()),
        ("models", "/ui/models".to_string()),
        ("model editor", format!("/ui/models/{}", m.id)),
        ("admin", "/ui/admin".to_string()),
        ("import", "/ui/import".to_string()),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("leads={n} runs={runs} (SQLite, in-process router)");
        println!("| page | median ms | p95 ms | bytes |");
        println!("|---|---:|---:|---:|");
        for (name, path) in &pages {
            let (p50, p95, bytes) = time_page(&app, &cookie, path, runs).await;
            println!("| {name} | {p50:.1} | {p95:.1} | {bytes} |");
        }
        let auth = format!("Bearer {token}");
        // By priority (the default) and by score, which merges the best
        // leads of each priority rank.
        for path in [
            "/api/v1/leads?open=true&limit=50",
            "/api/v1/leads?open=true&sort=score&limit=50",
        ] {
            let mut samples = Vec::new();
            for i in 0..=runs {
                let req = Request::get(path)
                    .header(header::AUTHORIZATION, &auth)
                    .body(Body::empty())
                    .expect("request");
                let t = Instant::now();
                let resp = app.clone().oneshot(req).await.expect("infallible");
                assert!(resp.status().is_success(), "{path}: {}", resp.status());
                let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                    .await
                    .expect("body");
                if i > 0 {
                    samples.push((t.elapsed().as_secs_f64() * 1000.0, body.len()));
                }
            }
            samples.sort_by(|a, b| a.0.total_cmp(&b.0));
            let p50 = samples[samples.len() / 2];
            let p95 = samples[((samples.len() - 1) as f64 * 0.95).round() as usize];
            println!(
                "| peer: JSON API GET {path} | {:.1} | {:.1} | {} |",
                p50.0, p95.0, p50.1
            );
        }
    });
}
