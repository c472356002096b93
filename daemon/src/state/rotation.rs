//! The rotation state machine's state, as it is persisted (ARCHITECTURE.md, "Key lifecycle"):
//! `Idle` → `Pending` → `Requested` → `Confirmed` → `Idle`, plus `Failed`. The transitions are
//! `rotation::step`'s (the flow); this is only what is remembered between checks. Writer: `decide`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::RotationMethod;
use crate::status::Reason;

/// The escrow file's identity, to recognise a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EscrowMark {
    #[serde(with = "crate::clock::plist_date")]
    pub modified_at: Timestamp,
    #[serde(rename = "SHA256")]
    pub sha256: String,
}

/// The persisted rotation state.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "State")]
pub enum Rotation {
    #[default]
    Idle,
    Pending {
        #[serde(rename = "Reason")]
        reason: Reason,
        #[serde(rename = "Since", with = "crate::clock::plist_date")]
        since: Timestamp,
        /// Why it is not requested yet (report mode, password reset, no payload, no method).
        #[serde(rename = "Waiting")]
        waiting: Option<String>,
    },
    Requested {
        #[serde(rename = "Reason")]
        reason: Reason,
        #[serde(rename = "Since", with = "crate::clock::plist_date")]
        since: Timestamp,
        #[serde(rename = "Method")]
        method: RotationMethod,
        /// When this attempt was made.
        #[serde(rename = "At", with = "crate::clock::plist_date")]
        at: Timestamp,
        /// When the first attempt of this rotation was made (for RotationOverdue).
        #[serde(rename = "FirstAt", with = "crate::clock::plist_date")]
        first_at: Timestamp,
        /// Failed attempts so far.
        #[serde(rename = "Attempts", default)]
        attempts: u32,
        /// The escrow file when the request was made: a different one confirms.
        #[serde(rename = "EscrowBefore")]
        escrow_before: Option<EscrowMark>,
        #[serde(rename = "LastError")]
        last_error: Option<String>,
        /// The login count when this attempt was made: a higher count is a login after it
        /// (counted, not compared by time: a login and a request can share a second).
        #[serde(rename = "LoginsBefore", default)]
        logins_before: u64,
    },
    Confirmed {
        #[serde(rename = "Reason")]
        reason: Reason,
        #[serde(rename = "At", with = "crate::clock::plist_date")]
        at: Timestamp,
    },
    Failed {
        #[serde(rename = "Reason")]
        reason: Reason,
        #[serde(rename = "Since", with = "crate::clock::plist_date")]
        since: Timestamp,
        #[serde(rename = "Method")]
        method: RotationMethod,
        #[serde(rename = "FirstAt", with = "crate::clock::plist_date")]
        first_at: Timestamp,
        #[serde(rename = "Attempts")]
        attempts: u32,
        #[serde(rename = "LastError")]
        last_error: String,
        #[serde(rename = "RetryAt", with = "crate::clock::plist_date")]
        retry_at: Timestamp,
        #[serde(rename = "EscrowBefore")]
        escrow_before: Option<EscrowMark>,
    },
}

impl Rotation {
    /// The state's name, as the status shows it.
    pub fn name(&self) -> crate::status::RotationStateName {
        use crate::status::RotationStateName as N;
        match self {
            Rotation::Idle => N::Idle,
            Rotation::Pending { .. } => N::Pending,
            Rotation::Requested { .. } => N::Requested,
            Rotation::Confirmed { .. } => N::Confirmed,
            Rotation::Failed { .. } => N::Failed,
        }
    }

    /// When the first attempt of an unfinished rotation was made (for RotationOverdue).
    pub(crate) fn first_requested_at(&self) -> Option<Timestamp> {
        match self {
            Rotation::Requested { first_at, .. } | Rotation::Failed { first_at, .. } => {
                Some(*first_at)
            }
            Rotation::Idle | Rotation::Pending { .. } | Rotation::Confirmed { .. } => None,
        }
    }
}
