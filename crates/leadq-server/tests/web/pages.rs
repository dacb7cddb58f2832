//! Web UI tests: every page's authorisation, and the queue.

use crate::browser::*;
use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;

/// Every page, with the roles besides admin that may open it.
/// `{lead}` and `{model}` are filled with real ids.
const PAGES: &[(&str, &[&str])] = &[
    ("/ui", &["rep", "manager", "marketing"]),
    ("/ui/leads/{lead}", &["rep", "manager", "marketing"]),
    ("/ui/import", &["marketing"]),
    ("/ui/models", &["marketing", "manager"]),
    ("/ui/models/{model}", &["marketing", "manager"]),
    ("/ui/predictive", &["marketing", "manager"]),
    ("/ui/dashboard", &["manager", "marketing"]),
    ("/ui/admin", &["manager"]),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_page_redirects_without_a_session_and_answers_each_role_as_the_table_says() {
    let ctx = Ctx::new();
    let model = ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 10).await;
    let lead = ctx.create_lead(good_lead("owned@example.com")).await;
    let lead_id = lead["id"].as_str().unwrap().to_string();
    // The lead belongs to rep-1, so the rep below may open it.
    ctx.post(
        &format!("/api/v1/leads/{lead_id}/assign"),
        &ctx.manager,
        json!({ "rep_id": "rep-1" }),
    )
    .await
    .expect(StatusCode::OK);
    let model_id = model["id"].as_i64().unwrap().to_string();
    let url = |p: &str| p.replace("{lead}", &lead_id).replace("{model}", &model_id);

    for (page, _) in PAGES {
        let mut anon = Browser::new(&ctx);
        let p = anon.get(&url(page)).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{page} without a session");
        assert!(p.location.unwrap().starts_with("/ui/login?next="));
    }
    for role in ["admin", "marketing", "manager", "rep"] {
        let rep_id = (role == "rep").then_some("rep-1");
        let mut b = ctx.browser(&format!("user-{role}"), role, rep_id).await;
        for (page, roles) in PAGES {
            let allowed = role == "admin" || roles.contains(&role);
            let p = b.get(&url(page)).await;
            if allowed {
                assert_eq!(p.status, StatusCode::OK, "{role} opens {page}: {}", p.html);
            } else {
                assert_eq!(p.status, StatusCode::FORBIDDEN, "{role} is refused {page}");
                assert!(p.html.contains("role"), "the refusal says why: {}", p.html);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn navigation_shows_only_the_sections_a_role_may_open() {
    let ctx = Ctx::new();
    let mut rep = ctx.browser("rita", "rep", Some("rep-1")).await;
    let html = rep.get("/ui").await.ok();
    assert!(html.contains(">Queue<"));
    for hidden in [
        ">Import<",
        ">Models<",
        ">Predictive<",
        ">Dashboard<",
        ">Admin<",
    ] {
        assert!(!html.contains(hidden), "a rep does not see {hidden}");
    }
    let mut admin = ctx.browser("root2", "admin", None).await;
    let html = admin.get("/ui").await.ok();
    for shown in [
        ">Queue<",
        ">Import<",
        ">Models<",
        ">Predictive<",
        ">Dashboard<",
        ">Admin<",
    ] {
        assert!(html.contains(shown), "an admin sees {shown}");
    }
}

/// The lead ids of the queue's rows, in order.
pub fn queue_ids(html: &str) -> Vec<String> {
    html.split("<tr data-href=\"/ui/leads/")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_lists_open_leads_best_first_and_a_rep_sees_only_their_own() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 100).await;
    ctx.rep("rep-2", 100).await;
    let good = ctx.create_lead(good_lead("ceo@acme.example")).await;
    let weak = ctx
        .create_lead(json!({ "email": "someone@gmail.com", "company": "Tiny" }))
        .await;
    let other = ctx.create_lead(good_lead("cfo@acme.example")).await;
    let closed = ctx.create_lead(good_lead("cto@acme.example")).await;
    let id = |v: &serde_json::Value| v["id"].as_str().unwrap().to_string();
    for (lead, rep) in [
        (&good, "rep-1"),
        (&weak, "rep-1"),
        (&other, "rep-2"),
        (&closed, "rep-1"),
    ] {
        ctx.post(
            &format!("/api/v1/leads/{}/assign", id(lead)),
            &ctx.manager,
            json!({ "rep_id": rep }),
        )
        .await
        .expect(StatusCode::OK);
    }
    ctx.transition(
        &id(&closed),
        &ctx.manager,
        "disqualified",
        Some("duplicate"),
    )
    .await;

    let mut rep = ctx.browser("rita", "rep", Some("rep-1")).await;
    let html = rep.get("/ui").await.ok();
    assert_eq!(
        queue_ids(&html),
        vec![id(&good), id(&weak)],
        "own open leads, best first"
    );
    assert!(
        !html.contains("name=\"owner\""),
        "a rep cannot pick another owner"
    );

    let mut mgr = ctx.browser("max2", "manager", None).await;
    let all = queue_ids(&mgr.get("/ui").await.ok());
    assert_eq!(all.len(), 3, "a manager sees every open lead: {all:?}");
    assert_eq!(
        queue_ids(&mgr.get("/ui?owner=rep-2").await.ok()),
        vec![id(&other)]
    );
    assert_eq!(
        queue_ids(&mgr.get("/ui?stage=disqualified").await.ok()),
        vec![id(&closed)]
    );
    assert_eq!(
        queue_ids(&mgr.get("/ui?q=gmail").await.ok()),
        vec![id(&weak)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_shows_a_probability_once_a_predictive_model_is_trained() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut doc = good_lead("open@acme.example");
    doc["industry"] = json!("software");
    let open = ctx.create_lead(doc).await;
    let id = open["id"].as_str().unwrap().to_string();
    let mut b = ctx.browser("mia3", "marketing", None).await;

    let html = b.get("/ui").await.ok();
    assert!(
        html.contains("<th scope=\"col\" class=\"num\">Probability</th>"),
        "{html}"
    );
    assert!(!html.contains('%'), "no probability before a model: {html}");

    seed_outcomes(&ctx, "o", 400, t0() - 86_400_000);
    train_predictive(&ctx, json!({})).await;
    let p = ctx
        .get(&format!("/api/v1/leads/{id}/prediction"), &ctx.marketing)
        .await
        .expect(StatusCode::OK)["probability"]
        .as_f64()
        .unwrap();
    let html = b.get("/ui").await.ok();
    let cell = format!("<td class=\"num\">{:.0}%</td>", p * 100.0);
    assert!(html.contains(&cell), "{cell} in {html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_predictive_page_shows_models_with_their_metrics_and_offers_promotion_to_marketing_only(
) {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut marketer = ctx.browser("mia4", "marketing", None).await;
    let mut manager = ctx.browser("max4", "manager", None).await;

    let html = marketer.get("/ui/predictive").await.ok();
    assert!(html.contains("id=\"no-models\""), "{html}");
    assert!(
        html.contains("id=\"too-few\""),
        "too few outcomes are named: {html}"
    );
    assert!(html.contains("id=\"train\""), "marketing may train: {html}");
    let html = manager.get("/ui/predictive").await.ok();
    assert!(
        !html.contains("id=\"train\""),
        "a manager only reads: {html}"
    );

    seed_outcomes(&ctx, "p", 300, t0() - 86_400_000);
    train_predictive(&ctx, json!({})).await;
    let models = predictive_models(&ctx).await;
    let auc = models["models"][0]["metrics"]["cv"]["auc"]
        .as_f64()
        .unwrap();
    let html = marketer.get("/ui/predictive").await.ok();
    assert!(!html.contains("id=\"too-few\""), "{html}");
    assert!(html.contains("champion (in use)"), "{html}");
    assert!(
        html.contains(&format!("{auc:.3} ± ")),
        "the CV AUC {auc:.3} is shown: {html}"
    );
    assert!(
        !html.contains("id=\"promote\""),
        "nothing to promote yet: {html}"
    );
    assert!(html.contains("Fields left out and why"), "{html}");

    train_predictive(&ctx, json!({ "algorithm": "logistic" })).await;
    let html = marketer.get("/ui/predictive").await.ok();
    assert!(html.contains("challenger (shadow)"), "{html}");
    assert!(html.contains("Promote v2 to champion"), "{html}");
    assert!(html.contains(">logistic<"), "{html}");
    let html = manager.get("/ui/predictive").await.ok();
    assert!(html.contains("challenger (shadow)"), "{html}");
    assert!(
        !html.contains("Promote v2"),
        "a manager cannot promote: {html}"
    );
}
