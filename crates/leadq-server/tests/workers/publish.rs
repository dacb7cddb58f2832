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
