//! Corpus and hand-written samples of `sysadminctl`, with the asserted outcome of each.
//!
//! sysadminctl writes through NSLog to stderr (PATTERNS.md "sysadminctl"; SOURCES.md gives stderr
//! for every sample). Exit codes: 255 for the macos-cookbook sample (shown there), 0 elsewhere
//! ("not shown"; failures are reported to exit 0 too). The error and usage samples come from
//! other subcommands; they stand for what `-secureTokenStatus` prints when it fails the same way.

use keywarden::runner::{Exit, Output};
use keywarden::tools::sysadminctl::parse_secure_token_status;
use keywarden::tools::ParseError;

use super::{Case, Stream};

fn reported(out: &Output, code: i32, message: &str) {
    assert_eq!(
        parse_secure_token_status(out),
        Err(ParseError::Reported {
            exit: Exit::Code(code),
            message: message.into(),
        })
    );
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "sysadminctl-errors/mac-admin-4-10.13.6-not-root-interactive.txt",
            stream: Stream::Stderr,
            exit: 0,
            check: |out| {
                reported(
                    out,
                    0,
                    // The 218-character line, cut to an excerpt (issue 6, fuzz finding F1).
                    "sysadminctl should be run as root, or in interactive mode! (Error Domain=NSOSStatusErrorDomain Code=-60007 \"errAuthorizationInteractionNotAllowed: The authoriza…",
                )
            },
        },
        Case {
            file: "sysadminctl-errors/maclaps-16-2023-adduser-no-cleartext-password-5402.txt",
            stream: Stream::Stderr,
            exit: 0,
            // The banner between dashed lines is a warning; the failure is the `(5402)` line.
            check: |out| reported(out, 0, "New account password error.  (5402)"),
        },
        Case {
            file: "sysadminctl-errors/macos-cookbook-32-10.13-failed-to-authenticate-exit255.txt",
            stream: Stream::Stderr,
            exit: 255,
            check: |out| {
                reported(
                    out,
                    255,
                    "Failed to authenticate with SystemAdministration framework.",
                )
            },
        },
        Case {
            file: "sysadminctl-errors/macoslaps-readme-2023-resetpassword-not-permitted.txt",
            stream: Stream::Stderr,
            exit: 0,
            check: |out| {
                reported(
                    out,
                    0,
                    "Operation is not permitted without secure token unlock.",
                )
            },
        },
        Case {
            file: "sysadminctl-securetokenstatus/ec2-macos-init-2021-disabled.txt",
            stream: Stream::Stderr,
            exit: 0,
            check: |out| assert_eq!(parse_secure_token_status(out), Ok(false)),
        },
        Case {
            file: "sysadminctl-securetokenstatus/ec2-macos-init-2021-enabled.txt",
            stream: Stream::Stderr,
            exit: 0,
            check: |out| assert_eq!(parse_secure_token_status(out), Ok(true)),
        },
        Case {
            file: "sysadminctl-securetokenstatus/tuist-fixture-26.6-disabled-realname-FIXTURE.txt",
            stream: Stream::Stderr,
            exit: 0,
            // The name printed is the RealName with spaces: never parsed.
            check: |out| assert_eq!(parse_secure_token_status(out), Ok(false)),
        },
        Case {
            file: "sysadminctl-securetokenstatus/tuist-fixture-26.6-enabled-realname-FIXTURE.txt",
            stream: Stream::Stderr,
            exit: 0,
            check: |out| assert_eq!(parse_secure_token_status(out), Ok(true)),
        },
        Case {
            file: "sysadminctl-usage/kcpassword-5-2024-usage-PARTIAL.txt",
            stream: Stream::Stderr,
            exit: 0,
            // Continuation lines carry no NSLog prefix; the usage line is the message.
            check: |out| reported(out, 0, "Usage: sysadminctl"),
        },
        Case {
            file: "handwritten/sysadminctl-securetokenstatus/unknown-user-26.6-HANDWRITTEN.txt",
            stream: Stream::Stderr,
            exit: 0,
            // An error, never "DISABLED".
            check: |out| reported(out, 0, "Unknown user nosuchuser"),
        },
    ]
}
