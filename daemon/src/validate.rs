//! `keywarden validate`: check that a recovery key unlocks this Mac with exactly one
//! `fdesetup validaterecovery`, the key read from stdin and given to `fdesetup` only as its stdin
//! plist.
//!
//! Every attempt may spend one of the Secure Enclave's attempts, which are limited for the life of
//! the volume (PLATFORM.md: 30 per recovery method on T2 and Apple silicon), and valid keys have
//! failed validation with nobody logged in. So, under the writer lock (validations are serialised
//! with the daemon and with each other, so the caps cannot be raced), an attempt is refused with a
//! reason: without a console user; past `ValidationFailureCap` failures ever or
//! `ValidationDailyCap` attempts in the last 24 hours, both counted from the audit trail (a lost
//! state file must not reset them); for a key that already failed on this Mac (`failed_keys`). An
//! attempt that is made is recorded in the audit trail *before* `fdesetup` runs, so a crash cannot
//! refund it, and is never retried. Its answer is recorded (audit trail, the failed-key store, the
//! state's `LastValidatedAt`/`LastValidation`) and a fresh status is published with one check.
//!
//! The key lives only in wiped memory (`Secret`): it is never logged, stored, shown or put in an
//! error. This module does not parse `fdesetup`'s output (`tools::fdesetup`) or count the caps
//! (`audit::validation_counts`).

use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal as _, Read, Write as _};
use std::os::fd::AsFd as _;
use std::time::Duration;

use jiff::Timestamp;

use crate::audit::{self, Event, What};
use crate::check::{self, Env};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::failed_keys::FailedKeys;
use crate::files::{self, Owners, Trust};
use crate::lock;
use crate::logging;
use crate::paths::{self, Root};
use crate::runner::{ProcessRunner, Runner};
use crate::secret::{KeyShapeError, RecoveryKey, Secret};
use crate::state;
use crate::status::ValidationResult;
use crate::tools::fdesetup::{self, SecretToolError, ValidateError, Validation};

/// More than any key typed or pasted with some whitespace; input beyond it is refused unread.
const MAX_INPUT: usize = 4096;
/// Bound on the status plist read to name the console user.
const MAX_STATUS_BYTES: u64 = 4 * 1024 * 1024;

/// Why no attempt was made. Every message says what to do; none holds the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// stdin could not be read (the message is the I/O error, never input).
    Input(String),
    Malformed(KeyShapeError),
    /// The writer lock could not be taken.
    Lock(String),
    NoConsoleUser,
    /// `/dev/console` could not be examined.
    Console(String),
    AuditUnreadable(String),
    FailureCap {
        cap: u32,
        failures: u32,
    },
    DailyCap {
        cap: u32,
        count: u32,
        frees_at: Option<Timestamp>,
    },
    FailedBefore,
    Store(String),
    /// `ValidationStarted` could not be appended to the audit trail.
    NotRecorded(String),
}

impl Refusal {
    /// The `Result` of the `ValidationRefused` audit event.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Input(_) => "InputUnreadable",
            Refusal::Malformed(_) => "MalformedKey",
            Refusal::Lock(_) => "LockUnavailable",
            Refusal::NoConsoleUser => "NoConsoleUser",
            Refusal::Console(_) => "ConsoleUnknown",
            Refusal::AuditUnreadable(_) => "AuditUnreadable",
            Refusal::FailureCap { .. } => "FailureCap",
            Refusal::DailyCap { .. } => "DailyCap",
            Refusal::FailedBefore => "KeyFailedBefore",
            Refusal::Store(_) => "FailedKeyStoreUnusable",
            Refusal::NotRecorded(_) => "NotRecorded",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Input(e) => write!(f, "the key could not be read from stdin: {e}"),
            Refusal::Malformed(e) => write!(f, "this is not a recovery key: {e}; nothing was tried"),
            Refusal::Lock(e) => write!(f, "{e}"),
            Refusal::NoConsoleUser => f.write_str(
                "no user is logged in at the console: valid keys have failed validation with nobody logged in (PLATFORM.md); try again while the user is logged in",
            ),
            Refusal::Console(e) => write!(
                f,
                "cannot tell whether a user is logged in at the console ({e}); validation needs one"
            ),
            Refusal::AuditUnreadable(e) => write!(
                f,
                "{e}; the validation caps are counted from it, so no attempt is made until it is readable"
            ),
            Refusal::FailureCap { cap: 0, .. } => f.write_str(
                "ValidationFailureCap is 0: validation is turned off on this Mac",
            ),
            Refusal::FailureCap { cap, failures } => write!(
                f,
                "ValidationFailureCap ({cap}) reached: {failures} validations have failed on this Mac, and each may have spent one of the Secure Enclave's attempts, which are limited for the life of the Mac; no more are made (an admin may raise ValidationFailureCap, at most 20)"
            ),
            Refusal::DailyCap { cap: 0, .. } => f.write_str(
                "ValidationDailyCap is 0: validation is turned off on this Mac",
            ),
            Refusal::DailyCap {
                cap,
                count,
                frees_at,
            } => {
                write!(
                    f,
                    "ValidationDailyCap ({cap}) reached: {count} validations in the last 24 hours"
                )?;
                match frees_at {
                    Some(t) => write!(f, "; the next one is allowed from {t} (UTC)"),
                    None => Ok(()),
                }
            }
            Refusal::FailedBefore => f.write_str(
                "this key already failed validation on this Mac; it is never tried again (each attempt may spend one of the Secure Enclave's limited attempts)",
            ),
            Refusal::Store(e) => write!(f, "{e}"),
            Refusal::NotRecorded(e) => write!(
                f,
                "the attempt could not be recorded in the audit trail ({e}); an attempt that cannot be counted is not made"
            ),
        }
    }
}

/// How one `keywarden validate` ended.
#[derive(Debug)]
pub enum Outcome {
    /// No attempt was made.
    Refused(Refusal),
    /// `fdesetup` answered.
    Answered {
        validation: Validation,
        at: Timestamp,
        /// Failed validations ever, this one included.
        failures: u32,
        /// Recording went wrong somewhere (the answer stands).
        warnings: Vec<String>,
    },
    /// `fdesetup` gave no answer (timeout, crash, unrecognised output): counted as a failure.
    NoAnswer {
        error: String,
        failures: u32,
        warnings: Vec<String>,
    },
}

impl Outcome {
    /// 0 valid, 1 invalid, 2 refused or no answer.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Answered {
                validation: Validation::Valid,
                ..
            } => 0,
            Outcome::Answered {
                validation: Validation::Invalid,
                ..
            } => 1,
            Outcome::Refused(_) | Outcome::NoAnswer { .. } => 2,
        }
    }
}

/// Everything one validation needs from outside.
pub struct Inputs<'a, R: Runner, C: Clock> {
    pub runner: &'a R,
    pub clock: &'a C,
    pub root: &'a Root,
    pub owners: Owners,
    pub config: &'a Config,
    /// How long to wait for the daemon's check to finish.
    pub lock_wait: Duration,
}

/// Record a refusal (best effort: the refusal stands whether or not it could be recorded).
fn record_refusal(
    root: &Root,
    owners: Owners,
    now: Timestamp,
    console: Option<&str>,
    why: &Refusal,
) {
    tracing::info!(event = "validation_refused", reason = why.code());
    // When the trail itself is the problem, appending would only fail the same way.
    if matches!(why, Refusal::AuditUnreadable(_) | Refusal::NotRecorded(_)) {
        return;
    }
    let e = Event::new(now, What::ValidationRefused, why.code())
        .console(console)
        .detail(why.to_string());
    if let Err(err) = audit::append(root, owners, &e) {
        tracing::error!(event = "validation_record_failed", error = %err);
    }
}

/// Validate `key` on the Mac under `inputs.root`: at most one `validaterecovery`.
pub async fn validate<R: Runner, C: Clock>(
    inputs: &Inputs<'_, R, C>,
    key: &RecoveryKey,
) -> Outcome {
    let _lock = match lock::acquire(inputs.root, inputs.owners, inputs.lock_wait).await {
        Ok(l) => l,
        Err(e) => {
            let why = Refusal::Lock(e.to_string());
            record_refusal(inputs.root, inputs.owners, inputs.clock.now(), None, &why);
            return Outcome::Refused(why);
        }
    };
    // The lock is held until the answer is recorded, and released on return.
    validate_locked(inputs, key).await
}

async fn validate_locked<R: Runner, C: Clock>(
    inputs: &Inputs<'_, R, C>,
    key: &RecoveryKey,
) -> Outcome {
    let (root, owners, cfg) = (inputs.root, inputs.owners, inputs.config);
    let now = inputs.clock.now();
    let refuse = |console: Option<&str>, why: Refusal| {
        record_refusal(root, owners, now, console, &why);
        Outcome::Refused(why)
    };

    let console_user = match crate::observe::console_owner(root) {
        Ok(crate::observe::Console::Uid(uid)) => console_name(root, owners, uid),
        Ok(crate::observe::Console::Nobody) => return refuse(None, Refusal::NoConsoleUser),
        Err(e) => return refuse(None, Refusal::Console(e.to_string())),
    };
    let console = Some(console_user.as_str());

    let trail = match audit::read_all(root, owners) {
        Ok(t) => t,
        Err(e) => return refuse(console, Refusal::AuditUnreadable(e.to_string())),
    };
    for s in &trail.skipped {
        tracing::warn!(event = "audit_line_skipped", line = s.line, why = %s.why);
    }
    let counts = audit::validation_counts(&trail.events, now);
    let store = match FailedKeys::load(root, owners) {
        Ok(s) => s,
        Err(e) => return refuse(console, Refusal::Store(e.to_string())),
    };
    // Each remembered key is a failure too: a lost or truncated audit trail cannot bring the
    // count below what the store proves.
    let known_failed = store.as_ref().map_or(0, |s| s.len()) as u32;
    let failures = counts.failures_ever.max(known_failed);
    if failures >= cfg.validation_failure_cap {
        return refuse(
            console,
            Refusal::FailureCap {
                cap: cfg.validation_failure_cap,
                failures,
            },
        );
    }
    if counts.today >= cfg.validation_daily_cap {
        return refuse(
            console,
            Refusal::DailyCap {
                cap: cfg.validation_daily_cap,
                count: counts.today,
                frees_at: counts.daily_cap_frees_at(cfg.validation_daily_cap),
            },
        );
    }
    // Made (and saved) before the attempt: a store that cannot be written is found out before a
    // key is tried, not after it failed.
    let mut store = match store {
        Some(s) => s,
        None => match FailedKeys::create(root, owners) {
            Ok(s) => s,
            Err(e) => return refuse(console, Refusal::Store(e.to_string())),
        },
    };
    if store.contains(key) {
        return refuse(console, Refusal::FailedBefore);
    }

    let started = Event::new(now, What::ValidationStarted, "Started").console(console);
    if let Err(e) = audit::append(root, owners, &started) {
        return refuse(console, Refusal::NotRecorded(e.to_string()));
    }
    // Exactly one call, never retried (PLATFORM.md).
    let answer = fdesetup::validate_recovery(inputs.runner, key.secret()).await;
    let at = inputs.clock.now();
    let mut warnings = Vec::new();

    let remember = match &answer {
        Ok(Validation::Invalid) => true,
        // fdesetup refused the key's form: the same key would get the same answer.
        Err(ValidateError::Tool(SecretToolError::NotARecoveryKey)) => true,
        Ok(Validation::Valid) | Err(_) => false,
    };
    if remember {
        store.add(key);
        if let Err(e) = store.save(root, owners) {
            warnings.push(format!(
                "this key could not be remembered as failed ({e}); it still counts against ValidationFailureCap"
            ));
        }
    }

    let (result, detail) = match &answer {
        Ok(Validation::Valid) => (audit::RESULT_VALID, None),
        Ok(Validation::Invalid) => ("Invalid", None),
        Err(e) => (error_code(e), Some(e.to_string())),
    };
    let mut finished = Event::new(at, What::Validated, result).console(console);
    if let Some(d) = detail {
        finished = finished.detail(d);
    }
    if let Err(e) = audit::append(root, owners, &finished) {
        warnings.push(format!(
            "the answer could not be recorded in the audit trail ({e}); the attempt counts there as a failure"
        ));
    }

    // Only a definite answer is a validation result; an error leaves the last one standing.
    if let Ok(v) = &answer {
        let mut loaded = state::load(root, owners, at);
        if let Some(p) = loaded.problem {
            warnings.push(p);
        }
        loaded.state.last_validated_at = Some(at);
        loaded.state.last_validation = Some(match v {
            Validation::Valid => ValidationResult::Valid,
            Validation::Invalid => ValidationResult::Invalid,
        });
        if let Err(e) = state::save(root, owners, &loaded.state) {
            warnings.push(format!(
                "the state could not be saved ({e}); the status will not show this validation"
            ));
        }
    }
    for w in &warnings {
        tracing::error!(event = "validation_record_failed", error = %w);
    }
    tracing::info!(event = "validation_finished", result, console_user = %console_user);

    let failures = failures + u32::from(!matches!(answer, Ok(Validation::Valid)));
    match answer {
        Ok(validation) => Outcome::Answered {
            validation,
            at,
            failures,
            warnings,
        },
        Err(e) => Outcome::NoAnswer {
            error: e.to_string(),
            failures,
            warnings,
        },
    }
}

/// The fixed `Result` of a `Validated` event without an answer.
fn error_code(e: &ValidateError) -> &'static str {
    match e {
        ValidateError::Run(_) => "RunFailed",
        ValidateError::Tool(SecretToolError::NotARecoveryKey) => "NotARecoveryKey",
        ValidateError::Tool(SecretToolError::Unrecognised(_)) => "Unrecognised",
        ValidateError::Tool(SecretToolError::Killed(_)) => "Killed",
        ValidateError::Tool(SecretToolError::AuthenticationFailed) => "AuthenticationFailed",
        ValidateError::Tool(SecretToolError::UnableToChangeKey) => "UnableToChangeKey",
    }
}

/// The console user's name for the audit trail: the account with that uid in the last status
/// (`SecureToken.Users`), read only from a trusted file; else `uid N`. The uid is matched rather
/// than `SecureToken.ConsoleUser` taken as is, because the status may be from before the
/// current login, and an audit line must not name the wrong person. No tool is run for it.
fn console_name(root: &Root, owners: Owners, uid: u32) -> String {
    let path = root.resolve(paths::STATUS);
    files::read_file(&path, MAX_STATUS_BYTES, Trust::Owned(owners))
        .ok()
        .flatten()
        .and_then(|bytes| crate::plistio::value_from_bytes(&bytes).ok())
        .and_then(|status| {
            let users = status
                .as_dictionary()?
                .get("SecureToken")?
                .as_dictionary()?
                .get("Users")?
                .as_array()?;
            users.iter().find_map(|u| {
                let u = u.as_dictionary()?;
                let matches = u.get("UID")?.as_signed_integer()? == i64::from(uid);
                let name = u.get("Name")?.as_string()?;
                (matches && audit::is_account_name(name)).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// Read the key: everything up to end of input (or, from a terminal, the first line), into wiped
/// memory of a fixed size (so no reallocation leaves a copy behind), without one trailing newline.
/// `RecoveryKey::parse` trims the rest. Read unbuffered: std's stdin buffer is never wiped.
fn read_secret(r: &mut impl Read, one_line: bool) -> Result<Secret, String> {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; MAX_INPUT]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            return Err(format!(
                "the input is longer than {MAX_INPUT} bytes, far more than a recovery key"
            ));
        }
        match r.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if one_line && buf[..len].contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut end = len;
    if one_line {
        if let Some(p) = buf[..len].iter().position(|&b| b == b'\n') {
            end = p + 1;
        }
    }
    if buf[..end].ends_with(b"\n") {
        end -= 1;
        if buf[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    let mut key = Vec::with_capacity(end);
    key.extend_from_slice(&buf[..end]);
    Ok(Secret::new(key))
}

/// The key from stdin: from a terminal with a prompt on stderr and echo off (restored
/// afterwards, on error, and on SIGINT/SIGTERM/SIGHUP/SIGQUIT), or piped. The error is an I/O
/// message, never input. (Also for `rotate --current-key`.)
pub fn read_key_from_stdin() -> Result<Secret, String> {
    let stdin = io::stdin();
    let tty = stdin.is_terminal();
    // A duplicate of fd 0 as an unbuffered File: no std buffer holds a copy of the key.
    let fd = stdin
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| e.to_string())?;
    let mut input = File::from(fd);
    if !tty {
        return read_secret(&mut input, false);
    }
    let mut err = io::stderr().lock();
    let _ = write!(err, "Recovery key (typing is not shown): ");
    let _ = err.flush();
    drop(err);
    let quiet = crate::sys::terminal::Off::new();
    if quiet.is_none() {
        errln!("keywarden: warning: could not turn off echo on this terminal");
    }
    let key = read_secret(&mut input, true);
    drop(quiet);
    key
}

/// `keywarden validate`: exit 0 valid, 1 invalid, 2 refused or no answer, with one line saying
/// which (stdout for an answer, stderr otherwise).
pub fn main(root: &Root, owners: Owners) -> i32 {
    crate::cli::disable_core_dumps();
    let cfg = config::load(root, owners);
    let log = logging::init(logging::Mode::Check, root, cfg.config.log_level);
    let parsed = read_key_from_stdin()
        .map_err(Refusal::Input)
        .and_then(|input| RecoveryKey::parse(input).map_err(Refusal::Malformed));
    let key = match parsed {
        Ok(k) => k,
        Err(why) => {
            record_refusal(root, owners, SystemClock.now(), None, &why);
            errln!("keywarden: refused: {why}");
            return 2;
        }
    };
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("keywarden: {e}");
            return 2;
        }
    };
    let runner = ProcessRunner::new(root.clone(), cfg.config.tool_timeout);
    let inputs = Inputs {
        runner: &runner,
        clock: &SystemClock,
        root,
        owners,
        config: &cfg.config,
        lock_wait: lock::CHECK_LOCK_WAIT,
    };
    let outcome = rt.block_on(validate(&inputs, &key));
    // Wiped here: nothing after this needs the key.
    drop(key);
    let code = outcome.exit_code();
    let cap = cfg.config.validation_failure_cap;
    let warnings = match &outcome {
        Outcome::Refused(why) => {
            errln!("keywarden: refused: {why}");
            return code;
        }
        Outcome::Answered {
            validation: Validation::Valid,
            at,
            warnings,
            ..
        } => {
            outln!("valid: the recovery key unlocks this Mac (validated at {at}; the key itself is not kept)");
            warnings
        }
        Outcome::Answered {
            validation: Validation::Invalid,
            failures,
            warnings,
            ..
        } => {
            outln!("invalid: the recovery key does not unlock this Mac; it is remembered as failed and never tried again ({failures} of ValidationFailureCap {cap} failures used)");
            warnings
        }
        Outcome::NoAnswer {
            error,
            failures,
            warnings,
        } => {
            errln!("keywarden: no answer: {error}; the attempt counts as a failure, since it may have spent one of the Secure Enclave's attempts, and is not retried ({failures} of ValidationFailureCap {cap} failures used)");
            warnings
        }
    };
    for w in warnings {
        errln!("keywarden: warning: {w}");
    }
    if matches!(outcome, Outcome::Answered { .. }) {
        // Publish the result (RecoveryKey.LastValidatedAt / LastValidation) now rather than at
        // the daemon's next check.
        let env = Env {
            runner: &runner,
            clock: &SystemClock,
            root,
            owners,
            lock_wait: lock::CHECK_LOCK_WAIT,
            next_check_at: None,
            log_problem: log.file_error(),
        };
        if let Err(e) = rt.block_on(check::run(&env, &cfg)) {
            errln!("keywarden: warning: the status was not refreshed ({e}); it shows this validation after the next check");
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Output;
    use crate::tools::fake::{FakeFailure, FakeRunner};
    use std::cell::Cell;
    use std::io::Cursor;

    const VALID: &str = "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ";
    const WRONG: &str = "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF";
    const WRONG2: &str = "ZZZZ-YYYY-XXXX-WWWW-VVVV-UUUU";

    struct Clk(Cell<Timestamp>);
    impl Clock for Clk {
        fn now(&self) -> Timestamp {
            self.0.get()
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn key(s: &str) -> RecoveryKey {
        RecoveryKey::parse(Secret::new(s.as_bytes().to_vec())).unwrap()
    }

    /// A Mac with a console user (the test's own uid; as root, uid 501).
    fn mac() -> (tempfile::TempDir, Root) {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(d.path());
        let console = root.resolve(paths::CONSOLE);
        std::fs::create_dir_all(console.parent().unwrap()).unwrap();
        std::fs::write(&console, b"").unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&console, Some(501), None).unwrap();
        }
        (d, root)
    }

    fn fake(answer: Result<Output, FakeFailure>) -> FakeRunner {
        let mut f = FakeRunner::new();
        match answer {
            Ok(out) => f.answer(&fdesetup::validaterecovery_call(), out),
            Err(fail) => f.fail(&fdesetup::validaterecovery_call(), fail),
        };
        f
    }

    fn run(root: &Root, runner: &FakeRunner, cfg: &Config, clock: &Clk, k: &str) -> Outcome {
        let inputs = Inputs {
            runner,
            clock,
            root,
            owners: Owners::current(),
            config: cfg,
            lock_wait: Duration::ZERO,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(validate(&inputs, &key(k)))
    }

    fn calls(r: &FakeRunner) -> usize {
        r.called(&fdesetup::validaterecovery_call())
    }

    fn events(root: &Root) -> Vec<(What, String)> {
        audit::read(root, Owners::current())
            .unwrap()
            .into_iter()
            .map(|e| (e.what, e.result))
            .collect()
    }

    /// No file under the root holds any form of the keys.
    fn assert_no_key_on_disk(root: &Root) {
        let mut stack = vec![root.dir().to_owned()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).to_uppercase();
                for k in [VALID, WRONG, WRONG2] {
                    assert!(!text.contains(&k[..9]), "{} holds a key", p.display());
                    assert!(
                        !text.contains(&k.replace('-', "")[..8]),
                        "{} holds a key",
                        p.display()
                    );
                }
            }
        }
    }

    #[test]
    fn a_valid_key_is_tried_once_and_its_result_recorded_without_the_key() {
        let (_d, root) = mac();
        let r = fake(Ok(Output::new(0, "true\n", "")));
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let out = run(&root, &r, &Config::default(), &clock, VALID);
        assert_eq!(out.exit_code(), 0, "{out:?}");
        assert_eq!(calls(&r), 1);
        assert_eq!(
            events(&root),
            [
                (What::ValidationStarted, "Started".to_owned()),
                (What::Validated, "Valid".to_owned())
            ]
        );
        let st = state::load(&root, Owners::current(), clock.now()).state;
        assert_eq!(st.last_validation, Some(ValidationResult::Valid));
        assert_eq!(st.last_validated_at, Some(t("2026-11-22T10:00:00Z")));
        assert!(!format!("{out:?}").contains("ABCD"));
        assert_no_key_on_disk(&root);
    }

    #[test]
    fn an_invalid_key_is_remembered_and_never_tried_again() {
        let (_d, root) = mac();
        let r = fake(Ok(Output::new(1, "false\n", "")));
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let out = run(&root, &r, &Config::default(), &clock, WRONG);
        assert_eq!(out.exit_code(), 1, "{out:?}");
        assert!(
            matches!(out, Outcome::Answered { failures: 1, .. }),
            "{out:?}"
        );
        // Typed differently, still the same key.
        let again = run(&root, &r, &Config::default(), &clock, &WRONG.to_lowercase());
        assert_eq!(again.exit_code(), 2);
        assert!(
            matches!(again, Outcome::Refused(Refusal::FailedBefore)),
            "{again:?}"
        );
        assert_eq!(calls(&r), 1, "the failed key was not tried again");
        let st = state::load(&root, Owners::current(), clock.now()).state;
        assert_eq!(st.last_validation, Some(ValidationResult::Invalid));
        assert_eq!(
            events(&root).last().unwrap(),
            &(What::ValidationRefused, "KeyFailedBefore".to_owned())
        );
        assert_no_key_on_disk(&root);
    }

    #[test]
    fn nobody_at_the_console_refuses_without_running_fdesetup() {
        let (_d, root) = mac();
        std::fs::remove_file(root.resolve(paths::CONSOLE)).unwrap();
        // No answer configured: a call would panic.
        let r = FakeRunner::new();
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let out = run(&root, &r, &Config::default(), &clock, VALID);
        let Outcome::Refused(why) = &out else {
            panic!("{out:?}")
        };
        assert_eq!(why, &Refusal::NoConsoleUser);
        assert!(why
            .to_string()
            .starts_with("no user is logged in at the console"));
        assert_eq!(
            events(&root),
            [(What::ValidationRefused, "NoConsoleUser".to_owned())]
        );
    }

    #[test]
    fn the_daily_cap_refuses_and_says_when_it_frees_up() {
        let (_d, root) = mac();
        let r = fake(Ok(Output::new(0, "true\n", "")));
        let cfg = Config {
            validation_daily_cap: 2,
            ..Config::default()
        };
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        assert_eq!(run(&root, &r, &cfg, &clock, VALID).exit_code(), 0);
        clock.0.set(t("2026-11-22T11:00:00Z"));
        assert_eq!(run(&root, &r, &cfg, &clock, VALID).exit_code(), 0);
        clock.0.set(t("2026-11-23T09:59:59Z"));
        let out = run(&root, &r, &cfg, &clock, VALID);
        let Outcome::Refused(why) = &out else {
            panic!("{out:?}")
        };
        assert_eq!(
            why.to_string(),
            "ValidationDailyCap (2) reached: 2 validations in the last 24 hours; the next one is allowed from 2026-11-23T10:00:00Z (UTC)"
        );
        assert_eq!(calls(&r), 2);
        clock.0.set(t("2026-11-23T10:00:00Z"));
        assert_eq!(run(&root, &r, &cfg, &clock, VALID).exit_code(), 0);
        assert_eq!(calls(&r), 3);
    }

    #[test]
    fn the_failure_cap_counts_failures_from_the_trail_and_the_store() {
        let (_d, root) = mac();
        let cfg = Config {
            validation_failure_cap: 1,
            ..Config::default()
        };
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let r = fake(Ok(Output::new(1, "false\n", "")));
        assert_eq!(run(&root, &r, &cfg, &clock, WRONG).exit_code(), 1);
        let out = run(&root, &r, &cfg, &clock, WRONG2);
        assert!(
            matches!(
                out,
                Outcome::Refused(Refusal::FailureCap {
                    cap: 1,
                    failures: 1
                })
            ),
            "{out:?}"
        );
        assert!(out_text(&out).contains("ValidationFailureCap (1) reached"));
        // A lost audit trail does not reset the count: the store still proves one failure.
        std::fs::remove_file(root.resolve(paths::AUDIT)).unwrap();
        let out = run(&root, &r, &cfg, &clock, WRONG2);
        assert!(
            matches!(out, Outcome::Refused(Refusal::FailureCap { .. })),
            "{out:?}"
        );
        assert_eq!(calls(&r), 1);
    }

    fn out_text(o: &Outcome) -> String {
        match o {
            Outcome::Refused(why) => why.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_crash_after_validation_started_counts_as_a_failure() {
        let (_d, root) = mac();
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        audit::append(
            &root,
            Owners::current(),
            &Event::new(
                t("2026-11-20T10:00:00Z"),
                What::ValidationStarted,
                "Started",
            ),
        )
        .unwrap();
        let cfg = Config {
            validation_failure_cap: 1,
            ..Config::default()
        };
        let out = run(&root, &FakeRunner::new(), &cfg, &clock, VALID);
        assert!(
            matches!(
                out,
                Outcome::Refused(Refusal::FailureCap { failures: 1, .. })
            ),
            "{out:?}"
        );
    }

    #[test]
    fn no_answer_from_fdesetup_is_exit_2_a_failure_and_not_retried() {
        let (_d, root) = mac();
        let r = fake(Err(FakeFailure::TimedOut));
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let out = run(&root, &r, &Config::default(), &clock, VALID);
        assert_eq!(out.exit_code(), 2);
        assert!(
            matches!(out, Outcome::NoAnswer { failures: 1, .. }),
            "{out:?}"
        );
        assert_eq!(calls(&r), 1);
        assert_eq!(
            events(&root),
            [
                (What::ValidationStarted, "Started".to_owned()),
                (What::Validated, "RunFailed".to_owned())
            ]
        );
        let counts =
            audit::validation_counts(&audit::read(&root, Owners::current()).unwrap(), clock.now());
        assert_eq!(counts.failures_ever, 1);
        let st = state::load(&root, Owners::current(), clock.now()).state;
        assert_eq!(
            st.last_validation, None,
            "an error is not a validation result"
        );
        // Not remembered as a failed key: only a definite answer says the key is wrong.
        let store = FailedKeys::load(&root, Owners::current()).unwrap().unwrap();
        assert!(store.is_empty());
    }

    #[test]
    fn a_corrupt_failed_key_store_refuses_before_anything_is_tried() {
        let (_d, root) = mac();
        files::ensure_dir(
            &root.resolve(paths::STATE_DIR),
            0o700,
            true,
            Owners::current(),
        )
        .unwrap();
        std::fs::write(root.resolve(paths::FAILED_KEYS), b"not a plist").unwrap();
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let out = run(&root, &FakeRunner::new(), &Config::default(), &clock, VALID);
        let Outcome::Refused(why) = &out else {
            panic!("{out:?}")
        };
        assert_eq!(why.code(), "FailedKeyStoreUnusable");
        assert!(why.to_string().contains("failed-keys.plist"), "{why}");
    }

    #[test]
    fn an_unreadable_audit_trail_refuses() {
        let (d, root) = mac();
        files::ensure_dir(
            &root.resolve(paths::STATE_DIR),
            0o700,
            true,
            Owners::current(),
        )
        .unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), root.resolve(paths::AUDIT)).unwrap();
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let out = run(&root, &FakeRunner::new(), &Config::default(), &clock, VALID);
        let Outcome::Refused(why) = &out else {
            panic!("{out:?}")
        };
        assert_eq!(why.code(), "AuditUnreadable");
        assert!(why.to_string().contains("symbolic link"), "{why}");
    }

    #[test]
    fn the_console_user_is_named_from_the_status_by_uid() {
        use std::os::unix::fs::MetadataExt;
        let (_d, root) = mac();
        let uid = std::fs::metadata(root.resolve(paths::CONSOLE))
            .unwrap()
            .uid();
        assert_eq!(
            console_name(&root, Owners::current(), uid),
            format!("uid {uid}")
        );
        let status = format!(
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>SecureToken</key><dict><key>ConsoleUser</key><string>bob</string><key>Users</key><array><dict><key>Name</key><string>alice</string><key>UID</key><integer>{uid}</integer></dict></array></dict></dict></plist>"
        );
        let path = root.resolve(paths::STATUS);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, status).unwrap();
        assert_eq!(console_name(&root, Owners::current(), uid), "alice");
        assert_eq!(
            console_name(&root, Owners::current(), uid + 1),
            format!("uid {}", uid + 1)
        );
    }

    #[test]
    fn the_key_is_read_whole_without_one_trailing_newline() {
        let read = |input: &[u8], one_line| {
            read_secret(&mut Cursor::new(input.to_vec()), one_line)
                .map(|s| s.expose_secret().to_vec())
        };
        assert_eq!(read(b"KEY\n", false).unwrap(), b"KEY");
        assert_eq!(read(b"KEY\r\n", false).unwrap(), b"KEY");
        assert_eq!(read(b"KEY", false).unwrap(), b"KEY");
        assert_eq!(read(b"KEY\n\n", false).unwrap(), b"KEY\n");
        assert_eq!(read(b"KEY\nMORE\n", true).unwrap(), b"KEY");
        assert_eq!(read(b"", false).unwrap(), b"");
        let err = read(&vec![b'A'; MAX_INPUT + 1], false).unwrap_err();
        assert!(err.contains("longer than 4096 bytes"), "{err}");
    }

    #[test]
    fn refusal_messages_name_the_cap_and_its_value() {
        let daily = Refusal::DailyCap {
            cap: 3,
            count: 3,
            frees_at: Some(t("2026-11-23T09:00:00Z")),
        };
        assert!(daily.to_string().contains("ValidationDailyCap (3)"));
        assert!(daily.to_string().contains("2026-11-23T09:00:00Z"));
        let off = Refusal::DailyCap {
            cap: 0,
            count: 0,
            frees_at: None,
        };
        assert!(off.to_string().contains("turned off"));
        let failures = Refusal::FailureCap {
            cap: 10,
            failures: 10,
        };
        assert!(failures
            .to_string()
            .contains("ValidationFailureCap (10) reached: 10"));
    }
}
