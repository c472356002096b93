//! `tools::dscl`'s parsers (`parse_user_records`, `parse_group_membership`), chosen by the first
//! byte.

#![no_main]

use keywarden::tools::dscl::{parse_group_membership, parse_user_records};
use keywarden::text::EXCERPT_CHARS;
use keywarden_fuzz::{output, parse_checked, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let which = b.byte() % 2;
    let out = output(&mut b);
    match which {
        0 => {
            let r = parse_checked("dscl -readall /Users", parse_user_records, &out);
            if let Ok(records) = r {
                assert!(out.exit.success());
                assert!(!records.users.is_empty(), "Ok without a usable record");
                for u in &records.users {
                    if let Some(g) = &u.generated_uid {
                        assert_eq!(*g, g.to_ascii_uppercase());
                    }
                }
                // A reason is published in Daemon.Errors: it may quote the offending value only
                // as an excerpt (plus its fixed wording).
                for s in &records.skipped {
                    let n = s.reason.chars().count();
                    assert!(
                        n <= EXCERPT_CHARS + 1 + 64,
                        "a skipped record's reason has {n} characters: {:?}…",
                        s.reason.chars().take(80).collect::<String>()
                    );
                }
            }
        }
        _ => {
            if parse_checked("dscl -read /Groups/admin", parse_group_membership, &out).is_ok() {
                assert!(out.exit.success());
            }
        }
    }
});
