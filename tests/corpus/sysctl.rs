//! Corpus and hand-written samples of `sysctl`, with the asserted outcome of each.
//!
//! The corpus holds no `sysctl` output yet: every sample here is hand-written (provenance in
//! `tests/fixtures/handwritten/README.md`).

use keywarden::tools::sysctl::{parse_arm64, parse_boot_session_uuid};

use super::{Case, Stream};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "handwritten/sysctl-bootsessionuuid/uuid-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |o| {
                assert_eq!(
                    parse_boot_session_uuid(o),
                    Ok("3F2504E0-4F89-41D3-9A0C-0305E82C3301".to_owned())
                )
            },
        },
        Case {
            file: "handwritten/sysctl-arm64/apple-silicon-1-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |o| assert_eq!(parse_arm64(o), Ok(true)),
        },
        Case {
            file: "handwritten/sysctl-arm64/intel-0-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |o| assert_eq!(parse_arm64(o), Ok(false)),
        },
        Case {
            file: "handwritten/sysctl-arm64/intel-unknown-oid-HANDWRITTEN.txt",
            stream: Stream::Stderr,
            exit: 1,
            check: |o| assert_eq!(parse_arm64(o), Ok(false)),
        },
    ]
}
