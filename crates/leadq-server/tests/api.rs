//! API integration tests: the whole router driven in-process over a SQLite
//! store in a temporary directory, with a manual clock.

#[path = "api/common.rs"]
mod common;
#[path = "support/smtp.rs"]
mod smtp;

#[path = "api/auth.rs"]
mod auth;
#[path = "api/backtest.rs"]
mod backtest;
#[path = "api/concurrency.rs"]
mod concurrency;
#[path = "api/events.rs"]
mod events;
#[path = "api/input.rs"]
mod input;
#[path = "api/leads.rs"]
mod leads;
#[path = "api/ledger.rs"]
mod ledger;
#[path = "api/lifecycle.rs"]
mod lifecycle;
#[path = "api/metrics.rs"]
mod metrics;
#[path = "api/models.rs"]
mod models;
#[path = "api/nurture.rs"]
mod nurture;
#[path = "api/predictive.rs"]
mod predictive;
#[path = "api/privacy.rs"]
mod privacy;
#[path = "api/routing.rs"]
mod routing;
#[path = "api/servers.rs"]
mod servers;
#[path = "api/tasks.rs"]
mod tasks;
#[path = "api/tracking.rs"]
mod tracking;
