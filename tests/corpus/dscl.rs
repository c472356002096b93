//! Corpus and hand-written samples of `dscl`, with the asserted outcome of each.
//!
//! The corpus has the text form of `dscl . read /Users/NAME AuthenticationAuthority` (stdout):
//! the values the `-plist` read carries, checked with `authentication_authority_from_text`. The
//! `-plist` outputs Keywarden runs have no published verbatim sample: they are hand-written
//! (stdout, exit 0), and `No such key:` is on stderr (PATTERNS.md "dscl").

use keywarden::runner::Output;
use keywarden::tools::dscl::{
    authentication_authority_from_text, parse_group_membership, parse_read_all_users,
    parse_user_records, SkippedRecord, UserRecord,
};

use super::{Case, Stream};

fn aa(out: &Output) -> Vec<String> {
    authentication_authority_from_text(&String::from_utf8_lossy(&out.stdout)).expect("parses")
}

const SHADOW: &str = ";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2,SRP-RFC5054-4096-SHA512-PBKDF2>";

fn record(
    name: &str,
    uid: i64,
    guid: &str,
    real_name: &str,
    hidden: bool,
    authentication_authority: &[&str],
) -> UserRecord {
    UserRecord {
        name: name.into(),
        uid,
        generated_uid: Some(guid.into()),
        real_name: Some(real_name.into()),
        hidden,
        authentication_authority: authentication_authority
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

fn root() -> UserRecord {
    record(
        "root",
        0,
        "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000",
        "System Administrator",
        false,
        &[],
    )
}

fn ann() -> UserRecord {
    record(
        "ann",
        501,
        "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
        "Ann Example",
        false,
        &[
            SHADOW,
            ";Kerberosv5;;ann@LKDC:SHA1.6C1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C;LKDC:SHA1.6C1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C;",
            ";SecureToken;",
        ],
    )
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "dscl-read-authenticationauthority/disa-stig-securetoken-disableduser.txt",
            stream: Stream::Stdout,
            exit: 0,
            // Single-line form: values after the key, separated by spaces.
            check: |out| {
                let values = aa(out);
                assert_eq!(
                    values,
                    [
                        SHADOW,
                        ";Kerberosv5;;unlock@LKDC:SHA1.20BABA05A6B1A86A8C57581A8487596640A3E37B;LKDC:SHA1.20CEBE04A5B1D92D8C58189D8487593350D3A40A;",
                        ";SecureToken;",
                        "DisabledUser",
                    ]
                );
                let u = UserRecord { authentication_authority: values, ..root() };
                assert!(u.secure_token_tag() && u.disabled() && !u.smart_card());
            },
        },
        Case {
            file: "dscl-read-authenticationauthority/pycreateuserpkg-50-multiline-securetoken-tokenidentity.txt",
            stream: Stream::Stdout,
            exit: 0,
            // Multi-line form: one value per line, indented by one space.
            check: |out| {
                let values = aa(out);
                assert_eq!(
                    values,
                    [
                        ";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2>",
                        ";SecureToken;",
                        ";tokenidentity;96AD5967A5D7A6D5A765D9A6D965AD967A5D9765",
                    ]
                );
                let u = UserRecord { authentication_authority: values, ..root() };
                assert!(u.secure_token_tag() && u.smart_card() && !u.disabled());
            },
        },
        Case {
            file: "handwritten/dscl-readall-users-plist/system-and-humans-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                let users = parse_read_all_users(out).expect("parses");
                assert_eq!(
                    users,
                    [
                        // Two RecordNames: the first is the short name.
                        root(),
                        record("daemon", 1, "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000001", "System Services", false, &[]),
                        record("nobody", -2, "FFFFEEEE-DDDD-CCCC-BBBB-AAAAFFFFFFFE", "Unprivileged User", false, &[]),
                        record("_spotlight", 89, "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000059", "Spotlight", false, &[]),
                        ann(),
                        // Hidden admin (IsHidden 1, native attribute).
                        record("itadmin", 502, "9A1F0D22-6B7E-4C55-8E0A-3D2B1C4E5F60", "IT Admin", true, &[SHADOW, ";SecureToken;"]),
                        // Smart-card pairing; IsHidden 0.
                        record("carol", 503, "5E2C7A14-0B9D-4F3E-A6C1-7D8E9F0A1B2C", "Carol Card", false, &[SHADOW, ";tokenidentity;96AD5967A5D7A6D5A765D9A6D965AD967A5D9765"]),
                    ]
                );
                let humans: Vec<&str> = users.iter().filter(|u| u.is_human()).map(|u| u.name.as_str()).collect();
                assert_eq!(humans, ["ann", "itadmin", "carol"]);
                assert!(users[6].smart_card() && !users[6].secure_token_tag());
            },
        },
        Case {
            file: "handwritten/dscl-readall-users-plist/half-created-record-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            // A record without UniqueID is left out and listed, not fatal to the others.
            check: |out| {
                let records = parse_user_records(out).expect("parses");
                assert_eq!(records.users, [root(), ann()]);
                assert_eq!(
                    records.skipped,
                    [SkippedRecord { name: Some("halfuser".into()), reason: "no UniqueID".into() }]
                );
            },
        },
        Case {
            file: "handwritten/dscl-read-group-admin-plist/members-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                assert_eq!(
                    parse_group_membership(out),
                    Ok(vec!["root".into(), "ann".into(), "itadmin".into()])
                )
            },
        },
        Case {
            file: "handwritten/dscl-read-group-admin-plist/no-such-key-HANDWRITTEN.txt",
            stream: Stream::Stderr,
            exit: 0,
            check: |out| assert_eq!(parse_group_membership(out), Ok(vec![])),
        },
    ]
}
