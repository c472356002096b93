//! Hand-written samples of `defaults read|write|delete`, with the asserted outcome of each.
//!
//! Values on stdout with exit 0; failures through NSLog on stderr with exit 1 (0xmachos/mOSL#2,
//! #24). Write and delete print nothing on success (empty files).

use keywarden::runner::Exit;
use keywarden::tools::defaults::{parse_delete, parse_read_bool, parse_write};
use keywarden::tools::ParseError;

use super::{Case, Stream};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "handwritten/defaults-read/generatenewkey-true-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| assert_eq!(parse_read_bool(out), Ok(Some(true))),
        },
        Case {
            file: "handwritten/defaults-read/generatenewkey-false-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| assert_eq!(parse_read_bool(out), Ok(Some(false))),
        },
        Case {
            file: "handwritten/defaults-read/generatenewkey-missing-HANDWRITTEN.txt",
            stream: Stream::Stderr,
            exit: 1,
            check: |out| assert_eq!(parse_read_bool(out), Ok(None)),
        },
        Case {
            file: "handwritten/defaults-write/success-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| assert_eq!(parse_write(out), Ok(())),
        },
        Case {
            file: "handwritten/defaults-write/could-not-write-HANDWRITTEN.txt",
            stream: Stream::Stderr,
            exit: 1,
            check: |out| {
                assert_eq!(
                    parse_write(out),
                    Err(ParseError::Reported {
                        exit: Exit::Code(1),
                        message: "Could not write domain /Library/Preferences/com.netflix.Escrow-Buddy; exiting".into(),
                    })
                )
            },
        },
        Case {
            file: "handwritten/defaults-delete/success-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| assert_eq!(parse_delete(out), Ok(())),
        },
        Case {
            file: "handwritten/defaults-delete/missing-HANDWRITTEN.txt",
            stream: Stream::Stderr,
            exit: 1,
            // Already absent is what a delete is for.
            check: |out| assert_eq!(parse_delete(out), Ok(())),
        },
    ]
}
