//! `/usr/bin/defaults`: read, write and delete one boolean preference through cfprefsd
//! (PLATFORM.md: preferences are cached; never edit the file).
//!
//! Owns the three argv builders, their parsers and query functions. Keywarden uses it for Escrow
//! Buddy's `GenerateNewKey` in `/Library/Preferences/com.netflix.Escrow-Buddy`; whether to set or
//! withdraw that flag is decided elsewhere (`decide`, `act`). `defaults` logs its failures
//! through NSLog on stderr, with the prefix alone on one line and the message on the next
//! (0xmachos/mOSL#24, 2019: `2019-09-01 12:04:08.950 defaults[736:8108] ` then `The
//! domain/default pair of (...) does not exist`), or on the same line (0xmachos/mOSL#2, 10.14
//! beta: `2018-06-04 23:23:34.454 defaults[1987:51908] Could not write domain
//! com.apple.mail-shared; exiting`): both are handled by `sysadminctl::messages`.

use crate::paths::Tool;
use crate::runner::{Call, Exit, Output, Runner};

use super::sysadminctl::messages;
use super::{query, text, ParseError, ProbeError};

pub(crate) fn read_call(domain: &str, key: &str) -> Call {
    Call::tool(Tool::Defaults, &["read", domain, key])
}
pub(crate) fn write_bool_call(domain: &str, key: &str, value: bool) -> Call {
    Call::tool(
        Tool::Defaults,
        &[
            "write",
            domain,
            key,
            "-bool",
            if value { "true" } else { "false" },
        ],
    )
}
pub(crate) fn delete_call(domain: &str, key: &str) -> Call {
    Call::tool(Tool::Defaults, &["delete", domain, key])
}

/// `Some(true/false)` for a boolean value, `None` when the domain/key pair does not exist.
///
/// `defaults read` prints a value's description on stdout with exit 0, and a boolean's
/// description is `1` or `0` (the project brief; ProcursusTeam/defaults Sources/defaults.m, a
/// reimplementation, prints `[value description]`; Jamf EAs echo `defaults read ...
/// GenerateNewKey` as is — pattern only, not captured on a Mac here). It prints an integer 1 or
/// a string "1" the same way; only `defaults read-type` could tell them apart. A value other than
/// `1`/`0` (`true`, `YES`, a dictionary) is `Unrecognised`, never guessed.
///
/// A missing key or domain: `The domain/default pair of (DOMAIN, KEY) does not exist` on stderr
/// (0xmachos/mOSL#24 transcript, NSLog-prefixed; jamf/CIS-for-macOS-Catalina-CP#15) with a
/// non-zero exit (1 wherever a source shows it, e.g. dotfiles relying on `defaults read -g
/// AppleInterfaceStyle` failing). That sentence with exit 0 contradicts itself and is
/// `Unrecognised`. Not accepted: `Could not find key` (jdx/mise#11118 reports it for `read-type`
/// only; a public 2026 comment claims it for `read` on a future macOS — unverified).
pub fn parse_read_bool(out: &Output) -> Result<Option<bool>, ParseError> {
    if let Exit::Signal(_) = out.exit {
        return Err(ParseError::unrecognised(out));
    }
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    let errors: Vec<&str> = messages(&stderr).collect();
    if errors.iter().any(|m| is_pair_missing(m)) {
        return if !out.exit.success() && stdout.trim().is_empty() {
            Ok(None)
        } else {
            Err(ParseError::unrecognised(out))
        };
    }
    if out.exit.success() && errors.is_empty() {
        match stdout.trim() {
            "1" => return Ok(Some(true)),
            "0" => return Ok(Some(false)),
            _ => {}
        }
    }
    Err(ParseError::unrecognised(out))
}

/// A `defaults write` that succeeded: exit 0 and nothing printed.
///
/// A write prints nothing on success (macadmins/escrow-buddy README runs `defaults write ...
/// GenerateNewKey -bool true` and expects no output). `Could not write domain DOMAIN; exiting`
/// (NSLog on stderr, non-zero exit: 0xmachos/mOSL#2 transcript; same text in
/// ProcursusTeam/defaults Sources/write.m, a reimplementation) is `Reported`. Anything else is `Unrecognised`: a write
/// whose outcome we cannot read is not a success. The daemon re-reads the flag after writing.
pub fn parse_write(out: &Output) -> Result<(), ParseError> {
    if let Exit::Signal(_) = out.exit {
        return Err(ParseError::unrecognised(out));
    }
    if out.exit.success() && is_blank(&out.stdout) && is_blank(&out.stderr) {
        return Ok(());
    }
    match messages(&text(&out.stderr)).find(|m| m.starts_with(COULD_NOT_WRITE)) {
        Some(line) => Err(ParseError::reported(out, line)),
        None => Err(ParseError::unrecognised(out)),
    }
}

/// A `defaults delete` after which the key is absent: deleted now (exit 0, nothing printed), or
/// not there to begin with.
///
/// A missing key or domain prints `Domain (DOMAIN) not found.` then `Defaults have not been
/// changed.` with exit 1 (pattern only, unverified on a Mac: the same text in ProcursusTeam/defaults
/// Sources/defaults.m, a reimplementation that copies Apple's messages; jdx/mise#11118 treats
/// `Domain [...] not found` as "not set"; several public test fixtures of tools that shell out to
/// `defaults delete`). `The domain/default pair of (...) does
/// not exist` is accepted as "absent" too (the read wording; pattern only for delete). Being
/// absent is what a delete is for, so both are `Ok`; `act` confirms with a read. `Could not write
/// domain ...; exiting` is `Reported`; anything else `Unrecognised`.
pub fn parse_delete(out: &Output) -> Result<(), ParseError> {
    if let Exit::Signal(_) = out.exit {
        return Err(ParseError::unrecognised(out));
    }
    if out.exit.success() && is_blank(&out.stdout) && is_blank(&out.stderr) {
        return Ok(());
    }
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = messages(&stderr).collect();
    if let Some(line) = lines.iter().find(|m| m.starts_with(COULD_NOT_WRITE)) {
        return Err(ParseError::reported(out, line));
    }
    // `Defaults have not been changed.` also follows other failures (ProcursusTeam/defaults
    // write.m: `Rep argument is not a dictionary`): alone it does not mean "absent".
    let absent = lines
        .iter()
        .any(|m| is_domain_not_found(m) || is_pair_missing(m))
        && lines
            .iter()
            .all(|m| is_domain_not_found(m) || *m == NOT_CHANGED || is_pair_missing(m));
    if absent && !out.exit.success() && is_blank(&out.stdout) {
        return Ok(());
    }
    Err(ParseError::unrecognised(out))
}

pub(crate) async fn read_bool(
    r: &impl Runner,
    domain: &str,
    key: &str,
) -> Result<Option<bool>, ProbeError> {
    query(r, &read_call(domain, key), parse_read_bool).await
}

/// `defaults write DOMAIN KEY -bool true|false`.
pub(crate) async fn write_bool(
    r: &impl Runner,
    domain: &str,
    key: &str,
    value: bool,
) -> Result<(), ProbeError> {
    query(r, &write_bool_call(domain, key, value), parse_write).await
}

/// `defaults delete DOMAIN KEY`; a key that is already absent is not an error.
pub(crate) async fn delete(r: &impl Runner, domain: &str, key: &str) -> Result<(), ProbeError> {
    query(r, &delete_call(domain, key), parse_delete).await
}

/// `Could not write domain DOMAIN; exiting` (see `parse_write`).
const COULD_NOT_WRITE: &str = "Could not write domain ";
/// Second line of the delete failure (see `parse_delete`).
const NOT_CHANGED: &str = "Defaults have not been changed.";

/// `The domain/default pair of (DOMAIN, KEY) does not exist`.
fn is_pair_missing(message: &str) -> bool {
    message
        .strip_prefix("The domain/default pair of (")
        .is_some_and(|rest| rest.ends_with(") does not exist"))
}

/// `Domain (DOMAIN) not found.`
fn is_domain_not_found(message: &str) -> bool {
    message
        .strip_prefix("Domain (")
        .is_some_and(|rest| rest.ends_with(") not found."))
}

fn is_blank(bytes: &[u8]) -> bool {
    text(bytes).trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::check;
    use crate::tools::fake::FakeRunner;

    const DOMAIN: &str = "/Library/Preferences/com.netflix.Escrow-Buddy";
    const MISSING: &str = "2026-03-02 10:00:00.000 defaults[501:6001] \nThe domain/default pair of (/Library/Preferences/com.netflix.Escrow-Buddy, GenerateNewKey) does not exist\n";

    #[test]
    fn the_calls_are_read_write_bool_and_delete() {
        assert_eq!(
            read_call(DOMAIN, "GenerateNewKey").argv(),
            ["/usr/bin/defaults", "read", DOMAIN, "GenerateNewKey"]
        );
        assert_eq!(
            write_bool_call(DOMAIN, "GenerateNewKey", true).args,
            ["write", DOMAIN, "GenerateNewKey", "-bool", "true"]
        );
        assert_eq!(
            write_bool_call(DOMAIN, "GenerateNewKey", false).args,
            ["write", DOMAIN, "GenerateNewKey", "-bool", "false"]
        );
        assert_eq!(
            delete_call(DOMAIN, "GenerateNewKey").args,
            ["delete", DOMAIN, "GenerateNewKey"]
        );
    }

    #[test]
    fn one_and_zero_are_true_and_false() {
        assert_eq!(parse_read_bool(&Output::new(0, "1\n", "")), Ok(Some(true)));
        assert_eq!(parse_read_bool(&Output::new(0, "0\n", "")), Ok(Some(false)));
    }

    #[test]
    fn a_missing_pair_is_none_with_or_without_the_nslog_line() {
        assert_eq!(parse_read_bool(&Output::new(1, "", MISSING)), Ok(None));
        let bare = "The domain/default pair of (com.x, GenerateNewKey) does not exist\n";
        assert_eq!(parse_read_bool(&Output::new(1, "", bare)), Ok(None));
    }

    #[test]
    fn a_missing_pair_with_exit_zero_or_a_value_contradicts_itself() {
        check::unrecognised(parse_read_bool(&Output::new(0, "", MISSING)));
        check::unrecognised(parse_read_bool(&Output::new(1, "1\n", MISSING)));
    }

    #[test]
    fn values_that_are_not_a_boolean_are_unrecognised_never_guessed() {
        check::all_unrecognised(
            ["true\n", "YES\n", "2\n", "", "{\n    a = 1;\n}\n", "1\n1\n"],
            |v| parse_read_bool(&Output::new(0, *v, "")),
        );
        // A value with a failure exit, or with words on stderr, is not a clean read either.
        check::unrecognised(parse_read_bool(&Output::new(1, "1\n", "")));
        check::unrecognised(parse_read_bool(&Output::new(0, "1\n", "warning\n")));
    }

    #[test]
    fn a_killed_defaults_is_unrecognised() {
        check::unrecognised(parse_read_bool(&check::killed(9, "1\n", "")));
        check::unrecognised(parse_write(&check::killed(9, "", "")));
        check::unrecognised(parse_delete(&check::killed(9, "", "")));
    }

    #[test]
    fn a_silent_write_is_a_success() {
        assert_eq!(parse_write(&Output::new(0, "", "")), Ok(()));
        assert_eq!(parse_write(&Output::new(0, "\n", " \n")), Ok(()));
    }

    #[test]
    fn could_not_write_domain_is_reported() {
        let err = "2024-09-21 11:44:39.996 defaults[60490:1591027] Could not write domain /Library/Preferences/com.netflix.Escrow-Buddy; exiting\n";
        let want = Err(ParseError::Reported {
            exit: Exit::Code(1),
            message:
                "Could not write domain /Library/Preferences/com.netflix.Escrow-Buddy; exiting"
                    .into(),
        });
        assert_eq!(parse_write(&Output::new(1, "", err)), want);
        assert_eq!(parse_delete(&Output::new(1, "", err)), want);
    }

    #[test]
    fn a_write_that_prints_anything_else_is_unrecognised() {
        let not_found = "Domain (com.x) not found.\nDefaults have not been changed.\n";
        check::all_unrecognised(
            [
                Output::new(1, "", ""),
                Output::new(0, "", "something\n"),
                Output::new(0, "x\n", ""),
                // A write is never "absent": the delete wording does not make a write succeed.
                Output::new(1, "", not_found),
            ],
            parse_write,
        );
    }

    #[test]
    fn deleting_a_missing_key_is_already_absent() {
        let not_found = "2026-03-02 10:00:00.000 defaults[501:6001] \nDomain (/Library/Preferences/com.netflix.Escrow-Buddy) not found.\nDefaults have not been changed.\n";
        assert_eq!(parse_delete(&Output::new(1, "", not_found)), Ok(()));
        assert_eq!(parse_delete(&Output::new(1, "", MISSING)), Ok(()));
        assert_eq!(parse_delete(&Output::new(0, "", "")), Ok(()));
    }

    #[test]
    fn a_delete_with_other_words_or_a_contradicting_exit_is_unrecognised() {
        let not_found = "Domain (com.x) not found.\nDefaults have not been changed.\n";
        let mixed = "Domain (com.x) not found.\nsomething else\n";
        check::all_unrecognised(
            [
                Output::new(0, "", not_found),
                Output::new(1, "x\n", not_found),
                Output::new(1, "", mixed),
                Output::new(1, "", ""),
                Output::new(1, "", NOT_CHANGED),
            ],
            parse_delete,
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_queries_run_their_calls() {
        let mut fake = FakeRunner::new();
        fake.answer(
            &read_call(DOMAIN, "GenerateNewKey"),
            Output::new(0, "1\n", ""),
        )
        .answer(
            &write_bool_call(DOMAIN, "GenerateNewKey", true),
            Output::new(0, "", ""),
        )
        .answer(
            &delete_call(DOMAIN, "GenerateNewKey"),
            Output::new(1, "", MISSING),
        );
        assert_eq!(
            read_bool(&fake, DOMAIN, "GenerateNewKey").await,
            Ok(Some(true))
        );
        assert_eq!(
            write_bool(&fake, DOMAIN, "GenerateNewKey", true).await,
            Ok(())
        );
        assert_eq!(delete(&fake, DOMAIN, "GenerateNewKey").await, Ok(()));
        assert_eq!(fake.calls.borrow().len(), 3);
    }

    mod properties {
        use super::*;
        use crate::tools::arbitrary;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_output_never_panics(out in arbitrary::output()) {
                let _ = parse_read_bool(&out);
                let _ = parse_write(&out);
                let _ = parse_delete(&out);
            }
        }
    }
}
