//! The simulator without Keywarden: [`ToolsMac`], a simulated Mac in a temp dir whose tools a
//! test calls the way the daemon's runner calls them (absolute path under the root, cleared
//! environment with only `PATH` and `LC_ALL=C`, cwd `/`, stdin closed or carrying a plist).
//!
//! It drives the built `keywarden-sim` binary only; it shares no code with the simulator.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::{ForEveryone, SIM};

/// The PATH the daemon gives its children.
const CHILD_PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin";
/// Each tool Keywarden runs, by its short name, and its absolute path on a Mac: the product's own
/// table (`keywarden::paths::Tool`), so the simulator is held to where the daemon looks.
pub fn tool_paths() -> Vec<(&'static str, &'static str)> {
    keywarden::paths::Tool::ALL
        .iter()
        .map(|t| {
            let path = t.path();
            (path.rsplit('/').next().unwrap_or(path), path)
        })
        .collect()
}

/// A simulated Mac in a temp dir, optionally operated as another user (`as_user`).
pub struct ToolsMac {
    dir: tempfile::TempDir,
    /// Run every simulator process with this UID/GID (as root only), from a copy of the
    /// simulator that user can reach wherever the checkout is.
    user: Option<(u32, ForEveryone)>,
}

/// A finished tool call.
pub struct Out {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: ExitStatus,
}

impl Out {
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }
    pub fn err(&self) -> String {
        String::from_utf8(self.stderr.clone()).expect("stderr is UTF-8")
    }
    pub fn code(&self) -> i32 {
        self.status.code().expect("exited with a code")
    }
    pub fn plist(&self) -> plist::Value {
        plist::Value::from_reader_xml(&self.stdout[..]).expect("stdout is an XML plist")
    }
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            stdout: o.stdout,
            stderr: o.stderr,
            status: o.status,
        }
    }
}

impl ToolsMac {
    /// The healthy Mac.
    pub fn healthy() -> ToolsMac {
        ToolsMac::init(None, None)
    }

    /// The healthy Mac with `set` assignments applied.
    pub fn with(assignments: &[&str]) -> ToolsMac {
        let mac = ToolsMac::healthy();
        if !assignments.is_empty() {
            mac.set(assignments);
        }
        mac
    }

    /// The healthy Mac, laid out and operated by an unprivileged `uid` (test runs as root).
    pub fn as_user(uid: u32) -> ToolsMac {
        ToolsMac::init(None, Some(uid))
    }

    pub fn from_scenario_file(path: &Path) -> ToolsMac {
        ToolsMac::init(Some(path), None)
    }

    fn init(scenario: Option<&Path>, user: Option<u32>) -> ToolsMac {
        let dir = tempfile::tempdir().expect("temp dir");
        if let Some(uid) = user {
            nix::unistd::chown(
                dir.path(),
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(uid)),
            )
            .expect("chown the temp dir");
        }
        let user = user.map(|uid| (uid, ForEveryone::new(&[Path::new(SIM)])));
        let mac = ToolsMac { dir, user };
        let mut args = vec!["init".to_string(), mac.root().display().to_string()];
        if let Some(s) = scenario {
            args.push("--scenario".into());
            args.push(s.display().to_string());
        }
        mac.cli_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        mac
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A macOS path inside the simulated Mac.
    pub fn path(&self, mac_abs: &str) -> PathBuf {
        self.root().join(mac_abs.trim_start_matches('/'))
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", CHILD_PATH)
            .env("LC_ALL", "C")
            .current_dir("/");
        if let Some((uid, _)) = self.user {
            c.uid(uid).gid(uid);
        }
        c
    }

    /// `keywarden-sim ARGS` (the CLI).
    pub fn cli(&self, args: &[&str]) -> Out {
        let sim = match &self.user {
            // `init` links the tools to the program it runs as: this copy.
            Some((_, copy)) => copy.get("keywarden-sim"),
            None => PathBuf::from(SIM),
        };
        self.command(&sim)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run keywarden-sim")
            .into()
    }

    pub fn cli_ok(&self, args: &[&str]) -> Out {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "keywarden-sim {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn set(&self, assignments: &[&str]) {
        let root = self.root().display().to_string();
        let mut args = vec!["set", root.as_str()];
        args.extend_from_slice(assignments);
        self.cli_ok(&args);
    }

    /// `keywarden-sim event DIR ARGS...`: the lines it printed.
    pub fn event(&self, args: &[&str]) -> String {
        let root = self.root().display().to_string();
        let mut all = vec!["event", root.as_str()];
        all.extend_from_slice(args);
        String::from_utf8(self.cli_ok(&all).stdout).unwrap()
    }

    /// `keywarden-sim age DIR DURATION`, whatever its outcome.
    pub fn age(&self, duration: &str) -> Out {
        let root = self.root().display().to_string();
        self.cli(&["age", &root, duration])
    }

    pub fn tool_path(&self, tool: &str) -> PathBuf {
        let (_, mac_path) = tool_paths()
            .into_iter()
            .find(|(t, _)| *t == tool)
            .unwrap_or_else(|| panic!("unknown tool {tool}"));
        self.path(mac_path)
    }

    /// A tool call with stdin closed, as the daemon makes it.
    pub fn run(&self, tool: &str, args: &[&str]) -> Out {
        self.command(&self.tool_path(tool))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tool")
            .into()
    }

    /// A tool call with `input` on stdin (then closed).
    pub fn run_with_stdin(&self, tool: &str, args: &[&str], input: &[u8]) -> Out {
        let mut cmd = self.command(&self.tool_path(tool));
        cmd.args(args);
        super::spawn_with_stdin(&mut cmd, input)
            .expect("spawn tool")
            .wait_with_output()
            .expect("wait tool")
            .into()
    }

    /// A tool call in its own process group with no pipes (for hangs and crashes).
    pub fn spawn(&self, tool: &str, args: &[&str]) -> Child {
        self.command(&self.tool_path(tool))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn tool")
    }

    /// The call log, one JSON value per line.
    pub fn log(&self) -> Vec<Value> {
        let root = self.root().display().to_string();
        let out = self.cli_ok(&["log", &root]);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    /// Waits (up to 20 s) until the call log has `n` lines.
    pub fn wait_for_log(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if log.len() >= n || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn scenario(&self) -> Value {
        let text = fs::read_to_string(self.path("/.sim/scenario.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    pub fn mtime(&self, mac_abs: &str) -> SystemTime {
        fs::metadata(self.path(mac_abs))
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("{mac_abs}: {e}"))
    }

    pub fn owner(&self, mac_abs: &str) -> u32 {
        fs::metadata(self.path(mac_abs))
            .unwrap_or_else(|e| panic!("{mac_abs}: {e}"))
            .uid()
    }

    /// The current personal recovery key of the scenario.
    pub fn prk(&self) -> Option<String> {
        self.scenario()["recovery_key"]["personal"]
            .as_str()
            .map(str::to_string)
    }
}

/// The plist `fdesetup ... -inputplist` reads: `{Password: key}`.
pub fn password_plist(key: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\t<key>Password</key>\n\t<string>{key}</string>\n</dict>\n</plist>\n"
    )
    .into_bytes()
}
