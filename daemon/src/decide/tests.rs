//! Table tests of `decide`, each row a change to one healthy Mac (`Mac::healthy`): one row (at
//! least) per problem code, one per rotation reason and per guard that holds a request back, the
//! facts worked out once (`facts`), and how `after_acting` / `after_command` fold what acting
//! came to back into the state.
//!
//! The inputs are hand-written (no tool runs here): the crypto users are shaped like corpus
//! `diskutil-apfs-listcryptousers/fleet-fixture-plist-volumeowner-mdmrecovery.txt`, the smart-card
//! authority like `dscl-read-authenticationauthority/pycreateuserpkg-50-...-tokenidentity.txt`.
//! The rotation machine's own (state × event) table is in `rotation`; this file tests what
//! `decide` feeds it and publishes.

use jiff::{SignedDuration, Timestamp};

use super::{after_acting, after_command, decide, facts_of, rotation_section, Decision, Inputs};
use crate::config::{Config, RotationMethod, RotationMode};
use crate::observe::{Console, EscrowBuddy, FileFacts, Snapshot};
use crate::rotation::Done;
use crate::state::{BootRecord, Effect, EscrowMark, KeyUse, Rotation, State};
use crate::status::{
    EscrowState, FileVaultState, KeyState, Problem, Reason, RotationStateName as N, Status,
    ValidationResult,
};
use crate::tools::diskutil::{CryptoUser, CryptoUserKind};
use crate::tools::dscl::UserRecord;
use crate::tools::escrow_blob::{BlobProblem, EscrowCertificate, Recipient};
use crate::tools::fdesetup::{Conversion, DeferralInfo, Deferred, FdeStatus, UsingRecoveryKey};
use crate::tools::profiles::{
    BootstrapToken, ComputerProfiles, EscrowCertificateSeen, InstalledProfile, UnreadableProfile,
    ESCROW_PAYLOAD_TYPE,
};
use crate::tools::security::ESCROW_BUDDY_MECHANISM;
use crate::tools::{ProbeError, RunFailure};

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The time of the check.
fn now() -> Timestamp {
    t("2026-11-20T10:00:00Z")
}

fn ago(hours: i64) -> Timestamp {
    now() - SignedDuration::from_hours(hours)
}

/// The escrow payload was installed at enrolment; the current key was made (and staged for
/// escrow) half an hour later, when FileVault was turned on.
fn profile_installed_at() -> Timestamp {
    t("2026-10-01T09:00:00Z")
}
/// The escrow payload's certificate (the MDM holds its private key).
fn escrow_cert() -> EscrowCertificate {
    EscrowCertificate {
        issuer: "CN=Example MDM FileVault CA,O=Example".into(),
        serial: "5A".into(),
        subject: "CN=FileVault Recovery Key Escrow".into(),
        subject_key_id: Some("1f2e".repeat(5)),
        public_key_sha256: "a1".repeat(32),
    }
}
/// Another MDM's certificate (a re-enrolment, a migration).
fn other_cert() -> EscrowCertificate {
    EscrowCertificate {
        issuer: "CN=Other MDM CA".into(),
        serial: "01".into(),
        public_key_sha256: "b2".repeat(32),
        ..escrow_cert()
    }
}
fn escrow_file() -> FileFacts {
    FileFacts {
        modified_at: t("2026-10-01T09:30:00Z"),
        sha256: "9f2c".repeat(16),
        recipient: Ok(escrow_cert().recipient()),
    }
}
fn listed(installed: Vec<InstalledProfile>) -> ComputerProfiles {
    ComputerProfiles {
        installed,
        unreadable: Vec::new(),
    }
}
/// The escrow file as the state remembers it.
fn escrow_mark() -> EscrowMark {
    EscrowMark {
        modified_at: escrow_file().modified_at,
        sha256: escrow_file().sha256,
    }
}

const BOOT: &str = "6C0B3F7A-2D41-4E5B-9A8C-1F2E3D4C5B6A";
const ALICE: &str = "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667";
/// The personal recovery key's crypto user has this UUID on every APFS volume.
const PRK: &str = "EBC6C064-0000-11AA-AA11-00306543ECAC";
const BOOTSTRAP: &str = "2457711A-523C-4604-B75A-F48A571D5036";

fn user(name: &str, uid: i64, guid: &str) -> UserRecord {
    UserRecord {
        name: name.into(),
        uid,
        generated_uid: Some(guid.into()),
        real_name: None,
        hidden: false,
        authentication_authority: vec![";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2>".into()],
    }
}

fn crypto(uuid: &str, kind: CryptoUserKind, volume_owner: bool) -> CryptoUser {
    CryptoUser {
        uuid: uuid.into(),
        kind,
        volume_owner: Some(volume_owner),
    }
}

/// A tool that timed out.
fn timed_out(call: &str) -> ProbeError {
    ProbeError::Run {
        call: call.into(),
        kind: RunFailure::TimedOut,
        message: "timed out after 30 s".into(),
    }
}

/// A rotation requested `hours` ago that has not been answered.
fn requested(reason: Reason, method: RotationMethod, hours: i64, logins_before: u64) -> Rotation {
    Rotation::Requested {
        reason,
        since: ago(hours),
        method,
        at: ago(hours),
        first_at: ago(hours),
        attempts: 0,
        escrow_before: Some(escrow_mark()),
        last_error: None,
        logins_before,
    }
}

/// The inputs of one check, as a row changes them.
#[derive(Clone)]
struct Mac {
    snapshot: Snapshot,
    state: State,
    config: Config,
    state_problem: Option<String>,
    previous: Option<Status>,
}

impl Mac {
    /// A healthy Mac: FileVault on, a key that was staged for escrow after the payload was
    /// installed and never used, alice (uid 501, admin, SecureToken, volume owner) at the console,
    /// the bootstrap token escrowed, Escrow Buddy ready and its flag unset, macOS 15.1 on Apple
    /// silicon, default configuration. The state is what a healthy check of the previous boot left:
    /// this is the first check of a new boot, so `usingrecoverykey` was asked (and said No).
    fn healthy() -> Mac {
        let snapshot = Snapshot {
            observed_at: now(),
            os_version: Ok("15.1".into()),
            os_build: Ok("24B83".into()),
            apple_silicon: Ok(true),
            boot_session: Ok(BOOT.into()),
            filevault: Ok(FdeStatus {
                on: true,
                conversion: None,
                master_keychain: false,
                deferred: None,
                restart_required: false,
            }),
            deferral: None,
            personal_key: Ok(true),
            institutional_key: Ok(false),
            using_recovery_key: Some(Ok(UsingRecoveryKey::No)),
            crypto_users: Ok(vec![
                crypto(ALICE, CryptoUserKind::LocalOpenDirectory, true),
                crypto(PRK, CryptoUserKind::PersonalRecovery, true),
                crypto(BOOTSTRAP, CryptoUserKind::MdmRecovery, false),
            ]),
            users: Ok(vec![user("alice", 501, ALICE)]),
            skipped_users: Vec::new(),
            admins: Ok(vec!["root".into(), "alice".into()]),
            secure_tokens: vec![("alice".into(), Ok(true))],
            bootstrap: Ok(BootstrapToken {
                supported: true,
                escrowed: Some(true),
            }),
            profiles: Ok(listed(vec![InstalledProfile {
                identifier: "com.example.mdm.filevault".into(),
                display_name: Some("FileVault".into()),
                install_date: Some(profile_installed_at()),
                payload_types: vec![
                    ESCROW_PAYLOAD_TYPE.into(),
                    "com.apple.security.pkcs1".into(),
                ],
                escrow_certificate: Some(EscrowCertificateSeen::Shown(escrow_cert())),
                notes: Vec::new(),
            }])),
            escrow_location: Ok(Some("Example MDM".into())),
            escrow_file: Ok(Some(escrow_file())),
            console: Ok(Console::Uid(501)),
            escrow_buddy: Ok(Some(EscrowBuddy {
                mechanisms: Ok(vec![
                    "builtin:policy-banner".into(),
                    "loginwindow:login".into(),
                    ESCROW_BUDDY_MECHANISM.into(),
                ]),
                generate_new_key: Ok(None),
            })),
            plaintext_key_files: Vec::new(),
        };
        let mut state = State {
            boot: Some(BootRecord {
                session_uuid: "0A1B2C3D-0000-4000-8000-PREVIOUSBOOT".into(),
                first_seen_at: ago(26),
                key_use: Some(KeyUse::NotUsed),
                console_user_seen: true,
                foreign_flag_reported: false,
            }),
            ..State::default()
        };
        state.keys.last_changed_at = Some(escrow_file().modified_at);
        state.keys.escrow_seen = Some(escrow_mark());
        state.logins.console_now = Some("alice".into());
        state.logins.last_console_user = Some("alice".into());
        state.logins.last_login_at = Some(ago(26));
        state.logins.count = 1;
        Mac {
            snapshot,
            state,
            config: Config::default(),
            state_problem: None,
            previous: None,
        }
    }

    fn decide(&self) -> Decision {
        decide(&Inputs {
            now: now(),
            snapshot: &self.snapshot,
            config: &self.config,
            config_warnings: &[],
            state: &self.state,
            state_problem: self.state_problem.as_deref(),
            previous: self.previous.as_ref(),
            version: "0.0.0-test",
        })
    }

    fn escrow_buddy(&mut self) -> &mut EscrowBuddy {
        self.snapshot
            .escrow_buddy
            .as_mut()
            .unwrap()
            .as_mut()
            .unwrap()
    }

    /// The MDM re-sent its escrow profile two hours ago: same certificate, a new install date,
    /// no new escrow file (issue 14).
    fn resend_profile(&mut self) {
        self.snapshot.profiles.as_mut().unwrap().installed[0].install_date = Some(ago(2));
    }

    /// What `profiles` shows of the escrow payload's certificate.
    fn payload_certificate(&mut self, seen: EscrowCertificateSeen) {
        self.snapshot.profiles.as_mut().unwrap().installed[0].escrow_certificate = Some(seen);
    }

    /// Whom the escrow file names.
    fn escrow_file_recipient(&mut self, recipient: Result<Recipient, BlobProblem>) {
        if let Ok(Some(f)) = self.snapshot.escrow_file.as_mut() {
            f.recipient = recipient;
        }
    }

    /// `usingrecoverykey` says Yes in this boot.
    fn key_used_this_boot(&mut self) {
        self.snapshot.using_recovery_key = Some(Ok(UsingRecoveryKey::Yes));
    }

    /// No personal recovery key: `haspersonalrecoverykey` false and no PRK crypto user.
    fn no_key(&mut self) {
        self.snapshot.personal_key = Ok(false);
        if let Ok(users) = &mut self.snapshot.crypto_users {
            users.retain(|u| u.kind != CryptoUserKind::PersonalRecovery);
        }
    }

    /// Setup Assistant's `_mbsetupuser` (uid 248, hidden) owns `/dev/console`, as after enrolment
    /// or an update (PLATFORM.md).
    fn setup_assistant_at_the_console(&mut self) {
        self.snapshot.users.as_mut().unwrap().push(UserRecord {
            hidden: true,
            ..user("_mbsetupuser", 248, "FFFFEEEE-DDDD-CCCC-BBBB-AAAA000000F8")
        });
        self.snapshot.console = Ok(Console::Uid(248));
    }

    /// alice is paired with a smart card (corpus-shaped `;tokenidentity;` authority).
    fn pair_smart_card(&mut self) {
        self.snapshot.users.as_mut().unwrap()[0]
            .authentication_authority
            .push(";tokenidentity;96AD5967A5D7A6D5A765D9A6D965AD967A5D9765".into());
    }

    /// An admin's request went to Escrow Buddy two hours ago; alice, paired with a smart card,
    /// logged in with it an hour ago and Escrow Buddy ran (it was given the PIN, fdesetup refused
    /// it) and set the flag to false; the check that saw that counted the login and let the
    /// flag go. No new escrow file.
    fn escrow_buddy_ran_at_a_smart_card_login(&mut self) {
        self.state.requests.pending_since = Some(ago(3));
        self.state.rotation = requested(Reason::AdminRequest, RotationMethod::EscrowBuddy, 2, 1);
        self.state.logins.count = 2;
        self.state.logins.last_login_at = Some(ago(1));
        self.escrow_buddy().generate_new_key = Ok(Some(false));
        self.pair_smart_card();
    }

    /// A second human account, `name` (uid 502), its SecureToken answer and, with a token, its
    /// crypto user.
    fn add_user(&mut self, name: &str, admin: bool, token: bool) {
        const GUID: &str = "8E1F0A2B-3C4D-4E5F-8A9B-0C1D2E3F4A5B";
        self.snapshot
            .users
            .as_mut()
            .unwrap()
            .push(user(name, 502, GUID));
        if admin {
            self.snapshot.admins.as_mut().unwrap().push(name.into());
        }
        self.snapshot.secure_tokens.push((name.into(), Ok(token)));
        if token {
            self.snapshot.crypto_users.as_mut().unwrap().push(crypto(
                GUID,
                CryptoUserKind::LocalOpenDirectory,
                true,
            ));
        }
    }
}

/// A table passes when no row failed; otherwise every failure is shown at once.
fn all_pass(failures: &[String], rows: usize) {
    assert!(
        failures.is_empty(),
        "{} failure(s) in {rows} rows:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The effects in the outbox other than audit events: what `act` will do to the Mac.
fn actions(d: &Decision) -> Vec<Effect> {
    d.state
        .outbox
        .pending
        .iter()
        .map(|p| p.effect.clone())
        .filter(|e| !matches!(e, Effect::Audit(..)))
        .collect()
}

#[test]
fn a_healthy_mac_is_healthy_with_no_problem_no_rotation_and_nothing_to_do() {
    let d = Mac::healthy().decide();
    assert!(d.status.healthy, "{:?}", d.status.problems);
    assert_eq!(d.status.problems, Vec::<Problem>::new());
    assert_eq!(d.status.daemon.errors, Vec::<String>::new());
    assert!(!d.probe_failed);
    assert_eq!(d.status.rotation.state, N::Idle);
    assert_eq!(d.state.rotation, Rotation::Idle);
    assert!(d.state.outbox.is_empty(), "{:?}", d.state.outbox.pending);
    assert_eq!(d.status.file_vault.state, FileVaultState::On);
    assert_eq!(d.status.recovery_key.state, KeyState::Staged);
    assert_eq!(d.status.escrow.state, EscrowState::Staged);
    assert_eq!(d.status.secure_token.console_user_has_token, Some(true));
    assert_eq!(d.status.secure_token.human_volume_owners, Some(1));
}

type Change = fn(&mut Mac);

/// The decision on the healthy Mac with `change` applied.
fn decided(change: Change) -> Decision {
    let mut mac = Mac::healthy();
    change(&mut mac);
    mac.decide()
}

/// One row per problem code (and a few guards), with the exact set of problems expected.
fn problem_rows() -> Vec<(&'static str, Change, Vec<Problem>)> {
    use Problem::*;
    vec![
        (
            "a Mac with FileVault off reports FileVaultOff",
            |m| {
                m.snapshot.filevault.as_mut().unwrap().on = false;
                m.no_key();
            },
            vec![FileVaultOff],
        ),
        (
            "a Mac whose FileVault enablement is deferred to a logout reports FileVaultOff",
            |m| {
                let fv = m.snapshot.filevault.as_mut().unwrap();
                fv.on = false;
                fv.deferred = Some(Deferred {
                    user: Some("alice".into()),
                });
                m.snapshot.deferral = Some(Ok(DeferralInfo {
                    configured: true,
                    output_path: Some("/var/root/fdesetup.plist".into()),
                }));
                m.no_key();
            },
            vec![FileVaultOff],
        ),
        (
            "a Mac decrypting its disk reports FileVaultOff",
            |m| {
                m.snapshot.filevault.as_mut().unwrap().conversion =
                    Some(Conversion::Decrypting { percent: Some(12.0) });
            },
            vec![FileVaultOff],
        ),
        (
            "a Mac with FileVault on and no personal recovery key reports RecoveryKeyMissing",
            |m| m.no_key(),
            vec![RecoveryKeyMissing],
        ),
        (
            "a key used this boot reports RecoveryKeyUsed",
            |m| m.key_used_this_boot(),
            vec![RecoveryKeyUsed],
        ),
        (
            "a key used in an earlier boot and not changed since still reports RecoveryKeyUsed",
            |m| m.state.keys.last_used_at = Some(ago(30)),
            vec![RecoveryKeyUsed],
        ),
        (
            "a key with no escrow file reports RecoveryKeyNotEscrowed",
            |m| m.snapshot.escrow_file = Ok(None),
            vec![RecoveryKeyNotEscrowed],
        ),
        (
            "issue 14: a key whose escrow file is encrypted to another certificate reports RecoveryKeyNotEscrowed",
            |m| m.payload_certificate(EscrowCertificateSeen::Shown(other_cert())),
            vec![RecoveryKeyNotEscrowed],
        ),
        (
            "issue 14: a re-sent profile with the same certificate reports nothing",
            |m| m.resend_profile(),
            vec![],
        ),
        (
            "issue 14: a profile newer than the escrow file, its certificate not shown, warns EscrowUnconfirmed",
            |m| {
                m.resend_profile();
                m.payload_certificate(EscrowCertificateSeen::Unknown("not shown".into()));
            },
            vec![EscrowUnconfirmed],
        ),
        (
            "issue 14: an unreadable profile that carries no escrow payload warns ProfileUnreadable and escrow stands",
            |m| m.snapshot.profiles.as_mut().unwrap().unreadable.push(UnreadableProfile {
                name: "com.vendor.odd".into(),
                problem: "ProfileInstallDate is neither a string nor a date".into(),
                carries_escrow: Some(false),
            }),
            vec![ProfileUnreadable],
        ),
        (
            "issue 14 review: the escrow profile's date in another shape is left out: a warning, and the certificate comparison stands",
            |m| {
                let p = &mut m.snapshot.profiles.as_mut().unwrap().installed[0];
                p.install_date = None;
                p.notes = vec!["ProfileInstallDate `2026-01-01` is not YYYY-MM-DD HH:MM:SS +ZZZZ".into()];
            },
            vec![ProfileUnreadable],
        ),
        (
            "issue 14: EscrowOutsideMDM without a payload reports no escrow code",
            |m| {
                m.snapshot.profiles = Ok(ComputerProfiles::default());
                m.snapshot.escrow_location = Ok(None);
                m.snapshot.escrow_file = Ok(None);
                m.config.escrow_outside_mdm = true;
            },
            vec![],
        ),
        (
            "a Mac without the escrow payload reports EscrowProfileMissing",
            |m| {
                m.snapshot.profiles = Ok(ComputerProfiles::default());
                m.snapshot.escrow_location = Ok(None);
            },
            vec![EscrowProfileMissing],
        ),
        (
            "a request made over RotationOverdueDays ago and not answered reports RotationOverdue",
            |m| {
                m.state.requests.pending_since = Some(ago(15 * 24 + 1));
                m.state.rotation = requested(Reason::AdminRequest, RotationMethod::Mdm, 15 * 24, 1);
            },
            vec![RotationOverdue],
        ),
        (
            "a request exactly RotationOverdueDays old is not yet overdue",
            |m| {
                m.state.requests.pending_since = Some(ago(14 * 24));
                m.state.rotation = requested(Reason::AdminRequest, RotationMethod::Mdm, 14 * 24, 1);
            },
            vec![],
        ),
        (
            // Issue 14 changed this row: it was Keywarden's flag *still set* after a smart-card
            // login; Escrow Buddy does run at such a login, is given the PIN, and consumes the flag.
            "issue 14: Escrow Buddy that consumed the flag at a smart-card login without a new key reports RotationNeedsPasswordLogin",
            |m| {
                m.escrow_buddy_ran_at_a_smart_card_login();
            },
            vec![RotationNeedsPasswordLogin],
        ),
        (
            "issue 14: a rotation waiting for a password login after a smart-card login still reports RotationNeedsPasswordLogin",
            |m| {
                m.escrow_buddy_ran_at_a_smart_card_login();
                m.state = m.decide().state;
                m.state.outbox.pending.clear();
            },
            vec![RotationNeedsPasswordLogin],
        ),
        (
            "issue 14: Keywarden's flag still set past the grace period after a smart-card login is no problem (that login may not have run Escrow Buddy)",
            |m| {
                m.state.requests.pending_since = Some(ago(3));
                m.state.rotation = requested(Reason::AdminRequest, RotationMethod::EscrowBuddy, 2, 1);
                m.state.flag.set_at = Some(ago(2));
                m.state.logins.count = 2;
                m.state.logins.last_login_at = Some(ago(1));
                m.escrow_buddy().generate_new_key = Ok(Some(true));
                m.pair_smart_card();
            },
            vec![],
        ),
        (
            "issue 14: Setup Assistant at the console before anyone logged in calls no admin additional",
            |m| {
                m.setup_assistant_at_the_console();
                m.state.logins.console_now = None;
                m.state.logins.last_console_user = None;
                m.state.logins.count = 0;
                m.state.logins.last_login_at = None;
            },
            vec![],
        ),
        (
            "issue 14: an admin account of the MDM named with a leading _ at the console is not the console user",
            |m| {
                m.add_user("_mdmadmin", true, true);
                m.snapshot.console = Ok(Console::Uid(502));
            },
            vec![],
        ),
        (
            "Escrow Buddy without its login mechanism reports EscrowBuddyMechanismMissing",
            |m| {
                m.escrow_buddy().mechanisms = Ok(vec!["builtin:policy-banner".into(), "loginwindow:login".into()]);
            },
            vec![EscrowBuddyMechanismMissing],
        ),
        (
            "a console user without a SecureToken reports ConsoleUserWithoutSecureToken",
            |m| {
                m.add_user("bob", false, false);
                m.snapshot.console = Ok(Console::Uid(502));
                m.config.expected_secure_token_admins = vec!["alice".into()];
            },
            vec![ConsoleUserWithoutSecureToken],
        ),
        (
            "a console user without a SecureToken makes the admin who holds one additional too",
            |m| {
                m.add_user("bob", false, false);
                m.snapshot.console = Ok(Console::Uid(502));
            },
            vec![ConsoleUserWithoutSecureToken, AdditionalAdminWithSecureToken],
        ),
        (
            "a second admin with a SecureToken reports AdditionalAdminWithSecureToken",
            |m| m.add_user("carol", true, true),
            vec![AdditionalAdminWithSecureToken],
        ),
        (
            "a second admin with a SecureToken listed in ExpectedSecureTokenAdmins is no problem",
            |m| {
                m.add_user("carol", true, true);
                m.config.expected_secure_token_admins = vec!["carol".into()];
            },
            vec![],
        ),
        (
            "the MDM's managed admin matched by an ExpectedSecureTokenAdmins pattern is no problem (issue 14)",
            |m| {
                m.add_user("jamfmanage", true, true);
                m.config.expected_secure_token_admins = vec!["jamf*".into()];
            },
            vec![],
        ),
        (
            "a volume no human account owns reports NoHumanVolumeOwner",
            |m| m.snapshot.crypto_users.as_mut().unwrap()[0].volume_owner = Some(false),
            vec![NoHumanVolumeOwner],
        ),
        (
            "a volume no human account owns on an Intel Mac is no problem: ownership is Apple silicon's (issue 14)",
            |m| {
                m.snapshot.crypto_users.as_mut().unwrap()[0].volume_owner = Some(false);
                m.snapshot.apple_silicon = Ok(false);
            },
            vec![],
        ),
        (
            "a bootstrap token not escrowed reports BootstrapTokenNotEscrowed",
            |m| m.snapshot.bootstrap.as_mut().unwrap().escrowed = Some(false),
            vec![BootstrapTokenNotEscrowed],
        ),
        (
            "a bootstrap token the server does not support is no problem",
            |m| {
                m.snapshot.bootstrap = Ok(BootstrapToken {
                    supported: false,
                    escrowed: None,
                })
            },
            vec![],
        ),
        (
            "a plaintext key file left by deferred enablement reports PlaintextKeyOnDisk",
            |m| m.snapshot.plaintext_key_files = vec![crate::paths::DEFERRAL_OUTPUT_DEFAULT.into()],
            vec![PlaintextKeyOnDisk],
        ),
        (
            "a tool that times out reports ToolFailed and nothing it would have shown",
            |m| m.snapshot.bootstrap = Err(timed_out("/usr/bin/profiles status -type bootstraptoken")),
            vec![ToolFailed],
        ),
        (
            "fdesetup status failing after a healthy check keeps FileVault on (stale) and reports ToolFailed",
            |m| {
                m.previous = Some(Mac::healthy().decide().status);
                m.snapshot.filevault = Err(timed_out("/usr/bin/fdesetup status"));
            },
            vec![ToolFailed],
        ),
        (
            "a state file that could not be used reports StateUnreadable",
            |m| {
                m.state = State::default();
                m.state_problem = Some("state file is not a readable property list; it was moved aside to /var/db/keywarden/state.plist.bad-1795168800 and the state is rebuilt from observation".into());
            },
            vec![StateUnreadable],
        ),
        (
            "another tool's flag while this boot's password reset is pending reports RotationFlagDuringPasswordReset",
            |m| {
                m.key_used_this_boot();
                m.snapshot.console = Ok(Console::Nobody);
                m.escrow_buddy().generate_new_key = Ok(Some(true));
            },
            vec![RecoveryKeyUsed, RotationFlagDuringPasswordReset],
        ),
        (
            "issue 14 review: another tool's flag while key use is unknown is not called a danger to a reset nobody saw",
            |m| {
                m.snapshot.using_recovery_key = Some(Err(timed_out("/usr/bin/fdesetup usingrecoverykey")));
                m.snapshot.console = Ok(Console::Nobody);
                m.escrow_buddy().generate_new_key = Ok(Some(true));
            },
            vec![ToolFailed],
        ),
    ]
}

#[test]
fn every_problem_row_reports_exactly_its_problems() {
    let rows = problem_rows();
    let mut failures = Vec::new();
    for (name, change, want) in &rows {
        let d = decided(*change);
        let mut want = want.clone();
        want.sort();
        let mut got = d.status.problems.clone();
        got.extend(d.status.warnings.iter().copied());
        got.sort();
        if got != want {
            failures.push(format!("{name}: got {got:?}, want {want:?}"));
        }
        // A code is a problem or a warning by its severity; ToolFailed by what it hides (its own
        // test below).
        for p in &d.status.problems {
            if !p.critical() && !matches!(p, Problem::ToolFailed | Problem::ProfileUnreadable) {
                failures.push(format!("{name}: hygiene {p:?} listed in Problems"));
            }
        }
        for p in &d.status.warnings {
            if p.critical() {
                failures.push(format!("{name}: critical {p:?} listed in Warnings"));
            }
        }
        if d.status.healthy != d.status.problems.is_empty() {
            failures.push(format!("{name}: Healthy is {}", d.status.healthy));
        }
    }
    for p in Problem::ALL {
        if !rows.iter().any(|(_, _, want)| want.contains(&p)) {
            failures.push(format!("{}: no row reports it", p.code()));
        }
    }
    all_pass(&failures, rows.len());
}

/// Issue 14, item 4: Healthy is false only for what endangers recovery. This list is the
/// contract MDM smart groups are built on; changing it is a schema change.
#[test]
fn only_what_endangers_recovery_is_critical_issue_14() {
    use Problem::*;
    let critical: Vec<Problem> = Problem::ALL.into_iter().filter(|p| p.critical()).collect();
    assert_eq!(
        critical,
        vec![
            FileVaultOff,
            RecoveryKeyMissing,
            RecoveryKeyUsed,
            RecoveryKeyNotEscrowed,
            EscrowProfileMissing,
            RotationOverdue,
            RotationFlagDuringPasswordReset,
        ]
    );
}

#[test]
fn a_mac_with_the_mdms_admin_holding_a_token_and_no_bootstrap_token_escrowed_is_healthy_with_two_warnings_issue_14(
) {
    let mut mac = Mac::healthy();
    mac.add_user("mdmadmin", true, true);
    mac.snapshot.bootstrap.as_mut().unwrap().escrowed = Some(false);
    let s = mac.decide().status;
    assert!(s.healthy, "{:?}", s.problems);
    assert_eq!(s.problems, Vec::<Problem>::new());
    assert_eq!(
        s.warnings,
        vec![
            Problem::AdditionalAdminWithSecureToken,
            Problem::BootstrapTokenNotEscrowed
        ]
    );
}

#[test]
fn a_failed_probe_is_critical_only_when_it_leaves_a_critical_fact_unknown_issue_14() {
    let bootstrap = decided(|m| {
        m.snapshot.bootstrap = Err(timed_out("/usr/bin/profiles status -type bootstraptoken"))
    })
    .status;
    assert!(bootstrap.healthy, "{:?}", bootstrap.problems);
    assert_eq!(bootstrap.warnings, vec![Problem::ToolFailed]);

    let filevault = decided(|m| {
        m.previous = Some(Mac::healthy().decide().status);
        m.snapshot.filevault = Err(timed_out("/usr/bin/fdesetup status"));
    })
    .status;
    assert!(!filevault.healthy);
    assert_eq!(filevault.problems, vec![Problem::ToolFailed]);
    assert_eq!(filevault.warnings, Vec::<Problem>::new());
}

/// What the status's Rotation section should say, and what `act` is asked to do.
#[derive(Debug, PartialEq)]
struct Want {
    state: N,
    reason: Option<Reason>,
    method: Option<RotationMethod>,
    waiting: Option<String>,
    actions: Vec<Effect>,
}

fn idle() -> Want {
    Want {
        state: N::Idle,
        reason: None,
        method: None,
        waiting: None,
        actions: Vec::new(),
    }
}

fn requests(reason: Reason, method: RotationMethod, actions: Vec<Effect>) -> Want {
    Want {
        state: N::Requested,
        reason: Some(reason),
        method: Some(method),
        waiting: None,
        actions,
    }
}

fn waits(reason: Reason, waiting: &str) -> Want {
    Want {
        state: N::Pending,
        reason: Some(reason),
        method: None,
        waiting: Some(waiting.to_owned()),
        actions: Vec::new(),
    }
}

/// In Report mode, what Request mode would do: `reason` through `method` (issue 14, item 10).
fn reports(reason: Reason, method: RotationMethod) -> Want {
    Want {
        method: Some(method),
        ..waits(reason, REPORT_MODE)
    }
}

const RESET: &str =
    "the key unlocked this boot: waiting until the user has logged in (and reset their password)";
const NO_PAYLOAD: &str =
    "no escrow payload: a new key would never reach the MDM (EscrowProfileMissing)";
const REPORT_MODE: &str = "RotationMode is Report: reporting only";
const NO_TOKEN_BOB: &str = "Escrow Buddy cannot make a key at bob's login: bob, who logs in on this Mac, holds no SecureToken, and fdesetup takes only a FileVault user's password (give bob a SecureToken)";
const NO_METHOD: &str = "no rotation method can be used now (see RotationMethods; Escrow Buddy needs its bundle and its login mechanism)";

/// One row per rotation reason, and one per guard that holds a request back.
fn reason_rows() -> Vec<(&'static str, Change, Want)> {
    use RotationMethod::{Command, EscrowBuddy, Mdm};
    vec![
        (
            "a key used this boot with the user logged in requests KeyUsed through Escrow Buddy",
            |m| m.key_used_this_boot(),
            requests(Reason::KeyUsed, EscrowBuddy, vec![Effect::SetFlag]),
        ),
        (
            "a key with no escrow file requests NotEscrowed",
            |m| m.snapshot.escrow_file = Ok(None),
            requests(Reason::NotEscrowed, EscrowBuddy, vec![Effect::SetFlag]),
        ),
        (
            "a new RotationRequestID requests AdminRequest",
            |m| m.config.rotation_request_id = Some("push-2026-11".into()),
            requests(Reason::AdminRequest, EscrowBuddy, vec![Effect::SetFlag]),
        ),
        (
            "a RotationRequestID already acted on requests nothing",
            |m| {
                m.config.rotation_request_id = Some("push-2026-10".into());
                m.state.requests.last_request_id = Some("push-2026-10".into());
            },
            idle(),
        ),
        (
            "rotate --request not yet answered by a new key requests AdminRequest",
            |m| m.state.requests.pending_since = Some(ago(1)),
            requests(Reason::AdminRequest, EscrowBuddy, vec![Effect::SetFlag]),
        ),
        (
            "a key older than MaxKeyAgeDays requests MaxAgeReached",
            |m| m.config.max_key_age_days = 30,
            requests(Reason::MaxAgeReached, EscrowBuddy, vec![Effect::SetFlag]),
        ),
        (
            "a key younger than MaxKeyAgeDays requests nothing",
            |m| m.config.max_key_age_days = 60,
            idle(),
        ),
        (
            "no key on the second check in a row reports KeyMissing and requests nothing",
            |m| {
                m.no_key();
                m.state.keys.missing_streak = 1;
            },
            waits(Reason::KeyMissing, "KeyMissing is reported, never rotated for by itself"),
        ),
        (
            "no key on the first check is not yet KeyMissing",
            |m| m.no_key(),
            idle(),
        ),
        (
            "a key that failed validation reports ValidationFailed and requests nothing",
            |m| {
                m.state.validation.last_at = Some(ago(1));
                m.state.validation.last = Some(ValidationResult::Invalid);
            },
            waits(
                Reason::ValidationFailed,
                "ValidationFailed is reported, never rotated for by itself",
            ),
        ),
        (
            "a validation that failed before the key changed is no reason",
            |m| {
                m.state.validation.last_at = Some(t("2026-09-30T12:00:00Z"));
                m.state.validation.last = Some(ValidationResult::Invalid);
            },
            idle(),
        ),
        (
            "a key used this boot with nobody logged in yet waits for the password reset",
            |m| {
                m.key_used_this_boot();
                m.snapshot.console = Ok(Console::Nobody);
            },
            waits(Reason::KeyUsed, RESET),
        ),
        (
            "a key used without the escrow payload waits for it",
            |m| {
                m.key_used_this_boot();
                m.snapshot.profiles = Ok(ComputerProfiles::default());
            },
            waits(Reason::KeyUsed, NO_PAYLOAD),
        ),
        (
            "a key used while the installed profiles cannot be read waits",
            |m| {
                m.key_used_this_boot();
                m.snapshot.profiles = Err(timed_out("/usr/bin/profiles -C -o stdout-xml"));
            },
            waits(
                Reason::KeyUsed,
                "could not tell whether the escrow payload is installed",
            ),
        ),
        (
            "a key used in RotationMode Report is reported, not requested",
            |m| {
                m.key_used_this_boot();
                m.config.rotation_mode = RotationMode::Report;
            },
            reports(Reason::KeyUsed, EscrowBuddy),
        ),
        (
            "a missing escrow file in RotationMode Report is reported, not requested",
            |m| {
                m.snapshot.escrow_file = Ok(None);
                m.config.rotation_mode = RotationMode::Report;
            },
            reports(Reason::NotEscrowed, EscrowBuddy),
        ),
        (
            "issue 14: RotationMode Report shows the method Request mode would use, the next one where Escrow Buddy's mechanism is missing",
            |m| {
                m.key_used_this_boot();
                m.config.rotation_mode = RotationMode::Report;
                m.escrow_buddy().mechanisms = Ok(vec!["loginwindow:login".into()]);
            },
            reports(Reason::KeyUsed, Mdm),
        ),
        (
            "issue 14: RotationMode Report during the password reset says Request mode would wait too, and names no method",
            |m| {
                m.key_used_this_boot();
                m.config.rotation_mode = RotationMode::Report;
                m.snapshot.console = Ok(Console::Nobody);
            },
            waits(Reason::KeyUsed, RESET),
        ),
        (
            "issue 14: RotationMode Report with no usable method says so, as Request mode would",
            |m| {
                m.key_used_this_boot();
                m.config.rotation_mode = RotationMode::Report;
                m.config.rotation_methods = vec![EscrowBuddy];
                m.escrow_buddy().mechanisms = Ok(vec!["loginwindow:login".into()]);
            },
            waits(Reason::KeyUsed, NO_METHOD),
        ),
        (
            "a key used with only Escrow Buddy configured and its mechanism missing waits for a method",
            |m| {
                m.key_used_this_boot();
                m.config.rotation_methods = vec![EscrowBuddy];
                m.escrow_buddy().mechanisms = Ok(vec!["loginwindow:login".into()]);
            },
            waits(Reason::KeyUsed, NO_METHOD),
        ),
        (
            "a key used with Escrow Buddy's mechanism missing is requested from the MDM",
            |m| {
                m.key_used_this_boot();
                m.escrow_buddy().mechanisms = Ok(vec!["loginwindow:login".into()]);
            },
            requests(Reason::KeyUsed, Mdm, vec![]),
        ),
        (
            "a key used with the Command method runs RotationCommand",
            |m| {
                m.key_used_this_boot();
                m.config.rotation_methods = vec![Command];
                m.config.rotation_command = Some(vec!["/usr/local/bin/rotate-prk".into()]);
            },
            requests(Reason::KeyUsed, Command, vec![Effect::RunCommand]),
        ),
        (
            "the Command method without RotationCommand is no method",
            |m| {
                m.key_used_this_boot();
                m.config.rotation_methods = vec![Command];
            },
            waits(Reason::KeyUsed, NO_METHOD),
        ),
        (
            "a key used with another tool's flag already set is requested without setting it again",
            |m| {
                m.key_used_this_boot();
                m.escrow_buddy().generate_new_key = Ok(Some(true));
            },
            requests(Reason::KeyUsed, EscrowBuddy, vec![]),
        ),
        (
            "issue 14: Setup Assistant at the console of a boot the key unlocked waits for the password reset",
            |m| {
                m.key_used_this_boot();
                m.setup_assistant_at_the_console();
            },
            waits(Reason::KeyUsed, RESET),
        ),
        (
            "issue 14: an account below uid 501 at the console of a boot the key unlocked waits for the password reset",
            |m| {
                m.key_used_this_boot();
                m.snapshot.users.as_mut().unwrap().push(user("daemon", 1, "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000001"));
                m.snapshot.console = Ok(Console::Uid(1));
            },
            waits(Reason::KeyUsed, RESET),
        ),
        (
            "issue 14: a console user without a SecureToken: no flag, Escrow Buddy is skipped for the next method",
            |m| {
                m.key_used_this_boot();
                m.add_user("bob", false, false);
                m.snapshot.console = Ok(Console::Uid(502));
            },
            requests(Reason::KeyUsed, Mdm, vec![]),
        ),
        (
            "issue 14: a console user without a SecureToken and Escrow Buddy the only method: no flag, waits saying why",
            |m| {
                m.key_used_this_boot();
                m.add_user("bob", false, false);
                m.snapshot.console = Ok(Console::Uid(502));
                m.config.rotation_methods = vec![EscrowBuddy];
            },
            waits(Reason::KeyUsed, NO_TOKEN_BOB),
        ),
        (
            "issue 14: nobody logged in, the last console user without a SecureToken: no flag",
            |m| {
                m.key_used_this_boot();
                m.add_user("bob", false, false);
                m.snapshot.console = Ok(Console::Nobody);
                m.state.logins.console_now = None;
                m.state.logins.last_console_user = Some("bob".into());
                m.state.boot.as_mut().unwrap().session_uuid = BOOT.into();
                m.config.rotation_methods = vec![EscrowBuddy];
            },
            waits(Reason::KeyUsed, NO_TOKEN_BOB),
        ),
        (
            "issue 14: nobody seen at the console yet and no account holding a SecureToken: no flag",
            |m| {
                m.state.requests.pending_since = Some(ago(1));
                m.state.logins.console_now = None;
                m.state.logins.last_console_user = None;
                m.snapshot.console = Ok(Console::Nobody);
                m.snapshot.secure_tokens = vec![("alice".into(), Ok(false))];
                m.snapshot.crypto_users.as_mut().unwrap().remove(0);
                m.config.rotation_methods = vec![EscrowBuddy];
            },
            waits(
                Reason::AdminRequest,
                "Escrow Buddy cannot make a key at a login here: no user account holds a SecureToken, and fdesetup takes only a FileVault user's password",
            ),
        ),
        (
            "issue 14: a rotation that failed at a smart-card login is not asked again while the user uses a smart card",
            |m| {
                m.escrow_buddy_ran_at_a_smart_card_login();
                m.state = m.decide().state;
                m.state.outbox.pending.clear();
            },
            Want {
                state: N::Failed,
                reason: Some(Reason::AdminRequest),
                method: Some(EscrowBuddy),
                waiting: None,
                actions: vec![],
            },
        ),
        (
            "issue 14: a rotation that failed at a smart-card login is asked again once the pairing is gone",
            |m| {
                m.escrow_buddy_ran_at_a_smart_card_login();
                m.state = m.decide().state;
                m.state.outbox.pending.clear();
                m.snapshot.users.as_mut().unwrap()[0].authentication_authority.pop();
            },
            requests(Reason::AdminRequest, EscrowBuddy, vec![Effect::SetFlag]),
        ),
        (
            "issue 14: a re-sent escrow profile (same certificate, installed after the escrow file) requests nothing",
            |m| m.resend_profile(),
            idle(),
        ),
        (
            "issue 14: an escrow file encrypted to another certificate than the payload's requests NotEscrowed",
            |m| m.payload_certificate(EscrowCertificateSeen::Shown(other_cert())),
            requests(Reason::NotEscrowed, EscrowBuddy, vec![Effect::SetFlag]),
        ),
        (
            "issue 14: only dates disagreeing (the payload's certificate not shown) requests nothing",
            |m| {
                m.resend_profile();
                m.payload_certificate(EscrowCertificateSeen::Unknown("not shown".into()));
            },
            idle(),
        ),
        (
            "issue 14: only dates disagreeing, with RotateWhenEscrowUnconfirmed, requests EscrowUnconfirmed",
            |m| {
                m.resend_profile();
                m.payload_certificate(EscrowCertificateSeen::Unknown("not shown".into()));
                m.config.rotate_when_escrow_unconfirmed = true;
            },
            requests(Reason::EscrowUnconfirmed, EscrowBuddy, vec![Effect::SetFlag]),
        ),
        (
            "issue 14: an escrow file that is not CMS and older than the profile never requests, even with RotateWhenEscrowUnconfirmed",
            |m| {
                m.resend_profile();
                m.escrow_file_recipient(Err(BlobProblem::NotCms("tag 0x04 at offset 0".into())));
                m.config.rotate_when_escrow_unconfirmed = true;
            },
            idle(),
        ),
        (
            "issue 14: EscrowOutsideMDM without a payload requests nothing for escrow",
            |m| {
                m.snapshot.profiles = Ok(ComputerProfiles::default());
                m.snapshot.escrow_location = Ok(None);
                m.snapshot.escrow_file = Ok(None);
                m.config.escrow_outside_mdm = true;
            },
            idle(),
        ),
        (
            "issue 14 review: EscrowOutsideMDM without a payload reports a used key and does not rotate, as no escrow file could ever confirm a new key",
            |m| {
                m.key_used_this_boot();
                m.snapshot.profiles = Ok(ComputerProfiles::default());
                m.snapshot.escrow_location = Ok(None);
                m.config.escrow_outside_mdm = true;
            },
            waits(Reason::KeyUsed, crate::guards::UNSEEN_OUTSIDE_MDM),
        ),
        (
            "issue 14 review: EscrowOutsideMDM with the payload installed requests as usual (its escrow file confirms the new key)",
            |m| {
                m.key_used_this_boot();
                m.config.escrow_outside_mdm = true;
                m.config.rotation_methods = vec![Mdm];
            },
            requests(Reason::KeyUsed, Mdm, vec![]),
        ),
    ]
}

#[test]
fn every_reason_row_gives_the_tabled_rotation_and_actions() {
    let rows = reason_rows();
    let mut failures = Vec::new();
    for (name, change, want) in &rows {
        let d = decided(*change);
        let r = &d.status.rotation;
        let got = Want {
            state: r.state,
            reason: r.reason,
            method: r.method,
            waiting: r.waiting.clone(),
            actions: actions(&d),
        };
        if got != *want {
            failures.push(format!("{name}:\n  got  {got:?}\n  want {want:?}"));
        }
        // Keywarden's flag is recorded as its own with the outbox, before the write.
        let sets = want.actions.contains(&Effect::SetFlag);
        if sets != (d.state.flag.set_at == Some(now())) {
            failures.push(format!("{name}: FlagSetAt is {:?}", d.state.flag.set_at));
        }
    }
    for reason in Reason::ALL {
        if !rows.iter().any(|(_, _, w)| w.reason == Some(reason)) {
            failures.push(format!("{}: no row gives it", reason.as_str()));
        }
    }
    all_pass(&failures, rows.len());
}

/// `facts`: the key was used after it last changed only when strictly after; a change in the
/// second the use was first seen makes a new key (the use is recorded when detected, after it
/// happened at boot).
#[test]
fn a_key_is_used_since_it_changed_only_when_the_use_is_strictly_later() {
    for (changed, want) in [
        (now(), KeyState::Staged),
        (now() - SignedDuration::from_secs(1), KeyState::Used),
    ] {
        let mut mac = Mac::healthy();
        mac.key_used_this_boot();
        mac.snapshot.escrow_file = Ok(Some(FileFacts {
            modified_at: changed,
            sha256: "5e1d".repeat(16),
            // A well-formed blob: only one is a new key (issue 16, item 6).
            recipient: escrow_file().recipient,
        }));
        let facts = facts_of(&mac.state, &mac.snapshot, &mac.config, now());
        assert_eq!(facts.used_since_change, want == KeyState::Used, "{changed}");
        let d = mac.decide();
        assert_eq!(d.status.recovery_key.state, want, "changed at {changed}");
        let used = (want == KeyState::Used).then_some(Reason::KeyUsed);
        assert_eq!(d.status.rotation.reason, used, "changed at {changed}");
        assert_eq!(d.status.recovery_key.last_used_at, Some(now()));
        assert_eq!(d.status.recovery_key.last_changed_at, Some(changed));
    }
}

/// `facts::key_mark`: an escrow file that is not an escrow blob changes no key's history, so a
/// used key stays used and nothing is taken as its replacement (issue 16, item 6).
#[test]
fn an_escrow_file_that_is_no_escrow_blob_is_no_new_key_issue_16() {
    for problem in [
        BlobProblem::NotCms("empty".into()),
        BlobProblem::NotEnvelopedData("1.2.840.113549.1.7.1".into()),
        BlobProblem::Malformed("truncated".into()),
        BlobProblem::NoRecipient,
        BlobProblem::SeveralRecipients(2),
        BlobProblem::UnsupportedRecipient("kekri"),
    ] {
        let mut mac = Mac::healthy();
        mac.key_used_this_boot();
        let before = mac.state.keys.last_changed_at;
        mac.snapshot.escrow_file = Ok(Some(FileFacts {
            modified_at: now(),
            sha256: "5e1d".repeat(16),
            recipient: Err(problem.clone()),
        }));
        let facts = facts_of(&mac.state, &mac.snapshot, &mac.config, now());
        assert_eq!(facts.escrow_file, Some(None), "{problem}");
        let d = mac.decide();
        assert_eq!(d.status.recovery_key.state, KeyState::Used, "{problem}");
        assert_eq!(d.state.keys.last_changed_at, before, "{problem}");
        assert!(
            !d.state
                .outbox
                .pending
                .iter()
                .any(|p| matches!(p.effect, Effect::Audit(crate::audit::What::KeyChanged, _))),
            "{problem}"
        );
    }
}

/// `facts::filevault_ready`: encrypting, or on but waiting for a restart, is no time to change
/// the key; the status still tells what FileVault is doing.
#[test]
fn filevault_converting_or_waiting_for_a_restart_is_not_ready_but_shows_as_it_is() {
    let encrypting = |m: &mut Mac| {
        m.snapshot.filevault.as_mut().unwrap().conversion = Some(Conversion::Encrypting {
            percent: Some(42.0),
        })
    };
    let restarting = |m: &mut Mac| m.snapshot.filevault.as_mut().unwrap().restart_required = true;
    let rows: [(&str, Change, FileVaultState); 2] = [
        ("encrypting", encrypting, FileVaultState::Encrypting),
        ("waiting for a restart", restarting, FileVaultState::On),
    ];
    for (name, change, shown) in rows {
        // No escrow file: NotEscrowed if FileVault were ready.
        let mut mac = Mac::healthy();
        change(&mut mac);
        mac.snapshot.escrow_file = Ok(None);
        let d = mac.decide();
        assert_eq!(d.status.file_vault.state, shown, "{name}");
        assert_eq!(d.status.rotation.state, N::Idle, "{name}: no NotEscrowed");
        assert!(d.state.outbox.is_empty(), "{name}");
        // The disk is protected, so the missing escrow file is still a problem.
        assert_eq!(
            d.status.problems,
            vec![Problem::RecoveryKeyNotEscrowed],
            "{name}"
        );

        // No PRK crypto user: the KeyMissing streak starts again instead of growing.
        let mut mac = Mac::healthy();
        change(&mut mac);
        mac.no_key();
        mac.state.keys.missing_streak = 1;
        let d = mac.decide();
        assert_eq!(d.state.keys.missing_streak, 0, "{name}");
        assert_eq!(d.status.rotation.state, N::Idle, "{name}: no KeyMissing");
    }
    let mut mac = Mac::healthy();
    encrypting(&mut mac);
    assert_eq!(mac.decide().status.file_vault.percent_complete, Some(42.0));
}

/// `facts::escrow` is the one answer to "was the current key staged for escrow?": the Escrow
/// section shows it (Unknown where a probe failed and there is no previous status).
#[test]
fn the_escrow_section_shows_the_escrow_fact() {
    let rows: Vec<(&str, Change, EscrowState)> = vec![
        ("healthy", |_| {}, EscrowState::Staged),
        (
            "no escrow file",
            |m| m.snapshot.escrow_file = Ok(None),
            EscrowState::Missing,
        ),
        (
            "issue 14: an escrow file older than the payload, encrypted to its certificate",
            |m| m.resend_profile(),
            EscrowState::Staged,
        ),
        (
            "issue 14: an escrow file older than the payload, the certificate not shown",
            |m| {
                m.resend_profile();
                m.payload_certificate(EscrowCertificateSeen::Unknown("not shown".into()));
            },
            EscrowState::Unconfirmed,
        ),
        (
            "issue 14: an escrow file encrypted to another certificate",
            |m| m.payload_certificate(EscrowCertificateSeen::Shown(other_cert())),
            EscrowState::Missing,
        ),
        (
            "issue 14: EscrowOutsideMDM",
            |m| m.config.escrow_outside_mdm = true,
            EscrowState::External,
        ),
        (
            "no payload",
            |m| m.snapshot.profiles = Ok(ComputerProfiles::default()),
            EscrowState::NotConfigured,
        ),
        (
            "profiles failing",
            |m| m.snapshot.profiles = Err(timed_out("/usr/bin/profiles -C -o stdout-xml")),
            EscrowState::Unknown,
        ),
        (
            "the escrow file unreadable",
            |m| {
                m.snapshot.escrow_file = Err(ProbeError::File {
                    path: "/var/db/FileVaultPRK.dat".into(),
                    message: "Permission denied (os error 13)".into(),
                })
            },
            EscrowState::Unknown,
        ),
    ];
    let mut failures = Vec::new();
    for &(name, change, want) in &rows {
        let mut mac = Mac::healthy();
        change(&mut mac);
        let fact = facts_of(&mac.state, &mac.snapshot, &mac.config, now())
            .escrow
            .map(|j| j.state);
        let shown = mac.decide().status.escrow.state;
        if fact.unwrap_or(EscrowState::Unknown) != shown || shown != want {
            failures.push(format!(
                "{name}: fact {fact:?}, shown {shown:?}, want {want:?}"
            ));
        }
    }
    all_pass(&failures, rows.len());
}

/// `EscrowBuddyMechanismMissing` matters only where Escrow Buddy is a way to rotate.
#[test]
fn escrow_buddys_missing_mechanism_is_a_problem_only_when_escrow_buddy_is_a_rotation_method() {
    for (methods, installed, want) in [
        (vec![RotationMethod::EscrowBuddy], true, true),
        (
            vec![RotationMethod::Mdm, RotationMethod::EscrowBuddy],
            true,
            true,
        ),
        (vec![RotationMethod::Mdm], true, false),
        (vec![RotationMethod::EscrowBuddy], false, false),
    ] {
        let mut mac = Mac::healthy();
        mac.escrow_buddy().mechanisms = Ok(vec!["loginwindow:login".into()]);
        if !installed {
            mac.snapshot.escrow_buddy = Ok(None);
        }
        mac.config.rotation_methods = methods.clone();
        let problems = mac.decide().status.warnings;
        assert_eq!(
            problems.contains(&Problem::EscrowBuddyMechanismMissing),
            want,
            "{methods:?}, installed {installed}: {problems:?}"
        );
    }
}

/// A check that requested a KeyUsed rotation through Escrow Buddy: `SetFlag` waits in its outbox.
fn flag_to_set() -> State {
    let mut mac = Mac::healthy();
    mac.key_used_this_boot();
    let state = mac.decide().state;
    assert!(state
        .outbox
        .pending
        .iter()
        .any(|p| p.effect == Effect::SetFlag));
    state
}

#[test]
fn after_acting_empties_the_outbox_and_records_what_became_of_the_flag() {
    let later = now() + SignedDuration::from_secs(3);
    let not_set = "defaults write: exit 1: Could not write domain";
    // What acting came to, and FlagSetAt and Rotation.State after.
    let rows: Vec<(&str, Vec<Done>, Option<Timestamp>, N)> = vec![
        ("nothing done", vec![], Some(now()), N::Requested),
        (
            "FlagSet records Keywarden's flag at now",
            vec![Done::FlagSet],
            Some(later),
            N::Requested,
        ),
        (
            "FlagNotSet releases the flag and fails the attempt",
            vec![Done::FlagNotSet(not_set.into())],
            None,
            N::Failed,
        ),
        (
            "FlagWithdrawn releases the flag",
            vec![Done::FlagWithdrawn],
            None,
            N::Requested,
        ),
        (
            "FlagNotWithdrawn keeps the flag Keywarden's",
            vec![Done::FlagNotWithdrawn("defaults delete: exit 1".into())],
            Some(now()),
            N::Requested,
        ),
        (
            "CommandDue changes nothing else",
            vec![Done::CommandDue],
            Some(now()),
            N::Requested,
        ),
    ];
    let before = flag_to_set();
    let mut failures = Vec::new();
    for (name, done, flag, state) in &rows {
        let (flag, state) = (*flag, *state);
        let next = after_acting(&before, later, done, false);
        let r = rotation_section(&next, later);
        let got = (next.flag.set_at, r.state, r.reason);
        let want = (flag, state, Some(Reason::KeyUsed));
        if got != want || !next.outbox.is_empty() {
            failures.push(format!(
                "{name}: got {got:?} with {} effect(s) left, want {want:?}",
                next.outbox.pending.len()
            ));
        }
        let failed = (r.attempts, r.last_error.as_deref());
        if state == N::Failed && failed != (1, Some(not_set)) {
            failures.push(format!("{name}: attempts and LastError {failed:?}"));
        }
        if next.outbox.next_id != before.outbox.next_id {
            failures.push(format!("{name}: effect ids start again"));
        }
    }
    all_pass(&failures, rows.len());
}

#[test]
fn after_command_fails_a_requested_rotation_on_a_failure_and_leaves_it_on_success() {
    let mut mac = Mac::healthy();
    mac.config.rotation_methods = vec![RotationMethod::Command];
    mac.config.rotation_command = Some(vec!["/usr/local/bin/rotate-prk".into()]);
    mac.config.rotation_request_id = Some("push-2026-11".into());
    let decided = mac.decide().state;
    let acted = after_acting(&decided, now(), &[Done::CommandDue], false);
    assert_eq!(acted.rotation.name(), N::Requested);
    assert!(acted.outbox.is_empty());
    // A check that only publishes (validate, rotate --current-key) leaves the command, and only
    // the command, for the next check that runs it.
    let waiting = after_acting(&decided, now(), &[Done::CommandDue], true);
    assert!(
        decided.outbox.pending.len() > 1,
        "audit events and the command"
    );
    assert_eq!(
        waiting
            .outbox
            .pending
            .iter()
            .map(|p| p.effect.clone())
            .collect::<Vec<_>>(),
        vec![Effect::RunCommand]
    );

    let later = now() + SignedDuration::from_mins(2);
    let failed = after_command(&acted, later, Some("exit 3: no MDM connection".into()));
    let r = rotation_section(&failed, later);
    assert_eq!(r.state, N::Failed);
    assert_eq!(r.reason, Some(Reason::AdminRequest));
    assert_eq!(r.method, Some(RotationMethod::Command));
    assert_eq!(r.attempts, 1);
    assert_eq!(r.last_error.as_deref(), Some("exit 3: no MDM connection"));
    assert_eq!(r.retry_at, Some(later + SignedDuration::from_hours(1)));

    assert_eq!(after_command(&acted, later, None), acted);
    // Only a Requested rotation can fail: anything else is left as it is.
    assert_eq!(
        after_command(&State::default(), later, Some("exit 3".into())),
        State::default()
    );
}

/// Setup Assistant's `_mbsetupuser` (uid 248) owns `/dev/console` after an update (PLATFORM.md:
/// "it is not a login"; ARCHITECTURE.md: a non-human owner of the console is nobody). Until issue
/// 14 `facts::console_user_name` excluded only root, so it counted as a login and as the console
/// user: in a boot whose key was used, the reset guard let a KeyUsed request set the flag before
/// the user's own (password-reset) login, and alice, the Mac's only user, was reported as an
/// additional admin with a token.
#[test]
fn setup_assistant_at_the_console_is_nobody_logged_in() {
    let d = decided(|m| {
        m.key_used_this_boot();
        m.setup_assistant_at_the_console();
    });
    assert_eq!(actions(&d), vec![], "no flag before the reset login");
    assert_eq!(d.status.rotation.waiting.as_deref(), Some(RESET));
    assert_eq!(d.status.secure_token.console_user, None);
    assert_eq!(d.state.logins.count, 1, "no login counted");
    assert_eq!(d.status.problems, vec![Problem::RecoveryKeyUsed]);
}

/// Issue 14, item 7, for Escrow Buddy's attempts: an attempt is judged after a login that
/// followed the flag write, so Setup Assistant at the console after an update must not be one.
/// The login count, its time and the last console user stay as they were.
#[test]
fn issue_14_setup_assistant_at_the_console_after_a_request_is_no_login_for_escrow_buddys_attempt() {
    let d = decided(|m| {
        m.state.requests.pending_since = Some(ago(3));
        m.state.rotation = requested(Reason::AdminRequest, RotationMethod::EscrowBuddy, 2, 1);
        m.state.flag.set_at = Some(ago(2));
        m.state.logins.console_now = None;
        m.escrow_buddy().generate_new_key = Ok(Some(true));
        m.setup_assistant_at_the_console();
    });
    assert_eq!(d.state.logins.count, 1);
    assert_eq!(d.state.logins.last_login_at, Some(ago(26)));
    assert_eq!(d.state.logins.last_console_user.as_deref(), Some("alice"));
    assert_eq!(d.state.logins.console_now, None);
    assert_eq!(d.status.rotation.state, N::Requested);
    assert_eq!(actions(&d), vec![]);
}

/// A name remembered before issue 14 may be Setup Assistant's (a state file from an earlier
/// version saw `_mbsetupuser` as the last console user): only a person is the user who logs in,
/// so alice is not called an additional admin because of it.
#[test]
fn issue_14_a_remembered_last_console_user_that_is_no_person_is_nobody() {
    let d = decided(|m| {
        m.setup_assistant_at_the_console();
        m.state.logins.console_now = Some("_mbsetupuser".into());
        m.state.logins.last_console_user = Some("_mbsetupuser".into());
    });
    assert_eq!(
        d.status.secure_token.additional_admins_with_token,
        Vec::<String>::new()
    );
    assert_eq!(d.status.problems, vec![]);
    assert_eq!(d.status.warnings, vec![]);
}

/// Found by these tables (issue 13, item 5): the escrow section needed the managed `Location` as
/// well as the escrow file and the fact did not, so with the file gone and the location
/// unreadable the check requested a NotEscrowed rotation while the Escrow section (carried,
/// stale) still said Staged: two answers to "is the key escrowed?" in one check. Now the fact is
/// unknown whenever the section is stale, and nothing is requested on it.
#[test]
fn an_unreadable_escrow_location_leaves_the_escrow_fact_unknown_and_requests_nothing() {
    let d = decided(|m| {
        m.previous = Some(Mac::healthy().decide().status);
        m.snapshot.escrow_file = Ok(None);
        m.snapshot.escrow_location = Err(ProbeError::File {
            path: "/Library/Managed Preferences/com.apple.security.FDERecoveryKeyEscrow.plist"
                .into(),
            message: "not owned by root".into(),
        });
    });
    assert_eq!(d.status.rotation.state, N::Idle);
    assert_eq!(actions(&d), vec![]);
    assert!(d.status.escrow.stale);
    assert_eq!(
        d.status.escrow.state,
        EscrowState::Staged,
        "the last good value"
    );
    assert_eq!(d.status.problems, vec![Problem::ToolFailed]);
}

/// ARCHITECTURE.md ("Never during the password reset"): at the start of a boot, "if the key was
/// used or the answer is unknown, withdraw any GenerateNewKey Keywarden had set". Before issue
/// 14 (item 2) only a definite Used held a request back (`guards::in_password_reset`): with
/// `usingrecoverykey` failing in a new boot and nobody logged in, Keywarden's flag stayed set for
/// the next login. Now an unknown answer counts as a possible reset until a login in the boot.
#[test]
fn an_unknown_answer_about_key_use_in_a_new_boot_withdraws_keywardens_flag() {
    let d = decided(|m| {
        m.state.requests.pending_since = Some(ago(3));
        m.state.rotation = requested(Reason::AdminRequest, RotationMethod::EscrowBuddy, 2, 1);
        m.state.flag.set_at = Some(ago(2));
        m.escrow_buddy().generate_new_key = Ok(Some(true));
        m.snapshot.using_recovery_key = Some(Err(timed_out("/usr/bin/fdesetup usingrecoverykey")));
        m.snapshot.console = Ok(Console::Nobody);
    });
    assert!(
        actions(&d).contains(&Effect::WithdrawFlag),
        "{:?}",
        actions(&d)
    );
    assert_eq!(d.status.rotation.state, N::Pending);
    // It says what it saw: no answer, not an unlock (issue 14, item 3).
    let waiting = d.status.rotation.waiting.unwrap_or_default();
    assert!(
        waiting.starts_with("whether the key unlocked this boot is not known"),
        "{waiting}"
    );
}

/// Issue 14, item 8: when Escrow Buddy is passed over because the user who logs in holds no
/// SecureToken, the status says why the rotation went to the next method; with Escrow Buddy
/// usable it says nothing.
#[test]
fn issue_14_a_rotation_that_passed_over_escrow_buddy_says_why() {
    let d = decided(|m| {
        m.key_used_this_boot();
        m.add_user("bob", false, false);
        m.snapshot.console = Ok(Console::Uid(502));
    });
    assert_eq!(d.status.rotation.method, Some(RotationMethod::Mdm));
    assert_eq!(d.status.rotation.method_note.as_deref(), Some(NO_TOKEN_BOB));

    let d = decided(|m| {
        m.key_used_this_boot();
        m.escrow_buddy().mechanisms = Ok(vec!["loginwindow:login".into()]);
    });
    assert_eq!(d.status.rotation.method, Some(RotationMethod::Mdm));
    assert_eq!(
        d.status.rotation.method_note.as_deref(),
        Some("Escrow Buddy cannot run at login here: its bundle or its login mechanism is missing")
    );

    let d = decided(|m| {
        m.key_used_this_boot();
        m.snapshot.console = Ok(Console::Uid(501));
    });
    assert_eq!(d.status.rotation.method, Some(RotationMethod::EscrowBuddy));
    assert_eq!(d.status.rotation.method_note, None);
}

/// Issue 14 review: however many errors one check meets (here: thousands of user records that do
/// not read), the status holds at most fifty lines of them.
#[test]
fn issue_14_the_errors_of_one_check_are_capped() {
    let mut mac = Mac::healthy();
    for n in 0..3000 {
        mac.snapshot
            .skipped_users
            .push(crate::tools::dscl::SkippedRecord {
                name: Some(format!("odd{n}")),
                reason: "no UniqueID".into(),
            });
    }
    let errors = mac.decide().status.daemon.errors;
    assert_eq!(errors.len(), 50);
    assert!(
        errors[49].ends_with("more errors left out (see the log)"),
        "{}",
        errors[49]
    );
}

/// Issue 14 review: thousands of odd profiles name ten and count the rest, so the status stays
/// small enough for inventory to read.
#[test]
fn issue_14_many_unreadable_profiles_are_named_up_to_ten_and_counted() {
    let mut mac = Mac::healthy();
    for n in 0..5000 {
        mac.snapshot
            .profiles
            .as_mut()
            .unwrap()
            .unreadable
            .push(UnreadableProfile {
                name: format!("com.vendor.odd{n}"),
                problem: "no ProfileItems array".into(),
                carries_escrow: Some(false),
            });
    }
    let d = mac.decide();
    let named = d
        .status
        .daemon
        .errors
        .iter()
        .filter(|e| e.starts_with("profile "))
        .count();
    assert_eq!(named, 10);
    assert!(d.status.daemon.errors.contains(
        &"profiles -C -o stdout-xml: 4990 more profiles could not be read in full".to_owned()
    ));
    assert_eq!(d.status.warnings, vec![Problem::ProfileUnreadable]);
    assert_eq!(d.status.escrow.state, EscrowState::Staged);
}

/// Issue 14, item 2: the boot guard latches a use it detects first thing in a new boot and audits
/// it (`boot::guard_boot`); the full check that follows reads the latch (`usingrecoverykey` is not
/// asked again) and neither audits the use a second time nor forgets it.
#[test]
fn issue_14_a_use_the_boot_guard_latched_is_remembered_and_audited_once() {
    let d = decided(|m| {
        m.state.boot = Some(BootRecord {
            session_uuid: BOOT.into(),
            first_seen_at: now(),
            key_use: Some(KeyUse::Used),
            console_user_seen: false,
            foreign_flag_reported: false,
        });
        m.snapshot.using_recovery_key = None;
        m.snapshot.console = Ok(Console::Nobody);
    });
    let audits: Vec<_> = d
        .state
        .outbox
        .pending
        .iter()
        .filter(|p| matches!(p.effect, Effect::Audit(crate::audit::What::UseDetected, _)))
        .collect();
    assert!(audits.is_empty(), "{audits:?}");
    assert_eq!(d.state.keys.last_used_at, Some(now()));
    assert_eq!(d.status.recovery_key.used_this_boot, Some(true));
    assert_eq!(d.status.rotation.state, N::Pending);
    assert_eq!(actions(&d), vec![], "nothing during the reset");
}

/// Issue 14, item 2: a withdrawal of Keywarden's flag decided in an earlier boot is dropped by
/// the boot guard, not replayed; the check decides again. With no rotation asking for the flag
/// (the request stood down before the restart), it is withdrawn now, and never anyone else's.
#[test]
fn issue_14_keywardens_flag_with_no_rotation_asking_for_it_is_withdrawn_again() {
    let d = decided(|m| {
        m.state.flag.set_at = Some(ago(30));
        m.escrow_buddy().generate_new_key = Ok(Some(true));
    });
    assert_eq!(d.status.rotation.state, N::Idle);
    assert_eq!(actions(&d), vec![Effect::WithdrawFlag]);
    let d = decided(|m| {
        m.escrow_buddy().generate_new_key = Ok(Some(true));
    });
    assert_eq!(actions(&d), vec![], "someone else's flag is left alone");
}

/// Issue 14, item 2: every effect a check decides carries the boot session it was decided in, so
/// a later boot recognises it and never replays it; with the boot unreadable it carries none, and
/// no later check replays it either.
#[test]
fn issue_14_effects_carry_the_boot_they_were_decided_in() {
    let d = decided(|m| m.state.requests.pending_since = Some(ago(1)));
    assert!(actions(&d).contains(&Effect::SetFlag), "{:?}", actions(&d));
    assert!(d
        .state
        .outbox
        .pending
        .iter()
        .all(|p| p.boot.as_deref() == Some(BOOT)));
    let d = decided(|m| {
        m.state.requests.pending_since = Some(ago(1));
        m.snapshot.boot_session = Err(timed_out("/usr/sbin/sysctl -n kern.bootsessionuuid"));
    });
    assert!(actions(&d).contains(&Effect::SetFlag), "{:?}", actions(&d));
    assert!(d.state.outbox.pending.iter().all(|p| p.boot.is_none()));
}

// ---------------------------------------------------------------------------------------------
// Clocks lie (issue 16, item 4)
// ---------------------------------------------------------------------------------------------

/// One check at `at`, as the daemon makes it: the state loaded (which distrusts a time after
/// `at`, `State::distrust_future`), decided, and the next state kept for the next check.
fn check_at(mac: &mut Mac, at: Timestamp) -> Decision {
    mac.state.distrust_future(at);
    mac.snapshot.observed_at = at;
    let d = decide(&Inputs {
        now: at,
        snapshot: &mac.snapshot,
        config: &mac.config,
        config_warnings: &[],
        state: &mac.state,
        state_problem: None,
        previous: mac.previous.as_ref(),
        version: "0.0.0-test",
    });
    mac.state = d.state.clone();
    mac.state.outbox = Default::default();
    d
}

/// The key was used an hour before `now()`, and a rotation was requested at `now()` (through the
/// MDM, for `reason`): the state the clock then moves under.
fn requested_at_the_step(reason: Reason) -> Mac {
    let mut mac = Mac::healthy();
    mac.config.rotation_methods = vec![RotationMethod::Mdm];
    mac.state.keys.last_used_at = Some(ago(1));
    if reason == Reason::AdminRequest {
        mac.state.keys.last_used_at = None;
        mac.state.requests.pending_since = Some(now());
    }
    mac.state.rotation = requested(reason, RotationMethod::Mdm, 0, 1);
    mac
}

/// A new key staged for escrow at `at`.
fn new_key_staged(mac: &mut Mac, at: Timestamp) {
    mac.snapshot.escrow_file = Ok(Some(FileFacts {
        modified_at: at,
        sha256: "7a11".repeat(16),
        recipient: Ok(escrow_cert().recipient()),
    }));
}

fn name(d: &Decision) -> String {
    format!("{:?}", d.status.rotation.state)
}

/// Issue 16, item 4: every rule that compares a stored time with the present, with the clock
/// stepped back and forward by a day and by fifty years after the time was stored (`now()`).
/// Before: a key made after the clock was set back never confirmed the rotation asked before it
/// (nor answered the admin's request), a confirmation dated in the future was shown for fifty
/// years, `RotationOverdue` and a key's age waited for the wrong clock's date, and the
/// validation cap was locked until it came.
#[test]
fn issue_16_every_stored_time_is_read_defensively_with_the_clock_stepped_back_or_forward() {
    type Rule = fn(Timestamp) -> String;
    const MINUTE: SignedDuration = SignedDuration::from_secs(60);
    let rows: Vec<(&str, Rule, [&str; 4])> = vec![
        (
            "a rotation asked for before the clock moved is confirmed by the key made after it, and not asked for again",
            |at| {
                let mut mac = requested_at_the_step(Reason::KeyUsed);
                check_at(&mut mac, at);
                new_key_staged(&mut mac, at + MINUTE);
                let confirmed = check_at(&mut mac, at + MINUTE * 2);
                let next = check_at(&mut mac, at + MINUTE * 3);
                format!("{} then {}", name(&confirmed), name(&next))
            },
            ["Confirmed then Confirmed"; 4],
        ),
        (
            "an admin's request made before the clock moved is answered by the key made after it",
            |at| {
                let mut mac = requested_at_the_step(Reason::AdminRequest);
                check_at(&mut mac, at);
                new_key_staged(&mut mac, at + MINUTE);
                check_at(&mut mac, at + MINUTE * 2);
                let next = check_at(&mut mac, at + MINUTE * 3);
                format!("{} {:?}", name(&next), mac.state.requests.pending_since)
            },
            ["Confirmed None"; 4],
        ),
        (
            "a confirmation is shown for a day from when it is first seen, not until the clock reaches its date",
            |at| {
                let mut mac = Mac::healthy();
                mac.state.rotation = Rotation::Confirmed {
                    reason: Reason::KeyUsed,
                    at: now(),
                };
                let first = check_at(&mut mac, at);
                let later = check_at(&mut mac, at + SignedDuration::from_hours(25));
                format!("{} then {}", name(&first), name(&later))
            },
            [
                "Confirmed then Idle",
                "Confirmed then Idle",
                "Idle then Idle",
                "Idle then Idle",
            ],
        ),
        (
            "RotationOverdue comes RotationOverdueDays after the first attempt, or after the clock was found behind it",
            |at| {
                let mut mac = requested_at_the_step(Reason::KeyUsed);
                let first = check_at(&mut mac, at);
                let days = i64::from(mac.config.rotation_overdue_days) + 1;
                let later = check_at(&mut mac, at + SignedDuration::from_hours(24 * days));
                let overdue = |d: &Decision| d.status.problems.contains(&Problem::RotationOverdue);
                format!("{} then {}", overdue(&first), overdue(&later))
            },
            [
                "false then true",
                "false then true",
                "false then true",
                "true then true",
            ],
        ),
        (
            "a key dated in the future ages from now: MaxKeyAgeDays after it is found, it is due",
            |at| {
                let mut mac = Mac::healthy();
                mac.config.max_key_age_days = 30;
                mac.state.keys.last_changed_at = Some(now());
                mac.state.keys.escrow_seen = Some(escrow_mark());
                let first = check_at(&mut mac, at);
                let later = check_at(&mut mac, at + SignedDuration::from_hours(24 * 31));
                let due = |d: &Decision| d.status.rotation.reason == Some(Reason::MaxAgeReached);
                format!("{} then {}", due(&first), due(&later))
            },
            [
                "false then true",
                "false then true",
                "false then true",
                "true then true",
            ],
        ),
        (
            "the validation cap reached before the clock moved frees within a day, never at the wrong clock's date",
            |at| {
                use crate::audit::{validation_counts, Event, What};
                let events: Vec<Event> = (0..3)
                    .flat_map(|i| {
                        let t = now() + SignedDuration::from_mins(i);
                        [
                            Event::new(t, What::ValidationStarted, "started"),
                            Event::new(t, What::Validated, "Valid"),
                        ]
                    })
                    .collect();
                let frees = validation_counts(&events, at).daily_cap_frees_at(3);
                match frees {
                    None => "free".to_owned(),
                    Some(f) if f <= at + SignedDuration::from_hours(24) => {
                        "locked for a day at most".to_owned()
                    }
                    Some(f) => format!("locked until {f}"),
                }
            },
            [
                "locked for a day at most",
                "locked for a day at most",
                "free",
                "free",
            ],
        ),
        (
            "a failed attempt is retried within its backoff of the present, never at the wrong clock's date",
            |at| {
                let mut mac = requested_at_the_step(Reason::KeyUsed);
                mac.state.rotation = Rotation::Failed {
                    reason: Reason::KeyUsed,
                    since: now(),
                    method: RotationMethod::Mdm,
                    first_at: now(),
                    attempts: 1,
                    last_error: "no new escrow file".into(),
                    retry_at: now() + SignedDuration::from_hours(1),
                    escrow_before: Some(escrow_mark()),
                    smart_card_failed_at: None,
                };
                let d = check_at(&mut mac, at + SignedDuration::from_mins(61));
                name(&d)
            },
            ["Requested"; 4],
        ),
        (
            "an escrow judged by dates alone is not rotated for when the profile was installed before the clock was set back",
            |at| {
                let mut mac = Mac::healthy();
                mac.config.rotate_when_escrow_unconfirmed = true;
                mac.payload_certificate(EscrowCertificateSeen::Unknown("not shown".into()));
                mac.snapshot.profiles.as_mut().unwrap().installed[0].install_date = Some(now());
                check_at(&mut mac, at);
                new_key_staged(&mut mac, at + MINUTE);
                let d = check_at(&mut mac, at + MINUTE * 2);
                format!("{:?} {}", d.status.escrow.state, name(&d))
            },
            // Forward, the re-sent profile is older than the present: the file before it asks
            // for a key (RotateWhenEscrowUnconfirmed), and the key after it confirms.
            [
                "Unconfirmed Idle",
                "Unconfirmed Idle",
                "Staged Confirmed",
                "Staged Confirmed",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (rule, run, want) in &rows {
        for ((step, by), want) in crate::clock::STEPS.iter().zip(want) {
            let got = run(now() + *by);
            if got != *want {
                failures.push(format!("{rule}, clock {step}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// bob's `AuthenticationAuthority` carries `;SecureToken;` but the volume has no crypto user for
/// him: the two disagree, so `sysadminctl` is asked for him (`observe::token_questions`).
fn bob_with_a_disputed_token(m: &mut Mac, answer: Result<bool, ProbeError>) {
    m.add_user("bob", false, false);
    let users = m.snapshot.users.as_mut().unwrap();
    users[1]
        .authentication_authority
        .push(";SecureToken;".into());
    m.snapshot.secure_tokens.retain(|(n, _)| n != "bob");
    m.snapshot.secure_tokens.push(("bob".into(), answer));
}

/// Issue 16, item 5: one account `sysadminctl` cannot answer for blanked the whole SecureToken
/// section. It costs that user's token only, and an error line names them.
#[test]
fn issue_16_a_user_sysadminctl_cannot_answer_for_costs_that_users_token_only() {
    let d = decided(|m| {
        bob_with_a_disputed_token(m, Err(timed_out("sysadminctl -secureTokenStatus bob")));
    });
    let st = &d.status.secure_token;
    assert!(!st.stale, "the section stays fresh");
    let token = |name: &str| {
        st.users
            .iter()
            .find(|u| u.name == name)
            .unwrap()
            .secure_token
    };
    assert_eq!(token("alice"), Some(true));
    assert_eq!(token("bob"), None, "bob's token is unknown");
    assert_eq!(st.console_user.as_deref(), Some("alice"));
    assert_eq!(st.console_user_has_token, Some(true));
    assert!(
        d.status.daemon.errors.iter().any(|e| e.contains("bob")),
        "{:?}",
        d.status.daemon.errors
    );
}

/// Issue 16, item 10: where the volume's crypto users and `AuthenticationAuthority` agree, the
/// token is known without `sysadminctl` (which is no longer asked for every user).
#[test]
fn issue_16_a_token_the_crypto_users_and_authenticationauthority_agree_on_needs_no_sysadminctl() {
    let d = decided(|m| {
        m.add_user("bob", false, true);
        m.add_user("cy", false, false);
        let users = m.snapshot.users.as_mut().unwrap();
        users[1]
            .authentication_authority
            .push(";SecureToken;".into());
        // add_user gives every extra user one GeneratedUID: cy gets her own.
        users[2].generated_uid = Some("5B6C7D8E-0000-4E5F-8A9B-0C1D2E3F4A5D".into());
        users[2].uid = 503;
        m.snapshot.secure_tokens.retain(|(n, _)| n == "alice");
    });
    let st = &d.status.secure_token;
    let token = |name: &str| {
        st.users
            .iter()
            .find(|u| u.name == name)
            .unwrap()
            .secure_token
    };
    assert_eq!(token("bob"), Some(true));
    assert_eq!(token("cy"), Some(false));
    assert_eq!(st.users_without_token, vec!["cy".to_owned()]);
    assert!(!st.stale);
}

/// sysadminctl, asked where the evidence disagrees (issue 16), decides when it sides with the volume;
/// against the volume it leaves the token unknown with the error it always gave.
#[test]
fn sysadminctl_asked_about_disputed_evidence_is_cross_checked_with_the_volume() {
    let d = decided(|m| bob_with_a_disputed_token(m, Ok(false)));
    let bob = |d: &Decision| {
        d.status
            .secure_token
            .users
            .iter()
            .find(|u| u.name == "bob")
            .unwrap()
            .secure_token
    };
    assert_eq!(bob(&d), Some(false));
    let d = decided(|m| bob_with_a_disputed_token(m, Ok(true)));
    assert_eq!(bob(&d), None);
    assert!(d
        .status
        .daemon
        .errors
        .iter()
        .any(|e| e.contains("sysadminctl -secureTokenStatus bob: says ENABLED")));
}

/// Issue 16, item 5: a network account at the console (a uid no local record has) was nobody, so
/// after a recovery-key unlock the password reset was never over and a rotation waited forever.
/// It is a login: the reset ends, the login is counted, and no name is made up.
#[test]
fn issue_16_a_person_at_the_console_without_a_local_record_is_a_login() {
    let d = decided(|m| {
        m.key_used_this_boot();
        m.snapshot.console = Ok(Console::Uid(1234));
    });
    assert_ne!(d.status.rotation.waiting.as_deref(), Some(RESET));
    assert_eq!(d.state.logins.count, 2, "the login is counted");
    assert_eq!(d.state.logins.console_uid_now, Some(1234));
    assert_eq!(d.state.logins.console_now, None);
    assert_eq!(d.status.secure_token.console_user, None);
    assert!(!d.status.secure_token.stale);
    // The next check sees the same person: no second login.
    let mut m = Mac::healthy();
    m.key_used_this_boot();
    m.snapshot.console = Ok(Console::Uid(1234));
    m.state = d.state.clone();
    assert_eq!(m.decide().state.logins.count, 2);
}

/// Issue 16, item 5: two local records with one uid made the console user whichever dscl
/// listed first. It is reported with both names and not guessed.
#[test]
fn issue_16_two_records_with_the_console_uid_are_reported_and_the_console_user_is_not_guessed() {
    let d = decided(|m| {
        m.snapshot.users.as_mut().unwrap().push(user(
            "alice2",
            501,
            "0D4C1A2B-3C4D-4E5F-8A9B-0C1D2E3F4A5C",
        ));
        m.snapshot.secure_tokens.push(("alice2".into(), Ok(false)));
    });
    assert_eq!(d.status.secure_token.console_user, None);
    assert_eq!(d.state.logins.console_now, None);
    let said = d
        .status
        .daemon
        .errors
        .iter()
        .find(|e| e.contains("uid 501"))
        .unwrap_or_else(|| panic!("{:?}", d.status.daemon.errors));
    assert!(said.contains("alice, alice2"), "{said}");
}
