//! The web UI: server-rendered pages (maud) with a little JavaScript.
//!
//! Pages are rendered on the server from the same store and use cases as
//! the API, so a page costs one round trip and works with any browser.
//! Actions are small forms that `app.js` sends to the JSON API with the
//! session's CSRF token, so every rule, guard and error message is the
//! API's own: there is one write path, not two.

pub mod admin;
pub mod charts;
pub mod dashboard;
pub mod import;
pub mod lead;
pub mod models;
mod nurture;
pub mod predictive;
pub mod queue;
mod tasks;

use crate::auth::{self, Principal, Role, SESSION_COOKIE, SESSION_TTL_MS};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

/// Who is looking at a page, with the CSRF token their forms send.
pub struct Viewer {
    pub who: Principal,
    pub csrf: String,
}

impl Viewer {
    /// Refuses the page unless the viewer has one of `roles` (admins always pass).
    pub fn require(&self, roles: &[Role]) -> Result<(), WebError> {
        self.who.require(roles).map_err(WebError::from)
    }
    pub fn is(&self, roles: &[Role]) -> bool {
        self.who.require(roles).is_ok()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        // The UI is nested at /ui, which the router strips from the path.
        let next = match parts.uri.path_and_query().map(|p| p.as_str()) {
            None | Some("/") => "/ui".to_string(),
            Some(p) if p.starts_with("/ui") => p.to_string(),
            Some(p) => format!("/ui{p}"),
        };
        let session = auth::session_of(parts, state)
            .await?
            .ok_or(WebError::SignIn { next: next.clone() })?;
        let who = Principal::of_session(&session).ok_or(WebError::SignIn { next })?;
        Ok(Viewer {
            who,
            csrf: session.csrf,
        })
    }
}

/// Why a page is not shown.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in: go to the sign-in page, then come back.
    SignIn {
        next: String,
    },
    Failed(ApiError),
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> WebError {
        if e.status == StatusCode::UNAUTHORIZED {
            WebError::SignIn { next: "/ui".into() }
        } else {
            WebError::Failed(e)
        }
    }
}

impl From<leadq_store::StoreError> for WebError {
    fn from(e: leadq_store::StoreError) -> WebError {
        WebError::Failed(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn { next } => {
                Redirect::to(&format!("/ui/login?next={}", encode(&next))).into_response()
            }
            WebError::Failed(e) => {
                let title = match e.status {
                    StatusCode::FORBIDDEN => "Not allowed",
                    StatusCode::NOT_FOUND => "Not found",
                    s if s.is_client_error() => "Cannot show this",
                    _ => "Something went wrong",
                };
                if e.status.is_server_error() {
                    tracing::error!(code = e.code, message = %e.message, "page failed");
                }
                let body = bare(
                    title,
                    html! {
                        main.narrow {
                            h1 { (title) }
                            p role="alert" { (e.message) }
                            p { a href="/ui" { "Back to the queue" } }
                        }
                    },
                );
                (e.status, body).into_response()
            }
        }
    }
}

pub type Page = Result<Markup, WebError>;

/// Runs store work off the async threads (the store is synchronous).
pub async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
) -> Result<T, WebError> {
    let s = state.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|_| WebError::Failed(ApiError::internal("the page's worker failed")))?
        .map_err(WebError::from)
}

/// The UI's routes, mounted at `/ui`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(queue::page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/leads/{id}", get(lead::page))
        .route("/import", get(import::page))
        .route("/models", get(models::list))
        .route("/models/diff", get(models::diff))
        .route("/models/{id}", get(models::editor))
        .route("/predictive", get(predictive::page))
        .route("/dashboard", get(dashboard::page))
        .route("/admin", get(admin::page))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
}

const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// The sections of the UI, in navigation order, with who may open them.
const SECTIONS: &[(&str, &str, &[Role])] = &[
    (
        "queue",
        "Queue",
        &[Role::Rep, Role::Manager, Role::Marketing],
    ),
    ("import", "Import", &[Role::Marketing]),
    ("models", "Models", &[Role::Marketing, Role::Manager]),
    (
        "predictive",
        "Predictive",
        &[Role::Marketing, Role::Manager],
    ),
    ("dashboard", "Dashboard", &[Role::Manager, Role::Marketing]),
    ("admin", "Admin", &[Role::Manager]),
];

fn section_href(key: &str) -> String {
    if key == "queue" {
        "/ui".into()
    } else {
        format!("/ui/{key}")
    }
}

fn head(title: &str, csrf: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(c) = csrf { meta name="csrf-token" content=(c); }
            title { (title) " · leadq" }
            link rel="stylesheet" href="/ui/assets/app.css";
            script src="/ui/assets/app.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body { (body) }
        }
    }
}

/// A signed-in page: navigation for the viewer's role, then `body`.
pub fn layout(v: &Viewer, title: &str, section: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, Some(&v.csrf)))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui" { "leadq" }
                    nav aria-label="Sections" {
                        @for (key, label, roles) in SECTIONS {
                            @if v.is(roles) {
                                a href=(section_href(key)) aria-current=[(*key == section).then_some("page")] { (label) }
                            }
                        }
                    }
                    div.who {
                        span { (v.who.name) " · " (v.who.role.as_str()) }
                        form method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An instant for people: `2026-11-02 10:00 UTC`.
pub fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| "—".into())
}

/// A duration for people: `3 h 20 min`, `2 d 4 h`, `45 min`.
pub fn span(ms: i64) -> String {
    let minutes = ms.abs() / 60_000;
    let (d, h, m) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    }
}

// ------------------------------------------------------------------ sign-in

/// The cookie that ties the sign-in form to the browser that loaded it.
const LOGIN_COOKIE: &str = "leadq_login";

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only paths inside the UI are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui") && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/ui".into(),
    }
}

fn cookie_header(name: &str, value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"
    ))
    .expect("cookie values are ASCII")
}

/// Behind a TLS-terminating proxy the cookie is marked Secure.
fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn login_form(next: &str, login_csrf: &str, error: Option<&str>, name: &str) -> Markup {
    bare(
        "Sign in",
        html! {
            main.narrow {
                h1 { "Sign in to leadq" }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form.stack method="post" action="/ui/login" {
                    input type="hidden" name="csrf" value=(login_csrf);
                    input type="hidden" name="next" value=(next);
                    label { "User name" input name="name" autocomplete="username" value=(name); }
                    label { "Password" input name="password" type="password" autocomplete="current-password"; }
                    p.muted { "or" }
                    label { "API token" input name="token" type="password" autocomplete="off" placeholder="lq_…"; }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

async fn login_page(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let token = auth::new_token();
    let mut resp = login_form(&safe_next(q.next.as_deref()), &token, None, "").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(LOGIN_COOKIE, &token, 3600, is_https(&headers)),
    );
    resp
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    next: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
}

/// Signs in with a user's password or an API token and starts a session.
async fn login(State(state): State<AppState>, parts: Parts, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let expected = auth::cookie(&parts, LOGIN_COOKIE).unwrap_or("");
    let secure = is_https(&parts.headers);
    let again = |status: StatusCode, message: &str, name: &str| {
        let token = auth::new_token();
        let mut resp = (status, login_form(&next, &token, Some(message), name)).into_response();
        resp.headers_mut().append(
            header::SET_COOKIE,
            cookie_header(LOGIN_COOKIE, &token, 3600, secure),
        );
        resp
    };
    if expected.is_empty() || !auth::same_secret(&f.csrf, expected) {
        return again(
            StatusCode::FORBIDDEN,
            "The sign-in form expired or came from elsewhere; please sign in again.",
            &f.name,
        );
    }
    let name = f.name.trim().to_string();
    let (password, token) = (f.password.clone(), f.token.trim().to_string());
    let found = blocking(&state, move |s| {
        if !token.is_empty() {
            let row = s.store.token_by_hash(&auth::hash_token(&token))?;
            return Ok(row
                .filter(|t| !t.revoked)
                .map(|t| (t.name, t.role, t.rep_id, t.user_id)));
        }
        let Some(user) = s.store.user_by_name(&name)? else {
            // Spend the time a real check costs, so response time does not
            // tell which user names exist.
            auth::verify_password(&password, dummy_hash());
            return Ok(None);
        };
        let ok = user
            .password_hash
            .as_deref()
            .is_some_and(|h| auth::verify_password(&password, h));
        Ok(ok.then_some((user.name, user.role, user.rep_id, Some(user.id))))
    })
    .await;
    let (name, role, rep_id, user_id) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            return again(
                StatusCode::UNAUTHORIZED,
                "That user name and password (or token) did not match.",
                &f.name,
            )
        }
        Err(e) => return e.into_response(),
    };
    let id = auth::new_token();
    let now = state.clock.now_ms();
    let row = leadq_store::SessionRow {
        hash: auth::hash_token(&id),
        csrf: auth::new_token(),
        name,
        role,
        rep_id,
        user_id,
        created_at: now,
        expires_at: now + SESSION_TTL_MS,
    };
    if let Err(e) = blocking(&state, move |s| Ok(s.store.create_session(row)?)).await {
        return e.into_response();
    }
    let mut resp = Redirect::to(&next).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, &id, SESSION_TTL_MS / 1000, secure),
    );
    h.append(
        header::SET_COOKIE,
        cookie_header(LOGIN_COOKIE, "", 0, secure),
    );
    resp
}

/// A hash of a random password, checked against when the user name is
/// unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password(&auth::new_token()).unwrap_or_default())
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session (the form carries the CSRF token).
async fn logout(
    State(state): State<AppState>,
    parts: Parts,
    Form(f): Form<LogoutForm>,
) -> Response {
    let secure = is_https(&parts.headers);
    if let Ok(Some(session)) = auth::session_of(&parts, &state).await {
        if !auth::same_secret(&f.csrf, &session.csrf) {
            return WebError::Failed(
                ApiError::forbidden("the sign-out form did not carry this session's CSRF token")
                    .with_code("csrf_failed"),
            )
            .into_response();
        }
        let now = state.clock.now_ms();
        let hash = session.hash;
        if let Err(e) = blocking(&state, move |s| Ok(s.store.delete_session(&hash, now)?)).await {
            return e.into_response();
        }
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, "", 0, secure),
    );
    resp
}

/// Marks up trusted, already-escaped SVG or HTML built by this module's charts.
pub fn raw(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}
