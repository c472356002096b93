//! The one place that starts processes.
//!
//! Every macOS tool (and an admin's `RotationCommand`) is started here: by absolute path resolved
//! under the filesystem root, only after that path passed the trusted-path rule and from the very
//! file that passed it (`files::open_trusted`, `sys::exec`; issue 16, item 2), without a shell, with a cleared environment (a fixed `PATH` and
//! `LC_ALL=C`), stdin either closed or carrying a secret plist that is written and then closed,
//! stdout and stderr both captured up to a cap until the child itself exits (and `PIPE_GRACE`
//! after: a helper it left holding them does not hold the call, issue 16, item 8), then what is
//! left of its process group killed, a per-call timeout after which the child's whole
//! process group is killed and reaped, and a bound on how many children run at once. In
//! secret-output mode the captured bytes live only in `Secret` buffers.
//!
//! It knows nothing about what the tools print (see `tools`) and never decides anything. Tests
//! substitute the `Runner` trait (see `tools::fake`); this module is tested against real
//! `/bin/sh`, `/bin/cat` and `/bin/sleep`.

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::files::{self, FileError, Owners};
use crate::paths::{Root, Tool};
use crate::secret::Secret;

/// The environment every child gets, and nothing else (PLATFORM.md: children get a clean
/// environment; `LC_ALL=C` keeps tool wording in English, which the parsers expect).
pub(crate) const CHILD_PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin";

/// Default cap on each of stdout and stderr of a public call.
pub(crate) const DEFAULT_OUTPUT_CAP: usize = 1024 * 1024;
/// Cap on each stream of a secret call. Preallocated once so the buffer never moves (a moved
/// buffer would leave an unwiped copy behind); `changerecovery` prints a few hundred bytes.
pub(crate) const SECRET_OUTPUT_CAP: usize = 64 * 1024;
/// How long the pipes may stay open once the child itself has exited: long enough for what it
/// wrote just before exiting to be read (a pipe holds it already; this is scheduling slack on a
/// loaded Mac), short enough that a helper it left holding them (`sleep 600 &`, an agent an MDM
/// policy starts) delays a check by no more than this (issue 16, item 8).
pub(crate) const PIPE_GRACE: Duration = Duration::from_secs(2);
/// How many children may run at once. One check starts 14 independent probes, then up to 8
/// SecureToken probes (`observe`): 16 lets the first wave run together, so a check takes about
/// two tool latencies (its critical path), while a Mac with hundreds of users still never has more
/// than 16 tools running.
pub(crate) const DEFAULT_CONCURRENCY: usize = 16;

/// One invocation: a program at an absolute path on the Mac, and its arguments. Arguments are
/// never secret: secrets travel on stdin only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Absolute path on the Mac (resolved under the root by the runner).
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Overrides the runner's default timeout (e.g. a long `RotationCommand`).
    pub timeout: Option<Duration>,
    /// Leave the child running if the caller abandons the call (`keywarden check` interrupted at
    /// its terminal): an MDM policy must not be killed mid-install. A timeout still kills it. The
    /// daemon clears it for its own `RotationCommand`, which it kills when it stops and queues
    /// again (`daemon::OwnedByTask`, issue 16, item 8).
    pub survive_abandon: bool,
    /// Overrides the runner's cap on each public stream (e.g. `profiles`, which prints every
    /// payload of every profile). A secret call stays within `SECRET_OUTPUT_CAP` regardless.
    pub output_cap: Option<usize>,
    /// Which of `args` is a user's short name (`sysadminctl -secureTokenStatus NAME`): what
    /// `keywarden selftest --redact-users` replaces in an argv, and nothing else, so a person
    /// called `status` leaves `fdesetup status` as it is.
    pub user_arg: Option<usize>,
}

impl Call {
    pub fn tool<S: AsRef<str>>(tool: Tool, args: &[S]) -> Call {
        Call {
            program: PathBuf::from(tool.path()),
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            timeout: None,
            survive_abandon: false,
            output_cap: None,
            user_arg: None,
        }
    }

    pub fn program<S: AsRef<str>>(program: impl Into<PathBuf>, args: &[S]) -> Call {
        Call {
            program: program.into(),
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            timeout: None,
            survive_abandon: false,
            output_cap: None,
            user_arg: None,
        }
    }

    /// Keep the child running if the call is abandoned (see `survive_abandon`).
    pub(crate) fn surviving_abandon(mut self) -> Call {
        self.survive_abandon = true;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Call {
        self.timeout = Some(timeout);
        self
    }

    /// `args[index]` is a user's short name (see `user_arg`).
    pub(crate) fn with_user_arg(mut self, index: usize) -> Call {
        self.user_arg = Some(index);
        self
    }

    /// Keep up to `bytes` of each stream instead of the runner's cap (see `output_cap`).
    pub fn with_output_cap(mut self, bytes: usize) -> Call {
        self.output_cap = Some(bytes);
        self
    }

    /// The full argv as the child sees it (program path first), e.g. for a fake runner's key.
    pub fn argv(&self) -> Vec<String> {
        let mut v = vec![self.program.display().to_string()];
        v.extend(self.args.iter().cloned());
        v
    }

    /// `fdesetup status`: the short program name and the arguments, for errors and logs.
    pub(crate) fn display(&self) -> String {
        let name = self
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.display().to_string());
        let mut s = name;
        for a in &self.args {
            s.push(' ');
            if a.is_empty() || a.contains(char::is_whitespace) {
                s.push('\'');
                s.push_str(a);
                s.push('\'');
            } else {
                s.push_str(a);
            }
        }
        s
    }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    fn from_status(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(sig)) => Exit::Signal(sig),
            // Neither a code nor a signal cannot happen for a reaped child on Unix.
            (None, None) => Exit::Code(-1),
        }
    }
}

impl Exit {
    /// `0`, `1`, `SIGKILL`: for log fields.
    pub(crate) fn short(self) -> String {
        match self {
            Exit::Code(c) => c.to_string(),
            Exit::Signal(s) => {
                Signal::try_from(s).map_or_else(|_| format!("signal {s}"), |sig| sig.to_string())
            }
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => match Signal::try_from(*s) {
                Ok(sig) => write!(f, "killed by {sig}"),
                Err(_) => write!(f, "killed by signal {s}"),
            },
        }
    }
}

/// The whole output of a public call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub exit: Exit,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// More than the cap was printed on stdout or stderr; the rest was read and dropped.
    pub truncated: bool,
}

impl Output {
    /// Convenience for parsers and tests: a finished call with these streams.
    pub fn new(code: i32, stdout: impl Into<Vec<u8>>, stderr: impl Into<Vec<u8>>) -> Output {
        Output {
            exit: Exit::Code(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            truncated: false,
        }
    }
}

/// The whole output of a call whose output is secret (it may print a key).
#[derive(Debug)]
pub struct SecretOutput {
    pub exit: Exit,
    pub stdout: Secret,
    pub stderr: Secret,
    pub truncated: bool,
}

/// Why a child could not be run to completion. Never carries output.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{} is not installed", .path.display())]
    Missing { path: PathBuf },
    #[error("could not start {}: {source}", .path.display())]
    Spawn { path: PathBuf, source: io::Error },
    /// The program failed the trusted-path rule (issue 16, item 2); it was not started.
    #[error("not run, as it is not safe to run as root: {why}")]
    Untrusted { why: FileError },
    #[error("no answer within {} s; its process group was killed", .after.as_secs())]
    TimedOut { after: Duration },
    #[error("lost contact with it: {0}")]
    Io(#[from] io::Error),
}

/// Starts programs. The daemon uses `ProcessRunner`; tests use a fake keyed by the full argv.
pub trait Runner {
    /// Run a call with stdin closed and capture its public output.
    fn run(&self, call: &Call) -> impl Future<Output = Result<Output, RunError>>;

    /// Run a call with `stdin` written to the child and then closed; its output is secret.
    fn run_secret(
        &self,
        call: &Call,
        stdin: &Secret,
    ) -> impl Future<Output = Result<SecretOutput, RunError>>;
}

/// The production runner (also used, unchanged, against a simulated Mac under `--root`).
#[derive(Debug, Clone)]
pub struct ProcessRunner {
    root: Root,
    /// Who may own the programs it runs and the directories on their paths.
    owners: Owners,
    timeout: Duration,
    output_cap: usize,
    permits: Arc<Semaphore>,
}

impl ProcessRunner {
    pub fn new(root: Root, timeout: Duration) -> ProcessRunner {
        ProcessRunner {
            root,
            owners: Owners::current(),
            timeout,
            output_cap: DEFAULT_OUTPUT_CAP,
            permits: Arc::new(Semaphore::new(DEFAULT_CONCURRENCY)),
        }
    }

    pub fn with_output_cap(mut self, cap: usize) -> ProcessRunner {
        self.output_cap = cap;
        self
    }

    pub fn with_concurrency(mut self, children: usize) -> ProcessRunner {
        self.permits = Arc::new(Semaphore::new(children.max(1)));
        self
    }

    async fn execute(
        &self,
        call: &Call,
        stdin: Option<&[u8]>,
        mode: Capture,
    ) -> Result<(Exit, Captured, Captured), RunError> {
        let path = self.root.resolve(&call.program);
        // The semaphore is never closed, so acquiring cannot fail; treat it as unbounded if it did.
        let _permit = self.permits.acquire().await.ok();
        let started = Instant::now();
        // It runs as root: the program must pass the trusted-path rule along its whole path, and
        // the child executes the very file that passed (issue 16, item 2).
        let program = files::open_trusted(&self.root, &call.program, self.owners).map_err(|e| {
            if e.is_not_found() {
                RunError::Missing { path: path.clone() }
            } else {
                RunError::Untrusted { why: e }
            }
        })?;
        let mut cmd = tokio::process::Command::new(&program.path);
        // argv[0] is the path as asked for (the simulator's tools know themselves by it).
        let argv: Vec<&OsStr> = std::iter::once(path.as_os_str())
            .chain(call.args.iter().map(OsStr::new))
            .collect();
        crate::sys::exec::exec_checked(
            cmd.as_std_mut(),
            program,
            &argv,
            &[("PATH", CHILD_PATH), ("LC_ALL", "C")],
        )
        .map_err(|source| RunError::Spawn {
            path: path.clone(),
            source,
        })?;
        cmd.args(&call.args)
            .env_clear()
            .env("PATH", CHILD_PATH)
            .env("LC_ALL", "C")
            .current_dir("/")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout can kill everything it started.
            .process_group(0)
            .kill_on_drop(!call.survive_abandon);
        let spawned = cmd.spawn();
        // The command holds the checked program's descriptor: close it in this process now.
        drop(cmd);
        let mut child = spawned.map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                RunError::Missing { path: path.clone() }
            } else {
                RunError::Spawn {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        // Whatever happens next (an answer, a timeout, or this future dropped because the daemon
        // is shutting down), nothing of this call may outlive it: the guard kills what is left of
        // its process group, background grandchildren included. A process-group id is not reused
        // while any member is alive, so this cannot hit an unrelated process.
        let mut group = GroupGuard {
            pgid: child.id().map(|id| Pid::from_raw(id as i32)),
            kill_on_drop: !call.survive_abandon,
        };
        let timeout = call.timeout.unwrap_or(self.timeout);
        let mut child_stdin = child.stdin.take();
        let child_stdout = child.stdout.take();
        let child_stderr = child.stderr.take();

        let cap = call.output_cap.unwrap_or(self.output_cap);
        // Owned here, not by the reads: when the reads are given up (below) what they had read
        // stays, and in secret mode the buffers stay the preallocated, zeroized ones.
        let mut out = Captured::new(cap, mode);
        let mut err = Captured::new(cap, mode);
        let work = async {
            let feed = async {
                if let (Some(mut w), Some(bytes)) = (child_stdin.take(), stdin) {
                    // A child that exits without reading its stdin gives EPIPE: not our failure,
                    // its exit status tells what happened.
                    let r = w.write_all(bytes).await;
                    let _ = w.shutdown().await;
                    drop(w);
                    match r {
                        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
                        _ => {}
                    }
                }
                Ok(())
            };
            let reads = async {
                tokio::join!(
                    feed,
                    read_capped(child_stdout, &mut out),
                    read_capped(child_stderr, &mut err)
                )
            };
            tokio::pin!(reads);
            // The child's own exit ends the call, not the end of its pipes: a helper it left
            // behind holding stdout (`sleep 600 &`, an MDM policy's agent) would otherwise hold
            // the call, and with it a check, until the helper exits or the timeout kills the
            // group (issue 16, item 8). After the exit the pipes get `PIPE_GRACE` to drain.
            let (status, drained) = tokio::select! {
                r = &mut reads => {
                    let (fed, o, e) = r;
                    fed?;
                    o?;
                    e?;
                    (child.wait().await?, true)
                }
                status = child.wait() => {
                    let status = status?;
                    match tokio::time::timeout(PIPE_GRACE, &mut reads).await {
                        Ok((fed, o, e)) => {
                            fed?;
                            o?;
                            e?;
                            (status, true)
                        }
                        Err(_still_open) => (status, false),
                    }
                }
            };
            Ok::<_, io::Error>((Exit::from_status(status), drained))
        };
        let result = tokio::time::timeout(timeout, work).await;
        // Answered or timed out: now the group goes, whatever `survive_abandon` says. For a
        // `RotationCommand` too (issue 16, item 8, decided): its own exit is its answer, and a
        // root process it left behind would have no owner and no time limit; a helper meant to
        // outlive it leaves the process group (a LaunchDaemon), as one outliving a tool must.
        group.kill();
        match result {
            Ok(Ok((exit, drained))) => {
                if !drained {
                    // Whatever still held the pipes may have had more to say: what was read is
                    // all there is, and a parser must not take it for the whole answer.
                    out.truncated = true;
                    err.truncated = true;
                    tracing::debug!(event = "tool_pipes_left_open", call = %call.display(), grace_ms = PIPE_GRACE.as_millis() as u64);
                }
                tracing::debug!(
                    event = "tool_finished",
                    call = %call.display(),
                    exit = %exit.short(),
                    ms = started.elapsed().as_millis() as u64,
                );
                Ok((exit, out, err))
            }
            Ok(Err(e)) => {
                let _ = child.wait().await;
                Err(RunError::Io(e))
            }
            Err(_elapsed) => {
                let _ = child.wait().await;
                tracing::debug!(event = "tool_timed_out", call = %call.display(), secs = timeout.as_secs());
                Err(RunError::TimedOut { after: timeout })
            }
        }
    }
}

impl Runner for ProcessRunner {
    async fn run(&self, call: &Call) -> Result<Output, RunError> {
        let (exit, out, err) = self.execute(call, None, Capture::Public).await?;
        let truncated = out.truncated || err.truncated;
        Ok(Output {
            exit,
            stdout: out.into_public(),
            stderr: err.into_public(),
            truncated,
        })
    }

    async fn run_secret(&self, call: &Call, stdin: &Secret) -> Result<SecretOutput, RunError> {
        let (exit, out, err) = self
            .execute(call, Some(stdin.expose_secret()), Capture::Secret)
            .await?;
        let truncated = out.truncated || err.truncated;
        Ok(SecretOutput {
            exit,
            stdout: out.into_secret(),
            stderr: err.into_secret(),
            truncated,
        })
    }
}

/// Kills a child's process group: explicitly once the call is over, and on drop (the call was
/// abandoned) unless the call asked to survive that.
struct GroupGuard {
    pgid: Option<Pid>,
    kill_on_drop: bool,
}

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.kill_on_drop {
            self.kill();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    Public,
    Secret,
}

struct Captured {
    bytes: Zeroizing<Vec<u8>>,
    /// At most this many bytes are kept.
    cap: usize,
    truncated: bool,
}

impl Captured {
    fn into_public(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.bytes)
    }

    fn into_secret(mut self) -> Secret {
        Secret::new(std::mem::take(&mut *self.bytes))
    }
}

impl Captured {
    /// An empty capture keeping at most `cap` bytes (the secret cap in secret mode).
    fn new(cap: usize, mode: Capture) -> Captured {
        let cap = match mode {
            Capture::Public => cap,
            Capture::Secret => SECRET_OUTPUT_CAP.min(cap),
        };
        Captured {
            bytes: Zeroizing::new(match mode {
                Capture::Public => Vec::new(),
                // Never reallocated: extend only within this capacity.
                Capture::Secret => Vec::with_capacity(cap),
            }),
            cap,
            truncated: false,
        }
    }
}

/// Read a stream to its end into `into`, keeping at most its cap and dropping the rest so the
/// child never blocks on a full pipe. Given up part-way (the child exited and the pipe stayed
/// open, `execute`), what was read stays in `into`, and the chunk is wiped as it is dropped.
async fn read_capped<R: AsyncRead + Unpin>(
    reader: Option<R>,
    into: &mut Captured,
) -> io::Result<()> {
    let Some(mut reader) = reader else {
        return Ok(());
    };
    let mut chunk = Zeroizing::new([0u8; 8192]);
    loop {
        match reader.read(&mut chunk[..]).await {
            Ok(0) => return Ok(()),
            Ok(n) => {
                let room = into.cap.saturating_sub(into.bytes.len());
                let keep = n.min(room);
                into.bytes.extend_from_slice(&chunk[..keep]);
                if keep < n {
                    into.truncated = true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}
