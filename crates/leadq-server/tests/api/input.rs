//! Bad input is a clear 4xx with the API's error body, never a 500.

use crate::common::*;
use axum::http::{Method, StatusCode};
use leadq_server::ServerConfig;
use serde_json::json;

async fn ctx_with_lead() -> (Ctx, String) {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    let id = lead["id"].as_str().unwrap().to_string();
    (ctx, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_400_with_line_and_column() {
    let (ctx, id) = ctx_with_lead().await;
    let r = ctx
        .raw(
            Method::POST,
            &format!("/api/v1/leads/{id}/transitions"),
            Some(&ctx.manager),
            "{\n  \"to\": \"working\",\n  oops\n}",
        )
        .await;
    r.expect_error(StatusCode::BAD_REQUEST, "malformed_json");
    assert_eq!(r.body["error"]["details"]["line"], 3, "{}", r.body);
    assert!(
        r.body["error"]["details"]["column"]
            .as_u64()
            .is_some_and(|c| c >= 1),
        "{}",
        r.body
    );

    // Truncated documents are malformed too.
    let r = ctx
        .raw(
            Method::POST,
            "/api/v1/leads",
            Some(&ctx.marketing),
            "{\"email\": \"a@b.com\"",
        )
        .await;
    r.expect_error(StatusCode::BAD_REQUEST, "malformed_json");
    assert_eq!(r.body["error"]["details"]["line"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_type_is_422_naming_the_field_path() {
    let (ctx, id) = ctx_with_lead().await;
    let r = ctx
        .post(
            &format!("/api/v1/leads/{id}/transitions"),
            &ctx.manager,
            json!({ "to": 5 }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"], "to",
        "{}",
        r.body
    );

    let r = ctx
        .post(
            "/api/v1/events",
            &ctx.marketing,
            json!({ "lead_id": id, "type": 3 }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"], "type",
        "{}",
        r.body
    );

    // Nested paths are given in full.
    let r = ctx.post("/api/v1/events/batch", &ctx.marketing, json!({ "events": [{ "lead_id": id, "type": "page_view" }, { "lead_id": id, "type": ["x"] }] })).await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"], "events[1].type",
        "{}",
        r.body
    );

    // A body of the wrong shape altogether.
    let r = ctx
        .post(
            &format!("/api/v1/leads/{id}/transitions"),
            &ctx.manager,
            json!(["working"]),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx
        .post("/api/v1/leads", &ctx.marketing, json!("ann@acme-corp.com"))
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_field_on_a_strict_body_is_422() {
    let (ctx, id) = ctx_with_lead().await;
    let r = ctx
        .post(
            &format!("/api/v1/leads/{id}/transitions"),
            &ctx.manager,
            json!({ "to": "working", "bogus": 1 }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bogus"),
        "{}",
        r.body
    );
    // The lead did not move.
    assert_eq!(ctx.lead(&id).await["stage"], "new");

    let r = ctx
        .put(
            "/api/v1/settings",
            &ctx.admin,
            json!({ "reps_see_everything": true }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_body_is_400() {
    let (ctx, id) = ctx_with_lead().await;
    for body in ["", "   \n"] {
        let r = ctx
            .raw(
                Method::POST,
                &format!("/api/v1/leads/{id}/transitions"),
                Some(&ctx.manager),
                body,
            )
            .await;
        r.expect_error(StatusCode::BAD_REQUEST, "bad_request");
        let r = ctx
            .raw(Method::POST, "/api/v1/leads", Some(&ctx.marketing), body)
            .await;
        r.expect_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let r = ctx
        .raw(Method::POST, "/api/v1/imports", Some(&ctx.marketing), "")
        .await;
    r.expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_is_400() {
    let (ctx, id) = ctx_with_lead().await;
    let bytes: Vec<u8> = b"{\"to\": \"work\xff\xfeing\"}".to_vec();
    let r = ctx
        .raw(
            Method::POST,
            &format!("/api/v1/leads/{id}/transitions"),
            Some(&ctx.manager),
            bytes,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.code(), "malformed_json");
    let bytes: Vec<u8> = b"{\"email\": \"\xc3\x28@x.com\"}".to_vec();
    let r = ctx
        .raw(Method::POST, "/api/v1/leads", Some(&ctx.marketing), bytes)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_413() {
    let ctx = Ctx::with_config(ServerConfig {
        body_limit: 1024,
        ..Default::default()
    });
    let big = json!({ "email": "big@acme-corp.com", "notes": "x".repeat(2000) });
    let r = ctx.post("/api/v1/leads", &ctx.marketing, big).await;
    r.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let r = ctx
        .raw(
            Method::POST,
            "/api/v1/imports",
            Some(&ctx.marketing),
            format!("email\n{}", "a@b.com\n".repeat(200)),
        )
        .await;
    r.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Under the limit is fine.
    let r = ctx
        .post(
            "/api/v1/leads",
            &ctx.marketing,
            json!({ "email": "small@acme-corp.com" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let all = ctx.all_leads(&ctx.admin, "").await;
    assert_eq!(all.len(), 1, "the oversized lead was not stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_lead_field_values_are_422_naming_the_field() {
    let (ctx, _) = ctx_with_lead().await;
    let r = ctx
        .post(
            "/api/v1/leads",
            &ctx.marketing,
            json!({ "email": "x@acme-corp.com", "address": { "city": "Berlin" } }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"], "address",
        "{}",
        r.body
    );
    let r = ctx
        .post(
            "/api/v1/leads",
            &ctx.marketing,
            json!({ "email": "x@acme-corp.com", "tags": ["a"] }),
        )
        .await;
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"], "tags",
        "{}",
        r.body
    );
    // Service-owned keys are refused as fields.
    let r = ctx
        .post(
            "/api/v1/leads",
            &ctx.marketing,
            json!({ "email": "x@acme-corp.com", "stage": "won" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["error"]["details"]["fields"][0]["path"], "stage");
    // In a bulk body the path names the item.
    let r = ctx
        .post(
            "/api/v1/leads/bulk",
            &ctx.marketing,
            json!({ "leads": [{ "email": "y@acme-corp.com", "meta": {} }] }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        r["results"][0]["error"]["details"]["fields"][0]["path"], "leads[0].meta",
        "{r}"
    );
    assert_eq!(
        ctx.all_leads(&ctx.admin, "").await.len(),
        1,
        "nothing but the first lead was stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_email_is_422_naming_the_email_column() {
    let (ctx, _) = ctx_with_lead().await;
    let r = ctx
        .post(
            "/api/v1/leads",
            &ctx.marketing,
            json!({ "email": "not-an-email", "company": "X" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"], "email",
        "{}",
        r.body
    );
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["value"], "not-an-email",
        "{}",
        r.body
    );
    let r = ctx
        .post(
            "/api/v1/leads",
            &ctx.marketing,
            json!({ "email": "y@acme-corp.com", "employees": "lots" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"], "employees",
        "{}",
        r.body
    );
    assert_eq!(ctx.all_leads(&ctx.admin, "").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_query_parameters_are_422_not_500() {
    let (ctx, id) = ctx_with_lead().await;
    for q in [
        "limit=0",
        "limit=5000",
        "limit=abc",
        "sort=random",
        "stage=limbo",
        "mql=perhaps",
        "cursor=not-a-cursor",
        "unknown=1",
    ] {
        let r = ctx.get(&format!("/api/v1/leads?{q}"), &ctx.admin).await;
        r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let r = ctx
        .get(
            &format!("/api/v1/leads/{id}/score-at?at=yesterday"),
            &ctx.admin,
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx
        .get(&format!("/api/v1/leads/{id}/score-at"), &ctx.admin)
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx
        .get("/api/v1/metrics?group_by=planet", &ctx.manager)
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx
        .get(
            "/api/v1/metrics?from=2026-12-01&to=2026-11-01",
            &ctx.manager,
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx.get("/api/v1/models/diff?from=1", &ctx.manager).await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ctx.get("/api/v1/models/abc", &ctx.manager).await;
    assert!(r.status.is_client_error(), "{} {}", r.status, r.body);
}
