//! `keywarden run`: the resident daemon under launchd. Starts the session, names the audit
//! trail's caller `daemon`, installs the signal handlers (SIGHUP reloads; SIGTERM, or SIGINT in a
//! terminal, stops) and runs the daemon loop (`daemon::run`) on this Mac until stopped.

use std::path::PathBuf;

use crate::audit;
use crate::clock::SystemClock;
use crate::daemon::{self, MacWorld, Wakeups};
use crate::logging;

use super::session::{Needs, Session};
use super::Ended;

pub(super) fn run(root: Option<PathBuf>) -> Ended {
    audit::set_caller("daemon");
    let session = match Session::start(
        root,
        Needs {
            command: "run",
            root: true,
            logging: logging::Mode::Daemon,
        },
    ) {
        Ok(s) => s,
        Err(e) => return Ended::failed(e),
    };
    let Session {
        root,
        owners,
        logging,
        runtime,
        ..
    } = session;
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let (hup, term, int) = match (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(h), Ok(t), Ok(i)) => (h, t, i),
            _ => return Ended::failed("cannot install signal handlers"),
        };
        tracing::info!(event = "daemon_started", version = crate::check::VERSION, root = %root.dir().display());
        let mut world = MacWorld {
            root,
            owners,
            clock: SystemClock,
            logging,
        };
        #[cfg(target_os = "macos")]
        let console = crate::sys::utmpx::UtmpxNotifications::register();
        #[cfg(not(target_os = "macos"))]
        let console: Option<daemon::Never> = None;
        let mut jitter = daemon::random_unit;
        let shutdown = async move {
            let (mut term, mut int) = (term, int);
            tokio::select! {
                _ = term.recv() => tracing::info!(event = "signal", signal = "SIGTERM"),
                _ = int.recv() => tracing::info!(event = "signal", signal = "SIGINT"),
            }
        };
        let checks = daemon::run(
            &mut world,
            &SystemClock,
            Wakeups { hangup: hup, console },
            &mut jitter,
            shutdown,
        )
        .await;
        tracing::info!(event = "daemon_stopped", checks);
        Ended::Done
    })
}
