//! What the areas of the integration tests share, written once: [`Mac`], a simulated Mac in a
//! temp directory with the real `keywarden` pointed at it; [`tools::ToolsMac`], a simulated Mac
//! whose tools a test calls directly, the way the daemon's runner calls them; reading a status
//! plist (`status`); and the small helpers below: paths in the repository and its fixtures, the
//! user the tests run as and what an ordinary user can reach ([`ForEveryone`]), whether a process
//! is alive, waiting for a condition, a child's output, and what a test does when something it
//! needs is not here ([`unavailable`]).
//!
//! It holds no test, and no helper that only one area uses (that stays in the area).

mod mac;
mod status;
pub mod tools;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use mac::{Mac, KEYWARDEN, SIM};
pub use status::{
    assert_golden, boolean, codes, get, normalised, problems, string, strings, warnings,
};

/// The user every "as an ordinary user" test runs as.
pub const NOBODY: u32 = 65534;

/// Escrow Buddy's preference domain, where its `GenerateNewKey` flag lives.
pub const ESCROW_BUDDY_DOMAIN: &str = "/Library/Preferences/com.netflix.Escrow-Buddy";

/// A path in the repository (`rel` from its top, as `launchd/pkg-scripts/uninstall.sh`).
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A fixture's bytes, by its path under `tests/fixtures` (`handwritten/...`, `corpus/...`).
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = repo("tests/fixtures").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A real sample from the corpus, by its path under `tests/fixtures/corpus`.
pub fn corpus(rel: &str) -> Vec<u8> {
    fixture(&format!("corpus/{rel}"))
}

/// What a test does when something it needs is not here: a program, root, a mount. Under
/// `CI=true` it fails, naming what is missing and how to get it, because a test that could not run
/// must not pass in CI (STYLE.md; `.ci/run` runs as root and installs the programs). Elsewhere,
/// say `make test` on a laptop, it prints one line on stderr and the caller leaves that part out.
pub fn unavailable(what: &str, how: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is required under CI=true: {how}");
    }
    eprintln!("not run here: {what} is missing ({how}; under CI=true this fails)");
}

/// True when the tests run as root; otherwise [`unavailable`] says what needed root.
pub fn require_root(what_for: &str) -> bool {
    if !is_root() {
        unavailable(
            &format!("root ({what_for})"),
            "run the tests as root, as .ci/run does in CI",
        );
    }
    is_root()
}

/// How to install the programs that more than one area needs (`.ci/run` installs them).
pub const INSTALL_SHELLCHECK: &str = "apt-get install shellcheck, or brew install shellcheck";
pub const INSTALL_PYTHON3: &str = "apt-get install python3; a Mac has it";

/// True when `program` is on `PATH`; otherwise [`unavailable`], with `how` to install it.
pub fn require_program(program: &str, how: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    });
    if !found {
        unavailable(program, how);
    }
    found
}

/// Makes `cmd` run as [`NOBODY`] when the tests run as root (otherwise they already run as an
/// ordinary user).
pub fn as_ordinary_user(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    if is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    cmd
}

/// Copies of files in a new directory that every user can read and run (the directory and the
/// copies are mode 0755), removed on drop. Whatever a test runs as [`NOBODY`] comes from here,
/// never from the checkout or its target directory: a clone in a private (0700) directory is out
/// of nobody's reach, and the tests must pass from any checkout (issue 13, item 10). The directory
/// is a temp directory, so `TMPDIR` must be reachable (`/tmp` is).
pub struct ForEveryone {
    dir: tempfile::TempDir,
}

impl ForEveryone {
    pub fn new(files: &[&Path]) -> ForEveryone {
        use std::os::unix::fs::PermissionsExt as _;
        let everyone = || std::fs::Permissions::from_mode(0o755);
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), everyone()).expect("chmod the temp dir");
        for file in files {
            let copy = dir.path().join(file.file_name().expect("a file name"));
            // Copied by `cp`, not by this process: a file this process wrote would be open for
            // writing in any child another test thread forks meanwhile (until that child execs),
            // and running the copy then fails with ETXTBSY ("Text file busy"). `cp`'s descriptor
            // is gone when `cp` exits.
            let copied = std::process::Command::new("cp")
                .arg(file)
                .arg(&copy)
                .status()
                .unwrap_or_else(|e| panic!("cp {}: {e}", file.display()));
            assert!(copied.success(), "cp {} failed", file.display());
            std::fs::set_permissions(&copy, everyone()).expect("chmod the copy");
        }
        ForEveryone { dir }
    }

    /// The copy of the file called `name`.
    pub fn get(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

pub fn is_root() -> bool {
    euid() == 0
}

/// Running: neither gone nor a zombie waiting to be reaped.
pub fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the command, which is in parentheses.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

/// Polls `cond` every 50 ms for up to `limit`; whether it became true.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Stdout then stderr, for an assertion's message.
pub fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// Starts `cmd` with its three streams piped, writes `input` to its stdin and closes it.
pub fn spawn_with_stdin(cmd: &mut Command, input: &[u8]) -> std::io::Result<Child> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)?;
    Ok(child)
}
