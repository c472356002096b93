//! What one observation means, each fact worked out once: the sections of the status, the
//! reasons to rotate and the problems all read them from here, so "is the key escrowed?" or "is
//! FileVault on?" cannot have two answers in one check.
//!
//! Facts are derived from the snapshot and the state *after* `lifecycle::note` has recorded this
//! observation in it (a new escrow file changes the key's history, a console user marks the boot).

use jiff::Timestamp;

use super::escrow;
use crate::config::Config;
use crate::guards::{self, AtConsole};
use crate::observe::{FileFacts, Snapshot};
use crate::rotation::EscrowBuddyFacts;
use crate::state::{EscrowMark, KeyUse, State};
use crate::tools::diskutil::LocalCryptoUsers;
use crate::tools::dscl::UserRecord;
use crate::tools::security::ESCROW_BUDDY_MECHANISM;

/// The facts of one check (`None` where a probe failed and the fact is unknown).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Facts {
    pub now: Timestamp,
    /// This boot's answer about key use: latched, or definite now.
    pub key_use: Option<KeyUse>,
    /// The person at the console (`guards::at_console`), as last seen.
    pub console_user: Option<String>,
    /// The user who logs in on this Mac: the person at the console, or with nobody there the last
    /// one (`None`: no person has been seen at the console since Keywarden was installed). Whose
    /// token is expected (AdditionalAdminsWithToken), and whose password Escrow Buddy will get.
    pub login_user: Option<String>,
    /// That user is paired with a smart card (`;tokenidentity;`).
    pub login_user_smart_card: bool,
    /// That user holds a SecureToken; with no login user known, whether any person on the Mac
    /// holds one (`None`: not known).
    pub login_user_token: Option<bool>,
    /// FileVault is on, not converting and not waiting for a restart (`guards::filevault_ready`).
    pub filevault_ready: Option<bool>,
    /// `fdesetup haspersonalrecoverykey`.
    pub key_present: Option<bool>,
    /// The key was used after it last changed (strictly after: the use is recorded when it is
    /// detected, after it happened at boot, so a key changed in that same second is a new key).
    pub used_since_change: bool,
    /// The escrow payload is installed (`guards::escrow_payload`).
    pub payload_installed: Option<bool>,
    /// The escrow payload's profile install date.
    pub payload_installed_at: Option<Timestamp>,
    /// Whether the current key was staged for the installed escrow payload, and how that was
    /// established (`escrow::judge`; `None`: a probe it needs failed).
    pub escrow: Option<escrow::Judged>,
    /// The escrow file now as evidence of a staged key (`key_mark`; `Some(None)`: absent, or not
    /// an escrow blob; `None`: could not tell).
    pub escrow_file: Option<Option<EscrowMark>>,
    pub escrow_buddy: EscrowBuddyFacts,
    /// The password reset after a recovery-key unlock is pending, or may be
    /// (`guards::in_password_reset`), and why.
    pub in_password_reset: Option<guards::Reset>,
    /// A probe failed whose answer a critical problem depends on (FileVault's state, the key's
    /// presence and use this boot, the escrow payload and file): its `ToolFailed` is critical.
    pub critical_unknown: bool,
    /// `profiles` answered, but whether the escrow payload is installed is not known: only an
    /// unreadable profile may carry it (issue 14, item 6). Its `ProfileUnreadable` is critical.
    pub escrow_payload_unknown: bool,
    /// Someone is at the console whom this observation could not name (no local record for the
    /// uid, or the user records could not be read): whether they logged in is not known.
    pub console_unnamed: bool,
}

impl Facts {
    pub(crate) fn derive(snap: &Snapshot, state: &State, config: &Config, now: Timestamp) -> Facts {
        let key_use = snap.key_use(state);
        let profiles = snap.profiles.as_ref().ok();
        let payload = profiles.and_then(guards::escrow_payload);
        let payload_installed_at = profiles
            .and_then(guards::escrow_profile)
            .and_then(|p| p.install_date);
        let escrow_file: Option<Option<EscrowMark>> = snap
            .escrow_file
            .as_ref()
            .ok()
            .map(|f| f.as_ref().and_then(key_mark));
        // Known only when every probe of the Escrow section answered (the payload, its
        // `Location`, the file): the section is then fresh and shows this very fact, and a
        // rotation is never asked for on a section that is stale.
        let escrow = escrow::judge(&escrow::Seen {
            outside_mdm: config.escrow_outside_mdm,
            profiles,
            file: snap
                .escrow_file
                .as_ref()
                .ok()
                .filter(|_| snap.escrow_location.is_ok())
                .map(Option::as_ref),
            remembered: &state.keys.escrow_certificates,
            payload_absent_at: state.keys.escrow_payload_absent_at,
            now,
        });
        let escrow_buddy = match &snap.escrow_buddy {
            Ok(Some(eb)) => EscrowBuddyFacts {
                installed: true,
                mechanism_registered: eb
                    .mechanisms
                    .as_ref()
                    .ok()
                    .map(|m| m.iter().any(|x| x == ESCROW_BUDDY_MECHANISM)),
                flag: eb.generate_new_key.as_ref().ok().copied(),
            },
            Ok(None) | Err(_) => EscrowBuddyFacts::ABSENT,
        };
        let human_login_this_boot = state.boot.as_ref().is_some_and(|b| b.console_user_seen);
        let people: Vec<&UserRecord> = snap
            .users
            .as_ref()
            .map(|us| us.iter().filter(|u| u.is_human()).collect())
            .unwrap_or_default();
        // A name remembered from before issue 14 may be Setup Assistant's: only a person counts.
        let person = |name: &String| snap.users.is_err() || people.iter().any(|u| &u.name == name);
        // Someone no local record names is at the console (issue 16, item 5): they, not the last
        // named user, log in here, and nothing that needs their name is decided for them.
        let someone_here = someone_at_console(snap).is_some();
        let login_user = (state.logins.console_now.clone())
            .filter(person)
            .or_else(|| state.logins.last_console_user.clone().filter(person))
            .filter(|_| !someone_here);
        let login_record = login_user
            .as_ref()
            .and_then(|name| people.iter().find(|u| &u.name == name));
        let crypto = snap.crypto_users.as_deref().ok().map(LocalCryptoUsers::new);
        let login_user_token = match (&login_user, login_record) {
            (Some(_), Some(u)) => secure_token(snap, crypto.as_ref(), u).ok().flatten(),
            (Some(_), None) => None,
            // Nobody seen yet: whether anyone who could log in holds a token.
            (None, _) if snap.users.is_err() => None,
            (None, _) => {
                let tokens: Vec<Option<bool>> = people
                    .iter()
                    .map(|u| secure_token(snap, crypto.as_ref(), u).ok().flatten())
                    .collect();
                if tokens.contains(&Some(true)) {
                    Some(true)
                } else if tokens.contains(&None) {
                    None
                } else {
                    Some(false)
                }
            }
        };
        Facts {
            now,
            key_use,
            console_user: state.logins.console_now.clone(),
            login_user_smart_card: login_record.is_some_and(|u| u.smart_card()),
            login_user_token,
            login_user,
            filevault_ready: snap.filevault.as_ref().ok().map(guards::filevault_ready),
            key_present: snap.personal_key.as_ref().ok().copied(),
            used_since_change: state
                .keys
                .last_used_at
                .is_some_and(|u| state.keys.last_changed_at.is_none_or(|c| u > c)),
            payload_installed: payload,
            payload_installed_at,
            escrow,
            escrow_file,
            escrow_buddy,
            in_password_reset: guards::in_password_reset(key_use, human_login_this_boot),
            critical_unknown: snap.filevault.is_err()
                || snap.personal_key.is_err()
                || matches!(snap.using_recovery_key, Some(Err(_)))
                || snap.boot_session.is_err()
                || snap.profiles.is_err()
                || snap.escrow_file.is_err()
                || snap.escrow_location.is_err(),
            console_unnamed: matches!(at_console(snap), Some(AtConsole::Unnamed(_))),
            escrow_payload_unknown: profiles.is_some() && payload.is_none(),
        }
    }
}

/// Who is at the console this observation (`guards::at_console`; `None`: `/dev/console` could
/// not be examined).
pub(crate) fn at_console(snap: &Snapshot) -> Option<AtConsole> {
    let console = snap.console.as_ref().ok()?;
    Some(guards::at_console(
        console,
        snap.users.as_ref().ok().map(Vec::as_slice),
    ))
}

/// The console user's name: the person who owns `/dev/console` (`guards::at_console`). Root,
/// Setup Assistant's `_mbsetupuser` and any other account that is not a person is nobody logged
/// in (issue 14, item 7). A uid without a local record is reported in `errors`.
pub(crate) fn console_user_name(snap: &Snapshot, errors: &mut Vec<String>) -> Option<String> {
    match at_console(snap)? {
        AtConsole::Person(name) => Some(name),
        AtConsole::Nobody => None,
        AtConsole::Someone { uid, sharing } => {
            // Ambiguity is reported, never resolved by listing order (issue 16, item 5). A uid
            // no local record has is a network account: normal, nothing to report.
            if !sharing.is_empty() {
                errors.push(format!(
                    "/dev/console: owned by uid {uid}, which the local user records {} all have: the console user is not guessed (counted as a login; give each account its own UniqueID)",
                    sharing.join(", ")
                ));
            }
            None
        }
        AtConsole::Unnamed(uid) => {
            // With the accounts unreadable, their probe's error says why already.
            if snap.users.is_ok() {
                errors.push(format!(
                    "/dev/console: owned by uid {uid}, which has no local user record"
                ));
            }
            None
        }
    }
}

/// The escrow file as evidence that a key was staged for escrow: only a well-formed escrow blob
/// (CMS enveloped data to one certificate, `tools::escrow_blob`) is. A zero-byte file, a
/// truncated copy or any other bytes at that path changes no key's history and confirms no
/// rotation (issue 16, item 6: a zero-byte file confirmed one); the Escrow section still names
/// the file and what is wrong with it.
pub(crate) fn key_mark(file: &FileFacts) -> Option<EscrowMark> {
    file.recipient.is_ok().then(|| EscrowMark {
        modified_at: file.modified_at,
        sha256: file.sha256.clone(),
    })
}

/// The uid of the person at the console whom no single local record names
/// (`guards::AtConsole::Someone`: a network account, a uid several records share).
pub(crate) fn someone_at_console(snap: &Snapshot) -> Option<u32> {
    match at_console(snap)? {
        AtConsole::Someone { uid, .. } => Some(uid),
        AtConsole::Nobody | AtConsole::Person(_) | AtConsole::Unnamed(_) => None,
    }
}

/// The console owner's uid when no name can be given for them: a person no single local record
/// names (`someone_at_console`), or an owner that could not be called a person or not
/// (`AtConsole::Unnamed`). For the status, so that an absent `ConsoleUser` never reads as nobody.
pub(crate) fn unnamed_at_console(snap: &Snapshot) -> Option<u32> {
    match at_console(snap)? {
        AtConsole::Someone { uid, .. } | AtConsole::Unnamed(uid) => Some(uid),
        AtConsole::Nobody | AtConsole::Person(_) => None,
    }
}

/// Whether `user` holds a SecureToken (issue 16, item 10). The volume's crypto users decide: a
/// token holder is a crypto user of the volume, and vice versa. Where `AuthenticationAuthority`'s
/// `;SecureToken;` tag agrees, that is the answer without asking anyone. Where `sysadminctl` was
/// asked (`observe::token_questions`: the tag disagrees or is absent, or the user is at the
/// console) its answer is cross-checked with the crypto users. `Ok(None)`: not known (the crypto
/// users could not be read, or `sysadminctl` failed for this user alone where the tag disagrees:
/// one bad record costs that user only, its probe error names them); `Err`: `sysadminctl` and the
/// crypto users disagree (why), and the token is shown as unknown.
///
/// `crypto`: the volume's crypto users (`None`: they could not be read), indexed once per check.
pub(super) fn secure_token(
    snap: &Snapshot,
    crypto: Option<&LocalCryptoUsers>,
    user: &UserRecord,
) -> Result<Option<bool>, String> {
    let Some(crypto) = crypto else {
        return Ok(None);
    };
    let answer = snap
        .secure_tokens
        .iter()
        .find(|(n, _)| *n == user.name)
        .and_then(|(_, p)| p.as_ref().ok().copied());
    let in_crypto = crypto.get(user.generated_uid.as_deref()).is_some();
    match answer {
        None if user.secure_token_tag() == Some(in_crypto) => Ok(Some(in_crypto)),
        Some(t) if t == in_crypto => Ok(Some(t)),
        Some(t) => Err(format!(
            "sysadminctl -secureTokenStatus {}: says {} but diskutil apfs listCryptoUsers {} a crypto user with its GeneratedUID; SecureToken shown as unknown",
            user.name,
            if t { "ENABLED" } else { "DISABLED" },
            if in_crypto { "lists" } else { "has no" },
        )),
        None => Ok(None),
    }
}
