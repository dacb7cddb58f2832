//! Retention by the background worker, on the manual clock.

use crate::common::Ctx;
use axum::http::StatusCode;
use leadq_server::ServerConfig;
use serde_json::json;
use std::time::Duration;

const DAY: i64 = 86_400_000;

#[tokio::test(flavor = "multi_thread")]
async fn the_retention_worker_erases_a_lead_once_it_has_been_inactive_for_the_set_months() {
    let ctx = Ctx::with_config(ServerConfig {
        retention_check: Duration::from_millis(20),
        ..ServerConfig::default()
    });
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "retention_months": 3 }),
    )
    .await
    .expect(StatusCode::OK);
    let stale = ctx
        .create_lead(json!({ "email": "stale@example.com" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = leadq_server::workers::spawn_all(ctx.state.clone(), stop_rx);

    // Two months on, the worker has run many times and kept it; then a
    // newcomer arrives.
    ctx.clock.advance(60 * DAY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    ctx.lead(&stale).await;
    let fresh = ctx
        .create_lead(json!({ "email": "fresh@example.com" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Past three months for the first lead only.
    ctx.clock.advance(40 * DAY);
    let mut gone = false;
    for _ in 0..250 {
        let r = ctx.get(&format!("/api/v1/leads/{stale}"), &ctx.admin).await;
        if r.status == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    assert!(gone, "the inactive lead was erased");
    ctx.lead(&fresh).await;
    let audit = ctx
        .get("/api/v1/privacy/erasures", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["by_reason"]["retention"], 1);
}
