//! `/usr/bin/dscl -plist`: local user records and the admin group.
//!
//! SKELETON: types and signatures are the contract used by `observe`; bodies to be written.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, ParseError, ProbeError};

/// One local user record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    /// `UniqueID` (negative for `nobody`).
    pub uid: i64,
    /// `GeneratedUID`, upper-case; joins with the crypto users.
    pub generated_uid: Option<String>,
    pub real_name: Option<String>,
    /// `IsHidden` set.
    pub hidden: bool,
    /// The raw `AuthenticationAuthority` values.
    pub authentication_authority: Vec<String>,
}

impl UserRecord {
    /// Human accounts: UID 501 or more and a name not starting with `_` (PLATFORM.md).
    pub fn is_human(&self) -> bool {
        self.uid >= 501 && !self.name.starts_with('_')
    }

    /// `;tokenidentity;` in AuthenticationAuthority: a smart card is paired (PLATFORM.md).
    pub fn smart_card(&self) -> bool {
        self.authentication_authority
            .iter()
            .any(|v| v.starts_with(";tokenidentity;"))
    }
}

pub fn read_all_users_call() -> Call {
    Call::tool(
        Tool::Dscl,
        &[
            "-plist",
            ".",
            "-readall",
            "/Users",
            "RecordName",
            "UniqueID",
            "GeneratedUID",
            "RealName",
            "IsHidden",
            "AuthenticationAuthority",
        ],
    )
}
pub fn admin_group_call() -> Call {
    Call::tool(
        Tool::Dscl,
        &["-plist", ".", "-read", "/Groups/admin", "GroupMembership"],
    )
}
pub fn parse_read_all_users(out: &Output) -> Result<Vec<UserRecord>, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub fn parse_group_membership(out: &Output) -> Result<Vec<String>, ParseError> {
    Err(ParseError::unrecognised(out))
}
pub async fn read_all_users(r: &impl Runner) -> Result<Vec<UserRecord>, ProbeError> {
    query(r, &read_all_users_call(), parse_read_all_users).await
}
pub async fn admins(r: &impl Runner) -> Result<Vec<String>, ProbeError> {
    query(r, &admin_group_call(), parse_group_membership).await
}
