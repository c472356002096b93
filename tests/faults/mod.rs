//! Fault injection on every command a check runs (issue 6): each of the simulator's faults —
//! hang, crash, the error exit codes seen in the corpus, empty, garbage, truncated, huge and
//! non-UTF-8 output, slow — on each call. For every pair the check finishes within its budget,
//! the status names the call and the fault, the previous good values are kept (stale) and never
//! replaced by guesses, no child is left behind; and a daemon fed faults keeps running.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::*;

/// Every call of a check (tool name first, as the simulator matches faults), with what its error
/// line in `Daemon.Errors` starts with.
const CALLS: &[(&[&str], &str)] = &[
    (&["sw_vers", "-productVersion"], "sw_vers -productVersion:"),
    (&["sw_vers", "-buildVersion"], "sw_vers -buildVersion:"),
    (
        &["sysctl", "-n", "hw.optional.arm64"],
        "sysctl -n hw.optional.arm64:",
    ),
    (
        &["sysctl", "-n", "kern.bootsessionuuid"],
        "sysctl -n kern.bootsessionuuid:",
    ),
    (&["fdesetup", "status"], "fdesetup status:"),
    (
        &["fdesetup", "haspersonalrecoverykey"],
        "fdesetup haspersonalrecoverykey:",
    ),
    (
        &["fdesetup", "hasinstitutionalrecoverykey"],
        "fdesetup hasinstitutionalrecoverykey:",
    ),
    (
        &["fdesetup", "usingrecoverykey"],
        "fdesetup usingrecoverykey:",
    ),
    (
        &["diskutil", "apfs", "listCryptoUsers"],
        "diskutil apfs listCryptoUsers / -plist:",
    ),
    (
        &["dscl", "-plist", ".", "-readall"],
        "dscl -plist . -readall /Users",
    ),
    (
        &["dscl", "-plist", ".", "-read"],
        "dscl -plist . -read /Groups/admin GroupMembership:",
    ),
    (
        &["profiles", "status"],
        "profiles status -type bootstraptoken:",
    ),
    (&["profiles", "-C"], "profiles -C -o stdout-xml:"),
    (
        &["security", "authorizationdb"],
        "security authorizationdb read system.login.console:",
    ),
    (
        &["defaults", "read"],
        "defaults read /Library/Preferences/com.netflix.Escrow-Buddy GenerateNewKey:",
    ),
    (
        &["sysadminctl", "-secureTokenStatus"],
        "sysadminctl -secureTokenStatus ",
    ),
];

/// Faults as JSON fragments for the scenario (without `argv`), and whether the check must fail.
fn faults() -> Vec<(&'static str, String, bool)> {
    let mut v = vec![
        ("hang", r#""kind":"hang_with_child""#.to_owned(), true),
        ("crash", r#""kind":"crash""#.to_owned(), true),
        ("empty", r#""kind":"empty""#.to_owned(), true),
        ("garbage", r#""kind":"garbage""#.to_owned(), true),
        ("huge", r#""kind":"huge""#.to_owned(), true),
        ("non-UTF-8", r#""kind":"non_utf8""#.to_owned(), true),
        // Cut off halfway (a tool killed mid-answer).
        ("truncated", r#""kind":"truncated""#.to_owned(), true),
        // Slow but within ToolTimeout: a normal answer.
        ("slow", r#""kind":"slow","ms":300"#.to_owned(), false),
    ];
    // The error exit codes seen in the corpus (SOURCES.md, PATTERNS.md).
    for (code, msg) in [
        (1, "Error: FileVault is Off."),
        (11, "Error: Unable to unlock or authenticate to FileVault."),
        (99, "Error: Unable to change key."),
        (136, "Error: Unable to change key"),
        (255, "2018-01-25 11:17:50.480 sysadminctl[880:5142] Failed to authenticate with SystemAdministration framework."),
    ] {
        v.push((
            Box::leak(format!("exit {code}").into_boxed_str()),
            format!(r#""kind":"exit","code":{code},"stderr":"{msg}\n""#),
            true,
        ));
    }
    v
}

/// The status without what changes from check to check (times, durations, the daemon section,
/// the verdict): what must never be replaced by a guess.
fn values(status: &plist::Value) -> BTreeMap<String, plist::Value> {
    let mut out = BTreeMap::new();
    for (k, v) in status.as_dictionary().unwrap() {
        if [
            "GeneratedAt",
            "Healthy",
            "Problems",
            "Warnings",
            "Daemon",
            "Version",
        ]
        .contains(&k.as_str())
        {
            continue;
        }
        if let plist::Value::Dictionary(d) = v {
            let mut d = d.clone();
            d.remove("ObservedAt");
            d.remove("Stale");
            out.insert(k.clone(), plist::Value::Dictionary(d));
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Processes still running a simulated tool of `mac`.
fn leftovers(mac: &Mac) -> Vec<i64> {
    mac.calls()
        .iter()
        .filter_map(|c| c.get("child_pid").and_then(|p| p.as_i64()))
        .filter(|p| alive(*p))
        .collect()
}

fn one(
    call: &[&str],
    prefix: &str,
    fault_name: &str,
    fault: &str,
    must_fail: bool,
) -> Result<(), String> {
    let mac = Mac::healthy();
    mac.managed_prefs(&[("ToolTimeout", plist::Value::Integer(2.into()))]);
    if code(&mac.check()) != 0 {
        return Err("the healthy check failed".into());
    }
    let before = mac.status();
    if call[1] == "usingrecoverykey" {
        // Asked only until the boot has an answer: a new boot (with alice back at the console)
        // asks again.
        mac.event(&["reboot"]);
        mac.event(&["login", "alice"]);
    }
    let argv = serde_json::to_string(call).unwrap();
    mac.set(&[&format!("faults=[{{\"argv\":{argv},{fault}}}]")]);
    let started = Instant::now();
    let out = mac.check();
    let took = started.elapsed();
    let ctx = format!("{} + {fault_name}", call.join(" "));
    // Budget: two tool timeouts (the two waves of a check) plus slack, generously.
    if took > Duration::from_secs(20) {
        return Err(format!("{ctx}: the check took {took:?}"));
    }
    let s = mac.status();
    let errors = strings(&s, "Daemon.Errors");
    // Half of some answers is still the whole answer (`sysctl -n hw.optional.arm64` prints
    // `1\n`; half is `1`): no parser can tell, and none need to, as long as the value is the
    // same, which the comparison below proves.
    let still_whole = fault_name == "truncated" && code(&out) == 0 && errors.is_empty();
    if must_fail && !still_whole {
        if code(&out) != 1 {
            return Err(format!(
                "{ctx}: exit {} (want 1): {}{}",
                code(&out),
                stdout(&out),
                stderr(&out)
            ));
        }
        if !errors.iter().any(|e| e.starts_with(prefix)) {
            return Err(format!("{ctx}: no error naming the call in {errors:?}"));
        }
        if !codes(&s).contains(&"ToolFailed".to_owned()) {
            return Err(format!("{ctx}: no ToolFailed in {:?}", codes(&s)));
        }
    } else if code(&out) != 0 || !errors.is_empty() {
        return Err(format!(
            "{ctx}: a slow answer within the timeout must succeed: {errors:?}"
        ));
    }
    // Nothing guessed: every value is the one observed before (the Mac did not change), either
    // fresh or carried over as stale.
    let (mut b, mut a) = (values(&before), values(&s));
    if call[1] == "usingrecoverykey" {
        // A new boot: its identity and answer legitimately changed.
        for m in [&mut b, &mut a] {
            m.remove("Host");
            m.remove("RecoveryKey");
        }
    }
    if a != b {
        return Err(format!("{ctx}: values changed: before {b:?}\nafter {a:?}"));
    }
    eventually(Duration::from_secs(10), || leftovers(&mac).is_empty());
    let left = leftovers(&mac);
    if !left.is_empty() {
        return Err(format!("{ctx}: processes left behind: {left:?}"));
    }
    Ok(())
}

#[test]
fn every_fault_on_every_call_is_named_kept_stale_and_cleaned_up() {
    let faults = faults();
    let mut failures = Vec::new();
    let mut tried = 0;
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (call, prefix) in CALLS {
            let faults = &faults;
            handles.push(scope.spawn(move || {
                let mut local = Vec::new();
                for (name, fault, must_fail) in faults {
                    if let Err(e) = one(call, prefix, name, fault, *must_fail) {
                        local.push(e);
                    }
                }
                local
            }));
        }
        for h in handles {
            failures.extend(h.join().unwrap());
            tried += faults.len();
        }
    });
    eprintln!(
        "{tried} faults injected ({} calls × {} faults)",
        CALLS.len(),
        faults.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {tried} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_daemon_keeps_running_through_faults_on_every_call() {
    let mac = Mac::healthy();
    mac.managed_prefs(&[
        ("ToolTimeout", plist::Value::Integer(1.into())),
        ("ConsolePollSeconds", plist::Value::Integer(1.into())),
    ]);
    let mut child = mac.spawn_keywarden(&["run"]);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let wait_checks = |n: usize| eventually(Duration::from_secs(30), || mac.checks_logged() >= n);
    assert!(wait_checks(1));
    for (i, kind) in [
        "hang_with_child",
        "crash",
        "garbage",
        "huge",
        "non_utf8",
        "empty",
    ]
    .iter()
    .enumerate()
    {
        let all: Vec<String> = CALLS
            .iter()
            .map(|(c, _)| {
                format!(
                    r#"{{"argv":{},"kind":"{kind}"}}"#,
                    serde_json::to_string(c).unwrap()
                )
            })
            .collect();
        mac.set(&[&format!("faults=[{}]", all.join(","))]);
        // SIGHUP: reload and check now.
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        assert!(
            wait_checks(i + 2),
            "no check finished with every call failing by {kind}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon died on {kind}"
        );
    }
    mac.set(&["faults=[]"]);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(wait_checks(8));
    let s = mac.status();
    assert!(boolean(&s, "Healthy"), "recovered: {:?}", problems(&s));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
