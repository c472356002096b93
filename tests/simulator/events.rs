//! Things that happen to the Mac between checks: a reboot, a login, a logout.
//!
//! Each event changes the scenario and says what happened, one line per fact (the demo prints
//! them). A login runs Escrow Buddy the way its `Invoke` mechanism does
//! (macadmins/escrow-buddy `Escrow Buddy/Mechanisms/Invoke.swift`): it does nothing unless
//! FileVault is on, the escrow payload forces a `Location` and `GenerateNewKey` is true; it
//! runs `fdesetup changerecovery` with what the login gave it as the password (a smart-card
//! login gives the card's PIN, which fdesetup refuses: macadmins/escrow-buddy#5); once it has
//! run it, successful or not, it sets `GenerateNewKey` to false. A login with no password for it
//! (`Invoke.swift` then returns early) or that runs no login mechanism leaves the flag set: the
//! simulator plays that as FileVault's automatic login (`--automatic`), where whether login
//! mechanisms run is unverified.

use jiff::Timestamp;

use crate::random;
use crate::scenario::{EscrowCert, FileVaultState, LabUsers, Scenario, UsedThisBoot};

/// `event DIR reboot [--with-recovery-key]`: a new boot session, nobody logged in, and the key
/// was (or was not) used to unlock the disk at this boot. An APFS 10.13/10.14 Mac keeps saying
/// "not supported".
pub fn reboot(s: &mut Scenario, with_recovery_key: bool) -> Vec<String> {
    s.boot_session_uuid = random::uuid();
    s.console_user = None;
    s.filevault.restart_required = false;
    let mut out = vec![format!("reboot: new boot session {}", s.boot_session_uuid)];
    if s.filevault.state == FileVaultState::OffRestartPending {
        // INVENTED detail: Apple silicon (and T2) volumes are already encrypted by hardware, so
        // FileVault is simply on; an older Intel Mac starts converting the volume.
        s.filevault.state = if s.macos.apple_silicon {
            FileVaultState::On
        } else {
            FileVaultState::Encrypting
        };
        out.push(format!(
            "reboot: FileVault was enabled at the restart ({:?})",
            s.filevault.state
        ));
    }
    match s.recovery_key.used_this_boot {
        UsedThisBoot::Unsupported(_) => {
            out.push("reboot: usingrecoverykey is not supported on this Mac".into())
        }
        UsedThisBoot::Known(_) => {
            s.recovery_key.used_this_boot = UsedThisBoot::Known(with_recovery_key);
            out.push(if with_recovery_key {
                "reboot: the disk was unlocked with the personal recovery key".into()
            } else {
                "reboot: the disk was unlocked with a user password".into()
            });
        }
    }
    out.push("reboot: nobody is logged in".into());
    out
}

/// How a user logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// At the login window with the password.
    Password,
    /// At the login window with a smart card and its PIN.
    SmartCard,
    /// FileVault's automatic login after the disk was unlocked at boot: Escrow Buddy does not
    /// run (whether login mechanisms run then is unverified on a Mac; this is the case Keywarden
    /// must survive).
    Automatic,
}

/// `event DIR login NAME [--smart-card | --automatic]`.
pub fn login(
    s: &mut Scenario,
    name: &str,
    how: How,
    now: Timestamp,
) -> Result<Vec<String>, String> {
    let user = s
        .people()
        .find(|u| u.name == name)
        .map(std::borrow::Cow::into_owned)
        .ok_or_else(|| format!("login: {name:?} is not a user of the scenario"))?;
    s.console_user = Some(name.to_string());
    let mut out = vec![format!(
        "login: {name} logged in {}",
        match how {
            How::Password => "with a password",
            How::SmartCard => "with a smart card",
            How::Automatic => "automatically after the FileVault unlock at boot",
        }
    )];
    if how == How::Automatic {
        out.push(
            "Escrow Buddy: did not run (FileVault's automatic login); GenerateNewKey stays as it was"
                .into(),
        );
        return Ok(out);
    }

    let eb = &s.escrow_buddy;
    if !eb.installed || !eb.mechanism_registered {
        out.push("Escrow Buddy: not in the login mechanisms, did not run".into());
        return Ok(out);
    }
    match s.filevault.state {
        FileVaultState::On | FileVaultState::Encrypting => {}
        FileVaultState::Decrypting => {
            out.push("Escrow Buddy: FileVault is decrypting, nothing to do".into());
            return Ok(out);
        }
        FileVaultState::Off | FileVaultState::OffRestartPending | FileVaultState::Deferred => {
            out.push("Escrow Buddy: FileVault is not enabled, nothing to do".into());
            return Ok(out);
        }
    }
    if !s.escrow.profile_installed {
        out.push("Escrow Buddy: no escrow payload (Location not forced), did nothing".into());
        return Ok(out);
    }
    if s.escrow_buddy.generate_new_key != Some(true) {
        out.push("Escrow Buddy: GenerateNewKey is not true, nothing to do".into());
        return Ok(out);
    }

    // `fdesetup changerecovery -personal -inputplist` with the user's name and what the login
    // gave as the password.
    if how == How::SmartCard {
        out.push(format!(
            "Escrow Buddy: fdesetup changerecovery failed ({name} gave the smart card's PIN: User could not be authenticated)"
        ));
    } else if s.escrow_buddy.fail_next_rotation {
        s.escrow_buddy.fail_next_rotation = false;
        out.push("Escrow Buddy: fdesetup changerecovery failed (simulated failure)".into());
    } else if !user.secure_token {
        out.push(format!(
            "Escrow Buddy: fdesetup changerecovery failed ({name} is not a FileVault user)"
        ));
    } else {
        s.recovery_key.personal = Some(random::recovery_key());
        s.escrow.stage_blob(now);
        out.push("Escrow Buddy: new personal recovery key generated".into());
        out.push(format!("Escrow Buddy: FileVaultPRK.dat rewritten at {now}"));
    }
    s.escrow_buddy.generate_new_key = Some(false);
    out.push("Escrow Buddy: set GenerateNewKey to false".into());
    Ok(out)
}

/// `event DIR resend-profile [--certificate NAME]`: the MDM re-sends the escrow profile in place
/// (PLATFORM.md "Escrow": Fleet's migration 20250723111413, Jamf's "distribute to all"). Its
/// install date becomes now (whether a Mac moves `ProfileInstallDate` on a re-send is
/// unverified); its certificate changes only when named. macOS makes no new blob: the escrow
/// file keeps its time and recipient.
pub fn resend_profile(
    s: &mut Scenario,
    certificate: Option<EscrowCert>,
    now: Timestamp,
) -> Result<Vec<String>, String> {
    if !s.escrow.profile_installed {
        return Err("resend-profile: no escrow profile is installed".into());
    }
    s.escrow.profile_install_date = now.to_string();
    let mut out = vec![format!(
        "resend-profile: {} installed again at {now}",
        s.escrow.profile_identifier
    )];
    match certificate {
        Some(c) if c != s.escrow.certificate => {
            s.escrow.certificate = c;
            out.push(format!("resend-profile: its certificate is now {c:?}"));
        }
        _ => out.push(format!(
            "resend-profile: the same certificate ({:?})",
            s.escrow.certificate
        )),
    }
    out.push("resend-profile: FileVaultPRK.dat is unchanged (no new key was made)".into());
    Ok(out)
}

/// `event DIR logout`.
pub fn logout(s: &mut Scenario) -> Vec<String> {
    let was = s.console_user.take();
    vec![match was {
        Some(name) => format!("logout: {name} logged out, nobody is logged in"),
        None => "logout: nobody was logged in".into(),
    }]
}

/// `event DIR add-users COUNT [--with-token K]`: COUNT more local people named `user0001`, ...
/// with UIDs from 2001 (clear of the scenario's own), the first K holding a SecureToken; none an
/// admin. What a lab Mac with thousands of mobile accounts shows the tools (issue 16, item 10).
pub fn add_users(s: &mut Scenario, count: usize, with_token: usize) -> Result<Vec<String>, String> {
    let first_uid = s
        .people()
        .map(|u| u.uid + 1)
        .max()
        .unwrap_or(2001)
        .max(2001);
    let taken = s.people().filter(|u| u.name.starts_with("user")).count();
    // Kept as one batch, not `count` entries (`Scenario::lab_users`).
    s.lab_users.push(LabUsers {
        first: taken + 1,
        first_uid,
        count,
        with_token,
    });
    s.validate()?;
    Ok(vec![format!(
        "add-users: {count} local users added ({} with a SecureToken)",
        with_token.min(count)
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flagged() -> Scenario {
        Scenario::default()
            .assign("escrow_buddy.generate_new_key=true")
            .unwrap()
    }

    #[test]
    fn add_users_appends_people_with_unique_uids_the_first_ones_holding_a_token() {
        let mut s = Scenario::default();
        add_users(&mut s, 3, 1).unwrap();
        add_users(&mut s, 2, 0).unwrap();
        let added: Vec<(String, i64, bool)> = s
            .people()
            .skip(2)
            .map(|u| (u.name.clone(), u.uid, u.secure_token))
            .collect();
        assert_eq!(
            added,
            vec![
                ("user0001".into(), 2001, true),
                ("user0002".into(), 2002, false),
                ("user0003".into(), 2003, false),
                ("user0004".into(), 2004, false),
                ("user0005".into(), 2005, false),
            ]
        );
    }

    #[test]
    fn users_added_in_bulk_are_kept_as_a_batch_and_a_record_clashing_with_it_is_refused() {
        let mut s = Scenario::default();
        add_users(&mut s, 5000, 10).unwrap();
        assert_eq!(s.users.len(), 2, "kept as one batch");
        assert!(s.to_json().len() < 10_000, "the scenario stays small");
        assert_eq!(s.account("user4999").map(|a| a.uid), Some(6999));
        assert!(s.account("user0010").unwrap().secure_token);
        assert!(!s.account("user0011").unwrap().secure_token);
        assert!(
            s.assign(r#"users.2={"name":"x","uid":3000}"#).is_err(),
            "a UID in the batch"
        );
        assert!(
            s.assign(r#"users.2={"name":"user0042","uid":9000}"#)
                .is_err(),
            "a name in it"
        );
        assert!(s.assign(r#"users.2={"name":"x","uid":9000}"#).is_ok());
        assert!(
            s.assign(r#"lab_users.1={"first":1,"first_uid":9000,"count":1,"with_token":0}"#)
                .is_err(),
            "a batch overlapping another"
        );
    }

    #[test]
    fn a_shared_uid_passes_only_when_the_record_says_so() {
        let clash = r#"users.2={"name":"alice2","uid":501}"#;
        assert!(Scenario::default().assign(clash).is_err());
        let shared = r#"users.2={"name":"alice2","uid":501,"shares_uid":true}"#;
        assert!(Scenario::default().assign(shared).is_ok());
    }

    #[test]
    fn a_password_login_with_the_flag_rotates_the_key_and_clears_the_flag() {
        let mut s = flagged();
        let before = s.recovery_key.personal.clone();
        login(&mut s, "alice", How::Password, Timestamp::now()).unwrap();
        assert_ne!(s.recovery_key.personal, before);
        assert_eq!(s.escrow_buddy.generate_new_key, Some(false));
    }

    #[test]
    fn a_failed_rotation_still_clears_the_flag_and_consumes_the_failure() {
        let mut s = flagged()
            .assign("escrow_buddy.fail_next_rotation=true")
            .unwrap();
        let before = s.clone();
        login(&mut s, "alice", How::Password, Timestamp::now()).unwrap();
        assert_eq!(s.recovery_key.personal, before.recovery_key.personal);
        assert_eq!(
            s.escrow.prk_file_written_at,
            before.escrow.prk_file_written_at
        );
        assert_eq!(s.escrow_buddy.generate_new_key, Some(false));
        assert!(!s.escrow_buddy.fail_next_rotation);
    }

    #[test]
    fn a_smart_card_login_runs_escrow_buddy_with_the_pin_which_fails_and_consumes_the_flag() {
        let mut s = flagged();
        let before = s.clone();
        let said = login(&mut s, "alice", How::SmartCard, Timestamp::now()).unwrap();
        assert_eq!(s.recovery_key.personal, before.recovery_key.personal);
        assert_eq!(
            s.escrow.prk_file_written_at,
            before.escrow.prk_file_written_at
        );
        assert_eq!(s.escrow_buddy.generate_new_key, Some(false));
        assert!(said.iter().any(|l| l.contains("PIN")), "{said:?}");
    }

    #[test]
    fn filevaults_automatic_login_runs_no_escrow_buddy_and_leaves_the_flag_set() {
        let mut s = flagged();
        let before = s.recovery_key.personal.clone();
        login(&mut s, "alice", How::Automatic, Timestamp::now()).unwrap();
        assert_eq!(s.console_user.as_deref(), Some("alice"));
        assert_eq!(s.recovery_key.personal, before);
        assert_eq!(s.escrow_buddy.generate_new_key, Some(true));
    }

    #[test]
    fn a_resent_profile_moves_its_date_and_keeps_the_blob() {
        let mut s = Scenario::default();
        let before = s.clone();
        let now: Timestamp = "2026-11-01T08:00:00Z".parse().unwrap();
        resend_profile(&mut s, None, now).unwrap();
        assert_eq!(s.escrow.profile_install_date, now.to_string());
        assert_eq!(s.escrow.certificate, EscrowCert::A);
        assert_eq!(
            s.escrow.prk_file_written_at,
            before.escrow.prk_file_written_at
        );
        resend_profile(&mut s, Some(EscrowCert::B), now).unwrap();
        assert_eq!(s.escrow.certificate, EscrowCert::B);
        assert_eq!(s.escrow.prk_file_certificate, EscrowCert::A);
        let mut none = Scenario::default()
            .assign("escrow.profile_installed=false")
            .unwrap();
        assert!(resend_profile(&mut none, None, now).is_err());
    }

    #[test]
    fn a_rotation_after_the_certificate_changed_encrypts_to_the_new_one() {
        let mut s = flagged();
        s.escrow.certificate = EscrowCert::B;
        login(
            &mut s,
            "alice",
            How::Password,
            "2026-11-02T08:00:00Z".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(s.escrow.prk_file_certificate, EscrowCert::B);
    }

    #[test]
    fn without_the_escrow_payload_escrow_buddy_does_nothing() {
        let mut s = flagged().assign("escrow.profile_installed=false").unwrap();
        let before = s.recovery_key.personal.clone();
        login(&mut s, "alice", How::Password, Timestamp::now()).unwrap();
        assert_eq!(s.recovery_key.personal, before);
        assert_eq!(s.escrow_buddy.generate_new_key, Some(true));
    }

    #[test]
    fn a_reboot_starts_a_new_boot_with_nobody_logged_in() {
        let mut s = Scenario::default();
        let before = s.boot_session_uuid.clone();
        reboot(&mut s, true);
        assert_ne!(s.boot_session_uuid, before);
        assert_eq!(s.console_user, None);
        assert_eq!(s.recovery_key.used_this_boot, UsedThisBoot::Known(true));
    }

    #[test]
    fn a_reboot_enables_filevault_that_waited_for_the_restart() {
        for (apple_silicon, want) in [
            (true, FileVaultState::On),
            (false, FileVaultState::Encrypting),
        ] {
            let mut s = Scenario::default()
                .assign("filevault.state=\"OffRestartPending\"")
                .unwrap();
            s.macos.apple_silicon = apple_silicon;
            let lines = reboot(&mut s, false);
            assert_eq!(s.filevault.state, want);
            assert!(lines.iter().any(|l| l.contains("FileVault was enabled")));
        }
    }
}
