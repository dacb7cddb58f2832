//! A service in a temporary directory, driven in-process with a manual clock.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use leadq_server::api::issue_token;
use leadq_server::auth::Role;
use leadq_server::clock::ManualClock;
use leadq_server::{AppState, ServerConfig};
use leadq_store::{LeadChange, LeadRow};
use serde_json::{json, Value};
use std::sync::Arc;
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

/// A response: status and body (JSON when it parses, else a string; null when empty).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
}

impl Resp {
    /// The `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }
    #[track_caller]
    pub fn expect_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.code(),
            code,
            "unexpected error code; body: {}",
            self.body
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "an error has a message: {}",
            self.body
        );
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
    _db: Option<PgDatabase>,
    /// The PostgreSQL database of the test, when the suite runs there.
    pg_url: Option<String>,
}

/// A fresh PostgreSQL database for one test, dropped at the end.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Dropped at the end of an async test: connect from a plain thread.
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// With `LEADQ_TEST_API_BACKEND=postgres` (and `LEADQ_TEST_POSTGRES_URL`)
/// the whole API suite runs on a fresh PostgreSQL database per test.
fn postgres_database() -> Option<(PgDatabase, String)> {
    if std::env::var("LEADQ_TEST_API_BACKEND").ok().as_deref() != Some("postgres") {
        return None;
    }
    let url = std::env::var("LEADQ_TEST_POSTGRES_URL")
        .expect("LEADQ_TEST_POSTGRES_URL is set for the PostgreSQL run");
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "leadq_api_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        rand::random::<u32>()
    );
    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("PostgreSQL reachable");
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create the test database");
    let base = url
        .rsplit_once('/')
        .map_or(url.as_str(), |(b, _)| b)
        .to_string();
    Some((
        PgDatabase {
            admin_url: url,
            name: name.clone(),
        },
        format!("{base}/{name}"),
    ))
}

impl Ctx {
    pub fn new() -> Ctx {
        Ctx::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> Ctx {
        // The synchronous PostgreSQL client must not run on an async
        // thread, so the store is opened on a plain one.
        std::thread::spawn(move || Ctx::build(config))
            .join()
            .expect("the test context builds")
    }

    fn build(config: ServerConfig) -> Ctx {
        let dir = tempfile::tempdir().expect("a temp dir");
        let pg = postgres_database();
        let store = leadq_store::open(pg.as_ref().map(|(_, url)| url.as_str()), dir.path())
            .expect("the store opens");
        let clock = Arc::new(ManualClock::new(t0()));
        let state = AppState::new(store, clock.clone(), config).expect("the state builds");
        let app = leadq_server::app(state.clone());
        let admin = token(&state, "root", Role::Admin, None);
        let marketing = token(&state, "mia", Role::Marketing, None);
        let manager = token(&state, "max", Role::Manager, None);
        Ctx {
            state,
            clock,
            app,
            admin,
            marketing,
            manager,
            _dir: dir,
            pg_url: pg.as_ref().map(|(_, url)| url.clone()),
            _db: pg.map(|(db, _)| db),
        }
    }

    /// The data directory (the SQLite file `leadq.db` lives there), and
    /// whether the suite runs on PostgreSQL instead.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }
    pub fn on_postgres(&self) -> bool {
        self._db.is_some()
    }

    /// A second server on the same PostgreSQL database (its own caches,
    /// jobs and clock reading), as a team runs several `leadq serve`
    /// processes; `None` on SQLite, where one process owns the file.
    pub fn another_server(&self) -> Option<AppState> {
        let url = self.pg_url.clone()?;
        let clock = self.clock.clone();
        Some(
            std::thread::spawn(move || {
                let store = leadq_store::open(Some(&url), std::path::Path::new("."))
                    .expect("the store opens again");
                AppState::new(store, clock, ServerConfig::default()).expect("the state builds")
            })
            .join()
            .expect("the second server starts"),
        )
    }

    /// A token for `role` (rep tokens act as `rep_id`, which must exist).
    pub fn token(&self, name: &str, role: Role, rep_id: Option<&str>) -> String {
        token(&self.state, name, role, rep_id)
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

    /// A request with raw body bytes.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<Body>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b = b.header(header::CONTENT_TYPE, "application/json");
        self.send(b.body(body.into()).expect("a request")).await
    }

    /// A request with an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, Some(token), bytes).await
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
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, token, Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Stores `source` as a draft and publishes it; waits for the re-score
    /// job to finish. Returns the published model.
    pub async fn publish(&self, source: &str) -> Value {
        let m = self
            .post(
                "/api/v1/models",
                &self.marketing,
                json!({ "name": "test model", "source": source }),
            )
            .await
            .expect(StatusCode::CREATED);
        let id = m["id"].as_i64().expect("a model id");
        let out = self
            .post(
                &format!("/api/v1/models/{id}/publish"),
                &self.marketing,
                json!(null),
            )
            .await
            .expect(StatusCode::ACCEPTED);
        let job = out["job"]["id"].as_str().expect("a job id").to_string();
        self.wait_job(&job).await;
        out["model"].clone()
    }

    /// Polls a job until it is done (fails the test if it fails or hangs).
    pub async fn wait_job(&self, id: &str) -> Value {
        for _ in 0..500 {
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

    /// Creates a lead and returns it (201 expected).
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

    /// Moves a lead as `token`, expecting success.
    pub async fn transition(&self, id: &str, token: &str, to: &str, reason: Option<&str>) -> Value {
        let body = match reason {
            Some(r) => json!({ "to": to, "reason": r }),
            None => json!({ "to": to }),
        };
        self.post(&format!("/api/v1/leads/{id}/transitions"), token, body)
            .await
            .expect(StatusCode::OK)
    }

    /// Creates or updates a rep working around the clock.
    pub async fn rep(&self, id: &str, capacity: i64) {
        self.put(
            &format!("/api/v1/reps/{id}"),
            &self.manager,
            json!({ "name": format!("Rep {id}"), "capacity": capacity, "working_hours": "always" }),
        )
        .await
        .expect(StatusCode::OK);
    }

    /// Every lead the caller sees, through every page.
    pub async fn all_leads(&self, token: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = format!("/api/v1/leads?limit=100{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path, token).await.expect(StatusCode::OK);
            out.extend(page["leads"].as_array().expect("leads").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
        panic!("pagination did not end");
    }
}

fn token(state: &AppState, name: &str, role: Role, rep_id: Option<&str>) -> String {
    // Store calls stay off async threads (the synchronous PostgreSQL client
    // cannot block on one).
    let (state, name, rep_id) = (state.clone(), name.to_string(), rep_id.map(str::to_string));
    std::thread::spawn(move || {
        issue_token(&state, &name, role, rep_id.as_deref(), None)
            .expect("a token")
            .1
    })
    .join()
    .expect("the token thread")
}

/// A well-fitting lead: grade A (enterprise, software, C-level, North America, business email).
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

/// A poor lead: grade D (micro company, poor-fit industry, free email).
pub fn poor_lead(email: &str) -> Value {
    json!({
        "email": email,
        "company": "Tiny School",
        "employees": 3,
        "industry": "education",
        "title": "Intern",
        "source": "web",
    })
}

/// The lead ids of a list of lead views.
pub fn ids(leads: &[Value]) -> Vec<String> {
    leads
        .iter()
        .map(|l| l["id"].as_str().expect("an id").to_string())
        .collect()
}

/// URL-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ------------------------------------------------------------ predictive outcomes

pub const INDUSTRIES: [&str; 4] = ["software", "retail", "mining", "media"];

/// A deterministic stream of numbers in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn closed_lead(id: &str, industry: &str, region: &str, won: bool, closed_at: i64) -> LeadRow {
    LeadRow {
        seq: 0,
        id: id.to_string(),
        external_id: None,
        email: None,
        domain: None,
        company: None,
        source: None,
        campaign: None,
        country: None,
        fields: json!({
            "email": format!("{id}@example.com"),
            "industry": industry,
            "region": region,
        })
        .to_string(),
        stage: if won { "won" } else { "lost" }.into(),
        stage_reason: None,
        owner: None,
        score: None,
        created_at: closed_at - 86_400_000,
        updated_at: closed_at,
        assigned_at: None,
        first_response_at: None,
        stage_changed_at: closed_at,
        mql_at: None,
        sql_at: None,
        closed_at: Some(closed_at),
        version: 0,
    }
}

/// Stores `n` closed leads where software converts 80% of the time and
/// every other industry 15%; the region is noise.
pub fn seed_outcomes(ctx: &Ctx, prefix: &str, n: usize, closed_at: i64) {
    let mut rng = Lcg(n as u64 + prefix.len() as u64);
    let rows: Vec<LeadChange> = (0..n)
        .map(|i| {
            let industry = INDUSTRIES[i % INDUSTRIES.len()];
            let region = ["north", "south", "east"][(rng.next() * 3.0) as usize % 3];
            let rate = if industry == "software" { 0.8 } else { 0.15 };
            let won = rng.next() < rate;
            LeadChange::insert(closed_lead(
                &format!("{prefix}-{i:04}"),
                industry,
                region,
                won,
                closed_at,
            ))
        })
        .collect();
    store_rows(ctx, rows);
}

pub fn store_rows(ctx: &Ctx, rows: Vec<LeadChange>) {
    on_store(ctx, move |store| {
        for r in store.apply(rows).expect("apply") {
            r.expect("insert");
        }
    });
}

/// Runs `f` with the store on a thread of its own: the synchronous store
/// must not run on an async thread (the PostgreSQL client cannot block on
/// one).
pub fn on_store<R: Send + 'static>(
    ctx: &Ctx,
    f: impl FnOnce(&dyn leadq_store::Store) -> R + Send + 'static,
) -> R {
    let store = ctx.state.store.clone();
    std::thread::spawn(move || f(store.as_ref()))
        .join()
        .expect("the store thread")
}

pub async fn train_predictive(ctx: &Ctx, body: Value) -> Value {
    let job = ctx
        .post("/api/v1/predictive/train", &ctx.marketing, body)
        .await
        .expect(StatusCode::ACCEPTED);
    ctx.wait_job(job["id"].as_str().expect("a job id")).await
}

pub async fn predictive_models(ctx: &Ctx) -> Value {
    ctx.get("/api/v1/predictive/models", &ctx.manager)
        .await
        .expect(StatusCode::OK)
}
