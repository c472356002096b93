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

/// A certificate of the escrow payload seen installed, remembered so that an escrow file
/// encrypted to it can be judged after the payload's certificate is re-issued (issue 14: zentral
/// re-issues it, same key, at every send). Names what a CMS recipient names, and the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertMark {
    pub issuer: String,
    pub serial: String,
    #[serde(rename = "PublicKeySHA256")]
    pub public_key_sha256: String,
}

impl CertMark {
    pub fn of(c: &crate::tools::escrow_blob::EscrowCertificate) -> CertMark {
        CertMark {
            issuer: c.issuer.clone(),
            serial: c.serial.clone(),
            public_key_sha256: c.public_key_sha256.clone(),
        }
    }

    /// Whether an escrow file's recipient names this certificate (by issuer and serial, the form
    /// macOS writes).
    pub fn names(&self, r: &crate::tools::escrow_blob::Recipient) -> bool {
        matches!(r, crate::tools::escrow_blob::Recipient::IssuerSerial { issuer, serial }
            if *issuer == self.issuer && *serial == self.serial)
    }
}

/// The persisted rotation state.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "State", rename_all_fields = "PascalCase")]
pub enum Rotation {
    #[default]
    Idle,
    Pending {
        reason: Reason,
        #[serde(with = "crate::clock::plist_date")]
        since: Timestamp,
        /// Why it is not requested yet (report mode, password reset, no payload, no method).
        waiting: Option<String>,
        /// In `RotationMode = Report`, the method Request mode would use now (a pilot counts it
        /// before rotation is switched on; issue 14, item 10). Absent where Request mode would
        /// wait too, and in state files written before it.
        method: Option<RotationMethod>,
    },
    Requested {
        reason: Reason,
        #[serde(with = "crate::clock::plist_date")]
        since: Timestamp,
        method: RotationMethod,
        /// When this attempt was made.
        #[serde(with = "crate::clock::plist_date")]
        at: Timestamp,
        /// When the first attempt of this rotation was made (for RotationOverdue).
        #[serde(with = "crate::clock::plist_date")]
        first_at: Timestamp,
        /// Failed attempts so far.
        #[serde(default)]
        attempts: u32,
        /// The escrow file when the request was made: a different one confirms.
        escrow_before: Option<EscrowMark>,
        last_error: Option<String>,
        /// The login count when this attempt was made: a higher count is a login after it
        /// (counted, not compared by time: a login and a request can share a second).
        #[serde(default)]
        logins_before: u64,
    },
    Confirmed {
        reason: Reason,
        #[serde(with = "crate::clock::plist_date")]
        at: Timestamp,
    },
    Failed {
        reason: Reason,
        #[serde(with = "crate::clock::plist_date")]
        since: Timestamp,
        method: RotationMethod,
        #[serde(with = "crate::clock::plist_date")]
        first_at: Timestamp,
        attempts: u32,
        last_error: String,
        #[serde(with = "crate::clock::plist_date")]
        retry_at: Timestamp,
        escrow_before: Option<EscrowMark>,
        /// When Keywarden found that Escrow Buddy had run at a smart-card login and made no key:
        /// the retry then waits for a password login (`guards::password_login_awaited`), not
        /// for `retry_at` (issue 14, item 8). Absent for any other failure.
        #[serde(default, with = "crate::clock::plist_date::option")]
        smart_card_failed_at: Option<Timestamp>,
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
        self.asked().map(|a| a.first_at)
    }

    /// What a rotation that was asked for (Requested, or Failed and to be retried) says of its
    /// attempts.
    pub(crate) fn asked(&self) -> Option<Asked> {
        match self {
            Rotation::Requested {
                reason,
                since,
                method,
                first_at,
                attempts,
                ..
            }
            | Rotation::Failed {
                reason,
                since,
                method,
                first_at,
                attempts,
                ..
            } => Some(Asked {
                reason: *reason,
                since: *since,
                method: *method,
                first_at: *first_at,
                attempts: *attempts,
            }),
            Rotation::Idle | Rotation::Pending { .. } | Rotation::Confirmed { .. } => None,
        }
    }
}

/// A rotation that was asked for: its reason, since when it is wanted, how it was asked, when it
/// was first asked, and how many attempts failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asked {
    pub reason: Reason,
    pub since: Timestamp,
    pub method: RotationMethod,
    pub first_at: Timestamp,
    pub attempts: u32,
}
