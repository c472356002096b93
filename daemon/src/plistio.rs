//! Reading property lists that Keywarden did not necessarily write (its state, its status, the
//! failed-key store, managed preferences, the escrow location): one place that turns bytes into
//! a `plist::Value` or a typed value, and refuses what the `plist` crate would panic on later.
//! And writing the XML ones Keywarden writes (the status, the state) so that every reader can
//! read them back: no string holds a character XML 1.0 does not allow (`to_xml`).
//!
//! Why this exists: `plist` 1.10 reads a binary-plist date of any year that `time` can hold
//! (±9999), but formats dates as RFC 3339, which has no negative years; formatting one — which
//! `plist::from_value`, `plist::from_bytes` into a typed value and `Debug` all do — panics
//! (ebarnard/rust-plist#195, found by `make fuzz`, issue 6). A date outside years 0000–9999
//! is rejected here, before anything formats it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Seconds from 0000-01-01T00:00:00Z to the Unix epoch, and from the epoch to
/// 10000-01-01T00:00:00Z: the years RFC 3339 writes.
const BEFORE_EPOCH_TO_YEAR_0: Duration = Duration::from_secs(62_167_219_200);
const EPOCH_TO_YEAR_10000: Duration = Duration::from_secs(253_402_300_800);

/// Why bytes did not become a value. The `plist` crate's own wording (its error kind's `Debug`,
/// or serde's, which may quote a value from the file) is shown cut to `DETAIL_CHARS`, on one
/// printable line (found by `make fuzz`, issue 6).
#[derive(Debug, thiserror::Error)]
pub enum PlistError {
    #[error("not a readable property list ({0})")]
    Unreadable(String),
    #[error("holds a date outside the years 0000–9999")]
    DateOutOfRange,
    #[error("has unexpected keys or types ({0})")]
    Shape(String),
}

/// Longest detail of the `plist` crate's shown in an error.
const DETAIL_CHARS: usize = 40;

fn detail(e: &plist::Error) -> String {
    if e.is_eof()
        || e.as_io()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
    {
        return "it is empty or ends too soon".to_owned();
    }
    crate::text::printable(&e.to_string(), DETAIL_CHARS)
}

/// Any property list format (XML, binary, ASCII), checked for dates that cannot be formatted.
pub fn value_from_bytes(bytes: &[u8]) -> Result<plist::Value, PlistError> {
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| PlistError::Unreadable(detail(&e)))?;
    if has_unwritable_date(&value) {
        return Err(PlistError::DateOutOfRange);
    }
    Ok(value)
}

/// The XML property list of `value`, every string and key made what XML 1.0 allows
/// (`text::xml_safe`). The `plist` crate escapes `<` and `&` but writes any other character as it
/// is, so one vertical tab in a preference value (the escrow `Location`) or a U+FFFE in a tool's
/// output made the status unreadable to plutil, plistlib and every inventory agent (issue 16,
/// item 3); written here, the rule lives once for every plist Keywarden writes with text in it.
pub(crate) fn to_xml<T: Serialize>(value: &T) -> Result<Vec<u8>, plist::Error> {
    let mut v = plist::to_value(value)?;
    make_xml_safe(&mut v);
    let mut out = Vec::new();
    plist::to_writer_xml(&mut out, &v)?;
    Ok(out)
}

fn make_xml_safe(v: &mut plist::Value) {
    match v {
        plist::Value::String(s) => {
            if let std::borrow::Cow::Owned(safe) = crate::text::xml_safe(s) {
                *s = safe;
            }
        }
        plist::Value::Array(a) => a.iter_mut().for_each(make_xml_safe),
        plist::Value::Dictionary(d) => {
            let unsafe_keys: Vec<String> = d
                .keys()
                .filter(|k| !k.chars().all(crate::text::xml_char))
                .cloned()
                .collect();
            for k in unsafe_keys {
                if let Some(value) = d.remove(&k) {
                    d.insert(crate::text::xml_safe(&k).into_owned(), value);
                }
            }
            for (_, value) in d.iter_mut() {
                make_xml_safe(value);
            }
        }
        _ => {}
    }
}

/// A typed value from a checked `plist::Value`.
pub(crate) fn from_value<T: DeserializeOwned>(value: &plist::Value) -> Result<T, PlistError> {
    if has_unwritable_date(value) {
        return Err(PlistError::DateOutOfRange);
    }
    plist::from_value(value).map_err(|e| PlistError::Shape(detail(&e)))
}

/// A typed value from bytes (their dates checked once, by `value_from_bytes`).
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PlistError> {
    plist::from_value(&value_from_bytes(bytes)?).map_err(|e| PlistError::Shape(detail(&e)))
}

fn has_unwritable_date(value: &plist::Value) -> bool {
    match value {
        plist::Value::Date(date) => {
            let at = SystemTime::from(*date);
            at < UNIX_EPOCH - BEFORE_EPOCH_TO_YEAR_0 || at >= UNIX_EPOCH + EPOCH_TO_YEAR_10000
        }
        plist::Value::Array(items) => items.iter().any(has_unwritable_date),
        plist::Value::Dictionary(dict) => dict.values().any(has_unwritable_date),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A binary plist `{NextCheckAt: <date>, Version: 3}` whose date is about year -11500
    /// (the fuzz input that crashed `state::parse`, issue 6).
    pub(crate) const DATE_BEFORE_YEAR_ZERO: &[u8] = b"bplist00\xd2\x01\x02\x03\x04[NextCheckAtWVersion3\xc20LS<\x00\x00\x00\x10\x01\x08\x0d\x19!*\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00,";

    fn date_plist(iso: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>At</key><date>{iso}</date></dict></plist>"
        )
        .into_bytes()
    }

    #[test]
    fn a_binary_date_before_year_zero_is_refused_not_a_panic() {
        assert!(matches!(
            value_from_bytes(DATE_BEFORE_YEAR_ZERO),
            Err(PlistError::DateOutOfRange)
        ));
        assert!(from_bytes::<plist::Dictionary>(DATE_BEFORE_YEAR_ZERO).is_err());
    }

    /// Every reader of a file Keywarden does not control refuses the input with an error that
    /// says what is wrong, instead of panicking (issue 6; ebarnard/rust-plist#195).
    #[test]
    fn fuzz_found_a_panic_on_a_binary_date_before_year_zero() {
        use crate::files::Owners;
        use crate::paths::{self, Root};
        use std::os::unix::fs::PermissionsExt;

        let bad = DATE_BEFORE_YEAR_ZERO;
        let why = crate::state::parse(bad).unwrap_err();
        assert!(why.contains("date outside the years 0000"), "{why}");
        let why = crate::status::Status::from_bytes(bad).unwrap_err();
        assert!(why.contains("date outside the years 0000"), "{why}");

        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let me = Owners::current();
        for (file, mode) in [
            (paths::STATUS, 0o644),
            (paths::STATE, 0o600),
            (paths::FAILED_KEYS, 0o600),
            (paths::LOCAL_PREFS, 0o644),
            (paths::MANAGED_PREFS, 0o644),
        ] {
            let path = root.resolve(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bad).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::set_permissions(
            root.resolve(paths::STATE_DIR),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();

        let shown = crate::status::read_value(&root).unwrap_err().to_string();
        assert!(shown.contains("date outside"), "{shown}");
        let shown = crate::status::read(&root).unwrap_err().to_string();
        assert!(shown.contains("date outside"), "{shown}");
        let warnings = crate::config::load(&root, me).warnings;
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.contains("date outside"))
                .count(),
            2,
            "both preference files are named as ignored: {warnings:?}"
        );
        let shown = crate::failed_keys::FailedKeys::load(&root, me)
            .unwrap_err()
            .to_string();
        assert!(shown.contains("date outside"), "{shown}");
        let loaded = crate::state::load(&root, me, jiff::Timestamp::now());
        let problem = loaded.problem.expect("the damaged state is reported");
        assert!(problem.contains("date outside"), "{problem}");
    }

    #[test]
    fn dates_in_the_first_and_last_writable_years_are_read() {
        for iso in [
            "0000-01-01T00:00:00Z",
            "2026-12-05T11:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            let v = value_from_bytes(&date_plist(iso)).unwrap_or_else(|e| panic!("{iso}: {e}"));
            let round = v.as_dictionary().unwrap()["At"]
                .as_date()
                .unwrap()
                .to_xml_format();
            assert_eq!(round, iso);
        }
    }

    #[test]
    fn a_date_nested_in_an_array_is_checked_too() {
        let mut bytes = Vec::new();
        let early = plist::Date::from(UNIX_EPOCH - std::time::Duration::from_secs(70_000_000_000));
        let nested = plist::Value::Array(vec![plist::Value::Array(vec![early.into()])]);
        // Written without formatting (binary), as an attacker's file would be.
        nested.to_writer_binary(&mut bytes).unwrap();
        assert!(matches!(
            value_from_bytes(&bytes),
            Err(PlistError::DateOutOfRange)
        ));
    }

    /// An empty file showed `Io(Error { kind: UnexpectedEof, message: "failed to fill whole
    /// buffer" }) (offset 0)`; a serde error may quote a value of any length (issue 6).
    #[test]
    fn fuzz_found_a_raw_debug_dump_in_the_unreadable_message() {
        assert_eq!(
            value_from_bytes(b"").unwrap_err().to_string(),
            "not a readable property list (it is empty or ends too soon)"
        );
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        enum Mode {
            Request,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Shaped {
            #[serde(rename = "Mode")]
            mode: Mode,
        }
        let long = "x".repeat(5000);
        let xml = format!(
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Mode</key><string>{long}</string></dict></plist>"
        );
        let shown = from_bytes::<Shaped>(xml.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            shown.starts_with("has unexpected keys or types ("),
            "{shown}"
        );
        assert!(shown.chars().count() <= 80, "{shown}");
    }

    #[test]
    fn the_error_names_what_is_wrong_without_quoting_the_input() {
        let e = value_from_bytes(b"<plist><dict><key>SecretKey").unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("not a readable property list"), "{shown}");
        assert!(!shown.contains("SecretKey"), "{shown}");
    }

    #[test]
    fn a_plist_written_holds_only_what_xml_allows_and_reads_back_whatever_its_strings_held_issue_16(
    ) {
        for c in crate::text::EVERY_CLASS {
            let text = format!("a{c}b");
            let mut d = plist::Dictionary::new();
            d.insert(format!("k{c}"), plist::Value::String(text.clone()));
            d.insert(
                "list".into(),
                plist::Value::Array(vec![plist::Value::String(text.clone())]),
            );
            let xml = to_xml(&plist::Value::Dictionary(d)).unwrap();
            let xml = String::from_utf8(xml).unwrap();
            assert!(xml.chars().all(crate::text::xml_char), "{c:?}: {xml:?}");
            let back = value_from_bytes(xml.as_bytes()).unwrap();
            let list = back.as_dictionary().unwrap()["list"].as_array().unwrap();
            let shown = list[0].as_string().unwrap();
            if crate::text::xml_char(c) {
                assert_eq!(shown, text, "{c:?}: an allowed character is kept");
            } else {
                assert_eq!(shown, "a\u{FFFD}b", "{c:?}");
            }
        }
    }
}
