//! Web UI tests: admin.

#[allow(unused_imports)]
use crate::browser::*;
#[allow(unused_imports)]
use crate::common::*;
