//! Several servers on one PostgreSQL store: each catches up with what the
//! others change, and the ones still running take over the jobs of a
//! server that stopped once its heartbeat is older than the lease.

use crate::common::*;
use leadq_server::workers::{beat, INTERRUPTED, JOB_LEASE};
use leadq_store::JobRow;

async fn stored_job(ctx: &Ctx, id: &str) -> JobRow {
    let id = id.to_string();
    on_store(ctx, move |s| {
        s.job(&id).expect("read").expect("the job is kept")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rescore_whose_server_stopped_beating_is_failed_and_run_again_by_a_server_still_running()
{
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    for i in 0..30 {
        ctx.create_lead(good_lead(&format!("p{i}@acme-corp.com")))
            .await;
    }
    let now = ctx.state.clock.now_ms();
    let long_ago = now - 3 * JOB_LEASE.as_millis() as i64;

    // Another server published v2 and stopped in the middle of its
    // re-score: v2 is published in the store, its job still `running`
    // with no beat since long ago. This server still holds v1.
    let source = DEFAULT_MODEL.replace("points = 20\n", "points = 25\n");
    assert_ne!(source, DEFAULT_MODEL);
    let orphan = leadq_server::jobs::running("rescore", 30, long_ago);
    // A third server started an import as long ago but beats still.
    let alive = leadq_server::jobs::running("import", 8, long_ago);
    // And this server's own import, whose progress its beat records.
    let own = leadq_server::jobs::running("import", 9, long_ago);
    let v2 = {
        let (orphan, alive, own) = (orphan.clone(), alive.clone(), own.clone());
        on_store(&ctx, move |s| {
            let draft = s.create_model("v2", &source, "root", now).expect("a draft");
            let row = s.publish_model(draft.id, now).expect("published");
            for j in [orphan, alive.clone(), own] {
                s.put_job(j).expect("job");
            }
            s.beat_jobs(vec![(alive.id, 3, 8)], now).expect("beat");
            row.version.expect("a version")
        })
    };
    let progress = ctx.state.jobs.start(own.clone());
    progress.done.store(4, std::sync::atomic::Ordering::Relaxed);
    progress
        .total
        .store(9, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        ctx.state.model().expect("a model").version(),
        v2 - 1,
        "this server still scores with v1"
    );

    let resumed = beat(&ctx.state).await.expect("the beat runs");

    // The beat kept this server's job alive, with its progress.
    let mine = stored_job(&ctx, &own.id).await;
    assert_eq!(
        (mine.status.as_str(), mine.done, mine.total),
        ("running", 4, 9)
    );
    if !ctx.on_postgres() {
        // On SQLite one process owns the file: jobs of a stopped server
        // are recovered at start-up, not by the beat.
        assert!(resumed.is_none());
        assert_eq!(stored_job(&ctx, &orphan.id).await.status, "running");
        return;
    }
    let resumed = resumed.expect("the interrupted re-score starts again here");
    let job = ctx.wait_job(&resumed.id).await;
    assert_eq!(job["result"]["rescored"], 30, "{job}");
    let failed = stored_job(&ctx, &orphan.id).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.error.as_deref(), Some(INTERRUPTED));
    let other = stored_job(&ctx, &alive.id).await;
    assert_eq!(
        (other.status.as_str(), other.done),
        ("running", 3),
        "a job that still beats is left to its server"
    );
    // The re-score used the model the store holds as published.
    let leads = ctx.all_leads(&ctx.admin, "").await;
    assert_eq!(leads.len(), 30);
    for l in &leads {
        assert_eq!(l["score"]["model_version"], v2, "{l}");
    }
    let history = ctx.history(leads[0]["id"].as_str().unwrap()).await;
    let last = history["scores"].as_array().and_then(|s| s.last()).cloned();
    assert_eq!(last.expect("a score history")["cause"], "resume");

    // Taken over once: the next beat finds nothing more to do.
    ctx.state.jobs.finish(&own.id);
    assert!(beat(&ctx.state).await.expect("the beat runs").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_published_and_a_webhook_added_on_one_server_reach_another_at_its_next_beat() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let Some(other) = ctx.another_server() else {
        // SQLite: one process owns the file, so the beat reloads nothing.
        let before = ctx.state.model().expect("a model").version();
        let source = DEFAULT_MODEL.replace("points = 20\n", "points = 25\n");
        let now = ctx.state.clock.now_ms();
        on_store(&ctx, move |s| {
            let draft = s.create_model("v2", &source, "root", now).expect("a draft");
            s.publish_model(draft.id, now).expect("published");
        });
        beat(&ctx.state).await.expect("the beat runs");
        assert_eq!(ctx.state.model().expect("a model").version(), before);
        return;
    };
    assert_eq!(other.model().expect("loaded at start").version(), 1);

    // This server publishes v2 and subscribes a webhook.
    let revised = DEFAULT_MODEL.replace("points = 20\n", "points = 25\n");
    assert_ne!(revised, DEFAULT_MODEL);
    let v2 = ctx.publish(&revised).await;
    assert_eq!(v2["version"], 2, "{v2}");
    ctx.post(
        "/api/v1/webhooks",
        &ctx.admin,
        serde_json::json!({ "url": "http://127.0.0.1:9/hook", "events": ["lead.stage_changed"] }),
    )
    .await
    .expect(axum::http::StatusCode::CREATED);
    assert_eq!(other.model().expect("a model").version(), 1, "not yet");
    assert!(other.webhooks().is_empty(), "not yet");

    beat(&other).await.expect("the beat runs");
    let model = other.model().expect("a model");
    assert_eq!(model.version(), 2);
    assert_eq!(model.row.source, revised);
    assert_eq!(other.webhooks().len(), 1);

    // A lead posted to the other server is scored with v2.
    let app = leadq_server::app(other.clone());
    let token = {
        let s = other.clone();
        std::thread::spawn(move || {
            leadq_server::api::issue_token(
                &s,
                "mia2",
                leadq_server::auth::Role::Marketing,
                None,
                None,
            )
            .expect("a token")
            .1
        })
        .join()
        .expect("the token thread")
    };
    let req = axum::http::Request::post("/api/v1/leads")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            good_lead("via-b@acme-corp.com").to_string(),
        ))
        .expect("a request");
    let resp = tower::ServiceExt::oneshot(app, req)
        .await
        .expect("a response");
    assert_eq!(resp.status(), axum::http::StatusCode::CREATED);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("the body");
    let lead: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(lead["score"]["model_version"], 2, "{lead}");
}
