//! Background work driven end to end: webhook delivery to a real receiver,
//! the SLA watcher on a manual clock, import and re-score jobs, and
//! graceful shutdown of `serve`.

#[path = "workers/common.rs"]
mod common;
// Shared with the API tests, which use more of it.
#[path = "support/smtp.rs"]
#[allow(dead_code)]
mod smtp;

#[path = "workers/imports.rs"]
mod imports;
#[path = "workers/nurture.rs"]
mod nurture;
#[path = "workers/publish.rs"]
mod publish;
#[path = "workers/retention.rs"]
mod retention;
#[path = "workers/retrain.rs"]
mod retrain;
#[path = "workers/shutdown.rs"]
mod shutdown;
#[path = "workers/sla.rs"]
mod sla;
#[path = "workers/webhooks.rs"]
mod webhooks;
