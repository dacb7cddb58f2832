//! Routing MQLs to reps, explained; reps see only their own leads.

use crate::common::*;
use axum::http::StatusCode;
use leadq_server::auth::Role;
use serde_json::{json, Value};

async fn setup() -> Ctx {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep_de", 5).await;
    ctx.rep("rep_na", 5).await;
    ctx.rep("rep_spare", 5).await;
    let rules = json!({ "rules": [
        { "name": "Germany", "countries": ["DE"], "reps": ["rep_de"] },
        { "name": "North America", "regions": ["NA"], "reps": ["rep_na"], "strategy": "least_loaded" },
    ]});
    let r = ctx
        .put("/api/v1/routing/rules", &ctx.manager, rules)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["rules"].as_array().unwrap().len(), 2);
    ctx
}

/// A grade-A lead at `country` that becomes an MQL through a demo request.
async fn mql_lead(ctx: &Ctx, email: &str, country: &str) -> Value {
    let mut doc = good_lead(email);
    doc["country"] = json!(country);
    let lead = ctx.create_lead(doc).await;
    assert!(
        lead["score"]["grade"] == "A" || lead["score"]["grade"] == "B",
        "a good fit: {lead}"
    );
    assert_eq!(lead["owner"], Value::Null, "not an MQL yet, not routed");
    let id = lead["id"].as_str().unwrap().to_string();
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": id, "type": "demo_request" }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    ctx.lead(&id).await
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_and_reps_are_validated() {
    let ctx = setup().await;
    let r = ctx
        .put(
            "/api/v1/routing/rules",
            &ctx.manager,
            json!({ "rules": [{ "name": "X", "reps": ["rep_ghost"] }] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"],
        "rules[0].reps"
    );
    let r = ctx
        .put(
            "/api/v1/routing/rules",
            &ctx.manager,
            json!({ "rules": [{ "name": "X", "reps": [] }] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx
        .put(
            "/api/v1/routing/rules",
            &ctx.manager,
            json!({ "rules": [{ "name": "X", "reps": ["rep_de"], "grades": ["Z"] }] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx
        .put(
            "/api/v1/routing/rules",
            &ctx.manager,
            json!({ "rules": [{ "name": "X", "reps": ["rep_de"], "continent": "EU" }] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let got = ctx
        .get("/api/v1/routing/rules", &ctx.marketing)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        got["rules"][0]["name"], "Germany",
        "a refused update leaves the rules as they were"
    );
    assert_eq!(got["rules"][1]["strategy"], "least_loaded");

    for bad in [
        json!({ "name": "R", "capacity": -1 }),
        json!({ "name": " ", "capacity": 1 }),
        json!({ "name": "R", "capacity": 1, "working_hours": "whenever" }),
        json!({ "name": "R", "capacity": 1, "timezone": "Mars/Olympus", "working_hours": "Mon-Fri 09:00-17:00" }),
    ] {
        let r = ctx
            .put("/api/v1/reps/rep_bad", &ctx.manager, bad.clone())
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
    let reps = ctx
        .get("/api/v1/reps", &ctx.manager)
        .await
        .expect(StatusCode::OK);
    let names: Vec<&str> = reps["reps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{reps}");
    assert!(!names.contains(&"rep_bad"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lead_that_becomes_an_mql_is_routed_by_the_matching_rule_with_an_explanation() {
    let ctx = setup().await;
    let us = mql_lead(&ctx, "ann@acme-corp.com", "US").await;
    assert_eq!(us["stage"], "mql", "{us}");
    assert_eq!(us["score"]["mql"], true);
    assert_eq!(us["owner"], "rep_na", "{us}");
    assert_eq!(us["assigned_at"], rfc(t0()));

    let de = mql_lead(&ctx, "dora@beispiel.de", "DE").await;
    assert_eq!(de["owner"], "rep_de", "{de}");

    let h = ctx.history(us["id"].as_str().unwrap()).await;
    let a = h["assignments"].as_array().unwrap();
    assert_eq!(a.len(), 1, "{h}");
    assert_eq!(a[0]["rep_id"], "rep_na");
    assert_eq!(a[0]["rule"], "North America");
    assert_eq!(a[0]["actor"], "system:routing");
    assert_eq!(a[0]["previous_rep"], Value::Null);
    let why = a[0]["explanation"].as_str().unwrap();
    assert!(
        why.contains("North America") && why.contains("region NA"),
        "the explanation says which rule matched and why: {why}"
    );
    let stages = h["stages"].as_array().unwrap();
    let auto = stages.last().unwrap();
    assert_eq!(
        (auto["from"].as_str(), auto["to"].as_str()),
        (Some("new"), Some("mql"))
    );
    assert_eq!(auto["automatic"], true);
    assert_eq!(auto["actor"], "system:model");
    assert_eq!(auto["model_version"], 1);

    // A country no rule covers falls back to any rep with room.
    let jp = mql_lead(&ctx, "kei@rei.jp", "JP").await;
    let owner = jp["owner"].as_str().expect("routed by the fallback");
    let h = ctx.history(jp["id"].as_str().unwrap()).await;
    assert_eq!(h["assignments"][0]["rule"], Value::Null, "{h}");
    assert!(
        h["assignments"][0]["explanation"]
            .as_str()
            .unwrap()
            .contains("no rule matched"),
        "{h}"
    );
    assert!(["rep_de", "rep_na", "rep_spare"].contains(&owner));

    let reps = ctx
        .get("/api/v1/reps", &ctx.manager)
        .await
        .expect(StatusCode::OK);
    let open = |id: &str| {
        reps["reps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["open_leads"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(open("rep_na") + open("rep_de") + open("rep_spare"), 3);
    assert!(open("rep_na") >= 1 && open("rep_de") >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_rep_is_skipped_and_the_skip_is_explained() {
    let ctx = setup().await;
    ctx.rep("rep_na", 1).await;
    let first = mql_lead(&ctx, "ann@acme-corp.com", "US").await;
    assert_eq!(first["owner"], "rep_na");
    let second = mql_lead(&ctx, "bob@bigco.com", "US").await;
    let owner = second["owner"].as_str().expect("routed");
    assert_ne!(owner, "rep_na", "rep_na is at capacity");
    let h = ctx.history(second["id"].as_str().unwrap()).await;
    let why = h["assignments"][0]["explanation"].as_str().unwrap();
    assert!(why.contains("capacity"), "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rep_sees_only_their_own_leads_and_gets_404_for_others() {
    let ctx = setup().await;
    let us = mql_lead(&ctx, "ann@acme-corp.com", "US").await;
    let de = mql_lead(&ctx, "dora@beispiel.de", "DE").await;
    let unowned = ctx.create_lead(poor_lead("kid@gmail.com")).await;
    let (us_id, de_id) = (us["id"].as_str().unwrap(), de["id"].as_str().unwrap());
    let rep_de = ctx.token("dieter", Role::Rep, Some("rep_de"));

    let mine = ctx.all_leads(&rep_de, "").await;
    assert_eq!(ids(&mine), vec![de_id.to_string()]);
    let mine = ctx.all_leads(&rep_de, "&owner=rep_na").await;
    assert_eq!(
        ids(&mine),
        vec![de_id.to_string()],
        "a rep cannot widen the list with an owner filter"
    );
    ctx.get(&format!("/api/v1/leads/{de_id}"), &rep_de)
        .await
        .expect(StatusCode::OK);
    for path in ["", "/history", "/events", "/score", "/frameworks/BANT"] {
        ctx.get(&format!("/api/v1/leads/{us_id}{path}"), &rep_de)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    ctx.get(
        &format!("/api/v1/leads/{}", unowned["id"].as_str().unwrap()),
        &rep_de,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.get(
        &format!("/api/v1/leads/{us_id}/score-at?at={}", rfc(t0())),
        &rep_de,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.patch(
        &format!("/api/v1/leads/{us_id}"),
        &rep_de,
        json!({ "city": "X" }),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.post(
        &format!("/api/v1/leads/{us_id}/transitions"),
        &rep_de,
        json!({ "to": "sal" }),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.post(
        &format!("/api/v1/leads/{us_id}/touch"),
        &rep_de,
        json!(null),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.put(
        &format!("/api/v1/leads/{us_id}/frameworks/BANT"),
        &rep_de,
        json!({ "answers": { "budget": "none" } }),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        ctx.lead(us_id).await["stage"],
        "mql",
        "the other rep's lead is untouched"
    );
    let g = ctx
        .get(
            &format!("/api/v1/leads/{us_id}/frameworks/BANT"),
            &ctx.admin,
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        g["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["answer"].is_null()),
        "no answer was recorded: {g}"
    );

    // Their own lead they can work.
    let touched = ctx
        .post(
            &format!("/api/v1/leads/{de_id}/touch"),
            &rep_de,
            json!(null),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(touched["first_response_at"], rfc(t0()));
    let moved = ctx.transition(de_id, &rep_de, "sal", None).await;
    assert_eq!(moved["stage"], "sal");
    assert_eq!(
        ctx.history(de_id).await["stages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["actor"],
        "rep:dieter"
    );

    // With reps_see_all on, they see everything.
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "reps_see_all": true }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(ctx.all_leads(&rep_de, "").await.len(), 3);
    ctx.get(&format!("/api/v1/leads/{us_id}"), &rep_de)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_assigns_by_hand_and_the_assignment_is_recorded() {
    let ctx = setup().await;
    let us = mql_lead(&ctx, "ann@acme-corp.com", "US").await;
    let id = us["id"].as_str().unwrap();
    assert_eq!(us["owner"], "rep_na");
    let moved = ctx
        .post(
            &format!("/api/v1/leads/{id}/assign"),
            &ctx.manager,
            json!({ "rep_id": "rep_de" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["owner"], "rep_de");
    let h = ctx.history(id).await;
    let a = h["assignments"].as_array().unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[1]["rep_id"], "rep_de");
    assert_eq!(a[1]["previous_rep"], "rep_na");
    assert_eq!(a[1]["actor"], "manager:max");
    assert_eq!(a[1]["rule"], Value::Null);
    assert!(
        a[1]["explanation"].as_str().unwrap().contains("by hand"),
        "{h}"
    );
    let rep_de = ctx.token("dieter", Role::Rep, Some("rep_de"));
    let rep_na = ctx.token("nora", Role::Rep, Some("rep_na"));
    assert_eq!(ids(&ctx.all_leads(&rep_de, "").await), vec![id.to_string()]);
    assert!(ctx.all_leads(&rep_na, "").await.is_empty());
    let reps = ctx
        .get("/api/v1/reps", &ctx.manager)
        .await
        .expect(StatusCode::OK);
    let open = |rid: &str| {
        reps["reps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == rid)
            .unwrap()["open_leads"]
            .as_i64()
            .unwrap()
    };
    assert_eq!((open("rep_de"), open("rep_na")), (1, 0));

    // Re-running the rules routes it back by the rule.
    let again = ctx
        .post(
            &format!("/api/v1/leads/{id}/assign"),
            &ctx.manager,
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["owner"], "rep_na");
    let h = ctx.history(id).await;
    assert_eq!(h["assignments"][2]["rule"], "North America");
    assert_eq!(h["assignments"][2]["previous_rep"], "rep_de");

    let r = ctx
        .post(
            &format!("/api/v1/leads/{id}/assign"),
            &ctx.manager,
            json!({ "rep_id": "rep_ghost" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(ctx.lead(id).await["owner"], "rep_na");
    ctx.post(
        "/api/v1/leads/ld_missing/assign",
        &ctx.manager,
        json!({ "rep_id": "rep_de" }),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");

    // Nobody with room: 409 unrouted.
    for r in ["rep_de", "rep_na", "rep_spare"] {
        ctx.rep(r, 0).await;
    }
    let other = ctx.create_lead(poor_lead("kid@gmail.com")).await;
    let r = ctx
        .post(
            &format!("/api/v1/leads/{}/assign", other["id"].as_str().unwrap()),
            &ctx.manager,
            json!({}),
        )
        .await;
    r.expect_error(StatusCode::CONFLICT, "unrouted");
}
