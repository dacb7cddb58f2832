//! Tasks for reps: created by the task rules when leads move or are
//! assigned (in the same transaction as the move), by hand, and by
//! sequences; due in the owner's working hours; completed, snoozed or
//! cancelled; overdue ones announced once to webhooks and counted in the
//! metrics.

use crate::api::{run, Body};
use crate::auth::{new_id, Principal, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::service::Service;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json as JsonBody;
use leadq_core::lifecycle::Stage;
use leadq_core::sla::WorkingHours;
use leadq_core::tasks::{self as rules, LeadMoves, TaskRule};
use leadq_core::Timestamp;
use leadq_store::{LeadChange, TaskFilter, TaskRow};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The settings key the ordered task rules are kept under (JSON).
pub const SETTING: &str = "task_rules";
/// The webhook event of a task past due.
pub const EVENT_OVERDUE: &str = "task.overdue";

/// Reads the stored rules (none when unset or unreadable).
pub fn load_rules(state: &AppState) -> ApiResult<Vec<TaskRule>> {
    Ok(match state.store.setting(SETTING)? {
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the stored task rules are unreadable; none apply");
            Vec::new()
        }),
        None => Vec::new(),
    })
}

/// The instant `minutes` business minutes after `from_ms` in the working
/// hours of `owner` (office hours in UTC without one).
pub fn due_after(state: &AppState, owner: Option<&str>, from_ms: i64, minutes: i64) -> i64 {
    let hours = owner
        .and_then(|o| state.store.rep(o).ok().flatten())
        .and_then(|r| WorkingHours::parse(&r.working_hours, &r.timezone).ok())
        .unwrap_or_else(|| WorkingHours::office("UTC").unwrap_or_else(|_| WorkingHours::always()));
    let due = hours.add_business_minutes(Timestamp(from_ms.div_euclid(1000)), minutes);
    due.0.saturating_mul(1000)
}

/// Adds to a lead change the tasks its moves fire, and cancels the lead's
/// open tasks when it closes. Runs on every change the service applies.
pub fn attach(state: &AppState, change: &mut LeadChange) {
    if change
        .transitions
        .iter()
        .any(|t| Stage::parse(&t.to_stage).is_some_and(|s| s.is_closed()))
    {
        change.cancel_open_tasks = true;
    }
    let rules = state.task_rules();
    if rules.is_empty() || (change.transitions.is_empty() && change.assignments.is_empty()) {
        return;
    }
    let moves = LeadMoves {
        entered: change
            .transitions
            .iter()
            .map(|t| t.to_stage.as_str())
            .collect(),
        assigned: !change.assignments.is_empty(),
        stage: &change.lead.stage,
    };
    let lead = &change.lead;
    if Stage::parse(&lead.stage).is_some_and(|s| s.is_closed()) {
        return;
    }
    let at = change
        .transitions
        .iter()
        .map(|t| t.at)
        .chain(change.assignments.iter().map(|a| a.at))
        .max()
        .unwrap_or(lead.updated_at);
    let mut tasks = Vec::new();
    for r in rules::fired(&rules, &moves) {
        tasks.push(TaskRow {
            id: new_id("task"),
            lead_id: lead.id.clone(),
            owner: lead.owner.clone(),
            kind: r.kind.clone(),
            title: r.title.clone(),
            notes: r.notes.clone(),
            due_at: due_after(state, lead.owner.as_deref(), at, r.due_business_minutes),
            status: "open".into(),
            origin: format!("rule:{}", r.id),
            created_at: at,
            created_by: "system:task-rules".into(),
            completed_at: None,
            completed_by: None,
            snoozed: 0,
            overdue_notified_at: None,
        });
    }
    change.tasks.extend(tasks);
}

/// A task to create for a lead.
pub struct NewTask {
    pub lead_id: String,
    pub kind: String,
    pub title: String,
    pub notes: Option<String>,
    /// Due this many business minutes from now in the owner's hours…
    pub due_business_minutes: Option<i64>,
    /// …or at this instant.
    pub due_at: Option<i64>,
    pub origin: String,
    pub created_by: String,
}

/// Creates a task for the lead's owner (by hand or from a sequence).
pub fn create_task(state: &AppState, new: NewTask) -> ApiResult<TaskRow> {
    rules::check_kind(&new.kind).map_err(|m| ApiError::invalid("kind", m))?;
    if new.title.trim().is_empty() || new.title.len() > 200 {
        return Err(ApiError::invalid("title", "must be 1 to 200 characters"));
    }
    let lead = state
        .store
        .lead(&new.lead_id)?
        .ok_or_else(|| ApiError::not_found(format!("lead {}", new.lead_id)))?;
    let now = state.clock.now_ms();
    let due_at = match (new.due_at, new.due_business_minutes) {
        (Some(at), _) => at,
        (None, Some(m)) => due_after(state, lead.owner.as_deref(), now, m.max(0)),
        (None, None) => due_after(state, lead.owner.as_deref(), now, 8 * 60),
    };
    let t = TaskRow {
        id: new_id("task"),
        lead_id: lead.id,
        owner: lead.owner,
        kind: new.kind,
        title: new.title.trim().to_string(),
        notes: new.notes,
        due_at,
        status: "open".into(),
        origin: new.origin,
        created_at: now,
        created_by: new.created_by,
        completed_at: None,
        completed_by: None,
        snoozed: 0,
        overdue_notified_at: None,
    };
    state.store.insert_task(t.clone())?;
    Ok(t)
}

/// Sends `task.overdue` once for each open task past due. Returns how many.
pub fn overdue_pass(state: &AppState) -> ApiResult<usize> {
    let now = state.clock.now_ms();
    let mut n = 0;
    loop {
        let batch = state.store.overdue_unnotified(now, 200)?;
        if batch.is_empty() {
            break;
        }
        let svc = Service::new(state);
        let mut deliveries = Vec::new();
        for mut t in batch {
            deliveries.extend(svc.deliveries(EVENT_OVERDUE, task_view(&t)));
            t.overdue_notified_at = Some(now);
            state.store.update_task(&t)?;
            n += 1;
        }
        if !deliveries.is_empty() {
            state.store.enqueue_deliveries(deliveries)?;
            state.after_write();
        }
    }
    Ok(n)
}

pub fn task_view(t: &TaskRow) -> Json {
    json!({
        "id": t.id,
        "lead_id": t.lead_id,
        "owner": t.owner,
        "kind": t.kind,
        "title": t.title,
        "notes": t.notes,
        "due_at": crate::clock::rfc3339(t.due_at),
        "status": t.status,
        "origin": t.origin,
        "created_at": crate::clock::rfc3339(t.created_at),
        "created_by": t.created_by,
        "completed_at": t.completed_at.map(crate::clock::rfc3339),
        "completed_by": t.completed_by,
        "snoozed": t.snoozed,
    })
}

// ---------------------------------------------------------------- API

const WORKERS: &[Role] = &[Role::Manager, Role::Rep, Role::Marketing];

/// A task the caller may see: reps only their own (unless reps see all).
fn task_for(state: &AppState, who: &Principal, id: &str) -> ApiResult<TaskRow> {
    let t = state
        .store
        .task(id)?
        .ok_or_else(|| ApiError::not_found(format!("task {id}")))?;
    if who.role == Role::Rep
        && !Service::new(state).reps_see_all()?
        && t.owner.as_deref() != who.rep_id.as_deref()
    {
        return Err(ApiError::not_found(format!("task {id}")));
    }
    Ok(t)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIn {
    /// `call`, `email`, `proposal`, `meeting` or `todo` (default `todo`).
    pub kind: Option<String>,
    pub title: String,
    pub notes: Option<String>,
    /// Due this many business hours from now in the owner's working hours (default 8)…
    pub due_business_hours: Option<f64>,
    /// …or at this RFC 3339 instant.
    pub due_at: Option<String>,
}

fn parse_instant(field: &str, s: &str) -> ApiResult<i64> {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| ApiError::invalid(field, format!("not an RFC 3339 instant: {e}")))
}

/// Create a task for the lead's owner by hand.
#[utoipa::path(post, path = "/leads/{id}/tasks", tag = "tasks", params(("id" = String, Path)), request_body = TaskIn,
    responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(b): Body<TaskIn>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(WORKERS)?;
    let due_at = b
        .due_at
        .as_deref()
        .map(|s| parse_instant("due_at", s))
        .transpose()?;
    let minutes = match b.due_business_hours {
        Some(h) if !(h.is_finite() && (0.0..=24.0 * 365.0).contains(&h)) => {
            return Err(ApiError::invalid(
                "due_business_hours",
                "must be between 0 and a year of hours",
            ))
        }
        Some(h) => Some((h * 60.0).round() as i64),
        None => None,
    };
    let out = run(&state, move |s| {
        let lead = Service::new(s).lead_for(&who, &id)?;
        let t = create_task(
            s,
            NewTask {
                lead_id: lead.id,
                kind: b.kind.unwrap_or_else(|| "todo".into()),
                title: b.title,
                notes: b.notes,
                due_business_minutes: minutes,
                due_at,
                origin: format!("manual:{}", who.actor()),
                created_by: who.actor(),
            },
        )?;
        Ok(task_view(&t))
    })
    .await?;
    Ok((StatusCode::CREATED, JsonBody(out)))
}

#[derive(Deserialize, IntoParams)]
pub struct TaskQuery {
    /// A rep id (reps always see their own only, unless reps see all).
    pub owner: Option<String>,
    /// `open` (default), `done`, `cancelled` or `all`.
    pub status: Option<String>,
    pub lead: Option<String>,
    /// Only open tasks past due now.
    pub overdue: Option<bool>,
    /// Due before this RFC 3339 instant.
    pub due_before: Option<String>,
    pub limit: Option<usize>,
}

/// Tasks, soonest due first.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(TaskQuery),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    q: Result<Query<TaskQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<JsonBody<Json>> {
    who.require(WORKERS)?;
    let Query(q) = q.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let status = match q.status.as_deref().unwrap_or("open") {
        "all" => None,
        s @ ("open" | "done" | "cancelled") => Some(s.to_string()),
        other => {
            return Err(ApiError::invalid(
                "status",
                format!("'{other}' is not one of open, done, cancelled, all"),
            ))
        }
    };
    let due_before = q
        .due_before
        .as_deref()
        .map(|s| parse_instant("due_before", s))
        .transpose()?;
    let out = run(&state, move |s| {
        let mut owner = q.owner.clone();
        if who.role == Role::Rep && !Service::new(s).reps_see_all()? {
            owner = who.rep_id.clone();
            if owner.is_none() {
                return Ok(json!({ "tasks": [] }));
            }
        }
        let now = s.clock.now_ms();
        let overdue = q.overdue.unwrap_or(false);
        let filter = TaskFilter {
            owner,
            lead_id: q.lead.clone(),
            status: if overdue { Some("open".into()) } else { status },
            due_before: match (overdue, due_before) {
                (true, Some(d)) => Some(d.min(now)),
                (true, None) => Some(now),
                (false, d) => d,
            },
            limit: q.limit.unwrap_or(500),
        };
        let rows = s.store.list_tasks(&filter)?;
        Ok(json!({ "tasks": rows.iter().map(task_view).collect::<Vec<_>>() }))
    })
    .await?;
    Ok(JsonBody(out))
}

/// One task.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_one(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(WORKERS)?;
    let t = run(&state, move |s| task_for(s, &who, &id)).await?;
    Ok(JsonBody(task_view(&t)))
}

fn finish(state: &AppState, who: &Principal, id: &str, status: &str) -> ApiResult<Json> {
    let mut t = task_for(state, who, id)?;
    if t.status != "open" {
        return Err(ApiError::conflict(
            "not_open",
            format!("task {id} is already {}", t.status),
        ));
    }
    t.status = status.into();
    t.completed_at = Some(state.clock.now_ms());
    t.completed_by = Some(who.actor());
    state.store.update_task(&t)?;
    Ok(task_view(&t))
}

/// Mark a task done.
#[utoipa::path(post, path = "/tasks/{id}/complete", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn complete(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(WORKERS)?;
    Ok(JsonBody(
        run(&state, move |s| finish(s, &who, &id, "done")).await?,
    ))
}

/// Cancel a task.
#[utoipa::path(post, path = "/tasks/{id}/cancel", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(WORKERS)?;
    Ok(JsonBody(
        run(&state, move |s| finish(s, &who, &id, "cancelled")).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeIn {
    /// A new due RFC 3339 instant (in the future)…
    pub until: Option<String>,
    /// …or this many business minutes from now in the owner's hours.
    pub business_minutes: Option<i64>,
}

/// Snooze an open task to a later due time.
#[utoipa::path(post, path = "/tasks/{id}/snooze", tag = "tasks", params(("id" = String, Path)), request_body = SnoozeIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn snooze(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(b): Body<SnoozeIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(WORKERS)?;
    let until = b
        .until
        .as_deref()
        .map(|s| parse_instant("until", s))
        .transpose()?;
    if until.is_none() && b.business_minutes.is_none() {
        return Err(ApiError::invalid(
            "until",
            "give until (RFC 3339) or business_minutes",
        ));
    }
    if b.business_minutes
        .is_some_and(|m| !(1..=60 * 24 * 365).contains(&m))
    {
        return Err(ApiError::invalid(
            "business_minutes",
            "must be between 1 and a year of minutes",
        ));
    }
    let out = run(&state, move |s| {
        let mut t = task_for(s, &who, &id)?;
        if t.status != "open" {
            return Err(ApiError::conflict(
                "not_open",
                format!("task {id} is already {}", t.status),
            ));
        }
        let now = s.clock.now_ms();
        let due = match (until, b.business_minutes) {
            (Some(u), _) => u,
            (None, Some(m)) => due_after(s, t.owner.as_deref(), now, m),
            (None, None) => unreachable!("checked above"),
        };
        if due <= now {
            return Err(ApiError::invalid("until", "must be in the future"));
        }
        t.due_at = due;
        t.snoozed += 1;
        // Past due again later: announce it again then.
        t.overdue_notified_at = None;
        s.store.update_task(&t)?;
        Ok(task_view(&t))
    })
    .await?;
    Ok(JsonBody(out))
}

/// The ordered task rules.
#[utoipa::path(get, path = "/task-rules", tag = "tasks",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_rules(State(state): State<AppState>, who: Principal) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager])?;
    Ok(JsonBody(json!({ "rules": *state.task_rules() })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRulesIn {
    /// `{"id", "on": "stage", "stage"}` or `{"id", "on": "assigned", "stages"?}`, plus
    /// `kind`, `title`, `notes`?, `due_business_minutes`.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<Json>,
}

/// Replace the task rules.
#[utoipa::path(put, path = "/task-rules", tag = "tasks", request_body = TaskRulesIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_rules(
    State(state): State<AppState>,
    who: Principal,
    Body(b): Body<TaskRulesIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Manager])?;
    let mut parsed = Vec::with_capacity(b.rules.len());
    for (i, r) in b.rules.into_iter().enumerate() {
        let rule: TaskRule = serde_json::from_value(r)
            .map_err(|e| ApiError::invalid(&format!("rules[{i}]"), e.to_string()))?;
        parsed.push(rule);
    }
    rules::validate(&parsed).map_err(|e| ApiError::invalid(&e.path, e.message))?;
    let out = run(&state, move |s| {
        let text = serde_json::to_string(&parsed).map_err(|e| ApiError::internal(e.to_string()))?;
        s.store.set_setting(SETTING, &text)?;
        s.reload_task_rules()?;
        Ok(json!({ "rules": parsed }))
    })
    .await?;
    Ok(JsonBody(out))
}

pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(create))
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(complete))
        .routes(routes!(cancel))
        .routes(routes!(snooze))
        .routes(routes!(get_rules, put_rules))
}
