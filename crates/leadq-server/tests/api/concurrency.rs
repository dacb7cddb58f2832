//! Concurrent writers never duplicate a lead.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_posting_the_same_twenty_leads_end_with_twenty_leads() {
    let ctx = Arc::new(Ctx::new());
    ctx.publish(DEFAULT_MODEL).await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            for i in 0..20 {
                let i = (i + t * 3) % 20;
                let doc = json!({ "email": format!("lead{i}@company{i}.com"), "company": format!("Company {i}"), "employees": 100 + i, "note": format!("writer {t}") });
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
