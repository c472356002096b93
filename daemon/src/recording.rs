//! A runner that keeps a copy of every public call it passes on: the argv, the whole output (or
//! why the call could not run) and how long it took. `keywarden selftest` runs `observe` through
//! it, so the probes it reports are exactly the ones a check runs, listed once, in `observe`
//! (issue 15: the list of argv must not be written twice).
//!
//! It refuses every secret call without starting anything: a selftest must never run
//! `fdesetup validaterecovery` or `changerecovery`, whatever a caller above asks (`observe`
//! never asks; this makes the rule hold by construction). It decides nothing about the outputs;
//! whether Keywarden recognised one is `selftest`'s question.

use std::cell::RefCell;
use std::io;
use std::time::{Duration, Instant};

use crate::runner::{Call, Output, RunError, Runner, SecretOutput};
use crate::secret::Secret;

/// One call as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The full argv, program path first (`Call::argv`).
    pub argv: Vec<String>,
    /// Which of `argv` is a user's short name (`Call::user_arg`, counted from the program).
    pub user_arg: Option<usize>,
    /// `fdesetup status`: how errors name the call (`Call::display`), to match a probe's error.
    pub display: String,
    /// The output, or why there is none (the runner's error, in words).
    pub outcome: Result<Output, NotRun>,
    pub duration: Duration,
}

/// Why a call gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    pub message: String,
    pub timed_out: bool,
}

/// Passes public calls to `inner` and records them; refuses secret calls.
pub struct Recording<'a, R> {
    inner: &'a R,
    calls: RefCell<Vec<Recorded>>,
}

impl<'a, R: Runner> Recording<'a, R> {
    pub fn new(inner: &'a R) -> Recording<'a, R> {
        Recording {
            inner,
            calls: RefCell::new(Vec::new()),
        }
    }

    /// Every call, in the order they finished.
    pub fn into_calls(self) -> Vec<Recorded> {
        self.calls.into_inner()
    }
}

impl<R: Runner> Runner for Recording<'_, R> {
    async fn run(&self, call: &Call) -> Result<Output, RunError> {
        let started = Instant::now();
        let result = self.inner.run(call).await;
        let outcome = match &result {
            Ok(out) => Ok(out.clone()),
            Err(e) => Err(NotRun {
                message: e.to_string(),
                timed_out: matches!(e, RunError::TimedOut { .. }),
            }),
        };
        // No borrow is held across an await: concurrent probes on one thread never collide.
        self.calls.borrow_mut().push(Recorded {
            argv: call.argv(),
            user_arg: call.user_arg.map(|i| i + 1),
            display: call.display(),
            outcome,
            duration: started.elapsed(),
        });
        result
    }

    async fn run_secret(&self, call: &Call, _stdin: &Secret) -> Result<SecretOutput, RunError> {
        Err(RunError::Spawn {
            path: call.program.clone(),
            source: io::Error::other("a recording runner never runs a call that carries a secret"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Tool;
    use crate::tools::fake::FakeRunner;

    #[tokio::test]
    async fn every_public_call_is_kept_with_its_output() {
        let call = Call::tool(Tool::SwVers, &["-productVersion"]);
        let mut fake = FakeRunner::new();
        fake.answer(&call, Output::new(0, "15.1\n", ""));
        let rec = Recording::new(&fake);
        let out = rec.run(&call).await.unwrap();
        assert_eq!(out.stdout, b"15.1\n");
        let calls = rec.into_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].argv, vec!["/usr/bin/sw_vers", "-productVersion"]);
        assert_eq!(calls[0].display, "sw_vers -productVersion");
        assert_eq!(calls[0].outcome, Ok(Output::new(0, "15.1\n", "")));
    }

    #[tokio::test]
    async fn a_secret_call_is_refused_without_reaching_the_runner() {
        // The fake panics on any call it was not told about: reaching it would fail the test.
        let fake = FakeRunner::new();
        let rec = Recording::new(&fake);
        let call = crate::tools::fdesetup::changerecovery_call();
        let r = rec.run_secret(&call, &Secret::new(b"x".to_vec())).await;
        assert!(r.is_err());
        assert_eq!(fake.calls.borrow().len(), 0);
        assert!(rec.into_calls().is_empty());
    }
}
