//! The resident daemon (`keywarden run`): a full check at start, then one every `CheckInterval`
//! (jittered by ±10% so a fleet does not check in step), and at once when something that matters
//! changes: the console user (the owner of `/dev/console`, looked at every `ConsolePollSeconds`,
//! and on macOS also woken by the `com.apple.system.utmpx` notification), the escrow file
//! `FileVaultPRK.dat`, the managed or local preferences (which are reloaded first), or SIGHUP
//! (reload the configuration, then check).
//!
//! Between checks it sleeps until the next deadline or poll, whichever is first, and after every
//! wake-up compares the wall clock with the persisted deadline: timers stop while a Mac sleeps,
//! so a monotonic interval alone would miss days (PLATFORM.md). A deadline further away than any
//! schedule allows (the clock was set back) is pulled in. Shutdown (SIGTERM) is a parameter: a
//! check in progress is abandoned (its children killed, its files untouched or complete) and the
//! loop returns at once, once a finished command's outcome is saved (at most two 2 s lock waits).
//!
//! A `RotationCommand` a check finds due runs beside the checks, not inside one (issue 16, item
//! 8): the loop owns it as a task and polls it with its naps and checks, so every trigger is still
//! checked while it runs (up to two hours); a check then leaves a due command queued, so one runs
//! at a time. When it ends its outcome is folded into the state under the writer lock and a check
//! follows. SIGTERM while it runs kills it (its process group with it) and queues it again for
//! the next daemon (`check::command_interrupted`). An outcome once known is never dropped: one
//! that cannot be recorded (the writer lock held past its wait) is kept and recorded at the next
//! wake-up; at SIGTERM it is recorded with the short shutdown wait, and a failure that still
//! cannot be is queued again (`finish_command`).
//!
//! `run` is generic over `World` (what the loop needs from the Mac) and `Clock`, so tests drive it
//! with tokio's paused time and a clock that can jump, without real waiting.

use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::pin::Pin;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::check::{CheckError, Env, Outcome};
use crate::clock::Clock;
use crate::config;
use crate::files::Owners;
use crate::lock;
use crate::paths::{self, Root};
use crate::runner::{Call, Output, ProcessRunner, RunError, Runner, SecretOutput};
use crate::secret::Secret;

/// Why a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Startup,
    Schedule,
    ConsoleUserChanged,
    EscrowFileChanged,
    PreferencesChanged,
    Hangup,
    /// The previous check could not publish; trying again sooner than the schedule.
    Retry,
    /// `RotationCommand` ended and its outcome was recorded: the status says so.
    CommandFinished,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::Schedule => "schedule",
            Reason::ConsoleUserChanged => "console_user_changed",
            Reason::EscrowFileChanged => "escrow_file_changed",
            Reason::PreferencesChanged => "preferences_changed",
            Reason::Hangup => "sighup",
            Reason::Retry => "retry",
            Reason::CommandFinished => "rotation_command_finished",
        }
    }
}

/// A file's identity and version, cheap to take (one `lstat`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMark(Option<(u64, u64, i64, i64, u64)>);

impl FileMark {
    pub fn of(path: &std::path::Path) -> FileMark {
        FileMark(
            std::fs::symlink_metadata(path)
                .ok()
                .map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size())),
        )
    }
}

/// What is looked at between checks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    /// Owner of `/dev/console` (`None`: absent).
    pub console_owner: Option<u32>,
    pub escrow_file: FileMark,
    pub preferences: (FileMark, FileMark),
}

/// What the loop needs from the Mac.
pub trait World {
    fn load_config(&mut self) -> config::Loaded;
    fn fingerprint(&self) -> Fingerprint;
    /// Sleep between polls. Production uses a one-shot OS timer (`os_timer`): tokio's timer wheel
    /// wakes a 60-second sleep about three times (it cascades through its levels), and an idle
    /// daemon must wake at most once a minute (issue 7). Tests use tokio's paused clock.
    fn nap(&self, d: Duration) -> impl Future<Output = ()>;
    /// One check; `command_running`: `RotationCommand` runs in the background, so a command the
    /// check finds due stays queued (`check::for_daemon`).
    fn check(
        &mut self,
        cfg: &config::Loaded,
        reason: Reason,
        next_check_at: Timestamp,
        command_running: bool,
    ) -> impl Future<Output = Result<Outcome, CheckError>>;
    /// `RotationCommand`, as a task the loop owns and polls beside its checks and naps (`None`:
    /// none is configured). It borrows nothing of the world, and dropping it kills the command
    /// and its process group.
    fn command(&self, cfg: &config::Loaded) -> Option<CommandTask>;
    /// Fold what the command came to (`None`: exit 0, else why it failed) into the state; false
    /// when it could not be (the writer lock not had, the state not saved). `stopping`: the
    /// daemon is stopping, so the lock is waited for only `SHUTDOWN_LOCK_WAIT`.
    fn record_command(
        &mut self,
        cfg: &config::Loaded,
        failure: Option<String>,
        stopping: bool,
    ) -> impl Future<Output = bool>;
    /// The daemon is stopping and killed the command: it is queued again for the next daemon.
    fn command_interrupted(&mut self, cfg: &config::Loaded) -> impl Future<Output = ()>;
}

/// A running `RotationCommand`: its outcome, `None` when it exited 0 (see `World::command`).
pub type CommandTask = Pin<Box<dyn Future<Output = Option<String>>>>;

/// The outcome of the running command, when it ends; never, when none runs. Once it yields, the
/// caller drops the task (a finished future is not polled again).
async fn command_end(task: &mut Option<CommandTask>) -> Option<String> {
    match task {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}

/// The daemon stops while a command runs: the task is dropped, which kills the command with its
/// process group, and the command is queued again (`check::command_interrupted`). A command that
/// already ended is finished instead (`finish_command`).
async fn stop_command<W: World>(
    world: &mut W,
    cfg: &config::Loaded,
    task: &mut Option<CommandTask>,
    ended: Option<Option<String>>,
) {
    if let Some(failure) = ended {
        finish_command(world, cfg, failure).await;
    }
    let Some(running) = task.take() else {
        return;
    };
    drop(running);
    world.command_interrupted(cfg).await;
}

/// The daemon stops after the command ended and before its outcome was recorded (issue 16, item
/// 8, attack review: SIGTERM there used to lose it, leaving the rotation `Requested` with nothing
/// queued, so a failed command was not tried again until `RotationOverdue`). The outcome is
/// recorded with the shutdown lock wait; if even that fails, a failed command is queued again
/// for the next daemon, as one killed while running is. One that exited 0 is not: its outcome
/// leaves the state as it is (`rotation::apply_command_outcome`, the rotation waits for the new
/// escrow file), and running it again would ask for a second rotation; only its audit line is
/// lost, and the log says so. At most two lock waits of `SHUTDOWN_LOCK_WAIT` (2 s each), inside
/// launchd's `ExitTimeOut` (10 s).
async fn finish_command<W: World>(world: &mut W, cfg: &config::Loaded, failure: Option<String>) {
    let failed = failure.is_some();
    if world.record_command(cfg, failure, true).await {
        return;
    }
    if failed {
        world.command_interrupted(cfg).await;
    }
}

/// The command ended: what it came to is kept until it is recorded.
fn command_ended(failure: Option<String>) -> Option<Option<String>> {
    tracing::info!(event = "rotation_command_ended", ok = failure.is_none());
    Some(failure)
}

/// How long to wait before trying again after a check that could not publish.
pub const RETRY_AFTER: Duration = Duration::from_secs(300);

/// The jittered interval: `interval` × (0.9 + 0.2 × `unit`), `unit` in [0, 1].
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    let unit = unit.clamp(0.0, 1.0);
    interval.mul_f64(0.9 + 0.2 * unit)
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// Sources of wake-ups other than time.
pub struct Wakeups<H, N> {
    /// SIGHUP (a channel in tests).
    pub hangup: H,
    /// Console-user notifications (macOS `com.apple.system.utmpx`); `None` where unavailable.
    pub console: Option<N>,
}

/// Something that yields `()` each time it fires.
pub trait Signal {
    fn recv(&mut self) -> impl Future<Output = Option<()>>;
}

impl Signal for tokio::sync::mpsc::UnboundedReceiver<()> {
    async fn recv(&mut self) -> Option<()> {
        tokio::sync::mpsc::UnboundedReceiver::recv(self).await
    }
}

impl Signal for tokio::signal::unix::Signal {
    async fn recv(&mut self) -> Option<()> {
        tokio::signal::unix::Signal::recv(self).await
    }
}

#[cfg(target_os = "macos")]
impl Signal for crate::sys::utmpx::UtmpxNotifications {
    async fn recv(&mut self) -> Option<()> {
        crate::sys::utmpx::UtmpxNotifications::recv(self).await
    }
}

/// A signal that never fires (where there is no console notification: everywhere but macOS).
#[cfg(any(test, not(target_os = "macos")))]
pub struct Never;

#[cfg(any(test, not(target_os = "macos")))]
impl Signal for Never {
    async fn recv(&mut self) -> Option<()> {
        std::future::pending().await
    }
}

async fn next_or_pending<S: Signal>(s: &mut Option<S>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Run the daemon loop until `shutdown` completes. Returns the number of checks run (for tests).
pub async fn run<W: World, C: Clock, H: Signal, N: Signal>(
    world: &mut W,
    clock: &C,
    mut wakeups: Wakeups<H, N>,
    jitter: &mut dyn FnMut() -> f64,
    shutdown: impl Future<Output = ()>,
) -> u64 {
    tokio::pin!(shutdown);
    let mut cfg = world.load_config();
    for w in &cfg.warnings {
        tracing::warn!(event = "config_warning", warning = %w);
    }
    let mut fp = world.fingerprint();
    let mut pending = Some(Reason::Startup);
    let mut deadline = clock.now();
    let mut checks = 0u64;
    let mut hangup_open = true;
    let mut retrying = false;
    // `RotationCommand` runs here, beside the checks, not inside one (issue 16, item 8): it may
    // take up to two hours, and the Mac is watched meanwhile.
    let mut command: Option<CommandTask> = None;
    // What the command came to, once it ended, until it is recorded: an outcome that could not
    // be recorded (the writer lock held past `CHECK_LOCK_WAIT`, the state not saved) stays here
    // and is tried again at every wake-up (at most one a `ConsolePollSeconds`), and at SIGTERM
    // (`finish_command`). Never dropped (issue 16, item 8, attack review).
    let mut ended: Option<Option<String>> = None;
    loop {
        if let Some(failure) = ended.clone() {
            // Dropping `record_command` at SIGTERM is safe: it does nothing before it has the
            // lock, and after that nothing waits (`check::record_command`).
            let recorded = tokio::select! {
                biased;
                _ = &mut shutdown => {
                    tracing::info!(event = "shutdown", during_check = true);
                    stop_command(world, &cfg, &mut command, ended.take()).await;
                    return checks;
                }
                r = world.record_command(&cfg, failure, false) => r,
            };
            if recorded {
                ended = None;
                pending.get_or_insert(Reason::CommandFinished);
            }
        }
        if let Some(reason) = pending.take() {
            // The fingerprint the check answers for is taken before it: a change while it runs
            // (a login during a slow check) is seen at the next wake-up and checked again.
            // Nothing a check does touches what is watched (Escrow Buddy's flag lives in its own
            // preferences, FileVaultPRK.dat changes only when a key is made).
            fp = world.fingerprint();
            let now = clock.now();
            let next = now + signed(jittered(cfg.config.check_interval, jitter()));
            // An outcome not yet recorded counts as a command running: one at a time.
            let running = command.is_some() || ended.is_some();
            tracing::debug!(
                event = "check_started",
                reason = reason.as_str(),
                rotation_command_running = running
            );
            let result = {
                let check = world.check(&cfg, reason, next, running);
                tokio::pin!(check);
                loop {
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break None,
                        r = &mut check => break Some(r),
                        failure = command_end(&mut command) => {
                            command = None;
                            ended = command_ended(failure);
                        }
                    }
                }
            };
            let Some(result) = result else {
                tracing::info!(event = "shutdown", during_check = true);
                stop_command(world, &cfg, &mut command, ended.take()).await;
                return checks;
            };
            checks += 1;
            deadline = match result {
                Ok(outcome) => {
                    retrying = false;
                    // The check took the command out of its outbox for the loop to run (it does
                    // only when none was running, `check::for_daemon`).
                    if outcome.run_command && !running {
                        command = world.command(&cfg);
                    }
                    next
                }
                Err(e) => {
                    // Not published (disk full, lock held, a symlink at the status path): try
                    // again well before the next scheduled check; the log says why.
                    tracing::error!(event = "check_failed", reason = reason.as_str(), error = %e);
                    retrying = true;
                    now + signed(RETRY_AFTER.min(cfg.config.check_interval))
                }
            };
        }

        let now = clock.now();
        // The clock was set back (or the deadline is corrupt): never wait longer than a schedule.
        let longest = signed(jittered(cfg.config.check_interval, 1.0));
        if deadline.duration_since(now) > longest {
            tracing::info!(event = "deadline_pulled_in", deadline = %deadline, now = %now);
            deadline = now + longest;
        }
        let until_deadline = deadline.duration_since(now).max(SignedDuration::ZERO);
        let nap = cfg
            .config
            .console_poll
            .min(Duration::try_from(until_deadline).unwrap_or(Duration::ZERO));
        let mut woke_by = None;
        tokio::select! {
            biased;
            _ = &mut shutdown => {
                tracing::info!(event = "shutdown", during_check = false);
                stop_command(world, &cfg, &mut command, ended.take()).await;
                return checks;
            }
            failure = command_end(&mut command) => {
                command = None;
                ended = command_ended(failure);
            }
            r = wakeups.hangup.recv(), if hangup_open => {
                match r {
                    Some(()) => woke_by = Some(Reason::Hangup),
                    None => hangup_open = false,
                }
            }
            r = next_or_pending(&mut wakeups.console) => {
                if r.is_none() {
                    wakeups.console = None;
                }
            }
            _ = world.nap(nap) => {}
        }
        if woke_by == Some(Reason::Hangup) {
            tracing::info!(event = "reload", why = "sighup");
            cfg = world.load_config();
            pending = Some(Reason::Hangup);
        }
        // After every wake-up: the wall clock against the deadline (the Mac may have slept).
        if clock.now() >= deadline && pending.is_none() {
            pending = Some(if retrying {
                Reason::Retry
            } else {
                Reason::Schedule
            });
        }
        let new = world.fingerprint();
        if new.preferences != fp.preferences {
            tracing::info!(event = "reload", why = "preferences_changed");
            let before = cfg.config.clone();
            cfg = world.load_config();
            if cfg.config != before {
                for w in &cfg.warnings {
                    tracing::warn!(event = "config_warning", warning = %w);
                }
            }
            pending.get_or_insert(Reason::PreferencesChanged);
        }
        if new.console_owner != fp.console_owner {
            let uid = |u: Option<u32>| u.map_or_else(|| "-".to_owned(), |u| u.to_string());
            tracing::info!(event = "console_changed", from = %uid(fp.console_owner), to = %uid(new.console_owner));
            pending.get_or_insert(Reason::ConsoleUserChanged);
        }
        if new.escrow_file != fp.escrow_file {
            tracing::info!(event = "escrow_file_changed");
            pending.get_or_insert(Reason::EscrowFileChanged);
        }
        fp = new;
    }
}

/// The daemon on a real (or simulated) Mac.
pub struct MacWorld {
    pub root: Root,
    pub owners: Owners,
    pub clock: crate::clock::SystemClock,
    /// The installed logging (its level and format follow the configuration; its problems are
    /// reported).
    pub logging: crate::logging::Logging,
}

impl World for MacWorld {
    fn load_config(&mut self) -> config::Loaded {
        let cfg = config::load(&self.root, self.owners);
        self.logging.set_level(cfg.config.log_level);
        self.logging.set_format(cfg.config.log_format);
        cfg
    }

    async fn nap(&self, d: Duration) {
        crate::sys::timer::sleep(d).await
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            console_owner: std::fs::metadata(self.root.resolve(paths::CONSOLE))
                .ok()
                .map(|m| m.uid()),
            escrow_file: FileMark::of(&self.root.resolve(paths::FILEVAULT_PRK)),
            preferences: (
                FileMark::of(&self.root.resolve(paths::MANAGED_PREFS)),
                FileMark::of(&self.root.resolve(paths::LOCAL_PREFS)),
            ),
        }
    }

    async fn check(
        &mut self,
        cfg: &config::Loaded,
        _reason: Reason,
        next_check_at: Timestamp,
        command_running: bool,
    ) -> Result<Outcome, CheckError> {
        let runner = ProcessRunner::new(self.root.clone(), cfg.config.tool_timeout);
        let env = self.env(&runner, lock::CHECK_LOCK_WAIT, Some(next_check_at));
        crate::check::for_daemon(&env, cfg, command_running).await
    }

    fn command(&self, cfg: &config::Loaded) -> Option<CommandTask> {
        let argv = cfg.config.rotation_command.clone()?;
        let runner = OwnedByTask(ProcessRunner::new(
            self.root.clone(),
            cfg.config.tool_timeout,
        ));
        let (root, owners) = (self.root.clone(), self.owners);
        Some(Box::pin(async move {
            crate::act::run_rotation_command(&runner, &root, owners, &argv).await
        }))
    }

    async fn record_command(
        &mut self,
        cfg: &config::Loaded,
        failure: Option<String>,
        stopping: bool,
    ) -> bool {
        let runner = ProcessRunner::new(self.root.clone(), cfg.config.tool_timeout);
        let wait = if stopping {
            SHUTDOWN_LOCK_WAIT
        } else {
            lock::CHECK_LOCK_WAIT
        };
        let env = self.env(&runner, wait, None);
        match crate::check::record_command(&env, failure).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(event = "rotation_command_not_recorded", stopping, error = %e);
                false
            }
        }
    }

    async fn command_interrupted(&mut self, cfg: &config::Loaded) {
        let runner = ProcessRunner::new(self.root.clone(), cfg.config.tool_timeout);
        let env = self.env(&runner, SHUTDOWN_LOCK_WAIT, None);
        if let Err(e) = crate::check::command_interrupted(&env).await {
            tracing::error!(event = "rotation_command_not_queued_again", error = %e);
        }
    }
}

/// How long a stopping daemon waits for the writer lock to record a command's outcome or queue an
/// interrupted command again:
/// it exits within seconds of SIGTERM, well inside launchd's `ExitTimeOut` (10 s in
/// `launchd/org.keywarden.daemon.plist`).
const SHUTDOWN_LOCK_WAIT: Duration = Duration::from_secs(2);

impl MacWorld {
    fn env<'a>(
        &'a self,
        runner: &'a ProcessRunner,
        lock_wait: Duration,
        next_check_at: Option<Timestamp>,
    ) -> Env<'a, ProcessRunner, crate::clock::SystemClock> {
        Env {
            runner,
            clock: &self.clock,
            root: &self.root,
            owners: self.owners,
            lock_wait,
            next_check_at,
            log_problem: self.logging.file_error(),
        }
    }
}

/// The runner of the daemon's `RotationCommand`: the command belongs to the loop's task, so
/// dropping the task (the daemon stopping) kills it and its process group, whatever the call
/// asks. (`surviving_abandon` keeps a command run by a one-shot CLI, `keywarden check`, alive
/// when that process is interrupted; the daemon instead queues the command again,
/// `check::command_interrupted`, so that the next daemon runs it once, not beside a survivor.)
struct OwnedByTask<R>(R);

impl<R: Runner> Runner for OwnedByTask<R> {
    async fn run(&self, call: &Call) -> Result<Output, RunError> {
        let mut call = call.clone();
        call.survive_abandon = false;
        self.0.run(&call).await
    }

    async fn run_secret(&self, call: &Call, stdin: &Secret) -> Result<SecretOutput, RunError> {
        let mut call = call.clone();
        call.survive_abandon = false;
        self.0.run_secret(&call, stdin).await
    }
}

/// Production randomness for the jitter.
pub fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    match getrandom::getrandom(&mut b) {
        Ok(()) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use crate::status::Status;

    /// Wall clock = a base + tokio's (paused) elapsed time + jumps (a sleeping Mac).
    struct TestClock {
        base: Timestamp,
        start: tokio::time::Instant,
        jumped: Cell<SignedDuration>,
    }

    impl TestClock {
        fn new() -> TestClock {
            TestClock {
                base: "2026-11-22T10:00:00Z".parse().unwrap(),
                start: tokio::time::Instant::now(),
                jumped: Cell::new(SignedDuration::ZERO),
            }
        }
        fn jump(&self, by: SignedDuration) {
            self.jumped.set(self.jumped.get() + by);
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> Timestamp {
            let elapsed = tokio::time::Instant::now() - self.start;
            crate::clock::whole_seconds(self.base + signed(elapsed) + self.jumped.get())
        }
    }

    #[derive(Default)]
    struct Shared {
        checks: Vec<(Timestamp, Reason)>,
        fp: Fingerprint,
        config_loads: u32,
        hang_checks: bool,
        fail_checks: bool,
        change_console_during_check: bool,
        fingerprints: u32,
        interval: u64,
        poll: u64,
        /// Each check asks for `RotationCommand` (as a check that finds it due does).
        command_due: bool,
        /// How long the command runs, and each check takes.
        command_secs: u64,
        check_secs: u64,
        /// Whether a command was running, for each check.
        running_at_check: Vec<bool>,
        commands_started: u32,
        /// Commands dropped before they ended (killed).
        commands_killed: u32,
        recorded: Vec<Option<String>>,
        interrupted: u32,
        /// The command exits with this failure (`None`: exit 0).
        command_failure: Option<String>,
        /// The writer lock is held (by a CLI) until then: recording waits for it, up to 60 s,
        /// or 2 s when stopping, as `MacWorld` does.
        lock_held_until: Option<tokio::time::Instant>,
        /// Each attempt to record an outcome: whether the daemon was stopping.
        record_attempts: Vec<bool>,
    }

    /// Counts a command task dropped before it ended (the daemon killed it).
    struct KillWatch {
        s: Rc<RefCell<Shared>>,
        ended: bool,
    }

    impl Drop for KillWatch {
        fn drop(&mut self) {
            if !self.ended {
                self.s.borrow_mut().commands_killed += 1;
            }
        }
    }

    struct FakeWorld<'c> {
        s: Rc<RefCell<Shared>>,
        clock: &'c TestClock,
    }

    impl World for FakeWorld<'_> {
        fn load_config(&mut self) -> config::Loaded {
            let mut s = self.s.borrow_mut();
            s.config_loads += 1;
            let c = config::Config {
                check_interval: Duration::from_secs(s.interval),
                console_poll: Duration::from_secs(s.poll),
                ..Default::default()
            };
            config::Loaded {
                config: c,
                warnings: vec![],
                sources: Default::default(),
            }
        }
        async fn nap(&self, d: Duration) {
            tokio::time::sleep(d).await
        }
        fn fingerprint(&self) -> Fingerprint {
            let mut s = self.s.borrow_mut();
            s.fingerprints += 1;
            s.fp.clone()
        }
        async fn check(
            &mut self,
            _cfg: &config::Loaded,
            reason: Reason,
            _next: Timestamp,
            command_running: bool,
        ) -> Result<Outcome, CheckError> {
            self.s.borrow_mut().checks.push((self.clock.now(), reason));
            self.s.borrow_mut().running_at_check.push(command_running);
            let secs = self.s.borrow().check_secs;
            if secs > 0 {
                tokio::time::sleep(Duration::from_secs(secs)).await;
            }
            if std::mem::take(&mut self.s.borrow_mut().change_console_during_check) {
                self.s.borrow_mut().fp.console_owner = Some(777);
            }
            if self.s.borrow().hang_checks {
                std::future::pending::<()>().await;
            }
            if self.s.borrow().fail_checks {
                return Err(CheckError::Status(crate::files::FileError::Io {
                    path: "/Library/Keywarden/status.plist".into(),
                    source: std::io::Error::from_raw_os_error(libc::ENOSPC),
                }));
            }
            let mut outcome = fake_outcome();
            outcome.run_command = self.s.borrow().command_due;
            Ok(outcome)
        }
        fn command(&self, _cfg: &config::Loaded) -> Option<CommandTask> {
            self.s.borrow_mut().commands_started += 1;
            let secs = self.s.borrow().command_secs;
            let failure = self.s.borrow().command_failure.clone();
            let watch = KillWatch {
                s: self.s.clone(),
                ended: false,
            };
            Some(Box::pin(async move {
                // The whole guard moves into the task (not only its field).
                let mut watch = watch;
                tokio::time::sleep(Duration::from_secs(secs)).await;
                watch.ended = true;
                failure
            }))
        }
        async fn record_command(
            &mut self,
            _cfg: &config::Loaded,
            failure: Option<String>,
            stopping: bool,
        ) -> bool {
            self.s.borrow_mut().record_attempts.push(stopping);
            let wait = if stopping {
                SHUTDOWN_LOCK_WAIT
            } else {
                lock::CHECK_LOCK_WAIT
            };
            let held = self.s.borrow().lock_held_until;
            if let Some(until) = held {
                let now = tokio::time::Instant::now();
                if until > now + wait {
                    tokio::time::sleep(wait).await;
                    return false;
                }
                tokio::time::sleep_until(until).await;
            }
            self.s.borrow_mut().recorded.push(failure);
            true
        }
        async fn command_interrupted(&mut self, _cfg: &config::Loaded) {
            self.s.borrow_mut().interrupted += 1;
        }
    }

    fn fake_outcome() -> Outcome {
        Outcome {
            status: serde_status(),
            probe_failed: false,
            run_command: false,
        }
    }

    fn serde_status() -> Status {
        let xml = include_bytes!("../../tests/golden/healthy.plist");
        Status::from_bytes(xml).expect("golden status parses")
    }

    struct Harness {
        shared: Rc<RefCell<Shared>>,
        hup: tokio::sync::mpsc::UnboundedSender<()>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
    }

    /// Run the loop on a local set; returns the harness and the join handle.
    fn start(
        clock: &'static TestClock,
        interval: u64,
        poll: u64,
        unit: f64,
    ) -> (Harness, tokio::task::JoinHandle<u64>) {
        let shared = Shared {
            interval,
            poll,
            ..Default::default()
        };
        start_with(clock, shared, unit)
    }

    fn start_with(
        clock: &'static TestClock,
        shared: Shared,
        unit: f64,
    ) -> (Harness, tokio::task::JoinHandle<u64>) {
        let shared = Rc::new(RefCell::new(shared));
        let (hup_tx, hup_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let s2 = shared.clone();
        let handle = tokio::task::spawn_local(async move {
            let mut world = FakeWorld { s: s2, clock };
            let mut jitter = move || unit;
            run(
                &mut world,
                clock,
                Wakeups::<_, Never> {
                    hangup: hup_rx,
                    console: None,
                },
                &mut jitter,
                async {
                    let _ = stop_rx.await;
                },
            )
            .await
        });
        (
            Harness {
                shared,
                hup: hup_tx,
                stop: Some(stop_tx),
            },
            handle,
        )
    }

    fn leak_clock() -> &'static TestClock {
        Box::leak(Box::new(TestClock::new()))
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    fn reasons(h: &Harness) -> Vec<Reason> {
        h.shared.borrow().checks.iter().map(|c| c.1).collect()
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn it_checks_at_start_and_then_every_jittered_interval() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 60, 0.0);
                settle().await;
                assert_eq!(reasons(&h), vec![Reason::Startup]);
                // With jitter 0 the interval is 0.9 × 3600 = 3240 s.
                tokio::time::sleep(Duration::from_secs(3239)).await;
                settle().await;
                assert_eq!(reasons(&h).len(), 1, "not before the deadline");
                tokio::time::sleep(Duration::from_secs(61)).await;
                settle().await;
                assert_eq!(reasons(&h), vec![Reason::Startup, Reason::Schedule]);
                let checks = h.shared.borrow().checks.clone();
                let gap = checks[1].0.duration_since(checks[0].0).as_secs();
                assert!((3240..=3240 + 60).contains(&gap), "gap {gap}");
            })
            .await;
    }

    #[test]
    fn the_jitter_stays_within_ten_percent() {
        let i = Duration::from_secs(3600);
        assert_eq!(jittered(i, 0.0), Duration::from_secs(3240));
        assert_eq!(jittered(i, 1.0), Duration::from_secs(3960));
        assert_eq!(jittered(i, 0.5), i);
        assert_eq!(jittered(i, 7.0), Duration::from_secs(3960));
        for _ in 0..1000 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_mac_that_slept_for_days_checks_at_the_first_wake_up() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 60, 0.5);
                settle().await;
                // The Mac sleeps three days: the wall clock moves, monotonic time does not.
                clock.jump(SignedDuration::from_hours(72));
                tokio::time::sleep(Duration::from_secs(61)).await;
                settle().await;
                assert_eq!(reasons(&h), vec![Reason::Startup, Reason::Schedule]);
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_clock_set_back_by_days_does_not_postpone_the_next_check() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 60, 0.5);
                settle().await;
                clock.jump(SignedDuration::from_hours(-48));
                // Within one schedule (at most 1.1 × interval + a poll) there is a check.
                tokio::time::sleep(Duration::from_secs(3960 + 61)).await;
                settle().await;
                assert_eq!(reasons(&h), vec![Reason::Startup, Reason::Schedule]);
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_console_user_change_triggers_a_check_within_one_poll() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 5, 0.5);
                settle().await;
                h.shared.borrow_mut().fp.console_owner = Some(502);
                tokio::time::sleep(Duration::from_secs(6)).await;
                settle().await;
                assert_eq!(
                    reasons(&h),
                    vec![Reason::Startup, Reason::ConsoleUserChanged]
                );
                // No change, no check.
                tokio::time::sleep(Duration::from_secs(60)).await;
                settle().await;
                assert_eq!(reasons(&h).len(), 2);
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_console_change_during_a_check_is_checked_again() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 5, 0.5);
                h.shared.borrow_mut().change_console_during_check = true;
                settle().await;
                tokio::time::sleep(Duration::from_secs(6)).await;
                settle().await;
                assert_eq!(
                    reasons(&h),
                    vec![Reason::Startup, Reason::ConsoleUserChanged]
                );
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn changed_preferences_are_reloaded_and_checked() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 5, 0.5);
                settle().await;
                let loads = h.shared.borrow().config_loads;
                h.shared.borrow_mut().fp.preferences.0 = FileMark(Some((1, 2, 3, 4, 5)));
                tokio::time::sleep(Duration::from_secs(6)).await;
                settle().await;
                assert_eq!(h.shared.borrow().config_loads, loads + 1);
                assert_eq!(
                    reasons(&h),
                    vec![Reason::Startup, Reason::PreferencesChanged]
                );
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_new_escrow_file_triggers_a_check() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 5, 0.5);
                settle().await;
                h.shared.borrow_mut().fp.escrow_file = FileMark(Some((1, 9, 3, 4, 5)));
                tokio::time::sleep(Duration::from_secs(6)).await;
                settle().await;
                assert_eq!(
                    reasons(&h),
                    vec![Reason::Startup, Reason::EscrowFileChanged]
                );
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn sighup_reloads_the_configuration_then_checks() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 60, 0.5);
                settle().await;
                let loads = h.shared.borrow().config_loads;
                h.hup.send(()).unwrap();
                settle().await;
                assert_eq!(h.shared.borrow().config_loads, loads + 1);
                assert_eq!(reasons(&h), vec![Reason::Startup, Reason::Hangup]);
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn shutdown_abandons_a_check_that_never_ends_at_once() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (mut h, j) = start(clock, 3600, 60, 0.5);
                h.shared.borrow_mut().hang_checks = true;
                settle().await;
                assert_eq!(reasons(&h).len(), 1);
                let before = tokio::time::Instant::now();
                h.stop.take().unwrap().send(()).unwrap();
                let checks = j.await.unwrap();
                assert_eq!(checks, 0, "the hung check never completed");
                assert_eq!(tokio::time::Instant::now(), before, "no time passed");
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn an_idle_hour_wakes_at_most_once_a_minute() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                // Jitter 1.0: the next check is 66 minutes away, so the hour is idle.
                let (h, _j) = start(clock, 3600, 60, 1.0);
                settle().await;
                let before = h.shared.borrow().fingerprints;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                settle().await;
                // Every wake-up takes exactly one fingerprint.
                let wakes = h.shared.borrow().fingerprints - before;
                assert!(
                    (59..=60).contains(&wakes),
                    "{wakes} wake-ups in an idle hour"
                );
                assert_eq!(reasons(&h), vec![Reason::Startup]);
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_check_that_could_not_publish_is_retried_within_five_minutes() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (h, _j) = start(clock, 3600, 60, 0.5);
                h.shared.borrow_mut().fail_checks = true;
                settle().await;
                tokio::time::sleep(Duration::from_secs(301)).await;
                settle().await;
                assert_eq!(reasons(&h), vec![Reason::Startup, Reason::Retry]);
                h.shared.borrow_mut().fail_checks = false;
                tokio::time::sleep(Duration::from_secs(301)).await;
                settle().await;
                assert_eq!(
                    reasons(&h),
                    vec![Reason::Startup, Reason::Retry, Reason::Retry]
                );
                // Published again: back to the hourly schedule.
                tokio::time::sleep(Duration::from_secs(1800)).await;
                settle().await;
                assert_eq!(reasons(&h).len(), 3);
            })
            .await;
    }

    /// Issue 16, item 8: a `RotationCommand` that runs for ten minutes does not stop the watch:
    /// the schedule, a console change and SIGHUP each get their check while it runs, none of them
    /// starts a second command, and when it ends its outcome is recorded and checked at once.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn issue_16_checks_go_on_on_every_trigger_while_the_rotation_command_runs() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let mut s = shared_for_command(600);
                s.interval = 120;
                s.poll = 5;
                let (h, _j) = start_with(clock, s, 0.5);
                settle().await;
                assert_eq!(reasons(&h), vec![Reason::Startup]);
                assert_eq!(h.shared.borrow().commands_started, 1);
                tokio::time::sleep(Duration::from_secs(10)).await;
                h.shared.borrow_mut().fp.console_owner = Some(502);
                tokio::time::sleep(Duration::from_secs(6)).await;
                settle().await;
                h.hup.send(()).unwrap();
                settle().await;
                tokio::time::sleep(Duration::from_secs(500)).await;
                settle().await;
                let during = reasons(&h);
                assert!(during.contains(&Reason::ConsoleUserChanged), "{during:?}");
                assert!(during.contains(&Reason::Hangup), "{during:?}");
                let scheduled = during.iter().filter(|r| **r == Reason::Schedule).count();
                assert!(scheduled >= 3, "{during:?}");
                assert!(
                    h.shared.borrow().running_at_check[1..].iter().all(|r| *r),
                    "each of these checks knew the command was running"
                );
                assert_eq!(
                    h.shared.borrow().commands_started,
                    1,
                    "never two commands at once"
                );
                assert!(h.shared.borrow().recorded.is_empty());
                // The command ends at 600 s: recorded, then checked at once.
                tokio::time::sleep(Duration::from_secs(90)).await;
                settle().await;
                assert_eq!(h.shared.borrow().recorded, vec![None]);
                let after = reasons(&h);
                assert!(after.contains(&Reason::CommandFinished), "{after:?}");
                assert_eq!(h.shared.borrow().commands_killed, 0);
            })
            .await;
    }

    /// Issue 16, item 8: a command that ends while a check runs is not lost: recorded once that
    /// check is over, and checked again.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn issue_16_a_command_that_ends_during_a_check_is_recorded_after_it() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (h, _j) = command_ends_during_a_check(None).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
                settle().await;
                assert_eq!(h.shared.borrow().recorded, vec![None]);
                assert_eq!(
                    reasons(&h),
                    vec![
                        Reason::Startup,
                        Reason::ConsoleUserChanged,
                        Reason::CommandFinished
                    ]
                );
            })
            .await;
    }

    /// Issue 16, item 8: SIGTERM while the command runs stops the daemon at once, kills the
    /// command (dropping its task) and queues it again for the next daemon.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn issue_16_stopping_while_the_command_runs_kills_it_and_queues_it_again() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let (mut h, j) = start_with(clock, shared_for_command(600), 0.5);
                settle().await;
                assert_eq!(h.shared.borrow().commands_started, 1);
                let before = tokio::time::Instant::now();
                h.stop.take().unwrap().send(()).unwrap();
                j.await.unwrap();
                assert_eq!(tokio::time::Instant::now(), before, "no time passed");
                let s = h.shared.borrow();
                assert_eq!((s.commands_killed, s.interrupted), (1, 1));
                assert!(
                    s.recorded.is_empty(),
                    "an interrupted command is no outcome"
                );
            })
            .await;
    }

    const FAILED: &str = "RotationCommand (/usr/local/bin/rotate): exited with status 1";

    /// The command (10 s) ends while a CLI holds the writer lock until `lock_secs`; SIGTERM comes
    /// at 15 s, while the outcome waits for the lock. Returns the shared record and how long the
    /// daemon took to stop.
    async fn stop_while_the_outcome_waits_for_the_lock(
        failure: Option<&str>,
        lock_secs: u64,
    ) -> (Shared, Duration) {
        let clock = leak_clock();
        let mut s = shared_for_command(10);
        s.command_failure = failure.map(str::to_owned);
        s.lock_held_until = Some(tokio::time::Instant::now() + Duration::from_secs(lock_secs));
        let (mut h, j) = start_with(clock, s, 0.5);
        settle().await;
        h.shared.borrow_mut().command_due = false;
        tokio::time::sleep(Duration::from_secs(15)).await;
        settle().await;
        {
            let s = h.shared.borrow();
            assert_eq!(
                s.record_attempts,
                vec![false],
                "recording waits for the lock"
            );
            assert!(s.recorded.is_empty());
        }
        let before = tokio::time::Instant::now();
        h.stop.take().unwrap().send(()).unwrap();
        j.await.unwrap();
        let took = tokio::time::Instant::now() - before;
        let s = std::mem::take(&mut *h.shared.borrow_mut());
        (s, took)
    }

    /// Issue 16, item 8 (attack review): SIGTERM after the command exited, while its outcome
    /// waits for the writer lock, no longer loses it: the stopping daemon records it with its
    /// short lock wait, within launchd's `ExitTimeOut`.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn issue_16_stopping_while_a_finished_command_waits_for_the_lock_still_records_it() {
        tokio::task::LocalSet::new()
            .run_until(async {
                // The lock is free 1 s after SIGTERM.
                let (s, took) = stop_while_the_outcome_waits_for_the_lock(Some(FAILED), 16).await;
                assert_eq!(s.recorded, vec![Some(FAILED.to_owned())]);
                assert_eq!(s.record_attempts, vec![false, true]);
                assert_eq!(s.interrupted, 0, "recorded, so not queued again");
                assert_eq!(s.commands_killed, 0);
                assert!(took <= SHUTDOWN_LOCK_WAIT, "stopped after {took:?}");
            })
            .await;
    }

    /// Issue 16, item 8 (attack review): when even the stopping daemon cannot record the outcome
    /// (the lock still held), a failed command is queued again for the next daemon, so it is
    /// tried again rather than waiting for `RotationOverdue`; one that exited 0 is not run a second
    /// time (its outcome changes no state). Either way the daemon stops within launchd's 10 s.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn issue_16_a_failed_command_whose_outcome_cannot_be_recorded_at_sigterm_is_queued_again()
    {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (s, took) = stop_while_the_outcome_waits_for_the_lock(Some(FAILED), 1000).await;
                assert!(s.recorded.is_empty());
                assert_eq!(s.record_attempts, vec![false, true]);
                assert_eq!(s.interrupted, 1, "the failed command is queued again");
                assert!(took <= Duration::from_secs(10), "stopped after {took:?}");

                let (s, took) = stop_while_the_outcome_waits_for_the_lock(None, 1000).await;
                assert!(s.recorded.is_empty());
                assert_eq!(s.record_attempts, vec![false, true]);
                assert_eq!(s.interrupted, 0, "a command that exited 0 is not run again");
                assert!(took <= Duration::from_secs(10), "stopped after {took:?}");
            })
            .await;
    }

    /// Issue 16, item 8 (attack review): an outcome the writer lock kept out past its 60 s wait is
    /// kept, tried again at the next wake-up and then recorded and checked; meanwhile a check
    /// counts it as a command still running, so no second command starts.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn issue_16_an_outcome_the_writer_lock_kept_out_is_recorded_at_a_later_wake_up() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let clock = leak_clock();
                let mut s = shared_for_command(10);
                s.command_failure = Some(FAILED.to_owned());
                // Held for 200 s: the attempts at 10 s and 130 s each give up after 60 s.
                s.lock_held_until = Some(tokio::time::Instant::now() + Duration::from_secs(200));
                let (h, _j) = start_with(clock, s, 0.5);
                settle().await;
                tokio::time::sleep(Duration::from_secs(75)).await;
                settle().await;
                assert_eq!(h.shared.borrow().record_attempts, vec![false]);
                h.shared.borrow_mut().fp.console_owner = Some(502);
                // Wake-up at 130 s: a second attempt (gives up at 190 s), then the console check.
                tokio::time::sleep(Duration::from_secs(120)).await;
                settle().await;
                {
                    let s = h.shared.borrow();
                    assert!(s.recorded.is_empty());
                    assert_eq!(s.record_attempts, vec![false, false]);
                    assert_eq!(
                        s.checks.iter().map(|c| c.1).collect::<Vec<_>>(),
                        vec![Reason::Startup, Reason::ConsoleUserChanged]
                    );
                    assert_eq!(
                        s.running_at_check,
                        vec![false, true],
                        "an outcome not yet recorded is a command still running"
                    );
                    assert_eq!(s.commands_started, 1);
                }
                h.shared.borrow_mut().command_due = false;
                // Next wake-up (250 s): the lock is free, the outcome recorded, then checked.
                tokio::time::sleep(Duration::from_secs(65)).await;
                settle().await;
                let s = h.shared.borrow();
                assert_eq!(s.recorded, vec![Some(FAILED.to_owned())]);
                assert_eq!(s.record_attempts, vec![false, false, false]);
                assert_eq!(s.checks.last().map(|c| c.1), Some(Reason::CommandFinished));
            })
            .await;
    }

    /// Issue 16, item 8 (attack review): SIGTERM during a check within which the command ended
    /// records its outcome before the daemon stops (it used to be dropped with the check).
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn issue_16_stopping_during_a_check_after_the_command_ended_records_its_outcome() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let (mut h, j) = command_ends_during_a_check(Some(FAILED)).await;
                h.stop.take().unwrap().send(()).unwrap();
                j.await.unwrap();
                let s = h.shared.borrow();
                assert_eq!(s.recorded, vec![Some(FAILED.to_owned())]);
                assert_eq!(s.record_attempts, vec![true]);
                assert_eq!((s.commands_killed, s.interrupted), (0, 0));
            })
            .await;
    }

    /// The startup check takes 30 s, then the command starts (10 s, ending with `failure`); a
    /// console change at 35 s starts a 30 s check within which the command ends. Returns at 46 s,
    /// that check under way and nothing recorded yet.
    async fn command_ends_during_a_check(
        failure: Option<&str>,
    ) -> (Harness, tokio::task::JoinHandle<u64>) {
        let clock = leak_clock();
        let mut s = shared_for_command(10);
        s.command_failure = failure.map(str::to_owned);
        s.check_secs = 30;
        s.poll = 5;
        let (h, j) = start_with(clock, s, 0.5);
        tokio::time::sleep(Duration::from_secs(31)).await;
        h.shared.borrow_mut().command_due = false;
        h.shared.borrow_mut().fp.console_owner = Some(502);
        tokio::time::sleep(Duration::from_secs(15)).await;
        settle().await;
        assert_eq!(
            reasons(&h),
            vec![Reason::Startup, Reason::ConsoleUserChanged]
        );
        assert!(h.shared.borrow().recorded.is_empty(), "not during a check");
        (h, j)
    }

    fn shared_for_command(command_secs: u64) -> Shared {
        Shared {
            interval: 3600,
            poll: 60,
            command_due: true,
            command_secs,
            ..Default::default()
        }
    }
}
