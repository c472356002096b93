//! Act: the only place where decisions become effects on the Mac, always after the new state has
//! been saved (crash-only: a kill between saving and acting is recovered by the next check, which
//! sees the effect missing and asks for it again; see `rotation`).
//!
//! It writes the audit trail, sets and withdraws Escrow Buddy's `GenerateNewKey` through
//! `/usr/bin/defaults` (cfprefsd caches preferences: never the file, PLATFORM.md) and reads each
//! write back the same way, and runs `RotationCommand` (as root, no shell, a long timeout, never
//! killed by a daemon restart). It also holds the two `keywarden rotate` commands, which share
//! the daemon's safety rules. It never edits the authorization database and never clears a flag
//! Keywarden did not set.

use std::time::Duration;

use jiff::Timestamp;

use crate::audit::{self, What};
use crate::check::{self, Env};
use crate::clock::{Clock, SystemClock};
use crate::config;
use crate::files::Owners;
use crate::lock;
use crate::paths::{self, Root};
use crate::rotation::{self, Effect};
use crate::runner::{Call, ProcessRunner, Runner};
use crate::secret::{RecoveryKey, Secret};
use crate::state::{self, State};
use crate::tools::{self, defaults};

/// `RotationCommand` may run this long (an MDM policy installing things) before it is killed.
pub const ROTATION_COMMAND_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

/// What happened while acting, for the status and the caller.
#[derive(Debug, Default)]
pub struct Acted {
    /// Problems carrying out an effect, for `Daemon.Errors`.
    pub errors: Vec<String>,
    /// `RotationCommand` is to be run (outside the writer lock: it may take long).
    pub run_command: bool,
}

/// Carry out the outbox's effects that are quick (audit, Escrow Buddy's flag). The caller clears
/// the outbox and saves `state` afterwards. On a `replay` (effects a killed check left undone),
/// audit events already written are not written again.
pub async fn act<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    now: Timestamp,
    console_user: Option<&str>,
    state: &mut State,
    outbox: &[crate::state::Pending],
    replay: bool,
) -> Acted {
    let (runner, root, owners) = (env.runner, env.root, env.owners);
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
            let event = audit::Event::new(now, *what, result.as_str())
                .console(console_user)
                .id(p.id);
            if let Err(e) = audit::append(root, owners, &event) {
                tracing::error!(event = "audit_failed", error = %e);
                acted.errors.push(format!("audit trail not written: {e}"));
            }
        }
    }
    let effects: Vec<&Effect> = outbox.iter().map(|p| &p.effect).collect();
    for e in effects {
        match e {
            Effect::Audit(..) => {}
            Effect::SetFlag => match set_flag(runner).await {
                Ok(()) => {
                    state.flag_set_at = Some(now);
                    tracing::info!(event = "flag_set", domain = paths::ESCROW_BUDDY_DOMAIN);
                }
                Err(why) => {
                    // Not set after all: not Keywarden's.
                    state.flag_set_at = None;
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
                    state.rotation =
                        rotation::apply_effect_failure(&state.rotation, now, why.clone());
                    acted.errors.push(why);
                }
            },
            Effect::WithdrawFlag => match withdraw_flag(runner).await {
                Ok(()) => {
                    state.flag_set_at = None;
                    tracing::info!(
                        event = "flag_withdrawn",
                        domain = paths::ESCROW_BUDDY_DOMAIN
                    );
                }
                Err(why) => {
                    // Kept as ours: the next check tries again.
                    let why = format!("could not withdraw Escrow Buddy's GenerateNewKey: {why}");
                    tracing::error!(event = "flag_withdraw_failed", error = %why);
                    acted.errors.push(why);
                }
            },
            Effect::RunCommand => acted.run_command = true,
        }
    }
    acted
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
/// else why it failed (exit code and an excerpt of stderr).
pub async fn run_rotation_command<R: Runner>(
    runner: &R,
    root: &Root,
    owners: Owners,
    argv: &[String],
) -> Option<String> {
    let Some((program, args)) = argv.split_first() else {
        return Some("RotationCommand is empty".to_owned());
    };
    // It runs as root: the program itself must be root's and not writable by others.
    let path = root.resolve(program);
    match std::fs::metadata(&path) {
        Ok(meta) => {
            if let Err(e) = crate::files::check_trusted(&path, &meta, owners) {
                let why = format!("RotationCommand not run: {e}");
                tracing::error!(event = "rotation_command_failed", error = %why);
                return Some(why);
            }
        }
        Err(e) => return Some(format!("RotationCommand not run: {program}: {e}")),
    }
    let call = Call::program(program.as_str(), args)
        .with_timeout(ROTATION_COMMAND_TIMEOUT)
        .surviving_abandon();
    tracing::info!(event = "rotation_command_started", call = %call.display());
    match runner.run(&call).await {
        Ok(out) if out.exit.success() => {
            tracing::info!(event = "rotation_command_finished", exit = %out.exit.short());
            None
        }
        Ok(out) => {
            let why = format!(
                "RotationCommand ({}) ended with {}: {}",
                call.display(),
                out.exit,
                crate::text::excerpt(if out.stderr.is_empty() {
                    &out.stdout
                } else {
                    &out.stderr
                })
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

/// After `RotationCommand` ran: record its outcome in the state and the audit trail (under the
/// writer lock).
pub async fn record_command_outcome(
    root: &Root,
    owners: Owners,
    clock: &impl Clock,
    failure: Option<String>,
) -> Result<(), String> {
    let _lock = lock::acquire(root, owners, lock::CHECK_LOCK_WAIT)
        .await
        .map_err(|e| e.to_string())?;
    let now = clock.now();
    let mut loaded = state::load(root, owners, now).state;
    loaded.rotation = rotation::apply_command_outcome(&loaded.rotation, now, failure.clone());
    let (what, result) = match &failure {
        Some(why) => (What::RotationFailed, why.clone()),
        None => (
            What::RotationRequested,
            "RotationCommand finished (exit 0); waiting for the new escrow file".to_owned(),
        ),
    };
    let mut errors = Vec::new();
    record(
        root,
        owners,
        now,
        loaded.console_now.as_deref(),
        what,
        &result,
        &mut errors,
    );
    state::save(root, owners, &loaded).map_err(|e| e.to_string())
}

/// Run one full check (publishing the status) and, if it asked for `RotationCommand`, run it and
/// record its outcome, then publish again. Shared by `keywarden check`, `rotate` and `validate`.
pub async fn check_and_follow_up<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
) -> Result<check::Outcome, check::CheckError> {
    let outcome = check::run(env, cfg).await?;
    if !outcome.run_command {
        return Ok(outcome);
    }
    let Some(argv) = &cfg.config.rotation_command else {
        return Ok(outcome);
    };
    let failure = run_rotation_command(env.runner, env.root, env.owners, argv).await;
    if let Err(e) = record_command_outcome(env.root, env.owners, env.clock, failure).await {
        tracing::error!(event = "rotation_command_not_recorded", error = %e);
    }
    check::run(env, cfg).await
}

/// `keywarden rotate --request | --current-key`.
pub fn rotate_main(root: &Root, owners: Owners, request: bool, current_key: bool) -> i32 {
    crate::cli::disable_core_dumps();
    let cfg = config::load(root, owners);
    let log = crate::logging::init(crate::logging::Mode::Check, root, cfg.config.log_level);
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("keywarden: {e}");
            return 2;
        }
    };
    let runner = ProcessRunner::new(root.clone(), cfg.config.tool_timeout);
    let env = Env {
        runner: &runner,
        clock: &SystemClock,
        root,
        owners,
        lock_wait: lock::CHECK_LOCK_WAIT,
        next_check_at: None,
        log_problem: log.file_error(),
    };
    if request {
        rt.block_on(request_rotation(&env, &cfg))
    } else if current_key {
        let key = match crate::validate::read_key_from_stdin() {
            Ok(k) => k,
            Err(e) => {
                errln!("keywarden: {e}");
                return 2;
            }
        };
        rt.block_on(crate::act::rotate_with_current_key(&env, &cfg, key))
    } else {
        errln!("keywarden: say --request or --current-key");
        2
    }
}

async fn request_rotation<R: Runner, C: Clock>(env: &Env<'_, R, C>, cfg: &config::Loaded) -> i32 {
    {
        let _lock = match lock::acquire(env.root, env.owners, env.lock_wait).await {
            Ok(l) => l,
            Err(e) => {
                errln!("keywarden: {e}");
                return 2;
            }
        };
        let now = env.clock.now();
        let mut st = state::load(env.root, env.owners, now).state;
        st.admin_request_at = Some(now);
        if let Err(e) = state::save(env.root, env.owners, &st) {
            errln!("keywarden: the request could not be saved: {e}");
            return 2;
        }
    }
    match check_and_follow_up(env, cfg).await {
        Ok(outcome) => {
            let r = &outcome.status.rotation;
            match r.state {
                crate::status::RotationStateName::Requested => {
                    outln!(
                        "Rotation requested via {} ({}).{}",
                        r.method.as_deref().unwrap_or("?"),
                        r.reason.as_deref().unwrap_or("?"),
                        match r.method.as_deref() {
                            Some("EscrowBuddy") =>
                                " Escrow Buddy makes the new key at the user's next login.",
                            Some("MDM") => " Your MDM acts on Rotation.State = Requested.",
                            _ => "",
                        }
                    );
                    0
                }
                crate::status::RotationStateName::Pending => {
                    outln!(
                        "Rotation recorded but not requested yet: {}",
                        r.waiting.as_deref().unwrap_or("see keywarden doctor")
                    );
                    1
                }
                other => {
                    outln!("Rotation is {other:?}.");
                    0
                }
            }
        }
        Err(e) => {
            errln!("keywarden: {e}");
            2
        }
    }
}

/// The oldest macOS where `changerecovery -personal` accepts the current key as the credential:
/// APFS 10.14 (it failed on 10.13 with "Unable to change key", exit 136; PLATFORM.md).
const MIN_OS_FOR_KEY_CREDENTIAL: (u32, u32) = (10, 14);

fn os_at_least(version: &str, min: (u32, u32)) -> Option<bool> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    Some((major, minor) >= min)
}

/// `keywarden rotate --current-key`: one `fdesetup changerecovery -personal -inputplist` with the
/// current key, behind every safety rule.
pub async fn rotate_with_current_key<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
    input: Secret,
) -> i32 {
    let refuse = |why: &str| {
        errln!("keywarden: refused: {why}");
        2
    };
    if !cfg.config.allow_rotate_with_current_key {
        return refuse("AllowRotateWithCurrentKey is not set (it is off by default; see docs/configuration.md)");
    }
    let key = match RecoveryKey::parse(input) {
        Ok(k) => k,
        Err(e) => return refuse(&e.to_string()),
    };
    let lock = match lock::acquire(env.root, env.owners, env.lock_wait).await {
        Ok(l) => l,
        Err(e) => return refuse(&e.to_string()),
    };
    let now = env.clock.now();
    let mut st = state::load(env.root, env.owners, now).state;
    let snap = crate::observe::observe(env.runner, env.root, env.owners, &st, now).await;
    // Pre-checks, each with its reason.
    match &snap.filevault {
        Ok(s) if s.on && s.conversion.is_none() && !s.restart_required => {}
        Ok(_) => {
            return refuse(
                "FileVault must be on and not encrypting, decrypting or waiting for a restart",
            )
        }
        Err(e) => return refuse(&format!("FileVault state unknown: {e}")),
    }
    match &snap.profiles {
        Ok(p)
            if p.iter()
                .any(|x| x.has_payload(tools::profiles::ESCROW_PAYLOAD_TYPE)) => {}
        Ok(_) => {
            return refuse("no escrow payload is installed: the new key would never reach the MDM")
        }
        Err(e) => return refuse(&format!("installed profiles unknown: {e}")),
    }
    match &snap.os_version {
        Ok(v) if os_at_least(v, MIN_OS_FOR_KEY_CREDENTIAL) == Some(true) => {}
        Ok(v) => {
            return refuse(&format!(
                "macOS {v}: the current key is accepted as a credential from macOS 10.14 on"
            ))
        }
        Err(e) => return refuse(&format!("macOS version unknown: {e}")),
    }
    match &snap.personal_key {
        Ok(true) => {}
        Ok(false) => return refuse("this Mac has no personal recovery key to authenticate with"),
        Err(e) => return refuse(&format!("personal recovery key unknown: {e}")),
    }
    if let Ok(uuid) = &snap.boot_session {
        let boot = st.boot_mut(uuid, now);
        let used = boot.key_use == Some(crate::state::KeyUse::Used)
            || matches!(
                &snap.using_recovery_key,
                Some(Ok(tools::fdesetup::UsingRecoveryKey::Yes))
            );
        let console_present = matches!(&snap.console, Ok(crate::observe::Console::Uid(_)));
        if used && !boot.console_user_seen && !console_present {
            return refuse("the key unlocked this boot and nobody has logged in since: rotating now would break the password reset macOS asks for at that login");
        }
    }
    // The key is a credential here too: the validation caps apply (counted from the audit trail).
    match audit::read(env.root, env.owners) {
        Ok(events) => {
            let counts = audit::validation_counts(&events, now);
            if counts.failures_ever >= cfg.config.validation_failure_cap {
                return refuse(&format!(
                    "{} failed attempts with a key on this Mac reach ValidationFailureCap ({}): the Secure Enclave allows only so many, ever",
                    counts.failures_ever, cfg.config.validation_failure_cap
                ));
            }
            if counts.today >= cfg.config.validation_daily_cap {
                return refuse(&format!(
                    "{} attempts with a key in the last 24 hours reach ValidationDailyCap ({})",
                    counts.today, cfg.config.validation_daily_cap
                ));
            }
        }
        Err(e) => {
            return refuse(&format!(
                "the audit trail cannot be read, so the attempt caps cannot be checked: {e}"
            ))
        }
    }
    let escrow_before = snap.escrow_file.clone().ok().flatten();
    // On record before the attempt: a crash after this line still shows an attempt was made.
    let console = st.console_now.clone();
    let mut errors = Vec::new();
    record(
        env.root,
        env.owners,
        now,
        console.as_deref(),
        What::RotateWithKeyStarted,
        "changerecovery -personal with the current key",
        &mut errors,
    );
    if !errors.is_empty() {
        return refuse("the attempt could not be written to the audit trail, so it is not made");
    }
    let result = tools::fdesetup::change_recovery(env.runner, key.secret()).await;
    drop(key);
    // Whatever happened: does a key still exist, and was a new one staged for escrow?
    let present = tools::fdesetup::has_personal_recovery_key(env.runner).await;
    let after = {
        let snap2 =
            crate::observe::observe(env.runner, env.root, env.owners, &st, env.clock.now()).await;
        snap2.escrow_file.ok().flatten()
    };
    let staged = match (&escrow_before, &after) {
        (Some(b), Some(a)) => a.sha256 != b.sha256 || a.modified_at > b.modified_at,
        (None, Some(_)) => true,
        (_, None) => false,
    };
    let now2 = env.clock.now();
    let (what, message, code) = match (&result, &present) {
        (_, Ok(false)) => (
            What::KeyVanished,
            "THE PERSONAL RECOVERY KEY IS GONE after changerecovery: generate and escrow a new one now (rotate --request)".to_owned(),
            2,
        ),
        (Ok(()), _) if staged => (What::RotatedWithKey, "a new key was made and staged for escrow".to_owned(), 0),
        (Ok(()), _) => (
            What::RotatedWithKey,
            "fdesetup reported success but no new escrow file appeared: check the escrow payload".to_owned(),
            1,
        ),
        (Err(e), _) => (What::RotatedWithKey, format!("{}: {e}", audit::RESULT_ROTATE_FAILED), 1),
    };
    record(
        env.root,
        env.owners,
        now2,
        console.as_deref(),
        what,
        &message,
        &mut errors,
    );
    if let Some(a) = after.filter(|_| staged) {
        st.key_last_changed_at = Some(a.modified_at);
    }
    if let Err(e) = state::save(env.root, env.owners, &st) {
        errln!("keywarden: state not saved: {e}");
    }
    drop(lock);
    if code == 0 {
        outln!("Rotated: {message}.");
    } else {
        errln!("keywarden: {message}");
    }
    if let Err(e) = check_and_follow_up(env, cfg).await {
        errln!("keywarden: the status was not refreshed: {e}");
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_key_is_a_credential_from_macos_10_14() {
        assert_eq!(
            os_at_least("10.13.6", MIN_OS_FOR_KEY_CREDENTIAL),
            Some(false)
        );
        assert_eq!(os_at_least("10.14", MIN_OS_FOR_KEY_CREDENTIAL), Some(true));
        assert_eq!(os_at_least("15.1", MIN_OS_FOR_KEY_CREDENTIAL), Some(true));
        assert_eq!(os_at_least("26", MIN_OS_FOR_KEY_CREDENTIAL), Some(true));
        assert_eq!(os_at_least("x", MIN_OS_FOR_KEY_CREDENTIAL), None);
    }
}
