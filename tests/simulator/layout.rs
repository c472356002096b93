//! The simulated Mac on disk: its directory tree, the tool symlinks, the scenario file and the
//! files the daemon reads directly.
//!
//! `DIR` holds a miniature macOS tree (`usr/bin`, `var/db`, `Library/...`, `dev`) and the
//! simulator's own `.sim/` (scenario, call log, lock, replay counters). This module creates the
//! tree, loads and saves the scenario atomically under an flock, and *applies* a scenario to the
//! files the daemon looks at without a tool: `/var/db/FileVaultPRK.dat`, `/dev/console`, the
//! escrow managed preference, the Escrow Buddy bundle and the deferral output file. It does not
//! know what tools print (see `tools`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::blob;
use crate::corpus;
use crate::scenario::{BlobFormat, Scenario, DEFERRAL_OUTPUT_DEFAULT};
use crate::xml::{self, Plist};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{chown, geteuid, Uid};

/// Every tool the daemon runs, by name, at its absolute macOS path (ARCHITECTURE.md, "The
/// commands it runs"). Each is a symlink to the simulator binary.
pub const TOOLS: [(&str, &str); 9] = [
    ("fdesetup", "/usr/bin/fdesetup"),
    ("diskutil", "/usr/sbin/diskutil"),
    ("dscl", "/usr/bin/dscl"),
    ("sysadminctl", "/usr/sbin/sysadminctl"),
    ("profiles", "/usr/bin/profiles"),
    ("sysctl", "/usr/sbin/sysctl"),
    ("sw_vers", "/usr/bin/sw_vers"),
    ("security", "/usr/bin/security"),
    ("defaults", "/usr/bin/defaults"),
];

/// Directories of a Mac the daemon expects to exist.
const DIRS: [&str; 9] = [
    "/usr/bin",
    "/usr/sbin",
    "/dev",
    "/var/db",
    "/var/db/ConfigurationProfiles",
    "/Library/Preferences",
    "/Library/Managed Preferences",
    "/Library/Security/SecurityAgentPlugins",
    "/Library/Logs",
];

/// The escrow file (corpus/FILEVAULTPRK.md).
pub const FILEVAULT_PRK: &str = "/var/db/FileVaultPRK.dat";
/// Its owner is the console user.
pub const CONSOLE: &str = "/dev/console";
/// Where the forced `Location` of the escrow payload surfaces (PATTERNS.md).
pub const ESCROW_MANAGED_PREFS: &str =
    "/Library/Managed Preferences/com.apple.security.FDERecoveryKeyEscrow.plist";
pub const ESCROW_BUDDY_BUNDLE: &str = "/Library/Security/SecurityAgentPlugins/Escrow Buddy.bundle";
/// The fake key inside the simulated deferral output file: a test can grep every log and
/// status for it to prove the daemon never read the file's value.
pub const DEFERRAL_FILE_KEY: &str = "DEFR-KEYX-INPL-AINT-EXTX-SIMX";

/// A simulated Mac rooted at a directory.
#[derive(Debug, Clone)]
pub struct Mac {
    root: PathBuf,
}

impl Mac {
    /// `root` is made absolute: tool symlinks and the daemon's runner work with absolute paths.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Mac> {
        let root = root.as_ref();
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()?.join(root)
        };
        Ok(Mac { root })
    }

    /// From the path a tool was started as (`DIR/usr/bin/fdesetup`): the Mac and the tool name.
    /// The daemon's runner passes the absolute path it resolved under its `--root`.
    pub fn from_tool_path(argv0: &Path) -> Option<(Mac, &'static str)> {
        let name = argv0.file_name()?.to_str()?;
        let (tool, _) = TOOLS.iter().find(|(t, _)| *t == name)?;
        // DIR/usr/bin/NAME or DIR/usr/sbin/NAME: DIR is three levels up.
        let bin = argv0.parent()?;
        let usr = bin.parent()?;
        let bin_ok = matches!(bin.file_name()?.to_str()?, "bin" | "sbin");
        if !bin_ok || usr.file_name()? != "usr" {
            return None;
        }
        Some((Mac::new(usr.parent()?).ok()?, tool))
    }

    /// An absolute macOS path under this root; `..` cannot climb out.
    pub fn path(&self, mac_abs: &str) -> PathBuf {
        let mut out = self.root.clone();
        for c in Path::new(mac_abs).components() {
            if let Component::Normal(part) = c {
                out.push(part);
            }
        }
        out
    }

    /// The Mac's `/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sim_dir(&self) -> PathBuf {
        self.root.join(".sim")
    }
    pub fn scenario_file(&self) -> PathBuf {
        self.sim_dir().join("scenario.json")
    }
    pub fn calls_file(&self) -> PathBuf {
        self.sim_dir().join("calls.jsonl")
    }
    pub fn replay_file(&self) -> PathBuf {
        self.sim_dir().join("replay.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.sim_dir().join("lock")
    }

    /// Lays out the tree, links the tools to `exe`, stores and applies the scenario.
    pub fn init(&self, scenario: &Scenario, exe: &Path) -> Result<(), String> {
        self.lay_out_tree(exe)?;
        let _lock = self.lock()?;
        self.save(scenario)?;
        // A new Mac: no calls yet, no transcript position, an escrow file for its own key.
        remove_file(&self.replay_file())?;
        remove_file(&self.calls_file())?;
        remove_file(&self.path(FILEVAULT_PRK))?;
        self.apply(scenario)
    }

    /// A Mac that answers as the one a selftest bundle recorded (`recorded`): the tree and the
    /// tools, the bundle's files, and a scenario that sends every call to the recording.
    pub fn init_from_bundle(&self, bundle: &Path, exe: &Path) -> Result<Vec<String>, String> {
        // Read and checked whole first: a corrupt bundle leaves DIR as it was.
        let bundle = crate::recorded::read(bundle)?;
        self.lay_out_tree(exe)?;
        let _lock = self.lock()?;
        let scenario = Scenario {
            recorded: Some(crate::recorded::DIR_NAME.to_owned()),
            ..Scenario::default()
        };
        remove_file(&self.replay_file())?;
        remove_file(&self.calls_file())?;
        for gone in [
            FILEVAULT_PRK,
            CONSOLE,
            ESCROW_MANAGED_PREFS,
            DEFERRAL_OUTPUT_DEFAULT,
        ] {
            remove_file(&self.path(gone))?;
        }
        let bundle_dir = self.path(ESCROW_BUDDY_BUNDLE);
        if bundle_dir.exists() {
            fs::remove_dir_all(&bundle_dir).map_err(|e| io_err(&bundle_dir, e))?;
        }
        let notes = crate::recorded::lay_out(self, &bundle)?;
        self.save(&scenario)?;
        Ok(notes)
    }

    fn lay_out_tree(&self, exe: &Path) -> Result<(), String> {
        for dir in DIRS {
            create_dir_0755(&self.path(dir))?;
        }
        create_dir_0755(&self.sim_dir())?;
        for (_, mac_path) in TOOLS {
            let link = self.path(mac_path);
            if link.symlink_metadata().is_ok() {
                fs::remove_file(&link).map_err(|e| io_err(&link, e))?;
            }
            symlink(exe, &link).map_err(|e| io_err(&link, e))?;
        }
        Ok(())
    }

    /// Serialises every read-modify-write of the scenario (tool calls, `set`, `event`), the
    /// call log's appends and `age`. Not reentrant: a second lock in the same process waits.
    pub fn lock(&self) -> Result<Flock<File>, String> {
        let path = self.lock_file();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| format!("{}: flock: {e}", path.display()))
    }

    pub fn load(&self) -> Result<Scenario, String> {
        let path = self.scenario_file();
        let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
        Scenario::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Atomic (temp file + rename): a tool that reads without the lock never sees half a file.
    pub fn save(&self, scenario: &Scenario) -> Result<(), String> {
        write_atomic(
            &self.scenario_file(),
            scenario.to_json().as_bytes(),
            0o644,
            None,
        )
    }

    /// Makes the files the daemon reads directly agree with the scenario.
    pub fn apply(&self, s: &Scenario) -> Result<(), String> {
        // A Mac made from a selftest bundle keeps the files it was laid out with (`recorded`):
        // the scenario's defaults do not describe it.
        if s.recorded.is_some() {
            return Ok(());
        }
        self.apply_escrow_file(s)?;
        self.apply_console(s)?;

        let prefs = self.path(ESCROW_MANAGED_PREFS);
        if s.escrow.profile_installed {
            let doc = xml::document(&Plist::dict(vec![
                ("Location", Plist::string(&s.escrow.location)),
                (
                    "EncryptCertPayloadUUID",
                    Plist::string(crate::scenario::escrow_certificate_uuid()),
                ),
            ]));
            write_atomic(&prefs, doc.as_bytes(), 0o644, None)?;
        } else {
            remove_file(&prefs)?;
        }

        let bundle = self.path(ESCROW_BUDDY_BUNDLE);
        if s.escrow_buddy.installed {
            create_dir_0755(&bundle.join("Contents"))?;
        } else if bundle.exists() {
            fs::remove_dir_all(&bundle).map_err(|e| io_err(&bundle, e))?;
        }

        let default_out = self.path(DEFERRAL_OUTPUT_DEFAULT);
        match &s.deferral {
            Some(d) if d.plaintext_file => {
                let out = self.path(&d.output_path);
                if let Some(parent) = out.parent() {
                    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                }
                let text = corpus::DEFERRAL_OUTPUT_PLIST
                    .replace(corpus::DEFERRAL_OUTPUT_PLIST_KEY, DEFERRAL_FILE_KEY);
                write_atomic(&out, text.as_bytes(), 0o644, None)?;
                if out != default_out {
                    remove_file(&default_out)?;
                }
            }
            Some(d) => {
                remove_file(&self.path(&d.output_path))?;
                remove_file(&default_out)?;
            }
            None => remove_file(&default_out)?,
        }
        Ok(())
    }

    /// `FileVaultPRK.dat` is (re)written only when its mtime differs from
    /// `escrow.prk_file_written_at`: its content then reflects the PRK *at that time*, so a key
    /// changed without escrow (`set recovery_key.personal=...`) leaves a stale escrow file, as
    /// on a Mac. Its bytes are a CMS envelope to `escrow.prk_file_certificate` (`blob`), or, with
    /// `prk_file_format = "not_cms"`, text that is not CMS; either differs with every write; with
    /// `"empty"`, zero bytes.
    fn apply_escrow_file(&self, s: &Scenario) -> Result<(), String> {
        let path = self.path(FILEVAULT_PRK);
        let Some(at) = &s.escrow.prk_file_written_at else {
            return remove_file(&path);
        };
        let mtime = system_time(at)?;
        if fs::metadata(&path).and_then(|m| m.modified()).ok() == Some(mtime) {
            return Ok(());
        }
        let key = s.recovery_key.personal.as_deref().unwrap_or("");
        let content = match s.escrow.prk_file_format {
            BlobFormat::Cms => blob::envelope(s.escrow.prk_file_certificate.der(), key, at)?,
            BlobFormat::NotCms => blob::not_cms(key, at),
            BlobFormat::Empty => Vec::new(),
        };
        write_atomic(&path, &content, 0o600, Some(mtime))
    }

    /// `/dev/console` exists while someone (or root) is at the console, owned by that user: as
    /// root it is chowned to the scenario UID; otherwise it stays ours and `presented_uid`
    /// remaps UIDs to match.
    fn apply_console(&self, s: &Scenario) -> Result<(), String> {
        let path = self.path(CONSOLE);
        let Some(user) = &s.console_user else {
            return remove_file(&path);
        };
        if path.symlink_metadata().is_err() {
            File::create(&path).map_err(|e| io_err(&path, e))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .map_err(|e| io_err(&path, e))?;
        }
        if geteuid().is_root() {
            let uid = s
                .account(user)
                .map(|a| a.uid)
                .ok_or_else(|| format!("console user {user} is unknown"))?;
            let uid = u32::try_from(uid).map_err(|_| format!("console user UID {uid}"))?;
            chown(&path, Some(Uid::from_raw(uid)), None)
                .map_err(|e| format!("{}: chown: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// An RFC 3339 string as a `SystemTime` (nanosecond precision kept).
pub fn system_time(rfc3339: &str) -> Result<SystemTime, String> {
    let ts = jiff::Timestamp::from_str(rfc3339).map_err(|e| format!("{rfc3339:?}: {e}"))?;
    let nanos = ts.as_nanosecond();
    let magnitude = Duration::new(
        (nanos.unsigned_abs() / 1_000_000_000) as u64,
        (nanos.unsigned_abs() % 1_000_000_000) as u32,
    );
    Ok(if nanos >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    })
}

/// Writes `bytes` to a temp file next to `path`, sets mode (and mtime), renames it over `path`.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    mtime: Option<SystemTime>,
) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{}: no parent", path.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_err(dir, e))?;
    tmp.write_all(bytes).map_err(|e| io_err(path, e))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io_err(path, e))?;
    if let Some(t) = mtime {
        tmp.as_file().set_modified(t).map_err(|e| io_err(path, e))?;
    }
    tmp.persist(path).map_err(|e| io_err(path, e.error))?;
    Ok(())
}

fn create_dir_0755(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(|e| io_err(dir, e))
}

fn remove_file(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path, e)),
        _ => Ok(()),
    }
}

pub fn io_err(path: &Path, e: io::Error) -> String {
    format!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_path_names_its_mac_and_tool() {
        let (mac, tool) = Mac::from_tool_path(Path::new("/tmp/x/usr/sbin/diskutil")).unwrap();
        assert_eq!((mac.path("/"), tool), (PathBuf::from("/tmp/x"), "diskutil"));
        let (mac, tool) = Mac::from_tool_path(Path::new("/tmp/x/usr/bin/fdesetup")).unwrap();
        assert_eq!((mac.path("/"), tool), (PathBuf::from("/tmp/x"), "fdesetup"));
        assert!(Mac::from_tool_path(Path::new("/tmp/x/keywarden-sim")).is_none());
        assert!(Mac::from_tool_path(Path::new("/tmp/x/bin/fdesetup")).is_none());
    }

    #[test]
    fn mac_paths_cannot_climb_out_of_the_root() {
        let mac = Mac::new("/tmp/x").unwrap();
        assert_eq!(
            mac.path("/var/../../etc/passwd"),
            Path::new("/tmp/x/var/etc/passwd")
        );
    }

    #[test]
    fn rfc3339_times_keep_their_nanoseconds() {
        let t = system_time("2024-06-01T10:00:00.123456789Z").unwrap();
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(
            (d.as_secs(), d.subsec_nanos()),
            (1_717_236_000, 123_456_789)
        );
    }
}
