//! Clocks lie; Keywarden does not loop (issue 16, item 4): the clock stepped back and forward by
//! a day and by fifty years never re-requests a confirmed rotation, keeps a status fresh, moves a
//! deadline or locks a command out.
//!
//! The real binary reads the system clock (no test hook): a clock set back by D looks, to the
//! next program that runs, exactly like every time recorded before lying D in the future. So
//! `set_back` moves every recorded time on the simulated Mac forward (the state's and status's
//! dates, the audit trail's times, the escrow file's mtime), the mirror of `keywarden-sim age`;
//! a clock set forward is `age` itself.

use std::time::{Duration, SystemTime};

use crate::support::*;

const DAY: i64 = 86_400;
/// Fifty years, with their twelve leap days.
const FIFTY_YEARS: i64 = (365 * 50 + 12) * DAY;
/// The steps back tried here; forward steps are `keywarden-sim age` (`1d`, `18262d`).
const BACK: [(&str, i64); 2] = [("a day", DAY), ("fifty years", FIFTY_YEARS)];

fn later(st: SystemTime, secs: i64) -> SystemTime {
    st + Duration::from_secs(secs.unsigned_abs())
}

fn shift_dates(v: &mut plist::Value, secs: i64) {
    match v {
        plist::Value::Date(d) => *d = later(SystemTime::from(*d), secs).into(),
        plist::Value::Dictionary(d) => d.values_mut().for_each(|v| shift_dates(v, secs)),
        plist::Value::Array(a) => a.iter_mut().for_each(|v| shift_dates(v, secs)),
        _ => {}
    }
}

/// Every `<date>` of the plist at `abs` moves `secs` later (the file keeps its mode).
fn plist_ahead(mac: &Mac, abs: &str, secs: i64) {
    let path = mac.path(abs);
    let mut v = plist::Value::from_file(&path).unwrap();
    shift_dates(&mut v, secs);
    let mut bytes = Vec::new();
    v.to_writer_xml(&mut bytes).unwrap();
    std::fs::write(&path, bytes).unwrap();
}

/// Every time in the audit trail moves `secs` later.
fn audit_ahead(mac: &Mac, secs: i64) {
    let path = mac.path("/var/db/keywarden/audit.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut e: serde_json::Value = serde_json::from_str(line).unwrap();
        let at: jiff::Timestamp = e["At"].as_str().unwrap().parse().unwrap();
        let moved = at + jiff::SignedDuration::from_secs(secs);
        e["At"] = serde_json::Value::String(moved.to_string());
        out.push_str(&serde_json::to_string(&e).unwrap());
        out.push('\n');
    }
    std::fs::write(&path, out).unwrap();
}

/// The escrow file's mtime moves `secs` later.
fn escrow_file_ahead(mac: &Mac, secs: i64) {
    let f = std::fs::File::options()
        .write(true)
        .open(mac.path("/var/db/FileVaultPRK.dat"))
        .unwrap();
    let m = f.metadata().unwrap().modified().unwrap();
    f.set_modified(later(m, secs)).unwrap();
}

/// The clock is set back by `secs` after everything recorded so far: to the next program it all
/// lies `secs` in the future.
fn set_back(mac: &Mac, secs: i64) {
    plist_ahead(mac, "/var/db/keywarden/state.plist", secs);
    plist_ahead(mac, "/Library/Keywarden/status.plist", secs);
    audit_ahead(mac, secs);
    escrow_file_ahead(mac, secs);
}

fn rotation(s: &plist::Value) -> String {
    string(s, "Rotation.State")
}

fn audited(mac: &Mac, what: &str) -> usize {
    mac.audit().iter().filter(|e| e["What"] == what).count()
}

/// The log lines of one event (text format: ` name ` after the level and area).
fn logged(mac: &Mac, event: &str) -> Vec<String> {
    std::fs::read_to_string(mac.path("/Library/Logs/Keywarden/keywarden.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!(" {event} ")))
        .map(str::to_owned)
        .collect()
}

/// Before: the request kept its date in the future, so the key Escrow Buddy made after the step
/// was "older than the request" and never confirmed it (and an admin's request was never
/// answered): the rotation was asked for again and again.
#[test]
fn issue_16_a_rotation_asked_before_the_clock_was_set_back_is_confirmed_by_the_key_made_after_it_and_not_asked_again(
) {
    for (step, secs) in BACK {
        for asked_by in ["a used key", "rotate --request"] {
            let mac = Mac::healthy();
            mac.checked();
            if asked_by == "a used key" {
                mac.event(&["reboot", "--with-recovery-key"]);
                mac.event(&["login", "alice"]);
                mac.checked();
            } else {
                let out = mac.keywarden(&["rotate", "--request"]);
                assert_eq!(code(&out), 0, "{}", text(&out));
            }
            assert_eq!(rotation(&mac.status()), "Requested", "{asked_by}");
            set_back(&mac, secs);
            mac.checked();
            // Escrow Buddy makes the new key at the next login.
            mac.event(&["logout"]);
            mac.event(&["login", "alice"]);
            let s = mac.checked();
            assert_eq!(
                rotation(&s),
                "Confirmed",
                "{asked_by}, clock back {step}: {:?}",
                get(&s, "Rotation")
            );
            let s = mac.checked();
            assert_eq!(rotation(&s), "Confirmed", "{asked_by}, clock back {step}");
            assert_eq!(
                string(&s, "RecoveryKey.State"),
                "Staged",
                "{asked_by}, {step}"
            );
            mac.sim(&["age", mac.root_str(), "25h"]);
            let s = mac.checked();
            assert_eq!(
                rotation(&s),
                "Idle",
                "{asked_by}, clock back {step}: held a day"
            );
            assert_eq!(audited(&mac, "RotationRequested"), 1, "{asked_by}, {step}");
            assert_eq!(audited(&mac, "RotationConfirmed"), 1, "{asked_by}, {step}");
        }
    }
}

/// Before: the first attempt's date lay fifty years ahead, and `RotationOverdue` waited for it.
#[test]
fn issue_16_rotation_overdue_counts_from_when_the_clock_was_found_behind_the_request() {
    for (step, secs) in BACK {
        let mac = Mac::healthy();
        mac.checked();
        let out = mac.keywarden(&["rotate", "--request"]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        set_back(&mac, secs);
        let s = mac.checked();
        assert!(!codes(&s).contains(&"RotationOverdue".to_owned()), "{step}");
        mac.sim(&["age", mac.root_str(), "15d"]);
        let s = mac.checked();
        assert!(
            codes(&s).contains(&"RotationOverdue".to_owned()),
            "clock back {step}, then 15 days: {:?} {:?}",
            codes(&s),
            get(&s, "Rotation")
        );
    }
}

/// Before: `status` and `doctor` called a status dated a day or fifty years ahead "older than
/// 48 hours". Every reader calls it stale, by one rule, and says why.
#[test]
fn issue_16_a_status_from_the_future_is_stale_to_every_reader_which_says_it_is_dated_after_the_present(
) {
    for (step, secs) in BACK {
        let mac = Mac::healthy();
        mac.checked();
        plist_ahead(&mac, "/Library/Keywarden/status.plist", secs);
        let out = mac.keywarden(&["status"]);
        assert!(
            stdout(&out).contains("WARNING: this status is dated")
                && stdout(&out).contains("after the present"),
            "status, {step}: {}",
            text(&out)
        );
        let out = mac.keywarden(&["status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(json["Stale"], true, "status --json, {step}");
        let out = mac.keywarden(&["ea", "Healthy"]);
        assert_eq!(stdout(&out).trim(), "<result>Stale</result>", "ea, {step}");
        let out = mac.keywarden(&["doctor"]);
        assert!(
            stdout(&out).contains("after the present"),
            "doctor, {step}: {}",
            text(&out)
        );
    }
    // Forward: a day is within StaleAfterHours (48); fifty years is old.
    let mac = Mac::healthy();
    mac.checked();
    mac.sim(&["age", mac.root_str(), "1d"]);
    let out = mac.keywarden(&["ea", "Healthy"]);
    assert_eq!(stdout(&out).trim(), "<result>true</result>");
    mac.sim(&["age", mac.root_str(), "18262d"]);
    let out = mac.keywarden(&["status"]);
    assert!(
        stdout(&out).contains("older than 48 hours"),
        "{}",
        text(&out)
    );
}

fn validate(mac: &Mac) -> std::process::Output {
    mac.keywarden_with_stdin(&["validate"], b"ABCD-EFGH-JKLM-NPQR-STUV-WXYZ\n")
}

/// The time `validate` says the daily cap frees at (`... allowed from <RFC 3339> (UTC)`).
fn frees_at(out: &std::process::Output) -> jiff::Timestamp {
    let err = stderr(out);
    let at = err
        .split("allowed from ")
        .nth(1)
        .and_then(|rest| rest.split(" (UTC)").next())
        .unwrap_or_else(|| panic!("{err}"));
    at.parse().unwrap_or_else(|e| panic!("{at}: {e}"))
}

/// Before: attempts dated fifty years ahead held the daily cap until then ("allowed from 2076").
/// An attempt from the future counts as made no later than the first line after it, so the cap
/// frees a day after the refusal that found it, whatever date the wrong clock wrote.
#[test]
fn issue_16_validations_dated_in_the_future_lock_the_daily_cap_for_a_day_not_until_their_date() {
    for (step, secs) in BACK {
        let mac = Mac::healthy();
        mac.managed_prefs(&[("ValidationDailyCap", plist::Value::Integer(1.into()))]);
        assert_eq!(code(&validate(&mac)), 0, "{step}");
        set_back(&mac, secs);
        let refused = validate(&mac);
        assert_eq!(code(&refused), 2, "{step}: {}", text(&refused));
        let now = jiff::Timestamp::now();
        let day = jiff::SignedDuration::from_hours(24);
        let first = frees_at(&refused);
        assert!(
            first <= now + day,
            "clock back {step}: frees at {first}, more than a day away"
        );
        // Not a lock that slides with the present either: a day later it is free.
        mac.sim(&["age", mac.root_str(), "1d1m"]);
        let again = validate(&mac);
        assert_eq!(
            code(&again),
            0,
            "clock back {step}, a day later: {}",
            text(&again)
        );
    }
}

/// Before: a use recorded before the clock was set back stayed "after" the admin's statement
/// that the escrow tool replaced the key, so the key read Used for as long as the clock was
/// behind.
#[test]
fn issue_16_rotate_replaced_settles_a_use_recorded_before_the_clock_was_set_back() {
    for (step, secs) in BACK {
        let mac = Mac::with(&["escrow.profile_installed=false"]);
        mac.managed_prefs(&[("EscrowOutsideMDM", plist::Value::Boolean(true))]);
        mac.checked();
        mac.event(&["reboot", "--with-recovery-key"]);
        mac.event(&["login", "alice"]);
        assert_eq!(string(&mac.checked(), "RecoveryKey.State"), "Used");
        set_back(&mac, secs);
        let out = mac.keywarden(&["rotate", "--replaced"]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        let s = mac.status();
        assert_eq!(
            string(&s, "RecoveryKey.State"),
            "Unused",
            "clock back {step}"
        );
        assert_eq!(rotation(&s), "Idle", "clock back {step}");
    }
}

/// A stored time from the future is logged once, naming the field and both times, and the state
/// no longer holds it: the next check logs nothing more.
#[test]
fn issue_16_a_time_from_the_future_in_the_state_is_logged_once_and_rewritten_to_now() {
    let mac = Mac::healthy();
    let out = mac.keywarden(&["rotate", "--request"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    set_back(&mac, FIFTY_YEARS);
    mac.checked();
    let lines = logged(&mac, "stored_time_in_future");
    assert!(
        lines.iter().any(|l| l.contains("Rotation.FirstAt")),
        "{lines:#?}"
    );
    let state = plist::Value::from_file(mac.path("/var/db/keywarden/state.plist")).unwrap();
    let far = SystemTime::now() + Duration::from_secs(3600);
    let mut dates = Vec::new();
    fn collect(v: &plist::Value, out: &mut Vec<SystemTime>) {
        match v {
            plist::Value::Date(d) => out.push(SystemTime::from(*d)),
            plist::Value::Dictionary(d) => d.values().for_each(|v| collect(v, out)),
            plist::Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&state, &mut dates);
    let ahead = dates.iter().filter(|d| **d > far).count();
    // The escrow marks keep the file's own mtime (they name the file, they are no clock).
    assert!(ahead <= 2, "{ahead} dates still ahead: {state:?}");
    let before = lines.len();
    mac.checked();
    assert_eq!(
        logged(&mac, "stored_time_in_future").len(),
        before,
        "logged once"
    );
}

/// Issue 16 review: the key is made after the step but before the first check that finds it
/// (Escrow Buddy at a login right after NTP set the clock back; the daemon checks seconds
/// later). The request's time is rewritten to that check's present, later than the new file's
/// date: the file is newer by observation, so it confirms the rotation and settles the use.
#[test]
fn issue_16_a_key_made_between_the_step_and_the_next_check_confirms_the_rotation() {
    for (step, secs) in BACK {
        let mac = Mac::healthy();
        mac.checked();
        mac.event(&["reboot", "--with-recovery-key"]);
        mac.event(&["login", "alice"]);
        mac.checked();
        assert_eq!(rotation(&mac.status()), "Requested");
        set_back(&mac, secs);
        mac.event(&["logout"]);
        mac.event(&["login", "alice"]);
        // The check comes a moment after the new key (whole seconds apart).
        std::thread::sleep(Duration::from_millis(2100));
        let s = mac.checked();
        assert_eq!(rotation(&s), "Confirmed", "clock back {step}");
        assert_eq!(
            string(&s, "RecoveryKey.State"),
            "Staged",
            "clock back {step}: the used key was replaced"
        );
        mac.sim(&["age", mac.root_str(), "2h"]);
        assert_ne!(
            rotation(&mac.checked()),
            "Failed",
            "clock back {step}: no second rotation"
        );
    }
}
