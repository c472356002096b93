//! `/usr/bin/defaults`: read, write and delete one boolean preference through cfprefsd
//! (PLATFORM.md: preferences are cached; never edit the file).
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, ParseError, ProbeError};

pub fn read_call(domain: &str, key: &str) -> Call {
    Call::tool(Tool::Defaults, &["read", domain, key])
}
pub fn write_bool_call(domain: &str, key: &str, value: bool) -> Call {
    Call::tool(
        Tool::Defaults,
        &["write", domain, key, "-bool", if value { "true" } else { "false" }],
    )
}
pub fn delete_call(domain: &str, key: &str) -> Call {
    Call::tool(Tool::Defaults, &["delete", domain, key])
}
/// `Some(true/false)` for a boolean value, `None` when the domain/key pair does not exist.
pub fn parse_read_bool(out: &Output) -> Result<Option<bool>, ParseError> {
    Err(ParseError::unrecognised(out))
}
/// A write or delete that succeeded (a delete of a missing key is not an error).
pub fn parse_write(out: &Output) -> Result<(), ParseError> {
    Err(ParseError::unrecognised(out))
}
pub async fn read_bool(r: &impl Runner, domain: &str, key: &str) -> Result<Option<bool>, ProbeError> {
    query(r, &read_call(domain, key), parse_read_bool).await
}
