//! Web UI tests: lead.

#[allow(unused_imports)]
use crate::browser::*;
#[allow(unused_imports)]
use crate::common::*;
