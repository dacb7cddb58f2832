//! The leadq service: use cases over the [`leadq_store::Store`], the HTTP
//! API under `/api/v1` (with its OpenAPI document), bearer-token auth with
//! roles, and the background workers (re-scoring, SLA, webhooks).
//!
//! `app(state)` builds the whole router, so tests drive it in-process with
//! `tower::ServiceExt::oneshot`; [`serve`] binds it and runs the workers.

pub mod api;
pub mod auth;
pub mod backtest;
pub mod clock;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod nurture;
pub mod predictive;
pub mod privacy;
pub mod service;
pub mod tasks;
pub mod tracking;
pub mod web;
pub mod workers;

use crate::auth::TokenCache;
use crate::clock::Clock;
use crate::engine::ActiveModel;
use leadq_core::CompiledModel;
use leadq_ingest::Mapping;
use leadq_store::{Store, StoreError};
use std::ops::Deref;
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;

/// Settings of a running service.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes (larger → 413).
    pub body_limit: usize,
    /// How often the SLA worker looks for breaches.
    pub sla_interval: std::time::Duration,
    /// Webhook delivery attempts before giving up.
    pub webhook_max_attempts: i64,
    /// First retry delay; doubles per attempt.
    pub webhook_backoff_ms: i64,
    /// Retrain the predictive model when the newest one is this many days
    /// old and outcomes suffice; 0 turns scheduled retraining off.
    pub retrain_days: u64,
    /// How often the scheduled-retrain worker looks.
    pub retrain_check: std::time::Duration,
    /// How often the retention worker looks for inactive leads to erase
    /// (when the `retention_months` setting is on).
    pub retention_check: std::time::Duration,
    /// Where email is sent; without it sequences still run and queue
    /// email, which waits in the outbox until a server is configured.
    pub mail: Option<nurture::MailConfig>,
    /// How often due enrolments run and queued email is sent.
    pub nurture_interval: std::time::Duration,
    /// How often sequences' `enrol_when` rules are checked against leads.
    pub enrol_interval: std::time::Duration,
    /// Rate limits of the public website-tracking endpoints.
    pub tracking_limits: tracking::TrackingLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_limit: 16 * 1024 * 1024,
            sla_interval: std::time::Duration::from_secs(30),
            webhook_max_attempts: 8,
            webhook_backoff_ms: 1000,
            retrain_days: 0,
            retrain_check: std::time::Duration::from_secs(3600),
            retention_check: std::time::Duration::from_secs(3600),
            mail: None,
            nurture_interval: std::time::Duration::from_secs(10),
            enrol_interval: std::time::Duration::from_secs(300),
            tracking_limits: tracking::TrackingLimits::default(),
        }
    }
}

/// A webhook subscription as the write path needs it.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub events: Vec<String>,
    pub active: bool,
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub mapping: Mapping,
    pub config: ServerConfig,
    pub tokens: TokenCache,
    model: RwLock<Option<Arc<ActiveModel>>>,
    predictors: RwLock<Arc<predictive::Predictors>>,
    hooks: RwLock<Arc<Vec<Subscription>>>,
    /// Wakes the webhook worker after writes that may have queued deliveries.
    pub deliveries_ready: Notify,
    pub stats: metrics::Stats,
    pub jobs: jobs::Jobs,
    /// Leads whose events arrived without an immediate re-score.
    rescore_queue: std::sync::Mutex<std::collections::BTreeSet<String>>,
    pub rescore_ready: Notify,
    mailer: Option<nurture::Mailer>,
    task_rules: RwLock<Arc<Vec<leadq_core::tasks::TaskRule>>>,
    /// Allowed site origins and rate-limit buckets of website tracking.
    pub tracker: tracking::Tracker,
}

/// Cheap to clone; handed to every handler.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Builds the state over an opened (migrated) store and loads the
    /// published model and webhook subscriptions.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
    ) -> Result<AppState, StoreError> {
        let mailer = config.mail.clone().map(nurture::Mailer::new);
        let state = AppState(Arc::new(Shared {
            store,
            clock,
            mapping: Mapping::default(),
            config,
            tokens: TokenCache::default(),
            model: RwLock::new(None),
            predictors: RwLock::new(Arc::default()),
            hooks: RwLock::new(Arc::new(Vec::new())),
            deliveries_ready: Notify::new(),
            stats: metrics::Stats::default(),
            jobs: jobs::Jobs::default(),
            rescore_queue: Default::default(),
            rescore_ready: Notify::new(),
            mailer,
            task_rules: RwLock::new(Arc::new(Vec::new())),
            tracker: tracking::Tracker::default(),
        }));
        state.reload_model()?;
        state.reload_predictors()?;
        state.reload_webhooks()?;
        state.reload_task_rules()?;
        Ok(state)
    }

    /// The task rules, read once per change of them.
    pub fn task_rules(&self) -> Arc<Vec<leadq_core::tasks::TaskRule>> {
        self.task_rules
            .read()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    pub fn reload_task_rules(&self) -> Result<(), StoreError> {
        let rules = tasks::load_rules(self).map_err(|e| StoreError::Database(e.message))?;
        if let Ok(mut r) = self.task_rules.write() {
            *r = Arc::new(rules);
        }
        Ok(())
    }

    /// The SMTP sender, when one is configured.
    pub fn mailer(&self) -> Option<&nurture::Mailer> {
        self.mailer.as_ref()
    }

    pub fn model(&self) -> Option<Arc<ActiveModel>> {
        self.model.read().ok().and_then(|m| m.clone())
    }

    /// Loads the published model from the store.
    pub fn reload_model(&self) -> Result<(), StoreError> {
        let active = match self.store.published_model()? {
            Some(row) => match CompiledModel::from_toml(&row.source) {
                Ok(compiled) => Some(Arc::new(ActiveModel { row, compiled })),
                Err(e) => {
                    tracing::error!(error = %e, "the published model no longer compiles; leads stay unscored");
                    None
                }
            },
            None => None,
        };
        if let Ok(mut m) = self.model.write() {
            *m = active;
        }
        Ok(())
    }

    /// Reloads what another server sharing the store (PostgreSQL) may have
    /// changed since this one read it: the published model (compiled again
    /// only when another version is published), the predictive models,
    /// the webhook subscriptions and the task rules.
    pub fn reload_shared(&self) -> Result<(), StoreError> {
        let published = self.store.published_model()?;
        let current = self.model();
        let same = match (&published, &current) {
            (Some(p), Some(c)) => p.id == c.row.id && p.version == c.row.version,
            (None, None) => true,
            _ => false,
        };
        if !same {
            tracing::info!(
                version = ?published.as_ref().and_then(|p| p.version),
                "another server published a model; scoring with it from now on"
            );
            self.reload_model()?;
        }
        self.reload_predictors()?;
        self.reload_webhooks()?;
        self.reload_task_rules()
    }

    pub fn set_model(&self, active: Arc<ActiveModel>) {
        if let Ok(mut m) = self.model.write() {
            *m = Some(active);
        }
    }

    /// The predictive champion and challenger, parsed once per change.
    pub fn predictors(&self) -> Arc<predictive::Predictors> {
        self.predictors
            .read()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// Loads the predictive champion and challenger from the store.
    pub fn reload_predictors(&self) -> Result<(), StoreError> {
        let loaded = Arc::new(predictive::Predictors::from_store(self.store.as_ref())?);
        if let Ok(mut p) = self.predictors.write() {
            *p = loaded;
        }
        Ok(())
    }

    pub fn webhooks(&self) -> Arc<Vec<Subscription>> {
        self.hooks.read().map(|h| h.clone()).unwrap_or_default()
    }

    pub fn reload_webhooks(&self) -> Result<(), StoreError> {
        let subs = self
            .store
            .list_webhooks()?
            .into_iter()
            .map(|w| Subscription {
                events: serde_json::from_str(&w.events).unwrap_or_default(),
                id: w.id,
                active: w.active,
            })
            .collect();
        if let Ok(mut h) = self.hooks.write() {
            *h = Arc::new(subs);
        }
        Ok(())
    }

    /// Queues leads for the background re-scorer.
    pub fn queue_rescore(&self, ids: impl IntoIterator<Item = String>) {
        if let Ok(mut q) = self.rescore_queue.lock() {
            q.extend(ids);
        }
        self.rescore_ready.notify_one();
    }

    /// Takes up to `max` queued leads.
    pub fn take_rescore(&self, max: usize) -> Vec<String> {
        let Ok(mut q) = self.rescore_queue.lock() else {
            return Vec::new();
        };
        let take: Vec<String> = q.iter().take(max).cloned().collect();
        for id in &take {
            q.remove(id);
        }
        take
    }

    /// Leads waiting for the background re-scorer.
    pub fn rescore_backlog(&self) -> usize {
        self.rescore_queue.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Called after writes: wakes the webhook worker.
    pub fn after_write(&self) {
        if !self.webhooks().is_empty() {
            self.deliveries_ready.notify_one();
        }
    }
}

pub use api::app;

/// Serves `state` on `listener` until `shutdown` resolves, running the
/// background workers beside it; in-flight requests finish first.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Err(e) = workers::recover_interrupted_jobs(&state).await {
        tracing::warn!(error = %e.message, "checking for interrupted jobs failed");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = workers::spawn_all(state.clone(), stop_rx);
    let app = app(state);
    // The peer address feeds the tracking endpoints' per-client rate limit.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    result
}
