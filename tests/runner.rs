//! The process runner against real `/bin/sh`, `/bin/cat` and `/bin/sleep`: timeouts kill and reap
//! the whole process group, output is capped, bytes are bytes, the stdin secret round-trips and
//! never reaches argv, the environment is clean, concurrency is bounded.

use std::time::{Duration, Instant};

use keywarden::paths::Root;
use keywarden::runner::{Call, Exit, ProcessRunner, RunError, Runner};
use keywarden::secret::Secret;

use crate::support::{alive, eventually};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn runner() -> ProcessRunner {
    ProcessRunner::new(Root::default(), Duration::from_secs(30))
}

fn sh(script: &str) -> Call {
    Call::program("/bin/sh", &["-c", script])
}

#[test]
fn a_tool_that_hangs_is_killed_with_its_whole_process_group_and_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "echo $$ > {p}; /bin/sleep 300 & echo $! >> {p}; /bin/sleep 300",
        p = pids.display()
    );
    let call = sh(&script).with_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let err = rt().block_on(runner().run(&call)).unwrap_err();
    assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
    assert!(
        err.to_string().contains("process group was killed"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout was not enforced"
    );
    let listed: Vec<i64> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "the shell and its background child");
    eventually(Duration::from_secs(10), || {
        !listed.iter().any(|p| alive(*p))
    });
    for pid in listed {
        assert!(!alive(pid), "process {pid} outlived the timeout");
    }
}

#[test]
fn background_children_are_killed_even_when_the_tool_itself_exits() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The child closes its copies of stdout/stderr so the runner sees end-of-file at once.
    let script = format!(
        "/bin/sleep 300 >/dev/null 2>&1 & echo $! > {p}; exit 0",
        p = pids.display()
    );
    let out = rt().block_on(runner().run(&sh(&script))).unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    let pid: i64 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eventually(Duration::from_secs(10), || !alive(pid));
    assert!(!alive(pid), "the background child {pid} was left behind");
}

#[test]
fn output_over_the_cap_is_cut_and_marked_truncated() {
    let r = runner().with_output_cap(1000);
    let out = rt()
        .block_on(r.run(&sh("/usr/bin/head -c 3000000 /dev/zero; echo err >&2")))
        .unwrap();
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.truncated);
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(
        out.exit,
        Exit::Code(0),
        "the child was drained, not blocked"
    );
}

#[test]
fn a_call_with_its_own_cap_keeps_more_or_less_than_the_runner() {
    let r = runner().with_output_cap(1000);
    let script = "/usr/bin/head -c 3000 /dev/zero";
    let out = rt()
        .block_on(r.run(&sh(script).with_output_cap(5000)))
        .unwrap();
    assert_eq!((out.stdout.len(), out.truncated), (3000, false));
    let out = rt()
        .block_on(r.run(&sh(script).with_output_cap(10)))
        .unwrap();
    assert_eq!((out.stdout.len(), out.truncated), (10, true));
}

#[test]
fn non_utf8_output_is_kept_as_bytes() {
    let out = rt()
        .block_on(runner().run(&sh("printf '\\377\\376ok'")))
        .unwrap();
    assert_eq!(out.stdout, b"\xff\xfeok");
    assert!(!out.truncated);
}

#[test]
fn exit_codes_and_signals_are_reported_as_such() {
    let out = rt().block_on(runner().run(&sh("exit 3"))).unwrap();
    assert_eq!(out.exit, Exit::Code(3));
    let out = rt().block_on(runner().run(&sh("kill -ABRT $$"))).unwrap();
    assert_eq!(out.exit, Exit::Signal(6));
    assert_eq!(out.exit.to_string(), "killed by SIGABRT");
}

#[test]
fn the_stdin_secret_round_trips_and_never_reaches_argv() {
    let key = "DLEV-ZYT9-ODLA-PVML-66DV-HZ8R";
    let secret = Secret::new(key.as_bytes().to_vec());
    // The child prints its own argv (from /proc) on stderr, then copies stdin to stdout.
    let call = sh("tr '\\0' ' ' < /proc/$$/cmdline >&2; exec /bin/cat");
    assert!(!call.argv().concat().contains(key));
    let out = rt().block_on(runner().run_secret(&call, &secret)).unwrap();
    assert_eq!(out.stdout.expose_secret(), key.as_bytes());
    assert!(!String::from_utf8_lossy(out.stderr.expose_secret()).contains(key));
    let shown = format!("{out:?}");
    assert!(!shown.contains(key), "{shown}");
}

#[test]
fn stdin_is_closed_when_there_is_no_secret() {
    let out = rt()
        .block_on(runner().run(&Call::program("/bin/cat", &[] as &[&str])))
        .unwrap();
    assert_eq!(out.exit, Exit::Code(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn children_get_a_clean_environment_with_a_fixed_path_and_the_c_locale() {
    std::env::set_var("KEYWARDEN_TEST_LEAK", "leaked");
    let out = rt()
        .block_on(runner().run(&Call::program("/usr/bin/env", &[] as &[&str])))
        .unwrap();
    let env = String::from_utf8(out.stdout).unwrap();
    let mut vars: Vec<&str> = env.lines().collect();
    vars.sort();
    assert_eq!(vars, vec!["LC_ALL=C", "PATH=/usr/bin:/bin:/usr/sbin:/sbin"]);
}

#[test]
fn a_missing_tool_is_reported_by_path() {
    let err = rt()
        .block_on(runner().run(&Call::program("/usr/bin/no-such-tool", &[] as &[&str])))
        .unwrap_err();
    assert!(matches!(err, RunError::Missing { .. }));
    assert_eq!(err.to_string(), "/usr/bin/no-such-tool is not installed");
}

#[test]
fn tools_are_resolved_under_the_filesystem_root() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tool = bin.join("fdesetup");
    std::fs::write(&tool, "#!/bin/sh\necho simulated\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = ProcessRunner::new(Root::new(dir.path()), Duration::from_secs(30));
    let out = rt()
        .block_on(r.run(&Call::tool(keywarden::paths::Tool::Fdesetup, &["status"])))
        .unwrap();
    assert_eq!(out.stdout, b"simulated\n");
}

#[test]
fn no_more_children_than_the_bound_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // Each child records how many siblings were running when it started.
    let script = format!(
        "echo start >> {l}; n=$(grep -c start {l}); e=$(grep -c end {l} || true); echo $((n - e)) >> {l}.running; /bin/sleep 0.3; echo end >> {l}",
        l = log.display()
    );
    let r = runner().with_concurrency(2);
    let call = sh(&script);
    rt().block_on(async {
        let futs: Vec<_> = (0..6).map(|_| r.run(&call)).collect();
        for res in futures_join(futs).await {
            res.unwrap();
        }
    });
    let running = std::fs::read_to_string(format!("{}.running", log.display())).unwrap();
    let max = running
        .lines()
        .map(|l| l.trim().parse::<i32>().unwrap())
        .max()
        .unwrap();
    assert!(
        max <= 2,
        "up to {max} children ran at once with a bound of 2"
    );
}

async fn futures_join<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    futures_util::future::join_all(futs).await
}

#[test]
fn a_call_abandoned_mid_flight_kills_its_process_group() {
    // The daemon abandons a check on SIGTERM by dropping its future: no child may survive that.
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "echo $$ > {p}; /bin/sleep 300 & echo $! >> {p}; /bin/sleep 300",
        p = pids.display()
    );
    let call = sh(&script);
    let r = runner();
    rt().block_on(async {
        let abandoned = tokio::time::timeout(Duration::from_millis(500), r.run(&call)).await;
        assert!(abandoned.is_err(), "the call was still running");
    });
    let listed: Vec<i64> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    eventually(Duration::from_secs(10), || {
        !listed.iter().any(|p| alive(*p))
    });
    for pid in listed {
        assert!(!alive(pid), "process {pid} outlived the abandoned call");
    }
}

/// Issue 16, item 8: a program that exits at once but leaves a helper holding its stdout and
/// stderr is answered when it exits (after a short grace for its pipes), not when the helper
/// does; what it printed is kept, marked as possibly incomplete, and the helper goes with its
/// process group as any leftover of a tool does.
#[test]
fn issue_16_a_program_whose_helper_holds_its_output_is_answered_when_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "/bin/sleep 30 & echo $! > {p}; echo answer; echo note >&2; exit 0",
        p = pids.display()
    );
    let started = Instant::now();
    let out = rt().block_on(runner().run(&sh(&script))).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.stdout, b"answer\n");
    assert_eq!(out.stderr, b"note\n");
    assert!(out.truncated, "a pipe still open may have had more to say");
    let pid: i64 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eventually(Duration::from_secs(10), || !alive(pid));
    assert!(!alive(pid), "the helper {pid} was left behind");

    // The same in secret mode (a RotationCommand, `changerecovery`): answered at its exit.
    let started = Instant::now();
    let out = rt()
        .block_on(runner().run_secret(&sh(&script), &Secret::new(b"input".to_vec())))
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.stdout.expose_secret(), b"answer\n");
    assert!(out.truncated);
}

/// The grace after the exit (issue 16, item 8) is no shortcut: output printed by a program that
/// exits normally is read in full and is not marked truncated.
#[test]
fn output_printed_before_a_normal_exit_is_read_in_full_whatever_the_grace() {
    let out = rt()
        .block_on(runner().run(&sh("/usr/bin/head -c 200000 /dev/zero; exit 0")))
        .unwrap();
    assert_eq!(out.stdout.len(), 200000);
    assert!(!out.truncated);
}
