//! Web UI tests: import.

#[allow(unused_imports)]
use crate::browser::*;
#[allow(unused_imports)]
use crate::common::*;
