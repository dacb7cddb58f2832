//! Tasks for reps: created by rules when leads move or are assigned (due in
//! the owner's working hours), by hand and by sequences; completed,
//! snoozed, cancelled when the lead closes; overdue ones announced once and
//! counted in the metrics.

use crate::common::*;
use axum::http::{Method, StatusCode};
use leadq_server::auth::Role;
use serde_json::{json, Value};

async fn berlin_rep(ctx: &Ctx, id: &str) {
    ctx.put(
        &format!("/api/v1/reps/{id}"),
        &ctx.manager,
        json!({ "name": format!("Rep {id}"), "capacity": 50, "working_hours": "Mon-Fri 09:00-17:00", "timezone": "Europe/Berlin" }),
    )
    .await
    .expect(StatusCode::OK);
}

async fn rules(ctx: &Ctx, rules: Value) {
    ctx.put(
        "/api/v1/task-rules",
        &ctx.manager,
        json!({ "rules": rules }),
    )
    .await
    .expect(StatusCode::OK);
}

async fn tasks(ctx: &Ctx, token: &str, query: &str) -> Vec<Value> {
    ctx.get(&format!("/api/v1/tasks{query}"), token)
        .await
        .expect(StatusCode::OK)["tasks"]
        .as_array()
        .unwrap()
        .clone()
}

async fn assign(ctx: &Ctx, lead: &str, rep: &str) {
    ctx.post(
        &format!("/api/v1/leads/{lead}/assign"),
        &ctx.manager,
        json!({ "rep_id": rep }),
    )
    .await
    .expect(StatusCode::OK);
}

async fn new_lead(ctx: &Ctx, email: &str) -> String {
    ctx.create_lead(good_lead(email)).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assignment_creates_a_call_task_due_in_the_reps_business_hours() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    berlin_rep(&ctx, "rep-1").await;
    rules(
        &ctx,
        json!([{ "id": "call", "on": "assigned", "kind": "call", "title": "Call the new lead", "due_business_minutes": 120 }]),
    )
    .await;
    // Friday 16:30 in Berlin (15:30 UTC): half an hour left that day.
    ctx.clock.set(ms("2026-11-06T15:30:00Z"));
    let lead = new_lead(&ctx, "fri@acme.example").await;
    assign(&ctx, &lead, "rep-1").await;
    let list = tasks(&ctx, &ctx.manager, &format!("?lead={lead}")).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let t = &list[0];
    assert_eq!(t["owner"], "rep-1");
    assert_eq!(t["kind"], "call");
    assert_eq!(t["origin"], "rule:call");
    // 30 minutes on Friday, 90 on Monday from 09:00 Berlin (08:00 UTC).
    assert_eq!(t["due_at"], rfc(ms("2026-11-09T09:30:00Z")), "{t}");

    // Assigned again while the call is open: no second call task.
    ctx.put(
        "/api/v1/reps/rep-2",
        &ctx.manager,
        json!({ "name": "Rep 2", "capacity": 50, "working_hours": "always" }),
    )
    .await
    .expect(StatusCode::OK);
    assign(&ctx, &lead, "rep-2").await;
    let list = tasks(&ctx, &ctx.manager, &format!("?lead={lead}")).await;
    assert_eq!(list.len(), 1, "{list:?}");
    // The open call moved with the lead to its new owner; its due date stands.
    assert_eq!(list[0]["owner"], "rep-2");
    assert_eq!(list[0]["due_at"], rfc(ms("2026-11-09T09:30:00Z")));
    assert!(tasks(&ctx, &ctx.manager, "?owner=rep-1").await.is_empty());
    assert_eq!(tasks(&ctx, &ctx.manager, "?owner=rep-2").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_rule_fires_on_entering_the_stage_and_closing_the_lead_cancels_its_tasks() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    rules(
        &ctx,
        json!([{ "id": "work", "on": "stage", "stage": "working", "kind": "email", "title": "Send the intro", "due_business_minutes": 60 }]),
    )
    .await;
    let lead = new_lead(&ctx, "stage@acme.example").await;
    assert!(tasks(&ctx, &ctx.manager, &format!("?lead={lead}"))
        .await
        .is_empty());
    ctx.transition(&lead, &ctx.manager, "working", None).await;
    let open = tasks(&ctx, &ctx.manager, &format!("?lead={lead}")).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["title"], "Send the intro");
    assert_eq!(open[0]["owner"], Value::Null, "no owner yet");

    ctx.transition(&lead, &ctx.manager, "disqualified", Some("no budget"))
        .await;
    assert!(tasks(&ctx, &ctx.manager, &format!("?lead={lead}"))
        .await
        .is_empty());
    let all = tasks(&ctx, &ctx.manager, &format!("?lead={lead}&status=all")).await;
    assert_eq!(all[0]["status"], "cancelled");
    assert_eq!(all[0]["completed_by"], "system:closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rep_works_their_own_tasks_and_cannot_see_anyone_elses() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 50).await;
    ctx.rep("rep-2", 50).await;
    let mine = new_lead(&ctx, "mine@acme.example").await;
    let theirs = new_lead(&ctx, "theirs@acme.example").await;
    assign(&ctx, &mine, "rep-1").await;
    assign(&ctx, &theirs, "rep-2").await;
    let rita = ctx.token("rita", Role::Rep, Some("rep-1"));
    let t = ctx
        .post(
            &format!("/api/v1/leads/{mine}/tasks"),
            &rita,
            json!({ "kind": "meeting", "title": "Book the demo", "due_business_hours": 4 }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(t["owner"], "rep-1");
    assert_eq!(t["origin"], "manual:rep:rita");
    let other = ctx
        .post(
            &format!("/api/v1/leads/{theirs}/tasks"),
            &ctx.manager,
            json!({ "title": "Theirs" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let seen: Vec<String> = tasks(&ctx, &rita, "?owner=rep-2")
        .await
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        seen,
        vec![t["id"].as_str().unwrap().to_string()],
        "only their own, whatever they ask"
    );
    let other_id = other["id"].as_str().unwrap();
    ctx.get(&format!("/api/v1/tasks/{other_id}"), &rita)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ctx.post(
        &format!("/api/v1/tasks/{other_id}/complete"),
        &rita,
        json!({}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");

    let id = t["id"].as_str().unwrap();
    let before = t["due_at"].as_str().unwrap().to_string();
    let snoozed = ctx
        .post(
            &format!("/api/v1/tasks/{id}/snooze"),
            &rita,
            json!({ "business_minutes": 1440 }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(snoozed["snoozed"], 1);
    assert!(snoozed["due_at"].as_str().unwrap() > before.as_str());
    ctx.post(
        &format!("/api/v1/tasks/{id}/snooze"),
        &rita,
        json!({ "until": "2020-01-01T00:00:00Z" }),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let done = ctx
        .post(&format!("/api/v1/tasks/{id}/complete"), &rita, json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(done["status"], "done");
    assert_eq!(done["completed_by"], "rep:rita");
    ctx.post(&format!("/api/v1/tasks/{id}/complete"), &rita, json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "not_open");
    ctx.post(
        &format!("/api/v1/leads/{mine}/tasks"),
        &rita,
        json!({ "kind": "fax", "title": "x" }),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overdue_task_is_announced_once_and_counted_in_the_metrics() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.post(
        "/api/v1/webhooks",
        &ctx.admin,
        json!({ "url": "http://127.0.0.1:9/hook", "events": ["task.overdue"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let lead = new_lead(&ctx, "late@acme.example").await;
    let t = ctx
        .post(
            &format!("/api/v1/leads/{lead}/tasks"),
            &ctx.manager,
            json!({ "title": "Call back", "due_at": rfc(t0() + 3_600_000) }),
        )
        .await
        .expect(StatusCode::CREATED);
    let state = ctx.state.clone();
    let pass = move || {
        let s = state.clone();
        std::thread::spawn(move || leadq_server::tasks::overdue_pass(&s).unwrap())
            .join()
            .unwrap()
    };
    assert_eq!(pass(), 0, "not yet due");
    ctx.clock.advance(2 * 3_600_000);
    assert_eq!(pass(), 1);
    assert_eq!(pass(), 0, "announced once");
    let overdue = tasks(&ctx, &ctx.manager, "?overdue=true").await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0]["id"], t["id"]);
    let hooks = ctx
        .get("/api/v1/webhooks", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    let hook = hooks["webhooks"][0]["id"].as_str().unwrap().to_string();
    let log = ctx
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["deliveries"][0]["event_type"], "task.overdue");
    let m = ctx
        .get(
            &format!(
                "/api/v1/metrics?from={}&to={}",
                enc(&rfc(t0() - 1000)),
                enc(&rfc(t0() + 86_400_000))
            ),
            &ctx.manager,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(m["tasks"]["open"], 1, "{}", m["tasks"]);
    assert_eq!(m["tasks"]["overdue"], 1);
    let prom = ctx.raw(Method::GET, "/metrics", None, "").await;
    assert!(prom
        .body
        .as_str()
        .unwrap()
        .contains("leadq_tasks_overdue 1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequence_task_step_creates_a_task_for_the_owner() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("rep-1", 50).await;
    let lead = new_lead(&ctx, "seq@acme.example").await;
    assign(&ctx, &lead, "rep-1").await;
    ctx.post(
        "/api/v1/sequences",
        &ctx.marketing,
        json!({ "id": "follow", "definition": { "name": "Follow up", "steps": [{"type": "task", "title": "Call after the webinar", "kind": "call", "due_business_hours": 2}] } }),
    )
    .await
    .expect(StatusCode::CREATED);
    ctx.post(
        "/api/v1/sequences/follow/enrolments",
        &ctx.marketing,
        json!({ "lead_id": lead }),
    )
    .await
    .expect(StatusCode::CREATED);
    let list = tasks(&ctx, &ctx.manager, &format!("?lead={lead}")).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["owner"], "rep-1");
    assert_eq!(list[0]["origin"], "sequence:follow:0");
    assert_eq!(
        list[0]["due_at"],
        rfc(t0() + 2 * 3_600_000),
        "an always-on rep"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn task_rules_are_checked_when_saved() {
    let ctx = Ctx::new();
    let r = ctx
        .put(
            "/api/v1/task-rules",
            &ctx.manager,
            json!({ "rules": [{ "id": "x", "on": "stage", "stage": "someday", "kind": "call", "title": "x", "due_business_minutes": 1 }] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"],
        "rules[0].stage"
    );
    let r = ctx
        .put(
            "/api/v1/task-rules",
            &ctx.manager,
            json!({ "rules": [{ "id": "x", "on": "whenever", "kind": "call", "title": "x", "due_business_minutes": 1 }] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["error"]["details"]["fields"][0]["path"], "rules[0]");
    let got = ctx
        .get("/api/v1/task-rules", &ctx.manager)
        .await
        .expect(StatusCode::OK);
    assert_eq!(got["rules"], json!([]), "nothing was saved");
}
