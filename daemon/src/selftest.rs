//! `keywarden selftest`: run every probe of a check once, read-only, and say for each whether
//! Keywarden's own parser recognised what came back. What an admin runs on a pilot Mac before a
//! rollout, and what a bug report starts with (issue 15).
//!
//! The probes are `observe`'s, run through a `Recording` runner: nothing here lists an argv, so a
//! new probe in `observe` is in the selftest without a second list to forget. It runs with an
//! empty state but for the deferral output path a check remembers (`remembered`), so every probe
//! a check may skip once the boot's answer is latched (`usingrecoverykey`) is asked; `showdeferralinfo` only when `fdesetup status` says
//! FileVault is deferred, as in a check. Whether an output was recognised is read back from the
//! snapshot's own errors (`Snapshot::errors`, matched by the call's display), so the verdict is the
//! parser's, not a second opinion.
//!
//! It writes nothing: no state, status, audit trail, log file or lock (the lock file would be a
//! write). The facts of the files a check reads are gathered here too, never the plaintext
//! deferral key file's contents (its path is looked at, as `observe` does) and the escrow file's
//! bytes only when asked (`with_escrow_file`). How the result is shown and bundled is
//! `bundle`'s (views).

use std::os::unix::fs::MetadataExt;

use jiff::Timestamp;

use crate::files::{self, Owners, Trust};
use crate::observe::{self, Known, Snapshot};
use crate::paths::{self, Root};
use crate::recording::{NotRun, Recorded, Recording};
use crate::runner::{Exit, Output, Runner};
use crate::state::State;
use crate::tools::{ParseError, ProbeError};

/// The escrow blob is a few hundred bytes (observe's cap is the same).
const MAX_ESCROW_FILE_BYTES: u64 = 1024 * 1024;
/// As `state` reads it.
const MAX_STATE_BYTES: u64 = 4 * 1024 * 1024;
/// The status is a few KiB; a bigger one is not Keywarden's.
const MAX_STATUS_BYTES: u64 = 8 * 1024 * 1024;
/// The escrow payload's managed preference: a small plist.
const MAX_PREFS_BYTES: u64 = 1024 * 1024;

/// What Keywarden made of one probe's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Parsed into a value.
    Recognised,
    /// The tool reported a failure in words Keywarden knows (its line).
    Reported(String),
    /// Output Keywarden does not recognise: an excerpt (one line, bounded: `text::excerpt`).
    Unrecognised(String),
    /// The call did not run to completion (missing, timed out, could not start).
    NotRun(String),
}

impl Verdict {
    /// Recognised, or a failure in words Keywarden knows: the parser understood the output.
    pub fn understood(&self) -> bool {
        matches!(self, Verdict::Recognised | Verdict::Reported(_))
    }
}

/// One probe: the call as it happened and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub call: Recorded,
    pub verdict: Verdict,
}

impl ProbeResult {
    pub fn output(&self) -> Option<&Output> {
        self.call.outcome.as_ref().ok()
    }

    pub fn exit(&self) -> Option<Exit> {
        self.output().map(|o| o.exit)
    }

    pub fn not_run(&self) -> Option<&NotRun> {
        self.call.outcome.as_ref().err()
    }
}

/// The facts of one file a check reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileResult {
    /// The macOS path.
    pub path: String,
    pub facts: FileFacts,
    /// Why Keywarden could not read it as a check does (`None`: it could).
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFacts {
    /// `/dev/console`: its owner (`None`: absent).
    Console { owner_uid: Option<u32> },
    /// `/var/db/FileVaultPRK.dat`: never its key (it is encrypted to the MDM's certificate).
    EscrowFile(Option<EscrowFile>),
    /// The escrow payload's managed preference, whole (a `Location` sentence and a payload UUID).
    EscrowPrefs { contents: Option<Vec<u8>> },
    /// Escrow Buddy's bundle: installed or not.
    EscrowBuddy { installed: bool },
    /// A plaintext key file of a FileVault deferral: present, and never read.
    PlaintextKeyFile,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowFile {
    pub size: u64,
    pub modified_at: Timestamp,
    pub sha256: String,
    /// `issuer=...; serial=...`, or why the blob names nobody (as the status says it).
    pub recipient: Result<String, String>,
    /// The bytes, only when asked for (`--with-escrow-file`).
    pub bytes: Option<Vec<u8>>,
}

/// One user whose names a bundle can redact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub real_name: Option<String>,
}

/// Everything one selftest found.
#[derive(Debug, Clone)]
pub struct Selftest {
    pub at: Timestamp,
    /// Run as root (or against a simulated Mac, where the user may run everything): the full
    /// selftest. Otherwise every probe still ran, and one macOS keeps to root may not answer.
    pub full: bool,
    pub probes: Vec<ProbeResult>,
    pub files: Vec<FileResult>,
    pub os_version: Option<String>,
    pub os_build: Option<String>,
    /// The people among the users (`dscl` records of human accounts, admins not among the system
    /// accounts), in the order `dscl` listed them: what `--redact-users` replaces.
    pub people: Vec<Person>,
    /// Why the list of people may be incomplete (the users or the admin group did not read):
    /// then `--redact-users` cannot know every name the outputs hold.
    pub people_unread: Option<String>,
    /// The status plist as it is on disk (`None`: there is none, or it could not be read).
    pub status: Option<Vec<u8>>,
}

impl Selftest {
    /// A probe or a file Keywarden could not read as a check reads it.
    pub fn has_unrecognised(&self) -> bool {
        self.probes.iter().any(|p| !p.verdict.understood())
            || self.files.iter().any(|f| f.problem.is_some())
    }
}

/// Run every probe once through `runner` and read the files a check reads, under `root`.
pub async fn run<R: Runner>(
    runner: &R,
    root: &Root,
    owners: Owners,
    full: bool,
    with_escrow_file: bool,
    now: Timestamp,
) -> Selftest {
    let recording = Recording::new(runner);
    let snapshot = observe::observe(
        &recording,
        root,
        owners,
        &remembered(root, owners),
        now,
        &Known::default(),
    )
    .await;
    let errors: Vec<ProbeError> = snapshot.errors().into_iter().cloned().collect();
    let mut calls = recording.into_calls();
    // In argv order, not the order they finished: two selftests of one Mac list alike.
    calls.sort_by(|a, b| a.argv.cmp(&b.argv));
    let probes = calls
        .into_iter()
        .map(|call| {
            let verdict = verdict(&call, &errors);
            ProbeResult { call, verdict }
        })
        .collect();
    Selftest {
        at: now,
        full,
        probes,
        files: files_read(&snapshot, root, owners, &errors, with_escrow_file),
        os_version: snapshot.os_version.as_ref().ok().cloned(),
        os_build: snapshot.os_build.as_ref().ok().cloned(),
        people: people(&snapshot),
        people_unread: snapshot
            .users
            .as_ref()
            .err()
            .or(snapshot.admins.as_ref().err())
            .map(ToString::to_string),
        status: files::read_file(&root.resolve(paths::STATUS), MAX_STATUS_BYTES, Trust::Any)
            .ok()
            .flatten(),
    }
}

/// An empty state but for the deferral output path a check remembers (so the same plaintext
/// key file paths are looked at), read without `state::load`, which moves a bad file aside: a
/// selftest writes nothing. No latched answer is kept, so `usingrecoverykey` is always asked.
fn remembered(root: &Root, owners: Owners) -> State {
    let mut state = State::default();
    let stored = files::read_file(
        &root.resolve(paths::STATE),
        MAX_STATE_BYTES,
        Trust::Owned(owners),
    )
    .ok()
    .flatten()
    .and_then(|bytes| crate::state::parse(&bytes).ok());
    if let Some(stored) = stored {
        state.keys.deferral_output_path = stored.keys.deferral_output_path;
    }
    state
}

/// The parser's verdict on `call`: its error in the snapshot, if it has one.
fn verdict(call: &Recorded, errors: &[ProbeError]) -> Verdict {
    if let Err(e) = &call.outcome {
        return Verdict::NotRun(e.message.clone());
    }
    for e in errors {
        match e {
            ProbeError::Parse { call: c, source } if *c == call.display => {
                return match source {
                    ParseError::Reported { message, .. } => Verdict::Reported(message.clone()),
                    ParseError::Unrecognised { excerpt, .. } => {
                        Verdict::Unrecognised(excerpt.clone())
                    }
                };
            }
            ProbeError::Truncated { call: c, cap_kib } if *c == call.display => {
                return Verdict::Unrecognised(format!(
                    "printed more than the {cap_kib} KiB that is kept; output ignored"
                ));
            }
            ProbeError::Run {
                call: c, message, ..
            } if *c == call.display => {
                return Verdict::NotRun(message.clone());
            }
            _ => {}
        }
    }
    Verdict::Recognised
}

/// The problem a check had with the file at `path`, from the snapshot's errors.
fn file_problem(path: &str, errors: &[ProbeError]) -> Option<String> {
    errors.iter().find_map(|e| match e {
        ProbeError::File { path: p, message } if p == path => Some(message.clone()),
        _ => None,
    })
}

fn files_read(
    snapshot: &Snapshot,
    root: &Root,
    owners: Owners,
    errors: &[ProbeError],
    with_escrow_file: bool,
) -> Vec<FileResult> {
    let mut out = Vec::new();

    // The owner as the file says it, root included (observe folds root into "nobody").
    let owner_uid = std::fs::metadata(root.resolve(paths::CONSOLE))
        .ok()
        .map(|m| m.uid());
    out.push(FileResult {
        path: paths::CONSOLE.to_owned(),
        facts: FileFacts::Console { owner_uid },
        problem: file_problem(paths::CONSOLE, errors),
    });

    let escrow = match &snapshot.escrow_file {
        Ok(Some(f)) => {
            let path = root.resolve(paths::FILEVAULT_PRK);
            let size = files::lstat(&path).ok().flatten().map_or(0, |m| m.len());
            let bytes = with_escrow_file
                .then(|| files::read_file(&path, MAX_ESCROW_FILE_BYTES, Trust::Owned(owners)))
                .and_then(|r| r.ok().flatten());
            Some(EscrowFile {
                size,
                modified_at: f.modified_at,
                sha256: f.sha256.clone(),
                recipient: f
                    .recipient
                    .as_ref()
                    .map(ToString::to_string)
                    .map_err(ToString::to_string),
                bytes,
            })
        }
        _ => None,
    };
    out.push(FileResult {
        path: paths::FILEVAULT_PRK.to_owned(),
        facts: FileFacts::EscrowFile(escrow),
        problem: file_problem(paths::FILEVAULT_PRK, errors),
    });

    let prefs = files::read_file(
        &root.resolve(paths::ESCROW_MANAGED_PREFS),
        MAX_PREFS_BYTES,
        Trust::Owned(owners),
    )
    .ok()
    .flatten();
    out.push(FileResult {
        path: paths::ESCROW_MANAGED_PREFS.to_owned(),
        facts: FileFacts::EscrowPrefs { contents: prefs },
        problem: file_problem(paths::ESCROW_MANAGED_PREFS, errors),
    });

    out.push(FileResult {
        path: paths::ESCROW_BUDDY_BUNDLE.to_owned(),
        facts: FileFacts::EscrowBuddy {
            installed: matches!(snapshot.escrow_buddy, Ok(Some(_))),
        },
        problem: file_problem(paths::ESCROW_BUDDY_BUNDLE, errors),
    });

    // Their paths only: a deferral's output file holds the key in plaintext.
    for p in &snapshot.plaintext_key_files {
        out.push(FileResult {
            path: p.clone(),
            facts: FileFacts::PlaintextKeyFile,
            problem: None,
        });
    }
    out
}

/// Why a bundle must not be written at `path`: it is a file the selftest looked at (the escrow
/// file, a deferral's plaintext key file: the only copy of that key), Keywarden's configuration,
/// or it lies in Keywarden's own directories. A careless `--bundle /var/db/FileVaultPRK.dat`
/// would otherwise replace it, as root. Compared by device and inode, so `/private/var/db/...`
/// or a link to one of them is caught too. `None`: the path is free.
pub fn bundle_would_replace(t: &Selftest, root: &Root, path: &std::path::Path) -> Option<String> {
    let id = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let target = id(path);
    let files = t.files.iter().map(|f| f.path.as_str()).chain([
        paths::LOCAL_PREFS,
        paths::MANAGED_PREFS,
        paths::BINARY,
    ]);
    for f in files {
        if target.is_some() && target == id(&root.resolve(f)) {
            return Some(format!("it is {f}"));
        }
    }
    let parent = path.parent().and_then(id);
    for d in [paths::STATUS_DIR, paths::STATE_DIR, paths::LOG_DIR] {
        if parent.is_some() && parent == id(&root.resolve(d)) {
            return Some(format!("it is in {d}, Keywarden's own"));
        }
    }
    None
}

/// The human accounts and the admins that are not system accounts.
fn people(snapshot: &Snapshot) -> Vec<Person> {
    let mut out: Vec<Person> = Vec::new();
    if let Ok(users) = &snapshot.users {
        for u in users.iter().filter(|u| u.is_human()) {
            out.push(Person {
                name: u.name.clone(),
                real_name: u.real_name.clone(),
            });
        }
    }
    let system = |n: &str| n.starts_with('_') || matches!(n, "root" | "daemon" | "nobody");
    if let Ok(admins) = &snapshot.admins {
        for a in admins {
            if !system(a) && !out.iter().any(|p| p.name == *a) {
                out.push(Person {
                    name: a.clone(),
                    real_name: None,
                });
            }
        }
    }
    for s in &snapshot.skipped_users {
        if let Some(n) = &s.name {
            if !system(n) && !out.iter().any(|p| p.name == *n) {
                out.push(Person {
                    name: n.clone(),
                    real_name: None,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_may_not_replace_a_file_keywarden_reads_nor_land_in_its_directories_issue_15() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().to_owned());
        for d in [
            "var/db/keywarden",
            "var/db/ConfigurationProfiles",
            "elsewhere",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let prk = dir.path().join("var/db/FileVaultPRK.dat");
        std::fs::write(&prk, b"blob").unwrap();
        let key_file = dir
            .path()
            .join("var/db/ConfigurationProfiles/fdesetup.plist");
        std::fs::write(&key_file, b"plaintext").unwrap();
        std::os::unix::fs::symlink(&prk, dir.path().join("elsewhere/link")).unwrap();
        let t = Selftest {
            at: Timestamp::UNIX_EPOCH,
            full: true,
            probes: Vec::new(),
            files: [paths::FILEVAULT_PRK, paths::DEFERRAL_OUTPUT_DEFAULT]
                .map(|p| FileResult {
                    path: p.to_owned(),
                    facts: FileFacts::PlaintextKeyFile,
                    problem: None,
                })
                .to_vec(),
            os_version: None,
            os_build: None,
            people: Vec::new(),
            people_unread: None,
            status: None,
        };
        let refused = |p: &std::path::Path| bundle_would_replace(&t, &root, p);
        assert!(refused(&prk).is_some_and(|w| w.contains("FileVaultPRK")));
        assert!(refused(&key_file).is_some_and(|w| w.contains("fdesetup.plist")));
        assert!(refused(&dir.path().join("elsewhere/link")).is_some());
        assert!(refused(&dir.path().join("var/db/keywarden/b.tgz")).is_some());
        assert_eq!(refused(&dir.path().join("elsewhere/b.tgz")), None);
        assert_eq!(refused(&dir.path().join("var/db/b.tgz")), None);
    }
    use crate::runner::Call;
    use crate::tools::RunFailure;

    fn recorded(call: &Call, outcome: Result<Output, NotRun>) -> Recorded {
        Recorded {
            argv: call.argv(),
            user_arg: None,
            display: call.display(),
            outcome,
            duration: std::time::Duration::from_millis(3),
        }
    }

    #[test]
    fn the_verdict_is_the_parsers_error_for_that_call_and_no_other() {
        let status = crate::tools::fdesetup::status_call();
        let other = crate::tools::sw_vers::build_version_call();
        let out = Output::new(0, "junk", "");
        let unrecognised = ProbeError::parse(
            &status,
            ParseError::Unrecognised {
                exit: Exit::Code(0),
                excerpt: "junk".into(),
            },
        );
        let reported = ProbeError::parse(
            &other,
            ParseError::Reported {
                exit: Exit::Code(1),
                message: "Unknown user".into(),
            },
        );
        let errors = vec![unrecognised, reported];
        type Row<'a> = (&'a Call, Result<Output, NotRun>, &'a [ProbeError], Verdict);
        let rows: &[Row] = &[
            (
                &status,
                Ok(out.clone()),
                &errors,
                Verdict::Unrecognised("junk".into()),
            ),
            (
                &other,
                Ok(out.clone()),
                &errors,
                Verdict::Reported("Unknown user".into()),
            ),
            (&status, Ok(out.clone()), &[], Verdict::Recognised),
            (
                &status,
                Err(NotRun {
                    message: "no answer within 30 s".into(),
                    timed_out: true,
                }),
                &[],
                Verdict::NotRun("no answer within 30 s".into()),
            ),
        ];
        for (call, outcome, errors, want) in rows {
            assert_eq!(
                verdict(&recorded(call, outcome.clone()), errors),
                *want,
                "{}",
                call.display()
            );
        }
        let missing = ProbeError::Run {
            call: status.display(),
            kind: RunFailure::Missing,
            message: "not installed".into(),
        };
        assert!(!verdict(&recorded(&status, Ok(out)), &[missing]).understood());
    }
}
