//! The boot guard's decision (ARCHITECTURE.md, "Never during the password reset"; issue 14, item
//! 2): the first step of every check, after the writer lock and before the outbox is replayed or
//! anything else is observed.
//!
//! After a recovery-key unlock macOS walks the user through a password reset at the next login,
//! and a new key made during that login (Escrow Buddy acting on `GenerateNewKey`) breaks it. So:
//! - **A new boot session is guarded first.** On a boot the state does not know (or when the boot
//!   cannot be read), `boot_guard` asks `usingrecoverykey` with a short timeout and hands the
//!   answer here; a definite answer is latched for the boot at once, and if the key was used or
//!   the answer is unknown (`guards::in_password_reset`), Keywarden's own flag (`FlagOwnership`,
//!   never anyone else's) is withdrawn before anything else is done.
//! - **An effect decided in another boot session is never replayed.** Each outbox entry carries
//!   the boot it was decided in (`Pending::boot`); one of another boot, or of a boot nobody could
//!   read (an older state file, a boot that could not be read when it was decided), is dropped
//!   and this check decides again from what it observes: a dropped `SetFlag` is set again by the
//!   rotation machine only if its guards allow it now, a dropped `WithdrawFlag` is decided again
//!   by `lifecycle::step` (Keywarden's flag with nothing asking for it goes), and a dropped
//!   `RunCommand` steps its request back so the machine asks again. Audit events are not
//!   effects on the Mac but the record of what that boot saw and decided (a use the OS has since
//!   forgotten above all): they cannot be decided again, so they are written now, once (by id),
//!   saying when they were decided (`act`).
//!
//! Pure, like the rest of `decide`: `boot_guard` runs the tools and acts.

use jiff::Timestamp;

use crate::audit::What;
use crate::guards;
use crate::observe::Probe;
use crate::state::{Effect, KeyUse, Pending, Rotation, State};
use crate::tools::fdesetup::UsingRecoveryKey;

/// The boot `boot` (`None`: `kern.bootsessionuuid` could not be read) is not the one the state
/// knows, or may not be: the boot guard asks about key use before anything else.
pub(crate) fn is_new_boot(state: &State, boot: Option<&str>) -> bool {
    match boot {
        Some(uuid) => state.boot.as_ref().map(|b| b.session_uuid.as_str()) != Some(uuid),
        None => true,
    }
}

/// What the boot guard decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Guarded {
    /// The next state: the boot latched, the outbox without the effects of other boots and with
    /// what is to be done now.
    pub state: State,
    /// Effects of another (or an unknown) boot session, dropped from the outbox: this check
    /// decides again.
    pub dropped: Vec<Pending>,
    /// The ids of the outbox entries to act on now, before the replay of this boot's outbox:
    /// the audit events kept from other boots, then the guard's own (its withdrawal last).
    pub act_now: Vec<u64>,
    /// Keywarden's flag is withdrawn because the key was used, or its use is unknown, in this
    /// new boot.
    pub withdraws: bool,
}

/// The guard's decision at the start of a check, in boot session `boot` (`None`: unreadable),
/// with `key_use` the answer of `usingrecoverykey` asked by the guard (`None`: not asked, because
/// the boot is the one the state knows).
pub(crate) fn guard_boot(
    state: &State,
    now: Timestamp,
    boot: Option<&str>,
    key_use: Option<&Probe<UsingRecoveryKey>>,
) -> Guarded {
    let mut next = state.clone();
    let mut dropped = Vec::new();
    let mut act_now = Vec::new();
    // Only an effect decided in this very boot is replayed (by `check`, after the guard).
    let (this_boot, other): (Vec<Pending>, Vec<Pending>) = next
        .outbox
        .pending
        .drain(..)
        .partition(|p| boot.is_some() && p.boot.as_deref() == boot);
    let mut kept = Vec::new();
    for p in other {
        match p.effect {
            Effect::Audit(..) => {
                act_now.push(p.id);
                kept.push(p);
            }
            Effect::RunCommand => {
                next.rotation = ask_again(&next.rotation, now);
                dropped.push(p);
            }
            Effect::SetFlag | Effect::WithdrawFlag => dropped.push(p),
        }
    }
    kept.extend(this_boot);
    next.outbox.pending = kept;

    let mut effects = Vec::new();
    let mut withdraws = false;
    if is_new_boot(state, boot) {
        let answer = key_use.and_then(|a| a.as_ref().ok()).copied();
        let mut login_this_boot = false;
        if let Some(uuid) = boot {
            let before = next.key_use_for(uuid);
            let record = next.boot_mut(uuid, now);
            if let Some(a) = answer {
                record.key_use = Some(KeyUse::from(a));
                // The same event `lifecycle::note` writes when the full check latches a use; once
                // latched here, it does not write it again.
                if a == UsingRecoveryKey::Yes && before != Some(KeyUse::Used) {
                    effects.push(Effect::Audit(What::UseDetected, format!("boot {uuid}")));
                }
            }
            login_this_boot = record.console_user_seen;
        }
        let use_known = answer.map(KeyUse::from);
        if guards::in_password_reset(use_known, login_this_boot).is_some() && next.flag.is_ours() {
            withdraws = true;
            // A short phrase: the audit trail's `Result` (docs/validation.md).
            let why = match use_known {
                Some(KeyUse::Used) => "boot guard: the recovery key unlocked this boot",
                Some(KeyUse::NotUsed) | Some(KeyUse::NotSupported) | None => {
                    "boot guard: recovery-key use unknown in this boot"
                }
            };
            effects.push(Effect::Audit(What::FlagWithdrawn, why.to_owned()));
            effects.push(Effect::WithdrawFlag);
        }
    }
    let first_new = next.outbox.next_id;
    next.outbox.enqueue(effects, boot);
    act_now.extend(first_new..next.outbox.next_id);
    Guarded {
        state: next,
        dropped,
        act_now,
        withdraws,
    }
}

/// A request whose `RotationCommand` was dropped (it was decided in another boot and never run)
/// is stepped back so the rotation machine decides again in this check: a first attempt back to
/// `Pending` (the same reason, so no new `RotationPending`), a retry back to `Failed`, due now.
/// Any other state is left as it is: nothing waits on the command.
fn ask_again(rotation: &Rotation, now: Timestamp) -> Rotation {
    match rotation {
        Rotation::Requested {
            reason,
            since,
            method: crate::config::RotationMethod::Command,
            attempts: 0,
            ..
        } => Rotation::Pending {
            reason: *reason,
            since: *since,
            waiting: None,
            method: None,
        },
        Rotation::Requested {
            reason,
            since,
            method: method @ crate::config::RotationMethod::Command,
            first_at,
            attempts,
            escrow_before,
            ..
        } => Rotation::Failed {
            reason: *reason,
            since: *since,
            method: *method,
            first_at: *first_at,
            attempts: *attempts,
            last_error:
                "RotationCommand was due in an earlier boot session and did not run; asked again"
                    .to_owned(),
            retry_at: now,
            escrow_before: escrow_before.clone(),
            smart_card_failed_at: None,
        },
        Rotation::Requested { .. }
        | Rotation::Idle
        | Rotation::Pending { .. }
        | Rotation::Confirmed { .. }
        | Rotation::Failed { .. } => rotation.clone(),
    }
}

#[cfg(test)]
mod tests {
    //! One row per (what the state remembers, what the guard read) with what it must decide. The
    //! inputs are hand-written; the rotation machine's own table is in `rotation`.

    use super::*;
    use crate::config::RotationMethod;
    use crate::state::{BootRecord, EscrowMark};
    use crate::status::Reason;
    use crate::tools::{ProbeError, RunFailure};

    const BOOT: &str = "6C0B3F7A-2D41-4E5B-9A8C-1F2E3D4C5B6A";
    const EARLIER: &str = "0A1B2C3D-0000-4000-8000-EARLIERBOOT0";

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    fn now() -> Timestamp {
        t("2026-11-20T10:00:00Z")
    }
    fn before() -> Timestamp {
        t("2026-11-19T18:00:00Z")
    }

    fn timed_out() -> Probe<UsingRecoveryKey> {
        Err(ProbeError::Run {
            call: "/usr/bin/fdesetup usingrecoverykey".into(),
            kind: RunFailure::TimedOut,
            message: "no answer within 10 s; its process group was killed".into(),
        })
    }

    fn requested(method: RotationMethod, attempts: u32) -> Rotation {
        Rotation::Requested {
            reason: Reason::KeyUsed,
            since: before(),
            method,
            at: before(),
            first_at: before(),
            attempts,
            escrow_before: Some(EscrowMark {
                modified_at: t("2026-10-01T09:30:00Z"),
                sha256: "9f2c".repeat(16),
            }),
            last_error: None,
            logins_before: 1,
        }
    }

    /// The state a check of the earlier boot left when shutdown killed it after saving a
    /// request by Escrow Buddy, before the flag was written: Keywarden's flag (recorded with the
    /// outbox), the audit event and the `SetFlag` waiting.
    fn killed_before_the_flag() -> State {
        let mut s = State {
            boot: Some(BootRecord {
                session_uuid: EARLIER.into(),
                first_seen_at: before(),
                key_use: Some(KeyUse::Used),
                console_user_seen: true,
                foreign_flag_reported: false,
            }),
            rotation: requested(RotationMethod::EscrowBuddy, 0),
            ..State::default()
        };
        s.flag.set_at = Some(before());
        s.outbox.enqueue(
            vec![
                Effect::SetFlag,
                Effect::Audit(What::RotationRequested, "KeyUsed via EscrowBuddy".into()),
            ],
            Some(EARLIER),
        );
        s
    }

    /// The earlier boot's state with Keywarden's flag set and nothing pending.
    fn flag_set() -> State {
        let mut s = killed_before_the_flag();
        s.outbox.pending.clear();
        s
    }

    fn effects(g: &Guarded) -> Vec<String> {
        g.state
            .outbox
            .pending
            .iter()
            .filter(|p| g.act_now.contains(&p.id))
            .map(|p| match &p.effect {
                Effect::Audit(what, _) => format!("Audit({})", what.name()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn dropped(g: &Guarded) -> Vec<String> {
        g.dropped
            .iter()
            .map(|p| format!("{:?}", p.effect))
            .collect()
    }

    #[test]
    fn the_boot_guard_decides_as_tabled() {
        type Row = (
            &'static str,
            State,
            Option<&'static str>,
            Option<Probe<UsingRecoveryKey>>,
            &'static [&'static str],
            &'static [&'static str],
            Option<KeyUse>,
        );
        let yes = || Some(Ok(UsingRecoveryKey::Yes));
        let no = || Some(Ok(UsingRecoveryKey::No));
        let foreign = || {
            let mut s = flag_set();
            s.flag.set_at = None;
            s
        };
        let rows: Vec<Row> = vec![
            (
                "a new boot the key unlocked withdraws Keywarden's flag first, after recording the use",
                flag_set(), Some(BOOT), yes(),
                &["Audit(UseDetected)", "Audit(FlagWithdrawn)", "WithdrawFlag"], &[], Some(KeyUse::Used),
            ),
            (
                "a new boot whose key use is unknown (a timeout) withdraws Keywarden's flag and latches nothing",
                flag_set(), Some(BOOT), Some(timed_out()),
                &["Audit(FlagWithdrawn)", "WithdrawFlag"], &[], None,
            ),
            (
                "a new boot the key did not unlock keeps Keywarden's flag and latches the answer",
                flag_set(), Some(BOOT), no(),
                &[], &[], Some(KeyUse::NotUsed),
            ),
            (
                "a Mac that cannot tell key use (APFS 10.13/10.14) keeps Keywarden's flag",
                flag_set(), Some(BOOT), Some(Ok(UsingRecoveryKey::NotSupported)),
                &[], &[], Some(KeyUse::NotSupported),
            ),
            (
                "a flag Keywarden did not set is never withdrawn by the guard (the full check reports it)",
                foreign(), Some(BOOT), yes(),
                &["Audit(UseDetected)"], &[], Some(KeyUse::Used),
            ),
            (
                "the boot the state knows is not guarded again",
                flag_set(), Some(EARLIER), None,
                &[], &[], Some(KeyUse::Used),
            ),
            (
                "a boot that cannot be read is guarded as a new one",
                flag_set(), None, Some(timed_out()),
                &["Audit(FlagWithdrawn)", "WithdrawFlag"], &[], Some(KeyUse::Used),
            ),
            (
                "issue 14: a SetFlag saved by a check killed in the earlier boot is dropped, not replayed, in a boot the key unlocked",
                killed_before_the_flag(), Some(BOOT), yes(),
                &["Audit(RotationRequested)", "Audit(UseDetected)", "Audit(FlagWithdrawn)", "WithdrawFlag"], &["SetFlag"], Some(KeyUse::Used),
            ),
            (
                "a SetFlag of the earlier boot is dropped in a boot the key did not unlock too: the full check decides again",
                killed_before_the_flag(), Some(BOOT), no(),
                &["Audit(RotationRequested)"], &["SetFlag"], Some(KeyUse::NotUsed),
            ),
            (
                "a SetFlag of this boot waits for the replay that follows",
                killed_before_the_flag(), Some(EARLIER), None,
                &[], &[], Some(KeyUse::Used),
            ),
        ];
        let mut failures = Vec::new();
        for (name, state, boot, answer, want_now, want_dropped, want_latched) in rows {
            let g = guard_boot(&state, now(), boot, answer.as_ref());
            let got = (effects(&g), dropped(&g));
            let want: (Vec<String>, Vec<String>) = (
                want_now.iter().map(|s| s.to_string()).collect(),
                want_dropped.iter().map(|s| s.to_string()).collect(),
            );
            if got != want {
                failures.push(format!(
                    "{name}: acts on {:?} and drops {:?}, want {:?} and {:?}",
                    got.0, got.1, want.0, want.1
                ));
            }
            let latched = g.state.boot.as_ref().and_then(|b| b.key_use);
            if latched != want_latched {
                failures.push(format!(
                    "{name}: latched {latched:?}, want {want_latched:?}"
                ));
            }
            if g.withdraws != want_now.contains(&"WithdrawFlag") {
                failures.push(format!("{name}: withdraws = {}", g.withdraws));
            }
            if let Some(uuid) = boot {
                let stray: Vec<_> = g
                    .state
                    .outbox
                    .pending
                    .iter()
                    .filter(|p| !g.act_now.contains(&p.id) && p.boot.as_deref() != Some(uuid))
                    .collect();
                if !stray.is_empty() {
                    failures.push(format!(
                        "{name}: left for the replay from another boot: {stray:?}"
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn effects_of_no_recorded_boot_are_never_replayed_but_their_audit_events_are_written() {
        // A state file of a Keywarden older than `Pending::boot`: nothing says which boot the
        // outbox belongs to, so it is not replayed blindly, even in the boot the state knows.
        let mut s = killed_before_the_flag();
        for p in &mut s.outbox.pending {
            p.boot = None;
        }
        let g = guard_boot(&s, now(), Some(EARLIER), None);
        assert_eq!(dropped(&g), ["SetFlag"]);
        assert_eq!(effects(&g), ["Audit(RotationRequested)"]);
        assert!(!g.withdraws, "the same boot: nothing to guard");
    }

    #[test]
    fn a_new_boot_starts_a_new_record_with_nobody_seen_at_the_console() {
        let g = guard_boot(
            &flag_set(),
            now(),
            Some(BOOT),
            Some(&Ok(UsingRecoveryKey::Yes)),
        );
        let b = g.state.boot.unwrap();
        assert_eq!(b.session_uuid, BOOT);
        assert_eq!(b.first_seen_at, now());
        assert!(!b.console_user_seen);
        assert!(
            g.state.flag.is_ours(),
            "withdrawn by act, folded by after_guard"
        );
        assert!(g
            .state
            .outbox
            .pending
            .iter()
            .all(|p| p.boot.as_deref() == Some(BOOT)));
    }

    #[test]
    fn a_rotation_command_of_an_earlier_boot_is_asked_for_again() {
        for (attempts, want) in [(0, "Pending"), (2, "Failed")] {
            let mut s = flag_set();
            s.flag.set_at = None;
            s.rotation = requested(RotationMethod::Command, attempts);
            s.outbox.enqueue(vec![Effect::RunCommand], Some(EARLIER));
            let g = guard_boot(&s, now(), Some(BOOT), Some(&Ok(UsingRecoveryKey::No)));
            assert_eq!(dropped(&g), ["RunCommand"]);
            assert_eq!(format!("{:?}", g.state.rotation.name()), want);
            match &g.state.rotation {
                Rotation::Pending { reason, since, .. } => {
                    assert_eq!((*reason, *since), (Reason::KeyUsed, before()));
                }
                Rotation::Failed {
                    attempts: a,
                    retry_at,
                    first_at,
                    ..
                } => {
                    assert_eq!((*a, *retry_at, *first_at), (2, now(), before()));
                }
                other => panic!("{other:?}"),
            }
        }
        // A request by another method is not touched by a stray command.
        let mut s = flag_set();
        s.outbox.enqueue(vec![Effect::RunCommand], Some(EARLIER));
        let g = guard_boot(&s, now(), Some(BOOT), Some(&Ok(UsingRecoveryKey::No)));
        assert_eq!(g.state.rotation, s.rotation);
    }
}
