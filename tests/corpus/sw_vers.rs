//! Corpus and hand-written samples of `sw_vers`, with the asserted outcome of each.
//!
//! The corpus holds no `sw_vers` output yet: every sample here is hand-written (provenance in
//! `tests/fixtures/handwritten/README.md`).

use keywarden::tools::sw_vers::{parse_build_version, parse_product_version};

use super::{Case, Stream};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "handwritten/sw_vers-productversion/14.4.1-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |o| assert_eq!(parse_product_version(o), Ok("14.4.1".to_owned())),
        },
        Case {
            file: "handwritten/sw_vers-productversion/26.0-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |o| assert_eq!(parse_product_version(o), Ok("26.0".to_owned())),
        },
        Case {
            file: "handwritten/sw_vers-buildversion/23E224-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |o| assert_eq!(parse_build_version(o), Ok("23E224".to_owned())),
        },
        Case {
            file: "handwritten/sw_vers-buildversion/rsr-22E772610a-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |o| assert_eq!(parse_build_version(o), Ok("22E772610a".to_owned())),
        },
    ]
}
