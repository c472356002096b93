//! `/usr/bin/fdesetup`: FileVault state, deferral, recovery keys, use of the key this boot, and
//! the two secret commands (`validaterecovery`, `changerecovery`).
//!
//! Public answers are parsed from `Output` into typed values; anything unrecognised is an error
//! with an excerpt, and an `Error: ...` line printed with a non-zero exit is reported in the
//! tool's own words. The two secret commands are parsed from `SecretOutput` by matching bytes in
//! place (no copy of their text is ever made) and map to the fixed codes of `SecretToolError`:
//! `changerecovery` prints the *new* key. Every accepted wording is cited next to the code and in
//! `docs/tool-behavior.md`. What an answer means for the Mac (rotation, problems) is decided
//! elsewhere (`observe`, `decide`), not here.

use crate::paths::Tool;
use crate::runner::{Call, Exit, Output, Runner, SecretOutput};
use crate::secret::Secret;

use super::{query, text, ParseError, ProbeError};

/// What `fdesetup status` says.
#[derive(Debug, Clone, PartialEq)]
pub struct FdeStatus {
    /// `FileVault is On.` (true) or `FileVault is Off.` (false).
    pub on: bool,
    /// Encryption or decryption under way.
    pub conversion: Option<Conversion>,
    /// `FileVault master keychain appears to be installed.`
    pub master_keychain: bool,
    /// `Deferred enablement appears to be active[ for user 'NAME'].`
    pub deferred: Option<Deferred>,
    /// `..., but needs to be restarted to finish.` or `Off, but will be enabled after the next restart.`
    pub restart_required: bool,
}

#[cfg(test)]
impl FdeStatus {
    /// `FileVault is On.` and nothing else (for tests).
    pub(crate) fn on() -> FdeStatus {
        FdeStatus {
            on: true,
            conversion: None,
            master_keychain: false,
            deferred: None,
            restart_required: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// `Encryption in progress: Percent completed = N` (`None`: `Pending` or no number).
    Encrypting { percent: Option<f64> },
    /// `Decryption in progress: Percent completed = N`.
    Decrypting { percent: Option<f64> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// Older versions name the user; 13.2.1+ do not (corpus/PATTERNS.md).
    pub user: Option<String>,
}

/// What `fdesetup showdeferralinfo` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferralInfo {
    /// `Not found.`: no deferral configured.
    pub configured: bool,
    /// `OutputPath`: where the key will be (or was) written in plain text.
    pub output_path: Option<String>,
}

/// What `fdesetup usingrecoverykey` says about this boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsingRecoveryKey {
    Yes,
    No,
    /// `This command is not supported on APFS volumes.` (10.13/10.14 APFS).
    NotSupported,
}

/// What `validaterecovery` answered. Never carries output: the output is secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    Valid,
    Invalid,
}

/// A failure of a secret command, as a fixed code (its output is never quoted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretToolError {
    #[error("fdesetup could not authenticate with the key it was given")]
    AuthenticationFailed,
    #[error("fdesetup could not change the key")]
    UnableToChangeKey,
    /// `Error: Not a valid recovery key.`: fdesetup refused the key's form before trying it.
    #[error("fdesetup did not accept the key as a recovery key (wrong form)")]
    NotARecoveryKey,
    #[error("fdesetup exited with code {0} and output Keywarden does not recognise")]
    Unrecognised(i32),
    #[error("fdesetup was killed by signal {0}")]
    Killed(i32),
}

impl SecretToolError {
    /// The fixed code the audit trail records.
    pub(crate) fn code(self) -> &'static str {
        match self {
            SecretToolError::AuthenticationFailed => "AuthenticationFailed",
            SecretToolError::UnableToChangeKey => "UnableToChangeKey",
            SecretToolError::NotARecoveryKey => "NotARecoveryKey",
            SecretToolError::Unrecognised(_) => "Unrecognised",
            SecretToolError::Killed(_) => "Killed",
        }
    }
}

pub(crate) fn status_call() -> Call {
    Call::tool(Tool::Fdesetup, &["status"])
}
pub(crate) fn showdeferralinfo_call() -> Call {
    Call::tool(Tool::Fdesetup, &["showdeferralinfo"])
}
pub(crate) fn haspersonalrecoverykey_call() -> Call {
    Call::tool(Tool::Fdesetup, &["haspersonalrecoverykey"])
}
pub(crate) fn hasinstitutionalrecoverykey_call() -> Call {
    Call::tool(Tool::Fdesetup, &["hasinstitutionalrecoverykey"])
}
pub(crate) fn usingrecoverykey_call() -> Call {
    Call::tool(Tool::Fdesetup, &["usingrecoverykey"])
}
pub(crate) fn validaterecovery_call() -> Call {
    Call::tool(Tool::Fdesetup, &["validaterecovery", "-inputplist"])
}
pub(crate) fn changerecovery_call() -> Call {
    Call::tool(
        Tool::Fdesetup,
        &["changerecovery", "-personal", "-inputplist"],
    )
}

// ---------------------------------------------------------------------------------------------
// Shared rules of the public answers
// ---------------------------------------------------------------------------------------------

/// The non-empty lines of a stream, trimmed (invalid UTF-8 shows as U+FFFD and never matches).
fn lines(bytes: &[u8]) -> Vec<String> {
    text(bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The whole stream when it is exactly one non-empty line.
fn single_line(bytes: &[u8]) -> Option<String> {
    match lines(bytes).as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// An output that is not an answer: the tool's own `Error: ...` line when it exited non-zero,
/// else an excerpt. fdesetup words its failures `Error: <message>` (corpus
/// `fdesetup-enable/openradar-23354114-...`, `fdesetup-add/openradar-33262770-...`,
/// `fdesetup-changerecovery/*`); the message itself is quoted, not interpreted.
fn not_an_answer(out: &Output) -> ParseError {
    if !out.exit.success() {
        let reported = [&out.stderr, &out.stdout]
            .into_iter()
            .flat_map(|s| lines(s))
            .find(|l| l.starts_with("Error: "));
        if let Some(line) = reported {
            return ParseError::reported(out, &line);
        }
    }
    ParseError::unrecognised(out)
}

// ---------------------------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------------------------

/// Exit codes of `status` that describe a FileVault state rather than a failure: 0, and the man
/// page's "1 FileVault is Off." and "2 FileVault appears to be On but Busy." (corpus/PATTERNS.md,
/// "fdesetup exit codes"; boxen/puppet-boxen#60: 2 while converting). No published sample shows
/// the code `status` itself returns, so the text decides the state and these codes are only
/// *allowed*; any other code (11 authentication, 99 internal, ...) is a failure.
fn status_exit_allowed(exit: Exit) -> bool {
    matches!(exit, Exit::Code(0..=2))
}

/// One line after the first of `fdesetup status`.
enum StatusLine {
    Keychain,
    Conversion(Conversion),
    Deferred(Deferred),
}

/// `Percent completed = N`: a number from 0 to 100 with optional decimals (`50.0`: corpus
/// PATTERNS.md, mqlMacosFilevault comment; `37`: Korean guide; `##.##`: Jamf EA comment). A
/// trailing period is tolerated: the sources quote the line without one, PLATFORM.md says status
/// lines end with one. Pattern only, unverified: no verbatim progress line has been published.
fn percent(rest: &str) -> Option<f64> {
    let n = rest.strip_prefix("Percent completed = ")?;
    let n = n.strip_suffix('.').unwrap_or(n);
    let (int, frac) = match n.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (n, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    let frac_ok =
        frac.is_none_or(|f| !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()));
    if !digits(int) || !frac_ok {
        return None;
    }
    let value: f64 = n.parse().ok()?;
    (0.0..=100.0).contains(&value).then_some(value)
}

fn status_line(line: &str) -> Option<StatusLine> {
    // corpus fdesetup-status/* (all four samples): the second line of an institutional-key Mac.
    if line == "FileVault master keychain appears to be installed." {
        return Some(StatusLine::Keychain);
    }
    // PATTERNS.md "fdesetup status": Jamf EA comment lists `Encryption in progress: Pending`
    // ("when the system is not plugged in"); pattern only, unverified.
    if line == "Encryption in progress: Pending" {
        return Some(StatusLine::Conversion(Conversion::Encrypting {
            percent: None,
        }));
    }
    // PATTERNS.md "fdesetup status": rtrouton check_apfs_encryption EA, munkireport
    // filevault_status, mqlMacosFilevault comment. Pattern only, unverified.
    if let Some(rest) = line.strip_prefix("Encryption in progress: ") {
        let p = percent(rest)?;
        return Some(StatusLine::Conversion(Conversion::Encrypting {
            percent: Some(p),
        }));
    }
    // Same sources; `Decryption in progress: Percent completed = 37` (Korean guide). No
    // `Pending` is reported for decryption, so it is not accepted. Pattern only, unverified.
    if let Some(rest) = line.strip_prefix("Decryption in progress: ") {
        let p = percent(rest)?;
        return Some(StatusLine::Conversion(Conversion::Decrypting {
            percent: Some(p),
        }));
    }
    // PATTERNS.md "Deferred enablement wording change": 13.2.1+ (jamf/DEPNotify-Starter#58).
    // Pattern only, unverified.
    if line == "Deferred enablement appears to be active." {
        return Some(StatusLine::Deferred(Deferred { user: None }));
    }
    // PATTERNS.md "fdesetup status": `... active for user '<shortname>'.` (Jamf EA test value,
    // dan-snelson scripts, DEPNotify `cut -f6`). Pattern only, unverified.
    if let Some(rest) = line.strip_prefix("Deferred enablement appears to be active for user '") {
        let name = rest.strip_suffix("'.")?;
        if name.is_empty() || name.contains('\'') || name.chars().any(char::is_control) {
            return None;
        }
        return Some(StatusLine::Deferred(Deferred {
            user: Some(name.to_owned()),
        }));
    }
    None
}

/// `fdesetup status` on stdout. The first line must say whether FileVault is On or Off; every
/// further line must be one Keywarden knows, at most once each, in any order. An unknown line is
/// an error naming it: a new line may change what the others mean (e.g. a new kind of pending
/// state), so it is never skipped. stderr must be empty (Crypt and Escrow Buddy read stdout only;
/// nothing is known to be printed on stderr by a working `status`).
pub fn parse_status(out: &Output) -> Result<FdeStatus, ParseError> {
    if !status_exit_allowed(out.exit) || !is_blank(&out.stderr) {
        return Err(not_an_answer(out));
    }
    let all = lines(&out.stdout);
    let Some((first, rest)) = all.split_first() else {
        return Err(not_an_answer(out));
    };
    let (on, restart_required) = match first.as_str() {
        // corpus fdesetup-status/* (four samples, 10.12 to 11.0.1).
        "FileVault is On." => (true, false),
        // PATTERNS.md "fdesetup status" (Crypt, Escrow Buddy, jss-filevault-reissue match it);
        // corpus SOURCES.md mbcheck note: `fdesetup status` printed it before `isactive`.
        "FileVault is Off." => (false, false),
        // PATTERNS.md "Additions": munkireport filevault_status compares these exact strings.
        // Pattern only, unverified.
        "FileVault is On, but needs to be restarted to finish." => (true, true),
        "FileVault is Off, but needs to be restarted to finish." => (false, true),
        // PATTERNS.md "fdesetup status": MikeMcQuaid/strap regex. Pattern only, unverified.
        "FileVault is Off, but will be enabled after the next restart." => (false, true),
        _ => return Err(not_an_answer(out)),
    };
    let mut status = FdeStatus {
        on,
        conversion: None,
        master_keychain: false,
        deferred: None,
        restart_required,
    };
    for line in rest {
        match status_line(line) {
            Some(StatusLine::Keychain) if !status.master_keychain => status.master_keychain = true,
            Some(StatusLine::Conversion(c)) if status.conversion.is_none() => {
                status.conversion = Some(c)
            }
            Some(StatusLine::Deferred(d)) if status.deferred.is_none() => status.deferred = Some(d),
            // Unknown, malformed, or a second line of a kind already seen (two progress values
            // would contradict each other).
            _ => return Err(ParseError::malformed(out, line)),
        }
    }
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// showdeferralinfo
// ---------------------------------------------------------------------------------------------

/// How deeply `{`/`(` may nest in a deferral dump. The published one nests two deep; the bound
/// keeps a hostile or broken output from recursing the plist reader without limit.
const MAX_NESTING: usize = 8;

fn nesting_within_bound(s: &str) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for c in s.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return false;
                }
            }
            '}' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// `fdesetup showdeferralinfo` on stdout: `Not found.` when no deferral is configured
/// (PATTERNS.md "showdeferralinfo": TravellingTechGuy/reportFileVault compares the literal;
/// pattern only, unverified), else an old-style (NeXTSTEP) plist dump of the deferral settings
/// (corpus `fdesetup-showdeferralinfo/ttg-10.15.6-defer-active.txt`) from which only
/// `OutputPath` is kept. Its exit code is published nowhere: the TTG script ignores it, so
/// `Not found.` is accepted with any exit code; a dump only with 0.
pub fn parse_showdeferralinfo(out: &Output) -> Result<DeferralInfo, ParseError> {
    if !is_blank(&out.stderr) {
        return Err(not_an_answer(out));
    }
    let stdout = text(&out.stdout);
    let body = stdout.trim();
    if body == "Not found." && matches!(out.exit, Exit::Code(_)) {
        return Ok(DeferralInfo {
            configured: false,
            output_path: None,
        });
    }
    if !out.exit.success()
        || !body.starts_with('{')
        || !body.ends_with('}')
        || !nesting_within_bound(body)
    {
        return Err(not_an_answer(out));
    }
    let dict = match plist::Value::from_reader_ascii(body.as_bytes()) {
        Ok(plist::Value::Dictionary(d)) => d,
        _ => return Err(ParseError::unrecognised(out)),
    };
    let output_path = match dict.get("OutputPath") {
        None => None,
        Some(plist::Value::String(p)) if !p.is_empty() => Some(p.clone()),
        Some(_) => return Err(ParseError::unrecognised(out)),
    };
    Ok(DeferralInfo {
        configured: true,
        output_path,
    })
}

// ---------------------------------------------------------------------------------------------
// true/false answers and usingrecoverykey
// ---------------------------------------------------------------------------------------------

/// `true`/`false` answers: `haspersonalrecoverykey`, `hasinstitutionalrecoverykey`,
/// `isactive`, `supportsauthrestart`.
///
/// The whole of stdout is the one word (corpus `fdesetup-haspersonalrecoverykey/*`,
/// `-hasinstitutionalrecoverykey/*`, `-isactive/*`, `-supportsauthrestart/*`; rtrouton's IRK EA
/// compares with `true` for equality), stderr is empty. `true` must come with exit 0; `false`
/// with 0 or 1, because `isactive` exits non-zero when FileVault is not active (man page summary
/// and the Ansible module's `returncode 1`, PATTERNS.md "fdesetup exit codes"). Any other
/// combination is not an answer.
pub fn parse_true_false(out: &Output) -> Result<bool, ParseError> {
    if !is_blank(&out.stderr) {
        return Err(not_an_answer(out));
    }
    match (single_line(&out.stdout).as_deref(), out.exit) {
        (Some("true"), Exit::Code(0)) => Ok(true),
        (Some("false"), Exit::Code(0 | 1)) => Ok(false),
        _ => Err(not_an_answer(out)),
    }
}

/// grahamgilbert/crypt#86 (10.14.1) and #65 (10.13): `fdesetup usingrecoverykey` printed this on
/// APFS; Crypt's `check_output` raised on it, so it came with a non-zero exit. The stream is not
/// known (a terminal transcript): accepted on either, alone, with any exit code.
const USING_KEY_NOT_SUPPORTED: &str = "This command is not supported on APFS volumes.";

/// `fdesetup usingrecoverykey`: `true`/`false` under the rules of `parse_true_false` (corpus
/// `fdesetup-usingrecoverykey/openradar-28163245-10.11.6-false.txt`), or the APFS refusal above.
pub fn parse_usingrecoverykey(out: &Output) -> Result<UsingRecoveryKey, ParseError> {
    if let Exit::Code(_) = out.exit {
        let (o, e) = (text(&out.stdout), text(&out.stderr));
        let (o, e) = (o.trim(), e.trim());
        if (o == USING_KEY_NOT_SUPPORTED && e.is_empty())
            || (e == USING_KEY_NOT_SUPPORTED && o.is_empty())
        {
            return Ok(UsingRecoveryKey::NotSupported);
        }
    }
    parse_true_false(out).map(|used| {
        if used {
            UsingRecoveryKey::Yes
        } else {
            UsingRecoveryKey::No
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The secret commands: matched in place, mapped to fixed codes
// ---------------------------------------------------------------------------------------------

/// The exit code of a secret call whose output may be read; a signal or a cut-off output is a
/// fixed code already.
fn secret_exit(out: &SecretOutput) -> Result<i32, SecretToolError> {
    match out.exit {
        Exit::Signal(sig) => Err(SecretToolError::Killed(sig)),
        Exit::Code(code) if out.truncated => Err(SecretToolError::Unrecognised(code)),
        Exit::Code(code) => Ok(code),
    }
}

/// The meaningful lines of a secret stream, borrowed from the secret buffer (never copied): blank
/// lines and fdesetup's verbose `fdesetup: ...` lines are left out (corpus
/// `fdesetup-changerecovery/openradar-33284118-...` and `jss-filevault-reissue-58-...` carry them
/// before the answer).
fn secret_lines(s: &Secret) -> impl Iterator<Item = &[u8]> {
    s.expose_secret()
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty() && !l.starts_with(b"fdesetup: "))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`: six groups of four letters or digits (PLATFORM.md; `fdesetup`
/// man page).
fn is_key_shape(key: &[u8]) -> bool {
    key.len() == 29
        && key.iter().enumerate().all(|(i, b)| {
            if i % 5 == 4 {
                *b == b'-'
            } else {
                b.is_ascii_alphanumeric()
            }
        })
}

enum ValidateAnswer {
    True,
    False,
    NotAKey,
}

/// `validaterecovery -inputplist`: `true` or `false` (PATTERNS.md "fdesetup validaterecovery":
/// TravellingTechGuy expect script; grahamgilbert/crypt `pkg/checkin/escrow.go`
/// `validateRecoveryKey`). A wrong key exits non-zero *and* prints `false` (Crypt treats
/// `err != nil && stdout == "false"` as a clean "invalid"), so `false` is Invalid whatever the
/// exit code; `true` only with exit 0. `Error: Not a valid recovery key.` is the form refusal
/// from Crypt's `escrow_test.go` mock (pattern only, unverified), accepted with a non-zero exit.
/// Exactly one such line may appear (besides verbose lines), on either stream; anything else is
/// `Unrecognised` with the exit code only.
pub fn parse_validaterecovery(out: &SecretOutput) -> Result<Validation, SecretToolError> {
    let code = secret_exit(out)?;
    let mut answer = None;
    for line in secret_lines(&out.stdout).chain(secret_lines(&out.stderr)) {
        let this = match line {
            b"true" => ValidateAnswer::True,
            b"false" => ValidateAnswer::False,
            b"Error: Not a valid recovery key." => ValidateAnswer::NotAKey,
            _ => return Err(SecretToolError::Unrecognised(code)),
        };
        if answer.replace(this).is_some() {
            return Err(SecretToolError::Unrecognised(code));
        }
    }
    match (answer, code) {
        (Some(ValidateAnswer::True), 0) => Ok(Validation::Valid),
        (Some(ValidateAnswer::False), _) => Ok(Validation::Invalid),
        (Some(ValidateAnswer::NotAKey), c) if c != 0 => Err(SecretToolError::NotARecoveryKey),
        _ => Err(SecretToolError::Unrecognised(code)),
    }
}

/// An authentication failure of `changerecovery`:
/// - `Unable to unlock or authenticate to FileVault` anywhere in a line: cybertunnel/
///   Filevault-Reissue `Filevault.swift` matches it on stderr (PATTERNS.md "fdesetup
///   changerecovery -personal"). Pattern only, unverified.
/// - a line starting `Error: User could not be authent`: corpus SOURCES.md, entry
///   `fdesetup-changerecovery/jss-filevault-reissue-58-...` (the line after `Error: Unable to
///   change key.`; the rest of the line was cut off in our copy, so only this prefix is known).
fn is_auth_failure(line: &[u8]) -> bool {
    contains(line, b"Unable to unlock or authenticate to FileVault")
        || line.starts_with(b"Error: User could not be authent")
}

/// `Error: Unable to change key.` (corpus `fdesetup-changerecovery/openradar-34371492-...`,
/// `jss-filevault-reissue-58-...`) or without the period (corpus `openradar-33284118-...`, a
/// possible transcription difference). Exits seen: 136, 99.
fn is_unable_to_change(line: &[u8]) -> bool {
    line == b"Error: Unable to change key." || line == b"Error: Unable to change key"
}

/// `New personal recovery key = 'XXXX-...'` (PATTERNS.md "fdesetup changerecovery -personal":
/// cybertunnel/Filevault-Reissue splits on ` = `, the key in single quotes as `fdesetup enable`
/// prints `Recovery key = '...'` in rdar 34874069). Pattern only, unverified.
fn is_new_key_line(line: &[u8]) -> bool {
    line.strip_prefix(b"New personal recovery key = '")
        .and_then(|rest| rest.strip_suffix(b"'"))
        .is_some_and(is_key_shape)
}

/// `changerecovery -personal -inputplist`. A recognised failure line decides, whatever else was
/// printed (the interactive corpus sample also carries prompts) and whatever the exit code: an
/// authentication failure first (more specific), then `Unable to change key`. Success needs exit
/// 0 and exactly one new-key line and nothing else but verbose lines. Anything else is
/// `Unrecognised` with the exit code only: the output may hold the new key.
pub fn parse_changerecovery(out: &SecretOutput) -> Result<(), SecretToolError> {
    let code = secret_exit(out)?;
    let (mut auth, mut unable, mut new_keys, mut other) = (false, false, 0usize, false);
    for line in secret_lines(&out.stdout).chain(secret_lines(&out.stderr)) {
        if is_auth_failure(line) {
            auth = true;
        } else if is_unable_to_change(line) {
            unable = true;
        } else if is_new_key_line(line) {
            new_keys += 1;
        } else {
            other = true;
        }
    }
    if auth {
        Err(SecretToolError::AuthenticationFailed)
    } else if unable {
        Err(SecretToolError::UnableToChangeKey)
    } else if code == 0 && new_keys == 1 && !other {
        Ok(())
    } else {
        Err(SecretToolError::Unrecognised(code))
    }
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

pub(crate) async fn status(r: &impl Runner) -> Result<FdeStatus, ProbeError> {
    query(r, &status_call(), parse_status).await
}
pub(crate) async fn showdeferralinfo(r: &impl Runner) -> Result<DeferralInfo, ProbeError> {
    query(r, &showdeferralinfo_call(), parse_showdeferralinfo).await
}
pub(crate) async fn has_personal_recovery_key(r: &impl Runner) -> Result<bool, ProbeError> {
    query(r, &haspersonalrecoverykey_call(), parse_true_false).await
}
pub(crate) async fn has_institutional_recovery_key(r: &impl Runner) -> Result<bool, ProbeError> {
    query(r, &hasinstitutionalrecoverykey_call(), parse_true_false).await
}
pub(crate) async fn using_recovery_key(r: &impl Runner) -> Result<UsingRecoveryKey, ProbeError> {
    query(r, &usingrecoverykey_call(), parse_usingrecoverykey).await
}

/// One `validaterecovery` with `key` given only as the stdin plist `{Password: key}`. Never
/// retried here: every call may spend a Secure Enclave attempt (PLATFORM.md).
pub(crate) async fn validate_recovery(
    r: &impl Runner,
    key: &Secret,
) -> Result<Validation, SecretCommandError> {
    let call = validaterecovery_call();
    secret_query(r, "validaterecovery", &call, key, parse_validaterecovery).await
}

/// One `changerecovery -personal` authenticated by `current_key` (stdin plist only). The new key
/// it prints stays in the secret output and is wiped with it: escrow is the MDM's job. Never
/// retried: on 10.13 a failed attempt deleted the existing key (PLATFORM.md), so the caller must
/// check `haspersonalrecoverykey` afterwards whatever this returns.
pub(crate) async fn change_recovery(
    r: &impl Runner,
    current_key: &Secret,
) -> Result<(), SecretCommandError> {
    let call = changerecovery_call();
    secret_query(
        r,
        "changerecovery",
        &call,
        current_key,
        parse_changerecovery,
    )
    .await
}

/// The secret counterpart of `query`: run `call` once with `key` given only as the stdin plist
/// `{Password: key}`, and map its output with `parse` to an answer or a fixed code.
async fn secret_query<T>(
    r: &impl Runner,
    command: &'static str,
    call: &Call,
    key: &Secret,
    parse: impl FnOnce(&SecretOutput) -> Result<T, SecretToolError>,
) -> Result<T, SecretCommandError> {
    let out = r
        .run_secret(call, &key.password_input_plist())
        .await
        .map_err(|e| SecretCommandError::Run {
            command,
            message: e.to_string(),
        })?;
    parse(&out).map_err(|code| SecretCommandError::Tool { command, code })
}

/// Why a secret command (`validaterecovery`, `changerecovery`) gave no answer: the runner's
/// message (which never holds output) or a fixed code, never the output itself.
#[derive(Debug, thiserror::Error)]
pub enum SecretCommandError {
    #[error("fdesetup {command}: {message}")]
    Run {
        command: &'static str,
        message: String,
    },
    #[error("fdesetup {command}: {code}")]
    Tool {
        command: &'static str,
        code: SecretToolError,
    },
}

impl SecretCommandError {
    /// The fixed code the audit trail records for this failure.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            SecretCommandError::Run { .. } => "RunFailed",
            SecretCommandError::Tool { code, .. } => code.code(),
        }
    }

    /// fdesetup answered that the key is not one it accepts (a wrong key, or not a key at all):
    /// the same key would get the same answer, so it is remembered as failed.
    pub(crate) fn key_refused(&self) -> bool {
        matches!(
            self,
            SecretCommandError::Tool {
                code: SecretToolError::NotARecoveryKey | SecretToolError::AuthenticationFailed,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::RunError;
    use crate::tools::fake::{FakeFailure, FakeRunner};
    use crate::tools::{arbitrary, check};
    use proptest::prelude::*;
    use std::cell::RefCell;

    const KEY: &str = "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF";

    fn out(code: i32, stdout: &str) -> Output {
        Output::new(code, stdout, "")
    }

    fn secret_out(code: i32, stdout: &[u8], stderr: &[u8]) -> SecretOutput {
        SecretOutput {
            exit: Exit::Code(code),
            stdout: Secret::new(stdout.to_vec()),
            stderr: Secret::new(stderr.to_vec()),
            truncated: false,
        }
    }

    fn on() -> FdeStatus {
        FdeStatus::on()
    }

    fn unrecognised(exit: i32, excerpt: &str) -> ParseError {
        ParseError::Unrecognised {
            exit: Exit::Code(exit),
            excerpt: excerpt.to_owned(),
        }
    }

    // --- status ---------------------------------------------------------------------------

    /// `fdesetup status` printing `lines` with exit 0.
    fn status_of(lines: &[&str]) -> Result<FdeStatus, ParseError> {
        parse_status(&out(0, &format!("{}\n", lines.join("\n"))))
    }

    /// Each of `lines`, printed after `before`, makes the status an error that names it.
    #[track_caller]
    fn refused_after(before: &[&str], lines: &[&str]) {
        for line in lines {
            assert_eq!(
                status_of(&[before, &[line]].concat()),
                Err(unrecognised(0, line.trim_end())),
                "{line}"
            );
        }
    }

    #[test]
    fn the_first_line_says_on_or_off() {
        assert_eq!(status_of(&["FileVault is On."]), Ok(on()));
        assert_eq!(
            status_of(&["FileVault is Off."]),
            Ok(FdeStatus { on: false, ..on() })
        );
    }

    #[test]
    fn the_master_keychain_line_is_read() {
        assert_eq!(
            status_of(&[
                "FileVault is On.",
                "FileVault master keychain appears to be installed."
            ]),
            Ok(FdeStatus {
                master_keychain: true,
                ..on()
            })
        );
    }

    #[test]
    fn every_restart_form_sets_restart_required() {
        for (line, is_on) in [
            (
                "FileVault is On, but needs to be restarted to finish.",
                true,
            ),
            (
                "FileVault is Off, but needs to be restarted to finish.",
                false,
            ),
            (
                "FileVault is Off, but will be enabled after the next restart.",
                false,
            ),
        ] {
            assert_eq!(
                parse_status(&out(0, line)),
                Ok(FdeStatus {
                    on: is_on,
                    restart_required: true,
                    ..on()
                }),
                "{line}"
            );
        }
    }

    #[test]
    fn encryption_progress_is_read_with_or_without_decimals() {
        for (line, p) in [
            ("Encryption in progress: Percent completed = 42.57", 42.57),
            ("Encryption in progress: Percent completed = 7", 7.0),
            ("Encryption in progress: Percent completed = 100.0.", 100.0),
        ] {
            assert_eq!(
                status_of(&["FileVault is On.", line]).map(|s| s.conversion),
                Ok(Some(Conversion::Encrypting { percent: Some(p) })),
                "{line}"
            );
        }
    }

    #[test]
    fn pending_encryption_has_no_percentage() {
        assert_eq!(
            status_of(&["FileVault is On.", "Encryption in progress: Pending"])
                .map(|s| s.conversion),
            Ok(Some(Conversion::Encrypting { percent: None }))
        );
    }

    #[test]
    fn decryption_progress_is_read() {
        let line = "Decryption in progress: Percent completed = 37";
        assert_eq!(
            status_of(&["FileVault is Off.", line]).map(|s| s.conversion),
            Ok(Some(Conversion::Decrypting {
                percent: Some(37.0)
            }))
        );
    }

    #[test]
    fn a_malformed_or_impossible_percentage_is_an_error_with_the_line() {
        refused_after(
            &["FileVault is On."],
            &[
                "Encryption in progress: Percent completed = ",
                "Encryption in progress: Percent completed = 101",
                "Encryption in progress: Percent completed = -1",
                "Encryption in progress: Percent completed = 1e2",
                "Encryption in progress: percent completed = 12.5",
                "Decryption in progress: Pending",
            ],
        );
    }

    #[test]
    fn both_deferral_forms_are_read() {
        let old = "Deferred enablement appears to be active for user 'ttg'.";
        let new = "Deferred enablement appears to be active.";
        assert_eq!(
            status_of(&["FileVault is Off.", old]).map(|s| s.deferred),
            Ok(Some(Deferred {
                user: Some("ttg".into())
            }))
        );
        assert_eq!(
            status_of(&["FileVault is Off.", new]).map(|s| s.deferred),
            Ok(Some(Deferred { user: None }))
        );
    }

    #[test]
    fn a_deferral_line_without_its_quotes_or_name_is_an_error() {
        refused_after(
            &["FileVault is Off."],
            &[
                "Deferred enablement appears to be active for user ttg.",
                "Deferred enablement appears to be active for user ''.",
                "Deferred enablement appears to be active for user 'a'b'.",
                "Deferred enablement appears to be active",
            ],
        );
    }

    #[test]
    fn an_unknown_status_line_is_an_error_with_an_excerpt() {
        refused_after(
            &["FileVault is On."],
            &["Something new appears to be active."],
        );
    }

    #[test]
    fn a_second_line_of_the_same_kind_is_an_error() {
        refused_after(
            &["FileVault is On.", "Encryption in progress: Pending"],
            &["Encryption in progress: Percent completed = 3"],
        );
    }

    #[test]
    fn the_on_off_line_must_come_first() {
        let s = "FileVault master keychain appears to be installed.\nFileVault is On.\n";
        check::all_unrecognised([s, "FileVault is On\n", ""], |s| parse_status(&out(0, s)));
    }

    #[test]
    fn status_accepts_the_state_exit_codes_and_refuses_the_others() {
        for code in [0, 1, 2] {
            assert_eq!(
                parse_status(&out(code, "FileVault is On.\n")),
                Ok(on()),
                "{code}"
            );
        }
        assert_eq!(
            parse_status(&out(99, "FileVault is On.\n")),
            Err(unrecognised(99, "FileVault is On."))
        );
        check::unrecognised(parse_status(&check::killed(9, "FileVault is On.\n", "")));
    }

    #[test]
    fn an_error_line_with_a_failing_exit_is_reported_in_the_tools_words() {
        let o = Output::new(11, "", "Error: Unable to unlock FileVault.\n");
        assert_eq!(
            parse_status(&o),
            Err(ParseError::Reported {
                exit: Exit::Code(11),
                message: "Error: Unable to unlock FileVault.".into()
            })
        );
        // The same line with exit 0 is not a report of failure: just unrecognised.
        let o = Output::new(0, "Error: odd\n", "");
        check::unrecognised(parse_status(&o));
    }

    #[test]
    fn text_on_stderr_makes_status_unrecognised() {
        let o = Output::new(0, "FileVault is On.\n", "warning\n");
        assert_eq!(parse_status(&o), Err(unrecognised(0, "warning")));
    }

    #[test]
    fn invalid_utf8_in_status_is_an_error_not_a_panic() {
        let o = Output::new(0, b"FileVault is On.\n\xff\xfe\n".to_vec(), Vec::new());
        check::unrecognised(parse_status(&o));
    }

    // --- showdeferralinfo -----------------------------------------------------------------

    const DEFERRAL_DUMP: &str = "{\n    Defer = 1;\n    OutputPath = \"/var/db/ConfigurationProfiles/fdesetup.plist\";\n    ProfileUUID = \"418DEB1B-XXXX-XXXX-XXXX-60BC894B1558\";\n    ShowRecoveryKey = 1;\n    Usernames =     (\n    );\n}\n";

    #[test]
    fn no_deferral_is_not_found() {
        let none = DeferralInfo {
            configured: false,
            output_path: None,
        };
        assert_eq!(
            parse_showdeferralinfo(&out(0, "Not found.\n")),
            Ok(none.clone())
        );
        assert_eq!(parse_showdeferralinfo(&out(1, "Not found.\n")), Ok(none));
    }

    #[test]
    fn a_deferral_dump_gives_its_output_path() {
        assert_eq!(
            parse_showdeferralinfo(&out(0, DEFERRAL_DUMP)),
            Ok(DeferralInfo {
                configured: true,
                output_path: Some("/var/db/ConfigurationProfiles/fdesetup.plist".into())
            })
        );
        assert_eq!(
            parse_showdeferralinfo(&out(0, "{ Defer = 1; }")),
            Ok(DeferralInfo {
                configured: true,
                output_path: None
            })
        );
    }

    #[test]
    fn a_broken_or_odd_deferral_dump_is_unrecognised() {
        check::all_unrecognised(
            [
                "{ Defer = 1;",
                "{ OutputPath = (a); }",
                "{ OutputPath = \"\"; }",
                "( a )",
                "Found.",
                "",
            ],
            |s| parse_showdeferralinfo(&out(0, s)),
        );
        // A dump with a failing exit is not an answer.
        assert!(parse_showdeferralinfo(&out(1, DEFERRAL_DUMP)).is_err());
        // Text on stderr is not an answer.
        assert!(parse_showdeferralinfo(&Output::new(0, "Not found.\n", "x")).is_err());
    }

    #[test]
    fn a_deeply_nested_dump_is_refused_before_parsing() {
        let deep = format!("{}{}", "{ a = ".repeat(100_000), "}".repeat(100_000));
        check::unrecognised(parse_showdeferralinfo(&out(0, &deep)));
        assert!(nesting_within_bound("{ a = \"{{{{{{{{{{{{\"; }"));
    }

    // --- true/false -----------------------------------------------------------------------

    #[test]
    fn true_and_false_are_read_with_their_exit_codes() {
        assert_eq!(parse_true_false(&out(0, "true\n")), Ok(true));
        assert_eq!(parse_true_false(&out(0, "false\n")), Ok(false));
        assert_eq!(parse_true_false(&out(1, "false\n")), Ok(false));
    }

    #[test]
    fn a_true_that_failed_or_a_false_with_an_odd_code_is_not_an_answer() {
        assert_eq!(
            parse_true_false(&out(1, "true\n")),
            Err(unrecognised(1, "true"))
        );
        assert_eq!(
            parse_true_false(&out(2, "false\n")),
            Err(unrecognised(2, "false"))
        );
    }

    #[test]
    fn anything_but_one_word_is_not_a_true_false_answer() {
        check::all_unrecognised(
            ["", "True\n", "true\ntrue\n", "yes\n", "true false\n"],
            |s| parse_true_false(&out(0, s)),
        );
        assert!(parse_true_false(&Output::new(0, "true\n", "noise")).is_err());
    }

    #[test]
    fn a_true_false_error_line_is_reported() {
        let o = Output::new(12, "", "Error: Parameter error.\n");
        assert_eq!(
            parse_true_false(&o),
            Err(ParseError::Reported {
                exit: Exit::Code(12),
                message: "Error: Parameter error.".into()
            })
        );
    }

    // --- usingrecoverykey -----------------------------------------------------------------

    #[test]
    fn key_use_this_boot_is_true_false_or_not_supported() {
        assert_eq!(
            parse_usingrecoverykey(&out(0, "true\n")),
            Ok(UsingRecoveryKey::Yes)
        );
        assert_eq!(
            parse_usingrecoverykey(&out(0, "false\n")),
            Ok(UsingRecoveryKey::No)
        );
        let ns = "This command is not supported on APFS volumes.\n";
        assert_eq!(
            parse_usingrecoverykey(&out(1, ns)),
            Ok(UsingRecoveryKey::NotSupported)
        );
        assert_eq!(
            parse_usingrecoverykey(&Output::new(34, "", ns)),
            Ok(UsingRecoveryKey::NotSupported)
        );
    }

    #[test]
    fn not_supported_with_other_text_or_a_signal_is_not_an_answer() {
        let ns = "This command is not supported on APFS volumes.\n";
        assert!(parse_usingrecoverykey(&Output::new(1, ns, "x")).is_err());
        assert!(parse_usingrecoverykey(&out(1, &format!("{ns}false\n"))).is_err());
        assert!(parse_usingrecoverykey(&check::killed(15, ns, "")).is_err());
        assert!(parse_usingrecoverykey(&out(1, "true\n")).is_err());
    }

    // --- validaterecovery -----------------------------------------------------------------

    fn validate(code: i32, stdout: &[u8], stderr: &[u8]) -> Result<Validation, SecretToolError> {
        parse_validaterecovery(&secret_out(code, stdout, stderr))
    }

    fn change(code: i32, stdout: &[u8], stderr: &[u8]) -> Result<(), SecretToolError> {
        parse_changerecovery(&secret_out(code, stdout, stderr))
    }

    #[test]
    fn validation_is_true_or_false() {
        assert_eq!(validate(0, b"true\n", b""), Ok(Validation::Valid));
        assert_eq!(validate(1, b"false\n", b""), Ok(Validation::Invalid));
        assert_eq!(validate(0, b"false\n", b""), Ok(Validation::Invalid));
        assert_eq!(
            validate(0, b"fdesetup: device path = /\ntrue\n", b""),
            Ok(Validation::Valid)
        );
    }

    #[test]
    fn a_true_with_a_failing_exit_is_unrecognised() {
        assert_eq!(
            validate(1, b"true\n", b""),
            Err(SecretToolError::Unrecognised(1))
        );
    }

    #[test]
    fn a_refused_key_form_has_its_own_code() {
        let refusal = b"Error: Not a valid recovery key.\n";
        assert_eq!(
            validate(1, b"", refusal),
            Err(SecretToolError::NotARecoveryKey)
        );
        assert_eq!(
            validate(0, refusal, b""),
            Err(SecretToolError::Unrecognised(0))
        );
    }

    #[test]
    fn validation_output_that_is_not_exactly_one_answer_is_unrecognised() {
        for (stdout, stderr) in [
            (&b""[..], &b""[..]),
            (b"true\nfalse\n", b""),
            (b"true\n", b"true\n"),
            (b"Enter the current recovery key:\n", b""),
        ] {
            assert_eq!(
                validate(0, stdout, stderr),
                Err(SecretToolError::Unrecognised(0))
            );
        }
    }

    #[test]
    fn a_killed_or_cut_off_secret_call_maps_to_a_fixed_code() {
        let mut o = secret_out(0, b"true\n", b"");
        o.truncated = true;
        assert_eq!(
            parse_validaterecovery(&o),
            Err(SecretToolError::Unrecognised(0))
        );
        o.truncated = false;
        o.exit = Exit::Signal(9);
        assert_eq!(parse_validaterecovery(&o), Err(SecretToolError::Killed(9)));
        assert_eq!(parse_changerecovery(&o), Err(SecretToolError::Killed(9)));
    }

    // --- changerecovery -------------------------------------------------------------------

    #[test]
    fn a_new_key_line_alone_is_success() {
        let line = format!("New personal recovery key = '{KEY}'\n");
        assert_eq!(change(0, line.as_bytes(), b""), Ok(()));
        let verbose =
            format!("fdesetup: use personal recovery key\nfdesetup: device path = /\n{line}");
        assert_eq!(change(0, verbose.as_bytes(), b""), Ok(()));
    }

    #[test]
    fn a_new_key_with_a_failing_exit_or_extra_text_is_unrecognised() {
        let line = format!("New personal recovery key = '{KEY}'\n");
        for (code, stdout) in [
            (1, line.clone()),
            (0, format!("{line}Escrowing recovery key...\n")),
            (0, format!("{line}{line}")),
            (
                0,
                "New personal recovery key = AAAA-BBBB-CCCC-DDDD-EEEE-FFFF".into(),
            ),
            (0, "New personal recovery key = 'AAAA-BBBB'".into()),
            (
                0,
                "New personal recovery key = 'AAAA_BBBB-CCCC-DDDD-EEEE-FFFF'".into(),
            ),
            (0, String::new()),
        ] {
            assert_eq!(
                change(code, stdout.as_bytes(), b""),
                Err(SecretToolError::Unrecognised(code)),
                "{stdout}"
            );
        }
    }

    #[test]
    fn unable_to_change_key_is_recognised_with_or_without_its_period() {
        for (s, code) in [
            (&b"Error: Unable to change key.\n"[..], 136),
            (
                b"fdesetup: device path = /\nError: Unable to change key\n",
                136,
            ),
            (
                b"Enter the user name: `user`\nError: Unable to change key.\n",
                99,
            ),
        ] {
            assert_eq!(
                change(code, s, b""),
                Err(SecretToolError::UnableToChangeKey)
            );
            assert_eq!(
                change(code, b"", s),
                Err(SecretToolError::UnableToChangeKey)
            );
        }
    }

    #[test]
    fn an_authentication_failure_wins_over_unable_to_change() {
        assert_eq!(
            change(
                11,
                b"",
                b"Error: Unable to unlock or authenticate to FileVault.\n"
            ),
            Err(SecretToolError::AuthenticationFailed)
        );
        assert_eq!(
            change(
                99,
                b"Error: Unable to change key.\nError: User could not be authenticated.\n",
                b""
            ),
            Err(SecretToolError::AuthenticationFailed)
        );
    }

    #[test]
    fn a_key_in_the_output_never_reaches_an_error() {
        let outputs = [
            secret_out(
                1,
                format!("New personal recovery key = '{KEY}'\n").as_bytes(),
                b"",
            ),
            secret_out(0, format!("{KEY}\n").as_bytes(), b""),
            secret_out(5, b"", format!("Error: {KEY} is wrong\n").as_bytes()),
            secret_out(0, format!("true {KEY}\n").as_bytes(), b""),
        ];
        for o in &outputs {
            for shown in [
                parse_changerecovery(o).err().map(|e| format!("{e} {e:?}")),
                parse_validaterecovery(o)
                    .err()
                    .map(|e| format!("{e} {e:?}")),
                Some(format!("{o:?}")),
            ]
            .into_iter()
            .flatten()
            {
                assert!(!shown.contains("AAAA"), "{shown}");
            }
        }
    }

    // --- queries through the fake runner --------------------------------------------------

    /// A runner that records what a secret call got on stdin, then answers like `FakeRunner`.
    struct Recording {
        fake: FakeRunner,
        stdin: RefCell<Vec<Vec<u8>>>,
    }

    impl Runner for Recording {
        async fn run(&self, call: &Call) -> Result<Output, RunError> {
            self.fake.run(call).await
        }
        async fn run_secret(&self, call: &Call, stdin: &Secret) -> Result<SecretOutput, RunError> {
            self.stdin.borrow_mut().push(stdin.expose_secret().to_vec());
            self.fake.run_secret(call, stdin).await
        }
    }

    impl Recording {
        /// Asserts that `call` was the one call made, that no part of `key` was in its argv, and
        /// that its stdin was the plist `{Password: key}` and nothing else.
        #[track_caller]
        fn ran_once_with_the_key_only_on_stdin(&self, call: &Call, key: &str) {
            assert_eq!(*self.fake.calls.borrow(), [call.argv()]);
            let part = &key[..4];
            assert!(call.argv().iter().all(|a| !a.contains(part)));
            let stdin = self.stdin.borrow();
            assert_eq!(stdin.len(), 1);
            let dict: plist::Value = plist::from_bytes(&stdin[0]).unwrap();
            let dict = dict.as_dictionary().unwrap();
            assert_eq!(dict.len(), 1);
            assert_eq!(dict["Password"].as_string(), Some(key));
        }
    }

    fn recording(call: &Call, answer: Output) -> Recording {
        let mut fake = FakeRunner::new();
        fake.answer(call, answer);
        Recording {
            fake,
            stdin: RefCell::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn validate_recovery_calls_once_with_the_key_only_on_stdin() {
        let r = recording(&validaterecovery_call(), out(0, "true\n"));
        let key = Secret::new(KEY.as_bytes().to_vec());
        assert!(matches!(
            validate_recovery(&r, &key).await,
            Ok(Validation::Valid)
        ));
        r.ran_once_with_the_key_only_on_stdin(&validaterecovery_call(), KEY);
    }

    #[tokio::test]
    async fn validate_recovery_maps_outputs_and_failures() {
        let key = Secret::new(KEY.as_bytes().to_vec());
        let r = recording(&validaterecovery_call(), out(1, "false\n"));
        assert!(matches!(
            validate_recovery(&r, &key).await,
            Ok(Validation::Invalid)
        ));
        let r = recording(&validaterecovery_call(), out(1, KEY));
        let err = validate_recovery(&r, &key).await.unwrap_err();
        assert!(matches!(
            err,
            SecretCommandError::Tool {
                code: SecretToolError::Unrecognised(1),
                ..
            }
        ));
        assert!(!format!("{err} {err:?}").contains("AAAA"));
        let mut fake = FakeRunner::new();
        fake.fail(&validaterecovery_call(), FakeFailure::TimedOut);
        let err = validate_recovery(&fake, &key).await.unwrap_err();
        assert!(matches!(err, SecretCommandError::Run { .. }), "{err}");
        assert_eq!(fake.called(&validaterecovery_call()), 1);
    }

    #[tokio::test]
    async fn change_recovery_calls_once_and_keeps_the_new_key_out_of_errors() {
        let key = Secret::new(b"OLDK-OLDK-OLDK-OLDK-OLDK-OLDK".to_vec());
        let printed = format!("New personal recovery key = '{KEY}'\n");
        let r = recording(&changerecovery_call(), out(0, &printed));
        assert!(change_recovery(&r, &key).await.is_ok());
        r.ran_once_with_the_key_only_on_stdin(
            &changerecovery_call(),
            "OLDK-OLDK-OLDK-OLDK-OLDK-OLDK",
        );
        let r = recording(&changerecovery_call(), out(3, &printed));
        let err = change_recovery(&r, &key).await.unwrap_err();
        assert!(matches!(
            err,
            SecretCommandError::Tool {
                code: SecretToolError::Unrecognised(3),
                ..
            }
        ));
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("AAAA") && !shown.contains("OLDK"),
            "{shown}"
        );
        let r = recording(
            &changerecovery_call(),
            out(136, "Error: Unable to change key.\n"),
        );
        assert!(matches!(
            change_recovery(&r, &key).await,
            Err(SecretCommandError::Tool {
                code: SecretToolError::UnableToChangeKey,
                ..
            })
        ));
        let mut fake = FakeRunner::new();
        fake.fail(&changerecovery_call(), FakeFailure::Missing);
        assert!(matches!(
            change_recovery(&fake, &key).await,
            Err(SecretCommandError::Run { .. })
        ));
    }

    #[tokio::test]
    async fn the_public_queries_parse_what_the_runner_returns() {
        let mut fake = FakeRunner::new();
        fake.answer(&status_call(), out(0, "FileVault is On.\n"))
            .answer(&showdeferralinfo_call(), out(0, "Not found.\n"))
            .answer(&haspersonalrecoverykey_call(), out(0, "true\n"))
            .answer(&hasinstitutionalrecoverykey_call(), out(0, "false\n"))
            .answer(&usingrecoverykey_call(), out(0, "garbage\n"));
        assert_eq!(status(&fake).await, Ok(on()));
        assert_eq!(
            showdeferralinfo(&fake).await.map(|d| d.configured),
            Ok(false)
        );
        assert_eq!(has_personal_recovery_key(&fake).await, Ok(true));
        assert_eq!(has_institutional_recovery_key(&fake).await, Ok(false));
        let err = using_recovery_key(&fake).await.unwrap_err();
        assert!(
            err.to_string().starts_with("fdesetup usingrecoverykey: "),
            "{err}"
        );
        assert!(err.to_string().contains("garbage"), "{err}");
    }

    #[test]
    fn the_calls_have_the_documented_argv() {
        let argv = |c: Call| c.argv().join(" ");
        assert_eq!(argv(status_call()), "/usr/bin/fdesetup status");
        assert_eq!(
            argv(showdeferralinfo_call()),
            "/usr/bin/fdesetup showdeferralinfo"
        );
        assert_eq!(
            argv(haspersonalrecoverykey_call()),
            "/usr/bin/fdesetup haspersonalrecoverykey"
        );
        assert_eq!(
            argv(hasinstitutionalrecoverykey_call()),
            "/usr/bin/fdesetup hasinstitutionalrecoverykey"
        );
        assert_eq!(
            argv(usingrecoverykey_call()),
            "/usr/bin/fdesetup usingrecoverykey"
        );
        assert_eq!(
            argv(validaterecovery_call()),
            "/usr/bin/fdesetup validaterecovery -inputplist"
        );
        assert_eq!(
            argv(changerecovery_call()),
            "/usr/bin/fdesetup changerecovery -personal -inputplist"
        );
    }

    // --- never a panic ----------------------------------------------------------------------

    /// Lines made of the words these parsers look for, so the search reaches deep branches.
    fn wordy() -> impl Strategy<Value = Vec<u8>> {
        let new_key = format!("New personal recovery key = '{KEY}'");
        arbitrary::lines(
            &[
                "FileVault is On.",
                "FileVault is Off.",
                "FileVault master keychain appears to be installed.",
                "Encryption in progress: Pending",
                "Deferred enablement appears to be active.",
                "true",
                "false",
                "Not found.",
                "Error: Unable to change key.",
                &new_key,
                "fdesetup: device path = /",
            ],
            &["[{}()=;\"a-zA-Z0-9 .%'-]{0,40}"],
            6,
        )
        .prop_map(String::into_bytes)
    }

    fn parse_every_public_answer(o: &Output) {
        let _ = parse_status(o);
        let _ = parse_showdeferralinfo(o);
        let _ = parse_true_false(o);
        let _ = parse_usingrecoverykey(o);
    }

    proptest! {
        #[test]
        fn no_public_parser_panics_on_any_output(o in arbitrary::output()) {
            parse_every_public_answer(&o);
        }

        #[test]
        fn no_public_parser_panics_on_wordy_output(code in 0i32..3, stdout in wordy(), stderr in wordy()) {
            parse_every_public_answer(&Output::new(code, stdout, stderr));
        }

        #[test]
        fn no_secret_parser_panics_or_leaks(o in arbitrary::output(), key_at in 0usize..4) {
            // Plant a key somewhere in the output; it must never show in an error.
            let mut stdout = o.stdout.clone();
            let at = key_at.min(stdout.len());
            stdout.splice(at..at, b"ZZZZ-YYYY-XXXX-WWWW-VVVV-UUUU".iter().copied());
            let s = SecretOutput {
                exit: o.exit,
                stdout: Secret::new(stdout),
                stderr: Secret::new(o.stderr.clone()),
                truncated: o.truncated,
            };
            if let Err(e) = parse_validaterecovery(&s) {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains("ZZZZ"), "{}", shown);
            }
            if let Err(e) = parse_changerecovery(&s) {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains("ZZZZ"), "{}", shown);
            }
        }

        #[test]
        fn no_secret_parser_panics_on_wordy_output(code in any::<i32>(), stdout in wordy(), stderr in wordy()) {
            let s = SecretOutput {
                exit: Exit::Code(code),
                stdout: Secret::new(stdout),
                stderr: Secret::new(stderr),
                truncated: false,
            };
            let _ = parse_validaterecovery(&s);
            let _ = parse_changerecovery(&s);
        }
    }
}
