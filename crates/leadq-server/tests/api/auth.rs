//! Every route refuses callers without a valid token, and each role reaches
//! exactly the routes the table below grants it.

use crate::common::*;
use axum::http::{Method, StatusCode};
use leadq_server::auth::Role;
use serde_json::Value;
use std::collections::BTreeSet;

/// Who may call a route besides admins (admins always may).
#[derive(Clone, Copy)]
enum Access {
    /// Any valid token.
    Any,
    /// Admins only.
    Admin,
    /// Admins and these roles.
    Roles(&'static [Role]),
}

use Access::*;
const MK: Role = Role::Marketing;
const MG: Role = Role::Manager;
const REP: Role = Role::Rep;

/// (method, OpenAPI path, access, a body that parses for the route).
/// A new route in the OpenAPI document fails the test until it has a row.
const ROUTES: &[(&str, &str, Access, Option<&str>)] = &[
    (
        "post",
        "/leads",
        Roles(&[MK, MG]),
        Some(r#"{"email":"matrix@example.com"}"#),
    ),
    ("get", "/leads", Any, None),
    (
        "post",
        "/leads/bulk",
        Roles(&[MK, MG]),
        Some(r#"{"leads":[]}"#),
    ),
    ("get", "/leads/{id}", Any, None),
    (
        "patch",
        "/leads/{id}",
        Roles(&[MK, MG, REP]),
        Some(r#"{"company":"X"}"#),
    ),
    ("delete", "/leads/{id}", Roles(&[MK]), None),
    ("get", "/leads/{id}/score", Any, None),
    ("get", "/leads/{id}/history", Any, None),
    ("get", "/leads/{id}/score-at", Any, None),
    ("get", "/leads/{id}/events", Any, None),
    ("get", "/leads/{id}/frameworks/{framework}", Any, None),
    (
        "put",
        "/leads/{id}/frameworks/{framework}",
        Any,
        Some(r#"{"answers":{}}"#),
    ),
    (
        "post",
        "/leads/{id}/transitions",
        Roles(&[MK, MG, REP]),
        Some(r#"{"to":"working"}"#),
    ),
    ("post", "/leads/{id}/assign", Roles(&[MG]), Some(r#"{}"#)),
    ("post", "/leads/{id}/touch", Roles(&[MG, REP]), None),
    ("get", "/frameworks", Any, None),
    (
        "post",
        "/events",
        Roles(&[MK]),
        Some(r#"{"lead_id":"placeholder","type":"page_view"}"#),
    ),
    (
        "post",
        "/events/batch",
        Roles(&[MK]),
        Some(r#"{"events":[]}"#),
    ),
    (
        "post",
        "/imports",
        Roles(&[MK]),
        Some("email\nmatrix@example.com\n"),
    ),
    (
        "post",
        "/imports/preview",
        Roles(&[MK]),
        Some("email\nmatrix@example.com\n"),
    ),
    ("get", "/jobs/{id}", Roles(&[MK, MG]), None),
    ("get", "/jobs/{id}/rejects", Roles(&[MK, MG]), None),
    (
        "post",
        "/models",
        Roles(&[MK]),
        Some(r#"{"name":"m","source":"not a model"}"#),
    ),
    ("get", "/models", Roles(&[MK, MG]), None),
    (
        "post",
        "/models/validate",
        Roles(&[MK]),
        Some(r#"{"source":"not a model"}"#),
    ),
    (
        "post",
        "/models/backtest",
        Roles(&[MK, MG]),
        Some(r#"{"source":"not a model"}"#),
    ),
    ("get", "/models/diff", Roles(&[MK, MG]), None),
    ("get", "/models/{id}", Roles(&[MK, MG]), None),
    ("post", "/models/{id}/publish", Roles(&[MK]), None),
    (
        "post",
        "/predictive/train",
        Roles(&[MK]),
        Some(r#"{"algorithm":"gbdt"}"#),
    ),
    ("get", "/predictive/models", Roles(&[MK, MG]), None),
    (
        "post",
        "/predictive/models/{id}/promote",
        Roles(&[MK]),
        None,
    ),
    ("get", "/leads/{id}/prediction", Any, None),
    ("get", "/reps", Roles(&[MG, MK]), None),
    (
        "put",
        "/reps/{id}",
        Roles(&[MG]),
        Some(r#"{"name":"R","capacity":1,"working_hours":"always"}"#),
    ),
    ("delete", "/reps/{id}", Roles(&[MG]), None),
    ("get", "/routing/rules", Roles(&[MG, MK]), None),
    (
        "put",
        "/routing/rules",
        Roles(&[MG]),
        Some(r#"{"rules":[]}"#),
    ),
    ("get", "/sla/policies", Roles(&[MG, MK]), None),
    (
        "put",
        "/sla/policies/{id}",
        Roles(&[MG]),
        Some(r#"{"stage":"mql","minutes":30,"action":"escalate"}"#),
    ),
    ("delete", "/sla/policies/{id}", Roles(&[MG]), None),
    ("get", "/sla/breaches", Roles(&[MG]), None),
    (
        "post",
        "/webhooks",
        Admin,
        Some(r#"{"url":"https://example.com/hook","events":["*"]}"#),
    ),
    ("get", "/webhooks", Admin, None),
    ("delete", "/webhooks/{id}", Admin, None),
    ("get", "/webhooks/{id}/deliveries", Admin, None),
    ("get", "/metrics", Roles(&[MG, MK]), None),
    ("put", "/spend", Roles(&[MK]), Some(r#"{"spend":[]}"#)),
    (
        "post",
        "/tokens",
        Admin,
        Some(r#"{"name":"t","role":"marketing"}"#),
    ),
    ("get", "/tokens", Admin, None),
    ("delete", "/tokens/{id}", Admin, None),
    (
        "post",
        "/users",
        Admin,
        Some(r#"{"name":"matrix user","role":"marketing"}"#),
    ),
    ("get", "/users", Admin, None),
    (
        "put",
        "/users/{name}/password",
        Admin,
        Some(r#"{"password":"long enough"}"#),
    ),
    ("get", "/settings", Roles(&[MG]), None),
    ("get", "/leads/{id}/consent", Roles(&[MK, MG, REP]), None),
    (
        "put",
        "/leads/{id}/consent",
        Roles(&[MK, MG, REP]),
        Some(r#"{"email":{"opt_in":true},"source":"matrix"}"#),
    ),
    ("get", "/privacy/export", Admin, None),
    (
        "post",
        "/privacy/erase",
        Admin,
        Some(r#"{"email":"nobody@example.com"}"#),
    ),
    ("get", "/privacy/erasures", Admin, None),
    ("put", "/settings", Admin, Some(r#"{}"#)),
    (
        "post",
        "/templates",
        Roles(&[MK, MG]),
        Some(r#"{"name":"m","subject":"s","body":"b"}"#),
    ),
    ("get", "/templates", Roles(&[MK, MG, REP]), None),
    ("get", "/templates/{id}", Roles(&[MK, MG, REP]), None),
    (
        "put",
        "/templates/{id}",
        Roles(&[MK, MG]),
        Some(r#"{"name":"m","subject":"s","body":"b"}"#),
    ),
    ("delete", "/templates/{id}", Roles(&[MK, MG]), None),
    (
        "post",
        "/sequences",
        Roles(&[MK, MG]),
        Some(r#"{"definition":{"name":"m","steps":[{"type":"wait","business_days":1}]}}"#),
    ),
    ("get", "/sequences", Roles(&[MK, MG, REP]), None),
    ("get", "/sequences/{id}", Roles(&[MK, MG]), None),
    (
        "put",
        "/sequences/{id}",
        Roles(&[MK, MG]),
        Some(r#"{"definition":{"name":"m","steps":[{"type":"wait","business_days":1}]}}"#),
    ),
    (
        "post",
        "/sequences/{id}/enrolments",
        Roles(&[MK, MG, REP]),
        Some(r#"{"lead_id":"placeholder"}"#),
    ),
    (
        "post",
        "/leads/{id}/enrolments",
        Roles(&[MK, MG, REP]),
        Some(r#"{"sequence_id":"placeholder"}"#),
    ),
    ("post", "/enrolments/{id}/stop", Roles(&[MK, MG, REP]), None),
    ("get", "/leads/{id}/emails", Roles(&[MK, MG, REP]), None),
    (
        "post",
        "/inbound/email",
        Roles(&[MK]),
        Some(r#"{"type":"reply","email":"nobody@example.com"}"#),
    ),
    ("post", "/inbound/postmark", Roles(&[MK]), Some(r#"{}"#)),
    (
        "post",
        "/leads/{id}/tasks",
        Roles(&[MK, MG, REP]),
        Some(r#"{"title":"t"}"#),
    ),
    ("get", "/tasks", Roles(&[MK, MG, REP]), None),
    ("get", "/tasks/{id}", Roles(&[MK, MG, REP]), None),
    ("post", "/tasks/{id}/complete", Roles(&[MK, MG, REP]), None),
    ("post", "/tasks/{id}/cancel", Roles(&[MK, MG, REP]), None),
    (
        "post",
        "/tasks/{id}/snooze",
        Roles(&[MK, MG, REP]),
        Some(r#"{"business_minutes":60}"#),
    ),
    ("get", "/task-rules", Roles(&[MG]), None),
    ("put", "/task-rules", Roles(&[MG]), Some(r#"{"rules":[]}"#)),
    ("get", "/visitors/{id}", Roles(&[MK]), None),
];

const ALL_ROLES: [Role; 4] = [Role::Admin, Role::Marketing, Role::Manager, Role::Rep];

fn allows(access: Access, role: Role) -> bool {
    match access {
        Any => true,
        Admin => role == Role::Admin,
        Roles(rs) => role == Role::Admin || rs.contains(&role),
    }
}

/// The (method, path) pairs of the OpenAPI document.
fn documented_routes() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(leadq_server::api::openapi()).expect("the document serialises");
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

/// A concrete URL for a documented path: placeholders filled with plausible
/// values, required query parameters given.
fn url(path: &str) -> String {
    let id = if path.starts_with("/models/") || path.starts_with("/predictive/models/") {
        "1"
    } else {
        "placeholder"
    };
    let mut p = path
        .replace("{id}", id)
        .replace("{framework}", "BANT")
        .replace("{name}", "nobody");
    if path.ends_with("/score-at") {
        p.push_str("?at=2026-11-02T10:00:00Z");
    }
    if path == "/privacy/export" {
        p.push_str("?email=nobody@example.com");
    }
    if path == "/models/diff" {
        p.push_str("?from=1&to=2");
    }
    format!("/api/v1{p}")
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes()).expect("a method")
}

#[test]
fn every_documented_route_has_a_row_in_the_role_table_and_every_row_is_documented() {
    let documented = documented_routes();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(table.len(), ROUTES.len(), "the table lists a route twice");
    let missing: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes in the OpenAPI document without a row in the role table: {missing:?}"
    );
    let stale: Vec<_> = table.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "rows in the role table for routes the OpenAPI document does not list: {stale:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_a_missing_or_invalid_token_with_401() {
    let ctx = Ctx::new();
    let revoked = ctx.token("gone", Role::Admin, None);
    let tokens = ctx
        .get("/api/v1/tokens", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    let gone_id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "gone")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ctx.delete(&format!("/api/v1/tokens/{gone_id}"), &ctx.admin)
        .await
        .expect(StatusCode::NO_CONTENT);

    let routes = documented_routes();
    assert!(
        routes.len() >= 40,
        "the document lists the API: {}",
        routes.len()
    );
    for (m, path) in &routes {
        let body = ROUTES
            .iter()
            .find(|r| r.0 == m && r.1 == path)
            .and_then(|r| r.3)
            .unwrap_or("");
        let u = url(path);
        let r = ctx.raw(method(m), &u, None, body.to_string()).await;
        r.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
        for bad in [
            "lq_0000000000000000000000000000000000000000",
            "garbage",
            &revoked,
        ] {
            let r = ctx.raw(method(m), &u, Some(bad), body.to_string()).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{m} {u} with token {bad:?}: {}",
                r.body
            );
            assert_eq!(r.code(), "unauthorized", "{m} {u}: {}", r.body);
        }
        // Not a bearer token at all.
        let req = axum::http::Request::builder()
            .method(method(m))
            .uri(&u)
            .header("authorization", format!("Basic {}", ctx.admin))
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        let r = ctx.send(req).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{m} {u} with a Basic header: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_reaches_exactly_the_routes_the_table_grants_it() {
    let ctx = Ctx::new();
    ctx.rep("rep_matrix", 5).await;
    let rep = ctx.token("rita", Role::Rep, Some("rep_matrix"));
    let token_of = |role: Role| -> &str {
        match role {
            Role::Admin => &ctx.admin,
            Role::Marketing => &ctx.marketing,
            Role::Manager => &ctx.manager,
            Role::Rep => &rep,
        }
    };
    let mut checked = 0;
    for (m, path, access, body) in ROUTES {
        let u = url(path);
        for role in ALL_ROLES {
            let r = ctx
                .raw(
                    method(m),
                    &u,
                    Some(token_of(role)),
                    body.unwrap_or("").to_string(),
                )
                .await;
            if allows(*access, role) {
                assert!(
                    r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                    "{m} {u} as {role:?} should be allowed, got {}: {}",
                    r.status,
                    r.body
                );
                assert!(
                    !r.status.is_server_error(),
                    "{m} {u} as {role:?}: {} {}",
                    r.status,
                    r.body
                );
            } else {
                r.expect_error(StatusCode::FORBIDDEN, "forbidden");
                let msg = r.body["error"]["message"].as_str().unwrap();
                assert!(
                    msg.contains(role.as_str()),
                    "the refusal names the caller's role: {msg}"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 60,
        "the matrix checks forbidden combinations: {checked}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_need_no_token_and_the_openapi_document_is_3_1() {
    let ctx = Ctx::new();
    let r = ctx.raw(Method::GET, "/healthz", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    let r = ctx.raw(Method::GET, "/readyz", None, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "ready");
    assert_eq!(
        r.body["model_version"],
        Value::Null,
        "no model is published yet"
    );

    let doc = ctx
        .get("/api/v1/openapi.json", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "openapi version: {}",
        doc["openapi"]
    );
    assert!(
        doc["paths"]["/leads"]["get"].is_object(),
        "the document lists GET /leads"
    );
    assert!(
        doc["paths"]["/leads"]["post"].is_object(),
        "the document lists POST /leads"
    );
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let r = ctx.get("/api/v1/no/such/route", &ctx.admin).await;
    r.expect_error(StatusCode::NOT_FOUND, "not_found");
}
