//! The SLA watcher: deadlines in the owner's working hours, one breach per
//! deadline, first responses stop the clock, reassignment.

use crate::common::{good_lead, ms, Ctx, DEFAULT_MODEL};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// Friday 2026-11-06, 16:00 UTC: one working hour left in the week.
const FRIDAY_1600: &str = "2026-11-06T16:00:00Z";
/// 120 business minutes after Friday 16:00 in Mon-Fri 09:00-17:00.
const MONDAY_1000: &str = "2026-11-09T10:00:00Z";

/// A published model, the given reps and an SLA policy on MQLs of 120
/// business minutes; the clock at Friday 16:00.
async fn setup(ctx: &Ctx, reps: &[(&str, &str)], action: &str) {
    ctx.publish(DEFAULT_MODEL).await;
    for (id, hours) in reps {
        ctx.rep(id, hours).await;
    }
    let p = ctx
        .put(
            "/api/v1/sla/policies/mql-2h",
            &ctx.manager,
            json!({ "stage": "mql", "minutes": 120, "action": action }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(p["stage"], "mql");
    ctx.clock.set(ms(FRIDAY_1600));
}

/// A lead that becomes an MQL now (a demo request), owned by `owner`.
async fn mql_owned_by(ctx: &Ctx, email: &str, owner: &str) -> String {
    let lead = ctx.create_lead(good_lead(email)).await;
    let id = lead["id"].as_str().expect("an id").to_string();
    ctx.event(&id, "demo_request").await;
    let lead = ctx.lead(&id).await;
    assert_eq!(lead["stage"], "mql", "{lead}");
    if lead["owner"] != owner {
        ctx.post(
            &format!("/api/v1/leads/{id}/assign"),
            &ctx.manager,
            json!({ "rep_id": owner }),
        )
        .await
        .expect(StatusCode::OK);
    }
    let lead = ctx.lead(&id).await;
    assert_eq!(lead["owner"], owner, "{lead}");
    assert_eq!(
        lead["first_response_at"],
        Value::Null,
        "becoming an MQL by score is no response"
    );
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mql_is_breached_once_only_after_its_business_minutes_run_out() {
    let ctx = Ctx::new();
    setup(&ctx, &[("ana", "Mon-Fri 09:00-17:00")], "escalate").await;
    let (hook, _) = ctx
        .subscribe("http://127.0.0.1:9/never-called", &["sla.breached"])
        .await;
    let id = mql_owned_by(&ctx, "ada@acme.io", "ana").await;

    ctx.clock.set(ms("2026-11-06T17:30:00Z"));
    assert!(
        ctx.sla_pass().await.is_empty(),
        "Friday 17:30: only 60 business minutes used"
    );
    ctx.clock.set(ms("2026-11-09T09:30:00Z"));
    assert!(
        ctx.sla_pass().await.is_empty(),
        "Monday 09:30: only 90 business minutes used"
    );
    ctx.clock.set(ms(MONDAY_1000));
    assert!(
        ctx.sla_pass().await.is_empty(),
        "Monday 10:00: exactly at the deadline is not late"
    );
    assert!(ctx.deliveries(&hook).await.is_empty());

    let detected = ms("2026-11-09T10:01:00Z");
    ctx.clock.set(detected);
    let found = ctx.sla_pass().await;
    assert_eq!(found.len(), 1, "one breach after Monday 10:00: {found:?}");
    let b = &found[0];
    assert_eq!(b.lead_id, id);
    assert_eq!(b.policy_id, "mql-2h");
    assert_eq!(b.stage, "mql");
    assert_eq!(b.owner.as_deref(), Some("ana"));
    assert_eq!(b.due_at, ms(MONDAY_1000));
    assert_eq!(b.detected_at, detected);
    assert_eq!(b.action, "escalate");

    ctx.clock.advance(60_000);
    assert!(
        ctx.sla_pass().await.is_empty(),
        "a second pass records nothing new"
    );
    assert_eq!(
        ctx.lead(&id).await["owner"],
        "ana",
        "escalation keeps the owner"
    );

    let listed = ctx
        .get("/api/v1/sla/breaches", &ctx.manager)
        .await
        .expect(StatusCode::OK);
    let listed = listed["breaches"].as_array().expect("breaches").clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["lead_id"], id.as_str());
    assert_eq!(listed[0]["policy_id"], "mql-2h");
    assert_eq!(listed[0]["owner"], "ana");
    assert_eq!(listed[0]["due_at"], MONDAY_1000);
    assert_eq!(listed[0]["action"], "escalate");

    let queued = ctx.deliveries(&hook).await;
    assert_eq!(
        queued.len(),
        1,
        "one sla.breached webhook is queued: {queued:?}"
    );
    assert_eq!(queued[0]["event_type"], "sla.breached");
    assert_eq!(queued[0]["status"], "pending");
    let data = &queued[0]["payload"]["data"];
    assert_eq!(queued[0]["payload"]["type"], "sla.breached");
    assert_eq!(data["lead_id"], id.as_str(), "{data}");
    assert_eq!(data["policy_id"], "mql-2h", "{data}");
    assert_eq!(data["owner"], "ana", "{data}");
    assert_eq!(data["due_at"], MONDAY_1000, "{data}");
    assert_eq!(data["action"], "escalate", "{data}");
    assert_eq!(data["reassigned_to"], Value::Null, "{data}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lead_that_got_a_first_response_is_not_breached() {
    let ctx = Ctx::new();
    setup(&ctx, &[("ana", "Mon-Fri 09:00-17:00")], "escalate").await;
    let answered = mql_owned_by(&ctx, "ada@acme.io", "ana").await;
    let ignored = mql_owned_by(&ctx, "bea@acme.io", "ana").await;

    ctx.clock.set(ms("2026-11-06T16:30:00Z"));
    let touched = ctx
        .post(
            &format!("/api/v1/leads/{answered}/touch"),
            &ctx.manager,
            json!(null),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(touched["first_response_at"], "2026-11-06T16:30:00Z");

    ctx.clock.set(ms("2026-11-09T12:00:00Z"));
    let found = ctx.sla_pass().await;
    let leads: Vec<&str> = found.iter().map(|b| b.lead_id.as_str()).collect();
    assert_eq!(
        leads,
        [ignored.as_str()],
        "only the lead nobody answered is late"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reassign_policy_moves_a_late_lead_to_another_eligible_rep() {
    let ctx = Ctx::new();
    setup(
        &ctx,
        &[
            ("ana", "Mon-Fri 09:00-17:00"),
            ("ben", "Mon-Fri 09:00-17:00"),
        ],
        "reassign",
    )
    .await;
    let (hook, _) = ctx
        .subscribe("http://127.0.0.1:9/never-called", &["sla.breached"])
        .await;
    let id = mql_owned_by(&ctx, "ada@acme.io", "ana").await;
    let before = ctx.history(&id).await["assignments"]
        .as_array()
        .expect("assignments")
        .len();

    ctx.clock.set(ms("2026-11-09T10:01:00Z"));
    let found = ctx.sla_pass().await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].owner.as_deref(),
        Some("ana"),
        "the breach names the late rep"
    );
    assert_eq!(found[0].action, "reassign");
    assert_eq!(
        ctx.lead(&id).await["owner"],
        "ben",
        "the lead moved to the other rep"
    );

    let history = ctx.history(&id).await;
    let assignments = history["assignments"].as_array().expect("assignments");
    assert_eq!(assignments.len(), before + 1, "{history}");
    let last = assignments.last().expect("an assignment");
    assert_eq!(last["rep_id"], "ben", "{last}");
    assert_eq!(last["previous_rep"], "ana", "{last}");
    assert_eq!(
        last["actor"], "system:sla",
        "the system, not a person, reassigned it: {last}"
    );

    let queued = ctx.deliveries(&hook).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["payload"]["data"]["reassigned_to"], "ben");

    ctx.clock.advance(60_000);
    assert!(
        ctx.sla_pass().await.is_empty(),
        "a second pass records nothing new"
    );
    assert_eq!(
        ctx.lead(&id).await["owner"],
        "ben",
        "the lead stays with ben"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reassigned_lead_does_not_bounce_back_when_the_new_rep_keeps_other_hours() {
    let ctx = Ctx::new();
    setup(
        &ctx,
        &[("ana", "Mon-Fri 09:00-17:00"), ("ben", "always")],
        "reassign",
    )
    .await;
    let id = mql_owned_by(&ctx, "ada@acme.io", "ana").await;

    ctx.clock.set(ms("2026-11-09T10:01:00Z"));
    assert_eq!(ctx.sla_pass().await.len(), 1);
    assert_eq!(ctx.lead(&id).await["owner"], "ben");

    // Ben has had the lead for a minute: he is not late yet.
    ctx.clock.advance(60_000);
    let again = ctx.sla_pass().await;
    assert!(
        again.is_empty(),
        "the new owner is not breached for time before he got the lead: {again:?}"
    );
    assert_eq!(
        ctx.lead(&id).await["owner"],
        "ben",
        "the lead stays with ben"
    );

    // His own 120 minutes run out at 12:01; then it moves on again.
    ctx.clock.set(ms("2026-11-09T12:01:00Z"));
    assert!(ctx.sla_pass().await.is_empty(), "12:01 is ben's deadline");
    ctx.clock.set(ms("2026-11-09T12:02:00Z"));
    let late = ctx.sla_pass().await;
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].owner.as_deref(), Some("ben"));
    assert_eq!(late[0].due_at, ms("2026-11-09T12:01:00Z"));
    assert_eq!(ctx.lead(&id).await["owner"], "ana");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_pass_finds_every_late_lead_however_many_are_already_recorded() {
    let ctx = Ctx::new();
    ctx.put(
        "/api/v1/sla/policies/new-1h",
        &ctx.manager,
        json!({ "stage": "new", "minutes": 60, "action": "escalate" }),
    )
    .await
    .expect(StatusCode::OK);
    // 1000 leads nobody ever answers, late and recorded...
    let leads: Vec<Value> = (0..1000)
        .map(|i| json!({ "email": format!("old{i}@acme.io") }))
        .collect();
    let out = ctx
        .post(
            "/api/v1/leads/bulk",
            &ctx.marketing,
            json!({ "leads": leads }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(out["created"], 1000);
    ctx.clock.advance(61 * 60_000);
    assert_eq!(ctx.sla_pass().await.len(), 1000);

    // ...do not hide a lead that becomes late later.
    let fresh = ctx.create_lead(json!({ "email": "fresh@acme.io" })).await;
    ctx.clock.advance(61 * 60_000);
    let found = ctx.sla_pass().await;
    let ids: Vec<&str> = found.iter().map(|b| b.lead_id.as_str()).collect();
    assert_eq!(ids, [fresh["id"].as_str().expect("an id")]);
}
