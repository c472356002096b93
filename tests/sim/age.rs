//! `keywarden-sim age DIR DURATION`: every time recorded on the simulated Mac moves back by
//! exactly the duration — plist dates, JSON timestamps, file times — and nothing else changes:
//! not a byte of layout, not a mode or owner, nothing behind a symlink or outside the Mac.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::tools::ToolsMac;
use crate::support::{euid, require_root};

/// `1d2h`, the duration of most tests here.
const D: i64 = 26 * 3600;

/// What a path under the Mac is: kind and content, mode, owner and times.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    /// File bytes, `dir`, or `-> target` for a symlink.
    what: Content,
    mode: u32,
    owner: (u32, u32),
    mtime: (i64, i64),
    atime: (i64, i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Content {
    File(Vec<u8>),
    Dir,
    Link(PathBuf),
}

/// Every path under `root` (relative), read first and stat'ed after, so reading does not move
/// the access times recorded.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            out.push(path.clone());
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(&path, out);
            }
        }
    }
    let mut paths = vec![root.to_path_buf()];
    walk(root, &mut paths);
    let contents: Vec<Content> = paths
        .iter()
        .map(|p| {
            let m = fs::symlink_metadata(p).unwrap();
            if m.is_dir() {
                Content::Dir
            } else if m.file_type().is_symlink() {
                Content::Link(fs::read_link(p).unwrap())
            } else {
                Content::File(fs::read(p).unwrap())
            }
        })
        .collect();
    paths
        .iter()
        .zip(contents)
        .map(|(p, what)| {
            let m = fs::symlink_metadata(p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let node = Node {
                what,
                mode: m.mode(),
                owner: (m.uid(), m.gid()),
                mtime: (m.mtime(), m.mtime_nsec()),
                atime: (m.atime(), m.atime_nsec()),
            };
            (rel, node)
        })
        .collect()
}

/// The times of every path, stat'ed without reading anything.
fn times(root: &Path, paths: impl Iterator<Item = PathBuf>) -> BTreeMap<PathBuf, [(i64, i64); 2]> {
    paths
        .map(|rel| {
            let m = fs::symlink_metadata(root.join(&rel)).unwrap();
            let t = [(m.mtime(), m.mtime_nsec()), (m.atime(), m.atime_nsec())];
            (rel, t)
        })
        .collect()
}

fn write(mac: &ToolsMac, mac_abs: &str, text: &[u8], mode: u32) {
    let path = mac.path(mac_abs);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

const STATE_PLIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>GeneratedAt</key>
	<date>2026-11-22T10:00:00Z</date>
	<key>Note</key>
	<string>2026-11-22T10:00:00Z</string>
	<!-- a comment -->
	<key>Nested</key>
	<dict><key>RequestedAt</key><date>2026-01-01T01:00:00Z</date>   <key>N</key>  <integer>2026</integer></dict>
	<key>Dates</key>
	<array>
	    <date>2024-03-01T00:30:00Z</date>
	</array>
</dict>
</plist>
"#;

/// The same, 1d2h earlier (across a year end and a leap day).
const STATE_PLIST_AGED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>GeneratedAt</key>
	<date>2026-11-21T08:00:00Z</date>
	<key>Note</key>
	<string>2026-11-22T10:00:00Z</string>
	<!-- a comment -->
	<key>Nested</key>
	<dict><key>RequestedAt</key><date>2025-12-30T23:00:00Z</date>   <key>N</key>  <integer>2026</integer></dict>
	<key>Dates</key>
	<array>
	    <date>2024-02-28T22:30:00Z</date>
	</array>
</dict>
</plist>
"#;

/// No extension, leading blank lines, no XML declaration: still a plist.
const BARE_PLIST: &str = "\n\n<plist version=\"1.0\"><dict><key>At</key><date>2026-11-22T10:00:00Z</date></dict></plist>";
const BARE_PLIST_AGED: &str = "\n\n<plist version=\"1.0\"><dict><key>At</key><date>2026-11-21T08:00:00Z</date></dict></plist>";

const AUDIT: &str = concat!(
    r#"{"at":"2026-11-22T10:00:00Z","what":"rotation_requested","since":"2026-11-22T09:59:59.5+01:00","n":"2026-11-22T10:00:00Z is a time"}"#,
    "\n",
    r#"{"at": "2026-11-22T10:00:00.123456789Z", "nested": {"list": ["2026-11-22T10:00:00Z", 1, true, null]}, "2026-11-22T10:00:00Z": "key"}"#,
    "\n",
    r#"{"at":"2026-11-22T1"#,
);
const AUDIT_AGED: &str = concat!(
    r#"{"at":"2026-11-21T08:00:00Z","what":"rotation_requested","since":"2026-11-21T07:59:59.5+01:00","n":"2026-11-22T10:00:00Z is a time"}"#,
    "\n",
    r#"{"at": "2026-11-21T08:00:00.123456789Z", "nested": {"list": ["2026-11-21T08:00:00Z", 1, true, null]}, "2026-11-22T10:00:00Z": "key"}"#,
    "\n",
    r#"{"at":"2026-11-22T1"#,
);

/// Key order, spacing and a trailing space kept.
const PRETTY_JSON: &str = "{\n    \"z_last\" : \"2026-11-22T10:00:00Z\" ,\n    \"a_first\": [ \"2026-11-22T10:00:00Z\",   \"not a time\" ],\n    \"date_only\": \"2026-11-22\"\n} \n";
const PRETTY_JSON_AGED: &str = "{\n    \"z_last\" : \"2026-11-21T08:00:00Z\" ,\n    \"a_first\": [ \"2026-11-21T08:00:00Z\",   \"not a time\" ],\n    \"date_only\": \"2026-11-22\"\n} \n";

/// Text that merely contains times: not a plist, not JSON.
const LOG: &str = "2026-11-22T10:00:00Z check healthy\n<date>2026-11-22T10:00:00Z</date>\n";

/// A healthy Mac with Keywarden's files, a call logged, and a binary plist.
fn lived_in_mac() -> ToolsMac {
    let mac = ToolsMac::healthy();
    mac.run("fdesetup", &["status"]);
    write(
        &mac,
        "/var/db/keywarden/state.plist",
        STATE_PLIST.as_bytes(),
        0o600,
    );
    write(
        &mac,
        "/var/db/keywarden/audit.jsonl",
        AUDIT.as_bytes(),
        0o640,
    );
    write(&mac, "/var/db/keywarden/blob", BARE_PLIST.as_bytes(), 0o644);
    write(
        &mac,
        "/Library/Keywarden/status.plist",
        STATE_PLIST.as_bytes(),
        0o644,
    );
    write(
        &mac,
        "/Library/Keywarden/extra.json",
        PRETTY_JSON.as_bytes(),
        0o644,
    );
    write(&mac, "/Library/Logs/keywarden.log", LOG.as_bytes(), 0o644);
    let mut dict = plist::Dictionary::new();
    dict.insert(
        "At".into(),
        plist::Value::Date(jiff_to_system("2026-11-22T10:00:00Z").into()),
    );
    let mut bin = Vec::new();
    plist::Value::Dictionary(dict)
        .to_writer_binary(&mut bin)
        .unwrap();
    write(&mac, "/var/db/keywarden/cache.bin", &bin, 0o600);
    if euid() == 0 {
        let path = mac.path("/var/db/keywarden/audit.jsonl");
        std::os::unix::fs::chown(&path, Some(501), Some(20)).unwrap();
    }
    mac
}

fn jiff_to_system(rfc3339: &str) -> std::time::SystemTime {
    rfc3339.parse::<jiff::Timestamp>().unwrap().into()
}

/// `text` with each of these RFC 3339 times replaced by the time `D` earlier, printed the way
/// jiff prints (the simulator writes its own times with jiff).
fn aged_times(text: &str, times: &[&str]) -> String {
    let mut out = text.to_string();
    for t in times {
        let earlier = t.parse::<jiff::Timestamp>().unwrap() - jiff::SignedDuration::from_secs(D);
        out = out.replace(&format!("\"{t}\""), &format!("\"{earlier}\""));
    }
    out
}

#[test]
fn aging_moves_plist_dates_json_timestamps_and_file_times_by_exactly_the_duration_and_nothing_else()
{
    let mac = lived_in_mac();
    let before = snapshot(mac.root());

    let out = mac.age("1d2h");
    assert_eq!(out.code(), 0, "{}", out.err());
    let after_times = times(mac.root(), before.keys().cloned());
    let after = snapshot(mac.root());

    // Nothing appeared or disappeared (no temp file left behind).
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let lock = PathBuf::from(".sim/lock");
    for (rel, b) in &before {
        let a = &after[rel];
        let [mtime, atime] = after_times[rel];
        if matches!(b.what, Content::Link(_)) || *rel == lock {
            assert_eq!((mtime, atime), (b.mtime, b.atime), "{rel:?} moved");
        } else {
            assert_eq!(mtime, (b.mtime.0 - D, b.mtime.1), "mtime of {rel:?}");
            assert_eq!(atime, (b.atime.0 - D, b.atime.1), "atime of {rel:?}");
        }
        assert_eq!(
            (a.mode, a.owner),
            (b.mode, b.owner),
            "mode/owner of {rel:?}"
        );
    }

    let bytes = |rel: &str| match &after[Path::new(rel)].what {
        Content::File(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("{rel}: {other:?}"),
    };
    let old = |rel: &str| match &before[Path::new(rel)].what {
        Content::File(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("{rel}: {other:?}"),
    };
    assert_eq!(bytes("var/db/keywarden/state.plist"), STATE_PLIST_AGED);
    assert_eq!(bytes("Library/Keywarden/status.plist"), STATE_PLIST_AGED);
    assert_eq!(bytes("var/db/keywarden/blob"), BARE_PLIST_AGED);
    assert_eq!(bytes("var/db/keywarden/audit.jsonl"), AUDIT_AGED);
    assert_eq!(bytes("Library/Keywarden/extra.json"), PRETTY_JSON_AGED);
    assert_eq!(bytes("Library/Logs/keywarden.log"), LOG);
    assert_eq!(
        bytes(".sim/scenario.json"),
        aged_times(
            &old(".sim/scenario.json"),
            &[
                "2024-05-01T09:00:00Z",
                "2024-06-01T10:00:00Z",
                "2024-05-01T08:55:00Z"
            ]
        )
    );
    let calls = old(".sim/calls.jsonl");
    let at: serde_json::Value = serde_json::from_str(calls.lines().next().unwrap()).unwrap();
    assert_eq!(
        bytes(".sim/calls.jsonl"),
        aged_times(&calls, &[at["at"].as_str().unwrap()])
    );
    // Everything else byte for byte.
    for (rel, b) in &before {
        let s = rel.to_str().unwrap();
        let moved = [
            "var/db/keywarden/state.plist",
            "Library/Keywarden/status.plist",
            "var/db/keywarden/blob",
            "var/db/keywarden/audit.jsonl",
            "Library/Keywarden/extra.json",
            "var/db/keywarden/cache.bin",
            ".sim/scenario.json",
            ".sim/calls.jsonl",
        ];
        if !moved.contains(&s) {
            assert_eq!(after[rel].what, b.what, "{rel:?} changed");
        }
    }

    // The binary plist: its date moved, it is still binary.
    let bin = fs::read(mac.path("/var/db/keywarden/cache.bin")).unwrap();
    assert!(bin.starts_with(b"bplist00"));
    let v = plist::Value::from_reader(std::io::Cursor::new(bin)).unwrap();
    let got = std::time::SystemTime::from(v.as_dictionary().unwrap()["At"].as_date().unwrap());
    assert_eq!(got, jiff_to_system("2026-11-21T08:00:00Z"));

    // The summary counts what moved; the torn audit line is mentioned, not touched.
    assert_eq!(
        out.text(),
        format!(
            "age: 1 day 2 hours: 4 plists (8 dates), 4 JSON files (10 timestamps), {} file times\n",
            before.len() - 1 - 9
        )
    );
    assert!(
        out.err()
            .contains("audit.jsonl: 1 line(s) that are not JSON"),
        "{}",
        out.err()
    );

    // The aged Mac still works.
    assert_eq!(
        mac.run("fdesetup", &["status"]).text(),
        "FileVault is On.\n"
    );
}

#[test]
fn after_aging_the_escrow_file_keeps_its_bytes_and_only_its_mtime_moves() {
    let mac = ToolsMac::healthy();
    let prk = "/var/db/FileVaultPRK.dat";
    let bytes = fs::read(mac.path(prk)).unwrap();
    let ino = fs::metadata(mac.path(prk)).unwrap().ino();
    mac.age("15d");
    let want = jiff_to_system("2024-05-17T10:00:00Z");
    assert_eq!(mac.mtime(prk), want);
    assert_eq!(
        mac.scenario()["escrow"]["prk_file_written_at"],
        "2024-05-17T10:00:00Z"
    );
    // Applying the aged scenario (any `set` or `event`) leaves the file alone.
    mac.set(&["latency_ms=0"]);
    mac.event(&["logout"]);
    assert_eq!(fs::read(mac.path(prk)).unwrap(), bytes);
    assert_eq!(fs::metadata(mac.path(prk)).unwrap().ino(), ino);
    assert_eq!(mac.mtime(prk), want);
}

#[test]
fn aging_keeps_the_mode_and_owner_of_every_rewritten_file() {
    let mac = ToolsMac::healthy();
    let files = [
        ("/var/db/keywarden/state.plist", 0o600, (0, 0)),
        ("/Library/Keywarden/status.plist", 0o644, (502, 20)),
        ("/var/db/keywarden/audit.jsonl", 0o640, (501, 80)),
        ("/Library/Keywarden/odd.json", 0o4751, (502, 502)),
    ];
    let root = require_root("to give the rewritten files other owners");
    for (path, mode, (uid, gid)) in files {
        let text = if path.ends_with("plist") {
            STATE_PLIST
        } else {
            "{\"at\": \"2026-11-22T10:00:00Z\"}\n"
        };
        write(&mac, path, text.as_bytes(), 0o600);
        if root {
            std::os::unix::fs::chown(mac.path(path), Some(uid), Some(gid)).unwrap();
        }
        fs::set_permissions(mac.path(path), fs::Permissions::from_mode(mode)).unwrap();
    }
    let before: Vec<_> = files
        .iter()
        .map(|(p, _, _)| fs::metadata(mac.path(p)).unwrap())
        .collect();
    let out = mac.age("3h");
    assert_eq!(out.code(), 0, "{}", out.err());
    for ((path, mode, _), b) in files.iter().zip(before) {
        let a = fs::metadata(mac.path(path)).unwrap();
        assert_ne!(a.ino(), b.ino(), "{path} was not replaced");
        assert_eq!(a.mode() & 0o7777, *mode, "{path}");
        assert_eq!((a.uid(), a.gid()), (b.uid(), b.gid()), "{path}");
    }
}

#[test]
fn aging_never_follows_a_symlink_or_touches_anything_outside_the_mac() {
    let mac = ToolsMac::healthy();
    let outside = tempfile::tempdir().unwrap();
    let o = outside.path();
    fs::write(o.join("outside.plist"), STATE_PLIST).unwrap();
    fs::write(o.join("outside.json"), PRETTY_JSON).unwrap();
    fs::create_dir(o.join("dir")).unwrap();
    fs::write(o.join("dir/inner.plist"), STATE_PLIST).unwrap();
    fs::write(o.join("hard.plist"), STATE_PLIST).unwrap();
    fs::write(o.join("hard.txt"), "plain").unwrap();
    let lib = mac.path("/Library");
    symlink(o.join("outside.plist"), lib.join("link.plist")).unwrap();
    symlink(o.join("outside.json"), lib.join("link.json")).unwrap();
    symlink(o.join("dir"), lib.join("linkdir")).unwrap();
    symlink("../../nowhere", lib.join("dangling.json")).unwrap();
    fs::hard_link(o.join("hard.plist"), lib.join("hard.plist")).unwrap();
    fs::hard_link(o.join("hard.txt"), lib.join("hard.txt")).unwrap();
    let before = snapshot(o);
    let links = ["link.plist", "link.json", "linkdir", "dangling.json"].map(|l| {
        (
            fs::read_link(lib.join(l)).unwrap(),
            fs::symlink_metadata(lib.join(l)).unwrap().mtime(),
        )
    });

    let out = mac.age("1d2h");
    assert_eq!(out.code(), 0, "{}", out.err());

    let after_times = times(o, before.keys().cloned());
    assert_eq!(
        snapshot(o).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (rel, b) in &before {
        assert_eq!(
            after_times[rel],
            [b.mtime, b.atime],
            "{rel:?} outside moved"
        );
    }
    assert_eq!(
        snapshot(o)
            .into_iter()
            .map(|(k, n)| (k, n.what))
            .collect::<Vec<_>>(),
        before
            .into_iter()
            .map(|(k, n)| (k, n.what))
            .collect::<Vec<_>>()
    );
    for (l, (target, mtime)) in ["link.plist", "link.json", "linkdir", "dangling.json"]
        .iter()
        .zip(links)
    {
        let m = fs::symlink_metadata(lib.join(l)).unwrap();
        assert!(m.file_type().is_symlink());
        assert_eq!(
            (fs::read_link(lib.join(l)).unwrap(), m.mtime()),
            (target, mtime),
            "{l}"
        );
    }
    // The hard-linked plist inside is a file of the Mac: it moved (as a new file), the outside
    // name kept the old one; the plain hard-linked file keeps its times (they are shared).
    assert_eq!(
        fs::read_to_string(lib.join("hard.plist")).unwrap(),
        STATE_PLIST_AGED
    );
    assert_eq!(
        fs::read_to_string(o.join("hard.plist")).unwrap(),
        STATE_PLIST
    );
    assert!(
        out.err()
            .contains("hard.txt: hard-linked from outside the Mac"),
        "{}",
        out.err()
    );
}

#[test]
fn a_bad_duration_is_rejected_and_changes_nothing() {
    let mac = lived_in_mac();
    let before = snapshot(mac.root());
    for bad in [
        "15", "15x", "1h1d", "", "d", "-5m", "0s", "1.5h", "15 d", "1w", "3H",
    ] {
        let out = mac.age(bad);
        assert_eq!(out.code(), 1, "{bad:?} was accepted");
        assert!(
            out.err().contains("is not a duration") || out.err().contains("zero duration"),
            "{bad:?}: {}",
            out.err()
        );
        assert!(out.text().is_empty());
    }
    let after_times = times(mac.root(), before.keys().cloned());
    for (rel, b) in &before {
        assert_eq!(after_times[rel], [b.mtime, b.atime], "{rel:?}");
    }
    assert_eq!(
        snapshot(mac.root())
            .into_iter()
            .map(|(k, n)| (k, n.what))
            .collect::<Vec<_>>(),
        before
            .into_iter()
            .map(|(k, n)| (k, n.what))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_directory_that_is_not_a_simulated_mac_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("a.json"),
        "{\"at\": \"2026-11-22T10:00:00Z\"}",
    )
    .unwrap();
    let mac = ToolsMac::healthy();
    let out = mac.cli(&["age", dir.path().to_str().unwrap(), "1d"]);
    assert_eq!(out.code(), 1);
    assert!(
        out.err().contains("is not a simulated Mac"),
        "{}",
        out.err()
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("a.json")).unwrap(),
        "{\"at\": \"2026-11-22T10:00:00Z\"}"
    );
}

#[test]
fn a_file_whose_rewrite_would_not_check_out_stops_aging_before_anything_moves() {
    let mac = lived_in_mac();
    // A timestamp with an escaped character: a JSON reader sees a time, a textual rewrite does
    // not; the simulator refuses rather than age half of it.
    write(
        &mac,
        "/Library/Keywarden/escaped.json",
        br#"{"at": "2026-11-22T10:00:00\u005a"}"#,
        0o644,
    );
    let before = snapshot(mac.root());
    let out = mac.age("1d");
    assert_eq!(out.code(), 1);
    assert!(out.err().contains("escaped.json"), "{}", out.err());
    let after_times = times(mac.root(), before.keys().cloned());
    for (rel, b) in &before {
        if *rel != Path::new(".sim/lock") {
            assert_eq!(after_times[rel][0], b.mtime, "{rel:?}");
        }
    }
}
