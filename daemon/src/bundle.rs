//! What `keywarden selftest` shows and what its `--bundle` holds: the table a person reads, and
//! one tar.gz a bug report carries, which `keywarden-sim init --from-bundle` turns back into a
//! simulated Mac that answers as this one did (docs/selftest.md).
//!
//! Bundle layout (format 1), every member under `keywarden-selftest/`:
//!
//! - `manifest.json`: `format` (1), `keywarden_version`, `created_at`, `full` (as root),
//!   `redacted_users`, `with_escrow_file`, `os` {`product_version`, `build_version`}, `probes`
//!   [{`name`, `argv`, `exit`, `signal`, `timed_out`, `not_run`, `duration_ms`, `truncated`,
//!   `stdout`, `stderr` (member paths), `recognised`, `problem`, `key_shaped_removed`}], `files`
//!   [{`path`, `kind`, `present`, `problem`, and per kind: `owner_uid`; `size`, `modified_at`,
//!   `sha256`, `recipient`, `recipient_problem`, `included`; `contents`}], `config`, `status`.
//! - `probes/NN.stdout`, `probes/NN.stderr`: the raw streams, byte for byte.
//! - `config.txt`: the configuration as the doctor shows it (`doctor::configuration`).
//! - `status.plist`: the status as it is on disk, when there is one.
//! - `files/escrow-prefs.plist`: the escrow payload's managed preference (a `Location` sentence).
//! - `escrow/FileVaultPRK.dat`: only with `--with-escrow-file`.
//!
//! Never in it: a recovery key (no call that carries one is run: `recording`), the plaintext
//! deferral key file (its path only), the escrow file unless asked. A text that has a recovery
//! key's shape is removed from every member anyway (`text::scrub_keys`; an output's are counted),
//! so even a tool that printed one by mistake cannot put it in a bug report. `--redact-users`
//! replaces people's short and real names by `user1`, `user2`... in every member, and in an argv
//! the argument the call marks as a user's name (`Call::user_arg`); uids and system accounts
//! (`root`, names starting with `_`) are kept. It writes no bundle when the users did not read.
//!
//! It knows no tool: the probes and facts come from `selftest` (flow). It writes one file, the
//! bundle, atomically through `files::write_atomic` (mode 0600, never through a symlink).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::files::{self, FileError};
use crate::runner::Exit;
use crate::selftest::{FileFacts, Person, ProbeResult, Selftest, Verdict};
use crate::text::scrub_keys;

/// The bundle's format; `keywarden-sim` refuses others.
pub const FORMAT: u32 = 1;
/// The top directory of every member.
pub const TOP: &str = "keywarden-selftest";
/// The member that holds the escrow file's bytes (`--with-escrow-file`).
const ESCROW_MEMBER: &str = "escrow/FileVaultPRK.dat";

/// What goes into a bundle besides the selftest.
pub struct Extras<'a> {
    pub keywarden_version: &'a str,
    /// `doctor::configuration`, as the doctor shows it.
    pub config: &'a str,
    pub redact_users: bool,
    pub with_escrow_file: bool,
}

/// The table `keywarden selftest` prints.
pub fn table(t: &Selftest, version: &str) -> String {
    let mut o = String::new();
    let os = match (&t.os_version, &t.os_build) {
        (Some(v), Some(b)) => format!("macOS {v} ({b})"),
        (Some(v), None) => format!("macOS {v}"),
        _ => "a Mac whose version did not read".to_owned(),
    };
    let _ = writeln!(
        o,
        "Keywarden {version} selftest on {os}: every probe of a check, once; nothing was changed."
    );
    if !t.full {
        let _ = writeln!(
            o,
            "Not root: every probe ran, but macOS keeps some answers to root (which ones is not \
             documented per tool), so an UNRECOGNISED or NOT RUN below may only mean that.\n\
             Run `sudo keywarden selftest` for the full selftest."
        );
    }
    let _ = writeln!(o, "\n{:<6} {:>8}  {:<14} PROBE", "EXIT", "TIME", "RESULT");
    for p in &t.probes {
        let exit = match (p.exit(), p.not_run()) {
            (Some(e), _) => e.short(),
            (None, Some(n)) if n.timed_out => "timeout".to_owned(),
            _ => "-".to_owned(),
        };
        let (result, detail) = match &p.verdict {
            Verdict::Recognised => ("recognised", None),
            Verdict::Reported(m) => ("recognised", Some(format!("the tool said: {m}"))),
            Verdict::Unrecognised(x) => ("UNRECOGNISED", Some(format!("output: {x}"))),
            Verdict::NotRun(m) => ("NOT RUN", Some(m.clone())),
        };
        let _ = writeln!(
            o,
            "{exit:<6} {:>5} ms  {result:<14} {}",
            p.call.duration.as_millis(),
            p.call.display
        );
        if let Some(d) = detail {
            let _ = writeln!(o, "{:<31}{d}", "");
        }
    }
    let _ = writeln!(o, "\nFILE");
    for f in &t.files {
        let _ = writeln!(o, "{:<48} {}", f.path, file_line(&f.facts));
        if let Some(p) = &f.problem {
            let _ = writeln!(o, "{:<48} PROBLEM: {p}", "");
        }
    }
    let bad = t.probes.iter().filter(|p| !p.verdict.understood()).count()
        + t.files.iter().filter(|f| f.problem.is_some()).count();
    let _ = writeln!(
        o,
        "\n{} probes, {} files: {}",
        t.probes.len(),
        t.files.len(),
        if bad == 0 {
            "every answer was recognised.".to_owned()
        } else {
            format!("{bad} not recognised or not read (see above; `keywarden selftest --bundle FILE` for a bug report).")
        }
    );
    // Every line once, whoever wrote it (a tool's own words included): no key reaches a terminal
    // or the scrollback a bug report is pasted from.
    String::from_utf8_lossy(&scrub_keys(crate::text::terminal_lines(&o).as_bytes()).0).into_owned()
}

fn file_line(f: &FileFacts) -> String {
    match f {
        FileFacts::Console { owner_uid: None } => "absent (nobody logged in)".to_owned(),
        FileFacts::Console { owner_uid: Some(0) } => "owned by root (nobody logged in)".to_owned(),
        FileFacts::Console { owner_uid: Some(u) } => format!("owned by uid {u} (the console user)"),
        FileFacts::EscrowFile(None) => "absent".to_owned(),
        FileFacts::EscrowFile(Some(e)) => format!(
            "{} bytes, modified {} UTC, SHA-256 {}…, {}",
            e.size,
            crate::clock::ea_format(e.modified_at),
            e.sha256.get(..12).unwrap_or(&e.sha256),
            match &e.recipient {
                Ok(r) => format!("encrypted to {r}"),
                Err(p) => format!("names no recipient: {p}"),
            }
        ),
        FileFacts::EscrowPrefs { contents: None } => "absent".to_owned(),
        FileFacts::EscrowPrefs { contents: Some(c) } => format!("present, {} bytes", c.len()),
        FileFacts::EscrowBuddy { installed } => {
            if *installed {
                "installed".to_owned()
            } else {
                "not installed".to_owned()
            }
        }
        FileFacts::PlaintextKeyFile => "PRESENT: a plaintext key file (never read)".to_owned(),
    }
}

#[derive(Serialize)]
struct Manifest<'a> {
    format: u32,
    keywarden_version: &'a str,
    created_at: String,
    full: bool,
    redacted_users: bool,
    with_escrow_file: bool,
    os: Os,
    probes: Vec<ProbeEntry>,
    files: Vec<FileEntry>,
    config: String,
    status: Option<String>,
}

#[derive(Serialize)]
struct Os {
    product_version: Option<String>,
    build_version: Option<String>,
}

#[derive(Serialize)]
struct ProbeEntry {
    name: String,
    argv: Vec<String>,
    exit: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    not_run: Option<String>,
    duration_ms: u64,
    truncated: bool,
    stdout: Option<String>,
    stderr: Option<String>,
    recognised: bool,
    problem: Option<String>,
    key_shaped_removed: usize,
}

#[derive(Serialize, Default)]
struct FileEntry {
    path: String,
    kind: &'static str,
    present: bool,
    problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modified_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_problem: Option<String>,
    /// The member holding the file's bytes, when they are in the bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    contents: Option<String>,
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot build the bundle: {0}")]
    Build(std::io::Error),
    #[error("--redact-users cannot know every user name, so no bundle was written: {0}. Run without --redact-users and read the bundle before sending it, or send the table")]
    CannotRedact(String),
    #[error("{0}")]
    Write(#[from] FileError),
}

/// A bundle, and whether it holds the escrow file (asked for, present, and a blob: the admin is
/// told what the file they are about to send carries).
pub struct Built {
    /// A tar.gz.
    pub bytes: Vec<u8>,
    pub escrow_included: bool,
}

/// The bundle.
pub fn build(t: &Selftest, extras: &Extras) -> Result<Built, BundleError> {
    // The names come from the outputs that did not read: a redaction would miss them all and
    // still say the bundle is redacted. It fails closed.
    if let (true, Some(why)) = (extras.redact_users, &t.people_unread) {
        return Err(BundleError::CannotRedact(why.clone()));
    }
    let redactor = Redactor::new(if extras.redact_users { &t.people } else { &[] });
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut probes = Vec::new();
    for (i, p) in t.probes.iter().enumerate() {
        probes.push(probe_entry(i, p, &redactor, &mut members));
    }
    let mut file_entries = Vec::new();
    for f in &t.files {
        let mut e = FileEntry {
            // A deferral's output path may be in a home folder (`/Users/alice/key.plist`).
            path: redactor.text(&f.path),
            problem: f.problem.as_deref().map(|p| redactor.text(p)),
            ..FileEntry::default()
        };
        match &f.facts {
            FileFacts::Console { owner_uid } => {
                e.kind = "console";
                e.present = owner_uid.is_some();
                e.owner_uid = *owner_uid;
            }
            FileFacts::EscrowFile(None) => e.kind = "escrow_file",
            FileFacts::EscrowFile(Some(x)) => {
                e.kind = "escrow_file";
                e.present = true;
                e.size = Some(x.size);
                e.modified_at = Some(x.modified_at.to_string());
                e.sha256 = Some(x.sha256.clone());
                match &x.recipient {
                    Ok(r) => e.recipient = Some(r.clone()),
                    Err(p) => e.recipient_problem = Some(p.clone()),
                }
                if let (true, Some(bytes)) = (extras.with_escrow_file, &x.bytes) {
                    // The blob is the key encrypted to the MDM: binary, never redacted or scrubbed
                    // (a change would break the hash the status shows). So one that holds a
                    // key-shaped text is no blob: a deferral whose OutputPath was this file, or a
                    // copy or link of the plaintext key file. It stays out.
                    if scrub_keys(bytes).1 == 0 {
                        members.push((ESCROW_MEMBER.to_owned(), bytes.clone()));
                        e.contents = Some(ESCROW_MEMBER.to_owned());
                    } else {
                        e.problem = Some(
                            "it holds a recovery-key-shaped text (a plaintext key, not a blob \
                             encrypted to the MDM): left out of the bundle"
                                .to_owned(),
                        );
                    }
                }
            }
            FileFacts::EscrowPrefs { contents } => {
                e.kind = "escrow_prefs";
                e.present = contents.is_some();
                if let Some(c) = contents {
                    let name = "files/escrow-prefs.plist".to_owned();
                    members.push((name.clone(), redactor.bytes(c)));
                    e.contents = Some(name);
                }
            }
            FileFacts::EscrowBuddy { installed } => {
                e.kind = "escrow_buddy";
                e.present = *installed;
            }
            FileFacts::PlaintextKeyFile => {
                e.kind = "plaintext_key_file";
                e.present = true;
            }
        }
        file_entries.push(e);
    }
    members.push((
        "config.txt".to_owned(),
        redactor
            .text(&crate::text::terminal_lines(extras.config))
            .into_bytes(),
    ));
    let status = t.status.as_deref().map(|s| {
        members.push(("status.plist".to_owned(), redactor.bytes(s)));
        "status.plist".to_owned()
    });
    let manifest = Manifest {
        format: FORMAT,
        keywarden_version: extras.keywarden_version,
        created_at: t.at.to_string(),
        full: t.full,
        redacted_users: extras.redact_users,
        with_escrow_file: extras.with_escrow_file,
        os: Os {
            product_version: t.os_version.clone(),
            build_version: t.os_build.clone(),
        },
        probes,
        files: file_entries,
        config: "config.txt".to_owned(),
        status,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest always serialises");
    members.insert(0, ("manifest.json".to_owned(), json));
    // Every member once, after redaction, whatever put text in it (the configuration, the status,
    // a path, a reason a tool did not run): no key reaches a bug report. The escrow blob is kept
    // whole (above).
    for (name, bytes) in &mut members {
        if name != ESCROW_MEMBER {
            *bytes = scrub_keys(bytes).0;
        }
    }
    let escrow_included = members.iter().any(|(name, _)| name == ESCROW_MEMBER);
    let bytes = archive(&members, t.at.as_second()).map_err(BundleError::Build)?;
    Ok(Built {
        bytes,
        escrow_included,
    })
}

fn probe_entry(
    i: usize,
    p: &ProbeResult,
    redactor: &Redactor,
    members: &mut Vec<(String, Vec<u8>)>,
) -> ProbeEntry {
    // Only the argument the call says is a user's name: a person called `status` must not turn
    // `fdesetup status` into a probe the replayed Mac never recorded.
    let argv: Vec<String> = p
        .call
        .argv
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if Some(i) == p.call.user_arg {
                redactor.argument(a)
            } else {
                a.clone()
            }
        })
        .collect();
    let mut e = ProbeEntry {
        name: display(&argv),
        argv,
        exit: None,
        signal: None,
        timed_out: false,
        not_run: None,
        duration_ms: p.call.duration.as_millis() as u64,
        truncated: false,
        stdout: None,
        stderr: None,
        recognised: p.verdict.understood(),
        problem: match &p.verdict {
            Verdict::Recognised => None,
            Verdict::Reported(m) | Verdict::Unrecognised(m) | Verdict::NotRun(m) => {
                Some(redactor.text(m))
            }
        },
        key_shaped_removed: 0,
    };
    match &p.call.outcome {
        Ok(out) => {
            match out.exit {
                Exit::Code(c) => e.exit = Some(c),
                Exit::Signal(s) => e.signal = Some(s),
            }
            e.truncated = out.truncated;
            let (stdout, n1) = scrub_keys(&out.stdout);
            let (stderr, n2) = scrub_keys(&out.stderr);
            e.key_shaped_removed = n1 + n2;
            let so = format!("probes/{i:02}.stdout");
            let se = format!("probes/{i:02}.stderr");
            members.push((so.clone(), redactor.bytes(&stdout)));
            members.push((se.clone(), redactor.bytes(&stderr)));
            e.stdout = Some(so);
            e.stderr = Some(se);
        }
        Err(n) => {
            e.timed_out = n.timed_out;
            e.not_run = Some(redactor.text(&n.message));
        }
    }
    e
}

/// `fdesetup status`: the program's name and the arguments (quoted when they hold a space).
fn display(argv: &[String]) -> String {
    let mut words = argv.iter();
    let mut s = words
        .next()
        .map(|p| {
            Path::new(p)
                .file_name()
                .map_or_else(|| p.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    for a in words {
        s.push(' ');
        if a.is_empty() || a.contains(char::is_whitespace) {
            let _ = write!(s, "'{a}'");
        } else {
            s.push_str(a);
        }
    }
    s
}

/// A gzip-compressed tar of `members` under `TOP/`, each 0600 and dated `mtime`.
fn archive(members: &[(String, Vec<u8>)], mtime: i64) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(u64::try_from(mtime).unwrap_or(0));
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{TOP}/{name}"), bytes.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

/// Write the bundle to `path` atomically, mode 0600, never through a symlink.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    files::write_atomic(path, bytes, 0o600)?;
    Ok(())
}

/// People's names and their placeholders, longest first so a name inside another is never
/// replaced first (`al` in `alan`).
struct Redactor {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Short names, for whole arguments.
    names: Vec<(String, String)>,
}

impl Redactor {
    fn new(people: &[Person]) -> Redactor {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut names = Vec::new();
        for (i, p) in people.iter().enumerate() {
            let placeholder = format!("user{}", i + 1);
            names.push((p.name.clone(), placeholder.clone()));
            let mut push = |from: &str, to: &str| {
                if !from.trim().is_empty() {
                    pairs.push((from.as_bytes().to_vec(), to.as_bytes().to_vec()));
                    // The same name inside an XML plist (dscl, profiles, the status), whether
                    // the writer escapes quotes or only `&` and `<`.
                    for escaped in [xml_escaped(from, true), xml_escaped(from, false)] {
                        if escaped != from {
                            pairs.push((escaped.into_bytes(), to.as_bytes().to_vec()));
                        }
                    }
                }
            };
            push(&p.name, &placeholder);
            if let Some(real) = &p.real_name {
                if real != &p.name {
                    push(real, &format!("{placeholder} real name"));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        pairs.dedup_by(|a, b| a.0 == b.0);
        Redactor { pairs, names }
    }

    /// An argv's user-name argument (`Recorded::user_arg`): replaced when it is a whole short
    /// name.
    fn argument(&self, a: &str) -> String {
        self.names
            .iter()
            .find(|(n, _)| n == a)
            .map_or_else(|| a.to_owned(), |(_, p)| p.clone())
    }

    fn text(&self, s: &str) -> String {
        String::from_utf8_lossy(&self.bytes(s.as_bytes())).into_owned()
    }

    /// Every recovery-key-shaped text, then every name in `bytes` where it stands as a word (not
    /// inside a longer word: `alice` in `malice` stays), in any ASCII case, replaced.
    fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        // Keys first: a placeholder put inside a key (someone whose real name is `NPQR`) would
        // leave the rest of it no longer key-shaped, and so in the bundle.
        let scrubbed = scrub_keys(bytes).0;
        let bytes = scrubbed.as_slice();
        if self.pairs.is_empty() {
            return bytes.to_vec();
        }
        let inner = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        'outer: while i < bytes.len() {
            let boundary_before = i == 0 || !inner(bytes[i - 1]);
            if boundary_before && !xml_tag_at(bytes, i) {
                for (from, to) in &self.pairs {
                    let end = i + from.len();
                    // Either case: macOS user names are not case-sensitive, so a home folder
                    // or a pattern may spell one `Alice` where dscl says `alice`.
                    if bytes
                        .get(i..end)
                        .is_some_and(|b| b.eq_ignore_ascii_case(from))
                        && (end == bytes.len() || !inner(bytes[end]))
                    {
                        out.extend_from_slice(to);
                        i = end;
                        continue 'outer;
                    }
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        out
    }
}

/// Whether the word at `i` is an XML tag's name (`<true/>`, `</key>`): a person called `true`
/// or `key` leaves a plist a plist, so a redacted bundle still replays. Only the whole tag name
/// is kept; `<alice@example.com>` is no tag and is redacted.
fn xml_tag_at(bytes: &[u8], i: usize) -> bool {
    let opened = bytes[..i].ends_with(b"<") || bytes[..i].ends_with(b"</");
    let name_end = bytes[i..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || b"-_.:".contains(b)))
        .map_or(bytes.len(), |p| i + p);
    opened && matches!(bytes.get(name_end), Some(b'>' | b'/' | b' '))
}

fn xml_escaped(s: &str, quotes: bool) -> String {
    let s = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    if quotes {
        s.replace('\'', "&apos;").replace('"', "&quot;")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Recorded;

    fn people() -> Vec<Person> {
        vec![
            Person {
                name: "alice".into(),
                real_name: Some("Alice Appleseed".into()),
            },
            Person {
                name: "admin".into(),
                real_name: Some("O'Brien & Co".into()),
            },
        ]
    }

    fn selftest(full: bool) -> Selftest {
        use crate::recording::NotRun;
        let call = |argv: &[&str], outcome| Recorded {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            user_arg: None,
            display: argv[1..]
                .iter()
                .fold(argv[0].rsplit('/').next().unwrap().to_owned(), |s, a| {
                    s + " " + a
                }),
            outcome,
            duration: std::time::Duration::from_millis(7),
        };
        Selftest {
            at: jiff::Timestamp::UNIX_EPOCH,
            full,
            probes: vec![
                ProbeResult {
                    call: call(
                        &["/usr/bin/fdesetup", "status"],
                        Ok(crate::runner::Output::new(0, "junk", "")),
                    ),
                    verdict: Verdict::Unrecognised("junk ABCD-EFGH-JKLM-NPQR-STUV-WXYZ".into()),
                },
                ProbeResult {
                    call: call(
                        &["/usr/bin/sw_vers", "-productVersion"],
                        Err(NotRun {
                            message: "no answer within 30 s".into(),
                            timed_out: true,
                        }),
                    ),
                    verdict: Verdict::NotRun("no answer within 30 s".into()),
                },
            ],
            files: Vec::new(),
            os_version: None,
            os_build: None,
            people: Vec::new(),
            people_unread: None,
            status: None,
        }
    }

    #[test]
    fn the_table_shows_each_probe_its_result_and_a_key_free_excerpt() {
        let t = table(&selftest(true), "9.9");
        assert!(!t.contains("Not root"), "{t}");
        assert!(t.contains("UNRECOGNISED   fdesetup status"), "{t}");
        assert!(
            t.contains("output: junk [recovery-key-shaped text removed]"),
            "{t}"
        );
        assert!(!t.contains("ABCD-EFGH"), "{t}");
        assert!(
            t.contains("timeout") && t.contains("NOT RUN        sw_vers -productVersion"),
            "{t}"
        );
        assert!(t.contains("2 not recognised or not read"), "{t}");
    }

    #[test]
    fn a_key_in_a_tools_reported_words_or_a_not_run_reason_is_not_in_the_table_issue_15() {
        let mut t = selftest(true);
        t.probes[0].verdict = Verdict::Reported("Error: ABCD-EFGH-JKLM-NPQR-STUV-WXYZ".into());
        t.probes[1].verdict = Verdict::NotRun("abcd-efgh-jklm-npqr-stuv-wxyz".into());
        let out = table(&t, "9.9");
        assert!(!out.to_ascii_uppercase().contains("EFGH"), "{out}");
        assert_eq!(
            out.matches("[recovery-key-shaped text removed]").count(),
            2,
            "{out}"
        );
    }

    #[test]
    fn without_root_the_table_says_an_answer_may_only_need_root() {
        let t = table(&selftest(false), "9.9");
        assert!(
            t.contains("Not root") && t.contains("sudo keywarden selftest"),
            "{t}"
        );
    }

    /// Every member of a bundle's bytes, by name under `TOP/`.
    fn members_of(bundle: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
        use std::io::Read as _;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
        let mut out = std::collections::BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            out.insert(
                name.strip_prefix("keywarden-selftest/").unwrap().to_owned(),
                bytes,
            );
        }
        out
    }

    fn extras(config: &str, redact_users: bool) -> Extras<'_> {
        Extras {
            keywarden_version: "9.9",
            config,
            redact_users,
            with_escrow_file: true,
        }
    }

    #[test]
    fn an_escrow_file_that_holds_a_plaintext_key_is_left_out_even_when_asked_issue_15() {
        use crate::selftest::{EscrowFile, FileResult};
        // `fdesetup enable -defer /var/db/FileVaultPRK.dat`: the deferral's plaintext plist
        // where the blob belongs (or a hard link to it).
        let plaintext = b"<plist><dict><key>RecoveryKey</key>\
<string>ABCD-EFGH-JKLM-NPQR-STUV-WXYZ</string></dict></plist>";
        let mut t = selftest(true);
        t.files.push(FileResult {
            path: crate::paths::FILEVAULT_PRK.to_owned(),
            facts: FileFacts::EscrowFile(Some(EscrowFile {
                size: plaintext.len() as u64,
                modified_at: jiff::Timestamp::UNIX_EPOCH,
                sha256: "0".repeat(64),
                recipient: Err("not a CMS envelope".into()),
                bytes: Some(plaintext.to_vec()),
            })),
            problem: None,
        });
        let built = build(&t, &extras("", false)).unwrap();
        assert!(!built.escrow_included);
        let m = members_of(&built.bytes);
        assert!(!m.contains_key(ESCROW_MEMBER), "{:?}", m.keys());
        for (name, bytes) in &m {
            assert!(!String::from_utf8_lossy(bytes).contains("EFGH"), "{name}");
        }
        let manifest: serde_json::Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
        let escrow = &manifest["files"][0];
        assert_eq!(escrow["kind"], "escrow_file");
        assert!(escrow["contents"].is_null(), "{escrow}");
        assert!(
            escrow["problem"].as_str().unwrap().contains("left out"),
            "{escrow}"
        );
    }

    #[test]
    fn every_member_is_free_of_keys_and_names_whatever_put_text_in_it_issue_15() {
        let mut t = selftest(true);
        t.people = people();
        // A deferral's OutputPath in a home folder, a reason a tool did not run that names its
        // path, and a configuration an admin pasted a key into.
        t.files.push(crate::selftest::FileResult {
            path: "/Users/alice/Desktop/fv-key.plist".into(),
            facts: FileFacts::PlaintextKeyFile,
            problem: None,
        });
        t.probes[1].call.outcome = Err(crate::recording::NotRun {
            message: "/Users/alice/bin/tool ABCD-EFGH-JKLM-NPQR-STUV-WXYZ".into(),
            timed_out: false,
        });
        t.status = Some(b"<string>abcd-efgh-jklm-npqr-stuv-wxyz</string>".to_vec());
        let config = "RotationCommand = /Users/alice/rotate.sh # ABCD-EFGH-JKLM-NPQR-STUV-WXYZ\n";
        let m = members_of(&build(&t, &extras(config, true)).unwrap().bytes);
        for (name, bytes) in &m {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.to_ascii_uppercase().contains("EFGH"),
                "{name}: {text}"
            );
            assert!(!text.contains("alice"), "{name}: {text}");
        }
    }

    #[test]
    fn a_redaction_without_the_list_of_users_writes_no_bundle_issue_15() {
        let mut t = selftest(true);
        t.people_unread = Some("dscl -plist . -readall /Users: printed more than 1024 KiB".into());
        let Err(e) = build(&t, &extras("", true)) else {
            panic!("a bundle was built without the list of users");
        };
        assert!(matches!(e, BundleError::CannotRedact(_)), "{e}");
        assert!(e.to_string().contains("readall"), "{e}");
        // Unredacted, the bundle is still written (the admin reads it before sending it).
        assert!(build(&t, &extras("", false)).is_ok());
    }

    #[test]
    fn names_are_replaced_as_words_in_text_and_xml() {
        let r = Redactor::new(&people());
        let out = r.text(
            "alice malice /Users/alice <string>O&apos;Brien &amp; Co</string> Alice Appleseed",
        );
        assert_eq!(
            out,
            "user1 malice /Users/user1 <string>user2 real name</string> user1 real name"
        );
    }

    #[test]
    fn a_name_spelt_in_another_case_is_replaced_too_issue_15() {
        let r = Redactor::new(&people());
        assert_eq!(
            r.text("/Users/Alice ALICE@LKDC:SHA1.5E8A alice.appleseed ALICE APPLESEED"),
            "/Users/user1 user1@LKDC:SHA1.5E8A user1.appleseed user1 real name"
        );
    }

    #[test]
    fn a_person_named_like_a_plist_tag_leaves_the_plist_readable_issue_15() {
        let r = Redactor::new(&[
            Person {
                name: "true".into(),
                real_name: None,
            },
            Person {
                name: "string".into(),
                real_name: Some("Key Dict".into()),
            },
        ]);
        let plist = b"<plist><dict><key>RecordName</key><array><string>string</string>\
</array><key>Admin</key><true/></dict></plist>";
        let out = r.bytes(plist);
        let v: plist::Value = plist::from_bytes(&out).expect("still a plist");
        let d = v.as_dictionary().unwrap();
        assert_eq!(
            d["RecordName"].as_array().unwrap()[0].as_string(),
            Some("user2")
        );
        assert_eq!(d["Admin"].as_boolean(), Some(true));
        assert_eq!(
            r.text("<string@example.com> is true"),
            "<user2@example.com> is user1"
        );
    }

    #[test]
    fn a_real_name_that_is_a_group_of_a_key_does_not_break_the_key_out_of_its_shape_issue_15() {
        let r = Redactor::new(&[Person {
            name: "npqr".into(),
            real_name: None,
        }]);
        let out = r.text("<string>ABCD-EFGH-JKLM-NPQR-STUV-WXYZ</string>");
        assert_eq!(out, "<string>[recovery-key-shaped text removed]</string>");
    }

    #[test]
    fn a_person_called_status_leaves_the_probes_argv_and_only_the_user_argument_is_replaced_issue_15(
    ) {
        let mut t = selftest(true);
        t.people = vec![Person {
            name: "status".into(),
            real_name: None,
        }];
        let token = crate::tools::sysadminctl::secure_token_status_call("status");
        t.probes.push(ProbeResult {
            call: Recorded {
                argv: token.argv(),
                user_arg: token.user_arg.map(|i| i + 1),
                display: token.display(),
                outcome: Ok(crate::runner::Output::new(0, "", "Secure token is ENABLED")),
                duration: std::time::Duration::from_millis(1),
            },
            verdict: Verdict::Recognised,
        });
        let m = members_of(&build(&t, &extras("", true)).unwrap().bytes);
        let manifest: serde_json::Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
        let argvs: Vec<&serde_json::Value> = manifest["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["argv"])
            .collect();
        assert_eq!(
            *argvs[0],
            serde_json::json!(["/usr/bin/fdesetup", "status"])
        );
        assert_eq!(
            *argvs[2],
            serde_json::json!(["/usr/sbin/sysadminctl", "-secureTokenStatus", "user1"])
        );
    }

    #[test]
    fn an_argument_is_redacted_only_when_it_is_a_whole_name() {
        let r = Redactor::new(&people());
        assert_eq!(r.argument("admin"), "user2");
        assert_eq!(r.argument("/Groups/admin"), "/Groups/admin");
    }
}
