//! `/usr/bin/profiles`: the bootstrap token and the installed computer-level profiles.
//!
//! Owns the two argv builders (`status -type bootstraptoken`, `-C -o stdout-xml`), their parsers
//! and queries, and finds in the escrow profile the certificate its payload encrypts to (read as
//! X.509 by `escrow_blob`). It never runs `profiles show -type enrollment` (rate-limited,
//! PLATFORM.md). Whether the escrow payload is present, and what its install date or its
//! certificate mean for the escrowed key, are decided in `observe`/`decide`.

use crate::paths::Tool;
use crate::runner::{Call, Exit, Output, Runner};

use super::escrow_blob::{parse_certificate, EscrowCertificate};
use super::{query, text, xml_plist_answer, ParseError, ProbeError};

/// The payload type of the FileVault recovery key escrow payload.
pub const ESCROW_PAYLOAD_TYPE: &str = "com.apple.security.FDERecoveryKeyEscrow";
/// The payload type `EncryptCertPayloadUUID` must name (`apple/device-management`
/// `mdm/profiles/com.apple.security.FDERecoveryKeyEscrow.yaml`).
pub const CERTIFICATE_PAYLOAD_TYPE: &str = "com.apple.security.pkcs1";
/// `profiles -C -o stdout-xml` prints every payload of every profile, certificates included
/// (issue 14, item 6): more room than the runner's default 1 MiB. Still a bound: output past it
/// is refused, never parsed cut.
pub const COMPUTER_PROFILES_OUTPUT_CAP: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapToken {
    pub supported: bool,
    /// Only printed when supported.
    pub escrowed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledProfile {
    pub identifier: String,
    pub display_name: Option<String>,
    /// `ProfileInstallDate` (`YYYY-MM-DD HH:MM:SS +0000`).
    pub install_date: Option<jiff::Timestamp>,
    /// `PayloadType` of each item.
    pub payload_types: Vec<String>,
    /// For a profile with the escrow payload: the certificate that payload encrypts the key to,
    /// as the output shows it, or why it shows none. `None` for every other profile.
    pub escrow_certificate: Option<EscrowCertificateSeen>,
    /// What of the profile could not be read and was left out (its name, its date), one
    /// printable line each; empty when all of it read.
    pub notes: Vec<String>,
}

/// The escrow payload's certificate as `profiles -C -o stdout-xml` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscrowCertificateSeen {
    /// The item `EncryptCertPayloadUUID` names is a `com.apple.security.pkcs1` payload whose
    /// `PayloadContent` is a DER certificate.
    Shown(EscrowCertificate),
    /// The output does not show it, or shows something that is not a certificate: why, in one
    /// line. Never a guess (docs/tool-behavior.md: whether a Mac shows the certificate at all is
    /// unverified).
    Unknown(String),
}

/// Every computer-level profile of one `profiles -C -o stdout-xml`: the ones that read, and the
/// ones that did not (issue 14, item 6: one odd profile must not blind the escrow check).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComputerProfiles {
    pub installed: Vec<InstalledProfile>,
    pub unreadable: Vec<UnreadableProfile>,
}

/// A profile whose entry does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableProfile {
    /// Its `ProfileIdentifier` when that reads (printable, cut), else `profile N` (its position).
    pub name: String,
    /// What is wrong with it, in one line.
    pub problem: String,
    /// Whether its items include the escrow payload, as far as they can be read: `Some(false)`
    /// only when every item names a type and none is the escrow payload.
    pub carries_escrow: Option<bool>,
}

impl InstalledProfile {
    pub fn has_payload(&self, payload_type: &str) -> bool {
        self.payload_types.iter().any(|t| t == payload_type)
    }
}

pub(crate) fn bootstrap_token_call() -> Call {
    Call::tool(Tool::Profiles, &["status", "-type", "bootstraptoken"])
}
pub(crate) fn computer_profiles_call() -> Call {
    Call::tool(Tool::Profiles, &["-C", "-o", "stdout-xml"])
        .with_output_cap(COMPUTER_PROFILES_OUTPUT_CAP)
}

/// `supported on server: YES|NO` and, when supported, `escrowed to server: YES|NO`.
///
/// Wording (PATTERNS.md "profiles: bootstrap token"): `profiles: Bootstrap Token supported on
/// server: YES` / `profiles: Bootstrap Token escrowed to server: NO`, every line with the
/// `profiles: ` prefix (robjschroeder/Bootstrap-Token-Escrow compares these two-line outputs for
/// equality; corpus profiles-status-bootstraptoken/ttg-10.15.6-supported-no.txt has the single
/// `supported on server: NO` line). Accepted defensively, pattern only, unverified: the line
/// without the `profiles: ` prefix (Bootstrap Buddy matches the bare substring; its maintainer
/// quotes it so in Inetum-Poland/bootstrap-buddy#14), `escrowed on server` (a FileWave KB wording
/// reported in a Go test comment), and `yes`/`no` in lower case (every source shows upper case).
///
/// Both streams are read (Bootstrap Buddy read stdout only and once failed to see the answer,
/// Inetum-Poland/bootstrap-buddy#11); a line that appears twice must agree. The exit code is not
/// documented and not read. Strict: any other non-empty line, `supported: YES` without an
/// `escrowed` line, or no `supported` line at all is `Unrecognised`.
pub fn parse_bootstrap_token(out: &Output) -> Result<BootstrapToken, ParseError> {
    if let Exit::Signal(_) = out.exit {
        return Err(ParseError::unrecognised(out));
    }
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let mut supported: Option<bool> = None;
    let mut escrowed: Option<bool> = None;
    for line in stdout.lines().chain(stderr.lines()) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let body = line.strip_prefix("profiles: ").unwrap_or(line);
        let (slot, answer) =
            if let Some(a) = body.strip_prefix("Bootstrap Token supported on server: ") {
                (&mut supported, a)
            } else if let Some(a) = body
                .strip_prefix("Bootstrap Token escrowed to server: ")
                .or_else(|| body.strip_prefix("Bootstrap Token escrowed on server: "))
            {
                (&mut escrowed, a)
            } else {
                return Err(ParseError::unrecognised(out));
            };
        let value = match answer.trim() {
            a if a.eq_ignore_ascii_case("YES") => true,
            a if a.eq_ignore_ascii_case("NO") => false,
            _ => return Err(ParseError::unrecognised(out)),
        };
        match *slot {
            Some(prev) if prev != value => return Err(ParseError::unrecognised(out)),
            _ => *slot = Some(value),
        }
    }
    match (supported, escrowed) {
        (Some(true), None) | (None, _) => Err(ParseError::unrecognised(out)),
        // `supported: NO` with an `escrowed` line is not documented, but both are the tool's
        // words: keep them as printed.
        (Some(supported), escrowed) => Ok(BootstrapToken {
            supported,
            escrowed,
        }),
    }
}

/// The profiles under `_computerlevel`; per-user keys are ignored.
///
/// Shape (PATTERNS.md "profiles list/show & stdout-xml"; fleetdm/fleet
/// orbit/pkg/profiles/profiles_darwin_test.go `withFleetdConfig`, `emptyOutput`): an XML plist
/// dict whose `_computerlevel` is an array of profile dicts with `ProfileIdentifier`,
/// `ProfileDisplayName`, `ProfileInstallDate` and `ProfileItems` (dicts with `PayloadType`); no
/// profile at all prints `<dict/>`. `ProfileInstallDate` is a `<string>` `2023-02-27 18:55:07
/// +0000` in Fleet's fixture and in every other published sample; a plist `<date>` is accepted
/// too (pattern only, unverified: one synthetic 2026 fixture). Fleet's fixture has a newline
/// before `<?xml`: text before the plist is skipped (TOOLCHAIN.md).
///
/// Strict about the whole, lenient about each profile: exit 0, a plist whose root is a
/// dictionary and whose `_computerlevel` (when present) is an array are required, else the output
/// is `Unrecognised`. A profile without a string `ProfileIdentifier`, without a `ProfileItems`
/// array, with an item without a string `PayloadType`, or with an install date in another form
/// is listed in `unreadable` with what is wrong and whether it may carry the escrow payload: the
/// escrow decision rests on the escrow payload's own profile, and an unrelated odd profile (an
/// MDM's vendor payload, a profile from a newer macOS) must not blind it (issue 14, item 6).
///
/// The escrow payload's certificate (`escrow_certificate`) is never a reason to refuse a
/// profile: whatever is missing or unreadable there is `EscrowCertificateSeen::Unknown`, since
/// no published sample shows how `profiles` prints a certificate payload (see
/// `escrow_certificate`).
pub fn parse_computer_profiles(out: &Output) -> Result<ComputerProfiles, ParseError> {
    let value = xml_plist_answer(out)?;
    let root = value
        .as_dictionary()
        .ok_or_else(|| ParseError::malformed(out, "the output is not a dictionary"))?;
    let Some(level) = root.get("_computerlevel") else {
        return Ok(ComputerProfiles::default());
    };
    let level = level
        .as_array()
        .ok_or_else(|| ParseError::malformed(out, "_computerlevel is not an array"))?;
    let mut all = ComputerProfiles::default();
    for (n, p) in level.iter().enumerate() {
        match profile(p) {
            Ok(installed) => all.installed.push(installed),
            Err(problem) => all.unreadable.push(UnreadableProfile {
                name: profile_name(p).unwrap_or_else(|| format!("profile {n}")),
                // It names the profile as read: one printable, bounded line.
                problem: crate::text::printable(&problem, 200),
                carries_escrow: carries_escrow(p),
            }),
        }
    }
    Ok(all)
}

/// A profile's identifier, for naming it in a warning: printable and cut, never trusted further.
fn profile_name(value: &plist::Value) -> Option<String> {
    let id = value
        .as_dictionary()?
        .get("ProfileIdentifier")?
        .as_string()?;
    (!id.trim().is_empty()).then(|| crate::text::printable(id, 80))
}

/// Whether an unreadable profile's items include the escrow payload, as far as can be told.
fn carries_escrow(value: &plist::Value) -> Option<bool> {
    let items = value.as_dictionary()?.get("ProfileItems")?.as_array()?;
    let mut all_typed = true;
    for item in items {
        match item
            .as_dictionary()
            .and_then(|d| d.get("PayloadType"))
            .and_then(plist::Value::as_string)
        {
            Some(t) if t == ESCROW_PAYLOAD_TYPE => return Some(true),
            Some(_) => {}
            None => all_typed = false,
        }
    }
    all_typed.then_some(false)
}

pub(crate) async fn bootstrap_token(r: &impl Runner) -> Result<BootstrapToken, ProbeError> {
    query(r, &bootstrap_token_call(), parse_bootstrap_token).await
}
pub(crate) async fn computer_profiles(r: &impl Runner) -> Result<ComputerProfiles, ProbeError> {
    query(r, &computer_profiles_call(), parse_computer_profiles).await
}

fn profile(value: &plist::Value) -> Result<InstalledProfile, String> {
    let dict = value.as_dictionary().ok_or("not a dictionary")?;
    let identifier = dict
        .get("ProfileIdentifier")
        .and_then(plist::Value::as_string)
        .ok_or("no string ProfileIdentifier")?
        .to_owned();
    // A name or a date in another shape is set aside, not the profile: the escrow judgement
    // compares certificates without them (issue 14 review: a newer macOS printing the date
    // otherwise must not blind every Mac's escrow check).
    let mut notes = Vec::new();
    let display_name = match dict.get("ProfileDisplayName") {
        None => None,
        Some(v) => v.as_string().map(str::to_owned).or_else(|| {
            notes.push("ProfileDisplayName is not a string".to_owned());
            None
        }),
    };
    let install_date = match dict.get("ProfileInstallDate") {
        None => None,
        Some(v) => install_date(v)
            .map_err(|e| notes.push(crate::text::printable(&e, 160)))
            .ok(),
    };
    let items = dict
        .get("ProfileItems")
        .and_then(plist::Value::as_array)
        .ok_or(format!("{identifier}: no ProfileItems array"))?;
    let payload_types = items
        .iter()
        .map(|item| {
            item.as_dictionary()
                .and_then(|d| d.get("PayloadType"))
                .and_then(plist::Value::as_string)
                .map(str::to_owned)
                .ok_or(format!("{identifier}: an item has no string PayloadType"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let escrow_certificate = payload_types
        .iter()
        .any(|t| t == ESCROW_PAYLOAD_TYPE)
        .then(|| match escrow_certificate(items) {
            // It quotes what the output showed (a UUID, a type): one printable line.
            EscrowCertificateSeen::Unknown(why) => {
                EscrowCertificateSeen::Unknown(crate::text::printable(&why, 200))
            }
            shown => shown,
        });
    Ok(InstalledProfile {
        identifier,
        display_name,
        install_date,
        notes,
        payload_types,
        escrow_certificate,
    })
}

/// The certificate the (first) escrow item of `items` encrypts to.
///
/// Shape, as far as public sources show it (docs/tool-behavior.md, `profiles -C -o stdout-xml`):
/// the payload's `EncryptCertPayloadUUID` names "a payload within the same profile" of type
/// `com.apple.security.pkcs1` whose `PayloadContent` is the DER certificate as `<data>`
/// (`apple/device-management` FDERecoveryKeyEscrow and pkcs1 schemas; fleetdm/fleet's FileVault
/// profile; zentral `setup_filevault.py`). In `profiles` output a payload's own keys appear under
/// the item's `PayloadContent` dictionary (fleetdm/fleet `profiles_darwin_test.go`;
/// macadmins/osquery-extension `macos_profiles_test.go`), so `EncryptCertPayloadUUID` is looked
/// for there first and, defensively, on the item itself as in the profile. For a certificate item
/// `PayloadContent` is taken as the `<data>` of the profile; a Mac may print it otherwise or not
/// at all (Fleet's fixture shows a SCEP item's `PayloadContent` as an empty `<dict/>`): anything
/// but DER data is `Unknown` with what was seen. UUIDs compare without regard to case.
fn escrow_certificate(items: &[plist::Value]) -> EscrowCertificateSeen {
    use EscrowCertificateSeen::Unknown;
    let payload_type = |d: &plist::Dictionary| {
        d.get("PayloadType")
            .and_then(plist::Value::as_string)
            .map(str::to_owned)
    };
    let dicts: Vec<&plist::Dictionary> = items
        .iter()
        .filter_map(plist::Value::as_dictionary)
        .collect();
    let Some(escrow) = dicts
        .iter()
        .find(|d| payload_type(d).as_deref() == Some(ESCROW_PAYLOAD_TYPE))
    else {
        return Unknown("no escrow item".into());
    };
    let uuid = escrow
        .get("PayloadContent")
        .and_then(plist::Value::as_dictionary)
        .and_then(|c| c.get("EncryptCertPayloadUUID"))
        .or_else(|| escrow.get("EncryptCertPayloadUUID"))
        .and_then(plist::Value::as_string);
    let Some(uuid) = uuid else {
        return Unknown("the escrow payload shows no EncryptCertPayloadUUID".into());
    };
    let Some(item) = dicts.iter().find(|d| {
        d.get("PayloadUUID")
            .and_then(plist::Value::as_string)
            .is_some_and(|u| u.trim().eq_ignore_ascii_case(uuid.trim()))
    }) else {
        return Unknown(format!(
            "no item has the PayloadUUID {uuid} that EncryptCertPayloadUUID names"
        ));
    };
    match payload_type(item) {
        Some(t) if t == CERTIFICATE_PAYLOAD_TYPE => {}
        other => {
            return Unknown(format!(
            "the item EncryptCertPayloadUUID names is of type {}, not {CERTIFICATE_PAYLOAD_TYPE}",
            other.as_deref().unwrap_or("(none)")
        ))
        }
    }
    match item.get("PayloadContent") {
        Some(plist::Value::Data(der)) => match parse_certificate(der) {
            Ok(cert) => EscrowCertificateSeen::Shown(cert),
            Err(why) => Unknown(format!("the certificate item's PayloadContent is {why}")),
        },
        None => Unknown("the certificate item shows no PayloadContent".into()),
        Some(other) => Unknown(format!(
            "the certificate item's PayloadContent is {}, not data",
            plist_kind(other)
        )),
    }
}

fn plist_kind(value: &plist::Value) -> &'static str {
    match value {
        plist::Value::Array(_) => "an array",
        plist::Value::Dictionary(d) if d.is_empty() => "an empty dictionary",
        plist::Value::Dictionary(_) => "a dictionary",
        plist::Value::Boolean(_) => "a boolean",
        plist::Value::Data(_) => "data",
        plist::Value::Date(_) => "a date",
        plist::Value::Real(_) => "a real",
        plist::Value::Integer(_) => "an integer",
        plist::Value::String(_) => "a string",
        plist::Value::Uid(_) => "a UID",
        _ => "a value of another kind",
    }
}

/// `2023-02-27 18:55:07 +0000` (a string), or a plist `<date>`.
fn install_date(value: &plist::Value) -> Result<jiff::Timestamp, String> {
    if let Some(s) = value.as_string() {
        return jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S %z", s)
            .and_then(|t| t.to_timestamp())
            .map_err(|_| format!("ProfileInstallDate `{s}` is not YYYY-MM-DD HH:MM:SS +ZZZZ"));
    }
    if let Some(d) = value.as_date() {
        let t: std::time::SystemTime = d.into();
        return jiff::Timestamp::try_from(t).map_err(|e| format!("ProfileInstallDate: {e}"));
    }
    Err("ProfileInstallDate is neither a string nor a date".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::check;
    use crate::tools::fake::FakeRunner;

    const SUPPORTED_YES: &str = "profiles: Bootstrap Token supported on server: YES\n";
    const SUPPORTED_NO: &str = "profiles: Bootstrap Token supported on server: NO\n";
    const ESCROWED_YES: &str = "profiles: Bootstrap Token escrowed to server: YES\n";
    const ESCROWED_NO: &str = "profiles: Bootstrap Token escrowed to server: NO\n";

    fn bt(stdout: &str) -> Result<BootstrapToken, ParseError> {
        parse_bootstrap_token(&Output::new(0, stdout, ""))
    }

    #[test]
    fn the_calls_are_status_bootstraptoken_and_computer_xml() {
        assert_eq!(
            bootstrap_token_call().argv(),
            ["/usr/bin/profiles", "status", "-type", "bootstraptoken"]
        );
        assert_eq!(
            computer_profiles_call().argv(),
            ["/usr/bin/profiles", "-C", "-o", "stdout-xml"]
        );
    }

    #[test]
    fn unsupported_prints_one_line_and_says_nothing_of_escrow() {
        assert_eq!(
            bt(SUPPORTED_NO),
            Ok(BootstrapToken {
                supported: false,
                escrowed: None
            })
        );
    }

    #[test]
    fn supported_and_escrowed_or_not() {
        assert_eq!(
            bt(&format!("{SUPPORTED_YES}{ESCROWED_YES}")),
            Ok(BootstrapToken {
                supported: true,
                escrowed: Some(true)
            })
        );
        assert_eq!(
            bt(&format!("{SUPPORTED_YES}{ESCROWED_NO}")),
            Ok(BootstrapToken {
                supported: true,
                escrowed: Some(false)
            })
        );
    }

    #[test]
    fn the_prefix_escrowed_on_and_lower_case_are_accepted_defensively() {
        let want = Ok(BootstrapToken {
            supported: true,
            escrowed: Some(true),
        });
        assert_eq!(
            bt("Bootstrap Token supported on server: YES\nBootstrap Token escrowed to server: YES\n"),
            want
        );
        assert_eq!(
            bt("profiles: Bootstrap Token supported on server: YES\nprofiles: Bootstrap Token escrowed on server: YES\n"),
            want
        );
        assert_eq!(
            bt("profiles: Bootstrap Token supported on server: yes\nprofiles: Bootstrap Token escrowed to server: yes\n"),
            want
        );
    }

    #[test]
    fn the_answer_may_come_on_stderr_or_split_across_streams() {
        let out = Output::new(0, "", format!("{SUPPORTED_YES}{ESCROWED_NO}"));
        assert_eq!(
            parse_bootstrap_token(&out),
            Ok(BootstrapToken {
                supported: true,
                escrowed: Some(false)
            })
        );
        let out = Output::new(0, SUPPORTED_YES, ESCROWED_YES);
        assert_eq!(
            parse_bootstrap_token(&out).map(|b| b.escrowed),
            Ok(Some(true))
        );
    }

    #[test]
    fn unsupported_with_an_escrow_line_keeps_what_was_printed() {
        assert_eq!(
            bt(&format!("{SUPPORTED_NO}{ESCROWED_YES}")),
            Ok(BootstrapToken {
                supported: false,
                escrowed: Some(true)
            })
        );
    }

    #[test]
    fn supported_without_an_escrow_line_is_unrecognised() {
        check::unrecognised(bt(SUPPORTED_YES));
    }

    #[test]
    fn missing_conflicting_or_unknown_lines_are_unrecognised() {
        check::all_unrecognised(
            [
                "",
                ESCROWED_YES,
                "profiles: Bootstrap Token supported on server: MAYBE\n",
                "profiles: something new\nprofiles: Bootstrap Token supported on server: NO\n",
                "profiles: Bootstrap Token supported on server: NO\nprofiles: Bootstrap Token supported on server: YES\n",
                "profiles: Bootstrap Token supported on server: YES\nprofiles: Bootstrap Token escrowed to server: YES\nprofiles: Bootstrap Token escrowed to server: NO\n",
            ],
            |s| bt(s),
        );
    }

    #[test]
    fn the_same_line_twice_is_fine_and_the_exit_code_is_not_read() {
        let out = Output::new(1, format!("{SUPPORTED_NO}{SUPPORTED_NO}"), "");
        assert_eq!(
            parse_bootstrap_token(&out),
            Ok(BootstrapToken {
                supported: false,
                escrowed: None
            })
        );
    }

    #[test]
    fn a_killed_profiles_is_unrecognised() {
        let out = check::killed(15, SUPPORTED_NO, "");
        check::unrecognised(parse_bootstrap_token(&out));
        check::unrecognised(parse_computer_profiles(&out));
    }

    fn profiles_xml(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n{body}\n</plist>\n"
        )
    }

    fn one_profile(date: &str, items: &str) -> String {
        profiles_xml(&format!(
            "<dict><key>_computerlevel</key><array><dict>\
             <key>ProfileDisplayName</key><string>FileVault escrow</string>\
             <key>ProfileIdentifier</key><string>com.example.escrow</string>\
             {date}\
             <key>ProfileItems</key><array>{items}</array>\
             </dict></array></dict>"
        ))
    }

    const ESCROW_ITEMS: &str = "<dict><key>PayloadType</key><string>com.apple.security.FDERecoveryKeyEscrow</string></dict>\
                                <dict><key>PayloadType</key><string>com.apple.security.pkcs1</string></dict>";

    /// The readable profiles of an output in which every profile reads (the tests of one
    /// profile's shape); an unreadable one fails the test.
    fn computer(stdout: String) -> Result<Vec<InstalledProfile>, ParseError> {
        parse_computer_profiles(&Output::new(0, stdout, "")).map(|all| {
            assert_eq!(all.unreadable, [], "every profile should read");
            all.installed
        })
    }

    fn unreadable(stdout: String) -> Vec<UnreadableProfile> {
        parse_computer_profiles(&Output::new(0, stdout, ""))
            .unwrap()
            .unreadable
    }

    /// The escrow profile installed on `date` (a plist value).
    fn installed_on(date: &str) -> String {
        one_profile(
            &format!("<key>ProfileInstallDate</key>{date}"),
            ESCROW_ITEMS,
        )
    }

    #[test]
    fn a_profile_with_its_payloads_and_string_install_date() {
        let xml = installed_on("<string>2023-02-27 18:55:07 +0000</string>");
        let got = computer(xml).unwrap();
        assert_eq!(
            got,
            [InstalledProfile {
                identifier: "com.example.escrow".into(),
                display_name: Some("FileVault escrow".into()),
                install_date: Some("2023-02-27T18:55:07Z".parse().unwrap()),
                payload_types: vec![
                    ESCROW_PAYLOAD_TYPE.into(),
                    "com.apple.security.pkcs1".into()
                ],
                escrow_certificate: Some(EscrowCertificateSeen::Unknown(
                    "the escrow payload shows no EncryptCertPayloadUUID".into()
                )),
                notes: Vec::new(),
            }]
        );
        assert!(got[0].has_payload(ESCROW_PAYLOAD_TYPE));
        assert!(!got[0].has_payload("com.apple.mdm"));
    }

    /// The install date read from the escrow profile installed on `date`.
    fn read_install_date(date: &str) -> Option<jiff::Timestamp> {
        computer(installed_on(date)).unwrap()[0].install_date
    }

    /// Standard base64 with padding, for `<data>` in the plists below.
    fn base64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    const CERT_UUID: &str = "A326B71F-EB80-41A5-A8CD-A6F932544281";

    /// An escrow item naming `uuid`, its keys under `PayloadContent` as `profiles` prints a
    /// payload's own keys (Fleet's fixture), and the certificate item `cert_item`.
    fn escrow_items(uuid: &str, cert_item: &str) -> String {
        format!(
            "<dict><key>PayloadContent</key><dict>\
             <key>EncryptCertPayloadUUID</key><string>{uuid}</string>\
             <key>Location</key><string>Example MDM</string></dict>\
             <key>PayloadType</key><string>{ESCROW_PAYLOAD_TYPE}</string>\
             <key>PayloadUUID</key><string>3C329F2B-3D47-4141-A2B5-5C52A2FD74F8</string></dict>\
             {cert_item}"
        )
    }

    fn cert_item(uuid: &str, kind: &str, content: &str) -> String {
        format!(
            "<dict>{content}<key>PayloadType</key><string>{kind}</string>\
             <key>PayloadUUID</key><string>{uuid}</string></dict>"
        )
    }

    fn data(bytes: &[u8]) -> String {
        format!("<key>PayloadContent</key><data>{}</data>", base64(bytes))
    }

    fn seen(items: &str) -> Option<EscrowCertificateSeen> {
        computer(one_profile("", items)).unwrap()[0]
            .escrow_certificate
            .clone()
    }

    fn unknown(items: &str) -> String {
        match seen(items) {
            Some(EscrowCertificateSeen::Unknown(why)) => why,
            other => panic!("not unknown: {other:?}"),
        }
    }

    #[test]
    fn the_escrow_payload_certificate_is_the_pkcs1_item_its_uuid_names() {
        use crate::tools::escrow_blob::tests::{CERT_A, CERT_B};
        let want = crate::tools::escrow_blob::parse_certificate(CERT_A).unwrap();
        let items = format!(
            "{}{}",
            escrow_items(
                CERT_UUID,
                &cert_item(CERT_UUID, CERTIFICATE_PAYLOAD_TYPE, &data(CERT_A))
            ),
            // Another certificate in the same profile is not the one named.
            cert_item(
                "0D0E0F00-0000-4000-8000-000000000001",
                CERTIFICATE_PAYLOAD_TYPE,
                &data(CERT_B)
            ),
        );
        assert_eq!(
            seen(&items),
            Some(EscrowCertificateSeen::Shown(want.clone()))
        );
        // The UUID in another case, and the key on the item itself as in the profile.
        let lower = escrow_items(
            &CERT_UUID.to_lowercase(),
            &cert_item(CERT_UUID, CERTIFICATE_PAYLOAD_TYPE, &data(CERT_A)),
        );
        assert_eq!(
            seen(&lower),
            Some(EscrowCertificateSeen::Shown(want.clone()))
        );
        let flat = format!(
            "<dict><key>EncryptCertPayloadUUID</key><string>{CERT_UUID}</string>\
             <key>PayloadType</key><string>{ESCROW_PAYLOAD_TYPE}</string></dict>{}",
            cert_item(CERT_UUID, CERTIFICATE_PAYLOAD_TYPE, &data(CERT_A))
        );
        assert_eq!(seen(&flat), Some(EscrowCertificateSeen::Shown(want)));
    }

    #[test]
    fn a_certificate_the_output_does_not_show_is_unknown_with_the_reason() {
        use crate::tools::escrow_blob::tests::CERT_A;
        let named = |content: &str| {
            escrow_items(
                CERT_UUID,
                &cert_item(CERT_UUID, CERTIFICATE_PAYLOAD_TYPE, content),
            )
        };
        for (items, says) in [
            (named(""), "shows no PayloadContent"),
            (
                named("<key>PayloadContent</key><dict/>"),
                "an empty dictionary, not data",
            ),
            (
                named("<key>PayloadContent</key><string>MIIB</string>"),
                "a string, not data",
            ),
            (
                named(&data(b"-----BEGIN CERTIFICATE-----")),
                "not a DER X.509 certificate",
            ),
            (named(&data(&CERT_A[..100])), "not a DER X.509 certificate"),
            (
                escrow_items(
                    CERT_UUID,
                    &cert_item(CERT_UUID, "com.apple.security.root", &data(CERT_A)),
                ),
                "of type com.apple.security.root, not com.apple.security.pkcs1",
            ),
            (
                escrow_items(
                    "11111111-2222-3333-4444-555555555555",
                    &cert_item(CERT_UUID, CERTIFICATE_PAYLOAD_TYPE, &data(CERT_A)),
                ),
                "no item has the PayloadUUID 11111111-2222-3333-4444-555555555555",
            ),
            (ESCROW_ITEMS.to_owned(), "shows no EncryptCertPayloadUUID"),
        ] {
            let why = unknown(&items);
            assert!(why.contains(says), "{why:?} does not say {says:?}");
            assert!(!why.contains('\n'));
        }
    }

    #[test]
    fn only_a_profile_with_the_escrow_payload_has_an_escrow_certificate() {
        use crate::tools::escrow_blob::tests::CERT_A;
        let items = cert_item(CERT_UUID, CERTIFICATE_PAYLOAD_TYPE, &data(CERT_A));
        assert_eq!(seen(&items), None);
    }

    #[test]
    fn the_profile_list_may_be_larger_than_other_tools_output() {
        assert_eq!(
            computer_profiles_call().output_cap,
            Some(COMPUTER_PROFILES_OUTPUT_CAP)
        );
        const { assert!(COMPUTER_PROFILES_OUTPUT_CAP > crate::runner::DEFAULT_OUTPUT_CAP) };
        assert_eq!(bootstrap_token_call().output_cap, None);
    }

    #[test]
    fn a_non_utc_offset_is_converted_to_the_same_instant() {
        assert_eq!(
            read_install_date("<string>2023-02-27 19:55:07 +0100</string>"),
            Some("2023-02-27T18:55:07Z".parse().unwrap())
        );
    }

    #[test]
    fn a_plist_date_is_accepted_too() {
        assert_eq!(
            read_install_date("<date>2026-01-15T10:00:00Z</date>"),
            Some("2026-01-15T10:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn a_profile_without_a_date_or_name_keeps_none() {
        let xml = profiles_xml(
            "<dict><key>_computerlevel</key><array><dict>\
             <key>ProfileIdentifier</key><string>a</string><key>ProfileItems</key><array/>\
             </dict></array></dict>",
        );
        assert_eq!(
            computer(xml).unwrap(),
            [InstalledProfile {
                identifier: "a".into(),
                display_name: None,
                install_date: None,
                payload_types: vec![],
                escrow_certificate: None,
                notes: Vec::new(),
            }]
        );
    }

    #[test]
    fn an_empty_dict_and_per_user_keys_mean_no_computer_profiles() {
        assert_eq!(computer(profiles_xml("<dict/>")).unwrap(), []);
        let per_user = profiles_xml(
            "<dict><key>ann</key><array><dict><key>ProfileIdentifier</key><string>u</string></dict></array></dict>",
        );
        assert_eq!(computer(per_user).unwrap(), []);
    }

    #[test]
    fn text_before_the_plist_is_skipped() {
        let xml = format!("\n{}", profiles_xml("<dict/>"));
        assert_eq!(computer(xml).unwrap(), []);
    }

    #[test]
    fn an_output_of_the_wrong_shape_is_unrecognised() {
        check::all_unrecognised(
            [
                profiles_xml("<dict><key>_computerlevel</key><dict/></dict>"),
                profiles_xml("<array/>"),
                "There are no configuration profiles installed\n".to_owned(),
                "<?xml version=\"1.0\"?><plist><dict><key>_computerlevel</key>".to_owned(),
            ],
            |xml| parse_computer_profiles(&Output::new(0, xml.clone(), "")),
        );
    }

    /// Issue 14, item 6: one odd profile is set aside, named, with whether it may carry the
    /// escrow payload; the others read as usual.
    #[test]
    fn a_malformed_profile_is_set_aside_with_its_name_and_what_is_wrong() {
        let escrow_ok = "<dict><key>ProfileIdentifier</key><string>com.example.escrow</string>\
                         <key>ProfileItems</key><array>\
                         <dict><key>PayloadType</key><string>com.apple.security.FDERecoveryKeyEscrow</string></dict>\
                         </array></dict>";
        let rows: [(&str, &str, &str, Option<bool>); 4] = [
            (
                "<dict><key>ProfileIdentifier</key><string>com.vendor.noitems</string></dict>",
                "com.vendor.noitems",
                "no ProfileItems array",
                None,
            ),
            (
                "<dict><key>ProfileItems</key><array/></dict>",
                "profile 1",
                "no string ProfileIdentifier",
                Some(false),
            ),
            (
                "<dict><key>ProfileIdentifier</key><string>b</string><key>ProfileItems</key><array><dict><key>PayloadIdentifier</key><string>x</string></dict></array></dict>",
                "b",
                "an item has no string PayloadType",
                None,
            ),
            ("<string>x</string>", "profile 1", "not a dictionary", None),
        ];
        for (odd, name, problem, carries) in rows {
            let xml = profiles_xml(&format!(
                "<dict><key>_computerlevel</key><array>{escrow_ok}{odd}</array></dict>"
            ));
            let all = parse_computer_profiles(&Output::new(0, xml, "")).unwrap();
            assert_eq!(
                all.installed.len(),
                1,
                "{name}: the escrow profile still reads"
            );
            assert_eq!(all.installed[0].identifier, "com.example.escrow");
            assert_eq!(all.unreadable.len(), 1, "{name}");
            let u = &all.unreadable[0];
            assert_eq!(u.name, name);
            assert!(u.problem.contains(problem), "{name}: {}", u.problem);
            assert_eq!(u.carries_escrow, carries, "{name}");
        }
    }

    /// Issue 14 review: a name or a date in another shape (a newer macOS) is left out with a
    /// note; the profile, and the escrow check resting on it, still read.
    #[test]
    fn a_profile_whose_date_or_name_has_another_shape_reads_in_part() {
        for (odd, note) in [
            (
                "<key>ProfileInstallDate</key><string>2026-01-01</string>",
                "2026-01-01",
            ),
            (
                "<key>ProfileInstallDate</key><integer>1</integer>",
                "ProfileInstallDate is neither a string nor a date",
            ),
            (
                "<key>ProfileDisplayName</key><integer>1</integer>",
                "ProfileDisplayName is not a string",
            ),
        ] {
            let all = parse_computer_profiles(&Output::new(0, one_profile(odd, ESCROW_ITEMS), ""))
                .unwrap();
            assert_eq!(all.unreadable, [], "{note}");
            let p = &all.installed[0];
            assert!(p.has_payload(ESCROW_PAYLOAD_TYPE));
            assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
            assert!(p.notes[0].contains(note), "{:?}", p.notes);
        }
    }

    #[test]
    fn a_profile_name_with_control_characters_is_made_printable() {
        let odd = profiles_xml(
            "<dict><key>_computerlevel</key><array><dict><key>ProfileIdentifier</key><string>evil&#10;INFO forged</string></dict></array></dict>",
        );
        let u = unreadable(odd);
        assert!(!u[0].name.contains('\n'), "{:?}", u[0].name);
    }

    #[test]
    fn text_after_the_plist_is_ignored() {
        let xml = format!(
            "{}\nprofiles: note: something else printed after the plist\n",
            installed_on("<string>2023-02-27 18:55:07 +0000</string>")
        );
        assert_eq!(computer(xml).unwrap().len(), 1);
    }

    #[test]
    fn a_failed_exit_is_unrecognised_even_with_a_plist() {
        let out = Output::new(1, profiles_xml("<dict/>"), "");
        check::unrecognised(parse_computer_profiles(&out));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_queries_run_their_calls() {
        let mut fake = FakeRunner::new();
        fake.answer(&bootstrap_token_call(), Output::new(0, SUPPORTED_NO, ""))
            .answer(
                &computer_profiles_call(),
                Output::new(0, profiles_xml("<dict/>"), ""),
            );
        assert_eq!(
            bootstrap_token(&fake).await,
            Ok(BootstrapToken {
                supported: false,
                escrowed: None
            })
        );
        assert_eq!(
            computer_profiles(&fake).await,
            Ok(ComputerProfiles::default())
        );
    }

    mod properties {
        use super::*;
        use crate::tools::arbitrary;
        use proptest::prelude::*;

        /// One profile with any install date, whole or cut.
        fn profile_with_any_date() -> impl Strategy<Value = Vec<u8>> {
            ".{0,30}".prop_flat_map(|date| {
                arbitrary::cut(installed_on(&format!(
                    "<string>{}</string>",
                    date.replace(['<', '&'], "")
                )))
            })
        }

        proptest! {
            #[test]
            fn arbitrary_output_never_panics(out in arbitrary::output()) {
                let _ = parse_bootstrap_token(&out);
                let _ = parse_computer_profiles(&out);
            }

            #[test]
            fn a_cut_profile_list_never_panics(stdout in profile_with_any_date()) {
                let _ = parse_computer_profiles(&Output::new(0, stdout, Vec::new()));
            }
        }
    }
}
