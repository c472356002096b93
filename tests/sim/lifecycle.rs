//! State that changes: the call log, `set`, events, key rotation and validation.

use std::time::{Duration, SystemTime};

use crate::support::tools::{password_plist, ToolsMac};
use crate::support::ESCROW_BUDDY_DOMAIN;

const PRK_FILE: &str = "/var/db/FileVaultPRK.dat";

fn new_key_from(stdout: &str) -> String {
    let key = stdout
        .strip_prefix("New personal recovery key = '")
        .and_then(|s| s.strip_suffix("'\n"))
        .unwrap_or_else(|| panic!("unexpected changerecovery output {stdout:?}"));
    let groups: Vec<&str> = key.split('-').collect();
    assert!(
        groups.len() == 6
            && groups.iter().all(|g| g.len() == 4
                && g.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())),
        "{key}"
    );
    key.to_string()
}

#[test]
fn the_call_log_records_argv_and_stdin_and_the_exit_code() {
    let mac = ToolsMac::healthy();
    mac.run("fdesetup", &["status"]);
    let secret = mac.prk().unwrap();
    mac.run_with_stdin(
        "fdesetup",
        &["validaterecovery", "-inputplist"],
        &password_plist(&secret),
    );
    mac.run("dscl", &["nonsense"]);

    let log = mac.log();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["tool"], "fdesetup");
    assert_eq!(log[0]["argv"], serde_json::json!(["fdesetup", "status"]));
    assert_eq!(log[0]["stdin"], "");
    assert_eq!(log[0]["exit"], 0);
    assert!(log[0]["at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .is_ok());

    assert_eq!(
        log[1]["argv"],
        serde_json::json!(["fdesetup", "validaterecovery", "-inputplist"])
    );
    assert!(log[1]["stdin"].as_str().unwrap().contains(&secret));
    assert!(!log[1]["argv"].to_string().contains(&secret));
    assert_eq!(log[2]["exit"], 64);
}

#[test]
fn concurrent_calls_each_log_one_whole_line() {
    let mac = ToolsMac::healthy();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..3 {
                    mac.run("sysctl", &["-n", "kern.bootsessionuuid"]);
                }
            });
        }
    });
    assert_eq!(mac.log().len(), 24);
}

#[test]
fn changerecovery_with_the_current_key_prints_a_new_key_and_stages_it_for_escrow() {
    let mac = ToolsMac::healthy();
    let old = mac.prk().unwrap();
    let before = mac.mtime(PRK_FILE);
    let old_bytes = std::fs::read(mac.path(PRK_FILE)).unwrap();
    let started = SystemTime::now() - Duration::from_secs(1);

    let out = mac.run_with_stdin(
        "fdesetup",
        &["changerecovery", "-personal", "-inputplist"],
        &password_plist(&old),
    );
    assert_eq!(out.code(), 0, "{}", out.err());
    let new = new_key_from(&out.text());
    assert_ne!(new, old);
    assert_eq!(mac.prk().as_deref(), Some(new.as_str()));

    let after = mac.mtime(PRK_FILE);
    assert!(
        after > before && after >= started,
        "{before:?} -> {after:?}"
    );
    assert_ne!(std::fs::read(mac.path(PRK_FILE)).unwrap(), old_bytes);

    let validate = |key: &str| {
        mac.run_with_stdin(
            "fdesetup",
            &["validaterecovery", "-inputplist"],
            &password_plist(key),
        )
        .code()
    };
    assert_eq!((validate(&new), validate(&old)), (0, 1));
}

#[test]
fn changerecovery_without_the_escrow_payload_leaves_the_escrow_file_stale() {
    let mac = ToolsMac::with(&["escrow.profile_installed=false"]);
    let before = mac.mtime(PRK_FILE);
    let out = mac.run_with_stdin(
        "fdesetup",
        &["changerecovery", "-personal", "-inputplist"],
        &password_plist(&mac.prk().unwrap()),
    );
    new_key_from(&out.text());
    assert_eq!(mac.mtime(PRK_FILE), before);
}

#[test]
fn changerecovery_with_a_bad_credential_fails_with_exit_11_and_keeps_the_key() {
    let mac = ToolsMac::healthy();
    let old = mac.prk();
    let out = mac.run_with_stdin(
        "fdesetup",
        &["changerecovery", "-personal", "-inputplist"],
        &password_plist("WRNG-WRNG-WRNG-WRNG-WRNG-WRNG"),
    );
    assert_eq!(out.code(), 11);
    assert!(out.stdout.is_empty());
    assert!(
        out.err()
            .contains("Unable to unlock or authenticate to FileVault"),
        "{}",
        out.err()
    );
    assert_eq!(mac.prk(), old);
}

#[test]
fn a_bad_credential_deletes_the_key_when_the_mac_behaves_like_10_13() {
    let mac = ToolsMac::with(&["recovery_key.delete_on_bad_credential=true"]);
    let out = mac.run_with_stdin(
        "fdesetup",
        &["changerecovery", "-personal", "-inputplist"],
        &password_plist("WRNG-WRNG-WRNG-WRNG-WRNG-WRNG"),
    );
    assert_eq!(out.code(), 11);
    assert_eq!(
        mac.run("fdesetup", &["haspersonalrecoverykey"]).text(),
        "false\n"
    );
}

#[test]
fn set_changes_the_answers_and_a_typo_changes_nothing() {
    let mac = ToolsMac::healthy();
    mac.set(&["filevault.state=\"Off\"", "console_user=null"]);
    assert_eq!(
        mac.run("fdesetup", &["status"]).text(),
        "FileVault is Off.\n"
    );
    assert!(!mac.path("/dev/console").exists());

    let before = mac.scenario();
    let root = mac.root().display().to_string();
    let out = mac.cli(&["set", &root, "filevault.stat=\"On\""]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stat"));
    assert_eq!(mac.scenario(), before);
}

#[test]
fn a_reboot_with_the_recovery_key_is_a_new_boot_where_the_key_was_used() {
    let mac = ToolsMac::healthy();
    let said = mac.event(&["reboot", "--with-recovery-key"]);
    assert!(said.lines().count() >= 2, "{said}");
    let uuid = mac.run("sysctl", &["-n", "kern.bootsessionuuid"]).text();
    assert_ne!(uuid, "0C5E1F9A-3B4D-4E6F-8A7B-9C0D1E2F3A4B\n");
    assert_eq!(uuid.trim().len(), 36);
    assert_eq!(mac.run("fdesetup", &["usingrecoverykey"]).text(), "true\n");
    assert!(!mac.path("/dev/console").exists());

    mac.event(&["reboot"]);
    assert_eq!(mac.run("fdesetup", &["usingrecoverykey"]).text(), "false\n");
}

#[test]
fn filevault_waiting_for_the_restart_is_on_after_a_reboot() {
    let mac = ToolsMac::with(&["filevault.state=\"OffRestartPending\""]);
    let said = mac.event(&["reboot"]);
    assert!(said.contains("FileVault was enabled"), "{said}");
    assert_eq!(
        mac.run("fdesetup", &["status"]).text(),
        "FileVault is On.\n"
    );
}

#[test]
fn a_login_with_the_flag_set_makes_escrow_buddy_rotate_and_clear_the_flag() {
    let mac = ToolsMac::healthy();
    mac.event(&["logout"]);
    mac.run(
        "defaults",
        &[
            "write",
            ESCROW_BUDDY_DOMAIN,
            "GenerateNewKey",
            "-bool",
            "true",
        ],
    );
    let old = mac.prk();
    let before = mac.mtime(PRK_FILE);

    let said = mac.event(&["login", "alice"]);
    assert!(said.contains("new personal recovery key"), "{said}");
    assert_ne!(mac.prk(), old);
    assert!(mac.mtime(PRK_FILE) > before);
    assert!(mac.path("/dev/console").exists());
    let read = mac.run("defaults", &["read", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"]);
    assert_eq!(read.text(), "0\n");
}

#[test]
fn a_failing_rotation_at_login_still_clears_the_flag_but_keeps_the_key() {
    let mac = ToolsMac::with(&[
        "escrow_buddy.generate_new_key=true",
        "escrow_buddy.fail_next_rotation=true",
    ]);
    let old = mac.prk();
    let before = mac.mtime(PRK_FILE);
    let said = mac.event(&["login", "alice"]);
    assert!(said.contains("failed"), "{said}");
    assert_eq!(mac.prk(), old);
    assert_eq!(mac.mtime(PRK_FILE), before);
    assert_eq!(mac.scenario()["escrow_buddy"]["generate_new_key"], false);
    assert_eq!(mac.scenario()["escrow_buddy"]["fail_next_rotation"], false);
}

/// Issue 14, item 8: Escrow Buddy runs at a smart-card login, is given the PIN, fdesetup refuses
/// it (macadmins/escrow-buddy#5), and the flag is consumed anyway.
#[test]
fn a_smart_card_login_cannot_rotate_and_consumes_the_flag() {
    let mac = ToolsMac::with(&["escrow_buddy.generate_new_key=true"]);
    let old = mac.prk();
    let before = mac.mtime(PRK_FILE);
    let said = mac.event(&["login", "alice", "--smart-card"]);
    assert!(said.contains("PIN"), "{said}");
    assert_eq!(mac.prk(), old);
    assert_eq!(mac.mtime(PRK_FILE), before);
    assert_eq!(mac.scenario()["escrow_buddy"]["generate_new_key"], false);
}

/// Issue 14, item 8: FileVault's automatic login may run no login mechanism (unverified): the
/// simulator plays it as a login that leaves the flag set.
#[test]
fn filevaults_automatic_login_leaves_key_and_flag_alone() {
    let mac = ToolsMac::with(&["escrow_buddy.generate_new_key=true", "console_user=null"]);
    let old = mac.prk();
    let said = mac.event(&["login", "alice", "--automatic"]);
    assert!(said.contains("did not run"), "{said}");
    assert_eq!(mac.prk(), old);
    assert_eq!(mac.scenario()["console_user"], "alice");
    assert_eq!(mac.scenario()["escrow_buddy"]["generate_new_key"], true);
}

#[test]
fn the_printed_healthy_scenario_can_be_edited_and_used_for_init() {
    let mac = ToolsMac::healthy();
    let out = mac.cli_ok(&["scenario", "healthy"]);
    let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["filevault"]["state"] = "Encrypting".into();
    doc["filevault"]["percent"] = 12.5.into();
    let file = mac.path("/edited.json");
    std::fs::write(&file, doc.to_string()).unwrap();

    let edited = ToolsMac::from_scenario_file(&file);
    assert_eq!(
        edited.run("fdesetup", &["status"]).text(),
        "FileVault is On.\nEncryption in progress: Percent completed = 12.5\n"
    );
}
