//! Instants as whole seconds since the Unix epoch (UTC).

use serde::{Deserialize, Serialize};

pub const SECONDS_PER_DAY: f64 = 86_400.0;

/// An instant in whole seconds since 1970-01-01T00:00:00Z. Parsing of
/// human formats lives at the edges; the core only does arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Days elapsed from `self` to `later` (negative when `self` is after it).
    pub fn days_until(self, later: Timestamp) -> f64 {
        (later.0 - self.0) as f64 / SECONDS_PER_DAY
    }
}
