//! The problems of one check: each code from the sections as they will be published and the
//! facts (`facts`), so a problem never disagrees with the values shown beside it.

use jiff::Timestamp;

use crate::config::{Config, RotationMethod};
use crate::state::State;
use crate::status::{
    BootstrapToken, Escrow, EscrowState, FileVault, FileVaultState, KeyState, Problem, RecoveryKey,
    SecureToken,
};

use super::facts::Facts;
use super::lifecycle::Life;

/// What the problems are worked out from.
pub(super) struct Seen<'a> {
    pub now: Timestamp,
    pub config: &'a Config,
    pub state: &'a State,
    pub facts: &'a Facts,
    pub life: &'a Life,
    pub file_vault: &'a FileVault,
    pub recovery_key: &'a RecoveryKey,
    pub escrow: &'a Escrow,
    pub secure_token: &'a SecureToken,
    pub bootstrap_token: &'a BootstrapToken,
    /// `Host.AppleSilicon`: volume ownership exists only there.
    pub apple_silicon: Option<bool>,
    /// A profile in `profiles -C -o stdout-xml` could not be read (named in the errors).
    pub unreadable_profiles: bool,
    pub probe_failed: bool,
    pub state_unreadable: bool,
}

/// The codes of one check, sorted, once each: the critical ones (`Problems`, which make the Mac
/// unhealthy) and the hygiene ones (`Warnings`).
#[derive(Debug, Default)]
pub(super) struct Listed {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// Every code, as a problem or a warning (`Problem::critical`; a failed probe is critical when a
/// critical fact depends on it).
pub(super) fn problems(s: &Seen<'_>) -> Listed {
    let mut listed = Listed::default();
    for p in codes(s) {
        let critical = match p {
            Problem::ToolFailed => s.facts.critical_unknown,
            Problem::ProfileUnreadable => s.facts.escrow_payload_unknown,
            other => other.critical(),
        };
        if critical {
            listed.problems.push(p);
        } else {
            listed.warnings.push(p);
        }
    }
    listed
}

fn codes(s: &Seen<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let fv = s.file_vault.state;
    if matches!(
        fv,
        FileVaultState::Off | FileVaultState::Deferred | FileVaultState::Decrypting
    ) {
        problems.push(Problem::FileVaultOff);
    }
    // The disk is protected (on, or encrypting): a key should exist and be escrowed.
    let protected = matches!(fv, FileVaultState::On | FileVaultState::Encrypting);
    let key = s.recovery_key;
    if protected && key.present == Some(false) {
        problems.push(Problem::RecoveryKeyMissing);
    }
    if key.state == KeyState::Used {
        problems.push(Problem::RecoveryKeyUsed);
    }
    if protected && key.present == Some(true) && s.escrow.state == EscrowState::Missing {
        problems.push(Problem::RecoveryKeyNotEscrowed);
    }
    if protected && key.present == Some(true) && s.escrow.state == EscrowState::Unconfirmed {
        problems.push(Problem::EscrowUnconfirmed);
    }
    if s.escrow.state == EscrowState::NotConfigured {
        problems.push(Problem::EscrowProfileMissing);
    }
    if s.unreadable_profiles {
        problems.push(Problem::ProfileUnreadable);
    }
    let eb = s.facts.escrow_buddy;
    if s.config
        .rotation_methods
        .contains(&RotationMethod::EscrowBuddy)
        && eb.installed
        && eb.mechanism_registered == Some(false)
    {
        problems.push(Problem::EscrowBuddyMechanismMissing);
    }
    let st = s.secure_token;
    if st.console_user_has_token == Some(false) {
        problems.push(Problem::ConsoleUserWithoutSecureToken);
    }
    if !st.additional_admins_with_token.is_empty() {
        problems.push(Problem::AdditionalAdminWithSecureToken);
    }
    // Volume ownership gates updates on Apple silicon only (Apple Platform Deployment, "Use
    // secure token, bootstrap token, and volume ownership in deployments"): on an Intel Mac, or
    // one whose architecture is unknown, no owner is nothing to report (issue 14).
    if st.human_volume_owners == Some(0) && s.apple_silicon == Some(true) {
        problems.push(Problem::NoHumanVolumeOwner);
    }
    if s.bootstrap_token.supported == Some(true) && s.bootstrap_token.escrowed == Some(false) {
        problems.push(Problem::BootstrapTokenNotEscrowed);
    }
    if s.file_vault.plaintext_key_file.is_some() {
        problems.push(Problem::PlaintextKeyOnDisk);
    }
    if let Some(first) = s.state.rotation.first_requested_at() {
        let overdue = i64::from(s.config.rotation_overdue_days) * 86_400;
        if s.now.as_second() - first.as_second() > overdue {
            problems.push(Problem::RotationOverdue);
        }
    }
    if s.life.needs_password_login {
        problems.push(Problem::RotationNeedsPasswordLogin);
    }
    if s.life.foreign_flag_during_reset {
        problems.push(Problem::RotationFlagDuringPasswordReset);
    }
    if s.probe_failed {
        problems.push(Problem::ToolFailed);
    }
    if s.state_unreadable {
        problems.push(Problem::StateUnreadable);
    }
    problems.sort();
    problems.dedup();
    problems
}
