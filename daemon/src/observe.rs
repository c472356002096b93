//! Observe: run every probe of one check into a `Snapshot` where each probe is a `Result`, so one
//! failing tool never aborts the check.
//!
//! Independent probes run concurrently (the runner bounds how many children run at once). Two
//! kinds wait for another: `sysadminctl -secureTokenStatus` is asked, once the user records and
//! the volume's crypto users are known, only for the console user and for the users whose
//! `AuthenticationAuthority` tag and crypto-user entry disagree (`token_questions`: a check's cost
//! does not grow with accounts, issue 16, item 10), and `usingrecoverykey` is asked only when the current boot (from
//! `kern.bootsessionuuid`) has no definite answer latched yet; `showdeferralinfo` only when
//! `fdesetup status` says deferred. So the longest chain is two calls. What the boot guard read
//! first in the same check (`Known`: the boot session, a definite answer about key use) is not
//! asked again. Files Keywarden reads itself (escrow file, console owner, escrow location, Escrow
//! Buddy bundle, a plaintext key file) are looked at here too, never their secret contents.
//!
//! This module runs and reads; what the answers mean is `decide`'s business.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::files::{self, Owners, Trust};
use crate::paths::{self, Root};
use crate::runner::Runner;
use crate::state::{KeyUse, State};
use crate::tools::diskutil::CryptoUser;
use crate::tools::dscl::{SkippedRecord, UserRecord};
use crate::tools::escrow_blob::{self, BlobProblem, Recipient};
use crate::tools::fdesetup::{DeferralInfo, FdeStatus, UsingRecoveryKey};
use crate::tools::profiles::{BootstrapToken, ComputerProfiles};
use crate::tools::{self, ProbeError};

/// How many SecureToken probes run at once (only users the evidence does not answer for).
pub const SECURE_TOKEN_CONCURRENCY: usize = 8;
/// The escrow file is a CMS blob of a few hundred bytes (corpus/FILEVAULTPRK.md: 453).
const MAX_ESCROW_FILE_BYTES: u64 = 1024 * 1024;
const MAX_ESCROW_PREFS_BYTES: u64 = 1024 * 1024;

// Defined with the tools (below the rules that read them, `guards`, which `observe` asks in
// turn: one direction only) and named here, where an observation is made.
pub use crate::tools::{Console, Probe};

/// Facts about the escrow file (never its secret: it is encrypted to the MDM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    pub modified_at: Timestamp,
    /// Hex SHA-256 of the contents: a new key gives a new blob even within one second.
    pub sha256: String,
    /// Whom the blob is encrypted to, read as CMS enveloped data (`tools::escrow_blob`), or why
    /// it names nobody Keywarden can compare (not CMS, several recipients, ...).
    pub recipient: Result<Recipient, BlobProblem>,
}

/// Escrow Buddy, when its bundle is installed.
#[derive(Debug, Clone, PartialEq)]
pub struct EscrowBuddy {
    /// The `mechanisms` of `system.login.console`.
    pub mechanisms: Probe<Vec<String>>,
    /// `GenerateNewKey` (`None`: not set).
    pub generate_new_key: Probe<Option<bool>>,
}

/// Everything one check observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub observed_at: Timestamp,
    pub os_version: Probe<String>,
    pub os_build: Probe<String>,
    pub apple_silicon: Probe<bool>,
    pub boot_session: Probe<String>,
    pub filevault: Probe<FdeStatus>,
    /// Asked only when `fdesetup status` says deferred.
    pub deferral: Option<Probe<DeferralInfo>>,
    pub personal_key: Probe<bool>,
    pub institutional_key: Probe<bool>,
    /// `None`: not asked, because this boot already has a definite answer latched.
    pub using_recovery_key: Option<Probe<UsingRecoveryKey>>,
    pub crypto_users: Probe<Vec<CryptoUser>>,
    pub users: Probe<Vec<UserRecord>>,
    /// User records `dscl` printed that could not be used (each with why); never dropped silently.
    pub skipped_users: Vec<SkippedRecord>,
    pub admins: Probe<Vec<String>>,
    /// `sysadminctl -secureTokenStatus`, for the human users `token_questions` picked (by short
    /// name, in the order of `users`); the others' tokens come from the crypto users and
    /// `AuthenticationAuthority` alone.
    pub secure_tokens: Vec<(String, Probe<bool>)>,
    pub bootstrap: Probe<BootstrapToken>,
    pub profiles: Probe<ComputerProfiles>,
    /// The escrow payload's `Location` from managed preferences (`None`: no such file or key).
    pub escrow_location: Probe<Option<String>>,
    /// `/var/db/FileVaultPRK.dat` (`None`: absent).
    pub escrow_file: Probe<Option<FileFacts>>,
    pub console: Probe<Console>,
    /// `None`: Escrow Buddy's bundle is not installed.
    pub escrow_buddy: Probe<Option<EscrowBuddy>>,
    /// Plaintext key files that exist (deferral output paths; never read).
    pub plaintext_key_files: Vec<String>,
}

/// What the boot guard (`boot_guard`) already read in this check, so no tool is asked twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// `kern.bootsessionuuid`, when it could be read.
    pub boot_session: Option<String>,
    /// A definite answer of `usingrecoverykey` (the guard latches it in the state when the boot
    /// could be read; this carries it when it could not).
    pub using_recovery_key: Option<UsingRecoveryKey>,
}

/// Observe the Mac under `root` through `runner`. `state` says which boot has a latched answer
/// and which deferral output path was seen before; `known` what the boot guard read already.
pub async fn observe<R: Runner>(
    runner: &R,
    root: &Root,
    owners: Owners,
    state: &State,
    now: Timestamp,
    known: &Known,
) -> Snapshot {
    use tools::{
        defaults, diskutil, dscl, fdesetup, profiles, security, sw_vers, sysadminctl, sysctl,
    };

    let eb_installed = files::lstat(&root.resolve(paths::ESCROW_BUDDY_BUNDLE));
    let escrow_buddy_phase1 = async {
        match eb_installed {
            Ok(Some(m)) if m.is_dir() => {
                let (mechanisms, flag) = tokio::join!(
                    security::login_mechanisms(runner),
                    defaults::read_bool(runner, paths::ESCROW_BUDDY_DOMAIN, "GenerateNewKey"),
                );
                Ok(Some(EscrowBuddy {
                    mechanisms,
                    generate_new_key: flag,
                }))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(file_error(paths::ESCROW_BUDDY_BUNDLE, &e)),
        }
    };

    // Phase 1: everything that needs nothing else.
    let (
        (os_version, os_build, apple_silicon, boot_session),
        (filevault, personal_key, institutional_key, crypto_users),
        (users, admins, bootstrap, profiles_list),
        escrow_buddy,
    ) = tokio::join!(
        async {
            tokio::join!(
                sw_vers::product_version(runner),
                sw_vers::build_version(runner),
                sysctl::apple_silicon(runner),
                async {
                    match &known.boot_session {
                        Some(uuid) => Ok(uuid.clone()),
                        None => sysctl::boot_session_uuid(runner).await,
                    }
                },
            )
        },
        async {
            tokio::join!(
                fdesetup::status(runner),
                fdesetup::has_personal_recovery_key(runner),
                fdesetup::has_institutional_recovery_key(runner),
                diskutil::list_crypto_users(runner),
            )
        },
        async {
            tokio::join!(
                dscl::read_user_records(runner),
                dscl::admins(runner),
                profiles::bootstrap_token(runner),
                profiles::computer_profiles(runner),
            )
        },
        escrow_buddy_phase1,
    );

    let (users, skipped_users) = match users {
        Ok(records) => (Ok(records.users), records.skipped),
        Err(e) => (Err(e), Vec::new()),
    };

    // Phase 2: what depends on phase 1.
    let ask_use = match &boot_session {
        Ok(uuid) => state.key_use_for(uuid).is_none(),
        // Without the boot identity the answer could not be latched; ask anyway so it is shown.
        Err(_) => true,
    };
    let deferred = matches!(&filevault, Ok(s) if s.deferred.is_some());
    // Read before phase 2: the console user's token is always asked (the guards rely on it).
    let console = console_owner(root);
    let human_users = match &users {
        Ok(list) => token_questions(list, &crypto_users, &console),
        Err(_) => Vec::new(),
    };
    let (using_recovery_key, deferral, secure_tokens) = tokio::join!(
        async {
            match (ask_use, known.using_recovery_key) {
                (false, _) => None,
                (true, Some(answer)) => Some(Ok(answer)),
                (true, None) => Some(fdesetup::using_recovery_key(runner).await),
            }
        },
        async {
            if deferred {
                Some(fdesetup::showdeferralinfo(runner).await)
            } else {
                None
            }
        },
        async {
            let mut results: Vec<(usize, String, Probe<bool>)> =
                stream::iter(human_users.into_iter().enumerate())
                    .map(|(i, name)| async move {
                        let r = sysadminctl::secure_token_status(runner, &name).await;
                        (i, name, r)
                    })
                    .buffer_unordered(SECURE_TOKEN_CONCURRENCY)
                    .collect()
                    .await;
            results.sort_by_key(|(i, _, _)| *i);
            results
                .into_iter()
                .map(|(_, n, r)| (n, r))
                .collect::<Vec<_>>()
        },
    );

    // Files Keywarden reads itself.
    let escrow_location = read_escrow_location(root, owners);
    let escrow_file = escrow_file_facts(root, owners);
    let mut candidates: Vec<String> = vec![paths::DEFERRAL_OUTPUT_DEFAULT.to_owned()];
    if let Some(p) = &state.keys.deferral_output_path {
        candidates.push(p.clone());
    }
    if let Some(Ok(DeferralInfo {
        output_path: Some(p),
        ..
    })) = &deferral
    {
        candidates.push(p.clone());
    }
    candidates.sort();
    candidates.dedup();
    let plaintext_key_files = candidates
        .into_iter()
        .filter(|p| p.starts_with('/') && matches!(files::lstat(&root.resolve(p)), Ok(Some(_))))
        .collect();

    Snapshot {
        observed_at: now,
        os_version,
        os_build,
        apple_silicon,
        boot_session,
        filevault,
        deferral,
        personal_key,
        institutional_key,
        using_recovery_key,
        crypto_users,
        users,
        skipped_users,
        admins,
        secure_tokens,
        bootstrap,
        profiles: profiles_list,
        escrow_location,
        escrow_file,
        console,
        escrow_buddy,
        plaintext_key_files,
    }
}

/// Whom `sysadminctl -secureTokenStatus` is asked about, in the order of `users`: the person at
/// the console (always: the guards and `ConsoleUserHasToken` rely on that user's token), and every
/// human user whose two pieces of evidence already read do not agree: whether the volume lists
/// their GeneratedUID as a crypto user (`diskutil apfs listCryptoUsers`, one call) and whether
/// `AuthenticationAuthority` carries `;SecureToken;` (the same `dscl` call as the records; absent
/// attribute: no evidence). Where they agree the token is known without a call per user, so 500
/// users no longer cost 500 calls (issue 16, item 10: 14 s, and a lab Mac with thousands of
/// accounts failed). With the crypto users unreadable no token can be cross-checked and the
/// section is stale whatever `sysadminctl` says (`decide::sections`), so only the console user is
/// asked.
pub(crate) fn token_questions(
    users: &[UserRecord],
    crypto: &Probe<Vec<CryptoUser>>,
    console: &Probe<Console>,
) -> Vec<String> {
    let at_console = match console {
        Ok(c) => match crate::guards::at_console(c, Some(users)) {
            crate::guards::AtConsole::Person(name) => Some(name),
            _ => None,
        },
        Err(_) => None,
    };
    let crypto = crypto
        .as_ref()
        .ok()
        .map(|list| tools::diskutil::LocalCryptoUsers::new(list));
    users
        .iter()
        .filter(|u| u.is_human())
        .filter(|u| {
            at_console.as_deref() == Some(u.name.as_str())
                || crypto.as_ref().is_some_and(|c| {
                    let in_crypto = c.get(u.generated_uid.as_deref()).is_some();
                    u.secure_token_tag() != Some(in_crypto)
                })
        })
        .map(|u| u.name.clone())
        .collect()
}

fn file_error(shown: &str, e: &files::FileError) -> ProbeError {
    ProbeError::File {
        path: shown.to_owned(),
        message: match e {
            files::FileError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        },
    }
}

/// The `Location` the escrow payload forces (Escrow Buddy reads the same managed domain).
fn read_escrow_location(root: &Root, owners: Owners) -> Probe<Option<String>> {
    let path = root.resolve(paths::ESCROW_MANAGED_PREFS);
    // Written by macOS from the escrow profile: root's (as is every file Keywarden reads as root).
    let bytes = match files::read_file(&path, MAX_ESCROW_PREFS_BYTES, Trust::Owned(owners)) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => return Err(file_error(paths::ESCROW_MANAGED_PREFS, &e)),
    };
    let value = crate::plistio::value_from_bytes(&bytes).map_err(|e| ProbeError::File {
        path: paths::ESCROW_MANAGED_PREFS.to_owned(),
        message: e.to_string(),
    })?;
    Ok(value
        .as_dictionary()
        .and_then(|d| d.get("Location"))
        .and_then(|v| v.as_string())
        .map(str::to_owned))
}

/// Modification time, hash and CMS recipient of the escrow file; read as bytes, never as text
/// lines (corpus/FILEVAULTPRK.md: Fleet's line-based reader dropped bytes).
pub(crate) fn escrow_file_facts(root: &Root, owners: Owners) -> Probe<Option<FileFacts>> {
    let path = root.resolve(paths::FILEVAULT_PRK);
    let meta = match files::lstat(&path) {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) => return Err(file_error(paths::FILEVAULT_PRK, &e)),
    };
    let bytes = files::read_file(&path, MAX_ESCROW_FILE_BYTES, Trust::Owned(owners))
        .map_err(|e| file_error(paths::FILEVAULT_PRK, &e))?;
    let Some(bytes) = bytes else { return Ok(None) };
    let modified = meta.modified().map_err(|e| ProbeError::File {
        path: paths::FILEVAULT_PRK.to_owned(),
        message: e.to_string(),
    })?;
    let digest = Sha256::digest(&bytes);
    Ok(Some(FileFacts {
        modified_at: clock::from_system_time(modified),
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        recipient: escrow_blob::parse_blob(&bytes),
    }))
}

/// The owner of `/dev/console` (ARCHITECTURE.md: root or absent means nobody is logged in).
pub fn console_owner(root: &Root) -> Probe<Console> {
    let path = root.resolve(paths::CONSOLE);
    match std::fs::metadata(Path::new(&path)) {
        Ok(m) if m.uid() == 0 => Ok(Console::Nobody),
        Ok(m) => Ok(Console::Uid(m.uid())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Console::Nobody),
        Err(e) => Err(ProbeError::File {
            path: paths::CONSOLE.to_owned(),
            message: e.to_string(),
        }),
    }
}

impl Snapshot {
    /// The latched or freshly definite answer about key use in this boot.
    pub fn key_use(&self, state: &State) -> Option<KeyUse> {
        match &self.using_recovery_key {
            Some(Ok(u)) => Some(KeyUse::from(*u)),
            Some(Err(_)) => None,
            None => self
                .boot_session
                .as_ref()
                .ok()
                .and_then(|b| state.key_use_for(b)),
        }
    }

    /// Every probe error, in a stable order, for `Daemon.Errors`.
    pub fn errors(&self) -> Vec<&ProbeError> {
        let mut out: Vec<&ProbeError> = Vec::new();
        fn push<'a, T>(out: &mut Vec<&'a ProbeError>, p: &'a Probe<T>) {
            if let Err(e) = p {
                out.push(e);
            }
        }
        push(&mut out, &self.os_version);
        push(&mut out, &self.os_build);
        push(&mut out, &self.apple_silicon);
        push(&mut out, &self.boot_session);
        push(&mut out, &self.filevault);
        if let Some(d) = &self.deferral {
            push(&mut out, d);
        }
        push(&mut out, &self.personal_key);
        push(&mut out, &self.institutional_key);
        if let Some(u) = &self.using_recovery_key {
            push(&mut out, u);
        }
        push(&mut out, &self.crypto_users);
        push(&mut out, &self.users);
        push(&mut out, &self.admins);
        for (_, p) in &self.secure_tokens {
            push(&mut out, p);
        }
        push(&mut out, &self.bootstrap);
        push(&mut out, &self.profiles);
        push(&mut out, &self.escrow_location);
        push(&mut out, &self.escrow_file);
        push(&mut out, &self.console);
        push(&mut out, &self.escrow_buddy);
        if let Ok(Some(eb)) = &self.escrow_buddy {
            push(&mut out, &eb.mechanisms);
            push(&mut out, &eb.generate_new_key);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::diskutil::CryptoUserKind;

    fn guid(i: usize) -> String {
        format!("00000000-0000-4000-8000-{i:012}")
    }

    /// `n` people, uid 501.., each with `;SecureToken;` exactly when `token(i)`, and a crypto
    /// user for each token holder: the evidence agrees for everyone.
    fn mac(n: usize, token: impl Fn(usize) -> bool) -> (Vec<UserRecord>, Vec<CryptoUser>) {
        let mut users = Vec::new();
        let mut crypto = Vec::new();
        for i in 0..n {
            let mut aa = vec![";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2>".to_owned()];
            if token(i) {
                aa.push(";SecureToken;".to_owned());
                crypto.push(CryptoUser {
                    uuid: guid(i),
                    kind: CryptoUserKind::LocalOpenDirectory,
                    volume_owner: Some(false),
                });
            }
            users.push(UserRecord {
                name: format!("u{i}"),
                uid: 501 + i as i64,
                generated_uid: Some(guid(i)),
                real_name: None,
                hidden: false,
                authentication_authority: aa,
            });
        }
        (users, crypto)
    }

    #[test]
    fn issue_16_with_500_users_sysadminctl_is_asked_only_about_the_console_user() {
        let (users, crypto) = mac(500, |i| i % 7 == 0);
        let asked = token_questions(&users, &Ok(crypto), &Ok(Console::Uid(503)));
        assert_eq!(asked, vec!["u2".to_owned()]);
        let asked = token_questions(&users, &Ok(mac(500, |_| true).1), &Ok(Console::Nobody));
        assert_eq!(
            asked.len(),
            500 - 500 / 7 - 1,
            "tag without crypto user: asked"
        );
    }

    #[test]
    fn issue_16_sysadminctl_is_asked_only_where_the_evidence_disagrees_or_is_missing() {
        let (mut users, crypto) = mac(4, |i| i == 1);
        // u0: tagged, not a crypto user. u1: agrees. u2: no AuthenticationAuthority at all.
        // u3: a crypto user (a token granted) whose tag is missing.
        users[0]
            .authentication_authority
            .push(";SecureToken;".into());
        users[2].authentication_authority.clear();
        let mut crypto = crypto;
        crypto.push(CryptoUser {
            uuid: guid(3).to_lowercase(),
            kind: CryptoUserKind::LocalOpenDirectory,
            volume_owner: Some(false),
        });
        let asked = token_questions(&users, &Ok(crypto), &Ok(Console::Nobody));
        assert_eq!(asked, vec!["u0", "u2", "u3"]);
    }

    #[test]
    fn issue_16_with_the_crypto_users_unreadable_only_the_console_user_is_asked() {
        let (users, _) = mac(50, |_| false);
        let failed: Probe<Vec<CryptoUser>> = Err(ProbeError::File {
            path: "diskutil".into(),
            message: "failed".into(),
        });
        assert_eq!(
            token_questions(&users, &failed, &Ok(Console::Uid(510))),
            vec!["u9"]
        );
        // Nobody at the console, or someone no record names: nobody to ask.
        assert!(token_questions(&users, &failed, &Ok(Console::Uid(9999))).is_empty());
    }
}
