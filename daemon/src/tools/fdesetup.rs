//! `/usr/bin/fdesetup`: FileVault state, deferral, recovery keys, use of the key this boot, and
//! the two secret commands (`validaterecovery`, `changerecovery`).
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner, SecretOutput};
use crate::secret::Secret;

use super::{query, ParseError, ProbeError};

/// What `fdesetup status` says.
#[derive(Debug, Clone, PartialEq)]
pub struct FdeStatus {
    /// `FileVault is On.` (true) or `FileVault is Off.` (false).
    pub on: bool,
    /// Encryption or decryption under way.
    pub conversion: Option<Conversion>,
    /// `FileVault master keychain appears to be installed.`
    pub master_keychain: bool,
    /// `Deferred enablement appears to be active[ for user 'NAME'].`
    pub deferred: Option<Deferred>,
    /// `..., but needs to be restarted to finish.` or `Off, but will be enabled after the next restart.`
    pub restart_required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// `Encryption in progress: Percent completed = N` (`None`: `Pending` or no number).
    Encrypting { percent: Option<f64> },
    /// `Decryption in progress: Percent completed = N`.
    Decrypting { percent: Option<f64> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// Older versions name the user; 13.2.1+ do not (corpus/PATTERNS.md).
    pub user: Option<String>,
}

/// What `fdesetup showdeferralinfo` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferralInfo {
    /// `Not found.`: no deferral configured.
    pub configured: bool,
    /// `OutputPath`: where the key will be (or was) written in plain text.
    pub output_path: Option<String>,
}

/// What `fdesetup usingrecoverykey` says about this boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsingRecoveryKey {
    Yes,
    No,
    /// `This command is not supported on APFS volumes.` (10.13/10.14 APFS).
    NotSupported,
}

/// What `validaterecovery` answered. Never carries output: the output is secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    Valid,
    Invalid,
}

/// A failure of a secret command, as a fixed code (its output is never quoted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretToolError {
    #[error("fdesetup could not authenticate with the key it was given")]
    AuthenticationFailed,
    #[error("fdesetup could not change the key")]
    UnableToChangeKey,
    #[error("fdesetup exited with code {0} and output Keywarden does not recognise")]
    Unrecognised(i32),
    #[error("fdesetup was killed by signal {0}")]
    Killed(i32),
}

pub fn status_call() -> Call {
    Call::tool(Tool::Fdesetup, &["status"])
}
pub fn showdeferralinfo_call() -> Call {
    Call::tool(Tool::Fdesetup, &["showdeferralinfo"])
}
pub fn haspersonalrecoverykey_call() -> Call {
    Call::tool(Tool::Fdesetup, &["haspersonalrecoverykey"])
}
pub fn hasinstitutionalrecoverykey_call() -> Call {
    Call::tool(Tool::Fdesetup, &["hasinstitutionalrecoverykey"])
}
pub fn usingrecoverykey_call() -> Call {
    Call::tool(Tool::Fdesetup, &["usingrecoverykey"])
}
pub fn validaterecovery_call() -> Call {
    Call::tool(Tool::Fdesetup, &["validaterecovery", "-inputplist"])
}
pub fn changerecovery_call() -> Call {
    Call::tool(Tool::Fdesetup, &["changerecovery", "-personal", "-inputplist"])
}

pub fn parse_status(out: &Output) -> Result<FdeStatus, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub fn parse_showdeferralinfo(out: &Output) -> Result<DeferralInfo, ParseError> {
    Err(ParseError::unrecognised(out))
}
/// `true`/`false` answers: `haspersonalrecoverykey`, `hasinstitutionalrecoverykey`,
/// `isactive`, `supportsauthrestart`.
pub fn parse_true_false(out: &Output) -> Result<bool, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub fn parse_usingrecoverykey(out: &Output) -> Result<UsingRecoveryKey, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub fn parse_validaterecovery(out: &SecretOutput) -> Result<Validation, SecretToolError> {
    let _ = out;
    Err(SecretToolError::Unrecognised(-1))
}
pub fn parse_changerecovery(out: &SecretOutput) -> Result<(), SecretToolError> {
    let _ = out;
    Err(SecretToolError::Unrecognised(-1))
}

pub async fn status(r: &impl Runner) -> Result<FdeStatus, ProbeError> {
    query(r, &status_call(), parse_status).await
}
pub async fn showdeferralinfo(r: &impl Runner) -> Result<DeferralInfo, ProbeError> {
    query(r, &showdeferralinfo_call(), parse_showdeferralinfo).await
}
pub async fn has_personal_recovery_key(r: &impl Runner) -> Result<bool, ProbeError> {
    query(r, &haspersonalrecoverykey_call(), parse_true_false).await
}
pub async fn has_institutional_recovery_key(r: &impl Runner) -> Result<bool, ProbeError> {
    query(r, &hasinstitutionalrecoverykey_call(), parse_true_false).await
}
pub async fn using_recovery_key(r: &impl Runner) -> Result<UsingRecoveryKey, ProbeError> {
    query(r, &usingrecoverykey_call(), parse_usingrecoverykey).await
}
pub async fn validate_recovery(r: &impl Runner, key: &Secret) -> Result<Validation, ValidateError> {
    let _ = (r, key);
    Err(ValidateError::Tool(SecretToolError::Unrecognised(-1)))
}

/// Why a validation produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("fdesetup validaterecovery: {0}")]
    Run(String),
    #[error("fdesetup validaterecovery: {0}")]
    Tool(SecretToolError),
}
