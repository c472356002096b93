//! `/usr/bin/sw_vers`: the macOS version and build.
//!
//! Each option prints one value on one line; its shape is checked strictly and the value kept as
//! printed. Comparing versions (e.g. "is this 13.2.1 or later") is not done here.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, text, ParseError, ProbeError};

pub(crate) fn product_version_call() -> Call {
    Call::tool(Tool::SwVers, &["-productVersion"])
}
pub(crate) fn build_version_call() -> Call {
    Call::tool(Tool::SwVers, &["-buildVersion"])
}

/// The one line of stdout of a successful call with nothing on stderr.
fn value(out: &Output) -> Option<String> {
    if !out.exit.success() || !out.stderr.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let t = text(&out.stdout);
    let t = t.trim();
    (!t.is_empty() && !t.contains('\n')).then(|| t.to_owned())
}

fn is_digits(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Two or three dot-separated numbers: `10.13` (the first release of a version has no third
/// number: spencerdodd/kernelpop#17), `10.13.6` (sindresorhus/macos-version-cli#1 shows
/// `sw_vers -productVersion` printing it alone), `26.0` (omochi/swift-subprocess-rpath-bug
/// README, `sw_vers` on 26.0 / 25A354), `14.4.1`. A Rapid Security Response's `(a)` is a separate
/// field, `ProductVersionExtra`, not part of it (ydkhatri/mac_apt#95).
fn is_product_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=3).contains(&parts.len()) && parts.iter().all(|p| is_digits(p, 3))
}

/// A build: the major number, one upper-case letter, a number, and at most one lower-case suffix
/// letter: `17A405` (kernelpop#17), `19F101` (rbenv/ruby-build#1451), `25A354` (see above),
/// `22E772610a` (a Rapid Security Response build, ydkhatri/mac_apt#95); beta builds carry the same
/// kind of suffix letter.
fn is_build_version(s: &str) -> bool {
    let major_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (major, rest) = s.split_at(major_end);
    let mut rest = rest.chars();
    let Some(letter) = rest.next() else {
        return false;
    };
    let rest = rest.as_str();
    let number = rest
        .strip_suffix(|c: char| c.is_ascii_lowercase())
        .unwrap_or(rest);
    is_digits(major, 3) && letter.is_ascii_uppercase() && is_digits(number, 7)
}

/// `14.4.1`: dotted numbers on one line.
pub fn parse_product_version(out: &Output) -> Result<String, ParseError> {
    value(out)
        .filter(|v| is_product_version(v))
        .ok_or_else(|| ParseError::unrecognised(out))
}
/// `23E224`: letters and digits on one line.
pub fn parse_build_version(out: &Output) -> Result<String, ParseError> {
    value(out)
        .filter(|v| is_build_version(v))
        .ok_or_else(|| ParseError::unrecognised(out))
}
pub(crate) async fn product_version(r: &impl Runner) -> Result<String, ProbeError> {
    query(r, &product_version_call(), parse_product_version).await
}
pub(crate) async fn build_version(r: &impl Runner) -> Result<String, ProbeError> {
    query(r, &build_version_call(), parse_build_version).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::fake::FakeRunner;
    use crate::tools::{arbitrary, check};
    use proptest::prelude::*;

    fn ok(s: &str) -> Output {
        Output::new(0, s, "")
    }

    /// Each value, printed alone on its line, is read back as printed.
    #[track_caller]
    fn read_as_printed(parse: impl Fn(&Output) -> Result<String, ParseError>, values: &[&str]) {
        for v in values {
            assert_eq!(parse(&ok(&format!("{v}\n"))), Ok((*v).to_owned()), "{v:?}");
        }
    }

    #[test]
    fn product_versions_have_two_or_three_numbers() {
        read_as_printed(
            parse_product_version,
            &["10.13", "10.13.6", "14.4.1", "26.0", "26.0.1", "11.0.1"],
        );
    }

    #[test]
    fn anything_else_is_not_a_product_version() {
        check::all_unrecognised(
            [
                "",
                "14",
                "14.",
                ".4",
                "14.4.1.2",
                "14.4.1 (a)",
                "14.4b",
                "v14.4",
                "1000.0",
                "14.4\n14.4",
                "ProductVersion:\t14.4",
            ],
            |s| parse_product_version(&ok(s)),
        );
    }

    #[test]
    fn builds_are_number_letter_number_and_an_optional_suffix() {
        read_as_printed(
            parse_build_version,
            &[
                "23E224",
                "17A405",
                "25A354",
                "22E772610a",
                "25A5279m",
                "19H2",
            ],
        );
    }

    #[test]
    fn anything_else_is_not_a_build() {
        check::all_unrecognised(
            [
                "",
                "23",
                "23E",
                "E224",
                "23e224",
                "23E224ab",
                "23E224A",
                "23EE224",
                "23E 224",
                "1234A1",
                "23E12345678",
                "23E224\n23E224",
            ],
            |s| parse_build_version(&ok(s)),
        );
    }

    #[test]
    fn a_failed_or_noisy_call_is_not_a_version() {
        assert!(parse_product_version(&Output::new(1, "14.4\n", "")).is_err());
        assert!(parse_product_version(&Output::new(0, "14.4\n", "warning")).is_err());
        assert!(parse_build_version(&Output::new(77, "23E224\n", "")).is_err());
        assert!(parse_build_version(&check::killed(9, "23E224\n", "")).is_err());
    }

    #[tokio::test]
    async fn the_queries_ask_sw_vers_for_one_field_each() {
        let mut fake = FakeRunner::new();
        fake.answer(&product_version_call(), ok("14.4.1\n"))
            .answer(&build_version_call(), ok("23E224\n"));
        assert_eq!(product_version(&fake).await, Ok("14.4.1".to_owned()));
        assert_eq!(build_version(&fake).await, Ok("23E224".to_owned()));
        assert_eq!(
            product_version_call().argv(),
            ["/usr/bin/sw_vers", "-productVersion"]
        );
        assert_eq!(
            build_version_call().argv(),
            ["/usr/bin/sw_vers", "-buildVersion"]
        );
    }

    proptest! {
        #[test]
        fn no_sw_vers_parser_panics_on_any_output(o in arbitrary::output()) {
            let _ = parse_product_version(&o);
            let _ = parse_build_version(&o);
        }

        #[test]
        fn no_sw_vers_parser_panics_on_short_ascii(s in "[0-9A-Za-z. \n]{0,12}") {
            let _ = parse_product_version(&ok(&s));
            let _ = parse_build_version(&ok(&s));
        }
    }
}
