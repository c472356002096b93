//! The files the daemon reads without a tool, and who owns `/dev/console`.
//!
//! As root the console file is chowned to the console user's own UID; without root the
//! simulator presents the console user as the euid instead. CI runs as root, so the remap test
//! there drops to `nobody` for the simulator processes; as a normal user it runs directly.

use std::fs;

use crate::support::tools::{tool_paths, ToolsMac};
use crate::support::{euid, require_root, NOBODY, SIM};

fn uid_of(mac: &ToolsMac, name: &str) -> String {
    let records = mac
        .run(
            "dscl",
            &[
                "-plist",
                ".",
                "-readall",
                "/Users",
                "RecordName",
                "UniqueID",
            ],
        )
        .plist();
    let record = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_dictionary().unwrap())
        .find(|r| {
            r["dsAttrTypeStandard:RecordName"].as_array().unwrap()[0].as_string() == Some(name)
        })
        .unwrap_or_else(|| panic!("no record {name}"));
    record["dsAttrTypeStandard:UniqueID"].as_array().unwrap()[0]
        .as_string()
        .unwrap()
        .to_string()
}

#[test]
fn init_lays_out_the_tree_and_links_every_tool_to_the_simulator() {
    let mac = ToolsMac::healthy();
    for dir in [
        "/usr/bin",
        "/usr/sbin",
        "/dev",
        "/var/db/ConfigurationProfiles",
        "/Library/Preferences",
        "/Library/Managed Preferences",
        "/Library/Security/SecurityAgentPlugins",
        "/Library/Logs",
    ] {
        assert!(mac.path(dir).is_dir(), "{dir}");
    }
    let sim = fs::canonicalize(SIM).unwrap();
    for (tool, _) in tool_paths() {
        let link = mac.tool_path(tool);
        let target = fs::read_link(&link).unwrap();
        assert!(target.is_absolute(), "{tool}");
        assert_eq!(fs::canonicalize(&link).unwrap(), sim, "{tool}");
    }
}

#[test]
fn the_escrow_file_carries_the_scenario_time_as_its_mtime() {
    let mac = ToolsMac::healthy();
    let want = jiff::Timestamp::from_second(1_717_236_000).unwrap(); // 2024-06-01T10:00:00Z
    let got = jiff::Timestamp::try_from(mac.mtime("/var/db/FileVaultPRK.dat")).unwrap();
    assert_eq!(got, want);
    // A DER SEQUENCE: a CMS ContentInfo (tests/sim/escrow_blob.rs reads it).
    assert!(fs::read(mac.path("/var/db/FileVaultPRK.dat"))
        .unwrap()
        .starts_with(&[0x30]));
    mac.set(&["escrow.prk_file_written_at=null"]);
    assert!(!mac.path("/var/db/FileVaultPRK.dat").exists());
}

#[test]
fn the_escrow_preference_and_escrow_buddy_bundle_follow_the_scenario() {
    let mac = ToolsMac::healthy();
    let prefs = "/Library/Managed Preferences/com.apple.security.FDERecoveryKeyEscrow.plist";
    let bundle = "/Library/Security/SecurityAgentPlugins/Escrow Buddy.bundle";
    let doc = plist::Value::from_file(mac.path(prefs)).unwrap();
    assert_eq!(
        doc.as_dictionary().unwrap()["Location"].as_string(),
        Some("Keys are escrowed to Example Corp IT")
    );
    assert!(mac.path(bundle).is_dir());

    mac.set(&[
        "escrow.profile_installed=false",
        "escrow_buddy.installed=false",
    ]);
    assert!(!mac.path(prefs).exists());
    assert!(!mac.path(bundle).exists());
}

#[test]
fn a_plaintext_deferral_file_holds_a_fake_key_and_never_the_real_one() {
    let mac = ToolsMac::with(&[
        "filevault.state=\"Deferred\"",
        "deferral.plaintext_file=true",
    ]);
    let file = mac.path("/var/db/ConfigurationProfiles/fdesetup.plist");
    let doc = plist::Value::from_file(&file).unwrap();
    let key = doc.as_dictionary().unwrap()["RecoveryKey"]
        .as_string()
        .unwrap()
        .to_string();
    assert_ne!(Some(key), mac.prk());

    mac.set(&["deferral.plaintext_file=false"]);
    assert!(!file.exists());
    mac.set(&[
        "deferral.output_path=\"/private/var/tmp/fv.plist\"",
        "deferral.plaintext_file=true",
    ]);
    assert!(mac.path("/private/var/tmp/fv.plist").exists());
    mac.set(&["deferral=null"]);
    assert!(!mac
        .path("/var/db/ConfigurationProfiles/fdesetup.plist")
        .exists());
}

#[test]
fn as_root_the_console_file_is_owned_by_the_console_user() {
    if !require_root("to chown /dev/console") {
        return;
    }
    let mac = ToolsMac::healthy();
    assert_eq!(mac.owner("/dev/console"), 501);
    assert_eq!(uid_of(&mac, "alice"), "501");
    mac.event(&["login", "itadmin"]);
    assert_eq!(mac.owner("/dev/console"), 502);
    mac.set(&["console_user=\"root\""]);
    assert_eq!(mac.owner("/dev/console"), 0);
    mac.event(&["logout"]);
    assert!(!mac.path("/dev/console").exists());
}

#[test]
fn without_root_the_console_user_is_presented_as_the_euid_everywhere() {
    let (mac, me) = if euid() == 0 {
        (ToolsMac::as_user(NOBODY), NOBODY)
    } else {
        (ToolsMac::healthy(), euid())
    };
    // A user whose UID happens to be the euid takes the console user's UID instead.
    mac.set(&[&format!(r#"users.2={{"name":"bob","uid":{me}}}"#)]);
    assert_eq!(mac.owner("/dev/console"), me);
    assert_eq!(uid_of(&mac, "alice"), me.to_string());
    assert_eq!(uid_of(&mac, "bob"), "501");
    assert_eq!(uid_of(&mac, "itadmin"), "502");

    mac.event(&["login", "itadmin"]);
    assert_eq!(uid_of(&mac, "itadmin"), me.to_string());
    assert_eq!(uid_of(&mac, "alice"), "501");
    assert_eq!(uid_of(&mac, "bob"), "502");
}
