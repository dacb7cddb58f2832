//! Plain records as stored. Instants are Unix milliseconds; JSON documents
//! (lead fields, reasons, event properties) are kept as text.

use serde::{Deserialize, Serialize};

/// The latest score of a lead, denormalised onto it for sorting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadScore {
    pub fit: f64,
    pub grade: String,
    pub engagement: f64,
    /// The model's weighted score (`fit_weight × fit + engagement_weight ×
    /// engagement`): what leads sort by within a priority.
    pub score: f64,
    pub band: i64,
    pub priority: String,
    /// Position of the priority in the model's order (0 is best).
    pub priority_rank: i64,
    pub mql: bool,
    pub model_version: i64,
    /// JSON array of reasons (`""` only from
    /// [`crate::Store::scan_leads_to_rescore`], for a lead scored by
    /// another model version).
    pub reasons: String,
    pub scored_at: i64,
    /// Digest of the inputs of the lead's latest ledger entry. The next
    /// entry whose inputs have the same digest stores them as `""` (a
    /// pass over every lead after a publish changes only the model), and
    /// [`crate::Store::ledger_of`] fills them back in. Not part of the API.
    #[serde(skip)]
    pub inputs_digest: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadRow {
    /// Insertion order; 0 before the lead is stored.
    pub seq: i64,
    pub id: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub domain: Option<String>,
    pub company: Option<String>,
    pub source: Option<String>,
    pub campaign: Option<String>,
    pub country: Option<String>,
    /// The lead's fields as a JSON object (what was submitted, merged).
    pub fields: String,
    pub stage: String,
    pub stage_reason: Option<String>,
    pub owner: Option<String>,
    pub score: Option<LeadScore>,
    pub created_at: i64,
    pub updated_at: i64,
    pub assigned_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub stage_changed_at: i64,
    pub mql_at: Option<i64>,
    pub sql_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// Optimistic-concurrency counter, bumped on every write.
    pub version: i64,
}

impl LeadRow {
    /// The weighted score leads sort by (0 when not scored yet).
    pub fn total(&self) -> f64 {
        self.score.as_ref().map_or(0.0, |s| s.score)
    }
}

/// One way to name a lead.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadKey {
    Id(String),
    ExternalId(String),
    Email(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSort {
    /// Best priority first, then highest fit + engagement.
    #[default]
    Priority,
    /// Highest fit + engagement first.
    Score,
    /// Newest first.
    Created,
}

#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub stage: Option<String>,
    /// Only leads not yet won, lost or disqualified.
    pub open_only: bool,
    pub owner: Option<String>,
    pub grade: Option<String>,
    pub priority: Option<String>,
    pub source: Option<String>,
    pub mql: Option<bool>,
    /// Case-insensitive substring of email or company.
    pub search: Option<String>,
    pub sort: LeadSort,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct LeadPage {
    pub leads: Vec<LeadRow>,
    pub next_cursor: Option<String>,
}

/// A lead write with everything that must commit with it.
#[derive(Debug, Clone)]
pub struct LeadChange {
    pub lead: LeadRow,
    /// `None` inserts a new lead; `Some(v)` updates only if the stored
    /// version is still `v`.
    pub expected_version: Option<i64>,
    pub ledger: Vec<LedgerEntry>,
    pub transitions: Vec<TransitionRow>,
    pub assignments: Vec<AssignmentRow>,
    pub deliveries: Vec<DeliveryRow>,
    /// Consent statements to record with the lead (current and history).
    pub consents: Vec<ConsentRow>,
    /// Tasks its task rules created; one whose lead already has an open
    /// task of the same origin is skipped.
    pub tasks: Vec<TaskRow>,
    /// Cancel the lead's open tasks (it was closed).
    pub cancel_open_tasks: bool,
    /// For an update, the lead as it was read at `expected_version`, when
    /// the caller has it: only the columns that differ from it are written,
    /// so an update that leaves e.g. the email alone neither re-checks nor
    /// re-indexes it. Ignored unless its version is `expected_version`.
    /// Boxed: changes are moved between threads by the thousand, and a
    /// second row inline would double what each move copies.
    pub stored: Option<Box<LeadRow>>,
    /// The lead's predicted conversion, computed from `lead`: stored (in
    /// place of any earlier one) in the same transaction as the lead, and
    /// only if the lead's change succeeds.
    pub prediction: Option<PredictionRow>,
}

impl LeadChange {
    /// An update whose only effect is the lead's own row and its ledger
    /// entries: nothing leaves the store because of it (no stage change,
    /// assignment, webhook delivery, consent or task), so it can be
    /// recomputed should it be lost.
    pub fn is_score_only(&self) -> bool {
        self.expected_version.is_some()
            && self.transitions.is_empty()
            && self.assignments.is_empty()
            && self.deliveries.is_empty()
            && self.consents.is_empty()
            && self.tasks.is_empty()
            && !self.cancel_open_tasks
    }

    pub fn insert(lead: LeadRow) -> LeadChange {
        LeadChange {
            lead,
            expected_version: None,
            ledger: Vec::new(),
            transitions: Vec::new(),
            assignments: Vec::new(),
            deliveries: Vec::new(),
            consents: Vec::new(),
            tasks: Vec::new(),
            cancel_open_tasks: false,
            stored: None,
            prediction: None,
        }
    }
    pub fn update(lead: LeadRow) -> LeadChange {
        let v = lead.version;
        LeadChange {
            expected_version: Some(v),
            ..LeadChange::insert(lead)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub seq: i64,
    pub lead_id: String,
    pub kind: String,
    pub at: i64,
    /// JSON object of properties.
    pub props: String,
    pub idempotency_key: String,
    pub received_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub seq: i64,
    pub lead_id: String,
    /// When the score was recorded.
    pub at: i64,
    /// The instant the score was computed as of (Unix seconds).
    pub as_of: i64,
    pub model_version: i64,
    pub fit: f64,
    pub grade: String,
    pub engagement: f64,
    pub band: i64,
    pub priority: String,
    pub mql: bool,
    pub reasons: String,
    /// What caused the re-score: `created`, `updated`, `event`, `publish`, ...
    pub cause: String,
    /// The inputs the score was computed from (JSON: the lead document and
    /// the newest event sequence number counted), so it can be replayed.
    /// Written as `""` when the same as the lead's previous entry's;
    /// [`crate::Store::ledger_of`] returns them filled in.
    pub inputs: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionRow {
    pub seq: i64,
    pub lead_id: String,
    pub at: i64,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub actor: String,
    pub reason: Option<String>,
    pub model_version: Option<i64>,
    pub automatic: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentRow {
    pub seq: i64,
    pub lead_id: String,
    pub at: i64,
    pub rep_id: String,
    pub previous_rep: Option<String>,
    pub rule: Option<String>,
    pub explanation: String,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerRow {
    pub lead_id: String,
    pub framework: String,
    pub criterion: String,
    pub value: String,
    pub evidence: Option<String>,
    pub actor: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub password_hash: Option<String>,
    pub rep_id: Option<String>,
    pub created_at: i64,
}

/// A signed-in browser. `hash` is the SHA-256 of the cookie's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub hash: String,
    pub csrf: String,
    pub name: String,
    pub role: String,
    pub rep_id: Option<String>,
    pub user_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub user_id: Option<String>,
    /// The rep a `rep` token acts as.
    pub rep_id: Option<String>,
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub created_at: i64,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub id: i64,
    pub name: String,
    pub source: String,
    /// `draft`, `published` or `retired`.
    pub status: String,
    pub version: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
    pub published_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepRow {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub capacity: i64,
    pub timezone: String,
    /// Weekly hours such as `Mon-Fri 09:00-17:00`.
    pub working_hours: String,
    /// JSON array of territory names (countries or regions).
    pub territory: String,
    pub active: bool,
    pub last_assigned_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaPolicyRow {
    pub id: String,
    pub stage: String,
    /// Business minutes allowed before the first response.
    pub minutes: i64,
    /// `escalate` or `reassign`.
    pub action: String,
    pub escalate_to: Option<String>,
    pub active: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreachRow {
    pub seq: i64,
    pub lead_id: String,
    pub policy_id: String,
    pub stage: String,
    pub owner: Option<String>,
    pub due_at: i64,
    pub detected_at: i64,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub secret: String,
    /// JSON array of event types (`lead.stage_changed`, `lead.assigned`, `sla.breached`).
    pub events: String,
    pub active: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub seq: i64,
    pub webhook_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub total: i64,
    pub done: i64,
    /// JSON result document.
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendRow {
    pub source: String,
    pub campaign: String,
    pub period_start: i64,
    pub amount: f64,
}

/// A predictive model as stored (see `leadq-predict`'s `Model`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictiveModelRow {
    pub id: i64,
    pub version: i64,
    /// `champion`, `challenger` or `retired`.
    pub status: String,
    /// `gbdt` or `logistic`.
    pub algorithm: String,
    /// The model document (`Model::to_json`).
    pub model: String,
    /// JSON document of the cross-validated metrics and training notes.
    pub metrics: String,
    pub rows: i64,
    pub positives: i64,
    pub trained_at: i64,
    pub trained_by: String,
}

/// A predictive model to store; version and status are given by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPredictiveModel {
    pub algorithm: String,
    pub model: String,
    pub metrics: String,
    pub rows: i64,
    pub positives: i64,
    pub trained_at: i64,
    pub trained_by: String,
}

/// The latest predicted conversion of one lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRow {
    pub lead_id: String,
    pub champion_version: i64,
    /// The champion's probability. Its top factors are not kept: they
    /// follow from the model version and the lead's fields, and the service
    /// explains a lead when its prediction is read.
    pub probability: f64,
    pub challenger_version: Option<i64>,
    pub challenger_probability: Option<f64>,
    pub scored_at: i64,
}

/// One consent statement for one lead and channel: the current one (in
/// `consents`) or one of its history (with `seq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentRow {
    /// Position in the history; 0 for the current statement.
    pub seq: i64,
    pub lead_id: String,
    /// `email`, `phone` or `sms`.
    pub channel: String,
    /// `consent`, `contract`, `legitimate_interest`, … or none.
    pub lawful_basis: Option<String>,
    /// Opted in (`true`), opted out (`false`) or never asked (`None`).
    pub opt_in: Option<bool>,
    pub do_not_contact: bool,
    /// Where the statement came from: `ingest` (the lead's own fields, from
    /// the API or an import) or what the recorder named (`web form`, …).
    pub source: String,
    /// Who recorded it.
    pub actor: String,
    pub recorded_at: i64,
}

/// What to erase for one person: the lead (if one is stored) and every
/// string that identifies them in free-form documents (webhook payloads,
/// import reject reports): the lead id, email addresses, phone numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Erasure {
    pub lead_id: Option<String>,
    /// Matched case-insensitively as substrings; empty ones are ignored.
    pub needles: Vec<String>,
    pub actor: String,
    /// `request` (the person asked) or `retention`.
    pub reason: String,
    pub at: i64,
}

/// The audit entry of one erasure: that it happened, never who it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub reason: String,
    /// The erased lead's source channel, kept for per-source counts.
    pub source: Option<String>,
    /// The stage the lead was in.
    pub stage: Option<String>,
    /// JSON object: rows removed or redacted per kind (`leads`, `events`,
    /// `ledger`, `transitions`, `assignments`, `answers`, `predictions`,
    /// `consents`, `breaches`, `deliveries`, `import_rejects`).
    pub counts: String,
}

/// An email template: subject and body with `{{ lead.… }}` and
/// `{{ rep.… }}` variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateRow {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub body: String,
    /// `marketing` or `transactional`.
    pub purpose: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A nurture sequence; `definition` is its JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceRow {
    pub id: String,
    pub name: String,
    pub definition: String,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A lead's way through a sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolmentRow {
    pub id: String,
    pub sequence_id: String,
    pub lead_id: String,
    /// `active`, `completed` or `stopped`.
    pub status: String,
    /// The step it runs next.
    pub step: i64,
    /// Whether `step` is a wait already served.
    pub resumed: bool,
    /// When it runs next (active enrolments only).
    pub next_run_at: Option<i64>,
    pub stage_at_enrol: String,
    pub stop_reason: Option<String>,
    pub enrolled_by: String,
    pub enrolled_at: i64,
    pub updated_at: i64,
}

/// An email in the outbox and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailRow {
    pub id: String,
    pub lead_id: String,
    pub enrolment_id: Option<String>,
    pub step: Option<i64>,
    pub template_id: Option<String>,
    pub to_addr: String,
    pub subject: String,
    /// The rendered text body (links and footer are added when sent).
    pub body: String,
    /// `marketing` or `transactional`.
    pub purpose: String,
    /// `queued`, `sent`, `failed`, `suppressed` or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub message_id: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub opened_at: Option<i64>,
    pub clicked_at: Option<i64>,
    pub replied_at: Option<i64>,
    pub bounced_at: Option<i64>,
}

/// A task for a rep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    pub id: String,
    pub lead_id: String,
    /// The rep it is for.
    pub owner: Option<String>,
    /// `call`, `email`, `proposal`, `meeting` or `todo`.
    pub kind: String,
    pub title: String,
    pub notes: Option<String>,
    pub due_at: i64,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    /// `rule:<id>`, `manual:<who>` or `sequence:<id>:<step>`.
    pub origin: String,
    pub created_at: i64,
    pub created_by: String,
    pub completed_at: Option<i64>,
    pub completed_by: Option<String>,
    /// How often it was snoozed.
    pub snoozed: i64,
    pub overdue_notified_at: Option<i64>,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub owner: Option<String>,
    pub lead_id: Option<String>,
    pub status: Option<String>,
    /// Due strictly before this instant.
    pub due_before: Option<i64>,
    pub limit: usize,
}

/// Counts of tasks for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskCounts {
    pub open: i64,
    /// Open and past due at the instant asked about.
    pub overdue: i64,
    /// Completed (created in the period).
    pub done: i64,
    /// Of those, completed by their due time.
    pub done_on_time: i64,
}

/// An anonymous website visitor, known by the random id of their
/// first-party cookie, linked to a lead once they submit a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitorRow {
    pub id: String,
    pub lead_id: Option<String>,
    /// Tracking consent: `None` when the site does not ask for it, else
    /// given (`true`) or withdrawn (`false`).
    pub consent: Option<bool>,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// One thing a visitor did on the website, as the tracking snippet reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitorEventRow {
    pub seq: i64,
    pub visitor_id: String,
    /// The event's id within its visitor; a repeated one is stored once.
    pub id: String,
    pub kind: String,
    /// The page path, when the event happened on a page.
    pub url: Option<String>,
    /// JSON object of properties.
    pub props: String,
    pub occurred_at: i64,
    pub received_at: i64,
}

/// A visit to record: the visitor (created on first sight), their consent
/// flag when the page states one, and new events.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub visitor_id: String,
    pub consent: Option<bool>,
    pub at: i64,
    pub events: Vec<VisitorEventRow>,
}
