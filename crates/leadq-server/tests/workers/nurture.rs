//! The nurture worker: enrolment rules, due steps and the outbox run in the
//! background, and the email reaches a real SMTP server.

use crate::common::{good_lead, Ctx};
use crate::smtp::{header_of, SmtpSink};
use axum::http::StatusCode;
use leadq_server::nurture::MailConfig;
use leadq_server::ServerConfig;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_enrols_by_rule_and_delivers_the_first_email() {
    let sink = SmtpSink::start(&[]);
    let ctx = Ctx::with_config(ServerConfig {
        mail: Some(
            MailConfig::from_url(
                &format!("smtp://127.0.0.1:{}", sink.port),
                "Acme <hello@acme.example>",
                "http://leadq.test",
            )
            .unwrap(),
        ),
        nurture_interval: Duration::from_millis(20),
        enrol_interval: Duration::from_millis(20),
        ..ServerConfig::default()
    });
    ctx.publish(include_str!("../../../../examples/default-model.toml"))
        .await;
    ctx.post(
        "/api/v1/templates",
        &ctx.admin,
        json!({ "id": "t", "name": "t", "subject": "Welcome to Acme, {{ lead.company }}", "body": "Hello" }),
    )
    .await
    .expect(StatusCode::CREATED);
    ctx.post(
        "/api/v1/sequences",
        &ctx.admin,
        json!({ "definition": { "name": "A fits", "enrol_when": "grade == \"A\"", "steps": [{"type": "email", "template": "t"}] } }),
    )
    .await
    .expect(StatusCode::CREATED);
    let mut doc = good_lead("ann@acme-corp.com");
    doc["opt_in"] = json!("yes");
    ctx.create_lead(doc).await;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = leadq_server::workers::spawn_all(ctx.state.clone(), stop_rx);
    let mut got = Vec::new();
    for _ in 0..250 {
        got = sink.messages();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(got.len(), 1, "one email, sent once");
    assert_eq!(sink.envelope(1)["rcpt_tos"][0], "ann@acme-corp.com");
    assert_eq!(
        header_of(&got[0], "Subject").as_deref(),
        Some("Welcome to Acme, Acme Corp")
    );
}
