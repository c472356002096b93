//! `keywarden selftest [--bundle FILE [--redact-users] [--with-escrow-file]]`: every probe of a
//! check, once, read-only, as a table; with `--bundle`, a tar.gz for a bug report
//! (docs/selftest.md).
//!
//! It starts a session that writes nothing (warnings on stderr only, no log file, no lock), runs
//! the flow's `selftest`, prints `bundle::table`, and writes the bundle when asked: the only
//! file it writes, and never under the Mac's Keywarden directories unless the admin names one.

use std::path::PathBuf;

use crate::bundle::{self, Extras};
use crate::check::VERSION;
use crate::clock::{Clock, SystemClock};
use crate::doctor;
use crate::files::Owners;
use crate::logging;
use crate::selftest;

use super::session::{Needs, Session};
use super::Ended;

/// Exit 0 when every output was recognised, 1 when one was not (or a file could not be read as a
/// check reads it), 2 when the selftest could not start or the bundle could not be written.
pub(super) fn selftest(
    root: Option<PathBuf>,
    bundle_path: Option<PathBuf>,
    redact_users: bool,
    with_escrow_file: bool,
) -> Ended {
    // As root it runs the Mac's tools as root: a simulated Mac must then pass the same trust
    // checks as for `check` (privilege.rs). As another user nothing it runs is privileged, so
    // it may run on a real Mac too, where macOS keeps some answers to root (`full` below).
    let as_root = Owners::current().running_as_root();
    let session = match Session::start(
        root,
        Needs {
            command: "selftest",
            root: as_root,
            logging: logging::Mode::Interactive,
        },
    ) {
        Ok(s) => s,
        Err(e) => return Ended::failed(e),
    };
    let full = as_root || !session.root.is_system();
    let runner = session.runner();
    let t = session.runtime.block_on(selftest::run(
        &runner,
        &session.root,
        session.owners,
        full,
        with_escrow_file,
        SystemClock.now(),
    ));
    out!("{}", bundle::table(&t, VERSION));
    if let Some(path) = bundle_path {
        let path = match std::path::absolute(&path) {
            Ok(p) => p,
            Err(e) => return Ended::failed(format!("--bundle {}: {e}", path.display())),
        };
        if let Some(why) = selftest::bundle_would_replace(&t, &session.root, &path) {
            return Ended::failed(format!(
                "--bundle {}: {why}; name a new file elsewhere (/tmp/keywarden-selftest.tgz)",
                path.display()
            ));
        }
        let config = doctor::configuration(&session.config);
        let extras = Extras {
            keywarden_version: VERSION,
            config: &config,
            redact_users,
            with_escrow_file,
        };
        let written = bundle::build(&t, &extras).and_then(|built| {
            bundle::write(&path, &built.bytes)?;
            Ok(built)
        });
        match written {
            Ok(built) => {
                let n = built.bytes.len();
                outln!(
                    "\nBundle written: {} ({n} bytes, mode 0600){}{}",
                    path.display(),
                    if redact_users {
                        "; user names replaced by user1, user2..."
                    } else {
                        "; it names this Mac's users (--redact-users replaces them)"
                    },
                    match (built.escrow_included, with_escrow_file) {
                        (true, _) => "; it holds the escrow file (the key encrypted to your MDM's certificate)",
                        (false, true) => "; the escrow file is NOT in it: absent, unreadable, or no blob (a key-shaped text in it)",
                        (false, false) => "",
                    }
                );
            }
            Err(e) => return Ended::failed(format!("--bundle {}: {e}", path.display())),
        }
    }
    if t.has_unrecognised() {
        Ended::Attention
    } else {
        Ended::Done
    }
}
