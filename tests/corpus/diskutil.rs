//! Corpus and hand-written samples of `diskutil`, with the asserted outcome of each.
//!
//! Streams and exit codes are those SOURCES.md gives ("not shown" with a successful listing: 0).
//! The text form comes from `listCryptoUsers`/`listUsers` without `-plist`; Keywarden asks for
//! `-plist`, and the parser takes both.

use keywarden::runner::{Exit, Output};
use keywarden::tools::diskutil::{parse_list_crypto_users, CryptoUser, CryptoUserKind, PRK_UUID};
use keywarden::tools::ParseError;

use super::{Case, Stream};

use CryptoUserKind::*;

fn user(uuid: &str, kind: CryptoUserKind, volume_owner: Option<bool>) -> CryptoUser {
    CryptoUser {
        uuid: uuid.into(),
        kind,
        volume_owner,
    }
}

fn expect(out: &Output, want: &[CryptoUser]) {
    assert_eq!(parse_list_crypto_users(out).as_deref(), Ok(want));
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "diskutil-apfs-listcryptousers/apfs2hashcat-fork-icloud-with-notes.txt",
            stream: Stream::Stdout,
            exit: 0,
            // `Note:` lines are skipped; the redacted UUIDs are kept as printed.
            check: |out| {
                expect(
                    out,
                    &[
                        user(
                            "XXXXXXXX-A79A-4E2F-A7BB-66917C8F4XXX",
                            LocalOpenDirectory,
                            None,
                        ),
                        user("XXXXXXXX-B618-4ED6-BD8D-50F361C27XXX", ICloudRecovery, None),
                        user(
                            "XXXXXXXX-0000-11AA-AA11-00306543EXXX",
                            ICloudRecoveryExternalKey,
                            None,
                        ),
                    ],
                )
            },
        },
        Case {
            file: "diskutil-apfs-listcryptousers/fleet-fixture-plist-volumeowner-mdmrecovery.txt",
            stream: Stream::Stdout,
            exit: 0,
            // The fixture lacks the final `</plist>`; every dict and array is closed, so it is
            // read (decision documented on `parse_plist_form`).
            check: |out| {
                expect(
                    out,
                    &[
                        user(
                            "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
                            LocalOpenDirectory,
                            Some(true),
                        ),
                        user(PRK_UUID, PersonalRecovery, Some(true)),
                        user(
                            "2457711A-523C-4604-B75A-F48A571D5036",
                            MdmRecovery,
                            Some(false),
                        ),
                    ],
                )
            },
        },
        Case {
            file: "diskutil-apfs-listcryptousers/openradar-33610430-10.13b4-old-format-PARTIAL.txt",
            stream: Stream::Stdout,
            exit: 0,
            // The copy is cut after the second `+--` line: the header's 2 matches the entries,
            // but the second has no Type. An error, never one user.
            check: |out| {
                assert_eq!(
                    parse_list_crypto_users(out),
                    Err(ParseError::Unrecognised {
                        exit: Exit::Code(0),
                        excerpt: "EBC6C064-0000-11AA-AA11-00306543ECAC has no Type line".into(),
                    })
                )
            },
        },
        Case {
            file: "diskutil-apfs-listusers/nokiam9-intel-icloud-recovery.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                expect(
                    out,
                    &[
                        user(
                            "FBD4D606-E5F2-4FC5-B6C0-70E11D1A3FB1",
                            LocalOpenDirectory,
                            None,
                        ),
                        user("EC1C2AD9-B618-4ED6-BD8D-50F361C27507", ICloudRecovery, None),
                        user(
                            "64C0C6EB-0000-11AA-AA11-00306543ECAC",
                            ICloudRecoveryExternalKey,
                            None,
                        ),
                    ],
                )
            },
        },
        Case {
            file: "diskutil-apfs-listusers/osquery-5236-2018-six-users-icloud-prk.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                expect(
                    out,
                    &[
                        user(
                            "76057753-404D-4114-A988-EFCF80779BD3",
                            LocalOpenDirectory,
                            None,
                        ),
                        user(
                            "425D5A4B-8EF2-4EBF-8B57-C9A919D0CDD1",
                            LocalOpenDirectory,
                            None,
                        ),
                        user(
                            "8C7D6CE5-43C0-46D1-9C95-FA4AC6F08146",
                            LocalOpenDirectory,
                            None,
                        ),
                        user("EC1C2AD9-B618-4ED6-BD8D-50F361C27507", ICloudRecovery, None),
                        user(
                            "64C0C6EB-0000-11AA-AA11-00306543ECAC",
                            ICloudRecoveryExternalKey,
                            None,
                        ),
                        user(PRK_UUID, PersonalRecovery, None),
                    ],
                )
            },
        },
        Case {
            file: "diskutil-apfs-listusers/ttg-10.15.6-4users-bootstrap.txt",
            stream: Stream::Stdout,
            exit: 0,
            // The trailing single-space line is part of the output and skipped.
            check: |out| {
                expect(
                    out,
                    &[
                        user(
                            "FB756838-XXXX-XXXX-XXXX-40FB5E7D5D3F",
                            LocalOpenDirectory,
                            None,
                        ),
                        user(
                            "EBC6C064-XXXX-XXXX-XXXX-00306543ECAC",
                            PersonalRecovery,
                            None,
                        ),
                        user(
                            "C22BDCD3-XXXX-XXXX-XXXX-65D3332605C3",
                            LocalOpenDirectory,
                            None,
                        ),
                        user("2457711A-XXXX-XXXX-XXXX-F48A571D5036", MdmRecovery, None),
                    ],
                )
            },
        },
        Case {
            file: "handwritten/diskutil-apfs-listcryptousers/no-users-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| expect(out, &[]),
        },
        Case {
            file: "handwritten/diskutil-apfs-listcryptousers/singular-one-user-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                expect(
                    out,
                    &[user(
                        "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
                        LocalOpenDirectory,
                        None,
                    )],
                )
            },
        },
        Case {
            file:
                "handwritten/diskutil-apfs-listcryptousers/plist-owners-prk-irk-mdm-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                expect(
                    out,
                    &[
                        user(
                            "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
                            LocalOpenDirectory,
                            Some(true),
                        ),
                        user(
                            "9A1F0D22-6B7E-4C55-8E0A-3D2B1C4E5F60",
                            LocalOpenDirectory,
                            Some(true),
                        ),
                        user(
                            "5E2C7A14-0B9D-4F3E-A6C1-7D8E9F0A1B2C",
                            LocalOpenDirectory,
                            Some(false),
                        ),
                        user(PRK_UUID, PersonalRecovery, Some(true)),
                        user(
                            "2C6E6C0E-8F3B-4A47-9D3E-5C1A7F6B2D10",
                            InstitutionalRecovery,
                            Some(false),
                        ),
                        user(
                            "2457711A-523C-4604-B75A-F48A571D5036",
                            MdmRecovery,
                            Some(false),
                        ),
                    ],
                )
            },
        },
    ]
}
