//! What one observation means, each fact worked out once: the sections of the status, the
//! reasons to rotate and the problems all read them from here, so "is the key escrowed?" or "is
//! FileVault on?" cannot have two answers in one check.
//!
//! Facts are derived from the snapshot and the state *after* `lifecycle::note` has recorded this
//! observation in it (a new escrow file changes the key's history, a console user marks the boot).

use jiff::Timestamp;

use crate::guards;
use crate::observe::{Console, Snapshot};
use crate::rotation::EscrowBuddyFacts;
use crate::state::{EscrowMark, KeyUse, State};
use crate::status::EscrowState;
use crate::tools::profiles::ESCROW_PAYLOAD_TYPE;
use crate::tools::security::ESCROW_BUDDY_MECHANISM;

/// The facts of one check (`None` where a probe failed and the fact is unknown).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Facts {
    pub now: Timestamp,
    /// This boot's answer about key use: latched, or definite now.
    pub key_use: Option<KeyUse>,
    /// The user at the console (a local account other than root), as last seen.
    pub console_user: Option<String>,
    /// FileVault is on, not converting and not waiting for a restart (`guards::filevault_ready`).
    pub filevault_ready: Option<bool>,
    /// `fdesetup haspersonalrecoverykey`.
    pub key_present: Option<bool>,
    /// The key was used after it last changed (strictly after: the use is recorded when it is
    /// detected, after it happened at boot, so a key changed in that same second is a new key).
    pub used_since_change: bool,
    /// The escrow payload is installed (`guards::escrow_payload`).
    pub payload_installed: Option<bool>,
    /// The escrow payload's profile install date.
    pub payload_installed_at: Option<Timestamp>,
    /// Whether the current key was staged for escrow: `NotConfigured` (no payload), `Missing` (no
    /// escrow file, or one older than the payload: the payload escrows only keys made after it
    /// was installed, PLATFORM.md), `Staged`. `None`: a probe failed.
    pub escrow: Option<EscrowState>,
    /// The escrow file now (`Some(None)`: absent; `None`: could not tell).
    pub escrow_file: Option<Option<EscrowMark>>,
    pub escrow_buddy: EscrowBuddyFacts,
    /// The password reset after a recovery-key unlock is pending (`guards::in_password_reset`).
    pub in_password_reset: bool,
    /// A probe failed whose answer a critical problem depends on (FileVault's state, the key's
    /// presence and use this boot, the escrow payload and file): its `ToolFailed` is critical.
    pub critical_unknown: bool,
    /// Someone is at the console whom this observation could not name (no local record for the
    /// uid, or the user records could not be read): whether they logged in is not known.
    pub console_unnamed: bool,
}

impl Facts {
    pub(crate) fn derive(snap: &Snapshot, state: &State, now: Timestamp) -> Facts {
        let key_use = snap.key_use(state);
        let payload = snap
            .profiles
            .as_ref()
            .ok()
            .map(|p| guards::escrow_payload(p));
        let payload_installed_at = snap.profiles.as_ref().ok().and_then(|p| {
            p.iter()
                .find(|x| x.has_payload(ESCROW_PAYLOAD_TYPE))
                .and_then(|x| x.install_date)
        });
        let escrow_file: Option<Option<EscrowMark>> = snap.escrow_file.as_ref().ok().map(|f| {
            f.as_ref().map(|f| EscrowMark {
                modified_at: f.modified_at,
                sha256: f.sha256.clone(),
            })
        });
        // Known only when every probe of the Escrow section answered (the payload, its
        // `Location`, the file): the section is then fresh and shows this very fact, and a
        // rotation is never asked for on a section that is stale.
        let escrow_file_seen = escrow_file
            .as_ref()
            .filter(|_| snap.escrow_location.is_ok());
        let escrow = match (payload, escrow_file_seen) {
            (Some(false), Some(_)) => Some(EscrowState::NotConfigured),
            (Some(true), Some(None)) => Some(EscrowState::Missing),
            (Some(true), Some(Some(f)))
                if payload_installed_at.is_some_and(|at| f.modified_at < at) =>
            {
                Some(EscrowState::Missing)
            }
            (Some(true), Some(Some(_))) => Some(EscrowState::Staged),
            (None, _) | (_, None) => None,
        };
        let escrow_buddy = match &snap.escrow_buddy {
            Ok(Some(eb)) => EscrowBuddyFacts {
                installed: true,
                mechanism_registered: eb
                    .mechanisms
                    .as_ref()
                    .ok()
                    .map(|m| m.iter().any(|x| x == ESCROW_BUDDY_MECHANISM)),
                flag: eb.generate_new_key.as_ref().ok().copied(),
            },
            Ok(None) | Err(_) => EscrowBuddyFacts::ABSENT,
        };
        let human_login_this_boot = state.boot.as_ref().is_some_and(|b| b.console_user_seen);
        Facts {
            now,
            key_use,
            console_user: state.logins.console_now.clone(),
            filevault_ready: snap.filevault.as_ref().ok().map(guards::filevault_ready),
            key_present: snap.personal_key.as_ref().ok().copied(),
            used_since_change: state
                .keys
                .last_used_at
                .is_some_and(|u| state.keys.last_changed_at.is_none_or(|c| u > c)),
            payload_installed: payload,
            payload_installed_at,
            escrow,
            escrow_file,
            escrow_buddy,
            in_password_reset: guards::in_password_reset(key_use, human_login_this_boot),
            critical_unknown: snap.filevault.is_err()
                || snap.personal_key.is_err()
                || matches!(snap.using_recovery_key, Some(Err(_)))
                || snap.boot_session.is_err()
                || snap.profiles.is_err()
                || snap.escrow_file.is_err()
                || snap.escrow_location.is_err(),
            console_unnamed: matches!(snap.console, Ok(Console::Uid(_)))
                && console_user_name(snap, &mut Vec::new()).is_none(),
        }
    }
}

/// The console user's name: the owner of `/dev/console` when a local account has that uid.
/// Root at the console is nobody logged in (ARCHITECTURE.md), whatever its UID shows as. A uid
/// without a local record is reported in `errors`.
pub(crate) fn console_user_name(snap: &Snapshot, errors: &mut Vec<String>) -> Option<String> {
    let Ok(Console::Uid(uid)) = &snap.console else {
        return None;
    };
    let users = snap.users.as_ref().ok()?;
    match users.iter().find(|u| u.uid == i64::from(*uid)) {
        Some(u) if u.name == "root" => None,
        Some(u) => Some(u.name.clone()),
        None => {
            errors.push(format!(
                "/dev/console: owned by uid {uid}, which has no local user record"
            ));
            None
        }
    }
}
