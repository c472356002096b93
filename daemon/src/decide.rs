//! Decide: a pure function of (now, Snapshot, Config, State, previous status) that returns the
//! next State and the status to publish: what the observations mean for this Mac.
//!
//! A section whose probes all answered gets fresh values (`ObservedAt` = now). A section with a
//! failed probe keeps its last good values from the previous status with `Stale = true`, so
//! inventory does not flap; one that never had a good value keeps `State = Unknown`. The failure
//! itself goes to `Daemon.Errors` and the problem `ToolFailed`. Nothing here runs a tool or
//! touches a file.

use jiff::Timestamp;

use crate::config::{Config, RotationMethod, RotationMode};
use crate::observe::{Console, Snapshot};
use crate::rotation::{self, EscrowBuddyFacts, EscrowMark, Facts, Reason};
use crate::state::{KeyUse, State};
use crate::status::{
    self, BootstrapToken, Daemon, Escrow, EscrowState, FileVault, FileVaultState, Host, KeyState,
    Problem, RecoveryKey, Rotation, Section, SecureToken, Status, TokenUser, UseDetection,
};
use crate::tools::diskutil::CryptoUserKind;
use crate::tools::fdesetup::Conversion;
use crate::tools::profiles::ESCROW_PAYLOAD_TYPE;
use crate::tools::security::ESCROW_BUDDY_MECHANISM;

/// Everything a decision needs.
pub struct Inputs<'a> {
    pub now: Timestamp,
    pub snapshot: &'a Snapshot,
    pub config: &'a Config,
    pub config_warnings: &'a [String],
    pub state: &'a State,
    /// Why the state file could not be used this time, if it could not.
    pub state_problem: Option<&'a str>,
    pub previous: Option<&'a Status>,
    pub version: &'a str,
}

/// The outcome of one decision.
#[derive(Debug, Clone)]
pub struct Decision {
    pub state: State,
    pub status: Status,
    /// A probe failed (exit code 1 of `keywarden check`).
    pub probe_failed: bool,
    /// What `act` must do, after the state is saved.
    pub effects: Vec<rotation::Effect>,
}

pub fn decide(i: &Inputs<'_>) -> Decision {
    let snap = i.snapshot;
    let mut state = i.state.clone();
    let mut errors: Vec<String> = snap.errors().iter().map(|e| e.to_string()).collect();
    for s in &snap.skipped_users {
        errors.push(format!(
            "dscl -readall /Users: record {} left out: {}",
            s.name.as_deref().unwrap_or("(without a name)"),
            s.reason
        ));
    }

    // The per-boot latch and what only Keywarden remembers.
    if let Ok(uuid) = &snap.boot_session {
        let boot = state.boot_mut(uuid, i.now);
        if let Some(Ok(answer)) = &snap.using_recovery_key {
            boot.key_use = Some(KeyUse::from(*answer));
        }
    }
    let key_use = snap.key_use(&state);
    if key_use == Some(KeyUse::Used) {
        let boot_start = state.boot.as_ref().map(|b| b.first_seen_at);
        let seen_this_boot =
            matches!((state.key_last_used_at, boot_start), (Some(t), Some(b)) if t >= b);
        if !seen_this_boot {
            state.key_last_used_at = Some(i.now);
        }
    }
    if let Some(Ok(info)) = &snap.deferral {
        if let Some(p) = &info.output_path {
            state.deferral_output_path = Some(p.clone());
        }
    }
    let console_name = console_user_name(snap, &mut errors);
    if let Some(name) = &console_name {
        state.last_console_user = Some(name.clone());
        if let Some(b) = state.boot.as_mut() {
            b.console_user_seen = true;
        }
    }
    // A login: a user at the console who was not there at the last check.
    if snap.console.is_ok() && snap.users.is_ok() {
        if console_name.is_some() && console_name != state.console_now {
            state.last_login_at = Some(i.now);
            state.login_count += 1;
        }
        state.console_now = console_name.clone();
    }
    let life = lifecycle(i, snap, &mut state, key_use, console_name.as_deref());

    let prev = i.previous;
    let host = carry(fresh_host(snap), prev.map(|p| &p.host), i.now);
    let file_vault = carry(fresh_file_vault(snap), prev.map(|p| &p.file_vault), i.now);
    let escrow = carry(fresh_escrow(snap), prev.map(|p| &p.escrow), i.now);
    let mut recovery_key = carry(
        fresh_recovery_key(snap, key_use, &state),
        prev.map(|p| &p.recovery_key),
        i.now,
    );
    if recovery_key.observed_at == Some(i.now) {
        recovery_key.state = key_state(&recovery_key, &escrow);
    }
    let secure_token = carry(
        fresh_secure_token(snap, i.config, console_name.as_deref(), &state, &mut errors),
        prev.map(|p| &p.secure_token),
        i.now,
    );
    let bootstrap_token = carry(
        snap.bootstrap.as_ref().ok().map(|b| BootstrapToken {
            supported: Some(b.supported),
            escrowed: b.escrowed,
            ..Default::default()
        }),
        prev.map(|p| &p.bootstrap_token),
        i.now,
    );
    let rotation = rotation_section(&state, i.now);
    if let Some(p) = i.state_problem {
        errors.push(p.to_owned());
    }

    let probe_failed = !snap.errors().is_empty();
    let mut problems = Vec::new();
    if matches!(
        file_vault.state,
        FileVaultState::Off | FileVaultState::Deferred | FileVaultState::Decrypting
    ) {
        problems.push(Problem::FileVaultOff);
    }
    let fv_on = matches!(
        file_vault.state,
        FileVaultState::On | FileVaultState::Encrypting
    );
    if fv_on && recovery_key.present == Some(false) {
        problems.push(Problem::RecoveryKeyMissing);
    }
    if recovery_key.state == KeyState::Used {
        problems.push(Problem::RecoveryKeyUsed);
    }
    if fv_on && recovery_key.present == Some(true) && escrow.state == EscrowState::Missing {
        problems.push(Problem::RecoveryKeyNotEscrowed);
    }
    if escrow.state == EscrowState::NotConfigured {
        problems.push(Problem::EscrowProfileMissing);
    }
    if i.config
        .rotation_methods
        .contains(&RotationMethod::EscrowBuddy)
    {
        if let Ok(Some(eb)) = &snap.escrow_buddy {
            if let Ok(m) = &eb.mechanisms {
                if !m.iter().any(|x| x == ESCROW_BUDDY_MECHANISM) {
                    problems.push(Problem::EscrowBuddyMechanismMissing);
                }
            }
        }
    }
    if secure_token.console_user_has_token == Some(false) {
        problems.push(Problem::ConsoleUserWithoutSecureToken);
    }
    if !secure_token.additional_admins_with_token.is_empty() {
        problems.push(Problem::AdditionalAdminWithSecureToken);
    }
    if secure_token.human_volume_owners == Some(0) {
        problems.push(Problem::NoHumanVolumeOwner);
    }
    if bootstrap_token.supported == Some(true) && bootstrap_token.escrowed == Some(false) {
        problems.push(Problem::BootstrapTokenNotEscrowed);
    }
    if file_vault.plaintext_key_file.is_some() {
        problems.push(Problem::PlaintextKeyOnDisk);
    }
    if let Some(first) = state.rotation.first_requested_at() {
        let overdue = i64::from(i.config.rotation_overdue_days) * 86_400;
        if i.now.as_second() - first.as_second() > overdue {
            problems.push(Problem::RotationOverdue);
        }
    }
    if life.needs_password_login {
        problems.push(Problem::RotationNeedsPasswordLogin);
    }
    if life.foreign_flag_during_reset {
        problems.push(Problem::RotationFlagDuringPasswordReset);
        errors.push(format!(
            "GenerateNewKey is set in {} by another tool while this boot's password reset is pending: a rotation at that login breaks the reset (remove it: sudo defaults delete {} GenerateNewKey)",
            crate::paths::ESCROW_BUDDY_DOMAIN,
            crate::paths::ESCROW_BUDDY_DOMAIN
        ));
    }
    if probe_failed {
        problems.push(Problem::ToolFailed);
    }
    if i.state_problem.is_some() {
        problems.push(Problem::StateUnreadable);
    }
    problems.sort();
    problems.dedup();

    let daemon = Daemon {
        last_check_at: Some(i.now),
        errors,
        config_warnings: i.config_warnings.to_vec(),
        observed_at: Some(i.now),
        ..Default::default()
    };
    let status = Status {
        schema_version: status::SCHEMA_VERSION,
        generated_at: i.now,
        version: i.version.to_owned(),
        healthy: problems.is_empty(),
        problems,
        host,
        file_vault,
        recovery_key,
        escrow,
        rotation,
        secure_token,
        bootstrap_token,
        daemon,
    };
    Decision {
        state,
        status,
        probe_failed,
        effects: life.effects,
    }
}

/// Fresh values observed now, or the last good ones marked stale, or an unknown section.
fn carry<T: Section>(fresh: Option<T>, previous: Option<&T>, now: Timestamp) -> T {
    match (fresh, previous) {
        (Some(mut s), _) => {
            s.set_observed(Some(now), false);
            s
        }
        (None, Some(p)) if p.observed_at().is_some() => {
            let mut s = p.clone();
            s.set_observed(p.observed_at(), true);
            s
        }
        (None, _) => {
            let mut s = T::default();
            s.set_observed(None, true);
            s
        }
    }
}

fn fresh_host(snap: &Snapshot) -> Option<Host> {
    Some(Host {
        os_version: Some(snap.os_version.clone().ok()?),
        os_build: Some(snap.os_build.clone().ok()?),
        apple_silicon: Some(*snap.apple_silicon.as_ref().ok()?),
        boot_session_uuid: Some(snap.boot_session.clone().ok()?),
        ..Default::default()
    })
}

fn fresh_file_vault(snap: &Snapshot) -> Option<FileVault> {
    let st = snap.filevault.as_ref().ok()?;
    let irk = *snap.institutional_key.as_ref().ok()?;
    let (state, percent) = match (&st.conversion, st.on, &st.deferred) {
        (Some(Conversion::Encrypting { percent }), _, _) => (FileVaultState::Encrypting, *percent),
        (Some(Conversion::Decrypting { percent }), _, _) => (FileVaultState::Decrypting, *percent),
        (None, true, _) => (FileVaultState::On, None),
        (None, false, Some(_)) => (FileVaultState::Deferred, None),
        (None, false, None) => (FileVaultState::Off, None),
    };
    Some(FileVault {
        state,
        restart_required: Some(st.restart_required),
        percent_complete: percent,
        institutional_key_present: Some(irk),
        master_keychain_installed: Some(st.master_keychain),
        deferred_user: st.deferred.as_ref().and_then(|d| d.user.clone()),
        plaintext_key_file: snap.plaintext_key_files.first().cloned(),
        ..Default::default()
    })
}

fn fresh_recovery_key(
    snap: &Snapshot,
    key_use: Option<KeyUse>,
    state: &State,
) -> Option<RecoveryKey> {
    let present = *snap.personal_key.as_ref().ok()?;
    let (used_this_boot, use_detection) = match key_use {
        Some(KeyUse::Used) => (Some(true), UseDetection::Supported),
        Some(KeyUse::NotUsed) => (Some(false), UseDetection::Supported),
        Some(KeyUse::NotSupported) => (None, UseDetection::NotSupported),
        None => (None, UseDetection::Unknown),
    };
    Some(RecoveryKey {
        present: Some(present),
        state: KeyState::Unknown,
        used_this_boot,
        use_detection,
        last_used_at: state.key_last_used_at,
        last_changed_at: state.key_last_changed_at,
        last_validated_at: state.last_validated_at,
        last_validation: state.last_validation,
        ..Default::default()
    })
}

/// The key's state, worst first: Missing, Used, NotEscrowed, Valid.
fn key_state(key: &RecoveryKey, escrow: &Escrow) -> KeyState {
    match key.present {
        None => return KeyState::Unknown,
        Some(false) => return KeyState::Missing,
        Some(true) => {}
    }
    // Strictly after: the use is recorded when detected, after it happened (at boot); a key
    // changed in that same second was changed after the use.
    let used_since_change = match (key.last_used_at, key.last_changed_at) {
        (Some(used), Some(changed)) => used > changed,
        (Some(_), None) => true,
        (None, _) => false,
    };
    // Used since it last changed (the latch records the use with its time; after a rotation in
    // the same boot `usingrecoverykey` may still say true, PLATFORM.md, but the key is new).
    if used_since_change {
        return KeyState::Used;
    }
    match escrow.state {
        EscrowState::Missing | EscrowState::NotConfigured => KeyState::NotEscrowed,
        EscrowState::Unknown => KeyState::Unknown,
        EscrowState::Staged => KeyState::Valid,
    }
}

fn fresh_escrow(snap: &Snapshot) -> Option<Escrow> {
    let profiles = snap.profiles.as_ref().ok()?;
    let location = snap.escrow_location.as_ref().ok()?;
    let file = snap.escrow_file.as_ref().ok()?;
    let profile = profiles.iter().find(|p| p.has_payload(ESCROW_PAYLOAD_TYPE));
    let installed_at = profile.and_then(|p| p.install_date);
    let state = match (profile, file) {
        (None, _) => EscrowState::NotConfigured,
        (Some(_), None) => EscrowState::Missing,
        // The payload escrows only keys made after it was installed (PLATFORM.md): an escrow
        // file older than the profile belongs to an earlier MDM enrolment.
        (Some(_), Some(f)) if installed_at.is_some_and(|at| f.modified_at < at) => {
            EscrowState::Missing
        }
        (Some(_), Some(_)) => EscrowState::Staged,
    };
    Some(Escrow {
        profile_installed: Some(profile.is_some()),
        profile_installed_at: installed_at,
        location: location.clone(),
        filevault_prk_present: Some(file.is_some()),
        filevault_prk_modified_at: file.as_ref().map(|f| f.modified_at),
        state,
        ..Default::default()
    })
}

fn console_user_name(snap: &Snapshot, errors: &mut Vec<String>) -> Option<String> {
    let Ok(Console::Uid(uid)) = &snap.console else {
        return None;
    };
    let users = snap.users.as_ref().ok()?;
    match users.iter().find(|u| u.uid == i64::from(*uid)) {
        // Root at the console is nobody logged in (ARCHITECTURE.md), whatever its UID shows as.
        Some(u) if u.name == "root" => None,
        Some(u) => Some(u.name.clone()),
        None => {
            errors.push(format!(
                "/dev/console: owned by uid {uid}, which has no local user record"
            ));
            None
        }
    }
}

fn fresh_secure_token(
    snap: &Snapshot,
    config: &Config,
    console: Option<&str>,
    state: &State,
    errors: &mut Vec<String>,
) -> Option<SecureToken> {
    let users = snap.users.as_ref().ok()?;
    let admins = snap.admins.as_ref().ok()?;
    let crypto = snap.crypto_users.as_ref().ok()?;
    snap.console.as_ref().ok()?;
    if snap.secure_tokens.iter().any(|(_, p)| p.is_err()) {
        return None;
    }
    let crypto_user = |guid: &Option<String>| {
        guid.as_ref().and_then(|g| {
            crypto.iter().find(|c| {
                c.kind == CryptoUserKind::LocalOpenDirectory && c.uuid.eq_ignore_ascii_case(g)
            })
        })
    };
    let mut out = Vec::new();
    for user in users.iter().filter(|u| u.is_human()) {
        let answer = snap
            .secure_tokens
            .iter()
            .find(|(n, _)| *n == user.name)
            .and_then(|(_, p)| p.as_ref().ok().copied());
        let cu = crypto_user(&user.generated_uid);
        // Cross-check: a token holder is a crypto user of the volume and vice versa.
        let token = match (answer, cu.is_some()) {
            (Some(t), in_crypto) if t == in_crypto => Some(t),
            (Some(t), in_crypto) => {
                errors.push(format!(
                    "sysadminctl -secureTokenStatus {}: says {} but diskutil apfs listCryptoUsers {} a crypto user with its GeneratedUID; SecureToken shown as unknown",
                    user.name,
                    if t { "ENABLED" } else { "DISABLED" },
                    if in_crypto { "lists" } else { "has no" },
                ));
                None
            }
            (None, _) => None,
        };
        out.push(TokenUser {
            name: user.name.clone(),
            uid: user.uid,
            admin: admins.contains(&user.name),
            secure_token: token,
            volume_owner: cu.and_then(|c| c.volume_owner).or_else(|| {
                // Listed crypto users carry VolumeOwner on recent macOS; a user who is not a
                // crypto user cannot own the volume.
                (cu.is_none() && crypto.iter().any(|c| c.volume_owner.is_some())).then_some(false)
            }),
            hidden: user.hidden,
            smart_card: user.smart_card(),
        });
    }
    // Whose token is expected: the console user, or with nobody logged in the last one. With
    // neither known (a fresh install at the login window) no admin can be called additional:
    // reporting the Mac's only user would be a guess.
    let reference = console.or(state.last_console_user.as_deref());
    let console_user_has_token = console
        .and_then(|c| out.iter().find(|u| u.name == c))
        .and_then(|u| u.secure_token);
    let users_without_token = out
        .iter()
        .filter(|u| u.secure_token == Some(false))
        .map(|u| u.name.clone())
        .collect();
    let additional_admins_with_token = out
        .iter()
        .filter(|_| reference.is_some())
        .filter(|u| u.admin && u.secure_token == Some(true))
        .filter(|u| Some(u.name.as_str()) != reference)
        .filter(|u| !config.expected_secure_token_admins.contains(&u.name))
        .map(|u| u.name.clone())
        .collect();
    let knows_owners = crypto.iter().any(|c| c.volume_owner.is_some());
    let human_volume_owners =
        knows_owners.then(|| out.iter().filter(|u| u.volume_owner == Some(true)).count() as u32);
    Some(SecureToken {
        users: out,
        console_user: console.map(str::to_owned),
        console_user_has_token,
        users_without_token,
        additional_admins_with_token,
        human_volume_owners,
        ..Default::default()
    })
}

/// What the key lifecycle produced this check.
struct Life {
    effects: Vec<rotation::Effect>,
    needs_password_login: bool,
    foreign_flag_during_reset: bool,
}

/// The key lifecycle: notice key changes and uses, derive the reasons to rotate, and step the
/// rotation state machine (ARCHITECTURE.md, "Key lifecycle"). Updates `state`; returns effects.
fn lifecycle(
    i: &Inputs<'_>,
    snap: &Snapshot,
    state: &mut State,
    key_use: Option<KeyUse>,
    console: Option<&str>,
) -> Life {
    use crate::audit::What;
    let now = i.now;
    let mut effects = Vec::new();

    // A newly latched use of the key.
    if let (Some(Ok(crate::tools::fdesetup::UsingRecoveryKey::Yes)), Ok(uuid)) =
        (&snap.using_recovery_key, &snap.boot_session)
    {
        if i.state.key_use_for(uuid) != Some(KeyUse::Used) {
            effects.push(rotation::Effect::Audit(
                What::UseDetected,
                format!("boot {uuid}"),
            ));
        }
    }

    // The escrow file: a different one means a new key was staged for escrow.
    let escrow_file: Option<Option<EscrowMark>> = snap.escrow_file.as_ref().ok().map(|f| {
        f.as_ref().map(|f| EscrowMark {
            modified_at: f.modified_at,
            sha256: f.sha256.clone(),
        })
    });
    if let Some(Some(mark)) = &escrow_file {
        match &state.escrow_seen {
            None => {
                // First sight: the file's time is the key's birth as far as Keywarden knows.
                if state.key_last_changed_at.is_none() {
                    state.key_last_changed_at = Some(mark.modified_at);
                }
            }
            Some(old) if old != mark => {
                state.key_last_changed_at = Some(mark.modified_at.max(old.modified_at));
                let ours = matches!(
                    state.rotation,
                    rotation::Rotation::Requested { .. } | rotation::Rotation::Failed { .. }
                );
                if !ours {
                    effects.push(rotation::Effect::Audit(
                        What::KeyChanged,
                        "a new key was staged for escrow without a request from Keywarden (another tool, the MDM, or macOS)".to_owned(),
                    ));
                }
            }
            Some(_) => {}
        }
        state.escrow_seen = Some(mark.clone());
    }

    // KeyMissing needs two checks in a row: FileVault on and no PRK crypto user.
    let fv_on = matches!(&snap.filevault, Ok(s) if s.on && s.conversion.is_none());
    match &snap.crypto_users {
        Ok(users) if fv_on => {
            if users
                .iter()
                .any(|u| u.kind == CryptoUserKind::PersonalRecovery)
            {
                state.key_missing_streak = 0;
            } else {
                state.key_missing_streak = state.key_missing_streak.saturating_add(1);
            }
        }
        Ok(_) if snap.filevault.is_ok() => state.key_missing_streak = 0,
        Ok(_) | Err(_) => {}
    }

    // An admin's request: `rotate --request`, or a new RotationRequestID.
    if let Some(id) = &i.config.rotation_request_id {
        if state.last_rotation_request_id.as_ref() != Some(id) {
            state.last_rotation_request_id = Some(id.clone());
            state.admin_request_at = Some(now);
        }
    }
    // At or after: escrow file times are whole seconds, and a key made in the second of a
    // request or a validation was made in answer to it or after it.
    let changed_after = |t: Timestamp| state.key_last_changed_at.is_some_and(|c| c >= t);
    if state.admin_request_at.is_some_and(changed_after) {
        state.admin_request_at = None;
    }

    // The reasons, most urgent first.
    let key_present = snap.personal_key.as_ref().ok().copied();
    let mut reasons = Vec::new();
    let used_since_change = state
        .key_last_used_at
        .is_some_and(|u| state.key_last_changed_at.is_none_or(|c| u > c));
    if used_since_change && key_present == Some(true) {
        reasons.push(Reason::KeyUsed);
    }
    let payload = snap
        .profiles
        .as_ref()
        .ok()
        .map(|p| p.iter().any(|x| x.has_payload(ESCROW_PAYLOAD_TYPE)));
    let install_date = snap.profiles.as_ref().ok().and_then(|p| {
        p.iter()
            .find(|x| x.has_payload(ESCROW_PAYLOAD_TYPE))
            .and_then(|x| x.install_date)
    });
    let not_escrowed = payload == Some(true)
        && match &escrow_file {
            Some(None) => true,
            Some(Some(m)) => install_date.is_some_and(|d| m.modified_at < d),
            None => false,
        };
    if fv_on && key_present == Some(true) && not_escrowed {
        reasons.push(Reason::NotEscrowed);
    }
    if state.admin_request_at.is_some() {
        reasons.push(Reason::AdminRequest);
    }
    if i.config.max_key_age_days > 0 && key_present == Some(true) {
        if let Some(born) = state.key_last_changed_at {
            if now.as_second() - born.as_second() > i64::from(i.config.max_key_age_days) * 86_400 {
                reasons.push(Reason::MaxAgeReached);
            }
        }
    }
    if state.key_missing_streak >= 2 {
        reasons.push(Reason::KeyMissing);
    }
    if state.last_validation == Some(crate::status::ValidationResult::Invalid)
        && state.last_validated_at.is_some_and(|v| !changed_after(v))
    {
        reasons.push(Reason::ValidationFailed);
    }

    // Escrow Buddy and the password-reset guard.
    let eb = match &snap.escrow_buddy {
        Ok(Some(eb)) => EscrowBuddyFacts {
            installed: true,
            mechanism_registered: eb
                .mechanisms
                .as_ref()
                .ok()
                .map(|m| m.iter().any(|x| x == ESCROW_BUDDY_MECHANISM)),
            flag: eb.generate_new_key.as_ref().ok().copied(),
        },
        Ok(None) => EscrowBuddyFacts::ABSENT,
        Err(_) => EscrowBuddyFacts {
            installed: false,
            mechanism_registered: None,
            flag: None,
        },
    };
    let boot = state.boot.as_ref();
    let in_password_reset =
        key_use == Some(KeyUse::Used) && !boot.is_some_and(|b| b.console_user_seen);
    // A flag Keywarden set that Escrow Buddy consumed (false) or someone removed is no longer ours.
    // Escrow Buddy sets it false only after running at a login (Invoke.swift, via the simulator
    // notes), so a consumed flag is also evidence of a login the console poll may have missed
    // (a logout and login between two checks).
    if eb.flag.is_some_and(|f| f != Some(true)) {
        if state.flag_set_at.is_some() && eb.flag == Some(Some(false)) {
            state.login_count += 1;
            state.last_login_at = Some(now);
        }
        state.flag_set_at = None;
    }
    let foreign_flag_during_reset =
        in_password_reset && eb.flag == Some(Some(true)) && state.flag_set_at.is_none();
    if foreign_flag_during_reset {
        if let Some(b) = state.boot.as_mut() {
            if !b.foreign_flag_reported {
                b.foreign_flag_reported = true;
                effects.push(rotation::Effect::Audit(
                    What::ForeignFlagReported,
                    "GenerateNewKey set by another tool during a password reset; left as it is"
                        .to_owned(),
                ));
            }
        }
    }
    let login_user = console
        .map(str::to_owned)
        .or_else(|| state.last_console_user.clone());
    let login_user_smart_card = match (&snap.users, &login_user) {
        (Ok(users), Some(name)) => users.iter().any(|u| &u.name == name && u.smart_card()),
        _ => false,
    };
    let methods = i
        .config
        .rotation_methods
        .iter()
        .copied()
        .filter(|m| *m != RotationMethod::Command || i.config.rotation_command.is_some())
        .collect();
    let facts = Facts {
        now,
        reasons,
        report_only: i.config.rotation_mode == RotationMode::Report,
        methods,
        payload_installed: payload,
        key_present,
        escrow_file,
        in_password_reset,
        escrow_buddy: eb,
        flag_set_by_us: state.flag_set_at.is_some(),
        last_login_at: state.last_login_at,
        logins: state.login_count,
        login_user_smart_card,
    };
    let step = rotation::step(&state.rotation, &facts);
    if let rotation::Rotation::Confirmed { at, .. } = &step.next {
        if !matches!(state.rotation, rotation::Rotation::Confirmed { .. }) {
            state.last_rotated_at = Some(*at);
        }
    }
    state.rotation = step.next;
    effects.extend(step.effects);
    Life {
        effects,
        needs_password_login: step.needs_password_login,
        foreign_flag_during_reset,
    }
}

/// The status's Rotation section, from the persisted rotation state.
pub fn rotation_section(state: &State, now: Timestamp) -> Rotation {
    use rotation::Rotation as R;
    let mut out = Rotation {
        state: state.rotation.name(),
        last_rotated_at: state.last_rotated_at,
        observed_at: Some(now),
        ..Default::default()
    };
    match &state.rotation {
        R::Idle => {}
        R::Pending {
            reason,
            since,
            waiting,
        } => {
            out.reason = Some(reason.as_str().to_owned());
            out.pending_since = Some(*since);
            out.waiting = waiting.clone();
        }
        R::Requested {
            reason,
            since,
            method,
            first_at,
            attempts,
            last_error,
            ..
        } => {
            out.reason = Some(reason.as_str().to_owned());
            out.pending_since = Some(*since);
            out.requested_at = Some(*first_at);
            out.method = Some(method.as_str().to_owned());
            out.attempts = *attempts;
            out.last_error = last_error.clone();
        }
        R::Confirmed { reason, .. } => {
            out.reason = Some(reason.as_str().to_owned());
        }
        R::Failed {
            reason,
            since,
            method,
            first_at,
            attempts,
            last_error,
            retry_at,
            ..
        } => {
            out.reason = Some(reason.as_str().to_owned());
            out.pending_since = Some(*since);
            out.requested_at = Some(*first_at);
            out.method = Some(method.as_str().to_owned());
            out.attempts = *attempts;
            out.last_error = Some(last_error.clone());
            out.retry_at = Some(*retry_at);
        }
    }
    out
}
