//! The scenario: everything the simulated Mac "is", as one JSON document.
//!
//! It owns the schema (serde, with the healthy Mac as the default for every missing field and
//! `deny_unknown_fields` so a typo fails loudly), its validation, the dotted-path edits of
//! `keywarden-sim set`, the accounts view shared by `dscl`/`sysadminctl`/`diskutil` (system
//! accounts plus scenario users) and the UID remap used when the simulator is not root. It does
//! not touch the disk (see `layout`) and does not know what any tool prints (see `tools`).

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The fixed UUID of the personal recovery key's crypto user (corpus/PATTERNS.md, "Well-known
/// fixed UUIDs"; TTG 10.15.6 and Fleet samples).
pub const PRK_UUID: &str = "EBC6C064-0000-11AA-AA11-00306543ECAC";
/// The bootstrap token's crypto user (`MDMRecovery`; Fleet fixture, very likely fixed).
pub const BOOTSTRAP_UUID: &str = "2457711A-523C-4604-B75A-F48A571D5036";
/// The institutional recovery key's crypto user. INVENTED: no public sample shows one.
pub const IRK_UUID: &str = "6A3B2C1D-0000-4E5F-8A9B-00C0FFEE0001";
/// Deferred enablement's default output file (PLATFORM.md).
pub const DEFERRAL_OUTPUT_DEFAULT: &str = "/var/db/ConfigurationProfiles/fdesetup.plist";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    pub macos: MacOs,
    pub boot_session_uuid: String,
    pub filevault: FileVault,
    pub deferral: Option<Deferral>,
    pub recovery_key: RecoveryKey,
    pub users: Vec<User>,
    /// People added in bulk (`event add-users`), after `users`: kept as batches, not thousands of
    /// entries, so a tool that does not list users (`sw_vers`, `sysctl`) does not read a
    /// megabyte of them at every call (issue 16's accounts benchmark measures Keywarden, not the
    /// simulator; a Mac's `sw_vers` does not grow with accounts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lab_users: Vec<LabUsers>,
    /// Short name of the user owning `/dev/console`; `root` or null = nobody logged in.
    pub console_user: Option<String>,
    pub escrow: Escrow,
    pub bootstrap_token: BootstrapToken,
    pub escrow_buddy: EscrowBuddy,
    pub extra_profiles: Vec<Profile>,
    /// Every tool call sleeps this long before answering.
    pub latency_ms: u64,
    pub faults: Vec<Fault>,
    /// A JSON file of recorded calls (relative paths resolve inside `DIR/.sim/`).
    pub transcript: Option<String>,
    /// Set by `init --from-bundle`: the directory inside `DIR/.sim/` holding a selftest bundle.
    /// Every call is answered from it alone, and the scenario's own files are never applied.
    pub recorded: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MacOs {
    pub version: String,
    pub build: String,
    pub apple_silicon: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileVaultState {
    On,
    Off,
    /// Off, but `fdesetup enable` ran: `FileVault is Off, but will be enabled after the next
    /// restart.` (PATTERNS.md, MikeMcQuaid/strap). A reboot turns it on.
    OffRestartPending,
    Encrypting,
    Decrypting,
    Deferred,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileVault {
    pub state: FileVaultState,
    /// Conversion progress; null prints `Pending`.
    pub percent: Option<f64>,
    pub master_keychain: bool,
    pub restart_required: bool,
    /// Named in the pre-13.2 deferral line of `fdesetup status`.
    pub deferred_user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deferral {
    pub output_path: String,
    /// The output file exists (it holds a key in plain text).
    pub plaintext_file: bool,
}

/// `usingrecoverykey`: a definite answer, or the APFS 10.13/10.14 refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UsedThisBoot {
    Known(bool),
    Unsupported(NotSupported),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotSupported {
    #[serde(rename = "not_supported")]
    NotSupported,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryKey {
    pub personal: Option<String>,
    pub institutional: bool,
    pub used_this_boot: UsedThisBoot,
    /// A bad credential given to `changerecovery` deletes the PRK (10.13.x, PLATFORM.md).
    pub delete_on_bad_credential: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub uid: i64,
    /// Defaults to `name`.
    #[serde(default)]
    pub real_name: Option<String>,
    /// Defaults to a UUID derived from `name`.
    #[serde(default)]
    pub generated_uid: Option<String>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub secure_token: bool,
    #[serde(default)]
    pub volume_owner: bool,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub smart_card: bool,
    /// Whether `AuthenticationAuthority` carries `;SecureToken;` (defaults to `secure_token`):
    /// set it apart to make the directory disagree with the volume (issue 16, item 10).
    #[serde(default)]
    pub authority_token: Option<bool>,
    /// A directory (network) account: no record in the local node, so `dscl .` does not list it
    /// and the volume has no crypto user for it, yet it can own the console (issue 16, item 5).
    #[serde(default)]
    pub network: bool,
    /// This record deliberately shares its UID with an earlier account (a copied or migrated
    /// record): validation lets it pass (issue 16, item 5).
    #[serde(default)]
    pub shares_uid: bool,
}

/// `count` people named `user{first:04}`, ... with UIDs from `first_uid`, the first `with_token`
/// of them holding a SecureToken; none an admin (`event add-users`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabUsers {
    pub first: usize,
    pub first_uid: i64,
    pub count: usize,
    pub with_token: usize,
}

impl LabUsers {
    pub fn users(&self) -> impl Iterator<Item = User> + '_ {
        (0..self.count).map(move |i| {
            let n = self.first + i;
            User {
                name: format!("user{n:04}"),
                uid: self.first_uid + i as i64,
                real_name: Some(format!("Lab User {n}")),
                generated_uid: None,
                admin: false,
                secure_token: i < self.with_token,
                volume_owner: false,
                hidden: false,
                smart_card: false,
                authority_token: None,
                network: false,
                shares_uid: false,
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Escrow {
    /// The `FDERecoveryKeyEscrow` payload (and its managed preference) is installed.
    pub profile_installed: bool,
    pub profile_identifier: String,
    /// RFC 3339.
    pub profile_install_date: String,
    pub location: String,
    /// The certificate of the installed escrow profile (its `com.apple.security.pkcs1` item):
    /// new blobs are encrypted to it.
    pub certificate: EscrowCert,
    /// `profiles -C -o stdout-xml` shows the certificate item's `PayloadContent` (whether a real
    /// Mac does is unverified; false prints the item without it).
    pub certificate_shown: bool,
    /// RFC 3339 mtime of `/var/db/FileVaultPRK.dat`; null = no escrow file.
    pub prk_file_written_at: Option<String>,
    /// The certificate the current `FileVaultPRK.dat` is encrypted to: `certificate` at the time
    /// it was written.
    pub prk_file_certificate: EscrowCert,
    /// How the Mac writes `FileVaultPRK.dat`: a CMS envelope, or bytes that are not CMS.
    pub prk_file_format: BlobFormat,
}

/// The throwaway certificates of `tests/fixtures/escrow/` (certificates only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscrowCert {
    /// `escrow-a.der`.
    A,
    /// `escrow-a-reissued.der`: A's issuer, subject and key, another serial (an MDM that builds
    /// a new certificate for the same key on every send, as zentral does).
    AReissued,
    /// `escrow-b.der`: another issuer and key (the MDM's certificate changed).
    B,
}

impl EscrowCert {
    pub fn der(self) -> &'static [u8] {
        match self {
            EscrowCert::A => include_bytes!("../fixtures/escrow/escrow-a.der"),
            EscrowCert::AReissued => include_bytes!("../fixtures/escrow/escrow-a-reissued.der"),
            EscrowCert::B => include_bytes!("../fixtures/escrow/escrow-b.der"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobFormat {
    /// DER CMS `EnvelopedData` to `prk_file_certificate` (filler bytes for the encrypted parts).
    Cms,
    /// Text that is not CMS (an unknown format a future macOS might write).
    NotCms,
    /// Zero bytes (a tool or script that truncated the file; issue 16, item 6).
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapToken {
    pub supported: bool,
    pub escrowed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscrowBuddy {
    /// The bundle is in `SecurityAgentPlugins`.
    pub installed: bool,
    /// `Escrow Buddy:Invoke,privileged` is in `system.login.console`.
    pub mechanism_registered: bool,
    /// `GenerateNewKey` in `/Library/Preferences/com.netflix.Escrow-Buddy` (null = absent).
    pub generate_new_key: Option<bool>,
    /// The next rotation at login fails (fdesetup error); consumed by that login.
    pub fail_next_rotation: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub identifier: String,
    pub display_name: String,
    /// RFC 3339.
    pub install_date: String,
    pub payload_types: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Hang,
    HangWithChild,
    Crash,
    Exit,
    Garbage,
    Huge,
    NonUtf8,
    Slow,
    Empty,
    Truncated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Matches a call whose argv (tool name first) starts with these words.
    pub argv: Vec<String>,
    pub kind: FaultKind,
    /// `exit`: the exit code (default 1).
    #[serde(default)]
    pub code: Option<i32>,
    /// `exit`: what goes to stderr.
    #[serde(default)]
    pub stderr: Option<String>,
    /// `slow`: the delay (default 1000).
    #[serde(default)]
    pub ms: Option<u64>,
    /// How many more calls it applies to (null = every call); 0 = spent.
    #[serde(default)]
    pub times: Option<u32>,
}

impl Default for Scenario {
    /// The healthy Mac: FileVault on, an escrowed PRK, one admin with a token who is logged in, a
    /// hidden MDM admin without a token, bootstrap token escrowed, Escrow Buddy installed.
    fn default() -> Self {
        Scenario {
            macos: MacOs::default(),
            boot_session_uuid: "0C5E1F9A-3B4D-4E6F-8A7B-9C0D1E2F3A4B".into(),
            filevault: FileVault::default(),
            deferral: None,
            recovery_key: RecoveryKey::default(),
            users: vec![
                User {
                    name: "alice".into(),
                    uid: 501,
                    real_name: Some("Alice Appleseed".into()),
                    generated_uid: Some("3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667".into()),
                    admin: true,
                    secure_token: true,
                    volume_owner: true,
                    hidden: false,
                    smart_card: false,
                    authority_token: None,
                    network: false,
                    shares_uid: false,
                },
                User {
                    name: "itadmin".into(),
                    uid: 502,
                    real_name: Some("IT Admin".into()),
                    generated_uid: Some("9D2A6C41-1B7E-4F0A-9C3D-5E8F7A6B4C21".into()),
                    admin: true,
                    secure_token: false,
                    volume_owner: false,
                    hidden: true,
                    smart_card: false,
                    authority_token: None,
                    network: false,
                    shares_uid: false,
                },
            ],
            lab_users: Vec::new(),
            console_user: Some("alice".into()),
            escrow: Escrow::default(),
            bootstrap_token: BootstrapToken::default(),
            escrow_buddy: EscrowBuddy::default(),
            extra_profiles: vec![Profile {
                identifier: "com.example.mdm".into(),
                display_name: "MDM Profile".into(),
                install_date: "2024-05-01T08:55:00Z".into(),
                payload_types: vec!["com.apple.mdm".into(), "com.apple.security.scep".into()],
            }],
            latency_ms: 0,
            faults: Vec::new(),
            transcript: None,
            recorded: None,
        }
    }
}

impl Default for MacOs {
    fn default() -> Self {
        MacOs {
            version: "15.1".into(),
            build: "24B83".into(),
            apple_silicon: true,
        }
    }
}

impl Default for FileVault {
    fn default() -> Self {
        FileVault {
            state: FileVaultState::On,
            percent: None,
            master_keychain: false,
            restart_required: false,
            deferred_user: None,
        }
    }
}

impl Default for Deferral {
    fn default() -> Self {
        Deferral {
            output_path: DEFERRAL_OUTPUT_DEFAULT.into(),
            plaintext_file: true,
        }
    }
}

impl Default for RecoveryKey {
    fn default() -> Self {
        RecoveryKey {
            personal: Some("ABCD-EFGH-JKLM-NPQR-STUV-WXYZ".into()),
            institutional: false,
            used_this_boot: UsedThisBoot::Known(false),
            delete_on_bad_credential: false,
        }
    }
}

impl Default for Escrow {
    fn default() -> Self {
        Escrow {
            profile_installed: true,
            profile_identifier: "com.example.filevault.escrow".into(),
            profile_install_date: "2024-05-01T09:00:00Z".into(),
            location: "Keys are escrowed to Example Corp IT".into(),
            certificate: EscrowCert::A,
            certificate_shown: true,
            prk_file_written_at: Some("2024-06-01T10:00:00Z".into()),
            prk_file_certificate: EscrowCert::A,
            prk_file_format: BlobFormat::Cms,
        }
    }
}

impl Escrow {
    /// The Mac makes a new escrow blob now (a key was made while the payload is installed): to
    /// the installed profile's certificate.
    pub fn stage_blob(&mut self, now: impl std::fmt::Display) {
        self.prk_file_written_at = Some(now.to_string());
        self.prk_file_certificate = self.certificate;
    }
}

impl Default for BootstrapToken {
    fn default() -> Self {
        BootstrapToken {
            supported: true,
            escrowed: true,
        }
    }
}

impl Default for EscrowBuddy {
    fn default() -> Self {
        EscrowBuddy {
            installed: true,
            mechanism_registered: true,
            generate_new_key: None,
            fail_next_rotation: false,
        }
    }
}

/// One account as the directory tools present it: a scenario user or a built-in system account.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Record names; the first is the short name.
    pub names: Vec<String>,
    pub uid: i64,
    pub real_name: String,
    pub generated_uid: String,
    pub admin: bool,
    pub secure_token: bool,
    pub volume_owner: bool,
    pub hidden: bool,
    pub smart_card: bool,
    /// `;SecureToken;` in `AuthenticationAuthority`.
    pub authority_token: bool,
    /// Not in the local node (`User::network`).
    pub network: bool,
    /// May share its UID (`User::shares_uid`).
    pub shares_uid: bool,
    /// A built-in account: no `AuthenticationAuthority` (root is disabled on a stock Mac:
    /// corpus/PATTERNS.md "No such key: AuthenticationAuthority").
    pub system: bool,
}

impl Account {
    pub fn name(&self) -> &str {
        &self.names[0]
    }
}

/// The built-in accounts every Mac has (a few of the ~100 `_` service accounts). The
/// GeneratedUIDs are the well-known `FFFFEEEE-DDDD-CCCC-BBBB-AAAA` + UID form.
fn system_accounts() -> Vec<Account> {
    let sys = |names: &[&str], uid: i64, real: &str, guid: &str| Account {
        names: names.iter().map(|n| n.to_string()).collect(),
        uid,
        real_name: real.into(),
        generated_uid: guid.into(),
        admin: names[0] == "root",
        secure_token: false,
        volume_owner: false,
        hidden: false,
        smart_card: false,
        authority_token: false,
        network: false,
        shares_uid: false,
        system: true,
    };
    vec![
        sys(
            &["root", "BUILTIN\\Local System"],
            0,
            "System Administrator",
            "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000",
        ),
        sys(
            &["daemon"],
            1,
            "System Services",
            "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000001",
        ),
        sys(
            &["nobody"],
            -2,
            "Unprivileged User",
            "FFFFEEEE-DDDD-CCCC-BBBB-AAAAFFFFFFFE",
        ),
        sys(
            &["_spotlight"],
            89,
            "Spotlight",
            "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000059",
        ),
        sys(
            &["_mbsetupuser"],
            248,
            "Setup User",
            "FFFFEEEE-DDDD-CCCC-BBBB-AAAA000000F8",
        ),
    ]
}

/// A stable UUID-shaped string derived from `seed` (for GeneratedUIDs and payload UUIDs).
pub fn derived_uuid(seed: &str) -> String {
    let h = hex(&Sha256::digest(seed.as_bytes())).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The `PayloadUUID` of the escrow profile's certificate item, which its escrow payload's
/// `EncryptCertPayloadUUID` names (and the managed preference repeats).
pub fn escrow_certificate_uuid() -> String {
    derived_uuid("escrow certificate")
}

pub fn hex(bytes: &[u8]) -> String {
    // One allocation, not one per byte: every tool call derives thousands of GeneratedUIDs on a
    // Mac of thousands of users (issue 16's accounts benchmark).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

impl User {
    pub fn account(&self) -> Account {
        Account {
            names: vec![self.name.clone()],
            uid: self.uid,
            real_name: self.real_name.clone().unwrap_or_else(|| self.name.clone()),
            generated_uid: self
                .generated_uid
                .clone()
                .unwrap_or_else(|| derived_uuid(&format!("user {}", self.name))),
            admin: self.admin,
            secure_token: self.secure_token,
            volume_owner: self.volume_owner,
            hidden: self.hidden,
            smart_card: self.smart_card,
            authority_token: self.authority_token.unwrap_or(self.secure_token),
            network: self.network,
            shares_uid: self.shares_uid,
            system: false,
        }
    }
}

impl Scenario {
    /// System accounts followed by the scenario's users.
    pub fn accounts(&self) -> Vec<Account> {
        let mut all = system_accounts();
        all.extend(self.people().map(|u| u.account()));
        all
    }

    /// The local admin group's members, in `accounts()` order, without building every account.
    pub fn admins(&self) -> Vec<String> {
        system_accounts()
            .into_iter()
            .filter(|a| a.admin && !a.network)
            .map(|a| a.name().to_string())
            .chain(
                self.people()
                    .filter(|u| u.admin && !u.network)
                    .map(|u| u.name.clone()),
            )
            .collect()
    }

    /// The scenario's users, then those added in bulk.
    pub fn people(&self) -> impl Iterator<Item = std::borrow::Cow<'_, User>> + '_ {
        use std::borrow::Cow;
        self.users.iter().map(Cow::Borrowed).chain(
            self.lab_users
                .iter()
                .flat_map(|b| b.users().map(Cow::Owned)),
        )
    }

    /// The account with this record name (short name or alias).
    pub fn account(&self, name: &str) -> Option<Account> {
        system_accounts()
            .into_iter()
            .find(|a| a.names.iter().any(|n| n == name))
            .or_else(|| self.people().find(|u| u.name == name).map(|u| u.account()))
    }

    /// The UID the simulated Mac shows for `account` when the simulator runs with `euid`.
    ///
    /// As root, `/dev/console` is chowned to the console user's own UID and nothing is remapped.
    /// Without root the file can only be owned by `euid`, so the console user is *presented* as
    /// `euid` everywhere (dscl), and an account whose UID happens to be `euid` takes the console
    /// user's scenario UID instead, so UIDs stay unique.
    pub fn presented_uid(&self, account: &Account, euid: u32) -> i64 {
        let euid = i64::from(euid);
        let console = match (&self.console_user, euid) {
            (_, 0) | (None, _) => return account.uid,
            (Some(c), _) => c,
        };
        let Some(console_uid) = self.account(console).map(|a| a.uid) else {
            return account.uid;
        };
        // Every record with the console user's UID shows the console owner's (issue 16, item 5).
        if account.name() == console || account.uid == console_uid {
            euid
        } else if account.uid == euid {
            console_uid
        } else {
            account.uid
        }
    }

    /// Whether the macOS version is at least `major.minor`.
    pub fn macos_at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self
            .macos
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        have >= (major, minor)
    }

    /// Checks what serde cannot: dates, unique users, a console user that exists.
    pub fn validate(&self) -> Result<(), String> {
        let mut dates = vec![(
            "escrow.profile_install_date",
            self.escrow.profile_install_date.as_str(),
        )];
        if let Some(at) = &self.escrow.prk_file_written_at {
            dates.push(("escrow.prk_file_written_at", at));
        }
        for p in &self.extra_profiles {
            dates.push(("extra_profiles.install_date", &p.install_date));
        }
        for (field, value) in dates {
            jiff::Timestamp::from_str(value)
                .map_err(|e| format!("{field}: {value:?} is not an RFC 3339 time: {e}"))?;
        }
        // The bulk-added people are checked as ranges, never expanded: this runs at every tool
        // call.
        let mut accounts = system_accounts();
        accounts.extend(self.users.iter().map(User::account));
        let mut ranges: Vec<(std::ops::Range<usize>, std::ops::Range<i64>)> = Vec::new();
        for b in &self.lab_users {
            let names = b.first..b.first + b.count;
            let uids = b.first_uid..b.first_uid + b.count as i64;
            let overlaps = |r: &std::ops::Range<usize>, q: &std::ops::Range<i64>| {
                r.start < names.end && names.start < r.end
                    || q.start < uids.end && uids.start < q.end
            };
            let explicit = accounts.iter().find(|a| {
                uids.contains(&a.uid)
                    || a.name()
                        .strip_prefix("user")
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|n| names.contains(&n))
            });
            if let Some(a) = explicit {
                return Err(format!(
                    "users: {} (UID {}) clashes with the users added in bulk (user{:04}.., UIDs {}..)",
                    a.name(),
                    a.uid,
                    b.first,
                    b.first_uid
                ));
            }
            if ranges.iter().any(|(r, q)| overlaps(r, q)) {
                return Err(format!(
                    "lab_users: user{:04}.. (UIDs {}..) overlaps an earlier batch",
                    b.first, b.first_uid
                ));
            }
            ranges.push((names, uids));
        }
        // Indexed, not pairwise.
        let mut by_name: std::collections::HashMap<&str, usize> = Default::default();
        let mut by_uid: std::collections::HashMap<i64, usize> = Default::default();
        for (i, a) in accounts.iter().enumerate() {
            let clash = by_name
                .get(a.name())
                .or(by_uid.get(&a.uid).filter(|_| !a.shares_uid))
                .copied();
            by_name.entry(a.name()).or_insert(i);
            by_uid.entry(a.uid).or_insert(i);
            if let Some(b) = clash.map(|j| &accounts[j]) {
                return Err(format!(
                    "users: {} (UID {}) clashes with {} (UID {})",
                    a.name(),
                    a.uid,
                    b.name(),
                    b.uid
                ));
            }
        }
        if let Some(c) = &self.console_user {
            if self.account(c).is_none() {
                return Err(format!("console_user: {c:?} is not a user of the scenario"));
            }
        }
        if let Some(d) = &self.deferral {
            if !d.output_path.starts_with('/') {
                return Err(format!(
                    "deferral.output_path: {:?} must be absolute",
                    d.output_path
                ));
            }
        }
        if self.boot_session_uuid.trim().is_empty() {
            return Err("boot_session_uuid is empty".into());
        }
        Ok(())
    }

    pub fn from_json(text: &str) -> Result<Scenario, String> {
        let s: Scenario = serde_json::from_str(text).map_err(|e| e.to_string())?;
        s.validate()?;
        Ok(s)
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a scenario always serialises");
        text.push('\n');
        text
    }

    /// `keywarden-sim set`: one `dotted.path=JSON` assignment. A value that is not JSON is taken
    /// as a string (`console_user=bob`). The result is re-validated as a whole scenario.
    pub fn assign(&self, assignment: &str) -> Result<Scenario, String> {
        let (path, raw) = assignment
            .split_once('=')
            .ok_or_else(|| format!("{assignment:?}: expected PATH=JSON"))?;
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        let mut doc = serde_json::to_value(self).expect("a scenario always serialises");
        set_path(&mut doc, path, value)?;
        let s: Scenario = serde_json::from_value(doc).map_err(|e| format!("{path}: {e}"))?;
        s.validate()?;
        Ok(s)
    }
}

/// Sets `doc[a][b][0]...` for the path `a.b.0`. A null on the way becomes an object (so
/// `deferral.plaintext_file=true` works while `deferral` is null); an array index may append.
fn set_path(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{path:?}: empty path component"));
    }
    let mut cur = doc;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if cur.is_null() {
            *cur = Value::Object(Default::default());
        }
        cur = match cur {
            Value::Object(map) => {
                if last {
                    map.insert(part.to_string(), value);
                    return Ok(());
                }
                map.entry(part.to_string()).or_insert(Value::Null)
            }
            Value::Array(items) => {
                let idx: usize = part
                    .parse()
                    .map_err(|_| format!("{path:?}: {part:?} is not an array index"))?;
                if idx == items.len() {
                    items.push(Value::Null);
                }
                let len = items.len();
                let slot = items
                    .get_mut(idx)
                    .ok_or_else(|| format!("{path:?}: index {idx} out of range (len {len})"))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            other => return Err(format!("{path:?}: cannot descend into {other}")),
        };
    }
    unreachable!("the loop returns at the last component")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_healthy_scenario_is_valid_and_round_trips() {
        let s = Scenario::default();
        s.validate().unwrap();
        assert_eq!(Scenario::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn a_partial_file_is_the_healthy_mac_with_overrides() {
        let s = Scenario::from_json(r#"{"filevault": {"state": "Off"}}"#).unwrap();
        assert_eq!(s.filevault.state, FileVaultState::Off);
        assert_eq!(s.users, Scenario::default().users);
    }

    #[test]
    fn a_misspelt_field_fails_loudly() {
        let err = Scenario::from_json(r#"{"filevault": {"stat": "Off"}}"#).unwrap_err();
        assert!(err.contains("stat"), "{err}");
    }

    #[test]
    fn used_this_boot_accepts_booleans_and_not_supported() {
        for (text, want) in [
            ("true", UsedThisBoot::Known(true)),
            ("false", UsedThisBoot::Known(false)),
            (
                "\"not_supported\"",
                UsedThisBoot::Unsupported(NotSupported::NotSupported),
            ),
        ] {
            let s = Scenario::default()
                .assign(&format!("recovery_key.used_this_boot={text}"))
                .unwrap();
            assert_eq!(s.recovery_key.used_this_boot, want);
        }
    }

    #[test]
    fn assignments_reach_nested_fields_array_items_and_null_sections() {
        let s = Scenario::default()
            .assign("users.1.secure_token=true")
            .unwrap()
            .assign("console_user=\"itadmin\"")
            .unwrap()
            .assign("deferral.plaintext_file=true")
            .unwrap();
        assert!(s.users[1].secure_token);
        assert_eq!(s.console_user.as_deref(), Some("itadmin"));
        assert_eq!(s.deferral, Some(Deferral::default()));
    }

    #[test]
    fn an_unknown_console_user_is_rejected() {
        assert!(Scenario::default().assign("console_user=bob").is_err());
    }

    #[test]
    fn without_root_the_console_user_is_presented_as_the_euid() {
        let s = Scenario::default();
        let alice = s.account("alice").unwrap();
        let itadmin = s.account("itadmin").unwrap();
        assert_eq!(s.presented_uid(&alice, 0), 501);
        assert_eq!(s.presented_uid(&alice, 1000), 1000);
        assert_eq!(s.presented_uid(&itadmin, 1000), 502);
        // A user whose UID collides with the euid takes the console user's UID.
        assert_eq!(s.presented_uid(&itadmin, 502), 501);
    }
}
