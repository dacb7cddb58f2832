//! Manual stage moves with their guards, and the history they leave.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;

const BANT_OK: &str = r#"{"answers": {"budget": "confirmed", "authority": "decision_maker", "need": "critical", "timeline": "within_3_months"}, "evidence": {"budget": "Q1 budget approved, per the CFO"}}"#;

/// One criterion of a framework report.
fn criterion(report: &serde_json::Value, key: &str) -> serde_json::Value {
    report["criteria"]
        .as_array()
        .expect("a report lists its criteria")
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no criterion {key} in {report}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_set_back_to_unknown_stays_unknown_even_over_the_leads_own_field() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    // The lead arrives with a confirmed budget in its own fields (+5 fit).
    let mut body = good_lead("reset@acme-corp.com");
    body["bant.budget"] = json!("confirmed");
    let lead = ctx.create_lead(body).await;
    let id = lead["id"].as_str().unwrap();
    assert_eq!(ctx.lead(id).await["score"]["fit"], 66.0 + 5.0);
    let path = format!("/api/v1/leads/{id}/frameworks/BANT");
    let full = ctx
        .put(&path, &ctx.manager, serde_json::from_str(BANT_OK).unwrap())
        .await
        .expect(StatusCode::OK);
    assert_eq!(full["status"], "qualified");

    let reset = ctx
        .put(
            &path,
            &ctx.manager,
            json!({ "answers": { "budget": null } }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(reset["status"], "not_yet", "{reset}");
    assert_eq!(reset["unknown"], json!(["budget"]), "{reset}");
    let budget = criterion(&reset, "budget");
    assert_eq!(budget["answer"], serde_json::Value::Null, "{budget}");
    assert_eq!(budget["state"], "unknown", "{budget}");
    assert_eq!(budget["answered_by"], "manager:max", "who reset it is kept");
    // The score no longer counts the budget, not even the one from the lead's fields.
    assert_eq!(
        ctx.lead(id).await["score"]["fit"],
        66.0,
        "{}",
        ctx.lead(id).await
    );
    // And the SQL gate names it again.
    ctx.transition(id, &ctx.manager, "sal", None).await;
    let r = ctx
        .post(
            &format!("/api/v1/leads/{id}/transitions"),
            &ctx.manager,
            json!({ "to": "sql" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "framework_not_satisfied");
    // Anything other than a string, number, boolean or null is refused.
    ctx.put(
        &path,
        &ctx.manager,
        json!({ "answers": { "budget": ["x"] } }),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_needs_bant_answers_and_succeeds_once_they_satisfy_it() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    let id = lead["id"].as_str().unwrap();
    let sal = ctx.transition(id, &ctx.manager, "sal", None).await;
    assert_eq!(sal["stage"], "sal");
    assert_eq!(
        sal["first_response_at"],
        rfc(t0()),
        "a manual move is a response"
    );

    let r = ctx
        .post(
            &format!("/api/v1/leads/{id}/transitions"),
            &ctx.manager,
            json!({ "to": "sql" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "framework_not_satisfied");
    let msg = r.body["error"]["message"].as_str().unwrap().to_lowercase();
    for c in ["budget", "authority", "need", "timeline"] {
        assert!(
            msg.contains(c),
            "the refusal lists the unknown criterion {c}: {msg}"
        );
    }
    assert_eq!(ctx.lead(id).await["stage"], "sal", "the lead did not move");

    // Half the answers: the other half is still listed.
    let part = ctx
        .put(
            &format!("/api/v1/leads/{id}/frameworks/BANT"),
            &ctx.manager,
            json!({ "answers": { "budget": "confirmed", "authority": "influencer" } }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(part["satisfied"], 2, "two criteria are satisfied: {part}");
    assert_eq!(part["status"], "not_yet");
    assert_eq!(part["unknown"], json!(["need", "timeline"]), "{part}");
    let r = ctx
        .post(
            &format!("/api/v1/leads/{id}/transitions"),
            &ctx.manager,
            json!({ "to": "sql" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "framework_not_satisfied");
    let msg = r.body["error"]["message"].as_str().unwrap().to_lowercase();
    let unknown = msg
        .split("still unknown:")
        .nth(1)
        .expect("the unknown criteria are listed");
    assert_eq!(unknown.trim(), "need, timeline", "{msg}");

    // Answers are validated against the criterion's options.
    let r = ctx
        .put(
            &format!("/api/v1/leads/{id}/frameworks/BANT"),
            &ctx.manager,
            json!({ "answers": { "need": "desperate" } }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"],
        "answers.need"
    );
    let r = ctx
        .put(
            &format!("/api/v1/leads/{id}/frameworks/BANT"),
            &ctx.manager,
            json!({ "answers": { "champion": "yes" } }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"],
        "answers.champion"
    );
    let r = ctx
        .put(
            &format!("/api/v1/leads/{id}/frameworks/NOPE"),
            &ctx.manager,
            json!({ "answers": {} }),
        )
        .await;
    r.expect_error(StatusCode::NOT_FOUND, "not_found");

    let full = ctx
        .put(
            &format!("/api/v1/leads/{id}/frameworks/BANT"),
            &ctx.manager,
            serde_json::from_str(BANT_OK).unwrap(),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(full["satisfied"], 4, "{full}");
    assert_eq!(full["status"], "qualified");
    let budget = criterion(&full, "budget");
    assert_eq!(budget["answer"], "confirmed");
    assert_eq!(budget["evidence"], "Q1 budget approved, per the CFO");
    assert_eq!(budget["answered_by"], "manager:max");
    let got = ctx
        .get(&format!("/api/v1/leads/{id}/frameworks/bant"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(got["status"], "qualified");
    let gate = ctx
        .get(&format!("/api/v1/leads/{id}/score"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(gate["sql_gate"]["satisfied"], true, "{gate}");

    // The confirmed budget feeds the score.
    let scored = ctx.lead(id).await;
    assert_eq!(scored["score"]["fit"], 66.0 + 5.0, "{scored}");
    assert_eq!(
        scored["stage"], "sal",
        "scoring never moves a lead sales owns"
    );

    let sql = ctx.transition(id, &ctx.manager, "sql", None).await;
    assert_eq!(sql["stage"], "sql");
    let opp = ctx
        .transition(id, &ctx.marketing, "opportunity", None)
        .await;
    assert_eq!(opp["stage"], "opportunity");

    let h = ctx.history(id).await;
    let stages = h["stages"].as_array().unwrap();
    let moves: Vec<(Option<&str>, &str, &str)> = stages
        .iter()
        .map(|s| {
            (
                s["from"].as_str(),
                s["to"].as_str().unwrap(),
                s["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (None, "new", "marketing:mia"),
            (Some("new"), "sal", "manager:max"),
            (Some("sal"), "sql", "manager:max"),
            (Some("sql"), "opportunity", "marketing:mia")
        ],
        "{h}"
    );
    assert!(
        stages.iter().all(|s| s["model_version"] == 1),
        "every move records the model version: {h}"
    );
    assert!(stages.iter().all(|s| s["at"] == rfc(t0())));
    assert!(stages[1..].iter().all(|s| s["automatic"] == false));
    let scores = h["scores"].as_array().unwrap();
    let causes: Vec<&str> = scores
        .iter()
        .map(|s| s["cause"].as_str().unwrap())
        .collect();
    assert_eq!(causes, ["created", "answers", "answers"], "{h}");
    assert_eq!(scores[0]["fit"], 66.0);
    assert_eq!(scores[2]["fit"], 71.0);
    assert_eq!(
        scores[2]["mql"], true,
        "BANT qualified makes the model call it an MQL"
    );
    assert!(scores.iter().all(|s| s["model_version"] == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sql_gate_follows_the_configured_framework() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let id = ctx.create_lead(good_lead("ann@acme-corp.com")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ctx.transition(&id, &ctx.manager, "sal", None).await;
    let s = ctx
        .put(
            "/api/v1/settings",
            &ctx.admin,
            json!({ "sql_framework": "NOPE" }),
        )
        .await;
    s.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let s = ctx
        .put(
            "/api/v1/settings",
            &ctx.admin,
            json!({ "sql_framework": "none" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(s["sql_framework"], "none");
    let gate = ctx
        .get(&format!("/api/v1/leads/{id}/score"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert!(gate["sql_gate"].is_null(), "{gate}");
    assert_eq!(
        ctx.transition(&id, &ctx.manager, "sql", None).await["stage"],
        "sql"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_moves_need_a_reason_and_moves_off_the_graph_are_refused() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let id = ctx.create_lead(good_lead("ann@acme-corp.com")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/leads/{id}/transitions");

    ctx.post(&path, &ctx.manager, json!({ "to": "disqualified" }))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "reason_required");
    ctx.post(
        &path,
        &ctx.manager,
        json!({ "to": "disqualified", "reason": "   " }),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "reason_required");

    let r = ctx.post(&path, &ctx.manager, json!({ "to": "won" })).await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "not_allowed");
    assert_eq!(r.body["error"]["details"]["from"], "new");
    assert_eq!(r.body["error"]["details"]["to"], "won");
    assert_eq!(
        r.body["error"]["details"]["allowed"],
        json!(["working", "mql", "sal", "nurture", "disqualified"])
    );
    ctx.post(&path, &ctx.manager, json!({ "to": "opportunity" }))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "not_allowed");
    ctx.post(&path, &ctx.manager, json!({ "to": "new" }))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "unchanged");
    let r = ctx
        .post(&path, &ctx.manager, json!({ "to": "limbo" }))
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["error"]["details"]["fields"][0]["path"], "to");
    ctx.post(
        "/api/v1/leads/ld_missing/transitions",
        &ctx.manager,
        json!({ "to": "working" }),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        ctx.history(&id).await["stages"].as_array().unwrap().len(),
        1,
        "no refused move was recorded"
    );

    let dq = ctx
        .transition(&id, &ctx.manager, "DISQUALIFIED", Some("a competitor"))
        .await;
    assert_eq!(dq["stage"], "disqualified");
    assert_eq!(dq["stage_reason"], "a competitor");
    ctx.post(&path, &ctx.manager, json!({ "to": "working" }))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "not_allowed");
    let back = ctx.transition(&id, &ctx.manager, "recycled", None).await;
    assert_eq!(back["stage"], "recycled");
    let h = ctx.history(&id).await;
    let last = &h["stages"].as_array().unwrap()[1];
    assert_eq!(last["reason"], "a competitor");
    assert_eq!(last["to"], "disqualified");
}
