//! Every state the corpus has a real sample of is printed as that sample, byte for byte.

use crate::support::corpus;
use crate::support::tools::ToolsMac;

#[test]
fn filevault_on_with_a_master_keychain_prints_the_ttg_sample() {
    let mac = ToolsMac::with(&["filevault.master_keychain=true"]);
    let out = mac.run("fdesetup", &["status"]);
    assert_eq!(
        out.stdout,
        corpus("fdesetup-status/ttg-10.15.6-on-masterkeychain.txt")
    );
    assert_eq!(out.code(), 0);
}

#[test]
fn a_present_personal_key_prints_the_derived_true_sample() {
    let out = ToolsMac::healthy().run("fdesetup", &["haspersonalrecoverykey"]);
    assert_eq!(
        out.stdout,
        corpus("fdesetup-haspersonalrecoverykey/ttg-10.15.6-true-DERIVED.txt")
    );
}

#[test]
fn no_institutional_key_prints_the_derived_false_sample() {
    let out = ToolsMac::healthy().run("fdesetup", &["hasinstitutionalrecoverykey"]);
    assert_eq!(
        out.stdout,
        corpus("fdesetup-hasinstitutionalrecoverykey/ttg-10.15.6-false-DERIVED.txt")
    );
}

#[test]
fn a_boot_without_the_recovery_key_prints_the_openradar_false_sample() {
    let out = ToolsMac::healthy().run("fdesetup", &["usingrecoverykey"]);
    assert_eq!(
        out.stdout,
        corpus("fdesetup-usingrecoverykey/openradar-28163245-10.11.6-false.txt")
    );
}

#[test]
fn an_active_mdm_deferral_prints_the_ttg_deferral_dump() {
    let mac = ToolsMac::with(&[
        "filevault.state=\"Deferred\"",
        "deferral.output_path=\"/var/db/ConfigurationProfiles/fdesetup.plist\"",
    ]);
    let out = mac.run("fdesetup", &["showdeferralinfo"]);
    assert_eq!(
        out.stdout,
        corpus("fdesetup-showdeferralinfo/ttg-10.15.6-defer-active.txt")
    );
}

#[test]
fn another_deferral_output_path_changes_only_that_line_of_the_dump() {
    let mac = ToolsMac::with(&["deferral.output_path=\"/private/var/tmp/fv.plist\""]);
    let out = mac.run("fdesetup", &["showdeferralinfo"]).text();
    let sample = String::from_utf8(corpus(
        "fdesetup-showdeferralinfo/ttg-10.15.6-defer-active.txt",
    ))
    .unwrap();
    assert_eq!(
        out,
        sample.replace(
            "/var/db/ConfigurationProfiles/fdesetup.plist",
            "/private/var/tmp/fv.plist"
        )
    );
}

#[test]
fn a_server_without_bootstrap_token_support_prints_the_one_line_sample() {
    let mac = ToolsMac::with(&["bootstrap_token.supported=false"]);
    let out = mac.run("profiles", &["status", "-type", "bootstraptoken"]);
    assert_eq!(
        out.stdout,
        corpus("profiles-status-bootstraptoken/ttg-10.15.6-supported-no.txt")
    );
}

#[test]
fn the_healthy_crypto_users_are_the_fleet_sample_with_its_missing_closing_tag() {
    let out = ToolsMac::healthy().run("diskutil", &["apfs", "listCryptoUsers", "/", "-plist"]);
    let mut want =
        corpus("diskutil-apfs-listcryptousers/fleet-fixture-plist-volumeowner-mdmrecovery.txt");
    want.extend_from_slice(b"</plist>\n");
    assert_eq!(out.stdout, want);
}

/// The time, process id and thread id differ per call; everything else is the EC2 sample.
#[test]
fn secure_token_status_has_the_shape_and_words_of_the_ec2_samples() {
    let mac = ToolsMac::with(&[r#"users.2={"name":"ec2-user","uid":503,"secure_token":true}"#]);
    for (enabled, sample) in [
        (
            "true",
            "sysadminctl-securetokenstatus/ec2-macos-init-2021-enabled.txt",
        ),
        (
            "false",
            "sysadminctl-securetokenstatus/ec2-macos-init-2021-disabled.txt",
        ),
    ] {
        mac.set(&[&format!("users.2.secure_token={enabled}")]);
        let out = mac.run("sysadminctl", &["-secureTokenStatus", "ec2-user"]);
        assert!(out.stdout.is_empty());
        let got = out.err();
        let want = String::from_utf8(corpus(sample)).unwrap();
        assert_eq!(nslog_shape(&got), nslog_shape(&want), "{got}");
        assert_eq!(
            got.split_once("] ").unwrap().1,
            want.split_once("] ").unwrap().1
        );
    }
}

/// `2021-01-14 18:17:47.414 sysadminctl[96836:904874] ` with digits replaced by `9`.
fn nslog_shape(line: &str) -> String {
    let (prefix, _) = line.split_once("] ").expect("an NSLog prefix");
    let date_time: String = prefix[..23]
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    let ids = &prefix[23..];
    assert!(ids.starts_with(" sysadminctl["), "{prefix}");
    let (pid, tid) = ids[" sysadminctl[".len()..].split_once(':').unwrap();
    assert!(pid.chars().all(|c| c.is_ascii_digit()) && tid.chars().all(|c| c.is_ascii_digit()));
    date_time
}
