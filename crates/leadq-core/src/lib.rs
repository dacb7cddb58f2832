//! Domain types and pure logic of leadq: scoring models written as TOML with
//! CEL conditions, fit and engagement scoring with decay, grades, priorities,
//! qualification frameworks and account roll-ups.
//!
//! Nothing in this crate does IO or spawns threads: callers hand it parsed
//! leads and events and an `as_of` instant, and get back the same result every
//! time for the same inputs.

pub mod account;
pub mod contact;
pub mod event;
pub mod expr;
pub mod framework;
pub mod lead;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod nurture;
pub mod privacy;
pub mod routing;
pub mod scoring;
pub mod sla;
pub mod tasks;
pub mod time;
pub mod tracking;
pub mod value;

pub use contact::{CountryCode, Domain, Email, PhoneNumber};
pub use event::{EventKind, EventsView};
pub use framework::{Framework, FrameworkStatus};
pub use lead::Lead;
pub use model::{CompiledModel, ModelError};
pub use scoring::{Grade, Priority, Score};
pub use time::Timestamp;
pub use value::{FieldType, Value};
