//! One attempt with a supplied key, made the same way by `validate` and `rotate --current-key`:
//! both authenticate with the key, and each attempt may spend one of the Secure Enclave's
//! attempts, which are limited for the life of the volume (PLATFORM.md).
//!
//! Under the writer lock (held by the caller, so attempts are serialised with the daemon and with
//! each other and the caps cannot be raced): the caps are counted from the audit trail and the
//! failed-key store (`guards::attempts`), a key that failed before is refused
//! (`guards::not_failed_before`), and the attempt is recorded *before* `fdesetup` runs, so a crash
//! cannot refund it. Afterwards a key `fdesetup` refused is remembered as failed and the answer is
//! recorded. Every refusal is recorded too (`refuse`), naming the rule that refused.
//!
//! The key lives only in wiped memory (`RecoveryKey`): it is never logged, stored or shown; the
//! store keeps a keyed hash.

use jiff::Timestamp;

use crate::audit::{self, Answer, Event, What};
use crate::config::Config;
use crate::failed_keys::FailedKeys;
use crate::files::Owners;
use crate::guards::{self, Refusal};
use crate::paths::Root;
use crate::secret::{RecoveryKey, Secret};

/// How an attempt is named in the audit trail.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    pub started: What,
    pub answered: What,
    pub refused: What,
    /// The log events of a refusal and of a record that could not be written.
    pub refused_event: &'static str,
    pub record_failed_event: &'static str,
}

/// `keywarden validate`.
pub(crate) const VALIDATE: Kind = Kind {
    started: What::ValidationStarted,
    answered: What::Validated,
    refused: What::ValidationRefused,
    refused_event: "validation_refused",
    record_failed_event: "validation_record_failed",
};

/// `keywarden rotate --current-key`.
pub(crate) const ROTATE: Kind = Kind {
    started: What::RotateWithKeyStarted,
    answered: What::RotatedWithKey,
    refused: What::RotateWithKeyRefused,
    refused_event: "rotate_with_key_refused",
    record_failed_event: "rotate_with_key_record_failed",
};

/// Record a refusal in the audit trail (best effort: the refusal stands whether or not it could
/// be recorded) and hand it back.
pub(crate) fn refuse(
    root: &Root,
    owners: Owners,
    now: Timestamp,
    console: Option<&str>,
    kind: Kind,
    why: Refusal,
) -> Refusal {
    tracing::info!(event = kind.refused_event, reason = why.code());
    // When the trail itself is the problem, appending would only fail the same way.
    if why.recordable() {
        let e = Event::new(now, kind.refused, why.code())
            .console(console)
            .detail(why.to_string());
        if let Err(err) = audit::append(root, owners, &e) {
            tracing::error!(event = kind.record_failed_event, error = %err);
        }
    }
    why
}

/// The key as read from stdin, checked for the shape of a recovery key; or the refusal,
/// recorded.
pub(crate) fn key_from(
    root: &Root,
    owners: Owners,
    now: Timestamp,
    input: Result<Secret, String>,
    kind: Kind,
) -> Result<RecoveryKey, Refusal> {
    input
        .map_err(Refusal::Input)
        .and_then(|s| RecoveryKey::parse(s).map_err(Refusal::Malformed))
        .map_err(|why| refuse(root, owners, now, None, kind, why))
}

/// An attempt that is on record and about to be made.
#[derive(Debug)]
pub(crate) struct Attempt {
    kind: Kind,
    console: Option<String>,
    store: FailedKeys,
    /// Failed attempts before this one.
    pub failures: u32,
}

/// Check the caps and the failed-key store, then record that the attempt starts. Refusals are
/// recorded (`refuse`).
pub(crate) fn begin(
    root: &Root,
    owners: Owners,
    config: &Config,
    now: Timestamp,
    console: Option<String>,
    key: &RecoveryKey,
    kind: Kind,
) -> Result<Attempt, Refusal> {
    let shown = console.as_deref();
    let refuse = |why| refuse(root, owners, now, shown, kind, why);
    let trail = audit::read_all(root, owners)
        .map_err(|e| refuse(Refusal::AuditUnreadable(e.to_string())))?;
    for s in &trail.skipped {
        tracing::warn!(event = "audit_line_skipped", line = s.line, why = %s.why);
    }
    let counts = audit::validation_counts(&trail.events, now);
    let store =
        FailedKeys::load(root, owners).map_err(|e| refuse(Refusal::Store(e.to_string())))?;
    let failures = guards::attempts(&counts, store.as_ref().map_or(0, FailedKeys::len), config)
        .map_err(&refuse)?;
    // Made (and saved) before the attempt: a store that cannot be written is found out before a
    // key is tried, not after it failed.
    let store = match store {
        Some(s) => s,
        None => {
            FailedKeys::create(root, owners).map_err(|e| refuse(Refusal::Store(e.to_string())))?
        }
    };
    guards::not_failed_before(store.contains(key)).map_err(&refuse)?;
    let started = Event::new(now, kind.started, "Started").console(shown);
    audit::append(root, owners, &started)
        .map_err(|e| refuse(Refusal::NotRecorded(e.to_string())))?;
    Ok(Attempt {
        kind,
        console,
        store,
        failures,
    })
}

/// What an attempt came to, as it is recorded.
#[derive(Debug)]
pub(crate) struct Record {
    pub at: Timestamp,
    /// fdesetup answered that this key is wrong: it is remembered as failed.
    pub key_refused: bool,
    /// The event, when it is not the kind's answer event (`KeyVanished`).
    pub what: Option<What>,
    pub answer: Answer,
    pub detail: Option<String>,
}

impl Attempt {
    /// Record what the attempt came to: a key `fdesetup` refused is remembered as failed, and the
    /// answer is appended to the audit trail. Returns what could not be recorded; the answer
    /// stands either way.
    pub(crate) fn finish(
        mut self,
        root: &Root,
        owners: Owners,
        key: &RecoveryKey,
        r: Record,
    ) -> Vec<String> {
        let Record {
            at,
            key_refused,
            what,
            answer,
            detail,
        } = r;
        let mut warnings = Vec::new();
        if key_refused {
            self.store.add(key);
            if let Err(e) = self.store.save(root, owners) {
                warnings.push(format!(
                    "this key could not be remembered as failed ({e}); it still counts against ValidationFailureCap"
                ));
            }
        }
        let mut event = Event::new(at, what.unwrap_or(self.kind.answered), answer.result())
            .console(self.console.as_deref());
        if let Some(d) = detail {
            event = event.detail(d);
        }
        if let Err(e) = audit::append(root, owners, &event) {
            warnings.push(format!(
                "the answer could not be recorded in the audit trail ({e}); the attempt counts there as a failure"
            ));
        }
        warnings
    }
}
