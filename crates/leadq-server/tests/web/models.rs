//! Web UI tests: the model list, editor, diff and backtest.

use crate::common::*;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

/// A draft stored through the API as marketing.
async fn draft(ctx: &Ctx, name: &str, source: &str) -> Value {
    ctx.post(
        "/api/v1/models",
        &ctx.marketing,
        json!({ "name": name, "source": source }),
    )
    .await
    .expect(StatusCode::CREATED)
}

/// The default model with one more fit rule at its end.
fn with_extra_rule() -> String {
    format!("{DEFAULT_MODEL}\n[[fit]]\nname = \"Partner referral bonus\"\nwhen = 'source == \"partner\"'\npoints = 4\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_editor_page_shows_the_model_source_in_a_labelled_textarea() {
    let ctx = Ctx::new();
    let published = ctx.publish(DEFAULT_MODEL).await;
    let mut b = ctx.browser("mia", "marketing", None).await;
    let html = b.get(&format!("/ui/models/{}", published["id"])).await.ok();
    assert!(html.contains(r#"<label for="source">"#), "{html}");
    assert!(
        html.contains(r#"<textarea class="code" id="source""#),
        "{html}"
    );
    // The source is in the textarea, escaped (the model quotes strings).
    assert!(
        html.contains("name = &quot;Default B2B model&quot;"),
        "{html}"
    );
    assert!(html.contains("Enterprise (1000+ employees)"));
    assert!(html.contains("Validate"));
    assert!(html.contains("Save as new draft"));
    assert!(html.contains(r#"data-api="/api/v1/models/backtest""#));
    // A published version is not published again.
    assert!(!html.contains(r#"id="publish""#));

    let missing = b.get("/ui/models/9999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let nonsense = b.get("/ui/models/abc").await;
    assert_eq!(nonsense.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_list_lists_a_published_version_and_a_draft_with_links_to_open_them() {
    let ctx = Ctx::new();
    let published = ctx.publish(DEFAULT_MODEL).await;
    let d = draft(&ctx, "Autumn experiment", &with_extra_rule()).await;
    let mut b = ctx.browser("mia", "marketing", None).await;
    let html = b.get("/ui/models").await.ok();
    assert!(html.contains("published (in use)"), "{html}");
    assert!(html.contains(&format!("draft #{} · Autumn experiment", d["id"])));
    assert!(html.contains(&format!(r#"href="/ui/models/{}""#, published["id"])));
    assert!(html.contains(&format!(r#"href="/ui/models/{}""#, d["id"])));
    assert!(html.contains("New draft from the published model (v1)"));
    assert!(html.contains(r#"action="/ui/models/diff""#));
    // The newest model comes first.
    let draft_at = html.find("Autumn experiment").unwrap();
    let published_at = html.find("v1 · test model").unwrap();
    assert!(draft_at < published_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_diff_page_marks_an_added_line_with_a_plus() {
    let ctx = Ctx::new();
    let published = ctx.publish(DEFAULT_MODEL).await;
    let d = draft(&ctx, "with a bonus", &with_extra_rule()).await;
    let mut b = ctx.browser("max", "manager", None).await;
    let html = b
        .get(&format!(
            "/ui/models/diff?from={}&to={}",
            published["id"], d["id"]
        ))
        .await
        .ok();
    assert!(
        html.contains(r#"<span class="add">+ name = &quot;Partner referral bonus&quot;</span>"#),
        "{html}"
    );
    assert!(html.contains(r#"<span class="add">+ points = 4</span>"#));
    assert!(
        !html.contains(r#"<span class="del">"#),
        "nothing was removed"
    );
    assert!(html.contains("5 lines added"), "{html}");
    // Swapped, the same lines are removed.
    let html = b
        .get(&format!(
            "/ui/models/diff?from={}&to={}",
            d["id"], published["id"]
        ))
        .await
        .ok();
    assert!(html.contains(r#"<span class="del">- points = 4</span>"#));
    let missing = b.get("/ui/models/diff?from=1&to=999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_sees_a_read_only_editor_without_publish_or_save_controls() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let d = draft(&ctx, "to review", &with_extra_rule()).await;
    let path = format!("/ui/models/{}", d["id"]);

    let mut mia = ctx.browser("mia", "marketing", None).await;
    let html = mia.get(&path).await.ok();
    assert!(
        html.contains(r#"id="publish""#),
        "marketing may publish a draft"
    );
    assert!(html.contains(&format!(r#"data-api="/api/v1/models/{}/publish""#, d["id"])));
    assert!(html.contains("data-confirm="));

    let mut max = ctx.browser("max", "manager", None).await;
    let html = max.get(&path).await.ok();
    assert!(
        html.contains("Partner referral bonus"),
        "managers read the source"
    );
    assert!(!html.contains(r#"id="publish""#), "{html}");
    assert!(!html.contains("/publish"));
    assert!(!html.contains("Save as new draft"));
    assert!(html.contains("readonly"));
    assert!(html.contains(r#"data-api="/api/v1/models/backtest""#));
    let html = max.get("/ui/models").await.ok();
    assert!(!html.contains("New draft from the published model"));
    // The API refuses a manager's publish anyway.
    let r = max
        .api(
            Method::POST,
            &format!("/api/v1/models/{}/publish", d["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backtest_through_the_session_returns_both_models() {
    let ctx = Ctx::new();
    let published = ctx.publish(DEFAULT_MODEL).await;
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "sql_framework": "none" }),
    )
    .await
    .expect(StatusCode::OK);
    let won = ctx.create_lead(poor_lead("w@gmail.com")).await;
    let lost = ctx.create_lead(poor_lead("l@gmail.com")).await;
    for to in ["mql", "sal", "sql", "opportunity", "won"] {
        ctx.transition(won["id"].as_str().unwrap(), &ctx.manager, to, None)
            .await;
    }
    ctx.transition(
        lost["id"].as_str().unwrap(),
        &ctx.manager,
        "disqualified",
        Some("student"),
    )
    .await;

    let mut b = ctx.browser("max", "manager", None).await;
    b.get(&format!("/ui/models/{}", published["id"])).await.ok();
    let r = b
        .api(
            Method::POST,
            "/api/v1/models/backtest",
            Some(json!({ "source": with_extra_rule(), "against": published["id"] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["candidate"]["model"]["status"], "unsaved");
    assert_eq!(r.body["against"]["model"]["id"], published["id"]);
    for side in ["candidate", "against"] {
        assert_eq!(r.body[side]["leads"], 2, "{}", r.body);
        assert_eq!(r.body[side]["converted"], 1);
    }
    assert_eq!(r.body["outcomes"]["disqualified"], 1);

    // Without the CSRF header the session may not call it.
    b.csrf = String::new();
    let r = b
        .api(
            Method::POST,
            "/api/v1/models/backtest",
            Some(json!({ "source": DEFAULT_MODEL })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}
