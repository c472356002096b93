//! Readers refuse garbage (issue 16, item 7): `status`, `status --json`, `ea` and `doctor` refuse
//! a status that is not one, with the same clear message and exit code.

use crate::support::*;

/// Issue 16, item 7: a status that is not one (NUL-filled, as a crash between allocation and
/// write leaves a file; cut short; a plist of something else) is refused by every reader alike:
/// `status` and `status --json` exit 2 naming the file, `ea` reads `Unreadable`, `doctor` says so.
/// A NUL-filled file parses as a plist string, and `status --json` printed it as a status.
#[test]
fn issue_16_every_reader_refuses_a_status_that_is_not_one_alike() {
    let mac = Mac::healthy();
    mac.check();
    let good = mac.status_bytes();
    let path = mac.path("/Library/Keywarden/status.plist");
    let cases: [(&str, Vec<u8>); 3] = [
        ("NUL-filled", vec![0; good.len()]),
        ("cut short", good[..good.len() / 2].to_vec()),
        (
            "a plist of something else",
            b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Healthy</key><true/></dict></plist>".to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        for args in [&["status"][..], &["status", "--json"][..]] {
            let out = mac.keywarden(args);
            assert_eq!(code(&out), 2, "{what}: {args:?}: {}", text(&out));
            assert!(
                stdout(&out).is_empty(),
                "{what}: {args:?} printed {}",
                stdout(&out)
            );
            assert!(
                stderr(&out).contains("is not a readable status plist"),
                "{what}: {args:?}: {}",
                stderr(&out)
            );
        }
        let ea = mac.keywarden(&["ea", "Healthy"]);
        assert_eq!(stdout(&ea).trim(), "<result>Unreadable</result>", "{what}");
        let doctor = mac.keywarden(&["doctor"]);
        assert!(
            text(&doctor).contains("is not a readable status plist"),
            "{what}: {}",
            text(&doctor)
        );
    }
}
