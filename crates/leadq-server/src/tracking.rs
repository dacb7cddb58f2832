//! Website tracking: the snippet (`GET /t.js`), the public endpoints it
//! sends to (`POST /t/collect`, `POST /t/form`) with their CORS and rate
//! limits, and the conversion of a visitor's anonymous events into events
//! of the lead they become.
//!
//! The endpoints need no token: they answer only to the site origins of the
//! `tracking_origins` setting, and each client address and visitor id has
//! a token bucket.

use crate::api::{lead_view, parse_json};
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::service::{LeadInput, Service};
use crate::AppState;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json as JsonBody, Router};
use leadq_core::tracking::{self as core, PropValue, Rate, TokenBucket, TrackingError};
use leadq_store::{EventRow, LeadKey, Visit, VisitorEventRow, VisitorRow};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// Setting: the site origins allowed to send (a JSON array of origins).
pub const SETTING_ORIGINS: &str = "tracking_origins";
/// Largest collect body: twenty events with their properties fit easily.
const COLLECT_LIMIT: usize = 32 * 1024;
const FORM_LIMIT: usize = 64 * 1024;
const MAX_FORM_FIELDS: usize = 50;
const MAX_FORM_VALUE: usize = 2000;
/// Lead fields a public form may not set: they pick which lead is updated
/// or are owned by the lifecycle and assignment.
const RESERVED_FIELDS: &[&str] = &["id", "lead_id", "external_id", "stage", "owner"];
/// Source of leads the website forms create.
pub const FORM_SOURCE: &str = "website";
/// How long the allowed origins are cached (other processes on the same
/// PostgreSQL see a change within this time).
const ORIGINS_TTL: Duration = Duration::from_secs(5);
/// Buckets kept before full ones are forgotten.
const PRUNE_AT: usize = 10_000;

const SNIPPET: &str = include_str!("../assets/t.js");

/// The rate limits of the public tracking endpoints.
#[derive(Debug, Clone, Copy)]
pub struct TrackingLimits {
    /// Per client address.
    pub per_ip: Rate,
    /// Per visitor id.
    pub per_visitor: Rate,
}

impl Default for TrackingLimits {
    fn default() -> Self {
        TrackingLimits {
            per_ip: Rate {
                burst: 120.0,
                per_second: 2.0,
            },
            per_visitor: Rate {
                burst: 30.0,
                per_second: 0.5,
            },
        }
    }
}

/// In-memory state of the tracking endpoints.
#[derive(Default)]
pub struct Tracker {
    origins: RwLock<Option<(std::sync::Arc<Vec<String>>, Instant)>>,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl Tracker {
    /// Forgets the cached origins (after the setting changed).
    pub fn invalidate(&self) {
        if let Ok(mut o) = self.origins.write() {
            *o = None;
        }
    }

    fn cached_origins(&self) -> Option<std::sync::Arc<Vec<String>>> {
        let o = self.origins.read().ok()?;
        o.as_ref()
            .filter(|(_, at)| at.elapsed() < ORIGINS_TTL)
            .map(|(v, _)| v.clone())
    }

    /// Takes a token from the bucket `key` (`ip:…` or `vid:…`); on refusal,
    /// the seconds until the next one.
    fn take(&self, key: String, rate: Rate, now: i64) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= PRUNE_AT {
            // A full bucket behaves like a new one, so forgetting it is
            // free; under a flood of distinct keys, start over rather than
            // grow without bound.
            buckets.retain(|_, b| !b.is_full(rate, now));
            if buckets.len() >= PRUNE_AT * 10 {
                buckets.clear();
            }
        }
        buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::full(rate, now))
            .take(rate, now)
            .map_err(|ms| ms.div_ceil(1000).max(1))
    }
}

/// The allowed site origins (the `tracking_origins` setting).
pub fn origins(state: &AppState) -> ApiResult<Vec<String>> {
    Ok(state
        .store
        .setting(SETTING_ORIGINS)?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

/// Checks and normalises origins for the setting; errors name the entry.
pub fn parse_origins(raw: &[String]) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    if raw.len() > 100 {
        return Err(ApiError::invalid("tracking_origins", "at most 100 origins"));
    }
    for (i, o) in raw.iter().enumerate() {
        let o = core::normalize_origin(o)
            .map_err(|m| ApiError::invalid(&format!("tracking_origins[{i}]"), m))?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    Ok(out)
}

async fn allowed_origins(state: &AppState) -> ApiResult<std::sync::Arc<Vec<String>>> {
    if let Some(o) = state.tracker.cached_origins() {
        return Ok(o);
    }
    let s = state.clone();
    let list = tokio::task::spawn_blocking(move || origins(&s))
        .await
        .map_err(|_| ApiError::internal("the request's worker failed"))??;
    let list = std::sync::Arc::new(list);
    if let Ok(mut o) = state.tracker.origins.write() {
        *o = Some((list.clone(), Instant::now()));
    }
    Ok(list)
}

/// The address a request comes from: the peer, or, when the peer is a
/// proxy on this host (loopback), the last address in `X-Forwarded-For`
/// (the one that proxy saw). Addresses further left are the client's
/// own claims and are not believed.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>) -> String {
    match (peer, forwarded_for) {
        (Some(p), Some(xff)) if p.is_loopback() => xff
            .rsplit(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .and_then(|s| s.parse::<IpAddr>().ok())
            .unwrap_or(p)
            .to_string(),
        (Some(p), _) => p.to_string(),
        (None, _) => "unknown".into(),
    }
}

fn cors(resp: &mut Response, origin: &str) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    h.insert(header::VARY, HeaderValue::from_static("origin"));
}

fn refused_origin(origin: Option<&str>) -> Response {
    let mut r = ApiError::forbidden(match origin {
        Some(o) => format!("the origin '{o}' is not among the tracking_origins setting"),
        None => "tracking requests must come from a browser on an allowed site origin".into(),
    })
    .with_code("origin_not_allowed")
    .into_response();
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("origin"));
    r
}

fn too_many(seconds: u64) -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many tracking requests; retry in {seconds} s"),
    )
    .with_details(json!({ "retry_after_seconds": seconds }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// What every public tracking request goes through first: the origin must
/// be allowed and the client address under its rate. Returns the origin
/// and the bucket key of the address, or the response that refuses.
async fn admit(state: &AppState, req: &axum::http::request::Parts) -> Result<String, Response> {
    let origin = header_str(&req.headers, header::ORIGIN).map(str::to_string);
    let allowed = allowed_origins(state)
        .await
        .map_err(IntoResponse::into_response)?;
    if !core::origin_allowed(origin.as_deref(), &allowed) {
        return Err(refused_origin(origin.as_deref()));
    }
    let origin = origin.unwrap_or_default();
    let peer = req
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = client_ip(
        peer,
        header_str(
            &req.headers,
            header::HeaderName::from_static("x-forwarded-for"),
        ),
    );
    let limits = state.config.tracking_limits;
    if let Err(s) = state
        .tracker
        .take(format!("ip:{ip}"), limits.per_ip, state.clock.now_ms())
    {
        let mut r = too_many(s);
        cors(&mut r, &origin);
        return Err(r);
    }
    Ok(origin)
}

/// On refusal, the seconds until the visitor may send again.
fn limit_visitor(state: &AppState, vid: &str) -> Result<(), u64> {
    let limits = state.config.tracking_limits;
    state.tracker.take(
        format!("vid:{vid}"),
        limits.per_visitor,
        state.clock.now_ms(),
    )
}

async fn body_of(body: axum::body::Body, limit: usize) -> ApiResult<axum::body::Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a tracking request body may have at most {limit} bytes"),
        )
    })
}

fn invalid(e: TrackingError) -> ApiError {
    ApiError::invalid(&e.field, e.message)
}

/// The idempotency key of a visitor event's copy among its lead's events:
/// converting a visitor's history again never counts an event twice.
pub fn lead_event_key(visitor_id: &str, event_id: &str) -> String {
    format!("visitor:{visitor_id}:{event_id}")
}

/// The lead's copy of a visitor event.
pub fn lead_event(lead_id: &str, e: &VisitorEventRow, now: i64) -> EventRow {
    EventRow {
        seq: 0,
        lead_id: lead_id.to_string(),
        kind: e.kind.clone(),
        at: e.occurred_at,
        props: e.props.clone(),
        idempotency_key: lead_event_key(&e.visitor_id, &e.id),
        received_at: now,
    }
}

// ---------------------------------------------------------------- snippet and preflight

async fn snippet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SNIPPET,
    )
        .into_response()
}

async fn preflight(State(state): State<AppState>, req: Request) -> Response {
    let origin = header_str(req.headers(), header::ORIGIN).map(str::to_string);
    let allowed = match allowed_origins(&state).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if !core::origin_allowed(origin.as_deref(), &allowed) {
        return refused_origin(origin.as_deref());
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    cors(&mut r, origin.as_deref().unwrap_or_default());
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

// ---------------------------------------------------------------- collect

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectIn {
    vid: String,
    /// The `data-site` label of the snippet; informational.
    #[serde(default)]
    #[allow(dead_code)]
    site: Option<String>,
    /// Stated by pages that ask for consent: given or withdrawn.
    #[serde(default)]
    consent: Option<bool>,
    #[serde(default)]
    events: Vec<TrackEventIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackEventIn {
    id: String,
    kind: String,
    url: Option<String>,
    /// Unix milliseconds as the page saw them.
    at: Option<i64>,
    #[serde(default)]
    props: Map<String, Json>,
}

fn prop_values(field: &str, props: &Map<String, Json>) -> Result<(), TrackingError> {
    let mut checked = BTreeMap::new();
    for (k, v) in props {
        let v = match v {
            Json::String(s) => PropValue::Text(s.clone()),
            Json::Bool(b) => PropValue::Bool(*b),
            Json::Number(n) => PropValue::Number(n.as_f64().unwrap_or(0.0)),
            _ => {
                return Err(TrackingError::new(
                    format!("{field}.{k}"),
                    "property values must be strings, numbers or booleans",
                ))
            }
        };
        checked.insert(k.clone(), v);
    }
    core::check_properties(field, &checked)
}

/// Validates a collect body into a visit (pure but for the arrival time).
fn visit_of(body: CollectIn, now: i64) -> Result<Visit, TrackingError> {
    let vid = core::check_id("vid", &body.vid)?;
    if body.events.len() > core::MAX_EVENTS_PER_REQUEST {
        return Err(TrackingError::new(
            "events",
            format!(
                "at most {} events per request",
                core::MAX_EVENTS_PER_REQUEST
            ),
        ));
    }
    let mut events = Vec::with_capacity(body.events.len());
    for (i, e) in body.events.into_iter().enumerate() {
        let path = format!("events[{i}]");
        let id = core::check_id(&format!("{path}.id"), &e.id)?;
        let kind = core::website_kind(&format!("{path}.kind"), &e.kind)?;
        let url = e
            .url
            .as_deref()
            .map(|u| core::page_path(&format!("{path}.url"), u))
            .transpose()?;
        if kind == "page_view" && url.is_none() {
            return Err(TrackingError::new(
                format!("{path}.url"),
                "a page view needs the page's path",
            ));
        }
        prop_values(&format!("{path}.props"), &e.props)?;
        let mut props = e.props;
        // The scoring rules read the page as `event.url`.
        if let Some(u) = &url {
            props.insert("url".into(), Json::String(u.clone()));
        }
        events.push(VisitorEventRow {
            seq: 0,
            visitor_id: vid.clone(),
            id,
            kind,
            url,
            props: Json::Object(props).to_string(),
            occurred_at: core::event_time(e.at, now),
            received_at: now,
        });
    }
    Ok(Visit {
        visitor_id: vid,
        consent: body.consent,
        at: now,
        events,
    })
}

async fn collect(State(state): State<AppState>, req: Request) -> Response {
    let (parts, req) = req.into_parts();
    let origin = match admit(&state, &parts).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut resp = collect_admitted(&state, req).await.unwrap_or_else(|r| r);
    cors(&mut resp, &origin);
    resp
}

async fn collect_admitted(state: &AppState, req: axum::body::Body) -> Result<Response, Response> {
    let bytes = body_of(req, COLLECT_LIMIT)
        .await
        .map_err(IntoResponse::into_response)?;
    let body: CollectIn = parse_json(&bytes).map_err(IntoResponse::into_response)?;
    let visit = visit_of(body, state.clock.now_ms()).map_err(|e| invalid(e).into_response())?;
    limit_visitor(state, &visit.visitor_id).map_err(too_many)?;
    let s = state.clone();
    let accepted = tokio::task::spawn_blocking(move || record(&s, visit))
        .await
        .map_err(|_| ApiError::internal("the request's worker failed").into_response())?
        .map_err(IntoResponse::into_response)?;
    state
        .stats
        .events_accepted
        .fetch_add(accepted as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Stores a visit; when the visitor is already a lead, its new events are
/// also that lead's (scored by the background re-scorer). Returns how many
/// events were new.
fn record(state: &AppState, visit: Visit) -> ApiResult<usize> {
    let events = visit.events.clone();
    let (visitor, fresh) = state.store.record_visit(visit)?;
    let new: Vec<&VisitorEventRow> = events
        .iter()
        .zip(&fresh)
        .filter(|(_, f)| **f)
        .map(|(e, _)| e)
        .collect();
    if let Some(lead_id) = &visitor.lead_id {
        let now = state.clock.now_ms();
        let rows: Vec<EventRow> = new.iter().map(|e| lead_event(lead_id, e, now)).collect();
        if !rows.is_empty() {
            Service::new(state).record_events(rows, false)?;
        }
    }
    Ok(new.len())
}

// ---------------------------------------------------------------- forms

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormIn {
    /// The visitor id; absent when the visitor is not tracked (Do-Not-Track,
    /// no consent): the lead is made without history.
    vid: Option<String>,
    /// One id per submission: a retried submission counts once.
    sid: String,
    #[serde(default)]
    #[allow(dead_code)]
    site: Option<String>,
    /// The form's name (`data-leadq-form`).
    form: Option<String>,
    /// The page path the form was on.
    page: Option<String>,
    fields: Map<String, Json>,
    /// The form's consent checkbox: an email marketing opt-in.
    #[serde(default)]
    consent: Option<bool>,
    /// `leadq("identify", …)`: link the visitor without recording a form submission.
    #[serde(default)]
    identify: bool,
}

/// A validated form submission.
#[derive(Debug)]
struct Submission {
    vid: Option<String>,
    sid: String,
    form: String,
    page: Option<String>,
    fields: Map<String, Json>,
    email: String,
    consent: bool,
    identify: bool,
}

/// Checks a form body: an email address is required; field names and
/// values are bounded; fields that would pick another lead or bypass the
/// lifecycle are refused. Errors name the field (`fields.email`).
fn submission_of(b: FormIn) -> Result<Submission, TrackingError> {
    let vid = b
        .vid
        .as_deref()
        .map(|v| core::check_id("vid", v))
        .transpose()?;
    let sid = core::check_id("sid", &b.sid)?;
    let form = b.form.unwrap_or_default();
    if form.len() > 100 {
        return Err(TrackingError::new("form", "longer than 100 characters"));
    }
    let page = b
        .page
        .as_deref()
        .map(|p| core::page_path("page", p))
        .transpose()?;
    if b.fields.len() > MAX_FORM_FIELDS {
        return Err(TrackingError::new(
            "fields",
            format!("at most {MAX_FORM_FIELDS} fields"),
        ));
    }
    let mut fields = Map::new();
    for (k, v) in b.fields {
        let path = format!("fields.{k}");
        let name = k.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(TrackingError::new(
                path,
                "field names must be 1 to 100 characters",
            ));
        }
        if RESERVED_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(TrackingError::new(
                path,
                format!("'{name}' cannot be set by a website form"),
            ));
        }
        let v = match v {
            Json::String(s) if s.len() > MAX_FORM_VALUE => {
                return Err(TrackingError::new(
                    path,
                    format!("longer than {MAX_FORM_VALUE} characters"),
                ))
            }
            Json::String(s) if s.trim().is_empty() => continue,
            Json::String(s) => Json::String(s.trim().to_string()),
            Json::Number(_) | Json::Bool(_) => v,
            Json::Null => continue,
            _ => {
                return Err(TrackingError::new(
                    path,
                    "values must be strings, numbers or booleans",
                ))
            }
        };
        fields.insert(name.to_string(), v);
    }
    let email = fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("email"))
        .and_then(|(_, v)| v.as_str())
        .map(|s| s.to_lowercase());
    let Some(email) = email else {
        return Err(TrackingError::new(
            "fields.email",
            "an email address is required",
        ));
    };
    if !looks_like_email(&email) {
        return Err(TrackingError::new(
            "fields.email",
            format!("'{email}' is not an email address"),
        ));
    }
    Ok(Submission {
        vid,
        sid,
        form,
        page,
        fields,
        email,
        consent: b.consent.unwrap_or(false),
        identify: b.identify,
    })
}

/// A plausible address: one `@`, a local part, a dotted domain, no spaces.
/// (The scoring model's cleaning judges it further.)
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 320
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

async fn form(State(state): State<AppState>, req: Request) -> Response {
    let (parts, req) = req.into_parts();
    let origin = match admit(&state, &parts).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut resp = form_admitted(&state, req).await.unwrap_or_else(|r| r);
    cors(&mut resp, &origin);
    resp
}

async fn form_admitted(state: &AppState, req: axum::body::Body) -> Result<Response, Response> {
    let bytes = body_of(req, FORM_LIMIT)
        .await
        .map_err(IntoResponse::into_response)?;
    let body: FormIn = parse_json(&bytes).map_err(IntoResponse::into_response)?;
    let sub = submission_of(body).map_err(|e| invalid(e).into_response())?;
    if let Some(vid) = &sub.vid {
        limit_visitor(state, vid).map_err(too_many)?;
    }
    let s = state.clone();
    let created = tokio::task::spawn_blocking(move || submit(&s, sub))
        .await
        .map_err(|_| ApiError::internal("the request's worker failed").into_response())?
        .map_err(IntoResponse::into_response)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    // The lead's id is not told: anyone may submit anyone's address.
    Ok((status, JsonBody(json!({ "ok": true }))).into_response())
}

/// Creates or updates the lead of a submission, records the submission,
/// links the visitor and turns its history into the lead's events, then
/// re-scores the lead. Returns whether the lead was new.
fn submit(state: &AppState, sub: Submission) -> ApiResult<bool> {
    let now = state.clock.now_ms();
    let mut fields = sub.fields;
    let existing = state.store.find_lead(&LeadKey::Email(sub.email.clone()))?;
    // A new lead comes from the website; an existing one keeps the source
    // it was first recorded with (metrics count leads by source).
    if existing.is_none() && !fields.keys().any(|k| k.eq_ignore_ascii_case("source")) {
        fields.insert("source".into(), Json::String(FORM_SOURCE.into()));
    }
    let actor = match &sub.vid {
        Some(v) => format!("website:{v}"),
        None => "website".to_string(),
    };
    let input = LeadInput {
        id: None,
        external_id: None,
        fields,
    };
    let mut out = Service::new(state).upsert_leads(vec![Ok(input)], &actor)?;
    let (lead, created) = out.pop().ok_or_else(|| ApiError::internal("no result"))??;
    state
        .stats
        .leads_written
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if sub.consent {
        use leadq_core::privacy::{Channel, LawfulBasis};
        // Ticking the form's consent box is an email opt-in given by the
        // person, which is also what counts as consent to tracking.
        crate::privacy::record_consent(
            state,
            &lead.id,
            vec![crate::privacy::ConsentInput {
                channel: Channel::Email,
                lawful_basis: Some(LawfulBasis::Consent),
                opt_in: Some(true),
                do_not_contact: false,
            }],
            "website form",
            &actor,
        )?;
    }
    let mut props = Map::new();
    if let Some(p) = &sub.page {
        props.insert("url".into(), Json::String(p.clone()));
    }
    if !sub.form.is_empty() {
        props.insert("form".into(), Json::String(sub.form.clone()));
    }
    let mut rows = Vec::new();
    match &sub.vid {
        Some(vid) => {
            let events = if sub.identify {
                Vec::new()
            } else {
                vec![VisitorEventRow {
                    seq: 0,
                    visitor_id: vid.clone(),
                    id: format!("form-{}", sub.sid),
                    kind: "form_submit".into(),
                    url: sub.page.clone(),
                    props: Json::Object(props).to_string(),
                    occurred_at: now,
                    received_at: now,
                }]
            };
            state.store.record_visit(Visit {
                visitor_id: vid.clone(),
                consent: sub.consent.then_some(true),
                at: now,
                events,
            })?;
            state.store.link_visitor(vid, &lead.id, now)?;
            // Every event of the visitor, the earlier anonymous ones
            // included; keys derived from the visitor event make a repeat
            // of this a no-op.
            rows.extend(
                state
                    .store
                    .visitor_events(vid)?
                    .iter()
                    .map(|e| lead_event(&lead.id, e, now)),
            );
        }
        None if !sub.identify => rows.push(EventRow {
            seq: 0,
            lead_id: lead.id.clone(),
            kind: "form_submit".into(),
            at: now,
            props: Json::Object(props).to_string(),
            idempotency_key: format!("form:{}:{}", lead.id, sub.sid),
            received_at: now,
        }),
        None => {}
    }
    if !rows.is_empty() {
        let fresh = Service::new(state).record_events(rows, true)?;
        state.stats.events_accepted.fetch_add(
            fresh.iter().filter(|f| **f).count() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    Ok(created)
}

/// The public tracking routes (no token; CORS and rate limits instead).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/t.js", get(snippet))
        .route("/t/collect", post(collect).options(preflight))
        .route("/t/form", post(form).options(preflight))
}

// ---------------------------------------------------------------- API

fn visitor_json(v: &VisitorRow) -> Json {
    json!({
        "id": v.id,
        "lead_id": v.lead_id,
        "consent": v.consent,
        "first_seen": crate::clock::rfc3339(v.first_seen),
        "last_seen": crate::clock::rfc3339(v.last_seen),
    })
}

fn visitor_event_json(e: &VisitorEventRow) -> Json {
    json!({
        "id": e.id,
        "type": e.kind,
        "url": e.url,
        "properties": serde_json::from_str::<Json>(&e.props).unwrap_or(Json::Null),
        "at": crate::clock::rfc3339(e.occurred_at),
        "received_at": crate::clock::rfc3339(e.received_at),
    })
}

/// A visitor with their events (oldest first) and the lead they became.
pub fn visitor_view(state: &AppState, id: &str) -> ApiResult<Json> {
    let v = state
        .store
        .visitor(id)?
        .ok_or_else(|| ApiError::not_found(format!("visitor '{id}'")))?;
    let events: Vec<Json> = state
        .store
        .visitor_events(id)?
        .iter()
        .map(visitor_event_json)
        .collect();
    let lead = match &v.lead_id {
        Some(l) => state.store.lead(l)?.map(|l| lead_view(&l)),
        None => None,
    };
    let mut out = visitor_json(&v);
    out["events"] = Json::Array(events);
    out["lead"] = serde_json::to_value(lead).unwrap_or(Json::Null);
    Ok(out)
}

/// The visitors of a lead with their events, for the privacy export.
pub fn visitors_export(state: &AppState, lead_id: &str) -> ApiResult<Vec<Json>> {
    let mut out = Vec::new();
    for v in state.store.visitors_of(lead_id)? {
        let mut j = visitor_json(&v);
        j["events"] = Json::Array(
            state
                .store
                .visitor_events(&v.id)?
                .iter()
                .map(visitor_event_json)
                .collect(),
        );
        out.push(j);
    }
    Ok(out)
}

/// A website visitor (by the id in their `leadq_vid` cookie): consent flag, first and last
/// visit, every event the tracking snippet recorded, and the lead they became (if any).
#[utoipa::path(get, path = "/visitors/{id}", tag = "tracking", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_visitor(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing])?;
    let s = state.clone();
    let out = tokio::task::spawn_blocking(move || visitor_view(&s, &id))
        .await
        .map_err(|_| ApiError::internal("the request's worker failed"))??;
    Ok(JsonBody(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form_in(fields: Json) -> FormIn {
        FormIn {
            vid: Some("0123456789abcdef".into()),
            sid: "submission-1".into(),
            site: None,
            form: Some("contact".into()),
            page: Some("/contact?x=1".into()),
            fields: fields.as_object().cloned().unwrap_or_default(),
            consent: None,
            identify: false,
        }
    }

    #[test]
    fn a_form_needs_a_plausible_email_address() {
        let e = submission_of(form_in(json!({ "name": "Ada" }))).unwrap_err();
        assert_eq!(e.field, "fields.email");
        let e = submission_of(form_in(json!({ "email": "ada at example" }))).unwrap_err();
        assert_eq!(e.field, "fields.email");
        let s = submission_of(form_in(
            json!({ "Email": " Ada@Example.com ", "company": "" }),
        ))
        .unwrap();
        assert_eq!(s.email, "ada@example.com");
        assert_eq!(s.page.as_deref(), Some("/contact"));
        assert!(
            !s.fields.contains_key("company"),
            "empty values are left out"
        );
    }

    #[test]
    fn a_form_cannot_pick_the_lead_or_set_its_stage() {
        for f in ["id", "lead_id", "External_Id", "stage", "owner"] {
            let e = submission_of(form_in(json!({ "email": "a@b.co", f: "x" }))).unwrap_err();
            assert_eq!(e.field, format!("fields.{f}"));
        }
        let e = submission_of(form_in(json!({ "email": "a@b.co", "notes": ["x"] }))).unwrap_err();
        assert_eq!(e.field, "fields.notes");
    }

    #[test]
    fn collected_page_views_carry_their_path_as_the_url_property() {
        let body: CollectIn = serde_json::from_value(json!({
            "vid": "0123456789abcdef",
            "events": [{ "id": "event-0001", "kind": "pageview", "url": "https://x.com/pricing?a=b", "at": 900, "props": { "title": "Pricing" } }]
        }))
        .unwrap();
        let v = visit_of(body, 1000).unwrap();
        let e = &v.events[0];
        assert_eq!(
            (e.kind.as_str(), e.url.as_deref(), e.occurred_at),
            ("page_view", Some("/pricing"), 900)
        );
        let props: Json = serde_json::from_str(&e.props).unwrap();
        assert_eq!(props, json!({ "title": "Pricing", "url": "/pricing" }));
    }

    #[test]
    fn a_page_view_without_a_path_or_with_nested_properties_is_refused() {
        let body: CollectIn = serde_json::from_value(json!({
            "vid": "0123456789abcdef", "events": [{ "id": "event-0001", "kind": "page_view" }]
        }))
        .unwrap();
        assert_eq!(visit_of(body, 0).unwrap_err().field, "events[0].url");
        let body: CollectIn = serde_json::from_value(json!({
            "vid": "0123456789abcdef", "events": [{ "id": "event-0001", "kind": "video", "props": { "a": { "b": 1 } } }]
        }))
        .unwrap();
        assert_eq!(visit_of(body, 0).unwrap_err().field, "events[0].props.a");
    }

    #[test]
    fn the_client_address_is_the_peer_unless_a_local_proxy_forwards() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(Some(remote), Some("1.2.3.4")), "203.0.113.9");
        assert_eq!(
            client_ip(Some(local), Some("9.9.9.9, 198.51.100.7")),
            "198.51.100.7"
        );
        assert_eq!(client_ip(Some(local), Some("garbage")), "127.0.0.1");
        assert_eq!(client_ip(Some(local), None), "127.0.0.1");
        assert_eq!(client_ip(None, None), "unknown");
    }

    #[test]
    fn lead_event_keys_depend_only_on_the_visitor_event() {
        assert_eq!(lead_event_key("v1", "e1"), "visitor:v1:e1");
        assert_ne!(lead_event_key("v1", "e1"), lead_event_key("v2", "e1"));
    }
}
