//! Backtests over the stored leads with known outcomes.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

/// The default model with every rule's points negated: it ranks the leads
/// the default model likes last.
pub fn inverted_model() -> String {
    DEFAULT_MODEL
        .lines()
        .map(|l| match l.strip_prefix("points = ") {
            Some(p) => {
                let x: f64 = p.trim().parse().expect("points are numbers");
                format!("points = {}", -x)
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("name = \"Default B2B model\"", "name = \"Inverted model\"")
}

/// Walks a lead from wherever it stands to `to`: won, lost or disqualified.
pub async fn close(ctx: &Ctx, id: &str, to: &str) {
    if to == "disqualified" {
        ctx.transition(id, &ctx.manager, "disqualified", Some("no budget"))
            .await;
        return;
    }
    let stage = ctx.lead(id).await["stage"].as_str().unwrap().to_string();
    let path = ["mql", "sal", "sql", "opportunity"];
    let start = path.iter().position(|s| *s == stage).map_or(0, |i| i + 1);
    for s in &path[start..] {
        ctx.transition(id, &ctx.manager, s, None).await;
    }
    let reason = (to == "lost").then_some("chose a competitor");
    ctx.transition(id, &ctx.manager, to, reason).await;
}

/// A store where good fit goes with winning: 6 good leads (4 won, 2 lost),
/// 6 poor ones (1 won, 3 lost, 2 disqualified) and 2 still open.
async fn store_with_outcomes(ctx: &Ctx) -> Value {
    let published = ctx.publish(DEFAULT_MODEL).await;
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "sql_framework": "none" }),
    )
    .await
    .expect(StatusCode::OK);
    let good = ["won", "won", "won", "won", "lost", "lost"];
    let poor = [
        "won",
        "lost",
        "lost",
        "lost",
        "disqualified",
        "disqualified",
    ];
    for (i, to) in good.iter().enumerate() {
        let l = ctx
            .create_lead(good_lead(&format!("g{i}@acme-corp.com")))
            .await;
        close(ctx, l["id"].as_str().unwrap(), to).await;
    }
    for (i, to) in poor.iter().enumerate() {
        let l = ctx.create_lead(poor_lead(&format!("p{i}@gmail.com"))).await;
        close(ctx, l["id"].as_str().unwrap(), to).await;
    }
    ctx.create_lead(good_lead("open1@acme-corp.com")).await;
    ctx.create_lead(poor_lead("open2@gmail.com")).await;
    published
}

fn sum_of(groups: &Value, key: &str) -> u64 {
    groups
        .as_object()
        .expect("groups are an object")
        .values()
        .map(|g| g[key].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backtest_ranks_won_leads_first_with_the_default_model_and_last_with_an_inverted_one() {
    let ctx = Ctx::new();
    let published = store_with_outcomes(&ctx).await;
    let r = ctx
        .post(
            "/api/v1/models/backtest",
            &ctx.marketing,
            json!({ "source": inverted_model() }),
        )
        .await
        .expect(StatusCode::OK);

    assert_eq!(r["outcomes"]["won"], 5, "{r}");
    assert_eq!(r["outcomes"]["lost"], 5);
    assert_eq!(r["outcomes"]["disqualified"], 2);
    assert_eq!(r["outcomes"]["open"], 2);
    assert!(r["outcomes"]["rule"]
        .as_str()
        .unwrap()
        .contains("disqualified count as not converted"));

    let (cand, against) = (&r["candidate"], &r["against"]);
    assert_eq!(cand["model"]["name"], "Inverted model");
    assert_eq!(cand["model"]["status"], "unsaved");
    assert_eq!(against["model"]["id"], published["id"]);
    for m in [cand, against] {
        assert_eq!(m["leads"], 12, "every closed lead is evaluated: {m}");
        assert_eq!(m["converted"], 5);
        assert_eq!(sum_of(&m["by_grade"], "leads"), 12);
        assert_eq!(sum_of(&m["by_priority"], "leads"), 12);
        assert_eq!(sum_of(&m["by_grade"], "converted"), 5);
    }
    let auc = |m: &Value| {
        m["auc"]
            .as_f64()
            .expect("an AUC with both outcomes present")
    };
    assert!(
        auc(against) > 0.5,
        "the default model ranks won leads first: {against}"
    );
    assert!(
        auc(cand) < auc(against),
        "the inverted model ranks worse: {} vs {}",
        auc(cand),
        auc(against)
    );
    assert!(auc(cand) < 0.5);
    // Good leads are grade A under the default model: 4 of its 6 A leads won.
    assert_eq!(against["by_grade"]["A"]["leads"], 6, "{against}");
    assert_eq!(against["by_grade"]["A"]["converted"], 4);
    assert!(against["top20_share"].as_f64().unwrap() > cand["top20_share"].as_f64().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backtest_writes_nothing() {
    let ctx = Ctx::new();
    store_with_outcomes(&ctx).await;
    let before = ctx.all_leads(&ctx.admin, "").await;
    let models_before = ctx
        .get("/api/v1/models", &ctx.marketing)
        .await
        .expect(StatusCode::OK);
    ctx.clock.advance(86_400_000);
    ctx.post(
        "/api/v1/models/backtest",
        &ctx.manager,
        json!({ "source": inverted_model() }),
    )
    .await
    .expect(StatusCode::OK);
    let after = ctx.all_leads(&ctx.admin, "").await;
    let versions = |leads: &[Value]| {
        let mut v: Vec<(String, i64, Value)> = leads
            .iter()
            .map(|l| {
                (
                    l["id"].as_str().unwrap().to_string(),
                    l["version"].as_i64().unwrap(),
                    l["score"].clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(versions(&before), versions(&after));
    let models_after = ctx
        .get("/api/v1/models", &ctx.marketing)
        .await
        .expect(StatusCode::OK);
    assert_eq!(models_before, models_after, "no model is stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backtest_of_a_source_that_does_not_compile_names_the_line_and_column() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let broken =
        DEFAULT_MODEL.replacen("when = \"employees >= 1000\"", "when = \"employees >=\"", 1);
    assert_ne!(broken, DEFAULT_MODEL, "the test breaks a rule");
    let r = ctx
        .post(
            "/api/v1/models/backtest",
            &ctx.marketing,
            json!({ "source": broken }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_model");
    let line = DEFAULT_MODEL
        .lines()
        .position(|l| l == "when = \"employees >= 1000\"")
        .unwrap() as u64
        + 1;
    assert_eq!(r.body["error"]["details"]["line"], line, "{}", r.body);
    assert!(r.body["error"]["details"]["column"].as_u64().is_some());
    assert_eq!(
        r.body["error"]["details"]["rule"],
        "Enterprise (1000+ employees)"
    );

    let r = ctx
        .post(
            "/api/v1/models/backtest",
            &ctx.marketing,
            json!({ "source": "name = \"x\"\n[grades\nA = 1\n" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_model");
    assert_eq!(r.body["error"]["details"]["line"], 2, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backtest_without_closed_leads_says_that_no_outcome_is_known() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.create_lead(good_lead("open@acme-corp.com")).await;
    let r = ctx
        .post(
            "/api/v1/models/backtest",
            &ctx.marketing,
            json!({ "source": DEFAULT_MODEL }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "no_outcomes");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("known outcome"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backtest_tries_a_stored_draft_against_a_chosen_model_and_refuses_unclear_requests() {
    let ctx = Ctx::new();
    let published = store_with_outcomes(&ctx).await;
    let draft = ctx
        .post(
            "/api/v1/models",
            &ctx.marketing,
            json!({ "name": "upside down", "source": inverted_model() }),
        )
        .await
        .expect(StatusCode::CREATED);
    // The draft against itself: the same figures on both sides.
    let r = ctx
        .post(
            "/api/v1/models/backtest",
            &ctx.manager,
            json!({ "model_id": draft["id"], "against": draft["id"] }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["candidate"]["model"]["id"], draft["id"]);
    assert_eq!(r["candidate"]["model"]["status"], "draft");
    assert_eq!(r["candidate"]["auc"], r["against"]["auc"]);
    assert_eq!(r["candidate"]["by_priority"], r["against"]["by_priority"]);
    // The published model against the draft: better.
    let r = ctx
        .post(
            "/api/v1/models/backtest",
            &ctx.marketing,
            json!({ "model_id": published["id"], "against": draft["id"] }),
        )
        .await
        .expect(StatusCode::OK);
    assert!(r["candidate"]["auc"].as_f64() > r["against"]["auc"].as_f64());

    let r = ctx
        .post(
            "/api/v1/models/backtest",
            &ctx.marketing,
            json!({ "model_id": 999 }),
        )
        .await;
    r.expect_error(StatusCode::NOT_FOUND, "not_found");
    let r = ctx
        .post(
            "/api/v1/models/backtest",
            &ctx.marketing,
            json!({ "source": DEFAULT_MODEL, "model_id": draft["id"] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx
        .post("/api/v1/models/backtest", &ctx.marketing, json!({}))
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
