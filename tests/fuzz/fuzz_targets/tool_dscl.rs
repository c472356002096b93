//! `tools::dscl`'s parsers (`parse_user_records` and `parse_read_all_users`,
//! `parse_group_membership`, `authentication_authority_from_text`), chosen by the first byte.

#![no_main]

use keywarden::tools::dscl::{
    authentication_authority_from_text, parse_group_membership, parse_read_all_users,
    parse_user_records,
};
use keywarden::tools::EXCERPT_CHARS;
use keywarden_fuzz::{check_quoted, output, parse_checked, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let which = b.byte() % 3;
    let out = output(&mut b);
    match which {
        0 => {
            let r = parse_checked("dscl -readall /Users", parse_user_records, &out);
            assert_eq!(
                parse_read_all_users(&out),
                r.clone().map(|r| r.users),
                "the two user parsers disagree"
            );
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
        1 => {
            if parse_checked("dscl -read /Groups/admin", parse_group_membership, &out).is_ok() {
                assert!(out.exit.success());
            }
        }
        _ => {
            let text = String::from_utf8_lossy(&out.stdout);
            match authentication_authority_from_text(&text) {
                Ok(values) => {
                    assert_eq!(
                        authentication_authority_from_text(&text),
                        Ok(values.clone())
                    );
                    for v in &values {
                        assert!(!v.is_empty() && v.trim() == v, "value {v:?}");
                    }
                    if values.is_empty() {
                        assert!(text
                            .trim_start()
                            .starts_with("No such key: AuthenticationAuthority"));
                    }
                }
                Err(e) => {
                    check_quoted("dscl AuthenticationAuthority", &e.excerpt);
                }
            }
        }
    }
});
