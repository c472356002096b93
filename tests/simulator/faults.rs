//! Misbehaving tools: injected faults and replayed transcripts.
//!
//! A fault in the scenario makes matching calls hang, crash, exit with an error, print junk,
//! print too much, print invalid UTF-8, answer slowly, print nothing or print half an answer.
//! A transcript answers calls with recorded outputs (in recording order, repeating the last)
//! instead of the scenario. Both are chosen under the scenario lock by the caller (`main`),
//! which also decides when the log line is written; this module holds the rules and the
//! canned outputs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::layout::{io_err, write_atomic, Mac};
use crate::random;
use crate::scenario::{Fault, FaultKind, Scenario};
use crate::tools::Answer;

/// Size of a `huge` answer: more than any sane cap on a tool's output.
pub const HUGE_BYTES: usize = 5 * 1024 * 1024;
/// Default delay of a `slow` fault.
pub const SLOW_DEFAULT_MS: u64 = 1000;

/// The first fault whose `argv` is a prefix of the call's argv (tool name first) and is not
/// spent; its `times` is decremented. The caller saves the scenario when this returns `Some`.
pub fn take(s: &mut Scenario, argv: &[String]) -> Option<Fault> {
    let fault = s.faults.iter_mut().find(|f| {
        f.times != Some(0) && f.argv.len() <= argv.len() && f.argv[..] == argv[..f.argv.len()]
    })?;
    if let Some(n) = &mut fault.times {
        *n -= 1;
    }
    Some(fault.clone())
}

/// The output of the faults that replace the answer outright; `None` for the kinds that need
/// the real answer (`slow`, `truncated`) or never answer (`hang`, `hang_with_child`, `crash`).
pub fn canned(fault: &Fault) -> Option<Answer> {
    match fault.kind {
        FaultKind::Exit => Some(Answer::stderr(
            fault.stderr.clone().unwrap_or_default(),
            fault.code.unwrap_or(1),
        )),
        FaultKind::Garbage => Some(Answer::stdout(random::printable(4096))),
        FaultKind::Huge => Some(Answer::stdout(huge())),
        FaultKind::NonUtf8 => Some(Answer::stdout(
            b"FileVault is On.\n\xff\xfe\xc3\x28 \xe2\x82 invalid \xf0\x9f\x92\n".as_slice(),
        )),
        FaultKind::Empty => Some(Answer::stdout("")),
        FaultKind::Hang
        | FaultKind::HangWithChild
        | FaultKind::Crash
        | FaultKind::Slow
        | FaultKind::Truncated => None,
    }
}

fn huge() -> Vec<u8> {
    let line = b"FileVault is On. This line repeats until the output is five mebibytes long.\n";
    line.iter().copied().cycle().take(HUGE_BYTES).collect()
}

/// The first half of each stream of a real answer (the exit code is kept).
pub fn truncate(mut a: Answer) -> Answer {
    a.stdout.truncate(a.stdout.len() / 2);
    a.stderr.truncate(a.stderr.len() / 2);
    a
}

pub fn slow_delay(fault: &Fault) -> Duration {
    Duration::from_millis(fault.ms.unwrap_or(SLOW_DEFAULT_MS))
}

/// Sleeps forever (until killed).
pub fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// One recorded call of a transcript file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recorded {
    /// The first word may be a path (`/usr/bin/fdesetup`): only its basename is compared.
    argv: Vec<String>,
    #[serde(default)]
    exit: i32,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
}

/// The recorded answer to `argv`, if the scenario has a transcript that recorded it. Call under
/// the lock: it advances a per-argv counter in `.sim/replay.json`.
pub fn replay(mac: &Mac, s: &Scenario, argv: &[String]) -> Result<Option<Answer>, String> {
    let Some(name) = &s.transcript else {
        return Ok(None);
    };
    let path = mac.sim_dir().join(name); // `join` keeps an absolute `name` as is
    let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    let recorded: Vec<Recorded> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let matching: Vec<&Recorded> = recorded
        .iter()
        .filter(|r| same_call(&r.argv, argv))
        .collect();
    let Some(last) = matching.last() else {
        return Ok(None);
    };

    let counters_path = mac.replay_file();
    let mut counters: BTreeMap<String, usize> = match std::fs::read_to_string(&counters_path) {
        Ok(t) => {
            serde_json::from_str(&t).map_err(|e| format!("{}: {e}", counters_path.display()))?
        }
        Err(_) => BTreeMap::new(),
    };
    let key = serde_json::to_string(argv).expect("strings serialise");
    let n = counters.entry(key).or_insert(0);
    let r = matching.get(*n).unwrap_or(last);
    *n += 1;
    let json = serde_json::to_string_pretty(&counters).expect("a map of counters serialises");
    write_atomic(&counters_path, json.as_bytes(), 0o644, None)?;

    Ok(Some(Answer {
        stdout: r.stdout.clone().into_bytes(),
        stderr: r.stderr.clone().into_bytes(),
        exit: r.exit,
    }))
}

fn same_call(recorded: &[String], argv: &[String]) -> bool {
    let base = |s: &str| {
        Path::new(s)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    recorded.len() == argv.len()
        && !recorded.is_empty()
        && base(&recorded[0]) == argv[0]
        && recorded[1..] == argv[1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_first_matching_fault_applies_and_counts_down() {
        let mut s = Scenario::default()
            .assign(r#"faults=[{"argv":["fdesetup","status"],"kind":"empty","times":1},{"argv":["fdesetup"],"kind":"crash"}]"#)
            .unwrap();
        let call = argv(&["fdesetup", "status"]);
        assert_eq!(take(&mut s, &call).unwrap().kind, FaultKind::Empty);
        assert_eq!(s.faults[0].times, Some(0));
        assert_eq!(take(&mut s, &call).unwrap().kind, FaultKind::Crash);
        assert!(take(&mut s, &argv(&["dscl", "."])).is_none());
    }

    #[test]
    fn a_fault_longer_than_the_call_does_not_match() {
        let mut s = Scenario::default()
            .assign(r#"faults=[{"argv":["sysctl","-n","kern.bootsessionuuid"],"kind":"empty"}]"#)
            .unwrap();
        assert!(take(&mut s, &argv(&["sysctl", "-n"])).is_none());
    }

    #[test]
    fn huge_is_five_mebibytes_and_truncated_halves_both_streams() {
        assert_eq!(huge().len(), HUGE_BYTES);
        let a = truncate(Answer {
            stdout: b"abcd".to_vec(),
            stderr: b"xy".to_vec(),
            exit: 3,
        });
        assert_eq!(
            (a.stdout, a.stderr, a.exit),
            (b"ab".to_vec(), b"x".to_vec(), 3)
        );
    }

    #[test]
    fn recorded_argv_may_start_with_a_full_path() {
        assert!(same_call(
            &argv(&["/usr/bin/fdesetup", "status"]),
            &argv(&["fdesetup", "status"])
        ));
        assert!(!same_call(
            &argv(&["fdesetup"]),
            &argv(&["fdesetup", "status"])
        ));
    }
}
