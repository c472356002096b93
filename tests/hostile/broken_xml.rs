//! The status is always valid XML (issue 16, item 3): whatever code point a preference value or a
//! tool's output holds, every plist Keywarden writes stays readable by every plist reader.

use crate::support::*;

/// Issue 16, item 3: a preference value with any code point (a vertical tab in the escrow
/// `Location`, a U+FFFE, an escape) leaves the status readable by a strict XML reader (Python's
/// plistlib, expat) and `ea` on one line inside its tags. Before, the plist crate wrote the
/// character as it was and inventory lost the Mac.
#[test]
fn issue_16_any_code_point_in_a_preference_value_leaves_the_status_readable() {
    let location: String = keywarden::text::EVERY_CLASS
        .iter()
        .map(|c| format!("x{c}"))
        .collect::<String>()
        + "IT";
    let mac = Mac::healthy();
    let mut d = plist::Dictionary::new();
    d.insert("Location".into(), plist::Value::String(location));
    d.insert(
        "EncryptCertPayloadUUID".into(),
        plist::Value::String("B28AB8BA-5F29-3B55-6EF6-D303D45C9E05".into()),
    );
    // Binary: it holds any string; an XML file could not carry these characters to begin with.
    plist::Value::Dictionary(d)
        .to_file_binary(
            mac.path("/Library/Managed Preferences/com.apple.security.FDERecoveryKeyEscrow.plist"),
        )
        .unwrap();
    let out = mac.check();
    assert!(code(&out) <= 1, "{}", text(&out));
    let status = String::from_utf8(mac.status_bytes()).expect("UTF-8");
    assert!(
        status.chars().all(keywarden::text::xml_char),
        "a character XML 1.0 forbids is in the status"
    );
    assert!(string(&mac.status(), "Escrow.Location").ends_with("IT"));
    if require_program("python3", INSTALL_PYTHON3) {
        let read = std::process::Command::new("python3")
            .args([
                "-c",
                "import plistlib,sys; d=plistlib.load(open(sys.argv[1],'rb')); print(d['Escrow']['Location'][-2:])",
            ])
            .arg(mac.path("/Library/Keywarden/status.plist"))
            .output()
            .expect("run python3");
        assert!(read.status.success(), "plistlib: {}", stderr(&read));
        assert_eq!(stdout(&read).trim(), "IT");
    }
    let ea = stdout(&mac.keywarden(&["ea", "Escrow.Location"]));
    assert_eq!(ea.trim_end_matches('\n').lines().count(), 1, "{ea:?}");
    assert!(
        ea.starts_with("<result>") && ea.trim_end().ends_with("IT</result>"),
        "{ea:?}"
    );
    assert!(!ea.trim_end().chars().any(char::is_control), "{ea:?}");
}
