//! Webhook delivery to a real receiver: signed payloads, retries with
//! backoff on the service's clock, giving up after the last attempt.

use crate::common::{deliver, good_lead, rfc, Ctx, Receiver, DEFAULT_MODEL};
use axum::http::StatusCode;
use leadq_server::clock::Clock;
use leadq_server::workers::verify_signature;
use leadq_server::ServerConfig;
use serde_json::{json, Value};

/// Moves a fresh (unscored) lead from new to working by hand: one
/// `lead.stage_changed`.
async fn lead_moved_to_working(ctx: &Ctx) -> String {
    let lead = ctx
        .create_lead(json!({ "email": "wanda@globex.com", "company": "Globex" }))
        .await;
    let id = lead["id"].as_str().expect("an id").to_string();
    ctx.post(
        &format!("/api/v1/leads/{id}/transitions"),
        &ctx.marketing,
        json!({ "to": "working" }),
    )
    .await
    .expect(StatusCode::OK);
    id
}

fn only(deliveries: &[Value]) -> &Value {
    assert_eq!(
        deliveries.len(),
        1,
        "exactly one delivery is logged: {deliveries:?}"
    );
    &deliveries[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn stage_changes_and_assignments_reach_the_receiver_as_signed_json_of_their_type() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    ctx.rep("ana", "always").await;
    let receiver = Receiver::start(0).await;
    let (hook, secret) = ctx
        .subscribe(&receiver.url, &["lead.stage_changed", "lead.assigned"])
        .await;

    let lead = ctx.create_lead(good_lead("ada@acme.io")).await;
    let id = lead["id"].as_str().expect("an id").to_string();
    assert_eq!(
        lead["stage"], "new",
        "without engagement the lead is no MQL"
    );
    ctx.event(&id, "demo_request").await;
    let lead = ctx.lead(&id).await;
    assert_eq!(lead["stage"], "mql", "a demo request makes it an MQL");
    assert_eq!(lead["owner"], "ana", "an MQL is routed to the only rep");

    assert_eq!(deliver(&ctx).await, 2, "two deliveries succeed");
    let hits = receiver.hits();
    assert_eq!(
        hits.len(),
        2,
        "the receiver got one POST per event: {hits:?}"
    );
    let mut types: Vec<String> = Vec::new();
    for hit in &hits {
        let payload = hit.json();
        let kind = payload["type"].as_str().expect("a type").to_string();
        assert_eq!(
            hit.header("x-leadq-event"),
            kind,
            "the event header names the type"
        );
        assert!(
            hit.header("content-type").starts_with("application/json"),
            "the body is sent as JSON"
        );
        assert_eq!(payload["data"]["lead_id"], id.as_str(), "{payload}");
        assert!(
            payload["id"]
                .as_str()
                .is_some_and(|e| e.starts_with("evt_")),
            "each event has an id: {payload}"
        );
        let sig = hit.header("x-leadq-signature");
        assert!(
            verify_signature(&secret, sig, &hit.body),
            "the signature verifies with the subscription's secret: {sig}"
        );
        assert!(
            sig.starts_with(&format!("t={},", ctx.clock.now_ms() / 1000)),
            "the signature is stamped with the service's clock: {sig}"
        );
        let tampered = hit.body.replacen(&id, "ld_someone_else", 1);
        assert_ne!(tampered, hit.body);
        assert!(
            !verify_signature(&secret, sig, &tampered),
            "a tampered body does not verify"
        );
        assert!(
            !verify_signature("whsec_wrong", sig, &hit.body),
            "another secret does not verify"
        );
        match kind.as_str() {
            "lead.stage_changed" => {
                assert_eq!(payload["data"]["from"], "new", "{payload}");
                assert_eq!(payload["data"]["to"], "mql", "{payload}");
                assert_eq!(payload["data"]["automatic"], true, "{payload}");
            }
            "lead.assigned" => {
                assert_eq!(payload["data"]["rep_id"], "ana", "{payload}");
            }
            other => panic!("an event nobody subscribed to was delivered: {other}"),
        }
        types.push(kind);
    }
    types.sort();
    assert_eq!(types, ["lead.assigned", "lead.stage_changed"]);

    assert_eq!(
        deliver(&ctx).await,
        0,
        "delivered events are not sent again"
    );
    assert_eq!(receiver.hits().len(), 2);
    let log = ctx.deliveries(&hook).await;
    assert_eq!(log.len(), 2, "{log:?}");
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1, "{d}");
        assert_eq!(d["last_status"], 200, "{d}");
        assert_eq!(d["delivered_at"], rfc(ctx.clock.now_ms()), "{d}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_delivery_is_retried_only_after_its_backoff_and_ends_delivered() {
    let ctx = Ctx::with_config(ServerConfig {
        webhook_backoff_ms: 1000,
        webhook_max_attempts: 8,
        ..ServerConfig::default()
    });
    let receiver = Receiver::start(2).await;
    let (hook, secret) = ctx.subscribe(&receiver.url, &["lead.stage_changed"]).await;
    let id = lead_moved_to_working(&ctx).await;

    assert_eq!(deliver(&ctx).await, 0, "the first attempt fails");
    assert_eq!(receiver.hits().len(), 1);
    let now = ctx.clock.now_ms();
    let d = only(&ctx.deliveries(&hook).await).clone();
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_status"], 500, "{d}");
    assert!(
        d["last_error"].as_str().is_some_and(|e| e.contains("500")),
        "{d}"
    );
    assert_eq!(
        d["next_attempt_at"],
        rfc(now + 1000),
        "first retry after the base delay"
    );

    assert_eq!(deliver(&ctx).await, 0);
    ctx.clock.advance(999);
    assert_eq!(deliver(&ctx).await, 0);
    assert_eq!(
        receiver.hits().len(),
        1,
        "nothing is re-sent before the retry is due"
    );

    ctx.clock.advance(1);
    assert_eq!(deliver(&ctx).await, 0, "the second attempt fails too");
    assert_eq!(receiver.hits().len(), 2, "the retry was sent once due");
    let now = ctx.clock.now_ms();
    let d = only(&ctx.deliveries(&hook).await).clone();
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["next_attempt_at"], rfc(now + 2000), "the delay doubles");

    ctx.clock.advance(1999);
    assert_eq!(deliver(&ctx).await, 0);
    assert_eq!(receiver.hits().len(), 2);
    ctx.clock.advance(1);
    assert_eq!(deliver(&ctx).await, 1, "the third attempt succeeds");
    let d = only(&ctx.deliveries(&hook).await).clone();
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(d["last_status"], 200, "{d}");
    assert_eq!(d["last_error"], Value::Null, "{d}");
    assert_eq!(d["delivered_at"], rfc(ctx.clock.now_ms()), "{d}");

    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    for hit in &hits {
        assert_eq!(hit.body, hits[0].body, "every attempt sends the same event");
        assert_eq!(
            hit.header("x-leadq-delivery"),
            hits[0].header("x-leadq-delivery"),
            "every attempt names the same delivery"
        );
        assert!(verify_signature(
            &secret,
            hit.header("x-leadq-signature"),
            &hit.body
        ));
        assert_eq!(hit.json()["data"]["lead_id"], id.as_str());
        assert_eq!(hit.json()["data"]["to"], "working");
    }
    ctx.clock.advance(24 * 3_600_000);
    assert_eq!(deliver(&ctx).await, 0);
    assert_eq!(
        receiver.hits().len(),
        3,
        "a delivered event is never re-sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_that_keeps_failing_is_given_up_after_the_last_attempt() {
    let ctx = Ctx::with_config(ServerConfig {
        webhook_backoff_ms: 1000,
        webhook_max_attempts: 2,
        ..ServerConfig::default()
    });
    let receiver = Receiver::start(usize::MAX).await;
    let (hook, _) = ctx.subscribe(&receiver.url, &["lead.stage_changed"]).await;
    lead_moved_to_working(&ctx).await;

    assert_eq!(deliver(&ctx).await, 0);
    let d = only(&ctx.deliveries(&hook).await).clone();
    assert_eq!(d["status"], "pending", "one attempt left: {d}");
    assert_eq!(d["attempts"], 1, "{d}");

    ctx.clock.advance(1000);
    assert_eq!(deliver(&ctx).await, 0);
    let d = only(&ctx.deliveries(&hook).await).clone();
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["last_status"], 500, "{d}");
    assert_eq!(d["delivered_at"], Value::Null, "{d}");

    ctx.clock.advance(24 * 3_600_000);
    assert_eq!(deliver(&ctx).await, 0);
    assert_eq!(
        receiver.hits().len(),
        2,
        "a failed delivery is not attempted again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_receiver_counts_as_a_failed_attempt() {
    let ctx = Ctx::new();
    // A port nobody listens on: bound, then released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("an address").port()
    };
    let (hook, _) = ctx
        .subscribe(
            &format!("http://127.0.0.1:{port}/hook"),
            &["lead.stage_changed"],
        )
        .await;
    lead_moved_to_working(&ctx).await;

    assert_eq!(deliver(&ctx).await, 0);
    let d = only(&ctx.deliveries(&hook).await).clone();
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_status"], Value::Null, "no receiver answered: {d}");
    assert!(
        d["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach")),
        "{d}"
    );
}
