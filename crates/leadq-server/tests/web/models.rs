//! Web UI tests: models.

#[allow(unused_imports)]
use crate::browser::*;
#[allow(unused_imports)]
use crate::common::*;
