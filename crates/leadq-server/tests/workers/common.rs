//! A service over a SQLite store in a temporary directory, driven in-process
//! with a manual clock, and a webhook receiver on a real socket.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use leadq_server::api::issue_token;
use leadq_server::auth::Role;
use leadq_server::clock::ManualClock;
use leadq_server::{AppState, ServerConfig};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

pub const DEFAULT_MODEL: &str = include_str!("../../../../examples/default-model.toml");

/// 2026-11-02T10:00:00Z, a Monday.
pub fn t0() -> i64 {
    ms("2026-11-02T10:00:00Z")
}

pub fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .expect("an RFC 3339 instant")
        .as_millisecond()
}

pub fn rfc(ms: i64) -> String {
    leadq_server::clock::rfc3339(ms)
}

/// A response: status and body (JSON when it parses, else a string).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
}

impl Resp {
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }
}

pub struct Ctx {
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub app: Router,
    pub admin: String,
    pub marketing: String,
    pub manager: String,
    _dir: tempfile::TempDir,
}

impl Ctx {
    pub fn new() -> Ctx {
        Ctx::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> Ctx {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = leadq_store::open(None, dir.path()).expect("the store opens");
        let clock = Arc::new(ManualClock::new(t0()));
        let state = AppState::new(store, clock.clone(), config).expect("the state builds");
        let app = leadq_server::app(state.clone());
        let admin = token(&state, "root", Role::Admin);
        let marketing = token(&state, "mia", Role::Marketing);
        let manager = token(&state, "max", Role::Manager);
        Ctx {
            state,
            clock,
            app,
            admin,
            marketing,
            manager,
            _dir: dir,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("the body reads");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp { status, body }
    }

    /// A request with a raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Resp {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .expect("a request");
        self.send(req).await
    }

    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, token, "application/json", bytes)
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, token, None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Stores `source` as a draft and publishes it; returns the publish
    /// answer (`model` and `job`) without waiting for the job.
    pub async fn start_publish(&self, source: &str) -> Value {
        let m = self
            .post(
                "/api/v1/models",
                &self.marketing,
                json!({ "name": "test model", "source": source }),
            )
            .await
            .expect(StatusCode::CREATED);
        let id = m["id"].as_i64().expect("a model id");
        self.post(
            &format!("/api/v1/models/{id}/publish"),
            &self.marketing,
            json!(null),
        )
        .await
        .expect(StatusCode::ACCEPTED)
    }

    /// Publishes `source` and waits for its re-score; returns the model.
    pub async fn publish(&self, source: &str) -> Value {
        let out = self.start_publish(source).await;
        self.wait_job(out["job"]["id"].as_str().expect("a job id"))
            .await;
        out["model"].clone()
    }

    /// Polls a job until it is done (fails the test if it fails or hangs).
    pub async fn wait_job(&self, id: &str) -> Value {
        for _ in 0..1500 {
            let j = self
                .get(&format!("/api/v1/jobs/{id}"), &self.marketing)
                .await
                .expect(StatusCode::OK);
            match j["status"].as_str() {
                Some("done") => return j,
                Some("running") => tokio::time::sleep(Duration::from_millis(20)).await,
                _ => panic!("job {id} did not finish well: {j}"),
            }
        }
        panic!("job {id} did not finish in time");
    }

    /// Creates a lead (201 expected) and returns it.
    pub async fn create_lead(&self, doc: Value) -> Value {
        self.post("/api/v1/leads", &self.marketing, doc)
            .await
            .expect(StatusCode::CREATED)
    }

    pub async fn lead(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/leads/{id}"), &self.admin)
            .await
            .expect(StatusCode::OK)
    }

    pub async fn history(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/leads/{id}/history"), &self.admin)
            .await
            .expect(StatusCode::OK)
    }

    /// Records one event for a lead and waits for its re-score.
    pub async fn event(&self, lead_id: &str, kind: &str) {
        self.post(
            "/api/v1/events",
            &self.marketing,
            json!({ "lead_id": lead_id, "type": kind }),
        )
        .await
        .expect(StatusCode::ACCEPTED);
    }

    /// Creates or updates a rep.
    pub async fn rep(&self, id: &str, working_hours: &str) {
        self.put(
            &format!("/api/v1/reps/{id}"),
            &self.manager,
            json!({ "name": format!("Rep {id}"), "capacity": 50, "working_hours": working_hours, "timezone": "UTC" }),
        )
        .await
        .expect(StatusCode::OK);
    }

    /// Subscribes `url` to `events`; returns (webhook id, secret).
    pub async fn subscribe(&self, url: &str, events: &[&str]) -> (String, String) {
        let w = self
            .post(
                "/api/v1/webhooks",
                &self.admin,
                json!({ "url": url, "events": events }),
            )
            .await
            .expect(StatusCode::CREATED);
        (
            w["id"].as_str().expect("a webhook id").to_string(),
            w["secret"].as_str().expect("a secret").to_string(),
        )
    }

    /// The delivery log of a webhook, newest first.
    pub async fn deliveries(&self, webhook_id: &str) -> Vec<Value> {
        self.get(
            &format!("/api/v1/webhooks/{webhook_id}/deliveries"),
            &self.admin,
        )
        .await
        .expect(StatusCode::OK)["deliveries"]
            .as_array()
            .expect("deliveries")
            .clone()
    }

    /// Every lead, through every page.
    pub async fn all_leads(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = "/api/v1/leads?limit=1000".to_string();
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path, &self.admin).await.expect(StatusCode::OK);
            out.extend(page["leads"].as_array().expect("leads").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
        panic!("pagination did not end");
    }

    /// Runs one SLA pass as the background watcher does.
    pub async fn sla_pass(&self) -> Vec<leadq_store::BreachRow> {
        let s = self.state.clone();
        tokio::task::spawn_blocking(move || leadq_server::workers::sla_pass(&s))
            .await
            .expect("the SLA pass runs")
            .expect("the SLA pass succeeds")
    }
}

pub fn token(state: &AppState, name: &str, role: Role) -> String {
    issue_token(state, name, role, None, None)
        .expect("a token")
        .1
}

/// A well-fitting lead: grade A (enterprise, software, C-level, North
/// America, business email). One demo request makes it an MQL.
pub fn good_lead(email: &str) -> Value {
    json!({
        "email": email,
        "company": "Acme Corp",
        "employees": 1500,
        "industry": "software",
        "title": "CEO",
        "country": "US",
        "source": "web",
    })
}

/// One POST a receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: String,
}

impl Hit {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("the delivery has a {name} header"))
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the delivery body is JSON")
    }
}

struct ReceiverInner {
    hits: Mutex<Vec<Hit>>,
    seen: AtomicUsize,
    fail_first: usize,
}

/// A webhook receiver on 127.0.0.1 that records every POST and answers 500
/// to the first `fail_first` of them, 200 after.
pub struct Receiver {
    pub url: String,
    inner: Arc<ReceiverInner>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let inner = Arc::new(ReceiverInner {
            hits: Mutex::new(Vec::new()),
            seen: AtomicUsize::new(0),
            fail_first,
        });
        async fn hook(
            State(r): State<Arc<ReceiverInner>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            r.hits.lock().expect("the hit log").push(Hit {
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            if r.seen.fetch_add(1, Ordering::SeqCst) < r.fail_first {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
        let app = Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the receiver binds");
        let addr = listener.local_addr().expect("an address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            inner,
            task,
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.inner.hits.lock().expect("the hit log").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Delivers what is due, as the webhook worker does; returns the successes.
pub async fn deliver(ctx: &Ctx) -> usize {
    leadq_server::workers::deliver_due(&ctx.state, &reqwest::Client::new()).await
}
