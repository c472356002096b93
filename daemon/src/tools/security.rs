//! `/usr/bin/security authorizationdb read RIGHT`: the login mechanisms (is Escrow Buddy's
//! mechanism still registered after a macOS update?). Read only: the database is never edited.
//!
//! Owns the argv, the parser of the right's `mechanisms` array and its query. What a missing
//! mechanism means (`EscrowBuddyMechanismMissing`) is decided in `status`. What the tool prints is
//! known from its source: apple-open-source/macos Security/SecurityTool/macOS/authz.c
//! (`authorizationdb`): `read` writes the right as an XML plist to stdout
//! (`CFPropertyListCreateXMLData`), then `YES (0)` or `NO (<OSStatus>)` to stderr
//! (`fprintf(stderr, "%s (%d)\n", status ? "NO" : "YES", status)`), and returns -1 (exit 255) on
//! failure. A published terminal transcript shows the plist followed by `YES (0)`, and every
//! script reads the plist from stdout alone (macadmins/escrow-buddy `Escrow Buddy/Utility/
//! AuthDBSetup.sh`: `security authorizationdb read system.login.console > "$AUTH_DB"`, then
//! PlistBuddy on that file; its Jamf extension attribute adds `2>/dev/null`).

use crate::paths::Tool;
use crate::runner::{Call, Exit, Output, Runner};

use super::{query, text, xml_plist_answer, ParseError, ProbeError};

pub(crate) const LOGIN_RIGHT: &str = "system.login.console";
/// Escrow Buddy's mechanism, as its installer adds it before `loginwindow:done`
/// (macadmins/escrow-buddy `Escrow Buddy/Utility/AuthDBSetup.sh`).
pub const ESCROW_BUDDY_MECHANISM: &str = "Escrow Buddy:Invoke,privileged";

pub(crate) fn authorizationdb_read_call(right: &str) -> Call {
    Call::tool(Tool::Security, &["authorizationdb", "read", right])
}

/// The `mechanisms` array of the right.
///
/// Success is exit 0, an XML plist dict on stdout whose `mechanisms` is an array of strings, and
/// stderr empty or `YES (0)`. `NO (N)` on stderr is `Reported` with that line (the tool says
/// nothing more). A right without `mechanisms`, a mechanism that is not a string, or any other
/// stderr text is `Unrecognised`: an empty list would read as "Escrow Buddy's mechanism is gone".
pub fn parse_mechanisms(out: &Output) -> Result<Vec<String>, ParseError> {
    if let Exit::Signal(_) = out.exit {
        return Err(ParseError::unrecognised(out));
    }
    let stderr = text(&out.stderr);
    // An empty stderr is accepted too: authz.c leaves the status line out under `-q`
    // (`do_quiet`); Keywarden never passes it, but its absence alone is no failure when the exit
    // code and the plist are clean.
    for line in stderr.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match status_line(line) {
            Some(0) => {}
            Some(_) => return Err(ParseError::reported(out, line)),
            None => return Err(ParseError::unrecognised(out)),
        }
    }
    let value = xml_plist_answer(out)?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| ParseError::malformed(out, "the right is not a dictionary"))?;
    let mechanisms = dict
        .get("mechanisms")
        .ok_or_else(|| ParseError::malformed(out, "the right has no mechanisms"))?
        .as_array()
        .ok_or_else(|| ParseError::malformed(out, "mechanisms is not an array"))?;
    mechanisms
        .iter()
        .map(|m| {
            m.as_string()
                .map(str::to_owned)
                .ok_or_else(|| ParseError::malformed(out, "a mechanism is not a string"))
        })
        .collect()
}

pub(crate) async fn login_mechanisms(r: &impl Runner) -> Result<Vec<String>, ProbeError> {
    query(r, &authorizationdb_read_call(LOGIN_RIGHT), parse_mechanisms).await
}

/// `YES (0)` → `Some(0)`, `NO (-60005)` → `Some(-60005)`, anything else `None`.
fn status_line(line: &str) -> Option<i64> {
    let (word, rest) = line.split_once(' ')?;
    let code: i64 = rest.strip_prefix('(')?.strip_suffix(')')?.parse().ok()?;
    match (word, code) {
        ("YES", 0) => Some(0),
        ("NO", c) if c != 0 => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::check;
    use crate::tools::fake::FakeRunner;

    fn right(mechanisms: &[&str]) -> String {
        let items: String = mechanisms
            .iter()
            .map(|m| format!("\t\t<string>{m}</string>\n"))
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n<dict>\n\t<key>class</key>\n\t<string>evaluate-mechanisms</string>\n\
             \t<key>mechanisms</key>\n\t<array>\n{items}\t</array>\n\t<key>tries</key>\n\t<integer>10000</integer>\n</dict>\n</plist>\n"
        )
    }

    #[test]
    fn the_call_reads_the_login_right() {
        assert_eq!(
            authorizationdb_read_call(LOGIN_RIGHT).argv(),
            [
                "/usr/bin/security",
                "authorizationdb",
                "read",
                "system.login.console"
            ]
        );
    }

    #[test]
    fn the_mechanisms_are_returned_in_order() {
        let out = Output::new(
            0,
            right(&[
                "builtin:policy-banner",
                "loginwindow:login",
                ESCROW_BUDDY_MECHANISM,
                "loginwindow:done",
            ]),
            "YES (0)\n",
        );
        assert_eq!(
            parse_mechanisms(&out).unwrap(),
            [
                "builtin:policy-banner",
                "loginwindow:login",
                ESCROW_BUDDY_MECHANISM,
                "loginwindow:done"
            ]
        );
    }

    #[test]
    fn a_clean_read_without_the_status_line_is_accepted() {
        let out = Output::new(0, right(&["loginwindow:login"]), "");
        assert_eq!(parse_mechanisms(&out).unwrap(), ["loginwindow:login"]);
    }

    #[test]
    fn no_with_a_status_is_reported() {
        let out = Output::new(255, "", "NO (-60005)\n");
        assert_eq!(
            parse_mechanisms(&out),
            Err(ParseError::Reported {
                exit: Exit::Code(255),
                message: "NO (-60005)".into()
            })
        );
    }

    #[test]
    fn other_stderr_a_failed_exit_or_a_missing_plist_is_unrecognised() {
        let good = right(&["loginwindow:login"]);
        check::all_unrecognised(
            [
                Output::new(0, good.clone(), "warning\n"),
                Output::new(0, good.clone(), "YES (1)\n"),
                Output::new(0, good.clone(), "NO (0)\n"),
                Output::new(255, good, "YES (0)\n"),
                Output::new(0, "", "YES (0)\n"),
                Output::new(0, "<?xml version=\"1.0\"?><plist><dict>", ""),
            ],
            parse_mechanisms,
        );
    }

    #[test]
    fn a_right_without_a_mechanisms_array_of_strings_is_unrecognised() {
        let no_mechs = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>class</key><string>rule</string></dict></plist>";
        let not_array = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>mechanisms</key><string>x</string></dict></plist>";
        let not_string = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>mechanisms</key><array><integer>1</integer></array></dict></plist>";
        let not_dict = "<?xml version=\"1.0\"?><plist version=\"1.0\"><array/></plist>";
        check::all_unrecognised([no_mechs, not_array, not_string, not_dict], |s| {
            parse_mechanisms(&Output::new(0, *s, "YES (0)\n"))
        });
    }

    #[test]
    fn a_killed_security_is_unrecognised() {
        let out = check::killed(9, right(&["loginwindow:login"]), "");
        check::unrecognised(parse_mechanisms(&out));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_query_reads_the_login_right() {
        let mut fake = FakeRunner::new();
        fake.answer(
            &authorizationdb_read_call(LOGIN_RIGHT),
            Output::new(0, right(&[ESCROW_BUDDY_MECHANISM]), "YES (0)\n"),
        );
        assert_eq!(
            login_mechanisms(&fake).await.unwrap(),
            [ESCROW_BUDDY_MECHANISM]
        );
    }

    mod properties {
        use super::*;
        use crate::tools::arbitrary;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_output_never_panics(out in arbitrary::output()) {
                let _ = parse_mechanisms(&out);
            }

            #[test]
            fn a_cut_plist_never_panics(
                stdout in arbitrary::cut(right(&["builtin:policy-banner", ESCROW_BUDDY_MECHANISM])),
            ) {
                let _ = parse_mechanisms(&Output::new(0, stdout, "YES (0)\n"));
            }
        }
    }
}
