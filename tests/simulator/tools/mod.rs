//! What each simulated macOS tool prints for a scenario.
//!
//! One function per tool turns (arguments, stdin, scenario) into an `Answer`: stdout, stderr and
//! exit code, exactly as the Mac would print them — the corpus sample where one exists
//! (`corpus`), otherwise the wordings of PLATFORM.md and corpus/PATTERNS.md. A tool that changes
//! the Mac (`fdesetup changerecovery`, `defaults write/delete`) mutates the scenario it is
//! given; the caller saves it. Arguments the daemon never sends get a usage error (exit 64, or
//! 1 for fdesetup) so a daemon bug shows up. Faults, latency, replay and logging are not here
//! (see `faults`, `calls`).

mod accounts;
mod fdesetup;
mod system;

use jiff::Timestamp;

use crate::scenario::Scenario;

/// What a tool call prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: i32,
}

impl Answer {
    pub fn stdout(text: impl AsRef<[u8]>) -> Answer {
        Answer {
            stdout: text.as_ref().to_vec(),
            stderr: Vec::new(),
            exit: 0,
        }
    }

    pub fn stderr(text: impl AsRef<[u8]>, exit: i32) -> Answer {
        Answer {
            stdout: Vec::new(),
            stderr: text.as_ref().to_vec(),
            exit,
        }
    }

    pub fn with_exit(mut self, exit: i32) -> Answer {
        self.exit = exit;
        self
    }
}

/// The process facts a tool may print or act on.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub now: Timestamp,
    pub euid: u32,
    pub pid: u32,
}

/// The answer of `tool` to `args` on the Mac described by `s` (which it may change).
pub fn answer(tool: &str, args: &[String], stdin: &[u8], s: &mut Scenario, ctx: &Ctx) -> Answer {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match tool {
        "fdesetup" => fdesetup::answer(&args, stdin, s, ctx),
        "diskutil" => accounts::diskutil(&args, s),
        "dscl" => accounts::dscl(&args, s, ctx),
        "sysadminctl" => accounts::sysadminctl(&args, s, ctx),
        "profiles" => system::profiles(&args, s),
        "sysctl" => system::sysctl(&args, s),
        "sw_vers" => system::sw_vers(&args, s),
        "security" => system::security(&args, s),
        "defaults" => system::defaults(&args, s, ctx),
        other => unsupported(other, &args),
    }
}

/// The answer to arguments the simulator does not play: EX_USAGE, with the argv quoted, so an
/// unexpected call from the daemon is obvious in its error and in the call log.
pub fn unsupported(tool: &str, args: &[&str]) -> Answer {
    Answer::stderr(
        format!("{tool}: unsupported invocation (keywarden-sim): {args:?}\n"),
        64,
    )
}

/// The prefix Foundation's NSLog puts on each message sent to stderr, e.g.
/// `2021-01-14 18:17:47.414 sysadminctl[96836:904874] ` (corpus
/// `sysadminctl-securetokenstatus/ec2-macos-init-2021-enabled.txt`). Children run with a
/// cleared environment, so the time zone is UTC.
pub fn nslog_prefix(process: &str, ctx: &Ctx) -> String {
    let t = ctx.now.to_zoned(jiff::tz::TimeZone::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} {process}[{}:{}] ",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond(),
        ctx.pid,
        // A thread id: only its shape matters.
        u64::from(ctx.pid) * 7 + 1000
    )
}
