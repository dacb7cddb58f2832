//! The HTTP API under `/api/v1`, its OpenAPI document, health and
//! Prometheus endpoints. Handlers check the caller's role, then hand the
//! work to [`crate::service`] on the blocking pool (the store is
//! synchronous and its writes wait for the disk).

use crate::auth::{hash_token, new_id, new_token, Principal, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::jobs::JobView;
use crate::service::{parse_lead_input, Service, WEBHOOK_EVENTS};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json as JsonBody, Router};
use leadq_core::lifecycle::Stage;
use leadq_core::routing::RoutingRule;
use leadq_core::sla::WorkingHours;
use leadq_core::CompiledModel;
use leadq_store::{
    AnswerRow, EventRow, LeadFilter, LeadKey, LeadRow, LeadSort, RepRow, SlaPolicyRow, SpendRow,
    TokenRow, UserRow, WebhookRow,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::collections::HashSet;
use std::time::Instant;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

// ---------------------------------------------------------------- plumbing

/// Runs store work off the async threads.
pub(crate) async fn run<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let s = state.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|_| ApiError::internal("the request's worker failed"))?
}

/// A JSON body with errors in the API's format: syntax and bad UTF-8 → 400
/// with line and column, wrong types and unknown fields → 422 with the
/// field path, too large → 413.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(Body)
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> ApiResult<Bytes> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is larger than the server accepts",
            )
        } else {
            ApiError::bad_request(format!("cannot read the request body: {e}"))
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON document",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            )
            .with_details(json!({ "line": inner.line(), "column": inner.column() })),
            Category::Data => {
                let msg = inner.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                ApiError::invalid(if path == "." { "$" } else { &path }, msg)
            }
        }
    })
}

async fn track(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let state = req.extensions().get::<AppState>().cloned();
    let method = req.method().to_string();
    let route = matched
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let t = Instant::now();
    let resp = next.run(req).await;
    if let Some(s) = state {
        s.stats.record_request(
            &method,
            &route,
            resp.status().as_u16(),
            t.elapsed().as_secs_f64(),
        );
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

// ---------------------------------------------------------------- views

#[derive(Serialize, ToSchema)]
pub struct ScoreView {
    pub fit: f64,
    /// A, B, C or D.
    pub grade: String,
    pub engagement: f64,
    /// Weighted score leads sort by within a priority.
    pub score: f64,
    /// Engagement band 1 (hot) to 4.
    pub band: i64,
    /// Grade × band, e.g. `A1`.
    pub priority: String,
    pub mql: bool,
    pub model_version: i64,
    /// Each rule that fired with its points.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Json,
    pub scored_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct LeadView {
    pub id: String,
    pub external_id: Option<String>,
    pub stage: String,
    pub stage_reason: Option<String>,
    pub owner: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub domain: Option<String>,
    pub source: Option<String>,
    pub campaign: Option<String>,
    pub country: Option<String>,
    /// The lead's fields as submitted (merged over updates).
    #[schema(value_type = Object)]
    pub fields: Json,
    pub score: Option<ScoreView>,
    pub created_at: String,
    pub updated_at: String,
    pub assigned_at: Option<String>,
    pub first_response_at: Option<String>,
    pub version: i64,
}

fn ts(ms: i64) -> String {
    crate::clock::rfc3339(ms)
}

pub fn lead_view(l: &LeadRow) -> LeadView {
    LeadView {
        id: l.id.clone(),
        external_id: l.external_id.clone(),
        stage: l.stage.clone(),
        stage_reason: l.stage_reason.clone(),
        owner: l.owner.clone(),
        email: l.email.clone(),
        company: l.company.clone(),
        domain: l.domain.clone(),
        source: l.source.clone(),
        campaign: l.campaign.clone(),
        country: l.country.clone(),
        fields: serde_json::from_str(&l.fields).unwrap_or(Json::Null),
        score: l.score.as_ref().map(|s| ScoreView {
            fit: s.fit,
            grade: s.grade.clone(),
            engagement: s.engagement,
            score: s.score,
            band: s.band,
            priority: s.priority.clone(),
            mql: s.mql,
            model_version: s.model_version,
            reasons: crate::engine::shown_reasons(&s.reasons),
            scored_at: ts(s.scored_at),
        }),
        created_at: ts(l.created_at),
        updated_at: ts(l.updated_at),
        assigned_at: l.assigned_at.map(ts),
        first_response_at: l.first_response_at.map(ts),
        version: l.version,
    }
}

#[derive(Serialize, ToSchema)]
pub struct LeadPageView {
    pub leads: Vec<LeadView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ItemResult {
    pub index: usize,
    /// `created`, `updated` or `rejected`.
    pub status: String,
    pub id: Option<String>,
    #[schema(value_type = Object)]
    pub error: Option<Json>,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    pub created: usize,
    pub updated: usize,
    pub rejected: usize,
    pub results: Vec<ItemResult>,
}

fn error_json(e: &ApiError) -> Json {
    json!({ "code": e.code, "message": e.message, "details": e.details })
}

// ---------------------------------------------------------------- leads

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkLeads {
    /// Lead documents: flat JSON objects of fields (`email`, `company`,
    /// `employees`, custom fields…) plus optional `id` and `external_id`.
    #[schema(value_type = Vec<Object>)]
    pub leads: Vec<Json>,
}

/// Create a lead (or update the one with the same id, external id or email).
#[utoipa::path(post, path = "/leads", tag = "leads", request_body(content = Object, description = "A flat lead document"),
    responses((status = 201, body = LeadView, description = "created"), (status = 200, body = LeadView, description = "an existing lead was updated"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_lead(
    State(state): State<AppState>,
    who: Principal,
    Body(doc): Body<Json>,
) -> ApiResult<Response> {
    who.require(&[Role::Marketing, Role::Manager])?;
    let input = parse_lead_input(doc, "");
    let actor = who.actor();
    let mut out = run(&state, move |s| {
        Service::new(s).upsert_leads(vec![input], &actor)
    })
    .await?;
    let (row, created) = out.pop().ok_or_else(|| ApiError::internal("no result"))??;
    state
        .stats
        .leads_written
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, JsonBody(lead_view(&row))).into_response())
}

/// Create or update many leads; each is accepted or rejected on its own.
#[utoipa::path(post, path = "/leads/bulk", tag = "leads", request_body = BulkLeads,
    responses((status = 200, body = BulkResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
async fn bulk_leads(
    State(state): State<AppState>,
    who: Principal,
    Body(body): Body<BulkLeads>,
) -> ApiResult<JsonBody<BulkResult>> {
    who.require(&[Role::Marketing, Role::Manager])?;
    if body.leads.len() > 10_000 {
        return Err(ApiError::invalid(
            "leads",
            "at most 10000 leads per request; use an import for more",
        ));
    }
    let inputs: Vec<_> = body
        .leads
        .into_iter()
        .enumerate()
        .map(|(i, d)| parse_lead_input(d, &format!("leads[{i}]")))
        .collect();
    let actor = who.actor();
    let results = run(&state, move |s| {
        Service::new(s).upsert_leads(inputs, &actor)
    })
    .await?;
    let mut out = BulkResult {
        created: 0,
        updated: 0,
        rejected: 0,
        results: Vec::with_capacity(results.len()),
    };
    for (index, r) in results.into_iter().enumerate() {
        out.results.push(match r {
            Ok((row, created)) => {
                if created {
                    out.created += 1
                } else {
                    out.updated += 1
                }
                ItemResult {
                    index,
                    status: if created { "created" } else { "updated" }.into(),
                    id: Some(row.id),
                    error: None,
                }
            }
            Err(e) => {
                out.rejected += 1;
                ItemResult {
                    index,
                    status: "rejected".into(),
                    id: None,
                    error: Some(error_json(&e)),
                }
            }
        });
    }
    state.stats.leads_written.fetch_add(
        (out.created + out.updated) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    Ok(JsonBody(out))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub stage: Option<String>,
    /// Only leads not won, lost or disqualified.
    pub open: Option<bool>,
    pub owner: Option<String>,
    pub grade: Option<String>,
    pub priority: Option<String>,
    pub source: Option<String>,
    pub mql: Option<bool>,
    /// Search in email, company and id.
    pub q: Option<String>,
    /// `priority` (default), `score` or `created`.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<usize>,
}

/// List leads, best first, with filters and cursor pagination.
#[utoipa::path(get, path = "/leads", tag = "leads", params(ListQuery),
    responses((status = 200, body = LeadPageView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_leads(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<JsonBody<LeadPageView>> {
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let sort = match q.sort.as_deref() {
        None | Some("priority") => LeadSort::Priority,
        Some("score") => LeadSort::Score,
        Some("created") => LeadSort::Created,
        Some(other) => {
            return Err(ApiError::invalid(
                "sort",
                format!("'{other}' is not one of priority, score, created"),
            ))
        }
    };
    if let Some(st) = &q.stage {
        Stage::parse(st)
            .ok_or_else(|| ApiError::invalid("stage", format!("'{st}' is not a stage")))?;
    }
    let mut filter = LeadFilter {
        stage: q
            .stage
            .as_deref()
            .and_then(Stage::parse)
            .map(|s| s.as_str().to_string()),
        open_only: q.open.unwrap_or(false),
        owner: q.owner,
        grade: q.grade.map(|g| g.to_uppercase()),
        priority: q.priority.map(|p| p.to_uppercase()),
        source: q.source,
        mql: q.mql,
        search: q.q,
        sort,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(50),
    };
    if filter.limit == 0 || filter.limit > 1000 {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let page = run(&state, move |s| {
        if who.role == Role::Rep && !Service::new(s).reps_see_all()? {
            filter.owner = Some(who.rep_id.clone().unwrap_or_else(|| "\u{0}none".into()));
        }
        s.store.list_leads(&filter).map_err(|e| match e {
            leadq_store::StoreError::NotFound(m) => ApiError::invalid("cursor", m),
            other => other.into(),
        })
    })
    .await?;
    Ok(JsonBody(LeadPageView {
        leads: page.leads.iter().map(lead_view).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Get one lead.
#[utoipa::path(get, path = "/leads/{id}", tag = "leads", params(("id" = String, Path)),
    responses((status = 200, body = LeadView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_lead(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<LeadView>> {
    let row = run(&state, move |s| Service::new(s).lead_for(&who, &id)).await?;
    Ok(JsonBody(lead_view(&row)))
}

/// Update a lead's fields (merged; `null` clears a field) and re-score it.
#[utoipa::path(patch, path = "/leads/{id}", tag = "leads", params(("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = LeadView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_lead(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(doc): Body<Json>,
) -> ApiResult<JsonBody<LeadView>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let mut input = parse_lead_input(doc, "")?;
    if input.id.as_ref().is_some_and(|x| x != &id) {
        return Err(ApiError::invalid("id", "cannot change a lead's id"));
    }
    input.id = Some(id.clone());
    let actor = who.actor();
    let row = run(&state, move |s| {
        Service::new(s).lead_for(&who, &id)?;
        let mut out = Service::new(s).upsert_leads(vec![Ok(input)], &actor)?;
        out.pop()
            .ok_or_else(|| ApiError::internal("no result"))?
            .map(|(r, _)| r)
    })
    .await?;
    Ok(JsonBody(lead_view(&row)))
}

/// Delete a lead with its events, answers and history.
#[utoipa::path(delete, path = "/leads/{id}", tag = "leads", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_lead(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(&[Role::Marketing])?;
    let found = run(&state, move |s| Ok(s.store.delete_lead(&id)?)).await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("lead"))
    }
}

/// The lead's score, every reason, and its framework evaluations.
#[utoipa::path(get, path = "/leads/{id}/score", tag = "leads", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn lead_score(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    let out = run(&state, move |s| {
        let svc = Service::new(s);
        let row = svc.lead_for(&who, &id)?;
        let answers = s.store.answers_of(&id)?;
        let model = s.model();
        let mut frameworks = Vec::new();
        let all = leadq_core::framework::built_in();
        let extra = model.as_ref().map(|m| m.compiled.frameworks.clone()).unwrap_or_default();
        for f in all.iter().chain(extra.iter()) {
            if !answers.iter().any(|a| a.framework.eq_ignore_ascii_case(&f.key)) {
                continue;
            }
            let eval = f.evaluate(&crate::engine::framework_values(f, &answers));
            frameworks.push(json!({
                "framework": f.key,
                "status": eval.status.as_str(),
                "satisfied": eval.satisfied,
                "unknown": eval.unknown(f),
            }));
        }
        let gate = svc.framework_gate(&id)?;
        Ok(json!({
            "lead_id": row.id,
            "stage": row.stage,
            "score": lead_view(&row).score,
            "frameworks": frameworks,
            "sql_gate": gate.map(|g| json!({"framework": g.framework, "satisfied": g.satisfied, "unknown": g.unknown, "not_met": g.not_met})),
        }))
    })
    .await?;
    Ok(JsonBody(out))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AtQuery {
    /// RFC 3339 instant.
    pub at: String,
}

/// Every score change, stage change and assignment of a lead, oldest first.
#[utoipa::path(get, path = "/leads/{id}/history", tag = "leads", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn lead_history(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    let out = run(&state, move |s| {
        Service::new(s).lead_for(&who, &id)?;
        let scores: Vec<Json> = s.store.ledger_of(&id)?.into_iter().map(|e| json!({
            "at": ts(e.at), "as_of": ts(e.as_of * 1000), "model_version": e.model_version, "fit": e.fit, "grade": e.grade,
            "engagement": e.engagement, "band": e.band, "priority": e.priority, "mql": e.mql,
            "reasons": crate::engine::shown_reasons(&e.reasons), "cause": e.cause,
        })).collect();
        let stages: Vec<Json> = s.store.transitions_of(&id)?.into_iter().map(|t| json!({
            "at": ts(t.at), "from": t.from_stage, "to": t.to_stage, "actor": t.actor, "reason": t.reason,
            "model_version": t.model_version, "automatic": t.automatic,
        })).collect();
        let assignments: Vec<Json> = s.store.assignments_of(&id)?.into_iter().map(|a| json!({
            "at": ts(a.at), "rep_id": a.rep_id, "previous_rep": a.previous_rep, "rule": a.rule, "explanation": a.explanation, "actor": a.actor,
        })).collect();
        Ok(json!({ "lead_id": id, "scores": scores, "stages": stages, "assignments": assignments }))
    })
    .await?;
    Ok(JsonBody(out))
}

/// Replays the score a lead had at a past instant from the ledger's
/// recorded inputs and the model version then published, and says whether
/// it matches what was recorded.
#[utoipa::path(get, path = "/leads/{id}/score-at", tag = "leads", params(("id" = String, Path), AtQuery),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn score_at(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    q: Result<Query<AtQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<JsonBody<Json>> {
    let Query(q) = q.map_err(|e| ApiError::invalid("at", e.body_text()))?;
    let at: jiff::Timestamp =
        q.at.parse()
            .map_err(|_| ApiError::invalid("at", "not an RFC 3339 instant"))?;
    let at_ms = at.as_millisecond();
    let out = run(&state, move |s| crate::workers::replay(s, &who, &id, at_ms)).await?;
    Ok(JsonBody(out))
}

// ---------------------------------------------------------------- events

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// The lead's id; or give `email`.
    pub lead_id: Option<String>,
    pub email: Option<String>,
    /// `page_view`, `pricing_page_view`, `email_open`, `form_submit`, `demo_request`, … or a custom type.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339; defaults to now.
    pub at: Option<String>,
    #[schema(value_type = Object)]
    #[serde(default)]
    pub properties: Json,
    /// A repeated key is accepted and counted once. Derived from the event when absent.
    pub idempotency_key: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<EventIn>,
}

#[derive(Serialize, ToSchema)]
pub struct EventsResult {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<Json>,
}

/// Validates one event of a batch; `known` holds the ids among the
/// batch's `lead_id`s that name a stored lead (read once per batch).
fn event_row(
    state: &AppState,
    e: EventIn,
    path: &str,
    now: i64,
    known: &HashSet<String>,
) -> ApiResult<EventRow> {
    let kind = e.kind.trim().to_lowercase();
    if kind.is_empty()
        || kind.len() > 64
        || !kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    {
        return Err(ApiError::invalid(
            &format!("{path}.type"),
            "must be 1 to 64 letters, digits, '_', '.' or '-'",
        ));
    }
    let at = match &e.at {
        None => now,
        Some(raw) => raw
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| {
                ApiError::invalid(
                    &format!("{path}.at"),
                    format!("'{raw}' is not an RFC 3339 instant"),
                )
            })?,
    };
    if !(e.properties.is_object() || e.properties.is_null()) {
        return Err(ApiError::invalid(
            &format!("{path}.properties"),
            "must be an object",
        ));
    }
    let lead_id = match (e.lead_id, &e.email) {
        (Some(id), _) if known.contains(&id) => id,
        (Some(id), _) => {
            return Err(ApiError::invalid(
                &format!("{path}.lead_id"),
                format!("no lead '{id}'"),
            ))
        }
        (None, Some(email)) => {
            state
                .store
                .find_lead(&LeadKey::Email(email.trim().to_lowercase()))?
                .ok_or_else(|| {
                    ApiError::invalid(
                        &format!("{path}.email"),
                        format!("no lead with email '{email}'"),
                    )
                })?
                .id
        }
        (None, None) => return Err(ApiError::invalid(path, "give lead_id or email")),
    };
    let props = if e.properties.is_null() {
        "{}".to_string()
    } else {
        e.properties.to_string()
    };
    let key = match e.idempotency_key {
        Some(k) if !k.trim().is_empty() && k.len() <= 200 => k,
        Some(_) => {
            return Err(ApiError::invalid(
                &format!("{path}.idempotency_key"),
                "must be 1 to 200 characters",
            ))
        }
        None => {
            use sha2::Digest;
            let h = sha2::Sha256::digest(
                format!("{lead_id}\u{0}{kind}\u{0}{at}\u{0}{props}").as_bytes(),
            );
            format!("auto:{}", hex::encode(&h[..16]))
        }
    };
    Ok(EventRow {
        seq: 0,
        lead_id,
        kind,
        at,
        props,
        idempotency_key: key,
        received_at: now,
    })
}

async fn ingest_events(
    state: &AppState,
    events: Vec<EventIn>,
    wait: bool,
) -> ApiResult<EventsResult> {
    let out = run(state, move |s| {
        let now = s.clock.now_ms();
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        // The leads the batch names, read in one go rather than per event.
        let named: Vec<String> = events
            .iter()
            .filter_map(|e| e.lead_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let known: HashSet<String> = s.store.existing_lead_ids(&named)?.into_iter().collect();
        for (i, e) in events.into_iter().enumerate() {
            match event_row(s, e, &format!("events[{i}]"), now, &known) {
                Ok(r) => rows.push(r),
                Err(err) => errors.push(json!({ "index": i, "error": error_json(&err) })),
            }
        }
        let fresh = Service::new(s).record_events(rows, wait)?;
        let accepted = fresh.iter().filter(|f| **f).count();
        Ok(EventsResult {
            accepted,
            duplicates: fresh.len() - accepted,
            rejected: errors.len(),
            errors,
        })
    })
    .await?;
    state
        .stats
        .events_accepted
        .fetch_add(out.accepted as u64, std::sync::atomic::Ordering::Relaxed);
    state
        .stats
        .events_duplicate
        .fetch_add(out.duplicates as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(out)
}

/// Record one engagement event; the lead is re-scored.
#[utoipa::path(post, path = "/events", tag = "events", request_body = EventIn,
    responses((status = 202, body = EventsResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn post_event(
    State(state): State<AppState>,
    who: Principal,
    Body(e): Body<EventIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Marketing])?;
    let out = ingest_events(&state, vec![e], true).await?;
    if out.rejected == 1 {
        let err = &out.errors[0]["error"];
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            JsonBody(json!({ "error": err })),
        )
            .into_response());
    }
    Ok((StatusCode::ACCEPTED, JsonBody(out)).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BatchQuery {
    /// Re-score the touched leads before answering (default: the events
    /// are stored before the answer and the leads re-scored just after).
    pub wait: Option<bool>,
}

/// Record a batch of events (each accepted or rejected on its own).
#[utoipa::path(post, path = "/events/batch", tag = "events", request_body = EventBatch, params(BatchQuery),
    responses((status = 202, body = EventsResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
async fn post_events(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<BatchQuery>, axum::extract::rejection::QueryRejection>,
    Body(b): Body<EventBatch>,
) -> ApiResult<(StatusCode, JsonBody<EventsResult>)> {
    let Query(q) = q.map_err(|e| ApiError::invalid("wait", e.body_text()))?;
    who.require(&[Role::Marketing])?;
    if b.events.len() > 50_000 {
        return Err(ApiError::invalid(
            "events",
            "at most 50000 events per request",
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        JsonBody(ingest_events(&state, b.events, q.wait.unwrap_or(false)).await?),
    ))
}

/// The events of a lead, oldest first.
#[utoipa::path(get, path = "/leads/{id}/events", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn lead_events(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    let out = run(&state, move |s| {
        Service::new(s).lead_for(&who, &id)?;
        let evs: Vec<Json> = s.store.events_of(&id)?.into_iter().map(|e| json!({
            "type": e.kind, "at": ts(e.at), "properties": serde_json::from_str::<Json>(&e.props).unwrap_or(Json::Null),
            "idempotency_key": e.idempotency_key, "received_at": ts(e.received_at),
        })).collect();
        Ok(json!({ "lead_id": id, "events": evs }))
    })
    .await?;
    Ok(JsonBody(out))
}

// ---------------------------------------------------------------- answers, lifecycle, assignment

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersIn {
    /// Criterion key → answer (e.g. `{"budget": "approved"}`); `null` or `""` sets it back to unknown.
    #[schema(value_type = Object)]
    pub answers: serde_json::Map<String, Json>,
    /// Criterion key → evidence (a note, a quote).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub evidence: serde_json::Map<String, Json>,
}

/// A lead's answers to one framework with its verdict.
#[utoipa::path(get, path = "/leads/{id}/frameworks/{framework}", tag = "frameworks", params(("id" = String, Path), ("framework" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_answers(
    State(state): State<AppState>,
    who: Principal,
    Path((id, fw)): Path<(String, String)>,
) -> ApiResult<JsonBody<Json>> {
    let out = run(&state, move |s| {
        Service::new(s).lead_for(&who, &id)?;
        framework_report(s, &id, &fw)
    })
    .await?;
    Ok(JsonBody(out))
}

fn find_framework(s: &AppState, key: &str) -> ApiResult<leadq_core::Framework> {
    let extra = s
        .model()
        .map(|m| m.compiled.frameworks.clone())
        .unwrap_or_default();
    leadq_core::framework::find(key, &extra).map_err(|e| ApiError::not_found(e.to_string()))
}

fn framework_report(s: &AppState, id: &str, key: &str) -> ApiResult<Json> {
    let f = find_framework(s, key)?;
    let answers = s.store.answers_of(id)?;
    let eval = f.evaluate(&crate::engine::framework_values(&f, &answers));
    let criteria: Vec<Json> = f.criteria.iter().zip(&eval.states).map(|(c, st)| {
        let a = answers.iter().find(|a| a.framework.eq_ignore_ascii_case(&f.key) && a.criterion == c.key);
        json!({
            "key": c.key, "name": c.name, "required": c.required, "answer_type": c.answer, "options": c.options,
            "questions": c.questions, "state": st,
            "answer": a.map(|a| a.value.as_str()).filter(|v| !v.trim().is_empty()), "evidence": a.and_then(|a| a.evidence.clone()),
            "answered_by": a.map(|a| a.actor.clone()), "answered_at": a.map(|a| ts(a.at)),
        })
    }).collect();
    Ok(
        json!({ "lead_id": id, "framework": f.key, "name": f.name, "status": eval.status.as_str(), "satisfied": eval.satisfied, "unknown": eval.unknown(&f), "criteria": criteria }),
    )
}

/// Record answers to a framework's criteria (validated by answer type); the lead is re-scored.
#[utoipa::path(put, path = "/leads/{id}/frameworks/{framework}", tag = "frameworks", params(("id" = String, Path), ("framework" = String, Path)), request_body = AnswersIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_answers(
    State(state): State<AppState>,
    who: Principal,
    Path((id, fw)): Path<(String, String)>,
    Body(body): Body<AnswersIn>,
) -> ApiResult<JsonBody<Json>> {
    let out = run(&state, move |s| {
        let svc = Service::new(s);
        svc.lead_for(&who, &id)?;
        let f = find_framework(s, &fw)?;
        let now = s.clock.now_ms();
        let mut rows = Vec::new();
        for (k, v) in &body.answers {
            let c = f.criteria.iter().find(|c| &c.key == k).ok_or_else(|| {
                ApiError::invalid(
                    &format!("answers.{k}"),
                    format!(
                        "{} has no criterion '{k}' (it has {})",
                        f.name,
                        f.criteria
                            .iter()
                            .map(|c| c.key.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let raw = match v {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                Json::Bool(b) => {
                    if *b {
                        "yes".into()
                    } else {
                        "no".into()
                    }
                }
                // Back to unknown: recorded (with who and when) rather than
                // deleted, so that an answer from the lead's own fields does
                // not come back in its place.
                Json::Null => String::new(),
                _ => {
                    return Err(ApiError::invalid(
                        &format!("answers.{k}"),
                        "must be a string, number, boolean or null (unknown)",
                    ))
                }
            };
            leadq_core::framework::Framework::parse_answer(c, &raw)
                .map_err(|m| ApiError::invalid(&format!("answers.{k}"), m))?;
            rows.push(AnswerRow {
                lead_id: id.clone(),
                framework: f.key.clone(),
                criterion: k.clone(),
                value: raw,
                evidence: body
                    .evidence
                    .get(k)
                    .and_then(|e| e.as_str())
                    .map(str::to_string),
                actor: who.actor(),
                at: now,
            });
        }
        s.store.set_answers(rows)?;
        if who.role == Role::Rep || who.role == Role::Manager {
            svc.touch(&who, &id)?;
        }
        svc.rescore_leads(std::slice::from_ref(&id), "answers")?;
        framework_report(s, &id, &fw)
    })
    .await?;
    Ok(JsonBody(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionIn {
    /// Target stage: working, mql, sal, sql, opportunity, won, lost, nurture, recycled, disqualified.
    pub to: String,
    /// Required for disqualified and lost.
    pub reason: Option<String>,
}

/// Move a lead to another stage (guarded: e.g. SQL needs the configured framework satisfied).
#[utoipa::path(post, path = "/leads/{id}/transitions", tag = "lifecycle", params(("id" = String, Path)), request_body = TransitionIn,
    responses((status = 200, body = LeadView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn post_transition(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(t): Body<TransitionIn>,
) -> ApiResult<JsonBody<LeadView>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let to = Stage::parse(&t.to)
        .ok_or_else(|| ApiError::invalid("to", format!("'{}' is not a stage", t.to)))?;
    let row = run(&state, move |s| {
        Service::new(s).transition(&who, &id, to, t.reason.as_deref())
    })
    .await?;
    Ok(JsonBody(lead_view(&row)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignIn {
    /// A rep to assign by hand; omitted → routing rules decide.
    pub rep_id: Option<String>,
}

/// Assign a lead by hand or by the routing rules; the decision is explained and recorded.
#[utoipa::path(post, path = "/leads/{id}/assign", tag = "routing", params(("id" = String, Path)), request_body = AssignIn,
    responses((status = 200, body = LeadView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn post_assign(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(a): Body<AssignIn>,
) -> ApiResult<JsonBody<LeadView>> {
    who.require(&[Role::Manager])?;
    let row = run(&state, move |s| {
        Service::new(s).assign(&who, &id, a.rep_id.as_deref(), None)
    })
    .await?;
    Ok(JsonBody(lead_view(&row)))
}

/// Record the first response to a lead (a call or email); stops its SLA clock.
#[utoipa::path(post, path = "/leads/{id}/touch", tag = "lifecycle", params(("id" = String, Path)),
    responses((status = 200, body = LeadView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn post_touch(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<LeadView>> {
    who.require(&[Role::Manager, Role::Rep])?;
    let row = run(&state, move |s| Service::new(s).touch(&who, &id)).await?;
    Ok(JsonBody(lead_view(&row)))
}

/// The qualification frameworks available (built in and from the published model).
#[utoipa::path(get, path = "/frameworks", tag = "frameworks",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn list_frameworks(
    State(state): State<AppState>,
    _who: Principal,
) -> ApiResult<JsonBody<Json>> {
    let extra = state
        .model()
        .map(|m| m.compiled.frameworks.clone())
        .unwrap_or_default();
    let all: Vec<_> = leadq_core::framework::built_in()
        .into_iter()
        .chain(extra)
        .collect();
    Ok(JsonBody(json!({ "frameworks": all })))
}

// ---------------------------------------------------------------- imports and jobs

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `csv`, `json` or `ndjson`; detected from the content when absent.
    pub format: Option<String>,
    /// Column-mapping preset: `hubspot`, `salesforce` or `generic`.
    pub preset: Option<String>,
    /// A mapping file (TOML), URL-encoded.
    pub mapping: Option<String>,
}

/// Upload a lead file (the request body is the file); it is imported as a job.
#[utoipa::path(post, path = "/imports", tag = "imports", params(ImportQuery), request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = JobView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn post_import(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> ApiResult<(StatusCode, JsonBody<JobView>)> {
    who.require(&[Role::Marketing])?;
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let bytes = read_body(req, &()).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; send the file as the body",
        ));
    }
    let actor = who.actor();
    let job = run(&state, move |s| {
        crate::workers::start_import(s, bytes.to_vec(), q.format, q.preset, q.mapping, actor)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, JsonBody(JobView::of(&job))))
}

/// Check a lead file without importing it: the detected format and
/// delimiter, how each column maps to a lead field, the first cleaned rows,
/// and every rejected row with its column and reason. Takes the same body
/// and query as `POST /imports`; nothing is written.
#[utoipa::path(post, path = "/imports/preview", tag = "imports", params(ImportQuery), request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn preview_import(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing])?;
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let bytes = read_body(req, &()).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; send the file as the body",
        ));
    }
    let out = run(&state, move |s| {
        crate::workers::preview_import(s, &bytes, q.format, q.preset, q.mapping)
    })
    .await?;
    Ok(JsonBody(out))
}

/// An import or re-score job with its progress and result.
#[utoipa::path(get, path = "/jobs/{id}", tag = "imports", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_job(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<JobView>> {
    who.require(&[Role::Marketing, Role::Manager])?;
    if let Some(j) = state.jobs.live(&id) {
        return Ok(JsonBody(JobView::of(&j)));
    }
    let j = run(&state, move |s| Ok(s.store.job(&id)?))
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    Ok(JsonBody(JobView::of(&j)))
}

/// The rows an import rejected, as CSV (row, line, column, value, reason).
#[utoipa::path(get, path = "/jobs/{id}/rejects", tag = "imports", params(("id" = String, Path)),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_job_rejects(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    who.require(&[Role::Marketing, Role::Manager])?;
    let csv = run(&state, move |s| {
        let j = s
            .store
            .job(&id)?
            .ok_or_else(|| ApiError::not_found("job"))?;
        let result: Json = j
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Json::Null);
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(["row", "line", "column", "value", "reason"]);
        for r in result["rejects"].as_array().into_iter().flatten() {
            let f = |k: &str| match &r[k] {
                Json::Null => String::new(),
                Json::String(s) => s.clone(),
                v => v.to_string(),
            };
            let _ = w.write_record([f("row"), f("line"), f("column"), f("value"), f("reason")]);
        }
        w.into_inner()
            .map_err(|_| ApiError::internal("cannot write CSV"))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

// ---------------------------------------------------------------- models

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelIn {
    pub name: String,
    /// The model file (TOML with CEL conditions).
    pub source: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSource {
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct ModelView {
    pub id: i64,
    pub name: String,
    /// `draft`, `published` or `retired`.
    pub status: String,
    pub version: Option<i64>,
    pub created_at: String,
    pub created_by: String,
    pub published_at: Option<String>,
    pub source: String,
}

fn model_view(m: &leadq_store::ModelRow) -> ModelView {
    ModelView {
        id: m.id,
        name: m.name.clone(),
        status: m.status.clone(),
        version: m.version,
        created_at: ts(m.created_at),
        created_by: m.created_by.clone(),
        published_at: m.published_at.map(ts),
        source: m.source.clone(),
    }
}

/// Compiles a model source; errors name the rule, line and column.
pub fn compile_model(source: &str) -> ApiResult<CompiledModel> {
    CompiledModel::from_toml(source).map_err(|e| {
        let (line, column, rule) = match &e {
            leadq_core::ModelError::Syntax { line, column, .. } => {
                (Some(*line), Some(*column), None)
            }
            leadq_core::ModelError::Rule {
                rule,
                file_position,
                ..
            } => (
                file_position.map(|p| p.0),
                file_position.map(|p| p.1),
                Some(rule.clone()),
            ),
            leadq_core::ModelError::Invalid(_) => (None, None, None),
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_model",
            e.to_string(),
        )
        .with_details(json!({ "line": line, "column": column, "rule": rule }))
    })
}

fn model_summary(m: &CompiledModel) -> Json {
    json!({
        "name": m.name, "fit_rules": m.fit.len(), "engagement_rules": m.engagement.len(),
        "custom_fields": m.custom_fields.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        "frameworks": m.frameworks.iter().map(|f| f.key.clone()).collect::<Vec<_>>(),
        "event_types": m.event_kinds,
    })
}

/// Check a model source without storing it.
#[utoipa::path(post, path = "/models/validate", tag = "models", request_body = ModelSource,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn validate_model(who: Principal, Body(m): Body<ModelSource>) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing])?;
    let compiled = compile_model(&m.source)?;
    Ok(JsonBody(
        json!({ "valid": true, "summary": model_summary(&compiled) }),
    ))
}

/// Store a model as a draft (it must compile).
#[utoipa::path(post, path = "/models", tag = "models", request_body = ModelIn,
    responses((status = 201, body = ModelView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_model(
    State(state): State<AppState>,
    who: Principal,
    Body(m): Body<ModelIn>,
) -> ApiResult<(StatusCode, JsonBody<ModelView>)> {
    who.require(&[Role::Marketing])?;
    if m.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    compile_model(&m.source)?;
    let by = who.actor();
    let row = run(&state, move |s| {
        Ok(s.store
            .create_model(m.name.trim(), &m.source, &by, s.clock.now_ms())?)
    })
    .await?;
    Ok((StatusCode::CREATED, JsonBody(model_view(&row))))
}

/// Every model, drafts and versions.
#[utoipa::path(get, path = "/models", tag = "models",
    responses((status = 200, body = Vec<ModelView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_models(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<JsonBody<Vec<ModelView>>> {
    who.require(&[Role::Marketing, Role::Manager])?;
    let rows = run(&state, |s| Ok(s.store.list_models()?)).await?;
    Ok(JsonBody(rows.iter().map(model_view).collect()))
}

/// One model.
#[utoipa::path(get, path = "/models/{id}", tag = "models", params(("id" = i64, Path)),
    responses((status = 200, body = ModelView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_model(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> ApiResult<JsonBody<ModelView>> {
    who.require(&[Role::Marketing, Role::Manager])?;
    let row = run(&state, move |s| Ok(s.store.model(id)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("model {id}")))?;
    Ok(JsonBody(model_view(&row)))
}

/// Publish a draft: it becomes the next version and every lead is re-scored in the background.
#[utoipa::path(post, path = "/models/{id}/publish", tag = "models", params(("id" = i64, Path)),
    responses((status = 202, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn publish_model(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(&[Role::Marketing])?;
    let (model, job) = crate::workers::publish(&state, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        JsonBody(json!({ "model": model_view(&model), "job": JobView::of(&job) })),
    ))
}

/// Backtest a model on the stored leads whose outcome is known (won = converted; lost and
/// disqualified = not converted), side by side with another model (default the published one).
/// Scores as of now and writes nothing.
#[utoipa::path(post, path = "/models/backtest", tag = "models", request_body = crate::backtest::BacktestIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn backtest_models(
    State(state): State<AppState>,
    who: Principal,
    Body(req): Body<crate::backtest::BacktestIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager])?;
    Ok(JsonBody(
        run(&state, move |s| crate::backtest::run(s, req)).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct DiffQuery {
    /// Model id.
    pub from: i64,
    /// Model id.
    pub to: i64,
}

/// Compare two models: rules added, removed and changed, and a line diff of the sources.
#[utoipa::path(get, path = "/models/diff", tag = "models", params(DiffQuery),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn diff_models(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager])?;
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let (a, b) = run(&state, move |s| {
        let a = s
            .store
            .model(q.from)?
            .ok_or_else(|| ApiError::not_found(format!("model {}", q.from)))?;
        let b = s
            .store
            .model(q.to)?
            .ok_or_else(|| ApiError::not_found(format!("model {}", q.to)))?;
        Ok((a, b))
    })
    .await?;
    let text = similar::TextDiff::from_lines(&a.source, &b.source)
        .unified_diff()
        .header(
            &format!("model {} ({})", a.id, a.name),
            &format!("model {} ({})", b.id, b.name),
        )
        .to_string();
    let rules = |src: &str| -> Vec<(String, String, String)> {
        let v: toml::Value = toml::from_str(src).unwrap_or(toml::Value::Table(Default::default()));
        let mut out = Vec::new();
        for section in ["fit", "engagement"] {
            for r in v
                .get(section)
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                let name = r
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_string();
                out.push((section.to_string(), name, r.to_string()));
            }
        }
        out
    };
    let (ra, rb) = (rules(&a.source), rules(&b.source));
    let mut changes = Vec::new();
    for (sec, name, body) in &ra {
        match rb.iter().find(|(s2, n2, _)| s2 == sec && n2 == name) {
            None => changes.push(json!({"section": sec, "rule": name, "change": "removed"})),
            Some((_, _, b2)) if b2 != body => changes.push(
                json!({"section": sec, "rule": name, "change": "changed", "from": body, "to": b2}),
            ),
            _ => {}
        }
    }
    for (sec, name, _) in &rb {
        if !ra.iter().any(|(s2, n2, _)| s2 == sec && n2 == name) {
            changes.push(json!({"section": sec, "rule": name, "change": "added"}));
        }
    }
    Ok(JsonBody(
        json!({ "from": a.id, "to": b.id, "rules": changes, "diff": text }),
    ))
}

// ---------------------------------------------------------------- reps, routing, SLA

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepIn {
    pub name: String,
    pub email: Option<String>,
    /// Most open leads at once.
    pub capacity: i64,
    /// IANA time zone, e.g. `Europe/Berlin`.
    #[serde(default = "utc")]
    pub timezone: String,
    /// e.g. `Mon-Fri 09:00-17:00` or `always`.
    #[serde(default = "office")]
    pub working_hours: String,
    #[serde(default)]
    pub territory: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn utc() -> String {
    "UTC".into()
}
fn office() -> String {
    "Mon-Fri 09:00-17:00".into()
}
fn yes() -> bool {
    true
}

fn rep_json(r: &RepRow, open: i64) -> Json {
    json!({
        "id": r.id, "name": r.name, "email": r.email, "capacity": r.capacity, "open_leads": open, "timezone": r.timezone,
        "working_hours": r.working_hours, "territory": serde_json::from_str::<Json>(&r.territory).unwrap_or(json!([])),
        "active": r.active, "last_assigned_at": r.last_assigned_at.map(ts),
    })
}

/// Create or update a rep.
#[utoipa::path(put, path = "/reps/{id}", tag = "routing", params(("id" = String, Path)), request_body = RepIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn put_rep(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(r): Body<RepIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager])?;
    if r.capacity < 0 {
        return Err(ApiError::invalid("capacity", "must be 0 or more"));
    }
    if r.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    WorkingHours::parse(&r.working_hours, &r.timezone)
        .map_err(|e| ApiError::invalid("working_hours", e.to_string()))?;
    let out = run(&state, move |s| {
        let prev = s.store.rep(&id)?;
        let row = RepRow {
            id: id.clone(),
            name: r.name,
            email: r.email,
            capacity: r.capacity,
            timezone: r.timezone,
            working_hours: r.working_hours,
            territory: json!(r.territory).to_string(),
            active: r.active,
            last_assigned_at: prev.as_ref().and_then(|p| p.last_assigned_at),
            created_at: prev.map_or(s.clock.now_ms(), |p| p.created_at),
        };
        s.store.upsert_rep(row.clone())?;
        Ok(rep_json(&row, 0))
    })
    .await?;
    Ok(JsonBody(out))
}

/// Every rep with their open leads.
#[utoipa::path(get, path = "/reps", tag = "routing",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_reps(State(state): State<AppState>, who: Principal) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager, Role::Marketing])?;
    let out = run(&state, |s| {
        let open: std::collections::HashMap<String, i64> =
            s.store.open_leads_by_owner()?.into_iter().collect();
        Ok(s.store
            .list_reps()?
            .iter()
            .map(|r| rep_json(r, open.get(&r.id).copied().unwrap_or(0)))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(JsonBody(json!({ "reps": out })))
}

/// Remove a rep.
#[utoipa::path(delete, path = "/reps/{id}", tag = "routing", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_rep(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(&[Role::Manager])?;
    if run(&state, move |s| Ok(s.store.delete_rep(&id)?)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("rep"))
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesIn {
    /// Ordered: the first rule that matches and has an eligible rep wins.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<RoutingRule>,
}

/// The ordered routing rules.
#[utoipa::path(get, path = "/routing/rules", tag = "routing",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn get_rules(State(state): State<AppState>, who: Principal) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager, Role::Marketing])?;
    let rules = run(&state, |s| Ok(s.store.routing_rules()?)).await?;
    let list: Vec<Json> = rules
        .iter()
        .filter_map(|r| serde_json::from_str(r).ok())
        .collect();
    Ok(JsonBody(json!({ "rules": list })))
}

/// Replace the routing rules.
#[utoipa::path(put, path = "/routing/rules", tag = "routing", request_body = RulesIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn put_rules(
    State(state): State<AppState>,
    who: Principal,
    Body(b): Body<RulesIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager])?;
    let out = run(&state, move |s| {
        let reps: Vec<String> = s.store.list_reps()?.into_iter().map(|r| r.id).collect();
        for (i, r) in b.rules.iter().enumerate() {
            r.validate()
                .map_err(|e| ApiError::invalid(&format!("rules[{i}]"), e.to_string()))?;
            if let Some(unknown) = r.reps.iter().find(|x| !reps.contains(x)) {
                return Err(ApiError::invalid(
                    &format!("rules[{i}].reps"),
                    format!("no rep '{unknown}'"),
                ));
            }
        }
        s.store
            .set_routing_rules(b.rules.iter().map(|r| json!(r).to_string()).collect())?;
        Ok(json!({ "rules": b.rules }))
    })
    .await?;
    Ok(JsonBody(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaIn {
    /// The stage the clock runs in, e.g. `mql`.
    pub stage: String,
    /// Business minutes (in the owner's working hours) until the first response is due.
    pub minutes: i64,
    /// `escalate` (alert) or `reassign` (route to another rep).
    pub action: String,
    /// Who is alerted on escalation (a rep id or a name).
    pub escalate_to: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

/// Create or update an SLA policy.
#[utoipa::path(put, path = "/sla/policies/{id}", tag = "sla", params(("id" = String, Path)), request_body = SlaIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn put_sla(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(p): Body<SlaIn>,
) -> ApiResult<JsonBody<SlaPolicyRow>> {
    who.require(&[Role::Manager])?;
    let stage = Stage::parse(&p.stage)
        .ok_or_else(|| ApiError::invalid("stage", format!("'{}' is not a stage", p.stage)))?;
    if !crate::workers::sla_stage_ok(stage.as_str()) {
        return Err(ApiError::invalid(
            "stage",
            "a closed stage (won, lost, disqualified) has no response clock",
        ));
    }
    if p.minutes <= 0 {
        return Err(ApiError::invalid("minutes", "must be more than 0"));
    }
    if p.action != "escalate" && p.action != "reassign" {
        return Err(ApiError::invalid("action", "must be escalate or reassign"));
    }
    let row = SlaPolicyRow {
        id,
        stage: stage.as_str().into(),
        minutes: p.minutes,
        action: p.action,
        escalate_to: p.escalate_to,
        active: p.active,
        created_at: state.clock.now_ms(),
    };
    let r = row.clone();
    run(&state, move |s| Ok(s.store.upsert_sla_policy(r)?)).await?;
    Ok(JsonBody(row))
}

/// SLA policies.
#[utoipa::path(get, path = "/sla/policies", tag = "sla",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_sla(State(state): State<AppState>, who: Principal) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager, Role::Marketing])?;
    let rows = run(&state, |s| Ok(s.store.list_sla_policies()?)).await?;
    Ok(JsonBody(json!({ "policies": rows })))
}

/// Delete an SLA policy.
#[utoipa::path(delete, path = "/sla/policies/{id}", tag = "sla", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_sla(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(&[Role::Manager])?;
    if run(&state, move |s| Ok(s.store.delete_sla_policy(&id)?)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("SLA policy"))
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// RFC 3339; default 30 days before `to`.
    pub from: Option<String>,
    /// RFC 3339; default now.
    pub to: Option<String>,
    /// `source`, `campaign`, `owner` or `band`.
    pub group_by: Option<String>,
}

fn range(state: &AppState, q: &RangeQuery) -> ApiResult<(i64, i64)> {
    let parse = |name: &str, v: &Option<String>| -> ApiResult<Option<i64>> {
        v.as_ref()
            .map(|raw| {
                raw.parse::<jiff::Timestamp>()
                    .map(|t| t.as_millisecond())
                    .or_else(|_| {
                        raw.parse::<jiff::civil::Date>().map(|d| {
                            d.to_zoned(jiff::tz::TimeZone::UTC)
                                .map(|z| z.timestamp().as_millisecond())
                                .unwrap_or(0)
                        })
                    })
                    .map_err(|_| {
                        ApiError::invalid(
                            name,
                            format!("'{raw}' is not an RFC 3339 instant or a date"),
                        )
                    })
            })
            .transpose()
    };
    let to = parse("to", &q.to)?.unwrap_or_else(|| state.clock.now_ms() + 1);
    let from = parse("from", &q.from)?.unwrap_or(to - 30 * 86_400_000);
    Ok((from, to))
}

/// SLA breaches detected in a period.
#[utoipa::path(get, path = "/sla/breaches", tag = "sla", params(RangeQuery),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_breaches(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager])?;
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let (from, to) = range(&state, &q)?;
    let rows = run(&state, move |s| Ok(s.store.list_breaches(from, to)?)).await?;
    let list: Vec<Json> = rows.iter().map(|b| json!({"lead_id": b.lead_id, "policy_id": b.policy_id, "stage": b.stage, "owner": b.owner, "due_at": ts(b.due_at), "detected_at": ts(b.detected_at), "action": b.action})).collect();
    Ok(JsonBody(json!({ "breaches": list })))
}

// ---------------------------------------------------------------- webhooks

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    pub url: String,
    /// Any of `lead.created`, `lead.stage_changed`, `lead.assigned`, `sla.breached`, or `*`.
    pub events: Vec<String>,
    /// Signing secret; generated when absent. Shown only in this response.
    pub secret: Option<String>,
}

/// Subscribe a URL to events. Deliveries are signed: `X-Leadq-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">`.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = WebhookIn,
    responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_webhook(
    State(state): State<AppState>,
    who: Principal,
    Body(w): Body<WebhookIn>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(&[])?;
    if !(w.url.starts_with("http://") || w.url.starts_with("https://"))
        || reqwest::Url::parse(&w.url).is_err()
    {
        return Err(ApiError::invalid(
            "url",
            "must be an http:// or https:// URL",
        ));
    }
    if w.events.is_empty() {
        return Err(ApiError::invalid(
            "events",
            "subscribe to at least one event",
        ));
    }
    for (i, e) in w.events.iter().enumerate() {
        if e != "*" && !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(ApiError::invalid(
                &format!("events[{i}]"),
                format!("'{e}' is not one of {}", WEBHOOK_EVENTS.join(", ")),
            ));
        }
    }
    let secret = w
        .secret
        .unwrap_or_else(|| new_token().replacen("lq_", "whsec_", 1));
    let row = WebhookRow {
        id: new_id("wh"),
        url: w.url,
        secret: secret.clone(),
        events: json!(w.events).to_string(),
        active: true,
        created_at: state.clock.now_ms(),
    };
    let r = row.clone();
    run(&state, move |s| {
        s.store.create_webhook(r)?;
        Ok(s.reload_webhooks()?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        JsonBody(
            json!({ "id": row.id, "url": row.url, "events": w.events, "secret": secret, "active": true }),
        ),
    ))
}

/// Webhook subscriptions (secrets are not shown).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_webhooks(State(state): State<AppState>, who: Principal) -> ApiResult<JsonBody<Json>> {
    who.require(&[])?;
    let rows = run(&state, |s| Ok(s.store.list_webhooks()?)).await?;
    let list: Vec<Json> = rows.iter().map(|w| json!({"id": w.id, "url": w.url, "events": serde_json::from_str::<Json>(&w.events).unwrap_or(Json::Null), "active": w.active, "created_at": ts(w.created_at)})).collect();
    Ok(JsonBody(json!({ "webhooks": list })))
}

/// Delete a subscription and its pending deliveries.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_webhook(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(&[])?;
    let found = run(&state, move |s| {
        let f = s.store.delete_webhook(&id)?;
        s.reload_webhooks()?;
        Ok(f)
    })
    .await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// The delivery log of a subscription, newest first.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn webhook_deliveries(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[])?;
    let rows = run(&state, move |s| {
        s.store
            .webhook(&id)?
            .ok_or_else(|| ApiError::not_found("webhook"))?;
        Ok(s.store.deliveries_of(&id, 200)?)
    })
    .await?;
    let list: Vec<Json> = rows.iter().map(|d| json!({
        "event_type": d.event_type, "status": d.status, "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
        "created_at": ts(d.created_at), "next_attempt_at": ts(d.next_attempt_at), "delivered_at": d.delivered_at.map(ts),
        "payload": serde_json::from_str::<Json>(&d.payload).unwrap_or(Json::Null),
    })).collect();
    Ok(JsonBody(json!({ "deliveries": list })))
}

// ---------------------------------------------------------------- metrics, spend

/// Conversion rate, response time, qualification rates, cost per qualified lead, sales cycle and scoring accuracy.
#[utoipa::path(get, path = "/metrics", tag = "metrics", params(RangeQuery),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn get_metrics(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager, Role::Marketing])?;
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let (from, to) = range(&state, &q)?;
    let out = run(&state, move |s| {
        crate::metrics::business_metrics(s, from, to, q.group_by.as_deref())
    })
    .await?;
    Ok(JsonBody(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendIn {
    pub spend: Vec<SpendItem>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendItem {
    pub source: String,
    #[serde(default)]
    pub campaign: String,
    /// The first day of the period the amount was spent in (YYYY-MM-DD).
    pub period_start: String,
    pub amount: f64,
}

/// Import marketing spend per source and campaign (for cost per qualified lead).
#[utoipa::path(put, path = "/spend", tag = "metrics", request_body = SpendIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn put_spend(
    State(state): State<AppState>,
    who: Principal,
    Body(b): Body<SpendIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing])?;
    let mut rows = Vec::new();
    for (i, s) in b.spend.into_iter().enumerate() {
        let d: jiff::civil::Date = s.period_start.parse().map_err(|_| {
            ApiError::invalid(
                &format!("spend[{i}].period_start"),
                "must be a date YYYY-MM-DD",
            )
        })?;
        if !s.amount.is_finite() || s.amount < 0.0 {
            return Err(ApiError::invalid(
                &format!("spend[{i}].amount"),
                "must be 0 or more",
            ));
        }
        let ms = d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(0);
        rows.push(SpendRow {
            source: s.source,
            campaign: s.campaign,
            period_start: ms,
            amount: s.amount,
        });
    }
    let n = rows.len();
    run(&state, move |s| Ok(s.store.set_spend(rows)?)).await?;
    Ok(JsonBody(json!({ "stored": n })))
}

// ---------------------------------------------------------------- tokens, users, settings

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    pub name: String,
    /// admin, marketing, manager or rep.
    pub role: String,
    /// For rep tokens: the rep the token acts as.
    pub rep_id: Option<String>,
}

/// Create an API token. The token is in this response only; it is stored hashed.
#[utoipa::path(post, path = "/tokens", tag = "auth", request_body = TokenIn,
    responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_token(
    State(state): State<AppState>,
    who: Principal,
    Body(t): Body<TokenIn>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(&[])?;
    let role = Role::parse(&t.role)
        .ok_or_else(|| ApiError::invalid("role", "must be admin, marketing, manager or rep"))?;
    if role == Role::Rep && t.rep_id.is_none() {
        return Err(ApiError::invalid(
            "rep_id",
            "a rep token needs the rep it acts as",
        ));
    }
    let (id, token) = run(&state, move |s| {
        issue_token(s, &t.name, role, t.rep_id.as_deref(), None)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        JsonBody(json!({ "id": id, "token": token, "role": role.as_str() })),
    ))
}

/// Creates and stores a token; returns (id, token).
pub fn issue_token(
    s: &AppState,
    name: &str,
    role: Role,
    rep_id: Option<&str>,
    user_id: Option<&str>,
) -> ApiResult<(String, String)> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    if let Some(r) = rep_id {
        s.store
            .rep(r)?
            .ok_or_else(|| ApiError::invalid("rep_id", format!("no rep '{r}'")))?;
    }
    let token = new_token();
    let row = TokenRow {
        id: new_id("tok"),
        name: name.trim().into(),
        role: role.as_str().into(),
        user_id: user_id.map(str::to_string),
        rep_id: rep_id.map(str::to_string),
        hash: hash_token(&token),
        created_at: s.clock.now_ms(),
        revoked: false,
    };
    let id = row.id.clone();
    s.store.create_token(row)?;
    Ok((id, token))
}

/// API tokens (never the tokens themselves).
#[utoipa::path(get, path = "/tokens", tag = "auth",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_tokens(State(state): State<AppState>, who: Principal) -> ApiResult<JsonBody<Json>> {
    who.require(&[])?;
    let rows = run(&state, |s| Ok(s.store.list_tokens()?)).await?;
    let list: Vec<Json> = rows.iter().map(|t| json!({"id": t.id, "name": t.name, "role": t.role, "rep_id": t.rep_id, "created_at": ts(t.created_at), "revoked": t.revoked})).collect();
    Ok(JsonBody(json!({ "tokens": list })))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn revoke_token(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(&[])?;
    let found = run(&state, move |s| Ok(s.store.revoke_token(&id)?)).await?;
    state.tokens.evict_all();
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("token"))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub name: String,
    pub role: String,
    pub rep_id: Option<String>,
    /// Lets the user sign in to the web UI (at least 8 characters).
    pub password: Option<String>,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordIn {
    pub password: String,
}

/// Checks a new password and hashes it.
pub fn password_hash_of(password: &str) -> ApiResult<String> {
    if password.chars().count() < 8 {
        return Err(ApiError::invalid(
            "password",
            "must have at least 8 characters",
        ));
    }
    crate::auth::hash_password(password)
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "auth", request_body = UserIn,
    responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_user(
    State(state): State<AppState>,
    who: Principal,
    Body(u): Body<UserIn>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(&[])?;
    let role = Role::parse(&u.role)
        .ok_or_else(|| ApiError::invalid("role", "must be admin, marketing, manager or rep"))?;
    if u.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    if role == Role::Rep && u.rep_id.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(ApiError::invalid(
            "rep_id",
            "a rep user needs the id of the rep they are",
        ));
    }
    let password_hash = match u.password.as_deref() {
        Some(p) => Some(password_hash_of(p)?),
        None => None,
    };
    let row = UserRow {
        id: new_id("usr"),
        name: u.name.trim().into(),
        role: role.as_str().into(),
        password_hash,
        rep_id: u.rep_id,
        created_at: state.clock.now_ms(),
    };
    let r = row.clone();
    run(&state, move |s| {
        s.store.create_user(r).map_err(|e| match e {
            leadq_store::StoreError::Conflict(_) => {
                ApiError::conflict("conflict", "a user with this name exists")
            }
            other => other.into(),
        })
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        JsonBody(json!({ "id": row.id, "name": row.name, "role": row.role, "rep_id": row.rep_id })),
    ))
}

/// Set a user's password.
#[utoipa::path(put, path = "/users/{name}/password", tag = "auth", params(("name" = String, Path)), request_body = PasswordIn,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn put_password(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Body(p): Body<PasswordIn>,
) -> ApiResult<StatusCode> {
    who.require(&[])?;
    let hash = password_hash_of(&p.password)?;
    let found = run(&state, move |s| {
        Ok(s.store.set_password(&name, Some(hash))?)
    })
    .await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("user"))
    }
}

/// Users.
#[utoipa::path(get, path = "/users", tag = "auth",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_users(State(state): State<AppState>, who: Principal) -> ApiResult<JsonBody<Json>> {
    who.require(&[])?;
    let rows = run(&state, |s| Ok(s.store.list_users()?)).await?;
    let list: Vec<Json> = rows.iter().map(|u| json!({"id": u.id, "name": u.name, "role": u.role, "rep_id": u.rep_id, "created_at": ts(u.created_at)})).collect();
    Ok(JsonBody(json!({ "users": list })))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsIn {
    /// Reps see every lead, not only their own.
    pub reps_see_all: Option<bool>,
    /// The framework a lead must satisfy to become SQL (`BANT`, `MEDDIC`, …, or `none`).
    pub sql_framework: Option<String>,
    /// Scoring leaves out tracked behaviour (page views, email opens and clicks) of people
    /// without an email opt-in; changing it re-scores every lead in the background.
    pub tracking_requires_consent: Option<bool>,
    /// Erase leads with no event, update or stage change for this many months (0 = never,
    /// at most 1200).
    pub retention_months: Option<u32>,
    /// Site origins (`https://www.example.com`) whose pages may send website tracking and
    /// form submissions to `/t/collect` and `/t/form`; the list replaces the previous one.
    pub tracking_origins: Option<Vec<String>>,
}

/// Service settings.
#[utoipa::path(get, path = "/settings", tag = "auth",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn get_settings(State(state): State<AppState>, who: Principal) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager])?;
    let out = run(&state, |s| {
        Ok(json!({
            "reps_see_all": s.store.setting("reps_see_all")?.is_some_and(|v| v == "true"),
            "sql_framework": s.store.setting("sql_framework")?.unwrap_or_else(|| "BANT".into()),
            "tracking_requires_consent": crate::privacy::tracking_requires_consent(s)?,
            "tracked_event_types": crate::privacy::tracked_kinds(),
            "retention_months": crate::privacy::retention_months(s)?,
            "tracking_origins": crate::tracking::origins(s)?,
        }))
    })
    .await?;
    Ok(JsonBody(out))
}

/// Change service settings.
#[utoipa::path(put, path = "/settings", tag = "auth", request_body = SettingsIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn put_settings(
    State(state): State<AppState>,
    who: Principal,
    Body(b): Body<SettingsIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[])?;
    if let Some(f) = &b.sql_framework {
        if !f.eq_ignore_ascii_case("none") {
            find_framework(&state, f).map_err(|e| ApiError::invalid("sql_framework", e.message))?;
        }
    }
    if b.tracking_requires_consent.is_some() && state.jobs.any_running("rescore") {
        return Err(ApiError::conflict(
            "busy",
            "a re-score is running; change tracking_requires_consent when it has finished",
        ));
    }
    if b.retention_months.is_some_and(|m| m > 1200) {
        return Err(ApiError::invalid(
            "retention_months",
            "at most 1200 (100 years); 0 turns retention off",
        ));
    }
    let origins = match &b.tracking_origins {
        Some(o) => Some(crate::tracking::parse_origins(o)?),
        None => None,
    };
    let rescore = run(&state, move |s| {
        if let Some(o) = origins {
            s.store.set_setting(
                crate::tracking::SETTING_ORIGINS,
                &serde_json::to_string(&o).unwrap_or_else(|_| "[]".into()),
            )?;
            s.tracker.invalidate();
        }
        if let Some(v) = b.reps_see_all {
            s.store
                .set_setting("reps_see_all", if v { "true" } else { "false" })?;
        }
        if let Some(f) = b.sql_framework {
            s.store.set_setting("sql_framework", &f)?;
        }
        let mut rescore = false;
        if let Some(v) = b.tracking_requires_consent {
            rescore = crate::privacy::tracking_requires_consent(s)? != v;
            s.store.set_setting(
                crate::privacy::SETTING_TRACKING_CONSENT,
                if v { "true" } else { "false" },
            )?;
        }
        if let Some(m) = b.retention_months {
            s.store
                .set_setting(crate::privacy::SETTING_RETENTION_MONTHS, &m.to_string())?;
        }
        Ok(rescore)
    })
    .await?;
    // Stored scores were computed under the old rule: score them again.
    if rescore {
        crate::workers::rescore_in_background(&state, "settings").await?;
    }
    get_settings(State(state), who).await
}

// ---------------------------------------------------------------- predictive score

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TrainIn {
    /// `gbdt` (default) or `logistic`.
    pub algorithm: Option<String>,
    /// Cross-validation folds, 2 to 20 (default 5).
    pub folds: Option<usize>,
}

/// Train a predictive model on the stored won (converted) and lost leads: cross-validated
/// metrics, then a model fit on every outcome. The first model becomes the champion, later
/// ones the challenger (scored in the shadow). Every lead is predicted again in the job.
#[utoipa::path(post, path = "/predictive/train", tag = "predictive", request_body = TrainIn,
    responses((status = 202, body = JobView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn predictive_train(
    State(state): State<AppState>,
    who: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, JsonBody<JobView>)> {
    who.require(&[Role::Marketing])?;
    // The body is optional: no body trains with the defaults.
    let req: TrainIn = if body.iter().all(|b| b.is_ascii_whitespace()) {
        TrainIn::default()
    } else {
        parse_json(&body)?
    };
    let algorithm = match req.algorithm.as_deref() {
        None | Some("gbdt") => leadq_predict::Algorithm::Gbdt,
        Some("logistic") => leadq_predict::Algorithm::Logistic,
        Some(other) => {
            return Err(ApiError::invalid(
                "algorithm",
                format!("'{other}' is not gbdt or logistic"),
            ))
        }
    };
    let train = crate::predictive::TrainRequest {
        algorithm,
        folds: req.folds.unwrap_or(5),
        by: who.name.clone(),
    };
    let job = run(&state, move |s| crate::predictive::start_training(s, train)).await?;
    Ok((StatusCode::ACCEPTED, JsonBody(JobView::of(&job))))
}

/// The predictive models with status and cross-validated metrics, and the champion and
/// challenger compared live on the leads closed since the challenger was trained.
#[utoipa::path(get, path = "/predictive/models", tag = "predictive",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn predictive_models(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager])?;
    let body = run(&state, |s| {
        let models: Vec<Json> = s
            .store
            .predictive_models()?
            .iter()
            .rev()
            .map(crate::predictive::model_view)
            .collect();
        Ok(json!({
            "models": models,
            "live_comparison": crate::predictive::live_comparison(s)?,
        }))
    })
    .await?;
    Ok(JsonBody(body))
}

/// Promote the challenger: it becomes the champion, the old champion is retired, and every
/// lead is predicted again in the background.
#[utoipa::path(post, path = "/predictive/models/{id}/promote", tag = "predictive", params(("id" = i64, Path)),
    responses((status = 202, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn predictive_promote(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(&[Role::Marketing])?;
    let (model, job) = run(&state, move |s| crate::predictive::promote(s, id)).await?;
    Ok((
        StatusCode::ACCEPTED,
        JsonBody(
            json!({ "model": crate::predictive::model_view(&model), "job": JobView::of(&job) }),
        ),
    ))
}

/// A lead's predicted conversion: the champion's probability and top factors, and the
/// challenger's probability (shadow) when there is one.
#[utoipa::path(get, path = "/leads/{id}/prediction", tag = "predictive", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn lead_prediction(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let view = run(&state, move |s| {
        let lead = Service::new(s).lead_for(&who, &id)?;
        let p = s.store.prediction_of(&lead.id)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "prediction of lead {id} (no predictive model is trained yet)"
            ))
        })?;
        let factors = crate::predictive::factors_of(s, &lead, &p)?;
        Ok(crate::predictive::prediction_view(&p, &factors))
    })
    .await?;
    Ok(JsonBody(view))
}

// ---------------------------------------------------------------- consent and privacy

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelConsentIn {
    /// `consent`, `contract`, `legal_obligation`, `vital_interests`, `public_task` or
    /// `legitimate_interest`; omitted or null: none recorded.
    pub lawful_basis: Option<String>,
    /// Opted in (`true`), opted out or withdrew (`false`), never asked (null).
    pub opt_in: Option<bool>,
    /// Never contact on this channel (default false).
    #[serde(default)]
    pub do_not_contact: bool,
}

/// Consent statements for one or more channels; channels left out keep what they have.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentIn {
    pub email: Option<ChannelConsentIn>,
    pub phone: Option<ChannelConsentIn>,
    pub sms: Option<ChannelConsentIn>,
    /// Where the statement comes from (`web form`, `phone call`, `support ticket 1234`, …).
    pub source: String,
}

fn consent_inputs(b: ConsentIn) -> ApiResult<(Vec<crate::privacy::ConsentInput>, String)> {
    use leadq_core::privacy::{Channel, LawfulBasis};
    let source = b.source.trim().to_string();
    if source.is_empty() || source.len() > 200 {
        return Err(ApiError::invalid("source", "must be 1 to 200 characters"));
    }
    if source.eq_ignore_ascii_case(crate::privacy::INGEST_SOURCE) {
        return Err(ApiError::invalid(
            "source",
            "'ingest' names consent read from the lead's own fields; name where this statement comes from",
        ));
    }
    let mut out = Vec::new();
    for (channel, given) in [
        (Channel::Email, b.email),
        (Channel::Phone, b.phone),
        (Channel::Sms, b.sms),
    ] {
        let Some(c) = given else { continue };
        let lawful_basis = match c.lawful_basis.as_deref() {
            None => None,
            Some(raw) => Some(
                LawfulBasis::ALL
                    .into_iter()
                    .find(|l| l.as_str() == raw)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            &format!("{channel}.lawful_basis"),
                            format!(
                                "'{raw}' is not one of {}",
                                LawfulBasis::ALL.map(|l| l.as_str()).join(", ")
                            ),
                        )
                    })?,
            ),
        };
        out.push(crate::privacy::ConsentInput {
            channel,
            lawful_basis,
            opt_in: c.opt_in,
            do_not_contact: c.do_not_contact,
        });
    }
    if out.is_empty() {
        return Err(ApiError::invalid(
            "email",
            "give at least one channel: email, phone or sms",
        ));
    }
    Ok((out, source))
}

/// A lead's consent per channel (lawful basis, opt-in, do-not-contact, when and from what
/// source), what it allows for marketing and transactional messages, whether its tracked
/// behaviour counts in scoring, and every statement recorded, oldest first.
#[utoipa::path(get, path = "/leads/{id}/consent", tag = "privacy", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_consent(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let out = run(&state, move |s| {
        let lead = Service::new(s).lead_for(&who, &id)?;
        crate::privacy::consent_view(s, &lead.id)
    })
    .await?;
    Ok(JsonBody(out))
}

/// Record consent statements for the channels given (each replaces that channel's current
/// statement and is added to the history).
#[utoipa::path(put, path = "/leads/{id}/consent", tag = "privacy", params(("id" = String, Path)), request_body = ConsentIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_consent(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(b): Body<ConsentIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let (inputs, source) = consent_inputs(b)?;
    let out = run(&state, move |s| {
        let lead = Service::new(s).lead_for(&who, &id)?;
        crate::privacy::record_consent(s, &lead.id, inputs, &source, &who.actor())?;
        crate::privacy::consent_view(s, &lead.id)
    })
    .await?;
    Ok(JsonBody(out))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct EmailQuery {
    /// The person's email address.
    pub email: String,
}

/// Everything stored about the person with this email as one document: their lead with its
/// events, score ledger, stage changes, assignments, framework answers, prediction and consent
/// history, their website visitors with their events, the webhook deliveries and import reject
/// rows that mention them.
#[utoipa::path(get, path = "/privacy/export", tag = "privacy", params(EmailQuery),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn privacy_export(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<EmailQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[])?;
    let Query(q) = q.map_err(|e| ApiError::invalid("email", e.body_text()))?;
    let out = run(&state, move |s| crate::privacy::export_person(s, &q.email)).await?;
    Ok(JsonBody(out))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseIn {
    /// The person's email address.
    pub email: String,
}

/// Erase the person with this email everywhere (lead, events, ledger, stage changes,
/// assignments, answers, prediction, consent, SLA breaches, website visitors; webhook payloads and import reject
/// rows that mention them). Answers with the audit entry, which names nobody.
#[utoipa::path(post, path = "/privacy/erase", tag = "privacy", request_body = EraseIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn privacy_erase(
    State(state): State<AppState>,
    who: Principal,
    Body(b): Body<EraseIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[])?;
    let out = run(&state, move |s| {
        crate::privacy::erase_person(s, &b.email, &who.actor())
    })
    .await?;
    Ok(JsonBody(out))
}

/// The erasure audit: every erasure (when, by whom, why, the lead's source and stage, how many
/// rows went) and the counts per reason and source.
#[utoipa::path(get, path = "/privacy/erasures", tag = "privacy",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn privacy_erasures(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[])?;
    let out = run(&state, crate::privacy::erasures_view).await?;
    Ok(JsonBody(out))
}

// ---------------------------------------------------------------- health, router

async fn healthz() -> JsonBody<Json> {
    JsonBody(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match run(&state, |s| Ok(s.store.ping()?)).await {
        Ok(()) => JsonBody(json!({ "status": "ready", "database": state.store.backend(), "model_version": state.model().map(|m| m.version()) })).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, JsonBody(json!({ "status": "unavailable" }))).into_response(),
    }
}

async fn prometheus(State(state): State<AppState>) -> Response {
    let body = run(&state, |s| Ok(crate::metrics::prometheus(s)))
        .await
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "leadq", description = "Lead qualification engine: leads, events, scores, lifecycle, routing, SLA, webhooks, metrics."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes with their OpenAPI document.
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_lead, list_leads))
        .routes(routes!(bulk_leads))
        .routes(routes!(get_lead, update_lead, delete_lead))
        .routes(routes!(lead_score))
        .routes(routes!(lead_history))
        .routes(routes!(score_at))
        .routes(routes!(lead_events))
        .routes(routes!(get_answers, put_answers))
        .routes(routes!(post_transition))
        .routes(routes!(post_assign))
        .routes(routes!(post_touch))
        .routes(routes!(list_frameworks))
        .routes(routes!(post_event))
        .routes(routes!(post_events))
        .routes(routes!(post_import))
        .routes(routes!(preview_import))
        .routes(routes!(get_job))
        .routes(routes!(get_job_rejects))
        .routes(routes!(create_model, list_models))
        .routes(routes!(validate_model))
        .routes(routes!(backtest_models))
        .routes(routes!(diff_models))
        .routes(routes!(get_model))
        .routes(routes!(publish_model))
        .routes(routes!(predictive_train))
        .routes(routes!(predictive_models))
        .routes(routes!(predictive_promote))
        .routes(routes!(lead_prediction))
        .routes(routes!(list_reps))
        .routes(routes!(put_rep, delete_rep))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(list_sla))
        .routes(routes!(put_sla, delete_sla))
        .routes(routes!(list_breaches))
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(webhook_deliveries))
        .routes(routes!(get_metrics))
        .routes(routes!(put_spend))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(create_user, list_users))
        .routes(routes!(put_password))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(get_consent, put_consent))
        .routes(routes!(privacy_export))
        .routes(routes!(privacy_erase))
        .routes(routes!(privacy_erasures))
        .routes(routes!(crate::tracking::get_visitor));
    crate::tasks::routes(crate::nurture::api::routes(router)).split_for_parts()
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes_and_document().1
}

/// The routes and the document describing them, built in one pass.
fn routes_and_document() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = api_router();
    doc.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    (routes, doc)
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api, doc) = routes_and_document();
    let doc = serde_json::to_value(doc).unwrap_or(Json::Null);
    let limit = state.config.body_limit;
    let api = api
        .route(
            "/openapi.json",
            get(move || {
                let d = doc.clone();
                async move { JsonBody(d) }
            }),
        )
        .fallback(not_found);
    Router::new()
        .nest("/api/v1", api)
        .nest("/ui", crate::web::router())
        .merge(crate::nurture::api::public_router())
        .route("/", get(|| async { axum::response::Redirect::to("/ui") }))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        .merge(crate::tracking::router())
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(track))
        .layer(axum::Extension(state.clone()))
        .with_state(state)
}
