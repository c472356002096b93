//! The call log: one JSON line per tool call in `DIR/.sim/calls.jsonl`.
//!
//! Each line records when, which tool, the argv (tool name first), stdin (lossy UTF-8; a secret
//! plist on purpose: tests read this log to prove secrets travel on stdin and never in argv) and
//! how it exited. Lines are appended with `O_APPEND` in one `write`, so concurrent tool
//! processes never interleave within a line, and under the simulator's lock, so `age` (which
//! rewrites the file with its times moved) cannot drop a line appended meanwhile.

use std::fs::OpenOptions;
use std::io::Write;

use serde::Serialize;

use crate::layout::{io_err, Mac};
use crate::scenario::FaultKind;

#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    /// RFC 3339.
    pub at: String,
    pub tool: &'a str,
    pub argv: &'a [String],
    pub stdin: String,
    /// Null when the call never exits by itself (`hang`) or dies by a signal (`crash`).
    pub exit: Option<i32>,
    /// The injected fault's kind, if one applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultKind>,
    /// Answered from the transcript rather than the scenario.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
    /// `hang_with_child`: the sleeping child, so a test can check the process group was killed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_pid: Option<i32>,
}

/// Appends under the simulator's lock, so `age` (which rewrites the log) never loses a line.
/// The caller must not hold the lock.
pub fn append(mac: &Mac, entry: &Entry) -> Result<(), String> {
    let _lock = mac.lock()?;
    let path = mac.calls_file();
    let mut line = serde_json::to_string(entry).expect("a log entry serialises");
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    // One write(2) of the whole line: with O_APPEND the kernel places it atomically at the end.
    let written = file.write(line.as_bytes()).map_err(|e| io_err(&path, e))?;
    if written != line.len() {
        return Err(format!("{}: short write", path.display()));
    }
    Ok(())
}
