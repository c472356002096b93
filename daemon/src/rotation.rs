//! The rotation state machine (ARCHITECTURE.md, "Key lifecycle"): why a key must be replaced,
//! when it is safe to ask, how it was asked, and how the answer is confirmed.
//!
//! `Idle` → `Pending{reason, since}` → `Requested{method, at, attempts}` → `Confirmed{at}` →
//! `Idle`, plus `Failed{attempts, last_error, retry_at}`. `step` is a pure function of the
//! current state and one check's `Facts`; it returns the next state and the effects to carry out
//! (`Effect`), which `act` performs only after the new state is saved, so a kill at any moment
//! neither loses nor duplicates a request. Every match is exhaustive (no `_` arms): a new state or
//! event must be thought through everywhere. Whether a request may be made at all is
//! `guards::request_blocked` (never during the password reset after a recovery-key unlock, never
//! without the escrow payload, a report-only reason never), then `guards::report_mode` (a
//! rotation held back by Report mode keeps the method Request mode would use); whether Escrow
//! Buddy's flag can make a key is `guards::flag_wasted` and `guards::password_login_awaited`.
//! The machine's own rules are tested below: `KeyMissing` only on two checks in a row, never a
//! flag cleared that Keywarden did not set, an Escrow Buddy attempt judged only once Escrow
//! Buddy consumed the flag (issue 14, item 8). The persisted state (`state::Rotation`) is the
//! model's; this is how it moves.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::config::RotationMethod;
use crate::guards;
use crate::state::{Asked, Effect, EscrowMark, Rotation};
use crate::status::Reason;

/// How long a confirmation stays visible before the state returns to Idle.
pub const CONFIRMED_HOLD: Duration = Duration::from_secs(24 * 3600);
/// After a login that followed the flag write, how long to wait for the new escrow file before an
/// attempt counts as failed.
pub const LOGIN_GRACE: Duration = Duration::from_secs(10 * 60);

/// Backoff before attempt `attempts + 1`: 1 h, 4 h, 16 h, then daily.
pub fn backoff(attempts: u32) -> Duration {
    let hours = 4u64.saturating_pow(attempts.saturating_sub(1)).min(24);
    Duration::from_secs(hours * 3600)
}

pub(crate) fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// What Escrow Buddy looks like this check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscrowBuddyFacts {
    /// Its bundle is installed.
    pub installed: bool,
    /// Its mechanism is in `system.login.console` (`None`: could not read).
    pub mechanism_registered: Option<bool>,
    /// `GenerateNewKey` as `defaults` reads it: `Some(None)` not set, `None` could not read.
    pub flag: Option<Option<bool>>,
}

impl EscrowBuddyFacts {
    pub const ABSENT: EscrowBuddyFacts = EscrowBuddyFacts {
        installed: false,
        mechanism_registered: None,
        flag: None,
    };

    fn usable(&self) -> bool {
        self.installed && self.mechanism_registered == Some(true)
    }
}

/// Everything one step needs to know, derived from one check by `decide`.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub now: Timestamp,
    /// Reasons that hold now, most urgent first (requests before reports).
    pub reasons: Vec<Reason>,
    /// `RotationMode = Report`.
    pub report_only: bool,
    /// `RotationMethods`, in order; `Command` only when `RotationCommand` is set.
    pub methods: Vec<RotationMethod>,
    /// A new key reaches escrow and shows itself in the escrow file: the escrow payload is
    /// installed (`None`: could not tell this check).
    pub escrow_ready: Option<bool>,
    /// `EscrowOutsideMDM`: without the payload a rotation is only reported
    /// (`guards::request_blocked`).
    pub escrow_outside_mdm: bool,
    /// The escrow payload itself is installed (`None`: could not tell): Escrow Buddy needs it
    /// whatever escrows the key.
    pub payload_installed: Option<bool>,
    /// `fdesetup haspersonalrecoverykey` (`None`: could not tell).
    pub key_present: Option<bool>,
    /// The escrow file now (`Some(None)`: absent; `None`: could not tell).
    pub escrow_file: Option<Option<EscrowMark>>,
    /// The clock was found set back at this check's load (`State::clock_found_behind`): a file's
    /// date cannot be compared with a request's time, only the order of observation can.
    pub clock_found_behind: bool,
    /// The key was used in this boot and no user has logged in since: macOS will walk the user
    /// through a password reset at the next login, and a rotation then breaks it.
    pub in_password_reset: Option<guards::Reset>,
    pub escrow_buddy: EscrowBuddyFacts,
    /// Keywarden set `GenerateNewKey` (and has not seen it withdrawn).
    pub flag_set_by_us: bool,
    /// The last console login Keywarden saw, and how many it has seen in all (people only:
    /// `guards::at_console`).
    pub last_login_at: Option<Timestamp>,
    pub logins: u64,
    /// The user who logs in (`decide::Facts::login_user`), to name in what is said.
    pub login_user: Option<String>,
    /// That user is paired with a smart card.
    pub login_user_smart_card: bool,
    /// That user holds a SecureToken (`None`: not known; `decide::Facts::login_user_token`).
    pub login_user_token: Option<bool>,
    /// When an admin asked for a rotation that no new key has answered yet (`rotate --request`,
    /// a new `RotationRequestID`).
    pub admin_asked_at: Option<Timestamp>,
}

/// What became of one effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Done {
    /// `GenerateNewKey` was written and reads back true.
    FlagSet,
    /// It could not be set (why): the attempt fails (recorded in the audit trail).
    FlagNotSet(String),
    /// Keywarden's flag was removed and reads back absent or false.
    FlagWithdrawn,
    /// It could not be removed (why): still Keywarden's; the next check tries again.
    FlagNotWithdrawn(String),
    /// `RotationCommand` is due: `check` runs it once the writer lock is released (it may take
    /// long), and `decide::after_command` folds in what it came to.
    CommandDue,
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub next: Rotation,
    pub effects: Vec<Effect>,
    /// Escrow Buddy ran at a smart-card login and made no key, and the rotation waits for a
    /// password login (`RotationNeedsPasswordLogin`).
    pub needs_password_login: bool,
}

fn audit(what: crate::audit::What, result: impl Into<String>) -> Effect {
    Effect::Audit(what, result.into())
}

/// A new escrow file since `before`, made at or after `at`: a new key was staged for escrow.
/// "After" is the file's date against the request's, unless the clock was found set back at this
/// check: the request's time was then rewritten to now, and a key made between the step and this
/// check carries an earlier date though it came after (issue 16 review); a file other than the
/// one seen at the request is then newer by observation.
fn new_escrow_file(f: &Facts, before: &Option<EscrowMark>, at: Timestamp) -> Option<EscrowMark> {
    match &f.escrow_file {
        Some(Some(now))
            if Some(now) != before.as_ref()
                && (f.clock_found_behind || now.modified_at.as_second() + 1 >= at.as_second()) =>
        {
            Some(now.clone())
        }
        Some(Some(_)) | Some(None) | None => None,
    }
}

/// Why a request for `reason` may not be made (or stand) now, if it may not: the rules that hold
/// in every mode (`guards::request_blocked`), then Report mode (`guards::report_mode`), which
/// keeps the method Request mode would use, or says why Request mode would wait for one.
fn blocked(f: &Facts, reason: Reason) -> Option<(String, Option<RotationMethod>)> {
    if let Some(why) = guards::request_blocked(
        reason,
        f.escrow_ready,
        f.escrow_outside_mdm,
        f.in_password_reset,
    ) {
        return Some((why, None));
    }
    let report = guards::report_mode(f.report_only)?;
    Some(match choose(f) {
        Ok(method) => (report, Some(method)),
        Err(why) => (why, None),
    })
}

const NO_METHOD: &str = "no rotation method can be used now (see RotationMethods; Escrow Buddy needs its bundle and its login mechanism)";

/// Whether Escrow Buddy can make a key at the next login: its bundle and mechanism are there
/// (`Err(None)` if not), and the user who logs in can give it a FileVault password
/// (`guards::flag_wasted`; `Err(Some(why))` if not).
fn escrow_buddy_can_rotate(f: &Facts) -> Result<(), Option<String>> {
    if !f.escrow_buddy.usable() {
        return Err(None);
    }
    // Escrow Buddy refuses to run without the payload ("No MDM profile for enforcing FileVault
    // escrow is present", its log in macadmins/escrow-buddy#3): only with EscrowOutsideMDM can a
    // rotation be asked for without one.
    if f.payload_installed != Some(true) {
        return Err(Some(
            "Escrow Buddy makes a key only while an FDERecoveryKeyEscrow payload is installed, and none is (EscrowOutsideMDM: use MDM or Command)".to_owned(),
        ));
    }
    match guards::flag_wasted(f.login_user.as_deref(), f.login_user_token) {
        Some(why) => Err(Some(why)),
        None => Ok(()),
    }
}

/// Why Escrow Buddy, listed before `method` in `RotationMethods`, was passed over for it, if it
/// was: the status says why a rotation went another way (issue 14, item 8: "do not set the flag
/// when no user who logs in holds a SecureToken; say why").
pub(crate) fn passed_over(f: &Facts, method: RotationMethod) -> Option<String> {
    let at = |m: RotationMethod| f.methods.iter().position(|x| *x == m);
    if method == RotationMethod::EscrowBuddy || at(RotationMethod::EscrowBuddy)? > at(method)? {
        return None;
    }
    match escrow_buddy_can_rotate(f) {
        Ok(()) => None,
        Err(Some(why)) => Some(why),
        Err(None) => Some(
            "Escrow Buddy cannot run at login here: its bundle or its login mechanism is missing"
                .to_owned(),
        ),
    }
}

/// The first configured method that can be used now, or why none can (Escrow Buddy's own
/// reason, when it is the one that could not).
fn choose(f: &Facts) -> Result<RotationMethod, String> {
    let mut why = None;
    for &m in &f.methods {
        match m {
            RotationMethod::EscrowBuddy => match escrow_buddy_can_rotate(f) {
                Ok(()) => return Ok(m),
                Err(w) => why = why.or(w),
            },
            RotationMethod::Mdm | RotationMethod::Command => return Ok(m),
        }
    }
    Err(why.unwrap_or_else(|| NO_METHOD.to_owned()))
}

fn effects_for(method: RotationMethod, f: &Facts) -> Vec<Effect> {
    match method {
        RotationMethod::EscrowBuddy => {
            if f.escrow_buddy.flag == Some(Some(true)) {
                Vec::new()
            } else {
                vec![Effect::SetFlag]
            }
        }
        RotationMethod::Command => vec![Effect::RunCommand],
        RotationMethod::Mdm => Vec::new(),
    }
}

/// Withdraw Keywarden's own flag if it is set (never anyone else's), saying why.
fn withdraw_ours(f: &Facts, why: &str) -> Vec<Effect> {
    if f.flag_set_by_us && f.escrow_buddy.flag == Some(Some(true)) {
        vec![
            Effect::WithdrawFlag,
            audit(crate::audit::What::FlagWithdrawn, why),
        ]
    } else {
        Vec::new()
    }
}

/// Another attempt of the rotation `asked` failed, for `why`: tried again after its backoff
/// (or, after a smart-card login, `smart_card_failed_at`, once a password login is expected),
/// compared with the escrow file from before the first attempt.
fn failed_again(
    asked: Asked,
    why: String,
    now: Timestamp,
    escrow_before: Option<EscrowMark>,
    smart_card_failed_at: Option<Timestamp>,
) -> Rotation {
    let attempts = asked.attempts + 1;
    Rotation::Failed {
        reason: asked.reason,
        since: asked.since,
        method: asked.method,
        first_at: asked.first_at,
        attempts,
        last_error: why,
        retry_at: now + signed(backoff(attempts)),
        escrow_before,
        smart_card_failed_at,
    }
}

/// Back to Pending, saying why (and in Report mode the method Request mode would use), with
/// Keywarden's own flag taken back (after `effects`).
fn wait(
    f: &Facts,
    reason: Reason,
    since: Timestamp,
    (waiting, method): (String, Option<RotationMethod>),
    mut effects: Vec<Effect>,
) -> Step {
    effects.extend(withdraw_ours(f, &waiting));
    Step {
        next: Rotation::Pending {
            reason,
            since,
            waiting: Some(waiting),
            method,
        },
        effects,
        needs_password_login: false,
    }
}

/// A request or a failed attempt that nothing asks for any more (the key changed by other
/// means): start afresh, and take Keywarden's own flag back first.
fn stand_down(f: &Facts) -> Step {
    let mut s = start(f, None, 0, None);
    if !s.effects.contains(&Effect::WithdrawFlag) {
        s.effects
            .splice(0..0, withdraw_ours(f, "no reason to rotate any more"));
    }
    s
}

/// From Idle, Pending or an expired Confirmed: request, report, or stay idle.
fn start(
    f: &Facts,
    pending: Option<(Reason, Timestamp)>,
    attempts: u32,
    first_at: Option<Timestamp>,
) -> Step {
    let Some(&reason) = f.reasons.first() else {
        return Step {
            next: Rotation::Idle,
            effects: Vec::new(),
            needs_password_login: false,
        };
    };
    let since = match pending {
        Some((_, since)) => since,
        None => f.now,
    };
    let mut effects = Vec::new();
    if pending.map(|(r, _)| r) != Some(reason) {
        effects.push(audit(crate::audit::What::RotationPending, reason.as_str()));
    }
    if let Some(waiting) = blocked(f, reason) {
        return wait(f, reason, since, waiting, effects);
    }
    let method = match choose(f) {
        Ok(m) => m,
        Err(why) => return wait(f, reason, since, (why, None), effects),
    };
    effects.extend(effects_for(method, f));
    effects.push(audit(
        crate::audit::What::RotationRequested,
        format!("{} via {}", reason.as_str(), method.as_str()),
    ));
    Step {
        next: Rotation::Requested {
            reason,
            since,
            method,
            at: f.now,
            first_at: first_at.unwrap_or(f.now),
            attempts,
            escrow_before: f.escrow_file.clone().flatten(),
            last_error: None,
            logins_before: f.logins,
        },
        effects,
        needs_password_login: false,
    }
}

/// A new escrow file appeared for the rotation `asked`: confirmed if a key is still there.
fn confirm(f: &Facts, asked: Asked) -> Step {
    let Asked { reason, method, .. } = asked;
    let mut effects = withdraw_ours(f, "a new key was staged for escrow");
    match f.key_present {
        Some(true) => {
            effects.push(audit(
                crate::audit::What::RotationConfirmed,
                format!("{} via {}", reason.as_str(), method.as_str()),
            ));
            Step {
                next: Rotation::Confirmed { reason, at: f.now },
                effects,
                needs_password_login: false,
            }
        }
        // A key vanished while being changed (10.13 deleted the PRK on a bad credential,
        // PLATFORM.md): loud, and not confirmed.
        Some(false) | None => {
            effects.push(audit(
                crate::audit::What::KeyVanished,
                "a new escrow file appeared but the Mac reports no recovery key",
            ));
            Step {
                next: failed_again(
                    asked,
                    "the escrow file changed but the Mac has no personal recovery key any more"
                        .to_owned(),
                    f.now,
                    f.escrow_file.clone().flatten(),
                    None,
                ),
                effects,
                needs_password_login: false,
            }
        }
    }
}

/// One step of the state machine: the next state and the effects, from one check's facts.
pub fn step(current: &Rotation, f: &Facts) -> Step {
    match current {
        Rotation::Idle => start(f, None, 0, None),
        Rotation::Pending { reason, since, .. } => start(f, Some((*reason, *since)), 0, None),
        Rotation::Confirmed { at, .. } => {
            let requests = f.reasons.iter().any(|r| r.requests());
            // Held a day from the confirmation, or from now if it is dated in the future
            // (`clock::elapsed`, issue 16, item 4), never until the wrong clock's date comes.
            if crate::clock::elapsed(*at, f.now) >= signed(CONFIRMED_HOLD) || requests {
                start(f, None, 0, None)
            } else {
                Step {
                    next: current.clone(),
                    effects: Vec::new(),
                    needs_password_login: false,
                }
            }
        }
        Rotation::Requested {
            at,
            escrow_before,
            last_error,
            logins_before,
            ..
        } => requested(
            f,
            current.asked().expect("a Requested rotation was asked for"),
            *at,
            escrow_before,
            last_error,
            *logins_before,
        ),
        Rotation::Failed {
            reason,
            since,
            first_at,
            attempts,
            retry_at,
            escrow_before,
            smart_card_failed_at,
            ..
        } => {
            // A new key staged after the request (Escrow Buddy at a later login, the MDM, anyone)
            // settles it.
            if new_escrow_file(f, escrow_before, *first_at).is_some() {
                return confirm(f, current.asked().expect("a Failed rotation was asked for"));
            }
            if !f.reasons.iter().any(|r| r.requests()) {
                return stand_down(f);
            }
            // The same guards as a live request: a flag left set after a failed attempt must not
            // fire during a password reset.
            if let Some(waiting) = blocked(f, *reason) {
                return wait(f, *reason, *since, waiting, Vec::new());
            }
            let due = match smart_card_failed_at {
                // Every smart-card login would fail the same way: asked again only for a
                // password login, whenever that is expected.
                Some(at) => {
                    if guards::password_login_awaited(
                        *at,
                        f.login_user_smart_card,
                        f.admin_asked_at,
                    ) {
                        return Step {
                            next: current.clone(),
                            effects: Vec::new(),
                            needs_password_login: true,
                        };
                    }
                    true
                }
                // A retry further away than its backoff means the clock was set back since the
                // failure (issue 6): waiting for the old time would postpone the retry by as
                // much as the clock moved, so it is due now.
                None => {
                    let clock_set_back = *retry_at > f.now + signed(backoff(*attempts));
                    f.now >= *retry_at || clock_set_back
                }
            };
            if !due {
                return Step {
                    next: current.clone(),
                    effects: Vec::new(),
                    needs_password_login: false,
                };
            }
            let mut s = start(f, Some((*reason, *since)), *attempts, Some(*first_at));
            if let Rotation::Requested {
                last_error,
                escrow_before: before,
                ..
            } = &mut s.next
            {
                *last_error = Some(format!("retry after {attempts} failed attempt(s)"));
                // Keep comparing with the escrow file from before the first attempt.
                before.clone_from(escrow_before);
            }
            s
        }
    }
}

/// A request (`asked`, its attempt made `at`) on this check's facts.
fn requested(
    f: &Facts,
    asked: Asked,
    at: Timestamp,
    escrow_before: &Option<EscrowMark>,
    last_error: &Option<String>,
    logins_before: u64,
) -> Step {
    let Asked {
        reason,
        since,
        method,
        first_at,
        attempts,
    } = asked;
    if new_escrow_file(f, escrow_before, at).is_some() {
        return confirm(f, asked);
    }
    // A guard that now fails takes the request back (and Keywarden's own flag with it): the
    // password reset of a new used boot above all.
    if let Some(waiting) = blocked(f, reason) {
        return wait(f, reason, since, waiting, Vec::new());
    }
    if !f.reasons.iter().any(|r| r.requests()) {
        return stand_down(f);
    }
    let stay = |effects: Vec<Effect>| Step {
        next: Rotation::Requested {
            reason,
            since,
            method,
            at,
            first_at,
            attempts,
            escrow_before: escrow_before.clone(),
            last_error: last_error.clone(),
            logins_before,
        },
        effects,
        needs_password_login: false,
    };
    match method {
        RotationMethod::EscrowBuddy => {
            let login_after = f.last_login_at.filter(|_| f.logins > logins_before);
            let grace_over =
                login_after.is_some_and(|l| crate::clock::elapsed(l, f.now) >= signed(LOGIN_GRACE));
            let login_at = login_after.map(crate::clock::ea_format).unwrap_or_default();
            match f.escrow_buddy.flag {
                // Consumed: Escrow Buddy writes false once it has run `fdesetup changerecovery`,
                // successful or not (Invoke.swift), and past the grace period after that login no
                // new escrow file appeared: the attempt failed. At a smart-card login it was given
                // the card's PIN, which fdesetup refuses (macadmins/escrow-buddy#5): the same
                // would happen at every such login, so it waits for a password login.
                Some(Some(false)) if grace_over && f.login_user_smart_card => {
                    let who = f.login_user.as_deref().unwrap_or("the user");
                    let why = format!(
                        "Escrow Buddy ran at {who}'s smart-card login at {login_at} and made no key (fdesetup takes the password, not the card's PIN); not asked again until a password login: {who} no longer paired with a smart card, or `sudo keywarden rotate --request` and then one login with the password"
                    );
                    Step {
                        next: failed_again(
                            asked,
                            why.clone(),
                            f.now,
                            escrow_before.clone(),
                            Some(f.now),
                        ),
                        effects: vec![audit(crate::audit::What::RotationFailed, why)],
                        needs_password_login: true,
                    }
                }
                Some(Some(false)) if grace_over => {
                    let why = format!(
                        "Escrow Buddy ran at the login at {login_at} but no new escrow file appeared"
                    );
                    Step {
                        next: failed_again(asked, why.clone(), f.now, escrow_before.clone(), None),
                        effects: vec![audit(crate::audit::What::RotationFailed, why)],
                        needs_password_login: false,
                    }
                }
                // Not set: the write never happened (a kill between saving and acting) or
                // someone removed it (Escrow Buddy writes false, it never deletes): set it again
                // where it can make a key. Not an attempt.
                Some(None) if escrow_buddy_can_rotate(f).is_ok() => stay(vec![Effect::SetFlag]),
                // Still set after a login: that login did not run Escrow Buddy, or gave it no
                // password (FileVault's automatic login may run no login mechanism, unverified;
                // Invoke.swift leaves the flag when it has no password). Not an attempt: the
                // flag waits for the next login, and RotationOverdue tells if it waits too long.
                // Likewise a flag consumed within the grace period, one Escrow Buddy cannot use
                // now, or one that could not be read: wait.
                Some(Some(true)) | Some(Some(false)) | Some(None) | None => stay(Vec::new()),
            }
        }
        // The MDM acts on Rotation.State = Requested (a smart group); Keywarden waits for the
        // escrow file, and RotationOverdue tells when it has waited too long.
        RotationMethod::Mdm => stay(Vec::new()),
        // The command's outcome is recorded by `act` (`apply_command_outcome`).
        RotationMethod::Command => stay(Vec::new()),
    }
}

/// Record the outcome of `RotationCommand` (run by `act` after the state was saved).
pub fn apply_command_outcome(
    current: &Rotation,
    now: Timestamp,
    failure: Option<String>,
) -> Rotation {
    match (current, failure) {
        (Rotation::Requested { escrow_before, .. }, Some(why)) => match current.asked() {
            Some(asked) => failed_again(asked, why, now, escrow_before.clone(), None),
            None => current.clone(),
        },
        (other, _) => other.clone(),
    }
}

/// Record that an effect on Escrow Buddy's flag failed: the attempt fails with the reason.
pub fn apply_effect_failure(current: &Rotation, now: Timestamp, why: String) -> Rotation {
    apply_command_outcome(current, now, Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::RotationStateName as N;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    fn t0() -> Timestamp {
        t("2026-11-20T08:00:00Z")
    }
    fn m0() -> EscrowMark {
        EscrowMark {
            modified_at: t("2026-01-01T00:00:00Z"),
            sha256: "old".into(),
        }
    }
    fn m1(now: Timestamp) -> EscrowMark {
        EscrowMark {
            modified_at: now,
            sha256: "new".into(),
        }
    }

    /// A healthy Mac two hours after `t0`, nothing to do.
    fn base() -> Facts {
        Facts {
            now: t0() + SignedDuration::from_hours(2),
            reasons: vec![],
            report_only: false,
            methods: vec![RotationMethod::EscrowBuddy, RotationMethod::Mdm],
            escrow_ready: Some(true),
            escrow_outside_mdm: false,
            payload_installed: Some(true),
            key_present: Some(true),
            escrow_file: Some(Some(m0())),
            clock_found_behind: false,
            in_password_reset: None,
            escrow_buddy: EscrowBuddyFacts {
                installed: true,
                mechanism_registered: Some(true),
                flag: Some(None),
            },
            flag_set_by_us: false,
            last_login_at: None,
            logins: 0,
            login_user: Some("alice".into()),
            login_user_smart_card: false,
            login_user_token: Some(true),
            admin_asked_at: None,
        }
    }

    fn requested(method: RotationMethod) -> Rotation {
        Rotation::Requested {
            reason: Reason::KeyUsed,
            since: t0(),
            method,
            at: t0(),
            first_at: t0(),
            attempts: 0,
            escrow_before: Some(m0()),
            last_error: None,
            logins_before: 0,
        }
    }

    fn failed(retry_at: Timestamp) -> Rotation {
        Rotation::Failed {
            reason: Reason::KeyUsed,
            since: t0(),
            method: RotationMethod::EscrowBuddy,
            first_at: t0(),
            attempts: 1,
            last_error: "Escrow Buddy ran at the login but no new escrow file appeared".into(),
            retry_at,
            escrow_before: Some(m0()),
            smart_card_failed_at: None,
        }
    }

    /// Escrow Buddy ran at a smart-card login half an hour ago and made no key: the retry
    /// waits for a password login (its backoff would end in an hour).
    fn failed_at_smart_card_login() -> Rotation {
        let now = base().now;
        let mut r = failed(now + SignedDuration::from_hours(1));
        if let Rotation::Failed {
            smart_card_failed_at,
            ..
        } = &mut r
        {
            *smart_card_failed_at = Some(now - SignedDuration::from_mins(30));
        }
        r
    }

    /// Every state of the machine, named.
    fn states() -> Vec<(&'static str, Rotation)> {
        let now = base().now;
        vec![
            ("Idle", Rotation::Idle),
            (
                "Pending(KeyUsed)",
                Rotation::Pending {
                    reason: Reason::KeyUsed,
                    since: t0(),
                    waiting: Some("password reset".into()),
                    method: None,
                },
            ),
            (
                "Requested(EscrowBuddy)",
                requested(RotationMethod::EscrowBuddy),
            ),
            ("Requested(MDM)", requested(RotationMethod::Mdm)),
            ("Requested(Command)", requested(RotationMethod::Command)),
            (
                "Confirmed(1h ago)",
                Rotation::Confirmed {
                    reason: Reason::KeyUsed,
                    at: now - SignedDuration::from_hours(1),
                },
            ),
            (
                "Confirmed(25h ago)",
                Rotation::Confirmed {
                    reason: Reason::KeyUsed,
                    at: now - SignedDuration::from_hours(25),
                },
            ),
            (
                "Failed(retry later)",
                failed(now + SignedDuration::from_hours(1)),
            ),
            (
                "Failed(retry due)",
                failed(now - SignedDuration::from_mins(1)),
            ),
            (
                "Failed(after a smart-card login)",
                failed_at_smart_card_login(),
            ),
        ]
    }

    /// The healthy facts with `change` made.
    fn with(change: impl FnOnce(&mut Facts)) -> Facts {
        let mut f = base();
        change(&mut f);
        f
    }

    /// The key was used: the one request reason most events carry.
    fn key_used(f: &mut Facts) {
        f.reasons = vec![Reason::KeyUsed];
    }

    /// Escrow Buddy's flag reads `flag`; `ours` when Keywarden set it.
    fn flag(f: &mut Facts, flag: Option<Option<bool>>, ours: bool) {
        f.escrow_buddy.flag = flag;
        f.flag_set_by_us = ours;
    }

    /// A login an hour after the request.
    fn logged_in(f: &mut Facts) {
        f.last_login_at = Some(t0() + SignedDuration::from_hours(1));
        f.logins = 1;
    }

    /// Every event, as the facts of one check.
    fn events() -> Vec<(&'static str, Facts)> {
        let now = base().now;
        vec![
            ("nothing to do", base()),
            ("key used, user logged in", with(key_used)),
            (
                "key used, password reset pending, our flag set",
                with(|f| {
                    key_used(f);
                    f.in_password_reset = Some(guards::Reset::KeyUsed);
                    flag(f, Some(Some(true)), true);
                }),
            ),
            (
                "key missing (report only)",
                with(|f| f.reasons = vec![Reason::KeyMissing]),
            ),
            (
                "key used, report mode",
                with(|f| {
                    key_used(f);
                    f.report_only = true;
                }),
            ),
            (
                "not escrowed, payload removed, our flag set",
                with(|f| {
                    f.reasons = vec![Reason::NotEscrowed];
                    f.escrow_ready = Some(false);
                    flag(f, Some(Some(true)), true);
                }),
            ),
            (
                "new escrow file, key present",
                with(|f| f.escrow_file = Some(Some(m1(now)))),
            ),
            (
                "new escrow file, key gone",
                with(|f| {
                    f.reasons = vec![Reason::KeyMissing];
                    f.key_present = Some(false);
                    f.escrow_file = Some(Some(m1(now)));
                }),
            ),
            (
                "Escrow Buddy ran at login, no new file",
                with(|f| {
                    key_used(f);
                    logged_in(f);
                    flag(f, Some(Some(false)), false);
                }),
            ),
            (
                "issue 14: a login left the flag set (FileVault's automatic login)",
                with(|f| {
                    key_used(f);
                    logged_in(f);
                    flag(f, Some(Some(true)), true);
                }),
            ),
            (
                "issue 14: a smart-card login left the flag set",
                with(|f| {
                    key_used(f);
                    logged_in(f);
                    f.login_user_smart_card = true;
                    flag(f, Some(Some(true)), true);
                }),
            ),
            ("flag lost before any login", with(key_used)),
            (
                "no usable method",
                with(|f| {
                    key_used(f);
                    f.methods = vec![RotationMethod::EscrowBuddy];
                    f.escrow_buddy.mechanism_registered = Some(false);
                }),
            ),
            (
                "flag unreadable",
                with(|f| {
                    key_used(f);
                    flag(f, None, false);
                }),
            ),
            (
                "key used, Command method",
                with(|f| {
                    key_used(f);
                    f.methods = vec![RotationMethod::Command];
                }),
            ),
            (
                "issue 14: Escrow Buddy ran at a smart-card login, no new file",
                with(|f| {
                    key_used(f);
                    logged_in(f);
                    f.login_user_smart_card = true;
                    flag(f, Some(Some(false)), false);
                }),
            ),
            (
                "issue 14: flag removed by someone after a login",
                with(|f| {
                    key_used(f);
                    logged_in(f);
                    flag(f, Some(None), false);
                }),
            ),
            (
                "issue 14: key used, the user who logs in holds no SecureToken",
                with(|f| {
                    key_used(f);
                    no_token(f);
                }),
            ),
            (
                "issue 14: key used, no SecureToken, Escrow Buddy the only method",
                with(|f| {
                    key_used(f);
                    no_token(f);
                    f.methods = vec![RotationMethod::EscrowBuddy];
                }),
            ),
            (
                "issue 14: an admin asked again after a smart-card login",
                with(|f| {
                    f.reasons = vec![Reason::KeyUsed, Reason::AdminRequest];
                    logged_in(f);
                    f.login_user_smart_card = true;
                    f.admin_asked_at = Some(f.now);
                    flag(f, Some(Some(false)), false);
                }),
            ),
        ]
    }

    /// bob logs in, and holds no SecureToken.
    fn no_token(f: &mut Facts) {
        f.login_user = Some("bob".into());
        f.login_user_token = Some(false);
    }

    /// The report a step makes besides its effects, as a label.
    const NPL: &str = "NeedsPasswordLogin";

    /// A step's effects as labels, then `NPL` when it reports RotationNeedsPasswordLogin.
    fn labels(s: &Step) -> Vec<String> {
        let mut out: Vec<String> = s.effects.iter().map(label).collect();
        if s.needs_password_login {
            out.push(NPL.to_owned());
        }
        out
    }

    fn label(e: &Effect) -> String {
        match e {
            Effect::SetFlag => "SetFlag".into(),
            Effect::WithdrawFlag => "WithdrawFlag".into(),
            Effect::RunCommand => "RunCommand".into(),
            Effect::Audit(w, _) => format!("{w:?}"),
        }
    }

    use crate::audit::What;
    const P: &str = "RotationPending";
    const RQ: &str = "RotationRequested";
    const CF: &str = "RotationConfirmed";
    const FL: &str = "RotationFailed";
    const KV: &str = "KeyVanished";
    const FW: &str = "FlagWithdrawn";
    const SET: &str = "SetFlag";
    const WD: &str = "WithdrawFlag";
    const CMD: &str = "RunCommand";

    /// The expected outcome of every (state, event) pair: next state and effects, in order.
    #[rustfmt::skip]
    fn expected() -> Vec<Vec<(N, &'static [&'static str])>> {
        use N::*;
        // Columns: the events above, in order; five to a line. Issue 14 (item 8) changed two
        // cells of Requested(EscrowBuddy): a login that left the flag set is no failed attempt
        // ("a login left the flag set" was Failed [FL]), and a smart-card login that left it set
        // is no longer reported ("a smart-card login left the flag set" reported
        // RotationNeedsPasswordLogin); the last five columns and the last row are new.
        let idle: Vec<(N, &[&str])> = vec![
            (Idle, &[]), (Requested, &[P, SET, RQ]), (Pending, &[P, WD, FW]), (Pending, &[P]), (Pending, &[P]),
            (Pending, &[P, WD, FW]), (Idle, &[]), (Pending, &[P]), (Requested, &[P, SET, RQ]), (Requested, &[P, RQ]),
            (Requested, &[P, RQ]), (Requested, &[P, SET, RQ]), (Pending, &[P]), (Requested, &[P, SET, RQ]), (Requested, &[P, CMD, RQ]),
            (Requested, &[P, SET, RQ]), (Requested, &[P, SET, RQ]), (Requested, &[P, RQ]), (Pending, &[P]), (Requested, &[P, SET, RQ]),
        ];
        let pending: Vec<(N, &[&str])> = vec![
            (Idle, &[]), (Requested, &[SET, RQ]), (Pending, &[WD, FW]), (Pending, &[P]), (Pending, &[]),
            (Pending, &[P, WD, FW]), (Idle, &[]), (Pending, &[P]), (Requested, &[SET, RQ]), (Requested, &[RQ]),
            (Requested, &[RQ]), (Requested, &[SET, RQ]), (Pending, &[]), (Requested, &[SET, RQ]), (Requested, &[CMD, RQ]),
            (Requested, &[SET, RQ]), (Requested, &[SET, RQ]), (Requested, &[RQ]), (Pending, &[]), (Requested, &[SET, RQ]),
        ];
        let req_eb: Vec<(N, &[&str])> = vec![
            (Idle, &[]), (Requested, &[SET]), (Pending, &[WD, FW]), (Pending, &[P]), (Pending, &[]),
            (Pending, &[WD, FW]), (Confirmed, &[CF]), (Failed, &[KV]), (Failed, &[FL]), (Requested, &[]),
            (Requested, &[]), (Requested, &[SET]), (Requested, &[]), (Requested, &[]), (Requested, &[SET]),
            (Failed, &[FL, NPL]), (Requested, &[SET]), (Requested, &[]), (Requested, &[]), (Failed, &[FL, NPL]),
        ];
        let req_other: Vec<(N, &[&str])> = vec![
            (Idle, &[]), (Requested, &[]), (Pending, &[WD, FW]), (Pending, &[P]), (Pending, &[]),
            (Pending, &[WD, FW]), (Confirmed, &[CF]), (Failed, &[KV]), (Requested, &[]), (Requested, &[]),
            (Requested, &[]), (Requested, &[]), (Requested, &[]), (Requested, &[]), (Requested, &[]),
            (Requested, &[]), (Requested, &[]), (Requested, &[]), (Requested, &[]), (Requested, &[]),
        ];
        let confirmed_recent: Vec<(N, &[&str])> = vec![
            (Confirmed, &[]), (Requested, &[P, SET, RQ]), (Pending, &[P, WD, FW]), (Confirmed, &[]), (Pending, &[P]),
            (Pending, &[P, WD, FW]), (Confirmed, &[]), (Confirmed, &[]), (Requested, &[P, SET, RQ]), (Requested, &[P, RQ]),
            (Requested, &[P, RQ]), (Requested, &[P, SET, RQ]), (Pending, &[P]), (Requested, &[P, SET, RQ]), (Requested, &[P, CMD, RQ]),
            (Requested, &[P, SET, RQ]), (Requested, &[P, SET, RQ]), (Requested, &[P, RQ]), (Pending, &[P]), (Requested, &[P, SET, RQ]),
        ];
        let failed_later: Vec<(N, &[&str])> = vec![
            (Idle, &[]), (Failed, &[]), (Pending, &[WD, FW]), (Pending, &[P]), (Pending, &[]),
            (Pending, &[WD, FW]), (Confirmed, &[CF]), (Failed, &[KV]), (Failed, &[]), (Failed, &[]),
            (Failed, &[]), (Failed, &[]), (Failed, &[]), (Failed, &[]), (Failed, &[]),
            (Failed, &[]), (Failed, &[]), (Failed, &[]), (Failed, &[]), (Failed, &[]),
        ];
        let failed_due: Vec<(N, &[&str])> = vec![
            (Idle, &[]), (Requested, &[SET, RQ]), (Pending, &[WD, FW]), (Pending, &[P]), (Pending, &[]),
            (Pending, &[WD, FW]), (Confirmed, &[CF]), (Failed, &[KV]), (Requested, &[SET, RQ]), (Requested, &[RQ]),
            (Requested, &[RQ]), (Requested, &[SET, RQ]), (Pending, &[]), (Requested, &[SET, RQ]), (Requested, &[CMD, RQ]),
            (Requested, &[SET, RQ]), (Requested, &[SET, RQ]), (Requested, &[RQ]), (Pending, &[]), (Requested, &[SET, RQ]),
        ];
        // A password login is awaited only while the user who logs in uses a smart card and no
        // admin asked since; otherwise the retry is due at once, whatever its backoff said.
        let failed_smart_card: Vec<(N, &[&str])> = vec![
            (Idle, &[]), (Requested, &[SET, RQ]), (Pending, &[WD, FW]), (Pending, &[P]), (Pending, &[]),
            (Pending, &[WD, FW]), (Confirmed, &[CF]), (Failed, &[KV]), (Requested, &[SET, RQ]), (Requested, &[RQ]),
            (Failed, &[NPL]), (Requested, &[SET, RQ]), (Pending, &[]), (Requested, &[SET, RQ]), (Requested, &[CMD, RQ]),
            (Failed, &[NPL]), (Requested, &[SET, RQ]), (Requested, &[RQ]), (Pending, &[]), (Requested, &[SET, RQ]),
        ];
        vec![idle.clone(), pending, req_eb, req_other.clone(), req_other, confirmed_recent, idle, failed_later, failed_due, failed_smart_card]
    }

    #[test]
    fn every_state_and_event_pair_gives_the_tabled_next_state_and_effects() {
        let mut failures = Vec::new();
        let table = expected();
        let states = states();
        let events = events();
        assert_eq!(table.len(), states.len());
        for ((sname, state), row) in states.iter().zip(&table) {
            assert_eq!(row.len(), events.len(), "row {sname}");
            for ((ename, facts), (want_state, want_effects)) in events.iter().zip(row) {
                let got = step(state, facts);
                let effects = labels(&got);
                if got.next.name() != *want_state || effects != *want_effects {
                    failures.push(format!(
                        "{sname} + {ename}: got {:?} {effects:?}, want {want_state:?} {want_effects:?}",
                        got.next.name()
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} pairs differ:\n{}",
            failures.len(),
            table.len() * events.len(),
            failures.join("\n")
        );
    }

    /// The facts of the event named `name`.
    fn event(name: &str) -> Facts {
        events()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no event {name:?}"))
            .1
    }

    #[test]
    fn issue_14_a_smart_card_login_that_consumed_the_flag_is_reported_and_waits_for_a_password_login(
    ) {
        let e = event("issue 14: Escrow Buddy ran at a smart-card login, no new file");
        let s = step(&requested(RotationMethod::EscrowBuddy), &e);
        assert!(s.needs_password_login);
        let Rotation::Failed {
            attempts,
            last_error,
            smart_card_failed_at,
            ..
        } = &s.next
        else {
            panic!("{:?}", s.next)
        };
        assert_eq!(
            *attempts, 1,
            "Escrow Buddy tried, and fdesetup refused the PIN"
        );
        assert_eq!(*smart_card_failed_at, Some(e.now));
        assert!(
            last_error.contains("smart-card login") && last_error.contains("password login"),
            "{last_error}"
        );
        // Days later, past any backoff: still no retry while the user uses a smart card.
        let mut later = e.clone();
        later.now = e.now + SignedDuration::from_hours(72);
        let waiting = step(&s.next, &later);
        assert_eq!(waiting.next, s.next);
        assert!(waiting.effects.is_empty() && waiting.needs_password_login);
        // The pairing removed: the next login is a password login, and the flag is set again.
        later.login_user_smart_card = false;
        let retried = step(&s.next, &later);
        assert_eq!(retried.next.name(), N::Requested);
        assert!(retried.effects.contains(&Effect::SetFlag));
        assert!(!retried.needs_password_login);
    }

    #[test]
    fn issue_14_a_login_that_left_the_flag_set_is_no_attempt_however_long_ago() {
        for name in [
            "issue 14: a login left the flag set (FileVault's automatic login)",
            "issue 14: a smart-card login left the flag set",
        ] {
            let mut e = event(name);
            e.now += SignedDuration::from_hours(72);
            let before = requested(RotationMethod::EscrowBuddy);
            let s = step(&before, &e);
            assert_eq!(s.next, before, "{name}");
            assert!(s.effects.is_empty() && !s.needs_password_login, "{name}");
        }
    }

    #[test]
    fn issue_14_report_mode_keeps_the_method_request_mode_would_use() {
        let report = |change: fn(&mut Facts)| {
            let mut f = event("key used, report mode");
            change(&mut f);
            match step(&Rotation::Idle, &f).next {
                Rotation::Pending {
                    waiting, method, ..
                } => (waiting.unwrap_or_default(), method),
                other => panic!("{other:?}"),
            }
        };
        let mode = "RotationMode is Report: reporting only".to_owned();
        assert_eq!(
            report(|_| {}),
            (mode.clone(), Some(RotationMethod::EscrowBuddy))
        );
        assert_eq!(
            report(|f| f.escrow_buddy.mechanism_registered = Some(false)),
            (mode.clone(), Some(RotationMethod::Mdm)),
            "the next method, as Request mode would"
        );
        assert_eq!(
            report(no_token),
            (mode, Some(RotationMethod::Mdm)),
            "Escrow Buddy cannot make a key for bob"
        );
        // Where Request mode would wait too, the status says why and names no method.
        let (why, method) = report(|f| f.in_password_reset = Some(guards::Reset::KeyUsed));
        assert!(why.contains("reset their password"), "{why}");
        assert_eq!(method, None);
        let (why, method) = report(|f| {
            f.methods = vec![RotationMethod::EscrowBuddy];
            f.escrow_buddy.mechanism_registered = Some(false);
        });
        assert_eq!((why, method), (NO_METHOD.to_owned(), None));
        // A request made before Report mode was switched on goes back to Pending the same way.
        let f = event("key used, report mode");
        let s = step(&requested(RotationMethod::EscrowBuddy), &f);
        assert!(matches!(
            s.next,
            Rotation::Pending {
                method: Some(RotationMethod::EscrowBuddy),
                ..
            }
        ));
    }

    #[test]
    fn issue_14_escrow_buddy_is_skipped_for_a_user_without_a_secure_token_saying_why() {
        let s = step(
            &Rotation::Idle,
            &event("issue 14: key used, no SecureToken, Escrow Buddy the only method"),
        );
        assert!(!s.effects.contains(&Effect::SetFlag));
        match s.next {
            Rotation::Pending { waiting, .. } => assert_eq!(
                waiting.as_deref(),
                guards::flag_wasted(Some("bob"), Some(false)).as_deref()
            ),
            other => panic!("{other:?}"),
        }
        let s = step(
            &Rotation::Idle,
            &event("issue 14: key used, the user who logs in holds no SecureToken"),
        );
        assert!(matches!(
            s.next,
            Rotation::Requested {
                method: RotationMethod::Mdm,
                ..
            }
        ));
    }

    #[test]
    fn a_failed_attempt_is_retried_with_growing_backoff() {
        assert_eq!(backoff(1), Duration::from_secs(3600));
        assert_eq!(backoff(2), Duration::from_secs(4 * 3600));
        assert_eq!(backoff(3), Duration::from_secs(16 * 3600));
        assert_eq!(backoff(4), Duration::from_secs(24 * 3600));
        assert_eq!(backoff(40), Duration::from_secs(24 * 3600));
        let e = events()
            .into_iter()
            .find(|(n, _)| *n == "Escrow Buddy ran at login, no new file")
            .unwrap()
            .1;
        let s = step(&requested(RotationMethod::EscrowBuddy), &e);
        match s.next {
            Rotation::Failed {
                attempts,
                retry_at,
                first_at,
                ..
            } => {
                assert_eq!(attempts, 1);
                assert_eq!(retry_at, e.now + SignedDuration::from_hours(1));
                assert_eq!(first_at, t0(), "overdue counts from the first attempt");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Issue 6, time: a clock set back by two days after a failed attempt would make the
    /// retry wait two more days; a retry further away than its backoff is due now.
    #[test]
    fn a_clock_set_back_after_a_failed_attempt_does_not_postpone_the_retry() {
        let mut f = base();
        f.reasons = vec![Reason::KeyUsed];
        let waiting = step(&failed(f.now + SignedDuration::from_mins(30)), &f);
        assert_eq!(waiting.next.name(), N::Failed, "within its backoff: waits");
        assert!(waiting.effects.is_empty());
        let set_back = step(&failed(f.now + SignedDuration::from_hours(49)), &f);
        assert_eq!(set_back.next.name(), N::Requested, "{:?}", set_back.next);
    }

    #[test]
    fn escrow_buddy_is_not_judged_before_the_grace_period_after_a_login() {
        let mut e = events()
            .into_iter()
            .find(|(n, _)| *n == "Escrow Buddy ran at login, no new file")
            .unwrap()
            .1;
        e.last_login_at = Some(e.now - SignedDuration::from_mins(5));
        let s = step(&requested(RotationMethod::EscrowBuddy), &e);
        assert_eq!(s.next.name(), N::Requested);
        assert!(s.effects.is_empty());
    }

    /// Issue 16 review: a file dated before the request does not answer it, unless the clock was
    /// found set back at this check (the request's time was rewritten to now, and the file came
    /// after it by observation).
    #[test]
    fn a_file_dated_before_the_request_confirms_it_only_when_the_clock_was_found_behind_issue_16() {
        let earlier = EscrowMark {
            modified_at: t0() - SignedDuration::from_secs(60),
            sha256: "new".into(),
        };
        for (behind, want) in [(false, "Requested"), (true, "Confirmed")] {
            let f = with(|f| {
                key_used(f);
                f.escrow_file = Some(Some(earlier.clone()));
                f.clock_found_behind = behind;
            });
            let next = step(&requested(RotationMethod::EscrowBuddy), &f).next;
            assert_eq!(
                format!("{:?}", next.name()),
                want,
                "clock found behind: {behind}"
            );
        }
    }

    #[test]
    fn a_request_records_the_escrow_file_to_compare_with() {
        let e = events()
            .into_iter()
            .find(|(n, _)| *n == "key used, user logged in")
            .unwrap()
            .1;
        match step(&Rotation::Idle, &e).next {
            Rotation::Requested {
                escrow_before,
                method,
                ..
            } => {
                assert_eq!(escrow_before, Some(m0()));
                assert_eq!(method, RotationMethod::EscrowBuddy);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_first_usable_method_in_order_is_chosen() {
        let mut e = events()
            .into_iter()
            .find(|(n, _)| *n == "key used, user logged in")
            .unwrap()
            .1;
        e.methods = vec![RotationMethod::Mdm, RotationMethod::EscrowBuddy];
        assert!(matches!(
            step(&Rotation::Idle, &e).next,
            Rotation::Requested {
                method: RotationMethod::Mdm,
                ..
            }
        ));
        e.methods = vec![RotationMethod::EscrowBuddy, RotationMethod::Mdm];
        e.escrow_buddy.installed = false;
        assert!(matches!(
            step(&Rotation::Idle, &e).next,
            Rotation::Requested {
                method: RotationMethod::Mdm,
                ..
            }
        ));
    }

    #[test]
    fn a_flag_set_by_someone_else_is_never_withdrawn() {
        let mut e = events()
            .into_iter()
            .find(|(n, _)| *n == "key used, password reset pending, our flag set")
            .unwrap()
            .1;
        e.flag_set_by_us = false;
        for (name, state) in states() {
            let s = step(&state, &e);
            assert!(!s.effects.contains(&Effect::WithdrawFlag), "{name}");
            assert!(
                !s.effects.contains(&Effect::SetFlag),
                "{name}: never set during the reset"
            );
        }
    }

    #[test]
    fn nothing_is_ever_requested_during_a_password_reset_or_without_the_payload() {
        for (ename, mut e) in events() {
            for (sname, state) in states() {
                e.in_password_reset = Some(guards::Reset::KeyUsed);
                let s = step(&state, &e);
                let bad = s
                    .effects
                    .iter()
                    .any(|x| matches!(x, Effect::SetFlag | Effect::RunCommand));
                assert!(!bad, "{sname} + {ename} during a reset: {:?}", s.effects);
                assert_ne!(
                    s.next.name(),
                    N::Requested,
                    "{sname} + {ename} during a reset"
                );
                e.in_password_reset = None;
                e.escrow_ready = Some(false);
                let s = step(&state, &e);
                let bad = s
                    .effects
                    .iter()
                    .any(|x| matches!(x, Effect::SetFlag | Effect::RunCommand));
                assert!(!bad, "{sname} + {ename} without payload: {:?}", s.effects);
                e.escrow_ready = Some(true);
            }
        }
    }

    #[test]
    fn report_only_reasons_never_request() {
        for reason in [Reason::KeyMissing, Reason::ValidationFailed] {
            let e = Facts {
                reasons: vec![reason],
                ..base()
            };
            for (name, state) in states() {
                let s = step(&state, &e);
                assert!(
                    !s.effects
                        .iter()
                        .any(|x| matches!(x, Effect::SetFlag | Effect::RunCommand)),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn command_failures_are_recorded_as_failed_attempts() {
        let r = apply_command_outcome(
            &requested(RotationMethod::Command),
            base().now,
            Some("exit 3: boom".into()),
        );
        match r {
            Rotation::Failed {
                attempts,
                last_error,
                ..
            } => {
                assert_eq!(attempts, 1);
                assert_eq!(last_error, "exit 3: boom");
            }
            other => panic!("{other:?}"),
        }
        let ok = apply_command_outcome(&requested(RotationMethod::Command), base().now, None);
        assert_eq!(ok, requested(RotationMethod::Command));
        let _ = What::Carried;
    }

    #[test]
    fn the_rotation_state_round_trips_through_the_state_file_format() {
        for (name, state) in states() {
            let mut xml = Vec::new();
            plist::to_writer_xml(&mut xml, &state).unwrap();
            let back: Rotation = plist::from_bytes(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(back, state, "{name}");
        }
    }
}
