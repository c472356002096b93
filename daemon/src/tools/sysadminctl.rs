//! `/usr/sbin/sysadminctl -secureTokenStatus NAME`: does a user hold a SecureToken.
//!
//! Owns the argv, the parser of the answer and the NSLog-prefix rule that `defaults` shares.
//! sysadminctl answers on stderr through NSLog (`2021-01-14 18:17:47.414 sysadminctl[96836:904874]
//! Secure token is ENABLED for user ec2-user`); error lines may come first; the name it prints may
//! be the RealName with spaces, so it is never parsed; the exit code says nothing (0 on failures,
//! 255 seen), so it is never read as an answer (PLATFORM.md, corpus/PATTERNS.md "sysadminctl").
//! Whether a user *should* hold a token is decided elsewhere (`observe`, `decide`).

use crate::paths::Tool;
use crate::runner::{Call, Exit, Output, Runner};

use super::{query, text, ParseError, ProbeError};

pub(crate) fn secure_token_status_call(user: &str) -> Call {
    Call::tool(Tool::Sysadminctl, &["-secureTokenStatus", user]).with_user_arg(1)
}

/// `true` for `Secure token is ENABLED`, `false` for `DISABLED` (answer on stderr).
///
/// The answer is read from stderr, and from stdout only for callers that merged the streams; the
/// two may not disagree. Any other line is tolerated next to an answer (error lines may come
/// first, PLATFORM.md), except `Unknown user`, which contradicts one. Without an answer, the first
/// failure line we recognise is `Reported` (stderr before stdout), anything else `Unrecognised`.
pub fn parse_secure_token_status(out: &Output) -> Result<bool, ParseError> {
    // A killed sysadminctl may have been cut before its answer: never read it.
    if let Exit::Signal(_) = out.exit {
        return Err(ParseError::unrecognised(out));
    }
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    let err_lines: Vec<Message<'_>> = messages(&stderr).map(classify).collect();
    let out_lines: Vec<Message<'_>> = messages(&stdout).map(classify).collect();

    let err_answer = answer_of(&err_lines).map_err(|()| ParseError::unrecognised(out))?;
    let out_answer = answer_of(&out_lines).map_err(|()| ParseError::unrecognised(out))?;
    let unknown_user = err_lines
        .iter()
        .chain(out_lines.iter())
        .any(|m| matches!(m, Message::UnknownUser(_)));

    let answer = match (err_answer, out_answer) {
        (Some(a), Some(b)) if a != b => return Err(ParseError::unrecognised(out)),
        (Some(a), _) | (None, Some(a)) => Some(a),
        (None, None) => None,
    };
    match answer {
        // `Unknown user` next to an answer: the output contradicts itself.
        Some(_) if unknown_user => Err(ParseError::unrecognised(out)),
        Some(a) => Ok(a),
        None => {
            let failure = err_lines
                .iter()
                .chain(out_lines.iter())
                .find_map(|m| match m {
                    Message::UnknownUser(line) | Message::Failure(line) => Some(*line),
                    Message::Answer(_) | Message::Noise | Message::Other => None,
                });
            match failure {
                Some(line) => Err(ParseError::reported(out, line)),
                None => Err(ParseError::unrecognised(out)),
            }
        }
    }
}

pub(crate) async fn secure_token_status(r: &impl Runner, user: &str) -> Result<bool, ProbeError> {
    query(
        r,
        &secure_token_status_call(user),
        parse_secure_token_status,
    )
    .await
}

/// One line of a tool that logs through NSLog, split into the process name and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsLogLine<'a> {
    pub process: &'a str,
    pub message: &'a str,
}

/// Splits `YYYY-MM-DD HH:MM:SS.mmm process[pid:tid] message` into process and message.
///
/// `None` when the line has no NSLog prefix: continuation lines of a multi-line message carry
/// none (corpus sysadminctl-usage/kcpassword-5-2024-usage-PARTIAL.txt). The message may be empty:
/// `defaults` prints its prefix alone and the message on the next line (0xmachos/mOSL#24:
/// `2019-09-01 12:04:08.950 defaults[736:8108] ` followed by `The domain/default pair of (...)
/// does not exist`). The thread id is decimal in every sample;
/// hex digits are accepted because older NSLog printed it in hex (pattern only, unverified).
pub fn strip_nslog_prefix(line: &str) -> Option<NsLogLine<'_>> {
    // `2021-01-14 18:17:47.414 `, each `d` a digit.
    const DATE_TIME: &[u8] = b"dddd-dd-dd dd:dd:dd.ddd ";
    let b = line.as_bytes();
    let date_time = b.len() >= DATE_TIME.len()
        && b.iter().zip(DATE_TIME).all(|(c, want)| match want {
            b'd' => c.is_ascii_digit(),
            _ => c == want,
        });
    if !date_time {
        return None;
    }
    // `sysadminctl[96836:904874]`; all indices below are at ASCII bytes, so slicing is safe.
    let rest = &line[DATE_TIME.len()..];
    let open = rest.find('[')?;
    let process = &rest[..open];
    if process.is_empty() || process.contains(char::is_whitespace) {
        return None;
    }
    let close = open + rest[open..].find(']')?;
    let (pid, tid) = rest[open + 1..close].split_once(':')?;
    let pid_ok = !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit());
    let tid_ok = !tid.is_empty() && tid.bytes().all(|c| c.is_ascii_hexdigit());
    if !pid_ok || !tid_ok {
        return None;
    }
    let after = &rest[close + 1..];
    let message = match after.strip_prefix(' ') {
        Some(m) => m,
        None if after.trim().is_empty() => "",
        None => return None,
    };
    Some(NsLogLine {
        process,
        message: message.trim_end(),
    })
}

/// The non-empty messages of a stream: NSLog prefixes stripped, continuation lines kept as they
/// are (trimmed). `defaults` reads its stderr the same way.
pub(crate) fn messages(stream: &str) -> impl Iterator<Item = &str> {
    stream
        .lines()
        .map(|line| match strip_nslog_prefix(line) {
            Some(l) => l.message.trim(),
            None => line.trim(),
        })
        .filter(|m| !m.is_empty())
}

/// What one message of sysadminctl says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message<'a> {
    Answer(bool),
    /// `Unknown user NAME`: an error, never "disabled".
    UnknownUser(&'a str),
    /// A failure sysadminctl printed in words we recognise.
    Failure(&'a str),
    /// Printed before successful operations too: neither answer nor failure.
    Noise,
    Other,
}

/// `Secure token is ENABLED for user NAME`: corpus sysadminctl-securetokenstatus (all four files,
/// 2021 and 26.6); the name after `for user` is never read (26.6 prints the RealName).
const ENABLED: &str = "Secure token is ENABLED for user";
/// `Secure token is DISABLED for user NAME`: same corpus directory.
const DISABLED: &str = "Secure token is DISABLED for user";
/// `Unknown user nosuchuser`: PATTERNS.md "sysadminctl" (26.6 fixture; `Unknown user` substring in
/// microsoft/shell-intune-samples macOS/Config/Bootstrap Token/fixBootstrapToken.sh).
const UNKNOWN_USER: &str = "Unknown user";

/// Failure wordings, each the start of a message, each from a real sample.
const FAILURES: &[&str] = &[
    // corpus sysadminctl-errors/macos-cookbook-32-10.13-failed-to-authenticate-exit255.txt (exit
    // 255); reported for -secureTokenStatus itself in rdar 36027180 (PATTERNS.md).
    "Failed to authenticate with SystemAdministration framework",
    // corpus sysadminctl-errors/mac-admin-4-10.13.6-not-root-interactive.txt
    "sysadminctl should be run as root",
    // corpus sysadminctl-errors/macoslaps-readme-2023-resetpassword-not-permitted.txt
    "Operation is not permitted without secure token unlock",
    // corpus sysadminctl-errors/maclaps-16-2023-adduser-no-cleartext-password-5402.txt
    "New account password error.",
    // corpus sysadminctl-usage/kcpassword-5-2024-usage-PARTIAL.txt: usage means a bad call.
    "Usage: sysadminctl",
];

/// Lines that precede successful operations too (corpus
/// sysadminctl-errors/maclaps-16-2023-adduser-no-cleartext-password-5402.txt: the banner between
/// dashed lines is a warning, the failure is the `(5402)` line after it).
const NOISE: &[&str] = &["No clear text password or interactive option was specified"];

fn classify(message: &str) -> Message<'_> {
    let answer_prefix = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    };
    if answer_prefix(ENABLED) {
        Message::Answer(true)
    } else if answer_prefix(DISABLED) {
        Message::Answer(false)
    } else if message.starts_with(UNKNOWN_USER) {
        Message::UnknownUser(message)
    } else if FAILURES.iter().any(|f| message.starts_with(f)) {
        Message::Failure(message)
    } else if NOISE.iter().any(|n| message.starts_with(n)) || message.bytes().all(|c| c == b'-') {
        Message::Noise
    } else {
        Message::Other
    }
}

/// The one answer of a stream; `Err` when it says both ENABLED and DISABLED.
fn answer_of(lines: &[Message<'_>]) -> Result<Option<bool>, ()> {
    let mut answer = None;
    for m in lines {
        if let Message::Answer(a) = m {
            match answer {
                Some(prev) if prev != *a => return Err(()),
                _ => answer = Some(*a),
            }
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::check;
    use crate::tools::fake::{FakeFailure, FakeRunner};

    const ENABLED_LINE: &str =
        "2021-01-14 19:21:55.854 sysadminctl[14193:181530] Secure token is ENABLED for user ec2-user\n";
    const DISABLED_LINE: &str =
        "2021-01-14 18:17:47.414 sysadminctl[96836:904874] Secure token is DISABLED for user ec2-user\n";

    fn stderr(code: i32, s: &str) -> Output {
        Output::new(code, Vec::new(), s.as_bytes().to_vec())
    }

    /// The answer to `s` printed on stderr with exit `code`.
    fn on_stderr(code: i32, s: &str) -> Result<bool, ParseError> {
        parse_secure_token_status(&stderr(code, s))
    }

    #[test]
    fn the_call_is_secure_token_status_with_the_short_name() {
        assert_eq!(
            secure_token_status_call("ann").argv(),
            ["/usr/sbin/sysadminctl", "-secureTokenStatus", "ann"]
        );
    }

    #[test]
    fn enabled_on_stderr_is_a_token() {
        assert_eq!(on_stderr(0, ENABLED_LINE), Ok(true));
    }

    #[test]
    fn disabled_on_stderr_is_no_token() {
        assert_eq!(on_stderr(0, DISABLED_LINE), Ok(false));
    }

    #[test]
    fn a_real_name_with_spaces_is_never_parsed() {
        let s = "2026-09-23 10:10:38.619 sysadminctl[1053:11513] Secure token is ENABLED for user Tuist Runner Operator\n";
        assert_eq!(on_stderr(0, s), Ok(true));
        // A name that itself reads like an answer cannot flip it: only the start of the message counts.
        let s = "2026-09-23 10:10:38.619 sysadminctl[1053:11513] Secure token is ENABLED for user Secure token is DISABLED for user\n";
        assert_eq!(on_stderr(0, s), Ok(true));
    }

    #[test]
    fn the_exit_code_says_nothing() {
        assert_eq!(on_stderr(255, ENABLED_LINE), Ok(true));
        assert_eq!(on_stderr(1, DISABLED_LINE), Ok(false));
    }

    #[test]
    fn unknown_user_is_an_error_not_a_disabled_token() {
        let s = "2026-09-23 10:10:38.638 sysadminctl[1056:11522] Unknown user nosuchuser\n";
        assert_eq!(
            on_stderr(0, s),
            Err(ParseError::Reported {
                exit: Exit::Code(0),
                message: "Unknown user nosuchuser".into()
            })
        );
    }

    #[test]
    fn error_lines_before_the_answer_are_tolerated() {
        let s = format!(
            "2021-01-14 19:21:55.850 sysadminctl[14193:181530] Failed to authenticate with SystemAdministration framework.\n\
             2021-01-14 19:21:55.851 sysadminctl[14193:181530] something new Apple added\n{ENABLED_LINE}"
        );
        assert_eq!(on_stderr(0, &s), Ok(true));
    }

    #[test]
    fn the_answer_on_stdout_is_accepted_when_streams_were_merged() {
        let out = Output::new(0, ENABLED_LINE, "");
        assert_eq!(parse_secure_token_status(&out), Ok(true));
    }

    #[test]
    fn an_answer_without_the_nslog_prefix_is_accepted() {
        // chef's macos_user spec stubs it so (PATTERNS.md); only the wording matters.
        assert_eq!(
            on_stderr(0, "Secure token is ENABLED for user carl\n"),
            Ok(true)
        );
    }

    #[test]
    fn stderr_and_stdout_that_disagree_are_unrecognised() {
        let out = Output::new(0, DISABLED_LINE, ENABLED_LINE);
        check::unrecognised(parse_secure_token_status(&out));
    }

    #[test]
    fn both_answers_in_one_stream_are_unrecognised() {
        check::unrecognised(on_stderr(0, &format!("{ENABLED_LINE}{DISABLED_LINE}")));
    }

    #[test]
    fn an_answer_next_to_unknown_user_is_unrecognised() {
        let s = format!(
            "2026-09-23 10:10:38.638 sysadminctl[1056:11522] Unknown user x\n{ENABLED_LINE}"
        );
        check::unrecognised(on_stderr(0, &s));
    }

    #[test]
    fn the_first_recognised_failure_is_reported_after_the_warning_banner() {
        let s = "2023-12-19 15:35:50.243 sysadminctl[45965:953412] ----------------------------\n\
                 2023-12-19 15:35:50.244 sysadminctl[45965:953412] No clear text password or interactive option was specified (adduser, change/reset password will not allow user to use FDE) !\n\
                 2023-12-19 15:35:50.245 sysadminctl[45965:953412] ----------------------------\n\
                 2023-12-19 15:35:50.256 sysadminctl[45965:953412] New account password error.  (5402)\n";
        assert_eq!(
            on_stderr(0, s),
            Err(ParseError::Reported {
                exit: Exit::Code(0),
                message: "New account password error.  (5402)".into()
            })
        );
    }

    #[test]
    fn a_failure_on_stderr_is_reported_before_one_on_stdout() {
        let out = Output::new(
            0,
            "Usage: sysadminctl\n",
            "2018-01-25 11:17:50.480 sysadminctl[880:5142] Failed to authenticate with SystemAdministration framework.\n",
        );
        assert_eq!(
            parse_secure_token_status(&out),
            Err(ParseError::Reported {
                exit: Exit::Code(0),
                message: "Failed to authenticate with SystemAdministration framework.".into()
            })
        );
    }

    #[test]
    fn only_noise_or_nothing_is_unrecognised() {
        check::all_unrecognised(
            [
                "",
                "2023-12-19 15:35:50.243 sysadminctl[45965:953412] ----------------------------\n",
                "Secure token is enabled for user x\n",
                "Secure token is ENABLED for users\n",
            ],
            |s| on_stderr(0, s),
        );
    }

    #[test]
    fn a_killed_sysadminctl_is_unrecognised_even_with_an_answer() {
        let out = check::killed(9, "", ENABLED_LINE);
        check::unrecognised(parse_secure_token_status(&out));
    }

    #[test]
    fn invalid_utf8_never_panics() {
        let mut bytes = ENABLED_LINE.as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff\xfe\n");
        assert_eq!(
            parse_secure_token_status(&Output::new(0, Vec::new(), bytes)),
            Ok(true)
        );
    }

    #[test]
    fn nslog_prefixes_are_split_and_other_lines_left_alone() {
        for (line, process, message) in [
            (
                "2021-01-14 18:17:47.414 sysadminctl[96836:904874] Secure token",
                "sysadminctl",
                "Secure token",
            ),
            (
                "2022-07-04 14:43:51.299 defaults[50713:32971078]",
                "defaults",
                "",
            ),
            (
                "2015-08-20 11:44:23.212 defaults[1593:98737] ",
                "defaults",
                "",
            ),
            (
                "2011-01-01 00:00:00.000 x[12:a0f] hex thread id",
                "x",
                "hex thread id",
            ),
        ] {
            assert_eq!(
                strip_nslog_prefix(line),
                Some(NsLogLine { process, message }),
                "{line:?}"
            );
        }
        for line in [
            "\t-secureTokenStatus <user name>",
            "2021-01-14 18:17:47 sysadminctl[1:2] no millis",
            "2021-01-14 18:17:47.414 sysadminctl 96836:904874] x",
            "2021-01-14 18:17:47.414 sysadminctl[96836] x",
            "2021-01-14 18:17:47.414 sysadminctl[96836:904874]x",
            "2021-01-14 18:17:47.414 [1:2] empty process",
            "2021-01-14 18:17:47.414 sys[x:2] letters in pid",
            "é021-01-14 18:17:47.414 s[1:2] x",
            "",
        ] {
            assert_eq!(strip_nslog_prefix(line), None, "{line:?}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_query_runs_the_call_and_parses_its_output() {
        let mut fake = FakeRunner::new();
        fake.answer(&secure_token_status_call("ann"), stderr(0, ENABLED_LINE));
        fake.fail(&secure_token_status_call("bob"), FakeFailure::TimedOut);
        assert_eq!(secure_token_status(&fake, "ann").await, Ok(true));
        assert!(matches!(
            secure_token_status(&fake, "bob").await,
            Err(ProbeError::Run { .. })
        ));
    }

    mod properties {
        use super::*;
        use crate::tools::arbitrary;
        use proptest::prelude::*;

        /// Answers, a failure, usage and anything else, in any order.
        fn known_lines() -> impl Strategy<Value = String> {
            arbitrary::lines(
                &[
                    ENABLED_LINE.trim_end(),
                    DISABLED_LINE.trim_end(),
                    "2026-09-23 10:10:38.638 sysadminctl[1056:11522] Unknown user x",
                    "Usage: sysadminctl",
                ],
                &[".{0,40}"],
                6,
            )
        }

        proptest! {
            #[test]
            fn arbitrary_output_never_panics(out in arbitrary::output()) {
                let _ = parse_secure_token_status(&out);
            }

            #[test]
            fn mixes_of_known_lines_never_panic(
                s in known_lines(),
                code in any::<i32>(),
            ) {
                let _ = parse_secure_token_status(&Output::new(code, s.clone(), s));
            }
        }
    }
}
