//! How every command starts, in one place: core dumps off, the privilege check and the trusted
//! root, the configuration, logging, the runtime and the runner. A command asks for what it needs
//! (`Needs`) and gets a `Session`, or the reason it may not run.
//!
//! It runs no check and prints nothing; `app::main` prints a refusal and picks the exit code.

use std::path::PathBuf;

use crate::check::Env;
use crate::clock::SystemClock;
use crate::config;
use crate::files::Owners;
use crate::lock;
use crate::logging::{self, LogLevel, Logging};
use crate::paths::Root;
use crate::runner::ProcessRunner;

use super::privilege;

/// What a command needs from its session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs {
    /// The command's name, for the privilege refusal (`keywarden NAME must run as root`).
    pub command: &'static str,
    /// It changes state or runs tools as root: root on a real Mac, and as root a trusted
    /// simulated root (`privilege`).
    pub root: bool,
    /// How it logs: read-only commands warn on stderr; the rest write the log file.
    pub logging: logging::Mode,
}

/// A started command.
pub(crate) struct Session {
    pub root: Root,
    pub owners: Owners,
    pub config: config::Loaded,
    pub logging: Logging,
    pub runtime: tokio::runtime::Runtime,
}

impl Session {
    /// Start a command: core dumps off first (a root process that may hold a key in memory must
    /// not leave it in a core file), then the privilege check, the configuration, logging at the
    /// configured level and in the configured format (read-only commands: warnings only, on
    /// stderr), and the runtime (tokio on the current thread: one thread, no pool).
    pub(crate) fn start(root: Option<PathBuf>, needs: Needs) -> Result<Session, String> {
        let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
        // Absolute: tools run from `/`, so a relative `--root mac` would name paths that do not
        // exist for them (found while writing issue 14's demo).
        let root = match root {
            Some(dir) => Root::new(
                std::path::absolute(&dir).map_err(|e| format!("--root {}: {e}", dir.display()))?,
            ),
            None => Root::default(),
        };
        let owners = Owners::current();
        if needs.root {
            privilege::require_root(needs.command, &root, owners).map_err(|e| e.to_string())?;
        }
        let config = config::load(&root, owners);
        let level = match needs.logging {
            logging::Mode::Interactive => LogLevel::Warn,
            logging::Mode::Check | logging::Mode::Daemon => config.config.log_level,
        };
        let logging = logging::init(needs.logging, &root, level, config.config.log_format);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        Ok(Session {
            root,
            owners,
            config,
            logging,
            runtime,
        })
    }

    /// The runner for the current configuration's tool timeout.
    pub(crate) fn runner(&self) -> ProcessRunner {
        ProcessRunner::new(self.root.clone(), self.config.config.tool_timeout)
    }

    /// What a one-off check needs (a command's, not the daemon's: no next check is scheduled),
    /// with `runner`.
    pub(crate) fn env<'a>(
        &'a self,
        runner: &'a ProcessRunner,
    ) -> Env<'a, ProcessRunner, SystemClock> {
        Env {
            runner,
            clock: &SystemClock,
            root: &self.root,
            owners: self.owners,
            lock_wait: lock::CHECK_LOCK_WAIT,
            next_check_at: None,
            log_problem: self.logging.file_error(),
        }
    }
}
