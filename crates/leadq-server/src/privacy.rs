//! Consent and privacy use cases: consent per lead and channel (recorded
//! from the lead's own fields on ingest and by hand), the export of
//! everything stored about a person, erasure, and retention.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use leadq_core::privacy::{
    self, Channel, ChannelConsent, LawfulBasis, LeadConsent, Purpose, TRACKED_KINDS,
};
use leadq_store::{ConsentRow, Erasure, ErasureRow, LeadKey, LeadRow};
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// The source name of consent read from a lead's own fields.
pub const INGEST_SOURCE: &str = "ingest";

/// Setting: scoring leaves out tracked behaviour of people who have not
/// consented to tracking.
pub const SETTING_TRACKING_CONSENT: &str = "tracking_requires_consent";
/// Setting: erase leads inactive for this many months (0 = never).
pub const SETTING_RETENTION_MONTHS: &str = "retention_months";

/// Needles shorter than this are not searched for in free-form documents:
/// a two-digit "phone" would match half the database.
const MIN_NEEDLE: usize = 6;

fn channel_consent(row: &ConsentRow) -> ChannelConsent {
    ChannelConsent {
        lawful_basis: row.lawful_basis.as_deref().and_then(LawfulBasis::parse),
        opt_in: row.opt_in,
        do_not_contact: row.do_not_contact,
    }
}

/// The consent of one lead from its current rows (other leads' rows and
/// unknown channels are ignored).
pub fn lead_consent(lead_id: &str, rows: &[ConsentRow]) -> LeadConsent {
    let mut out = LeadConsent::default();
    for r in rows.iter().filter(|r| r.lead_id == lead_id) {
        if let Some(ch) = Channel::parse(&r.channel) {
            *out.get_mut(ch) = channel_consent(r);
        }
    }
    out
}

/// The statements ingest records for a lead whose fields state `stated`,
/// given the lead's consent history: per channel, only when the fields now
/// say something other than what they said the last time ingest recorded
/// them. A re-sent or re-imported lead therefore does not undo a consent
/// recorded by hand since, while a real change in the source system does.
pub fn ingest_statements(
    lead_id: &str,
    stated: &leadq_core::lead::Consent,
    history: &[ConsentRow],
    actor: &str,
    now: i64,
) -> Vec<ConsentRow> {
    let stated = LeadConsent::from_lead_fields(stated);
    let mut out = Vec::new();
    for ch in Channel::ALL {
        let now_says = *stated.get(ch);
        let last = history
            .iter()
            .rev()
            .find(|r| r.channel == ch.as_str() && r.source == INGEST_SOURCE)
            .map(channel_consent);
        let changed = match last {
            Some(prev) => prev != now_says,
            // Fields that say nothing state nothing.
            None => !now_says.is_empty(),
        };
        if changed {
            out.push(ConsentRow {
                seq: 0,
                lead_id: lead_id.to_string(),
                channel: ch.as_str().to_string(),
                lawful_basis: now_says.lawful_basis.map(|b| b.as_str().to_string()),
                opt_in: now_says.opt_in,
                do_not_contact: now_says.do_not_contact,
                source: INGEST_SOURCE.to_string(),
                actor: actor.to_string(),
                recorded_at: now,
            });
        }
    }
    out
}

/// The current consent after `history` and then `pending` statements.
pub fn consent_after(lead_id: &str, history: &[ConsentRow], pending: &[ConsentRow]) -> LeadConsent {
    let mut out = lead_consent(lead_id, history);
    for r in pending.iter().filter(|r| r.lead_id == lead_id) {
        if let Some(ch) = Channel::parse(&r.channel) {
            *out.get_mut(ch) = channel_consent(r);
        }
    }
    out
}

/// Whether the `tracking_requires_consent` setting is on.
pub fn tracking_requires_consent(state: &AppState) -> ApiResult<bool> {
    Ok(state
        .store
        .setting(SETTING_TRACKING_CONSENT)?
        .is_some_and(|v| v == "true"))
}

/// The `retention_months` setting (0 when unset).
pub fn retention_months(state: &AppState) -> ApiResult<u32> {
    Ok(state
        .store
        .setting(SETTING_RETENTION_MONTHS)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn row_view(r: &ConsentRow) -> Json {
    json!({
        "channel": r.channel,
        "lawful_basis": r.lawful_basis,
        "opt_in": r.opt_in,
        "do_not_contact": r.do_not_contact,
        "source": r.source,
        "recorded_by": r.actor,
        "recorded_at": crate::clock::rfc3339(r.recorded_at),
    })
}

/// The consent document of a lead: per channel what is recorded and what
/// it allows, whether tracked behaviour counts, and the history.
pub fn consent_view(state: &AppState, lead_id: &str) -> ApiResult<Json> {
    let current = state.store.consents_of(lead_id)?;
    let history = state.store.consent_history_of(lead_id)?;
    let consent = lead_consent(lead_id, &current);
    let mut channels = Map::new();
    for ch in Channel::ALL {
        let row = current.iter().find(|r| r.channel == ch.as_str());
        let mut view = match row {
            Some(r) => row_view(r),
            None => json!({
                "channel": ch.as_str(), "lawful_basis": null, "opt_in": null,
                "do_not_contact": false, "source": null, "recorded_by": null, "recorded_at": null,
            }),
        };
        if let Json::Object(m) = &mut view {
            m.remove("channel");
            let mut may = Map::new();
            for purpose in Purpose::ALL {
                may.insert(
                    purpose.as_str().into(),
                    match privacy::may_contact(&consent, ch, purpose) {
                        Ok(()) => json!({ "allowed": true }),
                        Err(r) => {
                            json!({ "allowed": false, "reason": r.as_str(), "message": r.to_string() })
                        }
                    },
                );
            }
            m.insert("may_contact".into(), Json::Object(may));
        }
        channels.insert(ch.as_str().into(), view);
    }
    Ok(json!({
        "lead_id": lead_id,
        "channels": channels,
        "tracking_consented": privacy::tracking_consented(&consent),
        "history": history.iter().map(row_view).collect::<Vec<_>>(),
    }))
}

/// A statement for one channel as sent to `PUT /leads/{id}/consent`.
#[derive(Debug, Clone)]
pub struct ConsentInput {
    pub channel: Channel,
    pub lawful_basis: Option<LawfulBasis>,
    pub opt_in: Option<bool>,
    pub do_not_contact: bool,
}

/// Records statements made by hand (or by another system through the API).
pub fn record_consent(
    state: &AppState,
    lead_id: &str,
    inputs: Vec<ConsentInput>,
    source: &str,
    actor: &str,
) -> ApiResult<()> {
    let now = state.clock.now_ms();
    let rows: Vec<ConsentRow> = inputs
        .into_iter()
        .map(|c| ConsentRow {
            seq: 0,
            lead_id: lead_id.to_string(),
            channel: c.channel.as_str().to_string(),
            lawful_basis: c.lawful_basis.map(|b| b.as_str().to_string()),
            opt_in: c.opt_in,
            do_not_contact: c.do_not_contact,
            source: source.to_string(),
            actor: actor.to_string(),
            recorded_at: now,
        })
        .collect();
    state.store.record_consents(rows)?;
    // With tracking gated on consent, the change can move the score now.
    if tracking_requires_consent(state)? {
        crate::service::Service::new(state).rescore_leads(&[lead_id.to_string()], "consent")?;
    }
    Ok(())
}

/// The strings that identify a person in free-form documents: their email,
/// the lead id and external id, and every phone-like field as submitted
/// and as cleaned.
fn needles(email: &str, lead: Option<&LeadRow>, cleaned_phone: Option<String>) -> Vec<String> {
    let mut out = vec![email.trim().to_lowercase()];
    if let Some(l) = lead {
        out.push(l.id.clone());
        out.extend(l.external_id.clone());
        out.extend(l.email.clone());
        let fields: Map<String, Json> = serde_json::from_str(&l.fields).unwrap_or_default();
        for (k, v) in &fields {
            let k = k.to_ascii_lowercase();
            if k.contains("phone") || k.contains("mobile") {
                if let Some(s) = v.as_str() {
                    out.push(s.trim().to_string());
                }
            }
            if k.contains("email") {
                if let Some(s) = v.as_str() {
                    out.push(s.trim().to_lowercase());
                }
            }
        }
    }
    out.extend(cleaned_phone);
    out.retain(|n| n.chars().count() >= MIN_NEEDLE);
    out.sort();
    out.dedup();
    out
}

/// The phone number of a stored lead as the published model cleans it.
fn cleaned_phone(state: &AppState, lead: &LeadRow) -> Option<String> {
    let model = state.model()?;
    let answers = state.store.answers_of(&lead.id).ok()?;
    crate::engine::clean_leads(
        std::slice::from_ref(lead),
        &answers,
        &model.compiled,
        &state.mapping,
    )
    .pop()?
    .ok()?
    .contact
    .phone
    .map(|p| p.as_str().to_string())
}

fn find_by_email(state: &AppState, email: &str) -> ApiResult<(String, Option<LeadRow>)> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || !email.contains('@') || email.len() > 320 {
        return Err(ApiError::invalid("email", "must be an email address"));
    }
    let lead = state.store.find_lead(&LeadKey::Email(email.clone()))?;
    Ok((email, lead))
}

fn parse_json_text(s: &str) -> Json {
    serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.to_string()))
}

/// Everything stored about the person with this email, as one document.
pub fn export_person(state: &AppState, email: &str) -> ApiResult<Json> {
    let (email, lead) = find_by_email(state, email)?;
    let phone = lead.as_ref().and_then(|l| cleaned_phone(state, l));
    let needles = needles(&email, lead.as_ref(), phone);
    let mut leads = Vec::new();
    if let Some(l) = &lead {
        let id = &l.id;
        let mut row = serde_json::to_value(l).unwrap_or(Json::Null);
        row["fields"] = parse_json_text(&l.fields);
        if let Some(s) = row.get_mut("score").filter(|s| s.is_object()) {
            s["reasons"] = l
                .score
                .as_ref()
                .map_or(Json::Null, |s| crate::engine::shown_reasons(&s.reasons));
        }
        let events: Vec<Json> = state
            .store
            .events_of(id)?
            .iter()
            .map(|e| json!({ "seq": e.seq, "type": e.kind, "at": crate::clock::rfc3339(e.at), "received_at": crate::clock::rfc3339(e.received_at), "properties": parse_json_text(&e.props), "idempotency_key": e.idempotency_key }))
            .collect();
        let ledger: Vec<Json> = state
            .store
            .ledger_of(id)?
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap_or(Json::Null);
                v["reasons"] = crate::engine::shown_reasons(&e.reasons);
                v["inputs"] = parse_json_text(&e.inputs);
                v
            })
            .collect();
        let prediction = match state.store.prediction_of(id)? {
            Some(p) => {
                let mut v = serde_json::to_value(&p).unwrap_or(Json::Null);
                v["factors"] = json!(crate::predictive::factors_of(state, l, &p)?);
                Some(v)
            }
            None => None,
        };
        leads.push(json!({
            "lead": row,
            "events": events,
            "score_ledger": ledger,
            "stage_changes": state.store.transitions_of(id)?,
            "assignments": state.store.assignments_of(id)?,
            "framework_answers": state.store.answers_of(id)?,
            "prediction": prediction,
            "consent": {
                "current": state.store.consents_of(id)?,
                "history": state.store.consent_history_of(id)?,
            },
            "emails": state.store.emails_of(id)?,
            "sequence_enrolments": state.store.enrolments_of(id)?,
            "tasks": state.store.list_tasks(&leadq_store::TaskFilter {
                lead_id: Some(id.clone()),
                limit: 10_000,
                ..Default::default()
            })?,
            "website_visitors": crate::tracking::visitors_export(state, id)?,
        }));
    }
    let deliveries: Vec<Json> = state
        .store
        .deliveries_mentioning(&needles)?
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or(Json::Null);
            v["payload"] = parse_json_text(&d.payload);
            v
        })
        .collect();
    let mut rejects = Vec::new();
    for job in state.store.jobs_mentioning(&needles)? {
        let doc = parse_json_text(job.result.as_deref().unwrap_or("null"));
        let rows: Vec<Json> = doc["rejects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|r| mentions(&r.to_string(), &needles))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if !rows.is_empty() {
            rejects.push(json!({ "job_id": job.id, "kind": job.kind, "created_at": crate::clock::rfc3339(job.created_at), "rejects": rows }));
        }
    }
    Ok(json!({
        "email": email,
        "exported_at": crate::clock::rfc3339(state.clock.now_ms()),
        "leads": leads,
        "webhook_deliveries": deliveries,
        "import_rejects": rejects,
    }))
}

fn mentions(text: &str, needles: &[String]) -> bool {
    let t = text.to_lowercase();
    needles.iter().any(|n| t.contains(&n.to_lowercase()))
}

/// Moves the erasure out of the SQLite WAL into the (securely deleted)
/// database file and truncates the WAL. The erasure has committed either
/// way; a checkpoint held back by long readers is logged rather than
/// reported as a failed erasure, and the next erasure's checkpoint (or
/// SQLite's automatic ones, which rewrite the WAL from its start) catch up.
fn checkpoint_after_erasure(state: &AppState) {
    if let Err(e) = state.store.checkpoint() {
        tracing::warn!(error = %e, "the WAL checkpoint after an erasure did not complete");
    }
}

/// Erases the lead `lead` (and what mentions `email` and its identifiers),
/// then makes the erasure reach the files: on SQLite the WAL is
/// checkpointed and truncated, so no copy of the erased pages stays in it.
fn erase(
    state: &AppState,
    email: Option<&str>,
    lead: Option<&LeadRow>,
    actor: &str,
    reason: &str,
    checkpoint: bool,
) -> ApiResult<ErasureRow> {
    let email = email
        .map(str::to_string)
        .or_else(|| lead.and_then(|l| l.email.clone()))
        .unwrap_or_default();
    let phone = lead.and_then(|l| cleaned_phone(state, l));
    let needles = needles(&email, lead, phone);
    let audit = state.store.erase(Erasure {
        lead_id: lead.map(|l| l.id.clone()),
        needles,
        actor: actor.to_string(),
        reason: reason.to_string(),
        at: state.clock.now_ms(),
    })?;
    if checkpoint {
        checkpoint_after_erasure(state);
    }
    state
        .stats
        .erasures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(reason, actor, erasure = audit.seq, "erased a person");
    Ok(audit)
}

fn audit_view(a: &ErasureRow) -> Json {
    json!({
        "seq": a.seq,
        "at": crate::clock::rfc3339(a.at),
        "actor": a.actor,
        "reason": a.reason,
        "source": a.source,
        "stage": a.stage,
        "removed": parse_json_text(&a.counts),
    })
}

/// Erases the person with this email everywhere (see [`leadq_store::Store::erase`]).
/// Works when no lead is stored too: import reject reports may still
/// mention the address.
pub fn erase_person(state: &AppState, email: &str, actor: &str) -> ApiResult<Json> {
    let (email, lead) = find_by_email(state, email)?;
    let audit = erase(state, Some(&email), lead.as_ref(), actor, "request", true)?;
    Ok(audit_view(&audit))
}

/// The erasure audit: every entry and the counts per reason and source.
pub fn erasures_view(state: &AppState) -> ApiResult<Json> {
    let all = state.store.erasures()?;
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_source: BTreeMap<String, u64> = BTreeMap::new();
    for a in &all {
        *by_reason.entry(a.reason.clone()).or_default() += 1;
        *by_source
            .entry(a.source.clone().unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
    }
    Ok(json!({
        "total": all.len(),
        "by_reason": by_reason,
        "by_source": by_source,
        "erasures": all.iter().map(audit_view).collect::<Vec<_>>(),
    }))
}

/// The instant `months` calendar months before `now_ms` (UTC).
pub fn months_before(now_ms: i64, months: u32) -> i64 {
    let Ok(now) = jiff::Timestamp::from_millisecond(now_ms) else {
        return i64::MIN;
    };
    // Out of jiff's range (a setting written straight into the database):
    // nothing is old enough.
    let Ok(span) = jiff::Span::new().try_months(i64::from(months)) else {
        return i64::MIN;
    };
    now.to_zoned(jiff::tz::TimeZone::UTC)
        .checked_sub(span)
        .map_or(i64::MIN, |z| z.timestamp().as_millisecond())
}

/// One retention pass: erases, through the same path as a request, every
/// lead with no event, update or stage change in the last
/// `retention_months` months. Returns how many were erased.
pub fn retention_pass(state: &AppState) -> ApiResult<usize> {
    let months = retention_months(state)?;
    if months == 0 {
        return Ok(0);
    }
    let cutoff = months_before(state.clock.now_ms(), months);
    let mut erased = 0;
    // Bounded so one pass cannot run for ever on a huge backlog; the next
    // pass continues.
    for _ in 0..50 {
        let batch = state.store.inactive_leads(cutoff, 200)?;
        if batch.is_empty() {
            break;
        }
        for lead in &batch {
            erase(
                state,
                None,
                Some(lead),
                "system:retention",
                "retention",
                false,
            )?;
            erased += 1;
        }
    }
    // Anonymous visitors who never became a lead are kept no longer.
    let visitors = state.store.delete_stale_visitors(cutoff)?;
    if erased > 0 || visitors > 0 {
        checkpoint_after_erasure(state);
    }
    Ok(erased)
}

/// What the README and the settings call tracked behaviour.
pub fn tracked_kinds() -> &'static [&'static str] {
    TRACKED_KINDS
}
