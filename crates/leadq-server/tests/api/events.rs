//! Engagement events: scoring, idempotency, per-item errors.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;

async fn setup() -> (Ctx, String) {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(json!({ "email": "eve@example-co.com", "company": "Example Co", "employees": 300, "industry": "software" })).await;
    assert_eq!(lead["score"]["engagement"], 0.0);
    (ctx, lead["id"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn pricing_page_and_demo_request_events_raise_engagement() {
    let (ctx, id) = setup().await;
    let r = ctx
        .post("/api/v1/events", &ctx.marketing, json!({ "lead_id": id, "type": "page_view", "properties": { "url": "/pricing/enterprise" } }))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(r["accepted"], 1);
    assert_eq!(r["duplicates"], 0);
    let lead = ctx.lead(&id).await;
    assert_eq!(lead["score"]["engagement"], 8.0, "{lead}");
    assert_eq!(lead["score"]["band"], 3);
    let reason = lead["score"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "Pricing page")
        .cloned()
        .expect("the pricing rule fired");
    assert_eq!(reason["kind"], "engagement");
    assert_eq!(reason["events"], 1);

    // By email, with an explicit time in the past (decayed by its half-life).
    let r = ctx
        .post("/api/v1/events", &ctx.marketing, json!({ "email": "EVE@example-co.com", "type": "demo_request", "at": rfc(t0() - 30 * 86_400_000) }))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(r["accepted"], 1);
    let lead = ctx.lead(&id).await;
    assert_eq!(
        lead["score"]["engagement"],
        8.0 + 15.0,
        "a 30-day-old demo request is worth half of 30: {lead}"
    );
    assert_eq!(lead["score"]["band"], 2);

    // Event types the model does not listen to are stored but score nothing.
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": id, "type": "custom.thing" }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    assert_eq!(ctx.lead(&id).await["score"]["engagement"], 23.0);
    let evs = ctx
        .get(&format!("/api/v1/leads/{id}/events"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    let kinds: Vec<&str> = evs["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["demo_request", "page_view", "custom.thing"],
        "oldest first: {evs}"
    );
    assert_eq!(evs["events"][1]["properties"]["url"], "/pricing/enterprise");

    let h = ctx.history(&id).await;
    let causes: Vec<&str> = h["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cause"].as_str().unwrap())
        .collect();
    assert_eq!(
        causes,
        ["created", "event", "event"],
        "one ledger entry per change; none for the no-op event: {h}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_idempotency_key_is_counted_once() {
    let (ctx, id) = setup().await;
    let ev = json!({ "lead_id": id, "type": "demo_request", "idempotency_key": "form-123" });
    let first = ctx
        .post("/api/v1/events", &ctx.marketing, ev.clone())
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    let engaged = ctx.lead(&id).await["score"]["engagement"].clone();
    assert_eq!(engaged, 30.0);
    let second = ctx
        .post("/api/v1/events", &ctx.marketing, ev.clone())
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(
        (second["accepted"].as_u64(), second["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "{second}"
    );
    let lead = ctx.lead(&id).await;
    assert_eq!(lead["score"]["engagement"], engaged, "engagement unchanged");
    let evs = ctx
        .get(&format!("/api/v1/leads/{id}/events"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(evs["events"].as_array().unwrap().len(), 1);

    // Without a key, the same event (same type, time and properties) is a duplicate too.
    let auto = json!({ "lead_id": id, "type": "form_submit", "at": rfc(t0()), "properties": { "form": "contact" } });
    let a = ctx
        .post(
            "/api/v1/events/batch?wait=true",
            &ctx.marketing,
            json!({ "events": [auto.clone(), auto.clone()] }),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(
        (a["accepted"].as_u64(), a["duplicates"].as_u64()),
        (Some(1), Some(1)),
        "{a}"
    );
    assert_eq!(ctx.lead(&id).await["score"]["engagement"], 40.0);
    let evs = ctx
        .get(&format!("/api/v1/leads/{id}/events"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(evs["events"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_with_an_unknown_lead_rejects_only_that_item() {
    let (ctx, id) = setup().await;
    let body = json!({ "events": [
        { "lead_id": id, "type": "email_open", "idempotency_key": "b1" },
        { "lead_id": "ld_nobody", "type": "email_open", "idempotency_key": "b2" },
        { "email": "nobody@nowhere.com", "type": "email_open", "idempotency_key": "b3" },
        { "lead_id": id, "type": "email_click", "idempotency_key": "b4" },
        { "lead_id": id, "type": "bad type!", "idempotency_key": "b5" },
        { "lead_id": id, "type": "email_open", "at": "last tuesday", "idempotency_key": "b6" },
        { "type": "email_open", "idempotency_key": "b7" },
    ]});
    let r = ctx
        .post("/api/v1/events/batch?wait=true", &ctx.marketing, body)
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(r["accepted"], 2, "{r}");
    assert_eq!(r["rejected"], 5, "{r}");
    let errs = r["errors"].as_array().unwrap();
    let idx: Vec<u64> = errs.iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, [1, 2, 4, 5, 6]);
    let paths: Vec<&str> = errs
        .iter()
        .map(|e| e["error"]["details"]["fields"][0]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "events[1].lead_id",
            "events[2].email",
            "events[4].type",
            "events[5].at",
            "events[6]"
        ]
    );
    assert!(errs
        .iter()
        .all(|e| e["error"]["code"] == "validation_failed"));
    assert_eq!(ctx.lead(&id).await["score"]["engagement"], 1.0 + 3.0);

    // A single event for an unknown lead is a 422.
    let r = ctx
        .post(
            "/api/v1/events",
            &ctx.marketing,
            json!({ "lead_id": "ld_nobody", "type": "email_open" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let path = r.body["error"]["details"]["fields"][0]["path"]
        .as_str()
        .unwrap();
    assert!(path.ends_with("lead_id"), "{path}");
}
