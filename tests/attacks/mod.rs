//! Files under attack or damage (issue 6): a symlink, a directory or a FIFO where the status,
//! state, log, audit trail or lock should be; a wrong owner or mode on the state directory; a full
//! disk and a read-only filesystem (small tmpfs mounts, as root); a corrupt, truncated, empty or
//! future-version state file. Each gives a clear error, writes nothing through a symlink, never
//! hangs, and recovers once the cause is removed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

const STATUS: &str = "/Library/Keywarden/status.plist";
const STATE: &str = "/var/db/keywarden/state.plist";
const LOG: &str = "/Library/Logs/Keywarden/keywarden.log";
const AUDIT: &str = "/var/db/keywarden/audit.jsonl";
const LOCK: &str = "/var/db/keywarden/keywarden.lock";

#[derive(Clone, Copy, Debug)]
enum Thing {
    Symlink,
    Directory,
    Fifo,
}

fn plant(mac: &Mac, at: &str, thing: Thing) -> Option<std::path::PathBuf> {
    let path = mac.path(at);
    let parent = path.parent().unwrap();
    if !parent.exists() {
        std::fs::create_dir_all(parent).unwrap();
        if at.starts_with("/var/db/keywarden/") {
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
    }
    let _ = std::fs::remove_file(&path);
    match thing {
        Thing::Symlink => {
            let victim = mac.path("/victim");
            std::fs::write(&victim, b"precious").unwrap();
            std::os::unix::fs::symlink(&victim, &path).unwrap();
            Some(victim)
        }
        Thing::Directory => {
            std::fs::create_dir(&path).unwrap();
            None
        }
        Thing::Fifo => {
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            None
        }
    }
}

fn remove(mac: &Mac, at: &str) {
    let path = mac.path(at);
    if path.is_dir() && !path.is_symlink() {
        std::fs::remove_dir_all(&path).unwrap();
    } else {
        std::fs::remove_file(&path).unwrap();
    }
}

/// Run a check with a generous bound (a FIFO must never hang it).
fn timed_check(mac: &Mac, what: &str) -> std::process::Output {
    let started = Instant::now();
    let out = mac.check();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{what}: the check hung"
    );
    out
}

#[test]
fn something_planted_at_a_file_keywarden_writes_is_a_clear_error_and_nothing_is_written_through() {
    for thing in [Thing::Symlink, Thing::Directory, Thing::Fifo] {
        // The status: nothing can be published: exit 2, the reason on stderr.
        let mac = Mac::healthy();
        let victim = plant(&mac, STATUS, thing);
        let out = timed_check(&mac, "status");
        assert_eq!(code(&out), 2, "status {thing:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("status.plist"), "status {thing:?}: {err}");
        if let Some(v) = &victim {
            assert_eq!(std::fs::read(v).unwrap(), b"precious");
        }
        remove(&mac, STATUS);
        assert_eq!(code(&mac.check()), 0, "status {thing:?}: no recovery");

        // The state: the status says so; nothing written through.
        let mac = Mac::healthy();
        let victim = plant(&mac, STATE, thing);
        let out = timed_check(&mac, "state");
        assert_eq!(code(&out), 0, "state {thing:?}: {}", stderr(&out));
        let s = mac.status();
        assert!(
            warnings(&s).contains(&"StateUnreadable".to_owned()),
            "state {thing:?}: {:?}",
            warnings(&s)
        );
        let errors = strings(&s, "Daemon.Errors").join("\n");
        assert!(errors.contains("state.plist"), "state {thing:?}: {errors}");
        if let Some(v) = &victim {
            assert_eq!(std::fs::read(v).unwrap(), b"precious");
        }
        remove(&mac, STATE);
        assert_eq!(code(&mac.check()), 0);
        assert!(
            boolean(&mac.status(), "Healthy"),
            "state {thing:?}: no recovery"
        );

        // The log: the check goes on; the status says the log is not written.
        let mac = Mac::healthy();
        let victim = plant(&mac, LOG, thing);
        let out = timed_check(&mac, "log");
        assert_eq!(code(&out), 0, "log {thing:?}: {}", stderr(&out));
        let errors = strings(&mac.status(), "Daemon.Errors").join("\n");
        assert!(
            errors.contains("log not written") && errors.contains("keywarden.log"),
            "log {thing:?}: {errors}"
        );
        if let Some(v) = &victim {
            assert_eq!(std::fs::read(v).unwrap(), b"precious");
        }
        remove(&mac, LOG);
        assert_eq!(code(&mac.check()), 0);
        assert!(
            strings(&mac.status(), "Daemon.Errors").is_empty(),
            "log {thing:?}: no recovery"
        );

        // The audit trail: an event cannot be recorded; the status says so.
        let mac = Mac::healthy();
        let victim = plant(&mac, AUDIT, thing);
        mac.event(&["reboot", "--with-recovery-key"]);
        let out = timed_check(&mac, "audit");
        assert_eq!(code(&out), 0, "audit {thing:?}: {}", stderr(&out));
        let errors = strings(&mac.status(), "Daemon.Errors").join("\n");
        assert!(
            errors.contains("audit trail not written") && errors.contains("audit.jsonl"),
            "audit {thing:?}: {errors}"
        );
        if let Some(v) = &victim {
            assert_eq!(std::fs::read(v).unwrap(), b"precious");
        }

        // The lock: refused at once, with the path.
        let mac = Mac::healthy();
        plant(&mac, LOCK, thing);
        let out = timed_check(&mac, "lock");
        assert_eq!(code(&out), 2, "lock {thing:?}");
        assert!(
            stderr(&out).contains("keywarden.lock"),
            "lock {thing:?}: {}",
            stderr(&out)
        );
        remove(&mac, LOCK);
        assert_eq!(code(&mac.check()), 0, "lock {thing:?}: no recovery");
    }
}

#[test]
fn a_state_directory_with_a_loose_mode_or_a_foreign_owner_is_refused_then_recovers() {
    for mode in [0o755, 0o777] {
        let mac = Mac::healthy();
        assert_eq!(code(&mac.check()), 0);
        let dir = mac.path("/var/db/keywarden");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = mac.check();
        assert_eq!(code(&out), 2, "mode {mode:o}: the lock lives there too");
        let err = stderr(&out);
        assert!(
            err.contains("/var/db/keywarden")
                && (err.contains("private to root") || err.contains("writable by group or others")),
            "mode {mode:o}: {err}"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(code(&mac.check()), 0, "mode {mode:o}: no recovery");
    }
    if !require_root("to give the state directory a foreign owner") {
        return;
    }
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    let dir = mac.path("/var/db/keywarden");
    nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let out = mac.check();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("owned by uid 65534"),
        "{}",
        stderr(&out)
    );
    nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
    assert_eq!(code(&mac.check()), 0);
}

#[test]
fn damaged_state_files_are_moved_aside_reported_once_and_rebuilt() {
    for (what, bytes) in [
        ("corrupt", &b"\x00\x01garbage"[..]),
        ("truncated", &b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\t<key>Version</key>\n\t<integer>1</in"[..]),
        ("empty", &b""[..]),
        ("future version", &b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Version</key><integer>7</integer></dict></plist>"[..]),
    ] {
        let mac = Mac::healthy();
        assert_eq!(code(&mac.check()), 0);
        let state = mac.path(STATE);
        std::fs::write(&state, bytes).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(code(&mac.check()), 0, "{what}");
        let s = mac.status();
        assert!(warnings(&s).contains(&"StateUnreadable".to_owned()), "{what}: {:?}", warnings(&s));
        assert!(strings(&s, "Daemon.Errors").join(" ").contains("moved aside"), "{what}");
        let aside: Vec<_> = std::fs::read_dir(mac.path("/var/db/keywarden"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("state.plist."))
            .collect();
        assert_eq!(aside.len(), 1, "{what}: kept for inspection");
        assert_eq!(code(&mac.check()), 0);
        assert!(boolean(&mac.status(), "Healthy"), "{what}: rebuilt, reported once");
    }
}

/// A tmpfs of `kib` KiB mounted at `dir` (root only), unmounted on drop.
struct Mount(std::path::PathBuf);

impl Mount {
    /// `None`, after `unavailable`, where mounting is not permitted (a container without
    /// CAP_SYS_ADMIN) or `mount` is missing.
    fn tmpfs(dir: &Path, kib: u32) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            unavailable(
                "a tmpfs mount",
                "root allowed to mount (a container needs CAP_SYS_ADMIN, docker run --privileged)",
            );
        }
        ok.then(|| Mount(dir.to_owned()))
    }

    fn remount(&self, opts: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {opts}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn fill(dir: &Path) -> std::path::PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    use std::io::Write;
    let block = [0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    filler
}

#[test]
fn a_full_disk_or_a_read_only_filesystem_keeps_the_old_files_and_recovers() {
    if !require_root("to mount a small tmpfs") {
        return;
    }
    // The status directory on a tiny filesystem.
    let mac = Mac::healthy();
    let dir = mac.path("/Library/Keywarden");
    let Some(m) = Mount::tmpfs(&dir, 64) else {
        return;
    };
    assert_eq!(code(&mac.check()), 0);
    let good = mac.status_bytes();
    let filler = fill(&dir);
    mac.set(&["bootstrap_token.escrowed=false"]);
    let out = mac.check();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert_eq!(mac.status_bytes(), good, "the old status is intact");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(code(&mac.check()), 0, "recovers when space is freed");
    assert!(warnings(&mac.status()).contains(&"BootstrapTokenNotEscrowed".to_owned()));

    m.remount("ro");
    let out = mac.check();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    m.remount("rw");
    assert_eq!(code(&mac.check()), 0);
    drop(m);

    // The state directory full: the status still says so.
    let mac = Mac::healthy();
    assert_eq!(code(&mac.check()), 0);
    let dir = mac.path("/var/db/keywarden");
    let saved: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    let Some(m) = Mount::tmpfs(&dir, 64) else {
        return;
    };
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for (name, bytes) in &saved {
        std::fs::write(dir.join(name), bytes).unwrap();
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let filler = fill(&dir);
    let out = mac.check();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = mac.status();
    assert!(
        warnings(&s).contains(&"StateUnreadable".to_owned()),
        "{:?} {:?}",
        codes(&s),
        strings(&s, "Daemon.Errors")
    );
    assert!(strings(&s, "Daemon.Errors")
        .join(" ")
        .contains("No space left on device"));
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(code(&mac.check()), 0);
    assert!(
        boolean(&mac.status(), "Healthy"),
        "{:?}",
        problems(&mac.status())
    );
    drop(m);
}
