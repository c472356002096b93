//! The safety rules, each written once: whether a supplied recovery key may be used (to validate
//! it, or as the credential of `rotate --current-key`) and whether a rotation may be requested.
//! The daemon's rotation state machine (`rotation`), `rotate --request` (through a check),
//! `rotate --current-key` (`rotate`) and `validate` all ask here; none has a rule of its own.
//!
//! - FileVault is ready for a key change: on, not encrypting or decrypting, not waiting for a
//!   restart (`filevault_ready`, the one definition).
//! - The escrow payload is installed (`escrow_payload`): no key is made that the MDM never gets.
//! - The password reset after a recovery-key unlock is not pending (`in_password_reset`): a new
//!   key during that login breaks the reset (PLATFORM.md; Crypt turned rotate-on-use off in 2020).
//! - The Secure Enclave's attempts are spent sparingly (`attempts`): `ValidationDailyCap` a day,
//!   `ValidationFailureCap` failures ever, counted from the audit trail and never below what the
//!   failed-key store proves, and a key that failed once is never tried again (`not_failed_before`).
//! - A key is validated only with someone at the console (`console_present`): valid keys have
//!   failed validation with nobody logged in (PLATFORM.md).
//!
//! Pure: callers gather the facts (observe, the audit trail, the store) and record a refusal in
//! the audit trail (`Refusal::code`). This module runs nothing and reads no file.

use std::fmt;

use jiff::Timestamp;

use crate::audit::ValidationCounts;
use crate::config::Config;
use crate::observe::{Console, Probe};
use crate::secret::KeyShapeError;
use crate::state::KeyUse;
use crate::status::Reason;
use crate::tools::fdesetup::FdeStatus;
use crate::tools::profiles::{InstalledProfile, ESCROW_PAYLOAD_TYPE};

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
                "no user is logged in at the console: valid keys have failed validation with nobody logged in (PLATFORM.md); try again while the user is logged in",
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
                "the key unlocked this boot and nobody has logged in since: rotating now would break the password reset macOS asks for at that login",
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

/// An installed profile carries the FileVault escrow payload.
pub(crate) fn escrow_payload(profiles: &[InstalledProfile]) -> bool {
    profiles.iter().any(|p| p.has_payload(ESCROW_PAYLOAD_TYPE))
}

/// The key unlocked this boot and no user has logged in since: macOS walks the user through a
/// password reset at that login, and a new key then breaks the reset.
pub(crate) fn in_password_reset(key_use: Option<KeyUse>, human_login_this_boot: bool) -> bool {
    key_use == Some(KeyUse::Used) && !human_login_this_boot
}

/// Someone is logged in at the console, as validation needs: their uid.
pub(crate) fn console_present(console: &Probe<Console>) -> Result<u32, Refusal> {
    match console {
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
    pub profiles: &'a Probe<Vec<InstalledProfile>>,
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
    match f.profiles {
        Ok(p) if escrow_payload(p) => {}
        Ok(_) => return Err(Refusal::NoEscrowPayload),
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
/// reports, `RotationMode = Report`, no escrow payload (or not known), or the password reset.
pub(crate) fn request_blocked(
    reason: Reason,
    report_only: bool,
    payload_installed: Option<bool>,
    password_reset: bool,
) -> Option<String> {
    if !reason.requests() {
        return Some(format!(
            "{} is reported, never rotated for by itself",
            reason.as_str()
        ));
    }
    if report_only {
        return Some("RotationMode is Report: reporting only".to_owned());
    }
    match payload_installed {
        Some(true) => {}
        Some(false) => {
            return Some(
                "no escrow payload: a new key would never reach the MDM (EscrowProfileMissing)"
                    .to_owned(),
            )
        }
        None => return Some("could not tell whether the escrow payload is installed".to_owned()),
    }
    if password_reset {
        return Some("the key unlocked this boot: waiting until the user has logged in (and reset their password)".to_owned());
    }
    None
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

    fn profile(payload: &str) -> InstalledProfile {
        InstalledProfile {
            identifier: "com.example.fv".into(),
            display_name: None,
            install_date: None,
            payload_types: vec!["com.apple.MCX".into(), payload.into()],
            escrow_certificate: None,
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

    struct Rotate {
        filevault: Probe<FdeStatus>,
        profiles: Probe<Vec<InstalledProfile>>,
        os: Probe<String>,
        key: Probe<bool>,
        reset: bool,
        unnamed: bool,
    }

    /// A Mac on which `rotate --current-key` may go ahead.
    fn ready() -> Rotate {
        Rotate {
            filevault: Ok(on()),
            profiles: Ok(vec![profile(ESCROW_PAYLOAD_TYPE)]),
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
            ("a profile carrying the escrow payload among its items counts", escrow_payload(&[profile(ESCROW_PAYLOAD_TYPE)]).to_string(), "true"),
            ("profiles without the escrow payload do not count", escrow_payload(&[profile("com.apple.MCX.FileVault2")]).to_string(), "false"),
            ("no profiles at all is no escrow payload", escrow_payload(&[]).to_string(), "false"),
            // The password reset after a recovery-key unlock.
            ("the key unlocked this boot and nobody has logged in: the reset is pending", in_password_reset(Some(KeyUse::Used), false).to_string(), "true"),
            ("a login in this boot ends the reset", in_password_reset(Some(KeyUse::Used), true).to_string(), "false"),
            ("a boot the key did not unlock has no reset", in_password_reset(Some(KeyUse::NotUsed), false).to_string(), "false"),
            ("an unknown answer about use is no reset", in_password_reset(None, false).to_string(), "false"),
            // Validation needs someone at the console.
            ("a user at the console may validate", said(console_present(&Ok(Console::Uid(501)))), "ok"),
            ("nobody at the console refuses validation", said(console_present(&Ok(Console::Nobody))), "NoConsoleUser"),
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
            ("no key change without the escrow payload", rotate(Rotate { profiles: Ok(vec![]), ..ready() }), "EscrowProfileMissing"),
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
            ("a request reason with the payload and no reset is requested", blocked(request_blocked(Reason::KeyUsed, false, Some(true), false)), "requested"),
            ("a report-only reason never requests", blocked(request_blocked(Reason::KeyMissing, false, Some(true), false)), "KeyMissing is reported, never rotated for by itself"),
            ("a failed validation never requests by itself", blocked(request_blocked(Reason::ValidationFailed, false, Some(true), false)), "ValidationFailed is reported, never rotated for by itself"),
            ("RotationMode Report only reports", blocked(request_blocked(Reason::KeyUsed, true, Some(true), false)), "RotationMode is Report: reporting only"),
            ("no request without the escrow payload", blocked(request_blocked(Reason::NotEscrowed, false, Some(false), false)), "no escrow payload: a new key would never reach the MDM (EscrowProfileMissing)"),
            ("no request while the payload is unknown", blocked(request_blocked(Reason::AdminRequest, false, None, false)), "could not tell whether the escrow payload is installed"),
            ("no request during the password reset", blocked(request_blocked(Reason::KeyUsed, false, Some(true), true)), "the key unlocked this boot: waiting until the user has logged in (and reset their password)"),
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
