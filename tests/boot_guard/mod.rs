//! The boot guard end to end (issue 14, item 2): the real `keywarden` against the simulated Mac.
//! After a recovery-key unlock macOS walks the user through a password reset at the next login,
//! and a new key made at that login breaks it; so the first thing a check does in a new boot is
//! ask whether the key unlocked it, and withdraw Keywarden's own Escrow Buddy flag if it did or
//! nobody can tell. No effect decided in an earlier boot is replayed. The simulator's call log
//! shows every call in order, `defaults write` included.

use std::time::{Duration, Instant};

use crate::support::*;

/// The calls logged so far, as argv arrays (tool name first).
fn argvs(mac: &Mac) -> Vec<Vec<String>> {
    mac.calls()
        .iter()
        .map(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn is(call: &[String], want: &[&str]) -> bool {
    call.iter().map(String::as_str).eq(want.iter().copied())
}

const FLAG_WRITE: &[&str] = &[
    "defaults",
    "write",
    ESCROW_BUDDY_DOMAIN,
    "GenerateNewKey",
    "-bool",
    "true",
];
const FLAG_DELETE: &[&str] = &["defaults", "delete", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"];
const BOOT_SESSION: &[&str] = &["sysctl", "-n", "kern.bootsessionuuid"];
const KEY_USE: &[&str] = &["fdesetup", "usingrecoverykey"];

fn count(calls: &[Vec<String>], want: &[&str]) -> usize {
    calls.iter().filter(|c| is(c, want)).count()
}

fn audited(mac: &Mac, what: &str) -> Vec<serde_json::Value> {
    mac.audit()
        .into_iter()
        .filter(|e| e["What"] == what)
        .collect()
}

fn rotation(s: &plist::Value) -> String {
    string(s, "Rotation.State")
}

/// Keywarden's request by Escrow Buddy is out and its flag set: the key was used, the user logged
/// in (the reset is behind them), and Escrow Buddy has not run yet.
fn flag_set_by_keywarden() -> Mac {
    let mac = Mac::healthy();
    mac.event(&["reboot", "--with-recovery-key"]);
    mac.checked();
    mac.event(&["login", "alice"]);
    assert_eq!(rotation(&mac.checked()), "Requested");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    mac
}

/// SIGKILL leaves the simulated tool the killed check was waiting for (a `hang` fault) sleeping:
/// end it, by its pid, found by the Mac's path in its command line.
fn end_tools_left_by(mac: &Mac) {
    let root = mac.root_str();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline.starts_with(root.as_bytes()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Race 1 of issue 14, item 2: a check saves its request (a `SetFlag` in the outbox) and is
/// killed at shutdown before it writes the flag. The Mac comes back unlocked with the recovery
/// key. The next check must not replay the earlier boot's `SetFlag`: it writes no
/// `GenerateNewKey` at all in that boot before the reset login, and asks again after it.
#[test]
fn issue_14_a_set_flag_left_by_a_check_killed_at_shutdown_is_not_replayed_after_a_recovery_key_unlock(
) {
    let mac = Mac::healthy();
    mac.event(&["reboot", "--with-recovery-key"]);
    mac.checked();
    mac.event(&["login", "alice"]);
    // The flag write hangs: the state (Requested, SetFlag in the outbox) is saved, the effect is
    // under way; then the Mac shuts down and the check is killed.
    mac.set(&[r#"faults=[{"argv":["defaults","write"],"kind":"hang"}]"#]);
    let mut child = mac.spawn_keywarden(&["check"]);
    assert!(
        eventually(Duration::from_secs(20), || count(&argvs(&mac), FLAG_WRITE)
            > 0),
        "the flag write never started"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    end_tools_left_by(&mac);
    let state =
        keywarden::state::parse(&std::fs::read(mac.path("/var/db/keywarden/state.plist")).unwrap())
            .unwrap();
    assert!(
        state
            .outbox
            .pending
            .iter()
            .any(|p| format!("{:?}", p.effect) == "SetFlag" && p.boot.is_some()),
        "a SetFlag of that boot waits in the outbox: {:?}",
        state.outbox.pending
    );
    assert_eq!(mac.escrow_buddy_flag(), None, "the write never happened");

    mac.set(&["faults=[]"]);
    mac.event(&["reboot", "--with-recovery-key"]);
    let before = argvs(&mac).len();
    let s = mac.checked();
    mac.checked();
    let this_boot = argvs(&mac)[before..].to_vec();
    assert_eq!(
        count(&this_boot, FLAG_WRITE),
        0,
        "no GenerateNewKey written in the reset boot: {this_boot:?}"
    );
    assert_eq!(mac.escrow_buddy_flag(), None);
    assert_eq!(rotation(&s), "Pending");
    assert!(
        string(&s, "Rotation.Waiting").contains("logged in"),
        "{}",
        string(&s, "Rotation.Waiting")
    );
    assert_eq!(
        audited(&mac, "RotationRequested").len(),
        1,
        "the earlier boot's record, once"
    );
    let log = std::fs::read_to_string(mac.path("/Library/Logs/Keywarden/keywarden.log")).unwrap();
    assert!(
        log.contains("outbox_effect_dropped") && log.contains("effect=SetFlag"),
        "{log}"
    );

    // The reset login is behind the user: the check decides again, and asks now.
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    assert_eq!(count(&argvs(&mac)[before..], FLAG_WRITE), 1);
}

/// Race 2 of issue 14, item 2: Keywarden's flag is set and the Mac restarts, unlocked with the
/// recovery key. Before anything else the next check reads the boot, asks `usingrecoverykey`
/// and withdraws the flag: in the call log, the delete comes third, right after those two reads.
#[test]
fn issue_14_keywardens_flag_is_withdrawn_first_thing_after_a_recovery_key_unlock() {
    let mac = flag_set_by_keywarden();
    mac.event(&["reboot", "--with-recovery-key"]);
    let before = argvs(&mac).len();
    let s = mac.checked();
    let calls = argvs(&mac)[before..].to_vec();
    assert!(is(&calls[0], BOOT_SESSION), "{calls:?}");
    assert!(is(&calls[1], KEY_USE), "{calls:?}");
    assert!(is(&calls[2], FLAG_DELETE), "{calls:?}");
    assert_eq!(count(&calls, KEY_USE), 1, "asked once in the check");
    assert_eq!(count(&calls, BOOT_SESSION), 1, "read once in the check");
    assert_eq!(count(&calls, FLAG_WRITE), 0);
    assert_eq!(mac.escrow_buddy_flag(), None);
    assert_eq!(rotation(&s), "Pending");
    assert!(boolean(&s, "RecoveryKey.UsedThisBoot"));
    let withdrawn = audited(&mac, "FlagWithdrawn");
    assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
    assert!(
        withdrawn[0]["Result"]
            .as_str()
            .unwrap()
            .contains("recovery key unlocked"),
        "{withdrawn:?}"
    );
    assert_eq!(audited(&mac, "UseDetected").len(), 2, "one per boot");
}

/// Race 2 with no answer: `usingrecoverykey` fails (an error, or output nobody recognises) in the
/// new boot. Unknown counts as used: the flag is withdrawn first thing, nothing is requested
/// before a login, and the login ends it.
#[test]
fn issue_14_keywardens_flag_is_withdrawn_first_thing_when_usingrecoverykey_fails() {
    let mac = flag_set_by_keywarden();
    mac.set(&[r#"faults=[{"argv":["fdesetup","usingrecoverykey"],"kind":"garbage"}]"#]);
    mac.event(&["reboot", "--with-recovery-key"]);
    let before = argvs(&mac).len();
    let s = mac.checked();
    let calls = argvs(&mac)[before..].to_vec();
    assert!(is(&calls[0], BOOT_SESSION), "{calls:?}");
    assert!(is(&calls[1], KEY_USE), "{calls:?}");
    assert!(is(&calls[2], FLAG_DELETE), "{calls:?}");
    assert_eq!(mac.escrow_buddy_flag(), None);
    assert_eq!(rotation(&s), "Pending");
    assert_eq!(string(&s, "RecoveryKey.UseDetection"), "Unknown");
    assert!(problems(&s).contains(&"ToolFailed".to_owned()));
    let withdrawn = audited(&mac, "FlagWithdrawn");
    assert!(
        withdrawn[0]["Result"].as_str().unwrap().contains("unknown"),
        "{withdrawn:?}"
    );
    // Still unknown at the next check: nothing is written before a login.
    mac.checked();
    assert_eq!(count(&argvs(&mac)[before..], FLAG_WRITE), 0);
    // A login in this boot is past any reset: the request goes out again.
    mac.event(&["login", "alice"]);
    assert_eq!(rotation(&mac.checked()), "Requested");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
}

/// Race 2 with no answer in time: `usingrecoverykey` hangs. The guard gives up after its own
/// short timeout (10 s, not `ToolTimeout`'s 30 s) and withdraws the flag before anything else;
/// the full check then asks again and gets the answer.
#[test]
fn issue_14_keywardens_flag_is_withdrawn_after_ten_seconds_when_usingrecoverykey_hangs() {
    let mac = flag_set_by_keywarden();
    mac.set(&[r#"faults=[{"argv":["fdesetup","usingrecoverykey"],"kind":"hang","times":1}]"#]);
    mac.event(&["reboot", "--with-recovery-key"]);
    let before = argvs(&mac).len();
    let started = Instant::now();
    let s = mac.checked();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(25),
        "the guard's timeout is 10 s: the check took {took:?}"
    );
    let calls = argvs(&mac)[before..].to_vec();
    assert!(is(&calls[0], BOOT_SESSION), "{calls:?}");
    assert!(is(&calls[1], KEY_USE), "{calls:?}");
    assert!(is(&calls[2], FLAG_DELETE), "{calls:?}");
    assert_eq!(
        count(&calls, KEY_USE),
        2,
        "no answer in time, so the full check asks again"
    );
    assert_eq!(mac.escrow_buddy_flag(), None);
    assert_eq!(rotation(&s), "Pending");
    assert!(boolean(&s, "RecoveryKey.UsedThisBoot"), "the second answer");
    assert_eq!(count(&calls, FLAG_WRITE), 0);
}

/// A restart without the recovery key changes nothing: the request and its flag stay, nothing is
/// withdrawn, and Escrow Buddy makes the new key at the next login.
#[test]
fn issue_14_a_normal_reboot_keeps_keywardens_request_going() {
    let mac = flag_set_by_keywarden();
    mac.event(&["reboot"]);
    let before = argvs(&mac).len();
    let s = mac.checked();
    let calls = argvs(&mac)[before..].to_vec();
    assert_eq!(count(&calls, FLAG_DELETE), 0, "{calls:?}");
    assert_eq!(count(&calls, FLAG_WRITE), 0, "still set: not written again");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    assert_eq!(rotation(&s), "Requested");
    assert!(audited(&mac, "FlagWithdrawn").is_empty());
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Confirmed");
    assert_eq!(string(&s, "RecoveryKey.State"), "Staged");
}

/// A `RotationCommand` that `validate` left in the outbox for the next check (issue 13) is an
/// effect of its boot too: after a restart with the recovery key it does not run during the
/// reset; the request is decided again, and the command runs once after the login.
#[test]
fn issue_14_a_rotation_command_left_for_the_next_check_is_decided_again_after_a_restart() {
    let mac = Mac::with(&["escrow_buddy.installed=false"]);
    let marker = mac.path("/command-ran");
    mac.use_rotation_command(&format!("echo ran >> {}\n", marker.display()), &[]);
    mac.event(&["reboot", "--with-recovery-key"]);
    mac.event(&["login", "alice"]);
    let key = mac.scenario()["recovery_key"]["personal"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = mac.keywarden_with_stdin(&["validate"], format!("{key}\n").as_bytes());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(rotation(&mac.status()), "Requested");
    assert!(!marker.exists());
    // The Mac restarts, unlocked with the key again, before the daemon's next check.
    mac.event(&["reboot", "--with-recovery-key"]);
    let s = mac.checked();
    assert!(!marker.exists(), "run during the reset");
    assert_eq!(rotation(&s), "Pending");
    mac.event(&["login", "alice"]);
    mac.checked();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    mac.checked();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n", "once");
}
