//! `keywarden check`: one check now, the status written, and a one-line verdict on stdout.

use std::io::Write as _;
use std::path::PathBuf;

use crate::check;
use crate::logging;

use super::session::{Needs, Session};
use super::Ended;

/// Exit 0 when the status was written and every probe answered (problems or not), 1 when a probe
/// failed (or, with `fail_on_problems`, the Mac has a problem), 2 when nothing was written.
pub(super) fn check(root: Option<PathBuf>, fail_on_problems: bool) -> Ended {
    let session = match Session::start(
        root,
        Needs {
            command: "check",
            root: true,
            logging: logging::Mode::Check,
        },
    ) {
        Ok(s) => s,
        Err(e) => return Ended::failed(e),
    };
    let runner = session.runner();
    let env = session.env(&runner);
    match session.runtime.block_on(check::run(&env, &session.config)) {
        Ok(outcome) => {
            let s = &outcome.status;
            let mut out = std::io::stdout().lock();
            let codes = |list: &[crate::status::Problem]| {
                list.iter().map(|p| p.code()).collect::<Vec<_>>().join(", ")
            };
            let mut line = if s.problems.is_empty() {
                format!("healthy: {}", s.one_line())
            } else {
                format!("problems: {}", codes(&s.problems))
            };
            if !s.warnings.is_empty() {
                line.push_str(&format!("; warnings: {}", codes(&s.warnings)));
            }
            let _ = writeln!(out, "{line}");
            for e in &s.daemon.errors {
                let _ = writeln!(out, "error: {}", crate::text::terminal(e));
            }
            if outcome.probe_failed || (fail_on_problems && !s.healthy) {
                Ended::Attention
            } else {
                Ended::Done
            }
        }
        Err(e) => Ended::failed(e),
    }
}
