//! Hand-written samples of `security authorizationdb read`, with the asserted outcome of each.
//!
//! A real read prints the right on stdout and `YES (0)` on stderr (apple-open-source/macos
//! Security/SecurityTool/macOS/authz.c). A case carries one stream, so the success samples hold
//! stdout only (the parser accepts an empty stderr; the pair is covered by unit tests) and the
//! failure sample holds stderr only, with the exit 255 that `return -1` gives.

use keywarden::runner::Exit;
use keywarden::tools::security::{parse_mechanisms, ESCROW_BUDDY_MECHANISM};
use keywarden::tools::ParseError;

use super::{Case, Stream};

/// The mechanisms of `system.login.console` as a published transcript (macOS 14 era) shows them,
/// without `loginwindow:done`.
const BASE: &[&str] = &[
    "builtin:prelogin",
    "builtin:policy-banner",
    "loginwindow:login",
    "builtin:login-begin",
    "builtin:reset-password,privileged",
    "loginwindow:FDESupport,privileged",
    "builtin:forward-login,privileged",
    "builtin:auto-login,privileged",
    "builtin:authenticate,privileged",
    "PKINITMechanism:auth,privileged",
    "builtin:login-success",
    "loginwindow:success",
    "HomeDirMechanism:login,privileged",
    "HomeDirMechanism:status",
    "MCXMechanism:login",
    "CryptoTokenKit:login",
];

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "handwritten/security-authorizationdb-read/login-console-with-escrow-buddy-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                let mut want: Vec<&str> = BASE.to_vec();
                want.extend([ESCROW_BUDDY_MECHANISM, "loginwindow:done"]);
                assert_eq!(parse_mechanisms(out).expect("parses"), want);
            },
        },
        Case {
            file: "handwritten/security-authorizationdb-read/login-console-without-escrow-buddy-HANDWRITTEN.txt",
            stream: Stream::Stdout,
            exit: 0,
            check: |out| {
                let mut want: Vec<&str> = BASE.to_vec();
                want.push("loginwindow:done");
                let got = parse_mechanisms(out).expect("parses");
                assert_eq!(got, want);
                assert!(!got.iter().any(|m| m == ESCROW_BUDDY_MECHANISM));
            },
        },
        Case {
            file: "handwritten/security-authorizationdb-read/status-no-60005-HANDWRITTEN.txt",
            stream: Stream::Stderr,
            exit: 255,
            check: |out| {
                assert_eq!(
                    parse_mechanisms(out),
                    Err(ParseError::Reported {
                        exit: Exit::Code(255),
                        message: "NO (-60005)".into(),
                    })
                )
            },
        },
    ]
}
