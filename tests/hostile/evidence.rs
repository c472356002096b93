//! Evidence is evidence (issue 16, item 6): only a well-formed escrow blob newer than the request
//! confirms a rotation, and an admin's request honoured once is never honoured again, state file
//! or not.

use crate::support::*;

const STATE: &str = "/var/db/keywarden/state.plist";

fn rotation(s: &plist::Value) -> String {
    string(s, "Rotation.State")
}

fn audited(mac: &Mac, what: &str) -> usize {
    mac.audit().iter().filter(|e| e["What"] == what).count()
}

/// A used key, the user logged in: the rotation is requested.
fn requested() -> Mac {
    let mac = Mac::healthy();
    mac.event(&["reboot", "--with-recovery-key"]);
    mac.checked();
    mac.event(&["login", "alice"]);
    assert_eq!(rotation(&mac.checked()), "Requested");
    mac
}

/// The escrow file rewritten now with `format` (`empty`, `not_cms`, `cms`) and the key changed, as
/// a script or a tool could leave it.
fn escrow_file_rewritten(mac: &Mac, format: &str, key: &str) {
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let now = jiff::Timestamp::now().to_string();
    mac.set(&[
        &format!("escrow.prk_file_format=\"{format}\""),
        &format!("recovery_key.personal=\"{key}\""),
        &format!("escrow.prk_file_written_at=\"{now}\""),
    ]);
}

#[test]
fn issue_16_an_escrow_file_that_is_not_an_escrow_blob_confirms_no_rotation() {
    for (format, what) in [("empty", "zero bytes"), ("not_cms", "text that is not CMS")] {
        let mac = requested();
        escrow_file_rewritten(&mac, format, "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF");
        let s = mac.checked();
        assert_eq!(
            rotation(&s),
            "Requested",
            "{what} written after the request is no new key"
        );
        assert_eq!(audited(&mac, "RotationConfirmed"), 0, "{what}");
        assert_eq!(audited(&mac, "KeyChanged"), 0, "{what}: no key changed");
        assert_eq!(
            string(&s, "RecoveryKey.State"),
            "Used",
            "{what}: the used key is not taken as replaced"
        );
        assert!(
            get(&s, "Escrow.FileProblem").is_some(),
            "{what}: the Escrow section says what is wrong with the file: {:?}",
            get(&s, "Escrow")
        );
        // A real escrow blob made after the request still settles it.
        escrow_file_rewritten(&mac, "cms", "GGGG-HHHH-JJJJ-KKKK-LLLL-MMMM");
        let s = mac.checked();
        assert_eq!(rotation(&s), "Confirmed", "{what}, then a blob");
        assert_eq!(audited(&mac, "RotationConfirmed"), 1, "{what}, then a blob");
    }
}

/// The Mac of `a_new_rotation_request_id_requests_one_rotation` after the request was honoured:
/// rotated, confirmed, and a day later Idle.
fn request_honoured(id: &str) -> Mac {
    let mac = Mac::healthy();
    mac.checked();
    mac.managed_prefs(&[("RotationRequestID", plist::Value::String(id.into()))]);
    assert_eq!(rotation(&mac.checked()), "Requested");
    mac.event(&["logout"]);
    mac.event(&["login", "alice"]);
    assert_eq!(rotation(&mac.checked()), "Confirmed");
    mac.sim(&["age", mac.root_str(), "25h"]);
    assert_eq!(rotation(&mac.checked()), "Idle");
    mac
}

#[test]
fn issue_16_a_lost_or_damaged_state_file_does_not_honour_a_rotation_request_id_twice() {
    let long = format!("CHG-{}", "0".repeat(120));
    for (id, damage) in [
        ("INC-4711", "removed"),
        ("INC-4711", "garbage"),
        (long.as_str(), "removed"),
    ] {
        let mac = request_honoured(id);
        let flags_before = mac.escrow_buddy_flag();
        match damage {
            "removed" => std::fs::remove_file(mac.path(STATE)).unwrap(),
            _ => std::fs::write(mac.path(STATE), b"\0\0\0 not a plist").unwrap(),
        }
        let s = mac.checked();
        assert_eq!(
            rotation(&s),
            "Idle",
            "state {damage}, ID of {} chars: the ID was honoured already",
            id.len()
        );
        assert_eq!(audited(&mac, "RotationRequested"), 1, "{damage}");
        assert_eq!(
            mac.escrow_buddy_flag(),
            flags_before,
            "{damage}: no flag set"
        );
        assert_eq!(audited(&mac, "RotationRequestAccepted"), 1, "{damage}");
        // A new ID still asks once more.
        mac.managed_prefs(&[("RotationRequestID", plist::Value::String(format!("{id}-2")))]);
        assert_eq!(rotation(&mac.checked()), "Requested", "{damage}: a new ID");
    }
}

#[test]
fn issue_16_a_request_id_not_yet_answered_still_stands_after_the_state_file_is_lost() {
    let mac = Mac::healthy();
    mac.checked();
    mac.managed_prefs(&[("RotationRequestID", plist::Value::String("INC-9".into()))]);
    assert_eq!(rotation(&mac.checked()), "Requested");
    std::fs::remove_file(mac.path(STATE)).unwrap();
    let s = mac.checked();
    assert_eq!(rotation(&s), "Requested", "the request is not dropped");
    assert_eq!(string(&s, "Rotation.Reason"), "AdminRequest");
    assert_eq!(audited(&mac, "RotationRequestAccepted"), 1);
    mac.event(&["logout"]);
    mac.event(&["login", "alice"]);
    assert_eq!(rotation(&mac.checked()), "Confirmed");
}
