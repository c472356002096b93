//! `/usr/bin/sw_vers`: the macOS version and build.
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, ParseError, ProbeError};

pub fn product_version_call() -> Call {
    Call::tool(Tool::SwVers, &["-productVersion"])
}
pub fn build_version_call() -> Call {
    Call::tool(Tool::SwVers, &["-buildVersion"])
}
/// `14.4.1`: dotted numbers on one line.
pub fn parse_product_version(out: &Output) -> Result<String, ParseError> {
    Err(ParseError::unrecognised(out))
}
/// `23E224`: letters and digits on one line.
pub fn parse_build_version(out: &Output) -> Result<String, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub async fn product_version(r: &impl Runner) -> Result<String, ProbeError> {
    query(r, &product_version_call(), parse_product_version).await
}
pub async fn build_version(r: &impl Runner) -> Result<String, ProbeError> {
    query(r, &build_version_call(), parse_build_version).await
}
