//! `/usr/bin/profiles`: the bootstrap token and the installed computer-level profiles.
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, ParseError, ProbeError};

/// The payload type of the FileVault recovery key escrow payload.
pub const ESCROW_PAYLOAD_TYPE: &str = "com.apple.security.FDERecoveryKeyEscrow";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapToken {
    pub supported: bool,
    /// Only printed when supported.
    pub escrowed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledProfile {
    pub identifier: String,
    pub display_name: Option<String>,
    /// `ProfileInstallDate` (`YYYY-MM-DD HH:MM:SS +0000`).
    pub install_date: Option<jiff::Timestamp>,
    /// `PayloadType` of each item.
    pub payload_types: Vec<String>,
}

impl InstalledProfile {
    pub fn has_payload(&self, payload_type: &str) -> bool {
        self.payload_types.iter().any(|t| t == payload_type)
    }
}

pub fn bootstrap_token_call() -> Call {
    Call::tool(Tool::Profiles, &["status", "-type", "bootstraptoken"])
}
pub fn computer_profiles_call() -> Call {
    Call::tool(Tool::Profiles, &["-C", "-o", "stdout-xml"])
}
pub fn parse_bootstrap_token(out: &Output) -> Result<BootstrapToken, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub fn parse_computer_profiles(out: &Output) -> Result<Vec<InstalledProfile>, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub async fn bootstrap_token(r: &impl Runner) -> Result<BootstrapToken, ProbeError> {
    query(r, &bootstrap_token_call(), parse_bootstrap_token).await
}
pub async fn computer_profiles(r: &impl Runner) -> Result<Vec<InstalledProfile>, ProbeError> {
    query(r, &computer_profiles_call(), parse_computer_profiles).await
}
