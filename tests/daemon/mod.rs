//! `keywarden --root DIR run` against the simulated Mac: the resident daemon follows the console
//! user and the preferences, reloads on SIGHUP, stops cleanly on SIGTERM even in the middle of a
//! hung check, shares the writer lock with `keywarden check`, and survives SIGKILL at any moment
//! without a torn status or a lost state (issue 3). Scheduling, jitter and sleeps of days are
//! tested with an injected clock in `daemon::tests`, without real waiting.

use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::*;

struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(mac: &Mac) -> Daemon {
        Daemon {
            child: mac.spawn_keywarden(&["run"]),
        }
    }

    fn signal(&self, s: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), s).expect("signal the daemon");
    }

    /// Wait for exit, up to `limit`; returns the exit code and how long it took.
    fn wait(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return (st.code(), started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (None, started.elapsed())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_has(mac: &Mac, path: &str, want: Option<&str>) -> bool {
    let Ok(bytes) = std::fs::read(mac.path("/Library/Keywarden/status.plist")) else {
        return false;
    };
    let Ok(v) = plist::from_bytes::<plist::Value>(&bytes) else {
        return false;
    };
    get(&v, path).and_then(|x| x.as_string()) == want
}

#[test]
fn the_daemon_follows_the_console_user_and_the_preferences_and_stops_on_sigterm() {
    let mac = Mac::healthy();
    mac.managed_prefs(&[("ConsolePollSeconds", plist::Value::Integer(1.into()))]);
    let mut d = Daemon::start(&mac);
    assert!(
        eventually(Duration::from_secs(20), || status_has(
            &mac,
            "SecureToken.ConsoleUser",
            Some("alice")
        )),
        "the first check at start"
    );
    // The console user changes: the status follows within a poll (1 s; 20 s is generous).
    mac.set(&["console_user=itadmin"]);
    assert!(
        eventually(Duration::from_secs(20), || status_has(
            &mac,
            "SecureToken.ConsoleUser",
            Some("itadmin")
        )),
        "the status did not follow the console user"
    );
    mac.set(&["console_user=null"]);
    assert!(eventually(Duration::from_secs(20), || status_has(
        &mac,
        "SecureToken.ConsoleUser",
        None
    )));

    // The managed preferences change: the daemon reloads and checks; doctor shows the values.
    mac.managed_prefs(&[
        ("ConsolePollSeconds", plist::Value::Integer(1.into())),
        ("StaleAfterHours", plist::Value::Integer(12.into())),
        ("Bogus", plist::Value::Boolean(true)),
    ]);
    assert!(
        eventually(Duration::from_secs(20), || {
            std::fs::read(mac.path("/Library/Keywarden/status.plist"))
                .ok()
                .and_then(|b| plist::from_bytes::<plist::Value>(&b).ok())
                .map(|v| {
                    strings(&v, "Daemon.ConfigWarnings")
                        .iter()
                        .any(|w| w.contains("unknown key Bogus"))
                })
                .unwrap_or(false)
        }),
        "the new preferences were not applied"
    );
    let doctor = stdout(&mac.keywarden(&["doctor"]));
    assert!(doctor.contains("StaleAfterHours"), "{doctor}");
    let line = doctor
        .lines()
        .find(|l| l.trim_start().starts_with("StaleAfterHours"))
        .unwrap();
    assert!(line.contains("12") && line.contains("managed"), "{line}");
    let next = get(&mac.status(), "Daemon.NextCheckAt").is_some();
    assert!(next, "the daemon publishes its next check");

    d.signal(Signal::SIGTERM);
    let (code, took) = d.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "exit code after SIGTERM");
    assert!(took < Duration::from_secs(2), "SIGTERM took {took:?}");
}

#[test]
fn sigterm_during_a_hung_check_exits_0_within_2_seconds_and_leaves_no_process() {
    let mac = Mac::healthy();
    mac.set(&[r#"faults=[{"argv":["fdesetup","status"],"kind":"hang_with_child"}]"#]);
    let mut d = Daemon::start(&mac);
    // Wait until the hung tool and its child are running.
    assert!(eventually(Duration::from_secs(20), || mac
        .calls()
        .iter()
        .any(|c| c.get("child_pid").is_some())));
    std::thread::sleep(Duration::from_millis(200));
    d.signal(Signal::SIGTERM);
    let (code, took) = d.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(2), "SIGTERM took {took:?}");
    let pids: Vec<i64> = mac
        .calls()
        .iter()
        .filter_map(|c| c.get("child_pid").and_then(|p| p.as_i64()))
        .collect();
    assert!(
        eventually(Duration::from_secs(10), || pids.iter().all(|p| !alive(*p))),
        "children left behind: {pids:?}"
    );
}

#[test]
fn sighup_reloads_the_configuration_and_checks_again() {
    let mac = Mac::healthy();
    let d = Daemon::start(&mac);
    assert!(eventually(Duration::from_secs(20), || mac.checks_logged() >= 1));
    mac.set(&["bootstrap_token.escrowed=false"]);
    d.signal(Signal::SIGHUP);
    assert!(eventually(Duration::from_secs(20), || mac.checks_logged() >= 2));
    assert!(warnings(&mac.status()).contains(&"BootstrapTokenNotEscrowed".to_owned()));
    let log = std::fs::read_to_string(mac.path("/Library/Logs/Keywarden/keywarden.log")).unwrap();
    assert!(log.contains("reload why=sighup"), "{log}");
}

#[test]
fn check_waits_for_the_daemons_check_and_then_runs() {
    let mac = Mac::healthy();
    // Slow tools: the daemon's first check holds the lock for a while.
    mac.set(&["latency_ms=700"]);
    let _d = Daemon::start(&mac);
    assert!(
        eventually(Duration::from_secs(20), || !mac.calls().is_empty()),
        "the daemon started its check"
    );
    let started = Instant::now();
    let out = mac.check();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "it ran without waiting for the lock"
    );
    // Both checks completed: two whole statuses were written one after the other.
    assert!(eventually(Duration::from_secs(20), || mac.checks_logged() >= 2));
    let _ = mac.status();
}

#[test]
fn sigkill_at_any_moment_never_leaves_a_torn_status_or_loses_the_state() {
    let mac = Mac::healthy();
    mac.set(&["latency_ms=5"]);
    let mut state_seen = false;
    let mut completed = 0;
    let kills = 60;
    for i in 0..kills {
        let checks_before = mac.checks_logged();
        let mut d = Daemon::start(&mac);
        // Spread the kill points over a check (about 20-60 ms with these latencies, longer on a
        // loaded machine); every tenth kill comes right after a check finished, so some kill
        // points follow a completed check however slow the machine is.
        if i % 10 == 9 {
            assert!(eventually(Duration::from_secs(20), || mac.checks_logged()
                > checks_before));
        }
        std::thread::sleep(Duration::from_millis(((i * 37) % 90) as u64));
        d.signal(Signal::SIGKILL);
        let _ = d.wait(Duration::from_secs(10));
        let status = mac.path("/Library/Keywarden/status.plist");
        if let Ok(bytes) = std::fs::read(&status) {
            keywarden::status::Status::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("kill {i}: a torn or unreadable status: {e}"));
            completed += 1;
        }
        let state = mac.path("/var/db/keywarden/state.plist");
        match std::fs::read(&state) {
            Ok(bytes) => {
                keywarden::state::parse(&bytes)
                    .unwrap_or_else(|e| panic!("kill {i}: the state {e}"));
                state_seen = true;
            }
            Err(_) => assert!(!state_seen, "kill {i}: the state file vanished"),
        }
    }
    assert!(completed > 0, "no kill point came after a completed check");
    // After all that, a normal check works and sweeps any temp file a kill left behind.
    assert_eq!(code(&mac.check()), 0);
    for dir in ["/Library/Keywarden", "/var/db/keywarden"] {
        let leftovers: Vec<_> = std::fs::read_dir(mac.path(dir))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{dir}: {leftovers:?}");
    }
    eprintln!("{kills} kills, status present after {completed}");
}

#[test]
fn the_launchd_plist_names_what_the_code_uses() {
    let path = repo("launchd/org.keywarden.daemon.plist");
    let v: plist::Value = plist::from_file(&path).expect("the LaunchDaemon plist parses");
    let d = v.as_dictionary().unwrap();
    let stem = path.file_stem().unwrap().to_str().unwrap();
    assert_eq!(stem, keywarden::paths::LAUNCHD_LABEL);
    assert_eq!(
        d["Label"].as_string(),
        Some(keywarden::paths::LAUNCHD_LABEL)
    );
    let args: Vec<&str> = d["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_string().unwrap())
        .collect();
    assert_eq!(args, [keywarden::paths::BINARY, "run"]);
    assert_eq!(
        d["StandardErrorPath"].as_string(),
        Some(keywarden::paths::PANIC_LOG)
    );
    assert_ne!(
        keywarden::paths::PANIC_LOG,
        keywarden::paths::LOG,
        "panics go to a separate file"
    );
    assert!(
        !d.contains_key("StandardOutPath"),
        "the daemon writes its own log"
    );
    assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
    assert_eq!(d["KeepAlive"].as_boolean(), Some(true));
    // Not Background, nor low-priority I/O: the boot guard races the user's password-reset
    // login at every boot (issue 14, item 2; docs/key-lifecycle.md).
    assert_eq!(d["ProcessType"].as_string(), Some("Standard"));
    assert!(!d.contains_key("LowPriorityIO"));
    assert!(d["ThrottleInterval"].as_signed_integer().unwrap() >= 10);
    assert!(
        d["ExitTimeOut"].as_signed_integer().unwrap() > 2,
        "longer than the daemon's own 2 s"
    );
}

#[test]
fn the_daemon_runs_with_core_dumps_disabled() {
    // A root process that may hold a key must never leave it in a core file (issue 6).
    let mac = Mac::healthy();
    let d = Daemon::start(&mac);
    assert!(eventually(Duration::from_secs(20), || mac.checks_logged() >= 1));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&fields[4..6], &["0", "0"], "{line}");
}
