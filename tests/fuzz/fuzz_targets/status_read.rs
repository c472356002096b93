//! The status reader: `Status::from_bytes`, and `status::read_value` / `status::read` over the
//! same bytes written at the status path of a private root; then everything `keywarden status`
//! and `status --json` show of them (`report::table`, `report::one_line`, `report::to_json`).
//!
//! Input: `[now: 4 bytes] [stale_after_hours: 2 bytes] [the status file]`.
//! Invariants: no panic; the file readers agree with the byte parsers (`read_value` also asks
//! for a status's two top keys); a status that was read
//! can be written again (`Status::to_xml` `expect`s it) and re-reads to the same bytes; the JSON
//! serialises.

#![no_main]

use keywarden::paths::STATUS;
use keywarden::report;
use keywarden::status::{self, Status};
use keywarden_fuzz::{now, private_root, put_file, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let now = now(&mut b);
    let hours = u32::from(b.u16());
    let bytes = b.rest();
    let typed = Status::from_bytes(bytes);
    let value = keywarden::plistio::value_from_bytes(bytes);

    let root = private_root();
    put_file(root, STATUS, bytes, 0o644, 0o755);
    let read_value = status::read_value(root);
    // read_value takes what parses and carries a status's SchemaVersion and GeneratedAt at its
    // top (issue 16, item 7); a status of the schema always does.
    let shaped = value.as_ref().ok().and_then(plist::Value::as_dictionary).is_some_and(|d| {
        d.get("SchemaVersion").is_some_and(|v| v.as_signed_integer().is_some())
            && d.get("GeneratedAt").is_some_and(|v| v.as_date().is_some())
    });
    assert_eq!(
        read_value.is_ok(),
        shaped,
        "read_value and plistio::value_from_bytes with the status's shape disagree"
    );
    if typed.is_ok() {
        assert!(read_value.is_ok(), "a status of the schema is refused by read_value");
    }
    let read = status::read(root);
    assert_eq!(
        read.as_ref().ok(),
        typed.as_ref().ok(),
        "read and from_bytes disagree"
    );

    if let Ok(s) = &typed {
        let xml = s.to_xml();
        let again = Status::from_bytes(&xml).unwrap_or_else(|e| {
            panic!(
                "a status that was read does not re-read once written: {e}\n{}",
                String::from_utf8_lossy(&xml)
            )
        });
        assert_eq!(
            again.to_xml(),
            xml,
            "writing the status is not a fixed point"
        );
        let table = report::table(s, now, hours);
        assert!(table.starts_with("Keywarden "));
        let _ = s.one_line();
    }
    if let Ok(v) = &value {
        let json = report::to_json(v).to_string();
        assert!(!json.is_empty());
    }
});
