//! Every tool answers the argv of ARCHITECTURE.md's command table, in the Mac's words, and
//! refuses anything else loudly.

use plist::Value;

use crate::support::tools::{password_plist, tool_paths, ToolsMac};
use crate::support::{fixture, ESCROW_BUDDY_DOMAIN};

const READALL: [&str; 10] = [
    "-plist",
    ".",
    "-readall",
    "/Users",
    "RecordName",
    "UniqueID",
    "GeneratedUID",
    "RealName",
    "IsHidden",
    "AuthenticationAuthority",
];

#[test]
fn every_command_of_the_architecture_table_succeeds_on_the_healthy_mac() {
    let mac = ToolsMac::healthy();
    let calls: Vec<(&str, Vec<&str>)> = vec![
        ("fdesetup", vec!["status"]),
        ("fdesetup", vec!["showdeferralinfo"]),
        ("fdesetup", vec!["haspersonalrecoverykey"]),
        ("fdesetup", vec!["hasinstitutionalrecoverykey"]),
        ("fdesetup", vec!["usingrecoverykey"]),
        ("diskutil", vec!["apfs", "listCryptoUsers", "/", "-plist"]),
        ("dscl", READALL.to_vec()),
        (
            "dscl",
            vec!["-plist", ".", "-read", "/Groups/admin", "GroupMembership"],
        ),
        ("sysadminctl", vec!["-secureTokenStatus", "alice"]),
        ("profiles", vec!["status", "-type", "bootstraptoken"]),
        ("profiles", vec!["-C", "-o", "stdout-xml"]),
        ("sysctl", vec!["-n", "kern.bootsessionuuid"]),
        ("sysctl", vec!["-n", "hw.optional.arm64"]),
        ("sw_vers", vec!["-productVersion"]),
        ("sw_vers", vec!["-buildVersion"]),
        (
            "security",
            vec!["authorizationdb", "read", "system.login.console"],
        ),
        (
            "defaults",
            vec![
                "write",
                ESCROW_BUDDY_DOMAIN,
                "GenerateNewKey",
                "-bool",
                "true",
            ],
        ),
        (
            "defaults",
            vec!["read", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"],
        ),
        (
            "defaults",
            vec!["delete", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"],
        ),
    ];
    for (tool, args) in &calls {
        let out = mac.run(tool, args);
        assert_eq!(out.code(), 0, "{tool} {args:?}: {}", out.err());
        assert!(!out.stdout.is_empty() || !out.stderr.is_empty() || *tool == "defaults");
    }
    let key = mac.prk().unwrap();
    let out = mac.run_with_stdin(
        "fdesetup",
        &["validaterecovery", "-inputplist"],
        &password_plist(&key),
    );
    assert_eq!((out.text().as_str(), out.code()), ("true\n", 0));
    let out = mac.run_with_stdin(
        "fdesetup",
        &["changerecovery", "-personal", "-inputplist"],
        &password_plist(&key),
    );
    assert_eq!(out.code(), 0, "{}", out.err());
}

#[test]
fn the_one_line_answers_come_from_the_scenario() {
    let mac = ToolsMac::with(&[
        "macos.version=\"14.4.1\"",
        "macos.build=\"23E224\"",
        "macos.apple_silicon=false",
        "boot_session_uuid=\"11111111-2222-3333-4444-555555555555\"",
    ]);
    assert_eq!(mac.run("sw_vers", &["-productVersion"]).text(), "14.4.1\n");
    assert_eq!(mac.run("sw_vers", &["-buildVersion"]).text(), "23E224\n");
    assert_eq!(
        mac.run("sysctl", &["-n", "kern.bootsessionuuid"]).text(),
        "11111111-2222-3333-4444-555555555555\n"
    );
}

#[test]
fn an_intel_mac_has_no_arm64_oid_like_the_hand_written_fixture() {
    let intel =
        ToolsMac::with(&["macos.apple_silicon=false"]).run("sysctl", &["-n", "hw.optional.arm64"]);
    let handwritten = String::from_utf8(fixture(
        "handwritten/sysctl-arm64/intel-unknown-oid-HANDWRITTEN.txt",
    ))
    .unwrap();
    assert_eq!(
        (intel.text().as_str(), intel.err(), intel.code()),
        ("", handwritten, 1)
    );
    let arm = ToolsMac::healthy().run("sysctl", &["-n", "hw.optional.arm64"]);
    assert_eq!((arm.text().as_str(), arm.code()), ("1\n", 0));
}

#[test]
fn fdesetup_status_words_every_filevault_state_like_the_patterns() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "FileVault is On.\n"),
        (&["filevault.state=\"Off\""], "FileVault is Off.\n"),
        (
            &["filevault.state=\"Encrypting\"", "filevault.percent=42.5"],
            "FileVault is On.\nEncryption in progress: Percent completed = 42.5\n",
        ),
        (
            &["filevault.state=\"Encrypting\""],
            "FileVault is On.\nEncryption in progress: Pending\n",
        ),
        (
            &["filevault.state=\"Decrypting\"", "filevault.percent=37"],
            "FileVault is Off.\nDecryption in progress: Percent completed = 37\n",
        ),
        (
            &["filevault.state=\"Deferred\"", "filevault.deferred_user=\"alice\""],
            "FileVault is Off.\nDeferred enablement appears to be active.\n",
        ),
        (
            &[
                "filevault.state=\"Deferred\"",
                "filevault.deferred_user=\"alice\"",
                "macos.version=\"13.1\"",
            ],
            "FileVault is Off.\nDeferred enablement appears to be active for user 'alice'.\n",
        ),
        (
            &["filevault.restart_required=true"],
            "FileVault is On, but needs to be restarted to finish.\n",
        ),
        (
            &["filevault.state=\"Off\"", "filevault.restart_required=true"],
            "FileVault is Off, but needs to be restarted to finish.\n",
        ),
        (
            &["filevault.state=\"OffRestartPending\""],
            "FileVault is Off, but will be enabled after the next restart.\n",
        ),
        (
            &["filevault.master_keychain=true", "filevault.state=\"Encrypting\"", "filevault.percent=3"],
            "FileVault is On.\nFileVault master keychain appears to be installed.\nEncryption in progress: Percent completed = 3\n",
        ),
    ];
    for (assignments, want) in cases {
        let mac = ToolsMac::with(assignments);
        assert_eq!(
            mac.run("fdesetup", &["status"]).text(),
            *want,
            "{assignments:?}"
        );
    }
}

#[test]
fn fdesetup_key_questions_follow_the_scenario() {
    let mac = ToolsMac::with(&[
        "recovery_key.personal=null",
        "recovery_key.institutional=true",
        "recovery_key.used_this_boot=true",
    ]);
    assert_eq!(
        mac.run("fdesetup", &["haspersonalrecoverykey"]).text(),
        "false\n"
    );
    assert_eq!(
        mac.run("fdesetup", &["hasinstitutionalrecoverykey"]).text(),
        "true\n"
    );
    assert_eq!(mac.run("fdesetup", &["usingrecoverykey"]).text(), "true\n");
    assert_eq!(
        mac.run("fdesetup", &["showdeferralinfo"]).text(),
        "Not found.\n"
    );
    mac.set(&["recovery_key.used_this_boot=\"not_supported\""]);
    let out = mac.run("fdesetup", &["usingrecoverykey"]);
    assert_eq!(
        (out.err().as_str(), out.code()),
        ("This command is not supported on APFS volumes.\n", 1)
    );
}

#[test]
fn a_wrong_key_does_not_validate_and_exits_non_zero() {
    let mac = ToolsMac::healthy();
    let out = mac.run_with_stdin(
        "fdesetup",
        &["validaterecovery", "-inputplist"],
        &password_plist("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF"),
    );
    assert_eq!((out.text().as_str(), out.code()), ("false\n", 1));
    mac.set(&["recovery_key.personal=null"]);
    let out = mac.run_with_stdin(
        "fdesetup",
        &["validaterecovery", "-inputplist"],
        &password_plist("ABCD-EFGH-JKLM-NPQR-STUV-WXYZ"),
    );
    assert_eq!((out.text().as_str(), out.code()), ("false\n", 1));
}

#[test]
fn the_user_directory_is_a_plist_array_of_records_with_standard_attribute_keys() {
    let mac = ToolsMac::with(&["users.0.smart_card=true"]);
    let records = mac.run("dscl", &READALL).plist();
    let records = records.as_array().expect("an array of records");
    let attr = |r: &Value, a: &str| -> Option<Vec<String>> {
        let kind = if a == "IsHidden" {
            "Native"
        } else {
            "Standard"
        };
        r.as_dictionary()?
            .get(&format!("dsAttrType{kind}:{a}"))?
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|s| s.as_string().unwrap().to_string())
                    .collect()
            })
    };
    let names: Vec<String> = records
        .iter()
        .map(|r| attr(r, "RecordName").unwrap()[0].clone())
        .collect();
    assert_eq!(
        names,
        [
            "_mbsetupuser",
            "_spotlight",
            "alice",
            "daemon",
            "itadmin",
            "nobody",
            "root"
        ]
    );
    let find = |n: &str| {
        records
            .iter()
            .find(|r| attr(r, "RecordName").unwrap()[0] == n)
            .unwrap()
    };

    let root = find("root");
    assert_eq!(attr(root, "UniqueID").unwrap(), ["0"]);
    assert_eq!(
        attr(root, "RecordName").unwrap(),
        ["root", "BUILTIN\\Local System"]
    );
    assert_eq!(attr(root, "AuthenticationAuthority"), None);
    assert_eq!(attr(find("nobody"), "UniqueID").unwrap(), ["-2"]);

    let alice = find("alice");
    assert_eq!(attr(alice, "RealName").unwrap(), ["Alice Appleseed"]);
    assert_eq!(
        attr(alice, "GeneratedUID").unwrap(),
        ["3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667"]
    );
    assert_eq!(attr(alice, "IsHidden"), None);
    let aa = attr(alice, "AuthenticationAuthority").unwrap();
    assert!(
        aa[0].starts_with(";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2"),
        "{aa:?}"
    );
    assert!(aa.contains(&";SecureToken;".to_string()), "{aa:?}");
    let card = aa
        .iter()
        .find(|v| v.starts_with(";tokenidentity;"))
        .expect("a smart card");
    assert_eq!(card.len(), ";tokenidentity;".len() + 40);

    let itadmin = find("itadmin");
    assert_eq!(attr(itadmin, "IsHidden").unwrap(), ["1"]);
    let aa = attr(itadmin, "AuthenticationAuthority").unwrap();
    assert!(!aa
        .iter()
        .any(|v| v == ";SecureToken;" || v.starts_with(";tokenidentity;")));
}

#[test]
fn the_admin_group_lists_root_and_the_admins() {
    let mac = ToolsMac::with(&["users.1.admin=false"]);
    let group = mac
        .run(
            "dscl",
            &["-plist", ".", "-read", "/Groups/admin", "GroupMembership"],
        )
        .plist();
    let members: Vec<&str> = group.as_dictionary().unwrap()["dsAttrTypeStandard:GroupMembership"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect();
    assert_eq!(members, ["root", "alice"]);
}

#[test]
fn crypto_users_follow_tokens_keys_and_the_bootstrap_token() {
    let mac = ToolsMac::with(&[
        "users.1.secure_token=true",
        "recovery_key.personal=null",
        "recovery_key.institutional=true",
        "bootstrap_token.escrowed=false",
    ]);
    let doc = mac
        .run("diskutil", &["apfs", "listCryptoUsers", "/", "-plist"])
        .plist();
    let users: Vec<(String, String, bool)> = doc.as_dictionary().unwrap()["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let d = u.as_dictionary().unwrap();
            (
                d["APFSCryptoUserType"].as_string().unwrap().to_string(),
                d["APFSCryptoUserUUID"].as_string().unwrap().to_string(),
                d["VolumeOwner"].as_boolean().unwrap(),
            )
        })
        .collect();
    let types: Vec<&str> = users.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(
        types,
        [
            "LocalOpenDirectory",
            "LocalOpenDirectory",
            "InstitutionalRecovery"
        ]
    );
    assert_eq!(users[1].1, "9D2A6C41-1B7E-4F0A-9C3D-5E8F7A6B4C21");
}

#[test]
fn installed_profiles_include_the_escrow_payload_with_a_string_install_date() {
    let doc = ToolsMac::healthy()
        .run("profiles", &["-C", "-o", "stdout-xml"])
        .plist();
    let profiles = doc.as_dictionary().unwrap()["_computerlevel"]
        .as_array()
        .unwrap();
    let escrow = profiles
        .iter()
        .map(|p| p.as_dictionary().unwrap())
        .find(|p| p["ProfileIdentifier"].as_string() == Some("com.example.filevault.escrow"))
        .expect("the escrow profile");
    assert_eq!(
        escrow["ProfileInstallDate"].as_string(),
        Some("2024-05-01 09:00:00 +0000")
    );
    let types: Vec<&str> = escrow["ProfileItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.as_dictionary().unwrap()["PayloadType"]
                .as_string()
                .unwrap()
        })
        .collect();
    assert_eq!(
        types,
        [
            "com.apple.security.FDERecoveryKeyEscrow",
            "com.apple.security.pkcs1"
        ]
    );
}

#[test]
fn no_profiles_at_all_is_an_empty_dict() {
    let mac = ToolsMac::with(&["escrow.profile_installed=false", "extra_profiles=[]"]);
    let out = mac.run("profiles", &["-C", "-o", "stdout-xml"]);
    assert!(out.text().contains("<dict/>"), "{}", out.text());
    assert!(out.plist().as_dictionary().unwrap().is_empty());
}

#[test]
fn the_bootstrap_token_lines_carry_the_profiles_prefix() {
    let mac = ToolsMac::with(&["bootstrap_token.escrowed=false"]);
    assert_eq!(
        mac.run("profiles", &["status", "-type", "bootstraptoken"]).text(),
        "profiles: Bootstrap Token supported on server: YES\nprofiles: Bootstrap Token escrowed to server: NO\n"
    );
}

#[test]
fn the_login_right_lists_escrow_buddy_just_before_loginwindow_done_when_registered() {
    let mechanisms = |mac: &ToolsMac| -> Vec<String> {
        let out = mac.run(
            "security",
            &["authorizationdb", "read", "system.login.console"],
        );
        assert_eq!(out.err(), "YES (0)\n");
        out.plist().as_dictionary().unwrap()["mechanisms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_string().unwrap().to_string())
            .collect()
    };
    let with = mechanisms(&ToolsMac::healthy());
    let n = with.len();
    assert_eq!(
        with[n - 2..],
        ["Escrow Buddy:Invoke,privileged", "loginwindow:done"]
    );
    let without = mechanisms(&ToolsMac::with(&[
        "escrow_buddy.mechanism_registered=false",
    ]));
    assert!(!without.iter().any(|m| m.starts_with("Escrow Buddy")));
    assert_eq!(without.len(), n - 1);
}

#[test]
fn generate_new_key_is_read_written_and_deleted_through_defaults_only() {
    let mac = ToolsMac::healthy();
    let read = || mac.run("defaults", &["read", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"]);
    let out = read();
    assert_eq!(out.code(), 1);
    assert!(out.stdout.is_empty());
    assert!(out.err().ends_with(
        "\nThe domain/default pair of (/Library/Preferences/com.netflix.Escrow-Buddy, GenerateNewKey) does not exist\n"
    ), "{}", out.err());

    for (value, want) in [("true", "1\n"), ("false", "0\n"), ("YES", "1\n")] {
        let w = mac.run(
            "defaults",
            &[
                "write",
                ESCROW_BUDDY_DOMAIN,
                "GenerateNewKey",
                "-bool",
                value,
            ],
        );
        assert_eq!((w.code(), w.stdout.len(), w.stderr.len()), (0, 0, 0));
        assert_eq!(read().text(), want);
    }
    assert!(!mac
        .path("/Library/Preferences/com.netflix.Escrow-Buddy.plist")
        .exists());

    assert_eq!(
        mac.run(
            "defaults",
            &["delete", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"]
        )
        .code(),
        0
    );
    assert_eq!(read().code(), 1);
    let again = mac.run(
        "defaults",
        &["delete", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"],
    );
    assert_eq!(again.code(), 1);
    assert!(again.err().contains("\nDomain (/Library/Preferences/com.netflix.Escrow-Buddy) not found.\nDefaults have not been changed.\n"), "{}", again.err());
}

#[test]
fn an_unknown_user_is_an_error_line_not_a_disabled_token() {
    let out = ToolsMac::healthy().run("sysadminctl", &["-secureTokenStatus", "mallory"]);
    assert_eq!(out.code(), 0);
    assert!(
        out.err().ends_with("] Unknown user mallory\n"),
        "{}",
        out.err()
    );
}

#[test]
fn an_argv_the_daemon_should_never_send_is_a_usage_error() {
    let mac = ToolsMac::healthy();
    for (tool, _) in tool_paths() {
        let out = mac.run(tool, &["--no-such-option"]);
        let want = if tool == "fdesetup" { 1 } else { 64 };
        assert_eq!(out.code(), want, "{tool}");
        assert!(out.stdout.is_empty() && !out.stderr.is_empty(), "{tool}");
    }
    // `status -extended` never exits on a converting Mac: the daemon must not call it.
    assert_eq!(mac.run("fdesetup", &["status", "-extended"]).code(), 1);
    assert_eq!(
        mac.run(
            "defaults",
            &["read", "com.apple.loginwindow", "GenerateNewKey"]
        )
        .code(),
        64
    );
}
