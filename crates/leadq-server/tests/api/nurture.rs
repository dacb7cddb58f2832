//! Follow-up by email end to end: templates checked when saved, sequences
//! that send through a real SMTP server process (aiosmtpd) on loopback,
//! wait in business days on the manual clock and stop on a reply; signed
//! unsubscribe, open and click links; consent gating every send.

use crate::common::*;
use crate::smtp::{header_of, SmtpSink};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use leadq_server::auth::Role;
use leadq_server::nurture::{self, links, MailConfig};
use leadq_server::{AppState, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

fn mail_config(port: u16) -> MailConfig {
    MailConfig::from_url(
        &format!("smtp://127.0.0.1:{port}"),
        "Acme Sales <sales@acme.example>",
        "http://leadq.test",
    )
    .expect("mail settings")
}

fn ctx_with_mail(port: u16) -> Ctx {
    Ctx::with_config(ServerConfig {
        mail: Some(mail_config(port)),
        ..ServerConfig::default()
    })
}

async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&AppState) -> T + Send + 'static,
) -> T {
    let s = state.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .expect("the blocking task")
}

async fn consenting_lead(ctx: &Ctx, email: &str) -> String {
    let mut doc = good_lead(email);
    doc["first_name"] = json!("Cora");
    doc["opt_in"] = json!("yes");
    doc["lawful_basis"] = json!("consent");
    ctx.create_lead(doc).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn template(ctx: &Ctx, id: &str, subject: &str, body: &str) {
    ctx.post(
        "/api/v1/templates",
        &ctx.marketing,
        json!({ "id": id, "name": id, "subject": subject, "body": body }),
    )
    .await
    .expect(StatusCode::CREATED);
}

async fn three_step_sequence(ctx: &Ctx) {
    template(
        ctx,
        "intro",
        "Hi {{ lead.first_name | default('there') }}",
        "Hello {{ lead.first_name }} at {{ lead.company }},\nsee https://acme.example/pricing.\n{{ sender.name }}",
    )
    .await;
    template(
        ctx,
        "followup",
        "Following up, {{ lead.first_name }}",
        "Any questions?",
    )
    .await;
    template(ctx, "last", "Last note", "Bye").await;
    ctx.post(
        "/api/v1/sequences",
        &ctx.marketing,
        json!({ "id": "welcome", "definition": { "name": "Welcome", "steps": [
            {"type": "email", "template": "intro"},
            {"type": "wait", "business_days": 2},
            {"type": "email", "template": "followup"},
            {"type": "wait", "business_days": 1},
            {"type": "email", "template": "last"}
        ]}}),
    )
    .await
    .expect(StatusCode::CREATED);
}

async fn emails(ctx: &Ctx, lead: &str) -> Value {
    ctx.get(&format!("/api/v1/leads/{lead}/emails"), &ctx.admin)
        .await
        .expect(StatusCode::OK)
}

async fn event_kinds(ctx: &Ctx, lead: &str) -> Vec<String> {
    let evs = ctx
        .get(&format!("/api/v1/leads/{lead}/events"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    evs["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequence_sends_over_smtp_waits_business_days_and_stops_on_a_reply() {
    let sink = SmtpSink::start(&[]);
    let ctx = ctx_with_mail(sink.port);
    ctx.publish(DEFAULT_MODEL).await;
    // Friday 2026-11-06, 10:00 UTC (no owner: office hours in UTC).
    ctx.clock.set(ms("2026-11-06T10:00:00Z"));
    let lead = consenting_lead(&ctx, "cora@acme-corp.com").await;
    three_step_sequence(&ctx).await;

    let e = ctx
        .post(
            "/api/v1/sequences/welcome/enrolments",
            &ctx.marketing,
            json!({ "lead_id": lead }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(e["status"], "active");
    // Friday + 2 business days = Tuesday, same time.
    assert_eq!(e["next_run_at"], rfc(ms("2026-11-10T10:00:00Z")), "{e}");
    let queued = emails(&ctx, &lead).await;
    assert_eq!(queued["emails"][0]["status"], "queued", "{queued}");

    assert_eq!(
        blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await,
        1
    );
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    let first = &got[0];
    assert_eq!(header_of(first, "Subject").as_deref(), Some("Hi Cora"));
    assert!(header_of(first, "To")
        .unwrap()
        .contains("cora@acme-corp.com"));
    assert!(header_of(first, "From")
        .unwrap()
        .contains("sales@acme.example"));
    let unsubscribe = header_of(first, "List-Unsubscribe").expect("RFC 8058 header");
    assert!(
        unsubscribe.starts_with("<http://leadq.test/e/u/"),
        "{unsubscribe}"
    );
    assert_eq!(
        header_of(first, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(first.contains("Hello Cora at Acme Corp"), "{first}");
    assert!(
        first.contains("http://leadq.test/e/c/"),
        "links are tracked: {first}"
    );
    assert!(first.contains("/e/o/"), "the HTML part has the open pixel");
    assert_eq!(sink.envelope(1)["rcpt_tos"][0], "cora@acme-corp.com");
    assert!(event_kinds(&ctx, &lead)
        .await
        .contains(&"email_sent".to_string()));

    // Saturday and Monday: still waiting.
    for day in ["2026-11-07T12:00:00Z", "2026-11-09T18:00:00Z"] {
        ctx.clock.set(ms(day));
        blocking(&ctx.state, |s| nurture::sequence_pass(s).unwrap()).await;
        blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await;
        assert_eq!(
            sink.messages().len(),
            1,
            "nothing more before Tuesday ({day})"
        );
    }
    ctx.clock.set(ms("2026-11-10T10:00:00Z"));
    assert_eq!(
        blocking(&ctx.state, |s| nurture::sequence_pass(s).unwrap()).await,
        1
    );
    assert_eq!(
        blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await,
        1
    );
    let got = sink.messages();
    assert_eq!(got.len(), 2);
    assert_eq!(
        header_of(&got[1], "Subject").as_deref(),
        Some("Following up, Cora")
    );

    // The lead replies to the second email (as a mail system reports it).
    let message_id = header_of(&got[1], "Message-ID").expect("a Message-ID");
    let r = ctx
        .post(
            "/api/v1/inbound/email",
            &ctx.marketing,
            json!({ "type": "reply", "message_id": message_id }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["lead_id"], lead.as_str());
    let after = emails(&ctx, &lead).await;
    assert_eq!(after["enrolments"][0]["status"], "stopped", "{after}");
    assert_eq!(after["enrolments"][0]["stop_reason"], "reply");
    assert!(event_kinds(&ctx, &lead)
        .await
        .contains(&"email_reply".to_string()));

    // The third email never goes.
    ctx.clock.set(ms("2026-11-13T10:00:00Z"));
    blocking(&ctx.state, |s| nurture::sequence_pass(s).unwrap()).await;
    blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await;
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_send_is_retried_and_the_queue_survives_a_restart() {
    let sink = SmtpSink::start(&["--reject-first", "1"]);
    let ctx = ctx_with_mail(sink.port);
    ctx.publish(DEFAULT_MODEL).await;
    let lead = consenting_lead(&ctx, "rita@acme-corp.com").await;
    three_step_sequence(&ctx).await;
    ctx.post(
        "/api/v1/sequences/welcome/enrolments",
        &ctx.marketing,
        json!({ "lead_id": lead }),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(
        blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await,
        0
    );
    let m = emails(&ctx, &lead).await["emails"][0].clone();
    assert_eq!(m["status"], "queued", "{m}");
    assert_eq!(m["attempts"], 1);
    assert!(m["last_error"].as_str().unwrap().contains("451"), "{m}");

    // A new service over the same database (a restart) sends it once the
    // backoff has passed.
    let store = ctx.state.store.clone();
    let clock = ctx.clock.clone();
    let port = sink.port;
    let restarted = std::thread::spawn(move || {
        AppState::new(
            store,
            clock,
            ServerConfig {
                mail: Some(mail_config(port)),
                ..ServerConfig::default()
            },
        )
        .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(
        blocking(&restarted, |s| nurture::mail_pass(s).unwrap()).await,
        0,
        "not before the backoff"
    );
    ctx.clock.advance(61_000);
    assert_eq!(
        blocking(&restarted, |s| nurture::mail_pass(s).unwrap()).await,
        1
    );
    assert_eq!(sink.messages().len(), 1);
    let m = emails(&ctx, &lead).await["emails"][0].clone();
    assert_eq!(
        (m["status"].as_str(), m["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );
}

async fn one_queued_email(ctx: &Ctx, email: &str) -> (String, String) {
    ctx.publish(DEFAULT_MODEL).await;
    let lead = consenting_lead(ctx, email).await;
    three_step_sequence(ctx).await;
    ctx.post(
        "/api/v1/sequences/welcome/enrolments",
        &ctx.marketing,
        json!({ "lead_id": lead }),
    )
    .await
    .expect(StatusCode::CREATED);
    let id = emails(ctx, &lead).await["emails"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (lead, id)
}

async fn secret(ctx: &Ctx) -> Vec<u8> {
    blocking(&ctx.state, |s| links::secret(s).unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_unsubscribe_link_changes_nothing_and_a_signed_one_opts_out() {
    let ctx = Ctx::new();
    let (lead, email_id) = one_queued_email(&ctx, "uma@acme-corp.com").await;
    let key = secret(&ctx).await;
    let l = links::Links {
        base: "",
        secret: &key,
        email_id: &email_id,
    };
    let good = l.unsubscribe();
    let forged = format!("/e/u/{email_id}/{}", "0".repeat(64));
    let other = links::Links {
        base: "",
        secret: &key,
        email_id: "em_someone_else",
    }
    .unsubscribe();
    let other_sig = other.rsplit('/').next().unwrap();
    for bad in [
        forged,
        format!("/e/u/{email_id}/{other_sig}"),
        format!("/e/u/{email_id}/nothex"),
    ] {
        let r = ctx
            .raw(Method::POST, &bad, None, "List-Unsubscribe=One-Click")
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad}");
    }
    let consent = ctx
        .get(&format!("/api/v1/leads/{lead}/consent"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        consent["channels"]["email"]["opt_in"], true,
        "untouched by forgeries"
    );

    // Visiting the page asks; it does not unsubscribe (mail scanners follow links).
    let page = ctx.raw(Method::GET, &good, None, "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .as_str()
        .unwrap()
        .contains("<form method=\"post\">"));
    let consent = ctx
        .get(&format!("/api/v1/leads/{lead}/consent"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(consent["channels"]["email"]["opt_in"], true);

    let done = ctx
        .raw(Method::POST, &good, None, "List-Unsubscribe=One-Click")
        .await;
    assert_eq!(done.status, StatusCode::OK);
    let consent = ctx
        .get(&format!("/api/v1/leads/{lead}/consent"), &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(consent["channels"]["email"]["opt_in"], false, "{consent}");
    assert_eq!(consent["channels"]["email"]["source"], "unsubscribe link");
    let after = emails(&ctx, &lead).await;
    assert_eq!(
        after["enrolments"][0]["stop_reason"], "unsubscribe",
        "{after}"
    );
    assert_eq!(
        after["emails"][0]["status"], "cancelled",
        "the queued email is not sent"
    );
    assert!(event_kinds(&ctx, &lead)
        .await
        .contains(&"email_unsubscribe".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn opens_and_clicks_are_recorded_only_through_signed_links() {
    let ctx = Ctx::new();
    let (lead, email_id) = one_queued_email(&ctx, "otto@acme-corp.com").await;
    let key = secret(&ctx).await;
    let l = links::Links {
        base: "",
        secret: &key,
        email_id: &email_id,
    };

    let forged_pixel = ctx
        .raw(
            Method::GET,
            &format!("/e/o/{email_id}/{}", "ab".repeat(32)),
            None,
            "",
        )
        .await;
    assert_eq!(
        forged_pixel.status,
        StatusCode::OK,
        "the pixel always answers"
    );
    assert!(!event_kinds(&ctx, &lead)
        .await
        .contains(&"email_open".to_string()));
    ctx.raw(Method::GET, &l.open_pixel(), None, "").await;
    ctx.raw(Method::GET, &l.open_pixel(), None, "").await;
    let kinds = event_kinds(&ctx, &lead).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "email_open").count(),
        1,
        "one open per email: {kinds:?}"
    );

    let target = "https://acme.example/pricing";
    let click = l.click(target);
    let resp = ctx
        .app
        .clone()
        .oneshot(Request::get(&click).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()[header::LOCATION], target);
    // The same signature does not carry another destination.
    let elsewhere = click.replace("acme.example", "evil.example");
    let resp = ctx
        .app
        .clone()
        .oneshot(Request::get(&elsewhere).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get(header::LOCATION).is_none());
    let m = emails(&ctx, &lead).await["emails"][0].clone();
    assert!(
        m["opened_at"].is_string() && m["clicked_at"].is_string(),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_gates_every_email_when_queued_and_again_when_sent() {
    // Port 9 (discard) is never reached: refused emails are not attempted.
    let ctx = ctx_with_mail(9);
    ctx.publish(DEFAULT_MODEL).await;
    three_step_sequence(&ctx).await;
    // No opt-in and no lawful basis: nothing is queued; the enrolment says why.
    let silent = ctx.create_lead(good_lead("sam@acme-corp.com")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = ctx
        .post(
            "/api/v1/sequences/welcome/enrolments",
            &ctx.marketing,
            json!({ "lead_id": silent }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(e["status"], "stopped");
    assert!(
        e["stop_reason"]
            .as_str()
            .unwrap()
            .starts_with("no_lawful_basis"),
        "{e}"
    );
    assert_eq!(emails(&ctx, &silent).await["emails"], json!([]));

    // Consent withdrawn after the email was queued: suppressed at send time.
    let lead = consenting_lead(&ctx, "wanda@acme-corp.com").await;
    ctx.post(
        "/api/v1/sequences/welcome/enrolments",
        &ctx.marketing,
        json!({ "lead_id": lead }),
    )
    .await
    .expect(StatusCode::CREATED);
    ctx.put(
        &format!("/api/v1/leads/{lead}/consent"),
        &ctx.marketing,
        json!({ "email": { "lawful_basis": "consent", "do_not_contact": true }, "source": "phone call" }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await,
        0
    );
    let m = emails(&ctx, &lead).await["emails"][0].clone();
    assert_eq!(m["status"], "suppressed", "{m}");
    assert_eq!(m["attempts"], 0, "never handed to the SMTP server");
    assert!(m["last_error"]
        .as_str()
        .unwrap()
        .starts_with("do_not_contact"));
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_and_sequences_are_checked_when_saved() {
    let ctx = Ctx::new();
    let r = ctx
        .post(
            "/api/v1/templates",
            &ctx.marketing,
            json!({ "name": "x", "subject": "Hi {{ lead.frist_name }}", "body": "ok" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lead.frist_name"),
        "{}",
        r.body
    );
    let r = ctx
        .post(
            "/api/v1/templates",
            &ctx.marketing,
            json!({ "name": "x", "subject": "Hi", "body": "{% if %}" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let r = ctx
        .post("/api/v1/sequences", &ctx.marketing, json!({ "definition": { "name": "x", "steps": [{"type": "email", "template": "missing"}] } }))
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body.to_string().contains("definition.steps[0].template"),
        "{}",
        r.body
    );
    let r = ctx
        .post("/api/v1/sequences", &ctx.marketing, json!({ "definition": { "name": "x", "enrol_when": "grade == 1", "steps": [{"type": "wait", "business_days": 1}] } }))
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body.to_string().contains("definition.enrol_when"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lead_is_enrolled_once_per_sequence_by_hand_or_by_rule() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    three_step_sequence(&ctx).await;
    let good = consenting_lead(&ctx, "gina@acme-corp.com").await;
    ctx.post(
        "/api/v1/sequences/welcome/enrolments",
        &ctx.marketing,
        json!({ "lead_id": good }),
    )
    .await
    .expect(StatusCode::CREATED);
    ctx.post(
        "/api/v1/sequences/welcome/enrolments",
        &ctx.marketing,
        json!({ "lead_id": good }),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "already_enrolled");

    // A nurture sequence for poor fits, enrolled by rule.
    ctx.post(
        "/api/v1/sequences",
        &ctx.marketing,
        json!({ "id": "nurture", "definition": { "name": "Nurture", "enrol_when": "grade in [\"C\", \"D\"]",
            "steps": [{"type": "wait", "business_days": 5}, {"type": "email", "template": "last"}] } }),
    )
    .await
    .expect(StatusCode::CREATED);
    let poor = ctx.create_lead(poor_lead("pat@gmail.com")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        blocking(&ctx.state, |s| nurture::enrol_pass(s).unwrap()).await,
        1
    );
    assert_eq!(
        blocking(&ctx.state, |s| nurture::enrol_pass(s).unwrap()).await,
        0,
        "once"
    );
    let e = emails(&ctx, &poor).await;
    assert_eq!(e["enrolments"][0]["sequence_id"], "nurture", "{e}");
    assert_eq!(e["enrolments"][0]["enrolled_by"], "system:nurture");
    assert_eq!(
        emails(&ctx, &good).await["enrolments"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the A lead is not nurtured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nurture_routes_need_a_token_and_the_right_role() {
    let ctx = Ctx::new();
    ctx.rep("nora", 10).await;
    let rep = ctx.token("nora", Role::Rep, Some("nora"));
    for (method, path) in [
        (Method::GET, "/api/v1/templates"),
        (Method::POST, "/api/v1/templates"),
        (Method::PUT, "/api/v1/templates/t"),
        (Method::DELETE, "/api/v1/templates/t"),
        (Method::GET, "/api/v1/sequences"),
        (Method::POST, "/api/v1/sequences"),
        (Method::GET, "/api/v1/sequences/s"),
        (Method::PUT, "/api/v1/sequences/s"),
        (Method::POST, "/api/v1/sequences/s/enrolments"),
        (Method::POST, "/api/v1/enrolments/e/stop"),
        (Method::GET, "/api/v1/leads/l/emails"),
        (Method::POST, "/api/v1/inbound/email"),
        (Method::POST, "/api/v1/inbound/postmark"),
    ] {
        let r = ctx.raw(method.clone(), path, None, "{}").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let template = json!({"name": "x", "subject": "x", "body": "x"});
    let sequence = json!({"definition": {"name": "x", "steps": []}});
    let inbound = json!({"type": "reply", "email": "a@b.c"});
    for (method, path, body) in [
        (Method::POST, "/api/v1/templates", &template),
        (Method::PUT, "/api/v1/templates/t", &template),
        (Method::DELETE, "/api/v1/templates/t", &Value::Null),
        (Method::POST, "/api/v1/sequences", &sequence),
        (Method::GET, "/api/v1/sequences/s", &Value::Null),
        (Method::PUT, "/api/v1/sequences/s", &sequence),
        (Method::POST, "/api/v1/inbound/email", &inbound),
        (Method::POST, "/api/v1/inbound/postmark", &json!({})),
    ] {
        let body = (!body.is_null()).then(|| body.clone());
        let r = ctx.call(method.clone(), path, &rep, body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {:?}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postmark_bounce_stops_the_sequence() {
    let sink = SmtpSink::start(&[]);
    let ctx = ctx_with_mail(sink.port);
    let (lead, _) = one_queued_email(&ctx, "bob@acme-corp.com").await;
    assert_eq!(
        blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await,
        1
    );
    ctx.post(
        "/api/v1/inbound/postmark",
        &ctx.marketing,
        json!({ "RecordType": "Bounce", "Type": "HardBounce", "Email": "bob@acme-corp.com", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Description": "The server was unable to deliver your message" }),
    )
    .await
    .expect(StatusCode::OK);
    let e = emails(&ctx, &lead).await;
    assert_eq!(e["enrolments"][0]["stop_reason"], "bounce", "{e}");
    assert!(e["emails"][0]["bounced_at"].is_string());
    assert!(event_kinds(&ctx, &lead)
        .await
        .contains(&"email_bounce".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_booked_meeting_stops_the_sequence_at_once_and_a_stage_change_before_its_next_step() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    three_step_sequence(&ctx).await;
    let met = consenting_lead(&ctx, "meg@acme-corp.com").await;
    let moved = consenting_lead(&ctx, "mo@acme-corp.com").await;
    for lead in [&met, &moved] {
        ctx.post(
            "/api/v1/sequences/welcome/enrolments",
            &ctx.marketing,
            json!({ "lead_id": lead }),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    ctx.post(
        "/api/v1/events",
        &ctx.marketing,
        json!({ "lead_id": met, "type": "meeting_booked" }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    assert_eq!(
        emails(&ctx, &met).await["enrolments"][0]["stop_reason"],
        "meeting_booked"
    );

    let stage = ctx.lead(&moved).await["stage"]
        .as_str()
        .unwrap()
        .to_string();
    let to = if stage == "working" {
        "nurture"
    } else {
        "working"
    };
    ctx.transition(&moved, &ctx.manager, to, None).await;
    assert_eq!(
        emails(&ctx, &moved).await["enrolments"][0]["status"],
        "active",
        "until its next step"
    );
    ctx.clock.advance(7 * 86_400_000);
    blocking(&ctx.state, |s| nurture::sequence_pass(s).unwrap()).await;
    let e = emails(&ctx, &moved).await;
    assert!(
        e["enrolments"][0]["stop_reason"]
            .as_str()
            .unwrap()
            .starts_with("stage_change"),
        "{e}"
    );
    assert_eq!(
        e["emails"].as_array().unwrap().len(),
        1,
        "only the first email was queued"
    );
}

fn ctx_with(mail: MailConfig) -> Ctx {
    Ctx::with_config(ServerConfig {
        mail: Some(mail),
        ..ServerConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_with_a_login_delivers_and_a_wrong_password_fails_without_echoing_it() {
    let sink = SmtpSink::start(&["--starttls", "--auth", "mailer:s3cret-pw"]);
    let url = |password: &str| {
        format!(
            "smtp://mailer:{password}@127.0.0.1:{}?tls=starttls",
            sink.port
        )
    };
    let config = |password: &str| {
        MailConfig::from_url(
            &url(password),
            "Acme <hello@acme.example>",
            "http://leadq.test",
        )
        .unwrap()
        .with_ca_pem(sink.file("ca.pem"))
        .unwrap()
    };

    let ctx = ctx_with(config("s3cret-pw"));
    let (lead, _) = one_queued_email(&ctx, "tls@acme-corp.com").await;
    let sent = blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await;
    assert_eq!(sent, 1, "{}", emails(&ctx, &lead).await);
    assert_eq!(sink.messages().len(), 1);
    let envelope = sink.envelope(1);
    assert_eq!(envelope["tls"], true, "sent over STARTTLS: {envelope}");
    assert_eq!(envelope["login"], "mailer");
    assert_eq!(emails(&ctx, &lead).await["emails"][0]["status"], "sent");

    // A wrong password: refused by the server (535), a final failure, and
    // the password appears nowhere in what is stored.
    let wrong = ctx_with(config("not-the-pw"));
    let (lead, _) = one_queued_email(&wrong, "nope@acme-corp.com").await;
    assert_eq!(
        blocking(&wrong.state, |s| nurture::mail_pass(s).unwrap()).await,
        0
    );
    let m = emails(&wrong, &lead).await["emails"][0].clone();
    assert_eq!(m["status"], "failed", "{m}");
    assert!(!m.to_string().contains("not-the-pw"));
    assert_eq!(sink.messages().len(), 1);

    // Without the server's certificate trusted, nothing is sent in clear.
    let untrusted = ctx_with(
        MailConfig::from_url(
            &url("s3cret-pw"),
            "Acme <hello@acme.example>",
            "http://leadq.test",
        )
        .unwrap(),
    );
    let (lead, _) = one_queued_email(&untrusted, "plain@acme-corp.com").await;
    assert_eq!(
        blocking(&untrusted.state, |s| nurture::mail_pass(s).unwrap()).await,
        0
    );
    let m = emails(&untrusted, &lead).await["emails"][0].clone();
    assert_eq!(m["attempts"], 1);
    assert!(m["status"] != "sent", "{m}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtps_delivers_over_tls_from_the_first_byte_and_refuses_an_untrusted_server() {
    let sink = SmtpSink::start(&["--tls", "--auth", "mailer:s3cret-pw"]);
    let url = format!("smtps://mailer:s3cret-pw@127.0.0.1:{}", sink.port);
    let config =
        || MailConfig::from_url(&url, "Acme <hello@acme.example>", "http://leadq.test").unwrap();

    let ctx = ctx_with(config().with_ca_pem(sink.file("ca.pem")).unwrap());
    let (lead, _) = one_queued_email(&ctx, "tls@acme-corp.com").await;
    let sent = blocking(&ctx.state, |s| nurture::mail_pass(s).unwrap()).await;
    assert_eq!(sent, 1, "{}", emails(&ctx, &lead).await);
    let envelope = sink.envelope(1);
    assert_eq!(envelope["tls"], true, "sent over TLS: {envelope}");
    assert_eq!(envelope["login"], "mailer");
    assert_eq!(envelope["rcpt_tos"][0], "tls@acme-corp.com");
    assert_eq!(emails(&ctx, &lead).await["emails"][0]["status"], "sent");

    // A server whose certificate is not trusted gets nothing.
    let untrusted = ctx_with(config());
    let (lead, _) = one_queued_email(&untrusted, "plain@acme-corp.com").await;
    assert_eq!(
        blocking(&untrusted.state, |s| nurture::mail_pass(s).unwrap()).await,
        0
    );
    let m = emails(&untrusted, &lead).await["emails"][0].clone();
    assert_eq!(m["attempts"], 1);
    assert!(m["status"] != "sent", "{m}");
    assert_eq!(sink.messages().len(), 1);
}
