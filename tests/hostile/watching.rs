//! The daemon never stops watching (issue 16, item 8): while a RotationCommand runs, and after it
//! exits leaving a helper that holds its output, every trigger still gets its check; one command
//! runs at a time, and a daemon stopped in the middle of one kills it and leaves it queued for the
//! next daemon. Each test runs `keywarden --root DIR run` against the simulated Mac, with a
//! command asked for by a new `RotationRequestID` and the console user changed with `sim set`.

use std::os::unix::fs::PermissionsExt;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::*;

/// A running `keywarden run`, killed if a test ends without stopping it.
struct Daemon(Child);

impl Daemon {
    fn start(mac: &Mac) -> Daemon {
        Daemon(mac.spawn_keywarden(&["run"]))
    }

    /// SIGTERM, then how long it took to exit (`None`: not within `limit`).
    fn stop(&mut self, limit: Duration) -> Option<Duration> {
        kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM).expect("signal the daemon");
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.0.try_wait().expect("wait").is_some() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Mac whose only rotation method is `/usr/local/bin/rotate-key` running `body`, with a
/// rotation asked for (a new `RotationRequestID`) and the console polled every second.
fn mac_with_command(body: &str) -> Mac {
    let mac = Mac::with(&["escrow_buddy.installed=false"]);
    std::fs::create_dir_all(mac.path("/usr/local/bin")).unwrap();
    let script = mac.path("/usr/local/bin/rotate-key");
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = |v: &str| plist::Value::String(v.into());
    mac.managed_prefs(&[
        ("RotationMethods", plist::Value::Array(vec![s("Command")])),
        (
            "RotationCommand",
            plist::Value::Array(vec![s("/usr/local/bin/rotate-key")]),
        ),
        ("RotationRequestID", s("INC-816")),
        ("ConsolePollSeconds", plist::Value::Integer(1.into())),
    ]);
    mac
}

/// The published console user, if the status can be read.
fn console_user(mac: &Mac) -> Option<String> {
    let bytes = std::fs::read(mac.path("/Library/Keywarden/status.plist")).ok()?;
    let v = plist::from_bytes::<plist::Value>(&bytes).ok()?;
    get(&v, "SecureToken.ConsoleUser")
        .and_then(|x| x.as_string())
        .map(str::to_owned)
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The audit trail's records of what `RotationCommand` came to (exit 0).
fn command_finished(mac: &Mac) -> usize {
    mac.audit()
        .iter()
        .filter(|e| e.to_string().contains("RotationCommand finished (exit 0)"))
        .count()
}

#[test]
fn issue_16_the_daemon_keeps_checking_while_a_rotation_command_runs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs");
    // Twenty seconds of an MDM policy; each run says when it starts and ends.
    let mac = mac_with_command(&format!(
        "echo start >> {l}\n/bin/sleep 20\necho end >> {l}\n",
        l = log.display()
    ));
    let mut d = Daemon::start(&mac);
    assert!(
        eventually(Duration::from_secs(20), || lines(&log) == ["start"]),
        "the command started: {:?}",
        lines(&log)
    );
    let started = Instant::now();
    // While it runs, a login is a trigger like any other: checked within seconds.
    mac.set(&["console_user=itadmin"]);
    assert!(
        eventually(Duration::from_secs(10), || console_user(&mac).as_deref()
            == Some("itadmin")),
        "no check while the command ran"
    );
    mac.set(&["console_user=alice"]);
    assert!(
        eventually(Duration::from_secs(10), || console_user(&mac).as_deref()
            == Some("alice")),
        "no second check while the command ran"
    );
    assert!(
        started.elapsed() < Duration::from_secs(18) && lines(&log) == ["start"],
        "checked only after the command ({:?}, {:?})",
        started.elapsed(),
        lines(&log)
    );
    // It ends: its outcome is recorded, and it ran once, though checks found it asked for.
    assert!(
        eventually(Duration::from_secs(40), || command_finished(&mac) == 1),
        "the outcome was not recorded"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lines(&log), ["start", "end"], "one command, once");
    assert!(d.stop(Duration::from_secs(5)).is_some());
}

#[test]
fn issue_16_a_command_that_leaves_a_helper_holding_its_output_does_not_freeze_checks() {
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("helper");
    // It exits 0 at once; what it started keeps stdout and stderr open for ten minutes.
    let mac = mac_with_command(&format!(
        "/bin/sleep 600 &\necho $! > {h}\necho 'policy started'\nexit 0\n",
        h = helper.display()
    ));
    let started = Instant::now();
    let mut d = Daemon::start(&mac);
    let answered = eventually(Duration::from_secs(20), || command_finished(&mac) == 1);
    let took = started.elapsed();
    let pid: i64 = std::fs::read_to_string(&helper)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if !answered {
        // Not left behind for ten minutes by a failing run.
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    assert!(
        answered,
        "the command's exit was not taken as its answer within 20 s"
    );
    mac.set(&["console_user=itadmin"]);
    assert!(
        eventually(Duration::from_secs(10), || console_user(&mac).as_deref()
            == Some("itadmin")),
        "checks are frozen"
    );
    // The helper goes with the command's process group once its answer is in.
    let gone = eventually(Duration::from_secs(10), || !alive(pid));
    if !gone {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    assert!(gone, "the helper {pid} outlived its command");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(d.stop(Duration::from_secs(5)).is_some());
}

#[test]
fn issue_16_a_daemon_stopped_during_the_command_kills_it_and_the_next_daemon_runs_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs");
    let mac = mac_with_command(&format!(
        "echo $$ >> {l}\n/bin/sleep 600\n",
        l = log.display()
    ));
    let mut d = Daemon::start(&mac);
    assert!(eventually(Duration::from_secs(20), || lines(&log).len() == 1));
    let first: i64 = lines(&log)[0].parse().unwrap();
    let took = d.stop(Duration::from_secs(5));
    assert!(
        took.is_some(),
        "the daemon did not stop within 5 s of SIGTERM"
    );
    let gone = eventually(Duration::from_secs(10), || !alive(first));
    if !gone {
        let _ = kill(Pid::from_raw(-(first as i32)), Signal::SIGKILL);
    }
    assert!(gone, "the command {first} outlived the daemon that ran it");
    assert!(
        mac.audit()
            .iter()
            .any(|e| e.to_string().contains("RotationCommand interrupted")),
        "the audit trail does not say the command was interrupted"
    );
    // The next daemon (same boot) runs it again, once.
    let mut d = Daemon::start(&mac);
    assert!(
        eventually(Duration::from_secs(20), || lines(&log).len() == 2),
        "the interrupted command was lost: {:?}",
        lines(&log)
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lines(&log).len(), 2, "run once, not again");
    let second: i64 = lines(&log)[1].parse().unwrap();
    assert!(d.stop(Duration::from_secs(5)).is_some());
    assert!(eventually(Duration::from_secs(10), || !alive(second)));
}
