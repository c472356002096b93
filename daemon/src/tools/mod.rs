//! One module per macOS tool: argv builders, pure parsers over the whole output (stdout, stderr,
//! exit code) and a short query function that glues them to the runner.
//!
//! This file holds what they share: the parse error (a recognised failure message, or an excerpt
//! of output we do not recognise: never a guessed value), the probe error that adds the call, the
//! excerpt rule, the reading of an XML plist answer, and `query`, the glue; and for their tests,
//! the fake runner (`fake`), the shared assertions (`check`) and the arbitrary outputs of their
//! properties (`arbitrary`). Evidence for every wording a parser accepts is cited next to it and
//! collected in `docs/tool-behavior.md`. Nothing here decides what an answer means for the Mac
//! (see `observe` and `status`).

pub mod defaults;
pub mod diskutil;
pub mod dscl;
pub mod escrow_blob;
pub mod fdesetup;
pub mod profiles;
pub mod security;
pub mod sw_vers;
pub mod sysadminctl;
pub mod sysctl;

use crate::runner::{Call, Exit, Output, RunError, Runner};
use crate::text::excerpt;

/// Why a parser could not turn an output into a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The tool reported a failure in words we recognise (`Unknown user`, `Error: ... (-69594).`).
    /// `message` is the tool's own line, trimmed of prefixes such as NSLog timestamps.
    #[error("{message} ({exit})")]
    Reported { exit: Exit, message: String },
    /// Output we do not recognise. Never a guess: an excerpt for the admin to read.
    #[error("unrecognised output ({exit}): {excerpt}")]
    Unrecognised { exit: Exit, excerpt: String },
}

impl ParseError {
    /// An unrecognised-output error with an excerpt of the most telling stream (stderr when it
    /// has text, else stdout).
    pub(crate) fn unrecognised(out: &Output) -> ParseError {
        let stream = if String::from_utf8_lossy(&out.stderr).trim().is_empty() {
            &out.stdout
        } else {
            &out.stderr
        };
        ParseError::Unrecognised {
            exit: out.exit,
            excerpt: excerpt(stream),
        }
    }

    /// An unrecognised-output error whose excerpt is our description of what is wrong (a key
    /// missing from a plist, the one line that was not understood): more telling than the start
    /// of the output.
    pub(crate) fn malformed(out: &Output, what: &str) -> ParseError {
        ParseError::Unrecognised {
            exit: out.exit,
            excerpt: excerpt(what.as_bytes()),
        }
    }

    /// The tool's own failure line, shown as an excerpt: it reaches the status and terminals, so
    /// it is one printable line of at most `EXCERPT_CHARS` (a real `sysadminctl` line is 218
    /// characters, corpus `mac-admin-4`; found by `make fuzz`, issue 6).
    pub(crate) fn reported(out: &Output, message: &str) -> ParseError {
        ParseError::Reported {
            exit: out.exit,
            message: excerpt(message.as_bytes()),
        }
    }
}

/// What a probe observed, or why it could not.
pub type Probe<T> = Result<T, ProbeError>;

/// The console user, as the owner of `/dev/console` (`observe::console_owner` reads it; the
/// rule of who that is, `guards::at_console`, reads it with the user records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Console {
    /// Absent, or owned by root: nobody is logged in.
    Nobody,
    Uid(u32),
}

/// Why a probe has no value: the call could not run, or its output did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The tool could not be run to completion (missing, could not start, timed out).
    #[error("{call}: {message}")]
    Run {
        call: String,
        kind: RunFailure,
        message: String,
    },
    /// More output than the runner keeps: refusing to parse a cut-off answer.
    #[error("{call}: printed more than the {cap_kib} KiB that is kept; output ignored")]
    Truncated { call: String, cap_kib: usize },
    #[error("{call}: {source}")]
    Parse { call: String, source: ParseError },
    /// A file Keywarden reads itself (not through a tool) could not be read or checked.
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// The kind of a run failure, for tests and for the doctor's advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFailure {
    Missing,
    Spawn,
    TimedOut,
    Io,
}

impl ProbeError {
    pub(crate) fn from_run(call: &Call, err: &RunError) -> ProbeError {
        let kind = match err {
            RunError::Missing { .. } => RunFailure::Missing,
            RunError::Spawn { .. } | RunError::Untrusted { .. } => RunFailure::Spawn,
            RunError::TimedOut { .. } => RunFailure::TimedOut,
            RunError::Io(_) => RunFailure::Io,
        };
        ProbeError::Run {
            call: call.display(),
            kind,
            message: err.to_string(),
        }
    }

    pub fn parse(call: &Call, source: ParseError) -> ProbeError {
        ProbeError::Parse {
            call: call.display(),
            source,
        }
    }
}

/// Run `call` and parse its whole output with `parse`. Output beyond the runner's cap is an
/// error, never parsed: a cut plist or list could read as a smaller, wrong answer.
pub(crate) async fn query<R: Runner, T>(
    runner: &R,
    call: &Call,
    parse: impl FnOnce(&Output) -> Result<T, ParseError>,
) -> Result<T, ProbeError> {
    let out = runner
        .run(call)
        .await
        .map_err(|e| ProbeError::from_run(call, &e))?;
    if out.truncated {
        return Err(ProbeError::Truncated {
            call: call.display(),
            cap_kib: out.stdout.len().max(out.stderr.len()) / 1024,
        });
    }
    parse(&out).map_err(|e| ProbeError::parse(call, e))
}

/// The text of a stream with invalid UTF-8 replaced (parsers match on ASCII wording).
pub(crate) fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Tool plists may be preceded by other text (TOOLCHAIN.md): parse from the first `<?xml` (or
/// `<plist`) on. Returns `None` when there is no XML plist at all.
pub(crate) fn xml_plist_start(bytes: &[u8]) -> Option<&[u8]> {
    let find = |needle: &[u8]| bytes.windows(needle.len()).position(|w| w == needle);
    let start = find(b"<?xml").or_else(|| find(b"<plist"))?;
    let xml = &bytes[start..];
    // And up to the end of its last `</plist>`: a tool may print a note after it (issue 14,
    // item 6), which the XML reader would refuse as trailing content.
    const END: &[u8] = b"</plist>";
    let end = xml
        .windows(END.len())
        .rposition(|w| w == END)
        .map_or(xml.len(), |at| at + END.len());
    Some(&xml[..end])
}

/// The plist `xml` (found in `out` by `xml_plist_start`); one that does not read is
/// `Unrecognised` with the reader's complaint.
pub(crate) fn read_xml_plist(out: &Output, xml: &[u8]) -> Result<plist::Value, ParseError> {
    plist::Value::from_reader_xml(xml)
        .map_err(|e| ParseError::malformed(out, &format!("not a plist ({e})")))
}

/// The XML plist of a successful call: exit 0 and a plist on stdout, else `Unrecognised`.
pub(crate) fn xml_plist_answer(out: &Output) -> Result<plist::Value, ParseError> {
    if !out.exit.success() {
        return Err(ParseError::unrecognised(out));
    }
    match xml_plist_start(&out.stdout) {
        Some(xml) => read_xml_plist(out, xml),
        None => Err(ParseError::unrecognised(out)),
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A fake runner keyed by the full argv that fails loudly on any call it was not told about
    //! (STYLE.md: Crypt's mock answered the same whatever was asked).

    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;
    use crate::runner::SecretOutput;
    use crate::secret::Secret;

    #[derive(Default)]
    pub(crate) struct FakeRunner {
        answers: HashMap<Vec<String>, Result<Output, FakeFailure>>,
        pub calls: RefCell<Vec<Vec<String>>>,
    }

    #[derive(Clone, Copy, Debug)]
    pub(crate) enum FakeFailure {
        Missing,
        TimedOut,
    }

    impl FakeRunner {
        pub(crate) fn new() -> FakeRunner {
            FakeRunner::default()
        }

        pub(crate) fn answer(&mut self, call: &Call, out: Output) -> &mut Self {
            self.answers.insert(call.argv(), Ok(out));
            self
        }

        pub(crate) fn fail(&mut self, call: &Call, failure: FakeFailure) -> &mut Self {
            self.answers.insert(call.argv(), Err(failure));
            self
        }

        pub(crate) fn called(&self, call: &Call) -> usize {
            let argv = call.argv();
            self.calls.borrow().iter().filter(|c| **c == argv).count()
        }
    }

    impl Runner for FakeRunner {
        async fn run(&self, call: &Call) -> Result<Output, RunError> {
            let argv = call.argv();
            self.calls.borrow_mut().push(argv.clone());
            match self.answers.get(&argv) {
                Some(Ok(out)) => Ok(out.clone()),
                Some(Err(FakeFailure::Missing)) => Err(RunError::Missing {
                    path: call.program.clone(),
                }),
                Some(Err(FakeFailure::TimedOut)) => Err(RunError::TimedOut {
                    after: call.timeout.unwrap_or(std::time::Duration::from_secs(30)),
                }),
                None => panic!("FakeRunner: unexpected call {argv:?}"),
            }
        }

        async fn run_secret(&self, call: &Call, _stdin: &Secret) -> Result<SecretOutput, RunError> {
            let out = self.run(call).await?;
            Ok(SecretOutput {
                exit: out.exit,
                stdout: Secret::new(out.stdout),
                stderr: Secret::new(out.stderr),
                truncated: out.truncated,
            })
        }
    }
}

#[cfg(test)]
pub(crate) mod check {
    //! What the tool modules' tests share besides the fake runner: the assertion that a parser
    //! refused an output as unrecognised (once, or for every case of a table, naming the case
    //! that was not), and the output of a killed tool, which `Output::new` cannot build.

    use std::fmt::Debug;

    use super::ParseError;
    use crate::runner::{Exit, Output};

    /// Asserts that `r` is `Unrecognised`: neither a value nor a failure in the tool's words.
    #[track_caller]
    pub(crate) fn unrecognised<T: Debug>(r: Result<T, ParseError>) {
        assert!(
            matches!(r, Err(ParseError::Unrecognised { .. })),
            "not unrecognised: {r:?}"
        );
    }

    /// Asserts that `parse` finds every one of `cases` unrecognised.
    #[track_caller]
    pub(crate) fn all_unrecognised<C: Debug, T: Debug>(
        cases: impl IntoIterator<Item = C>,
        parse: impl Fn(&C) -> Result<T, ParseError>,
    ) {
        for case in cases {
            let r = parse(&case);
            assert!(
                matches!(r, Err(ParseError::Unrecognised { .. })),
                "{case:?}: not unrecognised: {r:?}"
            );
        }
    }

    /// A tool killed by `signal` after printing `stdout` and `stderr`.
    pub(crate) fn killed(
        signal: i32,
        stdout: impl Into<Vec<u8>>,
        stderr: impl Into<Vec<u8>>,
    ) -> Output {
        Output {
            exit: Exit::Signal(signal),
            ..Output::new(0, stdout, stderr)
        }
    }
}

#[cfg(test)]
pub(crate) mod arbitrary {
    //! The outputs the tool modules' properties ("never panics", "never leaks") draw from: any
    //! output at all; lines seeded with a module's own wordings, so the search reaches the
    //! branches behind them; and a well-formed document cut anywhere, as a capped or killed tool
    //! leaves it.

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::strategy::Union;

    use crate::runner::{Exit, Output};

    /// Any output: an exit code (0, 1 and 2 as likely as all the others together, since most
    /// parsers read the rest only after a success) or a signal, up to 400 bytes of stdout and
    /// 300 of stderr, cut off by the runner or not.
    pub(crate) fn output() -> impl Strategy<Value = Output> {
        let exit = prop_oneof![
            (0..3).prop_map(Exit::Code),
            any::<i32>().prop_map(Exit::Code),
            any::<i32>().prop_map(Exit::Signal),
        ];
        (
            exit,
            vec(any::<u8>(), 0..400),
            vec(any::<u8>(), 0..300),
            any::<bool>(),
        )
            .prop_map(|(exit, stdout, stderr, truncated)| Output {
                exit,
                stdout,
                stderr,
                truncated,
            })
    }

    /// Fewer than `most` lines, each ending in a newline; each line is one of `wordings` or a
    /// match of one of the regular expressions `patterns`, all of them equally likely.
    pub(crate) fn lines(
        wordings: &[&str],
        patterns: &[&str],
        most: usize,
    ) -> impl Strategy<Value = String> {
        let wordings = wordings.iter().map(|w| Just(w.to_string()).boxed());
        let patterns = patterns.iter().map(|p| {
            proptest::string::string_regex(p)
                .expect("a test's pattern is a valid regular expression")
                .boxed()
        });
        let line = Union::new(wordings.chain(patterns));
        vec(line, 0..most).prop_map(|lines| lines.iter().map(|l| format!("{l}\n")).collect())
    }

    /// `full` whole half of the time, else cut after any of its bytes.
    pub(crate) fn cut(full: String) -> impl Strategy<Value = Vec<u8>> {
        let len = full.len();
        prop_oneof![Just(len), 0..=len].prop_map(move |at| full.as_bytes()[..at].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_line_is_one_printable_line_of_bounded_length() {
        let out = Output {
            exit: Exit::Code(1),
            stdout: Vec::new(),
            stderr: Vec::new(),
            truncated: false,
        };
        let long = format!("Error: {}\x1b[31m", "y".repeat(400));
        let ParseError::Reported { message, .. } = ParseError::reported(&out, &long) else {
            panic!("not reported")
        };
        assert!(message.starts_with("Error: yyy"));
        assert!(message.chars().count() <= crate::text::EXCERPT_CHARS + 1);
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }

    #[test]
    fn a_plist_is_found_after_leading_noise() {
        assert_eq!(
            xml_plist_start(b"noise\n<?xml version"),
            Some(&b"<?xml version"[..])
        );
        assert_eq!(xml_plist_start(b"no plist here"), None);
    }
}
