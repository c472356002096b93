//! The log as a SIEM reads it (issue 15, item 5): with `LogFormat` `json` every line of the log
//! file is one JSON object, and every event in it is documented in docs/logging.md with its level
//! and its fields, each of the documented type.
//!
//! The schema is not written down here: it is parsed from the doc's events table, so the doc and
//! the code cannot drift apart. The demo's story (tests/demo/demo.sh: its simulated Macs and
//! their events, one `check` after each) runs with `LogFormat` `json` at `debug`, with a
//! validation and a short daemon run added for the events the demo does not reach; every line
//! any of those Macs logged must read as a documented event. The doc's examples, one per event,
//! are held to the same table. Also here: a changed `LogFormat` reaching the daemon, each log
//! file in one format, and `keywarden audit --json`, the audit trail for the same SIEM.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use plist::Value;
use serde_json::Value as Json;

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// The schema, from docs/logging.md

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    Boolean,
}

impl Kind {
    fn holds(self, v: &Json) -> bool {
        match self {
            Kind::String => v.is_string(),
            Kind::Integer => v.is_i64() || v.is_u64(),
            Kind::Boolean => v.is_boolean(),
        }
    }
}

#[derive(Debug)]
struct FieldDoc {
    kind: Kind,
    optional: bool,
}

#[derive(Debug)]
struct EventDoc {
    levels: Vec<String>,
    fields: BTreeMap<String, FieldDoc>,
}

fn logging_md() -> String {
    std::fs::read_to_string(repo("docs/logging.md")).expect("docs/logging.md")
}

/// The text between backticks of a cell that is one code span (`` `name` ``).
fn code_span(cell: &str) -> Option<&str> {
    cell.trim().strip_prefix('`')?.strip_suffix('`')
}

/// One field of the fields column: `` `name` [optional] string|integer|boolean ``.
fn field(item: &str, row: &str) -> (String, FieldDoc) {
    let item = item.trim();
    let (name, kind) = item
        .strip_prefix('`')
        .and_then(|rest| rest.split_once("` "))
        .unwrap_or_else(|| panic!("docs/logging.md: {item:?} is not `name` type, in: {row}"));
    let (optional, kind) = match kind.strip_prefix("optional ") {
        Some(k) => (true, k),
        None => (false, kind),
    };
    let kind = match kind {
        "string" => Kind::String,
        "integer" => Kind::Integer,
        "boolean" => Kind::Boolean,
        other => panic!("docs/logging.md: {other:?} is not string, integer or boolean, in: {row}"),
    };
    (name.to_owned(), FieldDoc { kind, optional })
}

/// The events table under "Stable event names": event → its levels and fields.
fn documented() -> BTreeMap<String, EventDoc> {
    let text = logging_md();
    let at = text
        .find("| event | level | fields | meaning |")
        .expect("docs/logging.md has the events table");
    let mut events = BTreeMap::new();
    for row in text[at..].lines().skip(2) {
        if !row.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = row.split(" | ").collect();
        assert!(cells.len() >= 4, "docs/logging.md: a short row: {row}");
        let name = code_span(cells[0].trim_start_matches('|'))
            .unwrap_or_else(|| panic!("docs/logging.md: one event per row: {row}"));
        let levels: Vec<String> = cells[1].split(", ").map(str::to_owned).collect();
        for l in &levels {
            assert!(
                ["error", "warn", "info", "debug"].contains(&l.as_str()),
                "docs/logging.md: level {l:?} in: {row}"
            );
        }
        let fields = match cells[2].trim() {
            "(none)" => BTreeMap::new(),
            list => list.split(", ").map(|item| field(item, row)).collect(),
        };
        let doc = EventDoc { levels, fields };
        assert!(
            events.insert(name.to_owned(), doc).is_none(),
            "docs/logging.md: {name} has two rows"
        );
    }
    assert!(events.len() > 40, "read only {} events", events.len());
    events
}

/// The areas, as docs/logging.md's JSON table lists them (and the os_log categories are).
const AREAS: [&str; 8] = [
    "daemon", "check", "runner", "tools", "config", "state", "keys", "general",
];

/// Check one JSON line against the schema; its event name, or what is wrong.
fn check_line(schema: &BTreeMap<String, EventDoc>, line: &str) -> Result<String, String> {
    let v: Json = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    let envelope = ["time", "level", "area", "event", "fields"];
    let expected: Vec<&str> = if obj.contains_key("message") {
        envelope.iter().copied().chain(["message"]).collect()
    } else {
        envelope.to_vec()
    };
    if keys != expected {
        return Err(format!("keys {keys:?}, not {expected:?}"));
    }
    let time = obj["time"].as_str().ok_or("time is not a string")?;
    let parsed: jiff::Timestamp = time
        .parse()
        .map_err(|e| format!("time {time:?} is not RFC 3339: {e}"))?;
    if !time.ends_with('Z') || parsed.subsec_nanosecond() != 0 || time.contains('.') {
        return Err(format!("time {time:?} is not UTC to the second"));
    }
    let area = obj["area"].as_str().ok_or("area is not a string")?;
    if !AREAS.contains(&area) {
        return Err(format!("area {area:?}"));
    }
    if obj.get("message").is_some_and(|m| !m.is_string()) {
        return Err("message is not a string".into());
    }
    let name = obj["event"].as_str().ok_or("event is not a string")?;
    let doc = schema
        .get(name)
        .ok_or_else(|| format!("event {name} is not in docs/logging.md's table"))?;
    let level = obj["level"].as_str().ok_or("level is not a string")?;
    if !doc.levels.iter().any(|l| l == level) {
        return Err(format!("{name} at {level}; documented at {:?}", doc.levels));
    }
    let fields = obj["fields"].as_object().ok_or("fields is not an object")?;
    for (k, value) in fields {
        let f = doc
            .fields
            .get(k)
            .ok_or_else(|| format!("{name}: field {k} is not documented"))?;
        if !f.kind.holds(value) {
            return Err(format!("{name}: {k} = {value} is not a {:?}", f.kind));
        }
    }
    for (k, f) in &doc.fields {
        if !f.optional && !fields.contains_key(k) {
            return Err(format!("{name}: documented field {k} is missing"));
        }
    }
    Ok(name.to_owned())
}

// ---------------------------------------------------------------------------------------------
// The demo's story, logged in JSON

/// A simulated Mac logging in JSON at debug (and with the demo's 2-second tool timeout), after
/// `changes` to the healthy scenario.
fn json_mac(changes: &[&str]) -> Mac {
    let mac = Mac::with(changes);
    mac.managed_prefs(&[
        ("LogFormat", Value::String("json".into())),
        ("LogLevel", Value::String("debug".into())),
        ("ToolTimeout", Value::Integer(2.into())),
    ]);
    mac
}

fn check(mac: &Mac) {
    let out = mac.check();
    assert!(code(&out) <= 1, "check failed: {}", text(&out));
}

/// Run `steps` of the simulator (`event ...`, `set ...`, `age ...`), a check after each.
fn story(mac: &Mac, steps: &[&[&str]]) {
    check(mac);
    for step in steps {
        let (verb, rest) = step.split_first().expect("a step");
        let mut args = vec![*verb, mac.root_str()];
        args.extend_from_slice(rest);
        mac.sim(&args);
        check(mac);
    }
}

/// Every line of the Mac's log, rotated files first.
fn log_lines(mac: &Mac) -> Vec<String> {
    let mut lines = Vec::new();
    for name in [
        "keywarden.log.3",
        "keywarden.log.2",
        "keywarden.log.1",
        "keywarden.log",
    ] {
        let path = mac.path(&format!("/Library/Logs/Keywarden/{name}"));
        if let Ok(text) = std::fs::read_to_string(path) {
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines
}

/// SIGTERM to the daemon `child`; whether it stopped within 10 s (it is killed if not).
fn stop(mut child: std::process::Child) -> bool {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let stopped = eventually(Duration::from_secs(10), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !stopped {
        let _ = child.kill();
    }
    let _ = child.wait();
    stopped
}

/// The daemon's start, a configuration warning, a console change and SIGTERM.
fn daemon_run(mac: &Mac) {
    mac.managed_prefs(&[
        ("LogFormat", Value::String("json".into())),
        ("LogLevel", Value::String("debug".into())),
        ("ConsolePollSeconds", Value::Integer(1.into())),
        // A configuration warning, logged at start.
        ("CheckIntervall", Value::Integer(600.into())),
    ]);
    let child = mac.spawn_keywarden(&["run"]);
    let finished = |n: usize| {
        log_lines(mac)
            .iter()
            .filter(|l| l.contains("\"event\":\"check_finished\""))
            .count()
            >= n
    };
    let started = eventually(Duration::from_secs(30), || finished(1));
    if started {
        mac.set(&["console_user=itadmin"]);
        eventually(Duration::from_secs(30), || finished(2));
    }
    let stopped = stop(child);
    assert!(
        started && stopped,
        "the daemon ran a check and stopped on SIGTERM"
    );
}

#[test]
fn every_event_the_demo_logs_in_json_is_documented_with_its_level_and_fields_issue_15() {
    let schema = documented();
    let mut macs = Vec::new();

    // The demo's scenarios, each on its own Mac as the demo lays them out.
    for changes in [
        &[][..],
        &[r#"filevault.state="Off""#, "recovery_key.personal=null"][..],
        &["escrow.profile_installed=false"][..],
        &[
            "users.0.secure_token=false",
            "users.0.volume_owner=false",
            "users.1.secure_token=true",
            "users.1.volume_owner=true",
        ][..],
        &["bootstrap_token.escrowed=false"][..],
    ] {
        let mac = json_mac(changes);
        check(&mac);
        macs.push(mac);
    }
    // A tool that hangs, and answers again.
    let mac = json_mac(&[]);
    story(
        &mac,
        &[
            &[
                "set",
                r#"faults=[{"argv":["fdesetup","status"],"kind":"hang"}]"#,
            ],
            &["set", "faults=[]"],
        ],
    );
    macs.push(mac);
    // The story of a recovery key: used, detected, rotated, confirmed.
    let mac = json_mac(&[]);
    story(
        &mac,
        &[
            &["event", "reboot", "--with-recovery-key"],
            &["event", "login", "alice"],
            &["event", "logout"],
            &["event", "login", "alice"],
        ],
    );
    macs.push(mac);
    // When Escrow Buddy fails: retried, then overdue.
    let mac = json_mac(&[]);
    story(
        &mac,
        &[
            &["event", "reboot", "--with-recovery-key"],
            &["event", "login", "alice"],
            &["set", "escrow_buddy.fail_next_rotation=true"],
            &["event", "logout"],
            &["event", "login", "alice"],
            &["age", "11m"],
            &["age", "61m"],
            &["set", "escrow_buddy.fail_next_rotation=true"],
            &["event", "logout"],
            &["event", "login", "alice"],
            &["age", "15d"],
        ],
    );
    macs.push(mac);
    // The MDM re-sends its escrow profile; then only the dates are left.
    let mac = json_mac(&[]);
    story(
        &mac,
        &[
            &["event", "resend-profile"],
            &["set", "escrow.certificate_shown=false"],
        ],
    );
    macs.push(mac);
    // The escrow certificate changes: the key is replaced and confirmed.
    let mac = json_mac(&[]);
    story(
        &mac,
        &[
            &["event", "resend-profile", "--certificate", "b"],
            &["event", "logout"],
            &["event", "login", "alice"],
        ],
    );
    macs.push(mac);
    // Beyond the demo: a wrong key validated, then refused; and the daemon.
    let mac = json_mac(&[]);
    check(&mac);
    for expected in [1, 2] {
        let out = mac.keywarden_with_stdin(&["validate"], b"WRNG-KEYX-WRNG-KEYX-WRNG-KEYX\n");
        assert_eq!(code(&out), expected, "{}", stderr(&out));
    }
    macs.push(mac);
    let mac = json_mac(&[]);
    daemon_run(&mac);
    macs.push(mac);

    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    let mut lines = 0;
    for (i, mac) in macs.iter().enumerate() {
        for line in log_lines(mac) {
            lines += 1;
            match check_line(&schema, &line) {
                Ok(name) => {
                    seen.insert(name);
                }
                Err(why) => wrong.push(format!("Mac {i}: {why}\n  {line}")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The run reached what it is meant to: not a vacuous pass over a few lines.
    for must in [
        "daemon_started",
        "daemon_stopped",
        "signal",
        "shutdown",
        "config_warning",
        "console_changed",
        "check_started",
        "check_finished",
        "problem_raised",
        "problem_cleared",
        "warning_raised",
        "error_raised",
        "error_cleared",
        "recovery_key_state_changed",
        "rotation_state_changed",
        "escrow_state_changed",
        "boot_guard",
        "tool_finished",
        "tool_timed_out",
        "flag_set",
        "validation_finished",
        "validation_refused",
    ] {
        assert!(seen.contains(must), "no {must} in {lines} lines: {seen:?}");
    }
}

#[test]
fn every_event_documented_has_an_example_that_its_own_schema_accepts_issue_15() {
    let schema = documented();
    let text = logging_md();
    let at = text
        .find("### An example of every event")
        .expect("docs/logging.md has the examples");
    let block = text[at..]
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```json block of examples");
    let mut examples = BTreeSet::new();
    let mut wrong = Vec::new();
    for line in block.lines() {
        match check_line(&schema, line) {
            Ok(name) => {
                examples.insert(name);
            }
            Err(why) => wrong.push(format!("{why}\n  {line}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let missing: Vec<&String> = schema.keys().filter(|e| !examples.contains(*e)).collect();
    assert!(missing.is_empty(), "no example of {missing:?}");
}

#[test]
fn a_line_that_breaks_the_documented_schema_is_refused_by_the_check() {
    // The check above must be able to fail: each of these breaks one rule of the doc's table.
    let schema = documented();
    let good = r#"{"time":"2026-11-22T06:18:07Z","level":"warn","area":"check","event":"problem_raised","fields":{"code":"RecoveryKeyUsed"}}"#;
    assert_eq!(check_line(&schema, good).as_deref(), Ok("problem_raised"));
    for (bad, why) in [
        (good.replace("warn", "info"), "at info"),
        (
            good.replace("problem_raised", "problem_rised"),
            "not in docs",
        ),
        (good.replace("\"code\"", "\"kode\""), "not documented"),
        (good.replace("\"RecoveryKeyUsed\"", "7"), "is not a String"),
        (
            good.replace(r#""code":"RecoveryKeyUsed""#, ""),
            "is missing",
        ),
        (good.replace("06:18:07Z", "06:18:07.5Z"), "to the second"),
        (good.replace("\"area\":\"check\",", ""), "keys"),
        (format!("{good} trailing"), "not JSON"),
    ] {
        let got = check_line(&schema, &bad);
        assert!(
            got.as_ref().is_err_and(|e| e.contains(why)),
            "{bad}: {got:?}, expected an error saying {why:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The audit trail for a SIEM

/// `keywarden audit --json` prints each event as this Keywarden reads it and writes it again
/// (docs/logging.md, "The audit trail as JSON"): a hand-edited line comes out compact, in the
/// trail's key order, its control characters escaped; a line that is not an event is named on
/// stderr, never printed.
#[test]
fn audit_json_prints_every_event_normalised_and_escaped_and_names_unreadable_lines_issue_15() {
    let mac = json_mac(&[]);
    check(&mac);
    let out = mac.keywarden_with_stdin(&["validate"], b"WRNG-KEYX-WRNG-KEYX-WRNG-KEYX\n");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let path = mac.path("/var/db/keywarden/audit.jsonl");
    let mut trail = std::fs::read_to_string(&path).unwrap();
    let stored = trail.lines().count();
    trail.push_str("not an event\n");
    trail.push_str(concat!(
        r#"{ "Detail": "by hand \u001b[2J\u009b31m", "Caller": "helpdesk", "ConsoleUser": null,"#,
        r#" "Result": "Started", "What": "ValidationStarted", "At": "2026-11-22T10:00:00Z" }"#,
        "\n"
    ));
    std::fs::write(&path, trail).unwrap();

    let out = mac.keywarden(&["audit", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("line {} skipped: not JSON", stored + 1)),
        "{}",
        stderr(&out)
    );
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), stored + 1, "{printed}");
    assert!(!printed.contains("not an event"));
    for line in &lines {
        assert!(!line.chars().any(char::is_control), "{line:?}");
        let v: Json = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys[..6],
            ["At", "What", "Result", "ConsoleUser", "Caller", "Detail"],
            "{line}"
        );
    }
    assert_eq!(
        *lines.last().unwrap(),
        r#"{"At":"2026-11-22T10:00:00Z","What":"ValidationStarted","Result":"Started","ConsoleUser":null,"Caller":"helpdesk","Detail":"by hand \u001b[2J\u009b31m"}"#
    );
}

// ---------------------------------------------------------------------------------------------
// Changing the format

/// A profile switching `LogFormat` reaches the running daemon at its next reload; the text file
/// is rotated away whole, so the file a SIEM reads holds nothing but JSON lines (and switching
/// back does the same the other way).
#[test]
fn the_daemon_follows_a_changed_log_format_and_each_log_file_holds_one_format_issue_15() {
    let mac = Mac::healthy();
    let prefs = |format: &str| {
        mac.managed_prefs(&[
            ("LogFormat", Value::String(format.into())),
            ("ConsolePollSeconds", Value::Integer(1.into())),
        ])
    };
    let read = |name: &str| {
        std::fs::read_to_string(mac.path(&format!("/Library/Logs/Keywarden/{name}")))
            .unwrap_or_default()
    };
    prefs("text");
    let child = mac.spawn_keywarden(&["run"]);
    let text_check = eventually(Duration::from_secs(30), || {
        read("keywarden.log").contains(" check_finished ")
    });
    // The preferences file's modification time must move for the daemon to notice.
    std::thread::sleep(Duration::from_millis(1100));
    prefs("json");
    let json_check = text_check
        && eventually(Duration::from_secs(30), || {
            read("keywarden.log").contains("\"event\":\"check_finished\"")
        });
    let stopped = stop(child);
    assert!(
        text_check && json_check && stopped,
        "{}",
        read("keywarden.log")
    );

    let json = read("keywarden.log");
    for line in json.lines() {
        let v: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["event"].is_string(), "{line}");
    }
    assert!(json.contains("\"event\":\"daemon_stopped\""), "{json}");
    let text = read("keywarden.log.1");
    assert!(text.contains(" daemon_started "), "{text}");
    assert!(
        text.lines().all(|l| !l.starts_with('{')),
        "the old file is text only: {text}"
    );

    // A check run by hand in text again rotates the JSON file away in turn.
    prefs("text");
    check(&mac);
    assert!(read("keywarden.log").lines().all(|l| !l.starts_with('{')));
    assert!(read("keywarden.log").contains(" check_finished "));
    assert!(read("keywarden.log.1").contains("\"event\":\"daemon_stopped\""));
    assert!(read("keywarden.log.2").contains(" daemon_started "));
}
