//! HTTP routes of follow-up by email: templates, sequences, enrolments, a
//! lead's emails, inbound notifications (replies and bounces), and the
//! public signed links in emails (unsubscribe, open pixel, click redirect).

use super::{email_signal, email_view, enrolment_view, links, Signal};
use crate::api::{run, Body};
use crate::auth::{new_id, Principal, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::service::Service;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json as JsonBody, Router};
use leadq_core::nurture::SequenceDef;
use leadq_store::{SequenceRow, TemplateRow};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const AUTHORS: &[Role] = &[Role::Marketing, Role::Manager];

fn valid_id(field: &str, id: &str) -> ApiResult<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::invalid(
            field,
            "must be 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- templates

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    /// Generated when absent (on create).
    pub id: Option<String>,
    pub name: String,
    /// May use `{{ lead.first_name }}`, `{{ rep.name }}`, `{{ sender.name }}`, … and filters
    /// such as `default('there')`.
    pub subject: String,
    /// Plain text; links in it are tracked, and marketing email gets an unsubscribe footer.
    pub body: String,
    /// `marketing` (default: needs an opt-in or a legitimate interest) or `transactional`.
    pub purpose: Option<String>,
}

fn template_view(t: &TemplateRow) -> Json {
    json!({
        "id": t.id, "name": t.name, "subject": t.subject, "body": t.body, "purpose": t.purpose,
        "created_at": crate::clock::rfc3339(t.created_at), "updated_at": crate::clock::rfc3339(t.updated_at),
        "updated_by": t.updated_by,
    })
}

fn checked_template(
    state: &AppState,
    who: &Principal,
    id: String,
    t: TemplateIn,
    existing: Option<&TemplateRow>,
) -> ApiResult<TemplateRow> {
    if t.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let purpose = t.purpose.unwrap_or_else(|| "marketing".into());
    if purpose != "marketing" && purpose != "transactional" {
        return Err(ApiError::invalid(
            "purpose",
            "must be marketing or transactional",
        ));
    }
    let problems = super::template::check(&t.subject, &t.body);
    if let Some(first) = problems.first() {
        let mut e = ApiError::invalid(first.field, first.message.clone());
        e.details["problems"] = json!(problems);
        return Err(e);
    }
    let now = state.clock.now_ms();
    Ok(TemplateRow {
        id,
        name: t.name.trim().to_string(),
        subject: t.subject,
        body: t.body,
        purpose,
        created_at: existing.map_or(now, |e| e.created_at),
        updated_at: now,
        updated_by: who.actor(),
    })
}

/// Create an email template. Its syntax and every variable it uses are checked now:
/// an unknown variable is a 422 naming it, never a failed send later.
#[utoipa::path(post, path = "/templates", tag = "nurture", request_body = TemplateIn,
    responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_template(
    State(state): State<AppState>,
    who: Principal,
    Body(t): Body<TemplateIn>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(AUTHORS)?;
    let id = match &t.id {
        Some(id) => {
            valid_id("id", id)?;
            id.clone()
        }
        None => new_id("tpl"),
    };
    let out = run(&state, move |s| {
        if s.store.template(&id)?.is_some() {
            return Err(ApiError::conflict(
                "exists",
                format!("template {id} exists; PUT /templates/{id} changes it"),
            ));
        }
        let row = checked_template(s, &who, id, t, None)?;
        s.store.put_template(row.clone())?;
        Ok(template_view(&row))
    })
    .await?;
    Ok((StatusCode::CREATED, JsonBody(out)))
}

/// Every email template.
#[utoipa::path(get, path = "/templates", tag = "nurture",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_templates(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let rows = run(&state, |s| Ok(s.store.templates()?)).await?;
    Ok(JsonBody(
        json!({ "templates": rows.iter().map(template_view).collect::<Vec<_>>() }),
    ))
}

/// One email template.
#[utoipa::path(get, path = "/templates/{id}", tag = "nurture", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_template(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let t = run(&state, move |s| {
        s.store
            .template(&id)?
            .ok_or_else(|| ApiError::not_found(format!("template {id}")))
    })
    .await?;
    Ok(JsonBody(template_view(&t)))
}

/// Replace an email template (checked like a new one).
#[utoipa::path(put, path = "/templates/{id}", tag = "nurture", params(("id" = String, Path)), request_body = TemplateIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_template(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(t): Body<TemplateIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(AUTHORS)?;
    if t.id.as_ref().is_some_and(|given| *given != id) {
        return Err(ApiError::invalid("id", "differs from the id in the path"));
    }
    let out = run(&state, move |s| {
        let existing = s
            .store
            .template(&id)?
            .ok_or_else(|| ApiError::not_found(format!("template {id}")))?;
        let row = checked_template(s, &who, id, t, Some(&existing))?;
        s.store.put_template(row.clone())?;
        Ok(template_view(&row))
    })
    .await?;
    Ok(JsonBody(out))
}

/// Delete an email template no sequence uses.
#[utoipa::path(delete, path = "/templates/{id}", tag = "nurture", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_template(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(AUTHORS)?;
    run(&state, move |s| {
        for q in s.store.sequences()? {
            let def: Option<SequenceDef> = serde_json::from_str(&q.definition).ok();
            let uses = def.is_some_and(|d| {
                d.steps.iter().any(|st| {
                    matches!(st, leadq_core::nurture::StepDef::Email { template, .. } if *template == id)
                })
            });
            if uses {
                return Err(ApiError::conflict(
                    "in_use",
                    format!("sequence {} sends template {id}", q.id),
                ));
            }
        }
        if s.store.delete_template(&id)? {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("template {id}")))
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- sequences

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SequenceIn {
    /// Generated when absent (on create).
    pub id: Option<String>,
    /// Paused sequences enrol nobody and run no steps (default true).
    pub active: Option<bool>,
    /// `{"name", "enrol_when"?, "stop_on"?, "steps": [...]}`; see the README.
    #[schema(value_type = Object)]
    pub definition: SequenceDef,
}

fn sequence_view(q: &SequenceRow) -> Json {
    json!({
        "id": q.id, "name": q.name, "active": q.active,
        "definition": serde_json::from_str::<Json>(&q.definition).unwrap_or(Json::Null),
        "created_at": crate::clock::rfc3339(q.created_at), "updated_at": crate::clock::rfc3339(q.updated_at),
    })
}

fn checked_sequence(
    state: &AppState,
    id: String,
    q: SequenceIn,
    existing: Option<&SequenceRow>,
) -> ApiResult<SequenceRow> {
    // Paths point into the request body.
    let seq = super::compile_at(state, q.definition, "definition.")?;
    let now = state.clock.now_ms();
    Ok(SequenceRow {
        id,
        name: seq.def.name.clone(),
        definition: serde_json::to_string(&seq.def)
            .map_err(|e| ApiError::internal(e.to_string()))?,
        active: q.active.unwrap_or(true),
        created_at: existing.map_or(now, |e| e.created_at),
        updated_at: now,
    })
}

/// Create a nurture sequence. Its conditions, template references and branch targets are
/// checked now; errors name the step (`definition.steps[2].when`).
#[utoipa::path(post, path = "/sequences", tag = "nurture", request_body = SequenceIn,
    responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_sequence(
    State(state): State<AppState>,
    who: Principal,
    Body(q): Body<SequenceIn>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(AUTHORS)?;
    let id = match &q.id {
        Some(id) => {
            valid_id("id", id)?;
            id.clone()
        }
        None => new_id("seq"),
    };
    let out = run(&state, move |s| {
        if s.store.sequence(&id)?.is_some() {
            return Err(ApiError::conflict(
                "exists",
                format!("sequence {id} exists; PUT /sequences/{id} changes it"),
            ));
        }
        let row = checked_sequence(s, id, q, None)?;
        s.store.put_sequence(row.clone())?;
        Ok(sequence_view(&row))
    })
    .await?;
    Ok((StatusCode::CREATED, JsonBody(out)))
}

/// Every sequence.
#[utoipa::path(get, path = "/sequences", tag = "nurture",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_sequences(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let rows = run(&state, |s| Ok(s.store.sequences()?)).await?;
    Ok(JsonBody(
        json!({ "sequences": rows.iter().map(sequence_view).collect::<Vec<_>>() }),
    ))
}

/// One sequence with its latest enrolments.
#[utoipa::path(get, path = "/sequences/{id}", tag = "nurture", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_sequence(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager])?;
    let out = run(&state, move |s| {
        let q = s
            .store
            .sequence(&id)?
            .ok_or_else(|| ApiError::not_found(format!("sequence {id}")))?;
        let enrolments = s.store.enrolments_in(&id, 200)?;
        let mut v = sequence_view(&q);
        v["enrolments"] = json!(enrolments.iter().map(enrolment_view).collect::<Vec<_>>());
        Ok(v)
    })
    .await?;
    Ok(JsonBody(out))
}

/// Replace a sequence. Enrolments keep their step numbers.
#[utoipa::path(put, path = "/sequences/{id}", tag = "nurture", params(("id" = String, Path)), request_body = SequenceIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_sequence(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(q): Body<SequenceIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(AUTHORS)?;
    if q.id.as_ref().is_some_and(|given| *given != id) {
        return Err(ApiError::invalid("id", "differs from the id in the path"));
    }
    let out = run(&state, move |s| {
        let existing = s
            .store
            .sequence(&id)?
            .ok_or_else(|| ApiError::not_found(format!("sequence {id}")))?;
        let row = checked_sequence(s, id, q, Some(&existing))?;
        s.store.put_sequence(row.clone())?;
        Ok(sequence_view(&row))
    })
    .await?;
    Ok(JsonBody(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolIn {
    pub lead_id: String,
}

/// Enrol a lead by hand. Its first steps run now; a lead is enrolled in a sequence at most
/// once (409 after that).
#[utoipa::path(post, path = "/sequences/{id}/enrolments", tag = "nurture", params(("id" = String, Path)), request_body = EnrolIn,
    responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn enrol_lead(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(b): Body<EnrolIn>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let out = run(&state, move |s| {
        let lead = Service::new(s).lead_for(&who, &b.lead_id)?;
        let e = super::enrol(s, &id, &lead, &who.actor())?;
        Ok(enrolment_view(&e))
    })
    .await?;
    Ok((StatusCode::CREATED, JsonBody(out)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolInSequence {
    pub sequence_id: String,
}

/// Enrol this lead in a sequence (the same as `POST /sequences/{id}/enrolments`, from the lead's side).
#[utoipa::path(post, path = "/leads/{id}/enrolments", tag = "nurture", params(("id" = String, Path)), request_body = EnrolInSequence,
    responses((status = 201, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn enrol_from_lead(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    Body(b): Body<EnrolInSequence>,
) -> ApiResult<(StatusCode, JsonBody<Json>)> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let out = run(&state, move |s| {
        let lead = Service::new(s).lead_for(&who, &id)?;
        let e = super::enrol(s, &b.sequence_id, &lead, &who.actor())?;
        Ok(enrolment_view(&e))
    })
    .await?;
    Ok((StatusCode::CREATED, JsonBody(out)))
}

/// Stop an enrolment by hand; its queued emails are cancelled.
#[utoipa::path(post, path = "/enrolments/{id}/stop", tag = "nurture", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn stop_enrolment(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let out = run(&state, move |s| {
        let e = s
            .store
            .enrolment(&id)?
            .ok_or_else(|| ApiError::not_found(format!("enrolment {id}")))?;
        Service::new(s).lead_for(&who, &e.lead_id)?;
        let stopped = s.store.stop_enrolments(
            &e.lead_id,
            Some(std::slice::from_ref(&e.sequence_id)),
            &format!("stopped by {}", who.actor()),
            s.clock.now_ms(),
        )?;
        let Some(done) = stopped.into_iter().next() else {
            return Err(ApiError::conflict(
                "not_active",
                format!("enrolment {id} is already {}", e.status),
            ));
        };
        Ok(enrolment_view(&done))
    })
    .await?;
    Ok(JsonBody(out))
}

/// A lead's emails (newest first) and sequence enrolments.
#[utoipa::path(get, path = "/leads/{id}/emails", tag = "nurture", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn lead_emails(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing, Role::Manager, Role::Rep])?;
    let out = run(&state, move |s| {
        let lead = Service::new(s).lead_for(&who, &id)?;
        let emails = s.store.emails_of(&lead.id)?;
        let enrolments = s.store.enrolments_of(&lead.id)?;
        Ok(json!({
            "emails": emails.iter().map(email_view).collect::<Vec<_>>(),
            "enrolments": enrolments.iter().map(enrolment_view).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(JsonBody(out))
}

// ---------------------------------------------------------------- inbound

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundIn {
    /// `reply` or `bounce`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Message-ID of the email this is about (a reply's In-Reply-To), with or without `<>`.
    pub message_id: Option<String>,
    /// Or the sender's address (replies) / the bounced address, matched to the newest email sent to it.
    pub email: Option<String>,
    /// `hard` or `soft` (bounces).
    pub bounce_type: Option<String>,
    /// Free text (a reply's subject, a bounce's diagnostic).
    pub detail: Option<String>,
}

fn find_email(
    state: &AppState,
    message_id: Option<&str>,
    address: Option<&str>,
) -> ApiResult<Option<leadq_store::EmailRow>> {
    if let Some(mid) = message_id.map(str::trim).filter(|m| !m.is_empty()) {
        let bracketed = if mid.starts_with('<') {
            mid.to_string()
        } else {
            format!("<{mid}>")
        };
        if let Some(m) = state.store.email_by_message_id(&bracketed)? {
            return Ok(Some(m));
        }
    }
    if let Some(addr) = address.map(|a| a.trim().to_ascii_lowercase()) {
        if let Some(lead) = state
            .store
            .find_lead(&leadq_store::LeadKey::Email(addr.clone()))?
        {
            return Ok(state
                .store
                .emails_of(&lead.id)?
                .into_iter()
                .find(|m| m.sent_at.is_some() && m.to_addr.eq_ignore_ascii_case(&addr)));
        }
    }
    Ok(None)
}

fn inbound(state: &AppState, b: InboundIn) -> ApiResult<Json> {
    let signal = match b.kind.as_str() {
        "reply" => Signal::Reply,
        "bounce" => Signal::Bounce,
        other => {
            return Err(ApiError::invalid(
                "type",
                format!("'{other}' is not one of reply, bounce"),
            ))
        }
    };
    if b.message_id.is_none() && b.email.is_none() {
        return Err(ApiError::invalid(
            "message_id",
            "give the message_id of the email, or the email address",
        ));
    }
    let Some(m) = find_email(state, b.message_id.as_deref(), b.email.as_deref())? else {
        return Err(ApiError::not_found(
            "a sent email matching message_id or email",
        ));
    };
    let lead_id = m.lead_id.clone();
    let email_id = m.id.clone();
    email_signal(
        state,
        m,
        signal,
        json!({ "bounce_type": b.bounce_type, "detail": b.detail.map(|d| d.chars().take(500).collect::<String>()) }),
    )?;
    Ok(json!({ "recorded": b.kind, "lead_id": lead_id, "email_id": email_id }))
}

/// Record a reply to, or a bounce of, an email leadq sent (from a mail system's webhook).
/// The lead gets an `email_reply` or `email_bounce` event, which stops its sequences.
#[utoipa::path(post, path = "/inbound/email", tag = "nurture", request_body = InboundIn,
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn inbound_email(
    State(state): State<AppState>,
    who: Principal,
    Body(b): Body<InboundIn>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing])?;
    Ok(JsonBody(run(&state, move |s| inbound(s, b)).await?))
}

/// Postmark's bounce and inbound (reply) webhooks, as Postmark sends them: a bounce has
/// `RecordType: "Bounce"`, `Type`, `Email`, `MessageID`; an inbound message has `From`/`FromFull`,
/// `Subject` and an `In-Reply-To` among its `Headers`.
#[utoipa::path(post, path = "/inbound/postmark", tag = "nurture", request_body(content = Object),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn inbound_postmark(
    State(state): State<AppState>,
    who: Principal,
    Body(doc): Body<Json>,
) -> ApiResult<JsonBody<Json>> {
    who.require(&[Role::Marketing])?;
    let text = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let b = if text("RecordType").as_deref() == Some("Bounce") {
        let hard = matches!(
            text("Type").as_deref(),
            Some("HardBounce" | "BadEmailAddress" | "SpamNotification" | "ManuallyDeactivated")
        );
        InboundIn {
            kind: "bounce".into(),
            // Postmark's own id is not our Message-ID; the address finds the email.
            message_id: None,
            email: text("Email"),
            bounce_type: Some(if hard { "hard" } else { "soft" }.into()),
            detail: text("Description").or_else(|| text("Details")),
        }
    } else if doc.get("FromFull").is_some() || doc.get("From").is_some() {
        let in_reply_to = doc
            .get("Headers")
            .and_then(|h| h.as_array())
            .and_then(|hs| {
                hs.iter().find(|h| {
                    h.get("Name")
                        .and_then(|n| n.as_str())
                        .is_some_and(|n| n.eq_ignore_ascii_case("In-Reply-To"))
                })
            })
            .and_then(|h| h.get("Value"))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let from = doc
            .get("FromFull")
            .and_then(|f| f.get("Email"))
            .and_then(|e| e.as_str())
            .map(str::to_string)
            .or_else(|| text("From"));
        InboundIn {
            kind: "reply".into(),
            message_id: in_reply_to,
            email: from,
            bounce_type: None,
            detail: text("Subject"),
        }
    } else {
        return Err(ApiError::invalid(
            "RecordType",
            "not a Postmark bounce (RecordType \"Bounce\") or inbound message (From, Headers)",
        ));
    };
    Ok(JsonBody(run(&state, move |s| inbound(s, b)).await?))
}

pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(create_template, list_templates))
        .routes(routes!(get_template, put_template, delete_template))
        .routes(routes!(create_sequence, list_sequences))
        .routes(routes!(get_sequence, put_sequence))
        .routes(routes!(enrol_lead))
        .routes(routes!(enrol_from_lead))
        .routes(routes!(stop_enrolment))
        .routes(routes!(lead_emails))
        .routes(routes!(inbound_email))
        .routes(routes!(inbound_postmark))
}

// ---------------------------------------------------------------- public signed links

/// The 1×1 transparent GIF the open pixel answers with.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head><body style=\"font-family:sans-serif;max-width:32rem;margin:3rem auto\">{body}</body></html>"
    ))
}

fn signed_email(
    state: &AppState,
    purpose: &str,
    id: &str,
    parts: &[&str],
    sig: &str,
) -> ApiResult<leadq_store::EmailRow> {
    let secret = links::secret(state)?;
    links::verify(&secret, purpose, parts, sig)?;
    state
        .store
        .email(id)?
        .ok_or_else(|| ApiError::not_found("email (it may have been erased)"))
}

/// The unsubscribe page behind the link in an email's footer: a button
/// (a visit alone must not unsubscribe, since mail scanners follow links).
async fn unsubscribe_page(
    State(state): State<AppState>,
    Path((id, sig)): Path<(String, String)>,
) -> Response {
    let check = run(&state, move |s| {
        signed_email(s, "unsubscribe", &id, &[&id], &sig).map(|_| ())
    })
    .await;
    match check {
        Ok(()) => page(
            "Unsubscribe",
            "<h1>Unsubscribe</h1><p>Stop receiving these emails?</p><form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
        )
        .into_response(),
        Err(e) => (e.status, page("Unsubscribe", "<h1>This link is not valid</h1>")).into_response(),
    }
}

/// RFC 8058 one-click unsubscribe (mail clients POST `List-Unsubscribe=One-Click`),
/// and the page's button.
async fn unsubscribe(
    State(state): State<AppState>,
    Path((id, sig)): Path<(String, String)>,
) -> Response {
    let done = run(&state, move |s| {
        let m = signed_email(s, "unsubscribe", &id, &[&id], &sig)?;
        email_signal(s, m, Signal::Unsubscribe, json!({}))
    })
    .await;
    match done {
        Ok(()) => page(
            "Unsubscribed",
            "<h1>You are unsubscribed</h1><p>You will not receive these emails any more.</p>",
        )
        .into_response(),
        Err(e) => (
            e.status,
            page("Unsubscribe", "<h1>This link is not valid</h1>"),
        )
            .into_response(),
    }
}

/// The open pixel: always answers with the image; records an open only
/// for a valid signature.
async fn open_pixel(
    State(state): State<AppState>,
    Path((id, sig)): Path<(String, String)>,
) -> Response {
    let _ = run(&state, move |s| {
        let m = signed_email(s, "open", &id, &[&id], &sig)?;
        email_signal(s, m, Signal::Open, json!({}))
    })
    .await;
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store, max-age=0"),
        ],
        PIXEL,
    )
        .into_response()
}

#[derive(Deserialize)]
struct ClickQuery {
    u: String,
}

/// The click redirect: only to the URL the signature names.
async fn click(
    State(state): State<AppState>,
    Path((id, sig)): Path<(String, String)>,
    q: Result<Query<ClickQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return ApiError::invalid("u", "the link has no target").into_response();
    };
    let url = q.u.clone();
    let checked = run(&state, move |s| {
        let m = signed_email(s, "click", &id, &[&id, &q.u], &sig)?;
        email_signal(s, m, Signal::Click, json!({ "url": q.u }))
    })
    .await;
    match checked {
        Ok(()) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The routes recipients reach from emails (no token: the links are signed).
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/e/u/{id}/{sig}", get(unsubscribe_page).post(unsubscribe))
        .route("/e/o/{id}/{sig}", get(open_pixel))
        .route("/e/c/{id}/{sig}", get(click))
}
