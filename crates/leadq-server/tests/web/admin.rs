//! Web UI tests: the admin page — what each role sees, and changes made
//! through the session API showing up on it.

use crate::browser::*;
use crate::common::*;
use axum::http::{Method, StatusCode};
use serde_json::json;

/// Reps, two ordered routing rules and an SLA policy, set up by a manager.
async fn routing_setup(ctx: &Ctx) {
    ctx.rep("rep-1", 10).await;
    ctx.rep("rep-2", 10).await;
    ctx.put(
        "/api/v1/routing/rules",
        &ctx.manager,
        json!({ "rules": [
            { "name": "north-america", "countries": ["US", "CA"], "reps": ["rep-1"] },
            { "name": "everyone-else", "reps": ["rep-2"] },
        ]}),
    )
    .await
    .expect(StatusCode::OK);
    ctx.put(
        "/api/v1/sla/policies/mql-2h",
        &ctx.manager,
        json!({ "stage": "mql", "minutes": 120, "action": "escalate", "escalate_to": "rep-2" }),
    )
    .await
    .expect(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_sees_reps_rules_and_sla_but_not_users_tokens_or_webhooks() {
    let ctx = Ctx::new();
    routing_setup(&ctx).await;
    let mut mgr = ctx.browser("maxine", "manager", None).await;
    let html = mgr.get("/ui/admin").await.ok();
    for shown in [
        "id=\"reps\"",
        "Rep rep-1",
        "id=\"routing\"",
        "id=\"sla\"",
        "<code>mql-2h</code>",
        "120 business min",
    ] {
        assert!(html.contains(shown), "a manager sees {shown}");
    }
    // The rules are listed in their order and editable as JSON.
    let first = html.find("<strong>north-america</strong>").expect("rule 1");
    let second = html.find("<strong>everyone-else</strong>").expect("rule 2");
    assert!(first < second, "rules keep their order");
    assert!(html.contains("country in US, CA"));
    assert!(
        html.contains("&quot;name&quot;: &quot;north-america&quot;")
            || html.contains("\"name\": \"north-america\"")
    );
    for hidden in [
        "id=\"users\"",
        "id=\"tokens\"",
        "id=\"webhooks\"",
        "id=\"settings\"",
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/webhooks",
    ] {
        assert!(!html.contains(hidden), "a manager does not see {hidden}");
    }

    let mut root = ctx.browser("root2", "admin", None).await;
    let html = root.get("/ui/admin").await.ok();
    for shown in [
        "id=\"reps\"",
        "id=\"users\"",
        "id=\"tokens\"",
        "id=\"webhooks\"",
        "<td>maxine</td>",
    ] {
        assert!(html.contains(shown), "an admin sees {shown}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_creates_a_user_through_the_session_api_and_the_user_can_sign_in() {
    let ctx = Ctx::new();
    let mut root = ctx.browser("root2", "admin", None).await;
    let html = root.get("/ui/admin").await.ok();
    assert!(html.contains("data-api=\"/api/v1/users\""), "the form");
    root.api(
        Method::POST,
        "/api/v1/users",
        Some(json!({ "name": "nina", "role": "marketing", "password": "first password" })),
    )
    .await
    .expect(StatusCode::CREATED);
    let html = root.get("/ui/admin").await.ok();
    assert!(html.contains("<td>nina</td><td>marketing</td>"), "{html}");
    assert!(html.contains("data-api=\"/api/v1/users/nina/password\""));

    let mut nina = Browser::new(&ctx);
    let p = nina.sign_in("nina", "first password").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "nina signs in: {}", p.html);
    nina.get("/ui/dashboard").await.ok();

    // A password set on the page's form replaces the old one.
    root.api(
        Method::PUT,
        "/api/v1/users/nina/password",
        Some(json!({ "password": "second password" })),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let mut again = Browser::new(&ctx);
    assert_eq!(
        again.sign_in("nina", "first password").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        again.sign_in("nina", "second password").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rep_created_through_the_session_api_shows_on_the_page_and_can_be_deactivated() {
    let ctx = Ctx::new();
    let mut mgr = ctx.browser("maxine", "manager", None).await;
    let html = mgr.get("/ui/admin").await.ok();
    assert!(html.contains("data-api-template=\"/api/v1/reps/{id}\""));
    let rep = json!({
        "name": "Dana <Day>", "email": "dana@example.com", "capacity": 5,
        "timezone": "Europe/Berlin", "working_hours": "Mon-Fri 08:00-16:00",
        "territory": ["DE", "AT"], "active": true,
    });
    mgr.api(Method::PUT, "/api/v1/reps/rep-9", Some(rep.clone()))
        .await
        .expect(StatusCode::OK);
    let html = mgr.get("/ui/admin").await.ok();
    for shown in [
        "<code>rep-9</code>",
        "Dana &lt;Day&gt;",
        "0 / 5",
        "Mon-Fri 08:00-16:00",
        "Europe/Berlin",
        "DE, AT",
        "aria-label=\"Deactivate Dana &lt;Day&gt;\"",
    ] {
        assert!(html.contains(shown), "the rep's {shown}");
    }
    assert!(!html.contains("<Day>"), "names are escaped");

    // The deactivate button sends the rep back with `active: false`.
    let mut off = rep.clone();
    off["active"] = json!(false);
    mgr.api(Method::PUT, "/api/v1/reps/rep-9", Some(off))
        .await
        .expect(StatusCode::OK);
    let html = mgr.get("/ui/admin").await.ok();
    assert!(html.contains("no (inactive)"));
    assert!(html.contains("aria-label=\"Activate Dana &lt;Day&gt;\""));
    assert!(html.contains("DE, AT"), "territory kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_listed_without_their_secret_and_revoked_ones_say_so() {
    let ctx = Ctx::new();
    let mut root = ctx.browser("root2", "admin", None).await;
    root.get("/ui/admin").await.ok();
    let created = root
        .api(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({ "name": "crm-sync", "role": "marketing" })),
        )
        .await
        .expect(StatusCode::CREATED);
    let (id, token) = (
        created["id"].as_str().unwrap().to_string(),
        created["token"].as_str().unwrap().to_string(),
    );
    let html = root.get("/ui/admin").await.ok();
    assert!(html.contains("<td>crm-sync<br>"), "{html}");
    assert!(
        !html.contains(&token),
        "the token itself is never shown again"
    );
    assert!(html.contains(&format!(
        "data-api=\"/api/v1/tokens/{id}\" data-method=\"DELETE\""
    )));
    assert!(html.contains("data-confirm=\"Revoke the token crm-sync?"));
    root.api(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let html = root.get("/ui/admin").await.ok();
    assert!(html.contains("revoked"));
    assert!(
        !html.contains(&format!("data-api=\"/api/v1/tokens/{id}\"")),
        "no second revoke"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_is_listed_with_its_latest_deliveries() {
    let ctx = Ctx::new();
    ctx.publish(DEFAULT_MODEL).await;
    let mut root = ctx.browser("root2", "admin", None).await;
    root.get("/ui/admin").await.ok();
    let hook = root
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["lead.created"] })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(hook["secret"].as_str().is_some_and(|s| !s.is_empty()));
    ctx.create_lead(good_lead("hooked@acme.example")).await;
    let html = root.get("/ui/admin").await.ok();
    assert!(html.contains("<code>http://127.0.0.1:9/hook</code>"));
    assert!(
        html.contains("Latest deliveries to http://127.0.0.1:9/hook (1)"),
        "{html}"
    );
    assert!(html.contains("<td>lead.created</td>"));
    assert!(
        !html.contains(hook["secret"].as_str().unwrap()),
        "the secret is not shown again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_settings_form_shows_the_tracking_origins_and_saves_them_as_a_list() {
    let ctx = Ctx::new();
    ctx.put(
        "/api/v1/settings",
        &ctx.admin,
        serde_json::json!({ "tracking_origins": ["https://www.acme.example", "https://shop.acme.example"] }),
    )
    .await
    .expect(StatusCode::OK);
    let mut root = ctx.browser("root", "admin", None).await;
    let html = root.get("/ui/admin").await.ok();
    assert!(
        html.contains("name=\"tracking_origins\" data-type=\"list\" data-keep-empty")
            && html.contains("value=\"https://www.acme.example, https://shop.acme.example\""),
        "the current origins fill the field"
    );
}
