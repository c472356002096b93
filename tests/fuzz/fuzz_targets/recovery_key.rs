//! `secret::RecoveryKey::parse` over arbitrary bytes, checked against a plain model of the rule
//! (trim ASCII whitespace; 24 letters or digits, optionally as six dash-separated groups of
//! four), and the `-inputplist` it builds for `fdesetup` read back.

#![no_main]

use keywarden::secret::{KeyShapeError, RecoveryKey, Secret};
use libfuzzer_sys::fuzz_target;

/// The rule, written independently of the parser.
fn model(input: &[u8]) -> Result<String, KeyShapeError> {
    let body = input.trim_ascii();
    if body.is_empty() {
        return Err(KeyShapeError::Empty);
    }
    if body
        .iter()
        .any(|b| !b.is_ascii_alphanumeric() && *b != b'-')
    {
        return Err(KeyShapeError::BadCharacter);
    }
    let chars: Vec<u8> = body
        .iter()
        .filter(|b| **b != b'-')
        .map(u8::to_ascii_uppercase)
        .collect();
    if chars.len() != 24 {
        return Err(KeyShapeError::WrongLength(chars.len()));
    }
    if body.contains(&b'-') {
        let groups: Vec<&[u8]> = body.split(|b| *b == b'-').collect();
        if groups.len() != 6 || groups.iter().any(|g| g.len() != 4) {
            return Err(KeyShapeError::BadCharacter);
        }
    }
    let groups: Vec<String> = chars
        .chunks(4)
        .map(|g| String::from_utf8_lossy(g).into_owned())
        .collect();
    Ok(groups.join("-"))
}

fuzz_target!(|data: &[u8]| {
    let parsed = RecoveryKey::parse(Secret::new(data.to_vec()));
    let expected = model(data);
    match (&parsed, &expected) {
        (Ok(key), Ok(want)) => {
            let bytes = key.secret().expose_secret();
            assert_eq!(bytes, want.as_bytes());
            assert_eq!(format!("{key:?}"), "RecoveryKey(<redacted>)");
            assert_eq!(format!("{:?}", key.secret()), "Secret(<redacted>)");
            // Normalised keys are a fixed point.
            let again =
                RecoveryKey::parse(Secret::new(bytes.to_vec())).expect("a normalised key parses");
            assert_eq!(again.secret().expose_secret(), bytes);
            // The stdin plist carries exactly the key.
            let plist = key.secret().password_input_plist();
            let v: plist::Value =
                plist::from_bytes(plist.expose_secret()).expect("the input plist parses");
            let d = v.as_dictionary().expect("a dictionary");
            assert_eq!(d.len(), 1);
            assert_eq!(
                d.get("Password").and_then(plist::Value::as_string),
                Some(want.as_str())
            );
        }
        (Err(e), Err(want)) => {
            assert_eq!(e, want);
            // The message never quotes the input: it is one of three fixed wordings.
            let shown = e.to_string();
            assert!(shown.len() <= 160, "{shown}");
            assert!(
                shown == "the key is empty"
                    || shown.starts_with("a recovery key has 24 letters and digits")
                    || shown.starts_with("a recovery key holds only letters"),
                "{shown}"
            );
        }
        _ => panic!(
            "parse says {:?}, the rule says {:?}",
            parsed.as_ref().map(|_| "a key"),
            expected
        ),
    }

    // Any printable password (the same builder serves both secret commands) round-trips through
    // the stdin plist, its XML special characters escaped.
    if let Ok(s) = std::str::from_utf8(data) {
        if !s.is_empty() && s.bytes().all(|b| (0x20..0x7f).contains(&b)) && s.trim() == s {
            let plist = Secret::new(data.to_vec()).password_input_plist();
            let v: plist::Value =
                plist::from_bytes(plist.expose_secret()).expect("the input plist parses");
            assert_eq!(
                v.as_dictionary()
                    .and_then(|d| d.get("Password"))
                    .and_then(plist::Value::as_string),
                Some(s)
            );
        }
    }
});
