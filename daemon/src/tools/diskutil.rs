//! `/usr/sbin/diskutil apfs listCryptoUsers / -plist`: who can unlock the boot volume.
//!
//! Owns the argv, the parser of both output forms (the `-plist` form Keywarden asks for, and the
//! text form of `listCryptoUsers`/`listUsers` that every published real sample has) and the
//! query. Joining crypto users with local users (GeneratedUID) and counting human volume owners
//! happens in `observe`/`status`, not here.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{query, read_xml_plist, text, xml_plist_start, ParseError, ProbeError};

/// The PRK's crypto user has this fixed UUID (PLATFORM.md; corpus osquery-5236 sample).
pub const PRK_UUID: &str = "EBC6C064-0000-11AA-AA11-00306543ECAC";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoUserKind {
    /// A local account (`LocalOpenDirectory`, text `Local Open Directory User`).
    LocalOpenDirectory,
    /// The personal recovery key (`PersonalRecovery`, text `Personal Recovery User`).
    PersonalRecovery,
    /// An institutional recovery key.
    InstitutionalRecovery,
    /// `iCloud Recovery User`.
    ICloudRecovery,
    /// `iCloud Recovery External Key`.
    ICloudRecoveryExternalKey,
    /// The bootstrap token (`MDMRecovery`, text `MDM Bootstrap Token External Key`).
    MdmRecovery,
    /// A type Keywarden does not know, kept verbatim.
    Other(String),
}

impl CryptoUserKind {
    /// `APFSCryptoUserType` of the `-plist` form.
    ///
    /// `LocalOpenDirectory`, `PersonalRecovery`, `MDMRecovery`: corpus
    /// diskutil-apfs-listcryptousers/fleet-fixture-plist-volumeowner-mdmrecovery.txt; also
    /// munki/munki `code/apps/Managed Software Center/Managed Software Center/osinstaller.swift`
    /// (`LocalOpenDirectory`). `InstitutionalRecovery`, `iCloudRecovery`,
    /// `iCloudRecoveryExternalKey`: pattern only, unverified (the project brief and PLATFORM.md
    /// name them; no published plist shows them). Anything else is kept verbatim as `Other`.
    pub(crate) fn from_plist_type(t: &str) -> CryptoUserKind {
        match t {
            "LocalOpenDirectory" => CryptoUserKind::LocalOpenDirectory,
            "PersonalRecovery" => CryptoUserKind::PersonalRecovery,
            "InstitutionalRecovery" => CryptoUserKind::InstitutionalRecovery,
            "iCloudRecovery" => CryptoUserKind::ICloudRecovery,
            "iCloudRecoveryExternalKey" => CryptoUserKind::ICloudRecoveryExternalKey,
            "MDMRecovery" => CryptoUserKind::MdmRecovery,
            other => CryptoUserKind::Other(other.to_owned()),
        }
    }

    /// `Type:` of the text form.
    ///
    /// `Local Open Directory User`, `Personal Recovery User`, `iCloud Recovery User`, `iCloud
    /// Recovery External Key`, `MDM Bootstrap Token External Key`: corpus
    /// diskutil-apfs-listusers (all three files) and diskutil-apfs-listcryptousers/
    /// apfs2hashcat-fork-icloud-with-notes.txt. `Local Open Directory` (without `User`): the
    /// 10.13 beta 4 sample openradar-33610430-10.13b4-old-format-PARTIAL.txt. The text name of an
    /// institutional key is not known from any sample: it stays `Other`.
    pub(crate) fn from_text_type(t: &str) -> CryptoUserKind {
        match t {
            "Local Open Directory User" | "Local Open Directory" => {
                CryptoUserKind::LocalOpenDirectory
            }
            "Personal Recovery User" => CryptoUserKind::PersonalRecovery,
            "iCloud Recovery User" => CryptoUserKind::ICloudRecovery,
            "iCloud Recovery External Key" => CryptoUserKind::ICloudRecoveryExternalKey,
            "MDM Bootstrap Token External Key" => CryptoUserKind::MdmRecovery,
            other => CryptoUserKind::Other(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoUser {
    /// Upper-case UUID as printed (may be partly redacted in corpus samples).
    pub uuid: String,
    pub kind: CryptoUserKind,
    /// `VolumeOwner` (plist output of recent macOS); `None` when the output does not say.
    pub volume_owner: Option<bool>,
}

/// The volume's `LocalOpenDirectory` crypto users by upper-case UUID: the local account whose
/// GeneratedUID is an entry's `APFSCryptoUserUUID` is that crypto user. A token holder is a crypto
/// user of the volume, and vice versa, so one list answers for every account (issue 16, item
/// 10); indexed, so thousands of accounts cost one lookup each, not a scan of the list each.
pub struct LocalCryptoUsers<'a>(std::collections::HashMap<String, &'a CryptoUser>);

impl<'a> LocalCryptoUsers<'a> {
    pub fn new(crypto: &'a [CryptoUser]) -> LocalCryptoUsers<'a> {
        let mut by_uuid = std::collections::HashMap::new();
        for c in crypto
            .iter()
            .filter(|c| c.kind == CryptoUserKind::LocalOpenDirectory)
        {
            by_uuid.entry(c.uuid.to_ascii_uppercase()).or_insert(c);
        }
        LocalCryptoUsers(by_uuid)
    }

    /// The crypto user of the account with this GeneratedUID (UUIDs compare case-insensitively).
    pub fn get(&self, guid: Option<&str>) -> Option<&'a CryptoUser> {
        self.0.get(&guid?.to_ascii_uppercase()).copied()
    }
}

pub(crate) fn list_crypto_users_call() -> Call {
    Call::tool(Tool::Diskutil, &["apfs", "listCryptoUsers", "/", "-plist"])
}

/// Accepts the `-plist` form and the text form of `listCryptoUsers`/`listUsers`.
///
/// Exit 0 is required (no failure wording of diskutil is known from a sample: a failure is
/// `Unrecognised` with its excerpt). stdout holding an XML plist is read as the plist form,
/// anything else as the text form.
pub fn parse_list_crypto_users(out: &Output) -> Result<Vec<CryptoUser>, ParseError> {
    if !out.exit.success() {
        return Err(ParseError::unrecognised(out));
    }
    match xml_plist_start(&out.stdout) {
        Some(xml) => parse_plist_form(out, xml),
        None => parse_text_form(out),
    }
}

pub(crate) async fn list_crypto_users(r: &impl Runner) -> Result<Vec<CryptoUser>, ProbeError> {
    query(r, &list_crypto_users_call(), parse_list_crypto_users).await
}

/// `<dict><key>Users</key><array><dict>APFSCryptoUserType, APFSCryptoUserUUID, VolumeOwner`.
///
/// Shape: corpus diskutil-apfs-listcryptousers/fleet-fixture-plist-volumeowner-mdmrecovery.txt
/// (fleetdm/fleet orbit/pkg/table/diskutil/apfs/apfs_darwin_test.go); munki's osinstaller.swift
/// reads the same keys (`Users`, `APFSCryptoUserType`, `APFSCryptoUserUUID`, `VolumeOwner` as a
/// boolean). `VolumeOwner` is absent on older macOS (`None`).
///
/// Decision on the Fleet fixture, which ends after the outer `</dict>` without `</plist>`: it is
/// accepted. Real diskutil prints `</plist>`; its absence alone carries no data, and the plist
/// reader still requires every `<dict>` and `<array>` to be closed, so an output cut anywhere
/// inside the users (even right after a complete user) is an error, never a shorter list (tests
/// `a_plist_missing_only_its_closing_tag_is_read` and `a_plist_cut_inside_the_users_is_an_error`).
fn parse_plist_form(out: &Output, xml: &[u8]) -> Result<Vec<CryptoUser>, ParseError> {
    let value = read_xml_plist(out, xml)?;
    let users = value
        .as_dictionary()
        .and_then(|d| d.get("Users"))
        .and_then(plist::Value::as_array)
        .ok_or_else(|| ParseError::malformed(out, "no Users array"))?;
    users
        .iter()
        .enumerate()
        .map(|(n, u)| {
            let d = u.as_dictionary().ok_or_else(|| {
                ParseError::malformed(out, &format!("user {n} is not a dictionary"))
            })?;
            let string = |key: &str| {
                d.get(key).and_then(plist::Value::as_string).ok_or_else(|| {
                    ParseError::malformed(out, &format!("user {n} has no string {key}"))
                })
            };
            let uuid = string("APFSCryptoUserUUID")?.to_ascii_uppercase();
            let kind = CryptoUserKind::from_plist_type(string("APFSCryptoUserType")?);
            let volume_owner = match d.get("VolumeOwner") {
                None => None,
                Some(v) => Some(v.as_boolean().ok_or_else(|| {
                    ParseError::malformed(out, &format!("user {n}: VolumeOwner is not a boolean"))
                })?),
            };
            Ok(CryptoUser {
                uuid,
                kind,
                volume_owner,
            })
        })
        .collect()
}

/// The text form, e.g. (corpus diskutil-apfs-listusers/nokiam9-intel-icloud-recovery.txt):
///
/// ```text
/// Cryptographic users for disk1s1 (3 found)
/// |
/// +-- FBD4D606-E5F2-4FC5-B6C0-70E11D1A3FB1
/// |   Type: Local Open Directory User
/// ...
/// +-- 64C0C6EB-0000-11AA-AA11-00306543ECAC
///     Type: iCloud Recovery External Key
/// ```
///
/// Header forms: `Cryptographic users for DEV (N found)`; singular `Cryptographic user for DEV
/// (1 found)` and `No cryptographic users for DEV` (PATTERNS.md: NixOS create-darwin-volume.sh
/// comment; freegeek-pdx and TravellingTechGuy scripts; tmhoule/TokenRabbit quotes `No
/// cryptographic users for disk1s1`); `Cryptographic users (N found)` without `for DEV` (10.13
/// beta 4, openradar sample). Entry lines: `+-- UUID`, then `Type: ...` after `|   ` or four
/// spaces; `Note: ...` lines (apfs2hashcat sample) are skipped; `Volume Owner: Yes|No` is read
/// (pattern only, unverified: a 2026 re-indented summary in PATTERNS.md). Separators `|`, blank
/// lines and the trailing single-space line (TTG sample) are skipped.
///
/// Strict: each entry needs exactly one `Type`, the header's count must equal the entries, and
/// any other line is `Unrecognised`. So the PARTIAL openradar sample (its second entry is cut
/// before `Type:`) is an error, never one user.
fn parse_text_form(out: &Output) -> Result<Vec<CryptoUser>, ParseError> {
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| ParseError::unrecognised(out))?
        .trim_end();
    if header.starts_with("No cryptographic users for ") {
        return match lines.next() {
            None => Ok(Vec::new()),
            Some(_) => Err(ParseError::unrecognised(out)),
        };
    }
    let expected = header_count(header).ok_or_else(|| ParseError::unrecognised(out))?;
    let malformed = |what: String| ParseError::malformed(out, &what);

    struct Entry {
        uuid: String,
        kind: Option<CryptoUserKind>,
        volume_owner: Option<bool>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    for line in lines {
        let line = line.trim_end();
        if line == "|" {
            continue;
        }
        if let Some(uuid) = line.strip_prefix("+-- ") {
            let uuid = uuid.trim();
            if uuid.is_empty() || uuid.contains(char::is_whitespace) {
                return Err(malformed(format!("bad entry line `{line}`")));
            }
            entries.push(Entry {
                uuid: uuid.to_ascii_uppercase(),
                kind: None,
                volume_owner: None,
            });
            continue;
        }
        let Some(field) = line
            .strip_prefix("|   ")
            .or_else(|| line.strip_prefix("    "))
        else {
            return Err(malformed(format!("unrecognised line `{line}`")));
        };
        let Some(entry) = entries.last_mut() else {
            return Err(malformed(format!("`{line}` before any entry")));
        };
        if let Some(t) = field.strip_prefix("Type: ") {
            if entry.kind.is_some() {
                return Err(malformed(format!("{}: two Type lines", entry.uuid)));
            }
            entry.kind = Some(CryptoUserKind::from_text_type(t.trim()));
        } else if field.starts_with("Note: ") {
            // Explanatory text (apfs2hashcat sample); carries nothing Keywarden uses.
        } else if let Some(v) = field.strip_prefix("Volume Owner: ") {
            entry.volume_owner = Some(match v.trim() {
                "Yes" => true,
                "No" => false,
                other => {
                    return Err(malformed(format!("Volume Owner `{other}`")));
                }
            });
        } else {
            return Err(malformed(format!("unrecognised line `{line}`")));
        }
    }
    if entries.len() != expected {
        return Err(malformed(format!(
            "header says {expected}, {} entries found",
            entries.len()
        )));
    }
    entries
        .into_iter()
        .map(|e| match e.kind {
            Some(kind) => Ok(CryptoUser {
                uuid: e.uuid,
                kind,
                volume_owner: e.volume_owner,
            }),
            None => Err(malformed(format!("{} has no Type line", e.uuid))),
        })
        .collect()
}

/// `Cryptographic users for disk1s5 (4 found)`, `Cryptographic user for X (1 found)`,
/// `Cryptographic users (2 found)` → the count.
fn header_count(header: &str) -> Option<usize> {
    let rest = header
        .strip_prefix("Cryptographic users")
        .or_else(|| header.strip_prefix("Cryptographic user"))?;
    let rest = rest.strip_suffix(" found)")?;
    let (before, count) = rest.rsplit_once('(')?;
    // `` (early beta) or ` for DEV `.
    let device_ok = before == " "
        || before
            .strip_prefix(" for ")
            .and_then(|d| d.strip_suffix(' '))
            .is_some_and(|d| !d.is_empty() && !d.contains(char::is_whitespace));
    if !device_ok || count.is_empty() || !count.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: usize = count.parse().ok()?;
    // The singular form goes with exactly one user (PATTERNS.md: `(1 found)`); the plural with a
    // count of 1 is not seen but harmless: the count is checked against the entries anyway.
    if !header.starts_with("Cryptographic users") && n != 1 {
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::check;
    use crate::tools::fake::FakeRunner;

    fn parse(stdout: &str) -> Result<Vec<CryptoUser>, ParseError> {
        parse_list_crypto_users(&Output::new(0, stdout, ""))
    }

    fn user(uuid: &str, kind: CryptoUserKind, volume_owner: Option<bool>) -> CryptoUser {
        CryptoUser {
            uuid: uuid.into(),
            kind,
            volume_owner,
        }
    }

    const TEXT_TWO: &str = "Cryptographic users for disk1s1 (2 found)\n\
                            |\n\
                            +-- 76057753-404D-4114-A988-EFCF80779BD3\n\
                            |   Type: Local Open Directory User\n\
                            |\n\
                            +-- EBC6C064-0000-11AA-AA11-00306543ECAC\n    Type: Personal Recovery User\n \n";

    fn plist(users: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n<dict>\n\t<key>Users</key>\n\t<array>\n{users}\t</array>\n</dict>\n</plist>\n"
        )
    }

    fn plist_user(t: &str, uuid: &str, owner: Option<bool>) -> String {
        let owner = match owner {
            Some(true) => "<key>VolumeOwner</key><true/>",
            Some(false) => "<key>VolumeOwner</key><false/>",
            None => "",
        };
        format!("<dict><key>APFSCryptoUserType</key><string>{t}</string><key>APFSCryptoUserUUID</key><string>{uuid}</string>{owner}</dict>\n")
    }

    #[test]
    fn the_call_lists_the_crypto_users_of_root_as_a_plist() {
        assert_eq!(
            list_crypto_users_call().argv(),
            [
                "/usr/sbin/diskutil",
                "apfs",
                "listCryptoUsers",
                "/",
                "-plist"
            ]
        );
    }

    #[test]
    fn the_text_form_lists_each_user_with_its_type() {
        assert_eq!(
            parse(TEXT_TWO).unwrap(),
            [
                user(
                    "76057753-404D-4114-A988-EFCF80779BD3",
                    CryptoUserKind::LocalOpenDirectory,
                    None
                ),
                user(PRK_UUID, CryptoUserKind::PersonalRecovery, None),
            ]
        );
    }

    #[test]
    fn text_type_names_map_and_unknown_ones_are_kept_verbatim() {
        for (t, k) in [
            (
                "Local Open Directory User",
                CryptoUserKind::LocalOpenDirectory,
            ),
            ("Local Open Directory", CryptoUserKind::LocalOpenDirectory),
            ("Personal Recovery User", CryptoUserKind::PersonalRecovery),
            ("iCloud Recovery User", CryptoUserKind::ICloudRecovery),
            (
                "iCloud Recovery External Key",
                CryptoUserKind::ICloudRecoveryExternalKey,
            ),
            (
                "MDM Bootstrap Token External Key",
                CryptoUserKind::MdmRecovery,
            ),
            (
                "Personal Recovery",
                CryptoUserKind::Other("Personal Recovery".into()),
            ),
        ] {
            assert_eq!(CryptoUserKind::from_text_type(t), k);
        }
        for (t, k) in [
            ("LocalOpenDirectory", CryptoUserKind::LocalOpenDirectory),
            ("PersonalRecovery", CryptoUserKind::PersonalRecovery),
            (
                "InstitutionalRecovery",
                CryptoUserKind::InstitutionalRecovery,
            ),
            ("iCloudRecovery", CryptoUserKind::ICloudRecovery),
            (
                "iCloudRecoveryExternalKey",
                CryptoUserKind::ICloudRecoveryExternalKey,
            ),
            ("MDMRecovery", CryptoUserKind::MdmRecovery),
            ("SomethingNew", CryptoUserKind::Other("SomethingNew".into())),
        ] {
            assert_eq!(CryptoUserKind::from_plist_type(t), k);
        }
    }

    #[test]
    fn no_cryptographic_users_is_an_empty_list() {
        assert_eq!(parse("No cryptographic users for disk1s1\n").unwrap(), []);
        check::unrecognised(parse("No cryptographic users for disk1s1\n+-- X\n"));
    }

    #[test]
    fn the_singular_header_goes_with_one_user() {
        let one = "Cryptographic user for disk1s1 (1 found)\n|\n+-- 76057753-404D-4114-A988-EFCF80779BD3\n    Type: Local Open Directory User\n";
        assert_eq!(parse(one).unwrap().len(), 1);
        check::unrecognised(parse(&one.replace("(1 found)", "(2 found)")));
        assert_eq!(
            parse(&one.replace("user for", "users for")).unwrap().len(),
            1
        );
    }

    #[test]
    fn the_early_beta_header_without_a_device_is_read() {
        let s = TEXT_TWO.replace(
            "Cryptographic users for disk1s1 (2 found)",
            "Cryptographic users (2 found)",
        );
        assert_eq!(parse(&s).unwrap().len(), 2);
    }

    #[test]
    fn notes_and_volume_owner_lines_are_handled() {
        let s = "Cryptographic users for disk3s5 (1 found)\n|\n+-- 76057753-404D-4114-A988-EFCF80779BD3\n    Type: Local Open Directory User\n    Note: something\n    Volume Owner: Yes\n";
        assert_eq!(
            parse(s).unwrap(),
            [user(
                "76057753-404D-4114-A988-EFCF80779BD3",
                CryptoUserKind::LocalOpenDirectory,
                Some(true)
            )]
        );
        check::unrecognised(parse(&s.replace("Owner: Yes", "Owner: Maybe")));
        assert_eq!(
            parse(&s.replace("Owner: Yes", "Owner: No")).unwrap()[0].volume_owner,
            Some(false)
        );
    }

    #[test]
    fn a_count_that_disagrees_with_the_entries_is_unrecognised() {
        check::unrecognised(parse(&TEXT_TWO.replace("(2 found)", "(3 found)")));
        check::unrecognised(parse(&TEXT_TWO.replace("(2 found)", "(1 found)")));
    }

    #[test]
    fn an_entry_cut_before_its_type_is_unrecognised_not_dropped() {
        let cut = "Cryptographic users (2 found)\n|\n+-- 8B2A80E9-4223-4123-9178-32B43A69A46E\n|   Type: Local Open Directory\n|\n+-- EBC6C064-0000-11AA-AA11-00306543ECAC\n";
        check::unrecognised(parse(cut));
    }

    #[test]
    fn malformed_text_is_unrecognised() {
        check::all_unrecognised(
            [
                "",
                "Cryptographic users for disk1s1 (x found)\n",
                "Cryptographic users for disk1s1 (2 found\n",
                "Cryptographic users for  (2 found)\n",
                "Cryptographic users for disk 1 (2 found)\n",
                "Cryptographic usersfor disk1 (2 found)\n",
                "Something else\n",
                "Cryptographic users for disk1s1 (1 found)\n|   Type: Local Open Directory User\n",
                "Cryptographic users for disk1s1 (1 found)\n+-- A\n    Type: X\n    Type: Y\n",
                "Cryptographic users for disk1s1 (1 found)\n+-- A\n    Colour: blue\n",
                "Cryptographic users for disk1s1 (1 found)\n+-- A\ngarbage\n",
                "Cryptographic users for disk1s1 (1 found)\n+-- A B\n    Type: X\n",
                "Cryptographic users for disk1s1 (1 found)\n+-- \n    Type: X\n",
            ],
            |s| parse(s),
        );
    }

    #[test]
    fn the_plist_form_reads_types_uuids_and_volume_owners() {
        let s = plist(
            &[
                plist_user(
                    "LocalOpenDirectory",
                    "3c7db8ee-5ea4-4c18-a7e4-25c6c0f94667",
                    Some(true),
                ),
                plist_user("PersonalRecovery", PRK_UUID, Some(true)),
                plist_user(
                    "MDMRecovery",
                    "2457711A-523C-4604-B75A-F48A571D5036",
                    Some(false),
                ),
                plist_user(
                    "InstitutionalRecovery",
                    "11111111-2222-3333-4444-555555555555",
                    None,
                ),
            ]
            .concat(),
        );
        assert_eq!(
            parse(&s).unwrap(),
            [
                user(
                    "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
                    CryptoUserKind::LocalOpenDirectory,
                    Some(true)
                ),
                user(PRK_UUID, CryptoUserKind::PersonalRecovery, Some(true)),
                user(
                    "2457711A-523C-4604-B75A-F48A571D5036",
                    CryptoUserKind::MdmRecovery,
                    Some(false)
                ),
                user(
                    "11111111-2222-3333-4444-555555555555",
                    CryptoUserKind::InstitutionalRecovery,
                    None
                ),
            ]
        );
        assert_eq!(parse(&plist("")).unwrap(), []);
    }

    #[test]
    fn a_plist_missing_only_its_closing_tag_is_read() {
        let s = plist(&plist_user("PersonalRecovery", PRK_UUID, Some(true)));
        let without = s.replace("</plist>\n", "");
        assert_eq!(parse(&without).unwrap(), parse(&s).unwrap());
    }

    #[test]
    fn a_plist_cut_inside_the_users_is_an_error() {
        let s = plist(
            &[
                plist_user("LocalOpenDirectory", "A", Some(true)),
                plist_user("PersonalRecovery", PRK_UUID, Some(true)),
            ]
            .concat(),
        );
        // Cut right after the first complete user, after the array, and mid-way.
        let first_end = s.find("</dict>\n").unwrap() + "</dict>\n".len();
        let array_end = s.find("</array>\n").unwrap() + "</array>\n".len();
        check::all_unrecognised([first_end, array_end, s.len() / 2], |cut| parse(&s[..*cut]));
    }

    #[test]
    fn a_malformed_plist_is_unrecognised() {
        check::all_unrecognised(
            [
                plist("<string>x</string>\n"),
                plist("<dict><key>APFSCryptoUserType</key><string>PersonalRecovery</string></dict>\n"),
                plist("<dict><key>APFSCryptoUserUUID</key><string>A</string></dict>\n"),
                plist("<dict><key>APFSCryptoUserUUID</key><string>A</string><key>APFSCryptoUserType</key><integer>1</integer></dict>\n"),
                plist("<dict><key>APFSCryptoUserUUID</key><string>A</string><key>APFSCryptoUserType</key><string>X</string><key>VolumeOwner</key><string>YES</string></dict>\n"),
                "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>".to_owned(),
                "<?xml version=\"1.0\"?><plist version=\"1.0\"><array/></plist>".to_owned(),
            ],
            |s| parse(s),
        );
    }

    #[test]
    fn a_failed_exit_is_unrecognised_even_with_good_output() {
        check::unrecognised(parse_list_crypto_users(&Output::new(1, TEXT_TWO, "")));
        check::unrecognised(parse_list_crypto_users(&check::killed(9, TEXT_TWO, "")));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_query_runs_the_call() {
        let mut fake = FakeRunner::new();
        fake.answer(&list_crypto_users_call(), Output::new(0, TEXT_TWO, ""));
        assert_eq!(list_crypto_users(&fake).await.unwrap().len(), 2);
    }

    mod properties {
        use super::*;
        use crate::tools::arbitrary;
        use proptest::prelude::*;

        /// Lines of the text form: separators, entries, fields and anything else.
        fn text_lines() -> impl Strategy<Value = String> {
            arbitrary::lines(
                &["|", " "],
                &[
                    "\\+-- [A-F0-9-]{0,12}",
                    "(\\|   |    )Type: .{0,20}",
                    "(\\|   |    )Note: .{0,20}",
                    "(\\|   |    )Volume Owner: .{0,4}",
                    ".{0,20}",
                ],
                10,
            )
        }

        proptest! {
            #[test]
            fn arbitrary_output_never_panics(out in arbitrary::output()) {
                let _ = parse_list_crypto_users(&out);
            }

            #[test]
            fn near_text_forms_never_panic(
                header in "(Cryptographic users? (for .{0,8} )?\\(.{0,3} found\\)|No cryptographic users for .{0,6}|.{0,10})",
                lines in text_lines(),
            ) {
                let s = format!("{header}\n{lines}");
                let _ = parse_list_crypto_users(&Output::new(0, s, ""));
            }
        }
    }
}
