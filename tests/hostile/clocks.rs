//! Clocks lie; Keywarden does not loop (issue 16, item 4): the clock stepped back and forward by
//! a day and by fifty years never re-requests a confirmed rotation, keeps a status fresh, moves a
//! deadline or locks a command out.

#[allow(unused_imports)]
use crate::support::*;
