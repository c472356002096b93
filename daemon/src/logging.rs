//! Logs: `tracing` events with a stable `event` name and key=value fields, written as one plain
//! line each to `/Library/Logs/Keywarden/keywarden.log` (0640 root:admin) by the daemon itself and rotated by
//! size (launchd holds its `StandardErrorPath` open across newsyslog rotations, PLATFORM.md, so
//! that file only catches panics). On macOS (feature `oslog`) the same events also go to os_log,
//! subsystem `org.keywarden`, one category per area (`daemon`, `check`, `runner`, `tools`,
//! `config`, `state`, `keys`); commands run by hand also print warnings on stderr.
//!
//! A line: `2026-11-22T10:00:00Z INFO  check  check_finished healthy=true problems="" ms=412`.
//! No secret can reach this module: the secret type has no `Display` and its `Debug` redacts, and
//! `tracing-oslog` publishes every field as `%{public}` (PLATFORM.md), so nothing secret may be
//! logged at any level.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
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
    /// Why the log cannot be written (reported in `Daemon.Errors`), if it cannot.
    error: Option<String>,
}

impl LogFile {
    pub fn new(path: PathBuf, max_bytes: u64, keep: usize, readers: Option<u32>) -> LogFile {
        LogFile {
            path,
            max_bytes,
            keep,
            readers,
            inner: Mutex::new(Inner {
                file: None,
                size: 0,
                error: None,
            }),
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
        match self.open() {
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

    fn open(&self) -> Result<(File, u64), String> {
        if let Some(dir) = self.path.parent() {
            files::ensure_dir(dir, 0o755, false, Owners::current()).map_err(|e| e.to_string())?;
        }
        let file = OpenOptions::new()
            .create(true)
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

    /// Append one line (rotating first when it would pass the size cap). Failures are
    /// remembered, not raised: logging never stops the daemon.
    pub fn write_line(&self, line: &str) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if !self.ensure_open(&mut inner) {
            return;
        }
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

/// Collects an event's fields into `event` and `key=value` text.
#[derive(Default)]
struct Line {
    event: Option<String>,
    message: Option<String>,
    fields: String,
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

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "event" => self.event = Some(value.to_owned()),
            "message" => self.message = Some(value.to_owned()),
            name => {
                let _ = write!(self.fields, " {name}={}", quote(value));
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.record_str(field, &text);
    }
}

/// Formats one event as a line.
pub fn format_line(now: jiff::Timestamp, level: &Level, target: &str, event: &Event<'_>) -> String {
    let mut line = Line::default();
    event.record(&mut line);
    let name = line.event.as_deref().unwrap_or("message");
    let mut out = format!(
        "{} {:<5} {:<7} {name}{}",
        crate::clock::whole_seconds(now),
        level.as_str(),
        area(target),
        line.fields
    );
    if let Some(m) = line.message {
        let _ = write!(out, " message={}", quote(&m));
    }
    out.push('\n');
    out
}

/// The tracing layer writing to a `LogFile`.
pub struct FileLayer {
    file: Arc<LogFile>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for FileLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let line = format_line(jiff::Timestamp::now(), meta.level(), meta.target(), event);
        self.file.write_line(&line);
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

/// Install the global subscriber. Safe to call once per process.
pub fn init(mode: Mode, root: &Root, level: LogLevel) -> Logging {
    let (filter, handle) = reload::Layer::new(level_filter(level));
    let file = (mode != Mode::Interactive).then(|| {
        let f = Arc::new(LogFile::new(
            root.resolve(paths::LOG),
            MAX_LOG_BYTES,
            KEEP_ROTATED,
            log_readers(),
        ));
        f.open_now();
        f
    });
    // `check` prints its own verdict and errors on stdout; only the read-only commands add
    // tracing warnings on stderr.
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
        let log = LogFile::new(path.clone(), 100, 3, None);
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
        let log = LogFile::new(path.clone(), 10_000, 1, Some(group));
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
        let log = LogFile::new(path.clone(), 1000, 3, Some(nix::unistd::getegid().as_raw()));
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
    fn a_symlink_at_the_log_path_is_reported_and_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let path = dir.path().join("keywarden.log");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let log = LogFile::new(path.clone(), 1000, 3, None);
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
        let file = Arc::new(LogFile::new(path.clone(), 10_000, 1, None));
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
}
