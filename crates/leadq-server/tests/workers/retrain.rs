//! Scheduled predictive retraining by the background worker.

use crate::common::{t0, Ctx};
use leadq_server::ServerConfig;
use leadq_store::{LeadChange, LeadRow};
use serde_json::json;
use std::time::Duration;

fn closed(i: usize) -> LeadChange {
    let industry = ["software", "retail", "mining", "media"][i % 4];
    // Software converts four times in five, the rest one time in five.
    let won = if industry == "software" {
        !i.is_multiple_of(5)
    } else {
        i.is_multiple_of(5)
    };
    let at = t0() - 86_400_000;
    LeadChange::insert(LeadRow {
        seq: 0,
        id: format!("r-{i:04}"),
        external_id: None,
        email: None,
        domain: None,
        company: None,
        source: None,
        campaign: None,
        country: None,
        fields: json!({ "industry": industry, "size": (i * 7919) % 500 }).to_string(),
        stage: if won { "won" } else { "lost" }.into(),
        stage_reason: None,
        owner: None,
        score: None,
        created_at: at - 1_000,
        updated_at: at,
        assigned_at: None,
        first_response_at: None,
        stage_changed_at: at,
        mql_at: None,
        sql_at: None,
        closed_at: Some(at),
        version: 0,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_retrain_worker_trains_a_model_when_outcomes_exist_and_none_is_recent() {
    let ctx = Ctx::with_config(ServerConfig {
        retrain_days: 7,
        retrain_check: Duration::from_millis(20),
        ..ServerConfig::default()
    });
    let store = ctx.state.store.clone();
    tokio::task::spawn_blocking(move || {
        for r in store.apply((0..200).map(closed).collect()).expect("apply") {
            r.expect("insert");
        }
    })
    .await
    .expect("seeded");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = leadq_server::workers::spawn_all(ctx.state.clone(), stop_rx);
    let mut trained = Vec::new();
    for _ in 0..500 {
        let store = ctx.state.store.clone();
        trained = tokio::task::spawn_blocking(move || store.predictive_models().expect("models"))
            .await
            .expect("read");
        if !trained.is_empty() && !ctx.state.jobs.any_running("predictive_train") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    // One model, not one per check: the fresh model stops further training.
    assert_eq!(trained.len(), 1, "{trained:?}");
    assert_eq!(trained[0].status, "champion");
    assert_eq!(trained[0].trained_by, "scheduler");
}
