//! One check: take the writer lock, load state and the previous status, observe, decide, save the
//! state, publish the status. Used by `keywarden check` and, once per cycle, by the daemon.
//!
//! The state is saved before the status is published (and, once Keywarden acts, before it acts):
//! a kill at any moment leaves the previous complete files or the new complete files.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::clock::Clock;
use crate::config;
use crate::decide::{self, Inputs};
use crate::files::{FileError, Owners};
use crate::lock::{self, LockError};
use crate::observe;
use crate::paths::Root;
use crate::runner::Runner;
use crate::state;
use crate::status::{self, Status};
use crate::usage;

/// The product version written into the status.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a check produced.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    /// At least one probe failed (its section is stale, the error is in `Daemon.Errors`).
    pub probe_failed: bool,
}

/// Why a check could not publish a status.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("could not write the status: {0}")]
    Status(FileError),
}

/// Everything a check needs from outside.
pub struct Env<'a, R: Runner, C: Clock> {
    pub runner: &'a R,
    pub clock: &'a C,
    pub root: &'a Root,
    pub owners: Owners,
    /// How long to wait for another writer.
    pub lock_wait: Duration,
    /// When the next check is due (the daemon knows; a one-off check does not).
    pub next_check_at: Option<Timestamp>,
}

/// Run one check and publish its status.
pub async fn run<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
) -> Result<Outcome, CheckError> {
    let _lock = lock::acquire(env.root, env.owners, env.lock_wait).await?;
    let started = Instant::now();
    let now = env.clock.now();
    let loaded = state::load(env.root, env.owners, now);
    let previous = status::read(env.root).ok();
    let snapshot = observe::observe(env.runner, env.root, env.owners, &loaded.state, now).await;
    let decision = decide::decide(&Inputs {
        now,
        snapshot: &snapshot,
        config: &cfg.config,
        config_warnings: &cfg.warnings,
        state: &loaded.state,
        state_problem: loaded.problem.as_deref(),
        previous: previous.as_ref(),
        version: VERSION,
    });
    let mut status = decision.status;
    if let Err(e) = state::save(env.root, env.owners, &decision.state) {
        tracing::error!(event = "state_save_failed", error = %e);
        status.daemon.errors.push(format!("state not saved: {e}"));
        if !status.problems.contains(&status::Problem::StateUnreadable) {
            status.problems.push(status::Problem::StateUnreadable);
            status.problems.sort();
        }
        status.healthy = false;
    }
    status.daemon.check_duration_ms = started.elapsed().as_millis() as u64;
    status.daemon.resident_memory_bytes = usage::resident_memory_bytes();
    status.daemon.cpu_seconds = (usage::cpu_seconds() * 1000.0).round() / 1000.0;
    status.daemon.next_check_at = env.next_check_at;
    status::write(env.root, env.owners, &status).map_err(CheckError::Status)?;
    tracing::info!(
        event = "check_finished",
        healthy = status.healthy,
        problems = %status.problems.iter().map(|p| p.code()).collect::<Vec<_>>().join(","),
        errors = status.daemon.errors.len(),
        ms = status.daemon.check_duration_ms,
    );
    Ok(Outcome {
        status,
        probe_failed: decision.probe_failed,
    })
}
