//! The real `keywarden` binary against the simulated Mac (`keywarden-sim`), through the same code
//! path as production: `keywarden --root DIR check`, `status`, `ea`. Acceptance tests of issue 2
//! (the foundation): the status plist matches the golden files and is read by Python's plistlib
//! and plistutil; failed probes give clear errors and stale sections; a hanging tool does not
//! stop the check and leaves no process behind.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_healthy_mac_gives_a_healthy_status_matching_the_golden_file() {
    let mac = Mac::healthy();
    let out = mac.check();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("healthy:"), "{}", stdout(&out));
    let s = mac.status();
    assert!(boolean(&s, "Healthy"), "{:?}", problems(&s));
    assert_eq!(string(&s, "FileVault.State"), "On");
    assert_eq!(string(&s, "RecoveryKey.State"), "Staged");
    assert_eq!(string(&s, "Escrow.State"), "Staged");
    assert_eq!(string(&s, "SecureToken.ConsoleUser"), "alice");
    assert!(strings(&s, "Daemon.Errors").is_empty());
    assert_golden("healthy", &s);
}

#[test]
fn the_status_file_is_0644_xml_with_whole_second_dates() {
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(mac.path("/Library/Keywarden/status.plist")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
    let text = String::from_utf8(mac.status_bytes()).unwrap();
    assert!(text.starts_with("<?xml"));
    for line in text.lines().filter(|l| l.contains("<date>")) {
        let date = line
            .trim()
            .trim_start_matches("<date>")
            .trim_end_matches("</date>");
        assert_eq!(
            date.len(),
            "2026-11-22T10:00:00Z".len(),
            "a date with a fraction: {line}"
        );
    }
}

#[test]
fn python_plistlib_and_plistutil_read_the_status() {
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    let path = mac.path("/Library/Keywarden/status.plist");
    // .ci/run installs both; `make test` alone needs only Rust.
    if require_program("python3", INSTALL_PYTHON3) {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import plistlib,sys; d=plistlib.load(open(sys.argv[1],'rb')); print(d['SchemaVersion'], d['Healthy'], d['GeneratedAt'].year)",
            ])
            .arg(&path)
            .output()
            .expect("run python3");
        assert!(out.status.success(), "plistlib: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with("2 True 20"), "{text}");
    }
    // plistutil (libplist) converts it to a binary plist, which must hold the same values.
    let bin = mac.path("/status.bplist");
    if require_program(
        "plistutil",
        "apt-get install libplist-utils, or brew install libplist",
    ) {
        let out = std::process::Command::new("plistutil")
            .arg("-i")
            .arg(&path)
            .args(["-f", "bin", "-o"])
            .arg(&bin)
            .output()
            .expect("run plistutil");
        assert!(out.status.success(), "plistutil: {}", stderr(&out));
        let converted: plist::Value =
            plist::from_file(&bin).expect("plistutil wrote a binary plist");
        assert_eq!(converted, mac.status());
    }
}

#[test]
fn filevault_off_is_reported() {
    let mac = Mac::with(&[r#"filevault.state="Off""#, "recovery_key.personal=null"]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert_eq!(string(&s, "FileVault.State"), "Off");
    assert!(
        problems(&s).contains(&"FileVaultOff".to_owned()),
        "{:?}",
        problems(&s)
    );
    assert!(
        !problems(&s).contains(&"RecoveryKeyMissing".to_owned()),
        "no key expected while off"
    );
    assert!(!boolean(&s, "Healthy"));
}

#[test]
fn a_missing_escrow_payload_is_reported() {
    let mac = Mac::with(&["escrow.profile_installed=false"]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert_eq!(string(&s, "Escrow.State"), "NotConfigured");
    assert!(!boolean(&s, "Escrow.ProfileInstalled"));
    assert_eq!(string(&s, "RecoveryKey.State"), "NotEscrowed");
    assert!(
        problems(&s).contains(&"EscrowProfileMissing".to_owned()),
        "{:?}",
        problems(&s)
    );
    assert_golden("no-escrow-profile", &s);
}

/// Issue 14, item 1: a re-enrolment installed a payload with another certificate after the key
/// was made: the escrow file is encrypted to a certificate the MDM no longer holds. Certain.
#[test]
fn an_escrow_file_encrypted_to_another_certificate_means_the_key_is_not_escrowed() {
    let mac = Mac::healthy();
    mac.event(&["resend-profile", "--certificate", "b"]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert_eq!(string(&s, "Escrow.State"), "Missing");
    assert!(
        problems(&s).contains(&"RecoveryKeyNotEscrowed".to_owned()),
        "{:?}",
        problems(&s)
    );
    let evidence = string(&s, "Escrow.Evidence");
    assert!(
        evidence.starts_with("the escrow file is encrypted to another certificate"),
        "{evidence}"
    );
    assert_ne!(
        string(&s, "Escrow.Recipient"),
        string(&s, "Escrow.Certificate")
    );
}

/// Issue 14, item 1: the escrow section publishes what an MDM can compare: the file's hash, its
/// recipient, and the payload's certificate, which match on a healthy Mac.
#[test]
fn the_escrow_section_names_the_files_recipient_hash_and_the_payloads_certificate() {
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    let blob = std::fs::read(mac.path("/var/db/FileVaultPRK.dat")).unwrap();
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(&blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(string(&s, "Escrow.FileSHA256"), hex);
    let recipient = string(&s, "Escrow.Recipient");
    assert!(
        recipient.starts_with("issuer=") && recipient.contains("; serial="),
        "{recipient}"
    );
    assert_eq!(recipient, string(&s, "Escrow.Certificate"));
    assert_eq!(
        string(&s, "Escrow.Evidence"),
        "the escrow file is encrypted to the installed escrow payload's certificate"
    );
}

/// Issue 14, item 1: a file that is not CMS is said so, and the dates alone only warn.
#[test]
fn an_escrow_file_that_is_not_cms_is_reported_and_only_the_dates_are_used() {
    let mac = Mac::with(&[
        "escrow.prk_file_format=\"not_cms\"",
        r#"escrow.prk_file_written_at="2024-04-01T10:00:00Z""#,
    ]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert!(
        string(&s, "Escrow.FileProblem").starts_with("not CMS"),
        "{:?}",
        get(&s, "Escrow")
    );
    assert!(get(&s, "Escrow.Recipient").is_none());
    assert_eq!(string(&s, "Escrow.State"), "Unconfirmed");
    assert_eq!(warnings(&s), vec!["EscrowUnconfirmed"]);
    assert!(boolean(&s, "Healthy"));
    assert_eq!(string(&s, "Rotation.State"), "Idle");
}

#[test]
fn a_user_without_a_token_and_an_extra_admin_with_one_are_reported() {
    let mac = Mac::with(&[
        "users.0.secure_token=false",
        "users.1.secure_token=true",
        "users.0.volume_owner=false",
        "users.1.volume_owner=true",
    ]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    // Hygiene, not danger to recovery: warnings on a healthy Mac (issue 14).
    let w = warnings(&s);
    assert!(
        w.contains(&"ConsoleUserWithoutSecureToken".to_owned()),
        "{w:?}"
    );
    assert!(
        w.contains(&"AdditionalAdminWithSecureToken".to_owned()),
        "{w:?}"
    );
    assert!(boolean(&s, "Healthy"), "{:?}", problems(&s));
    assert_eq!(strings(&s, "SecureToken.UsersWithoutToken"), vec!["alice"]);
    assert_eq!(
        strings(&s, "SecureToken.AdditionalAdminsWithToken"),
        vec!["itadmin"]
    );
    assert!(!boolean(&s, "SecureToken.ConsoleUserHasToken"));
}

#[test]
fn an_expected_admin_with_a_token_is_not_reported() {
    let mac = Mac::with(&["users.1.secure_token=true"]);
    mac.managed_prefs(&[(
        "ExpectedSecureTokenAdmins",
        plist::Value::Array(vec![plist::Value::String("itadmin".into())]),
    )]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert!(strings(&s, "SecureToken.AdditionalAdminsWithToken").is_empty());
    assert!(boolean(&s, "Healthy"), "{:?}", problems(&s));
}

#[test]
fn a_bootstrap_token_not_escrowed_is_reported() {
    let mac = Mac::with(&["bootstrap_token.escrowed=false"]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert!(boolean(&s, "BootstrapToken.Supported"));
    assert!(!boolean(&s, "BootstrapToken.Escrowed"));
    assert_eq!(warnings(&s), vec!["BootstrapTokenNotEscrowed"]);
    assert!(
        boolean(&s, "Healthy"),
        "a warning, not a problem (issue 14)"
    );
    // Logged once, at info: hygiene must not read as an alarm in the log either.
    let log = std::fs::read_to_string(mac.path("/Library/Logs/Keywarden/keywarden.log")).unwrap();
    assert!(
        log.contains("INFO  check   warning_raised code=BootstrapTokenNotEscrowed"),
        "{log}"
    );
    assert!(!log.contains("problem_raised"), "{log}");
}

#[test]
fn a_plaintext_key_file_is_reported_and_never_read() {
    let mac = Mac::with(&[
        r#"deferral={"output_path":"/var/db/ConfigurationProfiles/fdesetup.plist","plaintext_file":true}"#,
    ]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert!(
        warnings(&s).contains(&"PlaintextKeyOnDisk".to_owned()),
        "{:?}",
        warnings(&s)
    );
    assert_eq!(
        string(&s, "FileVault.PlaintextKeyFile"),
        "/var/db/ConfigurationProfiles/fdesetup.plist"
    );
    // The simulator's deferral file holds this fake key; it must appear nowhere Keywarden writes.
    let key = "DEFR-KEYX-INPL-AINT-EXTX-SIMX";
    assert!(!String::from_utf8_lossy(&mac.status_bytes()).contains(key));
    let state = std::fs::read(mac.path("/var/db/keywarden/state.plist")).unwrap();
    assert!(!String::from_utf8_lossy(&state).contains(key));
}

#[test]
fn a_tool_that_hangs_does_not_stop_the_check_and_leaves_no_process_behind() {
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    mac.managed_prefs(&[("ToolTimeout", plist::Value::Integer(2.into()))]);
    mac.set(&[r#"faults=[{"argv":["fdesetup","status"],"kind":"hang_with_child"}]"#]);
    let started = Instant::now();
    let out = mac.check();
    let took = started.elapsed();
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    // The budget is one timeout (2 s) for the chain; ten times that is generous.
    assert!(took < Duration::from_secs(20), "the check took {took:?}");
    let s = mac.status();
    let errors = strings(&s, "Daemon.Errors");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("fdesetup status: no answer within 2 s")),
        "{errors:?}"
    );
    assert!(problems(&s).contains(&"ToolFailed".to_owned()));
    // The last good values are kept, marked stale.
    assert_eq!(string(&s, "FileVault.State"), "On");
    assert!(boolean(&s, "FileVault.Stale"));
    assert!(!boolean(&s, "RecoveryKey.Stale"));
    // Neither the hung tool nor the child it forked survived.
    let pids: Vec<i64> = mac
        .calls()
        .iter()
        .filter_map(|c| c.get("child_pid").and_then(|p| p.as_i64()))
        .collect();
    assert!(!pids.is_empty(), "the fault forked a child");
    eventually(Duration::from_secs(10), || !pids.iter().any(|p| alive(*p)));
    for p in pids {
        assert!(!alive(p), "process {p} was left behind");
    }
}

#[test]
fn a_probe_that_never_succeeded_leaves_its_state_unknown() {
    let mac = Mac::with(&[r#"faults=[{"argv":["fdesetup","status"],"kind":"garbage"}]"#]);
    let out = mac.check();
    assert_eq!(code(&out), 1);
    let s = mac.status();
    assert_eq!(string(&s, "FileVault.State"), "Unknown");
    assert!(boolean(&s, "FileVault.Stale"));
    assert!(get(&s, "FileVault.ObservedAt").is_none());
    let errors = strings(&s, "Daemon.Errors");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("fdesetup status: unrecognised output (exit code 0): ")),
        "{errors:?}"
    );
    assert!(
        stdout(&out).contains("error: fdesetup status: unrecognised output"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_failed_probe_keeps_the_last_good_values_marked_stale() {
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    let before = mac.status();
    let observed = get(&before, "BootstrapToken.ObservedAt").cloned();
    mac.set(&[
        r#"faults=[{"argv":["profiles","status"],"kind":"exit","code":1,"stderr":"profiles: an error occurred"}]"#,
        "bootstrap_token.escrowed=false",
    ]);
    assert_eq!(code(&mac.check()), 1);
    let s = mac.status();
    assert!(boolean(&s, "BootstrapToken.Stale"));
    assert!(
        boolean(&s, "BootstrapToken.Escrowed"),
        "the last good value, not a guess"
    );
    assert_eq!(get(&s, "BootstrapToken.ObservedAt").cloned(), observed);
    // The bootstrap token matters to nothing critical: a warning (issue 14).
    assert_eq!(warnings(&s), vec!["ToolFailed"]);
    assert!(problems(&s).is_empty());
    let errors = strings(&s, "Daemon.Errors");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("profiles status -type bootstraptoken:")),
        "{errors:?}"
    );
    assert_golden("stale-bootstrap-token", &s);
}

#[test]
fn huge_and_non_utf8_output_are_errors_not_crashes() {
    let mac = Mac::healthy();
    // The admin group's read keeps the runner's 1 MiB cap (the user records have 64 MiB since
    // issue 16: a Mac with thousands of accounts prints more than 1 MiB).
    mac.set(&[r#"faults=[{"argv":["dscl","-plist",".","-read","/Groups/admin"],"kind":"huge"},{"argv":["sw_vers","-buildVersion"],"kind":"non_utf8"}]"#]);
    let out = mac.check();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let errors = strings(&mac.status(), "Daemon.Errors");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("dscl -plist . -read /Groups/admin") && e.contains("KiB")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("sw_vers -buildVersion: unrecognised output")),
        "{errors:?}"
    );
}

#[test]
fn a_crashing_tool_is_named_with_its_signal() {
    let mac = Mac::with(&[r#"faults=[{"argv":["sysadminctl"],"kind":"crash"}]"#]);
    assert_eq!(code(&mac.check()), 1);
    let errors = strings(&mac.status(), "Daemon.Errors");
    assert!(
        errors.iter().any(
            |e| e.starts_with("sysadminctl -secureTokenStatus alice:") && e.contains("SIGABRT")
        ),
        "{errors:?}"
    );
}

#[test]
fn fail_on_problems_exits_1_when_the_mac_has_a_problem_and_not_for_a_warning() {
    let mac = Mac::with(&["escrow.profile_installed=false"]);
    assert_eq!(code(&mac.keywarden(&["check"])), 0);
    assert_eq!(code(&mac.keywarden(&["check", "--fail-on-problems"])), 1);
    let hygiene = Mac::with(&["bootstrap_token.escrowed=false"]);
    let out = hygiene.keywarden(&["check", "--fail-on-problems"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("; warnings: BootstrapTokenNotEscrowed"),
        "{}",
        stdout(&out)
    );
    let healthy = Mac::healthy();
    assert_eq!(
        code(&healthy.keywarden(&["check", "--fail-on-problems"])),
        0
    );
}

#[test]
fn a_status_that_cannot_be_written_is_fatal_with_a_clear_message() {
    let mac = Mac::healthy();
    std::fs::create_dir_all(mac.path("/Library/Keywarden/status.plist")).unwrap();
    let out = mac.check();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("status.plist is a directory, not a regular file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_symlink_at_the_status_path_is_refused_and_nothing_is_written_through_it() {
    let mac = Mac::healthy();
    std::fs::create_dir_all(mac.path("/Library/Keywarden")).unwrap();
    let victim = mac.path("/victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::os::unix::fs::symlink(&victim, mac.path("/Library/Keywarden/status.plist")).unwrap();
    let out = mac.check();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("is a symbolic link"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    // Removing the cause recovers.
    std::fs::remove_file(mac.path("/Library/Keywarden/status.plist")).unwrap();
    assert_eq!(code(&mac.check()), 0);
}

#[test]
fn the_console_user_follows_the_owner_of_dev_console() {
    let mac = Mac::with(&["console_user=null"]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert!(get(&s, "SecureToken.ConsoleUser").is_none());
    mac.set(&["console_user=alice"]);
    assert_eq!(code(&mac.check()), 0);
    assert_eq!(string(&mac.status(), "SecureToken.ConsoleUser"), "alice");
}

#[test]
fn a_recovery_key_used_this_boot_is_latched_and_remembered() {
    let mac = Mac::healthy();
    mac.event(&["reboot", "--with-recovery-key"]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert!(boolean(&s, "RecoveryKey.UsedThisBoot"));
    assert_eq!(string(&s, "RecoveryKey.UseDetection"), "Supported");
    assert_eq!(string(&s, "RecoveryKey.State"), "Used");
    assert!(get(&s, "RecoveryKey.LastUsedAt").is_some());
    // Latched: the next check of the same boot does not ask again.
    let asked = |m: &Mac| {
        m.calls()
            .iter()
            .filter(|c| c["argv"] == serde_json::json!(["fdesetup", "usingrecoverykey"]))
            .count()
    };
    let before = asked(&mac);
    assert_eq!(code(&mac.check()), 0);
    assert_eq!(asked(&mac), before);
    // After a reboot macOS forgets; Keywarden does not.
    mac.event(&["reboot"]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert!(!boolean(&s, "RecoveryKey.UsedThisBoot"));
    assert!(get(&s, "RecoveryKey.LastUsedAt").is_some());
    assert_eq!(string(&s, "RecoveryKey.State"), "Used");
}

#[test]
fn use_detection_not_supported_is_recorded_as_such() {
    let mac = Mac::with(&[r#"recovery_key.used_this_boot="not_supported""#]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert_eq!(string(&s, "RecoveryKey.UseDetection"), "NotSupported");
    assert!(get(&s, "RecoveryKey.UsedThisBoot").is_none());
}

#[test]
fn status_prints_a_table_and_json_and_ea_renders_values() {
    let mac = Mac::with(&["bootstrap_token.escrowed=false"]);
    let out = mac.keywarden(&["ea", "Healthy"]);
    assert_eq!(stdout(&out), "<result>NotInstalled</result>\n");
    let out = mac.keywarden(&["status"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("has not written a status yet"),
        "{}",
        stderr(&out)
    );

    assert_eq!(code(&mac.check()), 0);
    let table = stdout(&mac.keywarden(&["status"]));
    assert!(table.contains("Healthy:        yes"), "{table}");
    assert!(
        table.contains("Warnings:\n  BootstrapTokenNotEscrowed"),
        "{table}"
    );
    assert!(table.contains("alice"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&mac.keywarden(&["status", "--json"]))).unwrap();
    assert_eq!(json["BootstrapToken"]["Escrowed"], false);
    assert!(json["GeneratedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(json["Stale"], false);

    let ea = |k: &str| stdout(&mac.keywarden(&["ea", k]));
    assert_eq!(ea("Healthy"), "<result>true</result>\n");
    assert_eq!(ea("RecoveryKey.State"), "<result>Staged</result>\n");
    assert_eq!(ea("Problems"), "<result></result>\n");
    assert_eq!(
        ea("Warnings"),
        "<result>BootstrapTokenNotEscrowed</result>\n"
    );
    assert_eq!(ea("SecureToken.Users.0.Name"), "<result>alice</result>\n");
    assert_eq!(ea("SecureToken.Users.0.UID"), "<result>501</result>\n");
    assert_eq!(
        ea("Escrow.FileVaultPRKModifiedAt"),
        "<result>2024-06-01 10:00:00</result>\n"
    );
    assert_eq!(ea("No.Such.Key"), "<result></result>\n");
}

#[test]
fn an_old_status_reads_stale_in_inventory_not_healthy() {
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    let path = mac.path("/Library/Keywarden/status.plist");
    let mut v = mac.status();
    let old = std::time::SystemTime::now() - Duration::from_secs(49 * 3600);
    v.as_dictionary_mut().unwrap().insert(
        "GeneratedAt".into(),
        plist::Value::Date(plist::Date::from(old)),
    );
    plist::to_file_xml(&path, &v).unwrap();
    for path in ["Healthy", "RecoveryKey.State", "Escrow.State", "Problems"] {
        assert_eq!(
            stdout(&mac.keywarden(&["ea", path])),
            "<result>Stale</result>\n",
            "{path} (issue 14: stale means stale everywhere)"
        );
    }
    assert!(stdout(&mac.keywarden(&["status"])).contains("older than 48 hours"));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&mac.keywarden(&["status", "--json"]))).unwrap();
    assert_eq!(json["Stale"], true);
    assert_eq!(json["StaleAfterHours"], 48);
}

#[test]
fn configuration_warnings_reach_the_status() {
    let mac = Mac::healthy();
    mac.managed_prefs(&[
        ("CheckInterval", plist::Value::String("hourly".into())),
        ("Bogus", plist::Value::Boolean(true)),
    ]);
    assert_eq!(code(&mac.check()), 0);
    let w = strings(&mac.status(), "Daemon.ConfigWarnings");
    assert!(
        w.iter()
            .any(|x| x.contains("CheckInterval must be an integer, not a string")),
        "{w:?}"
    );
    assert!(w.iter().any(|x| x.contains("unknown key Bogus")), "{w:?}");
}

#[test]
fn an_ordinary_user_cannot_run_check_on_the_real_mac() {
    let bins = ForEveryone::new(&[Path::new(KEYWARDEN)]);
    let out = as_ordinary_user(std::process::Command::new(bins.get("keywarden")).arg("check"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("must run as root"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn as_root_a_simulated_mac_others_can_write_is_refused() {
    if !require_root("to own a simulated Mac others can write") {
        return;
    }
    let mac = Mac::healthy();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(mac.path("/usr/bin"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = mac.check();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("refusing --root"), "{}", stderr(&out));
}

#[test]
fn malformed_preferences_of_every_kind_give_a_warning_and_defaults_never_a_crash() {
    let managed = "/Library/Managed Preferences/org.keywarden.plist";
    let local = "/Library/Preferences/org.keywarden.plist";
    type Setup = fn(&Mac, &std::path::Path);
    let cases: Vec<(&str, &str, Setup, &str)> = vec![
        (
            "not a plist",
            managed,
            |_, p| std::fs::write(p, b"CheckInterval = 5").unwrap(),
            "not a readable property list",
        ),
        (
            "binary garbage",
            managed,
            |_, p| std::fs::write(p, b"bplist00\xff\xfe\x00garbage").unwrap(),
            "not a readable property list",
        ),
        (
            "an array, not a dictionary",
            managed,
            |_, p| {
                plist::to_file_xml(
                    p,
                    &plist::Value::Array(vec![plist::Value::Integer(1.into())]),
                )
                .unwrap()
            },
            "top level is not a dictionary",
        ),
        (
            "a symlink",
            managed,
            |m, p| {
                let target = m.path("/elsewhere.plist");
                std::fs::write(&target, b"<plist><dict/></plist>").unwrap();
                std::os::unix::fs::symlink(&target, p).unwrap()
            },
            "symbolic link",
        ),
        (
            "a FIFO",
            managed,
            |_, p| nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap(),
            "is a FIFO",
        ),
        (
            "a directory",
            managed,
            |_, p| std::fs::create_dir(p).unwrap(),
            "is a directory",
        ),
        (
            "wrong types and unknown keys",
            managed,
            |_, p| {
                let d: plist::Dictionary = [
                    ("ToolTimeout".to_owned(), plist::Value::Boolean(true)),
                    (
                        "RotationMethods".to_owned(),
                        plist::Value::String("EscrowBuddy".into()),
                    ),
                    (
                        "StaleAfterHours".to_owned(),
                        plist::Value::Integer((-5).into()),
                    ),
                    ("FrobnicateKeys".to_owned(), plist::Value::Boolean(true)),
                ]
                .into_iter()
                .collect();
                plist::to_file_xml(p, &plist::Value::Dictionary(d)).unwrap()
            },
            "ToolTimeout must be an integer, not a boolean",
        ),
        (
            "a world-writable local file carrying restricted keys",
            local,
            |_, p| {
                let d: plist::Dictionary = [
                    (
                        "RotationCommand".to_owned(),
                        plist::Value::Array(vec![plist::Value::String("/bin/sh".into())]),
                    ),
                    (
                        "ExpectedSecureTokenAdmins".to_owned(),
                        plist::Value::Array(vec![plist::Value::String("itadmin".into())]),
                    ),
                ]
                .into_iter()
                .collect();
                plist::to_file_xml(p, &plist::Value::Dictionary(d)).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666)).unwrap()
            },
            "org.keywarden.plist: RotationCommand is ignored",
        ),
    ];
    for (what, file, setup, expect) in cases {
        let mac = Mac::with(&["users.1.secure_token=true"]);
        let path = mac.path(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        setup(&mac, &path);
        let out = mac.check();
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        let s = mac.status();
        let w = strings(&s, "Daemon.ConfigWarnings");
        assert!(w.iter().any(|x| x.contains(expect)), "{what}: {w:?}");
        assert!(
            w.iter().all(|x| x.contains("org.keywarden.plist")),
            "{what}: a warning without the file: {w:?}"
        );
        // Defaults were used: the extra admin is reported (the untrusted allow-list was ignored).
        assert!(
            warnings(&s).contains(&"AdditionalAdminWithSecureToken".to_owned()),
            "{what}"
        );
    }
}

/// Copies of the binaries any user can run (the build directory may not be reachable).
fn binaries_for_everyone() -> ForEveryone {
    ForEveryone::new(&[Path::new(KEYWARDEN), Path::new(SIM)])
}

#[test]
fn read_only_commands_work_for_an_ordinary_user() {
    use std::os::unix::fs::PermissionsExt;
    let mac = Mac::healthy();
    std::fs::set_permissions(mac.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(code(&mac.check()), 0);
    let bins = binaries_for_everyone();
    let kw = bins.get("keywarden");
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["ea", "Healthy"],
        &["doctor"],
    ] {
        let mut cmd = std::process::Command::new(&kw);
        cmd.arg("--root").arg(mac.root()).args(args);
        let out = as_ordinary_user(&mut cmd).output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(!stdout(&out).is_empty());
    }
    // The daemon itself is refused to an ordinary user on the real Mac.
    let out = as_ordinary_user(std::process::Command::new(&kw).arg("run"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("`keywarden run` must run as root"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_ordinary_user_can_run_a_check_against_a_simulated_mac_of_their_own() {
    let bins = binaries_for_everyone();
    let (kw, sim) = (bins.get("keywarden"), bins.get("keywarden-sim"));
    let dir = tempfile::tempdir().unwrap();
    if is_root() {
        nix::unistd::chown(
            dir.path(),
            Some(nix::unistd::Uid::from_raw(NOBODY)),
            Some(nix::unistd::Gid::from_raw(NOBODY)),
        )
        .unwrap();
    }
    let as_user = |program: &Path, args: &[&str]| {
        as_ordinary_user(std::process::Command::new(program).args(args))
            .output()
            .unwrap()
    };
    let d = dir.path().to_str().unwrap();
    let out = as_user(&sim, &["init", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = as_user(&kw, &["--root", d, "check"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let status = std::fs::read(dir.path().join("Library/Keywarden/status.plist")).unwrap();
    let v: plist::Value = plist::from_bytes(&status).unwrap();
    assert!(boolean(&v, "Healthy"), "{:?}", problems(&v));
}

#[test]
fn version_man_page_and_completions_come_from_the_command_line_definition() {
    let mac = Mac::healthy();
    let v = stdout(&mac.keywarden(&["--version"]));
    assert!(
        v.starts_with("keywarden 0.") && v.contains("commit "),
        "{v}"
    );
    let man = mac.keywarden(&["man"]);
    assert_eq!(code(&man), 0);
    let man = stdout(&man);
    assert!(
        man.contains(".TH keywarden 8"),
        "{}",
        &man[..200.min(man.len())]
    );
    for sub in [
        "check", "status", "validate", "rotate", "doctor", "ea", "run", "audit",
    ] {
        assert!(man.contains(sub), "the man page does not mention {sub}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = mac.keywarden(&["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}");
        assert!(
            stdout(&out).contains("validate"),
            "{shell} completions lack the subcommands"
        );
    }
    // Every subcommand's help teaches with examples.
    for sub in [
        "check",
        "status",
        "ea",
        "doctor",
        "validate",
        "rotate",
        "audit",
        "run",
        "man",
        "completions",
    ] {
        let help = stdout(&mac.keywarden(&[sub, "--help"]));
        assert!(
            help.contains("Example"),
            "`keywarden {sub} --help` has no examples:\n{help}"
        );
    }
}

#[test]
fn output_to_a_closed_pipe_never_panics() {
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    for cmd in [
        &["status"][..],
        &["doctor"],
        &["man"],
        &["completions", "bash"],
        &["--help"],
        &["status", "--json"],
        &["ea", "Healthy"],
    ] {
        // A pipe whose reading end is already closed: every write fails with EPIPE.
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let out = std::process::Command::new(KEYWARDEN)
            .arg("--root")
            .arg(mac.root())
            .args(cmd)
            .stdout(std::process::Stdio::from(write))
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert!(
            !stderr(&out).contains("panicked"),
            "{cmd:?}: {}",
            stderr(&out)
        );
        assert!(
            out.status.code().is_some(),
            "{cmd:?} was killed by a signal"
        );
    }
}

#[test]
fn with_nobody_ever_seen_at_the_console_no_admin_is_reported_as_additional() {
    // A fresh install at the login window: nobody logged in, no last console user yet.
    let mac = Mac::with(&["console_user=null"]);
    assert_eq!(code(&mac.check()), 0);
    let s = mac.status();
    assert!(strings(&s, "SecureToken.AdditionalAdminsWithToken").is_empty());
    assert!(boolean(&s, "Healthy"), "{:?}", problems(&s));
    // Once a user has been seen, another admin's token is reported.
    mac.set(&[
        "console_user=alice",
        "users.1.secure_token=true",
        "users.1.volume_owner=true",
    ]);
    assert_eq!(code(&mac.check()), 0);
    mac.set(&["console_user=null"]);
    assert_eq!(code(&mac.check()), 0);
    assert_eq!(
        strings(&mac.status(), "SecureToken.AdditionalAdminsWithToken"),
        vec!["itadmin"]
    );
}

/// Every date and the boot session (which change from run to run) made fixed, so a status
/// in the middle of a rotation can be compared with a golden file.
fn dates_fixed(v: &plist::Value) -> plist::Value {
    let fixed = plist::Value::Date(plist::Date::from(
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800),
    ));
    match v {
        plist::Value::Date(_) => fixed,
        plist::Value::Dictionary(d) => plist::Value::Dictionary(
            d.iter()
                .map(|(k, v)| match k.as_str() {
                    "BootSessionUUID" => (k.clone(), plist::Value::String("BOOT".into())),
                    _ => (k.clone(), dates_fixed(v)),
                })
                .collect(),
        ),
        plist::Value::Array(a) => plist::Value::Array(a.iter().map(dates_fixed).collect()),
        other => other.clone(),
    }
}

/// The Rotation section of a requested rotation (its typed Reason and Method among it) is pinned
/// as the inventory reads it (issue 13: reasons and methods became types; the file did not change).
#[test]
fn a_requested_rotation_matches_its_golden_file() {
    let mac = Mac::healthy();
    mac.check();
    mac.event(&["reboot", "--with-recovery-key"]);
    mac.check();
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(string(&s, "Rotation.State"), "Requested");
    assert_golden("rotation-requested", &dates_fixed(&s));
}

/// The two halves of issue 14's escrow evidence meet: what the simulated Mac writes and shows,
/// the daemon's parsers read as one certificate, for each of the simulator's knobs.
#[test]
fn the_daemons_parsers_find_the_simulated_blob_addressed_to_the_profiles_certificate() {
    use keywarden::runner::Output;
    use keywarden::tools::escrow_blob::{parse_blob, Addressed, BlobProblem};
    use keywarden::tools::profiles::{parse_computer_profiles, EscrowCertificateSeen};

    let seen = |mac: &Mac| {
        let out = std::process::Command::new(mac.path("/usr/bin/profiles"))
            .args(["-C", "-o", "stdout-xml"])
            .env_clear()
            .output()
            .unwrap();
        let out = Output::new(out.status.code().unwrap(), out.stdout, out.stderr);
        let profiles = parse_computer_profiles(&out).unwrap();
        let escrow: Vec<_> = profiles
            .installed
            .into_iter()
            .filter_map(|p| p.escrow_certificate)
            .collect();
        assert_eq!(escrow.len(), 1, "{escrow:?}");
        escrow.into_iter().next().unwrap()
    };
    let blob =
        |mac: &Mac| parse_blob(&std::fs::read(mac.path("/var/db/FileVaultPRK.dat")).unwrap());
    let addressed = |mac: &Mac| match seen(mac) {
        EscrowCertificateSeen::Shown(cert) => cert.addressed_by(&blob(mac).unwrap()),
        other => panic!("{other:?}"),
    };

    let mac = Mac::healthy();
    assert_eq!(addressed(&mac), Addressed::ToThisCertificate);
    mac.event(&["resend-profile"]);
    assert_eq!(addressed(&mac), Addressed::ToThisCertificate);
    mac.event(&["resend-profile", "--certificate", "a_reissued"]);
    assert_eq!(
        addressed(&mac),
        Addressed::ToAnotherCertificateOfTheSameIssuer
    );
    mac.event(&["resend-profile", "--certificate", "b"]);
    assert_eq!(addressed(&mac), Addressed::ToAnotherCertificate);

    let mac = Mac::with(&["escrow.certificate_shown=false"]);
    assert!(matches!(seen(&mac), EscrowCertificateSeen::Unknown(_)));
    let mac = Mac::with(&[
        "escrow.prk_file_format=\"not_cms\"",
        "escrow.prk_file_written_at=\"2024-07-01T10:00:00Z\"",
    ]);
    assert!(matches!(blob(&mac), Err(BlobProblem::NotCms(_))));
}

/// A relative `--root` names the same simulated Mac as an absolute one: the tools run from `/`,
/// so the root is made absolute first (found while writing issue 14's demo: every tool was "not
/// installed").
#[test]
fn a_relative_root_is_the_same_mac_as_an_absolute_one() {
    let mac = Mac::healthy();
    let dir = mac.path("/");
    let parent = dir.parent().unwrap();
    let name = dir.file_name().unwrap();
    let out = std::process::Command::new(KEYWARDEN)
        .current_dir(parent)
        .arg("--root")
        .arg(name)
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("healthy:"), "{}", stdout(&out));
}

/// Issue 14, item 3: a status written by Keywarden before the upgrade (schema 1, the golden file
/// of 5a8c56c, `RecoveryKey.State` `Valid`) stays readable until the first check replaces it:
/// `Valid` reads as `Staged`, and `status` and `doctor` do not call the file unreadable.
#[test]
fn a_status_written_before_the_upgrade_to_schema_2_still_reads_with_valid_as_staged() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/status/schema-1-healthy.plist");
    let bytes = std::fs::read(&fixture).expect("the schema 1 fixture");
    let old = keywarden::status::Status::from_bytes(&bytes).expect("a schema 1 status reads");
    assert_eq!(old.recovery_key.state, keywarden::status::KeyState::Staged);
    assert_eq!(old.schema_version, 1);

    let mac = Mac::healthy();
    mac.check();
    std::fs::write(mac.path("/Library/Keywarden/status.plist"), &bytes).unwrap();
    let out = mac.keywarden(&["status"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!text.contains("not a readable status"), "{text}");
    assert!(text.contains("Staged"), "{text}");
}
