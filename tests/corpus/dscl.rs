//! Corpus and hand-written samples of `dscl`, with the asserted outcome of each.
//!
//! The `-plist` outputs Keywarden runs have no published verbatim sample: they are hand-written
//! (stdout, exit 0), carrying the AuthenticationAuthority values of the corpus's text samples of
//! `dscl . read` (a command Keywarden never runs), and `No such key:` is on stderr (PATTERNS.md
//! "dscl").

use keywarden::tools::dscl::{
    parse_group_membership, parse_user_records, SkippedRecord, UserRecord,
};

use super::{Case, Stream};

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
            file: "handwritten/dscl-readall-users-plist/system-and-humans-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                let users = parse_user_records(out).expect("parses").users;
                assert_eq!(
                    users,
                    [
                        // Two RecordNames: the first is the short name.
                        root(),
                        record(
                            "daemon",
                            1,
                            "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000001",
                            "System Services",
                            false,
                            &[]
                        ),
                        record(
                            "nobody",
                            -2,
                            "FFFFEEEE-DDDD-CCCC-BBBB-AAAAFFFFFFFE",
                            "Unprivileged User",
                            false,
                            &[]
                        ),
                        record(
                            "_spotlight",
                            89,
                            "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000059",
                            "Spotlight",
                            false,
                            &[]
                        ),
                        ann(),
                        // Hidden admin (IsHidden 1, native attribute).
                        record(
                            "itadmin",
                            502,
                            "9A1F0D22-6B7E-4C55-8E0A-3D2B1C4E5F60",
                            "IT Admin",
                            true,
                            &[SHADOW, ";SecureToken;"]
                        ),
                        // Smart-card pairing; IsHidden 0.
                        record(
                            "carol",
                            503,
                            "5E2C7A14-0B9D-4F3E-A6C1-7D8E9F0A1B2C",
                            "Carol Card",
                            false,
                            &[
                                SHADOW,
                                ";tokenidentity;96AD5967A5D7A6D5A765D9A6D965AD967A5D9765"
                            ]
                        ),
                    ]
                );
                let humans: Vec<&str> = users
                    .iter()
                    .filter(|u| u.is_human())
                    .map(|u| u.name.as_str())
                    .collect();
                assert_eq!(humans, ["ann", "itadmin", "carol"]);
                assert!(users[6].smart_card() && !users[5].smart_card());
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
                    [SkippedRecord {
                        name: Some("halfuser".into()),
                        reason: "no UniqueID".into()
                    }]
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
