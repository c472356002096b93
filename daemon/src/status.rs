//! The status plist, schema version 1: the contract with MDM inventory (ARCHITECTURE.md,
//! "Status plist"; every key documented in `docs/status.md`, pinned by golden files).
//!
//! `/Library/Keywarden/status.plist`, XML, 0644, PascalCase keys, whole-second dates, written
//! atomically and never through a symlink. Additive changes only within a version. Every section
//! carries `ObservedAt` (when its values were observed) and `Stale` (its probe failed this time
//! and the values are the last good ones). No secret can reach it: the key type has no
//! `Serialize`.
//!
//! This module owns the format, reading and writing; `decide` fills it in.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::RotationMethod;
use crate::files::{self, FileError, Owners, Trust};
use crate::paths::{self, Root};

pub(crate) const SCHEMA_VERSION: u32 = 2;
const MAX_STATUS_BYTES: u64 = 8 * 1024 * 1024;

/// A problem code (stable: MDM smart groups match on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Problem {
    FileVaultOff,
    RecoveryKeyMissing,
    RecoveryKeyUsed,
    RecoveryKeyNotEscrowed,
    EscrowProfileMissing,
    RotationOverdue,
    RotationNeedsPasswordLogin,
    EscrowBuddyMechanismMissing,
    ConsoleUserWithoutSecureToken,
    AdditionalAdminWithSecureToken,
    NoHumanVolumeOwner,
    BootstrapTokenNotEscrowed,
    PlaintextKeyOnDisk,
    ToolFailed,
    /// The state file could not be used this check (moved aside, untrusted): reported, rebuilt.
    StateUnreadable,
    /// Another tool set Escrow Buddy's `GenerateNewKey` while the password reset that follows a
    /// recovery-key unlock is pending: a rotation at that login breaks the reset.
    RotationFlagDuringPasswordReset,
    /// Only dates say the key may not be staged for the installed escrow payload (the profile
    /// was installed after the escrow file), and no recipient comparison settles it (issue 14).
    EscrowUnconfirmed,
    /// A computer-level profile could not be read (named in `Daemon.Errors`); the escrow check
    /// stands when it does not carry the escrow payload (issue 14, item 6).
    ProfileUnreadable,
}

impl Problem {
    pub const ALL: [Problem; 18] = [
        Problem::FileVaultOff,
        Problem::RecoveryKeyMissing,
        Problem::RecoveryKeyUsed,
        Problem::RecoveryKeyNotEscrowed,
        Problem::EscrowProfileMissing,
        Problem::RotationOverdue,
        Problem::RotationNeedsPasswordLogin,
        Problem::EscrowBuddyMechanismMissing,
        Problem::ConsoleUserWithoutSecureToken,
        Problem::AdditionalAdminWithSecureToken,
        Problem::NoHumanVolumeOwner,
        Problem::BootstrapTokenNotEscrowed,
        Problem::PlaintextKeyOnDisk,
        Problem::ToolFailed,
        Problem::StateUnreadable,
        Problem::RotationFlagDuringPasswordReset,
        Problem::EscrowUnconfirmed,
        Problem::ProfileUnreadable,
    ];

    /// Whether the code endangers recovery and so makes the Mac unhealthy (`Problems`), or is
    /// hygiene a healthy fleet may carry (`Warnings`) (issue 14, item 4). `ToolFailed` is
    /// critical only when the failed probe leaves a critical fact unknown: `decide` says which.
    pub fn critical(self) -> bool {
        match self {
            // Recovery itself: the disk is not protected, there is no key, the key was seen, the
            // MDM certainly has no copy (or cannot get new ones), a replacement is overdue, or
            // the password reset after an unlock is about to be broken.
            Problem::FileVaultOff
            | Problem::RecoveryKeyMissing
            | Problem::RecoveryKeyUsed
            | Problem::RecoveryKeyNotEscrowed
            | Problem::EscrowProfileMissing
            | Problem::RotationOverdue
            | Problem::RotationFlagDuringPasswordReset => true,
            // Hygiene and Keywarden's own troubles.
            Problem::RotationNeedsPasswordLogin
            | Problem::EscrowBuddyMechanismMissing
            | Problem::ConsoleUserWithoutSecureToken
            | Problem::AdditionalAdminWithSecureToken
            | Problem::NoHumanVolumeOwner
            | Problem::BootstrapTokenNotEscrowed
            | Problem::PlaintextKeyOnDisk
            | Problem::ToolFailed
            | Problem::StateUnreadable
            | Problem::EscrowUnconfirmed
            | Problem::ProfileUnreadable => false,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Problem::FileVaultOff => "FileVaultOff",
            Problem::RecoveryKeyMissing => "RecoveryKeyMissing",
            Problem::RecoveryKeyUsed => "RecoveryKeyUsed",
            Problem::RecoveryKeyNotEscrowed => "RecoveryKeyNotEscrowed",
            Problem::EscrowProfileMissing => "EscrowProfileMissing",
            Problem::RotationOverdue => "RotationOverdue",
            Problem::RotationNeedsPasswordLogin => "RotationNeedsPasswordLogin",
            Problem::EscrowBuddyMechanismMissing => "EscrowBuddyMechanismMissing",
            Problem::ConsoleUserWithoutSecureToken => "ConsoleUserWithoutSecureToken",
            Problem::AdditionalAdminWithSecureToken => "AdditionalAdminWithSecureToken",
            Problem::NoHumanVolumeOwner => "NoHumanVolumeOwner",
            Problem::BootstrapTokenNotEscrowed => "BootstrapTokenNotEscrowed",
            Problem::PlaintextKeyOnDisk => "PlaintextKeyOnDisk",
            Problem::ToolFailed => "ToolFailed",
            Problem::StateUnreadable => "StateUnreadable",
            Problem::RotationFlagDuringPasswordReset => "RotationFlagDuringPasswordReset",
            Problem::EscrowUnconfirmed => "EscrowUnconfirmed",
            Problem::ProfileUnreadable => "ProfileUnreadable",
        }
    }
}

/// The whole status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    pub schema_version: u32,
    #[serde(with = "crate::clock::plist_date")]
    pub generated_at: Timestamp,
    pub version: String,
    /// `Problems` is empty: nothing endangers recovery.
    pub healthy: bool,
    /// The critical codes (`Problem::critical`).
    pub problems: Vec<Problem>,
    /// The hygiene codes: reported, and not unhealthy (schema 2).
    #[serde(default)]
    pub warnings: Vec<Problem>,
    pub host: Host,
    pub file_vault: FileVault,
    pub recovery_key: RecoveryKey,
    pub escrow: Escrow,
    pub rotation: Rotation,
    pub secure_token: SecureToken,
    pub bootstrap_token: BootstrapToken,
    pub daemon: Daemon,
}

/// `ObservedAt` and `Stale`, common to every section. (Plain fields in each section rather than
/// a flattened struct: `#[serde(flatten)]` next to `Option` fields fails to deserialize with the
/// plist crate, TOOLCHAIN.md.)
pub(crate) trait Section: Default + Clone {
    fn observed_at(&self) -> Option<Timestamp>;
    fn set_observed(&mut self, at: Option<Timestamp>, stale: bool);
}

/// A section of the status: the struct with its fields, then `ObservedAt` (when its values were
/// observed) and `Stale` (its probe failed this time and the values are the last good ones),
/// which every section ends with.
macro_rules! section {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        $(#[$meta])*
        pub struct $name {
            $($fields)*
            #[serde(default, with = "crate::clock::plist_date::option")]
            pub observed_at: Option<Timestamp>,
            #[serde(default)]
            pub stale: bool,
        }

        impl Section for $name {
            fn observed_at(&self) -> Option<Timestamp> {
                self.observed_at
            }
            fn set_observed(&mut self, at: Option<Timestamp>, stale: bool) {
                self.observed_at = at;
                self.stale = stale;
            }
        }
    };
}

section! {
pub struct Host {
    #[serde(rename = "OSVersion")]
    pub os_version: Option<String>,
    #[serde(rename = "OSBuild")]
    pub os_build: Option<String>,
    pub apple_silicon: Option<bool>,
    #[serde(rename = "BootSessionUUID")]
    pub boot_session_uuid: Option<String>,
}}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FileVaultState {
    On,
    Off,
    Encrypting,
    Decrypting,
    Deferred,
    #[default]
    Unknown,
}

section! {
pub struct FileVault {
    pub state: FileVaultState,
    pub restart_required: Option<bool>,
    /// Absent when unknown or pending.
    pub percent_complete: Option<f64>,
    pub institutional_key_present: Option<bool>,
    pub master_keychain_installed: Option<bool>,
    pub deferred_user: Option<String>,
    /// Path of a plaintext key file left by deferred enablement (its value is never read).
    pub plaintext_key_file: Option<String>,
}}

/// What Keywarden can say of the key. Never a claim about the MDM's copy, which it cannot see:
/// `Staged` is as far as its evidence goes (schema 2 renamed schema 1's `Valid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum KeyState {
    /// A key is present and unused since it changed, and its escrow file is there for the MDM to
    /// collect. Reads schema 1's `Valid` too, so a status written before an upgrade stays
    /// readable.
    #[serde(alias = "Valid")]
    Staged,
    /// Present and unused since it changed; escrow is not checked (`EscrowOutsideMDM`), so
    /// nothing more is claimed (schema 2).
    Unused,
    Used,
    Missing,
    NotEscrowed,
    #[default]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UseDetection {
    Supported,
    NotSupported,
    #[default]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationResult {
    Valid,
    Invalid,
}

section! {
pub struct RecoveryKey {
    pub present: Option<bool>,
    pub state: KeyState,
    /// Absent until this boot has a definite answer.
    pub used_this_boot: Option<bool>,
    pub use_detection: UseDetection,
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub last_used_at: Option<Timestamp>,
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub last_changed_at: Option<Timestamp>,
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub last_validated_at: Option<Timestamp>,
    pub last_validation: Option<ValidationResult>,
}}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EscrowState {
    /// The escrow file for the current key is there for the installed payload's MDM to collect
    /// (`Escrow.Evidence` says how that was established).
    Staged,
    /// Certainly not staged for the installed payload: no escrow file, or one encrypted to
    /// another certificate.
    Missing,
    /// Only dates say it may not be: the profile was installed after the file, and no recipient
    /// comparison settles it (schema 2).
    Unconfirmed,
    NotConfigured,
    /// `EscrowOutsideMDM`: keys are escrowed outside the MDM; not checked (schema 2).
    External,
    #[default]
    Unknown,
}

section! {
pub struct Escrow {
    pub profile_installed: Option<bool>,
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub profile_installed_at: Option<Timestamp>,
    pub location: Option<String>,
    #[serde(rename = "FileVaultPRKPresent")]
    pub filevault_prk_present: Option<bool>,
    #[serde(
        rename = "FileVaultPRKModifiedAt",
        default,
        with = "crate::clock::plist_date::option"
    )]
    pub filevault_prk_modified_at: Option<Timestamp>,
    /// Hex SHA-256 of the escrow file, for an MDM that keeps the blob it collected (schema 2).
    #[serde(rename = "FileSHA256")]
    pub file_sha256: Option<String>,
    /// Whom the escrow file is encrypted to: `issuer=...; serial=...` or
    /// `subjectKeyIdentifier=...` (schema 2).
    pub recipient: Option<String>,
    /// Why the escrow file names no recipient (not CMS enveloped data, ...) (schema 2).
    pub file_problem: Option<String>,
    /// The installed escrow payload's certificate, as a recipient would name it (schema 2).
    pub certificate: Option<String>,
    /// Why the payload's certificate is not known (`profiles` does not show it) (schema 2).
    pub certificate_problem: Option<String>,
    pub state: EscrowState,
    /// How `State` was established, in one sentence (schema 2).
    pub evidence: Option<String>,
}}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RotationStateName {
    #[default]
    Idle,
    Pending,
    Requested,
    Confirmed,
    Failed,
}

/// Why a key should be replaced: `Rotation.Reason` in the status, and the reason the rotation
/// state machine carries (persisted in the state under the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Reason {
    /// The key unlocked the Mac (request).
    KeyUsed,
    /// The key was certainly not staged for the installed escrow payload (`Escrow.State`
    /// `Missing`): no escrow file, or one encrypted to another certificate (request).
    NotEscrowed,
    /// Only dates say the key may not be staged (`EscrowUnconfirmed`); a reason only with
    /// `RotateWhenEscrowUnconfirmed` (request).
    EscrowUnconfirmed,
    /// An admin asked: `keywarden rotate --request` or a new `RotationRequestID` (request).
    AdminRequest,
    /// The key is older than `MaxKeyAgeDays` (request; off unless set).
    MaxAgeReached,
    /// FileVault is on and there is no key, two checks in a row (report only).
    KeyMissing,
    /// A supplied key did not validate (report only: never rotates by itself).
    ValidationFailed,
}

impl Reason {
    /// Every reason (for the docs' and the decision tables' tests: each must be covered).
    pub const ALL: [Reason; 7] = [
        Reason::KeyUsed,
        Reason::NotEscrowed,
        Reason::EscrowUnconfirmed,
        Reason::AdminRequest,
        Reason::MaxAgeReached,
        Reason::KeyMissing,
        Reason::ValidationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::KeyUsed => "KeyUsed",
            Reason::NotEscrowed => "NotEscrowed",
            Reason::EscrowUnconfirmed => "EscrowUnconfirmed",
            Reason::AdminRequest => "AdminRequest",
            Reason::MaxAgeReached => "MaxAgeReached",
            Reason::KeyMissing => "KeyMissing",
            Reason::ValidationFailed => "ValidationFailed",
        }
    }

    /// Whether this reason asks for a rotation, or only reports.
    pub(crate) fn requests(self) -> bool {
        match self {
            Reason::KeyUsed
            | Reason::NotEscrowed
            | Reason::EscrowUnconfirmed
            | Reason::AdminRequest
            | Reason::MaxAgeReached => true,
            Reason::KeyMissing | Reason::ValidationFailed => false,
        }
    }
}

section! {
pub struct Rotation {
    pub state: RotationStateName,
    pub reason: Option<Reason>,
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub pending_since: Option<Timestamp>,
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub requested_at: Option<Timestamp>,
    pub method: Option<RotationMethod>,
    #[serde(default)]
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Why a pending rotation has not been requested yet.
    pub waiting: Option<String>,
    /// Why the method is not Escrow Buddy, listed before it (no SecureToken for the user who logs
    /// in, no login mechanism) (schema 2).
    pub method_note: Option<String>,
    /// When a failed rotation is tried again.
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub retry_at: Option<Timestamp>,
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub last_rotated_at: Option<Timestamp>,
}}

/// One human account.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenUser {
    pub name: String,
    #[serde(rename = "UID")]
    pub uid: i64,
    pub admin: bool,
    /// Absent when not known (the probe failed or disagreed with the crypto users).
    pub secure_token: Option<bool>,
    /// Absent on macOS versions whose crypto-user list does not say.
    pub volume_owner: Option<bool>,
    pub hidden: bool,
    pub smart_card: bool,
}

section! {
pub struct SecureToken {
    #[serde(default)]
    pub users: Vec<TokenUser>,
    pub console_user: Option<String>,
    pub console_user_has_token: Option<bool>,
    /// The console owner's uid when a person is logged in whom no single local record names (a
    /// network account, a uid several records share: issue 16, item 5), or an owner that cannot
    /// be named at all, so a reader never takes the absent `ConsoleUser` for nobody.
    #[serde(rename = "ConsoleUID")]
    pub console_uid: Option<u32>,
    #[serde(default)]
    pub users_without_token: Vec<String>,
    #[serde(default)]
    pub additional_admins_with_token: Vec<String>,
    pub human_volume_owners: Option<u32>,
}}

section! {
pub struct BootstrapToken {
    pub supported: Option<bool>,
    pub escrowed: Option<bool>,
}}

section! {
pub struct Daemon {
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub last_check_at: Option<Timestamp>,
    #[serde(default, with = "crate::clock::plist_date::option")]
    pub next_check_at: Option<Timestamp>,
    #[serde(default)]
    pub check_duration_ms: u64,
    #[serde(default)]
    pub resident_memory_bytes: u64,
    #[serde(rename = "CPUSeconds", default)]
    pub cpu_seconds: f64,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub config_warnings: Vec<String>,
}}

impl Status {
    /// Add a code found after `decide` (a state that could not be saved): in `Problems` or
    /// `Warnings` by its severity, once, sorted, with `Healthy` kept true to `Problems`.
    pub fn raise(&mut self, p: Problem) {
        let list = if p.critical() {
            &mut self.problems
        } else {
            &mut self.warnings
        };
        if !list.contains(&p) {
            list.push(p);
            list.sort();
        }
        self.healthy = self.problems.is_empty();
    }

    /// The plist bytes, as written to disk.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut out = crate::plistio::to_xml(self)
            .expect("the status serialises: strings, numbers, booleans, whole-second dates");
        out.push(b'\n');
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Status, String> {
        crate::plistio::from_bytes(bytes).map_err(|e| e.to_string())
    }

    /// One line of short words for the states, for `keywarden check` and the log.
    pub fn one_line(&self) -> String {
        let s = self;
        let fv = match s.file_vault.state {
            FileVaultState::On => "on",
            FileVaultState::Off => "off",
            FileVaultState::Encrypting => "encrypting",
            FileVaultState::Decrypting => "decrypting",
            FileVaultState::Deferred => "deferred",
            FileVaultState::Unknown => "unknown",
        };
        let key = match s.recovery_key.state {
            KeyState::Staged => "staged",
            KeyState::Unused => "unused",
            KeyState::Used => "used",
            KeyState::Missing => "missing",
            KeyState::NotEscrowed => "not-escrowed",
            KeyState::Unknown => "unknown",
        };
        let escrow = match s.escrow.state {
            EscrowState::Staged => "staged",
            EscrowState::Missing => "missing",
            EscrowState::Unconfirmed => "unconfirmed",
            EscrowState::NotConfigured => "not-configured",
            EscrowState::External => "external",
            EscrowState::Unknown => "unknown",
        };
        format!(
            "filevault={fv} key={key} escrow={escrow} rotation={:?}",
            s.rotation.state
        )
    }
}

/// Write the status of the Mac under `root` (creating `/Library/Keywarden` 0755 if needed).
pub(crate) fn write(root: &Root, owners: Owners, status: &Status) -> Result<(), FileError> {
    let path = root.resolve(paths::STATUS);
    if let Some(dir) = path.parent() {
        files::ensure_dir(dir, 0o755, false, owners)?;
    }
    files::write_atomic(&path, &status.to_xml(), 0o644)
}

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path} does not exist: Keywarden has not written a status yet (is it installed and running?)")]
    Missing { path: String },
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path} is not a readable status plist: {why}")]
    Malformed { path: String, why: String },
}

/// Read the raw status plist (for `ea` and `status --json`, which must work for any user). It
/// must be a status, not just a plist: a dictionary with an integer `SchemaVersion` and a date
/// `GeneratedAt` at its top. A NUL-filled file parses as one long string, and was printed by
/// `status --json` and read as `Stale` by `ea` while `status` and `doctor` refused it; every
/// reader now refuses it alike (issue 16, item 7). No more than that is asked, so that a status
/// written by a newer Keywarden, with values this one does not know, still reads.
pub fn read_value(root: &Root) -> Result<plist::Value, ReadError> {
    let path = root.resolve(paths::STATUS);
    let malformed = |why: String| ReadError::Malformed {
        path: path.display().to_string(),
        why,
    };
    let bytes = files::read_file(&path, MAX_STATUS_BYTES, Trust::Any)?.ok_or_else(|| {
        ReadError::Missing {
            path: path.display().to_string(),
        }
    })?;
    let value = crate::plistio::value_from_bytes(&bytes).map_err(|e| malformed(e.to_string()))?;
    let top = value.as_dictionary();
    let versioned = top
        .and_then(|d| d.get("SchemaVersion"))
        .is_some_and(|v| v.as_signed_integer().is_some());
    let dated = top
        .and_then(|d| d.get("GeneratedAt"))
        .is_some_and(|v| v.as_date().is_some());
    if !(versioned && dated) {
        return Err(malformed(
            "not a Keywarden status (no SchemaVersion and GeneratedAt at its top)".to_owned(),
        ));
    }
    Ok(value)
}

/// Read the typed status, for display (any user, any owner: the status holds no secret and
/// `status`/`doctor` only show it).
pub fn read(root: &Root) -> Result<Status, ReadError> {
    read_with(root, Trust::Any)
}

/// Read the previous status as the check does: its last good values are carried into the new
/// status, so as root only a file owned by root and not writable by others is used.
pub(crate) fn read_trusted(root: &Root, owners: Owners) -> Result<Status, ReadError> {
    read_with(root, Trust::Owned(owners))
}

fn read_with(root: &Root, trust: Trust) -> Result<Status, ReadError> {
    let path = root.resolve(paths::STATUS);
    let bytes =
        files::read_file(&path, MAX_STATUS_BYTES, trust)?.ok_or_else(|| ReadError::Missing {
            path: path.display().to_string(),
        })?;
    Status::from_bytes(&bytes).map_err(|why| ReadError::Malformed {
        path: path.display().to_string(),
        why,
    })
}
