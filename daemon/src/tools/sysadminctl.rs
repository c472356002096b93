//! `/usr/sbin/sysadminctl -secureTokenStatus NAME`: does a user hold a SecureToken.
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, ParseError, ProbeError};

pub fn secure_token_status_call(user: &str) -> Call {
    Call::tool(Tool::Sysadminctl, &["-secureTokenStatus", user])
}
/// `true` for `Secure token is ENABLED`, `false` for `DISABLED` (answer on stderr).
pub fn parse_secure_token_status(out: &Output) -> Result<bool, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub async fn secure_token_status(r: &impl Runner, user: &str) -> Result<bool, ProbeError> {
    query(r, &secure_token_status_call(user), parse_secure_token_status).await
}
