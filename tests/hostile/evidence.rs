//! Evidence is evidence (issue 16, item 6): only a well-formed escrow blob newer than the request
//! confirms a rotation, and an admin's request honoured once is never honoured again, state file
//! or not.

#[allow(unused_imports)]
use crate::support::*;
