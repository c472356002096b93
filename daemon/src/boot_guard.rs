//! The boot guard (ARCHITECTURE.md, "Never during the password reset"; issue 14, item 2): the
//! first step of every check, under the writer lock, before the outbox a killed check left is
//! replayed and before the full observation.
//!
//! After a recovery-key unlock macOS walks the user through a password reset at the next login,
//! and a new key made during that login breaks it (Crypt turned rotate-on-use off in 2020 after
//! lockouts). Escrow Buddy makes that key at the login when `GenerateNewKey` is set, so on a new
//! boot session Keywarden's own flag must be gone before anything else happens, and no effect an
//! earlier boot decided (a `SetFlag` saved just before a shutdown killed the check) may run on
//! the strength of what that boot knew. So, every check:
//! 1. reads `kern.bootsessionuuid`, and on a boot the state does not know (or that cannot be
//!    read) asks `fdesetup usingrecoverykey`, both with a short timeout (`BOOT_GUARD_TIMEOUT`, or
//!    `ToolTimeout` when that is shorter);
//! 2. lets `decide::guard_boot` decide: the answer latched for the boot, the outbox's effects of
//!    other boots dropped (to be decided again by this check), and Keywarden's flag withdrawn
//!    when the key was used or the answer is unknown;
//! 3. saves the state, then acts at once on what the guard decided (the audit events kept from
//!    other boots, its own withdrawal), folds what it came to, and saves again.
//!
//! What it read goes on to `observe` (`observe::Known`), which asks neither again. It never
//! touches a flag Keywarden did not set. Its own reads that fail are logged (`boot_guard`), not
//! reported: the full check that follows asks again and reports what it gets; a withdrawal that
//! fails goes to `Daemon.Errors` like any other effect's failure.

use std::time::Duration;

use jiff::Timestamp;

use crate::act;
use crate::decide;
use crate::files::Owners;
use crate::observe::{Known, Probe};
use crate::paths::Root;
use crate::runner::Runner;
use crate::state::{self, Effect, KeyUse, State};
use crate::tools::fdesetup::{self, UsingRecoveryKey};
use crate::tools::{self, sysctl};

/// How long the boot guard waits for `sysctl` and for `usingrecoverykey`: short, because the
/// user may be logging in while it waits, and an answer that does not come in time is unknown,
/// which withdraws Keywarden's flag as a use would. The full check asks again with `ToolTimeout`.
pub(crate) const BOOT_GUARD_TIMEOUT: Duration = Duration::from_secs(10);

/// What the boot guard leaves for the rest of the check.
#[derive(Debug)]
pub(crate) struct Guarded {
    pub state: State,
    /// What it read, so `observe` does not ask again.
    pub known: Known,
    /// Problems carrying out its effects, for `Daemon.Errors`.
    pub errors: Vec<String>,
}

/// Guard the start of a check on the Mac under `root` (see the module comment). `tool_timeout`
/// is `ToolTimeout`: the guard waits no longer than that either.
pub(crate) async fn guard<R: Runner>(
    runner: &R,
    root: &Root,
    owners: Owners,
    now: Timestamp,
    tool_timeout: Duration,
    state: State,
) -> Guarded {
    let timeout = BOOT_GUARD_TIMEOUT.min(tool_timeout);
    let boot = tools::query(
        runner,
        &sysctl::boot_session_uuid_call().with_timeout(timeout),
        sysctl::parse_boot_session_uuid,
    )
    .await;
    let uuid = boot.as_ref().ok().map(String::as_str);
    let new_boot = decide::is_new_boot(&state, uuid);
    let key_use: Option<Probe<UsingRecoveryKey>> = if new_boot {
        Some(
            tools::query(
                runner,
                &fdesetup::usingrecoverykey_call().with_timeout(timeout),
                fdesetup::parse_usingrecoverykey,
            )
            .await,
        )
    } else {
        None
    };
    let decided = decide::guard_boot(&state, now, uuid, key_use.as_ref());
    if new_boot {
        log_new_boot(&boot, key_use.as_ref(), decided.withdraws);
    }
    for p in &decided.dropped {
        tracing::warn!(
            event = "outbox_effect_dropped",
            id = p.id,
            effect = effect_name(&p.effect),
            decided_in = p.boot.as_deref().unwrap_or("-"),
            boot = uuid.unwrap_or("-"),
            "an effect decided in another boot session is not replayed; this check decides again"
        );
    }
    let known = Known {
        boot_session: boot.as_ref().ok().cloned(),
        using_recovery_key: key_use.and_then(Result::ok),
    };
    let mut errors = Vec::new();
    if decided.state == state {
        return Guarded {
            state,
            known,
            errors,
        };
    }
    // Crash-only: what the guard decided is saved before it is done. A save that fails does not
    // hold back the withdrawal: removing Keywarden's own flag is safe with or without a record
    // (the state still calls the flag Keywarden's, so the next check withdraws it again), and
    // the check reports the unwritable state when it saves.
    if let Err(e) = state::save(root, owners, &decided.state) {
        tracing::error!(event = "state_save_failed", error = %e);
    }
    if decided.act_now.is_empty() {
        return Guarded {
            state: decided.state,
            known,
            errors,
        };
    }
    let now_entries: Vec<_> = decided
        .state
        .outbox
        .pending
        .iter()
        .filter(|p| decided.act_now.contains(&p.id))
        .cloned()
        .collect();
    // No console user is named: at this point of a new boot nobody is known to be logged in.
    let acted = act::act(runner, root, owners, now, None, &now_entries, true, uuid).await;
    errors.extend(acted.errors);
    let next = decide::after_guard(&decided.state, now, &decided.act_now, &acted.done);
    if let Err(e) = state::save(root, owners, &next) {
        tracing::error!(event = "state_save_failed", error = %e);
    }
    Guarded {
        state: next,
        known,
        errors,
    }
}

/// One line per new boot: what the guard learnt and whether it withdrew Keywarden's flag.
fn log_new_boot(boot: &Probe<String>, key_use: Option<&Probe<UsingRecoveryKey>>, withdrew: bool) {
    let boot_shown = boot.as_deref().unwrap_or("-");
    match key_use {
        Some(Ok(answer)) => tracing::info!(
            event = "boot_guard",
            boot = boot_shown,
            key_use = use_name(KeyUse::from(*answer)),
            flag_withdrawn = withdrew,
        ),
        Some(Err(e)) => tracing::warn!(
            event = "boot_guard",
            boot = boot_shown,
            key_use = "unknown",
            flag_withdrawn = withdrew,
            error = %e,
            "key use unknown at the start of the boot: treated as a use until a login"
        ),
        None => {}
    }
    if let Err(e) = boot {
        tracing::warn!(event = "boot_guard_boot_unknown", error = %e);
    }
}

fn use_name(u: KeyUse) -> &'static str {
    match u {
        KeyUse::Used => "Used",
        KeyUse::NotUsed => "NotUsed",
        KeyUse::NotSupported => "NotSupported",
    }
}

fn effect_name(e: &Effect) -> &'static str {
    match e {
        Effect::SetFlag => "SetFlag",
        Effect::WithdrawFlag => "WithdrawFlag",
        Effect::RunCommand => "RunCommand",
        Effect::Audit(..) => "Audit",
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::audit;
    use crate::config::RotationMethod;
    use crate::paths;
    use crate::runner::{Call, Output, RunError, SecretOutput};
    use crate::secret::Secret;
    use crate::state::{BootRecord, Rotation};
    use crate::status::Reason;
    use crate::tools::defaults;
    use crate::tools::fake::{FakeFailure, FakeRunner};

    const BOOT: &str = "6C0B3F7A-2D41-4E5B-9A8C-1F2E3D4C5B6A";
    const EARLIER: &str = "0A1B2C3D-0000-4000-8000-EARLIERBOOT0";

    /// The fake runner, also recording each call's own timeout.
    struct Timed {
        fake: FakeRunner,
        timeouts: RefCell<Vec<(Vec<String>, Option<Duration>)>>,
    }

    impl Runner for Timed {
        async fn run(&self, call: &Call) -> Result<Output, RunError> {
            self.timeouts.borrow_mut().push((call.argv(), call.timeout));
            self.fake.run(call).await
        }
        async fn run_secret(&self, call: &Call, stdin: &Secret) -> Result<SecretOutput, RunError> {
            self.fake.run_secret(call, stdin).await
        }
    }

    fn now() -> Timestamp {
        "2026-11-20T10:00:00Z".parse().unwrap()
    }

    /// A Mac whose `usingrecoverykey` says `answer` (or times out), and whose `defaults` deletes
    /// and reads Escrow Buddy's flag.
    fn mac(answer: Option<&str>) -> Timed {
        let mut fake = FakeRunner::new();
        fake.answer(
            &sysctl::boot_session_uuid_call(),
            Output::new(0, format!("{BOOT}\n"), ""),
        );
        match answer {
            Some(a) => fake.answer(&fdesetup::usingrecoverykey_call(), Output::new(0, a, "")),
            None => fake.fail(&fdesetup::usingrecoverykey_call(), FakeFailure::TimedOut),
        };
        fake.answer(
            &defaults::delete_call(paths::ESCROW_BUDDY_DOMAIN, "GenerateNewKey"),
            Output::new(0, "", ""),
        );
        fake.answer(
            &defaults::read_call(paths::ESCROW_BUDDY_DOMAIN, "GenerateNewKey"),
            Output::new(
                1,
                "",
                format!("2026-11-20 10:00:00.000 defaults[1:2] \nThe domain/default pair of ({}, GenerateNewKey) does not exist\n", paths::ESCROW_BUDDY_DOMAIN),
            ),
        );
        Timed {
            fake,
            timeouts: RefCell::new(Vec::new()),
        }
    }

    /// What a check of the earlier boot left when shutdown killed it between saving a request by
    /// Escrow Buddy and writing the flag.
    fn killed_before_the_flag() -> State {
        let mut s = State {
            boot: Some(BootRecord {
                session_uuid: EARLIER.into(),
                first_seen_at: now() - jiff::SignedDuration::from_hours(20),
                key_use: Some(KeyUse::Used),
                console_user_seen: true,
                foreign_flag_reported: false,
            }),
            rotation: Rotation::Requested {
                reason: Reason::KeyUsed,
                since: now() - jiff::SignedDuration::from_hours(19),
                method: RotationMethod::EscrowBuddy,
                at: now() - jiff::SignedDuration::from_hours(19),
                first_at: now() - jiff::SignedDuration::from_hours(19),
                attempts: 0,
                escrow_before: None,
                last_error: None,
                logins_before: 1,
            },
            ..State::default()
        };
        s.flag.set_at = Some(now() - jiff::SignedDuration::from_hours(19));
        s.outbox.enqueue(
            vec![
                Effect::Audit(
                    crate::audit::What::RotationRequested,
                    "KeyUsed via EscrowBuddy".into(),
                ),
                Effect::SetFlag,
            ],
            Some(EARLIER),
        );
        s
    }

    fn argv(call: &Call) -> Vec<String> {
        call.argv()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn issue_14_the_boot_guard_asks_first_with_its_short_timeout_and_withdraws_keywardens_flag_at_once(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let runner = mac(Some("true\n"));
        let g = guard(
            &runner,
            &root,
            Owners::current(),
            now(),
            Duration::from_secs(30),
            killed_before_the_flag(),
        )
        .await;
        let calls = runner.fake.calls.borrow().clone();
        assert_eq!(
            calls,
            [
                argv(&sysctl::boot_session_uuid_call()),
                argv(&fdesetup::usingrecoverykey_call()),
                argv(&defaults::delete_call(
                    paths::ESCROW_BUDDY_DOMAIN,
                    "GenerateNewKey"
                )),
                argv(&defaults::read_call(
                    paths::ESCROW_BUDDY_DOMAIN,
                    "GenerateNewKey"
                )),
            ],
            "the reads, then the withdrawal; the earlier boot's SetFlag never runs"
        );
        let timeouts = runner.timeouts.borrow();
        assert_eq!(timeouts[0].1, Some(BOOT_GUARD_TIMEOUT));
        assert_eq!(timeouts[1].1, Some(BOOT_GUARD_TIMEOUT));
        assert_eq!(BOOT_GUARD_TIMEOUT, Duration::from_secs(10));
        assert!(g.errors.is_empty(), "{:?}", g.errors);
        assert!(!g.state.flag.is_ours(), "withdrawn, and recorded so");
        assert!(g.state.outbox.is_empty(), "{:?}", g.state.outbox.pending);
        assert_eq!(g.state.key_use_for(BOOT), Some(KeyUse::Used));
        assert_eq!(
            g.known,
            Known {
                boot_session: Some(BOOT.into()),
                using_recovery_key: Some(UsingRecoveryKey::Yes),
            }
        );
        // Saved: a kill now loses nothing.
        assert_eq!(state::load(&root, Owners::current(), now()).state, g.state);
        let events = audit::read(&root, Owners::current()).unwrap();
        let seen: Vec<_> = events.iter().map(|e| e.what.name()).collect();
        assert_eq!(seen, ["RotationRequested", "UseDetected", "FlagWithdrawn"]);
        let late = events[0].detail.as_deref().unwrap_or_default();
        assert!(
            late.contains(EARLIER) && late.contains(BOOT) && late.contains("written late"),
            "{late}"
        );
        assert_eq!(events[2].detail, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn issue_14_an_unknown_answer_withdraws_and_a_shorter_tool_timeout_bounds_the_guard() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let runner = mac(None);
        let mut state = killed_before_the_flag();
        state.outbox.pending.clear();
        let g = guard(
            &runner,
            &root,
            Owners::current(),
            now(),
            Duration::from_secs(3),
            state,
        )
        .await;
        let timeouts = runner.timeouts.borrow();
        assert_eq!(timeouts[0].1, Some(Duration::from_secs(3)));
        assert_eq!(timeouts[1].1, Some(Duration::from_secs(3)));
        assert_eq!(timeouts.len(), 4, "{timeouts:?}");
        assert!(!g.state.flag.is_ours());
        assert_eq!(g.state.key_use_for(BOOT), None, "nothing latched");
        assert_eq!(g.known.using_recovery_key, None, "observe asks again");
        let seen: Vec<_> = audit::read(&root, Owners::current())
            .unwrap()
            .iter()
            .map(|e| e.what.name())
            .collect();
        assert_eq!(seen, ["FlagWithdrawn"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_boot_the_state_knows_costs_one_sysctl_call_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let runner = mac(Some("true\n"));
        let mut state = killed_before_the_flag();
        state.outbox.pending.clear();
        state.boot.as_mut().unwrap().session_uuid = BOOT.into();
        let g = guard(
            &runner,
            &root,
            Owners::current(),
            now(),
            Duration::from_secs(30),
            state.clone(),
        )
        .await;
        assert_eq!(
            *runner.fake.calls.borrow(),
            [argv(&sysctl::boot_session_uuid_call())]
        );
        assert_eq!(g.state, state);
        assert!(!root.resolve(paths::STATE).exists(), "nothing to save");
        assert_eq!(g.known.boot_session.as_deref(), Some(BOOT));
    }
}
