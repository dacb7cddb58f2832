//! The use cases of the service, over the store: create and update leads,
//! record events and answers, move leads through their lifecycle, route
//! them, re-score them. HTTP handlers are thin shells over these.

use crate::auth::{new_id, new_ordered_id, Principal};
use crate::engine::{self, ActiveModel};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use leadq_core::lifecycle::{self, FrameworkGate, Guard, Stage};
use leadq_core::routing::{self, LeadFacts, RepState, RoutingRule};
use leadq_core::sla::WorkingHours;
use leadq_core::{Lead, Timestamp};
use leadq_store::{
    AnswerRow, AssignmentRow, DeliveryRow, EventRow, LeadChange, LeadKey, LeadRow, LedgerEntry,
    StoreError, TransitionRow,
};
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::sync::Arc;

/// Webhook event types.
pub const EVENT_STAGE_CHANGED: &str = "lead.stage_changed";
pub const EVENT_ASSIGNED: &str = "lead.assigned";
pub const EVENT_SLA_BREACHED: &str = "sla.breached";
pub const EVENT_CREATED: &str = "lead.created";
pub const WEBHOOK_EVENTS: &[&str] = &[
    EVENT_CREATED,
    EVENT_STAGE_CHANGED,
    EVENT_ASSIGNED,
    EVENT_SLA_BREACHED,
    crate::tasks::EVENT_OVERDUE,
];

/// A lead document as submitted, split into what the service owns and the
/// caller's fields.
pub struct LeadInput {
    pub id: Option<String>,
    pub external_id: Option<String>,
    pub fields: Map<String, Json>,
}

/// Validates a submitted lead document; `path` prefixes field paths in
/// errors (e.g. `leads[3]`).
pub fn parse_lead_input(value: Json, path: &str) -> ApiResult<LeadInput> {
    let Json::Object(mut map) = value else {
        return Err(ApiError::invalid(
            path_or_root(path),
            "a lead must be a JSON object",
        ));
    };
    let take_str = |map: &mut Map<String, Json>, key: &str| -> ApiResult<Option<String>> {
        match map.remove(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Json::String(s)) if s.len() <= 200 => Ok(Some(s.trim().to_string())),
            Some(Json::String(_)) => Err(ApiError::invalid(
                &join(path, key),
                "longer than 200 characters",
            )),
            Some(Json::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::invalid(&join(path, key), "must be a string")),
        }
    };
    let id = take_str(&mut map, "id")?.or(take_str(&mut map, "lead_id")?);
    let external_id = take_str(&mut map, "external_id")?;
    for key in ["stage", "owner"] {
        if map.contains_key(key) {
            return Err(ApiError::invalid(
                &join(path, key),
                format!("'{key}' is not set through lead fields; use the lifecycle and assignment endpoints"),
            ));
        }
    }
    for (k, v) in &map {
        if k.trim().is_empty() || k.len() > 100 {
            return Err(ApiError::invalid(
                &join(path, k),
                "field names must be 1 to 100 characters",
            ));
        }
        match v {
            Json::Object(_) | Json::Array(_) => {
                return Err(ApiError::invalid(
                    &join(path, k),
                    "field values must be strings, numbers, booleans or null",
                ))
            }
            Json::String(s) if s.len() > 10_000 => {
                return Err(ApiError::invalid(
                    &join(path, k),
                    "longer than 10000 characters",
                ))
            }
            _ => {}
        }
    }
    if map.is_empty() && id.is_none() && external_id.is_none() {
        return Err(ApiError::invalid(
            path_or_root(path),
            "a lead needs at least one field",
        ));
    }
    Ok(LeadInput {
        id,
        external_id,
        fields: map,
    })
}

fn path_or_root(path: &str) -> &str {
    if path.is_empty() {
        "$"
    } else {
        path
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// What routing and webhooks need to know, loaded once per batch.
struct RoutingSnapshot {
    reps: Vec<RepState>,
    rules: Vec<RoutingRule>,
}

impl RoutingSnapshot {
    fn load(state: &AppState) -> ApiResult<RoutingSnapshot> {
        let reps = state.store.list_reps()?;
        let caps: Vec<(String, i64)> = reps.iter().map(|r| (r.id.clone(), r.capacity)).collect();
        let open: HashMap<String, i64> = state.store.open_leads_up_to(&caps)?.into_iter().collect();
        let reps = reps
            .into_iter()
            .map(|r| RepState {
                hours: WorkingHours::parse(&r.working_hours, &r.timezone)
                    .unwrap_or_else(|_| WorkingHours::always()),
                open_leads: open.get(&r.id).copied().unwrap_or(0).max(0) as u32,
                capacity: r.capacity.max(0) as u32,
                active: r.active,
                last_assigned_at: r.last_assigned_at.map(|ms| Timestamp(ms.div_euclid(1000))),
                id: r.id,
            })
            .collect();
        let rules = state
            .store
            .routing_rules()?
            .iter()
            .filter_map(|r| serde_json::from_str::<RoutingRule>(r).ok())
            .collect();
        Ok(RoutingSnapshot { reps, rules })
    }
}

/// Facts about a lead for routing, owned.
struct Facts {
    country: Option<String>,
    region: Option<String>,
    industry: Option<String>,
    source: Option<String>,
    grade: Option<String>,
    employees: Option<f64>,
}

fn facts(lead: &Lead, grade: Option<&str>) -> Facts {
    Facts {
        country: lead
            .company
            .country
            .as_ref()
            .map(|c| c.as_str().to_string()),
        region: lead.company.region.as_ref().map(|c| c.to_string()),
        industry: lead.company.industry.as_ref().map(|c| c.to_string()),
        source: lead.source.channel.as_ref().map(|c| c.to_string()),
        grade: grade.map(str::to_string),
        employees: lead.company.employees,
    }
}

/// What a ledger entry keeps to replay its score: the lead's fields as
/// stored, its stage, owner, creation time and answers, the last event it
/// counted and whether tracked behaviour was left out.
fn ledger_inputs(
    row: &LeadRow,
    answers: &[AnswerRow],
    event_seq: i64,
    tracking_ignored: bool,
) -> String {
    #[derive(serde::Serialize)]
    struct Rest<'a> {
        stage: &'a str,
        owner: Option<&'a str>,
        created_at: i64,
        answers: Vec<&'a AnswerRow>,
        event_seq: i64,
        tracking_ignored: bool,
    }
    let rest = serde_json::to_string(&Rest {
        stage: &row.stage,
        owner: row.owner.as_deref(),
        created_at: row.created_at,
        answers: answers.iter().filter(|a| a.lead_id == row.id).collect(),
        event_seq,
        tracking_ignored,
    })
    .expect("plain values serialise");
    // The stored fields are a JSON document already: they go in as they
    // are (checked, not re-built), or as null when they do not parse.
    let fields = match serde_json::from_str::<serde::de::IgnoredAny>(&row.fields) {
        Ok(_) => row.fields.as_str(),
        Err(_) => "null",
    };
    let mut out = String::with_capacity(fields.len() + rest.len() + 12);
    out.push_str("{\"fields\":");
    out.push_str(fields);
    out.push(',');
    out.push_str(&rest[1..]);
    out
}

/// A stable 64-bit digest of a ledger entry's inputs (the first eight
/// bytes of their SHA-256), compared with the lead's previous entry's.
fn inputs_digest(inputs: &str) -> i64 {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(inputs.as_bytes());
    i64::from_be_bytes(hash[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// The service's view of one lead change being prepared.
struct Draft {
    row: LeadRow,
    change: LeadChange,
    /// Score without tracked behaviour: the `tracking_requires_consent`
    /// setting is on and the person has not consented to tracking.
    ignore_tracking: bool,
    /// The row was given exactly as stored: the change then tells the store
    /// what was read, and only what changed since is written.
    as_read: bool,
}

impl Draft {
    fn new(row: LeadRow, insert: bool) -> Draft {
        let change = if insert {
            LeadChange::insert(row.clone())
        } else {
            LeadChange::update(row.clone())
        };
        Draft {
            row,
            change,
            ignore_tracking: false,
            as_read: false,
        }
    }

    /// An update of `row`, which is exactly as it was read from the store.
    fn of_stored(row: LeadRow) -> Draft {
        Draft {
            as_read: true,
            ..Draft::new(row, false)
        }
    }

    fn finish(mut self) -> LeadChange {
        let read = std::mem::replace(&mut self.change.lead, self.row);
        if self.as_read {
            self.change.stored = Some(Box::new(read));
        }
        self.change
    }
}

pub struct Service<'a> {
    pub state: &'a AppState,
}

impl<'a> Service<'a> {
    pub fn new(state: &'a AppState) -> Service<'a> {
        Service { state }
    }

    /// Applies lead changes with the tasks their moves fire.
    fn apply(
        &self,
        mut changes: Vec<LeadChange>,
    ) -> Result<Vec<Result<LeadRow, StoreError>>, StoreError> {
        for c in &mut changes {
            crate::tasks::attach(self.state, c);
        }
        self.state.store.apply(changes)
    }

    fn now(&self) -> i64 {
        self.state.clock.now_ms()
    }

    fn model(&self) -> Option<Arc<ActiveModel>> {
        self.state.model()
    }

    /// Deliveries of `event_type` for every active webhook subscribed to it.
    pub fn deliveries(&self, event_type: &str, data: Json) -> Vec<DeliveryRow> {
        let hooks = self.state.webhooks();
        let now = self.now();
        hooks
            .iter()
            .filter(|h| h.active && h.events.iter().any(|e| e == event_type || e == "*"))
            .map(|h| DeliveryRow {
                seq: 0,
                webhook_id: h.id.clone(),
                event_type: event_type.to_string(),
                payload: json!({
                    "id": new_id("evt"),
                    "type": event_type,
                    "created_at": crate::clock::rfc3339(now),
                    "data": data,
                })
                .to_string(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                last_status: None,
                last_error: None,
                created_at: now,
                delivered_at: None,
            })
            .collect()
    }

    /// Re-scores `draft` with its events and answers; records a ledger entry
    /// when the score changed, moves it to MQL when the model says so, and
    /// routes it when it becomes an MQL without an owner.
    fn rescore(
        &self,
        draft: &mut Draft,
        lead: &Lead,
        events: &[EventRow],
        answers: &[AnswerRow],
        cause: &str,
        routing: &mut Option<RoutingSnapshot>,
    ) -> ApiResult<()> {
        let ignore_tracking = draft.ignore_tracking;
        let Some(model) = self.model() else {
            return Ok(());
        };
        let now = self.now();
        // Without consent to tracking, what was only observed (page views,
        // email opens and clicks) does not count; what the person did on
        // purpose still does.
        let kept: Vec<EventRow>;
        let events = if ignore_tracking {
            kept = events
                .iter()
                .filter(|e| !leadq_core::privacy::is_tracked_kind(&e.kind))
                .cloned()
                .collect();
            kept.as_slice()
        } else {
            events
        };
        let score = engine::score(&model, lead, events, now);
        let mut new = engine::to_lead_score(&model, &score, now);
        let changed = match &draft.row.score {
            None => true,
            Some(old) => {
                old.fit != new.fit
                    || old.engagement != new.engagement
                    || old.grade != new.grade
                    || old.priority != new.priority
                    || old.mql != new.mql
                    || old.model_version != new.model_version
                    || !engine::same_reasons(&old.reasons, &new.reasons)
            }
        };
        // The digest follows the inputs of the lead's latest ledger entry.
        new.inputs_digest = draft.row.score.as_ref().and_then(|s| s.inputs_digest);
        if changed {
            let mut inputs = ledger_inputs(
                &draft.row,
                answers,
                events.iter().map(|e| e.seq).max().unwrap_or(0),
                ignore_tracking,
            );
            let digest = inputs_digest(&inputs);
            if new.inputs_digest == Some(digest) {
                // Same inputs as the previous entry: kept once.
                inputs.clear();
            }
            new.inputs_digest = Some(digest);
            draft.change.ledger.push(LedgerEntry {
                seq: 0,
                lead_id: draft.row.id.clone(),
                at: now,
                as_of: now.div_euclid(1000),
                model_version: new.model_version,
                fit: new.fit,
                grade: new.grade.clone(),
                engagement: new.engagement,
                band: new.band,
                priority: new.priority.clone(),
                mql: new.mql,
                reasons: new.reasons.clone(),
                cause: cause.to_string(),
                inputs,
            });
        }
        let grade = new.grade.clone();
        draft.row.score = Some(new);
        let current = Stage::parse(&draft.row.stage).unwrap_or(Stage::New);
        if let Some(to) = lifecycle::automatic_after_scoring(current, score.mql) {
            self.move_stage(draft, to, None, "system:model", Some(model.version()), true);
        }
        let stage = Stage::parse(&draft.row.stage).unwrap_or(Stage::New);
        if draft.row.owner.is_none() && stage == Stage::Mql {
            if routing.is_none() {
                *routing = Some(RoutingSnapshot::load(self.state)?);
            }
            let snap = routing.as_mut().expect("loaded above");
            self.route(draft, lead, Some(&grade), snap, "system:routing", None)?;
        }
        Ok(())
    }

    /// Records a stage change on `draft` (no checks: callers check).
    fn move_stage(
        &self,
        draft: &mut Draft,
        to: Stage,
        reason: Option<&str>,
        actor: &str,
        model_version: Option<i64>,
        automatic: bool,
    ) {
        let now = self.now();
        let from = draft.row.stage.clone();
        draft.change.transitions.push(TransitionRow {
            seq: 0,
            lead_id: draft.row.id.clone(),
            at: now,
            from_stage: Some(from.clone()),
            to_stage: to.as_str().to_string(),
            actor: actor.to_string(),
            reason: reason.map(str::to_string),
            model_version,
            automatic,
        });
        draft.row.stage = to.as_str().to_string();
        draft.row.stage_reason = reason.map(str::to_string);
        draft.row.stage_changed_at = now;
        // Reaching a later stage implies the earlier qualification, so the
        // qualification rates count leads that skipped a stage.
        if matches!(
            to,
            Stage::Mql | Stage::Sal | Stage::Sql | Stage::Opportunity | Stage::Won
        ) {
            draft.row.mql_at.get_or_insert(now);
        }
        if matches!(to, Stage::Sql | Stage::Opportunity | Stage::Won) {
            draft.row.sql_at.get_or_insert(now);
        }
        if to.is_closed() {
            draft.row.closed_at = Some(now);
        }
        if !automatic && draft.row.first_response_at.is_none() {
            draft.row.first_response_at = Some(now);
        }
        let data = json!({
            "lead_id": draft.row.id,
            "from": from,
            "to": to.as_str(),
            "actor": actor,
            "reason": reason,
            "automatic": automatic,
            "model_version": model_version,
            "owner": draft.row.owner,
        });
        let d = self.deliveries(EVENT_STAGE_CHANGED, data);
        draft.change.deliveries.extend(d);
    }

    /// Routes `draft` and records the assignment.
    fn route(
        &self,
        draft: &mut Draft,
        lead: &Lead,
        grade: Option<&str>,
        snap: &mut RoutingSnapshot,
        actor: &str,
        forced_rep: Option<&str>,
    ) -> ApiResult<bool> {
        let now = self.now();
        let decision = match forced_rep {
            Some(rep) => routing::Assignment {
                rep_id: rep.to_string(),
                rule: None,
                explanation: format!("assigned by hand by {actor}"),
            },
            None => {
                let owner = match &draft.row.domain {
                    Some(d) => self.state.store.account_owner(d, &draft.row.id)?,
                    None => None,
                };
                let owned = facts(lead, grade);
                let f = LeadFacts {
                    country: owned.country.as_deref(),
                    region: owned.region.as_deref(),
                    industry: owned.industry.as_deref(),
                    source: owned.source.as_deref(),
                    grade: owned.grade.as_deref(),
                    employees: owned.employees,
                };
                match routing::route(
                    &f,
                    owner.as_deref(),
                    &snap.rules,
                    &snap.reps,
                    Timestamp(now.div_euclid(1000)),
                ) {
                    Ok(a) => a,
                    Err(_) => return Ok(false),
                }
            }
        };
        for r in snap.reps.iter_mut() {
            if r.id == decision.rep_id {
                r.open_leads += 1;
                r.last_assigned_at = Some(Timestamp(now.div_euclid(1000)));
            } else if Some(&r.id) == draft.row.owner.as_ref() {
                r.open_leads = r.open_leads.saturating_sub(1);
            }
        }
        let previous = draft.row.owner.replace(decision.rep_id.clone());
        draft.row.assigned_at = Some(now);
        draft.change.assignments.push(AssignmentRow {
            seq: 0,
            lead_id: draft.row.id.clone(),
            at: now,
            rep_id: decision.rep_id.clone(),
            previous_rep: previous.clone(),
            rule: decision.rule.clone(),
            explanation: decision.explanation.clone(),
            actor: actor.to_string(),
        });
        let d = self.deliveries(
            EVENT_ASSIGNED,
            json!({
                "lead_id": draft.row.id,
                "rep_id": decision.rep_id,
                "previous_rep": previous,
                "rule": decision.rule,
                "explanation": decision.explanation,
            }),
        );
        draft.change.deliveries.extend(d);
        Ok(true)
    }

    /// Cleans the lead of `draft` for the current model.
    fn clean(
        &self,
        row: &LeadRow,
        answers: &[AnswerRow],
    ) -> Result<Option<Lead>, leadq_ingest::Reject> {
        let Some(model) = self.model() else {
            return Ok(None);
        };
        let mut out = engine::clean_leads(
            std::slice::from_ref(row),
            answers,
            &model.compiled,
            &self.state.mapping,
        );
        out.pop().expect("one result per lead").map(Some)
    }

    /// Creates or updates leads. A lead that names an existing one by id,
    /// external id or email updates it (fields merged), so re-sending the
    /// same lead never duplicates it. Results are in input order.
    pub fn upsert_leads(
        &self,
        inputs: Vec<ApiResult<LeadInput>>,
        actor: &str,
    ) -> ApiResult<Vec<ApiResult<(LeadRow, bool)>>> {
        let mut results: Vec<ApiResult<(LeadRow, bool)>> = Vec::new();
        let mut only: Option<Vec<usize>> = None;
        for attempt in 0..3 {
            let (drafts, prepared) = self.prepare_upserts(&inputs, actor, only.as_deref())?;
            match &only {
                None => results = prepared,
                Some(retry) => {
                    for (pos, r) in prepared.into_iter().enumerate() {
                        if retry.contains(&pos) {
                            results[pos] = r;
                        }
                    }
                }
            }
            let positions: Vec<usize> = drafts.iter().map(|(i, _, _)| *i).collect();
            let created: Vec<bool> = drafts.iter().map(|(_, _, c)| *c).collect();
            let mut changes: Vec<LeadChange> =
                drafts.into_iter().map(|(_, d, _)| d.finish()).collect();
            self.attach_predictions(&mut changes);
            let applied = self.apply(changes)?;
            // A concurrent writer created or changed the lead meanwhile:
            // prepare just those again, from what is stored now.
            let mut retry = Vec::new();
            for ((pos, res), was_created) in positions.into_iter().zip(applied).zip(created) {
                results[pos] = match res {
                    Ok(row) => Ok((row, was_created)),
                    Err(StoreError::StaleVersion { .. }) | Err(StoreError::Conflict(_))
                        if attempt < 2 =>
                    {
                        retry.push(pos);
                        Err(ApiError::conflict("conflict", "retry"))
                    }
                    Err(e) => Err(e.into()),
                };
            }
            if retry.is_empty() {
                self.state.after_write();
                return Ok(results);
            }
            only = Some(retry);
        }
        Err(ApiError::conflict(
            "conflict",
            "the leads were changed concurrently; retry",
        ))
    }

    /// Predicts the leads about to be written, so that each prediction is
    /// stored in the same transaction as its lead (one commit, one sync).
    /// A failure keeps the earlier predictions for the next re-scoring
    /// rather than failing the request.
    fn attach_predictions(&self, changes: &mut [LeadChange]) {
        let leads: Vec<&LeadRow> = changes.iter().map(|c| &c.lead).collect();
        match crate::predictive::predictions_of(self.state, &leads) {
            Ok(predictions) => {
                for (change, prediction) in changes.iter_mut().zip(predictions) {
                    change.prediction = Some(prediction);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.message, leads = leads.len(), "predicting leads failed")
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn prepare_upserts(
        &self,
        inputs: &[ApiResult<LeadInput>],
        actor: &str,
        only: Option<&[usize]>,
    ) -> ApiResult<(Vec<(usize, Draft, bool)>, Vec<ApiResult<(LeadRow, bool)>>)> {
        let now = self.now();
        let mut results: Vec<ApiResult<(LeadRow, bool)>> = Vec::with_capacity(inputs.len());
        let mut drafts: Vec<(usize, Draft, bool)> = Vec::new();
        let mut routing: Option<RoutingSnapshot> = None;
        let mut tracking_gate: Option<bool> = None;
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, input) in inputs.iter().enumerate() {
            if only.is_some_and(|o| !o.contains(&i)) {
                results.push(Err(ApiError::internal("not processed")));
                continue;
            }
            let input = match input {
                Ok(x) => x,
                Err(e) => {
                    results.push(Err(e.clone()));
                    continue;
                }
            };
            results.push(Err(ApiError::internal("not processed")));
            let email = input
                .fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("email"))
                .and_then(|(_, v)| v.as_str())
                .map(|s| s.trim().to_lowercase());
            let existing = match (&input.id, &input.external_id, &email) {
                (Some(id), _, _) => self.state.store.find_lead(&LeadKey::Id(id.clone()))?,
                (None, Some(x), e) => match self
                    .state
                    .store
                    .find_lead(&LeadKey::ExternalId(x.clone()))?
                {
                    Some(row) => Some(row),
                    // An unknown external id with the email of a lead that
                    // has none (a web form before the CRM sync) is that
                    // lead: emails are unique, so inserting could only
                    // conflict.
                    None => match e.as_deref().filter(|e| !e.is_empty()) {
                        Some(e) => self
                            .state
                            .store
                            .find_lead(&LeadKey::Email(e.to_string()))?
                            .filter(|r| r.external_id.is_none()),
                        None => None,
                    },
                },
                (None, None, Some(e)) if !e.is_empty() => {
                    self.state.store.find_lead(&LeadKey::Email(e.clone()))?
                }
                _ => None,
            };
            let (mut row, insert) = match existing {
                Some(mut row) => {
                    let mut fields: Map<String, Json> =
                        serde_json::from_str(&row.fields).unwrap_or_default();
                    for (k, v) in &input.fields {
                        fields.insert(k.clone(), v.clone());
                    }
                    row.fields = Json::Object(fields).to_string();
                    if input.external_id.is_some() {
                        row.external_id = input.external_id.clone();
                    }
                    row.updated_at = now;
                    (row, false)
                }
                None => (
                    LeadRow {
                        seq: 0,
                        id: input
                            .id
                            .clone()
                            .unwrap_or_else(|| new_ordered_id("ld", now)),
                        external_id: input.external_id.clone(),
                        email: None,
                        domain: None,
                        company: None,
                        source: None,
                        campaign: None,
                        country: None,
                        fields: Json::Object(input.fields.clone()).to_string(),
                        stage: Stage::New.as_str().to_string(),
                        stage_reason: None,
                        owner: None,
                        score: None,
                        created_at: now,
                        updated_at: now,
                        assigned_at: None,
                        first_response_at: None,
                        stage_changed_at: now,
                        mql_at: None,
                        sql_at: None,
                        closed_at: None,
                        version: 1,
                    },
                    true,
                ),
            };
            // Two inputs of one batch naming the same lead: the later one
            // is applied on top in a second pass, not raced.
            if let Some(&_prev) = seen.get(&row.id) {
                results[i] = Err(ApiError::conflict(
                    "duplicate_in_batch",
                    format!(
                        "lead {} appears more than once in this batch; send it once",
                        row.id
                    ),
                ));
                continue;
            }
            seen.insert(row.id.clone(), i);
            let answers = if insert {
                Vec::new()
            } else {
                self.state.store.answers_of(&row.id)?
            };
            let lead = match self.clean(&row, &answers) {
                Ok(l) => l,
                Err(rej) => {
                    let field = rej.column.clone().unwrap_or_else(|| "$".into());
                    let mut e = ApiError::invalid(&field, rej.reason.clone());
                    if let Some(v) = rej.value {
                        e.details["fields"][0]["value"] = json!(v);
                    }
                    results[i] = Err(e);
                    continue;
                }
            };
            let mut consents = Vec::new();
            let mut ignore_tracking = false;
            if let Some(l) = &lead {
                let history = if insert {
                    Vec::new()
                } else {
                    self.state.store.consent_history_of(&row.id)?
                };
                consents =
                    crate::privacy::ingest_statements(&row.id, &l.consent, &history, actor, now);
                if tracking_gate.is_none() {
                    tracking_gate = Some(crate::privacy::tracking_requires_consent(self.state)?);
                }
                ignore_tracking = tracking_gate == Some(true)
                    && !leadq_core::privacy::tracking_consented(&crate::privacy::consent_after(
                        &row.id, &history, &consents,
                    ));
            }
            if let Some(l) = &lead {
                apply_lead_columns(&mut row, l);
                // A lead imported from history keeps the day it came in.
                if let (true, Some(c)) = (insert, l.created_at) {
                    row.created_at = row.created_at.min(c.0.saturating_mul(1000));
                }
            } else {
                apply_raw_columns(&mut row);
            }
            let mut draft = Draft::new(row, insert);
            draft.change.consents = consents;
            draft.ignore_tracking = ignore_tracking;
            if insert {
                draft.change.transitions.push(TransitionRow {
                    seq: 0,
                    lead_id: draft.row.id.clone(),
                    at: now,
                    from_stage: None,
                    to_stage: Stage::New.as_str().to_string(),
                    actor: actor.to_string(),
                    reason: Some("created".into()),
                    model_version: self.model().map(|m| m.version()),
                    automatic: false,
                });
                let d = self.deliveries(EVENT_CREATED, json!({ "lead_id": draft.row.id }));
                draft.change.deliveries.extend(d);
            }
            if let Some(l) = &lead {
                let events = if insert {
                    Vec::new()
                } else {
                    self.state.store.events_of(&draft.row.id)?
                };
                self.rescore(
                    &mut draft,
                    l,
                    &events,
                    &answers,
                    if insert { "created" } else { "updated" },
                    &mut routing,
                )?;
            }
            drafts.push((i, draft, insert));
        }
        Ok((drafts, results))
    }

    /// Re-scores the given leads (e.g. after new events), in one write.
    pub fn rescore_leads(&self, ids: &[String], cause: &str) -> ApiResult<usize> {
        let mut todo = ids.to_vec();
        let mut done = 0;
        for _attempt in 0..3 {
            let changes = self.prepare_rescore(&todo, cause)?;
            let (ok, stale) = self.apply_rescore(changes, false)?;
            done += ok;
            if stale.is_empty() {
                self.state.after_write();
                return Ok(done);
            }
            // Changed by someone else meanwhile: score them again from
            // what is stored now.
            todo = stale;
        }
        Err(ApiError::conflict(
            "conflict",
            "the leads were changed concurrently; retry",
        ))
    }

    /// Applies re-score changes; returns how many landed and the ids that
    /// changed meanwhile (stale). With `relaxed` (a pass over every lead,
    /// which ends with a durable write and is run again at start-up when it
    /// was interrupted), changes that only re-score a lead are committed
    /// without waiting for the disk; those that move a stage, assign,
    /// notify or create tasks are always durable at once.
    pub fn apply_rescore(
        &self,
        mut changes: Vec<LeadChange>,
        relaxed: bool,
    ) -> ApiResult<(usize, Vec<String>)> {
        for c in &mut changes {
            crate::tasks::attach(self.state, c);
        }
        // Split only when both kinds are there: a pass over every lead
        // is mostly score-only changes, and moving thousands of them into
        // new vectors costs more than the check.
        let quiet_count = if relaxed {
            changes.iter().filter(|c| c.is_score_only()).count()
        } else {
            0
        };
        let (quiet, effects): (Vec<LeadChange>, Vec<LeadChange>) = if quiet_count == changes.len() {
            (changes, Vec::new())
        } else if quiet_count == 0 {
            (Vec::new(), changes)
        } else {
            changes
                .into_iter()
                .partition(|c| relaxed && c.is_score_only())
        };
        let mut ok = 0;
        let mut stale = Vec::new();
        for (changes, score_only) in [(quiet, true), (effects, false)] {
            if changes.is_empty() {
                continue;
            }
            let ids: Vec<String> = changes.iter().map(|c| c.lead.id.clone()).collect();
            let applied = if score_only {
                self.state.store.apply_score_only(changes)?
            } else {
                self.state.store.apply(changes)?
            };
            for (id, r) in ids.into_iter().zip(applied) {
                match r {
                    Ok(_) => ok += 1,
                    Err(StoreError::StaleVersion { .. }) => stale.push(id),
                    // Deleted meanwhile: nothing to score.
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok((ok, stale))
    }

    /// Computes the re-score of the given leads without writing it.
    pub fn prepare_rescore(&self, ids: &[String], cause: &str) -> ApiResult<Vec<LeadChange>> {
        if self.model().is_none() {
            return Ok(Vec::new());
        }
        let rows = self.state.store.leads_by_ids(ids)?;
        self.prepare_rescore_rows(rows, cause)
    }

    /// [`Service::prepare_rescore`] of leads already read (each change
    /// expects the version it was read at).
    pub fn prepare_rescore_rows(
        &self,
        rows: Vec<LeadRow>,
        cause: &str,
    ) -> ApiResult<Vec<LeadChange>> {
        let Some(model) = self.model() else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let ids = &ids[..];
        let events = self.state.store.events_of_many(ids)?;
        let answers = if model.compiled.frameworks.is_empty() {
            Vec::new()
        } else {
            self.state.store.answers_of_many(ids)?
        };
        let cleaned = engine::clean_leads(&rows, &answers, &model.compiled, &self.state.mapping);
        let mut by_lead: HashMap<&str, Vec<EventRow>> = HashMap::new();
        for e in &events {
            by_lead
                .entry(e.lead_id.as_str())
                .or_default()
                .push(e.clone());
        }
        let mut answers_by_lead: HashMap<&str, Vec<AnswerRow>> = HashMap::new();
        for a in &answers {
            answers_by_lead
                .entry(a.lead_id.as_str())
                .or_default()
                .push(a.clone());
        }
        let consents = if crate::privacy::tracking_requires_consent(self.state)? {
            Some(self.state.store.consents_of_many(ids)?)
        } else {
            None
        };
        let mut routing = None;
        let mut changes = Vec::with_capacity(rows.len());
        for (row, lead) in rows.into_iter().zip(cleaned) {
            let Ok(lead) = lead else { continue };
            let mut draft = Draft::of_stored(row);
            let evs = by_lead
                .get(draft.row.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let ans = answers_by_lead
                .get(draft.row.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            draft.ignore_tracking = consents.as_ref().is_some_and(|c| {
                !leadq_core::privacy::tracking_consented(&crate::privacy::lead_consent(
                    &draft.row.id,
                    c,
                ))
            });
            self.rescore(&mut draft, &lead, evs, ans, cause, &mut routing)?;
            changes.push(draft.finish());
        }
        Ok(changes)
    }

    /// Stores events (idempotent by key) and re-scores the leads they touch:
    /// before returning when `wait`, else by the background re-scorer (the
    /// events are durable either way). Returns, per event, whether it was new.
    pub fn record_events(&self, events: Vec<EventRow>, wait: bool) -> ApiResult<Vec<bool>> {
        let mut ids: Vec<String> = events.iter().map(|e| e.lead_id.clone()).collect();
        // Replies, bounces, unsubscribes and meetings end nurture sequences
        // (each event once, however often it is re-sent).
        let signals: Vec<Option<String>> = events
            .iter()
            .map(|e| leadq_core::nurture::StopSignal::of_event(&e.kind).map(|_| e.kind.clone()))
            .collect();
        let fresh = self.state.store.insert_events(events)?;
        for ((kind, new), lead_id) in signals.iter().zip(&fresh).zip(&ids) {
            if let (Some(kind), true) = (kind, *new) {
                crate::nurture::on_signals(self.state, lead_id, &[kind.as_str()])?;
            }
        }
        let mut touched: Vec<String> = ids
            .drain(..)
            .zip(&fresh)
            .filter(|(_, new)| **new)
            .map(|(id, _)| id)
            .collect();
        touched.sort();
        touched.dedup();
        if touched.is_empty() {
            return Ok(fresh);
        }
        if !wait {
            self.state.queue_rescore(touched);
            return Ok(fresh);
        }
        match self.rescore_leads(&touched, "event") {
            Ok(_) => {}
            // Busy leads: the events are stored; the re-scorer finishes.
            Err(e) if e.code == "conflict" => self.state.queue_rescore(touched),
            Err(e) => return Err(e),
        }
        Ok(fresh)
    }

    /// A manual lifecycle transition with its guards.
    pub fn transition(
        &self,
        who: &Principal,
        id: &str,
        to: Stage,
        reason: Option<&str>,
    ) -> ApiResult<LeadRow> {
        for _attempt in 0..3 {
            let row = self.lead_for(who, id)?;
            let from = Stage::parse(&row.stage).unwrap_or(Stage::New);
            let gate = if to == Stage::Sql {
                self.framework_gate(&row.id)?
            } else {
                None
            };
            let guard = Guard {
                reason,
                framework: gate.as_ref().map(|g| FrameworkGate {
                    name: &g.framework,
                    satisfied: g.satisfied,
                    unknown: g.unknown.clone(),
                    not_met: g.not_met.clone(),
                }),
            };
            lifecycle::check_manual(from, to, &guard).map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    e.code(),
                    e.to_string(),
                )
                .with_details(json!({
                    "from": from.as_str(),
                    "to": to.as_str(),
                    "allowed": from.allowed_next().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                    "framework": gate.as_ref().map(|g| g.framework.clone()),
                    "unknown": match &e {
                        lifecycle::TransitionError::FrameworkNotSatisfied { unknown, .. } => json!(unknown),
                        _ => json!([]),
                    },
                    "not_met": match &e {
                        lifecycle::TransitionError::FrameworkNotSatisfied { not_met, .. } => json!(not_met),
                        _ => json!([]),
                    },
                }))
            })?;
            let mut draft = Draft::new(row, false);
            let version = self.model().map(|m| m.version());
            let first_response = draft.row.first_response_at;
            self.move_stage(&mut draft, to, reason, &who.actor(), version, false);
            // Only the people who work the lead answer it: a marketer
            // re-staging a lead does not stop its response clock.
            if !matches!(
                who.role,
                crate::auth::Role::Rep | crate::auth::Role::Manager
            ) {
                draft.row.first_response_at = first_response;
            }
            draft.row.updated_at = self.now();
            match self.apply(vec![draft.finish()])?.pop() {
                Some(Ok(row)) => {
                    self.state.after_write();
                    return Ok(row);
                }
                Some(Err(StoreError::StaleVersion { .. })) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => return Err(ApiError::internal("no result")),
            }
        }
        Err(ApiError::conflict(
            "conflict",
            "the lead changed concurrently; retry",
        ))
    }

    /// The framework SQL is gated on (setting `sql_framework`, default BANT)
    /// with whether this lead satisfies it, the criteria still unknown and
    /// those answered without qualifying.
    pub fn framework_gate(&self, lead_id: &str) -> ApiResult<Option<SqlGate>> {
        let key = self
            .state
            .store
            .setting("sql_framework")?
            .unwrap_or_else(|| "BANT".into());
        if key.eq_ignore_ascii_case("none") || key.is_empty() {
            return Ok(None);
        }
        let extra = self
            .model()
            .map(|m| m.compiled.frameworks.clone())
            .unwrap_or_default();
        let framework = leadq_core::framework::find(&key, &extra)
            .map_err(|e| ApiError::internal(format!("sql_framework setting: {e}")))?;
        let answers = self.state.store.answers_of(lead_id)?;
        let values = engine::framework_values(&framework, &answers);
        let eval = framework.evaluate(&values);
        let unknown = eval
            .unknown(&framework)
            .into_iter()
            .map(str::to_string)
            .collect();
        let not_met = framework
            .criteria
            .iter()
            .zip(&eval.states)
            .filter(|(_, s)| {
                matches!(
                    s,
                    leadq_core::framework::CriterionState::Unsatisfied
                        | leadq_core::framework::CriterionState::Disqualifying
                )
            })
            .map(|(c, _)| c.key.clone())
            .collect();
        Ok(Some(SqlGate {
            framework: framework.name.clone(),
            satisfied: eval.status == leadq_core::FrameworkStatus::Qualified,
            unknown,
            not_met,
        }))
    }
    /// Reads a lead the caller may see (reps: only their own, unless the
    /// `reps_see_all` setting is on).
    pub fn lead_for(&self, who: &Principal, id: &str) -> ApiResult<LeadRow> {
        let row = self
            .state
            .store
            .lead(id)?
            .ok_or_else(|| ApiError::not_found(format!("lead {id}")))?;
        if who.role == crate::auth::Role::Rep
            && !self.reps_see_all()?
            && row.owner.as_deref() != who.rep_id.as_deref()
        {
            // Not revealing whether the lead exists.
            return Err(ApiError::not_found(format!("lead {id}")));
        }
        Ok(row)
    }

    pub fn reps_see_all(&self) -> ApiResult<bool> {
        Ok(self
            .state
            .store
            .setting("reps_see_all")?
            .is_some_and(|v| v == "true"))
    }

    /// Assigns by hand (`rep` given) or re-runs routing.
    pub fn assign(
        &self,
        who: &Principal,
        id: &str,
        rep: Option<&str>,
        exclude: Option<&str>,
    ) -> ApiResult<LeadRow> {
        if let Some(rep) = rep {
            self.state
                .store
                .rep(rep)?
                .ok_or_else(|| ApiError::invalid("rep_id", format!("no rep '{rep}'")))?;
        }
        for _attempt in 0..3 {
            let row = self.lead_for(who, id)?;
            let answers = self.state.store.answers_of(id)?;
            let lead = match self.clean(&row, &answers) {
                Ok(Some(l)) => l,
                _ => Lead::default(),
            };
            let grade = row.score.as_ref().map(|s| s.grade.clone());
            let mut snap = RoutingSnapshot::load(self.state)?;
            if let Some(x) = exclude {
                snap.reps.retain(|r| r.id != x);
            }
            let mut draft = Draft::new(row, false);
            if !self.route(
                &mut draft,
                &lead,
                grade.as_deref(),
                &mut snap,
                &who.actor(),
                rep,
            )? {
                return Err(ApiError::conflict(
                    "unrouted",
                    "no rep is available: every rep is inactive, at capacity or outside working hours",
                ));
            }
            draft.row.updated_at = self.now();
            match self.apply(vec![draft.finish()])?.pop() {
                Some(Ok(row)) => {
                    self.state.after_write();
                    return Ok(row);
                }
                Some(Err(StoreError::StaleVersion { .. })) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => return Err(ApiError::internal("no result")),
            }
        }
        Err(ApiError::conflict(
            "conflict",
            "the lead changed concurrently; retry",
        ))
    }

    /// Records a first response (a call, an email) if none is recorded yet.
    pub fn touch(&self, who: &Principal, id: &str) -> ApiResult<LeadRow> {
        for _attempt in 0..3 {
            let row = self.lead_for(who, id)?;
            if row.first_response_at.is_some() {
                return Ok(row);
            }
            let mut draft = Draft::new(row, false);
            draft.row.first_response_at = Some(self.now());
            match self.apply(vec![draft.finish()])?.pop() {
                Some(Ok(row)) => return Ok(row),
                Some(Err(StoreError::StaleVersion { .. })) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => return Err(ApiError::internal("no result")),
            }
        }
        Err(ApiError::conflict(
            "conflict",
            "the lead changed concurrently; retry",
        ))
    }
}

/// Copies the cleaned values the store indexes onto the row.
/// The qualification framework the move to SQL is gated on, for one lead.
#[derive(Debug, Clone)]
pub struct SqlGate {
    pub framework: String,
    pub satisfied: bool,
    /// Criteria nobody has answered yet.
    pub unknown: Vec<String>,
    /// Criteria answered in a way that does not qualify (or disqualifies).
    pub not_met: Vec<String>,
}

/// The status of every built-in framework for one lead's answers, by
/// column prefix.
pub fn framework_statuses_of(answers: &[AnswerRow]) -> Vec<(String, String)> {
    leadq_core::framework::built_in()
        .into_iter()
        .map(|f| {
            let values = engine::framework_values(&f, answers);
            (
                f.column_prefix(),
                f.evaluate(&values).status.as_str().to_string(),
            )
        })
        .collect()
}

pub fn apply_lead_columns(row: &mut LeadRow, lead: &Lead) {
    row.email = lead.contact.email.as_ref().map(|e| e.as_str().to_string());
    row.domain = lead.company.domain.as_ref().map(|d| d.as_str().to_string());
    row.company = lead.company.name.as_ref().map(|c| c.to_string());
    row.source = lead.source.channel.as_ref().map(|c| c.to_string());
    row.campaign = lead.source.campaign.as_ref().map(|c| c.to_string());
    row.country = lead
        .company
        .country
        .as_ref()
        .map(|c| c.as_str().to_string());
}

/// Without a model the row keeps the submitted email and company as given.
fn apply_raw_columns(row: &mut LeadRow) {
    let fields: Map<String, Json> = serde_json::from_str(&row.fields).unwrap_or_default();
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .and_then(|(_, v)| v.as_str())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    row.email = get("email").map(|e| e.to_lowercase());
    row.domain = row
        .email
        .as_ref()
        .and_then(|e| e.split('@').nth(1))
        .map(str::to_string);
    row.company = get("company");
    row.source = get("source");
    row.campaign = get("campaign");
    row.country = get("country");
}

#[cfg(test)]
mod tests {
    use leadq_core::lifecycle::Stage;

    #[test]
    fn the_stores_open_and_closed_stages_are_exactly_the_stages_not_closed_and_closed() {
        let (closed, open): (Vec<Stage>, Vec<Stage>) =
            Stage::ALL.into_iter().partition(|s| s.is_closed());
        let names = |stages: Vec<Stage>| stages.into_iter().map(Stage::as_str).collect::<Vec<_>>();
        assert_eq!(leadq_store::OPEN_STAGES, names(open).as_slice());
        assert_eq!(leadq_store::CLOSED_STAGES, names(closed).as_slice());
    }
}
