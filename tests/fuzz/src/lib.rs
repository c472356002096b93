//! What the fuzz targets share: how a fuzz input becomes a tool's whole output (exit, stdout,
//! stderr), the invariants every parse error must keep, and a private root for the loaders that
//! read files.
//!
//! The input layout is a plain byte split, so that `seed.py` can write seeds from the fixtures
//! without knowing anything about `arbitrary`:
//!
//! ```text
//! [flags] [code] [len_hi] [len_lo] [stdout: len bytes] [stderr: the rest]
//! flags: bit 0 killed by signal `code`; bit 1 the exit code is -code; bit 2 truncated
//! ```
//!
//! A target that fuzzes several parsers of one tool puts one more byte in front: the parser
//! (`input % N`). Nothing here judges what a value means; each target asserts its own
//! invariants beyond "no panic".

use std::path::Path;
use std::sync::OnceLock;

use keywarden::paths::Root;
use keywarden::runner::{Call, Exit, Output, SecretOutput};
use keywarden::secret::Secret;
use keywarden::text::{printable, EXCERPT_CHARS};
use keywarden::tools::{ParseError, ProbeError};

/// A cursor over the fuzz input: missing bytes read as zero, so every input decodes.
pub struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes(data)
    }

    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// The parts of a tool's output, decoded from the layout above.
pub struct Parts<'a> {
    pub exit: Exit,
    pub truncated: bool,
    pub stdout: &'a [u8],
    pub stderr: &'a [u8],
}

pub fn parts<'a>(b: &mut Bytes<'a>) -> Parts<'a> {
    let flags = b.byte();
    let code = i32::from(b.byte());
    let exit = if flags & 1 != 0 {
        Exit::Signal(code)
    } else if flags & 2 != 0 {
        Exit::Code(-code)
    } else {
        Exit::Code(code)
    };
    let len = usize::from(b.u16());
    let stdout = b.take(len);
    let stderr = b.rest();
    Parts {
        exit,
        truncated: flags & 4 != 0,
        stdout,
        stderr,
    }
}

/// A public call's output.
pub fn output(b: &mut Bytes<'_>) -> Output {
    let p = parts(b);
    Output {
        exit: p.exit,
        stdout: p.stdout.to_vec(),
        stderr: p.stderr.to_vec(),
        truncated: p.truncated,
    }
}

/// A secret call's output, with `stdout`/`stderr` given (a target may plant a key in them).
pub fn secret_output(
    exit: Exit,
    truncated: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
) -> SecretOutput {
    SecretOutput {
        exit,
        stdout: Secret::new(stdout),
        stderr: Secret::new(stderr),
        truncated,
    }
}

/// Longest a parse error may be shown, counted as `quoted_chars` does: its longest fixed wording
/// (`unrecognised output (killed by signal N): `) plus one excerpt. A message longer than this
/// quotes more of the output than the excerpt rule allows.
pub const MAX_ERROR_CHARS: usize = 64 + EXCERPT_CHARS + 1;

/// How many characters of the output `s` quotes: `excerpt` shows a control character as an
/// escape (`\u{0}`, `\r`), which is one character of the output. (A literal backslash before
/// `r` or `u{` counts short; the bound is only the more lenient for it.)
pub fn quoted_chars(s: &str) -> usize {
    let mut n = 0;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        n += 1;
        let skip = if let Some(after) = rest.strip_prefix("\\u{") {
            after.find('}').map_or(1, |end| 4 + end)
        } else if rest.starts_with("\\r") {
            2
        } else {
            c.len_utf8()
        };
        rest = &rest[skip..];
    }
    n
}

/// Text a parser took from the output into an error: at most one excerpt of the output, on one
/// line, no control characters (it is shown on terminals and written to the status).
pub fn check_quoted(what: &str, s: &str) {
    let n = quoted_chars(s);
    assert!(
        n <= EXCERPT_CHARS + 1,
        "{what}: {n} characters quoted from the output, more than an excerpt ({}): {:?}…",
        EXCERPT_CHARS + 1,
        s.chars().take(80).collect::<String>()
    );
    assert!(
        !s.chars().any(char::is_control),
        "{what}: a control character is quoted from the output: {s:?}"
    );
}

/// The invariants of every `ParseError` of `out`, also shown as a `ProbeError` (how it reaches
/// the status): an `Unrecognised` excerpt keeps the excerpt rule; a `Reported` message is a line
/// the tool printed, never made up, and one line.
pub fn check_parse_error(parser: &str, out: &Output, e: &ParseError) {
    match e {
        ParseError::Unrecognised { excerpt, exit } => {
            check_quoted(parser, excerpt);
            assert_eq!(*exit, out.exit, "{parser}: the error names another exit");
        }
        ParseError::Reported { message, exit } => {
            assert_eq!(*exit, out.exit, "{parser}: the error names another exit");
            assert!(
                !message.trim().is_empty(),
                "{parser}: an empty reported message"
            );
            assert!(
                !message.contains('\n'),
                "{parser}: a reported message of several lines: {message:?}"
            );
            // Shown as an excerpt (issue 6, F1): the message is a piece of a line the tool
            // printed, as `printable` shows it, possibly cut with `…`; where it held a key's
            // shape, the marker stands instead (issue 15), so each piece around a marker was
            // printed.
            let shown = message.strip_suffix('…').unwrap_or(message);
            // The cut may fall inside a marker.
            let marker = keywarden::text::KEY_REMOVED;
            let shown = (1..marker.len())
                .rev()
                .filter(|&n| marker.is_char_boundary(n))
                .find_map(|n| shown.strip_suffix(&marker[..n]))
                .unwrap_or(shown);
            let printed = [&out.stdout, &out.stderr].iter().any(|s| {
                let printed = printable(&String::from_utf8_lossy(s), usize::MAX);
                shown
                    .split(keywarden::text::KEY_REMOVED)
                    .all(|piece| printed.contains(piece))
            });
            assert!(
                printed,
                "{parser}: reported {message:?}, which the tool did not print"
            );
            check_quoted(parser, message);
        }
    }
    let shown = e.to_string();
    let n = quoted_chars(&shown);
    assert!(
        n <= MAX_ERROR_CHARS,
        "{parser}: the error shows {n} characters: {shown:?}"
    );
    let call = Call::program("/usr/bin/tool", &["arg"]);
    let probe = ProbeError::parse(&call, e.clone()).to_string();
    assert!(
        quoted_chars(&probe) <= MAX_ERROR_CHARS + 20,
        "{parser}: {probe:?}"
    );
}

/// Run `parse` twice (it must be a pure function of the output) and check its error.
pub fn parse_checked<T: PartialEq + std::fmt::Debug>(
    parser: &str,
    parse: fn(&Output) -> Result<T, ParseError>,
    out: &Output,
) -> Result<T, ParseError> {
    let first = parse(out);
    let again = parse(out);
    assert_eq!(
        first, again,
        "{parser} is not a pure function of the output"
    );
    if let Err(e) = &first {
        check_parse_error(parser, out, e);
    }
    first
}

/// Trimmed text of a stream, as the parsers see it.
pub fn trimmed(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

pub fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// A private simulated root for this process (the loaders read and write real files), owned by
/// the current user, whom the loaders trust as the simulated root's owner. It is made in
/// `$FUZZ_TMPDIR` (`run.sh` sets one and removes it afterwards), else on tmpfs (`/dev/shm`) when
/// there is one, since a disk would slow every run. libFuzzer exits without running destructors:
/// outside `run.sh`, remove `keywarden-fuzz-*` there by hand.
pub fn private_root() -> &'static Root {
    static ROOT: OnceLock<(tempfile::TempDir, Root)> = OnceLock::new();
    &ROOT
        .get_or_init(|| {
            let parent = std::env::var_os("FUZZ_TMPDIR")
                .map(std::path::PathBuf::from)
                .or_else(|| Some(Path::new("/dev/shm").to_owned()).filter(|p| p.is_dir()))
                .unwrap_or_else(std::env::temp_dir);
            let dir = tempfile::Builder::new()
                .prefix("keywarden-fuzz-")
                .tempdir_in(parent)
                .expect("a temporary directory for the fuzz root");
            let root = Root::new(dir.path());
            (dir, root)
        })
        .1
}

/// Write `bytes` at `abs` under the root with `mode`, creating parents with `dir_mode`.
pub fn put_file(root: &Root, abs: &str, bytes: &[u8], mode: u32, dir_mode: u32) {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let path = root.resolve(abs);
    let parent = path.parent().expect("an absolute path has a parent");
    if !parent.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(dir_mode)
            .create(parent)
            .expect("create the parent directories");
    }
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(dir_mode))
        .expect("set the parent's mode");
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).expect("write the fuzz file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .expect("set the file's mode");
}

pub fn remove_file(root: &Root, abs: &str) {
    let _ = std::fs::remove_file(root.resolve(abs));
}

/// Seconds since the epoch from 4 input bytes, in 2000..2136: a plausible `now`.
pub fn now(b: &mut Bytes<'_>) -> jiff::Timestamp {
    let secs = u32::from_be_bytes([b.byte(), b.byte(), b.byte(), b.byte()]);
    jiff::Timestamp::from_second(946_684_800 + i64::from(secs)).expect("within jiff's range")
}

/// The effective configuration is within the documented ranges, whatever the files said.
pub fn check_config(c: &keywarden::config::Config) {
    let secs = |d: std::time::Duration| d.as_secs();
    assert!((300..=86_400).contains(&secs(c.check_interval)), "{c:?}");
    assert!((1..=3600).contains(&secs(c.console_poll)), "{c:?}");
    assert!((1..=600).contains(&secs(c.tool_timeout)), "{c:?}");
    assert!((1..=365).contains(&c.rotation_overdue_days), "{c:?}");
    assert!(c.max_key_age_days <= 3650, "{c:?}");
    assert!(c.validation_daily_cap <= 10, "{c:?}");
    assert!(c.validation_failure_cap <= 20, "{c:?}");
    assert!((1..=8760).contains(&c.stale_after_hours), "{c:?}");
    // An empty list is possible (`[Command]` without a `RotationCommand`, with a warning): the
    // rotation then waits with "no method".
    for (i, m) in c.rotation_methods.iter().enumerate() {
        assert!(
            !c.rotation_methods[..i].contains(m),
            "duplicate method: {c:?}"
        );
    }
    if c.rotation_methods
        .contains(&keywarden::config::RotationMethod::Command)
    {
        assert!(
            c.rotation_command.is_some(),
            "Command without a command: {c:?}"
        );
    }
    if let Some(argv) = &c.rotation_command {
        assert!(argv.first().is_some_and(|p| p.starts_with('/')), "{c:?}");
    }
    assert!(c.rotation_request_id.as_deref() != Some(""), "{c:?}");
}
