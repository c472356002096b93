//! `keywarden-sim age DIR DURATION`: time passes on the simulated Mac.
//!
//! The daemon reads the wall clock and compares it with times it finds on disk. Making every
//! recorded time under `DIR` older by DURATION is, to any program reading them, the same as the
//! clock moving forward by DURATION. So this module moves back:
//!
//! - every `<date>` of every XML property list (found by content: `<?xml` or `<plist` first,
//!   any name) by a textual rewrite of the date elements only, so the layout stays byte for
//!   byte; binary plists are parsed, shifted and written back (rare);
//! - every string value of every `*.json` / `*.jsonl` file that is an RFC 3339 timestamp, again
//!   textually and keeping the timestamp's own format (fraction digits, `Z` or offset, `T`);
//!   keys and other strings are untouched; a `.jsonl` line that is not JSON is left alone;
//! - the mtime and atime of every regular file and directory (nanoseconds kept).
//!
//! Every rewrite is checked before anything is written: the shifted text must parse to exactly
//! the original document with its times shifted (and be the same length). Files are replaced
//! atomically (temp file in the same directory, renamed over) with their mode, owner and moved
//! times. Symlinks are never followed (nor changed), special files and `.sim/lock` are skipped,
//! and nothing outside `DIR` is touched: an unchanged file hard-linked from outside `DIR` keeps
//! its times. The caller holds the simulator's lock.
//!
//! Limits (see README "Time passes"): the boot session does not change (same boot), a running
//! daemon's monotonic timers do not move, and times inside other text (logs) stay as written.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::sys::stat::{futimens, utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use serde_json::Value;

use crate::layout::{io_err, Mac};

/// How far the clock moves: whole seconds, and the words for the summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub seconds: i64,
    pub words: String,
}

/// The longest span accepted: 100 years (far beyond any test, far from any overflow).
const MAX_SECONDS: u64 = 100 * 366 * 86_400;

/// `90s`, `11m`, `3h`, `15d`, or a combination in that order of size (`1d2h`, `2h30m`).
pub fn parse_span(text: &str) -> Result<Span, String> {
    const UNITS: [(char, u64, &str); 4] = [
        ('d', 86_400, "day"),
        ('h', 3_600, "hour"),
        ('m', 60, "minute"),
        ('s', 1, "second"),
    ];
    let bad = || {
        format!(
            "{text:?} is not a duration: give a number and a unit d, h, m or s \
             (90s, 11m, 3h, 15d), or several from days down (1d2h)"
        )
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut seconds: u64 = 0;
    let mut words = Vec::new();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = rest[digits..].chars().next().ok_or_else(bad)?;
        let i = UNITS[next_unit..]
            .iter()
            .position(|(u, _, _)| *u == unit)
            .map(|i| i + next_unit)
            .ok_or_else(bad)?;
        let (_, size, word) = UNITS[i];
        seconds = n
            .checked_mul(size)
            .and_then(|s| s.checked_add(seconds))
            .filter(|s| *s <= MAX_SECONDS)
            .ok_or_else(|| format!("{text:?}: more than 100 years"))?;
        words.push(format!("{n} {word}{}", if n == 1 { "" } else { "s" }));
        next_unit = i + 1;
        rest = &rest[digits + unit.len_utf8()..];
    }
    if seconds == 0 {
        return Err(format!(
            "{text:?}: time must move forward (a zero duration)"
        ));
    }
    Ok(Span {
        seconds: seconds as i64,
        words: words.join(" "),
    })
}

/// `s` moved back by `seconds` when the whole of `s` is an RFC 3339 timestamp
/// (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`), in the same format: the same separator, the
/// fraction as written (a whole-second shift never changes it) and the same offset. `None` for
/// anything else; an error when the result would leave four-digit years.
pub fn shift_timestamp(s: &str, seconds: i64) -> Result<Option<String>, String> {
    let b = s.as_bytes();
    if b.len() < 20 || !b.is_ascii() {
        return Ok(None);
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[from..to].parse().ok())
            .flatten()
    };
    let punct = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if punct.iter().any(|(i, c)| b[*i] != *c) || !matches!(b[10], b'T' | b't') {
        return Ok(None);
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        num(0, 4),
        num(5, 7),
        num(8, 10),
        num(11, 13),
        num(14, 16),
        num(17, 19),
    ) else {
        return Ok(None);
    };
    let mut end = 19;
    if b[end] == b'.' {
        let digits = b[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return Ok(None);
        }
        end += 1 + digits;
    }
    let fraction = &s[19..end];
    let zone = &s[end..];
    let offset_seconds = match zone.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (Some(h), Some(m)) = (num(end + 1, end + 3), num(end + 4, end + 6)) else {
                return Ok(None);
            };
            if h > 23 || m > 59 {
                return Ok(None);
            }
            let magnitude = (h * 3600 + m * 60) as i32;
            if *sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return Ok(None),
    };
    // Fields are at most four digits, so these conversions cannot truncate.
    let Ok(civil) = jiff::civil::DateTime::new(
        year as i16,
        month as i8,
        day as i8,
        hour as i8,
        minute as i8,
        second as i8,
        0,
    ) else {
        return Ok(None);
    };
    let Ok(offset) = jiff::tz::Offset::from_seconds(offset_seconds) else {
        return Ok(None);
    };
    let Ok(at) = offset.to_timestamp(civil) else {
        return Ok(None);
    };
    let earlier = at
        .checked_sub(jiff::SignedDuration::from_secs(seconds))
        .ok()
        .map(|t| offset.to_datetime(t))
        .filter(|t| t.year() >= 0)
        .ok_or_else(|| format!("{s:?} cannot move back that far"))?;
    Ok(Some(format!(
        "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}{fraction}{zone}",
        earlier.year(),
        earlier.month(),
        earlier.day(),
        b[10] as char,
        earlier.hour(),
        earlier.minute(),
        earlier.second(),
    )))
}

/// Every `<date>...</date>` of an XML plist moved back; everything else byte for byte.
fn shift_xml_dates(text: &str, seconds: i64) -> Result<(String, usize), String> {
    const OPEN: &str = "<date>";
    const CLOSE: &str = "</date>";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut count = 0;
    while let Some(open) = rest.find(OPEN) {
        let inner_start = open + OPEN.len();
        let Some(len) = rest[inner_start..].find(CLOSE) else {
            break;
        };
        let inner = &rest[inner_start..inner_start + len];
        out.push_str(&rest[..inner_start]);
        match shift_timestamp(inner, seconds)? {
            Some(new) => {
                out.push_str(&new);
                count += 1;
            }
            None => out.push_str(inner),
        }
        rest = &rest[inner_start + len..];
    }
    out.push_str(rest);
    Ok((out, count))
}

/// Every JSON string *value* (not key) that is an RFC 3339 timestamp moved back; everything
/// else byte for byte. Works on the text of valid JSON: outside strings JSON has no quotes.
fn shift_json_text(text: &str, seconds: i64) -> Result<(String, usize), String> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut count = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        let mut escaped = false;
        while j < b.len() && b[j] != b'"' {
            if b[j] == b'\\' {
                escaped = true;
                j += 1;
            }
            j += 1;
        }
        if j >= b.len() {
            break;
        }
        let is_key = b[j + 1..]
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            .is_some_and(|c| *c == b':');
        // A timestamp needs no escapes; a string with one is not rewritten.
        if !is_key && !escaped {
            if let Some(new) = shift_timestamp(&text[start..j], seconds)? {
                out.push_str(&text[copied..start]);
                out.push_str(&new);
                copied = j;
                count += 1;
            }
        }
        i = j + 1;
    }
    out.push_str(&text[copied..]);
    Ok((out, count))
}

/// The JSON document with every timestamp string value moved back (the check of the textual
/// rewrite).
fn shift_json_value(v: &mut Value, seconds: i64) -> Result<usize, String> {
    Ok(match v {
        Value::String(s) => match shift_timestamp(s, seconds)? {
            Some(new) => {
                *s = new;
                1
            }
            None => 0,
        },
        Value::Array(items) => {
            let mut n = 0;
            for item in items {
                n += shift_json_value(item, seconds)?;
            }
            n
        }
        Value::Object(map) => {
            let mut n = 0;
            for item in map.values_mut() {
                n += shift_json_value(item, seconds)?;
            }
            n
        }
        _ => 0,
    })
}

fn shift_plist_value(v: &mut plist::Value, seconds: i64) -> Result<usize, String> {
    Ok(match v {
        plist::Value::Date(d) => {
            let t = SystemTime::from(*d)
                .checked_sub(Duration::from_secs(seconds as u64))
                .ok_or("a plist date cannot move back that far")?;
            *d = plist::Date::from(t);
            1
        }
        plist::Value::Array(items) => {
            let mut n = 0;
            for item in items {
                n += shift_plist_value(item, seconds)?;
            }
            n
        }
        plist::Value::Dictionary(dict) => {
            let mut n = 0;
            for (_, item) in dict.iter_mut() {
                n += shift_plist_value(item, seconds)?;
            }
            n
        }
        _ => 0,
    })
}

/// A JSON document's text, moved; `None` when it is not JSON (left alone).
fn age_json(text: &str, seconds: i64) -> Result<Option<(String, usize)>, String> {
    let Ok(mut want) = serde_json::from_str::<Value>(text) else {
        return Ok(None);
    };
    let expected = shift_json_value(&mut want, seconds)?;
    let (new, count) = shift_json_text(text, seconds)?;
    let got: Result<Value, _> = serde_json::from_str(&new);
    if count != expected || got.ok().as_ref() != Some(&want) || new.len() != text.len() {
        return Err("the textual rewrite of its timestamps does not check out".into());
    }
    Ok(Some((new, count)))
}

/// Each line that is JSON, moved; others (a torn last line) stay as they are.
fn age_json_lines(text: &str, seconds: i64) -> Result<(String, usize, usize), String> {
    let mut out = String::with_capacity(text.len());
    let (mut count, mut skipped) = (0, 0);
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        match age_json(line, seconds).map_err(|e| format!("line {}: {e}", n + 1))? {
            Some((new, c)) => {
                out.push_str(&new);
                count += c;
            }
            None => {
                out.push_str(line);
                skipped += 1;
            }
        }
    }
    Ok((out, count, skipped))
}

/// An XML plist, moved; `None` when it does not parse as a property list (left alone).
fn age_xml_plist(text: &str, seconds: i64) -> Result<Option<(String, usize)>, String> {
    let Ok(mut want) = plist::Value::from_reader_xml(text.as_bytes()) else {
        return Ok(None);
    };
    let expected = shift_plist_value(&mut want, seconds)?;
    let (new, count) = shift_xml_dates(text, seconds)?;
    let got = plist::Value::from_reader_xml(new.as_bytes()).ok();
    if count != expected || got.as_ref() != Some(&want) || new.len() != text.len() {
        return Err("the textual rewrite of its <date> elements does not check out".into());
    }
    Ok(Some((new, count)))
}

fn age_binary_plist(bytes: &[u8], seconds: i64) -> Result<Option<(Vec<u8>, usize)>, String> {
    let Ok(mut v) = plist::Value::from_reader(std::io::Cursor::new(bytes)) else {
        return Ok(None);
    };
    let count = shift_plist_value(&mut v, seconds)?;
    let mut out = Vec::new();
    v.to_writer_binary(&mut out)
        .map_err(|e| format!("binary plist: {e}"))?;
    Ok(Some((out, count)))
}

/// What `age` did, for its summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub plists: usize,
    pub dates: usize,
    pub json_files: usize,
    pub timestamps: usize,
    pub file_times: usize,
    /// Files left alone, and why (printed on stderr).
    pub notes: Vec<String>,
}

impl Report {
    pub fn summary(&self, span: &Span) -> String {
        format!(
            "age: {}: {} plist{} ({} date{}), {} JSON file{} ({} timestamp{}), {} file time{}",
            span.words,
            self.plists,
            plural(self.plists),
            self.dates,
            plural(self.dates),
            self.json_files,
            plural(self.json_files),
            self.timestamps,
            plural(self.timestamps),
            self.file_times,
            plural(self.file_times),
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A regular file or directory found under `DIR`, with its metadata before anything moved.
struct Found {
    path: PathBuf,
    meta: Metadata,
    /// New content (files whose times inside moved).
    content: Option<Vec<u8>>,
}

/// Moves the whole Mac back by `span`. The caller holds the lock. Everything is read and every
/// rewrite computed and checked first; only then is anything written, so a file that cannot be
/// read or rewritten leaves the Mac as it was.
pub fn age(mac: &Mac, span: &Span) -> Result<Report, String> {
    let root = mac.root();
    let mut report = Report::default();
    let mut found = Vec::new();
    let meta = fs::symlink_metadata(root).map_err(|e| io_err(root, e))?;
    if !meta.is_dir() {
        return Err(format!("{}: not a directory", root.display()));
    }
    walk(root, &mac.lock_file(), &mut found)?;
    found.push(Found {
        path: root.to_path_buf(),
        meta,
        content: None,
    });

    for f in found.iter_mut().filter(|f| f.meta.is_file()) {
        f.content = plan(f, span.seconds, &mut report)?;
    }

    // How many names each inode has inside DIR: an inode with more links than that is shared
    // with something outside DIR, and its times are not ours to move.
    let mut names: HashMap<(u64, u64), u64> = HashMap::new();
    for f in &found {
        *names.entry((f.meta.dev(), f.meta.ino())).or_default() += 1;
    }
    let mut moved: HashSet<(u64, u64)> = HashSet::new();
    // Children come before their directory, so a directory's times are set after the renames
    // inside it (which change them).
    for f in &found {
        let id = (f.meta.dev(), f.meta.ino());
        if let Some(content) = &f.content {
            if replace(f, content, span.seconds)? {
                report.file_times += 1;
            } else {
                report.notes.push(format!(
                    "{}: changed while aging, left as it is",
                    f.path.display()
                ));
            }
            continue;
        }
        if f.meta.is_file() && f.meta.nlink() > names[&id] {
            report.notes.push(format!(
                "{}: hard-linked from outside the Mac, its times stay",
                f.path.display()
            ));
            continue;
        }
        if !moved.insert(id) {
            continue;
        }
        if !same_file(&f.path, &f.meta) {
            report.notes.push(format!(
                "{}: changed while aging, left as it is",
                f.path.display()
            ));
            continue;
        }
        let (atime, mtime) = earlier_times(&f.meta, span.seconds);
        utimensat(
            None,
            &f.path,
            &atime,
            &mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| format!("{}: utimensat: {e}", f.path.display()))?;
        report.file_times += 1;
    }
    Ok(report)
}

/// Regular files and directories under `dir`, depth first, each directory after its content.
/// Symlinks and special files are skipped, and so is the lock file.
fn walk(dir: &Path, lock: &Path, out: &mut Vec<Found>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| io_err(dir, e))?;
    entries.sort();
    for path in entries {
        if path == lock {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(|e| io_err(&path, e))?;
        if meta.is_dir() {
            walk(&path, lock, out)?;
        } else if !meta.is_file() {
            continue;
        }
        out.push(Found {
            path,
            meta,
            content: None,
        });
    }
    Ok(())
}

/// The new content of a file whose times inside move, or `None`.
fn plan(f: &Found, seconds: i64, report: &mut Report) -> Result<Option<Vec<u8>>, String> {
    let ext = f
        .path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let json = matches!(ext.as_deref(), Some("json" | "jsonl"));
    let mut file = open_no_follow(&f.path, &f.meta)?;
    let mut bytes = Vec::new();
    if !json {
        // Only property lists are read whole.
        (&mut file)
            .take(64)
            .read_to_end(&mut bytes)
            .map_err(|e| io_err(&f.path, e))?;
        if !is_xml_plist(&bytes) && !bytes.starts_with(b"bplist") {
            return Ok(None);
        }
    }
    file.read_to_end(&mut bytes)
        .map_err(|e| io_err(&f.path, e))?;
    let fail = |e: String| format!("{}: {e}; nothing was aged", f.path.display());

    if bytes.starts_with(b"bplist") {
        return match age_binary_plist(&bytes, seconds).map_err(fail)? {
            None => Ok(note(report, f, "not a property list")),
            Some((_, 0)) => Ok(None),
            Some((new, n)) => {
                report.plists += 1;
                report.dates += n;
                Ok(Some(new))
            }
        };
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(note(report, f, "not UTF-8"));
    };
    let (new, n) = if ext.as_deref() == Some("jsonl") {
        let (new, n, skipped) = age_json_lines(text, seconds).map_err(fail)?;
        if skipped > 0 {
            note(report, f, &format!("{skipped} line(s) that are not JSON"));
        }
        (new, n)
    } else if json {
        match age_json(text, seconds).map_err(fail)? {
            Some(done) => done,
            None => return Ok(note(report, f, "not JSON")),
        }
    } else {
        match age_xml_plist(text, seconds).map_err(fail)? {
            Some(done) => done,
            None => return Ok(note(report, f, "not a property list")),
        }
    };
    if n == 0 {
        return Ok(None);
    }
    if json {
        report.json_files += 1;
        report.timestamps += n;
    } else {
        report.plists += 1;
        report.dates += n;
    }
    Ok(Some(new.into_bytes()))
}

fn note(report: &mut Report, f: &Found, why: &str) -> Option<Vec<u8>> {
    report
        .notes
        .push(format!("{}: {why}, its content stays", f.path.display()));
    None
}

/// `<?xml` or `<plist` after optional whitespace (and a byte-order mark).
fn is_xml_plist(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|c| !c.is_ascii_whitespace());
    start.is_some_and(|i| head[i..].starts_with(b"<?xml") || head[i..].starts_with(b"<plist"))
}

/// Opens the file the walk saw, refusing a symlink put in its place since.
fn open_no_follow(path: &Path, meta: &Metadata) -> Result<File, String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    let now = file.metadata().map_err(|e| io_err(path, e))?;
    if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
        return Err(format!("{}: replaced while aging", path.display()));
    }
    Ok(file)
}

/// Still the file the walk saw (same inode, and for a file the same size and mtime; a
/// directory's mtime moved with our own renames inside it)?
fn same_file(path: &Path, meta: &Metadata) -> bool {
    fs::symlink_metadata(path).is_ok_and(|now| {
        if meta.is_dir() {
            return now.is_dir() && (now.dev(), now.ino()) == (meta.dev(), meta.ino());
        }
        (
            now.dev(),
            now.ino(),
            now.len(),
            now.mtime(),
            now.mtime_nsec(),
        ) == (
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
        )
    })
}

fn earlier_times(meta: &Metadata, seconds: i64) -> (TimeSpec, TimeSpec) {
    let spec = |s: i64, ns: i64| TimeSpec::new((s - seconds) as _, ns as _);
    (
        spec(meta.atime(), meta.atime_nsec()),
        spec(meta.mtime(), meta.mtime_nsec()),
    )
}

/// Writes `content` to a temp file next to the file, with its owner, mode and moved times, and
/// renames it over the file. `false` (nothing written) when the file changed since it was read.
fn replace(f: &Found, content: &[u8], seconds: i64) -> Result<bool, String> {
    let path = &f.path;
    let dir = path
        .parent()
        .ok_or_else(|| format!("{}: no parent", path.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".keywarden-sim-age.")
        .tempfile_in(dir)
        .map_err(|e| io_err(dir, e))?;
    let file = tmp.as_file();
    // The owner first: chown clears set-id bits, which the mode then restores.
    let tmp_meta = file.metadata().map_err(|e| io_err(path, e))?;
    if (tmp_meta.uid(), tmp_meta.gid()) != (f.meta.uid(), f.meta.gid()) {
        std::os::unix::fs::fchown(file, Some(f.meta.uid()), Some(f.meta.gid()))
            .map_err(|e| format!("{}: keeping its owner: {e}", path.display()))?;
    }
    file.set_permissions(fs::Permissions::from_mode(f.meta.mode() & 0o7777))
        .map_err(|e| io_err(path, e))?;
    tmp.write_all(content).map_err(|e| io_err(path, e))?;
    tmp.as_file().sync_all().map_err(|e| io_err(path, e))?;
    let (atime, mtime) = earlier_times(&f.meta, seconds);
    futimens(
        std::os::fd::AsRawFd::as_raw_fd(tmp.as_file()),
        &atime,
        &mtime,
    )
    .map_err(|e| format!("{}: futimens: {e}", path.display()))?;
    if !same_file(path, &f.meta) {
        return Ok(false);
    }
    tmp.persist(path).map_err(|e| io_err(path, e.error))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn durations_are_a_number_and_a_unit_or_several_from_days_down() {
        for (text, seconds, words) in [
            ("90s", 90, "90 seconds"),
            ("11m", 660, "11 minutes"),
            ("3h", 10_800, "3 hours"),
            ("15d", 15 * DAY, "15 days"),
            ("1d2h", DAY + 7_200, "1 day 2 hours"),
            ("2h30m5s", 9_005, "2 hours 30 minutes 5 seconds"),
            ("0d1s", 1, "0 days 1 second"),
        ] {
            let span = parse_span(text).unwrap();
            assert_eq!(
                (span.seconds, span.words.as_str()),
                (seconds, words),
                "{text}"
            );
        }
    }

    #[test]
    fn anything_else_is_not_a_duration() {
        for text in [
            "",
            "15",
            "d",
            "15x",
            "1h1d",
            "1d1d",
            "-5m",
            "+5m",
            "1.5h",
            "15 d",
            " 15d",
            "15d ",
            "0s",
            "0d0h",
            "1w",
            "15D",
            "99999999999999999999d",
            "40000d",
        ] {
            assert!(parse_span(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn a_timestamp_moves_back_and_keeps_its_format() {
        for (from, to) in [
            ("2026-11-22T10:00:00Z", "2026-11-07T10:00:00Z"),
            ("2026-01-10T00:00:00.5Z", "2025-12-26T00:00:00.5Z"),
            (
                "2026-03-20T01:30:00.123456789+02:00",
                "2026-03-05T01:30:00.123456789+02:00",
            ),
            ("2024-03-15t23:59:59-07:30", "2024-02-29t23:59:59-07:30"),
            ("2026-11-22T10:00:00z", "2026-11-07T10:00:00z"),
        ] {
            assert_eq!(
                shift_timestamp(from, 15 * DAY).unwrap().as_deref(),
                Some(to)
            );
        }
    }

    #[test]
    fn strings_that_are_not_whole_timestamps_stay() {
        for s in [
            "2026-11-22",
            "2026-11-22T10:00:00",
            "2026-11-22 10:00:00Z",
            "2026-11-22T10:00:00Z ",
            " 2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00+0200",
            "2026-11-22T10:00:00.Z",
            "2026-02-30T10:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T10:00:60Z",
            "2026-11-22T10:00:00+24:00",
            "at 2026-11-22T10:00:00Z",
            "2024-05-01 09:00:00 +0000",
            "２026-11-22T10:00:00Z",
        ] {
            assert_eq!(shift_timestamp(s, DAY).unwrap(), None, "{s:?}");
        }
    }

    #[test]
    fn a_timestamp_cannot_move_before_year_zero() {
        assert!(shift_timestamp("0000-01-01T00:00:05Z", 10).is_err());
    }

    #[test]
    fn json_values_move_but_keys_escaped_strings_and_layout_stay() {
        let text = concat!(
            "{ \"at\" :  \"2026-11-22T10:00:00Z\",\n",
            "  \"2026-11-22T10:00:00Z\": [\"2026-11-22T10:00:00.250+01:00\" , 3, null],\n",
            "  \"esc\": \"2026-11-22T10:00:00\\u005a\", \"q\": \"say \\\"2026-11-22T10:00:00Z\\\"\",\n",
            "  \"nested\": {\"k\": [\"x\", {\"t\":\"2026-11-22T10:00:00Z\"}]}}\n"
        );
        let want = concat!(
            "{ \"at\" :  \"2026-11-21T10:00:00Z\",\n",
            "  \"2026-11-22T10:00:00Z\": [\"2026-11-21T10:00:00.250+01:00\" , 3, null],\n",
            "  \"esc\": \"2026-11-22T10:00:00\\u005a\", \"q\": \"say \\\"2026-11-22T10:00:00Z\\\"\",\n",
            "  \"nested\": {\"k\": [\"x\", {\"t\":\"2026-11-21T10:00:00Z\"}]}}\n"
        );
        // The escaped `Z` is a timestamp to a JSON reader but not to the textual rewrite: the
        // check catches the disagreement instead of writing half a shift.
        assert!(age_json(text, DAY).is_err());
        let (new, n) = shift_json_text(text, DAY).unwrap();
        assert_eq!((new.as_str(), n), (want, 3));
        let plain = text.replace("\\u005a", "Z");
        let (new, n) = age_json(&plain, DAY).unwrap().unwrap();
        assert_eq!(
            (new, n),
            (
                want.replace("2026-11-22T10:00:00\\u005a", "2026-11-21T10:00:00Z"),
                4
            )
        );
    }

    #[test]
    fn json_lines_move_line_by_line_and_a_torn_line_stays() {
        let text = "{\"at\":\"2026-11-22T10:00:00Z\",\"what\":\"check\"}\n\n{\"at\":\"2026-11-22T11:00:00Z\"}\n{\"at\":\"2026-11-22T12:0";
        let (new, n, skipped) = age_json_lines(text, 3_600).unwrap();
        assert_eq!(
            new,
            "{\"at\":\"2026-11-22T09:00:00Z\",\"what\":\"check\"}\n\n{\"at\":\"2026-11-22T10:00:00Z\"}\n{\"at\":\"2026-11-22T12:0"
        );
        assert_eq!((n, skipped), (2, 1));
    }

    #[test]
    fn plist_dates_move_and_nothing_else_does() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\t<key>At</key>\n\t<date>2026-11-22T10:00:00Z</date>\n\t<key>S</key>\n\t<string>2026-11-22T10:00:00Z</string>\n\t<key>A</key>\n\t<array><date>2000-01-01T00:00:00Z</date></array>\n</dict>\n</plist>\n";
        let (new, n) = age_xml_plist(text, 660).unwrap().unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            new,
            text.replace("<date>2026-11-22T10:00:00Z", "<date>2026-11-22T09:49:00Z")
                .replace("2000-01-01T00:00:00Z", "1999-12-31T23:49:00Z")
        );
        assert!(age_xml_plist("<?xml version=\"1.0\"?><html/>", 660)
            .unwrap()
            .is_none());
    }

    #[test]
    fn binary_plist_dates_move() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut dict = plist::Dictionary::new();
        dict.insert("At".into(), plist::Value::Date(at.into()));
        let mut bytes = Vec::new();
        plist::Value::Dictionary(dict)
            .to_writer_binary(&mut bytes)
            .unwrap();
        let (new, n) = age_binary_plist(&bytes, 90).unwrap().unwrap();
        assert_eq!(n, 1);
        let v = plist::Value::from_reader(std::io::Cursor::new(new)).unwrap();
        let got = SystemTime::from(v.as_dictionary().unwrap()["At"].as_date().unwrap());
        assert_eq!(got, at - Duration::from_secs(90));
    }

    #[test]
    fn plists_are_recognised_by_their_first_bytes() {
        assert!(is_xml_plist(b"<?xml version"));
        assert!(is_xml_plist(b"\n  <plist version"));
        assert!(is_xml_plist(b"\xEF\xBB\xBF<?xml"));
        assert!(!is_xml_plist(b"{\"a\": 1}"));
        assert!(!is_xml_plist(b"SIMULATED-CMS\n"));
        assert!(!is_xml_plist(b""));
    }
}
