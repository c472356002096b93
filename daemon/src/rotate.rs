//! `keywarden rotate`: ask for a new key now (`--request`), make one now with the current key
//! (`--current-key`), or state that one was made outside Keywarden (`--replaced`).
//!
//! `--replaced` records an admin's statement that the key was replaced outside Keywarden (only with
//! `EscrowOutsideMDM`, where no escrow file can show it).
//!
//! A request is recorded for the state machine and answered by a check at once, under the same
//! rules as the daemon's own requests (`guards::request_blocked`: never without the escrow payload,
//! never during the password reset). Rotating with the current key makes exactly one `fdesetup
//! changerecovery -personal`, only when `guards` allows it (switched on, FileVault ready, the
//! escrow payload installed, macOS 10.14 or later, a key present, no password reset pending) and
//! as an attempt with a key (`attempt`: the caps, the failed-key store, every refusal and answer
//! recorded). The new key it prints stays in wiped memory and is escrowed through the payload;
//! nobody sees it. Afterwards it checks that a key still exists (10.13 deleted it on a bad
//! credential, PLATFORM.md) and that a new escrow file appeared.
//!
//! This module prints nothing (`app`) and writes no state but the request; the check that follows
//! a rotation records the new key (`decide`).

use std::fmt;

use crate::attempt::{self, Record};
use crate::audit::{Answer, What};
use crate::check::{self, CheckError, Env};
use crate::clock::Clock;
use crate::config;
use crate::decide;
use crate::files::FileError;
use crate::guards::{self, Refusal, RotateFacts};
use crate::lock::{self, LockError};
use crate::observe;
use crate::runner::Runner;
use crate::secret::Secret;
use crate::state;
use crate::tools::fdesetup;

/// Why a request could not be made or answered.
#[derive(Debug)]
pub(crate) enum RequestError {
    Lock(LockError),
    NotSaved(FileError),
    Check(CheckError),
    /// `--replaced` without `EscrowOutsideMDM`.
    NotOutsideMdm,
    /// `--replaced` could not be recorded in the audit trail, so it was not taken.
    NotAudited(FileError),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Lock(e) => write!(f, "{e}"),
            RequestError::NotSaved(e) => write!(f, "the request could not be saved: {e}"),
            RequestError::Check(e) => write!(f, "{e}"),
            RequestError::NotOutsideMdm => write!(
                f,
                "rotate --replaced is only for Macs whose keys are escrowed outside the MDM (EscrowOutsideMDM): with the escrow payload installed, a new key shows itself in /var/db/FileVaultPRK.dat and needs no statement"
            ),
            RequestError::NotAudited(e) => write!(
                f,
                "the statement could not be recorded in the audit trail, so it was not taken: {e}"
            ),
        }
    }
}

/// `rotate --request`: record an admin's request, then check (which requests the rotation
/// through the configured methods, or says why it waits).
pub(crate) async fn request<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
) -> Result<check::Outcome, RequestError> {
    {
        let _lock = lock::acquire(env.root, env.owners, env.lock_wait)
            .await
            .map_err(RequestError::Lock)?;
        let now = env.clock.now();
        let mut st = state::load(env.root, env.owners, now).state;
        st.requests.pending_since = Some(now);
        state::save(env.root, env.owners, &st).map_err(RequestError::NotSaved)?;
    }
    check::run(env, cfg).await.map_err(RequestError::Check)
}

/// `rotate --replaced`: the admin states that the key was replaced by the tool that escrows it
/// outside the MDM (only with `EscrowOutsideMDM`). Without the escrow payload macOS writes no
/// escrow file, so Keywarden cannot see a new key, and a used key would stay used forever. The
/// statement is the admin's, audited with who made it (`KeyReplacedStated`) before it is taken:
/// the key's change time becomes now, which settles a use, a key age and an admin's request; then
/// a check.
pub(crate) async fn replaced<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
) -> Result<check::Outcome, RequestError> {
    if !cfg.config.escrow_outside_mdm {
        return Err(RequestError::NotOutsideMdm);
    }
    {
        let _lock = lock::acquire(env.root, env.owners, env.lock_wait)
            .await
            .map_err(RequestError::Lock)?;
        let now = env.clock.now();
        let event = crate::audit::Event::new(
            now,
            What::KeyReplacedStated,
            "the key was replaced outside Keywarden (EscrowOutsideMDM)",
        );
        crate::audit::append(env.root, env.owners, &event).map_err(RequestError::NotAudited)?;
        // Loaded with no time after now (`State::distrust_future`): a use recorded before the
        // clock was set back is dated no later than this statement, which settles it (issue 16,
        // item 4: a use "from the future" outlived the statement).
        let mut st = state::load(env.root, env.owners, now).state;
        st.keys.last_changed_at = Some(now);
        st.requests.pending_since = None;
        state::save(env.root, env.owners, &st).map_err(RequestError::NotSaved)?;
        tracing::info!(event = "key_replaced_stated");
    }
    check::run(env, cfg).await.map_err(RequestError::Check)
}

/// What one `changerecovery` with the current key came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rotated {
    /// A new key was made and staged for escrow.
    Staged,
    /// `fdesetup` said it worked, but no new escrow file appeared.
    NotStaged,
    /// `fdesetup` failed (a fixed description, never its output); `remembered` when it refused
    /// the key itself, which is then never tried again.
    Failed { error: String, remembered: bool },
    /// The Mac has no personal recovery key any more.
    KeyVanished,
}

impl Rotated {
    /// What to tell the admin.
    pub(crate) fn message(&self) -> String {
        match self {
            Rotated::Staged => "a new key was made and staged for escrow".to_owned(),
            Rotated::NotStaged => "fdesetup reported success but no new escrow file appeared: check the escrow payload".to_owned(),
            Rotated::Failed { error, remembered } => format!(
                "Failed: {error}{}",
                if *remembered {
                    "; the key is remembered as refused on this Mac and never tried again"
                } else {
                    ""
                }
            ),
            Rotated::KeyVanished => "THE PERSONAL RECOVERY KEY IS GONE after changerecovery: generate and escrow a new one now (rotate --request)".to_owned(),
        }
    }
}

/// `rotate --current-key`: one `changerecovery -personal` authenticated by the key in `input`
/// (stdin as read), behind every rule in `guards`.
pub(crate) async fn with_current_key<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    cfg: &config::Loaded,
    input: Result<Secret, String>,
) -> Result<Rotated, Refusal> {
    let (root, owners) = (env.root, env.owners);
    let now = env.clock.now();
    let refuse = |why| attempt::refuse(root, owners, now, None, attempt::ROTATE, why);
    guards::rotate_with_key_allowed(&cfg.config).map_err(refuse)?;
    let key = attempt::key_from(root, owners, now, input, attempt::ROTATE)?;
    let _lock = lock::acquire(root, owners, env.lock_wait)
        .await
        .map_err(|e| refuse(Refusal::Lock(e.to_string())))?;
    let now = env.clock.now();
    let st = state::load(root, owners, now).state;
    let snap = observe::observe(
        env.runner,
        root,
        owners,
        &st,
        now,
        &observe::Known::default(),
    )
    .await;
    let facts = decide::facts_of(&st, &snap, &cfg.config, now);
    let console = facts.console_user.clone();
    guards::may_rotate_with_key(&RotateFacts {
        filevault: &snap.filevault,
        profiles: &snap.profiles,
        os_version: &snap.os_version,
        personal_key: &snap.personal_key,
        password_reset: facts.in_password_reset.is_some(),
        console_unnamed: facts.console_unnamed,
    })
    .map_err(|why| attempt::refuse(root, owners, now, console.as_deref(), attempt::ROTATE, why))?;
    let attempt = attempt::begin(
        root,
        owners,
        &cfg.config,
        now,
        console,
        &key,
        attempt::ROTATE,
    )?;

    let escrow_before = snap.escrow_file.ok().flatten();
    let result = fdesetup::change_recovery(env.runner, key.secret()).await;
    // Whatever happened: does a key still exist, and was a new one staged for escrow?
    let present = fdesetup::has_personal_recovery_key(env.runner).await;
    let after = observe::escrow_file_facts(root, owners).ok().flatten();
    let staged = match (&escrow_before, &after) {
        (Some(b), Some(a)) => a.sha256 != b.sha256 || a.modified_at > b.modified_at,
        (None, Some(_)) => true,
        (_, None) => false,
    };
    let (rotated, answer, key_refused) = match (&result, &present) {
        (_, Ok(false)) => (Rotated::KeyVanished, Answer::Error("KeyVanished"), false),
        (Ok(()), _) if staged => (Rotated::Staged, Answer::Staged, false),
        (Ok(()), _) => (Rotated::NotStaged, Answer::NotStaged, false),
        (Err(e), _) => (
            Rotated::Failed {
                error: e.to_string(),
                remembered: e.key_refused(),
            },
            Answer::Error(e.code()),
            e.key_refused(),
        ),
    };
    let warnings = attempt.finish(
        root,
        owners,
        &key,
        Record {
            at: env.clock.now(),
            key_refused,
            what: (rotated == Rotated::KeyVanished).then_some(What::KeyVanished),
            answer,
            detail: Some(rotated.message()),
        },
    );
    drop(key);
    for w in &warnings {
        tracing::error!(event = "rotate_with_key_record_failed", error = %w);
    }
    tracing::info!(event = "rotate_with_key_finished", result = answer.result());
    Ok(rotated)
}
