//! `keywarden validate` and `keywarden audit`, the real binary against the simulated Mac: one
//! `fdesetup validaterecovery` per accepted attempt with the key only on its stdin; refusals
//! (nobody at the console, the daily and failure caps, a key that already failed, a malformed
//! key) that run no `fdesetup` at all; and no form of any key in anything Keywarden writes or
//! prints (audit trail, state, failed-key store, status, the log at `debug`, stdout, stderr) or
//! in any argv.

use std::process::Output;

use crate::support::*;

/// The simulator's healthy PRK (tests/simulator/README.md).
const VALID: &str = "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ";
const WRONG: &str = "QQQQ-RRRR-SSSS-TTTT-UUUU-VVVV";
const WRONG2: &str = "MMMM-NNNN-PPPP-QQQQ-RRRR-SSSS";

fn validate(mac: &Mac, key: &str) -> Output {
    mac.keywarden_with_stdin(&["validate"], format!("{key}\n").as_bytes())
}

/// How many `fdesetup validaterecovery` the simulator saw.
fn validaterecovery_calls(mac: &Mac) -> usize {
    mac.calls()
        .iter()
        .filter(|c| c["argv"][0] == "fdesetup" && c["argv"][1] == "validaterecovery")
        .count()
}

/// The validation events of the audit trail (the daemon's own events, such as a rotation that a
/// failed validation makes pending, are left out), as (What, Result).
fn whats(mac: &Mac) -> Vec<(String, String)> {
    mac.audit()
        .iter()
        .filter(|e| e["What"].as_str().is_some_and(|w| w.starts_with("Validat")))
        .map(|e| {
            (
                e["What"].as_str().unwrap().to_owned(),
                e["Result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn state(mac: &Mac) -> plist::Value {
    plist::from_file(mac.path("/var/db/keywarden/state.plist")).expect("state.plist")
}

fn prefs(mac: &Mac, pairs: &[(&str, i64)]) {
    let mut all: Vec<(&str, plist::Value)> =
        vec![("LogLevel", plist::Value::String("debug".into()))];
    all.extend(
        pairs
            .iter()
            .map(|(k, v)| (*k, plist::Value::Integer((*v).into()))),
    );
    mac.managed_prefs(&all);
}

/// Every spelling of `key` a leak could take: as typed, without dashes, each group pair.
fn forms(key: &str) -> Vec<String> {
    let bare = key.replace('-', "");
    vec![
        key.to_owned(),
        key.to_lowercase(),
        bare.clone(),
        bare.to_lowercase(),
        key[..9].to_owned(),
        key[20..].to_owned(),
    ]
}

/// No form of any of `keys` in the files Keywarden writes, in the output of its runs, or in any
/// argv the simulator saw.
fn assert_no_key_anywhere(mac: &Mac, outputs: &[&Output], keys: &[&str]) {
    let mut texts: Vec<(String, String)> = Vec::new();
    for path in [
        "/var/db/keywarden/audit.jsonl",
        "/var/db/keywarden/state.plist",
        "/var/db/keywarden/failed-keys.plist",
        "/Library/Keywarden/status.plist",
        "/Library/Logs/Keywarden/keywarden.log",
    ] {
        if let Ok(bytes) = std::fs::read(mac.path(path)) {
            texts.push((
                path.to_owned(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    for (i, o) in outputs.iter().enumerate() {
        texts.push((format!("stdout of run {i}"), stdout(o)));
        texts.push((format!("stderr of run {i}"), stderr(o)));
    }
    for c in mac.calls() {
        texts.push(("argv of a tool call".into(), c["argv"].to_string()));
    }
    for key in keys {
        for form in forms(key) {
            for (what, text) in &texts {
                assert!(!text.contains(&form), "{what} contains {form:?}:\n{text}");
            }
        }
    }
}

#[test]
fn a_valid_key_exits_0_with_one_validaterecovery_and_its_result_is_recorded() {
    let mac = Mac::healthy();
    prefs(&mac, &[]);
    assert_eq!(code(&mac.check()), 0);
    let out = validate(&mac, VALID);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("valid: "), "{}", stdout(&out));
    assert_eq!(validaterecovery_calls(&mac), 1);
    // The key travelled on stdin, as the -inputplist dictionary, and nowhere else.
    let call = mac
        .calls()
        .into_iter()
        .find(|c| c["argv"][1] == "validaterecovery")
        .unwrap();
    assert_eq!(
        call["argv"],
        serde_json::json!(["fdesetup", "validaterecovery", "-inputplist"])
    );
    assert!(call["stdin"]
        .as_str()
        .unwrap()
        .contains(&format!("<string>{VALID}</string>")));
    assert_eq!(
        whats(&mac),
        [
            ("ValidationStarted".to_owned(), "Started".to_owned()),
            ("Validated".to_owned(), "Valid".to_owned())
        ]
    );
    let lines = mac.audit();
    assert_eq!(lines[1]["ConsoleUser"], "alice");
    assert!(lines[1]["Caller"].as_str().is_some_and(|c| !c.is_empty()));
    let st = state(&mac);
    assert_eq!(string(&st, "LastValidation"), "Valid");
    assert!(get(&st, "LastValidatedAt")
        .and_then(|d| d.as_date())
        .is_some());
    // The check run after the validation published it.
    let status = mac.status();
    assert_eq!(string(&status, "RecoveryKey.LastValidation"), "Valid");
    assert_eq!(
        get(&status, "RecoveryKey.LastValidatedAt"),
        get(&st, "LastValidatedAt")
    );
    assert_no_key_anywhere(&mac, &[&out], &[VALID]);
}

#[test]
fn an_invalid_key_exits_1_is_remembered_and_is_never_tried_again() {
    let mac = Mac::healthy();
    prefs(&mac, &[]);
    let out = validate(&mac, WRONG);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("invalid: "), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("1 of ValidationFailureCap 10"),
        "{}",
        stdout(&out)
    );
    assert_eq!(validaterecovery_calls(&mac), 1);
    assert_eq!(string(&state(&mac), "LastValidation"), "Invalid");
    assert!(mac.path("/var/db/keywarden/failed-keys.plist").is_file());
    // The same key, typed without dashes and in lower case: refused without a second call.
    let again = validate(&mac, &WRONG.replace('-', "").to_lowercase());
    assert_eq!(code(&again), 2, "{}{}", stdout(&again), stderr(&again));
    assert!(
        stderr(&again)
            .contains("this key already failed on this Mac (it did not validate, or fdesetup refused it as the credential to change the key); it is never tried again"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        validaterecovery_calls(&mac),
        1,
        "the failed key was tried again"
    );
    assert_eq!(
        whats(&mac).last().unwrap(),
        &("ValidationRefused".to_owned(), "KeyFailedBefore".to_owned())
    );
    // A different key is still tried, once.
    let valid = validate(&mac, VALID);
    assert_eq!(code(&valid), 0, "{}", stderr(&valid));
    assert_eq!(validaterecovery_calls(&mac), 2);
    assert_no_key_anywhere(&mac, &[&out, &again, &valid], &[WRONG, VALID]);
}

#[test]
fn nobody_at_the_console_is_refused_without_running_fdesetup() {
    let mac = Mac::with(&["console_user=null"]);
    let out = validate(&mac, VALID);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no user is logged in at the console (nobody, or a system account such as Setup Assistant's): valid keys have failed validation with nobody logged in"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    assert_eq!(validaterecovery_calls(&mac), 0);
    assert_eq!(
        whats(&mac),
        [("ValidationRefused".to_owned(), "NoConsoleUser".to_owned())]
    );
}

#[test]
fn past_the_daily_cap_a_validation_is_refused_with_when_it_frees_up() {
    let mac = Mac::healthy();
    prefs(&mac, &[("ValidationDailyCap", 1)]);
    assert_eq!(code(&validate(&mac, VALID)), 0);
    let out = validate(&mac, VALID);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("ValidationDailyCap (1) reached: 1 validations in the last 24 hours"),
        "{err}"
    );
    assert!(err.contains("the next one is allowed from 20"), "{err}");
    assert_eq!(validaterecovery_calls(&mac), 1);
}

#[test]
fn past_the_failure_cap_a_validation_is_refused() {
    let mac = Mac::healthy();
    prefs(&mac, &[("ValidationFailureCap", 1)]);
    assert_eq!(code(&validate(&mac, WRONG)), 1);
    let out = validate(&mac, WRONG2);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out)
            .contains("ValidationFailureCap (1) reached: 1 validations have failed on this Mac"),
        "{}",
        stderr(&out)
    );
    assert_eq!(validaterecovery_calls(&mac), 1);
    // Not even the valid key: the cap protects the Secure Enclave's attempts.
    assert_eq!(code(&validate(&mac, VALID)), 2);
    assert_eq!(validaterecovery_calls(&mac), 1);
}

#[test]
fn a_malformed_key_is_refused_without_running_fdesetup() {
    let mac = Mac::healthy();
    for (input, says) in [
        ("ABCD-EFGH", "has 8 letters and digits"),
        ("", "the key is empty"),
        (
            "ABCD_EFGH-JKLM-NPQR-STUV-WXYZ",
            "only letters, digits and dashes",
        ),
    ] {
        let out = validate(&mac, input);
        assert_eq!(code(&out), 2, "{input:?}");
        assert!(
            stderr(&out).contains("this is not a recovery key"),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
    }
    assert_eq!(validaterecovery_calls(&mac), 0);
    assert!(whats(&mac)
        .iter()
        .all(|(w, r)| w == "ValidationRefused" && r == "MalformedKey"));
}

#[test]
fn no_answer_from_fdesetup_exits_2_and_counts_as_a_failure() {
    let mac = Mac::with(&[
        r#"faults=[{"argv":["fdesetup","validaterecovery"],"kind":"hang","times":1}]"#,
    ]);
    prefs(&mac, &[("ToolTimeout", 2), ("ValidationFailureCap", 1)]);
    let out = validate(&mac, VALID);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("no answer"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("counts as a failure"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        whats(&mac),
        [
            ("ValidationStarted".to_owned(), "Started".to_owned()),
            ("Validated".to_owned(), "RunFailed".to_owned())
        ]
    );
    // The cap of one failure is spent: not even the valid key is tried now.
    let again = validate(&mac, VALID);
    assert_eq!(code(&again), 2);
    assert!(
        stderr(&again).contains("ValidationFailureCap (1) reached"),
        "{}",
        stderr(&again)
    );
    assert_eq!(validaterecovery_calls(&mac), 1);
    assert_no_key_anywhere(&mac, &[&out, &again], &[VALID]);
}

#[test]
fn no_key_ever_reaches_a_file_an_output_or_an_argv_at_log_level_debug() {
    let mac = Mac::healthy();
    prefs(&mac, &[("ValidationDailyCap", 10)]);
    assert_eq!(code(&mac.check()), 0);
    let runs = [
        validate(&mac, VALID),
        validate(&mac, WRONG),
        validate(&mac, WRONG),
        validate(&mac, &WRONG2.to_lowercase()),
        validate(&mac, VALID),
    ];
    let codes: Vec<i32> = runs.iter().map(code).collect();
    assert_eq!(codes, [0, 1, 2, 1, 0]);
    // Exactly one validaterecovery per accepted attempt.
    assert_eq!(validaterecovery_calls(&mac), 4);
    let log = std::fs::read_to_string(mac.path("/Library/Logs/Keywarden/keywarden.log")).unwrap();
    assert!(log.contains("validation_finished"), "{log}");
    assert!(log.contains("DEBUG"), "the log is at debug: {log}");
    let audit = mac.keywarden_with_stdin(&["audit"], b"");
    let json = mac.keywarden_with_stdin(&["audit", "--json"], b"");
    let mut outputs: Vec<&Output> = runs.iter().collect();
    outputs.push(&audit);
    outputs.push(&json);
    assert_no_key_anywhere(&mac, &outputs, &[VALID, WRONG, WRONG2]);
}

#[test]
fn keywarden_audit_prints_the_trail_as_a_table_and_as_json_lines() {
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    assert_eq!(code(&validate(&mac, WRONG)), 1);
    assert_eq!(code(&validate(&mac, WRONG)), 2);
    let table = mac.keywarden(&["audit"]);
    assert_eq!(code(&table), 0, "{}", stderr(&table));
    let text = stdout(&table);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TIME (UTC)"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ValidationStarted") && l.contains("alice")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Validated") && l.contains("Invalid")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ValidationRefused") && l.contains("KeyFailedBefore")),
        "{text}"
    );
    let json = mac.keywarden(&["audit", "--json"]);
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let events: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(events, mac.audit(), "the same events as the file");
    assert_eq!(events.last().unwrap()["What"], "ValidationRefused");
    assert!(events[0]["At"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn an_unreadable_audit_trail_is_exit_2_with_a_clear_message() {
    let mac = Mac::healthy();
    assert_eq!(code(&validate(&mac, VALID)), 0);
    let path = mac.path("/var/db/keywarden/audit.jsonl");
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
    let out = mac.keywarden(&["audit"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("the audit trail cannot be read"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    // And validation refuses rather than count from nothing.
    let v = validate(&mac, VALID);
    assert_eq!(code(&v), 2);
    assert!(
        stderr(&v).contains("the validation caps are counted from it"),
        "{}",
        stderr(&v)
    );
    assert_eq!(validaterecovery_calls(&mac), 1);
}
