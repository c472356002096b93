//! `/usr/bin/security authorizationdb read RIGHT`: the login mechanisms (is Escrow Buddy's
//! mechanism still registered after a macOS update?). Read only: the database is never edited.
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, ParseError, ProbeError};

pub const LOGIN_RIGHT: &str = "system.login.console";
pub const ESCROW_BUDDY_MECHANISM: &str = "Escrow Buddy:Invoke,privileged";

pub fn authorizationdb_read_call(right: &str) -> Call {
    Call::tool(Tool::Security, &["authorizationdb", "read", right])
}
/// The `mechanisms` array of the right.
pub fn parse_mechanisms(out: &Output) -> Result<Vec<String>, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub async fn login_mechanisms(r: &impl Runner) -> Result<Vec<String>, ProbeError> {
    query(r, &authorizationdb_read_call(LOGIN_RIGHT), parse_mechanisms).await
}
