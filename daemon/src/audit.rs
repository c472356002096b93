//! The audit trail: every key operation (use detected, rotation requested, confirmed or failed,
//! validation started and answered, rotation with the current key) appended as one JSON line to
//! `/var/db/keywarden/audit.jsonl` under the root, and `keywarden audit`, which prints it.
//!
//! The file is root-only (0600 in the 0700 state directory), append-only (`O_APPEND`, one
//! `write(2)` per line, `fsync` after each, under an exclusive `flock` on the file so that
//! appenders and a rotation never race), never written through a symlink and never trusted unless
//! it is a regular file owned by root (or the simulated root's user) that group and others cannot
//! write. It is bounded to `MAX_AUDIT_BYTES`: an append that would pass the bound rewrites the file
//! atomically with its newest half and, on top, one `Carried` line that carries forward the
//! validation tally of everything dropped, so the caps counted from the trail
//! (`validation_counts`) never reset when old lines go (ARCHITECTURE.md, "Key lifecycle":
//! "counted from the audit trail so a lost state file does not reset them").
//!
//! No key can be written here: an `Event` holds only timestamps, an enum, plain strings and
//! counts, and the secret type has no `Display`/`Serialize`, so a key cannot be formatted into a
//! string without an explicit, reviewable `expose_secret()`. This module does not decide when to
//! record an event (see `act`, `validate`) and holds no policy beyond counting.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::OnceLock;

use jiff::{SignedDuration, Timestamp};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::files::{self, FileError, Owners, Trust};
use crate::paths::{self, Root};
use crate::text;

/// The bound on the file. A line is about 200 bytes, so this keeps thousands of events; the
/// validation caps allow at most 10 validations a day, so rotation never comes close to the
/// recent attempts it must keep.
pub const MAX_AUDIT_BYTES: u64 = 1024 * 1024;
/// A file larger than this (only ever by hand: appends keep it under `MAX_AUDIT_BYTES`) is not
/// read at all, so a planted huge file cannot exhaust memory.
const MAX_READ_BYTES: u64 = 8 * MAX_AUDIT_BYTES;
/// Longest `Result`, `ConsoleUser`, `Caller` and `Detail` kept (characters); longer text is cut
/// with `…` so one line can never take a meaningful share of the bound.
const MAX_SHORT_CHARS: usize = 80;
const MAX_DETAIL_CHARS: usize = 500;
/// Attempt times a `Carried` line keeps: those of the last week before the rotation, at most this
/// many (the daily cap is at most 10, so a week holds at most 70 honest attempts).
const MAX_CARRIED_RECENT: usize = 256;
const CARRIED_RECENT_DAYS: i64 = 7;
/// The window of `ValidationDailyCap`: the last 24 hours, not the calendar day (a cap per calendar
/// day would allow twice the cap around midnight).
pub(crate) const DAILY_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// What happened. The names are the audit format: additive changes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum What {
    UseDetected,
    RotationPending,
    RotationRequested,
    RotationConfirmed,
    RotationFailed,
    FlagWithdrawn,
    ForeignFlagReported,
    KeyChanged,
    KeyVanished,
    /// Written, and fsynced, before `fdesetup validaterecovery` runs: an attempt is counted even
    /// if the process dies before its answer.
    ValidationStarted,
    /// The answer: `Result` is `Valid`, `Invalid` or a fixed error code.
    Validated,
    ValidationRefused,
    RotateWithKeyStarted,
    RotatedWithKey,
    /// `rotate --current-key` refused, with the rule that refused (as `ValidationRefused`).
    RotateWithKeyRefused,
    /// An admin stated (`keywarden rotate --replaced`, only with `EscrowOutsideMDM`) that the key
    /// was replaced by the tool that escrows it: Keywarden cannot see that itself.
    KeyReplacedStated,
    /// A new `RotationRequestID` was acted on; `Result` is `request_token(id)`. The trail is the
    /// record that outlives the state file: a state lost or moved aside must not make an ID
    /// already honoured ask for another rotation (issue 16, item 6).
    RotationRequestAccepted,
    /// The first line after a rotation of the file: the tally of the lines it replaced.
    Carried,
}

impl What {
    pub(crate) fn name(self) -> &'static str {
        match self {
            What::UseDetected => "UseDetected",
            What::RotationPending => "RotationPending",
            What::RotationRequested => "RotationRequested",
            What::RotationConfirmed => "RotationConfirmed",
            What::RotationFailed => "RotationFailed",
            What::FlagWithdrawn => "FlagWithdrawn",
            What::ForeignFlagReported => "ForeignFlagReported",
            What::KeyChanged => "KeyChanged",
            What::KeyVanished => "KeyVanished",
            What::ValidationStarted => "ValidationStarted",
            What::Validated => "Validated",
            What::ValidationRefused => "ValidationRefused",
            What::RotateWithKeyStarted => "RotateWithKeyStarted",
            What::RotatedWithKey => "RotatedWithKey",
            What::RotateWithKeyRefused => "RotateWithKeyRefused",
            What::KeyReplacedStated => "KeyReplacedStated",
            What::RotationRequestAccepted => "RotationRequestAccepted",
            What::Carried => "Carried",
        }
    }
}

/// How one attempt with a key ended: the `Result` of a `Validated` (`validaterecovery`) or
/// `RotatedWithKey` (`changerecovery` with the current key) event. The caps count every attempt,
/// and every answer but a key that unlocks the Mac or was accepted to make a new one as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The key unlocks this Mac.
    Valid,
    /// It does not.
    Invalid,
    /// It was accepted, and a new key was staged for escrow.
    Staged,
    /// It was accepted, but no new escrow file appeared.
    NotStaged,
    /// No answer, or the key refused: the fixed code of `fdesetup::SecretCommandError`.
    Error(&'static str),
}

impl Answer {
    /// The `Result` written to the trail.
    pub(crate) fn result(self) -> &'static str {
        match self {
            Answer::Valid => "Valid",
            Answer::Invalid => "Invalid",
            Answer::Staged => "Staged",
            Answer::NotStaged => "NotStaged",
            Answer::Error(code) => code,
        }
    }

    /// Whether the attempt recorded in `e` (a `Validated` or `RotatedWithKey` event) failed, for
    /// `ValidationFailureCap`. Anything but a known success is a failure: a line the trail cannot
    /// vouch for must not refund an attempt.
    fn failed_in(e: &Event) -> bool {
        let succeeded = [Answer::Valid, Answer::Staged, Answer::NotStaged]
            .iter()
            .any(|a| e.result == a.result());
        // Trails written before issue 13 recorded a `RotatedWithKey` as a sentence; its failures
        // started with `Failed`.
        let legacy_success = e.what == What::RotatedWithKey
            && (e.result.starts_with("a new key was made")
                || e.result.starts_with("fdesetup reported success"));
        !(succeeded || legacy_success)
    }
}

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    /// RFC 3339, UTC, whole seconds (`Event::new` cuts the fraction; jiff writes and reads the
    /// form).
    pub at: Timestamp,
    pub what: What,
    /// A short, fixed word or phrase (`Valid`, `Invalid`, `KeyUsed via EscrowBuddy`, ...).
    pub result: String,
    /// The user logged in at the console, when known (`null` otherwise).
    #[serde(default)]
    pub console_user: Option<String>,
    /// The human behind the process (`calling_user`), `daemon` for the resident daemon.
    pub caller: String,
    /// Why, in a sentence (`null` when the result says it all).
    #[serde(default)]
    pub detail: Option<String>,
    /// Only on `Carried` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<Carried>,
    /// The id of the effect this event records, when it comes from the daemon's outbox: a check
    /// replaying the outbox after a kill skips events already written (exactly once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

/// The validation tally of the lines a rotation dropped, cumulative (it includes any `Carried`
/// line among them). Reading the rotated file gives the same counts as reading the whole history
/// (`validation_counts`), except for attempt times older than a week before the rotation, which
/// no cap looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Carried {
    /// Validation attempts ever made in the dropped lines.
    pub validations: u32,
    /// Failed validations among them (`Invalid`, an error, or a start without an answer).
    pub failures: u32,
    /// When the attempts of the last week before the rotation started (for the daily cap).
    pub recent: Vec<Timestamp>,
    /// A `ValidationStarted` whose answer had not been seen in the dropped lines: it is resolved
    /// by a `Validated` line that follows, or counts as a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Timestamp>,
    /// Lines folded into this one, ever.
    pub dropped_lines: u64,
    /// Lines among them that could not be read (they counted for nothing).
    pub unreadable_lines: u64,
    /// The time of the oldest event ever folded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The last `RotationRequestID` acted on in the dropped lines, if any (issue 16, item 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestSeen>,
}

/// The last `RotationRequestID` the trail records as acted on, and whether a new key answered it
/// since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestSeen {
    /// `request_token` of the ID.
    pub token: String,
    /// When it was acted on.
    pub at: Timestamp,
    /// A new key was staged at or after `at` (a confirmed rotation, a key changed by another tool,
    /// `rotate --current-key`, or a replacement an admin stated).
    pub answered: bool,
}

/// How the trail names a `RotationRequestID`: the ID itself when it fits a `Result` (short, one
/// line, printable), otherwise `sha256:` and its hash, so two long IDs that share a beginning are
/// never taken for one.
pub(crate) fn request_token(id: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let fits = id.chars().count() <= MAX_SHORT_CHARS
        && !id.starts_with("sha256:")
        && text::bounded(id, MAX_SHORT_CHARS) == id
        && id.chars().all(|c| !c.is_control());
    if fits {
        id.to_owned()
    } else {
        let digest = Sha256::digest(id.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// The last `RotationRequestID` acted on according to `events` (file order), `Carried` lines
/// included, its time read as `validation_counts` reads times (never after a later line or
/// `now`). A key staged in a line after it answers it: the trail is appended in the order things
/// happen, whatever the clock said (issue 16, item 4).
pub(crate) fn request_seen(events: &[Event], now: Timestamp) -> Option<RequestSeen> {
    let mut tally = Tally::default();
    for (e, at) in events.iter().zip(trusted_times(events, now)) {
        tally.feed(e, at);
    }
    tally.request
}

impl Event {
    /// An event at `at` (cut to whole seconds) by `calling_user()`.
    pub fn new(at: Timestamp, what: What, result: impl Into<String>) -> Event {
        Event {
            at: clock::whole_seconds(at),
            what,
            result: text::bounded(&result.into(), MAX_SHORT_CHARS),
            console_user: None,
            caller: text::bounded(&calling_user(), MAX_SHORT_CHARS),
            detail: None,
            carried: None,
            id: None,
        }
    }

    /// The id of the outbox effect this event records.
    pub(crate) fn id(mut self, id: u64) -> Event {
        self.id = Some(id);
        self
    }

    /// The console user, if any.
    pub(crate) fn console(mut self, user: Option<&str>) -> Event {
        self.console_user = user.map(|u| text::bounded(u, MAX_SHORT_CHARS));
        self
    }

    /// A sentence saying why.
    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(text::bounded(&detail.into(), MAX_DETAIL_CHARS));
        self
    }

    /// The line as written, and as `keywarden audit --json` prints it: compact JSON and `\n`,
    /// every control character inside a string escaped (`text::json_line`), so a hand-edited
    /// line printed again cannot move a terminal.
    pub fn to_line(&self) -> Vec<u8> {
        text::json_line(self)
            .expect("an event serialises: strings, counts, timestamps and a unit enum")
            .into_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// Who is calling
// ---------------------------------------------------------------------------------------------

static CALLER: OnceLock<&'static str> = OnceLock::new();

/// Name the process for the audit trail once, at start-up: the resident daemon calls
/// `set_caller("daemon")` so its events say so rather than `root`. Later calls are ignored.
pub(crate) fn set_caller(label: &'static str) {
    let _ = CALLER.set(label);
}

/// The human behind this process: the label given to `set_caller` (`daemon` for `keywarden
/// run`), else `$SUDO_USER` when it is a plain account name (sudo sets it to the invoking user),
/// else the name of the real uid, else `uid N`.
pub(crate) fn calling_user() -> String {
    if let Some(label) = CALLER.get() {
        return (*label).to_owned();
    }
    let uid = nix::unistd::getuid();
    caller_from(
        std::env::var("SUDO_USER").ok().as_deref(),
        uid.as_raw(),
        |_| {
            nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
        },
    )
}

fn caller_from(
    sudo_user: Option<&str>,
    uid: u32,
    name_of: impl Fn(u32) -> Option<String>,
) -> String {
    if let Some(name) = sudo_user.filter(|n| is_account_name(n)) {
        return name.to_owned();
    }
    match name_of(uid).filter(|n| is_account_name(n)) {
        Some(name) => name,
        None => format!("uid {uid}"),
    }
}

/// A short account name as macOS makes them (letters, digits, `_`, `.`, `-`; not starting with
/// `-`): anything else in `$SUDO_USER` is not trusted into the trail.
pub(crate) fn is_account_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Why the trail cannot be read at all (a bad line is not such a reason: it is skipped).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuditError {
    #[error("the audit trail cannot be read: {0}")]
    File(#[from] FileError),
}

/// A line that is not an event, by number (from 1) and why. The why never quotes the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    pub why: String,
}

/// The events of the trail in file order, and the lines that were not events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trail {
    pub events: Vec<Event>,
    pub skipped: Vec<Skipped>,
}

/// Parse the bytes of a trail. Blank lines are ignored; a line that is not an event (a torn
/// write after a power cut, an edit by hand, a kind of event from a newer Keywarden) is skipped
/// and reported, never fatal.
pub fn parse(bytes: &[u8]) -> Trail {
    let mut trail = Trail::default();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(e) => trail.events.push(e),
            Err(e) => {
                // serde_json's message may quote the line's text; say only what kind of error
                // and where.
                let kind = match e.classify() {
                    serde_json::error::Category::Data => "a JSON object that is not an event",
                    _ => "not JSON",
                };
                trail.skipped.push(Skipped {
                    line: i + 1,
                    why: format!("{kind} (column {})", e.column()),
                });
            }
        }
    }
    trail
}

/// Read the trail of the Mac under `root`, with its unreadable lines. A missing file is an empty
/// trail.
pub(crate) fn read_all(root: &Root, owners: Owners) -> Result<Trail, AuditError> {
    let dir = root.resolve(paths::STATE_DIR);
    if files::lstat(&dir)?.is_some() {
        // Exists: it must be the private, trusted directory (this creates nothing).
        files::ensure_dir(&dir, 0o700, true, owners)?;
    }
    let path = root.resolve(paths::AUDIT);
    match files::read_file(&path, MAX_READ_BYTES, Trust::Owned(owners))? {
        None => Ok(Trail::default()),
        Some(bytes) => Ok(parse(&bytes)),
    }
}

/// The events of the trail; each unreadable line is logged (`audit_line_skipped`) and skipped.
pub(crate) fn read(root: &Root, owners: Owners) -> Result<Vec<Event>, AuditError> {
    let trail = read_all(root, owners)?;
    for s in &trail.skipped {
        tracing::warn!(event = "audit_line_skipped", line = s.line, why = %s.why);
    }
    Ok(trail.events)
}

// ---------------------------------------------------------------------------------------------
// Counting validations
// ---------------------------------------------------------------------------------------------

/// What the validation caps are counted from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationCounts {
    /// Attempts in the last 24 hours (`DAILY_WINDOW`), including any dated in the future, which
    /// count as made no later than the lines after them and now (`validation_counts`): a clock
    /// set back neither refunds attempts nor locks them out until the future date.
    pub today: u32,
    /// Failed validations ever: `Invalid`, an error, or an attempt whose answer was never
    /// recorded (a crash must not refund an attempt).
    pub failures_ever: u32,
    /// Attempts ever.
    pub validations_ever: u32,
    /// When the attempts counted in `today` started, oldest first.
    pub today_attempts: Vec<Timestamp>,
}

impl ValidationCounts {
    /// When fewer than `cap` attempts will be in the window (`None`: they already are, or never
    /// with a cap of 0).
    pub fn daily_cap_frees_at(&self, cap: u32) -> Option<Timestamp> {
        let n = self.today_attempts.len();
        if cap == 0 || n < cap as usize {
            return None;
        }
        // The window holds < cap attempts once the oldest n - cap + 1 have left it.
        self.today_attempts[n - cap as usize]
            .checked_add(DAILY_WINDOW)
            .ok()
    }
}

/// The running tally of validations over a sequence of events: the same fold counts the caps
/// and builds a `Carried` line, which is why a rotation cannot change the counts.
#[derive(Debug, Default)]
struct Tally {
    validations: u32,
    failures: u32,
    recent: Vec<Timestamp>,
    pending: Option<Timestamp>,
    request: Option<RequestSeen>,
}

impl Tally {
    /// Fold in `e`, as made at `at` (its own time, or an earlier one `validation_counts` trusts
    /// more).
    fn feed(&mut self, e: &Event, at: Timestamp) {
        match e.what {
            What::Carried => {
                if let Some(c) = &e.carried {
                    self.validations = self.validations.saturating_add(c.validations);
                    self.failures = self.failures.saturating_add(c.failures);
                    // The carried attempts were made before this line was written.
                    self.recent.extend(c.recent.iter().map(|t| (*t).min(at)));
                    if let Some(p) = c.pending {
                        self.start(p);
                    }
                    if let Some(r) = &c.request {
                        // Acted on before this line was written (as the carried attempts).
                        self.request = Some(RequestSeen {
                            at: r.at.min(at),
                            ..r.clone()
                        });
                    }
                }
            }
            What::RotationRequestAccepted => {
                self.request = Some(RequestSeen {
                    token: e.result.clone(),
                    at,
                    answered: false,
                });
            }
            // `rotate --current-key` authenticates with the key too and spends the same Secure
            // Enclave attempts (PLATFORM.md): it counts like a validation.
            What::ValidationStarted | What::RotateWithKeyStarted => {
                self.validations = self.validations.saturating_add(1);
                self.recent.push(at);
                self.start(at);
            }
            What::RotatedWithKey => {
                if e.result == Answer::Staged.result() {
                    self.answer();
                }
                if self.pending.take().is_none() {
                    self.validations = self.validations.saturating_add(1);
                    self.recent.push(at);
                }
                if Answer::failed_in(e) {
                    self.failures = self.failures.saturating_add(1);
                }
            }
            What::Validated => {
                if self.pending.take().is_none() {
                    // Its start was lost (an unreadable line): still an attempt.
                    self.validations = self.validations.saturating_add(1);
                    self.recent.push(at);
                }
                if Answer::failed_in(e) {
                    self.failures = self.failures.saturating_add(1);
                }
            }
            What::RotationConfirmed | What::KeyChanged | What::KeyReplacedStated => self.answer(),
            What::UseDetected
            | What::RotationPending
            | What::RotationRequested
            | What::RotationFailed
            | What::FlagWithdrawn
            | What::ForeignFlagReported
            | What::KeyVanished
            | What::ValidationRefused
            | What::RotateWithKeyRefused => {}
        }
    }

    /// A new key was staged: it answers the request of an earlier line.
    fn answer(&mut self) {
        if let Some(r) = self.request.as_mut() {
            r.answered = true;
        }
    }

    /// A start at `at`; a start still pending before it never got its answer (the process died):
    /// a failure.
    fn start(&mut self, at: Timestamp) {
        if self.pending.replace(at).is_some() {
            self.failures = self.failures.saturating_add(1);
        }
    }
}

/// Each event's time as the counts trust it: its own, but never after a line written later nor
/// after `now` (a line dated in the future was written before the clock was set back).
fn trusted_times(events: &[Event], now: Timestamp) -> Vec<Timestamp> {
    let mut floor = now;
    let mut seen = vec![now; events.len()];
    for (i, e) in events.iter().enumerate().rev() {
        floor = crate::clock::seen_at(e.at, floor);
        seen[i] = floor;
    }
    seen
}

/// Count validations in `events` (file order) as the caps see them at `now`.
///
/// The file's order is the order things happened in; the times on its lines are the clock's word
/// (issue 16, item 4). Each line counts as made no later than any line written after it, nor
/// than now: an attempt dated in the future (the clock was set back since) neither leaves the
/// window early (no refund) nor holds it until that date (a lock "until 2076"). It stays in the
/// window a day from the first line written after the clock was set back (a refused attempt is
/// such a line) or, with none yet, from now.
pub fn validation_counts(events: &[Event], now: Timestamp) -> ValidationCounts {
    let mut tally = Tally::default();
    for (e, at) in events.iter().zip(trusted_times(events, now)) {
        tally.feed(e, at);
    }
    let dangling = u32::from(tally.pending.is_some());
    let since = now.checked_sub(DAILY_WINDOW).unwrap_or(Timestamp::MIN);
    let mut today_attempts: Vec<Timestamp> =
        tally.recent.into_iter().filter(|t| *t > since).collect();
    today_attempts.sort();
    ValidationCounts {
        today: today_attempts.len() as u32,
        failures_ever: tally.failures.saturating_add(dangling),
        validations_ever: tally.validations,
        today_attempts,
    }
}

// ---------------------------------------------------------------------------------------------
// Appending and rotating
// ---------------------------------------------------------------------------------------------

/// Append `event` to the trail of the Mac under `root`: one line, one `write(2)`, fsynced. The
/// state directory is created (0700) if needed; the file is created 0600.
pub fn append(root: &Root, owners: Owners, event: &Event) -> Result<(), FileError> {
    let dir = root.resolve(paths::STATE_DIR);
    files::ensure_dir(&dir, 0o700, true, owners)?;
    append_to(&root.resolve(paths::AUDIT), owners, event, MAX_AUDIT_BYTES)
}

fn append_to(path: &Path, owners: Owners, event: &Event, max: u64) -> Result<(), FileError> {
    let line = event.to_line();
    // Another process may rotate the file between our open and our lock, leaving us holding the
    // replaced inode; then open again. Three rotations in a row while we wait cannot happen
    // honestly (each one halves the file).
    for _ in 0..3 {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            // NOFOLLOW: never through a symlink; NONBLOCK: a FIFO planted here cannot hang us.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    FileError::Symlink {
                        path: path.to_owned(),
                    }
                } else {
                    FileError::io(path, e)
                }
            })?;
        let meta = file.metadata().map_err(|e| FileError::io(path, e))?;
        if !meta.file_type().is_file() {
            return Err(FileError::NotRegular {
                path: path.to_owned(),
                kind: files::kind_of(&meta),
            });
        }
        files::check_trusted(path, &meta, owners)?;
        let file = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| FileError::io(path, io::Error::from(errno)))?;
        let meta = file.metadata().map_err(|e| FileError::io(path, e))?;
        match files::lstat(path)? {
            Some(now) if now.dev() == meta.dev() && now.ino() == meta.ino() => {}
            _ => continue,
        }
        if meta.mode() & 0o7777 != 0o600 {
            // Ours and not writable by others (checked above), but it must not be readable
            // either: tighten it rather than fail.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| FileError::io(path, e))?;
        }
        let len = meta.len();
        if len.saturating_add(line.len() as u64) > max {
            return rotate(path, &file, len, event, max);
        }
        return write_line(path, &file, len, &line);
    }
    Err(FileError::io(
        path,
        io::Error::other("the audit trail was replaced three times while waiting to append"),
    ))
}

/// One `write(2)` of the whole line at the end, then fsync. A torn tail (a power cut after a
/// write that was not yet on disk) has no final newline: the line then starts with one, so it
/// stays whole and only the fragment is unreadable. A short write is undone, so a half line never
/// glues itself to the next one.
fn write_line(path: &Path, file: &File, len: u64, line: &[u8]) -> Result<(), FileError> {
    let mut last = [0u8; 1];
    let torn = len > 0
        && file
            .read_at(&mut last, len - 1)
            .map_err(|e| FileError::io(path, e))?
            == 1
        && last[0] != b'\n';
    let mut bytes = Vec::with_capacity(line.len() + 1);
    if torn {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line);
    let written = (&*file).write(&bytes);
    match written {
        Ok(n) if n == bytes.len() => {}
        Ok(n) => {
            let _ = file.set_len(len);
            return Err(FileError::io(
                path,
                io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!(
                        "only {n} of {} bytes could be appended (is the disk full?)",
                        bytes.len()
                    ),
                ),
            ));
        }
        Err(e) => {
            let _ = file.set_len(len);
            return Err(FileError::io(path, e));
        }
    }
    file.sync_all().map_err(|e| FileError::io(path, e))
}

/// Replace the trail (held locked) with a `Carried` line, its newest half and `event`,
/// atomically (temp file, fsync, rename): a crash leaves the old file or the new one.
fn rotate(path: &Path, file: &File, len: u64, event: &Event, max: u64) -> Result<(), FileError> {
    if len > MAX_READ_BYTES {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            max: MAX_READ_BYTES,
        });
    }
    let mut old = Vec::with_capacity(len as usize);
    let reader: &File = file;
    reader
        .take(MAX_READ_BYTES)
        .read_to_end(&mut old)
        .map_err(|e| FileError::io(path, e))?;
    let (bytes, dropped) = compact(&old, event, max);
    files::write_atomic(path, &bytes, 0o600)?;
    tracing::info!(event = "audit_rotated", dropped, bytes = bytes.len());
    Ok(())
}

/// The rotated trail: a `Carried` line folding in the oldest lines, the newest lines that fit in
/// half of `max` (kept byte for byte), and `event`. Returns the bytes and how many lines were
/// folded in.
fn compact(old: &[u8], event: &Event, max: u64) -> (Vec<u8>, usize) {
    let lines: Vec<&[u8]> = old
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let new_line = event.to_line();
    let budget = (max / 2).saturating_sub(new_line.len() as u64);
    let mut kept_bytes = 0u64;
    let mut split = lines.len();
    while split > 0 {
        let size = lines[split - 1].len() as u64 + 1;
        if kept_bytes + size > budget {
            break;
        }
        kept_bytes += size;
        split -= 1;
    }
    // Each folded line's time as `validation_counts` trusts it: never after a line written later,
    // the kept lines and `event` included. Folded with its own time instead, an attempt the clock
    // dated after a later line would leave the 24-hour window at another time than before the
    // rotation (issue 16, item 4; found by `make fuzz`, target audit_rotate).
    let parsed: Vec<Option<Event>> = lines
        .iter()
        .map(|l| serde_json::from_slice::<Event>(l).ok())
        .collect();
    let mut floor = event.at;
    let mut trusted = vec![event.at; lines.len()];
    for (i, e) in parsed.iter().enumerate().rev() {
        if let Some(e) = e {
            floor = clock::seen_at(e.at, floor);
        }
        trusted[i] = floor;
    }
    let mut tally = Tally::default();
    let mut carried = Carried::default();
    for (parsed, at) in parsed.into_iter().zip(trusted).take(split) {
        match parsed {
            Some(e) => {
                tally.feed(&e, at);
                match &e.carried {
                    Some(c) if e.what == What::Carried => {
                        // Counts from the file: a damaged or hand-edited line may hold any
                        // u64 (found by `make fuzz`, issue 6).
                        carried.dropped_lines =
                            carried.dropped_lines.saturating_add(c.dropped_lines);
                        carried.unreadable_lines =
                            carried.unreadable_lines.saturating_add(c.unreadable_lines);
                        carried.since = min_time(carried.since, c.since);
                    }
                    _ => {
                        carried.dropped_lines = carried.dropped_lines.saturating_add(1);
                        carried.since = min_time(carried.since, Some(e.at));
                    }
                }
            }
            None => {
                carried.dropped_lines = carried.dropped_lines.saturating_add(1);
                carried.unreadable_lines = carried.unreadable_lines.saturating_add(1);
            }
        }
    }
    carried.validations = tally.validations;
    carried.failures = tally.failures;
    carried.pending = tally.pending;
    carried.request = tally.request;
    // Only the last week before this rotation can matter to the daily cap.
    let horizon = event
        .at
        .checked_sub(SignedDuration::from_hours(24 * CARRIED_RECENT_DAYS))
        .unwrap_or(Timestamp::MIN);
    let mut recent: Vec<Timestamp> = tally.recent.into_iter().filter(|t| *t > horizon).collect();
    recent.sort();
    let excess = recent.len().saturating_sub(MAX_CARRIED_RECENT);
    recent.drain(..excess);
    carried.recent = recent;
    let folded = split;
    let head = Event {
        carried: Some(carried.clone()),
        ..Event::new(event.at, What::Carried, "Rotated").detail(format!(
            "the audit trail reached {max} bytes: {folded} older lines were folded into this one ({} in all so far); their validation counts are carried",
            carried.dropped_lines
        ))
    };
    let mut out = head.to_line();
    for line in &lines[split..] {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(&new_line);
    (out, folded)
}

fn min_time(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn now() -> Timestamp {
        t("2026-11-22T10:00:00Z")
    }

    fn ev(at: &str, what: What, result: &str) -> Event {
        Event::new(t(at), what, result)
    }

    /// Append a `KeyChanged` event at `at`.
    fn add(root: &Root, at: &str, result: &str) -> Result<(), FileError> {
        append(root, me(), &ev(at, What::KeyChanged, result))
    }

    fn root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        (dir, root)
    }

    fn me() -> Owners {
        Owners::current()
    }

    #[test]
    fn an_event_is_one_json_line_with_pascal_case_fields_and_whole_seconds() {
        let e = Event::new(t("2026-11-22T10:00:00.75Z"), What::Validated, "Invalid")
            .console(Some("alice"))
            .detail("fdesetup says the key does not unlock this Mac");
        let line = String::from_utf8(e.to_line()).unwrap();
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line}"
        );
        assert!(
            line.starts_with(r#"{"At":"2026-11-22T10:00:00Z","What":"Validated","Result":"Invalid","ConsoleUser":"alice","Caller":""#),
            "{line}"
        );
        assert!(!line.contains("Carried"), "{line}");
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn a_newline_in_a_detail_cannot_split_the_line_and_long_text_is_cut() {
        let e = ev("2026-11-22T10:00:00Z", What::KeyChanged, "x")
            .detail(format!("a\nb{}", "c".repeat(2000)));
        let line = e.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(e.detail.unwrap().chars().count() <= MAX_DETAIL_CHARS + 1);
    }

    #[test]
    fn events_are_appended_and_read_back_in_order_in_a_0600_file_in_a_0700_directory() {
        let (_d, root) = root();
        let a = ev("2026-11-22T10:00:00Z", What::ValidationStarted, "Started");
        let b = ev("2026-11-22T10:00:01Z", What::Validated, "Valid").console(Some("alice"));
        append(&root, me(), &a).unwrap();
        append(&root, me(), &b).unwrap();
        assert_eq!(read(&root, me()).unwrap(), vec![a, b]);
        let meta = fs::metadata(root.resolve(paths::AUDIT)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        let dmeta = fs::metadata(root.resolve(paths::STATE_DIR)).unwrap();
        assert_eq!(dmeta.permissions().mode() & 0o7777, 0o700);
    }

    #[test]
    fn a_missing_trail_reads_as_empty() {
        let (_d, root) = root();
        assert!(read(&root, me()).unwrap().is_empty());
    }

    #[test]
    fn a_loosened_file_is_tightened_back_to_0600() {
        let (_d, root) = root();
        add(&root, "2026-11-22T10:00:00Z", "x").unwrap();
        let path = root.resolve(paths::AUDIT);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        add(&root, "2026-11-22T10:00:01Z", "y").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );
    }

    #[test]
    fn a_symlink_at_the_audit_path_is_refused_and_not_written_through() {
        let (d, root) = root();
        files::ensure_dir(&root.resolve(paths::STATE_DIR), 0o700, true, me()).unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, root.resolve(paths::AUDIT)).unwrap();
        let err = add(&root, "2026-11-22T10:00:00Z", "x").unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        let err = read(&root, me()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn a_group_writable_or_fifo_trail_is_refused() {
        let (_d, root) = root();
        add(&root, "2026-11-22T10:00:00Z", "x").unwrap();
        let path = root.resolve(paths::AUDIT);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o620)).unwrap();
        let err = add(&root, "2026-11-22T10:00:01Z", "y").unwrap_err();
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
        assert!(read(&root, me()).is_err());
        fs::remove_file(&path).unwrap();
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = add(&root, "2026-11-22T10:00:01Z", "y").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    /// Two events appended with `raw` written straight into the file between them (a hand edit,
    /// a torn write): the two events and the trail as read back.
    fn around(raw: &[u8]) -> ([Event; 2], Trail) {
        let (_d, root) = root();
        let a = ev("2026-11-22T10:00:00Z", What::KeyChanged, "x");
        append(&root, me(), &a).unwrap();
        let path = root.resolve(paths::AUDIT);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(raw).unwrap();
        drop(f);
        let b = ev("2026-11-22T10:00:02Z", What::KeyVanished, "y");
        append(&root, me(), &b).unwrap();
        ([a, b], read_all(&root, me()).unwrap())
    }

    #[test]
    fn a_corrupt_line_is_skipped_and_reported_without_quoting_it() {
        let (events, trail) = around(
            b"SECRETTEXT, torn\n{\"At\":\"2026-11-22T10:00:00Z\",\"What\":\"SECRETKIND\",\"Result\":\"x\",\"Caller\":\"y\"}\n",
        );
        assert_eq!(trail.events, events);
        assert_eq!(trail.skipped.len(), 2);
        assert_eq!(trail.skipped[0].line, 2);
        assert!(
            trail.skipped[0].why.contains("not JSON"),
            "{:?}",
            trail.skipped
        );
        assert!(
            trail.skipped[1].why.contains("not an event"),
            "{:?}",
            trail.skipped
        );
        for s in &trail.skipped {
            assert!(!s.why.contains("SECRET"), "{s:?}");
        }
    }

    #[test]
    fn a_torn_tail_does_not_swallow_the_next_line() {
        let (events, trail) = around(b"{\"At\":\"2026-11-2");
        assert_eq!(trail.events, events);
        assert_eq!(trail.skipped.len(), 1);
    }

    /// Validation events over `days` days, a few a day, with crashes and failures mixed in.
    fn history(days: i64) -> Vec<Event> {
        let mut out = Vec::new();
        let start = t("2026-01-01T08:00:00Z");
        for d in 0..days {
            let day = start
                .checked_add(SignedDuration::from_hours(24 * d))
                .unwrap();
            for (i, result) in ["Valid", "Invalid", "crash", "RunFailed"]
                .iter()
                .enumerate()
            {
                let at = day
                    .checked_add(SignedDuration::from_mins(10 * i as i64))
                    .unwrap();
                out.push(Event::new(at, What::RotationPending, "KeyUsed").detail("x".repeat(150)));
                out.push(Event::new(at, What::ValidationStarted, "Started"));
                if *result != "crash" {
                    out.push(Event::new(at, What::Validated, *result));
                }
            }
        }
        out
    }

    #[test]
    fn rotation_keeps_the_file_bounded_and_the_counts_unchanged() {
        let (_d, root) = root();
        let events = history(40);
        let max = 16 * 1024;
        files::ensure_dir(&root.resolve(paths::STATE_DIR), 0o700, true, me()).unwrap();
        let path = root.resolve(paths::AUDIT);
        let mut rotations = 0;
        for (i, e) in events.iter().enumerate() {
            let before = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            append_to(&path, me(), e, max).unwrap();
            let after = fs::metadata(&path).unwrap().len();
            assert!(after <= max, "{after} > {max}");
            if after < before {
                rotations += 1;
            }
            let now = e.at.checked_add(SignedDuration::from_hours(1)).unwrap();
            let got = read(&root, me()).unwrap();
            assert_eq!(
                validation_counts(&got, now),
                validation_counts(&events[..=i], now),
                "after event {i}"
            );
        }
        assert!(rotations >= 3, "only {rotations} rotations");
        let read = read(&root, me()).unwrap();
        assert_eq!(read[0].what, What::Carried);
        assert_eq!(read.iter().filter(|e| e.what == What::Carried).count(), 1);
        let c = read[0].carried.as_ref().unwrap();
        assert!(c.failures > 0 && c.validations > c.failures, "{c:?}");
        assert_eq!(c.since, Some(t("2026-01-01T08:00:00Z")));
        // 40 days x 4 attempts, of which 3 fail each day (Invalid, a crash, an error).
        let counts = validation_counts(&read, t("2026-02-09T12:00:00Z"));
        assert_eq!(counts.validations_ever, 160);
        assert_eq!(counts.failures_ever, 120);
        assert_eq!(counts.today, 4);
    }

    #[test]
    fn the_last_request_id_acted_on_and_whether_a_key_answered_it_outlive_a_rotation_issue_16() {
        let (_d, root) = root();
        files::ensure_dir(&root.resolve(paths::STATE_DIR), 0o700, true, me()).unwrap();
        let path = root.resolve(paths::AUDIT);
        let max = 4 * 1024;
        let accepted = ev(
            "2026-01-01T08:00:00Z",
            What::RotationRequestAccepted,
            &request_token("INC-1"),
        );
        append_to(&path, me(), &accepted, max).unwrap();
        let seen = request_seen(&read(&root, me()).unwrap(), now()).unwrap();
        assert_eq!(seen.token, "INC-1");
        assert!(!seen.answered);
        // A key staged in the same second answers it (the state's rule: at or after).
        let confirmed = ev(
            "2026-01-01T08:00:00Z",
            What::RotationConfirmed,
            "AdminRequest",
        );
        append_to(&path, me(), &confirmed, max).unwrap();
        // Enough other lines to fold both into a Carried line, twice over.
        for i in 0..200 {
            let at = format!("2026-01-02T{:02}:{:02}:00Z", i / 60, i % 60);
            append_to(&path, me(), &ev(&at, What::UseDetected, "boot x"), max).unwrap();
        }
        let events = read(&root, me()).unwrap();
        assert_eq!(events[0].what, What::Carried);
        assert!(!events
            .iter()
            .any(|e| e.what == What::RotationRequestAccepted));
        let seen = request_seen(&events, now()).unwrap();
        assert_eq!(seen.token, "INC-1");
        assert_eq!(seen.at, t("2026-01-01T08:00:00Z"));
        assert!(seen.answered, "{seen:?}");
    }

    #[test]
    fn only_a_new_key_in_a_line_after_the_request_answers_it_issue_16() {
        let at = "2026-01-01T08:00:00Z";
        let accepted = ev(at, What::RotationRequestAccepted, "INC-1");
        let key = |what, result| ev(at, what, result);
        // The trail's order is the order things happened in, whatever the clock said.
        let back = |e: Event| Event {
            at: t("2025-06-01T00:00:00Z"),
            ..e
        };
        for (why, events, answered) in [
            (
                "a confirmed rotation",
                vec![
                    accepted.clone(),
                    key(What::RotationConfirmed, "AdminRequest"),
                ],
                true,
            ),
            (
                "a key changed by another tool",
                vec![accepted.clone(), key(What::KeyChanged, "x")],
                true,
            ),
            (
                "an admin's statement",
                vec![accepted.clone(), key(What::KeyReplacedStated, "x")],
                true,
            ),
            (
                "rotate --current-key staged a key",
                vec![accepted.clone(), key(What::RotatedWithKey, "Staged")],
                true,
            ),
            (
                "a key staged after the clock was set back",
                vec![accepted.clone(), back(key(What::RotationConfirmed, "x"))],
                true,
            ),
            (
                "rotate --current-key that failed",
                vec![accepted.clone(), key(What::RotatedWithKey, "Invalid")],
                false,
            ),
            (
                "a rotation merely requested",
                vec![accepted.clone(), key(What::RotationRequested, "x")],
                false,
            ),
            (
                "a key changed in a line before the request",
                vec![key(What::KeyChanged, "x"), accepted.clone()],
                false,
            ),
        ] {
            assert_eq!(
                request_seen(&events, now()).unwrap().answered,
                answered,
                "{why}"
            );
        }
        assert_eq!(
            request_seen(&[key(What::RotationConfirmed, "x")], now()),
            None
        );
        let future = Event {
            at: t("2076-01-01T00:00:00Z"),
            ..accepted
        };
        assert_eq!(
            request_seen(&[future], now()).unwrap().at,
            now(),
            "a request dated in the future was acted on no later than now"
        );
    }

    #[test]
    fn a_carried_request_dated_in_the_future_was_acted_on_no_later_than_its_line_issue_16() {
        let carried = Event {
            carried: Some(Carried {
                request: Some(RequestSeen {
                    token: "INC-1".into(),
                    at: t("2076-01-01T00:00:00Z"),
                    answered: false,
                }),
                ..Carried::default()
            }),
            ..ev("2026-11-01T00:00:00Z", What::Carried, "Rotated")
        };
        let seen = request_seen(&[carried], now()).unwrap();
        assert_eq!(seen.at, t("2026-11-01T00:00:00Z"));
    }

    #[test]
    fn a_request_id_is_named_by_itself_when_it_fits_and_by_its_hash_otherwise_issue_16() {
        assert_eq!(request_token("INC-4711"), "INC-4711");
        let a = format!("{}a", "x".repeat(100));
        let b = format!("{}b", "x".repeat(100));
        assert!(request_token(&a).starts_with("sha256:"));
        assert_ne!(
            request_token(&a),
            request_token(&b),
            "two long IDs sharing a beginning"
        );
        assert_eq!(request_token(&a).len(), 7 + 64);
        assert!(request_token("line\nbreak").starts_with("sha256:"));
        assert!(
            request_token("sha256:abc").starts_with("sha256:"),
            "no ID passes for a hash"
        );
        let e = Event::new(now(), What::RotationRequestAccepted, request_token(&a));
        assert_eq!(e.result, request_token(&a), "the token fits a Result uncut");
    }

    /// Found by `make fuzz` (audit_rotate) after issue 16 item 4 read each line's time as never
    /// after a later line: folding an attempt the clock dated after a later, kept line must fold
    /// it with that trusted time, or it leaves the 24-hour window at another time than before.
    #[test]
    fn a_rotation_keeps_the_counts_of_attempts_dated_after_a_later_line_issue_16() {
        let (_d, root) = root();
        files::ensure_dir(&root.resolve(paths::STATE_DIR), 0o700, true, me()).unwrap();
        let path = root.resolve(paths::AUDIT);
        let max = 1024;
        let mut history = vec![
            // Written before the clock was set back by two days.
            ev("2026-11-24T09:00:00Z", What::ValidationStarted, "Started"),
            ev("2026-11-24T09:00:01Z", What::Validated, "Invalid"),
        ];
        for i in 0..12 {
            let at = format!("2026-11-22T0{}:{:02}:00Z", i / 6, (i % 6) * 10);
            history.push(ev(&at, What::UseDetected, "boot x"));
        }
        for e in &history {
            append_to(&path, me(), e, u64::MAX).unwrap();
        }
        let event = ev("2026-11-22T09:00:00Z", What::ValidationStarted, "Started");
        append_to(&path, me(), &event, max).unwrap();
        history.push(event);
        let read = read(&root, me()).unwrap();
        assert_eq!(read[0].what, What::Carried, "the attempt was folded");
        for now in [t("2026-11-22T09:30:00Z"), t("2026-11-23T06:00:00Z")] {
            assert_eq!(
                validation_counts(&read, now),
                validation_counts(&history, now),
                "at {now}"
            );
        }
    }

    #[test]
    fn a_rotation_between_a_start_and_its_answer_counts_the_pair_once() {
        let mut events = vec![Event::new(now(), What::ValidationStarted, "Started")];
        for i in 0..200 {
            events.push(
                Event::new(now(), What::KeyChanged, format!("filler {i}")).detail("y".repeat(300)),
            );
        }
        let mut old = Vec::new();
        for e in &events {
            old.extend_from_slice(&e.to_line());
        }
        let answer = Event::new(now(), What::Validated, "Valid");
        let (bytes, dropped) = compact(&old, &answer, 32 * 1024);
        assert!(dropped > 1);
        let rotated = parse(&bytes);
        assert!(rotated.skipped.is_empty());
        let c = rotated.events[0].carried.as_ref().unwrap();
        assert_eq!(c.pending, Some(now()));
        let counts = validation_counts(&rotated.events, now());
        assert_eq!((counts.validations_ever, counts.failures_ever), (1, 0));
    }

    /// Two `Carried` lines whose counts add past `u64::MAX` (a damaged or hand-edited trail):
    /// the rotation saturates instead of panicking in debug or wrapping to a small count
    /// (issue 6).
    #[test]
    fn fuzz_found_an_overflow_folding_carried_lines() {
        let huge = Carried {
            dropped_lines: u64::MAX,
            unreadable_lines: u64::MAX - 1,
            ..Carried::default()
        };
        let mut old = Vec::new();
        for _ in 0..2 {
            let line = Event {
                carried: Some(huge.clone()),
                ..Event::new(now(), What::Carried, "Rotated")
            };
            old.extend_from_slice(&line.to_line());
        }
        old.extend_from_slice(b"not json\n");
        let (bytes, dropped) = compact(&old, &Event::new(now(), What::Validated, "Valid"), 64);
        assert_eq!(dropped, 3);
        let rotated = parse(&bytes);
        let c = rotated.events[0].carried.as_ref().unwrap();
        assert_eq!((c.dropped_lines, c.unreadable_lines), (u64::MAX, u64::MAX));
    }

    #[test]
    fn validation_counts_cover_the_last_24_hours_and_every_failure() {
        let events = vec![
            ev("2026-11-20T09:00:00Z", What::ValidationStarted, "Started"),
            ev("2026-11-20T09:00:01Z", What::Validated, "Invalid"),
            ev("2026-11-21T09:59:59Z", What::ValidationStarted, "Started"),
            ev("2026-11-21T10:00:00Z", What::Validated, "Valid"),
            ev("2026-11-21T10:00:01Z", What::ValidationStarted, "Started"),
            ev("2026-11-21T10:00:02Z", What::Validated, "Valid"),
            ev("2026-11-22T08:00:00Z", What::ValidationRefused, "DailyCap"),
            ev("2026-11-22T09:00:00Z", What::ValidationStarted, "Started"),
            ev("2026-11-22T09:00:01Z", What::Validated, "RunFailed"),
        ];
        let c = validation_counts(&events, now());
        assert_eq!(c.today, 2, "{c:?}");
        assert_eq!(c.failures_ever, 2);
        assert_eq!(c.validations_ever, 4);
        assert_eq!(c.daily_cap_frees_at(2), Some(t("2026-11-22T10:00:01Z")));
        assert_eq!(c.daily_cap_frees_at(1), Some(t("2026-11-23T09:00:00Z")));
        assert_eq!(c.daily_cap_frees_at(3), None);
        assert_eq!(c.daily_cap_frees_at(0), None);
    }

    /// Issue 16, item 4: attempts dated fifty years ahead (the clock was set back since) are not
    /// refunded, count from now while nothing follows them, and from the first line written
    /// after them once one is (the refusal that found the cap reached): the cap frees a day
    /// after that refusal, not in fifty years, and not a day after every attempt to validate.
    #[test]
    fn issue_16_attempts_from_the_future_count_from_the_first_line_after_them() {
        let ahead = "2076-11-22T09:00:00Z";
        let mut events = vec![
            ev(ahead, What::ValidationStarted, "Started"),
            ev(ahead, What::Validated, "Valid"),
        ];
        let c = validation_counts(&events, now());
        assert_eq!(c.today, 1, "not refunded");
        assert_eq!(
            c.daily_cap_frees_at(1),
            Some(now() + SignedDuration::from_hours(24))
        );
        events.push(ev(
            "2026-11-22T10:00:00Z",
            What::ValidationRefused,
            "DailyCap",
        ));
        let an_hour_later = now() + SignedDuration::from_hours(1);
        let c = validation_counts(&events, an_hour_later);
        assert_eq!(c.daily_cap_frees_at(1), Some(t("2026-11-23T10:00:00Z")));
        let c = validation_counts(&events, t("2026-11-23T10:00:01Z"));
        assert_eq!(c.today, 0, "{c:?}");
        assert_eq!(c.validations_ever, 1);
    }

    #[test]
    fn a_crash_between_validation_started_and_validated_spends_an_attempt_and_counts_as_a_failure()
    {
        let crashed = vec![
            ev("2026-11-22T09:00:00Z", What::ValidationStarted, "Started"),
            ev("2026-11-22T09:05:00Z", What::ValidationStarted, "Started"),
            ev("2026-11-22T09:05:01Z", What::Validated, "Valid"),
            ev("2026-11-22T09:30:00Z", What::ValidationStarted, "Started"),
        ];
        let c = validation_counts(&crashed, now());
        assert_eq!(c.today, 3);
        assert_eq!(c.validations_ever, 3);
        assert_eq!(
            c.failures_ever, 2,
            "the first and the last never got an answer"
        );
    }

    #[test]
    fn an_answer_whose_start_was_lost_is_still_an_attempt_and_a_clock_set_back_refunds_nothing() {
        let events = vec![
            ev("2026-11-22T09:00:00Z", What::Validated, "Invalid"),
            ev("2026-11-23T09:00:00Z", What::ValidationStarted, "Started"),
            ev("2026-11-23T09:00:01Z", What::Validated, "Valid"),
        ];
        let c = validation_counts(&events, now());
        assert_eq!((c.today, c.validations_ever, c.failures_ever), (2, 2, 1));
    }

    #[test]
    fn the_caller_is_the_daemon_label_then_sudo_user_then_the_uid_name() {
        let name = |uid: u32| (uid == 501).then(|| "alice".to_owned());
        assert_eq!(caller_from(Some("bob"), 0, name), "bob");
        assert_eq!(caller_from(Some("bad name;rm"), 501, name), "alice");
        assert_eq!(caller_from(Some("-x"), 501, name), "alice");
        assert_eq!(caller_from(None, 501, name), "alice");
        assert_eq!(caller_from(None, 777, name), "uid 777");
        assert_eq!(caller_from(Some(""), 777, name), "uid 777");
        assert!(is_account_name("first.last_2-x"));
        assert!(!is_account_name("Alice Appleseed"));
        // The label wins over everything once set (process-wide; no other test sets it).
        set_caller("daemon");
        assert_eq!(calling_user(), "daemon");
        assert_eq!(Event::new(now(), What::UseDetected, "x").caller, "daemon");
    }

    /// Issue 13: the caps read answers as typed values, not string prefixes. An attempt to rotate
    /// with the key that was accepted is no failure, a refused one is; trails written before the
    /// answers were codes (sentences, `Failed: ...`) count the same way; anything unknown fails.
    #[test]
    fn rotating_with_a_key_counts_as_a_failure_unless_the_key_was_accepted() {
        let cases = [
            (Answer::Staged.result(), false),
            (Answer::NotStaged.result(), false),
            ("AuthenticationFailed", true),
            ("a new key was made and staged for escrow", false),
            (
                "fdesetup reported success but no new escrow file appeared: check the escrow pay…",
                false,
            ),
            (
                "Failed: fdesetup changerecovery: fdesetup could not authenticate with the key",
                true,
            ),
            ("something a newer Keywarden wrote", true),
        ];
        for (result, failed) in cases {
            let events = [
                ev(
                    "2026-11-22T10:00:00Z",
                    What::RotateWithKeyStarted,
                    "Started",
                ),
                ev("2026-11-22T10:00:01Z", What::RotatedWithKey, result),
            ];
            let c = validation_counts(&events, now());
            assert_eq!(c.validations_ever, 1, "{result}");
            assert_eq!(c.failures_ever, u32::from(failed), "{result}");
        }
        let valid = [ev(
            "2026-11-22T10:00:01Z",
            What::Validated,
            Answer::Valid.result(),
        )];
        assert_eq!(validation_counts(&valid, now()).failures_ever, 0);
        let invalid = [ev(
            "2026-11-22T10:00:01Z",
            What::Validated,
            Answer::Invalid.result(),
        )];
        assert_eq!(validation_counts(&invalid, now()).failures_ever, 1);
    }
}
