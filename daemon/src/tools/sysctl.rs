//! `/usr/sbin/sysctl -n`: the boot session UUID (the key of the per-boot use latch) and whether
//! the Mac is Apple silicon.
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, ParseError, ProbeError};

pub fn boot_session_uuid_call() -> Call {
    Call::tool(Tool::Sysctl, &["-n", "kern.bootsessionuuid"])
}
pub fn arm64_call() -> Call {
    Call::tool(Tool::Sysctl, &["-n", "hw.optional.arm64"])
}
/// A UUID on one line.
pub fn parse_boot_session_uuid(out: &Output) -> Result<String, ParseError> {
    Err(ParseError::unrecognised(out))
}
/// `1` on Apple silicon; `0` or `unknown oid` on Intel.
pub fn parse_arm64(out: &Output) -> Result<bool, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub async fn boot_session_uuid(r: &impl Runner) -> Result<String, ProbeError> {
    query(r, &boot_session_uuid_call(), parse_boot_session_uuid).await
}
pub async fn apple_silicon(r: &impl Runner) -> Result<bool, ProbeError> {
    query(r, &arm64_call(), parse_arm64).await
}
