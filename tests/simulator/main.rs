//! `keywarden-sim`: a simulated Mac for running the real Keywarden daemon on Linux.
//!
//! Run under its own name it is a small CLI (`init`, `scenario`, `set`, `log`, `event`, `age`)
//! that lays out and changes a simulated Mac in a directory. Run through one of the tool
//! symlinks it lays out (`DIR/usr/bin/fdesetup`, ...), it *is* that tool: it finds `DIR` from
//! its own path, answers from `DIR/.sim/scenario.json` as the Mac would, and logs the call. It
//! is a test program, never installed, and independent of the `keywarden` library on purpose:
//! it must not share the parsers it is used to test. See `README.md` next to this file.

mod age;
mod blob;
mod calls;
mod corpus;
mod events;
mod faults;
mod layout;
mod random;
mod recorded;
mod scenario;
mod tools;
mod xml;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jiff::Timestamp;

use crate::calls::Entry;
use crate::layout::Mac;
use crate::scenario::{FaultKind, Scenario};
use crate::tools::{Answer, Ctx};

/// Exit code of a simulator failure (bad scenario, unwritable directory): EX_SOFTWARE.
const EXIT_SIM_FAILURE: i32 = 70;

#[derive(Debug, Parser)]
#[command(
    name = "keywarden-sim",
    about = "A simulated Mac for Keywarden's tests and demo"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lay out a simulated Mac in DIR (the healthy Mac unless --scenario is given; with
    /// --from-bundle, the Mac a `keywarden selftest --bundle` recorded).
    Init {
        dir: PathBuf,
        #[arg(long, conflicts_with = "from_bundle")]
        scenario: Option<PathBuf>,
        /// A bundle of `keywarden selftest --bundle FILE`: every call answers as recorded.
        #[arg(long, value_name = "FILE")]
        from_bundle: Option<PathBuf>,
    },
    /// Print a built-in scenario as JSON (only `healthy` exists).
    Scenario {
        #[arg(value_parser = ["healthy"])]
        name: String,
    },
    /// Change scenario fields: PATH=JSON ... (e.g. filevault.state='"Off"', users.1.admin=false).
    Set {
        dir: PathBuf,
        #[arg(required = true)]
        assignments: Vec<String>,
    },
    /// Print the call log (one JSON object per line).
    Log { dir: PathBuf },
    /// Make something happen to the Mac.
    Event {
        dir: PathBuf,
        #[command(subcommand)]
        event: Event,
    },
    /// Time passes: every time recorded under DIR (plist dates, JSON timestamps, file times)
    /// moves back by DURATION, which to a program reading them is the clock moving forward.
    Age {
        dir: PathBuf,
        /// 90s, 11m, 3h, 15d, or several from days down (1d2h).
        #[arg(allow_hyphen_values = true)]
        duration: String,
    },
}

#[derive(Debug, Subcommand)]
enum Event {
    /// A restart: new boot session, nobody logged in.
    Reboot {
        /// The disk was unlocked with the personal recovery key at this boot.
        #[arg(long)]
        with_recovery_key: bool,
    },
    /// NAME logs in at the login window (Escrow Buddy runs).
    Login {
        name: String,
        /// With a smart card: Escrow Buddy gets the PIN, fdesetup refuses it.
        #[arg(long, conflicts_with = "automatic")]
        smart_card: bool,
        /// FileVault's automatic login after the unlock at boot: Escrow Buddy does not run.
        #[arg(long)]
        automatic: bool,
    },
    /// The console user logs out.
    Logout,
    /// COUNT more local people (`user0001`, ... with UIDs from 2001): a lab Mac with many mobile
    /// accounts (issue 16, item 10). The first WITH_TOKEN of them hold a SecureToken.
    AddUsers {
        count: usize,
        #[arg(long, default_value_t = 0)]
        with_token: usize,
    },
    /// The MDM sends the escrow profile again (a new install date), with the same certificate
    /// unless --certificate names another. macOS writes no new escrow blob for it.
    ResendProfile {
        /// `a`, `a_reissued` (A's key, another serial) or `b` (another MDM certificate).
        #[arg(long, value_parser = ["a", "a_reissued", "b"])]
        certificate: Option<String>,
    },
}

fn main() -> ExitCode {
    let argv0 = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .unwrap_or_default();
    if let Some((mac, tool)) = tool_identity(&argv0) {
        run_tool(&mac, tool);
    }
    match run_cli(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keywarden-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The Mac and tool when started through a tool symlink. A relative path (someone typing
/// `usr/bin/fdesetup` in DIR) is taken from the current directory.
fn tool_identity(argv0: &Path) -> Option<(Mac, &'static str)> {
    let abs = if argv0.is_absolute() {
        argv0.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(argv0)
    };
    Mac::from_tool_path(&abs)
}

fn run_cli(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Init {
            dir,
            from_bundle: Some(bundle),
            ..
        } => {
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            let notes = mac(&dir)?.init_from_bundle(&bundle, &exe)?;
            println!(
                "{}: a recorded Mac from {}; an argv the bundle does not hold exits 1",
                dir.display(),
                bundle.display()
            );
            for note in notes {
                println!("note: {note}");
            }
            Ok(())
        }
        Command::Init { dir, scenario, .. } => {
            let s = match scenario {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|e| layout::io_err(&path, e))?;
                    Scenario::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => Scenario::default(),
            };
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            mac(&dir)?.init(&s, &exe)
        }
        Command::Scenario { .. } => {
            print!("{}", Scenario::default().to_json());
            Ok(())
        }
        Command::Set { dir, assignments } => {
            let mac = mac(&dir)?;
            let _lock = mac.lock()?;
            let mut s = mac.load()?;
            for a in &assignments {
                s = s.assign(a)?;
            }
            mac.save(&s)?;
            mac.apply(&s)
        }
        Command::Log { dir } => {
            let path = mac(&dir)?.calls_file();
            match std::fs::read(&path) {
                Ok(bytes) => std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| format!("stdout: {e}")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(layout::io_err(&path, e)),
            }
        }
        Command::Event { dir, event } => {
            let mac = mac(&dir)?;
            let _lock = mac.lock()?;
            let mut s = mac.load()?;
            let lines = match event {
                Event::Reboot { with_recovery_key } => events::reboot(&mut s, with_recovery_key),
                Event::Login {
                    name,
                    smart_card,
                    automatic,
                } => {
                    let how = match (smart_card, automatic) {
                        (true, _) => events::How::SmartCard,
                        (false, true) => events::How::Automatic,
                        (false, false) => events::How::Password,
                    };
                    events::login(&mut s, &name, how, Timestamp::now())?
                }
                Event::Logout => events::logout(&mut s),
                Event::AddUsers { count, with_token } => {
                    events::add_users(&mut s, count, with_token)?
                }
                Event::ResendProfile { certificate } => {
                    let certificate = certificate
                        .map(|c| serde_json::from_value(serde_json::Value::String(c)))
                        .transpose()
                        .map_err(|e| format!("--certificate: {e}"))?;
                    events::resend_profile(&mut s, certificate, Timestamp::now())?
                }
            };
            mac.save(&s)?;
            mac.apply(&s)?;
            for line in lines {
                println!("{line}");
            }
            Ok(())
        }
        Command::Age { dir, duration } => {
            let span = age::parse_span(&duration).map_err(|e| format!("age: {e}"))?;
            let mac = mac(&dir)?;
            if !mac.scenario_file().is_file() {
                return Err(format!(
                    "age: {} is not a simulated Mac (no .sim/scenario.json): nothing aged",
                    dir.display()
                ));
            }
            let mac = Mac::new(std::fs::canonicalize(&dir).map_err(|e| layout::io_err(&dir, e))?)
                .map_err(|e| layout::io_err(&dir, e))?;
            let _lock = mac.lock()?;
            // Loaded before, not after: reading a file after aging would move its atime again.
            let s = mac.load()?;
            let report = age::age(&mac, &span).map_err(|e| format!("age: {e}"))?;
            for note in &report.notes {
                eprintln!("keywarden-sim: age: {note}");
            }
            // The escrow file's time must still match the aged scenario's, or the next
            // `set`/`event` would rewrite FileVaultPRK.dat.
            if let Some(at) = &s.escrow.prk_file_written_at {
                let path = mac.path(layout::FILEVAULT_PRK);
                let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                let want =
                    layout::system_time(at)?.checked_sub(Duration::from_secs(span.seconds as u64));
                if mtime.is_some() && mtime != want {
                    eprintln!(
                        "keywarden-sim: age: {}: its time no longer matches escrow.prk_file_written_at",
                        path.display()
                    );
                }
            }
            println!("{}", report.summary(&span));
            Ok(())
        }
    }
}

/// An initialised simulated Mac (or one about to be, for `init`).
fn mac(dir: &Path) -> Result<Mac, String> {
    Mac::new(dir).map_err(|e| layout::io_err(dir, e))
}

/// Plays `tool` for this process's arguments and exits. Children of the daemon run with a
/// cleared environment and cwd `/`, so nothing here reads either.
fn run_tool(mac: &Mac, tool: &'static str) -> ! {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut argv = vec![tool.to_string()];
    argv.extend(args.iter().cloned());
    let stdin = read_stdin();
    let ctx = Ctx {
        now: Timestamp::now(),
        euid: nix::unistd::geteuid().as_raw(),
        pid: std::process::id(),
    };
    let mut entry = Entry {
        at: ctx.now.to_string(),
        tool,
        argv: &argv,
        stdin: String::from_utf8_lossy(&stdin).into_owned(),
        exit: None,
        fault: None,
        replayed: false,
        child_pid: None,
    };

    let answer = match play(mac, tool, &args, &argv, &stdin, &ctx, &mut entry) {
        Ok(a) => a,
        Err(e) => Answer::stderr(format!("keywarden-sim: {e}\n"), EXIT_SIM_FAILURE),
    };
    entry.exit = Some(answer.exit);
    if let Err(e) = calls::append(mac, &entry) {
        eprintln!("keywarden-sim: call log: {e}");
    }
    // A reader that went away (EPIPE) is not the simulator's problem.
    let _ = std::io::stdout().write_all(&answer.stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(&answer.stderr);
    std::process::exit(answer.exit)
}

/// What identifies one version of the scenario file: `Mac::save` writes a new file and renames
/// it into place, so the inode changes with every save.
fn scenario_stamp(mac: &Mac) -> Option<(u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(mac.scenario_file()).ok()?;
    Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// Latency, then a fault if one matches, then the transcript or the scenario's answer.
fn play(
    mac: &Mac,
    tool: &str,
    args: &[String],
    argv: &[String],
    stdin: &[u8],
    ctx: &Ctx,
    entry: &mut Entry,
) -> Result<Answer, String> {
    let stamp = scenario_stamp(mac);
    let loaded = mac.load()?;
    let latency = loaded.latency_ms;
    if latency > 0 {
        std::thread::sleep(Duration::from_millis(latency));
    }

    // Faults are spent under the lock, on a fresh read; with none in the scenario there is
    // nothing to spend, and concurrent tools do not queue on the lock to re-read a scenario of
    // thousands of users (issue 16's accounts benchmark: that queue was most of a check's time).
    let fault = if loaded.faults.is_empty() {
        None
    } else {
        let _lock = mac.lock()?;
        let mut s = mac.load()?;
        let fault = faults::take(&mut s, argv);
        if fault.is_some() {
            mac.save(&s)?;
        }
        fault
    };
    if let Some(f) = &fault {
        entry.fault = Some(f.kind);
        match f.kind {
            FaultKind::Hang => {
                log_unfinished(mac, entry);
                faults::sleep_forever()
            }
            FaultKind::HangWithChild => {
                // SAFETY: the simulator is single-threaded here; the child only sleeps.
                #[allow(unsafe_code)]
                let forked = unsafe { nix::unistd::fork() };
                match forked {
                    Ok(nix::unistd::ForkResult::Child) => faults::sleep_forever(),
                    Ok(nix::unistd::ForkResult::Parent { child }) => {
                        entry.child_pid = Some(child.as_raw());
                        log_unfinished(mac, entry);
                        faults::sleep_forever()
                    }
                    Err(e) => return Err(format!("fork: {e}")),
                }
            }
            FaultKind::Crash => {
                log_unfinished(mac, entry);
                // No core file in the daemon's cwd `/` (the signal is the point, not the dump).
                let _ =
                    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
                std::process::abort()
            }
            FaultKind::Slow => std::thread::sleep(faults::slow_delay(f)),
            FaultKind::Exit
            | FaultKind::Garbage
            | FaultKind::Huge
            | FaultKind::NonUtf8
            | FaultKind::Empty
            | FaultKind::Truncated => {}
        }
        if let Some(a) = faults::canned(f) {
            return Ok(a);
        }
    }

    // A Mac from a bundle answers from the recording alone, outside the lock (a recorded
    // timeout hangs, and must not hold up the other tools).
    if loaded.recorded.is_some() {
        let answer = match recorded::answer(mac, argv)? {
            recorded::Replay::Answer(a) => {
                entry.replayed = true;
                a
            }
            recorded::Replay::Hang => {
                log_unfinished(mac, entry);
                faults::sleep_forever()
            }
        };
        return Ok(match fault.map(|f| f.kind) {
            Some(FaultKind::Truncated) => faults::truncate(answer),
            _ => answer,
        });
    }

    // A tool that changes nothing answers from a fresh read without the lock, so concurrent
    // read-only tools do not queue behind each other's parse of a large scenario (issue 16's
    // accounts benchmark). One that changes the Mac (or a transcript) is answered again under
    // the lock, on a fresh read, as before.
    let unlocked = {
        // Read again only if it changed during the latency (every save is a new file: rename).
        let s = if stamp.is_some() && scenario_stamp(mac) == stamp {
            loaded.clone()
        } else {
            mac.load()?
        };
        if s.transcript.is_some() {
            None
        } else {
            let mut after = s.clone();
            let a = tools::answer(tool, args, stdin, &mut after, ctx);
            (after == s).then_some(a)
        }
    };
    let answer = if let Some(a) = unlocked {
        a
    } else {
        let _lock = mac.lock()?;
        let mut s = mac.load()?;
        match faults::replay(mac, &s, argv)? {
            Some(a) => {
                entry.replayed = true;
                a
            }
            None => {
                let before = s.clone();
                let a = tools::answer(tool, args, stdin, &mut s, ctx);
                if s != before {
                    mac.save(&s)?;
                    mac.apply(&s)?;
                }
                a
            }
        }
    };
    Ok(match fault.map(|f| f.kind) {
        Some(FaultKind::Truncated) => faults::truncate(answer),
        _ => answer,
    })
}

/// The log line of a call that will never return normally (it hangs or aborts).
fn log_unfinished(mac: &Mac, entry: &Entry) {
    if let Err(e) = calls::append(mac, entry) {
        eprintln!("keywarden-sim: call log: {e}");
    }
}

/// All of stdin, unless it is a terminal (someone trying a tool by hand).
fn read_stdin() -> Vec<u8> {
    let mut stdin = std::io::stdin();
    let mut buf = Vec::new();
    if !stdin.is_terminal() {
        let _ = stdin.read_to_end(&mut buf);
    }
    buf
}
