//! The read-only commands: `status`, `ea`, `doctor` (any user), `audit` (root), and the man page
//! and shell completions made from the command line. They read files and print; they run no
//! tool and change nothing.

use std::io::Write as _;
use std::path::PathBuf;

use crate::audit;
use crate::clock::{Clock, SystemClock};
use crate::doctor;
use crate::logging;
use crate::paths;
use crate::report;
use crate::status::{self, ReadError};

use super::session::{Needs, Session};
use super::Ended;

fn start(root: Option<PathBuf>, command: &'static str, needs_root: bool) -> Result<Session, Ended> {
    Session::start(
        root,
        Needs {
            command,
            root: needs_root,
            logging: logging::Mode::Interactive,
        },
    )
    .map_err(Ended::failed)
}

/// `keywarden status [--json]`: the readable table, or the status as JSON.
pub(super) fn status(root: Option<PathBuf>, json: bool) -> Ended {
    let session = match start(root, "status", false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if json {
        return match status::read_value(&session.root) {
            Ok(v) => {
                let hours = session.config.config.stale_after_hours;
                let json = report::status_json(&v, SystemClock.now(), hours);
                let text =
                    serde_json::to_string_pretty(&json).expect("JSON values always serialise");
                outln!("{text}");
                Ended::Done
            }
            Err(e) => Ended::failed(e),
        };
    }
    match status::read(&session.root) {
        Ok(s) => {
            let hours = session.config.config.stale_after_hours;
            out!("{}", report::table(&s, SystemClock.now(), hours));
            Ended::Done
        }
        Err(e) => Ended::failed(e),
    }
}

/// `keywarden ea KEY.PATH`: one value as a Jamf extension attribute result. Always exit 0 with a
/// `<result>`: inventory gets a value it can group on (`NotInstalled`, `Unreadable`); the reason
/// goes to stderr.
pub(super) fn ea(root: Option<PathBuf>, key_path: &str) -> Ended {
    let session = match start(root, "ea", false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let value = match status::read_value(&session.root) {
        Ok(v) => report::ea_value(
            &v,
            key_path,
            SystemClock.now(),
            session.config.config.stale_after_hours,
        ),
        Err(ReadError::Missing { .. }) => "NotInstalled".to_owned(),
        Err(e) => {
            errln!("keywarden: {e}");
            "Unreadable".to_owned()
        }
    };
    outln!("{}", report::ea_result(&value));
    Ended::Done
}

/// `keywarden doctor`: every problem with its remedy, and the effective configuration.
pub(super) fn doctor(root: Option<PathBuf>) -> Ended {
    let session = match start(root, "doctor", false) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let (st, err) = match status::read(&session.root) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.to_string())),
    };
    out!(
        "{}",
        doctor::report(
            st.as_ref(),
            err.as_deref(),
            &session.config,
            SystemClock.now()
        )
    );
    Ended::Done
}

/// `keywarden audit [--json]`: the table, or one JSON object per line, each event normalised (as
/// parsed and written again by `Event::to_line`, not the stored bytes: docs/logging.md); unreadable
/// lines are reported on stderr.
pub(super) fn audit(root: Option<PathBuf>, json: bool) -> Ended {
    let session = match start(root, "audit", true) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let trail = match audit::read_all(&session.root, session.owners) {
        Ok(t) => t,
        Err(e) => return Ended::failed(e),
    };
    for s in &trail.skipped {
        errln!(
            "keywarden: warning: {} line {} skipped: {}",
            paths::AUDIT,
            s.line,
            s.why
        );
    }
    // Errors writing to stdout (a closed pipe: `keywarden audit | head`) end the output quietly.
    let mut out = std::io::stdout().lock();
    if json {
        for e in &trail.events {
            if out.write_all(&e.to_line()).is_err() {
                break;
            }
        }
    } else if trail.events.is_empty() {
        errln!("keywarden: no audit events yet ({})", paths::AUDIT);
    } else {
        let _ = out.write_all(report::audit_table(&trail.events).as_bytes());
    }
    let _ = out.flush();
    Ended::Done
}

/// `keywarden man`: the man page (roff), generated from the command line.
pub(super) fn man(root: Option<PathBuf>) -> Ended {
    if let Err(e) = start(root, "man", false) {
        return e;
    }
    let page = clap_mangen::Man::new(<super::Cli as clap::CommandFactory>::command()).section("8");
    let mut roff = Vec::new();
    match page.render(&mut roff) {
        Ok(()) => {
            out!("{}", String::from_utf8_lossy(&roff));
            Ended::Done
        }
        Err(e) => Ended::failed(format!("cannot render the man page: {e}")),
    }
}

/// `keywarden completions SHELL`.
pub(super) fn completions(root: Option<PathBuf>, shell: clap_complete::Shell) -> Ended {
    if let Err(e) = start(root, "completions", false) {
        return e;
    }
    // Generated into memory first: clap_complete panics when its writer fails.
    let mut cmd = <super::Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "keywarden", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ended::Done
}
