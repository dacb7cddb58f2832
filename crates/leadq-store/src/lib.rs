//! Durable storage of leadq.
//!
//! [`Store`] is the one trait the service talks to. [`SqlStore`] implements
//! it once over the [`sql::Backend`] seam, and two backends carry it: SQLite
//! (a file, the embedded default) and PostgreSQL (for teams). Each backend
//! has its own migrations, embedded in the binary and applied at start-up.
//! All instants are Unix milliseconds.

mod migrate;
pub mod postgres;
mod records;
pub mod sql;
pub mod sqlite;
mod store;

pub use migrate::{migrations, Migration};
pub use records::*;
pub use store::{SqlStore, CLOSED_STAGES, OPEN_STAGES};

use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq)]
pub enum StoreError {
    /// A uniqueness or other integrity rule refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The record was changed by someone else since it was read.
    #[error("the record changed since it was read (expected version {expected})")]
    StaleVersion { expected: i64 },
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached or is busy; worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Opens the store a service runs on: PostgreSQL when `database_url` is
/// given, else the SQLite file `leadq.db` inside `data_dir`. Migrations are
/// applied before it returns.
pub fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    open_migrated(database_url, data_dir).map(|(s, _)| s)
}

/// [`open`], also returning the names of the migrations it applied.
pub fn open_migrated(
    database_url: Option<&str>,
    data_dir: &Path,
) -> Result<(Arc<dyn Store>, Vec<String>), StoreError> {
    let store: Arc<dyn Store> = match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Arc::new(SqlStore::new(postgres::PgBackend::connect(url, 16)?))
        }
        Some(url) if url.starts_with("sqlite://") => {
            let path = url.trim_start_matches("sqlite://");
            Arc::new(SqlStore::new(sqlite::SqliteBackend::open(Path::new(path))?))
        }
        Some(other) => {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL '{}': use postgres://… or sqlite://PATH",
                redact_url(other)
            )))
        }
        None => Arc::new(SqlStore::new(sqlite::SqliteBackend::open(
            &data_dir.join("leadq.db"),
        )?)),
    };
    let applied = store.migrate()?;
    Ok((store, applied))
}

/// A database URL with its password replaced, for messages and logs.
///
/// ```
/// assert_eq!(leadq_store::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
/// assert_eq!(leadq_store::redact_url("postgres://u@h/db"), "postgres://u@h/db");
/// ```
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.rsplit_once('@') {
            if let Some((user, _password)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
            return format!("{scheme}://{creds}@{host}");
        }
    }
    url.to_string()
}

/// Everything the service keeps. Implementations are transactional per
/// call: a call either happens entirely or not at all, and returns only
/// once its effect is durable.
pub trait Store: Send + Sync {
    fn backend(&self) -> &'static str;
    /// Applies pending migrations; returns the names of those applied.
    fn migrate(&self) -> Result<Vec<String>, StoreError>;
    /// Whether the database answers.
    fn ping(&self) -> Result<(), StoreError>;
    fn checkpoint(&self) -> Result<(), StoreError>;

    // --- leads -----------------------------------------------------------
    /// Applies lead changes, each atomically with its ledger entries,
    /// transitions, assignments and webhook deliveries. Results are in
    /// input order; one failing change does not stop the others.
    fn apply(
        &self,
        changes: Vec<LeadChange>,
    ) -> Result<Vec<Result<LeadRow, StoreError>>, StoreError>;
    /// [`Store::apply`] for changes that only re-score leads
    /// ([`LeadChange::is_score_only`]), committed without waiting for the
    /// disk: a power loss may lose the last of them, which a re-score pass
    /// then recomputes. A pass ends with a durable write (its job's
    /// result), which syncs them all.
    fn apply_score_only(
        &self,
        changes: Vec<LeadChange>,
    ) -> Result<Vec<Result<LeadRow, StoreError>>, StoreError>;
    fn lead(&self, id: &str) -> Result<Option<LeadRow>, StoreError>;
    /// The stored leads among `ids` (missing ones are left out), by id order of `ids`.
    fn leads_by_ids(&self, ids: &[String]) -> Result<Vec<LeadRow>, StoreError>;
    /// Which of `ids` name a stored lead (in no particular order): what an
    /// event batch checks, without reading the leads themselves.
    fn existing_lead_ids(&self, ids: &[String]) -> Result<Vec<String>, StoreError>;
    /// Finds a lead by id, external id or email (in that order).
    fn find_lead(&self, key: &LeadKey) -> Result<Option<LeadRow>, StoreError>;
    fn list_leads(&self, filter: &LeadFilter) -> Result<LeadPage, StoreError>;
    /// Leads in insertion order after `after_seq`, for re-scoring passes.
    fn scan_leads(&self, after_seq: i64, limit: usize) -> Result<Vec<LeadRow>, StoreError>;
    /// [`Store::scan_leads`] for a pass that re-scores with
    /// `model_version`: a lead scored by another version comes back with
    /// its reasons as `""` (not read; its new score differs anyway).
    fn scan_leads_to_rescore(
        &self,
        after_seq: i64,
        limit: usize,
        model_version: i64,
    ) -> Result<Vec<LeadRow>, StoreError>;
    fn count_leads(&self) -> Result<i64, StoreError>;
    /// Deletes a lead with its events, answers and history.
    fn delete_lead(&self, id: &str) -> Result<bool, StoreError>;
    /// Open (not closed) leads per owner.
    fn open_leads_by_owner(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Per `(owner, cap)`, the owner's open leads counted up to `cap`, in
    /// the order given. Routing needs no more: a rep with `capacity` open
    /// leads is full however many more they hold. The count reads at most
    /// `cap` index entries per owner, so it stays cheap however many leads
    /// the reps have owned and closed.
    fn open_leads_up_to(&self, caps: &[(String, i64)]) -> Result<Vec<(String, i64)>, StoreError>;
    /// The owner of another lead of the same company domain, if any.
    fn account_owner(&self, domain: &str, except_lead: &str) -> Result<Option<String>, StoreError>;

    // --- events ----------------------------------------------------------
    /// Stores events; a repeated idempotency key is accepted and ignored.
    /// Returns, per event, whether it was new.
    fn insert_events(&self, events: Vec<EventRow>) -> Result<Vec<bool>, StoreError>;
    fn events_of(&self, lead_id: &str) -> Result<Vec<EventRow>, StoreError>;
    fn events_of_many(&self, lead_ids: &[String]) -> Result<Vec<EventRow>, StoreError>;

    // --- history ---------------------------------------------------------
    fn ledger_of(&self, lead_id: &str) -> Result<Vec<LedgerEntry>, StoreError>;
    fn transitions_of(&self, lead_id: &str) -> Result<Vec<TransitionRow>, StoreError>;
    fn assignments_of(&self, lead_id: &str) -> Result<Vec<AssignmentRow>, StoreError>;

    // --- framework answers -------------------------------------------------
    fn set_answers(&self, answers: Vec<AnswerRow>) -> Result<(), StoreError>;
    fn answers_of(&self, lead_id: &str) -> Result<Vec<AnswerRow>, StoreError>;
    fn answers_of_many(&self, lead_ids: &[String]) -> Result<Vec<AnswerRow>, StoreError>;

    // --- users and tokens --------------------------------------------------
    fn create_user(&self, user: UserRow) -> Result<(), StoreError>;
    fn user_by_name(&self, name: &str) -> Result<Option<UserRow>, StoreError>;
    fn list_users(&self) -> Result<Vec<UserRow>, StoreError>;
    /// Sets (or clears) a user's password hash; false when no such user.
    fn set_password(&self, name: &str, hash: Option<String>) -> Result<bool, StoreError>;
    fn create_session(&self, session: SessionRow) -> Result<(), StoreError>;
    /// The session with this hash, if it has not expired at `now`.
    fn session(&self, hash: &str, now: i64) -> Result<Option<SessionRow>, StoreError>;
    /// Ends one session; also drops every session expired at `now`.
    fn delete_session(&self, hash: &str, now: i64) -> Result<bool, StoreError>;
    fn create_token(&self, token: TokenRow) -> Result<(), StoreError>;
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError>;
    fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError>;
    fn revoke_token(&self, id: &str) -> Result<bool, StoreError>;

    // --- scoring models ------------------------------------------------------
    fn create_model(
        &self,
        name: &str,
        source: &str,
        by: &str,
        at: i64,
    ) -> Result<ModelRow, StoreError>;
    fn model(&self, id: i64) -> Result<Option<ModelRow>, StoreError>;
    fn model_by_version(&self, version: i64) -> Result<Option<ModelRow>, StoreError>;
    fn list_models(&self) -> Result<Vec<ModelRow>, StoreError>;
    /// Publishes a draft: it gets the next version number and becomes the
    /// one leads are scored with; the previous one is retired.
    fn publish_model(&self, id: i64, at: i64) -> Result<ModelRow, StoreError>;
    fn published_model(&self) -> Result<Option<ModelRow>, StoreError>;

    // --- predictive models and predictions ------------------------------------
    /// Stores a trained model with the next version. The first one (or any,
    /// when no champion exists) becomes the champion; otherwise it becomes
    /// the challenger and a previous challenger is retired.
    fn create_predictive_model(
        &self,
        model: NewPredictiveModel,
    ) -> Result<PredictiveModelRow, StoreError>;
    /// Every predictive model, by version.
    fn predictive_models(&self) -> Result<Vec<PredictiveModelRow>, StoreError>;
    fn predictive_model(&self, id: i64) -> Result<Option<PredictiveModelRow>, StoreError>;
    /// The model with status `status` (`champion` or `challenger`), if any.
    fn predictive_model_with_status(
        &self,
        status: &str,
    ) -> Result<Option<PredictiveModelRow>, StoreError>;
    /// Makes the challenger `id` the champion; the previous champion is
    /// retired. Conflict when `id` is not the challenger.
    fn promote_predictive_model(&self, id: i64) -> Result<PredictiveModelRow, StoreError>;
    /// Inserts or replaces the predictions of the given leads. Written
    /// relaxed (see `Backend::write_relaxed_boxed`): these are the bulk
    /// predictions of a training or promotion, derived from the stored
    /// leads and the champion. A power loss may lose the last ones; the
    /// lead's next change or the next training or promotion recomputes them.
    /// (A lead's own write carries its prediction: `LeadChange::prediction`.)
    fn put_predictions(&self, predictions: Vec<PredictionRow>) -> Result<(), StoreError>;
    fn prediction_of(&self, lead_id: &str) -> Result<Option<PredictionRow>, StoreError>;
    /// The stored predictions of the leads among `ids` that have one.
    fn predictions_of(&self, lead_ids: &[String]) -> Result<Vec<PredictionRow>, StoreError>;
    /// Won and lost leads closed at or after `closed_since`, in insertion
    /// order after `after_seq`: the outcomes models learn from and are
    /// compared on.
    fn closed_leads(
        &self,
        closed_since: i64,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<LeadRow>, StoreError>;

    // --- reps, routing, SLA ----------------------------------------------------
    fn upsert_rep(&self, rep: RepRow) -> Result<(), StoreError>;
    fn rep(&self, id: &str) -> Result<Option<RepRow>, StoreError>;
    fn list_reps(&self) -> Result<Vec<RepRow>, StoreError>;
    fn delete_rep(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces the ordered routing rules (JSON documents).
    fn set_routing_rules(&self, rules: Vec<String>) -> Result<(), StoreError>;
    fn routing_rules(&self) -> Result<Vec<String>, StoreError>;
    fn upsert_sla_policy(&self, policy: SlaPolicyRow) -> Result<(), StoreError>;
    fn list_sla_policies(&self) -> Result<Vec<SlaPolicyRow>, StoreError>;
    fn delete_sla_policy(&self, id: &str) -> Result<bool, StoreError>;
    /// Records a breach once; returns false if it was already recorded.
    fn record_breach(&self, breach: BreachRow) -> Result<bool, StoreError>;
    fn list_breaches(&self, from: i64, to: i64) -> Result<Vec<BreachRow>, StoreError>;
    /// (lead id, due instant) of every breach recorded for a policy.
    fn breach_keys(&self, policy_id: &str) -> Result<Vec<(String, i64)>, StoreError>;
    /// Leads in `stage` whose last stage change is at or before `changed_before`
    /// and that have had no first response.
    fn leads_waiting(
        &self,
        stage: &str,
        changed_before: i64,
        limit: usize,
    ) -> Result<Vec<LeadRow>, StoreError>;

    // --- webhooks ----------------------------------------------------------------
    fn create_webhook(&self, hook: WebhookRow) -> Result<(), StoreError>;
    fn list_webhooks(&self) -> Result<Vec<WebhookRow>, StoreError>;
    fn webhook(&self, id: &str) -> Result<Option<WebhookRow>, StoreError>;
    fn delete_webhook(&self, id: &str) -> Result<bool, StoreError>;
    fn enqueue_deliveries(&self, deliveries: Vec<DeliveryRow>) -> Result<(), StoreError>;
    fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<DeliveryRow>, StoreError>;
    fn update_delivery(&self, delivery: &DeliveryRow) -> Result<(), StoreError>;
    fn deliveries_of(&self, webhook_id: &str, limit: usize)
        -> Result<Vec<DeliveryRow>, StoreError>;

    // --- jobs, spend, settings --------------------------------------------------------
    fn put_job(&self, job: JobRow) -> Result<(), StoreError>;
    /// Marks jobs still `running` as failed with `error` (jobs a stopped
    /// process left behind) and returns them as they were, oldest first:
    /// every such job, or with `beat_before` only those whose last
    /// heartbeat (their start, if they never beat) is older than it. Each
    /// job is returned to one caller only, however many ask at once.
    fn fail_running_jobs(
        &self,
        error: &str,
        now_ms: i64,
        beat_before: Option<i64>,
    ) -> Result<Vec<JobRow>, StoreError>;
    /// Records that this process still runs the `running` jobs of `beats`
    /// (id, done, total) at `now_ms`, with their progress so far.
    fn beat_jobs(&self, beats: Vec<(String, i64, i64)>, now_ms: i64) -> Result<(), StoreError>;
    fn job(&self, id: &str) -> Result<Option<JobRow>, StoreError>;
    fn set_spend(&self, spend: Vec<SpendRow>) -> Result<(), StoreError>;
    fn list_spend(&self) -> Result<Vec<SpendRow>, StoreError>;
    fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Lead facts for metrics over leads created in `[from, to)`, without
    /// the submitted fields (`{}`) and the score's reasons (`[]`).
    fn metric_rows(&self, from: i64, to: i64) -> Result<Vec<LeadRow>, StoreError>;

    // --- consent and privacy -------------------------------------------------------------
    /// Records consent statements: each becomes the current one of its lead
    /// and channel and is appended to the history.
    fn record_consents(&self, consents: Vec<ConsentRow>) -> Result<(), StoreError>;
    /// The current consent statements of a lead, by channel.
    fn consents_of(&self, lead_id: &str) -> Result<Vec<ConsentRow>, StoreError>;
    /// The current consent statements of the leads among `ids`.
    fn consents_of_many(&self, lead_ids: &[String]) -> Result<Vec<ConsentRow>, StoreError>;
    /// Every consent statement recorded for a lead, oldest first.
    fn consent_history_of(&self, lead_id: &str) -> Result<Vec<ConsentRow>, StoreError>;
    /// Webhook deliveries whose payload contains any of `needles`
    /// (case-insensitive), oldest first.
    fn deliveries_mentioning(&self, needles: &[String]) -> Result<Vec<DeliveryRow>, StoreError>;
    /// Jobs whose result document contains any of `needles` (case-insensitive).
    fn jobs_mentioning(&self, needles: &[String]) -> Result<Vec<JobRow>, StoreError>;
    /// Erases a person in one transaction: the lead with its events, score
    /// ledger, transitions, assignments, answers, prediction, consent, SLA
    /// breaches and the website visitors linked to it with their events;
    /// webhook payloads that mention them are replaced (and
    /// pending ones not sent); import reject entries that mention them are
    /// removed; the person's emails, sequence enrolments and tasks are deleted.
    /// Records and returns the audit entry, which keeps no
    /// identifier of the person.
    fn erase(&self, erasure: Erasure) -> Result<ErasureRow, StoreError>;
    /// The erasure audit entries, oldest first.
    fn erasures(&self) -> Result<Vec<ErasureRow>, StoreError>;
    /// Leads with no sign of life since `before`: created, updated, moved
    /// to a stage and sent events (by event time and by arrival) all
    /// before it. In insertion order.
    fn inactive_leads(&self, before: i64, limit: usize) -> Result<Vec<LeadRow>, StoreError>;

    // --- email: templates, sequences, enrolments, outbox ----------------------------------
    /// Inserts or replaces a template.
    fn put_template(&self, template: TemplateRow) -> Result<(), StoreError>;
    fn template(&self, id: &str) -> Result<Option<TemplateRow>, StoreError>;
    fn templates(&self) -> Result<Vec<TemplateRow>, StoreError>;
    fn delete_template(&self, id: &str) -> Result<bool, StoreError>;
    /// Inserts or replaces a sequence.
    fn put_sequence(&self, sequence: SequenceRow) -> Result<(), StoreError>;
    fn sequence(&self, id: &str) -> Result<Option<SequenceRow>, StoreError>;
    fn sequences(&self) -> Result<Vec<SequenceRow>, StoreError>;
    /// Enrols a lead; false (and nothing written) when the lead was ever
    /// enrolled in that sequence.
    fn enrol(&self, enrolment: EnrolmentRow) -> Result<bool, StoreError>;
    fn enrolment(&self, id: &str) -> Result<Option<EnrolmentRow>, StoreError>;
    fn enrolments_of(&self, lead_id: &str) -> Result<Vec<EnrolmentRow>, StoreError>;
    /// Enrolments of a sequence, newest first.
    fn enrolments_in(
        &self,
        sequence_id: &str,
        limit: usize,
    ) -> Result<Vec<EnrolmentRow>, StoreError>;
    /// Lead ids ever enrolled in the sequence.
    fn enrolled_leads(&self, sequence_id: &str) -> Result<Vec<String>, StoreError>;
    /// Active enrolments due at `now`, oldest due first.
    fn due_enrolments(&self, now: i64, limit: usize) -> Result<Vec<EnrolmentRow>, StoreError>;
    /// Saves an enrolment's new position with the emails its step queued,
    /// in one transaction; Conflict when it is no longer active (stopped
    /// meanwhile), and then nothing is written.
    fn advance_enrolment(
        &self,
        enrolment: EnrolmentRow,
        emails: Vec<EmailRow>,
    ) -> Result<(), StoreError>;
    /// Stops the lead's active enrolments (all, or only those of the given
    /// sequences) and cancels their queued emails; returns those stopped.
    fn stop_enrolments(
        &self,
        lead_id: &str,
        sequence_ids: Option<&[String]>,
        reason: &str,
        at: i64,
    ) -> Result<Vec<EnrolmentRow>, StoreError>;
    fn queue_emails(&self, emails: Vec<EmailRow>) -> Result<(), StoreError>;
    /// Queued emails due at `now`, oldest first.
    fn due_emails(&self, now: i64, limit: usize) -> Result<Vec<EmailRow>, StoreError>;
    fn update_email(&self, email: &EmailRow) -> Result<(), StoreError>;
    fn email(&self, id: &str) -> Result<Option<EmailRow>, StoreError>;
    fn email_by_message_id(&self, message_id: &str) -> Result<Option<EmailRow>, StoreError>;
    /// A lead's emails, newest first.
    fn emails_of(&self, lead_id: &str) -> Result<Vec<EmailRow>, StoreError>;
    /// Emails of an enrolment, oldest first.
    fn emails_of_enrolment(&self, enrolment_id: &str) -> Result<Vec<EmailRow>, StoreError>;

    // --- tasks ---------------------------------------------------------------------------
    fn insert_task(&self, task: TaskRow) -> Result<(), StoreError>;
    fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError>;
    /// Saves a task's changeable fields; NotFound when it is gone.
    fn update_task(&self, task: &TaskRow) -> Result<(), StoreError>;
    /// Tasks matching the filter, soonest due first.
    fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRow>, StoreError>;
    /// Open tasks past due at `now` whose overdue notice has not gone out.
    fn overdue_unnotified(&self, now: i64, limit: usize) -> Result<Vec<TaskRow>, StoreError>;
    /// Counts over the tasks created in `[from, to)`; overdue as of `now`.
    fn task_counts(&self, from: i64, to: i64, now: i64) -> Result<TaskCounts, StoreError>;
    // --- website tracking ----------------------------------------------------------------
    /// Records a visit in one transaction: creates the visitor on first
    /// sight (else moves `last_seen` and, when stated, the consent flag)
    /// and stores the events, each once per (visitor, event id). Returns
    /// the visitor as stored and, per event, whether it was new.
    fn record_visit(&self, visit: Visit) -> Result<(VisitorRow, Vec<bool>), StoreError>;
    fn visitor(&self, id: &str) -> Result<Option<VisitorRow>, StoreError>;
    /// A visitor's events, oldest first.
    fn visitor_events(&self, visitor_id: &str) -> Result<Vec<VisitorEventRow>, StoreError>;
    /// Links a visitor to a lead (creating the visitor if it is unknown);
    /// returns the visitor as stored.
    fn link_visitor(
        &self,
        visitor_id: &str,
        lead_id: &str,
        at: i64,
    ) -> Result<VisitorRow, StoreError>;
    /// The visitors linked to a lead, first seen first.
    fn visitors_of(&self, lead_id: &str) -> Result<Vec<VisitorRow>, StoreError>;
    /// Deletes visitors never linked to a lead and not seen since `before`,
    /// with their events (retention of anonymous tracking data). Returns
    /// how many visitors went.
    fn delete_stale_visitors(&self, before: i64) -> Result<u64, StoreError>;
}
