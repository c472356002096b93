//! No root for a user's program (issue 16, item 2): every program Keywarden runs as root is
//! checked along its whole path and executed from the very file that was checked.
//!
//! The attack: a user who can write to a directory on the path of a program Keywarden runs
//! (`/usr/local/bin` belongs to the Homebrew user on Intel Macs) swaps the file between the check
//! and the exec. The swap itself is tested on the exec primitive (`sys::exec`, a unit test:
//! `issue_16_the_file_checked_is_the_file_run_even_when_its_path_is_swapped_after_the_check`);
//! here, end to end, that such a directory is refused wherever it is on the path, and that a
//! refusal is not retried at every check.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;

/// A Mac whose key unlocked it at boot, with `RotationCommand` (`/usr/local/bin/rotate-key`)
/// appending a line to the returned marker when it runs; the rotation is asked at the next login.
fn mac_with_command() -> (Mac, std::path::PathBuf) {
    let mac = Mac::with(&["escrow_buddy.installed=false"]);
    let marker = mac.path("/command-ran");
    mac.use_rotation_command(&format!("echo ran >> {}\n", marker.display()), &[]);
    mac.event(&["reboot", "--with-recovery-key"]);
    (mac, marker)
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn runs(marker: &std::path::Path) -> usize {
    std::fs::read_to_string(marker)
        .unwrap_or_default()
        .lines()
        .count()
}

fn audited(mac: &Mac, what: &str) -> usize {
    mac.audit().iter().filter(|e| e["What"] == what).count()
}

#[test]
fn issue_16_a_rotation_command_in_a_directory_others_can_write_is_refused_naming_that_directory() {
    for mode in [0o777, 0o775, 0o1777] {
        let (mac, marker) = mac_with_command();
        let bin = mac.path("/usr/local/bin");
        chmod(&bin, mode);
        mac.event(&["login", "alice"]);
        let s = mac.checked();
        assert_eq!(runs(&marker), 0, "mode {mode:o}: the command ran as root");
        assert_eq!(string(&s, "Rotation.State"), "Failed", "mode {mode:o}");
        let err = string(&s, "Rotation.LastError");
        assert!(
            err.contains(&format!(
                "{} is writable by group or others (mode {mode:04o})",
                bin.display()
            )),
            "mode {mode:o}: {err}"
        );
        assert!(err.contains("/Library/Management"), "what to do: {err}");
    }
}

/// The Homebrew case itself: `/usr/local/bin` owned by the first user (uid 501), mode 0755; and
/// the same one level up (`/usr/local`), where the user could rename `bin` away.
#[test]
fn issue_16_a_rotation_command_under_a_directory_owned_by_a_user_is_refused_naming_that_directory()
{
    if !require_root("chown a directory to uid 501") {
        return;
    }
    for dir in ["/usr/local/bin", "/usr/local"] {
        let (mac, marker) = mac_with_command();
        let owned = mac.path(dir);
        nix::unistd::chown(&owned, Some(nix::unistd::Uid::from_raw(501)), None).unwrap();
        mac.event(&["login", "alice"]);
        let s = mac.checked();
        assert_eq!(runs(&marker), 0, "{dir}: the command ran as root");
        let err = string(&s, "Rotation.LastError");
        assert!(
            err.contains(&format!(
                "{} is owned by uid 501, not root",
                owned.display()
            )),
            "{dir}: {err}"
        );
    }
}

/// A link is followed only to a place that passes the same rule: `/usr/local/bin` a link
/// (relative, then absolute) to a directory anyone can write is refused, naming that directory;
/// a link to a directory only root can write (as `/etc` is on a Mac) is followed and the command
/// runs.
#[test]
fn issue_16_a_rotation_command_reached_through_a_symlinked_user_writable_directory_is_refused() {
    for absolute in [false, true] {
        for writable in [true, false] {
            let (mac, marker) = mac_with_command();
            let bin = mac.path("/usr/local/bin");
            let real = mac.path("/Users/Shared/tools");
            std::fs::create_dir_all(real.parent().unwrap()).unwrap();
            std::fs::rename(&bin, &real).unwrap();
            let target = if absolute {
                real.clone()
            } else {
                std::path::PathBuf::from("../../Users/Shared/tools")
            };
            std::os::unix::fs::symlink(&target, &bin).unwrap();
            if writable {
                chmod(&real, 0o777);
            }
            mac.event(&["login", "alice"]);
            let s = mac.checked();
            let case = format!("absolute link: {absolute}, writable: {writable}");
            if writable {
                assert_eq!(runs(&marker), 0, "{case}: the command ran as root");
                let err = string(&s, "Rotation.LastError");
                assert!(
                    err.contains(&format!(
                        "{} is writable by group or others",
                        real.display()
                    )),
                    "{case}: {err}"
                );
            } else {
                assert_eq!(runs(&marker), 1, "{case}: a trusted link is followed");
                assert_eq!(string(&s, "Rotation.State"), "Requested", "{case}");
            }
        }
    }
}

/// "With unlimited retries" (issue 16): a refused command is a failed attempt, retried after its
/// backoff, not at every check; and it never runs, however often it is asked for.
#[test]
fn issue_16_a_refused_rotation_command_is_not_retried_at_every_check() {
    let (mac, marker) = mac_with_command();
    chmod(&mac.path("/usr/local/bin"), 0o777);
    mac.event(&["login", "alice"]);
    for _ in 0..3 {
        mac.checked();
    }
    assert_eq!(runs(&marker), 0, "the command ran as root");
    assert_eq!(audited(&mac, "RotationFailed"), 1, "{:?}", mac.audit());
    let s = mac.status();
    assert_eq!(string(&s, "Rotation.State"), "Failed");
}

/// The same rule for every program Keywarden runs as root: the macOS tools too, in the runner
/// that starts every one of them. (As root, `--root` is also refused at start when its tool
/// directories are loose: `app::privilege`; this is the rule at every call, on any root.) A
/// directory anyone (0o777) or a group (0o775) can write, anywhere on the path, and nothing in it
/// is run.
#[test]
fn issue_16_a_macos_tool_under_a_directory_others_can_write_is_not_run() {
    use keywarden::paths::{Root, Tool};
    use keywarden::runner::{Call, ProcessRunner, RunError, Runner};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (loose, mode) in [("/usr/bin", 0o777), ("/usr", 0o775), ("/usr/bin", 0o1777)] {
        let mac = tempfile::tempdir().unwrap();
        let bin = mac.path().join("usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let marker = mac.path().join("ran");
        let tool = bin.join("fdesetup");
        std::fs::write(
            &tool,
            format!("#!/bin/sh\necho ran > {}\n", marker.display()),
        )
        .unwrap();
        chmod(&tool, 0o755);
        let runner = ProcessRunner::new(Root::new(mac.path()), std::time::Duration::from_secs(30));
        let call = Call::tool(Tool::Fdesetup, &["status"]);
        rt.block_on(runner.run(&call)).expect("a trusted tool runs");
        assert!(marker.exists());
        std::fs::remove_file(&marker).unwrap();

        let dir = mac.path().join(loose.trim_start_matches('/'));
        chmod(&dir, mode);
        let err = rt.block_on(runner.run(&call)).unwrap_err();
        assert!(
            matches!(err, RunError::Untrusted { .. }),
            "{loose} {mode:o}: {err}"
        );
        assert!(
            err.to_string().contains(&format!(
                "{} is writable by group or others (mode {mode:04o})",
                dir.display()
            )),
            "{loose} {mode:o}: {err}"
        );
        assert!(!marker.exists(), "{loose} {mode:o}: the tool ran");
    }
}

/// Preferences read as root are trusted only in directories only root can write: a user who can
/// write into `/Library/Managed Preferences` or `/Library/Preferences` could put their own file
/// there, with `RotationCommand` naming a root program such as `/bin/sh` (the same rule as a
/// program's, issue 16, item 2).
#[test]
fn issue_16_preferences_in_a_directory_others_can_write_do_not_configure_a_rotation_command() {
    for (dir, file) in [
        (
            "/Library/Managed Preferences",
            "/Library/Managed Preferences/org.keywarden.plist",
        ),
        (
            "/Library/Preferences",
            "/Library/Preferences/org.keywarden.plist",
        ),
    ] {
        let (mac, marker) = mac_with_command();
        // The commands's preferences moved to the file under test (the managed ones, or the
        // local file owned by the Mac's owner and not writable by others: trusted on its own).
        let managed = mac.path("/Library/Managed Preferences/org.keywarden.plist");
        let prefs = std::fs::read(&managed).unwrap();
        std::fs::remove_file(&managed).unwrap();
        std::fs::create_dir_all(mac.path(dir)).unwrap();
        std::fs::write(mac.path(file), &prefs).unwrap();
        chmod(&mac.path(file), 0o644);
        chmod(&mac.path(dir), 0o777);
        mac.event(&["login", "alice"]);
        let s = mac.checked();
        assert_eq!(runs(&marker), 0, "{dir} 0777: the command did not run");
        assert_ne!(
            string(&s, "Rotation.Method"),
            "Command",
            "{dir} 0777: RotationCommand is not configured"
        );
        let warned = strings(&s, "Daemon.ConfigWarnings");
        assert!(
            warned.iter().any(
                |w| w.starts_with(file) && w.contains("writable by group or others")
                    || w.starts_with(file) && w.contains("in directories only root can write")
            ),
            "{dir} 0777: a warning names the file: {warned:?}"
        );
        // Put right, the same file is read again.
        chmod(&mac.path(dir), 0o755);
        let s = mac.checked();
        let warned = strings(&s, "Daemon.ConfigWarnings");
        assert!(
            !warned.iter().any(|w| w.starts_with(file)),
            "{dir} 0755: {warned:?}"
        );
    }
}

/// Attack review finding A: a `RotationCommand` that passes the check but whose `#!` names an
/// interpreter a user can replace (`/opt/homebrew/bin/bash`, the Homebrew user's on Apple
/// silicon; here a 0777 directory) would run that interpreter as root. Neither runs, and the
/// error names the interpreter. The kernel finds the interpreter on the host from `/`, so the
/// walk may stop above the simulated root (a 1777 `/tmp`) before it reaches the 0777 directory:
/// either way the interpreter is named and nothing runs.
#[test]
fn issue_16_a_rotation_command_whose_interpreter_a_user_can_replace_is_not_run_and_the_interpreter_named(
) {
    let (mac, marker) = mac_with_command();
    let bash = mac.path("/opt/homebrew/bin/bash");
    std::fs::create_dir_all(bash.parent().unwrap()).unwrap();
    std::fs::write(
        &bash,
        format!(
            "#!/bin/sh\necho interpreter >> {}\nexec /bin/sh \"$@\"\n",
            marker.display()
        ),
    )
    .unwrap();
    chmod(&bash, 0o755);
    chmod(bash.parent().unwrap(), 0o777);
    let command = mac.path("/usr/local/bin/rotate-key");
    std::fs::write(
        &command,
        format!("#!{}\necho ran >> {}\n", bash.display(), marker.display()),
    )
    .unwrap();
    mac.event(&["login", "alice"]);
    let s = mac.checked();
    assert_eq!(
        runs(&marker),
        0,
        "the interpreter or the command ran as root"
    );
    assert_eq!(string(&s, "Rotation.State"), "Failed");
    let err = string(&s, "Rotation.LastError");
    assert!(
        err.starts_with(&format!(
            "RotationCommand not run: its interpreter {} (the #! line of ",
            bash.display()
        )),
        "{err}"
    );
    assert!(err.contains("is writable by group or others"), "{err}");
}
