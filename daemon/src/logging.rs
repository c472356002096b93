//! Logs: `tracing` events with a stable `event` name and key=value fields, written as one line
//! each to `/Library/Logs/Keywarden/keywarden.log` (0640 root:admin) by the daemon itself and rotated by
//! size (launchd holds its `StandardErrorPath` open across newsyslog rotations, PLATFORM.md, so
//! that file only catches panics). On macOS (feature `oslog`) the same events also go to os_log,
//! subsystem `org.keywarden`, one category per area (`daemon`, `check`, `runner`, `tools`,
//! `config`, `state`, `keys`); commands run by hand also print warnings on stderr.
//!
//! The file's lines are plain text or, with `LogFormat` `json`, one JSON object each for a SIEM
//! (issue 15; the schema is docs/logging.md's). Text:
//! `2026-11-22T10:00:00Z INFO  check  check_finished healthy=true problems="" ms=412`; JSON:
//! `{"time":"2026-11-22T10:00:00Z","level":"info","area":"check","event":"check_finished","fields":{"healthy":true,"problems":"","ms":412}}`.
//! Each file holds one format: a file found in the other one is rotated away before the first
//! line is written. os_log and the warnings on stderr are for people and stay as they are.
//! No secret can reach this module: the secret type has no `Display` and its `Debug` redacts, and
//! `tracing-oslog` publishes every field as `%{public}` (PLATFORM.md), so nothing secret may be
//! logged at any level.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

use crate::files::{self, Owners};
use crate::paths::{self, Root};

/// How much is logged (`LogLevel` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// How each line of the log file is written (`LogFormat` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `time LEVEL area event key=value...`, for people (`tail -f`, `grep`).
    Text,
    /// One JSON object per line, for a SIEM (docs/logging.md, "JSON lines").
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }

    /// Whether a file whose first byte is `first` was written in another format: every JSON line
    /// starts with `{`, every text line with the year of its time.
    fn is_foreign(self, first: u8) -> bool {
        match self {
            LogFormat::Text => first == b'{',
            LogFormat::Json => first != b'{',
        }
    }
}

/// Longest a field's value is written, in characters; longer ones are cut with `…`. Values are
/// short (tool output reaches a message as a 160-character excerpt), so this only bounds a line
/// that something unforeseen would make huge, in both formats.
pub const MAX_VALUE_CHARS: usize = 1000;

/// Rotate when the log would pass this size.
pub const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;
/// Rotated files kept (`keywarden.log.1` … `.3`): the log never takes more than 20 MiB.
pub const KEEP_ROTATED: usize = 3;

/// The area (os_log category) of an event, from its module path.
pub fn area(target: &str) -> &'static str {
    let rest = target.strip_prefix("keywarden::").unwrap_or(target);
    match rest.split("::").next().unwrap_or("") {
        "daemon" | "app" => "daemon",
        "check" | "boot_guard" | "observe" | "decide" => "check",
        "runner" => "runner",
        "tools" => "tools",
        "config" => "config",
        "state" | "files" | "lock" | "status" => "state",
        "act" | "attempt" | "guards" | "rotate" | "rotation" | "validate" | "audit"
        | "failed_keys" => "keys",
        _ => "general",
    }
}

/// The os_log categories, one per area. (Before issue 13 `keys` was missing here, so events of
/// the key operations never reached os_log.)
#[cfg(any(test, all(target_os = "macos", feature = "oslog")))]
const AREAS: [&str; 8] = [
    "daemon", "check", "runner", "tools", "config", "state", "keys", "general",
];

/// A size-rotated, append-only log file that never follows a symlink.
pub struct LogFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    /// The group that may read the file (0640): `admin` on a Mac, so an admin can `tail -f` it
    /// without sudo (issue 14). It holds no secret: nothing secret is ever logged.
    readers: Option<u32>,
    inner: Mutex<Inner>,
}

/// The gid of the group whose members may read the log, if this system has it (`admin` is gid
/// 80 on every Mac; a Linux test machine has none).
pub fn log_readers() -> Option<u32> {
    nix::unistd::Group::from_name(paths::LOG_READERS)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

struct Inner {
    file: Option<File>,
    size: u64,
    /// The format lines are written in; the open file holds only this one.
    format: LogFormat,
    /// Why the log cannot be written (reported in `Daemon.Errors`), if it cannot.
    error: Option<String>,
}

impl LogFile {
    pub fn new(
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
        readers: Option<u32>,
        format: LogFormat,
    ) -> LogFile {
        LogFile {
            path,
            max_bytes,
            keep,
            readers,
            inner: Mutex::new(Inner {
                file: None,
                size: 0,
                format,
                error: None,
            }),
        }
    }

    /// Write from now on in `format` (a reloaded configuration). The file is reopened, so that
    /// one already holding lines in the old format is rotated away first (`ensure_open`): a
    /// SIEM reading a JSON file never meets a text line.
    pub fn set_format(&self, format: LogFormat) {
        if let Ok(mut inner) = self.inner.lock() {
            if inner.format != format {
                inner.format = format;
                inner.file = None;
            }
        }
    }

    /// Open the file now (it is otherwise opened at the first line), so a problem with it is known
    /// before the first check publishes its status.
    pub fn open_now(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            self.ensure_open(&mut inner);
        }
    }

    /// Open the file if it is not open; false (with the reason kept) when it cannot be.
    fn ensure_open(&self, inner: &mut Inner) -> bool {
        if inner.file.is_some() {
            return true;
        }
        let mut opened = self.open();
        let foreign =
            matches!(&opened, Ok((f, size)) if *size > 0 && holds_other_format(f, inner.format));
        if foreign {
            // Its lines stay whole in `keywarden.log.1`; this format starts a file of its own.
            self.rotate();
            opened = self.open();
        }
        match opened {
            Ok((f, size)) => {
                inner.file = Some(f);
                inner.size = size;
                inner.error = None;
                true
            }
            Err(e) => {
                inner.error = Some(e);
                false
            }
        }
    }

    /// The current problem with the log file, if any.
    pub fn error(&self) -> Option<String> {
        self.inner.lock().ok().and_then(|i| i.error.clone())
    }

    /// Open for appending (and reading, for `holds_other_format`).
    fn open(&self) -> Result<(File, u64), String> {
        if let Some(dir) = self.path.parent() {
            files::ensure_dir(dir, 0o755, false, Owners::current()).map_err(|e| e.to_string())?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&self.path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    format!(
                        "{} is a symbolic link; Keywarden never writes through one (remove it)",
                        self.path.display()
                    )
                } else {
                    format!("{}: {e}", self.path.display())
                }
            })?;
        let meta = file
            .metadata()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        if !meta.file_type().is_file() {
            return Err(format!(
                "{} is not a regular file (remove it)",
                self.path.display()
            ));
        }
        // The mode and group below are set through the open file: on a file linked from elsewhere
        // (a hard link planted before install) or owned by another user they would open that
        // file to the admin group, so such a log is refused, never adopted (issue 14 review).
        if meta.nlink() != 1 {
            return Err(format!(
                "{} has {} hard links; Keywarden never writes a file that is linked elsewhere (remove it)",
                self.path.display(),
                meta.nlink()
            ));
        }
        if !Owners::current().allows(meta.uid()) {
            return Err(format!(
                "{} is owned by uid {}, not by root; Keywarden never writes another user's file (remove it)",
                self.path.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o7777 != 0o640 {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o640));
        }
        if let Some(gid) = self.readers.filter(|g| *g != meta.gid()) {
            // Best effort: without it only root can read the log, which is where it was before.
            let _ = nix::unistd::fchown(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                None,
                Some(nix::unistd::Gid::from_raw(gid)),
            );
        }
        Ok((file, meta.len()))
    }

    /// The open file `f` is still the file at the log's path.
    fn is_at_path(&self, f: &File) -> bool {
        match (std::fs::symlink_metadata(&self.path), f.metadata()) {
            (Ok(at_path), Ok(open)) => at_path.dev() == open.dev() && at_path.ino() == open.ino(),
            _ => false,
        }
    }

    fn rotate(&self) {
        for i in (1..self.keep).rev() {
            let from = self.rotated(i);
            if from.exists() {
                let _ = std::fs::rename(&from, self.rotated(i + 1));
            }
        }
        if self.keep > 0 {
            let _ = std::fs::rename(&self.path, self.rotated(1));
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// Append `line` as it is, whatever the format (the tests' lines).
    #[cfg(test)]
    fn write_line(&self, line: &str) {
        self.write_with(|_| line.to_owned());
    }

    /// Append the line `make` writes in the file's format (rotating first when it would pass the
    /// size cap), under one lock: a format changing meanwhile cannot put a line of the old one
    /// into the new file. Failures are remembered, not raised: logging never stops the daemon.
    fn write_with(&self, make: impl FnOnce(LogFormat) -> String) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        // Moved away or removed (an admin, newsyslog, a cleanup script), with or without a
        // SIGHUP: the open file is no longer the one at the documented path, so this line goes
        // to a new file there, not after the moved one (issue 16, item 9). One `lstat` a line:
        // at `info` a check logs a handful.
        if inner.file.as_ref().is_some_and(|f| !self.is_at_path(f)) {
            inner.file = None;
        }
        if !self.ensure_open(&mut inner) {
            return;
        }
        let line = make(inner.format);
        if inner.size + line.len() as u64 > self.max_bytes {
            inner.file = None;
            self.rotate();
            if !self.ensure_open(&mut inner) {
                return;
            }
        }
        let result = inner.file.as_mut().map(|f| f.write_all(line.as_bytes()));
        match result {
            Some(Ok(())) => {
                inner.size += line.len() as u64;
                inner.error = None;
            }
            Some(Err(e)) => {
                inner.error = Some(format!("{}: {e}", self.path.display()));
                // Reopen next time (the file may have been removed or the disk freed).
                inner.file = None;
            }
            None => {}
        }
    }
}

/// Whether the log file `file` starts with a line of another format than `format`. Unreadable
/// counts as not: the file is then appended to as before.
fn holds_other_format(file: &File, format: LogFormat) -> bool {
    let mut first = [0u8; 1];
    matches!(file.read_at(&mut first, 0), Ok(1) if format.is_foreign(first[0]))
}

/// One field's value as the event recorded it: typed for JSON, shown as text by the text format.
#[derive(Debug)]
enum FieldValue {
    Text(String),
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Real(f64),
}

impl FieldValue {
    /// As the text format writes it (before `quote`): what `{:?}` shows, as before issue 15.
    fn shown(&self) -> String {
        match self {
            FieldValue::Text(s) => s.clone(),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::Unsigned(n) => n.to_string(),
            FieldValue::Signed(n) => n.to_string(),
            FieldValue::Real(x) => format!("{x:?}"),
        }
    }

    fn json(self) -> serde_json::Value {
        match self {
            FieldValue::Text(s) => s.into(),
            FieldValue::Bool(b) => b.into(),
            FieldValue::Unsigned(n) => n.into(),
            FieldValue::Signed(n) => n.into(),
            // JSON has no NaN or infinity: such a value is written as its text.
            FieldValue::Real(x) => serde_json::Number::from_f64(x)
                .map_or_else(|| format!("{x:?}").into(), serde_json::Value::Number),
        }
    }
}

/// An event's name, message and fields, in the order recorded; every text value already cut to
/// `MAX_VALUE_CHARS`.
#[derive(Default)]
struct Recorded {
    event: Option<String>,
    message: Option<String>,
    fields: Vec<(&'static str, FieldValue)>,
}

impl Recorded {
    fn of(event: &Event<'_>) -> Recorded {
        let mut r = Recorded::default();
        event.record(&mut r);
        r
    }

    /// The stable name; an event without one (another crate's) is a `message`.
    fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }
}

fn quote(v: &str) -> String {
    // Control characters are quoted (escaped) too: a value from outside (a profile's name, a
    // tool's output) must not move the terminal or forge a line.
    if !v.is_empty()
        && !v.contains(|c: char| c.is_whitespace() || c.is_control() || c == '"' || c == '=')
    {
        v.to_owned()
    } else {
        format!("{v:?}")
    }
}

impl Visit for Recorded {
    fn record_str(&mut self, field: &Field, value: &str) {
        let value = crate::text::bounded(value, MAX_VALUE_CHARS);
        match field.name() {
            "event" => self.event = Some(value),
            "message" => self.message = Some(value),
            name => self.fields.push((name, FieldValue::Text(value))),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.record_str(field, &text);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name(), FieldValue::Bool(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .push((field.name(), FieldValue::Unsigned(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.push((field.name(), FieldValue::Signed(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.push((field.name(), FieldValue::Real(value)));
    }
}

/// One event as a text line.
fn text_line(now: jiff::Timestamp, level: &Level, target: &str, r: &Recorded) -> String {
    let mut out = format!(
        "{} {:<5} {:<7} {}",
        crate::clock::whole_seconds(now),
        level.as_str(),
        area(target),
        r.name()
    );
    for (name, value) in &r.fields {
        let _ = write!(out, " {name}={}", quote(&value.shown()));
    }
    if let Some(m) = &r.message {
        let _ = write!(out, " message={}", quote(m));
    }
    out.push('\n');
    out
}

/// One event as a JSON line: `time`, `level`, `area`, `event`, `fields` (an object, in the order
/// recorded), and `message` when the event has one. The keys around `fields` are fixed, so no
/// field can ever shadow them (docs/logging.md, "JSON lines").
fn json_line(now: jiff::Timestamp, level: &Level, target: &str, r: Recorded) -> String {
    let name = r.name().to_owned();
    let fields: serde_json::Map<String, serde_json::Value> = r
        .fields
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.json()))
        .collect();
    let mut line = serde_json::Map::new();
    line.insert(
        "time".into(),
        crate::clock::whole_seconds(now).to_string().into(),
    );
    line.insert("level".into(), level.as_str().to_ascii_lowercase().into());
    line.insert("area".into(), area(target).into());
    line.insert("event".into(), name.into());
    line.insert("fields".into(), fields.into());
    if let Some(m) = r.message {
        line.insert("message".into(), m.into());
    }
    crate::text::json_line(&line).expect("a map of strings, numbers and booleans serialises")
}

/// The tracing layer writing to a `LogFile`.
pub struct FileLayer {
    file: Arc<LogFile>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for FileLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let now = jiff::Timestamp::now();
        let recorded = Recorded::of(event);
        self.file.write_with(|format| match format {
            LogFormat::Text => text_line(now, meta.level(), meta.target(), &recorded),
            LogFormat::Json => json_line(now, meta.level(), meta.target(), recorded),
        });
    }
}

/// Handles to the installed logging.
#[derive(Clone)]
pub struct Logging {
    level: Option<reload::Handle<LevelFilter, Registry>>,
    file: Option<Arc<LogFile>>,
}

fn level_filter(l: LogLevel) -> LevelFilter {
    match l {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
    }
}

impl Logging {
    /// Follow `LogLevel` from the configuration.
    pub fn set_level(&self, l: LogLevel) {
        if let Some(h) = &self.level {
            let _ = h.modify(|f| *f = level_filter(l));
        }
    }

    /// Follow `LogFormat` from the configuration (the log file's; os_log is unchanged).
    pub fn set_format(&self, f: LogFormat) {
        if let Some(file) = &self.file {
            file.set_format(f);
        }
    }

    /// Why the log file cannot be written, if it cannot (for `Daemon.Errors`).
    pub fn file_error(&self) -> Option<String> {
        self.file.as_ref().and_then(|f| f.error())
    }
}

/// How a command logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read-only commands: warnings on stderr only.
    Interactive,
    /// `check`, `rotate`, `validate`: the log file (and os_log); results on stdout/stderr.
    Check,
    /// `run`: the log file and os_log; stderr is launchd's panic file.
    Daemon,
}

/// Install the global subscriber, the log file written in `format`. Safe to call once per
/// process.
pub fn init(mode: Mode, root: &Root, level: LogLevel, format: LogFormat) -> Logging {
    let (filter, handle) = reload::Layer::new(level_filter(level));
    let file = (mode != Mode::Interactive).then(|| {
        let f = Arc::new(LogFile::new(
            root.resolve(paths::LOG),
            MAX_LOG_BYTES,
            KEEP_ROTATED,
            log_readers(),
            format,
        ));
        f.open_now();
        f
    });
    // `check` prints its own verdict and errors on stdout; only the read-only commands add
    // tracing warnings on stderr, for the person who ran them: `LogFormat` is the file's.
    let stderr = (mode == Mode::Interactive).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .with_filter(LevelFilter::WARN)
    });
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(file.clone().map(|f| FileLayer { file: f }))
        .with(stderr);
    #[cfg(all(target_os = "macos", feature = "oslog"))]
    let registry = registry.with((mode != Mode::Interactive).then(oslog_layers));
    let _ = registry.try_init();
    Logging {
        level: Some(handle),
        file,
    }
}

#[cfg(all(target_os = "macos", feature = "oslog"))]
fn oslog_layers<S: Subscriber + for<'a> LookupSpan<'a>>() -> Vec<Box<dyn Layer<S> + Send + Sync>> {
    use tracing_subscriber::filter::filter_fn;
    AREAS
        .iter()
        .map(|cat| {
            let cat: &'static str = cat;
            tracing_oslog::OsLogger::new(paths::OSLOG_SUBSYSTEM, cat)
                .with_filter(filter_fn(move |m| area(m.target()) == cat))
                .boxed()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_map_to_stable_areas() {
        assert_eq!(area("keywarden::runner"), "runner");
        assert_eq!(area("keywarden::tools::fdesetup"), "tools");
        assert_eq!(area("keywarden::decide"), "check");
        assert_eq!(area("keywarden::boot_guard"), "check");
        assert_eq!(area("keywarden::daemon"), "daemon");
        assert_eq!(area("other_crate"), "general");
        assert_eq!(area("keywarden::validate"), "keys");
        // Every module's area is an os_log category: none is dropped on macOS.
        for m in [
            "app",
            "act",
            "attempt",
            "audit",
            "boot_guard",
            "check",
            "clock",
            "config",
            "daemon",
            "decide",
            "doctor",
            "failed_keys",
            "files",
            "guards",
            "lock",
            "logging",
            "observe",
            "paths",
            "plistio",
            "report",
            "rotate",
            "rotation",
            "runner",
            "secret",
            "state",
            "status",
            "sys",
            "text",
            "tools",
            "validate",
        ] {
            let a = area(&format!("keywarden::{m}"));
            assert!(
                AREAS.contains(&a),
                "{m} logs to {a}, which is no os_log category"
            );
        }
    }

    #[test]
    fn the_log_is_0640_and_rotates_by_size_keeping_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Logs/Keywarden/keywarden.log");
        let log = LogFile::new(path.clone(), 100, 3, None, LogFormat::Text);
        for i in 0..40 {
            log.write_line(&format!("line {i:02} ............\n"));
        }
        assert!(log.error().is_none(), "{:?}", log.error());
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "keywarden.log",
                "keywarden.log.1",
                "keywarden.log.2",
                "keywarden.log.3"
            ]
        );
        for n in &names {
            let len = std::fs::metadata(path.parent().unwrap().join(n))
                .unwrap()
                .len();
            assert!(len <= 100, "{n} is {len} bytes");
        }
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("line 39"));
    }

    #[test]
    fn the_log_is_given_to_its_readers_group_issue_14() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Logs/Keywarden/keywarden.log");
        // Root can give a file to any group; anyone else to their own.
        let group = if nix::unistd::geteuid().is_root() {
            4242
        } else {
            nix::unistd::getegid().as_raw()
        };
        let log = LogFile::new(path.clone(), 10_000, 1, Some(group), LogFormat::Text);
        log.write_line("one\n");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.gid(), meta.mode() & 0o7777), (group, 0o640));
    }

    #[test]
    fn a_hard_link_at_the_log_path_is_refused_and_its_file_keeps_its_mode_issue_14() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("secret");
        std::fs::write(&victim, b"keep").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join("keywarden.log");
        std::fs::hard_link(&victim, &path).unwrap();
        let log = LogFile::new(
            path.clone(),
            1000,
            3,
            Some(nix::unistd::getegid().as_raw()),
            LogFormat::Text,
        );
        log.write_line("x\n");
        assert!(
            log.error().unwrap().contains("2 hard links"),
            "{:?}",
            log.error()
        );
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(
            std::fs::metadata(&victim).unwrap().mode() & 0o7777,
            0o600,
            "not opened to the readers' group"
        );
        std::fs::remove_file(&path).unwrap();
        log.write_line("y\n");
        assert!(log.error().is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "y\n");
    }

    #[test]
    fn a_log_moved_away_is_followed_by_a_new_file_at_its_path_within_one_line_issue_16() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keywarden.log");
        let moved = dir.path().join("keywarden.log.moved");
        let log = LogFile::new(path.clone(), 10_000, 1, None, LogFormat::Text);
        log.write_line("before\n");
        std::fs::rename(&path, &moved).unwrap();
        log.write_line("after\n");
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "before\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
        // Removed outright: the same.
        std::fs::remove_file(&path).unwrap();
        log.write_line("again\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "again\n");
        assert!(log.error().is_none());
    }

    #[test]
    fn a_symlink_at_the_log_path_is_reported_and_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let path = dir.path().join("keywarden.log");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let log = LogFile::new(path.clone(), 1000, 3, None, LogFormat::Text);
        log.write_line("x\n");
        assert!(log.error().unwrap().contains("symbolic link"));
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        // Recovers once the cause is removed.
        std::fs::remove_file(&path).unwrap();
        log.write_line("y\n");
        assert!(log.error().is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "y\n");
    }

    #[test]
    fn values_with_control_characters_are_quoted_and_escaped() {
        assert_eq!(quote("evil\u{1b}[2Jx"), "\"evil\\u{1b}[2Jx\"");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn values_with_spaces_are_quoted_and_plain_ones_are_not() {
        assert_eq!(quote("true"), "true");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("k=v"), "\"k=v\"");
    }

    #[test]
    fn an_event_is_one_line_with_its_name_first_and_fields_as_key_value() {
        use tracing_subscriber::layer::SubscriberExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.log");
        let file = Arc::new(LogFile::new(path.clone(), 10_000, 1, None, LogFormat::Text));
        let sub = tracing_subscriber::registry().with(FileLayer { file });
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                event = "check_finished",
                healthy = true,
                problems = "",
                ms = 412u64
            );
            tracing::warn!(event = "tool_failed", call = "fdesetup status", "no answer");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with(" INFO  general check_finished healthy=true problems=\"\" ms=412"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains(
                "WARN  general tool_failed call=\"fdesetup status\" message=\"no answer\""
            ),
            "{}",
            lines[1]
        );
    }

    /// Runs `log` with a subscriber writing to a fresh log file in `format`; the file's lines.
    fn logged(format: LogFormat, log: impl FnOnce()) -> Vec<String> {
        use tracing_subscriber::layer::SubscriberExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.log");
        let file = Arc::new(LogFile::new(path.clone(), 1 << 20, 1, None, format));
        let sub = tracing_subscriber::registry().with(FileLayer { file });
        tracing::subscriber::with_default(sub, log);
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn an_event_in_json_is_one_object_of_time_level_area_event_and_its_typed_fields_issue_15() {
        let lines = logged(LogFormat::Json, || {
            tracing::info!(
                event = "check_finished",
                healthy = true,
                problems = "",
                errors = 0usize,
                ms = 412u64,
                skew = -3i64,
                summary = %"filevault=on key=valid",
            );
            tracing::warn!(event = "state_moved_aside", path = "/x", "rebuilt");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        let time = first["time"].as_str().unwrap();
        assert!(
            time.parse::<jiff::Timestamp>().is_ok() && time.ends_with('Z') && !time.contains('.'),
            "{time}"
        );
        let rest = lines[0]
            .split_once(&format!("\"time\":\"{time}\","))
            .unwrap()
            .1;
        assert_eq!(
            rest,
            "\"level\":\"info\",\"area\":\"general\",\"event\":\"check_finished\",\"fields\":{\"healthy\":true,\"problems\":\"\",\"errors\":0,\"ms\":412,\"skew\":-3,\"summary\":\"filevault=on key=valid\"}}"
        );
        let second: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(second["level"], "warn");
        assert_eq!(second["fields"], serde_json::json!({ "path": "/x" }));
        assert_eq!(second["message"], "rebuilt");
    }

    #[test]
    fn a_value_with_a_newline_or_control_character_stays_one_line_of_valid_json_issue_15() {
        let evil = "line one\n2026-11-22T06:18:04Z INFO  check   check_finished healthy=true\r\u{1b}[2J\u{7f}\u{9b}0m\u{2028}end";
        for format in [LogFormat::Json, LogFormat::Text] {
            let lines = logged(format, || {
                tracing::error!(event = "error_raised", error = %evil, "and {}", evil);
            });
            assert_eq!(lines.len(), 1, "{format:?}: {lines:?}");
            assert!(
                !lines[0].chars().any(|c| c.is_control() || c == '\u{2028}'),
                "{format:?}: {:?}",
                lines[0]
            );
            if format == LogFormat::Json {
                let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
                assert_eq!(v["fields"]["error"], evil, "read back as logged");
                assert_eq!(v["message"], format!("and {evil}"));
            }
        }
    }

    #[test]
    fn a_value_longer_than_the_bound_is_cut_in_both_formats() {
        let long = "x".repeat(MAX_VALUE_CHARS * 3);
        let json = logged(LogFormat::Json, || {
            tracing::info!(event = "config_warning", warning = %long);
        });
        let v: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
        let cut = v["fields"]["warning"].as_str().unwrap();
        assert_eq!(cut.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(cut.ends_with('…'));
        let text = logged(LogFormat::Text, || {
            tracing::info!(event = "config_warning", warning = %long);
        });
        assert!(text[0].len() < MAX_VALUE_CHARS + 100, "{}", text[0].len());
    }

    #[test]
    fn a_log_file_in_the_other_format_is_rotated_away_before_the_first_line_issue_15() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keywarden.log");
        std::fs::write(
            &path,
            "2026-11-22T06:18:04Z INFO  daemon  daemon_started version=0.1.0\n",
        )
        .unwrap();
        let log = LogFile::new(path.clone(), 10_000, 3, None, LogFormat::Json);
        log.write_with(|f| format!("{{\"format\":\"{}\"}}\n", f.as_str()));
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&path), "{\"format\":\"json\"}\n");
        assert!(
            read(&log.rotated(1)).contains("daemon_started"),
            "kept whole"
        );
        // A file of the same format is appended to.
        log.write_with(|f| format!("{{\"format\":\"{}\"}}\n", f.as_str()));
        assert_eq!(read(&path).lines().count(), 2);
        // A reloaded configuration switches back: the JSON file goes, text starts a new one.
        log.set_format(LogFormat::Text);
        log.write_with(|f| format!("2026-11-22T06:18:05Z {}\n", f.as_str()));
        assert_eq!(read(&path), "2026-11-22T06:18:05Z text\n");
        assert_eq!(read(&log.rotated(1)).lines().count(), 2);
        assert!(read(&log.rotated(2)).contains("daemon_started"));
        assert!(log.error().is_none(), "{:?}", log.error());
    }
}
