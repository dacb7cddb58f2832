//! Web UI tests: signing in and out, sessions and CSRF.

use crate::browser::*;
use crate::common::*;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_with_their_password_and_gets_an_httponly_lax_session_cookie() {
    let ctx = Ctx::new();
    ctx.user("ada", "manager", None).await;
    let mut b = Browser::new(&ctx);
    let p = b.sign_in("ada", PASSWORD).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert_eq!(p.location.as_deref(), Some("/ui"));
    let cookie = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("leadq_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let queue = b.get("/ui").await.ok();
    assert!(queue.contains("ada · manager"), "{queue}");
    assert!(
        b.csrf.starts_with("lq_"),
        "pages carry the session's CSRF token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_or_unknown_user_is_refused_without_saying_which() {
    let ctx = Ctx::new();
    ctx.user("ada", "manager", None).await;
    let mut b = Browser::new(&ctx);
    let wrong = b.sign_in("ada", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let unknown = b.sign_in("nobody", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    for p in [&wrong, &unknown] {
        assert!(p.html.contains("did not match"), "{}", p.html);
        assert!(!p
            .set_cookies
            .iter()
            .any(|c| c.starts_with("leadq_session=lq_")));
    }
    assert_eq!(b.get("/ui").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_a_password_cannot_sign_in_with_an_empty_one() {
    let ctx = Ctx::new();
    ctx.post(
        "/api/v1/users",
        &ctx.admin,
        json!({ "name": "nopass", "role": "manager" }),
    )
    .await
    .expect(StatusCode::CREATED);
    let mut b = Browser::new(&ctx);
    assert_eq!(
        b.sign_in("nopass", "").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sign_in_form_refuses_a_post_that_did_not_come_from_it() {
    let ctx = Ctx::new();
    ctx.user("ada", "manager", None).await;
    let mut b = Browser::new(&ctx);
    // No form loaded, so no login cookie: a cross-site post looks like this.
    let p = b
        .post_form(
            "/ui/login",
            &[
                ("csrf", "lq_guess"),
                ("name", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("sign in again"), "{}", p.html);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_token_signs_in_with_its_role_and_a_revoked_one_does_not() {
    let ctx = Ctx::new();
    let mut b = Browser::new(&ctx);
    let p = b.sign_in_with_token(&ctx.marketing).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(b.get("/ui").await.ok().contains("mia · marketing"));

    let gone = ctx.token("gone", axum_role("manager"), None);
    let tokens = ctx
        .get("/api/v1/tokens", &ctx.admin)
        .await
        .expect(StatusCode::OK);
    let id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "gone")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ctx.delete(&format!("/api/v1/tokens/{id}"), &ctx.admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let mut other = Browser::new(&ctx);
    assert_eq!(
        other.sign_in_with_token(&gone).await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn axum_role(r: &str) -> leadq_server::auth::Role {
    leadq_server::auth::Role::parse(r).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_without_a_session_redirects_to_sign_in_and_back_after() {
    let ctx = Ctx::new();
    ctx.user("ada", "manager", None).await;
    let mut b = Browser::new(&ctx);
    let p = b.get("/ui/dashboard").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location.as_deref(), Some("/ui/login?next=/ui/dashboard"));
    let form = b.get("/ui/login?next=/ui/dashboard").await.ok();
    let csrf = attr_after(&form, "name=\"csrf\" value=\"").unwrap();
    let next = attr_after(&form, "name=\"next\" value=\"").unwrap();
    assert_eq!(next, "/ui/dashboard");
    let p = b
        .post_form(
            "/ui/login",
            &[
                ("csrf", &csrf),
                ("next", &next),
                ("name", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/ui/dashboard"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_never_redirects_outside_the_ui() {
    let ctx = Ctx::new();
    ctx.user("ada", "manager", None).await;
    for evil in ["https://evil.example/", "//evil.example/ui", "/ui\\@evil"] {
        let mut b = Browser::new(&ctx);
        let form = b.get("/ui/login").await.ok();
        let csrf = attr_after(&form, "name=\"csrf\" value=\"").unwrap();
        let p = b
            .post_form(
                "/ui/login",
                &[
                    ("csrf", &csrf),
                    ("next", evil),
                    ("name", "ada"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(p.location.as_deref(), Some("/ui"), "next={evil}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_write_with_a_session_needs_the_csrf_header_but_a_read_does_not() {
    let ctx = Ctx::new();
    let mut b = ctx.browser("ada", "manager", None).await;
    let read = b.api(Method::GET, "/api/v1/leads", None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);

    let body = json!({ "email": "csrf@example.com" });
    let ok = b
        .api(Method::POST, "/api/v1/leads", Some(body.clone()))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);

    let real = std::mem::replace(&mut b.csrf, "lq_forged".into());
    let forged = b
        .api(
            Method::POST,
            "/api/v1/leads",
            Some(json!({ "email": "x@example.com" })),
        )
        .await;
    forged.expect_error(StatusCode::FORBIDDEN, "csrf_failed");
    b.csrf = String::new();
    let missing = b
        .api(
            Method::POST,
            "/api/v1/leads",
            Some(json!({ "email": "y@example.com" })),
        )
        .await;
    missing.expect_error(StatusCode::FORBIDDEN, "csrf_failed");
    b.csrf = real;
    let leads = ctx.all_leads(&ctx.admin, "").await;
    assert_eq!(
        leads.len(),
        1,
        "only the request with the token created a lead"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_acts_with_its_users_role_in_the_api() {
    let ctx = Ctx::new();
    let mut b = ctx.browser("rita", "rep", Some("rep-1")).await;
    let r = b
        .api(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({ "name": "t", "role": "admin" })),
        )
        .await;
    r.expect_error(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_ends_the_session_on_the_server() {
    let ctx = Ctx::new();
    let mut b = ctx.browser("ada", "manager", None).await;
    let stolen = b.cookies.clone();
    let refused = b.post_form("/ui/logout", &[("csrf", "lq_wrong")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/ui").await.status, StatusCode::OK, "still signed in");
    let csrf = b.csrf.clone();
    let out = b.post_form("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some("/ui/login"));
    assert_eq!(b.get("/ui").await.status, StatusCode::SEE_OTHER);
    // A copy of the old cookie is worth nothing now.
    let mut thief = Browser::new(&ctx);
    thief.cookies = stolen;
    assert_eq!(thief.get("/ui").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        thief.api(Method::GET, "/api/v1/leads", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_expires_after_twelve_hours() {
    let ctx = Ctx::new();
    let mut b = ctx.browser("ada", "manager", None).await;
    ctx.clock.advance(11 * 3600 * 1000);
    assert_eq!(b.get("/ui").await.status, StatusCode::OK);
    ctx.clock.advance(3600 * 1000 + 1);
    assert_eq!(b.get("/ui").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_shorter_than_eight_characters_is_refused_naming_the_field() {
    let ctx = Ctx::new();
    let r = ctx
        .post(
            "/api/v1/users",
            &ctx.admin,
            json!({ "name": "ada", "role": "manager", "password": "short" }),
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["error"]["details"]["fields"][0]["path"], "password");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_can_change_a_password_and_the_old_one_stops_working() {
    let ctx = Ctx::new();
    ctx.user("ada", "manager", None).await;
    ctx.put(
        "/api/v1/users/ada/password",
        &ctx.admin,
        json!({ "password": "a brand new one" }),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let mut b = Browser::new(&ctx);
    assert_eq!(
        b.sign_in("ada", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        b.sign_in("ada", "a brand new one").await.status,
        StatusCode::SEE_OTHER
    );
}
