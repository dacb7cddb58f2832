//! Publishing a new model version re-scores every stored lead in a job.

use crate::common::{Ctx, DEFAULT_MODEL};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;

const LEADS: usize = 300;

#[tokio::test(flavor = "multi_thread")]
async fn publishing_a_new_version_rescores_every_lead_with_it() {
    let ctx = Ctx::new();
    let v1 = ctx.publish(DEFAULT_MODEL).await["version"]
        .as_i64()
        .expect("a version");
    let leads: Vec<Value> = (0..LEADS)
        .map(|i| {
            json!({
                "email": format!("lead{i}@company{i}.com"),
                "company": format!("Company {i}"),
                "employees": if i % 2 == 0 { 1500 } else { 300 },
                "industry": "software",
                "title": "CEO",
                "country": "US",
            })
        })
        .collect();
    let out = ctx
        .post(
            "/api/v1/leads/bulk",
            &ctx.marketing,
            json!({ "leads": leads }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(out["created"], LEADS, "{}", out["results"][0]);
    let before: HashMap<String, f64> = ctx
        .all_leads()
        .await
        .iter()
        .map(|l| {
            assert_eq!(l["score"]["model_version"], v1, "{l}");
            (
                l["email"].as_str().unwrap().to_string(),
                l["score"]["fit"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(before.len(), LEADS);

    // Enterprise leads are worth 5 more fit points in the new version.
    let enterprise = "[[fit]]\nname = \"Enterprise (1000+ employees)\"\nwhen = \"employees >= 1000\"\npoints = 20\n";
    assert!(DEFAULT_MODEL.contains(enterprise));
    let source = DEFAULT_MODEL.replace(enterprise, &enterprise.replace("20", "25"));
    let started = ctx.start_publish(&source).await;
    let v2 = started["model"]["version"].as_i64().expect("a version");
    assert_eq!(v2, v1 + 1, "{started}");
    assert_eq!(started["job"]["kind"], "rescore", "{started}");
    assert_eq!(
        started["job"]["total"], LEADS,
        "the job knows its size: {started}"
    );

    let job = ctx
        .wait_job(started["job"]["id"].as_str().expect("a job id"))
        .await;
    assert_eq!(job["total"], LEADS, "{job}");
    assert_eq!(job["done"], LEADS, "{job}");
    assert_eq!(job["progress"], 1.0, "{job}");
    assert_eq!(job["result"]["rescored"], LEADS, "{job}");

    let after = ctx.all_leads().await;
    assert_eq!(after.len(), LEADS);
    for l in &after {
        assert_eq!(
            l["score"]["model_version"], v2,
            "every lead carries v2: {l}"
        );
        let email = l["email"].as_str().unwrap();
        let bump = if l["fields"]["employees"] == 1500 {
            5.0
        } else {
            0.0
        };
        assert_eq!(
            l["score"]["fit"].as_f64().unwrap(),
            before[email] + bump,
            "the new points apply: {l}"
        );
    }
    let one = after[0]["id"].as_str().unwrap();
    let history = ctx.history(one).await;
    let last = history["scores"]
        .as_array()
        .and_then(|s| s.last())
        .expect("a score history")
        .clone();
    assert_eq!(last["model_version"], v2, "{history}");
    assert_eq!(last["cause"], "publish", "{history}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rescore_interrupted_by_a_stop_is_marked_failed_and_run_again_at_start_up() {
    let ctx = Ctx::new();
    let v1 = ctx.publish(DEFAULT_MODEL).await["version"]
        .as_i64()
        .expect("a version");
    let leads: Vec<Value> = (0..40)
        .map(|i| {
            json!({
                "email": format!("lead{i}@company{i}.com"),
                "employees": 1500,
                "industry": "software",
                "title": "CEO",
            })
        })
        .collect();
    ctx.post(
        "/api/v1/leads/bulk",
        &ctx.marketing,
        json!({ "leads": leads }),
    )
    .await
    .expect(StatusCode::OK);

    // What a server stopped in the middle of a re-score leaves behind: the
    // new version is live, its job still `running`, the leads at v1.
    let now = ctx.state.clock.now_ms();
    let source = DEFAULT_MODEL.replace("points = 20\n", "points = 25\n");
    assert_ne!(source, DEFAULT_MODEL);
    let draft = ctx
        .state
        .store
        .create_model("v2", &source, "root", now)
        .expect("a draft");
    let row = ctx
        .state
        .store
        .publish_model(draft.id, now)
        .expect("publish");
    let v2 = row.version.expect("a published version");
    assert_eq!(v2, v1 + 1);
    ctx.state
        .set_model(std::sync::Arc::new(leadq_server::engine::ActiveModel {
            row,
            compiled: leadq_core::CompiledModel::from_toml(&source).expect("compiles"),
        }));
    let orphan = leadq_server::jobs::running("rescore", 40, now);
    ctx.state.store.put_job(orphan.clone()).expect("job");
    assert!(ctx
        .all_leads()
        .await
        .iter()
        .all(|l| l["score"]["model_version"] == v1));

    let resumed = leadq_server::workers::recover_interrupted_jobs(&ctx.state)
        .await
        .expect("recovery runs")
        .expect("a re-score starts again");
    let job = ctx.wait_job(&resumed.id).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["result"]["rescored"], 40, "{job}");

    let old = ctx
        .state
        .store
        .job(&orphan.id)
        .expect("read")
        .expect("kept");
    assert_eq!(old.status, "failed");
    assert_eq!(
        old.error.as_deref(),
        Some(leadq_server::workers::INTERRUPTED)
    );
    let after = ctx.all_leads().await;
    assert_eq!(after.len(), 40);
    for l in &after {
        assert_eq!(l["score"]["model_version"], v2, "{l}");
    }
    let history = ctx.history(after[0]["id"].as_str().unwrap()).await;
    let last = history["scores"]
        .as_array()
        .and_then(|s| s.last())
        .expect("a score history")
        .clone();
    assert_eq!(last["cause"], "resume", "{history}");

    // Nothing is left running: the next start-up has nothing to do.
    assert!(leadq_server::workers::recover_interrupted_jobs(&ctx.state)
        .await
        .expect("recovery runs")
        .is_none());
}
