//! A minimal browser over the in-process router: keeps the session cookie,
//! reads the CSRF token from pages, and sends API calls the way app.js does.

use crate::common::*;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// A page or API answer as the browser sees it.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub html: String,
}

impl Page {
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.status, StatusCode::OK, "page body: {}", self.html);
        self.html
    }
    /// The value of `<meta name="csrf-token">`.
    pub fn csrf(&self) -> Option<String> {
        attr_after(&self.html, "name=\"csrf-token\" content=\"")
    }
}

/// The text between `marker` and the next `"`.
pub fn attr_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub struct Browser<'a> {
    pub ctx: &'a Ctx,
    pub cookies: Vec<(String, String)>,
    pub csrf: String,
}

impl<'a> Browser<'a> {
    pub fn new(ctx: &'a Ctx) -> Browser<'a> {
        Browser {
            ctx,
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Page {
        let mut b = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            b = b.header(header::COOKIE, self.cookie_header());
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .ctx
            .app
            .clone()
            .oneshot(b.body(body.into()).expect("a request"))
            .await
            .expect("the router is infallible");
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.retain(|(name, _)| name != k);
                if !v.is_empty() && !c.contains("Max-Age=0") {
                    self.cookies.push((k.to_string(), v.to_string()));
                }
            }
        }
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("the body reads");
        let page = Page {
            status,
            location,
            set_cookies,
            html: String::from_utf8_lossy(&bytes).into_owned(),
        };
        if let Some(t) = page.csrf() {
            self.csrf = t;
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.request(Method::GET, path, &[], Body::empty()).await
    }

    /// Submits a URL-encoded form.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request(
            Method::POST,
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await
    }

    /// Signs in through the sign-in form with a user name and password.
    pub async fn sign_in(&mut self, name: &str, password: &str) -> Page {
        let form = self.get("/ui/login").await.ok();
        let csrf = attr_after(&form, "name=\"csrf\" value=\"").expect("the form has a CSRF field");
        self.post_form(
            "/ui/login",
            &[
                ("csrf", &csrf),
                ("next", "/ui"),
                ("name", name),
                ("password", password),
                ("token", ""),
            ],
        )
        .await
    }

    /// Signs in with an API token.
    pub async fn sign_in_with_token(&mut self, token: &str) -> Page {
        let form = self.get("/ui/login").await.ok();
        let csrf = attr_after(&form, "name=\"csrf\" value=\"").expect("the form has a CSRF field");
        self.post_form(
            "/ui/login",
            &[("csrf", &csrf), ("next", "/ui"), ("token", token)],
        )
        .await
    }

    /// An API call as app.js makes it: session cookie plus the CSRF header.
    pub async fn api(&mut self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let csrf = self.csrf.clone();
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let page = self
            .request(
                method,
                path,
                &[
                    ("content-type", "application/json"),
                    ("x-csrf-token", &csrf),
                ],
                bytes,
            )
            .await;
        Resp {
            status: page.status,
            body: serde_json::from_str(&page.html).unwrap_or(Value::String(page.html)),
        }
    }
}

pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub const PASSWORD: &str = "correct horse battery";

impl Ctx {
    /// A user with [`PASSWORD`], created through the API.
    pub async fn user(&self, name: &str, role: &str, rep_id: Option<&str>) {
        self.post(
            "/api/v1/users",
            &self.admin,
            serde_json::json!({ "name": name, "role": role, "rep_id": rep_id, "password": PASSWORD }),
        )
        .await
        .expect(StatusCode::CREATED);
    }

    /// A browser signed in as a new user of `role`.
    pub async fn browser(&self, name: &str, role: &str, rep_id: Option<&str>) -> Browser<'_> {
        self.user(name, role, rep_id).await;
        let mut b = Browser::new(self);
        let p = b.sign_in(name, PASSWORD).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "sign-in: {}", p.html);
        b.get("/ui").await;
        b
    }
}
