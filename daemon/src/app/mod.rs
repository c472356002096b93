//! The commands: the top of the house. Parse the command line, start a session (`session`), run
//! one command, and turn how it ended (`Ended`) into the message and the exit code (0 fine, 1
//! finished but needs attention, 2 refused or fatal) in one place, `main`.
//!
//! This is the only code that prints to the terminal or chooses an exit code. What a command
//! does lives below: `check`, `validate`, `rotate` and the daemon loop in the flow, the views in
//! `report` and `doctor`. Nothing below `app` imports from it.

mod check;
mod keys;
mod privilege;
mod run;
mod selftest;
mod session;
mod views;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `keywarden --version`: the version, the commit it was built from and the target.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("KEYWARDEN_BUILD"),
    ")"
);

const AFTER_HELP: &str = "\
Exit codes: 0 fine; 1 the status was written but a probe failed (or, with --fail-on-problems,
the Mac is not Healthy); 2 fatal (nothing written, or a command refused, with the reason).

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
pub(crate) struct Cli {
    /// Run against a simulated Mac laid out in DIR (tools at DIR/usr/bin/..., files under DIR/...)
    /// instead of this Mac. Used by tests, `make demo` and benchmarks.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
  sudo keywarden check --fail-on-problems   # also exit 1 when the Mac is not Healthy
  keywarden --root /tmp/mac check           # against a simulated Mac (no root needed)

Waits up to 60 s when the daemon is in the middle of its own check.")]
    Check {
        /// Exit 1 when the Mac is not Healthy: a problem endangers recovery (Warnings do not
        /// count). For scripts and CI gates.
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
    /// Ask for a new recovery key, rotate now with the current one, or state it was replaced (root).
    #[command(after_help = "\
--request asks for a rotation through the configured RotationMethods (Escrow Buddy at the next
login, the MDM, or RotationCommand), with the same safety rules as the daemon: never without the
escrow payload, never during the password reset after a recovery-key unlock.

--current-key reads the current key from stdin and runs exactly one `fdesetup changerecovery
-personal` with it; only when AllowRotateWithCurrentKey is true, FileVault is on and not
converting, the escrow payload is installed (EscrowOutsideMDM does not lift this: without it no
escrow file shows the new key), and not during a password reset. The new key is escrowed through
the payload and never shown.

--replaced, only with EscrowOutsideMDM, records your statement that the tool that escrows the
keys (Crypt, an agent, a Jamf policy) replaced the key: Keywarden cannot see that without the
escrow payload. It is written to the audit trail with your name, then settles a used key.

Examples:
  sudo keywarden rotate --request
  pbpaste | sudo keywarden rotate --current-key
  sudo keywarden rotate --replaced       # after your escrow tool made and escrowed a new key")]
    #[command(group(clap::ArgGroup::new("how").required(true).args(["request", "current_key", "replaced"])))]
    Rotate {
        /// Request a rotation through the configured methods.
        #[arg(long)]
        request: bool,
        /// Rotate now, authenticating with the current key read from stdin.
        #[arg(long)]
        current_key: bool,
        /// State that the key was replaced outside Keywarden (EscrowOutsideMDM only).
        #[arg(long)]
        replaced: bool,
    },
    /// Print the audit trail of key operations (root).
    #[command(after_help = "\
Every key operation (use detected, rotation requested, confirmed or failed, validation, rotation
with the current key) with when, the result, the console user and the calling user; never a key.

Examples:
  sudo keywarden audit
  sudo keywarden audit --json | jq 'select(.What == \"Validated\")'")]
    Audit {
        /// One JSON object per line instead of the table, for a SIEM: each event as read and
        /// written again (normalised, control characters escaped); unreadable lines are only
        /// named on stderr.
        #[arg(long)]
        json: bool,
    },
    /// Run every probe once, read-only, and say whether Keywarden recognised each answer; with
    /// --bundle, write a tar.gz for a bug report (root for the full selftest).
    #[command(after_help = "\
Runs every macOS tool a check runs (the same argv, the same parsers), once, and reads the files a
check reads, then prints one line per probe: exit code, time, and whether Keywarden recognised
the output, with a short excerpt when it did not. It changes nothing: no status, state, audit
trail, log file or lock is written, and no call that carries a key (validaterecovery,
changerecovery) is ever run. Without root every probe still runs, but macOS keeps some answers to
root, so run it with sudo on a pilot Mac before a rollout.

--bundle FILE writes one tar.gz (mode 0600, atomically): every probe's argv, stdout, stderr, exit
code and time, the macOS version, Keywarden's version, the configuration as the doctor shows it,
the status plist, and the facts of the files a check reads (console owner, the escrow file's
size, time, SHA-256 and recipient). Never a key, never the plaintext deferral key file. The
escrow file itself (the key encrypted to your MDM's certificate) only with --with-escrow-file.
`keywarden-sim init --from-bundle FILE DIR` replays a bundle as a simulated Mac (docs/selftest.md).

Exit codes: 0 every answer recognised; 1 one was not (or could not run, or a file could not be
read); 2 the selftest could not start or the bundle could not be written.

Examples:
  sudo keywarden selftest                                    # before a rollout, on a pilot Mac
  sudo keywarden selftest --bundle /tmp/keywarden-selftest.tgz --redact-users   # for a bug report
  tar -tzf /tmp/keywarden-selftest.tgz                       # see what it holds")]
    Selftest {
        /// Also write everything the selftest saw to FILE (a tar.gz, mode 0600).
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// Replace every user's short name, real name and home folder by user1, user2... in the
        /// whole bundle (uids and system accounts such as root and _mbsetupuser are kept).
        #[arg(long, requires = "bundle")]
        redact_users: bool,
        /// Include /var/db/FileVaultPRK.dat: the recovery key encrypted to the MDM's certificate
        /// (whoever holds the MDM's private key can read the key from it).
        #[arg(long, requires = "bundle")]
        with_escrow_file: bool,
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

/// How a command ended. `main` prints a failure and picks the exit code from it, and nowhere
/// else is an exit code chosen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Exit 0: done as asked.
    Done,
    /// Exit 1: finished (the status is written), and the answer needs attention: a probe failed,
    /// a problem was found with `--fail-on-problems`, the key is invalid, a rotation is recorded
    /// but not requested.
    Attention,
    /// Exit 2: refused or fatal; nothing was done. Each line is printed on stderr after
    /// `keywarden: ` (the reason first, then any warnings).
    Failed(Vec<String>),
}

impl Ended {
    /// Exit 2 with one line saying why.
    pub(crate) fn failed(why: impl std::fmt::Display) -> Ended {
        Ended::Failed(vec![why.to_string()])
    }

    /// Exit 2: the command refused, and why.
    pub(crate) fn refused(why: impl std::fmt::Display) -> Ended {
        Ended::Failed(vec![format!("refused: {why}")])
    }

    fn exit_code(&self) -> i32 {
        match self {
            Ended::Done => 0,
            Ended::Attention => 1,
            Ended::Failed(_) => 2,
        }
    }
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help and version on stdout (exit 0) and usage errors on stderr (2).
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let ended = run(cli);
    if let Ended::Failed(lines) = &ended {
        for line in lines {
            errln!("keywarden: {line}");
        }
    }
    ended.exit_code()
}

fn run(cli: Cli) -> Ended {
    let root = cli.root;
    match cli.command {
        Command::Run => run::run(root),
        Command::Check { fail_on_problems } => check::check(root, fail_on_problems),
        Command::Status { json } => views::status(root, json),
        Command::Doctor => views::doctor(root),
        Command::Ea { key_path } => views::ea(root, &key_path),
        Command::Audit { json } => views::audit(root, json),
        Command::Selftest {
            bundle,
            redact_users,
            with_escrow_file,
        } => selftest::selftest(root, bundle, redact_users, with_escrow_file),
        Command::Man => views::man(root),
        Command::Completions { shell } => views::completions(root, shell),
        Command::Validate => keys::validate(root),
        Command::Rotate {
            request,
            current_key,
            replaced,
        } => keys::rotate(root, request, current_key, replaced),
    }
}
