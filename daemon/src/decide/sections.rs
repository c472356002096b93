//! The sections of the status from one check: fresh values where every probe of a section
//! answered (`ObservedAt` = now), else the last good values of the previous status marked
//! `Stale` (inventory must not flap), else an unknown section (`State = Unknown`).
//!
//! Values come from the snapshot, the state and the facts (`facts`); nothing is worked out here
//! that another part of `decide` also works out.

use jiff::Timestamp;

use crate::config::Config;
use crate::guards;
use crate::observe::Snapshot;
use crate::state::{KeyUse, Rotation as RotationState, State};
use crate::status::{
    BootstrapToken, Escrow, EscrowState, FileVault, FileVaultState, Host, KeyState, RecoveryKey,
    Rotation, Section, SecureToken, TokenUser, UseDetection,
};
use crate::tools::diskutil::LocalCryptoUsers;
use crate::tools::fdesetup::Conversion;
use crate::tools::profiles::EscrowCertificateSeen;

use super::facts::{self, Facts};

/// Fresh values observed now, or the last good ones marked stale, or an unknown section.
pub(super) fn carry<T: Section>(fresh: Option<T>, previous: Option<&T>, now: Timestamp) -> T {
    match (fresh, previous) {
        (Some(mut s), _) => {
            s.set_observed(Some(now), false);
            s
        }
        (None, Some(p)) if p.observed_at().is_some() => {
            let mut s = p.clone();
            s.set_observed(p.observed_at(), true);
            s
        }
        (None, _) => {
            let mut s = T::default();
            s.set_observed(None, true);
            s
        }
    }
}

pub(super) fn fresh_host(snap: &Snapshot) -> Option<Host> {
    Some(Host {
        os_version: Some(snap.os_version.clone().ok()?),
        os_build: Some(snap.os_build.clone().ok()?),
        apple_silicon: Some(*snap.apple_silicon.as_ref().ok()?),
        boot_session_uuid: Some(snap.boot_session.clone().ok()?),
        ..Default::default()
    })
}

pub(super) fn fresh_file_vault(snap: &Snapshot) -> Option<FileVault> {
    let st = snap.filevault.as_ref().ok()?;
    let irk = *snap.institutional_key.as_ref().ok()?;
    let (state, percent) = match (&st.conversion, st.on, &st.deferred) {
        (Some(Conversion::Encrypting { percent }), _, _) => (FileVaultState::Encrypting, *percent),
        (Some(Conversion::Decrypting { percent }), _, _) => (FileVaultState::Decrypting, *percent),
        (None, true, _) => (FileVaultState::On, None),
        (None, false, Some(_)) => (FileVaultState::Deferred, None),
        (None, false, None) => (FileVaultState::Off, None),
    };
    Some(FileVault {
        state,
        restart_required: Some(st.restart_required),
        percent_complete: percent,
        institutional_key_present: Some(irk),
        master_keychain_installed: Some(st.master_keychain),
        deferred_user: st.deferred.as_ref().and_then(|d| d.user.clone()),
        plaintext_key_file: snap.plaintext_key_files.first().cloned(),
        ..Default::default()
    })
}

pub(super) fn fresh_recovery_key(
    snap: &Snapshot,
    facts: &Facts,
    state: &State,
) -> Option<RecoveryKey> {
    let present = *snap.personal_key.as_ref().ok()?;
    let (used_this_boot, use_detection) = match facts.key_use {
        Some(KeyUse::Used) => (Some(true), UseDetection::Supported),
        Some(KeyUse::NotUsed) => (Some(false), UseDetection::Supported),
        Some(KeyUse::NotSupported) => (None, UseDetection::NotSupported),
        None => (None, UseDetection::Unknown),
    };
    Some(RecoveryKey {
        present: Some(present),
        state: KeyState::Unknown,
        used_this_boot,
        use_detection,
        last_used_at: state.keys.last_used_at,
        last_changed_at: state.keys.last_changed_at,
        last_validated_at: state.validation.last_at,
        last_validation: state.validation.last,
        ..Default::default()
    })
}

/// The key's state, worst first: Missing, Used (used since it last changed: after a rotation in
/// the same boot `usingrecoverykey` may still say true, PLATFORM.md, but the key is new),
/// NotEscrowed, Staged. `escrow` is the section as published (perhaps carried, stale).
pub(super) fn key_state(present: Option<bool>, facts: &Facts, escrow: &Escrow) -> KeyState {
    match present {
        None => return KeyState::Unknown,
        Some(false) => return KeyState::Missing,
        Some(true) => {}
    }
    if facts.used_since_change {
        return KeyState::Used;
    }
    match escrow.state {
        EscrowState::Missing | EscrowState::NotConfigured => KeyState::NotEscrowed,
        EscrowState::Unknown => KeyState::Unknown,
        // Unconfirmed: the file is there, only dates question it (a warning, not a claim).
        EscrowState::Staged | EscrowState::Unconfirmed => KeyState::Staged,
        // Escrow is not checked: present and unused is all that was seen.
        EscrowState::External => KeyState::Unused,
    }
}

pub(super) fn fresh_escrow(snap: &Snapshot, facts: &Facts) -> Option<Escrow> {
    let judged = facts.escrow.as_ref()?;
    let location = snap.escrow_location.as_ref().ok()?;
    let file = snap.escrow_file.as_ref().ok()?;
    let certificate = snap
        .profiles
        .as_ref()
        .ok()
        .and_then(guards::escrow_profile)
        .and_then(|p| p.escrow_certificate.as_ref());
    Some(Escrow {
        profile_installed: facts.payload_installed,
        profile_installed_at: facts.payload_installed_at,
        location: location.clone(),
        filevault_prk_present: Some(file.is_some()),
        filevault_prk_modified_at: file.as_ref().map(|f| f.modified_at),
        file_sha256: file.as_ref().map(|f| f.sha256.clone()),
        recipient: file
            .as_ref()
            .and_then(|f| f.recipient.as_ref().ok())
            .map(ToString::to_string),
        file_problem: file
            .as_ref()
            .and_then(|f| f.recipient.as_ref().err())
            .map(ToString::to_string),
        certificate: match certificate {
            Some(EscrowCertificateSeen::Shown(c)) => Some(c.recipient().to_string()),
            Some(EscrowCertificateSeen::Unknown(_)) | None => None,
        },
        certificate_problem: match certificate {
            Some(EscrowCertificateSeen::Unknown(why)) => Some(why.clone()),
            Some(EscrowCertificateSeen::Shown(_)) | None => None,
        },
        state: judged.state,
        evidence: Some(judged.evidence.clone()),
        ..Default::default()
    })
}

pub(super) fn fresh_bootstrap_token(snap: &Snapshot) -> Option<BootstrapToken> {
    snap.bootstrap.as_ref().ok().map(|b| BootstrapToken {
        supported: Some(b.supported),
        escrowed: b.escrowed,
        ..Default::default()
    })
}

pub(super) fn fresh_secure_token(
    snap: &Snapshot,
    config: &Config,
    facts: &Facts,
    errors: &mut Vec<String>,
) -> Option<SecureToken> {
    let users = snap.users.as_ref().ok()?;
    let admins = snap.admins.as_ref().ok()?;
    let crypto = snap.crypto_users.as_ref().ok()?;
    snap.console.as_ref().ok()?;
    // A `sysadminctl` failure costs that user's token only (`facts::secure_token`; its probe
    // error names them): the section stays fresh for everyone else (issue 16, item 5).
    let local = LocalCryptoUsers::new(crypto);
    let mut out = Vec::new();
    for user in users.iter().filter(|u| u.is_human()) {
        let cu = local.get(user.generated_uid.as_deref());
        let token = facts::secure_token(snap, Some(&local), user).unwrap_or_else(|why| {
            errors.push(why);
            None
        });
        out.push(TokenUser {
            name: user.name.clone(),
            uid: user.uid,
            admin: admins.contains(&user.name),
            secure_token: token,
            volume_owner: cu.and_then(|c| c.volume_owner).or_else(|| {
                // Listed crypto users carry VolumeOwner on recent macOS; a user who is not a
                // crypto user cannot own the volume.
                (cu.is_none() && crypto.iter().any(|c| c.volume_owner.is_some())).then_some(false)
            }),
            hidden: user.hidden,
            smart_card: user.smart_card(),
        });
    }
    // Whose token is expected: the user who logs in (the console user, or with nobody logged in
    // the last one). With neither known (a fresh install at the login window, Setup Assistant)
    // no admin can be called additional: reporting the Mac's only user would be a guess.
    let console = facts.console_user.as_deref();
    let reference = facts.login_user.as_deref();
    let console_user_has_token = console
        .and_then(|c| out.iter().find(|u| u.name == c))
        .and_then(|u| u.secure_token);
    let users_without_token = out
        .iter()
        .filter(|u| u.secure_token == Some(false))
        .map(|u| u.name.clone())
        .collect();
    let additional_admins_with_token = out
        .iter()
        .filter(|_| reference.is_some())
        .filter(|u| u.admin && u.secure_token == Some(true))
        .filter(|u| Some(u.name.as_str()) != reference)
        .filter(|u| !config.expects_token_admin(&u.name))
        .map(|u| u.name.clone())
        .collect();
    let knows_owners = crypto.iter().any(|c| c.volume_owner.is_some());
    let human_volume_owners =
        knows_owners.then(|| out.iter().filter(|u| u.volume_owner == Some(true)).count() as u32);
    Some(SecureToken {
        users: out,
        console_user: console.map(str::to_owned),
        console_user_has_token,
        console_uid: facts::unnamed_at_console(snap),
        users_without_token,
        additional_admins_with_token,
        human_volume_owners,
        ..Default::default()
    })
}

/// The status's Rotation section, from the persisted rotation state.
pub(crate) fn rotation_section(state: &State, now: Timestamp) -> Rotation {
    use RotationState as R;
    let mut out = Rotation {
        state: state.rotation.name(),
        last_rotated_at: state.keys.last_rotated_at,
        observed_at: Some(now),
        ..Default::default()
    };
    // A request made (Requested) or failed (Failed) shows the same facts of its attempts.
    if let Some(a) = state.rotation.asked() {
        out.reason = Some(a.reason);
        out.pending_since = Some(a.since);
        out.requested_at = Some(a.first_at);
        out.method = Some(a.method);
        out.attempts = a.attempts;
    }
    match &state.rotation {
        R::Idle => {}
        R::Pending {
            reason,
            since,
            waiting,
            method,
        } => {
            out.reason = Some(*reason);
            out.pending_since = Some(*since);
            out.waiting = waiting.clone();
            // Report mode: the method Request mode would use (issue 14, item 10).
            out.method = *method;
        }
        R::Requested { last_error, .. } => out.last_error = last_error.clone(),
        R::Confirmed { reason, .. } => out.reason = Some(*reason),
        R::Failed {
            last_error,
            retry_at,
            smart_card_failed_at,
            ..
        } => {
            out.last_error = Some(last_error.clone());
            // After a smart-card login the retry waits for a password login, not for a time.
            out.retry_at = smart_card_failed_at.is_none().then_some(*retry_at);
        }
    }
    out
}
