//! The command line: parse arguments into a command, check privilege, run it, map the outcome to
//! an exit code (0 fine, 1 status written with a failed probe or, when asked, problems, 2 fatal).
//!
//! Nothing is decided here beyond dispatch; every command's logic lives in its module.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::check::Env;
use crate::clock::{Clock, SystemClock};
use crate::config;
use crate::doctor;
use crate::files::Owners;
use crate::lock;
use crate::logging;
use crate::paths::Root;
use crate::privilege;
use crate::report;
use crate::runner::ProcessRunner;
use crate::status::{self, ReadError};

/// `keywarden --version`: the version, the commit it was built from and the target.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("KEYWARDEN_BUILD"),
    ")"
);

const AFTER_HELP: &str = "\
Exit codes: 0 fine; 1 the status was written but a probe failed (or, with --fail-on-problems,
a problem was found); 2 fatal (nothing written, or a command refused, with the reason).

Files: status /Library/Keywarden/status.plist (0644, read by inventory); state
/var/db/keywarden/ (0700, root); configuration: the org.keywarden preference domain
(/Library/Managed Preferences/org.keywarden.plist wins over /Library/Preferences/org.keywarden.plist).";

/// Keywarden keeps FileVault personal recovery keys valid, escrowed and unused, and publishes
/// what it knows in a status plist for MDM inventory.
#[derive(Debug, Parser)]
#[command(
    name = "keywarden",
    version,
    long_version = LONG_VERSION,
    about,
    long_about = None,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Run against a simulated Mac laid out in DIR (tools at DIR/usr/bin/..., files under DIR/...)
    /// instead of this Mac. Used by tests, `make demo` and benchmarks.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the resident daemon (root; started by launchd as org.keywarden.daemon).
    #[command(after_help = "\
Checks at start, then every CheckInterval (jittered by 10%), and at once when the console user
changes, /var/db/FileVaultPRK.dat changes, the preferences change, or on SIGHUP (which also
reloads the configuration). SIGTERM stops it within 2 seconds, abandoning a check in progress
safely. Logs go to /Library/Logs/Keywarden/keywarden.log and, on macOS, os_log (subsystem
org.keywarden).

Examples:
  sudo launchctl kickstart -k system/org.keywarden.daemon   # restart it under launchd
  sudo launchctl kill HUP system/org.keywarden.daemon       # reload configuration and check
  keywarden --root /tmp/mac run                             # against a simulated Mac, in the foreground")]
    Run,
    /// Run one check now and write the status plist (root).
    #[command(after_help = "\
Examples:
  sudo keywarden check                      # check now, exit 1 if a macOS tool failed
  sudo keywarden check --fail-on-problems   # also exit 1 when the Mac has any problem
  keywarden --root /tmp/mac check           # against a simulated Mac (no root needed)

Waits up to 60 s when the daemon is in the middle of its own check.")]
    Check {
        /// Exit 1 when the status lists any problem (for scripts and CI gates).
        #[arg(long)]
        fail_on_problems: bool,
    },
    /// Show the status as a readable table (any user).
    #[command(after_help = "\
Examples:
  keywarden status          # what a helpdesk technician reads
  keywarden status --json   # the same, as JSON, for scripts")]
    Status {
        /// Print JSON instead of the table (dates in RFC 3339, UTC).
        #[arg(long)]
        json: bool,
    },
    /// Explain every problem and what to do about it, and show the effective configuration (any user).
    #[command(after_help = "\
Reads the status plist and the org.keywarden preferences; runs no tool and needs no root, so a
helpdesk technician can run it while the user waits.

Examples:
  keywarden doctor
  keywarden doctor | less")]
    Doctor,
    /// Check that a recovery key unlocks this Mac: key on stdin, never echoed (root).
    #[command(after_help = "\
Reads one key from stdin (typed without echo on a terminal, or piped), checks its shape, and runs
exactly one `fdesetup validaterecovery`. Every attempt spends one of the Secure Enclave's
attempts for the life of the Mac, so Keywarden refuses, and says why: without a user logged in
at the console (valid keys have failed then), a key that already failed (it is never tried
again), more than ValidationDailyCap validations today, or ValidationFailureCap failures ever.
The result and its time are recorded (RecoveryKey.LastValidation); the key never is.

Exit codes: 0 valid, 1 invalid, 2 refused or error.

Examples:
  sudo keywarden validate                 # type or paste the key, then Return
  pbpaste | sudo keywarden validate")]
    Validate,
    /// Ask for a new recovery key, or rotate now with the current one (root).
    #[command(after_help = "\
--request asks for a rotation through the configured RotationMethods (Escrow Buddy at the next
login, the MDM, or RotationCommand), with the same safety rules as the daemon: never without the
escrow payload, never during the password reset after a recovery-key unlock.

--current-key reads the current key from stdin and runs exactly one `fdesetup changerecovery
-personal` with it; only when AllowRotateWithCurrentKey is true, FileVault is on and not
converting, the escrow payload is installed, and not during a password reset. The new key is
escrowed through the payload and never shown.

Examples:
  sudo keywarden rotate --request
  pbpaste | sudo keywarden rotate --current-key")]
    Rotate {
        /// Request a rotation through the configured methods.
        #[arg(
            long,
            conflicts_with = "current_key",
            required_unless_present = "current_key"
        )]
        request: bool,
        /// Rotate now, authenticating with the current key read from stdin.
        #[arg(long)]
        current_key: bool,
    },
    /// Print the audit trail of key operations (root).
    #[command(after_help = "\
Every key operation (use detected, rotation requested, confirmed or failed, validation, rotation
with the current key) with when, the result, the console user and the calling user; never a key.

Examples:
  sudo keywarden audit
  sudo keywarden audit --json | jq 'select(.What == \"Validated\")'")]
    Audit {
        /// One JSON object per line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Print the man page (roff), generated from this command line.
    #[command(after_help = "\
Example:
  keywarden man > /usr/local/share/man/man8/keywarden.8   # then: man 8 keywarden
  keywarden man | man -l -                               # read it now (Linux)")]
    Man,
    /// Print shell completions, generated from this command line.
    #[command(after_help = "\
Examples:
  keywarden completions zsh > /usr/local/share/zsh/site-functions/_keywarden
  keywarden completions bash > /usr/local/etc/bash_completion.d/keywarden
  keywarden completions fish > ~/.config/fish/completions/keywarden.fish")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print one status value as a Jamf extension attribute result (any user).
    #[command(after_help = "\
KEY.PATH follows the status plist: dictionary keys and array indexes joined by dots.
Strings print as they are, booleans true/false, dates YYYY-MM-DD hh:mm:ss (UTC), numbers in
decimal, arrays joined by \", \". A missing key prints an empty result. Healthy prints Stale when
the status is older than StaleAfterHours, and every key prints NotInstalled when there is no
status at all.

Examples:
  keywarden ea Healthy                      # <result>true</result>
  keywarden ea RecoveryKey.State            # <result>Valid</result>
  keywarden ea Escrow.FileVaultPRKModifiedAt
  keywarden ea SecureToken.Users.0.Name")]
    Ea {
        /// The value to print, e.g. RecoveryKey.State or SecureToken.Users.0.Name.
        #[arg(value_name = "KEY.PATH")]
        key_path: String,
    },
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    errln!("keywarden: {msg}");
    2
}

/// Run a parsed command.
pub fn run(cli: Cli) -> i32 {
    let root = cli.root.map(Root::new).unwrap_or_default();
    let owners = Owners::current();
    match cli.command {
        Command::Run => {
            if let Err(e) = privilege::require_root("run", &root, owners) {
                return fail(e);
            }
            crate::daemon::main(root, owners)
        }
        Command::Validate => {
            if let Err(e) = privilege::require_root("validate", &root, owners) {
                return fail(e);
            }
            crate::validate::main(&root, owners)
        }
        Command::Rotate {
            request,
            current_key,
        } => {
            if let Err(e) = privilege::require_root("rotate", &root, owners) {
                return fail(e);
            }
            crate::act::rotate_main(&root, owners, request, current_key)
        }
        Command::Audit { json } => {
            if let Err(e) = privilege::require_root("audit", &root, owners) {
                return fail(e);
            }
            logging::init(logging::Mode::Interactive, &root, config::LogLevel::Warn);
            crate::audit::main(&root, owners, json)
        }
        Command::Man => {
            let page = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).section("8");
            let mut roff = Vec::new();
            match page.render(&mut roff) {
                Ok(()) => {
                    out!("{}", String::from_utf8_lossy(&roff));
                    0
                }
                Err(e) => fail(format!("cannot render the man page: {e}")),
            }
        }
        Command::Completions { shell } => {
            // Generated into memory first: clap_complete panics when its writer fails.
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "keywarden", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            0
        }
        Command::Doctor => {
            logging::init(logging::Mode::Interactive, &root, config::LogLevel::Warn);
            let cfg = config::load(&root, owners);
            let (st, err) = match status::read(&root) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e.to_string())),
            };
            out!(
                "{}",
                doctor::report(st.as_ref(), err.as_deref(), &cfg, SystemClock.now())
            );
            0
        }
        Command::Check { fail_on_problems } => {
            if let Err(e) = privilege::require_root("check", &root, owners) {
                return fail(e);
            }
            let cfg = config::load(&root, owners);
            let log = logging::init(logging::Mode::Check, &root, cfg.config.log_level);
            disable_core_dumps();
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail(e),
            };
            let runner = ProcessRunner::new(root.clone(), cfg.config.tool_timeout);
            let env = Env {
                runner: &runner,
                clock: &SystemClock,
                root: &root,
                owners,
                lock_wait: lock::CHECK_LOCK_WAIT,
                next_check_at: None,
                log_problem: log.file_error(),
            };
            match rt.block_on(crate::act::check_and_follow_up(&env, &cfg)) {
                Ok(outcome) => {
                    let s = &outcome.status;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(
                        out,
                        "{}: {}",
                        if s.healthy { "healthy" } else { "problems" },
                        if s.problems.is_empty() {
                            report::one_line(s)
                        } else {
                            s.problems
                                .iter()
                                .map(|p| p.code())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    );
                    for e in &s.daemon.errors {
                        let _ = writeln!(out, "error: {e}");
                    }
                    if outcome.probe_failed || (fail_on_problems && !s.healthy) {
                        1
                    } else {
                        0
                    }
                }
                Err(e) => fail(e),
            }
        }
        Command::Status { json } => {
            logging::init(logging::Mode::Interactive, &root, config::LogLevel::Warn);
            let now = SystemClock.now();
            if json {
                match status::read_value(&root) {
                    Ok(v) => {
                        let text = serde_json::to_string_pretty(&report::to_json(&v))
                            .expect("JSON values always serialise");
                        outln!("{text}");
                        0
                    }
                    Err(e) => fail(e),
                }
            } else {
                match status::read(&root) {
                    Ok(s) => {
                        let hours = config::load(&root, owners).config.stale_after_hours;
                        out!("{}", report::table(&s, now, hours));
                        0
                    }
                    Err(e) => fail(e),
                }
            }
        }
        Command::Ea { key_path } => {
            logging::init(logging::Mode::Interactive, &root, config::LogLevel::Warn);
            let now = SystemClock.now();
            let value = match status::read_value(&root) {
                Ok(v) => {
                    let hours = config::load(&root, owners).config.stale_after_hours;
                    report::ea_value(&v, &key_path, now, hours)
                }
                Err(ReadError::Missing { .. }) => "NotInstalled".to_owned(),
                Err(e) => {
                    // Inventory gets a value it can group on; the reason goes to stderr.
                    errln!("keywarden: {e}");
                    "Unreadable".to_owned()
                }
            };
            outln!("<result>{value}</result>");
            0
        }
    }
}

/// A root process that may hold a key in memory must not leave it in a core file.
pub fn disable_core_dumps() {
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
}

/// The runtime every command uses: tokio on the current thread (one thread, no pool), with
/// timers, signals and child processes.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}
