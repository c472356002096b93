//! One check, the whole cycle, in one place: take the writer lock, guard a new boot first
//! (`boot_guard`: Keywarden's flag withdrawn at once if the recovery key unlocked it or nobody can
//! tell, and no effect of an earlier boot replayed), replay the outbox a killed check of this
//! boot left, observe, decide, save the state, act, fold what the effects came to into the
//! state, save it, publish the status; then, outside the lock, run `RotationCommand` when the
//! check asked for it, record its outcome and publish again. Used by `keywarden check`, `rotate`
//! and `validate`; the daemon runs the same cycle (`for_daemon`) and the command beside its checks
//! (`daemon`, issue 16, item 8), recording it here (`record_command`, `command_interrupted`).
//!
//! The state is saved before the status is published and before anything is acted on: a kill at
//! any moment leaves the previous complete files or the new complete files, and an effect decided
//! but not done waits in the outbox for the next check.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::act;
use crate::boot_guard;
use crate::clock::Clock;
use crate::config;
use crate::decide::{self, Inputs};
use crate::files::{FileError, Owners};
use crate::lock::{self, LockError};
use crate::observe;
use crate::paths::{self, Root};
use crate::runner::Runner;
use crate::state;
use crate::status::{self, Status};
use crate::sys::usage;

/// The product version written into the status.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a check produced.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    /// At least one probe failed (its section is stale, the error is in `Daemon.Errors`).
    pub probe_failed: bool,
    /// The check took a due `RotationCommand` out of the outbox: `run` runs it after the check
    /// (outside the lock), the daemon loop as a background task (`for_daemon`).
    pub run_command: bool,
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
    /// Why the log file cannot be written, if it cannot (reported in `Daemon.Errors`).
    pub log_problem: Option<String>,
}

/// Whether a check runs `RotationCommand` when it asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Run it after the check (the daemon, `keywarden check`, `rotate --request`).
    Run,
    /// Leave it in the outbox for the next check that runs it: a command that only publishes
    /// what it did (`validate`, `rotate --current-key`) must not block for up to two hours on an
    /// MDM policy after printing its answer (found in review of issue 13).
    Defer,
}

/// Run one check and publish its status; when it asks for `RotationCommand`, run the command
/// (outside the writer lock: it may take long), record what it came to, and check again so the
/// published status says so.
pub(crate) async fn run<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
) -> Result<Outcome, CheckError> {
    let outcome = cycle(env, cfg, Command::Run).await?;
    if !outcome.run_command {
        return Ok(outcome);
    }
    let Some(argv) = &cfg.config.rotation_command else {
        return Ok(outcome);
    };
    let failure = act::run_rotation_command(env.runner, env.root, env.owners, argv).await;
    if let Err(e) = record_command(env, failure).await {
        tracing::error!(event = "rotation_command_not_recorded", error = %e);
    }
    cycle(env, cfg, Command::Run).await
}

/// One check of the daemon loop, which runs `RotationCommand` itself, as a background task it
/// owns (issue 16, item 8: checks go on while it runs). When no command is running, a command the
/// check finds due leaves the outbox and `Outcome::run_command` hands it to the loop, which runs
/// it, folds its outcome in (`record_command`) and checks again. While one runs
/// (`command_running`), a `RunCommand` in the outbox (`validate` may leave one) waits there, as
/// in `publish`: never two commands at once. (The rotation itself asks for no second command
/// while it is `Requested`: `rotation::requested`.)
pub(crate) async fn for_daemon<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
    command_running: bool,
) -> Result<Outcome, CheckError> {
    let command = if command_running {
        Command::Defer
    } else {
        Command::Run
    };
    cycle(env, cfg, command).await
}

/// Run one check and publish its status, leaving a `RotationCommand` it asks for to the next
/// check that runs it (the daemon's within a poll, or `keywarden check`).
pub(crate) async fn publish<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
) -> Result<Outcome, CheckError> {
    cycle(env, cfg, Command::Defer).await
}

/// After `RotationCommand` ran: fold its outcome into the state and record it in the audit
/// trail, under the writer lock.
pub(crate) async fn record_command<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    failure: Option<String>,
) -> Result<(), String> {
    let _lock = lock::acquire(env.root, env.owners, env.lock_wait)
        .await
        .map_err(|e| e.to_string())?;
    let now = env.clock.now();
    let loaded = state::load(env.root, env.owners, now).state;
    let console = loaded.logins.console_now.clone();
    let next = decide::after_command(&loaded, now, failure.clone());
    act::record_command_outcome(
        env.root,
        env.owners,
        now,
        console.as_deref(),
        failure.as_deref(),
    );
    state::save(env.root, env.owners, &next).map_err(|e| e.to_string())
}

/// The daemon stopped while `RotationCommand` ran, and killed it (its process group with it):
/// the command is owed again, so it goes back into the outbox, tagged with this boot, for the
/// next daemon to run at its first check (a new boot's guard asks again instead,
/// `decide::boot`). Only while the rotation still waits for that command and no `RunCommand` is
/// queued already; the audit trail says it was interrupted.
pub(crate) async fn command_interrupted<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
) -> Result<(), String> {
    let _lock = lock::acquire(env.root, env.owners, env.lock_wait)
        .await
        .map_err(|e| e.to_string())?;
    let now = env.clock.now();
    let mut current = state::load(env.root, env.owners, now).state;
    let waits = matches!(
        current.rotation,
        state::Rotation::Requested {
            method: config::RotationMethod::Command,
            ..
        }
    );
    let queued = current
        .outbox
        .pending
        .iter()
        .any(|p| p.effect == state::Effect::RunCommand);
    if !waits || queued {
        return Ok(());
    }
    let boot = current.boot.as_ref().map(|b| b.session_uuid.clone());
    current
        .outbox
        .enqueue(vec![state::Effect::RunCommand], boot.as_deref());
    act::record_command_interrupted(
        env.root,
        env.owners,
        now,
        current.logins.console_now.as_deref(),
    );
    state::save(env.root, env.owners, &current).map_err(|e| e.to_string())
}

/// One locked cycle: sweep, load the state, guard the boot, replay this boot's outbox, observe,
/// decide, save, act, fold, save, publish.
async fn cycle<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
    command: Command,
) -> Result<Outcome, CheckError> {
    let defer = command == Command::Defer;
    let _lock = lock::acquire(env.root, env.owners, env.lock_wait).await?;
    // Under the lock, any temp file is a leftover of a writer that was killed mid-write.
    for dir in [paths::STATE_DIR, paths::STATUS_DIR] {
        let n = crate::files::sweep_temp_files(&env.root.resolve(dir));
        if n > 0 {
            tracing::info!(event = "temp_files_swept", dir, count = n);
        }
    }
    let started = Instant::now();
    let now = env.clock.now();
    let loaded = state::load(env.root, env.owners, now);
    // First, before anything else is done or asked: the boot guard (issue 14, item 2).
    let guarded = boot_guard::guard(
        env.runner,
        env.root,
        env.owners,
        now,
        cfg.config.tool_timeout,
        loaded.state,
    )
    .await;
    let mut current = guarded.state;
    recall_request(env, cfg, now, &mut current);
    let known = guarded.known;
    let mut replay_errors = guarded.errors;
    let mut run_command = false;
    // Effects a killed check of this boot decided but did not finish: done now, once. (The guard
    // left only this boot's in the outbox.)
    if !current.outbox.is_empty() {
        tracing::info!(
            event = "outbox_replayed",
            effects = current.outbox.pending.len()
        );
        let acted = act::act(
            env.runner,
            env.root,
            env.owners,
            now,
            current.logins.console_now.as_deref(),
            &current.outbox.pending,
            true,
            known.boot_session.as_deref(),
        )
        .await;
        run_command |= acted.command_due() && !defer;
        replay_errors.extend(acted.errors);
        current = decide::after_acting(&current, now, &acted.done, defer);
        if let Err(e) = state::save(env.root, env.owners, &current) {
            replay_errors.push(format!("state not saved after replaying its outbox: {e}"));
        }
    }
    let previous = status::read_trusted(env.root, env.owners).ok();
    let snapshot = observe::observe(env.runner, env.root, env.owners, &current, now, &known).await;
    let decision = decide::decide(&Inputs {
        now,
        snapshot: &snapshot,
        config: &cfg.config,
        config_warnings: &cfg.warnings,
        state: &current,
        state_problem: loaded.problem.as_deref(),
        previous: previous.as_ref(),
        version: VERSION,
    });
    let mut status = decision.status;
    status.daemon.errors.extend(replay_errors);
    let mut next_state = decision.state;
    if env.next_check_at.is_some() {
        next_state.next_check_at = env.next_check_at;
    }
    // Crash-only: the new state, with its outbox, is saved before anything is done about it.
    let saved = save_state(env, &next_state, &mut status);
    if saved && !next_state.outbox.is_empty() {
        let acted = act::act(
            env.runner,
            env.root,
            env.owners,
            now,
            next_state.logins.console_now.as_deref(),
            &next_state.outbox.pending,
            false,
            snapshot.boot_session.as_ref().ok().map(String::as_str),
        )
        .await;
        run_command |= acted.command_due() && !defer;
        status.daemon.errors.extend(acted.errors);
        next_state = decide::after_acting(&next_state, now, &acted.done, defer);
        save_state(env, &next_state, &mut status);
        // The section again from the folded state; the note on a passed-over Escrow Buddy comes
        // from this check's facts, not the state, and stands while the method does.
        let before = std::mem::take(&mut status.rotation);
        status.rotation = decide::rotation_section(&next_state, now);
        if status.rotation.method == before.method {
            status.rotation.method_note = before.method_note;
        }
    }
    status.daemon.check_duration_ms = started.elapsed().as_millis() as u64;
    status.daemon.resident_memory_bytes = usage::resident_memory_bytes();
    status.daemon.cpu_seconds = (usage::cpu_seconds() * 1000.0).round() / 1000.0;
    status.daemon.next_check_at = env.next_check_at;
    if let Some(p) = &env.log_problem {
        status.daemon.errors.push(format!("log not written: {p}"));
    }
    status::write(env.root, env.owners, &status).map_err(CheckError::Status)?;
    log_changes(previous.as_ref(), &status);
    tracing::info!(
        event = "check_finished",
        healthy = status.healthy,
        problems = %status.problems.iter().map(|p| p.code()).collect::<Vec<_>>().join(","),
        summary = %status.one_line(),
        errors = status.daemon.errors.len(),
        ms = status.daemon.check_duration_ms,
    );
    Ok(Outcome {
        status,
        probe_failed: decision.probe_failed,
        run_command,
    })
}

/// A `RotationRequestID` the state does not know as acted on may still have been: the state file
/// was lost, moved aside or restored from an older copy, and the audit trail, which outlives it,
/// says so. Asking the trail only then keeps it off the path of an ordinary check. An unreadable
/// trail is logged and the ID taken as new, as before (one rotation too many, never none).
fn recall_request<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
    now: Timestamp,
    state: &mut state::State,
) {
    let Some(id) = &cfg.config.rotation_request_id else {
        return;
    };
    if state.requests.last_request_id.as_ref() == Some(id) {
        return;
    }
    match crate::audit::read(env.root, env.owners) {
        Ok(events) => {
            if let Some(seen) = crate::audit::request_seen(&events, now)
                .filter(|s| s.token == crate::audit::request_token(id))
            {
                tracing::info!(
                    event = "rotation_request_recalled",
                    at = %seen.at,
                    answered = seen.answered,
                    "RotationRequestID was acted on at {} (audit trail); not asking again",
                    seen.at
                );
                state.requests.recall(id, &seen);
            }
        }
        Err(e) => tracing::warn!(event = "rotation_request_not_recalled", error = %e),
    }
}

/// Save the state; a failure is reported in the status (and nothing is acted on).
fn save_state<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    state: &state::State,
    status: &mut Status,
) -> bool {
    match state::save(env.root, env.owners, state) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(event = "state_save_failed", error = %e);
            status
                .daemon
                .errors
                .push(format!("state not saved (nothing acted on): {e}"));
            status.raise(status::Problem::StateUnreadable);
            false
        }
    }
}

/// Log what changed since the previous status, once: a problem raised or cleared, a state that
/// moved, an error that appeared or went away. The same condition is not logged every cycle.
pub fn log_changes(previous: Option<&Status>, now: &Status) {
    let empty = Vec::new();
    let before = previous.map(|p| &p.problems).unwrap_or(&empty);
    for p in &now.problems {
        if !before.contains(p) {
            tracing::warn!(event = "problem_raised", code = p.code());
        }
    }
    for p in before {
        if !now.problems.contains(p) {
            tracing::info!(event = "problem_cleared", code = p.code());
        }
    }
    // Hygiene at info: a fleet may carry warnings for good, and they must not read as alarms.
    let before = previous.map(|p| &p.warnings).unwrap_or(&empty);
    for p in &now.warnings {
        if !before.contains(p) {
            tracing::info!(event = "warning_raised", code = p.code());
        }
    }
    for p in before {
        if !now.warnings.contains(p) {
            tracing::info!(event = "warning_cleared", code = p.code());
        }
    }
    let no_errors = Vec::new();
    let old_errors = previous.map(|p| &p.daemon.errors).unwrap_or(&no_errors);
    for e in &now.daemon.errors {
        if !old_errors.contains(e) {
            tracing::error!(event = "error_raised", error = %e);
        } else {
            tracing::debug!(event = "error_persists", error = %e);
        }
    }
    for e in old_errors {
        if !now.daemon.errors.contains(e) {
            tracing::info!(event = "error_cleared", error = %e);
        }
    }
    let show = |o: Option<String>| o.unwrap_or_else(|| "-".to_owned());
    type View = fn(&Status) -> Option<String>;
    let changes: [(&str, View); 6] = [
        ("filevault_state_changed", |s| {
            Some(format!("{:?}", s.file_vault.state))
        }),
        ("recovery_key_state_changed", |s| {
            Some(format!("{:?}", s.recovery_key.state))
        }),
        ("escrow_state_changed", |s| {
            Some(format!("{:?}", s.escrow.state))
        }),
        ("rotation_state_changed", |s| {
            Some(format!("{:?}", s.rotation.state))
        }),
        ("console_user_changed", |s| {
            s.secure_token.console_user.clone()
        }),
        ("bootstrap_token_changed", |s| {
            Some(format!(
                "supported={} escrowed={}",
                s.bootstrap_token
                    .supported
                    .map_or("-".into(), |b| b.to_string()),
                s.bootstrap_token
                    .escrowed
                    .map_or("-".into(), |b| b.to_string())
            ))
        }),
    ];
    for (event, get) in changes {
        let new = get(now);
        let old = previous.map(get);
        if old.as_ref() != Some(&new) {
            tracing::info!(event, from = %show(old.flatten()), to = %show(new));
        }
    }
}
