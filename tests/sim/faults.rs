//! Injected faults, latency and transcript replay.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::support::tools::ToolsMac;
use crate::support::{alive, eventually};

fn fault(json: &str) -> ToolsMac {
    ToolsMac::with(&[&format!("faults=[{json}]")])
}

/// Waits up to `bound` for the child; `None` if it is still running.
fn wait_for(child: &mut std::process::Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_hanging_tool_runs_until_its_process_group_is_killed() {
    let mac = fault(r#"{"argv":["fdesetup","status"],"kind":"hang"}"#);
    let mut child = mac.spawn("fdesetup", &["status"]);
    assert_eq!(
        wait_for(&mut child, Duration::from_millis(1500)),
        None,
        "it hangs"
    );
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    let status = wait_for(&mut child, Duration::from_secs(20)).expect("killed");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let log = mac.log();
    assert_eq!(log[0]["fault"], "hang");
    assert!(log[0]["exit"].is_null());
}

#[test]
fn a_hang_with_a_child_leaves_nothing_behind_once_the_group_is_killed() {
    let mac = fault(r#"{"argv":["fdesetup"],"kind":"hang_with_child"}"#);
    let mut child = mac.spawn("fdesetup", &["status"]);
    let log = mac.wait_for_log(1);
    let grandchild = log[0]["child_pid"]
        .as_i64()
        .expect("the child's pid is logged");
    assert!(alive(grandchild), "the child sleeps");
    assert_eq!(wait_for(&mut child, Duration::from_millis(500)), None);

    killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    wait_for(&mut child, Duration::from_secs(20)).expect("killed");
    eventually(Duration::from_secs(20), || !alive(grandchild));
    assert!(!alive(grandchild), "the grandchild died with its group");
}

#[test]
fn a_crashing_tool_dies_of_sigabrt() {
    let mac = fault(r#"{"argv":["diskutil"],"kind":"crash"}"#);
    let out = mac.run("diskutil", &["apfs", "listCryptoUsers", "/", "-plist"]);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT));
    assert!(out.stdout.is_empty());
    assert_eq!(mac.log()[0]["fault"], "crash");
}

#[test]
fn an_exit_fault_prints_its_stderr_and_code() {
    let mac = fault(
        r#"{"argv":["profiles","-C"],"kind":"exit","code":3,"stderr":"profiles: rate limited\n"}"#,
    );
    let out = mac.run("profiles", &["-C", "-o", "stdout-xml"]);
    assert_eq!(
        (out.code(), out.err().as_str()),
        (3, "profiles: rate limited\n")
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn garbage_is_printable_junk_with_a_zero_exit() {
    let mac = fault(r#"{"argv":["sw_vers"],"kind":"garbage"}"#);
    let out = mac.run("sw_vers", &["-productVersion"]);
    assert_eq!(out.code(), 0);
    assert!(out.stdout.len() > 100);
    assert!(out
        .stdout
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n'));
}

#[test]
fn huge_output_is_at_least_five_mebibytes() {
    let mac = fault(r#"{"argv":["fdesetup","status"],"kind":"huge"}"#);
    let out = mac.run("fdesetup", &["status"]);
    assert_eq!(out.code(), 0);
    assert!(out.stdout.len() >= 5 * 1024 * 1024, "{}", out.stdout.len());
}

#[test]
fn non_utf8_output_is_not_utf8() {
    let mac = fault(r#"{"argv":["fdesetup","status"],"kind":"non_utf8"}"#);
    let out = mac.run("fdesetup", &["status"]);
    assert_eq!(out.code(), 0);
    assert!(String::from_utf8(out.stdout).is_err());
}

#[test]
fn an_empty_answer_prints_nothing_and_succeeds() {
    let mac = fault(r#"{"argv":["sysctl"],"kind":"empty"}"#);
    let out = mac.run("sysctl", &["-n", "kern.bootsessionuuid"]);
    assert_eq!((out.code(), out.stdout.len(), out.stderr.len()), (0, 0, 0));
}

#[test]
fn a_truncated_answer_is_the_first_half_of_the_real_one() {
    let args = ["apfs", "listCryptoUsers", "/", "-plist"];
    let full = ToolsMac::healthy().run("diskutil", &args).stdout;
    let mac = fault(r#"{"argv":["diskutil"],"kind":"truncated"}"#);
    let out = mac.run("diskutil", &args);
    assert_eq!(out.stdout, full[..full.len() / 2]);
}

#[test]
fn a_slow_tool_answers_normally_after_its_delay() {
    let mac = fault(r#"{"argv":["sw_vers"],"kind":"slow","ms":400}"#);
    let started = Instant::now();
    let out = mac.run("sw_vers", &["-productVersion"]);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(out.text(), "15.1\n");
}

#[test]
fn latency_delays_every_call() {
    let mac = ToolsMac::with(&["latency_ms=300"]);
    let started = Instant::now();
    mac.run("sw_vers", &["-buildVersion"]);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_fault_with_times_applies_that_many_times_then_the_tool_recovers() {
    let mac = fault(r#"{"argv":["sysctl","-n","kern.bootsessionuuid"],"kind":"empty","times":2}"#);
    let call = || mac.run("sysctl", &["-n", "kern.bootsessionuuid"]).text();
    assert_eq!(call(), "");
    assert_eq!(mac.scenario()["faults"][0]["times"], 1);
    assert_eq!(call(), "");
    assert_eq!(mac.scenario()["faults"][0]["times"], 0);
    assert_eq!(call(), "0C5E1F9A-3B4D-4E6F-8A7B-9C0D1E2F3A4B\n");
    // Other calls of the same tool never matched.
    assert_eq!(
        mac.run("sysctl", &["-n", "hw.optional.arm64"]).text(),
        "1\n"
    );
}

#[test]
fn a_transcript_answers_in_recording_order_and_repeats_its_last_answer() {
    let mac = ToolsMac::healthy();
    let transcript = r#"[
        {"argv": ["/usr/bin/fdesetup", "status"], "exit": 0, "stdout": "FileVault is Off.\n", "stderr": ""},
        {"argv": ["fdesetup", "status"], "exit": 2, "stdout": "", "stderr": "busy\n"},
        {"argv": ["sw_vers", "-productVersion"], "stdout": "10.13.6\n"}
    ]"#;
    std::fs::write(mac.path("/.sim/recorded.json"), transcript).unwrap();
    mac.set(&["transcript=\"recorded.json\""]);

    assert_eq!(
        mac.run("fdesetup", &["status"]).text(),
        "FileVault is Off.\n"
    );
    for _ in 0..2 {
        let out = mac.run("fdesetup", &["status"]);
        assert_eq!((out.code(), out.err().as_str()), (2, "busy\n"));
    }
    assert_eq!(mac.run("sw_vers", &["-productVersion"]).text(), "10.13.6\n");
    // Not recorded: the scenario answers.
    assert_eq!(mac.run("sw_vers", &["-buildVersion"]).text(), "24B83\n");

    let log = mac.log();
    assert_eq!(log[0]["replayed"], true);
    assert!(log[4].get("replayed").is_none());
}
