//! Web UI tests: the pages rendered in-process over a SQLite store (or
//! PostgreSQL with `LEADQ_TEST_API_BACKEND=postgres`), signed in through
//! the real sign-in form with session cookies and CSRF tokens.

#![allow(dead_code)]

#[path = "api/common.rs"]
mod common;

#[path = "web/browser.rs"]
mod browser;

#[path = "web/admin.rs"]
mod admin;
#[path = "web/dashboard.rs"]
mod dashboard;
#[path = "web/import.rs"]
mod import;
#[path = "web/lead.rs"]
mod lead;
#[path = "web/models.rs"]
mod models;
#[path = "web/pages.rs"]
mod pages;
#[path = "web/session.rs"]
mod session;
