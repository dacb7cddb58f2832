//! Web UI tests: dashboard.

#[allow(unused_imports)]
use crate::browser::*;
#[allow(unused_imports)]
use crate::common::*;
