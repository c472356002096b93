//! The state file as it is on disk: one flat dictionary, version 1. `State` is read and written
//! through it, so its parts can change shape without changing the file; a test loads files
//! written before the parts existed (`tests/fixtures/state`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{
    AdminRequests, BootRecord, CertMark, EscrowMark, FlagOwnership, KeyHistory, Logins, Outbox,
    Pending, Rotation, State, ValidationRecord, STATE_VERSION,
};
use crate::status::ValidationResult;

/// The state file's dictionary, flat as written since version 1 (the names are the format).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Wire {
    version: u32,
    /// The current boot, keyed by `kern.bootsessionuuid`.
    boot: Option<BootRecord>,
    /// The last non-root console user seen (AdditionalAdminsWithToken excludes them when nobody
    /// is logged in).
    last_console_user: Option<String>,
    /// The last time the key was seen in use. The OS forgets at reboot; Keywarden must not.
    #[serde(default, with = "crate::clock::plist_date::option")]
    key_last_used_at: Option<Timestamp>,
    /// The deferral output path last reported by `showdeferralinfo`: once FileVault is on, the
    /// plaintext key file may remain there (PLATFORM.md).
    deferral_output_path: Option<String>,
    /// The daemon's next scheduled check: compared with the wall clock after every wake-up,
    /// because timers stop while a Mac sleeps (PLATFORM.md).
    #[serde(default, with = "crate::clock::plist_date::option")]
    next_check_at: Option<Timestamp>,
    /// The rotation state machine (`rotation`).
    #[serde(default)]
    rotation: Rotation,
    /// The escrow file as last seen: a different one means a new key was staged.
    escrow_seen: Option<EscrowMark>,
    /// Certificates of the escrow payload seen installed, oldest first (issue 14).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    escrow_certificates: Vec<CertMark>,
    /// The last check that saw no escrow payload installed (issue 14).
    #[serde(default, with = "crate::clock::plist_date::option")]
    escrow_payload_absent_at: Option<Timestamp>,
    /// When the key last changed (a new escrow file appeared with a key present).
    #[serde(default, with = "crate::clock::plist_date::option")]
    key_last_changed_at: Option<Timestamp>,
    /// Checks in a row that saw FileVault on and no personal recovery key.
    #[serde(default)]
    key_missing_streak: u32,
    /// The `RotationRequestID` last acted on (a new value requests one rotation).
    last_rotation_request_id: Option<String>,
    /// A `keywarden rotate --request` not yet turned into a rotation.
    #[serde(default, with = "crate::clock::plist_date::option")]
    admin_request_at: Option<Timestamp>,
    /// When a console login was last seen (a non-root console user appeared or changed).
    #[serde(default, with = "crate::clock::plist_date::option")]
    last_login_at: Option<Timestamp>,
    /// How many console logins Keywarden has seen (to order them against requests).
    #[serde(default)]
    login_count: u64,
    /// When Keywarden set Escrow Buddy's `GenerateNewKey`; only a flag Keywarden set is ever
    /// withdrawn by it.
    #[serde(default, with = "crate::clock::plist_date::option")]
    flag_set_at: Option<Timestamp>,
    /// The last `keywarden validate` (never the key).
    #[serde(default, with = "crate::clock::plist_date::option")]
    last_validated_at: Option<Timestamp>,
    last_validation: Option<ValidationResult>,
    /// The console user at the last check (`None`: nobody), to notice logins.
    console_now: Option<String>,
    /// The uid of a person at the console at the last check whom no single local record names
    /// (issue 16, item 5), to notice their login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    console_uid_now: Option<u32>,
    /// Effects decided and not yet done (the outbox): saved before acting, replayed by the next
    /// check after a kill, cleared when done. Audit events carry their id so a replay writes each
    /// once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    outbox: Vec<Pending>,
    /// The id the next effect gets.
    #[serde(default)]
    next_effect_id: u64,
    /// When a rotation was last confirmed.
    #[serde(default, with = "crate::clock::plist_date::option")]
    last_rotated_at: Option<Timestamp>,
}

impl From<Wire> for State {
    fn from(w: Wire) -> State {
        State {
            boot: w.boot,
            keys: KeyHistory {
                last_used_at: w.key_last_used_at,
                last_changed_at: w.key_last_changed_at,
                escrow_seen: w.escrow_seen,
                escrow_certificates: w.escrow_certificates,
                escrow_payload_absent_at: w.escrow_payload_absent_at,
                missing_streak: w.key_missing_streak,
                last_rotated_at: w.last_rotated_at,
                deferral_output_path: w.deferral_output_path,
            },
            logins: Logins {
                console_now: w.console_now,
                console_uid_now: w.console_uid_now,
                last_console_user: w.last_console_user,
                last_login_at: w.last_login_at,
                count: w.login_count,
            },
            flag: FlagOwnership {
                set_at: w.flag_set_at,
            },
            outbox: Outbox {
                pending: w.outbox,
                next_id: w.next_effect_id,
            },
            validation: ValidationRecord {
                last_at: w.last_validated_at,
                last: w.last_validation,
            },
            requests: AdminRequests {
                last_request_id: w.last_rotation_request_id,
                pending_since: w.admin_request_at,
            },
            rotation: w.rotation,
            next_check_at: w.next_check_at,
            clock_found_behind: false,
        }
    }
}

impl From<State> for Wire {
    fn from(s: State) -> Wire {
        Wire {
            version: STATE_VERSION,
            boot: s.boot,
            last_console_user: s.logins.last_console_user,
            key_last_used_at: s.keys.last_used_at,
            deferral_output_path: s.keys.deferral_output_path,
            next_check_at: s.next_check_at,
            rotation: s.rotation,
            escrow_seen: s.keys.escrow_seen,
            escrow_certificates: s.keys.escrow_certificates,
            escrow_payload_absent_at: s.keys.escrow_payload_absent_at,
            key_last_changed_at: s.keys.last_changed_at,
            key_missing_streak: s.keys.missing_streak,
            last_rotation_request_id: s.requests.last_request_id,
            admin_request_at: s.requests.pending_since,
            last_login_at: s.logins.last_login_at,
            login_count: s.logins.count,
            flag_set_at: s.flag.set_at,
            last_validated_at: s.validation.last_at,
            last_validation: s.validation.last,
            console_now: s.logins.console_now,
            console_uid_now: s.logins.console_uid_now,
            outbox: s.outbox.pending,
            next_effect_id: s.outbox.next_id,
            last_rotated_at: s.keys.last_rotated_at,
        }
    }
}
