//! The key lifecycle of one check (ARCHITECTURE.md, "Key lifecycle"), in two steps around the
//! facts: `note` records what this observation tells about the key's history, the boot and the
//! logins (and audits a new use or a key changed behind Keywarden's back); `step` works out the
//! reasons to rotate and steps the rotation state machine (`rotation::step`).
//!
//! Pure: the state is changed in place, effects are returned for the outbox.

use jiff::Timestamp;

use crate::audit::What;
use crate::clock::{elapsed, seen_at};
use crate::config::{Config, RotationMethod, RotationMode};
use crate::guards;
use crate::observe::Snapshot;
use crate::rotation;
use crate::state::{Effect, KeyUse, Rotation, State};
use crate::status::{EscrowState, Reason, ValidationResult};
use crate::tools::diskutil::CryptoUserKind;
use crate::tools::fdesetup::UsingRecoveryKey;

use super::escrow;
use super::facts;

/// Record this observation in the state: the per-boot latch, the key's use and history, the
/// console user and logins, the key-missing streak, an admin's request, and Escrow Buddy having
/// consumed Keywarden's flag. Returns the audit effects for a newly detected use and for a key
/// that changed without a request; a console uid without a local record goes to `errors`.
pub(crate) fn note(
    state: &mut State,
    snap: &Snapshot,
    config: &Config,
    now: Timestamp,
    errors: &mut Vec<String>,
) -> Vec<Effect> {
    let mut effects = Vec::new();

    // The per-boot latch. A `true` is new when this boot had no latched use yet.
    if let Ok(uuid) = &snap.boot_session {
        let before = state.key_use_for(uuid);
        let boot = state.boot_mut(uuid, now);
        if let Some(Ok(answer)) = &snap.using_recovery_key {
            boot.key_use = Some(KeyUse::from(*answer));
            if *answer == UsingRecoveryKey::Yes && before != Some(KeyUse::Used) {
                effects.push(Effect::Audit(What::UseDetected, format!("boot {uuid}")));
            }
        }
    }
    // A use is kept forever as the time it was first seen in its boot; the OS forgets at reboot.
    if snap.key_use(state) == Some(KeyUse::Used) {
        let boot_start = state.boot.as_ref().map(|b| b.first_seen_at);
        let seen_this_boot =
            matches!((state.keys.last_used_at, boot_start), (Some(t), Some(b)) if t >= b);
        if !seen_this_boot {
            state.keys.last_used_at = Some(now);
        }
    }
    if let Some(Ok(info)) = &snap.deferral {
        if let Some(p) = &info.output_path {
            state.keys.deferral_output_path = Some(p.clone());
        }
    }

    // The console user, and a login: a user at the console who was not there at the last check.
    let console = facts::console_user_name(snap, errors);
    // A person no local record names (a network account) logged in all the same (issue 16,
    // item 5): the login counts, the name is never guessed.
    let someone = facts::someone_at_console(snap);
    if let Some(name) = &console {
        state.logins.last_console_user = Some(name.clone());
    }
    if console.is_some() || someone.is_some() {
        if let Some(b) = state.boot.as_mut() {
            b.console_user_seen = true;
        }
    }
    if snap.console.is_ok() && snap.users.is_ok() {
        if (console.is_some() && console != state.logins.console_now)
            || (someone.is_some() && someone != state.logins.console_uid_now)
        {
            state.logins.login(now);
        }
        state.logins.console_now = console;
        state.logins.console_uid_now = someone;
    }

    // The escrow file: a different escrow blob means a new key was staged for escrow (anything
    // else at that path is no evidence of a key: `facts::key_mark`).
    if let Some(mark) = snap
        .escrow_file
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .and_then(facts::key_mark)
    {
        match &state.keys.escrow_seen {
            None => {
                // First sight: the file's time is the key's birth as far as Keywarden knows.
                // A file dated in the future (written before the clock was set back) made the
                // key now, not then (issue 16, item 4: `clock::seen_at`).
                if state.keys.last_changed_at.is_none() {
                    state.keys.last_changed_at = Some(seen_at(mark.modified_at, now));
                }
            }
            Some(old) if *old != mark => {
                // Seen changed now. With the clock found behind at this load, the file's date
                // (the new clock's) cannot be ordered against the times just rewritten to now:
                // the change is dated by its observation, which followed every one of them (issue
                // 16 review: a key made between the step and this check stayed "used").
                state.keys.last_changed_at = Some(if state.clock_found_behind {
                    now
                } else {
                    seen_at(mark.modified_at.max(old.modified_at), now)
                });
                let ours = matches!(
                    state.rotation,
                    Rotation::Requested { .. } | Rotation::Failed { .. }
                );
                if !ours {
                    effects.push(Effect::Audit(
                        What::KeyChanged,
                        "a new key was staged for escrow without a request from Keywarden (another tool, the MDM, or macOS)".to_owned(),
                    ));
                }
            }
            Some(_) => {}
        }
        state.keys.escrow_seen = Some(mark);
    }
    // The escrow payload's certificate, remembered so a file encrypted to it can still be judged
    // after the certificate is re-issued (`escrow::judge`).
    state.keys.escrow_certificates =
        escrow::remember(snap.profiles.as_ref().ok(), &state.keys.escrow_certificates);
    if snap.profiles.as_ref().ok().and_then(guards::escrow_payload) == Some(false) {
        state.keys.escrow_payload_absent_at = Some(now);
    }

    // KeyMissing needs two checks in a row: FileVault on and no PRK crypto user.
    let ready = snap.filevault.as_ref().ok().map(guards::filevault_ready);
    match (&snap.crypto_users, ready) {
        (Ok(users), Some(true)) => {
            if users
                .iter()
                .any(|u| u.kind == CryptoUserKind::PersonalRecovery)
            {
                state.keys.missing_streak = 0;
            } else {
                state.keys.missing_streak = state.keys.missing_streak.saturating_add(1);
            }
        }
        (Ok(_), Some(false)) => state.keys.missing_streak = 0,
        (Ok(_), None) | (Err(_), _) => {}
    }

    // An admin's request: `rotate --request`, or a new RotationRequestID; answered by a key made
    // at or after it (escrow file times are whole seconds: a key made in the second of the
    // request was made in answer to it).
    if let Some(id) = &config.rotation_request_id {
        if state.requests.last_request_id.as_ref() != Some(id) {
            state.requests.last_request_id = Some(id.clone());
            state.requests.pending_since = Some(now);
            // The trail outlives the state file (`state::Requests::recall`).
            effects.push(Effect::Audit(
                What::RotationRequestAccepted,
                crate::audit::request_token(id),
            ));
        }
    }
    if state
        .requests
        .pending_since
        .is_some_and(|t| changed_at_or_after(state, t))
    {
        state.requests.pending_since = None;
    }

    // Keywarden's flag, consumed by Escrow Buddy (false) or removed by someone, is no longer
    // Keywarden's. Escrow Buddy sets it false only after running at a login (Invoke.swift), so a
    // consumed flag is also evidence of a login the console poll may have missed (a logout and
    // login between two checks).
    if let Ok(Some(eb)) = &snap.escrow_buddy {
        if let Ok(flag) = &eb.generate_new_key {
            if *flag != Some(true) {
                if state.flag.is_ours() && *flag == Some(false) {
                    state.logins.login(now);
                }
                state.flag.set_at = None;
            }
        }
    }
    effects
}

/// The key changed at or after `t`.
fn changed_at_or_after(state: &State, t: Timestamp) -> bool {
    state.keys.last_changed_at.is_some_and(|c| c >= t)
}

/// What the lifecycle produced this check, besides the new state.
#[derive(Debug, Default)]
pub(crate) struct Life {
    pub effects: Vec<Effect>,
    /// Escrow Buddy ran at a smart-card login and made no key; the rotation waits for a password
    /// login.
    pub needs_password_login: bool,
    /// Another tool's `GenerateNewKey` is set while the password reset is pending.
    pub foreign_flag_during_reset: bool,
    /// Why the rotation's method is not Escrow Buddy, listed before it (`rotation::passed_over`).
    pub method_note: Option<String>,
}

/// The reasons to rotate now, most urgent first (requests before reports).
pub(crate) fn reasons(f: &facts::Facts, state: &State, config: &Config) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let key_present = f.key_present == Some(true);
    if f.used_since_change && key_present {
        reasons.push(Reason::KeyUsed);
    }
    let escrow = f.escrow.as_ref();
    if f.filevault_ready == Some(true) && key_present {
        match escrow.map(|e| e.state) {
            Some(EscrowState::Missing) => reasons.push(Reason::NotEscrowed),
            // Only dates question it: a reason only when the admin asked for that, and never
            // when the file itself could not be read (issue 14, item 1).
            Some(EscrowState::Unconfirmed)
                if config.rotate_when_escrow_unconfirmed
                    && escrow.is_some_and(|e| e.may_rotate) =>
            {
                reasons.push(Reason::EscrowUnconfirmed)
            }
            _ => {}
        }
    }
    if state.requests.pending_since.is_some() {
        reasons.push(Reason::AdminRequest);
    }
    if config.max_key_age_days > 0 && key_present {
        if let Some(born) = state.keys.last_changed_at {
            // A birth dated in the future is a key born now (issue 16, item 4), never one that
            // cannot age.
            let age = elapsed(born, f.now).as_secs();
            if age > i64::from(config.max_key_age_days) * 86_400 {
                reasons.push(Reason::MaxAgeReached);
            }
        }
    }
    if state.keys.missing_streak >= 2 {
        reasons.push(Reason::KeyMissing);
    }
    if state.validation.last == Some(ValidationResult::Invalid)
        && state
            .validation
            .last_at
            .is_some_and(|v| !changed_at_or_after(state, v))
    {
        reasons.push(Reason::ValidationFailed);
    }
    reasons
}

/// Step the rotation state machine on this check's facts; `effects` are the audit effects from
/// `note`, which come first.
pub(crate) fn step(
    f: &facts::Facts,
    state: &mut State,
    config: &Config,
    mut effects: Vec<Effect>,
) -> Life {
    let eb = f.escrow_buddy;
    let foreign_flag_during_reset =
        // Only on a use seen: with the answer unknown Keywarden withdraws its own flag, but it
        // does not call another tool's flag a danger to a reset it cannot see (issue 14 review).
        f.in_password_reset == Some(guards::Reset::KeyUsed)
            && eb.flag == Some(Some(true))
            && !state.flag.is_ours();
    if foreign_flag_during_reset {
        if let Some(b) = state.boot.as_mut() {
            if !b.foreign_flag_reported {
                b.foreign_flag_reported = true;
                effects.push(Effect::Audit(
                    What::ForeignFlagReported,
                    "GenerateNewKey set by another tool during a password reset; left as it is"
                        .to_owned(),
                ));
            }
        }
    }
    let methods = config
        .rotation_methods
        .iter()
        .copied()
        .filter(|m| *m != RotationMethod::Command || config.rotation_command.is_some())
        .collect();
    let machine = rotation::Facts {
        now: f.now,
        reasons: reasons(f, state, config),
        report_only: config.rotation_mode == RotationMode::Report,
        methods,
        escrow_ready: f.payload_installed,
        escrow_outside_mdm: config.escrow_outside_mdm,
        payload_installed: f.payload_installed,
        key_present: f.key_present,
        escrow_file: f.escrow_file.clone(),
        clock_found_behind: state.clock_found_behind,
        in_password_reset: f.in_password_reset,
        escrow_buddy: eb,
        flag_set_by_us: state.flag.is_ours(),
        last_login_at: state.logins.last_login_at,
        logins: state.logins.count,
        login_user: f.login_user.clone(),
        login_user_smart_card: f.login_user_smart_card,
        login_user_token: f.login_user_token,
        admin_asked_at: state.requests.pending_since,
    };
    let step = rotation::step(&state.rotation, &machine);
    let method_note = match &step.next {
        Rotation::Requested { method, .. } | Rotation::Failed { method, .. } => Some(*method),
        Rotation::Pending { method, .. } => *method,
        Rotation::Idle | Rotation::Confirmed { .. } => None,
    }
    .and_then(|m| rotation::passed_over(&machine, m));
    if let Rotation::Confirmed { at, .. } = &step.next {
        if !matches!(state.rotation, Rotation::Confirmed { .. }) {
            state.keys.last_rotated_at = Some(*at);
        }
    }
    // Keywarden's own flag, still set, with no rotation asking for it: a withdrawal that failed,
    // or one an earlier boot decided and the boot guard dropped unreplayed (issue 14, item 2),
    // is decided again here rather than left for Escrow Buddy to act on at the next login. (A
    // Pending rotation's wait, a confirmation and a stand-down withdraw it themselves; a failed
    // attempt keeps it for its retry.)
    let asked_for = matches!(
        step.next,
        Rotation::Requested { .. } | Rotation::Failed { .. } | Rotation::Pending { .. }
    );
    let orphaned = !asked_for
        && state.flag.is_ours()
        && eb.flag == Some(Some(true))
        && !step.effects.contains(&Effect::WithdrawFlag);
    state.rotation = step.next;
    effects.extend(step.effects);
    if orphaned {
        effects.push(Effect::Audit(
            What::FlagWithdrawn,
            "no rotation asks for it any more".to_owned(),
        ));
        effects.push(Effect::WithdrawFlag);
    }
    Life {
        effects,
        needs_password_login: step.needs_password_login,
        foreign_flag_during_reset,
        method_note,
    }
}
