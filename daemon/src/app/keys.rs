//! The commands that take a recovery key or ask for a new one: `validate` and `rotate`. They read
//! the key from stdin (typed without echo on a terminal, or piped) into wiped memory, hand it to
//! the flow (`validate`, `rotate`), print what came of it, and refresh the status with one check.

use std::fs::File;
use std::io::{self, IsTerminal as _, Read, Write as _};
use std::os::fd::AsFd as _;
use std::path::PathBuf;

use crate::check;
use crate::clock::{Clock as _, SystemClock};
use crate::logging;
use crate::rotate::{self, Rotated};
use crate::secret::Secret;
use crate::status::RotationStateName;
use crate::sys::terminal;
use crate::tools::fdesetup::Validation;
use crate::validate::{self, Outcome};

use super::session::{Needs, Session};
use super::Ended;

/// More than any key typed or pasted with some whitespace; input beyond it is refused unread.
const MAX_INPUT: usize = 4096;

fn start(root: Option<PathBuf>, command: &'static str) -> Result<Session, Ended> {
    Session::start(
        root,
        Needs {
            command,
            root: true,
            logging: logging::Mode::Check,
        },
    )
    .map_err(Ended::failed)
}

/// `keywarden validate`: exit 0 valid, 1 invalid, 2 refused or no answer, with one line saying
/// which (stdout for an answer, stderr otherwise).
pub(super) fn validate(root: Option<PathBuf>) -> Ended {
    let session = match start(root, "validate") {
        Ok(s) => s,
        Err(e) => return e,
    };
    let runner = session.runner();
    let cfg = &session.config.config;
    let now = SystemClock.now();
    let key = match crate::attempt::key_from(
        &session.root,
        session.owners,
        now,
        read_key_from_stdin(),
        crate::attempt::VALIDATE,
    ) {
        Ok(k) => k,
        Err(why) => return Ended::refused(why),
    };
    let env = session.env(&runner);
    let outcome = session
        .runtime
        .block_on(validate::validate(&env, cfg, &key));
    // Wiped here: nothing after this needs the key.
    drop(key);
    let cap = cfg.validation_failure_cap;
    let (ended, warnings) = match outcome {
        Outcome::Refused(why) => return Ended::refused(why),
        Outcome::Answered {
            validation: Validation::Valid,
            at,
            warnings,
            ..
        } => {
            outln!("valid: the recovery key unlocks this Mac (validated at {at}; the key itself is not kept)");
            (Ended::Done, warnings)
        }
        Outcome::Answered {
            validation: Validation::Invalid,
            failures,
            warnings,
            ..
        } => {
            outln!("invalid: the recovery key does not unlock this Mac; it is remembered as failed and never tried again ({failures} of ValidationFailureCap {cap} failures used)");
            (Ended::Attention, warnings)
        }
        Outcome::NoAnswer {
            error,
            failures,
            warnings,
        } => {
            let mut lines = vec![format!("no answer: {error}; the attempt counts as a failure, since it may have spent one of the Secure Enclave's attempts, and is not retried ({failures} of ValidationFailureCap {cap} failures used)")];
            lines.extend(warnings.iter().map(|w| format!("warning: {w}")));
            return Ended::Failed(lines);
        }
    };
    for w in warnings {
        errln!("keywarden: warning: {w}");
    }
    // Publish the result (RecoveryKey.LastValidatedAt / LastValidation) now rather than at the
    // daemon's next check.
    if let Err(e) = session
        .runtime
        .block_on(check::publish(&env, &session.config))
    {
        errln!("keywarden: warning: the status was not refreshed ({e}); it shows this validation after the next check");
    }
    ended
}

/// `keywarden rotate --request | --current-key | --replaced`.
pub(super) fn rotate(
    root: Option<PathBuf>,
    request: bool,
    current_key: bool,
    replaced: bool,
) -> Ended {
    let session = match start(root, "rotate") {
        Ok(s) => s,
        Err(e) => return e,
    };
    let runner = session.runner();
    let env = session.env(&runner);
    if request {
        return match session
            .runtime
            .block_on(rotate::request(&env, &session.config))
        {
            Ok(outcome) => {
                let r = &outcome.status.rotation;
                match r.state {
                    RotationStateName::Requested => {
                        outln!(
                            "Rotation requested via {} ({}).{}",
                            r.method.map_or("?", |m| m.as_str()),
                            r.reason.map_or("?", |r| r.as_str()),
                            match r.method {
                                Some(crate::config::RotationMethod::EscrowBuddy) =>
                                    " Escrow Buddy makes the new key at the user's next login.",
                                Some(crate::config::RotationMethod::Mdm) =>
                                    " Your MDM acts on Rotation.State = Requested.",
                                Some(crate::config::RotationMethod::Command) | None => "",
                            }
                        );
                        Ended::Done
                    }
                    RotationStateName::Pending => {
                        outln!(
                            "Rotation recorded but not requested yet: {}",
                            r.waiting.as_deref().unwrap_or("see keywarden doctor")
                        );
                        Ended::Attention
                    }
                    other => {
                        outln!("Rotation is {other:?}.");
                        Ended::Done
                    }
                }
            }
            Err(e) => Ended::failed(e),
        };
    }
    if replaced {
        return match session
            .runtime
            .block_on(rotate::replaced(&env, &session.config))
        {
            Ok(outcome) => {
                outln!(
                    "Recorded: the key was replaced outside Keywarden (audit trail: KeyReplacedStated). Recovery key: {:?}.",
                    outcome.status.recovery_key.state
                );
                Ended::Done
            }
            Err(e) => Ended::failed(e),
        };
    }
    if !current_key {
        return Ended::failed("say --request, --current-key or --replaced");
    }
    let input = read_key_from_stdin();
    let rotated = session
        .runtime
        .block_on(rotate::with_current_key(&env, &session.config, input));
    let ended = match rotated {
        Err(why) => return Ended::refused(why),
        Ok(Rotated::Staged) => {
            outln!("Rotated: {}.", Rotated::Staged.message());
            Ended::Done
        }
        Ok(r @ (Rotated::NotStaged | Rotated::Failed { .. })) => {
            errln!("keywarden: {}", r.message());
            Ended::Attention
        }
        Ok(Rotated::KeyVanished) => Ended::Failed(vec![Rotated::KeyVanished.message()]),
    };
    if let Err(e) = session
        .runtime
        .block_on(check::publish(&env, &session.config))
    {
        errln!("keywarden: the status was not refreshed: {e}");
    }
    ended
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
fn read_key_from_stdin() -> Result<Secret, String> {
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
    let quiet = terminal::Off::new();
    if quiet.is_none() {
        errln!("keywarden: warning: could not turn off echo on this terminal");
    }
    let key = read_secret(&mut input, true);
    drop(quiet);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

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
}
