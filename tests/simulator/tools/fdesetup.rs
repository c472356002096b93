//! `/usr/bin/fdesetup`: FileVault state, deferral, the recovery keys, validation and rotation.
//!
//! Corpus samples are printed byte for byte where the state has one (`corpus`); the other
//! lines follow PLATFORM.md and corpus/PATTERNS.md. `changerecovery` changes the scenario's PRK
//! and, with the escrow payload installed, the escrow file's time. Wording that no source shows
//! is marked INVENTED next to it.

use crate::corpus;
use crate::random;
use crate::scenario::{FileVaultState, Scenario, UsedThisBoot};

use super::{Answer, Ctx};

/// `usingrecoverykey` on APFS 10.13/10.14 (grahamgilbert/crypt #65, #86). The sources show
/// neither stream nor exit code: stderr and 1 are inferred from Crypt's `check_output` failing
/// (as in the project's hand-written fixture `fdesetup-usingrecoverykey/apfs-not-supported`).
const USING_RECOVERY_KEY_NOT_SUPPORTED: &str = "This command is not supported on APFS volumes.\n";
/// Authentication failure of `changerecovery` (cybertunnel/Filevault-Reissue matches
/// `Unable to unlock or authenticate to FileVault` on stderr; exit 11 is the man page's
/// "Authentication error"). The `Error: ` prefix and period follow fdesetup's other errors.
const AUTH_FAILED: &str = "Error: Unable to unlock or authenticate to FileVault.\n";
const AUTH_FAILED_EXIT: i32 = 11;
/// INVENTED: the man page's exit 15 is "Bad input error"; no sample shows the text.
const BAD_INPUT: &str = "Error: Unable to read the input property list.\n";
const BAD_INPUT_EXIT: i32 = 15;
/// `changerecovery` while FileVault is off. INVENTED text; exit 1 is the man page's
/// "FileVault is Off.".
const FILEVAULT_OFF: &str = "Error: FileVault is Off.\n";

pub fn answer(args: &[&str], stdin: &[u8], s: &mut Scenario, ctx: &Ctx) -> Answer {
    match args {
        ["status"] => status(s),
        ["showdeferralinfo"] => showdeferralinfo(s),
        ["haspersonalrecoverykey"] => Answer::stdout(if s.recovery_key.personal.is_some() {
            corpus::HAS_PRK_TRUE
        } else {
            b"false\n"
        }),
        ["hasinstitutionalrecoverykey"] => Answer::stdout(if s.recovery_key.institutional {
            b"true\n"
        } else {
            corpus::HAS_IRK_FALSE
        }),
        ["usingrecoverykey"] => match s.recovery_key.used_this_boot {
            UsedThisBoot::Known(true) => Answer::stdout("true\n"),
            UsedThisBoot::Known(false) => Answer::stdout(corpus::USING_RECOVERY_KEY_FALSE),
            UsedThisBoot::Unsupported(_) => Answer::stderr(USING_RECOVERY_KEY_NOT_SUPPORTED, 1),
        },
        ["validaterecovery", "-inputplist"] => validaterecovery(stdin, s),
        ["changerecovery", "-personal", "-inputplist"] => changerecovery(stdin, s, ctx),
        _ => usage(args),
    }
}

/// `fdesetup status`. Order of lines: the state line first, the master keychain line next
/// (kc9wwh/macOSUpgrade#53), the deferral line, and the progress line last (rtrouton's EA reads
/// progress with `tail -1`).
fn status(s: &Scenario) -> Answer {
    let fv = &s.filevault;
    if fv.state == FileVaultState::On && fv.master_keychain && !fv.restart_required {
        return Answer::stdout(corpus::STATUS_ON_MASTER_KEYCHAIN);
    }
    // Decrypting reads "Off": Crypt and Escrow Buddy test `FileVault is On.` before
    // `Decryption in progress:`, so a decrypting Mac does not print "On".
    let (on, progress) = match fv.state {
        FileVaultState::On => (true, None),
        FileVaultState::Off | FileVaultState::OffRestartPending | FileVaultState::Deferred => {
            (false, None)
        }
        FileVaultState::Encrypting => (true, Some("Encryption")),
        FileVaultState::Decrypting => (false, Some("Decryption")),
    };
    let word = if on { "On" } else { "Off" };
    let mut lines = vec![if fv.state == FileVaultState::OffRestartPending {
        // PATTERNS.md "fdesetup status" (MikeMcQuaid/strap's regex); pattern only.
        "FileVault is Off, but will be enabled after the next restart.".to_string()
    } else if fv.restart_required {
        format!("FileVault is {word}, but needs to be restarted to finish.")
    } else {
        format!("FileVault is {word}.")
    }];
    if fv.master_keychain {
        lines.push("FileVault master keychain appears to be installed.".into());
    }
    if fv.state == FileVaultState::Deferred {
        // macOS 13.2 dropped the user name (jamf/DEPNotify-Starter#58).
        lines.push(match (&fv.deferred_user, s.macos_at_least(13, 2)) {
            (Some(user), false) => {
                format!("Deferred enablement appears to be active for user '{user}'.")
            }
            _ => "Deferred enablement appears to be active.".into(),
        });
    }
    if let Some(what) = progress {
        lines.push(match fv.percent {
            Some(p) => format!("{what} in progress: Percent completed = {p}"),
            None => format!("{what} in progress: Pending"),
        });
    }
    Answer::stdout(lines.join("\n") + "\n")
}

/// The corpus dump of an MDM deferral, with the scenario's OutputPath; `Not found.` without
/// one (TravellingTechGuy/reportFileVault compares with that literal).
fn showdeferralinfo(s: &Scenario) -> Answer {
    let Some(d) = &s.deferral else {
        return Answer::stdout("Not found.\n");
    };
    if d.output_path == corpus::SHOWDEFERRALINFO_OUTPUT_PATH {
        return Answer::stdout(corpus::SHOWDEFERRALINFO_ACTIVE);
    }
    let text = String::from_utf8_lossy(corpus::SHOWDEFERRALINFO_ACTIVE)
        .replace(corpus::SHOWDEFERRALINFO_OUTPUT_PATH, &d.output_path);
    Answer::stdout(text)
}

/// The `Password` of the stdin plist (and `Username`, when given).
fn credential(stdin: &[u8]) -> Option<(Option<String>, String)> {
    let value = plist::Value::from_reader(std::io::Cursor::new(stdin)).ok()?;
    let dict = value.as_dictionary()?;
    let password = dict.get("Password")?.as_string()?.to_string();
    let username = dict
        .get("Username")
        .and_then(|v| v.as_string())
        .map(str::to_string);
    Some((username, password))
}

/// `true` (exit 0) for the current PRK, else `false` with a non-zero exit (Crypt treats
/// non-zero + `false` as a clean "invalid": corpus/PATTERNS.md).
fn validaterecovery(stdin: &[u8], s: &Scenario) -> Answer {
    let Some((_, password)) = credential(stdin) else {
        return Answer::stderr(BAD_INPUT, BAD_INPUT_EXIT);
    };
    if s.recovery_key.personal.as_deref() == Some(password.as_str()) {
        Answer::stdout("true\n")
    } else {
        Answer::stdout("false\n").with_exit(1)
    }
}

/// A new PRK for a credential that is the current PRK. User passwords are not simulated, so a
/// `Username`/`Password` pair always fails authentication. With
/// `recovery_key.delete_on_bad_credential` a failure deletes the PRK, as 10.13.x did.
fn changerecovery(stdin: &[u8], s: &mut Scenario, ctx: &Ctx) -> Answer {
    let Some((username, password)) = credential(stdin) else {
        return Answer::stderr(BAD_INPUT, BAD_INPUT_EXIT);
    };
    if !matches!(
        s.filevault.state,
        FileVaultState::On | FileVaultState::Encrypting
    ) {
        return Answer::stderr(FILEVAULT_OFF, 1);
    }
    let prk_ok = username.is_none() && s.recovery_key.personal.as_deref() == Some(&*password);
    if !prk_ok {
        if s.recovery_key.delete_on_bad_credential {
            s.recovery_key.personal = None;
        }
        return Answer::stderr(AUTH_FAILED, AUTH_FAILED_EXIT);
    }
    let key = random::recovery_key();
    s.recovery_key.personal = Some(key.clone());
    if s.escrow.profile_installed {
        s.escrow.stage_blob(ctx.now);
    }
    Answer::stdout(format!("New personal recovery key = '{key}'\n"))
}

/// INVENTED wording in fdesetup's style; exit 1 as the brief for the simulator asks (the man
/// page's 13 "Unknown command error" would be the real code).
fn usage(args: &[&str]) -> Answer {
    Answer::stderr(
        format!(
            "Error: Unknown or unsupported command: {}\nUsage: fdesetup <verb> <options>\n(keywarden-sim does not play this invocation.)\n",
            args.join(" ")
        ),
        1,
    )
}
