//! `/usr/sbin/sysctl -n`: the boot session UUID (the key of the per-boot use latch) and whether
//! the Mac is Apple silicon.
//!
//! Two one-line values, each validated by shape; an unknown OID is reported in sysctl's own
//! words, except where its absence *is* the answer (`hw.optional.arm64` on Intel). It does not
//! decide what a new boot means (see `state`), and it reads no other OID.

use crate::paths::Tool;
use crate::runner::{Call, Exit, Output, Runner};

use super::{query, text, ParseError, ProbeError};

pub(crate) fn boot_session_uuid_call() -> Call {
    Call::tool(Tool::Sysctl, &["-n", "kern.bootsessionuuid"])
}
pub(crate) fn arm64_call() -> Call {
    Call::tool(Tool::Sysctl, &["-n", "hw.optional.arm64"])
}

/// The trimmed stream when it is exactly one non-empty line.
fn single_line(bytes: &[u8]) -> Option<String> {
    let t = text(bytes);
    let t = t.trim();
    (!t.is_empty() && !t.contains('\n')).then(|| t.to_owned())
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// `sysctl: unknown oid '<name>'` on stderr, alone, with a non-zero exit: how macOS sysctl says an
/// OID does not exist (flutter/flutter#86123, #111517, #85890, flutter/samples#1004: `Exit code 1
/// from: sysctl hw.optional.arm64` / `sysctl: unknown oid 'hw.optional.arm64'` on Intel Macs).
fn unknown_oid(out: &Output) -> Option<String> {
    let line = single_line(&out.stderr)?;
    let named = line
        .strip_prefix("sysctl: unknown oid '")
        .and_then(|rest| rest.strip_suffix('\''))
        .is_some_and(|oid| !oid.is_empty());
    (named && !out.exit.success() && is_blank(&out.stdout)).then_some(line)
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A UUID on one line.
///
/// The kernel keeps it as a `uuid_string_t` (apple-oss-distributions/xnu
/// `iokit/Kernel/IOPMrootDomain.cpp`, `bootsessionuuid_string`); xnu's panic log prints it after
/// `Boot session UUID: ` and published panic logs and `.ips` crash reports (`bootSessionUUID`)
/// show it upper-case, 8-4-4-4-12. Pattern only, unverified: no
/// published `sysctl -n kern.bootsessionuuid` transcript was found, so the shape is checked
/// strictly (hex digits in 8-4-4-4-12, either case, kept as printed). The nil UUID is refused: it
/// would make every boot look like the same boot and break the per-boot latch.
pub fn parse_boot_session_uuid(out: &Output) -> Result<String, ParseError> {
    if out.exit.success() && is_blank(&out.stderr) {
        if let Some(line) = single_line(&out.stdout) {
            let nil = line.bytes().all(|b| b == b'0' || b == b'-');
            if is_uuid(&line) && !nil {
                return Ok(line);
            }
        }
    }
    match unknown_oid(out) {
        Some(line) => Err(ParseError::reported(out, &line)),
        None => Err(ParseError::unrecognised(out)),
    }
}

/// `1` on Apple silicon; `0` or `unknown oid` on Intel.
///
/// - `1`, exit 0: archspec/archspec#38 and google/cpu_features#121 (`hw.optional.arm64: 1` on M1
///   and the DTK); Homebrew/install#319 ("returns `1` if the physical CPU is Apple Silicon,
///   regardless of whether or not it's in Rosetta"); axodotdev/cargo-dist#941 compares
///   `sysctl -n hw.optional.arm64` with `1`.
/// - `sysctl: unknown oid 'hw.optional.arm64'` on stderr, exit 1: every Intel transcript found
///   (flutter/flutter#86123, #111517, #85890, #101235, flutter/samples#1004, 2021 to 2023). The
///   xnu source agrees: apple-oss-distributions/xnu `bsd/kern/kern_mib.c` registers the OID only
///   inside `#if defined (__arm64__)`.
/// - `0`, exit 0: pattern only, unverified. flutter/flutter#101308 describes it for "x64 and older
///   macOS" and flutter_tools tests fake `hw.optional.arm64: 0`; no real transcript was found.
///   Accepted because the value is the flag itself, not an inference.
pub fn parse_arm64(out: &Output) -> Result<bool, ParseError> {
    if out.exit.success() && is_blank(&out.stderr) {
        match single_line(&out.stdout).as_deref() {
            Some("1") => return Ok(true),
            Some("0") => return Ok(false),
            _ => {}
        }
    }
    if out.exit == Exit::Code(1)
        && unknown_oid(out).as_deref() == Some("sysctl: unknown oid 'hw.optional.arm64'")
    {
        return Ok(false);
    }
    Err(ParseError::unrecognised(out))
}

pub(crate) async fn boot_session_uuid(r: &impl Runner) -> Result<String, ProbeError> {
    query(r, &boot_session_uuid_call(), parse_boot_session_uuid).await
}
pub(crate) async fn apple_silicon(r: &impl Runner) -> Result<bool, ProbeError> {
    query(r, &arm64_call(), parse_arm64).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::fake::FakeRunner;
    use crate::tools::{arbitrary, check};
    use proptest::prelude::*;

    const UUID: &str = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";

    #[test]
    fn a_boot_session_uuid_is_one_line_of_a_uuid() {
        let o = Output::new(0, format!("{UUID}\n"), "");
        assert_eq!(parse_boot_session_uuid(&o), Ok(UUID.to_owned()));
        let lower = UUID.to_ascii_lowercase();
        assert_eq!(
            parse_boot_session_uuid(&Output::new(0, format!("{lower}\n"), "")),
            Ok(lower)
        );
    }

    #[test]
    fn anything_but_a_uuid_is_not_a_boot_session() {
        let not_uuids = [
            "",
            "\n",
            "3F2504E0-4F89-41D3-9A0C-0305E82C330",
            "3F2504E04F8941D39A0C0305E82C3301",
            "3F2504E0-4F89-41D3-9A0C-0305E82C330G",
            "kern.bootsessionuuid: 3F2504E0-4F89-41D3-9A0C-0305E82C3301",
            "3F2504E0-4F89-41D3-9A0C-0305E82C3301\n3F2504E0-4F89-41D3-9A0C-0305E82C3301",
            "00000000-0000-0000-0000-000000000000",
        ];
        check::all_unrecognised(not_uuids, |s| {
            parse_boot_session_uuid(&Output::new(0, *s, ""))
        });
        assert!(parse_boot_session_uuid(&Output::new(1, format!("{UUID}\n"), "")).is_err());
        assert!(parse_boot_session_uuid(&Output::new(0, format!("{UUID}\n"), "x")).is_err());
    }

    #[test]
    fn an_unknown_boot_session_oid_is_reported_in_sysctls_words() {
        let o = Output::new(1, "", "sysctl: unknown oid 'kern.bootsessionuuid'\n");
        assert_eq!(
            parse_boot_session_uuid(&o),
            Err(ParseError::Reported {
                exit: Exit::Code(1),
                message: "sysctl: unknown oid 'kern.bootsessionuuid'".into()
            })
        );
    }

    #[test]
    fn arm64_one_is_apple_silicon_and_zero_is_not() {
        assert_eq!(parse_arm64(&Output::new(0, "1\n", "")), Ok(true));
        assert_eq!(parse_arm64(&Output::new(0, "0\n", "")), Ok(false));
    }

    #[test]
    fn an_unknown_arm64_oid_means_intel() {
        let o = Output::new(1, "", "sysctl: unknown oid 'hw.optional.arm64'\n");
        assert_eq!(parse_arm64(&o), Ok(false));
    }

    #[test]
    fn other_arm64_answers_are_unrecognised() {
        check::all_unrecognised(
            [
                Output::new(0, "", ""),
                Output::new(0, "2\n", ""),
                Output::new(0, "hw.optional.arm64: 1\n", ""),
                Output::new(0, "1\n1\n", ""),
                Output::new(1, "1\n", ""),
                Output::new(0, "1\n", "warning"),
                // unknown oid, but with another exit code, another OID, or text on stdout
                Output::new(2, "", "sysctl: unknown oid 'hw.optional.arm64'\n"),
                Output::new(0, "", "sysctl: unknown oid 'hw.optional.arm64'\n"),
                Output::new(1, "", "sysctl: unknown oid 'hw.optional.arm'\n"),
                Output::new(1, "0\n", "sysctl: unknown oid 'hw.optional.arm64'\n"),
                check::killed(9, "1\n", ""),
            ],
            parse_arm64,
        );
    }

    #[tokio::test]
    async fn the_queries_use_sysctl_n_with_the_oid() {
        let mut fake = FakeRunner::new();
        fake.answer(
            &boot_session_uuid_call(),
            Output::new(0, format!("{UUID}\n"), ""),
        )
        .answer(&arm64_call(), Output::new(0, "1\n", ""));
        assert_eq!(boot_session_uuid(&fake).await, Ok(UUID.to_owned()));
        assert_eq!(apple_silicon(&fake).await, Ok(true));
        assert_eq!(
            boot_session_uuid_call().argv(),
            ["/usr/sbin/sysctl", "-n", "kern.bootsessionuuid"]
        );
        assert_eq!(
            arm64_call().argv(),
            ["/usr/sbin/sysctl", "-n", "hw.optional.arm64"]
        );
    }

    proptest! {
        #[test]
        fn no_sysctl_parser_panics_on_any_output(o in arbitrary::output()) {
            let _ = parse_boot_session_uuid(&o);
            let _ = parse_arm64(&o);
        }

        #[test]
        fn a_well_formed_uuid_is_returned_as_printed(u in "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{11}[1-9A-Fa-f]") {
            prop_assert_eq!(parse_boot_session_uuid(&Output::new(0, format!("{u}\n"), "")), Ok(u));
        }
    }
}
