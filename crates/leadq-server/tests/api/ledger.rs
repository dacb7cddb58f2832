//! The score ledger replays: the score at any past instant is recomputed
//! from the recorded inputs and model version, and matches.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::json;

const HOUR: i64 = 3_600_000;

/// The default model with one fit rule worth more: every lead's score
/// changes, nothing else does.
fn revised_model() -> String {
    DEFAULT_MODEL.replace(
        "when = \"employees >= 1000\"\npoints = 20",
        "when = \"employees >= 1000\"\npoints = 30",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn score_at_replays_every_ledger_entry_and_matches_what_was_recorded() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("ann@acme-corp.com")).await;
    let id = lead["id"].as_str().unwrap().to_string();

    ctx.clock.advance(HOUR);
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": id, "type": "page_view", "properties": { "url": "/pricing" } }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    ctx.clock.advance(HOUR);
    ctx.publish(&revised_model()).await;
    ctx.clock.advance(HOUR);
    ctx.put(
        &format!("/api/v1/leads/{id}/frameworks/BANT"),
        &ctx.manager,
        json!({ "answers": { "budget": "confirmed" } }),
    )
    .await
    .expect(StatusCode::OK);
    ctx.clock.advance(HOUR);
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": id, "type": "demo_request", "at": rfc(t0() + 30 * 60_000) }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    ctx.clock.advance(HOUR);
    ctx.patch(
        &format!("/api/v1/leads/{id}"),
        &ctx.manager,
        json!({ "employees": 400 }),
    )
    .await
    .expect(StatusCode::OK);
    ctx.clock.advance(HOUR);

    let h = ctx.history(&id).await;
    let entries = h["scores"].as_array().unwrap();
    let causes: Vec<&str> = entries
        .iter()
        .map(|e| e["cause"].as_str().unwrap())
        .collect();
    assert_eq!(
        causes,
        ["created", "event", "publish", "answers", "event", "updated"],
        "{h}"
    );
    let versions: Vec<i64> = entries
        .iter()
        .map(|e| e["model_version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 1, 2, 2, 2, 2]);
    assert!(
        entries[4]["mql"] == true,
        "the demo request made it an MQL: {h}"
    );

    for (i, e) in entries.iter().enumerate() {
        let at = ms(e["at"].as_str().unwrap());
        assert_eq!(
            at,
            t0() + i as i64 * HOUR,
            "entry {i} was recorded when its change happened"
        );
        for probe in [at, at + HOUR / 2, at + HOUR - 1] {
            let r = ctx
                .get(
                    &format!("/api/v1/leads/{id}/score-at?at={}", enc(&rfc(probe))),
                    &ctx.admin,
                )
                .await
                .expect(StatusCode::OK);
            assert_eq!(r["matches"], true, "entry {i} at {}: {r}", rfc(probe));
            assert_eq!(
                r["ledger"]["recorded_at"],
                e["at"],
                "the entry in effect at {}",
                rfc(probe)
            );
            assert_eq!(r["ledger"]["cause"], e["cause"]);
            assert_eq!(r["ledger"]["model_version"], e["model_version"]);
            for k in ["fit", "grade", "engagement", "band", "priority", "mql"] {
                assert_eq!(r["recomputed"][k], e[k], "entry {i}, {k}: {r}");
                assert_eq!(r["ledger"][k], e[k], "entry {i}, {k}");
            }
            assert_eq!(r["recomputed"]["reasons"], e["reasons"], "entry {i}");
        }
    }
    // The last entry is in effect from then on.
    let later = ctx
        .get(
            &format!(
                "/api/v1/leads/{id}/score-at?at={}",
                enc(&rfc(t0() + 100 * HOUR))
            ),
            &ctx.admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(later["ledger"]["cause"], "updated");
    assert_eq!(later["matches"], true);
    let current = ctx.lead(&id).await;
    assert_eq!(later["recomputed"]["fit"], current["score"]["fit"]);

    // Before the lead existed there is nothing to replay.
    let r = ctx
        .get(
            &format!("/api/v1/leads/{id}/score-at?at={}", enc(&rfc(t0() - 1))),
            &ctx.admin,
        )
        .await;
    r.expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.get(
        &format!("/api/v1/leads/ld_missing/score-at?at={}", enc(&rfc(t0()))),
        &ctx.admin,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_that_changes_only_the_model_keeps_the_inputs_once_and_replays_them() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let lead = ctx.create_lead(good_lead("bo@acme-corp.com")).await;
    let id = lead["id"].as_str().unwrap().to_string();
    ctx.clock.advance(HOUR);
    ctx.publish(&revised_model()).await;
    ctx.clock.advance(HOUR);
    // Then the inputs change: the next entry records them in full.
    ctx.patch(
        &format!("/api/v1/leads/{id}"),
        &ctx.manager,
        json!({ "employees": 400 }),
    )
    .await
    .expect(StatusCode::OK);

    // The store is synchronous (PostgreSQL's client blocks): off the runtime.
    let store = ctx.state.store.clone();
    let lead_id = id.clone();
    let entries = tokio::task::spawn_blocking(move || store.ledger_of(&lead_id).unwrap())
        .await
        .unwrap();
    let causes: Vec<&str> = entries.iter().map(|e| e.cause.as_str()).collect();
    assert_eq!(causes, ["created", "publish", "updated"]);
    assert!(entries[0].inputs.contains("bo@acme-corp.com"));
    assert_eq!(
        entries[1].inputs, entries[0].inputs,
        "the publish entry reads back with the inputs it was scored from"
    );
    assert_ne!(entries[2].inputs, entries[1].inputs);
    assert!(entries[2].inputs.contains("400"), "{}", entries[2].inputs);

    if !ctx.on_postgres() {
        // On disk the publish entry holds no copy of them.
        let db = rusqlite::Connection::open(ctx.data_dir().join("leadq.db")).unwrap();
        let stored: Vec<(String, i64)> = db
            .prepare("SELECT cause, length(inputs) FROM ledger WHERE lead_id = ?1 ORDER BY seq")
            .unwrap()
            .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored[1], ("publish".to_string(), 0), "{stored:?}");
        assert!(stored[0].1 > 0 && stored[2].1 > 0, "{stored:?}");
    }

    // Replaying the publish entry uses the inputs it shares.
    let at = entries[1].at;
    let r = ctx
        .get(
            &format!("/api/v1/leads/{id}/score-at?at={}", enc(&rfc(at + 1))),
            &ctx.admin,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["ledger"]["cause"], "publish", "{r}");
    assert_eq!(r["matches"], true, "{r}");
}
