//! `keywarden doctor`: every problem in the status with what it means and what to do about it,
//! for the helpdesk technician on the phone with a locked-out user, then the effective
//! configuration and where each value came from. Works for any user: it reads the status plist
//! (0644) and the preference files, never a tool, never a secret.
//!
//! Remedies name the accounts involved from the status (who can grant a SecureToken, which admin
//! holds one) and give commands that prompt for passwords (`-` in sysadminctl, per its usage:
//! "Pass '-' instead of password in commands above to request prompt", ss64.com/osx/sysadminctl),
//! so no password lands in a shell history.

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::clock;
use crate::config::{self, Loaded, Source};
use crate::report;
use crate::status::{Problem, Status, TokenUser};

/// What a problem means and what to do, with the status fields that show it.
pub struct Advice {
    pub meaning: String,
    pub remedy: String,
    pub fields: &'static str,
}

fn token_holding_admins(s: &Status) -> Vec<&TokenUser> {
    s.secure_token
        .users
        .iter()
        .filter(|u| u.admin && u.secure_token == Some(true))
        .collect()
}

fn names(users: &[&TokenUser]) -> String {
    users
        .iter()
        .map(|u| u.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The advice for one problem, from what the status says.
pub fn advice(p: Problem, s: &Status) -> Advice {
    let grantors = token_holding_admins(s);
    let grantor = grantors
        .first()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| "ADMIN".to_owned());
    let (meaning, remedy, fields) = match p {
        Problem::FileVaultOff => (
            format!("FileVault is {:?}: the disk is not protected, and there is no recovery key to keep.", s.file_vault.state),
            "Turn FileVault on with your MDM's FileVault payload (com.apple.MCX.FileVault2, deferred to the next login) together with the escrow payload, so the key it creates is escrowed. If FileVault is decrypting, find out who turned it off.".to_owned(),
            "FileVault.State, FileVault.DeferredUser",
        ),
        Problem::RecoveryKeyMissing => (
            "FileVault is on but the Mac has no personal recovery key: if the user forgets their password, nobody can unlock the disk.".to_owned(),
            "Generate a new key while the escrow payload is installed: request a rotation (sudo keywarden rotate --request) so Escrow Buddy makes one at the next login, or have your MDM do it.".to_owned(),
            "RecoveryKey.Present, RecoveryKey.State",
        ),
        Problem::RecoveryKeyUsed => (
            format!(
                "The recovery key unlocked this Mac{}. Whoever read it out can unlock the disk again until it is replaced.",
                s.recovery_key.last_used_at.map(|t| format!(" (seen {} UTC)", clock::ea_format(t))).unwrap_or_default()
            ),
            "Nothing to do by hand: Keywarden requests a rotation once the user has logged in after the password reset macOS asks for (a rotation during that reset breaks it). Follow Rotation.State; if it stays Pending, see Rotation.LastError.".to_owned(),
            "RecoveryKey.State, RecoveryKey.LastUsedAt, Rotation.State",
        ),
        Problem::RecoveryKeyNotEscrowed => (
            format!(
                "The escrow profile is installed, but the current key was certainly not staged for it: {}. The key was made before this payload arrived (for example before a re-enrolment or a change of the MDM's certificate), so the MDM cannot have it.",
                s.escrow.evidence.as_deref().unwrap_or("no escrow file for it")
            ),
            "A new key made now is escrowed to the installed payload: Keywarden requests one (Rotation.Reason NotEscrowed). Until it is confirmed, do not rely on the key your MDM shows for this Mac.".to_owned(),
            "Escrow.State, Escrow.Evidence, Escrow.Recipient, Escrow.Certificate, Escrow.FileVaultPRKModifiedAt",
        ),
        Problem::EscrowProfileMissing => (
            "No installed profile carries the FileVault recovery key escrow payload (com.apple.security.FDERecoveryKeyEscrow): new keys never reach the MDM, and Keywarden will not request a rotation without it.".to_owned(),
            "Scope your MDM's FileVault escrow profile to this Mac, then check again (sudo keywarden check).".to_owned(),
            "Escrow.ProfileInstalled, Escrow.State",
        ),
        Problem::RotationOverdue => (
            "A rotation was requested and has not happened within RotationOverdueDays.".to_owned(),
            "Ask the user to log out and back in with their password (Escrow Buddy rotates at login). See Rotation.LastError and `keywarden audit` for what was tried.".to_owned(),
            "Rotation.State, Rotation.RequestedAt, Rotation.Attempts, Rotation.LastError",
        ),
        Problem::RotationNeedsPasswordLogin => (
            "The user logged in with a smart card: Escrow Buddy was given the PIN, fdesetup refused it, and Escrow Buddy gave up on the request (it cleared GenerateNewKey). Keywarden does not ask again by itself: every smart-card login would fail the same way.".to_owned(),
            "Ask again when the user can log in once with their password: sudo keywarden rotate --request, then have them log out and log in with the password (not the card). Or rotate with the current key by hand (keywarden rotate --current-key, if AllowRotateWithCurrentKey is on), or through your MDM. Removing the card pairing also lets Keywarden ask again.".to_owned(),
            "SecureToken.Users (SmartCard), Rotation.State, Rotation.LastError",
        ),
        Problem::EscrowBuddyMechanismMissing => (
            "Escrow Buddy is installed, but its mechanism (Escrow Buddy:Invoke,privileged) is missing from the login right system.login.console. macOS updates can drop it; it will not run at login.".to_owned(),
            "Reinstall Escrow Buddy (its installer re-registers the mechanism). Keywarden never edits the authorization database itself.".to_owned(),
            "Problems, Rotation.Method",
        ),
        Problem::ConsoleUserWithoutSecureToken => {
            let user = s.secure_token.console_user.clone().unwrap_or_else(|| "USER".to_owned());
            let who = if grantors.is_empty() {
                "No admin account on this Mac is listed with a SecureToken, so none can grant one here; if a token holder exists that Keywarden does not list, use it.".to_owned()
            } else {
                format!("Admins holding a SecureToken who can grant one: {}.", names(&grantors))
            };
            (
                format!("{user}, logged in now, has no SecureToken: they cannot unlock FileVault at startup or authorise updates."),
                format!(
                    "{who} As that admin, run (each - prompts for a password):\n      sudo sysadminctl -secureTokenOn {user} -password - -adminUser {grantor} -adminPassword -\n    then check: sysadminctl -secureTokenStatus {user}"
                ),
                "SecureToken.ConsoleUserHasToken, SecureToken.UsersWithoutToken, SecureToken.Users",
            )
        }
        Problem::AdditionalAdminWithSecureToken => {
            let extra = s.secure_token.additional_admins_with_token.join(", ");
            (
                format!("Admin account(s) {extra} hold a SecureToken besides the user's. They appear at the FileVault unlock screen, complicate password resets, and tempt scripts that carry their password."),
                format!(
                    "If the account is meant to hold one (e.g. a managed admin), list it in ExpectedSecureTokenAdmins. Otherwise remove its token, as another token holder:\n      sudo sysadminctl -secureTokenOff {} -password - -adminUser {} -adminPassword -",
                    s.secure_token.additional_admins_with_token.first().map(String::as_str).unwrap_or("ADMIN"),
                    s.secure_token.console_user.as_deref().unwrap_or("USER")
                ),
                "SecureToken.AdditionalAdminsWithToken, SecureToken.Users",
            )
        }
        Problem::NoHumanVolumeOwner => (
            "No user account owns the volume. On Apple silicon, volume owners are the accounts that may authorise software updates and startup security changes; without one, macOS updates cannot be installed.".to_owned(),
            format!(
                "Give a user a SecureToken from an account that has one (on Apple silicon token holders are volume owners, Apple Platform Deployment: \"Use secure token, bootstrap token, and volume ownership in deployments\"):\n      sudo sysadminctl -secureTokenOn USER -password - -adminUser {grantor} -adminPassword -\n    With a bootstrap token escrowed, macOS 11+ can grant one to a user who logs in."
            ),
            "SecureToken.HumanVolumeOwners, SecureToken.Users (VolumeOwner)",
        ),
        Problem::BootstrapTokenNotEscrowed => (
            "Your MDM supports a bootstrap token, but this Mac has not escrowed one. Without it, new and mobile accounts get no SecureToken at login, and on Apple silicon the MDM cannot authorise some updates.".to_owned(),
            format!(
                "Escrow it as an admin who holds a SecureToken ({}), which prompts for that admin's name and password:\n      sudo profiles install -type bootstraptoken",
                if grantors.is_empty() { "none is listed here".to_owned() } else { names(&grantors) }
            ),
            "BootstrapToken.Supported, BootstrapToken.Escrowed",
        ),
        Problem::PlaintextKeyOnDisk => (
            format!(
                "{} was left by deferred FileVault enablement and holds a recovery key in plain text, readable by anyone with root or a copy of the disk. Keywarden never reads it.",
                s.file_vault.plaintext_key_file.as_deref().unwrap_or("A file")
            ),
            "First make sure the key is escrowed (Escrow.State Staged) or has been rotated since; then delete the file: sudo rm -P <path>. Set your FileVault payload's OutputPath carefully in future.".to_owned(),
            "FileVault.PlaintextKeyFile",
        ),
        Problem::ToolFailed => (
            format!("A macOS tool failed in the last check; the sections it feeds keep their last good values, marked Stale. Errors: {}", s.daemon.errors.join("; ")),
            "Read the errors above: a timeout (raise ToolTimeout if the Mac is slow), a missing tool, or output Keywarden does not recognise (report it with the excerpt). Check again with sudo keywarden check.".to_owned(),
            "Daemon.Errors, every section's Stale",
        ),
        Problem::RotationFlagDuringPasswordReset => (
            "The recovery key unlocked this Mac, so macOS will make the user reset their password at the next login; another tool has set Escrow Buddy's GenerateNewKey, and a rotation during that login breaks the reset. Keywarden never clears a flag it did not set.".to_owned(),
            format!("Find the tool that set it (a Jamf policy or script?) and stop it; then remove the flag before the user logs in:\n      sudo defaults delete {} GenerateNewKey\n    Keywarden requests the rotation itself once the user has logged in.", crate::paths::ESCROW_BUDDY_DOMAIN),
            "Problems, Daemon.Errors, RecoveryKey.UsedThisBoot",
        ),
        Problem::EscrowUnconfirmed => (
            format!(
                "Keywarden cannot confirm that the current key was staged for the installed escrow payload, and cannot say it was not: {}. An MDM that re-sends its FileVault profile produces exactly this on every Mac, so nothing is requested.",
                s.escrow.evidence.as_deref().unwrap_or("only dates are known")
            ),
            "Check the key in your MDM (Jamf Pro's individual recovery key validation, Fleet's \"verified\"): if it validates, nothing to do. If not, request a new key on this Mac (sudo keywarden rotate --request). To have Keywarden request one whenever escrow is unconfirmed, set RotateWhenEscrowUnconfirmed (not advised for a fleet whose MDM re-sends profiles).".to_owned(),
            "Escrow.State, Escrow.Evidence, Escrow.ProfileInstalledAt, Escrow.FileVaultPRKModifiedAt, Escrow.Recipient, Escrow.Certificate",
        ),
        Problem::ProfileUnreadable => (
            format!(
                "A computer-level profile in `profiles -C -o stdout-xml` does not have the expected shape, so Keywarden skipped it: {}. Escrow is judged from the escrow payload's own profile; only if the unreadable profile might carry the escrow payload is escrow left unknown.",
                s.daemon.errors.iter().filter(|e| e.starts_with("profile ")).cloned().collect::<Vec<_>>().join("; ")
            ),
            "Nothing to do for escrow if Escrow.State is known. Report the profile's excerpt (sudo profiles -C -o stdout-xml) so Keywarden can learn its shape.".to_owned(),
            "Daemon.Errors, Escrow.State",
        ),
        Problem::StateUnreadable => (
            "Keywarden's own state (/var/db/keywarden/state.plist) could not be used or saved: it was moved aside and rebuilt, or the disk refused the write.".to_owned(),
            "See Daemon.Errors. A moved-aside file is kept next to it for inspection; free disk space or fix the directory's owner and mode (root:wheel 0700) if that is the cause.".to_owned(),
            "Daemon.Errors",
        ),
    };
    Advice {
        meaning,
        remedy,
        fields,
    }
}

/// Each code with what it means, what to do and where the status shows it.
fn explain(o: &mut String, codes: &[Problem], s: &Status) {
    for p in codes {
        let a = advice(*p, s);
        let _ = writeln!(o, "\n{}", p.code());
        let _ = writeln!(o, "  What it means: {}", a.meaning);
        let _ = writeln!(o, "  What to do:    {}", a.remedy);
        let _ = writeln!(o, "  Status fields: {}", a.fields);
    }
}

/// The doctor's report.
pub fn report(
    status: Option<&Status>,
    status_error: Option<&str>,
    cfg: &Loaded,
    now: Timestamp,
) -> String {
    let mut o = String::new();
    match (status, status_error) {
        (Some(s), _) => {
            let age = (now.as_second() - s.generated_at.as_second()).max(0) / 60;
            let _ = writeln!(
                o,
                "Keywarden doctor: status written {} UTC ({age} min ago) by Keywarden {}.",
                clock::ea_format(s.generated_at),
                s.version
            );
            if let Some(why) =
                report::stale_warning(s.generated_at, now, cfg.config.stale_after_hours)
            {
                let _ = writeln!(
                    o,
                    "\n! The status is stale: {why}\n  Check: sudo launchctl print system/{} ; then sudo keywarden check",
                    crate::paths::LAUNCHD_LABEL
                );
            }
            if cfg.config.escrow_outside_mdm {
                let _ = writeln!(
                    o,
                    "\nEscrowOutsideMDM is set: keys on this Mac are escrowed outside the MDM, so Keywarden does not check escrow (confirm it where the keys go); without the escrow payload it reports a used key and does not rotate (after your tool replaces it: sudo keywarden rotate --replaced)."
                );
            }
            if s.problems.is_empty() {
                let _ = writeln!(
                    o,
                    "\nNo problems: a recovery key is present, unused, and staged for escrow. Keywarden cannot see your MDM's copy: confirm it there (Jamf Pro's individual key validation, Fleet's \"verified\")."
                );
            } else {
                let _ = writeln!(o, "\n{} problem(s) endangering recovery:", s.problems.len());
                explain(&mut o, &s.problems, s);
            }
            if !s.warnings.is_empty() {
                let _ = writeln!(
                    o,
                    "\n{} warning(s), hygiene that does not endanger recovery:",
                    s.warnings.len()
                );
                explain(&mut o, &s.warnings, s);
            }
        }
        (None, err) => {
            let _ = writeln!(
                o,
                "Keywarden doctor: no status to read ({}).\n  Is Keywarden installed and running? sudo launchctl print system/{} ; sudo keywarden check",
                err.unwrap_or("unknown reason"),
                crate::paths::LAUNCHD_LABEL
            );
        }
    }
    o.push('\n');
    o.push_str(&configuration(cfg));
    crate::text::terminal_lines(&o)
}

/// The effective configuration, each key with its source, and the configuration warnings: the
/// doctor's last part, and `config.txt` of a selftest bundle. Not yet made safe for a terminal
/// (`text::terminal_lines`): each caller does that over the whole of what it shows.
pub fn configuration(cfg: &Loaded) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Configuration (preference domain {}):",
        crate::paths::DOMAIN
    );
    let _ = writeln!(o, "  {:<27} {:<32} SOURCE", "KEY", "VALUE");
    for spec in config::KEYS {
        let source = cfg
            .sources
            .get(spec.name)
            .copied()
            .unwrap_or(Source::Default);
        let _ = writeln!(
            o,
            "  {:<27} {:<32} {}{}",
            spec.name,
            spec.show(&cfg.config),
            source.as_str(),
            if spec.restricted { " (†)" } else { "" }
        );
    }
    let _ = writeln!(
        o,
        "  managed = {}; local = {}\n  † honoured only from the managed file or a local file owned by root and not writable by others",
        crate::paths::MANAGED_PREFS,
        crate::paths::LOCAL_PREFS
    );
    if !cfg.warnings.is_empty() {
        let _ = writeln!(o, "\nConfiguration warnings:");
        for w in &cfg.warnings {
            let _ = writeln!(o, "  - {w}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> Status {
        Status::from_bytes(include_bytes!("../../tests/golden/healthy.plist")).unwrap()
    }

    #[test]
    fn every_problem_has_advice_and_names_its_status_fields() {
        let s = golden();
        for p in Problem::ALL {
            let a = advice(p, &s);
            assert!(!a.meaning.is_empty() && !a.remedy.is_empty(), "{p:?}");
            assert!(!a.fields.is_empty(), "{p:?}");
        }
    }

    #[test]
    fn a_user_without_a_token_is_told_which_admin_can_grant_one() {
        let mut s = golden();
        s.secure_token.console_user = Some("bob".into());
        let a = advice(Problem::ConsoleUserWithoutSecureToken, &s);
        assert!(
            a.remedy
                .contains("Admins holding a SecureToken who can grant one: alice."),
            "{}",
            a.remedy
        );
        assert!(
            a.remedy.contains(
                "sysadminctl -secureTokenOn bob -password - -adminUser alice -adminPassword -"
            ),
            "{}",
            a.remedy
        );
    }

    #[test]
    fn every_configuration_key_is_shown_with_its_source() {
        let cfg = config::from_dicts(None, None, false, &mut Vec::new());
        let text = report(Some(&golden()), None, &cfg, golden().generated_at);
        for spec in config::KEYS {
            let row = format!("  {:<27} {:<32} default", spec.name, spec.show(&cfg.config));
            assert!(text.contains(&row), "{row:?} not in\n{text}");
        }
        assert!(text.contains("No problems"));
    }

    #[test]
    fn escrow_outside_the_mdm_is_said_in_one_line_issue_14() {
        let mut cfg = config::from_dicts(None, None, false, &mut Vec::new());
        let text = report(Some(&golden()), None, &cfg, golden().generated_at);
        assert!(!text.contains("EscrowOutsideMDM is set"), "{text}");
        cfg.config.escrow_outside_mdm = true;
        let text = report(Some(&golden()), None, &cfg, golden().generated_at);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("EscrowOutsideMDM is set"))
            .collect();
        assert_eq!(lines, ["EscrowOutsideMDM is set: keys on this Mac are escrowed outside the MDM, so Keywarden does not check escrow (confirm it where the keys go); without the escrow payload it reports a used key and does not rotate (after your tool replaces it: sudo keywarden rotate --replaced)."]);
    }
}
