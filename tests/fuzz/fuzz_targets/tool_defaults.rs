//! `tools::defaults`'s parsers (`parse_read_bool`, `parse_write`, `parse_delete`), chosen by the
//! first byte.

#![no_main]

use keywarden::runner::Exit;
use keywarden::tools::defaults::{parse_delete, parse_read_bool, parse_write};
use keywarden_fuzz::{output, parse_checked, trimmed, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let which = b.byte() % 3;
    let out = output(&mut b);
    match which {
        0 => match parse_checked("defaults read", parse_read_bool, &out) {
            Ok(Some(v)) => {
                assert!(out.exit.success());
                assert_eq!(trimmed(&out.stdout), if v { "1" } else { "0" });
            }
            Ok(None) => {
                assert!(matches!(out.exit, Exit::Code(c) if c != 0));
                assert!(trimmed(&out.stdout).is_empty());
            }
            Err(_) => {}
        },
        1 => {
            if parse_checked("defaults write", parse_write, &out).is_ok() {
                // Blank as `defaults` reads it: whitespace of any kind.
                assert!(
                    out.exit.success()
                        && trimmed(&out.stdout).is_empty()
                        && trimmed(&out.stderr).is_empty()
                );
            }
        }
        _ => {
            if parse_checked("defaults delete", parse_delete, &out).is_ok() {
                assert!(matches!(out.exit, Exit::Code(_)));
                assert!(trimmed(&out.stdout).is_empty());
            }
        }
    }
});
