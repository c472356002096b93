//! Odd accounts do not blind the check, and cost does not grow with accounts (issue 16, items 5
//! and 10): one account no tool can answer for costs that user, never the section; two records
//! with one UID are reported, never guessed; a console UID without a local record is a login.

#[allow(unused_imports)]
use crate::support::*;
