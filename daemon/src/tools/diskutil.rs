//! `/usr/sbin/diskutil apfs listCryptoUsers / -plist`: who can unlock the boot volume.
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, ParseError, ProbeError};

/// The PRK's crypto user has this fixed UUID (PLATFORM.md; corpus osquery-5236 sample).
pub const PRK_UUID: &str = "EBC6C064-0000-11AA-AA11-00306543ECAC";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoUserKind {
    /// A local account (`LocalOpenDirectory`, text `Local Open Directory User`).
    LocalOpenDirectory,
    /// The personal recovery key (`PersonalRecovery`, text `Personal Recovery User`).
    PersonalRecovery,
    /// An institutional recovery key.
    InstitutionalRecovery,
    /// `iCloud Recovery User`.
    ICloudRecovery,
    /// `iCloud Recovery External Key`.
    ICloudRecoveryExternalKey,
    /// The bootstrap token (`MDMRecovery`, text `MDM Bootstrap Token External Key`).
    MdmRecovery,
    /// A type Keywarden does not know, kept verbatim.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoUser {
    /// Upper-case UUID as printed (may be partly redacted in corpus samples).
    pub uuid: String,
    pub kind: CryptoUserKind,
    /// `VolumeOwner` (plist output of recent macOS); `None` when the output does not say.
    pub volume_owner: Option<bool>,
}

pub fn list_crypto_users_call() -> Call {
    Call::tool(Tool::Diskutil, &["apfs", "listCryptoUsers", "/", "-plist"])
}
/// Accepts the `-plist` form and the text form of `listCryptoUsers`/`listUsers`.
pub fn parse_list_crypto_users(out: &Output) -> Result<Vec<CryptoUser>, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub async fn list_crypto_users(r: &impl Runner) -> Result<Vec<CryptoUser>, ProbeError> {
    query(r, &list_crypto_users_call(), parse_list_crypto_users).await
}
