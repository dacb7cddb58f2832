//! Website tracking: the snippet, the public collect and form endpoints
//! (CORS by configured origin, rate limits, validation), and a visitor's
//! anonymous history becoming their lead's scored events.

use crate::common::*;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use leadq_core::tracking::Rate;
use leadq_server::tracking::TrackingLimits;
use leadq_server::ServerConfig;
use serde_json::{json, Value};
use std::net::SocketAddr;

const SITE: &str = "https://www.example.com";
const VID: &str = "0123456789abcdef0123456789abcdef";

/// A response with its headers.
struct Full {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Full {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    #[track_caller]
    fn field(&self) -> &str {
        self.body["error"]["details"]["fields"][0]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("an error naming a field: {}", self.body))
    }
}

/// A public tracking request from `origin` (none: no Origin header) and the
/// client address `ip`.
async fn public(
    ctx: &Ctx,
    method: Method,
    path: &str,
    origin: Option<&str>,
    ip: &str,
    body: impl Into<Body>,
) -> Full {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
    if let Some(o) = origin {
        b = b.header(header::ORIGIN, o);
    }
    let mut req = b.body(body.into()).expect("a request");
    let addr: SocketAddr = format!("{ip}:40000").parse().expect("an address");
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = tower::ServiceExt::oneshot(ctx.app.clone(), req)
        .await
        .expect("the router is infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("the body reads");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Full {
        status,
        headers,
        body,
    }
}

async fn collect(ctx: &Ctx, vid: &str, events: Value) -> Full {
    let body = json!({ "vid": vid, "site": "www", "events": events }).to_string();
    public(
        ctx,
        Method::POST,
        "/t/collect",
        Some(SITE),
        "203.0.113.5",
        body,
    )
    .await
}

async fn form(ctx: &Ctx, body: Value) -> Full {
    public(
        ctx,
        Method::POST,
        "/t/form",
        Some(SITE),
        "203.0.113.5",
        body.to_string(),
    )
    .await
}

fn page_view(id: &str, url: &str) -> Value {
    json!({ "id": id, "kind": "page_view", "url": url, "props": { "title": "A page", "referrer": "" } })
}

async fn allow_site(ctx: &Ctx) {
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        json!({ "tracking_origins": [SITE] }),
    )
    .await
    .expect(StatusCode::OK);
}

async fn visitor(ctx: &Ctx, vid: &str) -> Value {
    ctx.get(&format!("/api/v1/visitors/{vid}"), &ctx.marketing)
        .await
        .expect(StatusCode::OK)
}

async fn lead_events(ctx: &Ctx, id: &str) -> Vec<Value> {
    ctx.get(&format!("/api/v1/leads/{id}/events"), &ctx.admin)
        .await
        .expect(StatusCode::OK)["events"]
        .as_array()
        .expect("events")
        .clone()
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_snippet_is_served_as_javascript_with_cache_headers() {
    let ctx = Ctx::new();
    let r = public(
        &ctx,
        Method::GET,
        "/t.js",
        None,
        "203.0.113.5",
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("application/javascript; charset=utf-8")
    );
    assert!(r
        .header("cache-control")
        .is_some_and(|c| c.contains("max-age")));
    let js = r.body.as_str().expect("the script");
    for needed in [
        "leadq_vid",
        "doNotTrack",
        "globalPrivacyControl",
        "data-require-consent",
        "/t/collect",
        "/t/form",
        "data-leadq-form",
    ] {
        assert!(js.contains(needed), "the snippet mentions {needed}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tracking_origins_setting_is_validated_normalised_and_shown() {
    let ctx = Ctx::new();
    let r = ctx
        .put(
            "/api/v1/settings",
            &ctx.admin,
            json!({ "tracking_origins": ["https://ok.example.com", "www.example.com"] }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["path"],
        "tracking_origins[1]"
    );
    let s = ctx
        .put(
            "/api/v1/settings",
            &ctx.admin,
            json!({ "tracking_origins": ["HTTPS://WWW.Example.com/", "https://www.example.com:443", "http://127.0.0.1:8080"] }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        s["tracking_origins"],
        json!(["https://www.example.com", "http://127.0.0.1:8080"])
    );
    let read = ctx
        .get("/api/v1/settings", &ctx.manager)
        .await
        .expect(StatusCode::OK);
    assert_eq!(read["tracking_origins"], s["tracking_origins"]);
    // Managers read settings but may not change them.
    ctx.put(
        "/api/v1/settings",
        &ctx.manager,
        json!({ "tracking_origins": [] }),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_view_from_an_allowed_origin_is_recorded_for_the_visitor() {
    let ctx = Ctx::new();
    allow_site(&ctx).await;
    let r = collect(
        &ctx,
        VID,
        json!([page_view("event-0001", "/pricing?email=x@y.z")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
    let v = visitor(&ctx, VID).await;
    assert_eq!(v["id"], VID);
    assert_eq!(v["lead_id"], Value::Null);
    assert_eq!(v["first_seen"], rfc(t0()));
    let events = v["events"].as_array().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "page_view");
    // The query string (often personal data) is not kept.
    assert_eq!(events[0]["url"], "/pricing");
    assert_eq!(events[0]["properties"]["url"], "/pricing");
    assert_eq!(events[0]["properties"]["title"], "A page");
    // A repeated event id (a retried beacon) is stored once.
    collect(&ctx, VID, json!([page_view("event-0001", "/pricing")])).await;
    assert_eq!(
        visitor(&ctx, VID).await["events"].as_array().map(Vec::len),
        Some(1)
    );
    ctx.get("/api/v1/visitors/unknown-visitor-id", &ctx.marketing)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_from_another_origin_is_refused_and_stores_nothing() {
    let ctx = Ctx::new();
    allow_site(&ctx).await;
    let body = json!({ "vid": VID, "events": [page_view("event-0001", "/")] }).to_string();
    for origin in [
        Some("https://evil.example.net"),
        Some("https://example.com"),
        Some("null"),
        None,
    ] {
        let r = public(
            &ctx,
            Method::POST,
            "/t/collect",
            origin,
            "203.0.113.5",
            body.clone(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{origin:?}");
        assert_eq!(r.body["error"]["code"], "origin_not_allowed");
        assert_eq!(r.header("access-control-allow-origin"), None);
        let f =
            json!({ "vid": VID, "sid": "submission-1", "fields": { "email": "eve@example.net" } });
        let r = public(
            &ctx,
            Method::POST,
            "/t/form",
            origin,
            "203.0.113.5",
            f.to_string(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{origin:?}");
    }
    ctx.get(&format!("/api/v1/visitors/{VID}"), &ctx.marketing)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert!(ctx.all_leads(&ctx.admin, "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_accepted_before_any_origin_is_configured() {
    let ctx = Ctx::new();
    let r = collect(&ctx, VID, json!([page_view("event-0001", "/")])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preflight_from_an_allowed_origin_gets_the_cors_headers_and_others_are_refused() {
    let ctx = Ctx::new();
    allow_site(&ctx).await;
    for path in ["/t/collect", "/t/form"] {
        let r = public(
            &ctx,
            Method::OPTIONS,
            path,
            Some(SITE),
            "203.0.113.5",
            Body::empty(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
        assert!(r
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST")));
        assert!(r
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("content-type")));
        assert!(r.header("access-control-max-age").is_some());
        assert_eq!(r.header("vary"), Some("origin"));
        let r = public(
            &ctx,
            Method::OPTIONS,
            path,
            Some("https://evil.example.net"),
            "203.0.113.5",
            Body::empty(),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_past_the_burst_get_429_with_retry_after_until_the_bucket_refills() {
    let ctx = Ctx::with_config(ServerConfig {
        tracking_limits: TrackingLimits {
            per_ip: Rate {
                burst: 3.0,
                per_second: 0.5,
            },
            per_visitor: Rate {
                burst: 100.0,
                per_second: 1.0,
            },
        },
        ..Default::default()
    });
    allow_site(&ctx).await;
    for i in 0..3 {
        let r = collect(&ctx, VID, json!([page_view(&format!("event-000{i}"), "/")])).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "request {i}");
    }
    let r = collect(&ctx, VID, json!([page_view("event-0009", "/")])).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    assert_eq!(r.header("retry-after"), Some("2"));
    // The page can read the refusal.
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
    assert_eq!(
        visitor(&ctx, VID).await["events"].as_array().map(Vec::len),
        Some(3)
    );
    // Another client address has its own bucket.
    let other = json!({ "vid": "another-visitor-0001", "events": [page_view("event-0001", "/")] });
    let r = public(
        &ctx,
        Method::POST,
        "/t/collect",
        Some(SITE),
        "198.51.100.1",
        other.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    ctx.clock.advance(2_000);
    let r = collect(&ctx, VID, json!([page_view("event-0009", "/")])).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_visitor_is_limited_whatever_address_it_comes_from() {
    let ctx = Ctx::with_config(ServerConfig {
        tracking_limits: TrackingLimits {
            per_ip: Rate {
                burst: 100.0,
                per_second: 1.0,
            },
            per_visitor: Rate {
                burst: 2.0,
                per_second: 0.1,
            },
        },
        ..Default::default()
    });
    allow_site(&ctx).await;
    for (i, ip) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .iter()
        .enumerate()
    {
        let body = json!({ "vid": VID, "events": [page_view(&format!("event-000{i}"), "/")] });
        let r = public(
            &ctx,
            Method::POST,
            "/t/collect",
            Some(SITE),
            ip,
            body.to_string(),
        )
        .await;
        let want = if i < 2 {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, want, "request {i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tracking_input_is_refused_with_the_field_named() {
    let ctx = Ctx::new();
    allow_site(&ctx).await;
    let cases = [
        (json!({ "vid": "x", "events": [] }), "vid"),
        (
            json!({ "vid": VID, "events": [{ "id": "event-0001", "kind": "email_open" }] }),
            "events[0].kind",
        ),
        (
            json!({ "vid": VID, "events": [{ "id": "event-0001", "kind": "form_submit" }] }),
            "events[0].kind",
        ),
        (
            json!({ "vid": VID, "events": [page_view("event-0001", &format!("/{}", "a".repeat(3000)))] }),
            "events[0].url",
        ),
        (
            json!({ "vid": VID, "events": [{ "id": "event-0001", "kind": "page_view" }] }),
            "events[0].url",
        ),
        (
            json!({ "vid": VID, "events": [{ "id": "event-0001", "kind": "video", "props": { "p": [1] } }] }),
            "events[0].props.p",
        ),
        (
            json!({ "vid": VID, "events": (0..21).map(|i| page_view(&format!("event-{i:04}"), "/")).collect::<Vec<_>>() }),
            "events",
        ),
        (json!({ "vid": VID, "events": [], "extra": 1 }), "$"),
    ];
    for (body, field) in cases {
        let r = public(
            &ctx,
            Method::POST,
            "/t/collect",
            Some(SITE),
            "203.0.113.5",
            body.to_string(),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        if field != "$" {
            assert_eq!(r.field(), field, "{body}");
        }
        assert_eq!(r.header("access-control-allow-origin"), Some(SITE));
    }
    let r = public(
        &ctx,
        Method::POST,
        "/t/collect",
        Some(SITE),
        "203.0.113.5",
        "{not json",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let big = json!({ "vid": VID, "events": [], "site": "x".repeat(40_000) }).to_string();
    let r = public(
        &ctx,
        Method::POST,
        "/t/collect",
        Some(SITE),
        "203.0.113.5",
        big,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Forms: an email is required, and a form cannot pick the lead.
    let form_cases = [
        (
            json!({ "vid": VID, "sid": "submission-1", "fields": { "name": "Ada" } }),
            "fields.email",
        ),
        (
            json!({ "vid": VID, "sid": "submission-1", "fields": { "email": "not an address" } }),
            "fields.email",
        ),
        (
            json!({ "vid": VID, "sid": "submission-1", "fields": { "email": "ada@acme-corp.com", "id": "lead_x" } }),
            "fields.id",
        ),
        (
            json!({ "vid": VID, "sid": "submission-1", "fields": { "email": "ada@acme-corp.com", "notes": "x".repeat(3000) } }),
            "fields.notes",
        ),
        (
            json!({ "vid": "bad", "sid": "submission-1", "fields": { "email": "ada@acme-corp.com" } }),
            "vid",
        ),
    ];
    for (body, field) in form_cases {
        let r = form(&ctx, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.field(), field, "{body}");
        assert!(r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(field)));
    }
    assert!(ctx.all_leads(&ctx.admin, "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_submission_attaches_the_visitors_earlier_events_to_the_lead_and_counts_them() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    allow_site(&ctx).await;
    collect(
        &ctx,
        VID,
        json!([
            page_view("event-0001", "/"),
            page_view("event-0002", "/pricing")
        ]),
    )
    .await;
    ctx.clock.advance(60_000);
    collect(&ctx, VID, json!([page_view("event-0003", "/pricing/enterprise"), { "id": "event-0004", "kind": "content download", "props": { "asset": "whitepaper" } }])).await;
    // Someone else's history stays theirs.
    collect(
        &ctx,
        "other-visitor-0001",
        json!([page_view("event-0001", "/pricing")]),
    )
    .await;
    ctx.clock.advance(60_000);
    let mut fields = good_lead("ada@acme-corp.com");
    fields.as_object_mut().expect("an object").remove("source");
    let body = json!({ "vid": VID, "sid": "submission-0001", "form": "contact", "page": "/contact", "fields": fields });
    let r = form(&ctx, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body,
        json!({ "ok": true }),
        "the lead's id is not told to the page"
    );
    assert_eq!(r.header("access-control-allow-origin"), Some(SITE));

    let v = visitor(&ctx, VID).await;
    let lead_id = v["lead_id"]
        .as_str()
        .expect("the visitor is linked")
        .to_string();
    assert_eq!(v["lead"]["email"], "ada@acme-corp.com");
    assert_eq!(v["lead"]["source"], "website");
    let events = lead_events(&ctx, &lead_id).await;
    assert_eq!(count(&events, "page_view"), 3, "{events:?}");
    assert_eq!(count(&events, "content_download"), 1);
    assert_eq!(count(&events, "form_submit"), 1);
    let pricing = events
        .iter()
        .find(|e| e["properties"]["url"] == "/pricing")
        .expect("the pricing view");
    assert_eq!(
        pricing["at"],
        rfc(t0()),
        "events keep the time they happened"
    );
    assert_eq!(
        pricing["idempotency_key"],
        format!("visitor:{VID}:event-0002")
    );

    let lead = ctx.lead(&lead_id).await;
    let score = &lead["score"];
    assert!(score["engagement"].as_f64().expect("engagement") > 0.0);
    let reasons = score["reasons"].to_string();
    assert!(reasons.contains("Pricing page"), "{reasons}");
    assert!(reasons.contains("Form submitted"), "{reasons}");
    let engagement = score["engagement"].as_f64().expect("engagement");

    // Submitting again adds a submission, not the history a second time.
    let again = json!({ "vid": VID, "sid": "submission-0002", "form": "contact", "page": "/contact", "fields": { "email": "ada@acme-corp.com", "phone": "+1 415 555 0100" } });
    let r = form(&ctx, again.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let events = lead_events(&ctx, &lead_id).await;
    assert_eq!(count(&events, "page_view"), 3);
    assert_eq!(count(&events, "content_download"), 1);
    assert_eq!(count(&events, "form_submit"), 2);
    // The same submission retried counts once.
    form(&ctx, again).await;
    assert_eq!(count(&lead_events(&ctx, &lead_id).await, "form_submit"), 2);
    let lead = ctx.lead(&lead_id).await;
    assert_eq!(lead["source"], "website");
    assert!(lead["score"]["engagement"].as_f64().expect("engagement") > engagement);
    assert_eq!(ctx.all_leads(&ctx.admin, "").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_of_a_visitor_who_is_already_a_lead_become_the_leads_events() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    allow_site(&ctx).await;
    let body =
        json!({ "vid": VID, "sid": "submission-0001", "fields": good_lead("bo@acme-corp.com") });
    assert_eq!(form(&ctx, body).await.status, StatusCode::CREATED);
    let lead_id = visitor(&ctx, VID).await["lead_id"]
        .as_str()
        .expect("linked")
        .to_string();
    let r = collect(&ctx, VID, json!([page_view("event-0010", "/pricing")])).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let events = lead_events(&ctx, &lead_id).await;
    assert_eq!(count(&events, "page_view"), 1);
    assert_eq!(
        events
            .iter()
            .find(|e| e["type"] == "page_view")
            .expect("a view")["idempotency_key"],
        format!("visitor:{VID}:event-0010")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_a_visitor_makes_the_lead_with_one_submission() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    allow_site(&ctx).await;
    let body = json!({ "sid": "submission-0001", "page": "/contact", "fields": { "email": "dnt@acme-corp.com", "company": "Acme Corp" } });
    assert_eq!(form(&ctx, body.clone()).await.status, StatusCode::CREATED);
    assert_eq!(form(&ctx, body).await.status, StatusCode::OK);
    let leads = ctx.all_leads(&ctx.admin, "").await;
    assert_eq!(leads.len(), 1);
    let events = lead_events(&ctx, leads[0]["id"].as_str().expect("an id")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "form_submit");
    assert_eq!(events[0]["properties"]["url"], "/contact");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_forms_consent_box_records_an_email_opt_in() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    allow_site(&ctx).await;
    let body = json!({ "vid": VID, "sid": "submission-0001", "consent": true, "fields": { "email": "cy@acme-corp.com" } });
    assert_eq!(form(&ctx, body).await.status, StatusCode::CREATED);
    let v = visitor(&ctx, VID).await;
    assert_eq!(v["consent"], true);
    let c = ctx
        .get(
            &format!(
                "/api/v1/leads/{}/consent",
                v["lead_id"].as_str().expect("linked")
            ),
            &ctx.marketing,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(c["channels"]["email"]["opt_in"], true);
    assert_eq!(c["channels"]["email"]["lawful_basis"], "consent");
    assert_eq!(c["channels"]["email"]["source"], "website form");
    assert_eq!(c["tracking_consented"], true);
    // Without the box ticked nothing is recorded.
    let body = json!({ "vid": "visitor-without-consent", "sid": "submission-0002", "fields": { "email": "di@acme-corp.com" } });
    assert_eq!(form(&ctx, body).await.status, StatusCode::CREATED);
    let v = visitor(&ctx, "visitor-without-consent").await;
    let c = ctx
        .get(
            &format!(
                "/api/v1/leads/{}/consent",
                v["lead_id"].as_str().expect("linked")
            ),
            &ctx.marketing,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(c["channels"]["email"]["opt_in"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn visitors_are_for_marketing_and_admins_only() {
    let ctx = Ctx::new();
    allow_site(&ctx).await;
    collect(&ctx, VID, json!([page_view("event-0001", "/")])).await;
    let path = format!("/api/v1/visitors/{VID}");
    let r = ctx.raw(Method::GET, &path, None, "").await;
    r.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    ctx.get(&path, &ctx.manager)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    ctx.get(&path, &ctx.admin).await.expect(StatusCode::OK);
    ctx.get(&path, &ctx.marketing).await.expect(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_visitors_are_exported_and_erased_with_them() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    allow_site(&ctx).await;
    collect(&ctx, VID, json!([page_view("event-0001", "/pricing")])).await;
    let body =
        json!({ "vid": VID, "sid": "submission-0001", "fields": { "email": "er@acme-corp.com" } });
    form(&ctx, body).await;
    let export = ctx
        .get(
            "/api/v1/privacy/export?email=er%40acme-corp.com",
            &ctx.admin,
        )
        .await
        .expect(StatusCode::OK);
    let visitors = &export["leads"][0]["website_visitors"];
    assert_eq!(visitors[0]["id"], VID);
    assert_eq!(visitors[0]["events"].as_array().map(Vec::len), Some(2));
    let audit = ctx
        .post(
            "/api/v1/privacy/erase",
            &ctx.admin,
            json!({ "email": "er@acme-corp.com" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(audit["removed"]["visitors"], 1);
    assert_eq!(audit["removed"]["visitor_events"], 2);
    ctx.get(&format!("/api/v1/visitors/{VID}"), &ctx.marketing)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}
