//! The parts of the state, each with one writer. Reading is open to all; a part changes only in
//! the module its comment names, through the methods here, so "who changed this?" has one answer.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::audit::What;
use crate::status::ValidationResult;

use super::rotation::{CertMark, EscrowMark};

/// What Keywarden knows about one boot. Writer: `decide`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BootRecord {
    #[serde(rename = "SessionUUID")]
    pub session_uuid: String,
    #[serde(with = "crate::clock::plist_date")]
    pub first_seen_at: Timestamp,
    /// The definite answer of `usingrecoverykey` for this boot, latched once known.
    pub key_use: Option<KeyUse>,
    /// A non-root console user has been seen during this boot.
    #[serde(default)]
    pub console_user_seen: bool,
    /// Someone else's `GenerateNewKey` during this boot's password reset was reported.
    #[serde(default)]
    pub foreign_flag_reported: bool,
}

/// A definite answer about key use in one boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyUse {
    Used,
    NotUsed,
    NotSupported,
}

/// The key's history as Keywarden saw it: when it was used and changed, the escrow file that
/// marks the current key, and how long it has been missing. The OS forgets uses at reboot;
/// Keywarden must not. Writer: `decide`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyHistory {
    /// The last time the key was seen in use.
    pub last_used_at: Option<Timestamp>,
    /// When the key last changed (a new escrow file appeared).
    pub last_changed_at: Option<Timestamp>,
    /// The escrow file as last seen: a different one means a new key was staged.
    pub escrow_seen: Option<EscrowMark>,
    /// Certificates of the escrow payload seen installed, oldest first
    /// (`decide::escrow::remember`).
    pub escrow_certificates: Vec<CertMark>,
    /// The last check that saw no escrow payload installed (`decide::escrow`: a key made after
    /// the escrow file and in that gap was never staged).
    pub escrow_payload_absent_at: Option<Timestamp>,
    /// Checks in a row that saw FileVault on and no personal recovery key.
    pub missing_streak: u32,
    /// When a rotation was last confirmed.
    pub last_rotated_at: Option<Timestamp>,
    /// The deferral output path last reported by `showdeferralinfo`: once FileVault is on, the
    /// plaintext key file may remain there (PLATFORM.md).
    pub deferral_output_path: Option<String>,
}

/// Who has been at the console. Writer: `decide`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Logins {
    /// The console user at the last check (`None`: nobody), to notice logins.
    pub console_now: Option<String>,
    /// The uid of a person at the console at the last check whom no single local record names
    /// (a network account, a uid two records share: `guards::AtConsole::Someone`), to notice
    /// their login (issue 16, item 5). `console_now` is then `None`.
    pub console_uid_now: Option<u32>,
    /// The last non-root console user seen (AdditionalAdminsWithToken excludes them when nobody
    /// is logged in).
    pub last_console_user: Option<String>,
    /// When a console login was last seen (a console user appeared or changed, or Escrow Buddy
    /// consumed the flag).
    pub last_login_at: Option<Timestamp>,
    /// How many logins Keywarden has seen (to order them against requests: a login and a request
    /// can share a second).
    pub count: u64,
}

impl Logins {
    /// A login at `now`.
    pub(crate) fn login(&mut self, now: Timestamp) {
        self.count += 1;
        self.last_login_at = Some(now);
    }
}

/// Whether Escrow Buddy's `GenerateNewKey` is Keywarden's: only a flag Keywarden set is ever
/// withdrawn by it, and the uninstaller reads the same key. Writer: `decide` (which also folds in
/// what `act` did).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlagOwnership {
    /// When Keywarden set it (or was about to: recorded with the outbox, before the write).
    pub set_at: Option<Timestamp>,
}

impl FlagOwnership {
    pub(crate) fn is_ours(&self) -> bool {
        self.set_at.is_some()
    }
}

/// An effect for `act`, carried out after the new state is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// `defaults write ... GenerateNewKey -bool true`, then read it back.
    SetFlag,
    /// `defaults delete ... GenerateNewKey` (only a flag Keywarden set), then read it back.
    WithdrawFlag,
    /// Run `RotationCommand` (as root, no shell).
    RunCommand,
    /// Append to the audit trail: what, result.
    Audit(What, String),
}

/// An effect waiting in the outbox.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pending {
    pub id: u64,
    pub effect: Effect,
    /// The boot session (`kern.bootsessionuuid`) the effect was decided in: only an effect of
    /// the current boot is ever replayed (issue 14, item 2). `None`: decided while the boot could
    /// not be read, or by a Keywarden older than the field; such an effect is never replayed
    /// either (`decide::boot`). Optional, so older state files load, and older Keywardens ignore
    /// it.
    #[serde(default)]
    pub boot: Option<String>,
}

/// Effects decided and not yet done: saved before acting, replayed by the next check of the same
/// boot after a kill, cleared when done; an effect of an earlier boot is never replayed
/// (`decide::boot`). Audit events carry their id, so a replay writes each once. Writer:
/// `decide`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outbox {
    pub pending: Vec<Pending>,
    /// The id the next effect gets.
    pub next_id: u64,
}

impl Outbox {
    /// Put effects decided in boot session `boot` in the outbox, each with a fresh id.
    pub(crate) fn enqueue(&mut self, effects: Vec<Effect>, boot: Option<&str>) {
        for effect in effects {
            self.pending.push(Pending {
                id: self.next_id,
                effect,
                boot: boot.map(str::to_owned),
            });
            self.next_id += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The last `keywarden validate` (never the key). Writer: `validate`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidationRecord {
    pub last_at: Option<Timestamp>,
    pub last: Option<ValidationResult>,
}

/// Rotations an admin asked for. Writers: `rotate --request` asks (`ask`); `decide` takes a new
/// `RotationRequestID` and clears a request a new key answered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdminRequests {
    /// The `RotationRequestID` last acted on (a new value requests one rotation).
    pub last_request_id: Option<String>,
    /// A request not yet answered by a new key.
    pub pending_since: Option<Timestamp>,
}

impl AdminRequests {
    /// Take `id` as already acted on, as the audit trail recorded it (`seen`): answered, or still
    /// standing since it was first acted on. For a state file lost, moved aside or restored from
    /// an older copy, which would otherwise honour the same ID twice (issue 16, item 6).
    pub(crate) fn recall(&mut self, id: &str, seen: &crate::audit::RequestSeen) {
        self.last_request_id = Some(id.to_owned());
        self.pending_since = (!seen.answered).then_some(seen.at);
    }
}
