//! Creating, listing, updating and deleting leads.

use crate::common::*;
use axum::http::StatusCode;
use leadq_core::scoring::Priority;
use leadq_core::CompiledModel;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn reason_rules(lead: &Value) -> Vec<String> {
    lead["score"]["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_lead_is_scored_with_grade_priority_and_reasons_once_a_model_is_published() {
    let ctx = Ctx::new();
    // Before any model: stored, not scored.
    let unscored = ctx.create_lead(good_lead("early@acme-corp.com")).await;
    assert_eq!(unscored["score"], Value::Null);
    assert_eq!(unscored["stage"], "new");

    ctx.publish(DEFAULT_MODEL).await;
    // Publishing re-scored the existing lead.
    let early = ctx.lead(unscored["id"].as_str().unwrap()).await;
    assert_eq!(early["score"]["model_version"], 1, "{early}");

    let lead = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    assert!(lead["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(lead["email"], "ann@acme-corp.com");
    assert_eq!(lead["stage"], "new");
    assert_eq!(lead["created_at"], rfc(t0()));
    let score = &lead["score"];
    assert_eq!(score["grade"], "A", "{lead}");
    assert_eq!(score["band"], 4, "no engagement yet: {lead}");
    assert_eq!(score["priority"], "A4");
    assert_eq!(score["mql"], false);
    assert_eq!(score["model_version"], 1);
    assert_eq!(score["fit"], 66.0, "enterprise 20 + core industry 15 + C-level 15 + North America 8 + business email 8: {lead}");
    let rules = reason_rules(&lead);
    for r in [
        "Enterprise (1000+ employees)",
        "Core industry",
        "C-level",
        "North America",
        "Business email",
    ] {
        assert!(rules.iter().any(|x| x == r), "reason {r} in {rules:?}");
    }
    let sum: f64 = score["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "fit")
        .map(|r| r["points"].as_f64().unwrap())
        .sum();
    assert_eq!(
        sum,
        score["fit"].as_f64().unwrap(),
        "the fit reasons add up to the fit"
    );

    let poor = ctx.create_lead(poor_lead("kid@gmail.com")).await;
    assert_eq!(poor["score"]["grade"], "D", "{poor}");
    assert_eq!(
        poor["score"]["fit"], 0.0,
        "a negative fit is floored at 0: {poor}"
    );
    let rules = reason_rules(&poor);
    for r in [
        "Micro company (under 10)",
        "Poor-fit industry",
        "Intern or student",
        "Free email",
    ] {
        assert!(
            rules.iter().any(|x| x == r),
            "penalty {r} is still explained: {rules:?}"
        );
    }

    // GET returns the same view.
    let got = ctx.lead(lead["id"].as_str().unwrap()).await;
    assert_eq!(got, lead);
}

#[tokio::test(flavor = "multi_thread")]
async fn posting_the_same_lead_again_updates_it_instead_of_duplicating_it() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let first = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    let again = ctx
        .post(
            "/api/v1/leads",
            &ctx.marketing,
            json!({ "email": "  ANN@acme-corp.com ", "phone": "+1 415 555 0100" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        again["fields"]["company"], "Acme Corp",
        "fields are merged: {again}"
    );
    assert_eq!(again["fields"]["employees"], 1500);
    assert_eq!(
        again["score"]["fit"],
        first["score"]["fit"].as_f64().unwrap() + 3.0,
        "the phone adds its points: {again}"
    );
    assert_eq!(again["version"], first["version"].as_i64().unwrap() + 1);
    // The same document a third time: still one lead.
    ctx.post(
        "/api/v1/leads",
        &ctx.marketing,
        good_lead("ann@acme-corp.com"),
    )
    .await
    .expect(StatusCode::OK);
    let all = ctx.all_leads(&ctx.admin, "").await;
    assert_eq!(all.len(), 1);
    // By external id and by id as well.
    let x = ctx
        .create_lead(json!({ "external_id": "crm-1", "email": "bo@beta.io" }))
        .await;
    let x2 = ctx
        .post(
            "/api/v1/leads",
            &ctx.manager,
            json!({ "external_id": "crm-1", "company": "Beta" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(x2["id"], x["id"]);
    let x3 = ctx
        .post(
            "/api/v1/leads",
            &ctx.manager,
            json!({ "id": x["id"], "title": "VP Sales" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(x3["fields"]["company"], "Beta");
    assert_eq!(x3["external_id"], "crm-1");
    assert_eq!(ctx.all_leads(&ctx.admin, "").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_upload_with_one_bad_row_creates_the_others_and_rejects_that_row_by_index() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.create_lead(good_lead("old@acme-corp.com")).await;
    let body = json!({ "leads": [
        good_lead("a@alpha.com"),
        { "email": "not an email", "company": "Broken" },
        poor_lead("b@gmail.com"),
        { "email": "old@acme-corp.com", "title": "CTO" },
        42,
    ]});
    let r = ctx
        .post("/api/v1/leads/bulk", &ctx.marketing, body)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["created"], 2, "{r}");
    assert_eq!(r["updated"], 1, "{r}");
    assert_eq!(r["rejected"], 2, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for (i, want) in ["created", "rejected", "created", "updated", "rejected"]
        .iter()
        .enumerate()
    {
        assert_eq!(results[i]["index"], i);
        assert_eq!(results[i]["status"], *want, "item {i}: {r}");
        assert_eq!(
            results[i]["id"].is_string(),
            *want != "rejected",
            "item {i}: {r}"
        );
    }
    assert_eq!(results[1]["error"]["code"], "validation_failed");
    let path = results[1]["error"]["details"]["fields"][0]["path"]
        .as_str()
        .unwrap();
    assert!(
        path.ends_with("email"),
        "the rejection names the email column: {path}"
    );
    assert_eq!(
        results[4]["error"]["details"]["fields"][0]["path"],
        "leads[4]"
    );
    let all = ctx.all_leads(&ctx.admin, "").await;
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|l| l["company"] != "Broken"));
    // The same lead twice in one batch never makes two leads: the second
    // is applied on top or refused as a duplicate of the batch.
    let r = ctx
        .post(
            "/api/v1/leads/bulk",
            &ctx.marketing,
            json!({ "leads": [good_lead("c@gamma.com"), good_lead("c@gamma.com")] }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["created"], 1, "{r}");
    let second = &r["results"][1];
    assert!(
        second["status"] == "updated" && second["id"] == r["results"][0]["id"]
            || second["status"] == "rejected" && second["error"]["code"] == "duplicate_in_batch",
        "{r}"
    );
    assert_eq!(ctx.all_leads(&ctx.admin, "").await.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lead_sent_by_email_then_with_its_crm_id_stays_one_lead() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let web = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    // The CRM later sends the same person with its own id.
    let crm = ctx
        .post(
            "/api/v1/leads",
            &ctx.manager,
            json!({ "external_id": "crm-77", "email": "ann@acme-corp.com", "title": "CTO" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(crm["id"], web["id"]);
    assert_eq!(crm["external_id"], "crm-77");
    assert_eq!(crm["fields"]["title"], "CTO");
    // From then on the CRM id finds it too.
    let again = ctx
        .post(
            "/api/v1/leads",
            &ctx.manager,
            json!({ "external_id": "crm-77", "city": "Austin" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["id"], web["id"]);
    assert_eq!(ctx.all_leads(&ctx.admin, "").await.len(), 1);
}

/// Leads with a spread of grades and engagement.
async fn seed(ctx: &Ctx) -> Vec<String> {
    ctx.publish(DEFAULT_MODEL).await;
    let docs = vec![
        good_lead("a1@alpha.com"),
        json!({ "email": "b@beta.com", "company": "Beta", "employees": 300, "industry": "logistics", "title": "Director of IT", "country": "DE", "source": "referral" }),
        poor_lead("c@gmail.com"),
        json!({ "email": "d@delta.com", "company": "Delta", "employees": 60, "industry": "software", "country": "FR", "source": "web" }),
        good_lead("e@epsilon.com"),
        json!({ "email": "f@gmail.com", "company": "Foxtrot", "employees": 20, "source": "paid social" }),
        json!({ "email": "g@golf.com", "company": "Golf Software", "employees": 250, "industry": "fintech", "title": "VP Engineering", "country": "US", "source": "web" }),
    ];
    let mut ids = Vec::new();
    for d in docs {
        ids.push(ctx.create_lead(d).await["id"].as_str().unwrap().to_string());
    }
    // Engagement for some of them (the second good lead becomes hot).
    let events = json!({ "events": [
        { "lead_id": ids[4], "type": "demo_request", "idempotency_key": "s1" },
        { "lead_id": ids[4], "type": "page_view", "properties": { "url": "/pricing" }, "idempotency_key": "s2" },
        { "lead_id": ids[3], "type": "form_submit", "idempotency_key": "s3" },
        { "lead_id": ids[2], "type": "webinar_attended", "idempotency_key": "s4" },
    ]});
    let r = ctx
        .post("/api/v1/events/batch?wait=true", &ctx.marketing, events)
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(r["accepted"], 4, "{r}");
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_is_sorted_by_priority_then_score() {
    let ctx = Ctx::new();
    let ids = seed(&ctx).await;
    let model = CompiledModel::from_toml(DEFAULT_MODEL).unwrap();
    let leads = ctx
        .get("/api/v1/leads", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    let leads = leads["leads"].as_array().unwrap();
    assert_eq!(leads.len(), ids.len());
    let keys: Vec<(u8, f64)> = leads
        .iter()
        .map(|l| {
            let p = Priority::parse(l["score"]["priority"].as_str().unwrap()).expect("a priority");
            (
                model.priority_rank(p),
                l["score"]["score"].as_f64().unwrap(),
            )
        })
        .collect();
    for w in keys.windows(2) {
        assert!(
            w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 >= w[1].1),
            "out of order: {keys:?}"
        );
    }
    assert_eq!(leads[0]["id"], ids[4], "the hot A lead comes first");
    let distinct: BTreeSet<u8> = keys.iter().map(|k| k.0).collect();
    assert!(
        distinct.len() >= 3,
        "the seed spreads over priorities: {keys:?}"
    );

    let by_score = ctx
        .get("/api/v1/leads?sort=score", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    let scores: Vec<f64> = by_score["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["score"]["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_select_by_stage_grade_and_search() {
    let ctx = Ctx::new();
    let ids = seed(&ctx).await;
    ctx.transition(&ids[1], &ctx.manager, "working", None).await;

    let working = ctx.all_leads(&ctx.admin, "&stage=working").await;
    assert_eq!(ids_of(&working), vec![ids[1].clone()]);
    let working = ctx.all_leads(&ctx.admin, "&stage=WORKING").await;
    assert_eq!(working.len(), 1, "stage names ignore case");

    let all = ctx.all_leads(&ctx.admin, "").await;
    for grade in ["A", "B", "C", "D"] {
        let want: BTreeSet<String> = all
            .iter()
            .filter(|l| l["score"]["grade"] == grade)
            .map(|l| l["id"].as_str().unwrap().to_string())
            .collect();
        let got: BTreeSet<String> = ids_of(
            &ctx.all_leads(&ctx.admin, &format!("&grade={}", grade.to_lowercase()))
                .await,
        )
        .into_iter()
        .collect();
        assert_eq!(got, want, "grade {grade}");
    }
    assert!(
        all.iter().any(|l| l["score"]["grade"] == "A")
            && all.iter().any(|l| l["score"]["grade"] == "D")
    );

    assert_eq!(
        ids_of(&ctx.all_leads(&ctx.admin, "&q=golf").await),
        vec![ids[6].clone()],
        "search by company"
    );
    assert_eq!(
        ids_of(&ctx.all_leads(&ctx.admin, "&q=B%40BETA").await),
        vec![ids[1].clone()],
        "search by email, any case"
    );
    assert_eq!(
        ctx.all_leads(&ctx.admin, &format!("&q={}", &ids[3]))
            .await
            .len(),
        1,
        "search by id"
    );
    assert_eq!(
        ctx.all_leads(&ctx.admin, "&q=%25").await.len(),
        0,
        "% is searched literally"
    );
    let referral = ctx.all_leads(&ctx.admin, "&source=Referral").await;
    assert_eq!(ids_of(&referral), vec![ids[1].clone()]);
    let mql = ctx.all_leads(&ctx.admin, "&mql=true").await;
    assert!(mql.iter().all(|l| l["score"]["mql"] == true));
    assert!(
        mql.iter().any(|l| l["id"] == ids[4].as_str()),
        "the hot lead is an MQL"
    );
    // Combined filters.
    assert_eq!(
        ctx.all_leads(&ctx.admin, "&stage=working&grade=D")
            .await
            .len(),
        0
    );
}

fn ids_of(leads: &[Value]) -> Vec<String> {
    ids(leads)
}

#[tokio::test(flavor = "multi_thread")]
async fn cursor_pagination_visits_every_lead_exactly_once() {
    let ctx = Ctx::new();
    let ids = seed(&ctx).await;
    for sort in ["priority", "score", "created"] {
        let full = ctx
            .get(&format!("/api/v1/leads?limit=1000&sort={sort}"), &ctx.admin)
            .await
            .expect(StatusCode::OK);
        let full = ids_of(full["leads"].as_array().unwrap());
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/v1/leads?limit=2&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", enc(c)));
            }
            let page = ctx.get(&path, &ctx.admin).await.expect(StatusCode::OK);
            let leads = page["leads"].as_array().unwrap();
            assert!(leads.len() <= 2);
            walked.extend(ids_of(leads));
            pages += 1;
            assert!(pages <= ids.len(), "pagination ends");
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(
            walked, full,
            "sort {sort}: the pages concatenate to the full list"
        );
        let unique: BTreeSet<&String> = walked.iter().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "sort {sort}: every lead exactly once"
        );
        assert_eq!(pages, ids.len().div_ceil(2), "sort {sort}");
    }
    let r = ctx
        .get("/api/v1/leads?limit=2&cursor=bm9wZQ", &ctx.admin)
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["error"]["details"]["fields"][0]["path"], "cursor");
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_merges_fields_and_rescores() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    let id = lead["id"].as_str().unwrap();
    assert_eq!(lead["score"]["grade"], "A");

    let patched = ctx
        .patch(
            &format!("/api/v1/leads/{id}"),
            &ctx.manager,
            json!({ "employees": 5, "city": "Austin" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched["fields"]["employees"], 5);
    assert_eq!(patched["fields"]["city"], "Austin");
    assert_eq!(
        patched["fields"]["company"], "Acme Corp",
        "other fields are kept"
    );
    assert_eq!(patched["email"], "ann@acme-corp.com");
    assert_eq!(
        patched["score"]["fit"],
        66.0 - 20.0 - 10.0,
        "enterprise points go, the micro-company penalty comes: {patched}"
    );
    assert_eq!(patched["score"]["grade"], "C");
    let rules = reason_rules(&patched);
    assert!(
        rules.contains(&"Micro company (under 10)".to_string())
            && !rules.contains(&"Enterprise (1000+ employees)".to_string()),
        "{rules:?}"
    );

    // null clears a field.
    let cleared = ctx
        .patch(
            &format!("/api/v1/leads/{id}"),
            &ctx.manager,
            json!({ "employees": null }),
        )
        .await
        .expect(StatusCode::OK);
    assert!(cleared["fields"]["employees"].is_null());
    assert_eq!(cleared["score"]["fit"], 66.0 - 20.0);

    let h = ctx.history(id).await;
    let causes: Vec<&str> = h["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cause"].as_str().unwrap())
        .collect();
    assert_eq!(causes, ["created", "updated", "updated"], "{h}");

    // The id cannot change; a missing lead is 404; bad fields are 422.
    let r = ctx
        .patch(
            &format!("/api/v1/leads/{id}"),
            &ctx.manager,
            json!({ "id": "other" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx
        .patch(
            "/api/v1/leads/ld_missing",
            &ctx.manager,
            json!({ "city": "X" }),
        )
        .await;
    r.expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        ctx.all_leads(&ctx.admin, "").await.len(),
        1,
        "PATCH of a missing lead creates nothing"
    );
    let r = ctx
        .patch(
            &format!("/api/v1/leads/{id}"),
            &ctx.manager,
            json!({ "email": "broken" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(ctx.lead(id).await["email"], "ann@acme-corp.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_the_lead_then_it_is_not_found() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    let other = ctx.create_lead(good_lead("bob@acme-corp.com")).await;
    let id = lead["id"].as_str().unwrap();
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": id, "type": "demo_request" }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    let r = ctx
        .delete(&format!("/api/v1/leads/{id}"), &ctx.marketing)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.body, Value::Null, "204 has no body");
    ctx.get(&format!("/api/v1/leads/{id}"), &ctx.admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.get(&format!("/api/v1/leads/{id}/history"), &ctx.admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.get(&format!("/api/v1/leads/{id}/events"), &ctx.admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.delete(&format!("/api/v1/leads/{id}"), &ctx.marketing)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        ids_of(&ctx.all_leads(&ctx.admin, "").await),
        vec![other["id"].as_str().unwrap().to_string()]
    );
    // Re-sending the deleted lead creates a new one.
    let back = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    assert_ne!(back["id"], lead["id"]);
    assert_eq!(
        back["score"]["engagement"], 0.0,
        "the old events went with the lead"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_open_filter_leaves_out_won_lost_and_disqualified_leads() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let open = ctx.create_lead(good_lead("open@acme-corp.com")).await;
    let gone = ctx.create_lead(good_lead("gone@acme-corp.com")).await;
    ctx.transition(
        gone["id"].as_str().unwrap(),
        &ctx.manager,
        "disqualified",
        Some("no budget"),
    )
    .await;
    assert_eq!(ctx.all_leads(&ctx.admin, "").await.len(), 2);
    assert_eq!(
        ids_of(&ctx.all_leads(&ctx.admin, "&open=true").await),
        vec![open["id"].as_str().unwrap().to_string()]
    );
}
