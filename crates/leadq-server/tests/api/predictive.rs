//! The predictive score: training on stored outcomes, champion and
//! challenger, promotion, and the prediction of each lead.

use crate::common::*;
use axum::http::StatusCode;
use leadq_store::LeadChange;
use serde_json::{json, Value};

async fn prediction(ctx: &Ctx, id: &str) -> Value {
    ctx.get(&format!("/api/v1/leads/{id}/prediction"), &ctx.manager)
        .await
        .expect(StatusCode::OK)
}

/// Promotes model `id` and waits for the re-scoring it starts; the promoted
/// model and the finished job.
async fn promote(ctx: &Ctx, id: i64) -> (Value, Value) {
    let out = ctx
        .post(
            &format!("/api/v1/predictive/models/{id}/promote"),
            &ctx.marketing,
            json!(null),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    let job = ctx.wait_job(out["job"]["id"].as_str().unwrap()).await;
    (out["model"].clone(), job)
}

#[tokio::test]
async fn training_learns_a_field_that_drives_conversion_and_predicts_it_higher() {
    let ctx = Ctx::new();
    seed_outcomes(&ctx, "o", 400, t0() - 86_400_000);
    let job = train_predictive(&ctx, json!({})).await;
    assert_eq!(job["kind"], "predictive_train");
    assert_eq!(job["result"]["version"], 1);
    assert_eq!(job["result"]["status"], "champion");
    assert_eq!(job["result"]["predicted"], 400);

    let body = predictive_models(&ctx).await;
    let list = body["models"].as_array().expect("models");
    assert_eq!(list.len(), 1);
    let m = &list[0];
    assert_eq!(m["status"], "champion");
    assert_eq!(m["algorithm"], "gbdt");
    assert_eq!(m["rows"], 400);
    let auc = m["metrics"]["cv"]["auc"].as_f64().expect("a CV AUC");
    assert!(auc > 0.7, "cross-validated AUC {auc}");
    for metric in ["pr_auc", "log_loss", "brier", "ece", "top20_share"] {
        assert!(
            m["metrics"]["cv"][metric].is_f64(),
            "{metric} is reported: {m}"
        );
    }
    assert!(m["metrics"]["evaluation"]
        .as_str()
        .is_some_and(|e| e.starts_with("5-fold")));
    // The email identifies a person: it is left out and the reason given.
    let left_out = m["metrics"]["left_out"].as_array().expect("left_out");
    assert!(
        left_out
            .iter()
            .any(|l| l["column"] == "email" && l["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "{left_out:?}"
    );
    assert!(m["metrics"]["features"]
        .as_array()
        .is_some_and(|f| f.contains(&json!("industry")) && !f.contains(&json!("email"))));
    // Without a challenger there is nothing to compare.
    assert_eq!(body["live_comparison"], Value::Null);

    let software = prediction(&ctx, "o-0000").await;
    let mining = prediction(&ctx, "o-0002").await;
    let (ps, pm) = (
        software["probability"].as_f64().unwrap(),
        mining["probability"].as_f64().unwrap(),
    );
    assert!(ps > pm + 0.3, "software {ps} vs mining {pm}");
    assert_eq!(software["champion_version"], 1);
    assert_eq!(software["challenger_version"], Value::Null);
    assert_eq!(software["factors"][0]["feature"], "industry");
    assert_eq!(software["factors"][0]["value"], "software");
}

#[tokio::test]
async fn training_with_too_few_outcomes_is_refused_naming_the_counts() {
    let ctx = Ctx::new();
    let mut rows = Vec::new();
    for i in 0..10 {
        rows.push(LeadChange::insert(closed_lead(
            &format!("w-{i}"),
            "software",
            "north",
            true,
            t0() - 1_000,
        )));
    }
    for i in 0..30 {
        rows.push(LeadChange::insert(closed_lead(
            &format!("l-{i}"),
            "mining",
            "north",
            false,
            t0() - 1_000,
        )));
    }
    store_rows(&ctx, rows);
    let r = ctx
        .post("/api/v1/predictive/train", &ctx.marketing, json!({}))
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "too_few_outcomes");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("10 won") && message.contains("30 lost"),
        "{message}"
    );
    assert_eq!(r.body["error"]["details"]["won"], 10);
    assert_eq!(r.body["error"]["details"]["lost"], 30);
    assert!(predictive_models(&ctx).await["models"]
        .as_array()
        .is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn training_options_are_checked() {
    let ctx = Ctx::new();
    seed_outcomes(&ctx, "o", 100, t0() - 1_000);
    ctx.post(
        "/api/v1/predictive/train",
        &ctx.marketing,
        json!({ "algorithm": "forest" }),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    ctx.post(
        "/api/v1/predictive/train",
        &ctx.marketing,
        json!({ "folds": 1 }),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn a_second_training_makes_a_challenger_and_both_are_reported() {
    let ctx = Ctx::new();
    seed_outcomes(&ctx, "o", 400, t0() - 86_400_000);
    train_predictive(&ctx, json!({})).await;
    ctx.clock.advance(60_000);
    // Leads closing after the challenger is trained are what the two are
    // compared on.
    seed_outcomes(&ctx, "late", 120, t0() + 3_600_000);
    let job = train_predictive(&ctx, json!({ "algorithm": "logistic", "folds": 3 })).await;
    assert_eq!(job["result"]["status"], "challenger");

    let body = predictive_models(&ctx).await;
    let list = body["models"].as_array().expect("models");
    let status: Vec<(i64, &str, &str)> = list
        .iter()
        .map(|m| {
            (
                m["version"].as_i64().unwrap(),
                m["status"].as_str().unwrap(),
                m["algorithm"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        vec![(2, "challenger", "logistic"), (1, "champion", "gbdt")]
    );
    assert!(list[0]["metrics"]["evaluation"]
        .as_str()
        .is_some_and(|e| e.starts_with("3-fold")));
    let live = &body["live_comparison"];
    assert_eq!(live["leads"], 120, "{live}");
    assert_eq!(live["champion"]["version"], 1);
    assert_eq!(live["challenger"]["version"], 2);
    assert!(live["champion"]["auc"].as_f64().is_some_and(|a| a > 0.6));
    assert!(live["challenger"]["auc"].as_f64().is_some_and(|a| a > 0.6));

    // The lead page's number is the champion's; the challenger's is beside it.
    let p = prediction(&ctx, "o-0000").await;
    assert_eq!(p["champion_version"], 1);
    assert_eq!(p["challenger_version"], 2);
    assert!(p["challenger_probability"].is_f64());
}

#[tokio::test]
async fn promoting_the_challenger_swaps_it_with_the_champion() {
    let ctx = Ctx::new();
    seed_outcomes(&ctx, "o", 300, t0() - 86_400_000);
    train_predictive(&ctx, json!({})).await;
    train_predictive(&ctx, json!({ "algorithm": "logistic" })).await;
    let list = predictive_models(&ctx).await["models"].clone();
    let id_of = |version: i64| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| m["version"] == version)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (first, second) = (id_of(1), id_of(2));
    // Only the challenger can be promoted.
    ctx.post(
        &format!("/api/v1/predictive/models/{first}/promote"),
        &ctx.marketing,
        json!(null),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "not_a_challenger");
    ctx.post(
        "/api/v1/predictive/models/9999/promote",
        &ctx.marketing,
        json!(null),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");

    let (model, job) = promote(&ctx, second).await;
    assert_eq!(model["status"], "champion");
    assert_eq!(job["result"]["predicted"], 300);

    let body = predictive_models(&ctx).await;
    let status: Vec<(i64, &str)> = body["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["version"].as_i64().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(status, vec![(2, "champion"), (1, "retired")]);
    assert_eq!(body["live_comparison"], Value::Null);
    let p = prediction(&ctx, "o-0000").await;
    assert_eq!(p["champion_version"], 2);
    assert_eq!(p["challenger_version"], Value::Null);
}

#[tokio::test]
async fn a_new_or_changed_lead_gets_a_prediction_from_the_champion() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let before = ctx.create_lead(good_lead("early@example.com")).await;
    let early = before["id"].as_str().unwrap().to_string();
    // No model yet: no prediction.
    ctx.get(&format!("/api/v1/leads/{early}/prediction"), &ctx.manager)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    seed_outcomes(&ctx, "o", 400, t0() - 86_400_000);
    train_predictive(&ctx, json!({})).await;
    // Leads stored before the training are predicted by it.
    assert_eq!(prediction(&ctx, &early).await["champion_version"], 1);

    let mut doc = good_lead("new@example.com");
    doc["industry"] = json!("software");
    let lead = ctx.create_lead(doc).await;
    let id = lead["id"].as_str().unwrap().to_string();
    let p = prediction(&ctx, &id).await;
    assert_eq!(p["champion_version"], 1);
    let high = p["probability"].as_f64().unwrap();

    // Changing the field that drives conversion changes the prediction.
    ctx.patch(
        &format!("/api/v1/leads/{id}"),
        &ctx.marketing,
        json!({ "industry": "mining" }),
    )
    .await
    .expect(StatusCode::OK);
    let low = prediction(&ctx, &id).await["probability"].as_f64().unwrap();
    assert!(high > low + 0.3, "software {high} then mining {low}");
}

#[tokio::test]
async fn deleting_a_lead_deletes_its_prediction() {
    let ctx = Ctx::new();
    seed_outcomes(&ctx, "o", 200, t0() - 86_400_000);
    train_predictive(&ctx, json!({})).await;
    prediction(&ctx, "o-0001").await;
    let gone = ctx.delete("/api/v1/leads/o-0001", &ctx.admin).await;
    assert!(gone.status.is_success(), "{:?}", gone.body);
    ctx.get("/api/v1/leads/o-0001/prediction", &ctx.admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // The other leads keep theirs.
    prediction(&ctx, "o-0002").await;
}

/// One scheduled-retrain check, off the async threads.
async fn scheduled(ctx: &Ctx, days: u64) -> Option<String> {
    let state = ctx.state.clone();
    tokio::task::spawn_blocking(move || {
        leadq_server::predictive::scheduled_retrain(&state, days).expect("the check runs")
    })
    .await
    .expect("the check's thread")
    .map(|job| job.id)
}

#[tokio::test]
async fn scheduled_retraining_trains_only_when_the_newest_model_is_old_enough() {
    let ctx = Ctx::new();
    // No outcomes: nothing to train on, whatever the schedule.
    assert_eq!(scheduled(&ctx, 7).await, None);
    seed_outcomes(&ctx, "o", 200, t0() - 86_400_000);
    // Off.
    assert_eq!(scheduled(&ctx, 0).await, None);
    // No model yet: the first one is trained.
    let job = scheduled(&ctx, 7).await.expect("a first training");
    let done = ctx.wait_job(&job).await;
    assert_eq!(done["result"]["status"], "champion");
    // Six days later the model is still fresh.
    ctx.clock.advance(6 * 86_400_000);
    assert_eq!(scheduled(&ctx, 7).await, None);
    // A week after training, a challenger is trained.
    ctx.clock.advance(86_400_000);
    let job = scheduled(&ctx, 7).await.expect("a retraining");
    let done = ctx.wait_job(&job).await;
    assert_eq!(done["result"]["status"], "challenger");
    assert_eq!(done["result"]["version"], 2);
    let models = predictive_models(&ctx).await;
    assert_eq!(models["models"][0]["trained_by"], "scheduler");
}

/// What the stored model of `version` says of lead `id`'s stored fields:
/// the oracle for the factors the API explains when a prediction is read.
fn explained_by_version(ctx: &Ctx, version: i64, id: &str) -> leadq_predict::Prediction {
    let id = id.to_string();
    let (stored, lead) = on_store(ctx, move |store| {
        let models = store.predictive_models().unwrap();
        (
            models,
            store.lead(&id).unwrap().expect("the lead is stored"),
        )
    });
    let stored = stored
        .into_iter()
        .find(|m| m.version == version)
        .expect("the version is stored");
    let model = leadq_predict::Model::from_json(&stored.model).expect("the model reads");
    let fields: serde_json::Map<String, Value> = serde_json::from_str(&lead.fields).unwrap();
    let headers: Vec<String> = model
        .features
        .features
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let row = headers
        .iter()
        .map(|h| {
            fields
                .get(h)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let table = leadq_predict::TextTable {
        headers,
        rows: vec![row],
    };
    model.predict(&table, 3).unwrap().remove(0)
}

fn factors_as_json(p: &leadq_predict::Prediction) -> Value {
    serde_json::to_value(&p.factors).unwrap()
}

#[tokio::test]
async fn a_predictions_factors_are_explained_when_read_by_the_model_version_that_made_it() {
    let ctx = Ctx::new();
    seed_outcomes(&ctx, "o", 300, t0() - 86_400_000);
    train_predictive(&ctx, json!({})).await;
    let now = prediction(&ctx, "o-0000").await;
    let v1 = explained_by_version(&ctx, 1, "o-0000");
    assert_eq!(now["probability"].as_f64(), Some(v1.probability));
    assert_eq!(now["factors"], factors_as_json(&v1));
    assert_eq!(now["factors"][0]["feature"], "industry");

    // A logistic challenger is promoted; until the re-scoring reaches a
    // lead, its prediction is still version 1's, and so is its explanation.
    train_predictive(&ctx, json!({ "algorithm": "logistic" })).await;
    let second = predictive_models(&ctx).await["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["version"] == 2)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    promote(&ctx, second).await;
    let v2 = explained_by_version(&ctx, 2, "o-0000");
    assert_ne!(factors_as_json(&v1), factors_as_json(&v2));
    let promoted = prediction(&ctx, "o-0000").await;
    assert_eq!(promoted["champion_version"], 2);
    assert_eq!(promoted["factors"], factors_as_json(&v2));

    let mut behind = on_store(&ctx, |store| {
        store.prediction_of("o-0000").unwrap().unwrap()
    });
    behind.champion_version = 1;
    behind.probability = v1.probability;
    let mut gone = behind.clone();
    gone.lead_id = "o-0001".into();
    gone.champion_version = 99;
    gone.probability = 0.375;
    on_store(&ctx, move |store| {
        store.put_predictions(vec![behind, gone]).unwrap()
    });
    let old = prediction(&ctx, "o-0000").await;
    assert_eq!(old["champion_version"], 1);
    assert_eq!(old["factors"], factors_as_json(&v1));
    // A version no longer stored shows its probability without factors.
    let orphan = prediction(&ctx, "o-0001").await;
    assert_eq!(orphan["probability"].as_f64(), Some(0.375));
    assert_eq!(orphan["factors"], json!([]));
}
