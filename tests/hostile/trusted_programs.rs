//! No root for a user's program (issue 16, item 2): every program Keywarden runs as root is
//! checked along its whole path and executed from the very file that was checked.

#[allow(unused_imports)]
use crate::support::*;
