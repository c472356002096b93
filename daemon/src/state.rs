//! The persisted state: what Keywarden must remember across checks and restarts that the Mac
//! itself forgets (ARCHITECTURE.md, "Key lifecycle").
//!
//! `/var/db/keywarden/state.plist` under the root: versioned, 0600 in a 0700 directory, written
//! atomically, read only when owned by root (or the simulated root's user) and not writable by
//! group or others. A corrupt, untrusted or unknown-version file is moved aside with a log line
//! and the state is rebuilt from observation: it never stops the daemon, and the reason is
//! reported in the status of that check. The state holds no secret.
//!
//! This module owns the format and the loading rules; what goes into the state is decided in
//! `check`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::files::{self, FileError, Owners, Trust};
use crate::paths::{self, Root};
use crate::rotation::{EscrowMark, Rotation};
use crate::status::ValidationResult;
use crate::tools::fdesetup::UsingRecoveryKey;

pub const STATE_VERSION: u32 = 1;
const MAX_STATE_BYTES: u64 = 4 * 1024 * 1024;

/// Everything Keywarden remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub version: u32,
    /// The current boot, keyed by `kern.bootsessionuuid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootRecord>,
    /// The last non-root console user seen (AdditionalAdminsWithToken excludes them when nobody
    /// is logged in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_console_user: Option<String>,
    /// The last time the key was seen in use. The OS forgets at reboot; Keywarden must not.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::plist_date::option"
    )]
    pub key_last_used_at: Option<Timestamp>,
    /// The deferral output path last reported by `showdeferralinfo`: once FileVault is on, the
    /// plaintext key file may remain there (PLATFORM.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferral_output_path: Option<String>,
    /// The daemon's next scheduled check: compared with the wall clock after every wake-up,
    /// because timers stop while a Mac sleeps (PLATFORM.md).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::plist_date::option"
    )]
    pub next_check_at: Option<Timestamp>,
    /// The rotation state machine (`rotation`).
    #[serde(default)]
    pub rotation: Rotation,
    /// The escrow file as last seen: a different one means a new key was staged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow_seen: Option<EscrowMark>,
    /// When the key last changed (a new escrow file appeared with a key present).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::plist_date::option"
    )]
    pub key_last_changed_at: Option<Timestamp>,
    /// Checks in a row that saw FileVault on and no personal recovery key.
    #[serde(default)]
    pub key_missing_streak: u32,
    /// The `RotationRequestID` last acted on (a new value requests one rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_request_id: Option<String>,
    /// A `keywarden rotate --request` not yet turned into a rotation.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::plist_date::option"
    )]
    pub admin_request_at: Option<Timestamp>,
    /// When a console login was last seen (a non-root console user appeared or changed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::plist_date::option"
    )]
    pub last_login_at: Option<Timestamp>,
    /// How many console logins Keywarden has seen (to order them against requests).
    #[serde(default)]
    pub login_count: u64,
    /// When Keywarden set Escrow Buddy's `GenerateNewKey`; only a flag Keywarden set is ever
    /// withdrawn by it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::plist_date::option"
    )]
    pub flag_set_at: Option<Timestamp>,
    /// The last `keywarden validate` (never the key).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::plist_date::option"
    )]
    pub last_validated_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_validation: Option<ValidationResult>,
    /// The console user at the last check (`None`: nobody), to notice logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_now: Option<String>,
    /// Effects decided and not yet done (the outbox): saved before acting, replayed by the next
    /// check after a kill, cleared when done. Audit events carry their id so a replay writes each
    /// once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<Pending>,
    /// The id the next effect gets.
    #[serde(default)]
    pub next_effect_id: u64,
    /// When a rotation was last confirmed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::clock::plist_date::option"
    )]
    pub last_rotated_at: Option<Timestamp>,
}

impl Default for State {
    fn default() -> State {
        State {
            version: STATE_VERSION,
            boot: None,
            last_console_user: None,
            key_last_used_at: None,
            deferral_output_path: None,
            next_check_at: None,
            rotation: Rotation::Idle,
            escrow_seen: None,
            key_last_changed_at: None,
            key_missing_streak: 0,
            last_rotation_request_id: None,
            admin_request_at: None,
            last_login_at: None,
            login_count: 0,
            flag_set_at: None,
            last_validated_at: None,
            last_validation: None,
            console_now: None,
            outbox: Vec::new(),
            next_effect_id: 0,
            last_rotated_at: None,
        }
    }
}

/// An effect waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Pending {
    pub id: u64,
    pub effect: crate::rotation::Effect,
}

impl State {
    /// Put effects in the outbox, each with a fresh id.
    pub fn enqueue(&mut self, effects: Vec<crate::rotation::Effect>) {
        for effect in effects {
            self.outbox.push(Pending {
                id: self.next_effect_id,
                effect,
            });
            self.next_effect_id += 1;
        }
    }
}

/// What Keywarden knows about one boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BootRecord {
    #[serde(rename = "SessionUUID")]
    pub session_uuid: String,
    #[serde(with = "crate::clock::plist_date")]
    pub first_seen_at: Timestamp,
    /// The definite answer of `usingrecoverykey` for this boot, latched once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<KeyUse>,
    /// A non-root console user has been seen during this boot.
    #[serde(default)]
    pub console_user_seen: bool,
    /// Someone else's `GenerateNewKey` during this boot's password reset was reported.
    #[serde(default)]
    pub foreign_flag_reported: bool,
}

/// A definite answer about key use in one boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyUse {
    Used,
    NotUsed,
    NotSupported,
}

impl From<UsingRecoveryKey> for KeyUse {
    fn from(u: UsingRecoveryKey) -> KeyUse {
        match u {
            UsingRecoveryKey::Yes => KeyUse::Used,
            UsingRecoveryKey::No => KeyUse::NotUsed,
            UsingRecoveryKey::NotSupported => KeyUse::NotSupported,
        }
    }
}

impl State {
    /// The record of the boot `uuid`, starting a new one (and forgetting the previous boot's
    /// per-boot facts) when the Mac has rebooted.
    pub fn boot_mut(&mut self, uuid: &str, now: Timestamp) -> &mut BootRecord {
        if self.boot.as_ref().map(|b| b.session_uuid.as_str()) != Some(uuid) {
            self.boot = Some(BootRecord {
                session_uuid: uuid.to_owned(),
                first_seen_at: now,
                key_use: None,
                console_user_seen: false,
                foreign_flag_reported: false,
            });
        }
        self.boot.as_mut().expect("set just above")
    }

    /// The latched answer for boot `uuid`, if definite.
    pub fn key_use_for(&self, uuid: &str) -> Option<KeyUse> {
        self.boot
            .as_ref()
            .filter(|b| b.session_uuid == uuid)
            .and_then(|b| b.key_use)
    }
}

/// The outcome of loading: the state to use, and what went wrong with the file, if anything.
#[derive(Debug)]
pub struct Loaded {
    pub state: State,
    /// Why the file on disk was not used (moved aside, untrusted); reported in the status.
    pub problem: Option<String>,
}

/// Load the state of the Mac under `root`. Never fails: a bad file is moved aside and a fresh
/// state is returned with the reason.
pub fn load(root: &Root, owners: Owners, now: Timestamp) -> Loaded {
    let path = root.resolve(paths::STATE);
    let bytes = match files::read_file(&path, MAX_STATE_BYTES, Trust::Owned(owners)) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Loaded {
                state: State::default(),
                problem: None,
            }
        }
        Err(e @ (FileError::Symlink { .. } | FileError::NotRegular { .. })) => {
            // Not ours to move: report it; the save will refuse it too, naming it.
            return Loaded {
                state: State::default(),
                problem: Some(format!("state not loaded: {e}")),
            };
        }
        Err(
            e @ (FileError::Owner { .. } | FileError::Writable { .. } | FileError::TooLarge { .. }),
        ) => {
            let moved = move_aside(&path, now, "untrusted");
            return Loaded {
                state: State::default(),
                problem: Some(format!("state not trusted and {moved}: {e}")),
            };
        }
        Err(e) => {
            return Loaded {
                state: State::default(),
                problem: Some(format!("state not loaded: {e}")),
            }
        }
    };
    match parse(&bytes) {
        Ok(state) => Loaded {
            state,
            problem: None,
        },
        Err(why) => {
            let moved = move_aside(&path, now, "bad");
            tracing::warn!(event = "state_moved_aside", path = %path.display(), reason = %why, "state file {moved}: {why}; rebuilding from observation");
            Loaded {
                state: State::default(),
                problem: Some(format!(
                    "state file {why}; it was {moved} and the state is rebuilt from observation"
                )),
            }
        }
    }
}

/// Parse state bytes, checking the version first so a future format is recognised as such.
pub fn parse(bytes: &[u8]) -> Result<State, String> {
    let value = crate::plistio::value_from_bytes(bytes).map_err(|e| format!("is {e}"))?;
    let version = value
        .as_dictionary()
        .and_then(|d| d.get("Version"))
        .and_then(|v| v.as_unsigned_integer());
    match version {
        Some(v) if v == u64::from(STATE_VERSION) => {}
        Some(v) => {
            return Err(format!(
            "has version {v}, which this Keywarden (state version {STATE_VERSION}) does not know"
        ))
        }
        None => return Err("has no Version".to_owned()),
    }
    crate::plistio::from_value(&value)
        .map_err(|e| format!("does not match state version {STATE_VERSION}: it {e}"))
}

fn move_aside(path: &std::path::Path, now: Timestamp, why: &str) -> String {
    let aside = path.with_extension(format!("plist.{why}-{}", now.as_second()));
    match std::fs::rename(path, &aside) {
        Ok(()) => format!("moved aside to {}", aside.display()),
        Err(e) => format!("could not be moved aside ({e})"),
    }
}

/// Persist the state atomically (0600 in the 0700 state directory).
pub fn save(root: &Root, owners: Owners, state: &State) -> Result<(), FileError> {
    let dir = root.resolve(paths::STATE_DIR);
    files::ensure_dir(&dir, 0o700, true, owners)?;
    let mut bytes = Vec::new();
    plist::to_writer_xml(&mut bytes, state)
        .expect("the state serialises: plain strings, numbers, dates and enums");
    files::write_atomic(&root.resolve(paths::STATE), &bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn now() -> Timestamp {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    fn sample() -> State {
        let mut s = State {
            rotation: Rotation::Requested {
                reason: crate::rotation::Reason::KeyUsed,
                since: now(),
                method: crate::config::RotationMethod::EscrowBuddy,
                at: now(),
                first_at: now(),
                attempts: 1,
                escrow_before: Some(EscrowMark {
                    modified_at: now(),
                    sha256: "ab".into(),
                }),
                last_error: Some(
                    "Escrow Buddy ran at login but no new escrow file appeared".into(),
                ),
                logins_before: 2,
            },
            last_validation: Some(ValidationResult::Invalid),
            last_console_user: Some("alice".into()),
            key_last_used_at: Some(now()),
            ..State::default()
        };
        let b = s.boot_mut("B0", now());
        b.key_use = Some(KeyUse::Used);
        b.console_user_seen = true;
        s
    }

    #[test]
    fn the_state_round_trips_through_its_file_with_mode_0600_in_a_0700_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        save(&root, Owners::current(), &sample()).unwrap();
        let meta = std::fs::metadata(root.resolve(paths::STATE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        let dmeta = std::fs::metadata(root.resolve(paths::STATE_DIR)).unwrap();
        assert_eq!(dmeta.permissions().mode() & 0o7777, 0o700);
        let loaded = load(&root, Owners::current(), now());
        assert_eq!(loaded.state, sample());
        assert!(loaded.problem.is_none());
    }

    #[test]
    fn a_new_boot_forgets_the_previous_boots_latch() {
        let mut s = sample();
        assert_eq!(s.key_use_for("B0"), Some(KeyUse::Used));
        s.boot_mut("B1", now());
        assert_eq!(s.key_use_for("B1"), None);
        assert_eq!(s.key_use_for("B0"), None);
        assert_eq!(
            s.key_last_used_at,
            Some(now()),
            "the last use is kept forever"
        );
    }

    #[test]
    fn a_corrupt_or_future_state_file_is_moved_aside_and_rebuilt() {
        for (content, expect) in [
            (&b"garbage"[..], "not a readable property list"),
            (&b""[..], "not a readable property list"),
            (
                &b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Version</key><integer>99</integer></dict></plist>"[..],
                "version 99",
            ),
            (
                &b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Version</key><integer>1</integer><key>Boot</key><string>x</string></dict></plist>"[..],
                "does not match state version 1",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let root = Root::new(dir.path());
            let path = root.resolve(paths::STATE);
            files::ensure_dir(path.parent().unwrap(), 0o700, true, Owners::current()).unwrap();
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let loaded = load(&root, Owners::current(), now());
            assert_eq!(loaded.state, State::default());
            let problem = loaded.problem.unwrap();
            assert!(problem.contains(expect), "{problem}");
            assert!(problem.contains("moved aside"), "{problem}");
            assert!(!path.exists());
            let aside: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().flatten().collect();
            assert_eq!(aside.len(), 1);
        }
    }

    #[test]
    fn a_world_writable_state_file_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        save(&root, Owners::current(), &sample()).unwrap();
        let path = root.resolve(paths::STATE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let loaded = load(&root, Owners::current(), now());
        assert_eq!(loaded.state, State::default());
        assert!(loaded
            .problem
            .unwrap()
            .contains("writable by group or others"));
    }

    #[test]
    fn a_symlink_at_the_state_path_is_reported_and_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let path = root.resolve(paths::STATE);
        files::ensure_dir(path.parent().unwrap(), 0o700, true, Owners::current()).unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let loaded = load(&root, Owners::current(), now());
        assert!(loaded.problem.unwrap().contains("symbolic link"));
        assert!(save(&root, Owners::current(), &sample()).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn a_loose_state_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let sd = root.resolve(paths::STATE_DIR);
        std::fs::create_dir_all(&sd).unwrap();
        std::fs::set_permissions(&sd, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = save(&root, Owners::current(), &sample()).unwrap_err();
        assert!(err.to_string().contains("private to root"), "{err}");
    }
}
