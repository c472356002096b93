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
            let _ = writeln!(
                out,
                "{}: {}",
                if s.healthy { "healthy" } else { "problems" },
                if s.problems.is_empty() {
                    s.one_line()
                } else {
                    s.problems
                        .iter()
                        .map(|p| p.code())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            for e in &s.daemon.errors {
                let _ = writeln!(out, "error: {e}");
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
