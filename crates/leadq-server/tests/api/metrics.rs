//! Business metrics over leads with known outcomes and spend.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{json, Value};

async fn walk(ctx: &Ctx, id: &str, path: &[(&str, Option<&str>)]) {
    for (to, reason) in path {
        ctx.transition(id, &ctx.manager, to, *reason).await;
    }
}

fn group<'a>(m: &'a Value, name: &str) -> &'a Value {
    m["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("group {name} in {m}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_by_source_count_outcomes_conversion_and_cost_per_qualified_lead() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "sql_framework": "none" }),
    )
    .await
    .expect(StatusCode::OK);
    let mut web = Vec::new();
    for i in 0..3 {
        let mut doc = poor_lead(&format!("w{i}@gmail.com"));
        doc["source"] = json!("web");
        web.push(
            ctx.create_lead(doc).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut referral = Vec::new();
    for i in 0..2 {
        let mut doc = poor_lead(&format!("r{i}@gmail.com"));
        doc["source"] = json!("Referral");
        referral.push(
            ctx.create_lead(doc).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let won = [
        ("mql", None),
        ("sal", None),
        ("sql", None),
        ("opportunity", None),
        ("won", None),
    ];
    let lost = [
        ("mql", None),
        ("sal", None),
        ("sql", None),
        ("opportunity", None),
        ("lost", Some("chose a competitor")),
    ];
    walk(&ctx, &web[0], &won).await;
    walk(&ctx, &web[1], &lost).await;
    walk(&ctx, &referral[0], &won[1..]).await;
    ctx.transition(&web[2], &ctx.manager, "working", None).await;
    // Closed leads cannot move on.
    ctx.post(
        &format!("/api/v1/leads/{}/transitions", web[0]),
        &ctx.manager,
        json!({ "to": "lost", "reason": "x" }),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "not_allowed");

    let spend = json!({ "spend": [
        { "source": "web", "campaign": "autumn", "period_start": "2026-11-01", "amount": 600.0 },
        { "source": "web", "campaign": "brand", "period_start": "2026-10-15", "amount": 400.0 },
        { "source": "referral", "period_start": "2026-11-01", "amount": 300.0 },
        { "source": "web", "period_start": "2025-01-01", "amount": 99999.0 },
    ]});
    let r = ctx
        .put("/api/v1/spend", &ctx.marketing, spend)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["stored"], 4);
    let r = ctx
        .put(
            "/api/v1/spend",
            &ctx.marketing,
            json!({ "spend": [{ "source": "web", "period_start": "November", "amount": 1.0 }] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"],
        "spend[0].period_start"
    );
    let r = ctx
        .put(
            "/api/v1/spend",
            &ctx.marketing,
            json!({ "spend": [{ "source": "web", "period_start": "2026-11-01", "amount": -5.0 }] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let m = ctx
        .get("/api/v1/metrics?group_by=source", &ctx.manager)
        .await
        .expect(StatusCode::OK);
    assert_eq!(m["group_by"], "source");
    let t = &m["total"];
    assert_eq!(
        (t["leads"].as_u64(), t["won"].as_u64(), t["lost"].as_u64()),
        (Some(5), Some(2), Some(1)),
        "{m}"
    );
    // Reaching SAL or later implies the MQL qualification (the referral
    // lead skipped MQL).
    assert_eq!(
        (t["mql"].as_u64(), t["sql"].as_u64()),
        (Some(3), Some(3)),
        "{m}"
    );
    assert_eq!(t["conversion_rate"], 0.4);
    assert_eq!(
        t["spend"], 1300.0,
        "spend outside the 30-day window is left out: {m}"
    );
    assert_eq!(t["cost_per_qualified_lead"], 433.33, "1300 over 3 MQLs");
    assert_eq!(t["qualification_rate"]["mql_per_lead"], 0.6);
    assert_eq!(t["qualification_rate"]["sql_per_mql"], 1.0);
    assert_eq!(
        t["response_time_minutes"]["responded"], 4,
        "four leads were moved by hand"
    );
    assert_eq!(t["sales_cycle_days"]["won"], 2);
    assert_eq!(t["scoring_accuracy"]["closed_leads"], 3);

    assert_eq!(m["groups"].as_array().unwrap().len(), 2, "{m}");
    let w = group(&m, "web");
    assert_eq!(
        (
            w["leads"].as_u64(),
            w["won"].as_u64(),
            w["lost"].as_u64(),
            w["mql"].as_u64(),
            w["sql"].as_u64()
        ),
        (Some(3), Some(1), Some(1), Some(2), Some(2)),
        "{w}"
    );
    assert_eq!(w["conversion_rate"], 0.3333);
    assert_eq!(w["spend"], 1000.0);
    assert_eq!(w["cost_per_qualified_lead"], 500.0);
    let r = group(&m, "referral");
    assert_eq!(
        (
            r["leads"].as_u64(),
            r["won"].as_u64(),
            r["mql"].as_u64(),
            r["sql"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(r["conversion_rate"], 0.5);
    assert_eq!(r["spend"], 300.0);
    assert_eq!(r["cost_per_qualified_lead"], 300.0);
    assert_eq!(
        w["qualification_rate"]["mql_per_lead"], 0.6667,
        "the web lead still in working is no MQL"
    );

    let by_campaign = ctx
        .get("/api/v1/metrics?group_by=campaign", &ctx.marketing)
        .await
        .expect(StatusCode::OK);
    assert_eq!(group(&by_campaign, "(none)")["leads"], 5);

    // A window that excludes the leads.
    let empty = ctx
        .get(
            "/api/v1/metrics?from=2026-01-01&to=2026-02-01",
            &ctx.manager,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(empty["total"]["leads"], 0);
    assert_eq!(empty["total"]["conversion_rate"], Value::Null);
}
