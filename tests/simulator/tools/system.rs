//! The rest of the Mac: `profiles`, `sysctl`, `sw_vers`, `security authorizationdb` and
//! `defaults` (Escrow Buddy's `GenerateNewKey` only).
//!
//! `defaults` is the one tool here that changes the scenario. The Escrow Buddy preference lives
//! only in the scenario — no plist file is written under `Library/Preferences` — so a daemon
//! that read the file instead of going through `defaults` (cfprefsd) would find nothing.

use crate::scenario::{derived_uuid, escrow_certificate_uuid, Profile, Scenario};
use crate::xml::{self, Plist};

use super::{nslog_prefix, unsupported, Answer, Ctx};

const ESCROW_BUDDY_DOMAIN: &str = "/Library/Preferences/com.netflix.Escrow-Buddy";
const GENERATE_NEW_KEY: &str = "GenerateNewKey";

/// `system.login.console` of a recent macOS (the mechanisms of a stock Mac, in order; values as
/// in the project's hand-written fixture `security-authorizationdb-read/...`, taken from a
/// published macOS 14 transcript).
const LOGIN_MECHANISMS: [&str; 17] = [
    "builtin:prelogin",
    "builtin:policy-banner",
    "loginwindow:login",
    "builtin:login-begin",
    "builtin:reset-password,privileged",
    "loginwindow:FDESupport,privileged",
    "builtin:forward-login,privileged",
    "builtin:auto-login,privileged",
    "builtin:authenticate,privileged",
    "PKINITMechanism:auth,privileged",
    "builtin:login-success",
    "loginwindow:success",
    "HomeDirMechanism:login,privileged",
    "HomeDirMechanism:status",
    "MCXMechanism:login",
    "CryptoTokenKit:login",
    "loginwindow:done",
];
/// Escrow Buddy's mechanism. Its installer inserts it just BEFORE `loginwindow:done`
/// (macadmins/escrow-buddy `Escrow Buddy/Utility/AuthDBSetup.sh`).
const ESCROW_BUDDY_MECHANISM: &str = "Escrow Buddy:Invoke,privileged";

/// `profiles status -type bootstraptoken` and `profiles -C -o stdout-xml`.
pub fn profiles(args: &[&str], s: &Scenario) -> Answer {
    match args {
        ["status", "-type", "bootstraptoken"] => {
            let bt = &s.bootstrap_token;
            if !bt.supported {
                return Answer::stdout(crate::corpus::BOOTSTRAP_NOT_SUPPORTED);
            }
            Answer::stdout(format!(
                "profiles: Bootstrap Token supported on server: YES\nprofiles: Bootstrap Token escrowed to server: {}\n",
                if bt.escrowed { "YES" } else { "NO" }
            ))
        }
        ["-C", "-o", "stdout-xml"] => Answer::stdout(computer_profiles(s)),
        _ => unsupported("profiles", args),
    }
}

/// `{_computerlevel: [profile...]}`, or `<dict/>` with no profile (Fleet's `emptyOutput`).
fn computer_profiles(s: &Scenario) -> String {
    let mut profiles: Vec<Plist> = s
        .extra_profiles
        .iter()
        .map(|p| {
            let items = p
                .payload_types
                .iter()
                .enumerate()
                .map(|(i, t)| payload(&p.identifier, t, i, None))
                .collect();
            profile(p, items)
        })
        .collect();
    if s.escrow.profile_installed {
        let e = &s.escrow;
        let escrow = Profile {
            identifier: e.profile_identifier.clone(),
            display_name: "FileVault Recovery Key Escrow".into(),
            install_date: e.profile_install_date.clone(),
            payload_types: vec![],
        };
        // The payload's own keys under `PayloadContent`, as `profiles` prints a payload's keys
        // (fleetdm/fleet `profiles_darwin_test.go`); `EncryptCertPayloadUUID` names the
        // certificate item (`apple/device-management` FDERecoveryKeyEscrow schema).
        let content = Plist::dict(vec![
            ("Location", Plist::string(&e.location)),
            (
                "EncryptCertPayloadUUID",
                Plist::string(escrow_certificate_uuid()),
            ),
        ]);
        // The certificate item: the pkcs1 payload's `PayloadContent` is the DER certificate
        // (`com.apple.security.pkcs1.yaml`). Whether a Mac prints it as `<data>`, or at all, is
        // unverified: `certificate_shown = false` leaves it out.
        let mut certificate = vec![
            (
                "PayloadCertificateFileName",
                Plist::string("FileVault escrow.cer"),
            ),
            (
                "PayloadIdentifier",
                Plist::string(format!("{}.payload1", escrow.identifier)),
            ),
            ("PayloadType", Plist::string("com.apple.security.pkcs1")),
            ("PayloadUUID", Plist::string(escrow_certificate_uuid())),
            ("PayloadVersion", Plist::Integer(1)),
        ];
        if e.certificate_shown {
            certificate.push(("PayloadContent", Plist::Data(e.certificate.der().to_vec())));
        }
        let items = vec![
            payload(
                &escrow.identifier,
                "com.apple.security.FDERecoveryKeyEscrow",
                0,
                Some(content),
            ),
            Plist::dict(certificate),
        ];
        profiles.push(profile(&escrow, items));
    }
    if profiles.is_empty() {
        return xml::document(&Plist::Dict(vec![]));
    }
    xml::document(&Plist::dict(vec![(
        "_computerlevel",
        Plist::Array(profiles),
    )]))
}

fn profile(p: &Profile, items: Vec<Plist>) -> Plist {
    Plist::dict(vec![
        ("ProfileDisplayName", Plist::string(&p.display_name)),
        ("ProfileIdentifier", Plist::string(&p.identifier)),
        ("ProfileInstallDate", profile_install_date(&p.install_date)),
        ("ProfileItems", Plist::Array(items)),
        ("ProfileOrganization", Plist::string("Example Corp")),
        ("ProfileType", Plist::string("Configuration")),
        ("ProfileUUID", Plist::string(derived_uuid(&p.identifier))),
        ("ProfileVerificationState", Plist::string("verified")),
        ("ProfileVersion", Plist::Integer(1)),
    ])
}

fn payload(profile_id: &str, kind: &str, index: usize, content: Option<Plist>) -> Plist {
    let id = format!("{profile_id}.payload{index}");
    let mut entries = vec![
        ("PayloadIdentifier", Plist::string(&id)),
        ("PayloadType", Plist::string(kind)),
        ("PayloadUUID", Plist::string(derived_uuid(&id))),
        ("PayloadVersion", Plist::Integer(1)),
    ];
    if let Some(c) = content {
        entries.push(("PayloadContent", c));
    }
    Plist::dict(entries)
}

/// `ProfileInstallDate` as the STRING `YYYY-MM-DD HH:MM:SS +0000` (PLATFORM.md, PATTERNS.md:
/// Fleet's fixture). Whether a real Mac prints a `<string>` or a `<date>` is being checked;
/// this is the one place to change.
fn profile_install_date(rfc3339: &str) -> Plist {
    let t = rfc3339
        .parse::<jiff::Timestamp>()
        .expect("validated when the scenario was loaded")
        .to_zoned(jiff::tz::TimeZone::UTC);
    Plist::String(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// `sysctl -n hw.optional.arm64` on an Intel Mac.
const INTEL_ARM64: &str = "sysctl: unknown oid 'hw.optional.arm64'\n";

/// `sysctl -n kern.bootsessionuuid` and `sysctl -n hw.optional.arm64`.
pub fn sysctl(args: &[&str], s: &Scenario) -> Answer {
    match args {
        ["-n", "kern.bootsessionuuid"] => Answer::stdout(format!("{}\n", s.boot_session_uuid)),
        ["-n", "hw.optional.arm64"] if s.macos.apple_silicon => Answer::stdout("1\n"),
        // An Intel Mac has no such OID: every Intel transcript found says so on stderr, exit 1
        // (the project's hand-written `sysctl-arm64/intel-unknown-oid-HANDWRITTEN.txt`).
        ["-n", "hw.optional.arm64"] => Answer::stderr(INTEL_ARM64, 1),
        _ => unsupported("sysctl", args),
    }
}

/// `sw_vers -productVersion` and `sw_vers -buildVersion`.
pub fn sw_vers(args: &[&str], s: &Scenario) -> Answer {
    match args {
        ["-productVersion"] => Answer::stdout(format!("{}\n", s.macos.version)),
        ["-buildVersion"] => Answer::stdout(format!("{}\n", s.macos.build)),
        _ => unsupported("sw_vers", args),
    }
}

/// `security authorizationdb read system.login.console`: the right on stdout, `YES (0)` on
/// stderr.
pub fn security(args: &[&str], s: &Scenario) -> Answer {
    if args != ["authorizationdb", "read", "system.login.console"] {
        return unsupported("security", args);
    }
    let mut mechanisms: Vec<&str> = LOGIN_MECHANISMS.to_vec();
    if s.escrow_buddy.mechanism_registered {
        let done = mechanisms.len() - 1;
        mechanisms.insert(done, ESCROW_BUDDY_MECHANISM);
    }
    let right = Plist::dict(vec![
        ("class", Plist::string("evaluate-mechanisms")),
        (
            "comment",
            Plist::string("Login mechanism based rule.  Not for general use, yet."),
        ),
        ("created", Plist::Real(719_346_785.954_905)),
        ("mechanisms", Plist::strings(&mechanisms)),
        ("modified", Plist::Real(719_346_785.954_905)),
        ("shared", Plist::Bool(true)),
        ("tries", Plist::Integer(10000)),
        ("version", Plist::Integer(11)),
    ]);
    Answer {
        stdout: xml::document(&right).into_bytes(),
        stderr: b"YES (0)\n".to_vec(),
        exit: 0,
    }
}

/// `defaults read|write|delete /Library/Preferences/com.netflix.Escrow-Buddy GenerateNewKey`.
///
/// Messages go through NSLog (stderr, with its prefix; the 2019 sample in 0xmachos/mOSL#24
/// reads `2019-09-01 12:04:08.950 defaults[736:8108] ` + newline + the message). A `delete`
/// of a missing key prints `Domain (...) not found.` (defaults' `DefaultsHandleDelete`, as
/// reconstructed publicly) and exits 1.
pub fn defaults(args: &[&str], s: &mut Scenario, ctx: &Ctx) -> Answer {
    let flag = &mut s.escrow_buddy.generate_new_key;
    match args {
        ["read", ESCROW_BUDDY_DOMAIN, GENERATE_NEW_KEY] => match flag {
            Some(v) => Answer::stdout(if *v { "1\n" } else { "0\n" }),
            None => Answer::stderr(
                format!(
                    "{}\nThe domain/default pair of ({ESCROW_BUDDY_DOMAIN}, {GENERATE_NEW_KEY}) does not exist\n",
                    nslog_prefix("defaults", ctx)
                ),
                1,
            ),
        },
        ["write", ESCROW_BUDDY_DOMAIN, GENERATE_NEW_KEY, "-bool" | "-boolean", value] => {
            match value.to_ascii_lowercase().as_str() {
                "true" | "yes" => *flag = Some(true),
                "false" | "no" => *flag = Some(false),
                _ => return unsupported("defaults", args),
            }
            Answer::stdout("")
        }
        ["delete", ESCROW_BUDDY_DOMAIN, GENERATE_NEW_KEY] => {
            if flag.take().is_some() {
                Answer::stdout("")
            } else {
                Answer::stderr(
                    format!(
                        "{}\nDomain ({ESCROW_BUDDY_DOMAIN}) not found.\nDefaults have not been changed.\n",
                        nslog_prefix("defaults", ctx)
                    ),
                    1,
                )
            }
        }
        _ => unsupported("defaults", args),
    }
}
