//! Who is on the Mac: `dscl` (users, admins), `sysadminctl -secureTokenStatus` and
//! `diskutil apfs listCryptoUsers` (the volume's crypto users).
//!
//! All three read the same accounts view (`Scenario::accounts`: built-in system accounts plus
//! scenario users), so they always agree with each other. UIDs in `dscl` go through
//! `Scenario::presented_uid` (the non-root remap).

use crate::scenario::{hex, Scenario, BOOTSTRAP_UUID, IRK_UUID, PRK_UUID};
use crate::xml::{self, Plist};

use super::{nslog_prefix, unsupported, Answer, Ctx};
use sha2::{Digest, Sha256};

/// Attributes `dscl -readall /Users` can print here, by their short name.
const USER_ATTRIBUTES: [&str; 6] = [
    "RecordName",
    "UniqueID",
    "GeneratedUID",
    "RealName",
    "IsHidden",
    "AuthenticationAuthority",
];

/// `diskutil apfs listCryptoUsers / -plist`: the layout of the Fleet fixture, with the closing
/// `</plist>` real output has. Order: users with a token, PRK, IRK, bootstrap token.
pub fn diskutil(args: &[&str], s: &Scenario) -> Answer {
    if args != ["apfs", "listCryptoUsers", "/", "-plist"] {
        return unsupported("diskutil", args);
    }
    let crypto_user = |kind: &str, uuid: &str, owner: bool| {
        Plist::dict(vec![
            ("APFSCryptoUserType", Plist::string(kind)),
            ("APFSCryptoUserUUID", Plist::string(uuid)),
            ("VolumeOwner", Plist::Bool(owner)),
        ])
    };
    let mut users: Vec<Plist> = s
        .people()
        // A network account has no local record, so no GeneratedUID the volume could know.
        // Filtered before `account()`: thousands of users need not all derive a GeneratedUID.
        .filter(|u| u.secure_token && !u.network)
        .map(|u| u.account())
        .map(|a| crypto_user("LocalOpenDirectory", &a.generated_uid, a.volume_owner))
        .collect();
    if s.recovery_key.personal.is_some() {
        // The PRK is itself a volume owner (PLATFORM.md).
        users.push(crypto_user("PersonalRecovery", PRK_UUID, true));
    }
    if s.recovery_key.institutional {
        users.push(crypto_user("InstitutionalRecovery", IRK_UUID, false));
    }
    if s.bootstrap_token.escrowed {
        users.push(crypto_user("MDMRecovery", BOOTSTRAP_UUID, false));
    }
    Answer::stdout(xml::document(&Plist::dict(vec![(
        "Users",
        Plist::Array(users),
    )])))
}

/// `dscl -plist . -readall /Users ATTR...` (an array of dicts, one per record, sorted by name,
/// each attribute (`attribute_key`) → array of strings, absent attributes left out) and
/// `dscl -plist . -read /Groups/admin GroupMembership`.
pub fn dscl(args: &[&str], s: &Scenario, ctx: &Ctx) -> Answer {
    match args {
        ["-plist", ".", "-readall", "/Users", attrs @ ..]
            if !attrs.is_empty() && attrs.iter().all(|a| USER_ATTRIBUTES.contains(a)) =>
        {
            // The local node only: a network account lives in another directory node.
            let mut accounts: Vec<_> = s.accounts().into_iter().filter(|a| !a.network).collect();
            accounts.sort_by(|a, b| a.name().cmp(b.name()));
            let records = accounts
                .iter()
                .map(|a| {
                    let mut entries = Vec::new();
                    for attr in attrs.iter() {
                        let values = match *attr {
                            "RecordName" => a.names.clone(),
                            "UniqueID" => vec![s.presented_uid(a, ctx.euid).to_string()],
                            "GeneratedUID" => vec![a.generated_uid.clone()],
                            "RealName" => vec![a.real_name.clone()],
                            "IsHidden" if a.hidden => vec!["1".to_string()],
                            "AuthenticationAuthority" if !a.system => {
                                authentication_authority(a.name(), a.authority_token, a.smart_card)
                            }
                            _ => continue,
                        };
                        entries.push((attribute_key(attr), Plist::strings(&values)));
                    }
                    Plist::Dict(entries)
                })
                .collect();
            Answer::stdout(xml::document(&Plist::Array(records)))
        }
        ["-plist", ".", "-read", "/Groups/admin", "GroupMembership"] => {
            let members = s.admins();
            Answer::stdout(xml::document(&Plist::dict(vec![(
                "dsAttrTypeStandard:GroupMembership",
                Plist::strings(&members),
            )])))
        }
        _ => unsupported("dscl", args),
    }
}

/// `dsAttrTypeStandard:ATTR`, except for `IsHidden`, which is a native attribute
/// (`dsAttrTypeNative:IsHidden`: grahamgilbert/puppet-mac_admin `mac_hide_user`; the project's
/// hand-written dscl fixture agrees).
fn attribute_key(attr: &str) -> String {
    match attr {
        "IsHidden" => "dsAttrTypeNative:IsHidden".into(),
        _ => format!("dsAttrTypeStandard:{attr}"),
    }
}

/// A password user's values: shadow hash, Kerberos (LKDC), then `;SecureToken;` for a token
/// holder and `;tokenidentity;<hash>` for a smart-card pairing (corpus
/// `dscl-read-authenticationauthority/pycreateuserpkg-50-...`).
fn authentication_authority(name: &str, token: bool, smart_card: bool) -> Vec<String> {
    let digest = |seed: &str| hex(&Sha256::digest(seed.as_bytes()))[..40].to_uppercase();
    let lkdc = digest("lkdc");
    let mut v = vec![
        ";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2,SRP-RFC5054-4096-SHA512-PBKDF2>".to_string(),
        format!(";Kerberosv5;;{name}@LKDC:SHA1.{lkdc};LKDC:SHA1.{lkdc};"),
    ];
    if token {
        v.push(";SecureToken;".into());
    }
    if smart_card {
        v.push(format!(
            ";tokenidentity;{}",
            digest(&format!("card {name}"))
        ));
    }
    v
}

/// `sysadminctl -secureTokenStatus NAME`: one NSLog line on stderr naming the user by their
/// full name (26.6 fixture), exit 0 — also for an unknown user (corpus/PATTERNS.md).
pub fn sysadminctl(args: &[&str], s: &Scenario, ctx: &Ctx) -> Answer {
    let ["-secureTokenStatus", name] = args else {
        return unsupported("sysadminctl", args);
    };
    let prefix = nslog_prefix("sysadminctl", ctx);
    let line = match s.account(name) {
        Some(a) => format!(
            "{prefix}Secure token is {} for user {}\n",
            if a.secure_token {
                "ENABLED"
            } else {
                "DISABLED"
            },
            a.real_name
        ),
        None => format!("{prefix}Unknown user {name}\n"),
    };
    Answer::stderr(line, 0)
}
