//! The key lifecycle end to end (issue 4): the real `keywarden` against the simulated Mac, one
//! check at a time, with simulator events (reboots, logins, Escrow Buddy at login) and
//! `keywarden-sim age` for time passing. Each story asserts what a Mac admin would see in the
//! status, what was done on the Mac (the simulator's call log), and the audit trail.

use std::time::Duration;

use crate::support::*;

fn rotation(s: &plist::Value) -> String {
    string(s, "Rotation.State")
}

/// How many times an argv (tool name first) was called.
fn calls_of(mac: &Mac, argv: &[&str]) -> usize {
    let want = serde_json::json!(argv);
    mac.calls().iter().filter(|c| c["argv"] == want).count()
}

fn flag_writes(mac: &Mac) -> usize {
    calls_of(
        mac,
        &[
            "defaults",
            "write",
            ESCROW_BUDDY_DOMAIN,
            "GenerateNewKey",
            "-bool",
            "true",
        ],
    )
}

fn audited(mac: &Mac, what: &str) -> usize {
    mac.audit().iter().filter(|e| e["What"] == what).count()
}

/// Reboot after a recovery-key unlock, nobody logged in yet.
fn key_used_at_boot(mac: &Mac) {
    mac.event(&["reboot", "--with-recovery-key"]);
}

fn login(mac: &Mac, who: &str) {
    mac.event(&["logout"]);
    mac.event(&["login", who]);
}

#[test]
fn a_used_key_is_detected_rotated_at_the_next_login_after_the_reset_and_confirmed() {
    let mac = Mac::healthy();
    assert!(boolean(&mac.checked(), "Healthy"));

    // The key unlocked the Mac at boot; the user has not logged in (macOS will ask for a
    // password reset at that login).
    key_used_at_boot(&mac);
    let s = mac.checked();
    assert_eq!(string(&s, "RecoveryKey.State"), "Used");
    assert!(boolean(&s, "RecoveryKey.UsedThisBoot"));
    assert_eq!(rotation(&s), "Pending");
    assert_eq!(string(&s, "Rotation.Reason"), "KeyUsed");
    assert!(
        string(&s, "Rotation.Waiting").contains("logged in"),
        "{}",
        string(&s, "Rotation.Waiting")
    );
    assert_eq!(
        flag_writes(&mac),
        0,
        "nothing is requested during the reset"
    );
    assert_eq!(audited(&mac, "UseDetected"), 1);

    // The user logs in (the reset is behind us): now the rotation is requested.
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(string(&s, "Rotation.Method"), "EscrowBuddy");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    assert_eq!(flag_writes(&mac), 1);
    // Read back the same way it was written.
    assert!(
        calls_of(
            &mac,
            &["defaults", "read", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"]
        ) >= 2
    );

    // Another check before the next login changes nothing and writes nothing again.
    mac.checked();
    assert_eq!(flag_writes(&mac), 1);

    // At the next login Escrow Buddy makes a new key; Keywarden confirms from the escrow file.
    login(&mac, "alice");
    let s = mac.checked();
    assert_eq!(rotation(&s), "Confirmed");
    assert!(get(&s, "Rotation.LastRotatedAt").is_some());
    assert_eq!(string(&s, "RecoveryKey.State"), "Staged");
    assert!(boolean(&s, "Healthy"), "{:?}", problems(&s));
    assert_eq!(audited(&mac, "RotationRequested"), 1);
    assert_eq!(audited(&mac, "RotationConfirmed"), 1);

    // A day later the confirmation has done its job: Idle, the last rotation remembered.
    mac.sim(&["age", mac.root_str(), "25h"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Idle");
    assert!(get(&s, "Rotation.LastRotatedAt").is_some());
}

#[test]
fn a_failed_escrow_buddy_run_is_retried_with_backoff_and_shown_overdue() {
    let mac = Mac::healthy();
    key_used_at_boot(&mac);
    mac.checked();
    mac.event(&["login", "alice"]);
    assert_eq!(rotation(&mac.checked()), "Requested");

    // Escrow Buddy runs at login, fdesetup fails, it clears its flag anyway (PLATFORM.md).
    mac.set(&["escrow_buddy.fail_next_rotation=true"]);
    login(&mac, "alice");
    assert_eq!(mac.escrow_buddy_flag(), Some(false));
    // Not judged before the grace period after that login.
    assert_eq!(rotation(&mac.checked()), "Requested");
    mac.sim(&["age", mac.root_str(), "11m"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Failed");
    assert_eq!(
        get(&s, "Rotation.Attempts").and_then(|a| a.as_signed_integer()),
        Some(1)
    );
    assert!(
        string(&s, "Rotation.LastError").contains("no new escrow file"),
        "{}",
        string(&s, "Rotation.LastError")
    );
    assert!(get(&s, "Rotation.RetryAt").is_some());

    // An hour later it is asked again.
    mac.sim(&["age", mac.root_str(), "61m"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    assert_eq!(flag_writes(&mac), 2);

    // It fails again; two weeks later the request is overdue.
    mac.set(&["escrow_buddy.fail_next_rotation=true"]);
    login(&mac, "alice");
    // (The daemon checks at once when the console user changes.)
    mac.checked();
    mac.sim(&["age", mac.root_str(), "11m"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Failed");
    assert_eq!(
        get(&s, "Rotation.Attempts").and_then(|a| a.as_signed_integer()),
        Some(2)
    );
    mac.sim(&["age", mac.root_str(), "15d"]);
    let s = mac.checked();
    assert!(
        problems(&s).contains(&"RotationOverdue".to_owned()),
        "{:?}",
        problems(&s)
    );
    assert!(audited(&mac, "RotationFailed") >= 2);
}

#[test]
fn a_re_enrolment_makes_the_key_not_escrowed_until_a_new_key_is_made() {
    let mac = Mac::healthy();
    assert!(boolean(&mac.checked(), "Healthy"));
    // The Mac moved to another MDM: a new escrow payload with that MDM's certificate, installed
    // after the current key, which is encrypted to the old one (issue 14: the recipient, not the
    // dates, makes it certain).
    mac.event(&["resend-profile", "--certificate", "b"]);
    let s = mac.checked();
    assert_eq!(string(&s, "Escrow.State"), "Missing");
    assert!(problems(&s).contains(&"RecoveryKeyNotEscrowed".to_owned()));
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(string(&s, "Rotation.Reason"), "NotEscrowed");
    login(&mac, "alice");
    let s = mac.checked();
    assert_eq!(rotation(&s), "Confirmed");
    assert_eq!(string(&s, "Escrow.State"), "Staged");
    // The new key is encrypted to the new MDM's certificate.
    assert_eq!(
        string(&s, "Escrow.Recipient"),
        string(&s, "Escrow.Certificate")
    );
    assert!(boolean(&s, "Healthy"), "{:?}", problems(&s));
}

/// Issue 14, item 1 (the fleet failure that opened it): an MDM that re-sends its escrow profile
/// with the same certificate moves the profile's date past the escrow file's on every Mac. Nothing
/// is flagged, nothing is requested, Escrow Buddy's flag is never written.
#[test]
fn issue_14_a_re_sent_escrow_profile_changes_nothing() {
    let mac = Mac::healthy();
    assert!(boolean(&mac.checked(), "Healthy"));
    mac.event(&["resend-profile"]);
    let s = mac.checked();
    assert_eq!(string(&s, "Escrow.State"), "Staged");
    assert_eq!(rotation(&s), "Idle");
    assert!(codes(&s).is_empty(), "{:?}", codes(&s));
    assert_eq!(flag_writes(&mac), 0);
}

/// Issue 14, item 1: where `profiles` does not show the payload's certificate, a re-sent profile
/// leaves only dates: a warning, no request; `RotateWhenEscrowUnconfirmed` turns it into one.
#[test]
fn issue_14_with_only_dates_escrow_is_unconfirmed_and_rotates_only_when_asked() {
    let mac = Mac::with(&["escrow.certificate_shown=false"]);
    assert!(boolean(&mac.checked(), "Healthy"));
    mac.event(&["resend-profile"]);
    let s = mac.checked();
    assert_eq!(string(&s, "Escrow.State"), "Unconfirmed");
    assert_eq!(warnings(&s), vec!["EscrowUnconfirmed"]);
    assert!(boolean(&s, "Healthy"));
    assert_eq!(rotation(&s), "Idle");
    assert_eq!(flag_writes(&mac), 0);
    mac.managed_prefs(&[("RotateWhenEscrowUnconfirmed", plist::Value::Boolean(true))]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(string(&s, "Rotation.Reason"), "EscrowUnconfirmed");
    assert_eq!(flag_writes(&mac), 1);
    login(&mac, "alice");
    let s = mac.checked();
    assert_eq!(rotation(&s), "Confirmed");
    assert_eq!(string(&s, "Escrow.State"), "Staged");
}

/// Issue 14 review: while the escrow payload was away a key made then was never staged, so when
/// the payload comes back (same certificate) the old escrow file proves nothing about the current
/// key: unconfirmed, a warning, not Staged.
#[test]
fn issue_14_an_escrow_file_older_than_a_gap_without_the_payload_is_unconfirmed() {
    let mac = Mac::healthy();
    mac.checked();
    mac.set(&["escrow.profile_installed=false"]);
    assert!(problems(&mac.checked()).contains(&"EscrowProfileMissing".to_owned()));
    mac.set(&["recovery_key.personal=\"ZZZZ-YYYY-XXXX-WWWW-VVVV-UUUU\""]);
    mac.checked();
    mac.set(&["escrow.profile_installed=true"]);
    mac.event(&["resend-profile"]);
    let s = mac.checked();
    assert_eq!(
        string(&s, "Escrow.State"),
        "Unconfirmed",
        "{:?}",
        get(&s, "Escrow")
    );
    assert!(string(&s, "Escrow.Evidence").contains("was seen absent"));
    assert_eq!(warnings(&s), vec!["EscrowUnconfirmed"]);
}

/// Issue 14, item 1 (zentral): a certificate re-issued for the same key, new serial, at a
/// re-send. A Mac whose old certificate Keywarden saw knows the key is the same: staged. One that
/// never saw it cannot tell: unconfirmed, nothing requested. Neither rotates.
#[test]
fn issue_14_a_certificate_reissued_for_the_same_key_is_judged_by_the_key_keywarden_saw() {
    let mac = Mac::healthy();
    mac.checked();
    mac.event(&["resend-profile", "--certificate", "a_reissued"]);
    let s = mac.checked();
    assert_eq!(
        string(&s, "Escrow.State"),
        "Staged",
        "{:?}",
        get(&s, "Escrow")
    );
    assert!(string(&s, "Escrow.Evidence").contains("same key"));

    let fresh = Mac::healthy();
    fresh.event(&["resend-profile", "--certificate", "a_reissued"]);
    let s = fresh.checked();
    assert_eq!(string(&s, "Escrow.State"), "Unconfirmed");
    assert_eq!(rotation(&s), "Idle");
    assert_eq!(flag_writes(&fresh), 0);
}

/// Issue 14, item 1: with `EscrowOutsideMDM` a Mac without an escrow payload is not flagged and
/// not rotated for escrow; a used key is still replaced, by a method that needs no payload.
#[test]
fn issue_14_escrow_outside_the_mdm_turns_the_escrow_checks_off() {
    let mac = Mac::with(&["escrow.profile_installed=false"]);
    mac.managed_prefs(&[("EscrowOutsideMDM", plist::Value::Boolean(true))]);
    let s = mac.checked();
    assert_eq!(string(&s, "Escrow.State"), "External");
    assert_eq!(string(&s, "RecoveryKey.State"), "Unused");
    assert!(codes(&s).is_empty(), "{:?}", codes(&s));
    assert_eq!(rotation(&s), "Idle");
    // Without the payload no escrow file can show a new key: a used key is reported, never
    // rotated for (a rotation Keywarden could not confirm would be asked for again and again).
    key_used_at_boot(&mac);
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Pending");
    assert_eq!(string(&s, "RecoveryKey.State"), "Used");
    assert!(
        string(&s, "Rotation.Waiting").contains("rotate --replaced"),
        "{:?}",
        get(&s, "Rotation")
    );
    assert_eq!(flag_writes(&mac), 0);
    // The escrow tool replaced the key; the admin says so, and it settles the use.
    let out = mac.keywarden(&["rotate", "--replaced"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("KeyReplacedStated"),
        "{}",
        stdout(&out)
    );
    let s = mac.status();
    assert_eq!(string(&s, "RecoveryKey.State"), "Unused");
    assert_eq!(rotation(&s), "Idle");
    let stated: Vec<_> = mac
        .audit()
        .into_iter()
        .filter(|e| e["What"] == "KeyReplacedStated")
        .collect();
    assert_eq!(stated.len(), 1, "audited once, with who said it");
    assert!(stated[0]["Caller"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(flag_writes(&mac), 0);
}

/// Issue 14 review: `rotate --replaced` is the statement of an admin whose keys are escrowed
/// outside the MDM; with the payload, a new key shows itself, and the statement is refused
/// without touching anything.
#[test]
fn issue_14_a_replaced_key_is_stated_only_where_keys_are_escrowed_outside_the_mdm() {
    let mac = Mac::healthy();
    key_used_at_boot(&mac);
    mac.event(&["login", "alice"]);
    mac.checked();
    let out = mac.keywarden(&["rotate", "--replaced"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("only for Macs whose keys are escrowed outside the MDM"),
        "{}",
        stderr(&out)
    );
    assert_eq!(audited(&mac, "KeyReplacedStated"), 0);
    assert_eq!(string(&mac.checked(), "RecoveryKey.State"), "Used");
}

#[test]
fn without_the_escrow_payload_nothing_is_requested() {
    let mac = Mac::with(&["escrow.profile_installed=false"]);
    key_used_at_boot(&mac);
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Pending");
    assert!(string(&s, "Rotation.Waiting").contains("no escrow payload"));
    assert!(problems(&s).contains(&"EscrowProfileMissing".to_owned()));
    assert_eq!(flag_writes(&mac), 0);
    // The payload arrives: the key made before it is not escrowed, and the request goes out.
    mac.set(&["escrow.profile_installed=true"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(flag_writes(&mac), 1);
}

#[test]
fn a_reboot_between_the_use_and_the_login_allows_the_request_in_the_later_boot() {
    let mac = Mac::healthy();
    key_used_at_boot(&mac);
    assert_eq!(rotation(&mac.checked()), "Pending");
    // Restarted before anyone logged in (the reset login did not happen in that boot).
    mac.event(&["reboot"]);
    let s = mac.checked();
    assert_eq!(
        string(&s, "RecoveryKey.State"),
        "Used",
        "the use is remembered across the reboot"
    );
    assert!(!boolean(&s, "RecoveryKey.UsedThisBoot"));
    assert_eq!(rotation(&s), "Requested", "a later boot is safe");
}

#[test]
fn keywardens_own_flag_is_withdrawn_when_a_new_boot_used_the_key_before_anyone_logged_in() {
    let mac = Mac::healthy();
    key_used_at_boot(&mac);
    mac.checked();
    mac.event(&["login", "alice"]);
    assert_eq!(rotation(&mac.checked()), "Requested");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    // The key is used again at the next boot: the flag must not fire at the reset login.
    key_used_at_boot(&mac);
    let s = mac.checked();
    assert_eq!(mac.escrow_buddy_flag(), None, "withdrawn");
    assert_eq!(rotation(&s), "Pending");
    assert_eq!(audited(&mac, "FlagWithdrawn"), 1);
    assert_eq!(
        calls_of(
            &mac,
            &["defaults", "delete", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"]
        ),
        1
    );
}

#[test]
fn a_flag_set_by_another_tool_during_the_reset_is_reported_and_never_cleared() {
    let mac = Mac::with(&["escrow_buddy.generate_new_key=true"]);
    key_used_at_boot(&mac);
    let s = mac.checked();
    assert!(
        problems(&s).contains(&"RotationFlagDuringPasswordReset".to_owned()),
        "{:?}",
        problems(&s)
    );
    assert_eq!(
        mac.escrow_buddy_flag(),
        Some(true),
        "never cleared by Keywarden"
    );
    assert_eq!(
        calls_of(
            &mac,
            &["defaults", "delete", ESCROW_BUDDY_DOMAIN, "GenerateNewKey"]
        ),
        0
    );
    mac.checked();
    assert_eq!(
        audited(&mac, "ForeignFlagReported"),
        1,
        "reported once per boot"
    );
}

#[test]
fn a_key_changed_by_someone_else_is_an_event_and_settles_a_used_key() {
    let mac = Mac::healthy();
    key_used_at_boot(&mac);
    assert_eq!(string(&mac.checked(), "RecoveryKey.State"), "Used");
    // Another tool (or macOS itself) rotates the key under the escrow payload.
    let now = jiff::Timestamp::now().to_string();
    mac.set(&[
        r#"recovery_key.personal="NEWK-EYBY-OTHE-RTOO-LXXX-XXXX""#,
        &format!(r#"escrow.prk_file_written_at="{now}""#),
    ]);
    let s = mac.checked();
    assert_eq!(string(&s, "RecoveryKey.State"), "Staged");
    assert_eq!(rotation(&s), "Idle");
    assert_eq!(audited(&mac, "KeyChanged"), 1);
    assert!(get(&s, "RecoveryKey.LastChangedAt").is_some());
}

#[test]
fn a_kill_between_saving_the_request_and_setting_the_flag_loses_and_duplicates_nothing() {
    let mac = Mac::healthy();
    key_used_at_boot(&mac);
    mac.checked();
    mac.event(&["login", "alice"]);
    // The flag write hangs: the state (Requested) is saved, the effect is under way.
    mac.set(&[r#"faults=[{"argv":["defaults","write"],"kind":"hang"}]"#]);
    let mut child = mac.spawn_keywarden(&["check"]);
    assert!(
        eventually(Duration::from_secs(20), || flag_writes(&mac) > 0),
        "the flag write never started"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let state =
        keywarden::state::parse(&std::fs::read(mac.path("/var/db/keywarden/state.plist")).unwrap())
            .unwrap();
    assert!(
        matches!(state.rotation, keywarden::state::Rotation::Requested { .. }),
        "saved before acting"
    );
    assert_eq!(mac.escrow_buddy_flag(), None, "the write never happened");
    // The next check sees the request without its flag and sets it: one request, one flag.
    mac.set(&["faults=[]"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    assert_eq!(audited(&mac, "RotationRequested"), 1, "not requested twice");
    mac.checked();
    assert_eq!(
        flag_writes(&mac),
        2,
        "the hung write and the one that completed; no more"
    );
}

/// Issue 14, item 10: a pilot in Report mode counts in inventory what Request mode would do.
#[test]
fn issue_14_report_mode_only_reports_and_shows_the_reason_and_the_method_request_mode_would_use() {
    let mac = Mac::healthy();
    mac.managed_prefs(&[("RotationMode", plist::Value::String("Report".into()))]);
    key_used_at_boot(&mac);
    // During the password reset Request mode would wait too: no method is named.
    let s = mac.checked();
    assert_eq!(rotation(&s), "Pending");
    assert!(get(&s, "Rotation.Method").is_none());
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Pending");
    assert!(string(&s, "Rotation.Waiting").contains("Report"));
    assert_eq!(string(&s, "Rotation.Reason"), "KeyUsed");
    assert_eq!(string(&s, "Rotation.Method"), "EscrowBuddy");
    assert_eq!(
        stdout(&mac.keywarden(&["ea", "Rotation.Method"])),
        "<result>EscrowBuddy</result>\n"
    );
    assert_eq!(flag_writes(&mac), 0);
    // Switched to Request mode, it does what the pilot showed.
    mac.managed_prefs(&[("RotationMode", plist::Value::String("Request".into()))]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(string(&s, "Rotation.Method"), "EscrowBuddy");
    assert_eq!(flag_writes(&mac), 1);
}

#[test]
fn the_mdm_method_raises_requested_for_a_smart_group() {
    let mac = Mac::with(&["escrow_buddy.installed=false"]);
    key_used_at_boot(&mac);
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(string(&s, "Rotation.Method"), "MDM");
    assert_eq!(
        stdout(&mac.keywarden(&["ea", "Rotation.State"])),
        "<result>Requested</result>\n"
    );
    assert_eq!(flag_writes(&mac), 0);
}

#[test]
fn a_missing_escrow_buddy_mechanism_is_reported_and_the_next_method_used() {
    let mac = Mac::with(&["escrow_buddy.mechanism_registered=false"]);
    key_used_at_boot(&mac);
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert!(warnings(&s).contains(&"EscrowBuddyMechanismMissing".to_owned()));
    assert_eq!(string(&s, "Rotation.Method"), "MDM");
    assert_eq!(flag_writes(&mac), 0);
    // The authorization database is read, never written.
    assert!(mac.calls().iter().all(|c| c["argv"][0] != "security"
        || c["argv"][1] == "authorizationdb" && c["argv"][2] == "read"));
}

/// Issue 14, item 8: Escrow Buddy runs at a smart-card login, is given the card's PIN, fdesetup
/// refuses it and the flag is consumed (macadmins/escrow-buddy#5). That is one failed attempt,
/// reported as needing a password login, and not retried while alice uses her smart card: every
/// such login would fail the same way. An admin who asks again gets the flag set for alice's
/// password login.
#[test]
fn issue_14_a_smart_card_login_that_consumed_the_flag_needs_a_password_login_and_is_not_retried() {
    let mac = Mac::with(&["users.0.smart_card=true"]);
    key_used_at_boot(&mac);
    mac.event(&["login", "alice", "--smart-card"]);
    assert_eq!(rotation(&mac.checked()), "Requested");
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    mac.event(&["logout"]);
    mac.event(&["login", "alice", "--smart-card"]);
    assert_eq!(mac.escrow_buddy_flag(), Some(false), "consumed");
    assert_eq!(
        rotation(&mac.checked()),
        "Requested",
        "within the grace period"
    );
    mac.sim(&["age", mac.root_str(), "11m"]);
    let s = mac.checked();
    assert!(
        warnings(&s).contains(&"RotationNeedsPasswordLogin".to_owned()),
        "{:?}",
        warnings(&s)
    );
    assert_eq!(rotation(&s), "Failed");
    assert!(
        get(&s, "Rotation.RetryAt").is_none(),
        "waits for a login, not a time"
    );
    assert!(
        string(&s, "Rotation.LastError").contains("smart-card login"),
        "{}",
        string(&s, "Rotation.LastError")
    );
    // No retry storm: days later, past any backoff, the flag was written once.
    mac.sim(&["age", mac.root_str(), "3d"]);
    let s = mac.checked();
    assert!(warnings(&s).contains(&"RotationNeedsPasswordLogin".to_owned()));
    assert_eq!(flag_writes(&mac), 1);
    assert_eq!(audited(&mac, "RotationFailed"), 1);
    // The admin asks again; alice logs in once with her password.
    let out = mac.keywarden(&["rotate", "--request"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(flag_writes(&mac), 2);
    login(&mac, "alice");
    let s = mac.checked();
    assert_eq!(rotation(&s), "Confirmed");
    assert!(!codes(&s).contains(&"RotationNeedsPasswordLogin".to_owned()));
}

/// Issue 14, item 8: once the user who logs in is no longer paired with a smart card, the next
/// login is a password login, and the flag is set again for it.
#[test]
fn issue_14_a_smart_card_pairing_removed_after_a_failed_smart_card_login_gets_the_flag_set_again() {
    let mac = Mac::with(&["users.0.smart_card=true"]);
    mac.checked();
    let out = mac.keywarden(&["rotate", "--request"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    mac.event(&["logout"]);
    mac.event(&["login", "alice", "--smart-card"]);
    mac.checked();
    mac.sim(&["age", mac.root_str(), "11m"]);
    assert_eq!(rotation(&mac.checked()), "Failed");
    assert_eq!(flag_writes(&mac), 1);
    mac.set(&["users.0.smart_card=false"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(flag_writes(&mac), 2);
    login(&mac, "alice");
    assert_eq!(rotation(&mac.checked()), "Confirmed");
}

/// Issue 14, item 8: a login that left the flag set (FileVault's automatic login after the
/// unlock at boot, where whether login mechanisms run is unverified) is no attempt: the request
/// waits for the next login instead of failing and backing off.
#[test]
fn issue_14_a_login_that_left_the_flag_set_is_not_a_failed_attempt() {
    let mac = Mac::healthy();
    mac.checked();
    let out = mac.keywarden(&["rotate", "--request"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    mac.event(&["reboot"]);
    mac.checked();
    mac.event(&["login", "alice", "--automatic"]);
    assert_eq!(mac.escrow_buddy_flag(), Some(true), "left set");
    mac.checked();
    mac.sim(&["age", mac.root_str(), "2h"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(
        get(&s, "Rotation.Attempts").and_then(|a| a.as_signed_integer()),
        Some(0)
    );
    assert!(get(&s, "Rotation.LastError").is_none());
    assert_eq!(audited(&mac, "RotationFailed"), 0);
    assert_eq!(flag_writes(&mac), 1);
    // The next login at the login window runs Escrow Buddy.
    login(&mac, "alice");
    assert_eq!(rotation(&mac.checked()), "Confirmed");
}

/// Issue 14, item 8: Escrow Buddy gives fdesetup the password of whoever logs in, and fdesetup
/// takes only a FileVault user's: with a user who holds no SecureToken logging in, the flag is
/// not set; Escrow Buddy is skipped for the next method, and with none the rotation says why.
#[test]
fn issue_14_no_flag_when_the_user_who_logs_in_holds_no_secure_token() {
    let mac = Mac::healthy();
    mac.managed_prefs(&[(
        "RotationMethods",
        plist::Value::Array(vec![plist::Value::String("EscrowBuddy".into())]),
    )]);
    mac.checked();
    login(&mac, "itadmin");
    mac.checked();
    let out = mac.keywarden(&["rotate", "--request"]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let s = mac.status();
    assert_eq!(rotation(&s), "Pending");
    let waiting = string(&s, "Rotation.Waiting");
    assert!(
        waiting.contains("itadmin") && waiting.contains("SecureToken"),
        "{waiting}"
    );
    assert!(stdout(&out).contains(&waiting), "{}", stdout(&out));
    assert_eq!(flag_writes(&mac), 0);
    // With the MDM configured after Escrow Buddy, the MDM is asked instead.
    mac.managed_prefs(&[]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(string(&s, "Rotation.Method"), "MDM");
    // And the status says why Escrow Buddy was passed over.
    let note = string(&s, "Rotation.MethodNote");
    assert!(
        note.contains("itadmin") && note.contains("holds no SecureToken"),
        "{note}"
    );
    assert_eq!(flag_writes(&mac), 0);
}

/// Issue 14, item 7: Setup Assistant's `_mbsetupuser` owns the console after an update; that is
/// not the user's login, so after a recovery-key boot nothing is requested until alice logs in
/// (and resets her password), and she is not called an additional admin meanwhile.
#[test]
fn issue_14_setup_assistant_at_the_console_after_a_recovery_key_boot_is_nobody_logged_in() {
    let mac = Mac::healthy();
    mac.checked();
    key_used_at_boot(&mac);
    mac.set(&["console_user=_mbsetupuser"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Pending");
    assert!(
        string(&s, "Rotation.Waiting").contains("logged in"),
        "{}",
        string(&s, "Rotation.Waiting")
    );
    assert!(get(&s, "SecureToken.ConsoleUser").is_none());
    assert!(
        get(&s, "SecureToken.AdditionalAdminsWithToken")
            .and_then(|a| a.as_array())
            .is_none_or(|a| a.is_empty()),
        "alice is not additional to Setup Assistant"
    );
    assert_eq!(flag_writes(&mac), 0, "no flag before alice's reset login");
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested");
    assert_eq!(flag_writes(&mac), 1);
}

#[test]
fn rotate_request_asks_through_the_configured_methods() {
    let mac = Mac::healthy();
    mac.checked();
    let out = mac.keywarden(&["rotate", "--request"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Rotation requested via EscrowBuddy"),
        "{}",
        stdout(&out)
    );
    let s = mac.status();
    assert_eq!(string(&s, "Rotation.Reason"), "AdminRequest");
    login(&mac, "alice");
    let s = mac.checked();
    assert_eq!(rotation(&s), "Confirmed");
    // Satisfied: a later check does not ask again.
    mac.sim(&["age", mac.root_str(), "25h"]);
    assert_eq!(rotation(&mac.checked()), "Idle");
}

#[test]
fn a_new_rotation_request_id_requests_one_rotation() {
    let mac = Mac::healthy();
    mac.checked();
    mac.managed_prefs(&[("RotationRequestID", plist::Value::String("INC-4711".into()))]);
    assert_eq!(rotation(&mac.checked()), "Requested");
    login(&mac, "alice");
    assert_eq!(rotation(&mac.checked()), "Confirmed");
    mac.sim(&["age", mac.root_str(), "25h"]);
    assert_eq!(
        rotation(&mac.checked()),
        "Idle",
        "the same ID does not ask again"
    );
    mac.managed_prefs(&[("RotationRequestID", plist::Value::String("INC-4712".into()))]);
    assert_eq!(
        rotation(&mac.checked()),
        "Requested",
        "a new ID asks once more"
    );
}

#[test]
fn a_rotation_command_runs_as_an_argv_and_its_failure_is_recorded() {
    let mac = Mac::with(&["escrow_buddy.installed=false"]);
    let marker = mac.path("/command-ran");
    mac.use_rotation_command(
        &format!(
            "echo \"$@\" > {}\necho 'policy failed: disk full' >&2\nexit 3\n",
            marker.display()
        ),
        &["policy", "-event", "rotate key"],
    );
    key_used_at_boot(&mac);
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "policy -event rotate key\n",
        "one argv, no shell splitting"
    );
    assert_eq!(rotation(&s), "Failed");
    let err = string(&s, "Rotation.LastError");
    assert!(err.contains("exit code 3"), "{err}");
    assert!(
        !err.contains("policy failed"),
        "its output is never quoted (issue 16): {err}"
    );
}

/// Issue 13 (found in review): `validate` publishes a fresh status without running a due
/// RotationCommand, which may take two hours on an MDM policy after the answer was printed; the
/// command waits in the outbox for the next check, which runs it once.
#[test]
fn issue_13_validate_leaves_a_due_rotation_command_to_the_next_check() {
    let mac = Mac::with(&["escrow_buddy.installed=false"]);
    let marker = mac.path("/command-ran");
    mac.use_rotation_command(&format!("echo ran >> {}\n", marker.display()), &[]);
    key_used_at_boot(&mac);
    mac.event(&["login", "alice"]);
    let key = mac.scenario()["recovery_key"]["personal"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = mac.keywarden_with_stdin(&["validate"], format!("{key}\n").as_bytes());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!marker.exists(), "validate ran the command");
    assert_eq!(rotation(&mac.status()), "Requested");
    mac.checked();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    mac.checked();
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "ran\n",
        "run once, not again"
    );
}
