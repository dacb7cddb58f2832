//! Scoring models: validation, drafts, publishing with re-scoring, diffs.

use crate::common::*;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

fn reason_rules(lead: &Value) -> Vec<String> {
    lead["score"]["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

/// The default model with the enterprise rule worth 40 instead of 20, the
/// paid-social rule removed and a rule added.
fn v2_source() -> String {
    let s = DEFAULT_MODEL.replace(
        "when = \"employees >= 1000\"\npoints = 20",
        "when = \"employees >= 1000\"\npoints = 40",
    );
    assert_ne!(s, DEFAULT_MODEL, "the enterprise rule was found");
    let s = s.replace(
        "[[fit]]\nname = \"Paid social\"\nwhen = 'source == \"paid social\"'\npoints = -2\n",
        "",
    );
    assert!(!s.contains("Paid social"));
    s.replace("# ---- Engagement", "[[fit]]\nname = \"Web source\"\nwhen = 'source == \"web\"'\npoints = 1\n\n# ---- Engagement")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_model_is_422_with_the_line() {
    let ctx = Ctx::new();
    let syntax = "name = \"broken\"\n[grades]\nA = = 60\n";
    let r = ctx
        .post(
            "/api/v1/models/validate",
            &ctx.marketing,
            json!({ "source": syntax }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_model");
    assert_eq!(r.body["error"]["details"]["line"], 3, "{}", r.body);
    let r = ctx
        .post(
            "/api/v1/models",
            &ctx.marketing,
            json!({ "name": "broken", "source": syntax }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_model");
    assert_eq!(r.body["error"]["details"]["line"], 3, "{}", r.body);
    assert!(r.body["error"]["details"]["column"].is_u64(), "{}", r.body);
    // A rule whose condition does not compile is named, with its line.
    let bad = DEFAULT_MODEL.replace(
        "when = \"employees >= 1000\"",
        "when = \"employees >= >= 1000\"",
    );
    let line = bad.lines().position(|l| l.contains(">= >=")).unwrap() as u64 + 1;
    let r = ctx
        .post(
            "/api/v1/models",
            &ctx.marketing,
            json!({ "name": "bad rule", "source": bad }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_model");
    assert_eq!(
        r.body["error"]["details"]["rule"], "Enterprise (1000+ employees)",
        "{}",
        r.body
    );
    let got = r.body["error"]["details"]["line"].as_u64().expect("a line");
    assert!(
        (line - 2..=line).contains(&got),
        "line {got} points at the rule (its condition is on line {line})"
    );
    let r = ctx
        .post(
            "/api/v1/models",
            &ctx.marketing,
            json!({ "name": " ", "source": DEFAULT_MODEL }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let models = ctx
        .get("/api/v1/models", &ctx.marketing)
        .await
        .expect(StatusCode::OK);
    assert_eq!(models, json!([]), "nothing invalid was stored");

    let ok = ctx
        .post(
            "/api/v1/models/validate",
            &ctx.marketing,
            json!({ "source": DEFAULT_MODEL }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["summary"]["fit_rules"], 22, "{ok}");
    assert_eq!(ok["summary"]["frameworks"], json!(["BANT"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_a_changed_version_rescores_every_lead_and_the_diff_shows_the_change() {
    let ctx = Ctx::new();
    let v1 = ctx.publish(DEFAULT_MODEL).await;
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["status"], "published");
    let a = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    let b = ctx.create_lead(poor_lead("kid@gmail.com")).await;
    let c = ctx
        .create_lead(json!({ "email": "mid@mid.com", "employees": 300, "source": "paid social" }))
        .await;
    assert_eq!(a["score"]["fit"], 66.0);

    ctx.clock.advance(60_000);
    let v2 = ctx.publish(&v2_source()).await;
    assert_eq!(v2["version"], 2);
    let a2 = ctx.lead(a["id"].as_str().unwrap()).await;
    assert_eq!(a2["score"]["model_version"], 2, "{a2}");
    assert_eq!(a2["score"]["fit"], 66.0 + 20.0 + 1.0, "{a2}");
    assert_eq!(a2["score"]["scored_at"], rfc(t0() + 60_000));
    let b2 = ctx.lead(b["id"].as_str().unwrap()).await;
    assert_eq!(b2["score"]["model_version"], 2);
    assert_eq!(b2["score"]["fit"], 0.0, "still floored at 0");
    assert!(
        reason_rules(&b2).contains(&"Web source".to_string()),
        "the added rule fired: {b2}"
    );
    let c2 = ctx.lead(c["id"].as_str().unwrap()).await;
    assert_eq!(
        c2["score"]["fit"],
        c["score"]["fit"].as_f64().unwrap() + 2.0,
        "the paid-social penalty is gone: {c2}"
    );
    let all = ctx.all_leads(&ctx.admin, "").await;
    assert!(all.iter().all(|l| l["score"]["model_version"] == 2));

    let h = ctx.history(a["id"].as_str().unwrap()).await;
    let last = h["scores"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["cause"], "publish");
    assert_eq!(last["model_version"], 2);

    let models = ctx
        .get("/api/v1/models", &ctx.manager)
        .await
        .expect(StatusCode::OK);
    let status: Vec<(i64, String)> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().unwrap(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        status.contains(&(v1["id"].as_i64().unwrap(), "retired".to_string())),
        "{models}"
    );
    assert!(
        status.contains(&(v2["id"].as_i64().unwrap(), "published".to_string())),
        "{models}"
    );
    let ready = ctx.raw(Method::GET, "/readyz", None, "").await;
    assert_eq!(ready.body["model_version"], 2);

    let diff = ctx
        .get(
            &format!("/api/v1/models/diff?from={}&to={}", v1["id"], v2["id"]),
            &ctx.manager,
        )
        .await
        .expect(StatusCode::OK);
    let rules = diff["rules"].as_array().unwrap();
    let find = |name: &str| rules.iter().find(|r| r["rule"] == name).cloned();
    let ent = find("Enterprise (1000+ employees)").expect("the enterprise rule changed");
    assert_eq!(ent["change"], "changed");
    assert_eq!(ent["section"], "fit");
    assert!(
        ent["from"].as_str().unwrap().contains("20") && ent["to"].as_str().unwrap().contains("40"),
        "{ent}"
    );
    assert_eq!(find("Paid social").expect("removed")["change"], "removed");
    assert_eq!(find("Web source").expect("added")["change"], "added");
    assert_eq!(rules.len(), 3, "nothing else changed: {diff}");
    let text = diff["diff"].as_str().unwrap();
    assert!(
        text.contains("-points = 20") && text.contains("+points = 40"),
        "{text}"
    );

    // A published model cannot be published again; a missing one is 404.
    let r = ctx
        .post(
            &format!("/api/v1/models/{}/publish", v2["id"]),
            &ctx.marketing,
            json!(null),
        )
        .await;
    r.expect_error(StatusCode::CONFLICT, "not_a_draft");
    ctx.post("/api/v1/models/999/publish", &ctx.marketing, json!(null))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.get("/api/v1/models/999", &ctx.marketing)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.get(
        &format!("/api/v1/models/diff?from={}&to=999", v1["id"]),
        &ctx.marketing,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    let got = ctx
        .get(&format!("/api/v1/models/{}", v1["id"]), &ctx.marketing)
        .await
        .expect(StatusCode::OK);
    assert_eq!(got["source"], DEFAULT_MODEL);

    // New moves record the new version.
    let moved = ctx
        .transition(a["id"].as_str().unwrap(), &ctx.manager, "working", None)
        .await;
    assert_eq!(moved["stage"], "working");
    let h = ctx.history(a["id"].as_str().unwrap()).await;
    assert_eq!(
        h["stages"].as_array().unwrap().last().unwrap()["model_version"],
        2
    );
}
