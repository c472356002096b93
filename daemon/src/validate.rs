//! `keywarden validate`: does a recovery key unlock this Mac? Exactly one `fdesetup
//! validaterecovery`, the key given to `fdesetup` only as its stdin plist.
//!
//! Valid keys have failed validation with nobody logged in (PLATFORM.md), so someone must be at
//! the console (`guards::console_present`); the caps, the failed-key store and the audit records
//! are those of every attempt with a key (`attempt`). A definite answer is kept as the state's
//! validation record (`RecoveryKey.LastValidatedAt`, `LastValidation`); an error leaves the last
//! one standing.
//!
//! The key lives only in wiped memory (`RecoveryKey`): it is never logged, stored, shown or put in
//! an error. This module does not parse `fdesetup`'s output (`tools::fdesetup`) and prints nothing
//! (`app`).

use jiff::Timestamp;

use crate::attempt::{self, Record};
use crate::audit::Answer;
use crate::check::Env;
use crate::clock::Clock;
use crate::config::Config;
use crate::files::{self, Owners, Trust};
use crate::guards::{self, Refusal};
use crate::lock;
use crate::observe;
use crate::paths::{self, Root};
use crate::runner::Runner;
use crate::secret::RecoveryKey;
use crate::state;
use crate::status::ValidationResult;
use crate::tools::fdesetup::{self, Validation};

/// Bound on the status plist read to name the console user.
const MAX_STATUS_BYTES: u64 = 4 * 1024 * 1024;

/// How one `keywarden validate` ended.
#[derive(Debug)]
pub(crate) enum Outcome {
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

/// Validate `key` on the Mac under `env.root`: at most one `validaterecovery`.
pub(crate) async fn validate<R: Runner, C: Clock>(
    env: &Env<'_, R, C>,
    config: &Config,
    key: &RecoveryKey,
) -> Outcome {
    let (root, owners) = (env.root, env.owners);
    let refused = |why| {
        let now = env.clock.now();
        Outcome::Refused(attempt::refuse(
            root,
            owners,
            now,
            None,
            attempt::VALIDATE,
            why,
        ))
    };
    let _lock = match lock::acquire(root, owners, env.lock_wait).await {
        Ok(l) => l,
        Err(e) => return refused(Refusal::Lock(e.to_string())),
    };
    // The lock is held until the answer is recorded, and released on return.
    let now = env.clock.now();
    let console_user = match guards::console_present(&observe::console_owner(root)) {
        Ok(uid) => console_name(root, owners, uid),
        Err(why) => return refused(why),
    };
    let attempt = match attempt::begin(
        root,
        owners,
        config,
        now,
        Some(console_user.clone()),
        key,
        attempt::VALIDATE,
    ) {
        Ok(a) => a,
        Err(why) => return Outcome::Refused(why),
    };
    let failures = attempt.failures;
    // Exactly one call, never retried (PLATFORM.md).
    let answer = fdesetup::validate_recovery(env.runner, key.secret()).await;
    let at = env.clock.now();
    let (result, key_refused, detail) = match &answer {
        Ok(Validation::Valid) => (Answer::Valid, false, None),
        Ok(Validation::Invalid) => (Answer::Invalid, true, None),
        // fdesetup refused the key's form: the same key would get the same answer.
        Err(e) => (
            Answer::Error(e.code()),
            e.key_refused(),
            Some(e.to_string()),
        ),
    };
    let mut warnings = attempt.finish(
        root,
        owners,
        key,
        Record {
            at,
            key_refused,
            what: None,
            answer: result,
            detail,
        },
    );

    // Only a definite answer is a validation result; an error leaves the last one standing.
    if let Ok(v) = &answer {
        let mut loaded = state::load(root, owners, at);
        if let Some(p) = loaded.problem {
            warnings.push(p);
        }
        loaded.state.validation.last_at = Some(at);
        loaded.state.validation.last = Some(match v {
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
    tracing::info!(event = "validation_finished", result = result.result(), console_user = %console_user);

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
                (matches && crate::audit::is_account_name(name)).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{self, Event, What};
    use crate::failed_keys::FailedKeys;
    use crate::runner::Output;
    use crate::secret::Secret;
    use crate::tools::fake::{FakeFailure, FakeRunner};
    use std::cell::Cell;
    use std::time::Duration;

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
        let env = Env {
            runner,
            clock,
            root,
            owners: Owners::current(),
            lock_wait: Duration::ZERO,
            next_check_at: None,
            log_problem: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(validate(&env, cfg, &key(k)))
    }

    /// What an outcome says, as the command's exit code would.
    fn kind(o: &Outcome) -> &'static str {
        match o {
            Outcome::Answered {
                validation: Validation::Valid,
                ..
            } => "valid",
            Outcome::Answered {
                validation: Validation::Invalid,
                ..
            } => "invalid",
            Outcome::Refused(_) => "refused",
            Outcome::NoAnswer { .. } => "no answer",
        }
    }

    /// The refusal in `out` (the test fails if there is none).
    fn refusal(out: &Outcome) -> &Refusal {
        match out {
            Outcome::Refused(why) => why,
            other => panic!("not refused: {other:?}"),
        }
    }

    /// What a validation on `root` with no tool answer at all is refused for (a call would panic).
    fn refused_untried(root: &Root) -> Refusal {
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        refusal(&run(
            root,
            &FakeRunner::new(),
            &Config::default(),
            &clock,
            VALID,
        ))
        .clone()
    }

    /// The private state directory, made.
    fn state_dir(root: &Root) {
        files::ensure_dir(
            &root.resolve(paths::STATE_DIR),
            0o700,
            true,
            Owners::current(),
        )
        .unwrap();
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
        for p in crate::testing::files_under(root.dir()) {
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

    #[test]
    fn a_valid_key_is_tried_once_and_its_result_recorded_without_the_key() {
        let (_d, root) = mac();
        let r = fake(Ok(Output::new(0, "true\n", "")));
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let out = run(&root, &r, &Config::default(), &clock, VALID);
        assert_eq!(kind(&out), "valid", "{out:?}");
        assert_eq!(calls(&r), 1);
        assert_eq!(
            events(&root),
            [
                (What::ValidationStarted, "Started".to_owned()),
                (What::Validated, "Valid".to_owned())
            ]
        );
        let st = state::load(&root, Owners::current(), clock.now()).state;
        assert_eq!(st.validation.last, Some(ValidationResult::Valid));
        assert_eq!(st.validation.last_at, Some(t("2026-11-22T10:00:00Z")));
        assert!(!format!("{out:?}").contains("ABCD"));
        assert_no_key_on_disk(&root);
    }

    #[test]
    fn an_invalid_key_is_remembered_and_never_tried_again() {
        let (_d, root) = mac();
        let r = fake(Ok(Output::new(1, "false\n", "")));
        let clock = Clk(Cell::new(t("2026-11-22T10:00:00Z")));
        let out = run(&root, &r, &Config::default(), &clock, WRONG);
        assert_eq!(kind(&out), "invalid", "{out:?}");
        assert!(
            matches!(out, Outcome::Answered { failures: 1, .. }),
            "{out:?}"
        );
        // Typed differently, still the same key.
        let again = run(&root, &r, &Config::default(), &clock, &WRONG.to_lowercase());
        assert_eq!(kind(&again), "refused");
        assert!(
            matches!(again, Outcome::Refused(Refusal::FailedBefore)),
            "{again:?}"
        );
        assert_eq!(calls(&r), 1, "the failed key was not tried again");
        let st = state::load(&root, Owners::current(), clock.now()).state;
        assert_eq!(st.validation.last, Some(ValidationResult::Invalid));
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
        let why = refused_untried(&root);
        assert_eq!(why, Refusal::NoConsoleUser);
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
        assert_eq!(kind(&run(&root, &r, &cfg, &clock, VALID)), "valid");
        clock.0.set(t("2026-11-22T11:00:00Z"));
        assert_eq!(kind(&run(&root, &r, &cfg, &clock, VALID)), "valid");
        clock.0.set(t("2026-11-23T09:59:59Z"));
        let out = run(&root, &r, &cfg, &clock, VALID);
        let why = refusal(&out);
        assert_eq!(
            why.to_string(),
            "ValidationDailyCap (2) reached: 2 validations in the last 24 hours; the next one is allowed from 2026-11-23T10:00:00Z (UTC)"
        );
        assert_eq!(calls(&r), 2);
        clock.0.set(t("2026-11-23T10:00:00Z"));
        assert_eq!(kind(&run(&root, &r, &cfg, &clock, VALID)), "valid");
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
        assert_eq!(kind(&run(&root, &r, &cfg, &clock, WRONG)), "invalid");
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
        assert_eq!(kind(&out), "no answer");
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
            st.validation.last, None,
            "an error is not a validation result"
        );
        // Not remembered as a failed key: only a definite answer says the key is wrong.
        let store = FailedKeys::load(&root, Owners::current()).unwrap().unwrap();
        assert!(store.is_empty());
    }

    /// What a validation is refused for on a Mac whose state directory `break_it` damaged.
    fn refused_after(break_it: impl FnOnce(&tempfile::TempDir, &Root)) -> Refusal {
        let (d, root) = mac();
        state_dir(&root);
        break_it(&d, &root);
        refused_untried(&root)
    }

    #[test]
    fn a_corrupt_failed_key_store_refuses_before_anything_is_tried() {
        let why = refused_after(|_, root| {
            std::fs::write(root.resolve(paths::FAILED_KEYS), b"not a plist").unwrap()
        });
        assert_eq!(why.code(), "FailedKeyStoreUnusable");
        assert!(why.to_string().contains("failed-keys.plist"), "{why}");
    }

    #[test]
    fn an_unreadable_audit_trail_refuses() {
        let why = refused_after(|d, root| {
            std::os::unix::fs::symlink(d.path().join("elsewhere"), root.resolve(paths::AUDIT))
                .unwrap()
        });
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
