//! API integration tests: the whole router driven in-process over a SQLite
//! store in a temporary directory, with a manual clock.

#[path = "api/common.rs"]
mod common;

#[path = "api/auth.rs"]
mod auth;
#[path = "api/input.rs"]
mod input;
