//! The daemon never stops watching (issue 16, item 8): while a RotationCommand runs, and after it
//! exits leaving a helper that holds its output, every trigger still gets its check.

#[allow(unused_imports)]
use crate::support::*;
