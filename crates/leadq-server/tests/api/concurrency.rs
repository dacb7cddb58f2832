//! Concurrent writers never duplicate a lead.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::Barrier;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn eight_writers_posting_the_same_twenty_leads_end_with_twenty_leads() {
    let ctx = Arc::new(Ctx::new());
    ctx.publish(DEFAULT_MODEL).await;
    let start = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let ctx = ctx.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut created = 0;
            // Every writer sends the leads in the same order, so they
            // collide on each one.
            for i in 0..20 {
                let doc = json!({
                    "email": format!("lead{i}@company{i}.com"),
                    "company": format!("Company {i}"),
                    "employees": 100 + i,
                    "note": format!("writer {t}"),
                });
                let mut tries = 0;
                loop {
                    tries += 1;
                    let r = ctx.post("/api/v1/leads", &ctx.marketing, doc.clone()).await;
                    match r.status {
                        StatusCode::CREATED => {
                            created += 1;
                            break;
                        }
                        StatusCode::OK => break,
                        // Contention may ask the client to retry; never a 500.
                        StatusCode::CONFLICT if tries < 20 => continue,
                        other => panic!("writer {t}, lead {i}: {other} {}", r.body),
                    }
                }
            }
            created
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += t.await.expect("a writer finished");
    }
    let all = ctx.all_leads(&ctx.admin, "").await;
    let mut emails: Vec<String> = all
        .iter()
        .map(|l| l["email"].as_str().unwrap().to_string())
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(all.len(), 20, "exactly one lead per email: {emails:?}");
    assert_eq!(emails.len(), 20);
    assert_eq!(created, 20, "each lead was reported created exactly once");
    for l in &all {
        let h = ctx.history(l["id"].as_str().unwrap()).await;
        let creations = h["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["from"].is_null())
            .count();
        assert_eq!(creations, 1, "one creation per lead: {h}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_bulk_uploads_of_the_same_leads_do_not_duplicate_them() {
    let ctx = Arc::new(Ctx::new());
    ctx.publish(DEFAULT_MODEL).await;
    let start = Arc::new(Barrier::new(4));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let ctx = ctx.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            // Each writer names the leads a different way: by email, or by
            // external id and email.
            let leads: Vec<_> = (0..30)
                .map(|i| {
                    if t % 2 == 0 {
                        json!({ "email": format!("b{i}@bulk{i}.com") })
                    } else {
                        json!({ "external_id": format!("crm-{i}"), "email": format!("b{i}@bulk{i}.com") })
                    }
                })
                .collect();
            start.wait().await;
            let mut last = serde_json::Value::Null;
            for _ in 0..20 {
                let r = ctx
                    .post("/api/v1/leads/bulk", &ctx.marketing, json!({ "leads": leads }))
                    .await;
                assert!(!r.status.is_server_error(), "{} {}", r.status, r.body);
                if r.status == StatusCode::OK && r.body["rejected"] == 0 {
                    return;
                }
                last = r.body;
            }
            panic!("writer {t} kept being refused: {last}");
        }));
    }
    for t in tasks {
        t.await.expect("a writer finished");
    }
    let all = ctx.all_leads(&ctx.admin, "").await;
    assert_eq!(all.len(), 30, "one lead per email");
}
