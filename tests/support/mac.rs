//! A simulated Mac in a temp directory (`keywarden-sim init`), and the real `keywarden` binary
//! pointed at it with `--root`: how the end-to-end areas drive Keywarden. What the simulator
//! recorded (its call log, its scenario) and what Keywarden wrote (status, audit trail, log) are
//! read back from the directory. Calling the simulator's tools without Keywarden is `tools`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{code, text};

pub const KEYWARDEN: &str = env!("CARGO_BIN_EXE_keywarden");
pub const SIM: &str = env!("CARGO_BIN_EXE_keywarden-sim");

pub struct Mac {
    dir: tempfile::TempDir,
}

impl Mac {
    /// The simulator's healthy Mac.
    pub fn healthy() -> Mac {
        let dir = tempfile::tempdir().expect("temp dir");
        let mac = Mac { dir };
        mac.sim(&["init", mac.root_str()]);
        mac
    }

    /// The healthy Mac with these scenario changes (`PATH=JSON`, as `keywarden-sim set` takes).
    pub fn with(changes: &[&str]) -> Mac {
        let mac = Mac::healthy();
        if !changes.is_empty() {
            mac.set(changes);
        }
        mac
    }

    /// An empty directory for a Mac a test lays out itself (tools that print published outputs,
    /// say), without the simulator.
    pub fn empty() -> Mac {
        Mac {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The Mac a selftest bundle recorded (`keywarden-sim init --from-bundle`), and what `init`
    /// printed.
    pub fn from_bundle(bundle: &Path) -> (Mac, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mac = Mac { dir };
        let out = mac.sim(&[
            "init",
            "--from-bundle",
            bundle.to_str().expect("UTF-8 bundle path"),
            mac.root_str(),
        ]);
        (mac, String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn root_str(&self) -> &str {
        self.dir.path().to_str().expect("UTF-8 temp path")
    }

    pub fn path(&self, abs: &str) -> PathBuf {
        self.root().join(abs.trim_start_matches('/'))
    }

    pub fn sim(&self, args: &[&str]) -> Output {
        let out = Command::new(SIM)
            .args(args)
            .output()
            .expect("run keywarden-sim");
        assert!(
            out.status.success(),
            "keywarden-sim {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn set(&self, changes: &[&str]) {
        let mut args = vec!["set", self.root_str()];
        args.extend_from_slice(changes);
        self.sim(&args);
    }

    pub fn event(&self, args: &[&str]) {
        let mut a = vec!["event", self.root_str()];
        a.extend_from_slice(args);
        self.sim(&a);
    }

    /// `keywarden --root DIR ARGS...`, not yet run.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(KEYWARDEN);
        cmd.arg("--root").arg(self.root()).args(args);
        cmd
    }

    /// Run `keywarden --root DIR ARGS...`.
    pub fn keywarden(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run keywarden")
    }

    /// `keywarden --root DIR ARGS...` with `input` on stdin, killed after two minutes.
    pub fn keywarden_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child =
            super::spawn_with_stdin(&mut self.command(args), input).expect("run keywarden");
        let started = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("keywarden {args:?} ran for more than 2 minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    }

    /// Start `keywarden --root DIR ARGS...` (a check to kill, the daemon), output discarded.
    pub fn spawn_keywarden(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start keywarden")
    }

    pub fn check(&self) -> Output {
        self.keywarden(&["check"])
    }

    /// A check that must not fail (exit 0, or 1 for a status with problems); the status it wrote.
    pub fn checked(&self) -> plist::Value {
        let out = self.check();
        assert!(code(&out) <= 1, "check failed: {}", text(&out));
        self.status()
    }

    pub fn status_bytes(&self) -> Vec<u8> {
        std::fs::read(self.path("/Library/Keywarden/status.plist")).expect("status.plist")
    }

    pub fn status(&self) -> plist::Value {
        plist::from_bytes(&self.status_bytes()).expect("status parses")
    }

    /// Write the managed preferences (a configuration profile's payload).
    pub fn managed_prefs(&self, pairs: &[(&str, plist::Value)]) {
        let dict: plist::Dictionary = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let path = self.path("/Library/Managed Preferences/org.keywarden.plist");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        plist::to_file_xml(&path, &plist::Value::Dictionary(dict)).unwrap();
    }

    /// Make `/usr/local/bin/rotate-key` (inside the simulated Mac: `RotationCommand` names a
    /// program on the Mac) a shell script of `body`, and the only rotation method:
    /// `RotationMethods = [Command]`, `RotationCommand = [rotate-key, args...]`.
    pub fn use_rotation_command(&self, body: &str, args: &[&str]) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(self.path("/usr/local/bin")).unwrap();
        let script = self.path("/usr/local/bin/rotate-key");
        std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let argv = std::iter::once("/usr/local/bin/rotate-key")
            .chain(args.iter().copied())
            .map(|a| plist::Value::String(a.into()))
            .collect();
        self.managed_prefs(&[
            (
                "RotationMethods",
                plist::Value::Array(vec![plist::Value::String("Command".into())]),
            ),
            ("RotationCommand", plist::Value::Array(argv)),
        ]);
    }

    /// The simulator's log of calls, one JSON value each.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.path("/.sim/calls.jsonl")).unwrap_or_default();
        // Only whole lines: a tool still running may be appending its own as this reads (a read
        // racing a write can see part of it; seen once in `faults::`, issue 14).
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|l| serde_json::from_str(l).expect("call log line"))
            .collect()
    }

    /// The simulator's scenario as it stands (`.sim/scenario.json`).
    pub fn scenario(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("/.sim/scenario.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Escrow Buddy's GenerateNewKey as the simulated `defaults` sees it.
    pub fn escrow_buddy_flag(&self) -> Option<bool> {
        self.scenario()["escrow_buddy"]["generate_new_key"].as_bool()
    }

    /// Keywarden's audit trail, one JSON value per line.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path("/var/db/keywarden/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    /// How many checks Keywarden's log says have finished.
    pub fn checks_logged(&self) -> usize {
        std::fs::read_to_string(self.path("/Library/Logs/Keywarden/keywarden.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" check_finished "))
            .count()
    }
}
