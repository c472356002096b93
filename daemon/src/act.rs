//! Act: the only place where decisions become effects on the Mac, always after the new state has
//! been saved (crash-only: a kill between saving and acting is recovered by the next check, which
//! replays the saved outbox; see `check`).
//!
//! It writes the audit trail, sets and withdraws Escrow Buddy's `GenerateNewKey` through
//! `/usr/bin/defaults` (cfprefsd caches preferences: never the file, PLATFORM.md) and reads each
//! write back the same way, and runs `RotationCommand` (as root, no shell, a long timeout; the
//! daemon runs it beside its checks and, when it stops, kills it and queues it again: issue 16,
//! item 8). It returns what each effect came to (`Done`) and never sees the
//! state: `decide::after_acting` folds the results in. It never edits the authorization database
//! and never clears a flag Keywarden did not set (`rotation` only asks for Keywarden's own).

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;

use crate::audit::{self, What};
use crate::files::Owners;
use crate::paths::{self, Root};
use crate::rotation::Done;
use crate::runner::{Call, Runner};
use crate::state::Effect;
use crate::state::Pending;
use crate::tools::defaults;

/// `RotationCommand` may run this long (an MDM policy installing things) before it is killed.
pub(crate) const ROTATION_COMMAND_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

/// What acting came to, for the fold and the status.
#[derive(Debug, Default)]
pub(crate) struct Acted {
    pub done: Vec<Done>,
    /// Problems carrying out an effect, for `Daemon.Errors`.
    pub errors: Vec<String>,
}

impl Acted {
    /// `RotationCommand` is to be run after this check.
    pub(crate) fn command_due(&self) -> bool {
        self.done.contains(&Done::CommandDue)
    }
}

/// Carry out the outbox's quick effects (the audit trail, Escrow Buddy's flag) and say what each
/// came to. On a `replay` (effects a killed check left undone), audit events already written are
/// not written again. `boot` is the current boot session: an audit event decided in another one
/// (kept by the boot guard, `decide::boot`) says so in its `Detail`, since its time is now's.
#[allow(clippy::too_many_arguments)] // the check's context, each used once
pub(crate) async fn act<R: Runner>(
    runner: &R,
    root: &Root,
    owners: Owners,
    now: Timestamp,
    console_user: Option<&str>,
    outbox: &[Pending],
    replay: bool,
    boot: Option<&str>,
) -> Acted {
    let mut acted = Acted::default();
    let written: Vec<u64> = if replay {
        audit::read(root, owners)
            .map(|events| events.iter().filter_map(|e| e.id).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    // The audit events first: what Keywarden is about to do is on record before it does it.
    for p in outbox {
        if let Effect::Audit(what, result) = &p.effect {
            if written.contains(&p.id) {
                continue;
            }
            let mut event = audit::Event::new(now, *what, result.as_str())
                .console(console_user)
                .id(p.id);
            if p.boot.is_none() || p.boot.as_deref() != boot {
                event = event.detail(format!(
                    "decided in {} and written late, by a check in {}",
                    boot_name(p.boot.as_deref(), "a boot session not recorded with it"),
                    boot_name(boot, "a boot session that could not be read")
                ));
            }
            if let Err(e) = audit::append(root, owners, &event) {
                tracing::error!(event = "audit_failed", error = %e);
                acted.errors.push(format!("audit trail not written: {e}"));
            }
        }
    }
    for p in outbox {
        match &p.effect {
            Effect::Audit(..) => {}
            Effect::SetFlag => match set_flag(runner).await {
                Ok(()) => {
                    tracing::info!(event = "flag_set", domain = paths::ESCROW_BUDDY_DOMAIN);
                    acted.done.push(Done::FlagSet);
                }
                Err(why) => {
                    let why = format!("could not set Escrow Buddy's GenerateNewKey: {why}");
                    tracing::error!(event = "flag_set_failed", error = %why);
                    record(
                        root,
                        owners,
                        now,
                        console_user,
                        What::RotationFailed,
                        &why,
                        &mut acted.errors,
                    );
                    acted.errors.push(why.clone());
                    acted.done.push(Done::FlagNotSet(why));
                }
            },
            Effect::WithdrawFlag => match withdraw_flag(runner).await {
                Ok(()) => {
                    tracing::info!(
                        event = "flag_withdrawn",
                        domain = paths::ESCROW_BUDDY_DOMAIN
                    );
                    acted.done.push(Done::FlagWithdrawn);
                }
                Err(why) => {
                    let why = format!("could not withdraw Escrow Buddy's GenerateNewKey: {why}");
                    tracing::error!(event = "flag_withdraw_failed", error = %why);
                    acted.errors.push(why.clone());
                    acted.done.push(Done::FlagNotWithdrawn(why));
                }
            },
            Effect::RunCommand => acted.done.push(Done::CommandDue),
        }
    }
    acted
}

/// A boot session as the audit trail names it (`unknown` when there is none).
fn boot_name(boot: Option<&str>, unknown: &str) -> String {
    match boot {
        Some(uuid) => format!("boot session {uuid}"),
        None => unknown.to_owned(),
    }
}

fn record(
    root: &Root,
    owners: Owners,
    now: Timestamp,
    console_user: Option<&str>,
    what: What,
    result: &str,
    errors: &mut Vec<String>,
) {
    let event = audit::Event::new(now, what, result).console(console_user);
    if let Err(e) = audit::append(root, owners, &event) {
        tracing::error!(event = "audit_failed", error = %e);
        errors.push(format!("audit trail not written: {e}"));
    }
}

/// Set `GenerateNewKey` and read it back through `defaults`.
async fn set_flag<R: Runner>(runner: &R) -> Result<(), String> {
    defaults::write_bool(runner, paths::ESCROW_BUDDY_DOMAIN, "GenerateNewKey", true)
        .await
        .map_err(|e| e.to_string())?;
    match defaults::read_bool(runner, paths::ESCROW_BUDDY_DOMAIN, "GenerateNewKey").await {
        Ok(Some(true)) => Ok(()),
        Ok(other) => Err(format!("it reads back as {other:?} after the write")),
        Err(e) => Err(format!("it could not be read back: {e}")),
    }
}

/// Remove `GenerateNewKey` and read it back through `defaults` (absent or false is withdrawn).
async fn withdraw_flag<R: Runner>(runner: &R) -> Result<(), String> {
    defaults::delete(runner, paths::ESCROW_BUDDY_DOMAIN, "GenerateNewKey")
        .await
        .map_err(|e| e.to_string())?;
    match defaults::read_bool(runner, paths::ESCROW_BUDDY_DOMAIN, "GenerateNewKey").await {
        Ok(None) | Ok(Some(false)) => Ok(()),
        Ok(Some(true)) => Err("it is still set after the delete".to_owned()),
        Err(e) => Err(format!("it could not be read back: {e}")),
    }
}

/// Run `RotationCommand` to completion (up to `ROTATION_COMMAND_TIMEOUT`); `None` when it exited 0,
/// else why it failed: a fixed description (its exit code or signal, a timeout), never its output.
/// A command that wraps `fdesetup changerecovery` prints the new key, so its output is captured as
/// `changerecovery`'s is (wiped memory, `run_secret` with an empty stdin) and never quoted into
/// the status, the log, the audit trail or the state (issue 16, item 1).
pub(crate) async fn run_rotation_command<R: Runner>(
    runner: &R,
    root: &Root,
    owners: Owners,
    argv: &[String],
) -> Option<String> {
    let Some((program, args)) = argv.split_first() else {
        return Some("RotationCommand is empty".to_owned());
    };
    // It runs as root: the program and every directory on its path must be root's and writable
    // by nobody else, and so must a script's `#!` interpreter and its path (issue 16, item 2;
    // `files::open_trusted`). The runner checks again and runs the very file it
    // checked; this check is for the message, said before anything is started. A refused
    // command is a failed attempt like any other: retried after its backoff (1 h, 4 h, 16 h,
    // then daily, `rotation::backoff`), not at every check.
    if let Err(e) = crate::files::open_trusted(root, Path::new(program), owners) {
        let why = if e.is_not_found() {
            format!("RotationCommand not run: {program} does not exist ({e})")
        } else {
            format!("RotationCommand not run: {e}")
        };
        tracing::error!(event = "rotation_command_failed", error = %why);
        return Some(why);
    }
    let call = Call::program(program.as_str(), args)
        .with_timeout(ROTATION_COMMAND_TIMEOUT)
        .surviving_abandon();
    tracing::info!(event = "rotation_command_started", call = %call.display());
    match runner
        .run_secret(&call, &crate::secret::Secret::new(Vec::new()))
        .await
    {
        Ok(out) if out.exit.success() => {
            tracing::info!(event = "rotation_command_finished", exit = %out.exit.short());
            None
        }
        Ok(out) => {
            let why = format!(
                "RotationCommand ({}) ended with {}; its output is never shown, as it may carry the new key (run the command by hand to see it)",
                call.display(),
                out.exit,
            );
            tracing::error!(event = "rotation_command_failed", error = %why);
            Some(why)
        }
        Err(e) => {
            let why = format!("RotationCommand ({}): {e}", call.display());
            tracing::error!(event = "rotation_command_failed", error = %why);
            Some(why)
        }
    }
}

/// Record what `RotationCommand` came to in the audit trail (the state is folded by `check`); a
/// record that cannot be written is logged (`audit_failed`).
pub(crate) fn record_command_outcome(
    root: &Root,
    owners: Owners,
    now: Timestamp,
    console_user: Option<&str>,
    failure: Option<&str>,
) {
    let (what, result) = match failure {
        Some(why) => (What::RotationFailed, why.to_owned()),
        None => (
            What::RotationRequested,
            "RotationCommand finished (exit 0); waiting for the new escrow file".to_owned(),
        ),
    };
    record(
        root,
        owners,
        now,
        console_user,
        what,
        &result,
        &mut Vec::new(),
    );
}

/// Record in the audit trail that the daemon stopped while `RotationCommand` ran and killed it
/// (issue 16, item 8): the command is queued again (`check::command_interrupted`).
pub(crate) fn record_command_interrupted(
    root: &Root,
    owners: Owners,
    now: Timestamp,
    console_user: Option<&str>,
) {
    tracing::warn!(event = "rotation_command_interrupted");
    record(
        root,
        owners,
        now,
        console_user,
        What::RotationRequested,
        "RotationCommand interrupted: the daemon stopped and killed it; it runs again at the next check",
        &mut Vec::new(),
    );
}
