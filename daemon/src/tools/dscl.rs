//! `/usr/bin/dscl -plist`: local user records and the admin group.
//!
//! Owns the two argv builders (`-readall /Users ...`, `-read /Groups/admin GroupMembership`), their
//! parsers, the text form of one `AuthenticationAuthority` read (the corpus samples of the values
//! the plist carries) and the helpers that read a record's tags. Who counts as a human, an admin
//! with a token or a volume owner is decided in `observe`/`status`.
//!
//! Plist shape: `dscl -plist . -readall /Users ATTR...` prints an XML plist ARRAY of dicts, one per
//! record, each value an ARRAY of strings (robbiepc30/LocalAccountManagement.MacOS
//! Get-LocalUser.ps1 reads `([xml](dscl -plist . readall /Users RecordName RealName UniqueID
//! NFSHomeDirectory)).plist.array.dict` with `$up.array[$i].string`; public Ruby specs hold
//! `dscl -plist . -read` fixtures with `<key>dsAttrTypeStandard:UniqueID</key><array><string>1000`).
//! Standard attributes are keyed `dsAttrTypeStandard:ATTR`; `IsHidden` is not a standard attribute
//! and comes back as `dsAttrTypeNative:IsHidden` (grahamgilbert/puppet-mac_admin
//! lib/puppet/provider/mac_hide_user/osx.rb matches `dsAttrTypeNative:IsHidden: 1` in the text
//! read). Not verified on a Mac here: the exact plist of `-readall` with these six attributes.

use crate::paths::Tool;
use crate::runner::{Call, Output, Runner};

use super::{
    query, read_xml_plist, text, xml_plist_answer, xml_plist_start, ParseError, ProbeError,
};

/// One local user record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    /// `UniqueID` (negative for `nobody`).
    pub uid: i64,
    /// `GeneratedUID`, upper-case; joins with the crypto users.
    pub generated_uid: Option<String>,
    pub real_name: Option<String>,
    /// `IsHidden` set.
    pub hidden: bool,
    /// The raw `AuthenticationAuthority` values.
    pub authentication_authority: Vec<String>,
}

/// The first uid macOS gives a person's account; below it are root, daemons and Setup
/// Assistant's `_mbsetupuser` (248) (PLATFORM.md).
pub const FIRST_HUMAN_UID: u32 = 501;

impl UserRecord {
    /// Human accounts: UID 501 or more and a name not starting with `_` (PLATFORM.md).
    pub fn is_human(&self) -> bool {
        self.uid >= i64::from(FIRST_HUMAN_UID) && !self.name.starts_with('_')
    }

    /// `;tokenidentity;` in AuthenticationAuthority: a smart card is paired (PLATFORM.md).
    pub fn smart_card(&self) -> bool {
        self.authentication_authority
            .iter()
            .any(|v| v.starts_with(";tokenidentity;"))
    }

    /// What `AuthenticationAuthority` says about a SecureToken: `;SecureToken;` as a value of its
    /// own marks a holder (PLATFORM.md; corpus `dscl-read-authenticationauthority`, both
    /// samples). `;DisabledTags;SecureToken` is the opposite (a grant blocked before it happened,
    /// corpus/PATTERNS.md) and is not the tag. `None`: the record has no `AuthenticationAuthority`
    /// at all, so it says nothing. The tag is evidence, not the token itself (gregneagle,
    /// pycreateuserpkg#51): `observe` asks `sysadminctl` wherever it and the volume's crypto
    /// users disagree (issue 16, item 10).
    pub fn secure_token_tag(&self) -> Option<bool> {
        if self.authentication_authority.is_empty() {
            return None;
        }
        Some(
            self.authentication_authority
                .iter()
                .any(|v| v.trim() == ";SecureToken;"),
        )
    }
}

/// Cap on `dscl -readall /Users`'s output. A record with the six attributes read is about 750
/// bytes in the simulator's plist (more with longer `AuthenticationAuthority` values), so the
/// runner's default 1 MiB ran out at about 1,400-1,900 accounts and the whole read failed: the
/// "about 1,900 accounts make the check fail" of issue 16, item 5. 64 MiB holds some 80,000
/// records; past that the read fails with the tool and the cap named.
pub(crate) const USER_RECORDS_OUTPUT_CAP: usize = 64 * 1024 * 1024;

/// Every record of a `-readall`: the well-formed users and the records that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecords {
    pub users: Vec<UserRecord>,
    /// Records left out, each with why. Never silently dropped: `decide` publishes them in
    /// `Daemon.Errors` (see the module's decision note on `parse_user_records`).
    pub skipped: Vec<SkippedRecord>,
}

/// A record left out of the user list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// The record's first `RecordName`, when it has one.
    pub name: Option<String>,
    pub reason: String,
}

pub(crate) fn read_all_users_call() -> Call {
    Call::tool(
        Tool::Dscl,
        &[
            "-plist",
            ".",
            "-readall",
            "/Users",
            "RecordName",
            "UniqueID",
            "GeneratedUID",
            "RealName",
            "IsHidden",
            "AuthenticationAuthority",
        ],
    )
    .with_output_cap(USER_RECORDS_OUTPUT_CAP)
}
pub(crate) fn admin_group_call() -> Call {
    Call::tool(
        Tool::Dscl,
        &["-plist", ".", "-read", "/Groups/admin", "GroupMembership"],
    )
}

/// Every record of `dscl -plist . -readall /Users ...`, well-formed or not.
///
/// Decision: a malformed record does not fail the whole read. One broken record (a half-created
/// account without `UniqueID`, a `UniqueID` that is not a number, an `IsHidden` value we do not
/// know) must not hide every other user from the SecureToken report; it is left out of `users`
/// and listed in `skipped` with its reason, so it is reported instead of guessed or dropped
/// silently. A record with no `RecordName` cannot even be named and is skipped the same way. The
/// whole read fails (`Unrecognised`) only when the output is not an array of dicts, or when no
/// record at all is usable (a Mac always has root, daemon and nobody).
///
/// Per record: `RecordName` (aliases allowed: the first value is the short name, as dscl prints
/// root's `root` before `BUILTIN\Local System` — public `dscl . read /Users/root` transcripts);
/// exactly one integer `UniqueID` (`-2` for nobody); at most one `GeneratedUID` (upper-cased:
/// UUIDs compare case-insensitively); `RealName` first value; `IsHidden` `1` or `0` only (Apple's
/// "Hide a user account" note HT203998 and every script write `IsHidden 1`; `0` to unhide, e.g.
/// ComboStrikeHQ/it-onboarding README) — `YES`/`true` have no evidence and are not guessed;
/// `AuthenticationAuthority` values verbatim. A value that is not an array of strings makes the
/// record malformed. `DS Error:` on stderr is `Reported`; a failed exit otherwise `Unrecognised`.
pub fn parse_user_records(out: &Output) -> Result<UserRecords, ParseError> {
    if let Some(line) = ds_error(out) {
        return Err(ParseError::reported(out, &line));
    }
    let value = xml_plist_answer(out)?;
    let records = value
        .as_array()
        .ok_or_else(|| ParseError::malformed(out, "the output is not an array of records"))?;
    let mut users = Vec::new();
    let mut skipped = Vec::new();
    for (n, record) in records.iter().enumerate() {
        let Some(dict) = record.as_dictionary() else {
            return Err(ParseError::malformed(
                out,
                &format!("record {n} is not a dictionary"),
            ));
        };
        match user_record(dict) {
            Ok(user) => users.push(user),
            Err(skip) => skipped.push(skip),
        }
    }
    if users.is_empty() {
        let why = match skipped.first() {
            Some(s) => format!(
                "no usable user record ({} skipped; first: {}: {})",
                skipped.len(),
                s.name.as_deref().unwrap_or("(no RecordName)"),
                s.reason
            ),
            None => "no user record at all".to_owned(),
        };
        return Err(ParseError::malformed(out, &why));
    }
    Ok(UserRecords { users, skipped })
}

/// Members of the admin group, as `dscl -plist . -read /Groups/admin GroupMembership` lists them.
///
/// A plist dict whose `dsAttrTypeStandard:GroupMembership` is an array of strings (Puppet fact
/// `mac_admin_users.rb` and Rosh `GroupTypes::OpenDirectory#members` parse exactly this command's
/// plist and index that key). An empty group prints no such key: the dict without it, or `No such
/// key: GroupMembership` on stderr (dscl's wording for a missing attribute, PATTERNS.md "dscl";
/// pattern only for `-plist`) — both are an empty list. `DS Error: ... (eDSRecordNotFound)`-style
/// lines are `Reported` (the `DS Error:` form is quoted in corpus/SOURCES.md, macoslaps entry).
pub fn parse_group_membership(out: &Output) -> Result<Vec<String>, ParseError> {
    if let Some(line) = ds_error(out) {
        return Err(ParseError::reported(out, &line));
    }
    if !out.exit.success() {
        return Err(ParseError::unrecognised(out));
    }
    let stderr = text(&out.stderr);
    let mut no_such_key = false;
    for line in stderr.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line == "No such key: GroupMembership" {
            no_such_key = true;
        } else {
            return Err(ParseError::unrecognised(out));
        }
    }
    let Some(xml) = xml_plist_start(&out.stdout) else {
        return if no_such_key && text(&out.stdout).trim().is_empty() {
            Ok(Vec::new())
        } else {
            Err(ParseError::unrecognised(out))
        };
    };
    let value = read_xml_plist(out, xml)?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| ParseError::malformed(out, "the group is not a dictionary"))?;
    match dict.get("dsAttrTypeStandard:GroupMembership") {
        None => Ok(Vec::new()),
        Some(_) if no_such_key => Err(ParseError::malformed(
            out,
            "GroupMembership both listed and reported missing",
        )),
        Some(v) => strings(v).ok_or_else(|| {
            ParseError::malformed(out, "GroupMembership is not an array of strings")
        }),
    }
}

/// The well-formed users and the records left out (published in `Daemon.Errors`: never dropped
/// silently).
pub(crate) async fn read_user_records(r: &impl Runner) -> Result<UserRecords, ProbeError> {
    query(r, &read_all_users_call(), parse_user_records).await
}
pub(crate) async fn admins(r: &impl Runner) -> Result<Vec<String>, ProbeError> {
    query(r, &admin_group_call(), parse_group_membership).await
}

const RECORD_NAME: &str = "dsAttrTypeStandard:RecordName";
const UNIQUE_ID: &str = "dsAttrTypeStandard:UniqueID";
const GENERATED_UID: &str = "dsAttrTypeStandard:GeneratedUID";
const REAL_NAME: &str = "dsAttrTypeStandard:RealName";
const AUTHENTICATION_AUTHORITY: &str = "dsAttrTypeStandard:AuthenticationAuthority";
/// Native, not standard (module doc); the standard spelling is accepted too, and the two must agree.
const IS_HIDDEN: [&str; 2] = ["dsAttrTypeNative:IsHidden", "dsAttrTypeStandard:IsHidden"];

fn user_record(dict: &plist::Dictionary) -> Result<UserRecord, SkippedRecord> {
    // The name first, so every later reason can carry it.
    let names =
        attribute(dict, RECORD_NAME).map_err(|reason| SkippedRecord { name: None, reason })?;
    let Some(name) = names.first().cloned() else {
        return Err(SkippedRecord {
            name: None,
            reason: "no RecordName".into(),
        });
    };
    // A skipped record's name and values are shown in the status and logs: one printable line,
    // cut short (a directory can hold anything; found by `make fuzz`, issue 6).
    let skip = |reason: String| SkippedRecord {
        name: Some(shown(&name)),
        reason,
    };
    let uid = match attribute(dict, UNIQUE_ID).map_err(skip)?.as_slice() {
        [one] => one
            .trim()
            .parse::<i64>()
            .map_err(|_| skip(format!("UniqueID `{}` is not a number", shown(one))))?,
        [] => return Err(skip("no UniqueID".into())),
        many => return Err(skip(format!("{} UniqueID values", many.len()))),
    };
    let generated_uid = match attribute(dict, GENERATED_UID).map_err(skip)?.as_slice() {
        [] => None,
        [one] => Some(one.trim().to_ascii_uppercase()),
        many => return Err(skip(format!("{} GeneratedUID values", many.len()))),
    };
    let real_name = attribute(dict, REAL_NAME).map_err(skip)?.into_iter().next();
    let mut hidden = None;
    for key in IS_HIDDEN {
        for v in attribute(dict, key).map_err(skip)? {
            let h = match v.trim() {
                "1" => true,
                "0" => false,
                other => {
                    return Err(skip(format!(
                        "IsHidden value `{}` is not 1 or 0",
                        shown(other)
                    )))
                }
            };
            if hidden.is_some_and(|prev| prev != h) {
                return Err(skip("IsHidden values disagree".into()));
            }
            hidden = Some(h);
        }
    }
    let authentication_authority = attribute(dict, AUTHENTICATION_AUTHORITY).map_err(skip)?;
    Ok(UserRecord {
        name,
        uid,
        generated_uid,
        real_name,
        hidden: hidden.unwrap_or(false),
        authentication_authority,
    })
}

/// How a value from a record is quoted in a reason.
fn shown(value: &str) -> String {
    crate::text::printable(value, SHOWN_VALUE_CHARS)
}

/// Longest a record's name or value is quoted in a skipped record's reason.
const SHOWN_VALUE_CHARS: usize = 64;

/// The values of one attribute: absent is empty; present must be an array of strings.
fn attribute(dict: &plist::Dictionary, key: &str) -> Result<Vec<String>, String> {
    match dict.get(key) {
        None => Ok(Vec::new()),
        Some(v) => strings(v).ok_or_else(|| {
            let short = key.split_once(':').map_or(key, |(_, a)| a);
            format!("{short} is not an array of strings")
        }),
    }
}

fn strings(value: &plist::Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_string().map(str::to_owned))
        .collect()
}

/// `<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)`: dscl's own failure line, on either stream.
fn ds_error(out: &Output) -> Option<String> {
    [&out.stderr, &out.stdout].into_iter().find_map(|stream| {
        text(stream)
            .lines()
            .map(str::trim)
            .find(|l| l.contains("DS Error:"))
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Exit;
    use crate::tools::check;
    use crate::tools::fake::FakeRunner;

    fn plist_array(records: &[&str]) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n<array>\n{}\n</array>\n</plist>\n",
            records.concat()
        )
    }

    /// One record: pairs of (key, values).
    fn rec(attrs: &[(&str, &[&str])]) -> String {
        let mut s = String::from("<dict>");
        for (k, vs) in attrs {
            s.push_str(&format!("<key>{k}</key><array>"));
            for v in *vs {
                s.push_str(&format!("<string>{v}</string>"));
            }
            s.push_str("</array>");
        }
        s.push_str("</dict>");
        s
    }

    fn root() -> String {
        rec(&[
            (RECORD_NAME, &["root", "BUILTIN\\Local System"]),
            (UNIQUE_ID, &["0"]),
            (GENERATED_UID, &["FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000"]),
            (REAL_NAME, &["System Administrator"]),
        ])
    }

    fn ann() -> String {
        rec(&[
            (RECORD_NAME, &["ann"]),
            (UNIQUE_ID, &["501"]),
            (GENERATED_UID, &["3c7db8ee-5ea4-4c18-a7e4-25c6c0f94667"]),
            (REAL_NAME, &["Ann Example"]),
            ("dsAttrTypeNative:IsHidden", &["0"]),
            (
                AUTHENTICATION_AUTHORITY,
                &[
                    ";ShadowHash;HASHLIST:&lt;SALTED-SHA512-PBKDF2&gt;",
                    ";SecureToken;",
                ],
            ),
        ])
    }

    fn users(stdout: String) -> Result<UserRecords, ParseError> {
        parse_user_records(&Output::new(0, stdout, ""))
    }

    fn user(name: &str, uid: i64, aa: &[&str]) -> UserRecord {
        UserRecord {
            name: name.into(),
            uid,
            generated_uid: None,
            real_name: None,
            hidden: false,
            authentication_authority: aa.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_calls_read_six_attributes_and_the_admin_group() {
        assert_eq!(
            read_all_users_call().argv().join(" "),
            "/usr/bin/dscl -plist . -readall /Users \
             RecordName UniqueID GeneratedUID RealName IsHidden AuthenticationAuthority"
        );
        assert_eq!(
            admin_group_call().argv().join(" "),
            "/usr/bin/dscl -plist . -read /Groups/admin GroupMembership"
        );
    }

    #[test]
    fn records_become_users_with_the_first_record_name() {
        let got = users(plist_array(&[&root(), &ann()])).unwrap();
        assert!(got.skipped.is_empty());
        assert_eq!(
            got.users,
            [
                UserRecord {
                    name: "root".into(),
                    uid: 0,
                    generated_uid: Some("FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000".into()),
                    real_name: Some("System Administrator".into()),
                    hidden: false,
                    authentication_authority: vec![],
                },
                UserRecord {
                    name: "ann".into(),
                    uid: 501,
                    generated_uid: Some("3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667".into()),
                    real_name: Some("Ann Example".into()),
                    hidden: false,
                    authentication_authority: vec![
                        ";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2>".into(),
                        ";SecureToken;".into()
                    ],
                },
            ]
        );
    }

    #[test]
    fn is_hidden_one_hides_in_either_spelling() {
        for key in IS_HIDDEN {
            let r = rec(&[
                (RECORD_NAME, &["admin2"]),
                (UNIQUE_ID, &["502"]),
                (key, &["1"]),
            ]);
            assert!(users(plist_array(&[&r])).unwrap().users[0].hidden, "{key}");
        }
    }

    /// A record's name and values are quoted on one line and cut short (issue 6, fuzz F5).
    #[test]
    fn fuzz_found_a_skipped_record_quoting_its_values_whole() {
        let long_name = "n".repeat(5000);
        let long_uid = format!("five\n{}", "9x".repeat(3000));
        let r = rec(&[(RECORD_NAME, &[&long_name]), (UNIQUE_ID, &[&long_uid])]);
        let good = rec(&[(RECORD_NAME, &["admin"]), (UNIQUE_ID, &["501"])]);
        let skipped = users(plist_array(&[&r, &good])).unwrap().skipped;
        let s = &skipped[0];
        let name = s.name.as_deref().unwrap();
        assert!(name.starts_with("nnn") && name.chars().count() <= SHOWN_VALUE_CHARS + 1);
        assert!(s.reason.starts_with("UniqueID `five⏎9x9x"), "{}", s.reason);
        assert!(s.reason.chars().count() < 100, "{}", s.reason);
        assert!(!s.reason.contains('\n'));
    }

    #[test]
    fn a_malformed_record_is_skipped_with_its_reason_not_the_whole_list() {
        /// Record `x` with UniqueID 5 and `attrs`.
        fn x_with(attrs: &[(&str, &[&str])]) -> String {
            rec(&[&[(RECORD_NAME, &["x"][..]), (UNIQUE_ID, &["5"])], attrs].concat())
        }
        let cases: &[(String, Option<&str>, &str)] = &[
            (
                rec(&[(RECORD_NAME, &["half"])]),
                Some("half"),
                "no UniqueID",
            ),
            (
                rec(&[(RECORD_NAME, &["x"]), (UNIQUE_ID, &["five"])]),
                Some("x"),
                "UniqueID `five` is not a number",
            ),
            (
                rec(&[(RECORD_NAME, &["x"]), (UNIQUE_ID, &["5", "6"])]),
                Some("x"),
                "2 UniqueID values",
            ),
            (
                x_with(&[(GENERATED_UID, &["A", "B"])]),
                Some("x"),
                "2 GeneratedUID values",
            ),
            (
                x_with(&[("dsAttrTypeNative:IsHidden", &["YES"])]),
                Some("x"),
                "IsHidden value `YES` is not 1 or 0",
            ),
            (
                x_with(&[
                    ("dsAttrTypeNative:IsHidden", &["1"]),
                    ("dsAttrTypeStandard:IsHidden", &["0"]),
                ]),
                Some("x"),
                "IsHidden values disagree",
            ),
            (rec(&[(UNIQUE_ID, &["5"])]), None, "no RecordName"),
            (
                "<dict><key>dsAttrTypeStandard:RecordName</key><string>x</string></dict>".into(),
                None,
                "RecordName is not an array of strings",
            ),
            (
                "<dict><key>dsAttrTypeStandard:RecordName</key><array><string>x</string></array>\
                 <key>dsAttrTypeStandard:UniqueID</key><array><integer>5</integer></array></dict>"
                    .into(),
                Some("x"),
                "UniqueID is not an array of strings",
            ),
        ];
        for (bad, name, reason) in cases {
            let want = SkippedRecord {
                name: name.map(str::to_owned),
                reason: (*reason).to_owned(),
            };
            let got = users(plist_array(&[&root(), bad, &ann()])).unwrap();
            assert_eq!(got.users.len(), 2, "{bad}");
            assert_eq!(got.skipped, [want], "{bad}");
        }
    }

    #[test]
    fn nobody_has_a_negative_uid() {
        let r = rec(&[(RECORD_NAME, &["nobody"]), (UNIQUE_ID, &["-2"])]);
        assert_eq!(users(plist_array(&[&r])).unwrap().users[0].uid, -2);
    }

    #[test]
    fn no_usable_record_at_all_is_unrecognised() {
        check::unrecognised(users(plist_array(&[])));
        match users(plist_array(&[&rec(&[(RECORD_NAME, &["half"])])])) {
            Err(ParseError::Unrecognised { excerpt, .. }) => {
                assert!(excerpt.contains("half: no UniqueID"), "{excerpt}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn output_that_is_not_an_array_of_dicts_is_unrecognised() {
        check::all_unrecognised(
            [
                Output::new(0, "", ""),
                Output::new(
                    0,
                    "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>",
                    "",
                ),
                Output::new(0, plist_array(&["<string>x</string>"]), ""),
                Output::new(
                    0,
                    "<?xml version=\"1.0\"?><plist version=\"1.0\"><array><dict>",
                    "",
                ),
                Output::new(1, plist_array(&[&root()]), ""),
            ],
            parse_user_records,
        );
    }

    #[test]
    fn a_ds_error_is_reported() {
        let out = Output::new(56, "", "<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)\n");
        let want = ParseError::Reported {
            exit: Exit::Code(56),
            message: "<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)".into(),
        };
        assert_eq!(parse_user_records(&out), Err(want.clone()));
        assert_eq!(parse_group_membership(&out), Err(want));
    }

    #[test]
    fn helpers_read_the_tags_exactly() {
        let u = user(
            "ann",
            501,
            &[
                ";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2>",
                ";SecureToken;",
                ";tokenidentity;96AD",
            ],
        );
        assert!(u.smart_card() && u.is_human());
        let u = user("bob", 502, &[";DisabledTags;SecureToken", "DisabledUser"]);
        assert!(!u.smart_card());
        assert!(!user("_mbsetupuser", 248, &[]).is_human());
        assert!(!user("_hidden", 600, &[]).is_human());
        assert!(!user("daemon", 1, &[]).is_human());
        assert!(!user("nobody", -2, &[]).is_human());
    }

    #[test]
    fn issue_16_only_the_securetoken_value_itself_marks_a_token_holder_in_authenticationauthority()
    {
        let shadow = ";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2>";
        assert_eq!(
            user("ann", 501, &[shadow, ";SecureToken;"]).secure_token_tag(),
            Some(true)
        );
        // Big Sur's blocked grant (corpus/PATTERNS.md) and a FileVault-only unlock user's tag.
        let blocked = user(
            "bob",
            502,
            &[shadow, ";DisabledTags;SecureToken", "DisabledUser"],
        );
        assert_eq!(blocked.secure_token_tag(), Some(false));
        assert_eq!(user("cy", 503, &[shadow]).secure_token_tag(), Some(false));
        // No attribute at all: it says nothing either way.
        assert_eq!(user("dee", 504, &[]).secure_token_tag(), None);
    }

    #[test]
    fn issue_16_the_user_records_are_read_whole_on_a_mac_with_thousands_of_accounts() {
        // 5,000 records of ~750 bytes and room for ten times more.
        assert!(read_all_users_call().output_cap >= Some(40 * 1024 * 1024));
    }

    fn group(body: &str) -> String {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n{body}\n</plist>\n")
    }

    /// The group's plist listing `members`.
    fn group_of(members: &[&str]) -> String {
        let strings: String = members
            .iter()
            .map(|m| format!("<string>{m}</string>"))
            .collect();
        group(&format!(
            "<dict><key>dsAttrTypeStandard:GroupMembership</key><array>{strings}</array></dict>"
        ))
    }

    #[test]
    fn the_admin_group_lists_its_members() {
        let out = Output::new(0, group_of(&["root", "ann"]), "");
        assert_eq!(parse_group_membership(&out).unwrap(), ["root", "ann"]);
    }

    #[test]
    fn an_empty_group_is_an_empty_list_in_either_form() {
        for out in [
            Output::new(0, group("<dict/>"), ""),
            Output::new(0, "", "No such key: GroupMembership\n"),
            Output::new(0, group("<dict/>"), "No such key: GroupMembership\n"),
        ] {
            assert_eq!(parse_group_membership(&out), Ok(vec![]), "{out:?}");
        }
    }

    #[test]
    fn a_group_read_that_is_not_clean_is_unrecognised() {
        let members = group_of(&["root"]);
        let no_such_key = "No such key: GroupMembership\n";
        check::all_unrecognised(
            [
                Output::new(0, "", ""),
                Output::new(0, "", "something\n"),
                Output::new(0, "junk", no_such_key),
                Output::new(0, members.clone(), no_such_key),
                Output::new(1, members, ""),
                Output::new(
                    0,
                    group(
                        "<dict><key>dsAttrTypeStandard:GroupMembership</key><string>root</string></dict>",
                    ),
                    "",
                ),
                Output::new(0, group("<array/>"), ""),
                Output::new(0, "<?xml version=\"1.0\"?><plist><dict>", ""),
            ],
            parse_group_membership,
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_queries_return_users_and_admins() {
        let mut fake = FakeRunner::new();
        let half = rec(&[(RECORD_NAME, &["half"])]);
        fake.answer(
            &read_all_users_call(),
            Output::new(0, plist_array(&[&root(), &half, &ann()]), ""),
        )
        .answer(&admin_group_call(), Output::new(0, group_of(&["root"]), ""));
        let records = read_user_records(&fake).await.unwrap();
        assert_eq!(records.users.len(), 2);
        assert_eq!(records.skipped.len(), 1);
        assert_eq!(admins(&fake).await.unwrap(), ["root"]);
    }

    mod properties {
        use super::*;
        use crate::tools::arbitrary;
        use proptest::prelude::*;

        /// root and a record of any name, UniqueID and IsHidden, whole or cut.
        fn records_with_any_values() -> impl Strategy<Value = Vec<u8>> {
            ("[a-z_]{0,8}", ".{0,12}", ".{0,6}").prop_flat_map(|(name, uid, hidden)| {
                let clean = |s: &str| s.replace(['<', '&'], "");
                let r = rec(&[
                    (RECORD_NAME, &[&clean(&name)]),
                    (UNIQUE_ID, &[&clean(&uid)]),
                    ("dsAttrTypeNative:IsHidden", &[&clean(&hidden)]),
                ]);
                arbitrary::cut(plist_array(&[&root(), &r]))
            })
        }

        proptest! {
            #[test]
            fn arbitrary_output_never_panics(out in arbitrary::output()) {
                let _ = parse_user_records(&out);
                let _ = parse_group_membership(&out);
            }

            #[test]
            fn arbitrary_attribute_values_never_panic(stdout in records_with_any_values()) {
                let _ = parse_user_records(&Output::new(0, stdout, Vec::new()));
            }
        }
    }
}
