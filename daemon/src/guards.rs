//! The safety rules, each written once: whether a supplied recovery key may be used (to validate
//! it, or as the credential of `rotate --current-key`) and whether a rotation may be requested.
//! The daemon's rotation state machine (`rotation`), `rotate --request` (through a check),
//! `rotate --current-key` (`rotate`) and `validate` all ask here; none has a rule of its own.
//!
//! - FileVault is ready for a key change: on, not encrypting or decrypting, not waiting for a
//!   restart (`filevault_ready`, the one definition).
//! - The escrow payload is installed (`escrow_payload`): no key is made that the MDM never gets.
//! - Only people log in (`at_console`, the one definition of a person at the console): Setup
//!   Assistant's `_mbsetupuser`, root, any uid below 501 or name starting with `_` is nobody, for
//!   logins, the password reset, Escrow Buddy's attempts and the additional admins (issue 14).
//!   A person's uid with no local record (a network account), or one several records share, is
//!   someone at the console: a login, never given a name (issue 16, item 5).
//! - The password reset after a recovery-key unlock is not pending (`in_password_reset`): a new
//!   key during that login breaks the reset (PLATFORM.md; Crypt turned rotate-on-use off in 2020).
//!   A boot whose key use is unknown counts as one the key may have unlocked (issue 14, item 2).
//! - Escrow Buddy's flag is set only where it can make a key: for a user who logs in holding a
//!   SecureToken (`flag_wasted`), and after a smart-card login that failed, only for a password
//!   login (`password_login_awaited`).
//! - `RotationMode = Report` holds every request back, last, so that the status shows what
//!   Request mode would do (`report_mode`).
//! - The Secure Enclave's attempts are spent sparingly (`attempts`): `ValidationDailyCap` a day,
//!   `ValidationFailureCap` failures ever, counted from the audit trail and never below what the
//!   failed-key store proves, and a key that failed once is never tried again (`not_failed_before`).
//! - A key is validated only with a person at the console (`console_present`): valid keys have
//!   failed validation with nobody logged in (PLATFORM.md).
//!
//! Pure: callers gather the facts (observe, the audit trail, the store) and record a refusal in
//! the audit trail (`Refusal::code`). This module runs nothing and reads no file.

use std::fmt;

use jiff::Timestamp;

use crate::audit::ValidationCounts;
use crate::config::Config;
use crate::secret::KeyShapeError;
use crate::state::KeyUse;
use crate::status::Reason;
use crate::tools::dscl::UserRecord;
use crate::tools::fdesetup::FdeStatus;
use crate::tools::profiles::{ComputerProfiles, InstalledProfile, ESCROW_PAYLOAD_TYPE};
use crate::tools::{Console, Probe};

/// The oldest macOS where `changerecovery -personal` accepts the current key as the credential:
/// APFS 10.14 (it failed on 10.13 with "Unable to change key", exit 136; PLATFORM.md).
pub(crate) const MIN_OS_FOR_KEY_CREDENTIAL: (u32, u32) = (10, 14);

/// Why a supplied key is not used. Every message says what to do; none holds the key. `code` is
/// the `Result` of the refusal's audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// stdin could not be read (the message is the I/O error, never input).
    Input(String),
    Malformed(KeyShapeError),
    /// The writer lock could not be taken.
    Lock(String),
    /// `rotate --current-key` while `AllowRotateWithCurrentKey` is off.
    NotAllowed,
    NoConsoleUser,
    /// `/dev/console` could not be examined.
    Console(String),
    AuditUnreadable(String),
    FailureCap {
        cap: u32,
        failures: u32,
    },
    DailyCap {
        cap: u32,
        count: u32,
        frees_at: Option<Timestamp>,
    },
    FailedBefore,
    /// The failed-key store cannot be read or written.
    Store(String),
    /// The attempt could not be appended to the audit trail.
    NotRecorded(String),
    FileVaultNotReady,
    FileVaultUnknown(String),
    NoEscrowPayload,
    ProfilesUnknown(String),
    OsTooOld(String),
    OsUnknown(String),
    NoKey,
    KeyUnknown(String),
    PasswordReset,
    /// The password reset may be pending and the user at the console cannot be named, so
    /// whether they logged in since is not known.
    LoginUnknown,
}

impl Refusal {
    /// The `Result` of the refusal's audit event (stable: additive changes only).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Refusal::Input(_) => "InputUnreadable",
            Refusal::Malformed(_) => "MalformedKey",
            Refusal::Lock(_) => "LockUnavailable",
            Refusal::NotAllowed => "NotAllowed",
            Refusal::NoConsoleUser => "NoConsoleUser",
            Refusal::Console(_) => "ConsoleUnknown",
            Refusal::AuditUnreadable(_) => "AuditUnreadable",
            Refusal::FailureCap { .. } => "FailureCap",
            Refusal::DailyCap { .. } => "DailyCap",
            Refusal::FailedBefore => "KeyFailedBefore",
            Refusal::Store(_) => "FailedKeyStoreUnusable",
            Refusal::NotRecorded(_) => "NotRecorded",
            Refusal::FileVaultNotReady => "FileVaultNotReady",
            Refusal::FileVaultUnknown(_) => "FileVaultUnknown",
            Refusal::NoEscrowPayload => "EscrowProfileMissing",
            Refusal::ProfilesUnknown(_) => "ProfilesUnknown",
            Refusal::OsTooOld(_) => "OSTooOld",
            Refusal::OsUnknown(_) => "OSUnknown",
            Refusal::NoKey => "RecoveryKeyMissing",
            Refusal::KeyUnknown(_) => "RecoveryKeyUnknown",
            Refusal::PasswordReset => "PasswordResetPending",
            Refusal::LoginUnknown => "LoginUnknown",
        }
    }

    /// A refusal about the audit trail itself cannot be recorded there.
    pub(crate) fn recordable(&self) -> bool {
        !matches!(self, Refusal::AuditUnreadable(_) | Refusal::NotRecorded(_))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Input(e) => write!(f, "the key could not be read from stdin: {e}"),
            Refusal::Malformed(e) => write!(f, "this is not a recovery key: {e}; nothing was tried"),
            Refusal::Lock(e) => write!(f, "{e}"),
            Refusal::NotAllowed => f.write_str(
                "AllowRotateWithCurrentKey is not set (it is off by default; see docs/configuration.md)",
            ),
            Refusal::NoConsoleUser => f.write_str(
                "no user is logged in at the console (nobody, or a system account such as Setup Assistant's): valid keys have failed validation with nobody logged in (PLATFORM.md); try again while the user is logged in",
            ),
            Refusal::Console(e) => write!(
                f,
                "cannot tell whether a user is logged in at the console ({e}); validation needs one"
            ),
            Refusal::AuditUnreadable(e) => write!(
                f,
                "{e}; the validation caps are counted from it, so no attempt is made until it is readable"
            ),
            Refusal::FailureCap { cap: 0, .. } => f.write_str(
                "ValidationFailureCap is 0: validation is turned off on this Mac",
            ),
            Refusal::FailureCap { cap, failures } => write!(
                f,
                "ValidationFailureCap ({cap}) reached: {failures} validations have failed on this Mac, and each may have spent one of the Secure Enclave's attempts, which are limited for the life of the Mac; no more are made (an admin may raise ValidationFailureCap, at most 20)"
            ),
            Refusal::DailyCap { cap: 0, .. } => f.write_str(
                "ValidationDailyCap is 0: validation is turned off on this Mac",
            ),
            Refusal::DailyCap {
                cap,
                count,
                frees_at,
            } => {
                write!(
                    f,
                    "ValidationDailyCap ({cap}) reached: {count} validations in the last 24 hours"
                )?;
                match frees_at {
                    Some(t) => write!(f, "; the next one is allowed from {t} (UTC)"),
                    None => Ok(()),
                }
            }
            Refusal::FailedBefore => f.write_str(
                "this key already failed on this Mac (it did not validate, or fdesetup refused it as the credential to change the key); it is never tried again (each attempt may spend one of the Secure Enclave's limited attempts)",
            ),
            Refusal::Store(e) => write!(f, "{e}"),
            Refusal::NotRecorded(e) => write!(
                f,
                "the attempt could not be recorded in the audit trail ({e}); an attempt that cannot be counted is not made"
            ),
            Refusal::FileVaultNotReady => f.write_str(
                "FileVault must be on and not encrypting, decrypting or waiting for a restart",
            ),
            Refusal::FileVaultUnknown(e) => write!(f, "FileVault state unknown: {e}"),
            Refusal::NoEscrowPayload => f.write_str(
                "no escrow payload is installed: the new key would never reach the MDM",
            ),
            Refusal::ProfilesUnknown(e) => write!(f, "installed profiles unknown: {e}"),
            Refusal::OsTooOld(v) => write!(
                f,
                "macOS {v}: the current key is accepted as a credential from macOS 10.14 on"
            ),
            Refusal::OsUnknown(e) => write!(f, "macOS version unknown: {e}"),
            Refusal::NoKey => {
                f.write_str("this Mac has no personal recovery key to authenticate with")
            }
            Refusal::KeyUnknown(e) => write!(f, "personal recovery key unknown: {e}"),
            Refusal::PasswordReset => f.write_str(
                "the key unlocked this boot (or whether it did cannot be told) and nobody has logged in since: rotating now would break the password reset macOS asks for at that login",
            ),
            Refusal::LoginUnknown => f.write_str(
                "the key unlocked this boot, and the user at the console cannot be matched to a local account (or the accounts could not be read), so Keywarden cannot tell whether the password reset macOS asks for is done; try again once `sudo keywarden check` names the console user",
            ),
        }
    }
}

/// FileVault is on, not encrypting or decrypting, and not waiting for a restart: the one
/// definition of "FileVault is on" for every rule about keys. (The status's `FileVault.State`
/// says more: `Encrypting` protects the disk too, but is no time to change its key.)
pub(crate) fn filevault_ready(s: &FdeStatus) -> bool {
    s.on && s.conversion.is_none() && !s.restart_required
}

/// An installed profile carries the FileVault escrow payload: `Some(true)` when one that reads
/// does, `Some(false)` when none does and no unreadable profile may, `None` (cannot tell) when
/// only an unreadable profile may (issue 14, item 6).
pub(crate) fn escrow_payload(profiles: &ComputerProfiles) -> Option<bool> {
    if escrow_profile(profiles).is_some() {
        return Some(true);
    }
    if profiles
        .unreadable
        .iter()
        .any(|p| p.carries_escrow != Some(false))
    {
        return None;
    }
    Some(false)
}

/// The profile whose escrow payload every escrow decision rests on: the first that reads and
/// carries one. Its install date and certificate are the evidence; no other profile's are.
pub(crate) fn escrow_profile(profiles: &ComputerProfiles) -> Option<&InstalledProfile> {
    profiles
        .installed
        .iter()
        .find(|p| p.has_payload(ESCROW_PAYLOAD_TYPE))
}

/// Who is at the console, as every rule counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AtConsole {
    /// Nobody logged in: no owner, or an account that is not a person.
    Nobody,
    /// A person, by account name.
    Person(String),
    /// A person no single local record names (issue 16, item 5): a uid of 501 or more that no
    /// local record has (a network account logged in, `dscl .` lists only the local node), or
    /// that several local records share (`sharing`: their names, never picked by listing order).
    /// A login all the same; nothing that needs the person's name or token is decided for them.
    Someone { uid: u32, sharing: Vec<String> },
    /// An owner this observation cannot name and cannot call a person (the records could not be
    /// read, or a uid below 501 has no record): whether a person logged in is not known.
    Unnamed(u32),
}

/// Who is at the console: the owner of `/dev/console` counts as a person only when its account
/// is human (`UserRecord::is_human`: uid 501 or more, a name not starting with `_`). Setup
/// Assistant's `_mbsetupuser` (uid 248) owns the console while it runs, after enrolment and after
/// some updates, and that is not a login (PLATFORM.md); neither is root. `users`: the local
/// accounts, `None` when they could not be read.
pub(crate) fn at_console(console: &Console, users: Option<&[UserRecord]>) -> AtConsole {
    let Console::Uid(uid) = console else {
        return AtConsole::Nobody;
    };
    let Some(users) = users else {
        return AtConsole::Unnamed(*uid);
    };
    let person_uid = *uid >= crate::tools::dscl::FIRST_HUMAN_UID;
    let owners: Vec<&UserRecord> = users.iter().filter(|u| u.uid == i64::from(*uid)).collect();
    match owners.as_slice() {
        [u] if u.is_human() => AtConsole::Person(u.name.clone()),
        [_] => AtConsole::Nobody,
        [] if person_uid => AtConsole::Someone {
            uid: *uid,
            sharing: Vec::new(),
        },
        [] => AtConsole::Unnamed(*uid),
        // Several records, one uid: which is at the console is not known, and listing order
        // must not decide it. The uid rule still says whether it is a person, unless every one
        // of them is a service account (`_` names are never people, whatever their uid).
        many if person_uid && many.iter().any(|u| !u.name.starts_with('_')) => AtConsole::Someone {
            uid: *uid,
            sharing: many.iter().map(|u| u.name.clone()).collect(),
        },
        _ => AtConsole::Nobody,
    }
}

/// The key unlocked this boot, or whether it did is unknown, and no person has logged in since:
/// macOS walks the user through a password reset at that login, and a new key then breaks the
/// reset. An unknown answer (`usingrecoverykey` failed or timed out: `None`) is treated as a use
/// (ARCHITECTURE.md, "Never during the password reset": "if the key was used or the answer is
/// unknown, withdraw"), so a tool that fails at boot cannot let Keywarden's flag fire at the reset
/// login; a login in this boot ends it either way. The boot guard asks the same question first
/// thing in a new boot (`decide::boot`), before any other effect.
/// A login is a person's (`at_console`): Setup Assistant at the console does not end the reset.
pub(crate) fn in_password_reset(
    key_use: Option<KeyUse>,
    human_login_this_boot: bool,
) -> Option<Reset> {
    if human_login_this_boot {
        return None;
    }
    match key_use {
        Some(KeyUse::Used) => Some(Reset::KeyUsed),
        None => Some(Reset::UseUnknown),
        Some(KeyUse::NotUsed) | Some(KeyUse::NotSupported) => None,
    }
}

/// Why the password reset may be pending: what was seen, so the status says no more than that
/// (issue 14, item 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reset {
    /// `fdesetup usingrecoverykey` said the key unlocked this boot.
    KeyUsed,
    /// It gave no answer in this boot: treated as a use until a person logs in.
    UseUnknown,
}

impl Reset {
    /// The `Rotation.Waiting` text while it holds a request back.
    fn waiting(self) -> &'static str {
        match self {
            Reset::KeyUsed => "the key unlocked this boot: waiting until the user has logged in (and reset their password)",
            Reset::UseUnknown => "whether the key unlocked this boot is not known (fdesetup usingrecoverykey gave no answer): waiting until the user has logged in, as after an unlock",
        }
    }
}

/// A person is logged in at the console, as validation needs: their uid. A system account at
/// the console (Setup Assistant's `_mbsetupuser` after an update, root) is nobody: that is when
/// valid keys have failed validation, and a failure is remembered for good (issue 14, item 7).
pub(crate) fn console_present(console: &Probe<Console>) -> Result<u32, Refusal> {
    match console {
        Ok(Console::Uid(uid)) if *uid < crate::tools::dscl::FIRST_HUMAN_UID => {
            Err(Refusal::NoConsoleUser)
        }
        Ok(Console::Uid(uid)) => Ok(*uid),
        Ok(Console::Nobody) => Err(Refusal::NoConsoleUser),
        Err(e) => Err(Refusal::Console(e.to_string())),
    }
}

/// One more attempt with a key is within the caps: fewer than `ValidationFailureCap` failures
/// ever (the audit trail's count, and never fewer than the keys the failed-key store remembers:
/// a lost or cut trail cannot lower it) and fewer than `ValidationDailyCap` attempts in the last
/// 24 hours. Returns the failures so far.
pub(crate) fn attempts(
    counts: &ValidationCounts,
    remembered_failures: usize,
    config: &Config,
) -> Result<u32, Refusal> {
    let failures = counts
        .failures_ever
        .max(u32::try_from(remembered_failures).unwrap_or(u32::MAX));
    if failures >= config.validation_failure_cap {
        return Err(Refusal::FailureCap {
            cap: config.validation_failure_cap,
            failures,
        });
    }
    if counts.today >= config.validation_daily_cap {
        return Err(Refusal::DailyCap {
            cap: config.validation_daily_cap,
            count: counts.today,
            frees_at: counts.daily_cap_frees_at(config.validation_daily_cap),
        });
    }
    Ok(failures)
}

/// A key the failed-key store remembers is never tried again.
pub(crate) fn not_failed_before(failed_before: bool) -> Result<(), Refusal> {
    if failed_before {
        Err(Refusal::FailedBefore)
    } else {
        Ok(())
    }
}

/// What `rotate --current-key` needs to know before it may use the key, from one observation.
pub(crate) struct RotateFacts<'a> {
    pub filevault: &'a Probe<FdeStatus>,
    pub profiles: &'a Probe<ComputerProfiles>,
    pub os_version: &'a Probe<String>,
    pub personal_key: &'a Probe<bool>,
    pub password_reset: bool,
    /// Someone is at the console whom Keywarden cannot name (`decide::Facts::console_unnamed`).
    pub console_unnamed: bool,
}

/// `rotate --current-key` is switched on (`AllowRotateWithCurrentKey`, off by default).
pub(crate) fn rotate_with_key_allowed(config: &Config) -> Result<(), Refusal> {
    if config.allow_rotate_with_current_key {
        Ok(())
    } else {
        Err(Refusal::NotAllowed)
    }
}

/// `rotate --current-key` may use the key now: FileVault is ready, the escrow payload is
/// installed (the new key reaches the MDM), macOS accepts the key as a credential, the Mac has a
/// key to authenticate with, and the password reset is not pending. Whether it is switched on,
/// the caps and the failed-key store are asked separately (as for `validate`).
pub(crate) fn may_rotate_with_key(f: &RotateFacts<'_>) -> Result<(), Refusal> {
    match f.filevault {
        Ok(s) if filevault_ready(s) => {}
        Ok(_) => return Err(Refusal::FileVaultNotReady),
        Err(e) => return Err(Refusal::FileVaultUnknown(e.to_string())),
    }
    // The payload is required even with `EscrowOutsideMDM`: without it no escrow file is written,
    // so nothing shows that the new key was made or kept anywhere (issue 14 review).
    match f.profiles.as_ref().map(escrow_payload) {
        Ok(Some(true)) => {}
        Ok(Some(false)) => return Err(Refusal::NoEscrowPayload),
        Ok(None) => {
            return Err(Refusal::ProfilesUnknown(
                "a profile that may carry the escrow payload could not be read (see Daemon.Errors)"
                    .to_owned(),
            ))
        }
        Err(e) => return Err(Refusal::ProfilesUnknown(e.to_string())),
    }
    match f.os_version {
        Ok(v) if os_at_least(v, MIN_OS_FOR_KEY_CREDENTIAL) == Some(true) => {}
        Ok(v) => return Err(Refusal::OsTooOld(v.clone())),
        Err(e) => return Err(Refusal::OsUnknown(e.to_string())),
    }
    match f.personal_key {
        Ok(true) => {}
        Ok(false) => return Err(Refusal::NoKey),
        Err(e) => return Err(Refusal::KeyUnknown(e.to_string())),
    }
    if f.password_reset {
        // Refused either way; the reason says whether nobody logged in or nobody can tell.
        return Err(if f.console_unnamed {
            Refusal::LoginUnknown
        } else {
            Refusal::PasswordReset
        });
    }
    Ok(())
}

fn os_at_least(version: &str, min: (u32, u32)) -> Option<bool> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    Some((major, minor) >= min)
}

/// Why a rotation for `reason` may not be requested now, if it may not: a reason that only
/// reports, no escrow payload (or not known), or the password reset. These hold in every
/// `RotationMode`; Report mode is asked last (`report_mode`).
///
/// With `EscrowOutsideMDM` (`outside_mdm`) a missing payload means something else: the key is
/// escrowed elsewhere, but without the payload macOS writes no escrow file, so Keywarden would
/// never see the new key and could not confirm the rotation (it would ask again and again). It
/// reports, and the admin states the key was replaced (`keywarden rotate --replaced`, issue 14
/// review).
pub(crate) fn request_blocked(
    reason: Reason,
    escrow_ready: Option<bool>,
    outside_mdm: bool,
    password_reset: Option<Reset>,
) -> Option<String> {
    if !reason.requests() {
        return Some(format!(
            "{} is reported, never rotated for by itself",
            reason.as_str()
        ));
    }
    match escrow_ready {
        Some(true) => {}
        Some(false) | None if outside_mdm => return Some(UNSEEN_OUTSIDE_MDM.to_owned()),
        Some(false) => {
            return Some(
                "no escrow payload: a new key would never reach the MDM (EscrowProfileMissing)"
                    .to_owned(),
            )
        }
        None => return Some("could not tell whether the escrow payload is installed".to_owned()),
    }
    password_reset.map(|r| r.waiting().to_owned())
}

/// Why a rotation is only reported under `EscrowOutsideMDM` without the escrow payload.
pub(crate) const UNSEEN_OUTSIDE_MDM: &str = "EscrowOutsideMDM without the escrow payload: no escrow file shows a new key, so Keywarden reports and does not rotate; rotate with the tool that escrows the key, then run `sudo keywarden rotate --replaced`";

/// `RotationMode = Report` turns every request into a report, for a pilot before the fleet
/// (issue 14, item 10). It is asked after every other rule and after a method is chosen, so that
/// a rotation it holds back shows what Request mode would do: the reason and the method (or,
/// where Request mode would wait too, why).
pub(crate) fn report_mode(report_only: bool) -> Option<String> {
    report_only.then(|| "RotationMode is Report: reporting only".to_owned())
}

/// Why setting Escrow Buddy's `GenerateNewKey` would be wasted, if it would: at the next login
/// Escrow Buddy runs `fdesetup changerecovery` with the password of whoever logs in, and fdesetup
/// takes only a FileVault user's (a SecureToken holder's); with anyone else it fails and Escrow
/// Buddy clears the flag anyway (`Invoke.swift`), a failed attempt at every login.
///
/// `who` is the user who logs in: the person at the console, or with nobody there the last one
/// (`decide::Facts::login_user`): on a Mac, the next login is most likely theirs. `holds_token`
/// is whether they hold a SecureToken; with no person seen yet (`who` is `None`), whether any
/// person on the Mac holds one. Not known (`None`) does not hold the flag back: Keywarden claims
/// only what it has seen.
pub(crate) fn flag_wasted(who: Option<&str>, holds_token: Option<bool>) -> Option<String> {
    match (holds_token, who) {
        (Some(false), Some(name)) => Some(format!(
            "Escrow Buddy cannot make a key at {name}'s login: {name}, who logs in on this Mac, holds no SecureToken, and fdesetup takes only a FileVault user's password (give {name} a SecureToken)"
        )),
        (Some(false), None) => Some(
            "Escrow Buddy cannot make a key at a login here: no user account holds a SecureToken, and fdesetup takes only a FileVault user's password"
                .to_owned(),
        ),
        (Some(true) | None, _) => None,
    }
}

/// After Escrow Buddy ran at a smart-card login at `since` and made no key (a smart-card login
/// gives it the card's PIN, which fdesetup refuses: macadmins/escrow-buddy#5, #17), its flag is
/// set again only for a password login: once the user who logs in is no longer paired with a
/// smart card, or once an admin asked again after that login (`rotate --request`, a new
/// `RotationRequestID`; they then ask the user to log in with the password). Until then every
/// smart-card login would fail the same way: the rotation waits and says so
/// (`RotationNeedsPasswordLogin`).
pub(crate) fn password_login_awaited(
    since: Timestamp,
    login_user_smart_card: bool,
    admin_asked_at: Option<Timestamp>,
) -> bool {
    login_user_smart_card && admin_asked_at.is_none_or(|at| at <= since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::fdesetup::Conversion;
    use crate::tools::ProbeError;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn on() -> FdeStatus {
        FdeStatus::on()
    }

    /// No readable profile, and one unreadable that carries the escrow payload as said.
    fn odd(carries_escrow: Option<bool>) -> ComputerProfiles {
        ComputerProfiles {
            installed: Vec::new(),
            unreadable: vec![crate::tools::profiles::UnreadableProfile {
                name: "com.vendor.odd".into(),
                problem: "no ProfileItems array".into(),
                carries_escrow,
            }],
        }
    }

    fn listed(installed: Vec<InstalledProfile>) -> ComputerProfiles {
        ComputerProfiles {
            installed,
            unreadable: Vec::new(),
        }
    }

    fn profile(payload: &str) -> InstalledProfile {
        InstalledProfile {
            identifier: "com.example.fv".into(),
            display_name: None,
            install_date: None,
            payload_types: vec!["com.apple.MCX".into(), payload.into()],
            escrow_certificate: None,
            notes: Vec::new(),
        }
    }

    fn failed<T>() -> Probe<T> {
        Err(ProbeError::File {
            path: "/x".into(),
            message: "unreadable".into(),
        })
    }

    fn counts(today: u32, failures: u32) -> ValidationCounts {
        ValidationCounts {
            today,
            failures_ever: failures,
            validations_ever: today.max(failures),
            today_attempts: (0..today)
                .map(|i| t("2026-11-22T10:00:00Z") + jiff::SignedDuration::from_hours(i.into()))
                .collect(),
        }
    }

    fn config(daily: u32, failures: u32) -> Config {
        Config {
            validation_daily_cap: daily,
            validation_failure_cap: failures,
            ..Config::default()
        }
    }

    /// What a rule said: `ok`, a refusal's code, or why a request waits.
    fn said<T>(r: Result<T, Refusal>) -> String {
        match r {
            Ok(_) => "ok".to_owned(),
            Err(why) => why.code().to_owned(),
        }
    }

    fn blocked(r: Option<String>) -> String {
        r.unwrap_or_else(|| "requested".to_owned())
    }

    /// Local accounts of a Mac: alice (501), Setup Assistant's account, root, daemon, and a
    /// hidden `_mdmadmin` (600) an MDM might create.
    fn accounts() -> Vec<UserRecord> {
        let u = |name: &str, uid: i64| UserRecord {
            name: name.into(),
            uid,
            generated_uid: None,
            real_name: None,
            hidden: false,
            authentication_authority: Vec::new(),
        };
        vec![
            u("root", 0),
            u("daemon", 1),
            u("_mbsetupuser", 248),
            u("alice", 501),
            u("_mdmadmin", 600),
            // Two records with one uid (issue 16, item 5), listed in either order.
            u("ann", 700),
            u("ann-copy", 700),
            // Two service records with one person's uid: still no person (issue 16 review).
            u("_svc", 710),
            u("_svc-copy", 710),
        ]
    }

    /// Who `at_console` says is at the console, with the accounts readable or not.
    fn who(console: Console, readable: bool) -> String {
        let users = accounts();
        match at_console(&console, readable.then_some(&users[..])) {
            AtConsole::Nobody => "nobody".to_owned(),
            AtConsole::Person(name) => name,
            AtConsole::Unnamed(_) => "unnamed".to_owned(),
            AtConsole::Someone { sharing, .. } if sharing.is_empty() => "someone".to_owned(),
            AtConsole::Someone { sharing, .. } => format!("someone of {}", sharing.join(",")),
        }
    }

    struct Rotate {
        filevault: Probe<FdeStatus>,
        profiles: Probe<ComputerProfiles>,
        os: Probe<String>,
        key: Probe<bool>,
        reset: bool,
        unnamed: bool,
    }

    /// A Mac on which `rotate --current-key` may go ahead.
    fn ready() -> Rotate {
        Rotate {
            filevault: Ok(on()),
            profiles: Ok(listed(vec![profile(ESCROW_PAYLOAD_TYPE)])),
            os: Ok("15.1".into()),
            key: Ok(true),
            reset: false,
            unnamed: false,
        }
    }

    fn rotate(r: Rotate) -> String {
        said(may_rotate_with_key(&RotateFacts {
            filevault: &r.filevault,
            profiles: &r.profiles,
            os_version: &r.os,
            personal_key: &r.key,
            password_reset: r.reset,
            console_unnamed: r.unnamed,
        }))
    }

    /// One row per rule: what the rule is asked, what it must answer. Every key and rotation rule
    /// of Keywarden lives in this module, so this table is the whole of them.
    #[test]
    fn every_safety_rule_answers_as_tabled() {
        let not_ready = |f: fn(&mut FdeStatus)| {
            let mut s = on();
            f(&mut s);
            filevault_ready(&s).to_string()
        };
        let rows: Vec<(&str, String, &str)> = vec![
            // FileVault, one definition.
            ("FileVault on, not converting, no restart pending is ready for a key change", not_ready(|_| {}), "true"),
            ("FileVault encrypting is not ready", not_ready(|s| s.conversion = Some(Conversion::Encrypting { percent: Some(40.0) })), "false"),
            ("FileVault decrypting is not ready", not_ready(|s| s.conversion = Some(Conversion::Decrypting { percent: None })), "false"),
            ("FileVault waiting for a restart is not ready", not_ready(|s| s.restart_required = true), "false"),
            ("FileVault off is not ready", not_ready(|s| s.on = false), "false"),
            // The escrow payload.
            ("a profile carrying the escrow payload among its items counts", format!("{:?}", escrow_payload(&listed(vec![profile(ESCROW_PAYLOAD_TYPE)]))), "Some(true)"),
            ("profiles without the escrow payload do not count", format!("{:?}", escrow_payload(&listed(vec![profile("com.apple.MCX.FileVault2")]))), "Some(false)"),
            ("no profiles at all is no escrow payload", format!("{:?}", escrow_payload(&listed(vec![]))), "Some(false)"),
            ("issue 14: an unreadable profile with no escrow item does not hide the answer", format!("{:?}", escrow_payload(&odd(Some(false)))), "Some(false)"),
            ("issue 14: an unreadable profile that may carry the escrow payload leaves it unknown", format!("{:?}", escrow_payload(&odd(None))), "None"),
            ("issue 14: a readable escrow profile wins over an unreadable one", format!("{:?}", escrow_payload(&ComputerProfiles { installed: vec![profile(ESCROW_PAYLOAD_TYPE)], ..odd(Some(true)) })), "Some(true)"),
            // The password reset after a recovery-key unlock.
            ("the key unlocked this boot and nobody has logged in: the reset is pending", format!("{:?}", in_password_reset(Some(KeyUse::Used), false)), "Some(KeyUsed)"),
            ("a login in this boot ends the reset", format!("{:?}", in_password_reset(Some(KeyUse::Used), true)), "None"),
            ("a boot the key did not unlock has no reset", format!("{:?}", in_password_reset(Some(KeyUse::NotUsed), false)), "None"),
            ("an unknown answer about use with nobody logged in may be a reset (issue 14)", format!("{:?}", in_password_reset(None, false)), "Some(UseUnknown)"),
            ("an unknown answer about use after a login in this boot is no reset", format!("{:?}", in_password_reset(None, true)), "None"),
            ("a Mac that cannot tell key use (APFS 10.13/10.14) has no reset", format!("{:?}", in_password_reset(Some(KeyUse::NotSupported), false)), "None"),
            // Validation needs someone at the console.
            ("a user at the console may validate", said(console_present(&Ok(Console::Uid(501)))), "ok"),
            ("nobody at the console refuses validation", said(console_present(&Ok(Console::Nobody))), "NoConsoleUser"),
            ("issue 14: Setup Assistant at the console refuses validation", said(console_present(&Ok(Console::Uid(248)))), "NoConsoleUser"),
            ("issue 14: root at the console refuses validation", said(console_present(&Ok(Console::Uid(0)))), "NoConsoleUser"),
            ("an unreadable console refuses validation", said(console_present(&failed())), "ConsoleUnknown"),
            // The caps and the failed-key store.
            ("an attempt within both caps may be made", said(attempts(&counts(1, 2), 0, &config(3, 10))), "ok"),
            ("failures in the audit trail reaching ValidationFailureCap refuse", said(attempts(&counts(0, 10), 0, &config(3, 10))), "FailureCap"),
            ("keys in the failed-key store count as failures when the trail shows fewer", said(attempts(&counts(0, 1), 10, &config(3, 10))), "FailureCap"),
            ("a ValidationFailureCap of 0 refuses every attempt", said(attempts(&counts(0, 0), 0, &config(3, 0))), "FailureCap"),
            ("attempts in the last 24 hours reaching ValidationDailyCap refuse", said(attempts(&counts(3, 0), 0, &config(3, 10))), "DailyCap"),
            ("a key the store remembers as failed is never tried again", said(not_failed_before(true)), "KeyFailedBefore"),
            ("a key the store does not know may be tried", said(not_failed_before(false)), "ok"),
            // rotate --current-key.
            ("rotating with the current key is off by default", said(rotate_with_key_allowed(&Config::default())), "NotAllowed"),
            ("AllowRotateWithCurrentKey switches it on", said(rotate_with_key_allowed(&Config { allow_rotate_with_current_key: true, ..Config::default() })), "ok"),
            ("a Mac ready for a key change may rotate with the current key", rotate(ready()), "ok"),
            ("no key change while FileVault is not ready", rotate(Rotate { filevault: Ok(FdeStatus { restart_required: true, ..on() }), ..ready() }), "FileVaultNotReady"),
            ("no key change while FileVault's state is unknown", rotate(Rotate { filevault: failed(), ..ready() }), "FileVaultUnknown"),
            ("no key change without the escrow payload", rotate(Rotate { profiles: Ok(listed(vec![])), ..ready() }), "EscrowProfileMissing"),
            ("no key change while the profiles are unknown", rotate(Rotate { profiles: failed(), ..ready() }), "ProfilesUnknown"),
            ("macOS 10.13 does not take the key as a credential", rotate(Rotate { os: Ok("10.13.6".into()), ..ready() }), "OSTooOld"),
            ("macOS 10.14 takes the key as a credential", rotate(Rotate { os: Ok("10.14".into()), ..ready() }), "ok"),
            ("an unreadable macOS version refuses", rotate(Rotate { os: Ok("x".into()), ..ready() }), "OSTooOld"),
            ("an unknown macOS version refuses", rotate(Rotate { os: failed(), ..ready() }), "OSUnknown"),
            ("no key change without a key to authenticate with", rotate(Rotate { key: Ok(false), ..ready() }), "RecoveryKeyMissing"),
            ("no key change while the key's presence is unknown", rotate(Rotate { key: failed(), ..ready() }), "RecoveryKeyUnknown"),
            ("no key change during the password reset", rotate(Rotate { reset: true, ..ready() }), "PasswordResetPending"),
            ("a possible reset with a console user nobody can name is refused for that", rotate(Rotate { reset: true, unnamed: true, ..ready() }), "LoginUnknown"),
            ("a console user nobody can name does not matter without a reset", rotate(Rotate { unnamed: true, ..ready() }), "ok"),
            // Requests for a rotation.
            ("a request reason with the payload and no reset is requested", blocked(request_blocked(Reason::KeyUsed, Some(true), false, None)), "requested"),
            ("a report-only reason never requests", blocked(request_blocked(Reason::KeyMissing, Some(true), false, None)), "KeyMissing is reported, never rotated for by itself"),
            ("a failed validation never requests by itself", blocked(request_blocked(Reason::ValidationFailed, Some(true), false, None)), "ValidationFailed is reported, never rotated for by itself"),
            ("RotationMode Report only reports", blocked(report_mode(true)), "RotationMode is Report: reporting only"),
            ("RotationMode Request requests", blocked(report_mode(false)), "requested"),
            ("no request without the escrow payload", blocked(request_blocked(Reason::NotEscrowed, Some(false), false, None)), "no escrow payload: a new key would never reach the MDM (EscrowProfileMissing)"),
            ("issue 14 review: with EscrowOutsideMDM and no payload a rotation is only reported, as it could never be confirmed", blocked(request_blocked(Reason::KeyUsed, Some(false), true, None)), UNSEEN_OUTSIDE_MDM),
            ("issue 14 review: with EscrowOutsideMDM and the payload unknown a rotation is only reported", blocked(request_blocked(Reason::AdminRequest, None, true, None)), UNSEEN_OUTSIDE_MDM),
            ("issue 14 review: with EscrowOutsideMDM and the payload installed the escrow file confirms, so a request is made", blocked(request_blocked(Reason::KeyUsed, Some(true), true, None)), "requested"),
            ("no request while the payload is unknown", blocked(request_blocked(Reason::AdminRequest, None, false, None)), "could not tell whether the escrow payload is installed"),
            ("no request during the password reset", blocked(request_blocked(Reason::KeyUsed, Some(true), false, Some(Reset::KeyUsed))), "the key unlocked this boot: waiting until the user has logged in (and reset their password)"),
            ("issue 14: a reset that may be pending says only that use is unknown", blocked(request_blocked(Reason::KeyUsed, Some(true), false, Some(Reset::UseUnknown))), "whether the key unlocked this boot is not known (fdesetup usingrecoverykey gave no answer): waiting until the user has logged in, as after an unlock"),
            // Only people log in (issue 14, item 7).
            ("issue 14: a person (uid 501) at the console is a person", who(Console::Uid(501), true), "alice"),
            ("issue 14: Setup Assistant's _mbsetupuser (uid 248) at the console is nobody", who(Console::Uid(248), true), "nobody"),
            ("issue 14: root at the console is nobody", who(Console::Uid(0), true), "nobody"),
            ("issue 14: an account below uid 501 at the console is nobody", who(Console::Uid(1), true), "nobody"),
            ("issue 14: an account named with a leading _ is nobody, whatever its uid", who(Console::Uid(600), true), "nobody"),
            ("no owner of /dev/console is nobody", who(Console::Nobody, true), "nobody"),
            ("issue 16: a person's uid no local account has (a network account) is someone at the console, a login", who(Console::Uid(777), true), "someone"),
            ("issue 16: a uid two local records share is someone at the console, never the first listed", who(Console::Uid(700), true), "someone of ann,ann-copy"),
            ("issue 16 review: a uid two service records share is nobody, as either alone is", who(Console::Uid(710), true), "nobody"),
            ("a uid below 501 that no local account has cannot be named", who(Console::Uid(300), true), "unnamed"),
            ("with the accounts unreadable, a console owner cannot be named", who(Console::Uid(501), false), "unnamed"),
            ("Setup Assistant at the console of a boot the key unlocked leaves the reset pending", format!("{:?}", in_password_reset(Some(KeyUse::Used), at_console(&Console::Uid(248), Some(&accounts())) != AtConsole::Nobody)), "Some(KeyUsed)"),
            // Escrow Buddy's flag only where it can make a key (issue 14, item 8).
            ("issue 14: the flag is wasted on a user who logs in without a SecureToken", blocked(flag_wasted(Some("bob"), Some(false))), "Escrow Buddy cannot make a key at bob's login: bob, who logs in on this Mac, holds no SecureToken, and fdesetup takes only a FileVault user's password (give bob a SecureToken)"),
            ("issue 14: the flag is wasted when no person seen yet and no account holds a SecureToken", blocked(flag_wasted(None, Some(false))), "Escrow Buddy cannot make a key at a login here: no user account holds a SecureToken, and fdesetup takes only a FileVault user's password"),
            ("a user who logs in holding a SecureToken may have the flag", blocked(flag_wasted(Some("alice"), Some(true))), "requested"),
            ("a SecureToken not known does not hold the flag back", blocked(flag_wasted(Some("alice"), None)), "requested"),
            ("issue 14: after a smart-card login failed, the flag waits while the user who logs in uses a smart card", password_login_awaited(t("2026-11-22T10:00:00Z"), true, None).to_string(), "true"),
            ("issue 14: a user who logs in without a smart card may have the flag again", password_login_awaited(t("2026-11-22T10:00:00Z"), false, None).to_string(), "false"),
            ("issue 14: an admin asking again after the smart-card login may have the flag set again", password_login_awaited(t("2026-11-22T10:00:00Z"), true, Some(t("2026-11-22T11:00:00Z"))).to_string(), "false"),
            ("an admin request from before the smart-card login does not", password_login_awaited(t("2026-11-22T10:00:00Z"), true, Some(t("2026-11-22T09:00:00Z"))).to_string(), "true"),
        ];
        let failures: Vec<String> = rows
            .iter()
            .filter(|(_, got, want)| got != want)
            .map(|(name, got, want)| format!("{name}: got {got:?}, want {want:?}"))
            .collect();
        assert!(
            failures.is_empty(),
            "{} of {} rules differ:\n{}",
            failures.len(),
            rows.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn the_daily_cap_says_when_the_next_attempt_is_allowed() {
        let Err(why) = attempts(&counts(3, 0), 0, &config(3, 10)) else {
            panic!("not refused")
        };
        assert_eq!(
            why.to_string(),
            "ValidationDailyCap (3) reached: 3 validations in the last 24 hours; the next one is allowed from 2026-11-23T10:00:00Z (UTC)"
        );
    }

    #[test]
    fn a_refusal_about_the_audit_trail_is_not_recorded_there() {
        assert!(!Refusal::AuditUnreadable("x".into()).recordable());
        assert!(!Refusal::NotRecorded("x".into()).recordable());
        assert!(Refusal::FailedBefore.recordable());
    }
}
